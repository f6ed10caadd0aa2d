"""Answers laid out as cards and packed into messages within the front end's limit.

A card quotes the sentence that answers (bold) with a sentence of context each
side, then the headline, place · date · source and the link; a page is its
heading (texts.page_heading) and its cards, packed on card boundaries.  «Cả
đoạn» shows a card's passages whole, «Toàn văn» the article split on paragraph
boundaries; a block too long for one message is shrunk or cut, never its tags.
"""
from __future__ import annotations

from dataclasses import dataclass

from retrieval.answer import TASKS, wanted
from retrieval.textnorm import sentence_spans
from retrieval.types import Article, Hit

from ..service import CardPassages, Page
from ..textutil import best_sentence, cut_words, head_words, tail_words, utf16_len
from .markup import Markup, chunk_text, pack
from .texts import (
    ARTICLE_CUT,
    BUTTON_EXPIRED,
    NO_TITLE,
    PASSAGE_GONE,
    QUESTION_ECHO_CHARS,
    TITLE_CHARS,
    page_heading,
    page_notice,
    where_from,
)

MAX_ARTICLE_MESSAGES = 10  # "Toàn văn" of a book-sized file must not flood the chat
# A card's answer text (the answering sentence and its context) stays within this
# many characters, so three cards fit a phone screen (issue 16: first card <= 600,
# whole card < 1,000); «Cả đoạn» and «Toàn văn» show the rest.
CARD_ANSWER_CHARS = 400
# A context sentence cut shorter than this says nothing: it is left out ("…" instead).
MIN_CONTEXT_CHARS = 40


# ---------------------------------------------------------------- what a card quotes

@dataclass(frozen=True)
class Excerpt:
    """What a card quotes of its passage: the answering sentence (bold when `marked`)
    with at most one sentence of context each side, "…" where the passage goes on."""

    before: str
    answer: str
    after: str
    marked: bool

    def pieces(self) -> list[str]:
        return [p for p in (self.before, self.answer, self.after) if p]


def card_answer(hit: Hit, question: str) -> tuple[int, int] | None:
    """The sentence a card leads with: search's choice (`Hit.answer`) as is; where search
    chose none, the passage's sentence that best matches the question."""
    return hit.answer or best_sentence(hit.text, question)


def card_excerpt(hit: Hit, question: str, limit: int = CARD_ANSWER_CHARS) -> Excerpt:
    """The card's answer text: its answering sentence with a sentence of context each side
    within `limit` characters; a passage with no answering sentence shows its opening."""
    span = card_answer(hit, question)
    marked = span is not None
    if span is None:
        spans = sentence_spans(hit.text)
        span = spans[0] if spans else (0, len(hit.text))
    before, answer, after = _window(hit.text, span, limit, lists=wanted(question).kind == TASKS)
    return Excerpt(before, answer, after, marked)


def card_answer_texts(hit: Hit, question: str, extra: list[Hit] | tuple = ()) -> list[str]:
    """The plain text a card shows of its article, before headline and citation: what
    a reader must see the answer in (benchmarks/realdev.py measures it).  A card quotes
    its best passage only; `extra`, the article's other close passages, waits behind
    «Cả đoạn» (quoting the best-matching sentence among them lost answers on realdev:
    48 of 92 shown against 60 from the best passage alone, while search chose none)."""
    return card_excerpt(hit, question).pieces()


def _flat(text: str) -> str:
    return " ".join(text.split())


def _window(text: str, span: tuple[int, int], limit: int, lists: bool = False) -> tuple[str, str, str]:
    """(before, answer, after) around `span`, within `limit` characters once joined by
    spaces: the previous and the next sentence whole when they fit, else their nearest
    words (left out under MIN_CONTEXT_CHARS); "…" marks text left out, never a split word.
    `lists`: the question asks for tasks, so an answer that opens a list is followed
    by its items."""
    s, e = span
    answer = _flat(text[s:e])
    head, tail = text[:s], text[e:]
    more_before, more_after = bool(head.strip()), bool(tail.strip())
    markers = 2 * more_before + 2 * more_after  # "… " and " …"
    if len(answer) + markers > limit:  # one long sentence: cut at a word end
        room = max(0, limit - 2 * more_before - 1)
        cut = head_words(answer, room) or answer[:room]  # (a single huge "word": cut anyway)
        return ("…" if more_before else ""), cut + "…", ""
    head_spans, tail_spans = sentence_spans(head), sentence_spans(tail)
    prev_at = head_spans[-1][0] if head_spans else len(head)
    next_to = tail_spans[0][1] if tail_spans else 0
    if lists and answer.endswith((":", ";")) and tail_spans:
        # The answer opens a list ("... đề nghị: ...;"): its items are what was asked
        # for, so the room goes to as many of them as fit, none to what came before.
        # (Only for tasks: "681 hội viên tham gia;" answering "bao nhiêu" is one item
        # among others, and the sentence before may hold the figure.)
        prev_at = len(head)
        room = limit - len(answer) - markers
        for _, end in tail_spans[1:]:
            if len(_flat(tail[:end])) + 1 > room:
                break
            next_to = end
    prev, nxt = _flat(head[prev_at:]), _flat(tail[:next_to])
    room_prev, room_next = _share(limit - len(answer) - markers, len(prev), len(nxt))
    before_text = prev if len(prev) <= room_prev else tail_words(prev, room_prev)
    after_text = nxt if len(nxt) <= room_next else head_words(nxt, room_next)
    if len(before_text) < min(MIN_CONTEXT_CHARS, len(prev)):
        before_text = ""
    if len(after_text) < min(MIN_CONTEXT_CHARS, len(nxt)):
        after_text = ""
    earlier = more_before and (before_text != prev or bool(head[:prev_at].strip()))
    later = more_after and (after_text != nxt or bool(tail[next_to:].strip()))
    before = " ".join(x for x in ("…" if earlier else "", before_text) if x)
    after = " ".join(x for x in (after_text, "…" if later else "") if x)
    return before, answer, after


