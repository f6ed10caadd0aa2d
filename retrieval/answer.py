"""The answer inside an article: what a question asks for, the sentence that gives
it, and whether the article gives it at all.

Why: on real portal pages the right article comes first 90-96% of the time, but
before this module the passage holding the answer only 74% (realdev, 78316ad):
"bao nhiêu / ai / ngày nào" questions got the article's opening paragraph while
the sentence with the number, the name or the date was in another passage of the
same article.  And a question on a detail the article does not state ("ai được
bầu làm Chủ tịch?" where the congress report names no chair) was graded `exact`.

So a question's cues say what kind of answer it wants (`wanted`): a number (and
what is counted: "bao nhiêu hội viên"), a person (and the office: "ai làm Chủ
tịch Hội"), a date, a place, tasks, or anything.  A sentence carries evidence for
it (`has_evidence`) when it holds a number with that counter or unit, a person's
name with that office (not "Phó Chủ tịch", not the office of another body), a
date, a place after "tại".  `SentenceScorer` scores sentences by the question's
IDF-weighted words and pairs plus that evidence; search uses it to choose each
article's passage and bold sentence, as one more vote between articles, and to
say "the article does not state it" (`lacks_detail`).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import pairwise

from .textnorm import (
    ALIAS_EXPANSIONS,
    FOLDED_STOPWORDS,
    fold_syllable,
    folded_words,
    nfc,
    sentence_spans,
    syllables,
)

# The words these rules read (cues, offices, counters) are the vocabulary's, under short local names.
from .vocabulary import ABBREVIATIONS, MONEY_CUES_NOT_FOLDED, OFFICES, PERSON_WORDS
from .vocabulary import BODY_STOP as _BODY_STOP
from .vocabulary import COUNT_UNITS as _UNITS
from .vocabulary import COUNTER_STOP as _COUNTER_STOP
from .vocabulary import CUE_WORDS as _CUE_WORDS
from .vocabulary import HOW_MANY_CUES as _HOW_MANY
from .vocabulary import LEVEL_SYLLABLES as _LEVELS
from .vocabulary import MEASURES as _MEASURES
from .vocabulary import MONEY_CUES as _MONEY_CUES
from .vocabulary import MONEY_UNITS as _MONEY
from .vocabulary import NAME_START as _NAME_START
from .vocabulary import NOT_A_COUNT as _NOT_A_COUNT
from .vocabulary import NOT_THE_OFFICE as _NOT_THE_ROLE
from .vocabulary import ONE_SYLLABLE_COUNTERS as _ONE_SYLLABLE_COUNTERS
from .vocabulary import PEOPLE_COUNTERS as _PEOPLE
from .vocabulary import SHARE_CUES as _SHARE
from .vocabulary import SURNAMES as _SURNAMES
from .vocabulary import TARGET_CUES as _TARGET_CUES
from .vocabulary import TASK_CUES as _TASK_CUES
from .vocabulary import UNIT_SECOND_SYLLABLES as _UNIT_SECOND
from .vocabulary import WHEN_CUES as _WHEN_CUES
from .vocabulary import WHERE_CUES as _WHERE_CUES
from .vocabulary import WHICH_NOUNS as _WHICH_NOUNS
from .vocabulary import WHO_CUES as _WHO_CUES

_EXPAND = ALIAS_EXPANSIONS | ABBREVIATIONS  # "ubnd" -> "uy ban nhan dan"
_ROLES = tuple(tuple(fold_syllable(w) for w in office.split()) for office in OFFICES)  # folded
_MONEY_CUES_FOLDED = frozenset(fold_syllable(w) for w in _MONEY_CUES - MONEY_CUES_NOT_FOLDED)

NUMBER, WHO, WHEN, WHERE, TASKS, OPEN = "number", "who", "when", "where", "tasks", "open"
# Kinds whose absence an article can be caught at: a figure, a name, a date.
DETAIL_KINDS = (NUMBER, WHO, WHEN)

# ---------------------------------------------------------------- how a sentence states it

# A number a sentence states, with what may follow it: "6.834 hội viên", "20/24 chỉ
# tiêu", "9,3 tỷ đồng", "98%", "59,8m2".
_NUMBER = re.compile(r"(?<![\d/.,])(\d{1,3}(?:\.\d{3})+|\d+(?:,\d+)?)(?:/\d+)?\s*(%|[a-zA-Z²]{1,3}\b)?"
                     r"|\b(?:một|hai|ba|bốn|sáu|bảy|tám|chín|mười|hàng chục|hàng trăm|hàng nghìn|vài)"
                     r"(?=\s)()()",
                     re.IGNORECASE)
_DATE = re.compile(r"(?<!\d)\d{1,2}\s*[/.-]\s*\d{1,2}(?:\s*[/.-]\s*\d{2,4})?(?!\d)"
                   r"|\b(?:ngày|tháng)\s+\d{1,2}\b|\b(?:năm)\s+(?:19|20)\d\d\b", re.IGNORECASE)
_PLACE_AFTER_WORDS = r"\b(?:tại|ở)\s+(?:\w+\s+){0,3}"
# Capital letters, listed: a range such as À-Ỹ also holds lower-case ones.
_UPPER = "A-Z" + "".join(sorted({c for c in map(chr, range(0xC0, 0x1EFA)) if c.isupper()}))
_NAME = rf"[{_UPPER}]\w*"
_PLACE_AFTER = re.compile(_PLACE_AFTER_WORDS + rf"[{_UPPER}]")
_TITLED = "|".join(f"[{w[0].upper()}{w[0]}]{w[1:]}" for w in PERSON_WORDS)  # "[Ôô]ng", "[Bb]à"...
_PERSON = re.compile(
    rf"\b(?:{_TITLED})\s+{_NAME}(?:\s+{_NAME})*"
    r"|\b(?:" + "|".join(sorted(_SURNAMES, key=len, reverse=True)) + rf")(?:\s+{_NAME}){{2,3}}\b")


@dataclass(frozen=True)
class Wanted:
    """The kind of answer a question wants, with what a sentence must name for it."""

    kind: str = OPEN
    counted: tuple[str, ...] = ()  # folded syllables of what "bao nhiêu" counts ("hoi", "vien")
    role: tuple[str, ...] = ()  # folded office a "who" question names ("chu", "tich")
    body: tuple[str, ...] = ()  # folded words after the office ("hoi", "nong", "dan", "xa")
    money: bool = False
    share: bool = False
    label: str = ""  # what is counted, or the office, as the question wrote it

    @property
    def is_detail(self) -> bool:
        return self.kind in DETAIL_KINDS

    def describe(self) -> str:
        """What the article would have to state, as a reply says it: "số hội viên"."""
        if self.kind == NUMBER:
            if self.money:
                return "số tiền"
            if self.share:
                return "tỉ lệ"
            return f"số {self.label}" if self.label else "con số cụ thể"
        if self.kind == WHO:
            return f"tên người giữ chức {self.label}" if self.label else "tên người"
        if self.kind == WHEN:
            return "thời gian cụ thể"
        return ""


def _find(seq: list[str], cues: tuple[tuple[str, ...], ...]) -> int | None:
    """Index in `seq` right after the first cue found, or None."""
    for i in range(len(seq)):
        for cue in cues:
            if tuple(seq[i:i + len(cue)]) == cue:
                return i + len(cue)
    return None


def _expand(words: list[str]) -> list[str]:
    out: list[str] = []
    for w in words:
        out += _EXPAND.get(w, w).split()
    # "Việt Nam" stands in some names of a body and not in others.
    return [w for i, w in enumerate(out)
            if not (w == "viet" and out[i + 1:i + 2] == ["nam"])
            and not (w == "nam" and out[i - 1:i] == ["viet"])]


def wanted(question: str) -> Wanted:
    """What the question asks for, from its Vietnamese cues (accented or not)."""
    words = syllables(question)
    folded = [fold_syllable(w) for w in words]
    accented = folded != words

    def mấy_at() -> int | None:  # "mấy" typed with its accent, or unaccented "may" in an unaccented question
        for i, (w, f) in enumerate(zip(words, folded, strict=True)):
            if w == "mấy" or (f == "may" and not accented):
                return i + 1
        return None

    after = _find(folded, _HOW_MANY[:1])
    if after is None:
        after = mấy_at()
    if after is None:
        after = _find(folded, _HOW_MANY[1:])
    if after is not None:
        counted: list[str] = []
        labels: list[str] = []
        for w, f in zip(words[after:], folded[after:], strict=False):
            if f in _COUNTER_STOP or (f in _CUE_WORDS and (counted or f != "sao")) or f.isdigit() \
                    or len(counted) == 2:  # "mấy sao" counts stars
                break
            counted.append(f)
            labels.append(w)
        share = _find(folded, _SHARE) is not None or "%" in question
        money = (bool(counted) and (counted[0] in ("tien", "ty", "trieu")
                                    or (counted[0] == "dong"
                                        and folded[after + 1:after + 2] != ["bao"]))) or (
            not counted and not share and bool(
                (_MONEY_CUES & set(words[max(0, after - 8):after])) if accented
                else (_MONEY_CUES_FOLDED & set(folded[max(0, after - 8):after]))))
        if money or share:
            counted, labels = [], []
        return Wanted(NUMBER, tuple(counted), money=money, share=share, label=" ".join(labels))
    # "ai" typed with no accent is "ai" (who) only in a question typed without accents.
    if _find(folded, _WHO_CUES[:2]) is not None or "ai" in words or (not accented and "ai" in folded):
        role, body, label = _role_in(_TOKEN.findall(nfc(question)), folded)
        return Wanted(WHO, role=role, body=body, label=label)
    if _find(folded, _WHEN_CUES) is not None:
        return Wanted(WHEN)
    if _find(folded, _WHERE_CUES) is not None:
        return Wanted(WHERE)
    if _find(folded, _TASK_CUES) is not None:
        return Wanted(TASKS)
    return Wanted()


def _body(words: list[str]) -> list[str]:
    """The name of a body after an office, up to its level word: "hoi nong dan tinh",
    "thi uy" (thị ủy, thị đoàn and thị xã are one level word each)."""
    return words[:_body_length(words)]


def _body_length(words: list[str]) -> int:
    for k, f in enumerate(words):
        if f in ("thi", "thanh") and words[k + 1:k + 2] and words[k + 1] in _UNIT_SECOND:
            return k + 2
        if f in _BODY_STOP or f in _CUE_WORDS or f.isdigit():
            return k
        if f in _LEVELS or k == 5:
            return k + 1
    return len(words)


def _role_in(words: list[str], folded: list[str]) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    """The office a "who" question names and the body after it (up to its level word)."""
    originals = _TOKEN.findall(" ".join(words))
    for i in range(len(folded)):
        for role in _ROLES:
            if tuple(folded[i:i + len(role)]) == role:
                body = _body(_expand(folded[i + len(role):]))
                after = [fold_syllable(w.lower()) for w in originals[i + len(role):]]
                label = " ".join(originals[i:i + len(role) + _body_length(after)])
                return role, tuple(body), label
    return (), (), ""


# ---------------------------------------------------------------- evidence in a sentence

# Pure functions of one sentence, asked again for the same sentences within a question
# (two scorers, grading) and across questions on the same articles: each is read once.
# Shared results: callers must not change them.
def _cached(function):
    return lru_cache(maxsize=8192)(function)


@_cached
def _numbers(sentence: str) -> list[tuple[str, list[str]]]:
    """Each stated number with the folded syllables that follow it (at most 4)."""
    out = []
    for m in _NUMBER.finditer(sentence):
        before = folded_words(sentence[max(0, m.start() - 12):m.start()])[-1:]
        if before and before[0] in _NOT_A_COUNT:
            continue  # "năm 2023", "ngày 19", "lần thứ 9", "số 12": not how many
        unit = m.group(2) or ""
        rest = folded_words(sentence[m.end():m.end() + 60])[:4]
        out.append((unit, ([fold_syllable(unit.lower())] if unit and unit != "%" else []) + rest))
    return out


def _counts(sentence: str, want: Wanted) -> bool:
    for unit, after in _numbers(sentence):
        if want.share:
            if unit == "%" or after[:2] == ["phan", "tram"]:
                return True
            continue
        if want.money:
            if set(after[:2]) & _MONEY:
                return True
            continue
        if want.counted:
            first = want.counted[0]
            window = after[:3]
            if first in window:
                k = window.index(first)
                if len(want.counted) == 1 or tuple(after[k:k + len(want.counted)]) == want.counted \
                        or first in _ONE_SYLLABLE_COUNTERS:
                    return True
            if first == "nguoi" and set(window[:2]) & _PEOPLE:
                return True
            continue
        if unit == "%" or (after and (after[0] in _FOLDED_UNITS or " ".join(after[:2]) in _FOLDED_UNITS)):
            return True
    return False


# Units one by one and, for those of two syllables, as a pair.
_FOLDED_UNITS = frozenset(fold_syllable(w.lower()) for u in _UNITS for w in u.split()) | frozenset(
    " ".join(folded_words(u)) for u in _UNITS if " " in u)


def _names_person_in_role(sentence: str, want: Wanted) -> bool:
    """A person's name, and (when the question names an office) that office of that
    body: not its deputy ("Phó Chủ tịch"), not a former holder, not another body's."""
    if not _PERSON.search(sentence):
        return False
    if not want.role:
        return True
    tokens = _TOKEN.findall(nfc(sentence))
    folded = [fold_syllable(t.lower()) for t in tokens]
    n = len(want.role)
    for i in range(len(folded) - n + 1):
        if tuple(folded[i:i + n]) != want.role or (i and folded[i - 1] in _NOT_THE_ROLE):
            continue
        after = tokens[i + n:i + n + 1]
        if not after or after[0] in _SURNAMES or _bodies_agree(want.body, _expand(folded[i + n:i + n + 8])):
            return True
    return False


