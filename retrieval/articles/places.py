"""Where an article is about: the administrative unit its headline, banners or text name.

A place is a name after a unit word ("huyện Đầm Hà", "Huyện ủy Đầm Hà", "TP. Lam
Hạ"), at the level a citation wants most (the district or town, then the
province, then the commune).  A name after a unit word that belongs to a person
("Chủ tịch UBND huyện Nguyễn Văn A") is never a place.  The unit words, bodies,
offices and names these rules read are the vocabulary's (retrieval/vocabulary.py).
"""
from __future__ import annotations

import re

from ..vocabulary import (
    MEMBER_TITLES,
    MIDDLE_NAMES,
    OFFICES,
    PAGE_PERSON_WORDS,
    PLACE_LIKE_SURNAMES,
    SURNAMES,
    UNIT_BODIES,
    UNIT_PATTERNS,
    UNIT_WORDS,
)

# UNIT_PATTERNS go from the level a citation wants most (the district or town) to the least.
_NAME_SYLLABLE = r"[A-ZÀ-ỸĐ][a-zà-ỹđ]*"
_ANY_UNIT = "|".join(UNIT_PATTERNS)  # any unit word, as the place patterns spell them
_ORG_NAME = re.compile(
    rf"^(({UNIT_BODIES})\s+)?"
    rf"(?:{_ANY_UNIT})(?P<name>.+)$",
    re.IGNORECASE)
_NAMED = rf"((?:{_NAME_SYLLABLE})(?:\s+{_NAME_SYLLABLE}){{0,3}})"
_PLACE_LEVELS = tuple(re.compile(rf"\b(?:{unit}){_NAMED}", re.IGNORECASE) for unit in UNIT_PATTERNS)
# Banners are sometimes all lower case ("trang thông tin điện tử huyện gia viễn").
_BANNER_PLACE_LEVELS = tuple(re.compile(rf"\b(?:{unit})([^\d\W]+(?:\s+[^\d\W]+){{0,2}})\s*$", re.IGNORECASE)
                             for unit in UNIT_PATTERNS)

# A person is named after these words ("đồng chí Lê Văn A", "bà Trần Thị B") ...
_PERSON_WORD = re.compile(
    rf"\b(?:{'|'.join(PAGE_PERSON_WORDS)})\s+(\w+(?:\s+\w+){{1,3}})",
    re.IGNORECASE)
# ... and often right after an office and its unit: "Bí thư Huyện ủy Nguyễn Văn A".
_OFFICE_BEFORE = re.compile(
    rf"\b({'|'.join(OFFICES + MEMBER_TITLES)})(\s+({UNIT_BODIES}))?\s*$",
    re.IGNORECASE)


def _first_capitalised_run(words: str) -> str:
    """Keep the leading words that start with a capital: "Đầm Hà tự hào" -> "Đầm Hà"."""
    run = []
    for w in words.split():
        if not w[:1].isupper():
            break
        run.append(w)
    return " ".join(run)


def _clean_place(name: str) -> str | None:
    """"Ủy Đầm Hà" (from "Huyện ủy Đầm Hà") -> "Đầm Hà".  Only leading unit words go:
    "Châu Thành" and "Vân Phố" are names."""
    words = name.split()
    # "Tỉnh Đoàn Vĩnh Long" is the province's Youth Union: the place is what follows.
    while words and (words[0].lower() in UNIT_WORDS or words[0].lower() == "đoàn" and len(words) >= 3):
        words.pop(0)
    if not words:
        return None
    return " ".join(w[:1].upper() + w[1:].lower() for w in words)


def _people(text: str) -> set[str]:
    """Names that follow a person word anywhere in the page."""
    return {run for m in _PERSON_WORD.finditer(text)
            if len((run := _first_capitalised_run(m[1])).split()) >= 2}


def _is_person(name: str, text: str, at: int, people: set[str]) -> bool:
    """Is the name after a unit word in fact a person (the place can never be one)?"""
    words = name.split()
    if any(p == name or p.startswith(name + " ") or name.startswith(p + " ") for p in people):
        return True
    if len(words) >= 3 and words[1] in MIDDLE_NAMES:
        # Unless the page keeps naming it as a unit: districts are named after
        # people too ("huyện Trần Văn Thời", five times in its MTTQ report).
        return len(re.findall(rf"\b(?:{_ANY_UNIT}){re.escape(name)}\b", text,
                              re.IGNORECASE)) < 3
    return (words[0] in SURNAMES and words[0] not in PLACE_LIKE_SURNAMES
            and bool(_OFFICE_BEFORE.search(text[max(0, at - 40):at])))


def _places_in(pattern: re.Pattern, text: str, people: set[str]) -> list[str]:
    """Every administrative unit name the pattern finds in the text, persons left out."""
    found = []
    for m in pattern.finditer(text):
        run = _first_capitalised_run(m[1])
        if run and not _is_person(run, text, m.start(), people) and (place := _clean_place(run)):
            found.append(place)
    return found


def infer_place(headline: str, banners: list[str], body: str) -> str | None:
    """The unit the article is about: at the first level any source names (district or
    town, then province, then commune), the headline's, else a banner's, else the one the
    text names most.  A name after a unit word that belongs to a person never counts."""
    people = _people(f"{headline}\n{body}")
    # In an ALL-CAPS headline every word looks like a name, so it cannot say where a name ends.
    head = "" if headline.isupper() else headline
    # A name runs on into the next capitalised words ("huyện Năm Căn Tôn Nữ Hương
    # Giang phát biểu"): where the page also names a shorter place that starts it,
    # that one is meant.
    # Each level's names in the headline, each banner and the body, read once.
    levels = [[_places_in(pattern, text, people) for text in (head, *banners, body)]
              for pattern in _PLACE_LEVELS]
    named = {p for level in levels for found in level for p in found}

    def shortest(place: str) -> str:
        return min((p for p in named if place.startswith(p + " ") and " " in p), key=len, default=place)

    for (in_head, *in_banners, in_body), in_banner in zip(levels, _BANNER_PLACE_LEVELS, strict=True):
        if in_head:
            return shortest(in_head[0])
        for banner, found in zip(banners, in_banners, strict=True):
            if found:
                return shortest(found[0])
            if (m := in_banner.search(banner)) and (place := _clean_place(m[1])):
                return place
        counts: dict[str, int] = {}
        for place in map(shortest, in_body):
            counts[place] = counts.get(place, 0) + 1
        if counts:
            return max(counts, key=counts.get)
    return None



def unit_named(line: str) -> str | None:
    """The name after the unit (and body) a line opens with: "UBND huyện Hòa Lĩnh" ->
    "Hòa Lĩnh"; None when the line opens with no unit word."""
    m = _ORG_NAME.match(line)
    return m["name"] if m else None


def site_name(banner: str) -> str:
    """"Trang thông tin điện tử huyện gia viễn" -> "Trang thông tin điện tử huyện Gia Viễn"."""
    m = next(filter(None, (p.search(banner) for p in _BANNER_PLACE_LEVELS)), None)
    if m and m[1].islower():
        return banner[: m.start(1)] + " ".join(w.capitalize() for w in m[1].split())
    return banner
