"""Small text helpers shared by every front end: cleaning questions, folding
diacritics, finding the sentence that best answers a question, dates.

People often type Vietnamese without accents ("thuong truc huyen uy"), so every
comparison between the question and a passage is made on folded text.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from zoneinfo import ZoneInfo

# A question longer than this is a pasted document; its head is what matters,
# and the echo of it must leave room for the answer in a 4096-character message.
MAX_QUESTION_CHARS = 500

# Telegram measures message length in UTF-16 code units (emoji count twice).
TELEGRAM_LIMIT = 4096

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

_WORD = re.compile(r"\w+", re.UNICODE)
_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_HTML_TAG = re.compile(r"</?[A-Za-z][^<>]{0,200}>")
_MARKDOWN = re.compile(r"(\*\*|__|~~|`+|\|\||(?<!\w)[*_](?=\w)|(?<=\w)[*_](?!\w))")
# Sentence ends: terminal punctuation (plus closing quotes) followed by space, or a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"”’»)]*\s+|\n+")

# Folded function and question words: matching them says nothing about relevance.
_STOP = frozenset(
    """
    a ai bao cai cac cho chua co cua cung da dang dau de den duoc gi hay hoi khong la lam luc
    ma may minh nay nao nen nhe nhi nhu nhung noi o ra rang roi sao se tai the thi theo toi
    trong tung va ve van vi voi xin bi boi khi nhieu it ay do kia gom thong tin biet mot nhu
    """.split()
)


def fold(text: str) -> str:
    """Lower-case and strip Vietnamese diacritics ("Đầm Hà" -> "dam ha")."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def words(text: str) -> list[str]:
    """Folded word tokens."""
    return _WORD.findall(fold(text))


def utf16_len(text: str) -> int:
    """Length as Telegram counts it."""
    return len(text.encode("utf-16-le")) // 2


def clean_question(text: str | None) -> tuple[str, bool]:
    """Whitespace-normalised question, cut at a word boundary; (question, was_truncated)."""
    text = _CONTROL.sub(" ", _INVISIBLE.sub("", text or ""))
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


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence in `text`, whitespace excluded."""
    spans, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        if m.start() > start:
            spans.append((start, m.start()))
        start = m.end()
    if start < len(text.rstrip()):
        spans.append((start, len(text.rstrip())))
    return spans


def best_sentence(text: str, question: str) -> tuple[int, int] | None:
    """Span of the sentence sharing most content words (and word pairs) with the question.

    Matching is on folded text so an unaccented question still finds its
    sentence; pairs of adjacent words break the ties that folding creates
    ("ha" is Hà, hạ or hả; "dam ha" is nearly always Đầm Hà).
    """
    q_words = [w for w in words(question) if w not in _STOP and (len(w) > 1 or w.isdigit())]
    if not q_words:
        return None
    q_set = set(q_words)
    all_q = words(question)
    q_pairs = {(a, b) for a, b in zip(all_q, all_q[1:])}
    best, best_score = None, 0.0
    for start, end in sentence_spans(text):
        s_words = words(text[start:end])
        if not s_words:
            continue
        s_set = set(s_words)
        score = sum(1.5 if w.isdigit() else 1.0 for w in q_set & s_set)
        score += 0.5 * len(q_pairs & set(zip(s_words, s_words[1:])))
        score /= 1 + len(s_words) / 80  # a run-on sentence matches everything a little
        if score > best_score:
            best, best_score = (start, end), score
    return best


def format_date(iso: str | None) -> str | None:
    """ISO yyyy-mm-dd -> dd/mm/yyyy (partial dates kept partial, unknown text kept as is)."""
    if not iso:
        return None
    try:
        return date.fromisoformat(iso[:10]).strftime("%d/%m/%Y")
    except ValueError:
        pass
    m = re.fullmatch(r"(\d{4})-(\d{2})", iso.strip())
    if m:
        return f"{m.group(2)}/{m.group(1)}"
    return iso


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
