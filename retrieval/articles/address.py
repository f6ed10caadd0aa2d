"""What words a page's address carries: the names in its host and the words of its path.

District portals are named after their district ("tranvanthoi.camau.dcs.vn"), and
many portals write the headline into the address, without diacritics
("/trao-nha-mai-am-cong-doan-tai-huyen-giong-trom-22092020-a78189.html").  One
tokenisation (`_segment_words`) reads a path segment; two readers use it, and differ
on purpose:
- `headline_words` (articles/headline.py): the page's own name, the last segment,
  without the record numbers around it, when it can spell a whole headline;
- `url_words` (query.py, for the article's subject in search): the host's labels that
  may name a place, and the words of the longest hyphenated segment (a section named
  after a congress counts too), with a term's years, beside the headline for places
  and years.
"""
from __future__ import annotations

import re
from urllib.parse import unquote

from ..vocabulary import NOT_PLACE_HOST_LABELS

# (host, path) of an address; the scheme is optional and the query and fragment go.
_ADDRESS = re.compile(r"(?:[a-z]+://)?([^/?#]*)([^?#]*)", re.IGNORECASE)
_SPLIT = re.compile(r"[-_+.]+")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")  # .html, .aspx, ".330" (an id)
YEAR_WORD = re.compile(r"(?:19|20)\d\d")  # a year as an address writes it
_TERM = re.compile(f"({YEAR_WORD.pattern})({YEAR_WORD.pattern})")  # "nhiem-ky-20192024"


def _parts(url: str | None) -> tuple[str, list[str]]:
    """(host, non-empty path segments) of an address, as written."""
    host, path = _ADDRESS.match(url or "").groups()  # every string matches
    return host, [s for s in path.split("/") if s]


def _segment_words(segment: str) -> list[str]:
    """A path segment's words, lower case: percent escapes decoded, the extension or
    trailing id dropped, split at "-", "_", "+" and "."; a word with any other character
    (an accent, a comma) stays whole, and neither reader takes it for a word."""
    return [w for w in _SPLIT.split(_EXTENSION.sub("", unquote(segment)).lower()) if w]


def _is_word(word: str) -> bool:
    """A word the address spells without diacritics ("huyen", "dam")."""
    return word.isascii() and word.isalpha()


def _is_slug_id(word: str, at_end: bool) -> bool:
    """A record number or stamp around the words: "a78189", "22092020", "6439967"; at the
    end a 4-digit number that is no year ("-4747.html") too."""
    if not word.isdigit():
        return not word.isalpha()
    return len(word) >= 5 or (at_end and len(word) == 4 and not YEAR_WORD.fullmatch(word))


def headline_words(url: str | None) -> list[str]:
    """The words of a page address's last segment when they can spell a headline (four
    words or more, letters and short numbers only), else []."""
    segments = _parts(url)[1]
    if not segments:
        return []
    words = _segment_words(segments[-1])
    while words and _is_slug_id(words[0], at_end=False):
        words.pop(0)
    while words and _is_slug_id(words[-1], at_end=True):
        words.pop()
    if not all(_is_word(w) or (w.isdigit() and len(w) <= 4) for w in words):
        return []
    return words if sum(w.isalpha() for w in words) >= 4 else []


def url_words(url: str | None) -> tuple[frozenset[str], list[str]]:
    """(the host's labels that may name a place, the words of the longest segment with
    four hyphenated parts or more): district portals are named after the district and
    slugs repeat the headline, which some pages state only there (realdev: 3 of 132
    name their district in the address alone).  A term's years written together stand
    apart ("nhiem-ky-20192024": 2019, 2024); other numbers and ids go."""
    host, segments = _parts(url)
    hosts = frozenset(label for label in host.lower().split(":")[0].split(".")
                      if label.isalpha() and label not in NOT_PLACE_HOST_LABELS)
    hyphenated = [s for s in segments if s.count("-") >= 3]
    words = []
    for w in _segment_words(max(hyphenated, key=len)) if hyphenated else []:
        if _is_word(w):
            words.append(w)
        elif (m := _TERM.fullmatch(w)) and 0 < int(m[2]) - int(m[1]) <= 10:
            words += [m[1], m[2]]
    return hosts, words
