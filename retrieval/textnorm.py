"""Vietnamese text normalisation: NFC, diacritic folding and syllable tokens.

Vietnamese writes one syllable per space-separated token, so syllables are the
natural lexical unit.  People often type without diacritics ("hoi nong dan"),
so every token is also indexed in a folded form (accents removed, đ -> d),
which lets an unaccented question match accented text.
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from functools import lru_cache
from itertools import pairwise

from .vocabulary import ALIASES, STOPWORDS

_WORD = re.compile(r"\w+", re.UNICODE)
# A year as articles and questions write it: 1950-2099, not part of a longer number.
YEAR = re.compile(r"(?<!\d)(?:19[5-9]\d|20\d\d)(?!\d)")
_SPACES = re.compile(r"\s+")
# đ/Đ are letters of their own, not a d with a combining mark, so NFD keeps them.
_FOLD_EXTRA = str.maketrans({"đ": "d", "Đ": "D"})

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


# Tone marks.  Old and new orthography put them on different vowels of the same
# syllable (hoà/hòa, uỷ/ủy, thuý/thúy), and portals mix both; the tone itself and
# the vowel marks (â ă ê ô ơ ư) are what distinguish words.
_TONE_DIGITS = {"\u0300": "2", "\u0301": "1", "\u0309": "3", "\u0303": "4", "\u0323": "5"}


@lru_cache(maxsize=1 << 17)
def tone_key(syllable: str) -> str:
    """A syllable with its tone mark moved to the end as a digit, wherever it was
    written: "hoà" and "hòa" -> "hoa2", "uỷ" and "ủy" -> "uy3"; "hà" -> "ha2"."""
    decomposed = unicodedata.normalize("NFD", syllable)
    tone = "".join(_TONE_DIGITS.get(c, "") for c in decomposed)
    if not tone:
        return syllable
    base = "".join(c for c in decomposed if c not in _TONE_DIGITS)
    return unicodedata.normalize("NFC", base) + tone[-1]


def same_word(typed: str, spelled: str) -> bool:
    """Could `typed` be the syllable `spelled`?  Typed without accents, any syllable
    folding alike could be; typed with them, it must have the same tone ("tình"
    is not "tỉnh"), wherever the tone mark sits."""
    folded = fold_syllable(typed)
    if folded != fold_syllable(spelled):
        return False
    return typed == folded or tone_key(typed) == tone_key(spelled)


class Spellings:
    """Multi-syllable names to find in text, each standing for a value; built once."""

    def __init__(self, spellings: dict[str, str]) -> None:
        self._by_folded: dict[tuple[str, ...], list[tuple[tuple[str, ...], str]]] = {}
        for spelling, value in spellings.items():
            words = tuple(spelling.split())
            self._by_folded.setdefault(tuple(fold_syllable(w) for w in words), []).append((words, value))
        # The lengths of the spellings each folded syllable starts, longest first: most
        # syllables start none, so a text costs one look-up a word (search reads the
        # headline and lead of ~70 articles a question: 4x faster than trying every length).
        starts: dict[str, set[int]] = {}
        for key in self._by_folded:
            starts.setdefault(key[0], set()).add(len(key))
        self._lengths_from = {first: sorted(lengths, reverse=True) for first, lengths in starts.items()}

    def find(self, words: list[str]) -> list[tuple[int, int, str]]:
        """(start, end, value) of each spelling in a list of lower-case syllables, the
        longest first at each position; syllables are matched with `same_word`."""
        folded = [fold_syllable(w) for w in words]
        lengths_from = self._lengths_from
        found: list[tuple[int, int, str]] = []
        end = 0  # where the last match ended: no match starts inside one
        for i in [k for k, f in enumerate(folded) if f in lengths_from]:
            if i < end:
                continue
            for n in lengths_from[folded[i]]:
                if i + n > len(words):  # a shorter slice could equal a shorter spelling
                    continue
                match = next((value for spelling, value in self._by_folded.get(tuple(folded[i:i + n]), ())
                              if all(same_word(t, w) for t, w in zip(words[i:i + n], spelling, strict=True))),
                             None)
                if match is not None:
                    found.append((i, i + n, match))
                    end = i + n
                    break
        return found


# Names that users and portals write in several ways (vocabulary.ALIASES): every
# spelling of a group adds the group's term (`@` + key) to the lexical tokens of
# both passages and questions, so "HND" finds "Hội Nông dân" and the reverse.
_ALIAS_SPELLINGS = Spellings({spelling: key for key, spellings in ALIASES.items() for spelling in spellings})


# Each abbreviation among the spellings of a group, folded, with the spelling of
# the group whose initials it is: "hnd" -> "hoi nong dan", "lđlđ" -> "lien doan lao dong".
ALIAS_EXPANSIONS = {fold(short): fold(full) for spellings in ALIASES.values() for short in spellings
                    if " " not in short for full in spellings
                    if " " in full and "".join(w[0] for w in fold(full).split()) == fold(short)}


def alias_keys(words: list[str]) -> list[str]:
    """Keys of the alias groups spelled in a list of lower-case syllables, in order."""
    return [key for _, _, key in _ALIAS_SPELLINGS.find(words)]


def alias_spellings(words: list[str]) -> dict[str, set[str]]:
    """The folded syllables each alias group is spelled with in `words`: {"hoi_nong_dan": {"hnd"}}."""
    out: dict[str, set[str]] = {}
    for start, end, key in _ALIAS_SPELLINGS.find(words):
        out.setdefault(key, set()).update(fold_syllable(w) for w in words[start:end])
    return out


def lexical_tokens(text: str) -> list[str]:
    """BM25 tokens: each syllable, its folded twin, folded syllable pairs, aliases.

    The folded twin is prefixed so "hà" and "ha" stay different terms while
    every syllable still gets a folded term that an unaccented query can hit;
    accented queries match on both forms (stronger), unaccented ones on the
    folded form.  The accented form is `tone_key`'s, so old and new tone
    placement are one term.  Most Vietnamese words have two syllables ("nông
    dân", "đoàn kết"), so folded pairs reward the right words in the right
    order.  Organisations and units get one `@` term per spelling (ALIASES).
    """
    sylls = syllables(text)
    folded = [fold_syllable(s) for s in sylls]
    out: list[str] = []
    for s, f in zip(sylls, folded, strict=True):
        out.append(tone_key(s))
        out.append("~" + f)
    out.extend(f"{a}_{b}" for a, b in pairwise(folded))
    out.extend("@" + key for key in alias_keys(sylls))
    return out


# Bump when lexical_tokens or vocabulary.ALIASES changes: an index built with other tokens is rebuilt
# from its catalog (no re-embedding) before it is searched again.
LEXICAL_TOKENS_VERSION = "4"  # 3: Hội LHTN is an organisation of its own; 4: "quận ủy", "quận đoàn"


def folded_words(text: str) -> list[str]:
    """Lower-cased syllables without diacritics: what unaccented and accented text share."""
    return [fold_syllable(s) for s in syllables(text)]


def folded_syllables(text: str) -> str:
    """"Đầm  Hà" -> "dam ha": the same paragraph in two syndicated copies, or a place
    however it is typed, gets the same string whatever the spacing or accents."""
    return " ".join(folded_words(text))


def folded_pairs(text: str, skip_stopwords: bool = False) -> set[tuple[str, str]]:
    """Adjacent folded syllable pairs: the two-syllable words of a text, roughly."""
    folded = folded_words(text)
    return {(a, b) for a, b in pairwise(folded)
            if not (skip_stopwords and (a in FOLDED_STOPWORDS or b in FOLDED_STOPWORDS))}


def content_syllables(text: str) -> list[str]:
    """Folded syllables of a question without stopwords, for answerability."""
    return [f for f in folded_words(text) if f not in FOLDED_STOPWORDS]


def respell(text: str, vocabulary: Iterable[str]) -> str:
    """`text` with each word spelled as the `vocabulary` texts spell it.

    A syllable typed without accents takes the accents most common for it in
    the vocabulary ("nong dan" -> "nông dân"), pairs of syllables first, so each
    word is read in context; an accented one keeps its tone and takes the
    vocabulary's tone-mark placement ("hoà" -> "hòa" where the index writes
    hòa).  Case and punctuation stay as typed; words the vocabulary lacks stay as
    typed.  The dense model reads the result: it was trained on accented text in
    one placement per word, and does not know that "hoa" may be "hòa".
    """
    words = syllables(text)
    folded = [fold_syllable(w) for w in words]
    asked = set(folded)  # only the question's syllables are looked up: only they are counted
    pairs: defaultdict[tuple[str, str], Counter] = defaultdict(Counter)
    singles: defaultdict[str, Counter] = defaultdict(Counter)
    for written in vocabulary:
        sylls = syllables(written)
        spelled_folded = [fold_syllable(x) for x in sylls]
        for k, f in enumerate(spelled_folded):
            if f in asked:
                singles[f][sylls[k]] += 1
                if k + 1 < len(sylls) and spelled_folded[k + 1] in asked:
                    pairs[(f, spelled_folded[k + 1])][(sylls[k], sylls[k + 1])] += 1

    def fits(typed: str, spelled: str) -> bool:  # an accented syllable keeps its tone
        return typed == fold_syllable(typed) or tone_key(typed) == tone_key(spelled)

    out: list[str | None] = [None] * len(words)
    for k in range(len(words) - 1):
        for (a, b), _ in pairs.get((folded[k], folded[k + 1]), Counter()).most_common():
            if out[k] is None and fits(words[k], a) and fits(words[k + 1], b):
                out[k], out[k + 1] = a, b
                break
    for k, f in enumerate(folded):
        if out[k] is None:
            out[k] = next((w for w, _ in singles.get(f, Counter()).most_common() if fits(words[k], w)),
                          words[k])
    spelled = iter(out)

    def replace(m: re.Match) -> str:
        word = next(spelled)
        return word[:1].upper() + word[1:] if m.group(0)[:1].isupper() else word

    return _WORD.sub(replace, nfc(text))


# Where a sentence ends: terminal punctuation (and closing quotes) before anything
# but a lower-case letter ("v.v. và"), or a line break.  A full stop after a
# capital ends an abbreviation ("TP. Lam Hạ", "H. Hòa Lĩnh", "ThS."), not a
# sentence.  Official prose strings clauses together with semicolons into
# sentences of many lines; sentence_spans cuts those at their semicolons.
# Lower-case Vietnamese letters, listed: a range such as à-ỹ also holds capitals
# (Đ is U+0110), and a sentence opening "Đồng chí..." was never split off.
_LOWER = "a-z" + "".join(sorted({c for c in map(chr, range(0xC0, 0x1EFA)) if c.islower()}))
SENTENCE_END = re.compile(rf"(?<=[.!?…])(?<![A-ZĐ][.!?…])(?<!\bTh[.!?…])[\"”’»)]*\s+(?![{_LOWER}])|\n+")
_CLAUSE_END = re.compile(r";\s+")
LONG_SENTENCE = 300  # characters


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence in `text`, whitespace excluded; a sentence of
    more than LONG_SENTENCE characters is split into its ";" clauses."""
    spans, start = [], 0
    for m in SENTENCE_END.finditer(text):
        if m.start() > start:
            spans.append((start, m.start()))
        start = m.end()
    if start < len(text.rstrip()):
        spans.append((start, len(text.rstrip())))
    out = []
    for s, e in spans:
        if e - s <= LONG_SENTENCE:
            out.append((s, e))
            continue
        for m in _CLAUSE_END.finditer(text, s, e):
            if text.count("“", s, m.start()) > text.count("”", s, m.start()):
                continue  # inside a quoted name: “Nông dân chung tay xây dựng nông thôn mới; đô thị văn minh”
            if m.start() > s:
                out.append((s, m.start() + 1))  # keep the semicolon with its clause
            s = m.end()
        if s < e:
            out.append((s, e))
    return out


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]
