"""What the index covers, for /chude, and example questions built from headlines.

Nobody can ask well about a corpus they cannot see.  /chude lists the
organisations, places and years the articles are about, with how many articles
each, and the newest articles; each line is a button that asks about it.  An
article counts for an organisation, a place or a year by its own subject (date,
place, headline, lead: retrieval.query.article_subject), as search grades it, except
that browsing reads only trusted dates (retrieval.types.trusted_date): a full day the
page itself states.  A year completed from the text, an anniversary's year or a date
found elsewhere in the text never puts an article under a year or among the newest.

Example questions are questions ("Hội Nông dân huyện Tùng Khê tổng kết năm 2023
thế nào?"), not a headline pasted with a year after it.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from retrieval.query import EVENTS, article_subject, understand
from retrieval.textnorm import YEAR, fold, syllables
from retrieval.types import trusted_date
from retrieval.vocabulary import DANGLING, ORGANISATIONS

TOP = 8  # lines per section: a chat message, not a catalogue


@dataclass(frozen=True)
class Headline:
    """What browsing needs of one article."""

    article_id: str
    title: str
    date: str | None
    place: str | None
    lead: str = ""
    date_source: str | None = None  # retrieval.types.DATE_SOURCES

    @property
    def trusted(self) -> str | None:
        """The date browsing may show and count by (retrieval.types.trusted_date)."""
        return trusted_date(self.date, self.date_source)


@dataclass
class Topics:
    organisations: list[tuple[str, int]] = field(default_factory=list)  # (key of ORGANISATIONS, articles)
    places: list[tuple[str, int]] = field(default_factory=list)  # (place as written, articles)
    years: list[tuple[int, int]] = field(default_factory=list)  # newest first
    newest: list[Headline] = field(default_factory=list)
    articles: int = 0


def count_topics(headlines: Iterable[Headline], top: int = TOP, newest: int = 5) -> Topics:
    """Article counts per organisation, place and year; the newest are those with the latest
    trusted dates (articles without one are never "newest")."""
    orgs, places, years = Counter(), Counter(), Counter()
    rows = list(headlines)
    for h in rows:
        subject = article_subject(h.title, h.place, h.trusted, h.lead)
        orgs.update(subject.organisations)
        if h.place:
            places[h.place] += 1
        years.update(subject.years)
    return Topics(organisations=orgs.most_common(top), places=places.most_common(top),
                  years=sorted(years.items(), reverse=True)[:top],
                  newest=sorted((h for h in rows if h.trusted), key=lambda h: h.trusted,
                                reverse=True)[:newest],
                  articles=len(rows))


def _sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:].lower() if text.isupper() else text


def _main_clause(title: str, most: int = 14) -> str:
    """The headline's main clause: "Lạc Giang: Hơn 1.200 đoàn viên ra quân..." is about
    the second part; a long one is cut at a comma, or after `most` words."""
    parts = [" ".join(p.split()) for p in re.split(r"[:;]", title) if p.strip()]
    clause = next((p for p in parts if len(p.split()) >= 4), parts[0] if parts else "")
    if len(clause.split()) > most and "," in clause:
        clause = clause.split(",")[0]
    words = clause.split()
    if len(words) > most:
        words = words[:most]
        while len(words) > 4 and words[-1].lower() in DANGLING:
            words.pop()
    return " ".join(words)


def example_question(h: Headline, known_places: Mapping[str, str] | None = None) -> str:
    """A question a person could ask about the article, built from its headline:
    organisation, place, kind of event and year when the headline has them
    ("Hội Nông dân huyện Tùng Khê tổng kết năm 2023 thế nào?"), else the
    headline's first clause with its place and year ("... ở Sơn Khê năm 2023 diễn ra thế nào?")."""
    title = _sentence_case(_main_clause(h.title or "")).rstrip(".,!? ")
    subject = article_subject(title, h.place, h.trusted, "")
    intent = understand(title, known_places or {})
    # The headline's own year first: a review of 2023 is dated January 2024.
    stated = YEAR.findall(title)
    year = int(stated[0]) if stated else (max(subject.years) if subject.years else None)
    words = syllables(title)
    original = re.findall(r"\w+", title)
    events = EVENTS.find(words)
    orgs = [o for o in intent.deciding_organisations if o in ORGANISATIONS]
    place = (f"{intent.places[0].level} {intent.places[0].label}" if intent.places and intent.places[0].level
             else (intent.places[0].label if intent.places else h.place))
    if orgs and events and len(original) == len(words):
        start, end, _ = events[0]
        event = " ".join(original[start:end]).lower()
        parts = [ORGANISATIONS[orgs[0]], place or "", event, f"năm {year}" if year else ""]
        return " ".join(p for p in parts if p) + " thế nào?"
    short = title
    if h.place and fold(h.place).lower() not in fold(short).lower():
        short += f" ở {h.place}"
    if year and not YEAR.search(short):
        short += f" năm {year}"
    return f"{short} diễn ra thế nào?"