def _bodies_agree(asked: tuple[str, ...], stated: list[str]) -> bool:
    """The body after an office, up to its level word, agrees with the asked one on
    what both say: "Chủ tịch Hội" fits "Chủ tịch Hội Nông dân tỉnh"; "Bí thư Huyện
    đoàn" does not fit "Bí thư Tỉnh đoàn", nor "Chủ tịch Ủy ban MTTQ" "Chủ tịch UBND"."""
    if not asked or not stated or stated[0] in _NAME_START:
        return True
    cut = _body(stated) or stated[:1]
    k = min(len(asked), len(cut))
    return tuple(cut[:k]) == tuple(asked[:k])


_TOKEN = re.compile(r"\w+")


def has_evidence(sentence: str, want: Wanted) -> bool:
    """Does the sentence state the kind of thing the question asks for?"""
    if want.kind == NUMBER:
        return _counts(sentence, want)
    if want.kind == WHO:
        return _names_person_in_role(sentence, want)
    if want.kind == WHEN:
        return bool(_DATE.search(sentence))
    if want.kind == WHERE:
        return bool(_PLACE_AFTER.search(sentence))
    return False


# ---------------------------------------------------------------- scoring sentences

BACKGROUND_SHARE = 0.25
_TARGET_PAIRS = frozenset(" ".join(cue) for cue in _TARGET_CUES)  # as _sentence_words spells pairs
OTHER_YEAR_SHARE = 0.5
TARGET_SHARE = 0.5
_SAID_YEAR = re.compile(r"\b[Nn]ăm\s+((?:19|20)\d\d)\b")

