"""Follow-up questions: what a chat was talking about, for a little while.

People ask the way they talk: "Hội Nông dân huyện X tổng kết năm 2023 thế
nào?", then "còn năm 2024 thì sao?", then "ai chủ trì?".  The follow-ups name
neither the body nor the place; alone they find nothing, or the wrong district.

A follow-up is answered as a rewritten question: the words typed, plus the
place, organisation and year(s) of the previous question that the follow-up
does not state itself, plus the previous question's topic words.  The rewritten
question is searched like any other, so ranking and grading stay in one place
(retrieval/search.py), and the reply says what it understood.

What is remembered is the last question's constraints per chat and user (a
group has many conversations at once), in memory only, for `ttl` seconds, and
for at most `max_conversations` conversations (least recently used go first).
Nothing is written to disk: a restart forgets, and so does /new.
"""
from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

from retrieval.query import Intent, Place, understand
from retrieval.textnorm import FOLDED_STOPWORDS, YEAR, Spellings, fold_syllable, syllables
from retrieval.vocabulary import (
    ALIASES,
    ANAPHORA,
    ASKING_WORDS,
    FOLLOWUP_LEADS,
    FOLLOWUP_TAILS,
    FRAME_WORDS,
    LEVEL_WORDS,
    NEW_TERM_WORDS,
    ORGANISATIONS,
    TITLE_SYLLABLES,
)

_MAX_TOPIC = 12  # syllables kept from one question to the next
# A question with at most this many topic syllables of its own (stopwords
# aside) reads as a follow-up when it leaves a constraint of the previous one
# unsaid; one that names no place, body or year at all, up to LONE_TOPIC.
SHORT_TOPIC = 4
LONE_TOPIC = 8
# A follow-up may ask a detail in this many words of its own ("ai chủ trì?",
# "bao nhiêu đại biểu?") whether or not the previous article uses them.
DETAIL_WORDS = 2
_ROMAN = re.compile(r"[IVXLC]+")
_ORGANISATION_SPELLINGS = Spellings({s: k for k, spellings in ALIASES.items() if k in ORGANISATIONS
                                     for s in spellings})


@dataclass
class Remembered:
    """The constraints and topic of a conversation's last question."""

    intent: Intent
    topic: str  # the question's words without its constraints
    # Folded syllables of the article that answered it: what a short follow-up's own
    # words ("ai chủ trì?") must be explained by to be about the same thing.
    vocabulary: frozenset[str] = frozenset()

    def to_record(self) -> dict:
        """As JSON, for a conversation store shared by several processes (chat/pgstate.py)."""
        i = self.intent
        return {"places": [[p.name, p.level, p.label] for p in i.places], "years": sorted(i.years),
                "terms": [list(t) for t in i.terms], "organisations": list(i.organisations),
                "events": sorted(i.events), "topic": self.topic, "vocabulary": sorted(self.vocabulary)}

    @classmethod
    def from_record(cls, record: dict) -> Remembered:
        intent = Intent(places=[Place(*p) for p in record["places"]], years=set(record["years"]),
                        terms=[tuple(t) for t in record["terms"]],
                        organisations=list(record["organisations"]), events=set(record["events"]))
        return cls(intent, record["topic"], frozenset(record["vocabulary"]))


@dataclass
class Resolved:
    """A question as it will be searched."""

    text: str  # what to search
    followup: bool = False  # True when `text` was completed from the conversation
    intent: Intent = field(default_factory=Intent)  # the constraints of `text`
    topic: str = ""
    # The constraints a follow-up changed ("organisation", "place", "year"): search
    # ranks the articles that satisfy them first (Searcher.search `prefer`).
    changed: tuple[str, ...] = ()


def _strip_edges(words: list[str]) -> list[str]:
    """The words without a leading "còn"/"thế còn" and a trailing "thì sao"/"thế nào"."""
    for n in (2, 1):
        if tuple(words[:n]) in FOLLOWUP_LEADS:
            words = words[n:]
            break
    for n in (3, 2, 1):
        if len(words) > n and tuple(words[-n:]) in FOLLOWUP_TAILS:
            words = words[:-n]
            break
    return words


