"""The answer logic both front ends share: question -> page of cited passages.

Everything here is blocking (the searcher embeds the question on the CPU, the
store writes SQLite), so the Telegram handlers call it through
asyncio.to_thread; the console calls it directly.  It knows nothing about
Telegram or terminals: rendering lives in render/.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum

from retrieval.textnorm import folded_words
from retrieval.types import Article, Hit
from retrieval.vocabulary import ORGANISATIONS

from .context import ConversationMemory, RecentMap, resolve
from .feedback import FeedbackStore, topic_record
from .textutil import clean_question, has_words, searchable
from .topics import Headline, Topics, count_topics, example_question

log = logging.getLogger(__name__)

# Passages grouped into article cards: deeper than anyone pages, and cheap (the
# searcher ranks all its candidates anyway; top_k only slices the list).
CARD_POOL = 60
PASSAGES_PER_CARD = 2
# A card's second passage is shown only when it ranks nearly as well as its
# first: a weak second passage is noise, the "Toàn văn" button has the rest.
SECOND_PASSAGE_GAP = 0.03


def article_cards(hits: list[Hit], per_card: int = PASSAGES_PER_CARD,
                  gap: float = SECOND_PASSAGE_GAP) -> list[list[Hit]]:
    """Ranked passages grouped by article, in the order each article first appears:
    a page of three then shows three articles, not three paragraphs of one."""
    cards: dict[str, list[Hit]] = {}
    for hit in hits:
        card = cards.setdefault(hit.article_id, [])
        if not card or (len(card) < per_card and hit.score >= card[0].score - gap):
            card.append(hit)
    return list(cards.values())


INLINE_CACHE_SECONDS = 60


def _grade(response, answered: bool) -> str | None:
    """exact / partial / none as stored; None when a searcher answered without grading."""
    if not answered:
        return "none"
    return response.match if response.match in ("exact", "partial") else None


class Status(StrEnum):
    ANSWER = "answer"  # hits to show
    NO_ANSWER = "no_answer"  # a real question, but nothing relevant in the corpus
    EMPTY = "empty"  # nothing was asked
    NOT_WORDS = "not_words"  # only emoji / symbols
    END = "end"  # "more" pressed but no further passages
    EXPIRED = "expired"  # a button whose question is unknown (or from another chat)


@dataclass
class Page:
    status: Status
    question: str = ""
    qid: int | None = None
    offset: int = 0
    hits: list[Hit] = field(default_factory=list)  # the best passage of each article shown
    extra: list[list[Hit]] = field(default_factory=list)  # per card: its other passages shown
    has_more: bool = False
    truncated: bool = False  # the question was cut to MAX_QUESTION_CHARS
    match: str = "exact"  # "partial": the best article misses what `missing` lists
    missing: list[str] = field(default_factory=list)
    detail: str = ""  # with "detail" missing: what the best article does not state ("số hội viên")
    understood: str = ""  # the question's constraints: "Hội Nông dân huyện X, năm 2024"
    followup: bool = False  # completed from the conversation: the reply says "Hiểu là: ..."
    searched: str = ""  # the question as searched (a follow-up's rewritten text)


@dataclass
class FullText:
    article: Article | None  # None when the article left the index since
    rank: int


@dataclass
class CardPassages:
    """«Cả đoạn»: the passage card `rank` quoted, whole, and the article's other passages
    that ranked nearly as well (article_cards)."""

    card: list[Hit]  # empty when the passage left the index since
    rank: int
    question: str  # as searched: its words choose the bold sentences


def conversation_memory(bot_config) -> ConversationMemory:
    """The follow-up memory the [bot] config asks for."""
    return ConversationMemory(bot_config.context_minutes * 60, bot_config.context_conversations)


class ChatService:
    """Searches, remembers what was shown, and records votes."""

    def __init__(self, searcher, store: FeedbackStore, per_page: int = 3,
                 memory: ConversationMemory | None = None):
        self.searcher = searcher
        self.store = store
        self.per_page = max(1, per_page)
        self.memory = memory if memory is not None else ConversationMemory()
        self._topics: tuple[int, Topics] | None = None
        # Inline mode asks again at every keystroke pause: the same text within a
        # minute is answered from here.
        self._inline = RecentMap(INLINE_CACHE_SECONDS, 512)

    def close(self) -> None:
        """Close the question store and the index (at shutdown)."""
        self.store.close()
        close = getattr(self.searcher, "close", None)
        if close:
            close()

    def ask(self, text: str | None, chat_id: int = 0, user_id: int | None = None) -> Page:
        """First page of answers for a question typed by a person."""
        question, truncated = clean_question(text)
        if not question:
            return Page(Status.EMPTY)
        if not has_words(question):
            return Page(Status.NOT_WORDS, question=question)
        conversation = (chat_id, user_id)
        resolved = resolve(searchable(question) or question, self.memory.recall(conversation),
                           self._known_places())
        response = self.searcher.search(resolved.text, top_k=CARD_POOL, offset=0, prefer=resolved.changed,
                                        intent=resolved.intent)
        answered = bool(response.answered and response.hits)
        vocabulary = self._vocabulary(response.hits[0]) if answered else frozenset()
        self.memory.remember(conversation, resolved, vocabulary)
        # A follow-up is stored as searched, so "Xem thêm" pages the same results.
        stored = resolved.text if resolved.followup else question
        qid = self.store.add_question(
            chat_id, user_id, stored, answered, grade=_grade(response, answered),
            missing=response.missing, topic=topic_record(response.intent, response.detail))
        common = dict(question=question, truncated=truncated, followup=resolved.followup,
                      understood=response.understood, searched=resolved.text)
        if not answered:
            return Page(Status.NO_ANSWER, qid=qid, **common)
        return self._page(response.hits, qid, 0, match=response.match, missing=response.missing,
                          detail=response.detail, **common)

    def _vocabulary(self, hit: Hit) -> frozenset[str]:
        """The words of the article that answered: what a follow-up may ask about."""
        article = self.searcher.article(hit.article_id)
        text = f"{hit.title} {article.text if article else hit.text}"
        return frozenset(folded_words(text))

    def _page(self, hits: list[Hit], qid: int, offset: int, **fields) -> Page:
        """Cards offset..offset+per_page (pages count articles), recorded as shown."""
        cards = article_cards(hits)
        shown = cards[offset:offset + self.per_page]
        if not shown:
            return Page(Status.END, qid=qid, offset=offset, question=fields.get("question", ""))
        leads = [card[0] for card in shown]
        self.store.add_shown(qid, offset, leads)  # rank n = card n: "Toàn văn n" opens its article
        return Page(Status.ANSWER, qid=qid, offset=offset, hits=leads,
                    extra=[card[1:] for card in shown],
                    has_more=len(cards) > offset + self.per_page, **fields)

    def inline(self, text: str | None, limit: int = 5) -> tuple[str, list[list[Hit]]]:
        """Article cards for an inline query ("@bot câu hỏi"): (question, cards), no
        cards when nothing relevant.  Stateless: no follow-ups, nothing stored."""
        question, _ = clean_question(text)
        if not has_words(question):
            return question, []
        key = (self._generation(), searchable(question) or question)
        cards = self._inline.get(key)
        if cards is None:
            response = self.searcher.search(key[1], top_k=CARD_POOL, offset=0)
            cards = article_cards(response.hits)[:limit] if response.answered else []
            self._inline.put(key, cards)
        return question, cards

    def _generation(self) -> int:
        return self.searcher.reader.current.number

    def forget(self, chat_id: int = 0, user_id: int | None = None) -> bool:
        """Start a new conversation (/new): follow-ups no longer inherit anything."""
        return self.memory.forget((chat_id, user_id))

    def _known_places(self) -> dict[str, str]:
        """Folded place names the index has articles of, mapped to their spelling."""
        return self.searcher.reader.current.places

    def more(self, qid: int, offset: int, chat_id: int | None = None) -> Page:
        """The page of answers starting at article card `offset` for a stored question."""
        stored = self._question(qid, chat_id)
        if stored is None:
            return Page(Status.EXPIRED, qid=qid)
        response = self.searcher.search(searchable(stored.text) or stored.text,
                                        top_k=CARD_POOL, offset=0)
        return self._page(response.hits, qid, offset, question=stored.text)

    def full_text(self, qid: int, rank: int, chat_id: int | None = None) -> FullText | None:
        """The whole article behind the passage shown at `rank`; None if the button is unknown."""
        if self._question(qid, chat_id) is None:
            return None
        shown = self.store.shown(qid, rank)
        if shown is None:
            return None
        return FullText(self.searcher.article(shown[1]), rank)

    def passages(self, qid: int, rank: int, chat_id: int | None = None) -> CardPassages | None:
        """The passages of card `rank` for a stored question, whole; None if the button is
        unknown.  Searched again as «Xem thêm» is (the card's Hits carry search's answering
        sentence) and found by the passage stored as shown, so a rebuilt index cannot
        swap in another article's passage."""
        stored = self._question(qid, chat_id)
        shown = self.store.shown(qid, rank) if stored is not None else None
        if shown is None:
            return None
        question = searchable(stored.text) or stored.text
        response = self.searcher.search(question, top_k=CARD_POOL, offset=0)
        card = next((c for c in article_cards(response.hits) if c[0].passage_id == shown[0]), [])
        return CardPassages(card, rank, question)

    def vote(self, qid: int, offset: int, user_id: int | None, good: bool,
             chat_id: int | None = None) -> bool:
        """Store 👍/👎 for one page; False if the question is unknown."""
        if self._question(qid, chat_id) is None:
            return False
        return self.store.add_feedback(qid, offset, user_id, 1 if good else -1, self.per_page)

    def stats(self) -> dict:
        return self.searcher.stats()

    def latest(self, n: int = 5) -> list[Article]:
        return self.searcher.latest(n)

    def examples(self, n: int = 3) -> list[str]:
        """Questions built from the newest headlines (ALL-CAPS ones last)."""
        try:
            articles = sorted(self.searcher.latest(n * 3), key=lambda a: a.title.isupper())
            heads = [Headline(a.article_id, a.title, a.date, a.place, date_source=a.date_source)
                     for a in articles[:n]]
            return [example_question(h, self._known_places()) for h in heads]
        except Exception:  # examples are a nicety; help must still work, and the bug be seen
            log.exception("example questions failed; answering without them")
            return []

    def topics(self) -> Topics:
        """What the index covers (/chude), counted once per index generation."""
        reader = self.searcher.reader
        number = reader.current.number
        if self._topics is None or self._topics[0] != number:
            heads = [Headline(*row) for row in reader.headlines()]
            self._topics = (number, count_topics(heads))
        return self._topics[1]

    def topic_question(self, kind: str, value: str) -> str | None:
        """The question a /chude button asks: an organisation's name, a place, a year,
        or an article's example question; None when it is no longer in the index."""
        if kind == "o":
            return ORGANISATIONS.get(value)
        if kind == "y":
            return f"năm {value}" if value.isdigit() else None
        if kind == "p":
            return self._known_places().get(value)
        if kind == "a":
            article = self.searcher.article(value)
            if article is None:
                return None
            return example_question(Headline(article.article_id, article.title, article.date,
                                             article.place, date_source=article.date_source),
                                    self._known_places())
        return None

    def _question(self, qid: int, chat_id: int | None):
        # A button only works in the chat where its question was asked, so a
        # forged payload cannot read other people's questions.
        return self.store.question(qid, chat_id)
