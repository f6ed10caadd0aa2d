"""What a question asks about: place, year or term, organisation and kind of event.

These are the question's constraints.  Search uses them twice: to prefer the
articles that satisfy them (a portal holds the same report for many districts
and many years, and the words alone barely tell them apart), and to grade the
answer: `exact` when the best article satisfies every constraint, `partial`
when it misses some, said in the reply ("no article about X in 2023; the
nearest is 2021").

An article satisfies a constraint by its own metadata and subject, that is its
date, place, headline and lead paragraph, never by a passing mention deep in the
body: a 2024 report that recalls "giai đoạn 2021-2025" is not an article about
2021.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from itertools import pairwise

from .articles.address import url_words
from .textnorm import YEAR, Spellings, alias_keys, fold_syllable, folded_words, nfc, syllables
from .vocabulary import (
    ABBREVIATIONS,
    ALIASES,
    AMBIGUOUS_UNACCENTED_UNITS,
    EVENT_NAMES,
    GOVERNING,
    LOCAL_LEVELS,
    NOT_PLACE_HOST_LABELS,
    ORGANISATIONS,
    PLACE_NAME_STOP,
    RELATIVE_YEARS,
    UNIT_LOOKALIKES,
    UNITS,
)

# Kinds of event (vocabulary.EVENT_NAMES), found by any spelling of their names.
EVENTS = Spellings({name: key for key, name in EVENT_NAMES.items()})
_UNITS = Spellings(UNITS)  # administrative units and the level each names
_RANGE = re.compile(rf"({YEAR.pattern})\s*[-–—/]\s*({YEAR.pattern})")
_SUBJECT_YEAR = re.compile(rf"\bnăm\s+({YEAR.pattern})", re.IGNORECASE)


@dataclass(frozen=True)
class Place:
    """A place a question names: folded name ("dam ha") and, when stated, its level."""

    name: str  # folded, lower case, syllables separated by one space
    level: str | None = None  # "huyện", "xã", ... as a reply writes it
    label: str = ""  # as the user wrote it, for replies

    def in_text(self, folded_text: str) -> bool:
        """Is the place named in this folded, space-padded text?  A name typed in
        lower case may run one word long ("dam ha nam"), so its first two
        syllables are enough."""
        words = self.name.split()
        return any(f" {' '.join(words[:n])} " in folded_text for n in {len(words), min(2, len(words))})


@dataclass
class Intent:
    """The constraints a question states."""

    places: list[Place] = field(default_factory=list)
    years: set[int] = field(default_factory=set)  # single years: "năm 2024", "năm nay"
    terms: list[tuple[int, int]] = field(default_factory=list)  # "nhiệm kỳ 2020-2025"
    organisations: list[str] = field(default_factory=list)  # keys of ORGANISATIONS
    events: set[str] = field(default_factory=set)

    @property
    def deciding_organisations(self) -> list[str]:
        named = [o for o in self.organisations if o not in GOVERNING]
        return named or self.organisations

    def is_empty(self) -> bool:
        return not (self.places or self.years or self.terms or self.organisations)

    def describe(self) -> str:
        """"Hội Nông dân huyện Đầm Hà, năm 2024": how a reply says what it understood."""
        parts = [" ".join(ORGANISATIONS[o] for o in self.deciding_organisations)]
        parts.append(", ".join(f"{p.level} {p.label}" if p.level else p.label for p in self.places))
        who = " ".join(x for x in parts if x)
        when = ", ".join([f"năm {y}" for y in sorted(self.years)]
                         + [f"nhiệm kỳ {a}-{b}" for a, b in self.terms])
        return ", ".join(x for x in (who, when) if x)


def understand(question: str, known_places: Mapping[str, str] | None = None,
               today: date | None = None) -> Intent:
    """The constraints of a question.  `known_places` maps the folded names of the
    places the index has articles of ("dam ha") to their names as written; they are
    recognised without a unit word ("Đầm Hà") and delimit names typed in lower case."""
    today = today or date.today()
    question = nfc(question)
    words = syllables(question)
    folded = [fold_syllable(w) for w in words]
    original = re.findall(r"\w+", question)  # same tokens as syllables(), case kept
    cased = any(c.isupper() for c in question[1:]) and not question.isupper()
    intent = Intent()

    for a, b in _RANGE.findall(question):
        if int(a) < int(b):
            intent.terms.append((int(a), int(b)))
    in_terms = {str(y) for t in intent.terms for y in t}
    intent.years = {int(y) for y in YEAR.findall(question) if y not in in_terms}
    for i in range(len(folded) - 1):
        shift = RELATIVE_YEARS.get((folded[i], folded[i + 1]))
        if shift is not None and not (i + 2 < len(folded) and YEAR.fullmatch(folded[i + 2])):
            intent.years.add(today.year + shift)

    intent.organisations = list(dict.fromkeys(k for k in alias_keys(words) if k in ORGANISATIONS))
    intent.events = {k for _, _, k in EVENTS.find(words)}
    intent.places = _places(words, original if len(original) == len(words) else words,
                            cased, known_places or {})
    return intent


def _places(words: list[str], original: list[str], cased: bool, known: Mapping[str, str]) -> list[Place]:
    folded = [fold_syllable(w) for w in words]
    found: dict[str, Place] = {}
    known_names = sorted(known, key=lambda k: -len(k.split()))
    for _, start, level in _UNITS.find(words):
        if words[start - 1] in AMBIGUOUS_UNACCENTED_UNITS:
            if " ".join(folded[start - 2:start]) in UNIT_LOOKALIKES:
                continue  # "cơ quan": no "quận"
            name = next((k for k in known_names if folded[start:start + len(k.split())] == k.split()), None)
        else:
            name = _name_after(folded, original, start, cased, known_names)
        if name:
            label = known.get(name) or " ".join(original[start:start + len(name.split())])
            label = label if cased or name in known else label.title()
            found.setdefault(name, Place(name, level, label))
    # Known places named without a unit word.
    joined = f" {' '.join(folded)} "
    for k in known_names:
        if f" {k} " in joined and not any(k in p.name or p.name in k for p in found.values()):
            found[k] = Place(k, None, known[k])
    return list(found.values())


def _name_after(folded: list[str], original: list[str], start: int, cased: bool,
                known: list[str]) -> str | None:
    """The place name that follows a unit word at `start`, folded."""
    for k in known:
        n = len(k.split())
        if folded[start:start + n] == k.split():
            return k
    run = []
    for j in range(start, min(start + 4, len(folded))):
        word = original[j] if j < len(original) else folded[j]
        if word.isdigit():
            break
        if cased:
            if not word[:1].isupper():
                break
        elif folded[j] in PLACE_NAME_STOP or len(run) == 2:  # most names have two syllables
            break
        run.append(folded[j])
    return " ".join(run).lower() or None


# ---------------------------------------------------------------- the article side

@dataclass
class Subject:
    """What an article is about, from its date, place, headline and lead."""

    years: set[int]
    folded: str  # " folded syllables " of place, headline and lead
    places: str  # " folded syllables " where the article's place is stated
    organisations: set[str]
    events: set[str]
    sites: frozenset[str] = frozenset()  # the page address's host names ("thoibinh")

    def names_place(self, place: Place) -> bool:
        """Is the place stated: by the article, or by the district portal it comes from?"""
        return place.in_text(self.places) or place.name.replace(" ", "") in self.sites

    def to_json(self) -> str:
        """The form the index stores at build time: `places`, most often the start of
        `folded` (the headline before the lead), as its length."""
        places = len(self.places) if self.folded.startswith(self.places) else self.places
        return json.dumps({"y": sorted(self.years), "f": self.folded, "p": places,
                           "o": sorted(self.organisations), "e": sorted(self.events),
                           "s": sorted(self.sites)}, ensure_ascii=False)

    @classmethod
    def from_json(cls, stored: str) -> Subject:
        d = json.loads(stored)
        places = d["f"][:d["p"]] if isinstance(d["p"], int) else d["p"]
        return cls(years=set(d["y"]), folded=d["f"], places=places, organisations=set(d["o"]),
                   events=set(d["e"]), sites=frozenset(d["s"]))


# The index computes each article's subject when it adds the article (catalog column
# `subject`) and records these rules; when they differ, the next `index` run recomputes
# every stored subject from the catalog (nothing is re-parsed), and until then search
# computes them per question.  The number is bumped by hand when article_subject's code
# changes; the digest follows the vocabulary it reads, which changes more often.
# (Sets are sorted: their order changes from one process to the next.)
SUBJECT_RULES = "1:" + hashlib.blake2b(json.dumps(
    (ALIASES, ABBREVIATIONS, ORGANISATIONS, EVENT_NAMES, sorted(NOT_PLACE_HOST_LABELS)),
    sort_keys=True, ensure_ascii=False).encode(), digest_size=6).hexdigest()


def article_subject(title: str, place: str | None, date_iso: str | None, lead: str,
                    url: str | None = None) -> Subject:
    """The article's own year(s), place, organisations and events.

    The headline and the metadata come first; the lead paragraph counts only for
    what they leave unsaid, because a lead also names the guests, the model other
    districts copied and the documents implemented:
    - years: the headline's (a range such as "giai đoạn 2021-2025" is not a year)
      and the date's; the lead's "năm YYYY" only when the headline names no year
      (a year-end review's lead adds "triển khai nhiệm vụ năm 2024");
    - place: the article's place and the headline; the lead only for an article
      with no place;
    - organisations: the headline's; the lead's when the headline names none;
    - the address (`url`): its host names a district portal, its slug is the
      headline as written in the address, read beside the headline for places.
    """
    years = {int(y) for y in YEAR.findall(title) if not _in_range(title, y)}
    if not years:
        years = {int(y) for y in _SUBJECT_YEAR.findall(lead)}
    if date_iso and YEAR.fullmatch(date_iso[:4]):
        years.add(int(date_iso[:4]))
    title_words, lead_words = syllables(title), syllables(lead)
    sites, slug = url_words(url)
    head = folded_words(place or "") + [fold_syllable(w) for w in title_words] + slug
    if not date_iso and "dai hoi" in " ".join(slug):
        # An undated congress whose address states its term opens that term, as a
        # headline's "nhiệm kỳ 2019-2024" dates a page (articles/dates.py, date_claim).
        years |= {int(a) for a, b in pairwise(slug) if YEAR.fullmatch(a) and YEAR.fullmatch(b)}
    organisations = set(alias_keys(title_words)) & set(ORGANISATIONS)
    if not organisations:
        organisations = set(alias_keys(lead_words)) & set(ORGANISATIONS)
    joined = f" {' '.join(head + [fold_syllable(w) for w in lead_words])} "
    return Subject(
        years=years,
        folded=joined,
        places=joined if not place else f" {' '.join(head)} ",
        organisations=organisations,
        events={k for _, _, k in EVENTS.find(title_words + lead_words)},
        sites=sites,
    )


def _in_range(text: str, year: str) -> bool:
    return any(year in m.group(0) for m in _RANGE.finditer(text))


# Search asks `missing` up to four times per candidate passage (three votes and the
# grade): the passage's own years and folded text are read once.
@lru_cache(maxsize=4096)
def _stated_years(passage: str) -> frozenset[int]:
    return frozenset(int(y) for y in _SUBJECT_YEAR.findall(passage))


@lru_cache(maxsize=4096)
def _folded_padded(passage: str) -> str:
    return f" {' '.join(folded_words(passage))} "


def missing(intent: Intent, subject: Subject, passage: str = "") -> list[str]:
    """The constraints of `intent` that the article does not satisfy: "year", "place",
    "organisation" (in that order).

    Two things the answering `passage` itself can settle: next year's targets,
    which a report states ("trong năm 2024 phấn đấu...") in an article dated the
    year before; and a commune (xã, phường, thị trấn), which a district's article
    names in the paragraph about it rather than in its headline.
    """
    out = []
    said = _stated_years(passage)
    # A passage that also names the article's own year is its review of that year,
    # and what follows ("triển khai nhiệm vụ năm 2024") is not what it is about.
    targets = set() if said & subject.years else {y for y in said if y - 1 in subject.years}
    if intent.years and not intent.years & (subject.years | targets):
        out.append("year")
    elif intent.terms and not any(f" {a} " in subject.folded and f" {b} " in subject.folded
                                  for a, b in intent.terms):
        out.append("year")
    if intent.places and not any(subject.names_place(p) for p in intent.places):
        local = [p for p in intent.places if p.level in LOCAL_LEVELS]
        in_passage = _folded_padded(passage) if local else ""
        if not any(p.in_text(in_passage) for p in local):
            out.append("place")
    if intent.organisations and not set(intent.deciding_organisations) <= subject.organisations:
        out.append("organisation")
    return out
