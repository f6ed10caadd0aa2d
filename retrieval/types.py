"""The records that travel down the pipeline: corpus file -> Article -> Passage -> Hit.

They are plain dataclasses so every step can be tested alone and serialised
without a framework.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date


def format_date(iso: str | None) -> str | None:
    """ISO yyyy-mm-dd -> dd/mm/yyyy, the Vietnamese convention for citations.

    Partial dates stay partial (2024-01 -> 01/2024); unknown text is kept as is.
    """
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


class UnusableFile(Exception):
    """A file or page has nothing we can index; the message says why, for a person to act on."""


# Where an article's date came from (Article.date_source), see articles.dates.date_claim:
# the page's metadata, its own date line, its URL, the lead's event date, the year of
# the anniversary it celebrates, a full date elsewhere in its text, its headline's year.
DATE_SOURCES = ("meta", "dateline", "url", "lead", "anniversary", "text", "headline-year")
# The page's own statement of its day: what browsing (/chude, "Bài mới nhất", /help's
# range, example questions) shows.  A year from an anniversary or the headline is a
# year only, and a date found elsewhere in the text may be a past event's.
TRUSTED_DATE_SOURCES = frozenset({"meta", "dateline", "url", "lead"})


def trusted_date(iso: str | None, source: str | None) -> str | None:
    """The date when a reader may browse by it: a full day the page itself states
    (TRUSTED_DATE_SOURCES), else None."""
    return iso if iso and len(iso) == 10 and source in TRUSTED_DATE_SOURCES else None


@dataclass
class Article:
    """One corpus file after parsing: clean body paragraphs plus citation metadata."""

    article_id: str  # path relative to the corpus folder, without extension, "/"-separated
    title: str
    paragraphs: list[str]
    date: str | None = None  # ISO yyyy-mm-dd when known, or a year alone (yyyy)
    place: str | None = None  # e.g. "Đầm Hà"
    source: str | None = None  # author line and/or site name
    url: str | None = None
    path: str = ""  # file path relative to the corpus folder
    date_source: str | None = None  # one of DATE_SOURCES, None when undated

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)


def indexed_text(title: str, place: str | None, date: str | None, text: str) -> str:
    """A paragraph as the engines see it, its headline, place and date first: the one
    definition for building the index and for checking a stored passage at query time."""
    header = " · ".join(x for x in (title, place, date) if x)
    return f"{header}\n{text}"


@dataclass
class Passage:
    """A paragraph-sized piece of an article; it carries its article's metadata."""

    passage_id: str  # f"{article_id}#{position}"
    article_id: str
    position: int  # 0-based order inside the article
    text: str
    title: str
    date: str | None = None
    place: str | None = None
    source: str | None = None
    url: str | None = None

    def indexed_text(self) -> str:
        """What the engines see: headline, place and date give the paragraph its context."""
        return indexed_text(self.title, self.place, self.date, self.text)


@dataclass
class Hit:
    """One ranked passage returned by a search, with everything needed to cite it."""

    article_id: str
    passage_id: str
    text: str
    score: float
    title: str
    date: str | None = None
    place: str | None = None
    source: str | None = None
    url: str | None = None
    position: int = 0
    # The sentence that answers the question: a (start, end) span of `text`, chosen
    # by search (retrieval/answer.py); None when no sentence of the passage matches.
    answer: tuple[int, int] | None = None
    date_source: str | None = None  # where the date came from (DATE_SOURCES)

    @property
    def answer_sentence(self) -> str:
        return self.text[self.answer[0]:self.answer[1]] if self.answer else ""

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("position")
        d.pop("answer")
        d["answer_sentence"] = self.answer_sentence
        return d


@dataclass
class SearchResponse:
    """The ranked hits for one question and whether anything relevant was found at all."""

    query: str
    answered: bool  # something relevant was found: match is "exact" or "partial"
    hits: list[Hit] = field(default_factory=list)
    # "exact": the best article satisfies every constraint the question states (place,
    # year or term, organisation); "partial": it is relevant but misses the constraints
    # in `missing`; "none": nothing relevant.
    match: str = "none"
    missing: list[str] = field(default_factory=list)  # of "year", "place", "organisation", "detail"
    understood: str = ""  # the constraints as a reply states them: "Hội Nông dân huyện X, năm 2024"
    # The same constraints as data (a query.Intent): what the admins' report groups
    # unanswered questions by (chat/insights.py).  None when nothing was searched.
    intent: object | None = field(default=None, repr=False, compare=False)
    wanted: str = "open"  # the kind of answer asked for: number, who, when, where, tasks, open
    # With "detail" in `missing`: what the best article does not state ("số hội viên").
    detail: str = ""

    def to_json(self) -> dict:
        return {"query": self.query, "answered": self.answered, "match": self.match,
                "missing": self.missing, "understood": self.understood,
                "wanted": self.wanted, "detail": self.detail,
                "results": [h.to_json() for h in self.hits]}


@dataclass
class SkippedFile:
    path: str
    reason: str


@dataclass
class BuildReport:
    """What an index build did, for the CLI summary and the bot's /reindex reply."""

    articles: int = 0
    passages: int = 0
    unchanged_files: int = 0  # same size and modification time: not even read
    parsed_files: int = 0  # added or changed files parsed in this build
    embedded: int = 0  # passages embedded in this build
    reused: int = 0  # passages written in this build whose vectors came from the cache
    skipped: list[SkippedFile] = field(default_factory=list)
    added: list[str] = field(default_factory=list)  # article ids new in this build
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    named_files: int | None = None  # files the build was told had changed (None: it listed the folder)

    def summary(self) -> str:
        lines = [
            f"articles: {self.articles}",
            f"passages: {self.passages}",
            f"files unchanged (not read): {self.unchanged_files}, parsed: {self.parsed_files}"
            + ("" if self.named_files is None else
               f" (of {self.named_files} named; the folder was not listed)"),
            f"embedded now: {self.embedded}",
            f"reused from cache: {self.reused}",
            f"added: {len(self.added)}, changed: {len(self.changed)}, removed: {len(self.removed)}",
            f"skipped files: {len(self.skipped)}",
        ]
        lines += [f"  - {s.path}: {s.reason}" for s in self.skipped]
        lines.append(f"time: {self.seconds:.1f} s")
        return "\n".join(lines)