def _share(room: int, prev: int, nxt: int) -> tuple[int, int]:
    """Characters for the sentence before and the one after (a space each counted): half
    the room each, and what one side does not need goes to the other."""
    need_prev, need_next = prev + 1 if prev else 0, nxt + 1 if nxt else 0
    if need_prev <= room // 2:
        room_prev = need_prev
    elif need_next <= room // 2:
        room_prev = room - need_next
    else:
        room_prev = room // 2
    return max(0, room_prev - 1), max(0, room - room_prev - 1)


def _whole(hit: Hit, question: str, limit: int) -> Excerpt:
    """A passage whole, answering sentence marked; a passage over `limit` characters (only
    ever one too long for a message) is cut at a word end."""
    text, cut = hit.text, len(hit.text) > limit
    if cut:
        text = (head_words(text, limit - 1) or text[:limit - 1]) + "…"
    span = card_answer(hit, question)
    if span is None or span[1] > len(text) - cut:  # (the answer was cut off)
        return Excerpt("", "", _flat(text), False)
    s, e = span
    return Excerpt(_flat(text[:s]), _flat(text[s:e]), _flat(text[e:]), True)


# ---------------------------------------------------------------- cards

def _quoted(m: Markup, rank: int | None, ex: Excerpt) -> str:
    """One quoted excerpt (or whole passage), its answering sentence in bold."""
    answer = m.mark(m.esc(ex.answer)) if ex.marked else m.esc(ex.answer)
    parts = [f"{rank}." if rank is not None else "", m.esc(ex.before), answer, m.esc(ex.after)]
    return m.quote(" ".join(p for p in parts if p))


def _citation(m: Markup, hit: Hit) -> list[str]:
    """Headline, place · date · source, and the link, under what a card quotes."""
    return [f"📰 {m.esc(cut_words(hit.title or NO_TITLE, TITLE_CHARS))}", *where_from(m, hit)]


def _fitted(render, size: int, limit: int) -> str:
    """`render(size)` with `size` (the characters quoted) shrunk until the block fits `limit`."""
    block = render(size)
    while utf16_len(block) > limit and size > 0:
        size = int(size * min(0.9, limit / utf16_len(block)))
        block = render(size)
    return block


def hit_block(m: Markup, hit: Hit, rank: int, question: str, limit: int | None = None) -> str:
    """One article card: the answering sentence in bold with a sentence of context each
    side (card_excerpt), then headline, place · date · source and link; within `limit`
    (a whole message by default)."""
    return _fitted(lambda size: "\n".join([_quoted(m, rank, card_excerpt(hit, question, size)),
                                           *_citation(m, hit)]),
                   CARD_ANSWER_CHARS, m.limit if limit is None else limit)


def passage_block(m: Markup, card: list[Hit], rank: int, question: str) -> str:
    """«Cả đoạn»: card `rank`'s passages (service.CardPassages) whole, each answering
    sentence in bold, within one message."""

    def render(size: int) -> str:
        quotes = [_quoted(m, rank if n == 0 else None, _whole(p, question, size))
                  for n, p in enumerate(card)]
        return "\n".join([*quotes, *_citation(m, card[0])])

    return _fitted(render, max(len(p.text) for p in card), m.limit)


def passage_reply(m: Markup, result: CardPassages | None) -> str:
    """The answer to «Cả đoạn N» (the button, /doan N or «đoạn N»)."""
    if result is None:
        return BUTTON_EXPIRED
    if not result.card:
        return PASSAGE_GONE
    return passage_block(m, result.card, result.rank + 1, result.question)


def inline_card(m: Markup, question: str, card: list[Hit]) -> str:
    """The message an inline result posts: the question, then one article card."""
    head = f"🔎 {m.i(m.esc(cut_words(question, QUESTION_ECHO_CHARS)))}"
    return f"{head}\n\n" + hit_block(m, card[0], 1, question, m.limit - utf16_len(head) - 2)


# ---------------------------------------------------------------- messages

def page_messages(m: Markup, page: Page, examples: list[str] | None = None,
                  hint: str = "") -> list[str]:
    """The messages answering one page of a question (at least one message): its
    heading, its cards and the hint, packed on card boundaries."""
    notice = page_notice(m, page, examples)
    if notice:
        return [notice]
    blocks = [page_heading(m, page)]
    blocks += [hit_block(m, h, page.offset + i + 1, page.searched or page.question)
               for i, h in enumerate(page.hits)]
    if hint:
        blocks.append(hint)
    return pack(blocks, m.limit)


def article_messages(m: Markup, article: Article) -> list[str]:
    """«Toàn văn»: the whole article, split across messages on paragraph boundaries."""
    head = [f"📄 {m.b(m.esc(cut_words(article.title or NO_TITLE, TITLE_CHARS)))}",
            *where_from(m, article)]
    blocks = ["\n".join(head)]
    for paragraph in article.paragraphs:
        blocks += chunk_text(m, " ".join(paragraph.split()), m.limit)
    messages = pack(blocks, m.limit)
    if len(messages) > MAX_ARTICLE_MESSAGES:
        # The note gets a message slot of its own so it can never push one over the limit.
        messages = messages[:MAX_ARTICLE_MESSAGES - 1]
        messages.append(m.i(ARTICLE_CUT))
    return messages
