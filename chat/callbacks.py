"""Self-contained button payloads ("callback data", at most 64 bytes).

Each payload names a stored question by its integer id, so a button pressed
days later, after any number of bot restarts, still means the same thing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from telegram.constants import InlineKeyboardButtonLimit

MAX_BYTES = InlineKeyboardButtonLimit.MAX_CALLBACK_DATA  # 64

PASSAGE = "doan"  # «Cả đoạn»: a card's passages whole
PASSAGE_PATTERN = rf"^{PASSAGE}:"  # what the bot's handler for it matches

_PATTERN = re.compile(rf"^(more|full|{PASSAGE}|fb):(\d{{1,18}}):(\d{{1,6}})(?::([01]))?$")


@dataclass(frozen=True)
class Button:
    kind: str  # "more" | "full" | PASSAGE | "fb"
    qid: int
    number: int  # more: offset of the next page; full, PASSAGE: rank; fb: offset of the judged page
    good: bool | None = None  # fb only


def more(qid: int, offset: int) -> str:
    return _checked(f"more:{qid}:{offset}")


def full(qid: int, rank: int) -> str:
    return _checked(f"full:{qid}:{rank}")


def passage(qid: int, rank: int) -> str:
    return _checked(f"{PASSAGE}:{qid}:{rank}")


def feedback(qid: int, offset: int, good: bool) -> str:
    return _checked(f"fb:{qid}:{offset}:{1 if good else 0}")


# /chude buttons: o(rganisation key), p(lace, folded), y(ear), a(rticle id).
_TOPIC = re.compile(r"^tp:([opya]):([\w .-]{1,58})$", re.ASCII)


def topic(kind: str, value: str) -> str | None:
    """A /chude button's payload; None when the value does not fit one."""
    data = f"tp:{kind}:{value}"
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
    if (kind == "fb") != (vote is not None):
        return None
    return Button(kind, int(qid), int(number), None if vote is None else vote == "1")


def _checked(data: str) -> str:
    assert len(data.encode()) <= MAX_BYTES, data
    return data