def topic_words(question: str, intent: Intent) -> list[str]:
    """The question's words without its place, organisation, year and framing words:
    "Hội Nông dân huyện Tùng Khê tổng kết năm 2023 thế nào?" -> ["tổng", "kết"]."""
    words = _strip_edges(syllables(question))
    drop = set()
    for start, end, _ in _ORGANISATION_SPELLINGS.find(words):
        drop.update(range(start, end))
    place_words = {w for p in intent.places for w in p.name.split()}
    for i, w in enumerate(words):
        if YEAR.fullmatch(w) or fold_syllable(w) in place_words:
            drop.add(i)
    # Framing words count backwards from a dropped place or year: "ở huyện [Tùng Khê]".
    for i in range(len(words) - 1, -1, -1):
        if i not in drop and words[i] in FRAME_WORDS and (i + 1 in drop):
            drop.add(i)
    return [w for i, w in enumerate(words) if i not in drop]


def constraint_text(intent: Intent) -> str:
    """The constraints as words a question would use: "Hội Nông dân huyện Tùng Khê năm 2023"."""
    parts = [ORGANISATIONS[o] for o in intent.organisations]
    parts += [f"{p.level} {p.label}" if p.level else p.label for p in intent.places]
    parts += [f"năm {y}" for y in sorted(intent.years)]
    parts += [f"nhiệm kỳ {a}-{b}" for a, b in intent.terms]
    return " ".join(parts)


def _merge(new: Intent, old: Intent, new_level: bool = False, new_term: bool = False) -> Intent:
    """The new question's constraints, completed by the old ones it leaves unsaid;
    a level without a name ("cấp tỉnh") drops the old place, another congress or
    term ("lần thứ 9", "khóa X") the old year."""
    has_time = bool(new.years or new.terms) or new_term
    return Intent(
        places=list(new.places or ([] if new_level else old.places)),
        years=set(new.years if has_time else old.years),
        terms=list(new.terms if has_time else old.terms),
        organisations=list(new.organisations or old.organisations),
        events=set(new.events or old.events),
    )


def _states_all(new: Intent, old: Intent) -> bool:
    """Does the new question restate every kind of constraint the old one had?"""
    return ((bool(new.places) or not old.places)
            and (bool(new.years or new.terms) or not (old.years or old.terms))
            and (bool(new.organisations) or not old.organisations))


def _names_something_else(question: str, intent: Intent) -> bool:
    """Does the question name something (a capitalised word after the first) that is
    neither an organisation, nor a place it states, nor an office ("Chủ tịch"), nor a
    Roman numeral ("lần X")?  "Giá vàng ở Paris?" is a new subject, not a follow-up
    about the last district."""
    words = re.findall(r"\w+", question)
    lowered = [w.lower() for w in words]
    known = {i for start, end, _ in _ORGANISATION_SPELLINGS.find(lowered) for i in range(start, end)}
    place_words = {w for p in intent.places for w in p.name.split()}
    return any(w[:1].isupper() and i not in known and fold_syllable(w.lower()) not in place_words
               and fold_syllable(w.lower()) not in TITLE_SYLLABLES and not _ROMAN.fullmatch(w)
               for i, w in enumerate(words) if i > 0)


def resolve(question: str, previous: Remembered | None, known_places: Mapping[str, str],
            today: date | None = None) -> Resolved:
    """The question to search: `question` itself, or completed from `previous` when it
    is a follow-up.

    A follow-up leaves unsaid some constraint the previous question had, and is
    elliptic ("còn X?", "ở huyện Y thì sao?", "năm 2024?"), points back ("họ",
    "ở đó"), or asks a detail in at most two words of its own ("ai chủ trì?");
    otherwise its own words must fit the previous topic (the question's topic and
    the article that answered it).  "Giá vàng hôm nay bao nhiêu?" has words the
    previous topic does not explain: a fresh question, and "not found" as before.
    """
    text = _without_edges(question)
    intent = understand(text, known_places, today)
    own_topic = topic_words(question, intent)
    fresh = Resolved(text, False, intent, " ".join(own_topic))
    if previous is None or previous.intent.is_empty() or _states_all(intent, previous.intent):
        return fresh
    words = syllables(question)
    opened = any(tuple(words[:n]) in FOLLOWUP_LEADS for n in (1, 2))
    pointing = bool(ANAPHORA & set(words))
    content = [w for w in own_topic if fold_syllable(w) not in FOLDED_STOPWORDS | ASKING_WORDS]
    if not (opened or pointing):
        if len(content) > (LONE_TOPIC if intent.is_empty() else SHORT_TOPIC):
            return fresh
        known = previous.vocabulary | {fold_syllable(w) for w in previous.topic.split()}
        if len(content) > DETAIL_WORDS and any(fold_syllable(w) not in known for w in content):
            return fresh
    if _names_something_else(question, intent):
        return fresh
    merged = _merge(intent, previous.intent, new_level=_names_level_only(words, intent),
                    new_term=bool(NEW_TERM_WORDS & {fold_syllable(w) for w in words}))
    # A follow-up with a subject of its own ("còn đại hội cấp cơ sở?") is about that,
    # not the previous one's ("tổng kết ... Quỹ Vì người nghèo").
    keep = len(content) <= DETAIL_WORDS and not (intent.events - previous.intent.events)
    topic = list(dict.fromkeys(own_topic + (previous.topic.split() if keep else [])))[:_MAX_TOPIC]
    if not keep:  # the old event kind went with the old topic
        merged.events = set(intent.events)
    searched = " ".join(x for x in (constraint_text(merged), " ".join(topic)) if x)
    return Resolved(searched, True, merged, " ".join(topic), _changed(intent, previous.intent))


