"""Telegram's inline buttons: what each carries, the keyboards, what the handlers match.

A payload ("callback data", at most 64 bytes) names a stored question by its
integer id, so a button pressed days later, after any number of bot restarts,
still means the same thing.  Each kind's prefix is written once, below: the
payloads, the parser and the handlers' patterns are all built from it
(python-telegram-bot's inlinekeyboard2.py style).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import InlineKeyboardButtonLimit

from retrieval.query import ORGANISATIONS
from retrieval.textnorm import folded_syllables

from .render.texts import BUTTON_FULL, BUTTON_MORE, BUTTON_PASSAGE
from .service import Page, Status
from .textutil import cut_words
from .topics import Topics

MAX_BYTES = InlineKeyboardButtonLimit.MAX_CALLBACK_DATA  # 64

MORE = "more"  # «Xem thêm»: the next page
FULL = "full"  # «Toàn văn»: a card's article whole
PASSAGE = "doan"  # «Cả đoạn»: a card's passages whole
FEEDBACK = "fb"  # 👍/👎 on a page
TOPIC = "tp"  # a /chude button


def pattern(kind: str) -> str:
    """What the bot's handler for buttons of `kind` matches: the payload's prefix."""
    return rf"^{kind}:"


MORE_PATTERN, FULL_PATTERN, PASSAGE_PATTERN, FEEDBACK_PATTERN, TOPIC_PATTERN = (
    pattern(kind) for kind in (MORE, FULL, PASSAGE, FEEDBACK, TOPIC))

_PATTERN = re.compile(rf"^({MORE}|{FULL}|{PASSAGE}|{FEEDBACK}):(\d{{1,18}}):(\d{{1,6}})(?::([01]))?$")


@dataclass(frozen=True)
class Button:
    kind: str  # MORE | FULL | PASSAGE | FEEDBACK
    qid: int
    number: int  # MORE: offset of the next page; FULL, PASSAGE: rank; FEEDBACK: offset of the judged page
    good: bool | None = None  # FEEDBACK only


def more(qid: int, offset: int) -> str:
    return _checked(f"{MORE}:{qid}:{offset}")


def full(qid: int, rank: int) -> str:
    return _checked(f"{FULL}:{qid}:{rank}")


def passage(qid: int, rank: int) -> str:
    return _checked(f"{PASSAGE}:{qid}:{rank}")


def feedback(qid: int, offset: int, good: bool) -> str:
    return _checked(f"{FEEDBACK}:{qid}:{offset}:{1 if good else 0}")


# /chude buttons: o(rganisation key), p(lace, folded), y(ear), a(rticle id).
_TOPIC = re.compile(rf"^{TOPIC}:([opya]):([\w .-]{{1,58}})$", re.ASCII)


def topic(kind: str, value: str) -> str | None:
    """A /chude button's payload; None when the value does not fit one."""
    data = f"{TOPIC}:{kind}:{value}"
    return data if _TOPIC.match(data) and len(data.encode()) <= MAX_BYTES else None


def parse_topic(data: str | None) -> tuple[str, str] | None:
    m = _TOPIC.match(data or "")
    return (m.group(1), m.group(2)) if m else None


def parse(data: str | None) -> Button | None:
    """The button's meaning, or None for anything this bot did not create."""
    m = _PATTERN.match(data or "")
    if not m:
        return None
    kind, qid, number, vote = m.groups()
    if (kind == FEEDBACK) != (vote is not None):
        return None
    return Button(kind, int(qid), int(number), None if vote is None else vote == "1")


def _checked(data: str) -> str:
    assert len(data.encode()) <= MAX_BYTES, data
    return data


# ---------------------------------------------------------------- keyboards

def page_keyboard(page: Page) -> InlineKeyboardMarkup | None:
    """Buttons under an answer: full text and whole passage per article, more results, feedback."""
    if page.status is not Status.ANSWER or page.qid is None:
        return None
    whole_texts, passages, seen = [], [], set()
    for i, hit in enumerate(page.hits):
        if hit.article_id not in seen:
            seen.add(hit.article_id)
            rank = page.offset + i
            whole_texts.append(InlineKeyboardButton(BUTTON_FULL.format(n=rank + 1),
                                                    callback_data=full(page.qid, rank)))
            passages.append(InlineKeyboardButton(BUTTON_PASSAGE.format(n=rank + 1),
                                                 callback_data=passage(page.qid, rank)))
    rows = [whole_texts, passages]
    if page.has_more:
        rows.append([InlineKeyboardButton(
            BUTTON_MORE, callback_data=more(page.qid, page.offset + len(page.hits)))])
    rows.append([
        InlineKeyboardButton("👍", callback_data=feedback(page.qid, page.offset, True)),
        InlineKeyboardButton("👎", callback_data=feedback(page.qid, page.offset, False)),
    ])
    return InlineKeyboardMarkup(rows)


def without_more(markup: InlineKeyboardMarkup | None) -> InlineKeyboardMarkup | None:
    """The same keyboard minus «Xem thêm», once the next page has been sent."""
    if markup is None:
        return None
    rows = [[b for b in row if not re.match(MORE_PATTERN, str(b.callback_data or ""))]
            for row in markup.inline_keyboard]
    return InlineKeyboardMarkup([r for r in rows if r])


def topics_keyboard(topics: Topics) -> InlineKeyboardMarkup | None:
    """/chude's buttons: two a row for organisations, places and years, one a row
    for the newest articles; a value too long for a payload gets no button."""
    items = ([(f"{ORGANISATIONS[k]} ({n})", topic("o", k)) for k, n in topics.organisations]
             + [(f"📍 {p} ({n})", topic("p", folded_syllables(p))) for p, n in topics.places]
             + [(f"🗓 {y} ({n})", topic("y", str(y))) for y, n in topics.years])
    buttons = [InlineKeyboardButton(label, callback_data=data) for label, data in items if data]
    rows = [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
    for h in topics.newest:
        data = topic("a", h.article_id)
        if data:
            rows.append([InlineKeyboardButton(f"🆕 {cut_words(h.title or '…', 60)}", callback_data=data)])
    return InlineKeyboardMarkup(rows) if rows else None
