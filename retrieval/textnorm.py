"""Vietnamese text normalisation: NFC, diacritic folding and syllable tokens.

Vietnamese writes one syllable per space-separated token, so syllables are the
natural lexical unit.  People often type without diacritics ("hoi nong dan"),
so every token is also indexed in a folded form (accents removed, đ -> d),
which lets an unaccented question match accented text.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from itertools import pairwise

_WORD = re.compile(r"\w+", re.UNICODE)
_SPACES = re.compile(r"\s+")
# đ/Đ are letters of their own, not a d with a combining mark, so NFD keeps them.
_FOLD_EXTRA = str.maketrans({"đ": "d", "Đ": "D"})

# Question and function words that carry no topic; they must not make a
# question look answered just because the article also uses them.  Words whose
# folded form is also a content word ("thì"/"thi đua", "đang"/"Đảng",
# "hỏi"/"hội") are deliberately absent: IDF already weighs them lightly.
STOPWORDS = frozenset(
    """
    ai cái chưa của cùng đã gì hay hãy không là mà này nào nhé nhỉ những ở ra rằng rồi
    sao sẽ tôi trong từng và với bị khi nhiều nhiêu ít ấy kia gồm biết các cho được đến
    theo như bạn muốn xem
    """.split()
)


# A longer "question" is a pasted document: its head is what matters, and the chat's
# echo of it must leave room for the answer in one 4096-character Telegram message.
MAX_QUESTION_CHARS = 500

# Lone UTF-16 surrogates (which Bot API JSON can carry) cannot be encoded and made
# the model raise; C0/C1 controls other than tab and newline have no place in text.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def clean_text(text: str) -> str:
    """Text any later step can encode: lone surrogates removed, control characters
    turned into spaces (they often stood between words).

    Applied first to whatever a user typed, before anything else touches it.
    """
    return _CONTROL.sub(" ", _SURROGATE.sub("", text))


def nfc(text: str) -> str:
    """Compose characters (cp1258 and some sites emit decomposed tone marks)."""
    return unicodedata.normalize("NFC", text)


def fold(text: str) -> str:
    """Remove Vietnamese diacritics: "Đầm Hà" -> "Dam Ha"."""
    decomposed = unicodedata.normalize("NFD", text.translate(_FOLD_EXTRA))
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


# Folding is most of the cost of tokenising (unicodedata per character); a
# language has a few thousand distinct syllables, so each is folded once.
fold_syllable = lru_cache(maxsize=1 << 17)(fold)

FOLDED_STOPWORDS = frozenset(fold(w) for w in STOPWORDS)


def has_diacritics(text: str) -> bool:
    """True when the text carries any Vietnamese accent or đ."""
    return fold(text) != text


def normalize_space(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def syllables(text: str) -> list[str]:
    """Lower-cased NFC word tokens."""
    return _WORD.findall(nfc(text).lower())


def lexical_tokens(text: str) -> list[str]:
    """BM25 tokens: each syllable, its folded twin, and folded syllable pairs.

    The folded twin is prefixed so "hà" and "ha" stay different terms while
    every syllable still gets a folded term that an unaccented query can hit;
    accented queries match on both forms (stronger), unaccented ones on the
    folded form.  Most Vietnamese words have two syllables ("nông dân",
    "đoàn kết"), so folded pairs reward the right words in the right order.
    """
    sylls = syllables(text)
    folded = [fold_syllable(s) for s in sylls]
    out: list[str] = []
    for s, f in zip(sylls, folded, strict=True):
        out.append(s)
        out.append("~" + f)
    out.extend(f"{a}_{b}" for a, b in pairwise(folded))
    return out


def folded_pairs(text: str, skip_stopwords: bool = False) -> set[tuple[str, str]]:
    """Adjacent folded syllable pairs: the two-syllable words of a text, roughly."""
    folded = [fold_syllable(s) for s in syllables(text)]
    return {(a, b) for a, b in pairwise(folded)
            if not (skip_stopwords and (a in FOLDED_STOPWORDS or b in FOLDED_STOPWORDS))}


def content_syllables(text: str) -> list[str]:
    """Folded syllables of a question without stopwords, for answerability."""
    return [f for f in (fold_syllable(s) for s in syllables(text)) if f not in FOLDED_STOPWORDS]