class SentenceScorer:
    """Scores sentences for one question: its words weighed by IDF, its two-syllable
    words, and the evidence the question wants."""

    def __init__(self, question: str, idf: dict[str, float], want: Wanted, evidence_weight: float = 0.5,
                 background: str = "", years: frozenset[int] = frozenset()):
        self.question, self.idf, self.background, self.years = question, idf, background, years
        words = folded_words(question)
        noun, predicate = _which(words)
        seen = (set(folded_words(background)) | noun) - predicate
        terms = [f for f in words if f not in FOLDED_STOPWORDS and f not in _CUE_WORDS]
        # Inside one article, the words its headline shares with the question (the
        # body, the place, the year) are in every paragraph's context: what tells its
        # paragraphs apart is the rest ("hội viên", "bầu", "chủ trì").
        self.weights = {t: idf.get(t, 1.0) * (BACKGROUND_SHARE if t in seen else 1.0) for t in terms}
        self.total = sum(self.weights.values()) or 1.0
        self.pairs = {f"{a} {b}" for a, b in pairwise(words)
                      if not ({a, b} & FOLDED_STOPWORDS) and not {a, b} <= seen}
        self.want = want
        self.evidence_weight = evidence_weight if want.kind in (NUMBER, WHO, WHEN, WHERE) else 0.0
        # A figure achieved is asked for, unless the question names a target.
        self.achieved = want.kind == NUMBER and _find(words, _TARGET_CUES) is None

    def within(self, headline: str, texts: list[str], article_years: set[int]) -> SentenceScorer:
        """The scorer for choosing among one article's sentences (see __init__ and
        `fitted`).  A question that names no year asks about the article's own:
        a year-end report's "Năm 2024, Hội phấn đấu..." is next year's plan, unless
        the question asks for tasks: what a conclusion proposes is for next year."""
        years = self.years or frozenset(article_years) | (
            {y + 1 for y in article_years} if self.want.kind == TASKS else set())
        return SentenceScorer(self.question, self.idf, fitted(self.want, texts), self.evidence_weight,
                              headline, frozenset(years))

    def fitted(self, texts: list[str]) -> SentenceScorer:
        want = fitted(self.want, texts)
        if want == self.want:
            return self
        return SentenceScorer(self.question, self.idf, want, self.evidence_weight, self.background,
                              self.years)

    def relevance(self, sentence: str) -> float:
        """Share of the question's weighted words in the sentence, plus half its pairs'."""
        present, pairs_in, length = _sentence_words(sentence)
        if not length:
            return 0.0
        covered = sum(w for t, w in self.weights.items() if t in present) / self.total
        pairs = len(self.pairs & pairs_in) / len(self.pairs) if self.pairs else 0.0
        # A run-on sentence matches everything a little.
        return (covered + 0.5 * pairs) / (1 + length / 120)

    def score(self, sentence: str, implied_years: frozenset[int] | set[int] = frozenset()) -> float:
        """`implied_years`: the years a sentence that names none speaks of (its article's)."""
        s = self.relevance(sentence)
        if self.evidence_weight and s > 0 and has_evidence(sentence, self.want):
            s += self.evidence_weight * min(1.0, s / 0.2)
        if self.achieved and s > 0 and not _sentence_words(sentence)[1].isdisjoint(_TARGET_PAIRS):
            s *= TARGET_SHARE
        if self.years and s > 0:
            # "Năm 2024, Hội phấn đấu 3.000 hộ..." does not answer a question about 2023.
            said = {int(y) for y in _SAID_YEAR.findall(sentence)} or implied_years
            if said and not said & self.years:
                s *= OTHER_YEAR_SHARE
        return s

    def best(self, text: str) -> tuple[tuple[int, int] | None, float]:
        """The best sentence of `text` (span) and its score; (None, 0) when none shares a word.
        A photo caption weighs half (`is_caption`)."""
        best, best_score = None, 0.0
        for start, end in _spans(text):
            s = self.score(text[start:end])
            if s > best_score and is_caption(text, start, end):
                s *= CAPTION_SHARE
            if s > best_score:
                best, best_score = (start, end), s
        return best, best_score


