"""Small text helpers shared by every front end: cleaning questions, folding
diacritics, finding the sentence that best answers a question, dates.

People often type Vietnamese without accents ("thuong truc huyen uy"), so every
comparison between the question and a passage is made on folded text.
"""
from __future__ import annotations

import re
from datetime import datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

from retrieval.textnorm import (
    FOLDED_STOPWORDS,
    MAX_QUESTION_CHARS,
    clean_text,
    folded_words,
    sentence_spans,
)
from retrieval.types import format_date  # noqa: F401  (re-exported for the renderers)

# Telegram's longest message (telegram.constants.MessageLimit.MAX_TEXT_LENGTH), in UTF-16
# code units (emoji count twice).  Written here, not imported, so that the front-end-neutral
# core (ChatService, the console) runs without python-telegram-bot; a test keeps the
# two equal.
TELEGRAM_LIMIT = 4096

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_HTML_TAG = re.compile(r"</?[A-Za-z][^<>]{0,200}>")
_WORD_TAIL = re.compile(r"\S*$")  # the word a cut ends inside
_WORD_HEAD = re.compile(r"^\S*")  # the word a cut starts inside
_END_TRIM = " \t\n,;:-–("  # what the start of a cut text must not end with
_START_TRIM = " \t\n,;:.-–)"  # ...and its end must not start with
_MARKDOWN = re.compile(r"(\*\*|__|~~|`+|\|\||(?<!\w)[*_](?=\w)|(?<=\w)[*_](?!\w))")

def utf16_len(text: str) -> int:
    """Length as Telegram counts it."""
    return len(text.encode("utf-16-le")) // 2


def clean_question(text: str | None) -> tuple[str, bool]:
    """Whitespace-normalised question, cut at a word boundary; (question, was_truncated)."""
    text = _INVISIBLE.sub("", clean_text(text or ""))  # controls became spaces there
    text = " ".join(text.split())
    if len(text) <= MAX_QUESTION_CHARS:
        return text, False
    cut = text[:MAX_QUESTION_CHARS]
    space = cut.rfind(" ")
    if space > MAX_QUESTION_CHARS * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:-"), True


def has_words(text: str) -> bool:
    """False for input made only of emoji, punctuation or symbols."""
    return any(ch.isalnum() for ch in text)


def searchable(question: str) -> str:
    """The question without HTML tags or Markdown markers, which are formatting, not words."""
    text = _HTML_TAG.sub(" ", question)
    text = _MARKDOWN.sub(" ", text)
    return " ".join(text.split())


def best_sentence(text: str, question: str) -> tuple[int, int] | None:
    """Span of the sentence sharing most content words (and word pairs) with the question.

    Matching is on folded text so an unaccented question still finds its
    sentence; pairs of adjacent words break the ties that folding creates
    ("ha" is Hà, hạ or hả; "dam ha" is nearly always Đầm Hà).
    """
    q_words = [w for w in folded_words(question) if w not in FOLDED_STOPWORDS and (len(w) > 1 or w.isdigit())]
    if not q_words:
        return None
    q_set = set(q_words)
    all_q = folded_words(question)
    q_pairs = {(a, b) for a, b in pairwise(all_q)}
    best, best_score = None, 0.0
    for start, end in sentence_spans(text):
        s_words = folded_words(text[start:end])
        if not s_words:
            continue
        s_set = set(s_words)
        score = sum(1.5 if w.isdigit() else 1.0 for w in q_set & s_set)
        score += 0.5 * len(q_pairs & set(pairwise(s_words)))
        score /= 1 + len(s_words) / 80  # a run-on sentence matches everything a little
        if score > best_score:
            best, best_score = (start, end), score
    return best


def format_datetime(iso: str | None) -> str | None:
    """ISO datetime -> "dd/mm/yyyy HH:MM", in Vietnam's time when the zone is known."""
    if not iso:
        return None
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is not None:
        moment = moment.astimezone(VN_TZ)
    return moment.strftime("%d/%m/%Y %H:%M")


def cut_words(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary, with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    cut = text[:max(0, limit - 1)]
    space = cut.rfind(" ")
    if space > limit * 0.5:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


def head_words(text: str, limit: int) -> str:
    """The longest start of `text` within `limit` characters that ends at a word end
    ("" when not even its first word fits): a cut that never splits a word."""
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    cut = text[:limit]
    if not text[limit].isspace():
        cut = _WORD_TAIL.sub("", cut)
    return cut.rstrip(_END_TRIM)


def tail_words(text: str, limit: int) -> str:
    """The longest end of `text` within `limit` characters that starts at a word start."""
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    cut = text[len(text) - limit:]
    if not text[len(text) - limit - 1].isspace():
        cut = _WORD_HEAD.sub("", cut)
    return cut.lstrip(_START_TRIM)

