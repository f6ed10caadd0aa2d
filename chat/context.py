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

from retrieval.query import ORGANISATIONS, Intent, understand
from retrieval.textnorm import ALIASES, FOLDED_STOPWORDS, YEAR, Spellings, fold_syllable, syllables

# Words that open or close an elliptic question and carry no topic.
_LEADS = {("thế", "còn"), ("vậy", "còn"), ("còn",), ("thế",), ("vậy",), ("còn", "ở"), ("ở",), ("tại",),
          ("của",), ("với",), ("thì",), ("và",)}
_TAILS = {("thì", "sao"), ("thế", "nào"), ("ra", "sao"), ("thì", "thế", "nào"), ("thì", "ra", "sao"),
          ("sao",), ("nhỉ",), ("nữa",), ("thì",)}
# Words that only frame a constraint when a place or a year follows them
# ("huyện Tùng Khê", "năm 2024", "nhiệm kỳ 2020-2025"); elsewhere they may be
# topic ("thanh niên", "đoàn", "thi đua"), so they are dropped only there.
_FRAMES = {"năm", "huyện", "xã", "tỉnh", "phường", "thị", "trấn", "thành", "phố", "tp", "tx",
           "nhiệm", "kỳ", "giai", "đoạn", "ở", "tại", "của"}
_MAX_TOPIC = 12  # syllables kept from one question to the next
# A question with at most this many topic syllables of its own (stopwords
# aside) reads as a follow-up when it leaves a constraint of the previous one
# unsaid; one that names no place, body or year at all, up to LONE_TOPIC.
SHORT_TOPIC = 4
LONE_TOPIC = 8
_ORGANISATION_SPELLINGS = Spellings({s: k for k, spellings in ALIASES.items() if k in ORGANISATIONS
                                     for s in spellings})


@dataclass
class Remembered:
    """The constraints and topic of a conversation's last question."""

    intent: Intent
    topic: str  # the question's words without its constraints


@dataclass
class Resolved:
    """A question as it will be searched."""

    text: str  # what to search
    followup: bool = False  # True when `text` was completed from the conversation
    intent: Intent = field(default_factory=Intent)  # the constraints of `text`
    topic: str = ""


def _strip_edges(words: list[str]) -> list[str]:
    """The words without a leading "còn"/"thế còn" and a trailing "thì sao"/"thế nào"."""
    for n in (2, 1):
        if tuple(words[:n]) in _LEADS:
            words = words[n:]
            break
    for n in (3, 2, 1):
        if len(words) > n and tuple(words[-n:]) in _TAILS:
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
        if i not in drop and words[i] in _FRAMES and (i + 1 in drop):
            drop.add(i)
    return [w for i, w in enumerate(words) if i not in drop]


def constraint_text(intent: Intent) -> str:
    """The constraints as words a question would use: "Hội Nông dân huyện Tùng Khê năm 2023"."""
    parts = [ORGANISATIONS[o] for o in intent.organisations]
    parts += [f"{p.level} {p.label}" if p.level else p.label for p in intent.places]
    parts += [f"năm {y}" for y in sorted(intent.years)]
    parts += [f"nhiệm kỳ {a}-{b}" for a, b in intent.terms]
    return " ".join(parts)


def _merge(new: Intent, old: Intent) -> Intent:
    """The new question's constraints, completed by the old ones it leaves unsaid."""
    has_time = bool(new.years or new.terms)
    return Intent(
        places=list(new.places or old.places),
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
    neither an organisation nor a place it states?  "Giá vàng ở Paris?" is a new
    subject, not a follow-up about the last district."""
    words = re.findall(r"\w+", question)
    lowered = [w.lower() for w in words]
    known = {i for start, end, _ in _ORGANISATION_SPELLINGS.find(lowered) for i in range(start, end)}
    place_words = {w for p in intent.places for w in p.name.split()}
    return any(w[:1].isupper() and i not in known and fold_syllable(w.lower()) not in place_words
               for i, w in enumerate(words) if i > 0)


def resolve(question: str, previous: Remembered | None, known_places: Mapping[str, str],
            today: date | None = None) -> Resolved:
    """The question to search: `question` itself, or completed from `previous` when it
    is a follow-up (short or opened by "còn", "ở", ..., and leaving unsaid some
    constraint the previous question had)."""
    intent = understand(question, known_places, today)
    own_topic = topic_words(question, intent)
    fresh = Resolved(question, False, intent, " ".join(own_topic))
    if previous is None or previous.intent.is_empty() or _states_all(intent, previous.intent):
        return fresh
    words = syllables(question)
    opened = any(tuple(words[:n]) in _LEADS for n in (1, 2))
    size = len([w for w in own_topic if fold_syllable(w) not in FOLDED_STOPWORDS])
    if not opened and size > (LONE_TOPIC if intent.is_empty() else SHORT_TOPIC):
        return fresh
    if _names_something_else(question, intent):
        return fresh
    merged = _merge(intent, previous.intent)
    topic = list(dict.fromkeys(own_topic + previous.topic.split()))[:_MAX_TOPIC]
    text = " ".join(x for x in (constraint_text(merged), " ".join(topic)) if x)
    return Resolved(text, True, merged, " ".join(topic))


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

    def remember(self, key: tuple, resolved: Resolved) -> None:
        self._recent.put(key, Remembered(resolved.intent, resolved.topic))

    def forget(self, key: tuple) -> bool:
        """Drop a conversation's context (/new); True if there was one."""
        return self._recent.pop(key)

    def __len__(self) -> int:
        return len(self._recent)