def _which(words: list[str]) -> tuple[set[str], set[str]]:
    """A "X nào" question's noun and the three words after it ("đơn vị nào đạt giải
    nhất" -> {don, vi}, {dat, giai, nhat}): the answering sentence names a unit
    instead of the noun, and says the predicate even when the headline says it too."""
    for i, w in enumerate(words):
        if w == "nao":
            for n in (2, 1):
                if i >= n and tuple(words[i - n:i]) in _WHICH_NOUNS:
                    return set(words[i - n:i]), set(words[i + 1:i + 4]) - FOLDED_STOPWORDS
    return set(), set()


CAPTION_SHARE = 0.5
_CAPTION_MARK = re.compile(r"\bt(?:ừ|u) (?:trái|phải|trai|phai) sang\b|\(\s*ảnh\b|^ảnh\s*(?::|minh)",
                           re.IGNORECASE)
_SAID_IN_FULL = ".!?…:;\"”’)»"
_LIST_ITEM = re.compile(r"^(?:[-+•*–]|\d{1,2}[.)]|[a-zđ][.)])\s")


def is_caption(text: str, start: int, end: int) -> bool:
    """True when text[start:end] reads as a photo caption: it says "(thứ hai từ phải
    sang)" or "Ảnh: …", or it is a short line without a full stop inside the text
    ("Các đại biểu tặng hoa chúc mừng tân Chủ tịch …" under a photo).  A caption
    restates the topic in the question's words, and the sentence it shows is not
    the report's.  A list item ("- Tăng cường …") is not a caption."""
    sentence = text[start:end]
    if _CAPTION_MARK.search(sentence):
        return True
    return (sentence[-1:] not in _SAID_IN_FULL and text[end:end + 1] == "\n"
            and len(sentence.split()) <= 30 and not _LIST_ITEM.match(sentence))