def _changed(new: Intent, old: Intent) -> tuple[str, ...]:
    """The kinds of constraint the follow-up states anew, differing from the old ones."""
    out = []
    if new.organisations and set(new.deciding_organisations) != set(old.deciding_organisations):
        out.append("organisation")
    if new.places and {p.name for p in new.places} != {p.name for p in old.places}:
        out.append("place")
    if (new.years or new.terms) and (new.years, new.terms) != (old.years, old.terms):
        out.append("year")
    return tuple(out)


def _names_level_only(words: list[str], intent: Intent) -> bool:
    """"cấp tỉnh", "của tỉnh": a level without a name moves away from the old place
    ("huyện đó", "huyện ấy" point back to it)."""
    return not intent.places and any(
        w in LEVEL_WORDS and not (words[i + 1:i + 2] and words[i + 1] in ANAPHORA)
        for i, w in enumerate(words))


_EDGE_HEAD = re.compile(r"^\s*(?:(?:thế|vậy|the|vay)\s+)?(?:còn|con)\s+", re.IGNORECASE)
_EDGE_TAIL = re.compile(r"\s*(?:thì\s+|thi\s+)?(?:sao|thế nào|ra sao|the nao)\s*\?*\s*$", re.IGNORECASE)


def _without_edges(question: str) -> str:
    """The question without an elliptic "còn ..." / "... thì sao": the words searched
    ("còn" is also a word of the index: con, child)."""
    stripped = _EDGE_TAIL.sub("", _EDGE_HEAD.sub("", question)) if _EDGE_HEAD.match(question) else question
    return stripped.strip() or question


class RecentMap:
    """A thread-safe map that forgets entries older than `ttl` seconds and, beyond
    `max_items`, the least recently used: memory that stays bounded."""

    def __init__(self, ttl_seconds: float, max_items: int, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl_seconds
        self.max = max(1, max_items)
        self.clock = clock
        self._items: OrderedDict = OrderedDict()  # key -> (stored at, value)
        self._lock = threading.Lock()  # the bot works from several threads at once

    def get(self, key):
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if self.ttl <= 0 or self.clock() - item[0] > self.ttl:
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return item[1]

    def put(self, key, value) -> None:
        with self._lock:
            self._items[key] = (self.clock(), value)
            self._items.move_to_end(key)
            while len(self._items) > self.max:
                self._items.popitem(last=False)

    def pop(self, key) -> bool:
        with self._lock:
            return self._items.pop(key, None) is not None

    def __len__(self) -> int:
        return len(self._items)


class ConversationMemory:
    """The last question of each conversation (chat, user), bounded in number and in age."""

    def __init__(self, ttl_seconds: float = 600, max_conversations: int = 5000,
                 clock: Callable[[], float] = time.monotonic):
        self._recent = RecentMap(ttl_seconds, max_conversations, clock)

    def recall(self, key: tuple) -> Remembered | None:
        """The conversation's last question if it is recent enough."""
        return self._recent.get(key)

    def remember(self, key: tuple, resolved: Resolved, vocabulary: frozenset[str] = frozenset()) -> None:
        self._recent.put(key, Remembered(resolved.intent, resolved.topic, vocabulary))

    def forget(self, key: tuple) -> bool:
        """Drop a conversation's context (/new); True if there was one."""
        return self._recent.pop(key)

    def __len__(self) -> int:
        return len(self._recent)