@_cached
def _sentence_words(sentence: str) -> tuple[frozenset[str], frozenset[str], int]:
    """A sentence's folded words and pairs of words ("hoi vien"), and how many words: what
    relevance reads.  Pairs are strings, not tuples: the caches hold ~100 sentences a
    question, and their tuples were most of what the garbage collector traversed (at
    100k passages a young collection every ~25 questions cost 3-17 ms)."""
    words = folded_words(sentence)
    return frozenset(words), frozenset(map(" ".join, pairwise(words))), len(words)


@_cached
def _spans(text: str) -> tuple[tuple[int, int], ...]:
    return tuple(sentence_spans(text))


def fitted(want: Wanted, texts: list[str]) -> Wanted:
    """`want` as one article can show it: a question that counts what the article
    never names ("nhóm tình nguyện" where it writes "đội hình") is a paraphrase, so
    any counted figure is evidence there; "hội viên", which it does name, is not."""
    if not want.counted or want.counted[0] in _MEASURES:
        return want  # a measure ("bao nhiêu m2") has no paraphrase: only that unit answers
    joined = " " + " ".join(folded_words(" ".join(texts))) + " "
    if f" {' '.join(want.counted)} " in joined or (
            want.counted[0] in _ONE_SYLLABLE_COUNTERS and f" {want.counted[0]} " in joined):
        return want
    return replace(want, counted=())


def lacks_detail(texts: list[str], scorer: SentenceScorer, min_relevance: float = 0.15) -> bool:
    """True when the question asks for a figure, a name or a date and no sentence of
    the article's `texts` that is about the question states one."""
    if not scorer.want.is_detail:
        return False
    scorer = scorer.fitted(texts)
    said = [text[start:end] for text in texts for start, end in _spans(text)]
    relevance = [scorer.relevance(s) for s in said]
    # "About the question": among the article's closest sentences.  A paraphrase
    # ("trời lạnh... mất bao nhiêu con gia súc" for "rét đậm làm chết 214 con trâu")
    # shares few words with any of them, so the bar is relative.
    bar = min(min_relevance, 0.4 * max(relevance, default=0.0))
    return not any(r >= bar and r > 0 and has_evidence(s, scorer.want)
                   for s, r in zip(said, relevance, strict=True))


def idf_of(doc_freq, n: int, terms: list[str]) -> dict[str, float]:
    """IDF of folded terms from a document-frequency lookup over `n` passages."""
    return {t: math.log((n + 1) / (doc_freq(t) + 0.5)) for t in set(terms)}


