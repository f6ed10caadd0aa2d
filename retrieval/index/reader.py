"""The serving view of an index folder: one published generation at a time.

Readers look things up for a few dozen candidates per question, in SQLite;
nothing per passage is built in Python at open.
"""
from __future__ import annotations

import gc
import json
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..query import SUBJECT_RULES
from ..textnorm import LEXICAL_TOKENS_VERSION, folded_syllables
from ..types import Article, indexed_text
from .catalog import (
    TRUSTED_DATE_SQL,
    check_meta,
    chunks,
    connect,
    has_column,
    pending_migrations,
    visible,
    visible_passages,
)
from .layout import CATALOG, IndexFormatError, IndexNotFound, check_not_format_1
from .lexical import TantivyLexical, open_lexical
from .vectors import GenerationVectors, VectorSettings, open_generation

log = logging.getLogger(__name__)


@dataclass
class Candidate:
    """What ranking and citing need of one passage, read for the top candidates only."""

    pid: int
    article_id: str
    position: int
    text: str
    dedup: str
    title: str
    date: str | None
    place: str | None
    source: str | None
    url: str | None
    lead: str  # the article's first paragraph: with the headline, what the article is about
    date_source: str | None = None  # where the date came from (types.DATE_SOURCES)
    subject: str | None = None  # query.Subject as the index stored it (JSON); None: compute it

    @property
    def passage_id(self) -> str:
        return f"{self.article_id}#{self.position}"

    @property
    def indexed(self) -> str:
        return indexed_text(self.title, self.place, self.date, self.text)


@dataclass
class _Generation:
    """Everything a reader holds for one published generation; a refresh swaps it whole."""

    number: int
    vectors: GenerationVectors  # the base memory-mapped, the delta read
    lexical: TantivyLexical
    places: dict[str, str]  # the places articles are about: folded syllables -> name as written
    passages: int  # visible passages (for IDF)
    subjects: str = "NULL"  # the column of stored subjects, when they follow today's rules


_CANDIDATE_COLUMNS = ("p.id, a.article_id, p.position, p.text, p.dedup, a.title, a.date, a.place,"
                      " a.source, a.url, {lead}, {date_source}, {subject}")
_ARTICLE_SQL = ("SELECT article_id, title, date, place, source, url, path, paragraphs, {date_source}"
                " FROM articles a WHERE {visible} ")


@cache
def _settle_collector() -> None:
    """Once per serving process: what exists when the first index opens (modules,
    vocabularies, the index's tables) is frozen out of the garbage collector's
    passes, and its youngest generation is collected every 10,000 allocations
    instead of 700.  Why: a question allocates ~1,400 containers that die with
    it, and the caches keep what it derived (sentences' words, articles'
    subjects); at the default threshold every question paid for two
    collections, which traversed its live temporaries and promoted them.  At
    100k passages (benchmarks.scale's questions) collecting took 3.0 ms a
    question, with pauses of 140 ms; frozen and at 10,000, 1.5 ms and 50 ms.
    """
    gc.freeze()
    gc.set_threshold(10_000, *gc.get_threshold()[1:])


class IndexReader:
    """A serving view of an index folder.

    Opening reads the small `meta` table, maps the vectors file and opens
    tantivy's segments; per-passage data is read from SQLite for a few dozen
    candidates per question.  `refresh()` moves to a newer published
    generation; the old one is dropped as soon as no search holds it.
    """

    def __init__(self, index_dir: str | Path, embedder_identity: str | None,
                 settings: VectorSettings | None = None) -> None:
        """`embedder_identity` None: any embedder's index, for a reader that never
        embeds (the dashboard reads the catalog only)."""
        self.index_dir = Path(index_dir)
        check_not_format_1(self.index_dir)
        if not (self.index_dir / CATALOG).is_file():
            raise IndexNotFound(f"no index in {self.index_dir}: build one with "
                                f"`python -m retrieval index --corpus DIR --index {self.index_dir}`")
        self.settings = settings or VectorSettings()
        self._db = connect(self.index_dir / CATALOG, readonly=True)
        # A catalog from before issue 18 has no date sources until its next build: none is trusted.
        self._date_source = "date_source" if has_column(self._db, "articles", "date_source") else "NULL"
        self._trusted_date = TRUSTED_DATE_SQL if self._date_source != "NULL" else "NULL"
        # A catalog from before m004 has no lead column until its next build: read from the JSON.
        self._lead = ("lead" if has_column(self._db, "articles", "lead")
                      else "json_extract(paragraphs, '$[0]')")
        self._db_lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._check_catalog(embedder_identity)
        meta = self.meta()
        if int(meta["published"]) == 0:
            raise IndexNotFound(f"the index in {self.index_dir} has no finished build yet")
        try:
            self._lexical_index = open_lexical(self.index_dir, create=False)
            self.current = self._open_generation(meta)
        except (OSError, RuntimeError, ValueError) as e:  # a file deleted or damaged by hand
            raise IndexNotFound(
                f"the index in {self.index_dir} is incomplete ({e}); run `python -m retrieval "
                f"index --index {self.index_dir}` to repair it from its catalog") from None
        # One question is one query vector: FAISS's OpenMP threads cost more to wake
        # than they save (3 ms against 1 ms a question on the test corpus, 2 cores),
        # and a serving process answers several chats at once on its own threads.
        import faiss

        faiss.omp_set_num_threads(1)
        _settle_collector()

    def check_embedder(self, identity: str) -> None:
        """IndexMismatch unless the index was built with the embedder of this identity."""
        check_meta(self.index_dir, self.meta(), identity)

    def _check_catalog(self, embedder_identity: str | None) -> None:
        """Refuse a catalog this version cannot read; one that lacks migrations is served
        (a missing column reads as NULL) until the next build applies them."""
        with self._db_lock:
            pending_migrations(self._db, self.index_dir)  # raises for a newer version's catalog
        meta = self.meta()
        check_meta(self.index_dir, meta, embedder_identity)
        if meta.get("tokens") != LEXICAL_TOKENS_VERSION:
            raise IndexFormatError(
                f"the lexical index in {self.index_dir} was built by an older version: run "
                f"`python -m retrieval index --index {self.index_dir}` to update it (nothing is re-embedded)")

    # -------------------------------------------------------- generations

    def _query(self, sql: str, params=()) -> list[tuple]:
        with self._db_lock:
            return self._db.execute(sql, params).fetchall()

    def meta(self) -> dict[str, str]:
        return dict(self._query("SELECT key, value FROM meta"))

    def _open_generation(self, meta: dict[str, str]) -> _Generation:
        """The published generation `meta` names (published and vectors_base read together)."""
        number = int(meta["published"])
        vectors = open_generation(self.index_dir, number, int(meta.get("vectors_base", number)),
                                  self.settings.nprobe)
        self._lexical_index.reload()
        g = {"g": number}
        places = {folded_syllables(p): p for (p,) in self._query(
            f"SELECT DISTINCT place FROM articles WHERE place IS NOT NULL AND {visible()}", g)}
        passages = self._query(f"SELECT count(*) FROM passages WHERE {visible()}", g)[0][0]
        # One-syllable "places" are misreadings, and folded they are common words ("van").
        return _Generation(number, vectors, TantivyLexical(self._lexical_index.searcher()),
                           {k: v for k, v in sorted(places.items()) if len(k.split()) >= 2}, passages,
                           "a.subject" if meta.get("subjects") == SUBJECT_RULES else "NULL")

    def refresh(self) -> bool:
        """Move to the newest published generation; False when already there."""
        with self._refresh_lock:
            meta = self.meta()
            published = int(meta["published"])
            if published == self.current.number:
                return False
            try:
                self.current = self._open_generation(meta)
            except (FileNotFoundError, RuntimeError) as e:  # a writer replaced it meanwhile
                log.warning("could not open generation %s yet: %s", published, e)
                return False
            return True

    # -------------------------------------------------------- lookups

    def candidates(self, gen: _Generation, pids: Iterable[int]) -> dict[int, Candidate]:
        """The visible passages among `pids`, with their articles' citation data."""
        ids = list(dict.fromkeys(int(p) for p in pids))
        found: dict[int, Candidate] = {}
        for chunk in chunks(ids):
            params = {"g": gen.number, **{f"i{k}": pid for k, pid in enumerate(chunk)}}
            marks = ",".join(f":i{k}" for k in range(len(chunk)))
            for row in self._query(visible_passages(self._candidate_columns(gen), f"p.id IN ({marks})"),
                                   params):
                found[row[0]] = Candidate(*row)
        return found

    def _candidate_columns(self, gen: _Generation) -> str:
        return _CANDIDATE_COLUMNS.format(lead=self._lead, date_source=self._date_source, subject=gen.subjects)

    def article_passages(self, gen: _Generation, article_ids: Iterable[str]) -> list[Candidate]:
        """Every visible passage of these articles, in article and reading order: where
        search looks for the sentence that answers (retrieval/answer.py)."""
        ids = list(dict.fromkeys(article_ids))
        out: list[Candidate] = []
        for chunk in chunks(ids):
            params = {"g": gen.number, **{f"i{k}": a for k, a in enumerate(chunk)}}
            marks = ",".join(f":i{k}" for k in range(len(chunk)))
            sql = visible_passages(self._candidate_columns(gen),
                                   f"{visible('a')} AND a.article_id IN ({marks})")
            out += [Candidate(*row) for row in self._query(sql + " ORDER BY a.article_id, p.position",
                                                           params)]
        return out

    def article(self, article_id: str, gen: _Generation | None = None) -> Article | None:
        gen = gen or self.current
        rows = self._query(self._article_sql() + "AND article_id = :id",
                           {"g": gen.number, "id": article_id})
        return _article(rows[0]) if rows else None

    def _article_sql(self) -> str:
        return _ARTICLE_SQL.format(visible=visible('a'), date_source=self._date_source)

    def latest(self, n: int) -> list[Article]:
        """Newest articles first by trusted date (types.trusted_date); the others last."""
        rows = self._query(self._article_sql()
                           + f"ORDER BY coalesce({self._trusted_date}, '') DESC, article_id DESC LIMIT :n",
                           {"g": self.current.number, "n": n})
        return [_article(r) for r in rows]

    def headlines(self) -> list[tuple[str, str, str | None, str | None, str, str | None]]:
        """(article_id, title, date, place, first paragraph, date source) of every visible
        article, newest trusted date first: what browsing (/chude) counts, without whole texts."""
        return self._query(
            f"SELECT article_id, title, date, place, coalesce({self._lead}, ''),"
            f" {self._date_source} FROM articles WHERE {visible()}"
            f" ORDER BY coalesce({self._trusted_date}, '') DESC, article_id DESC",
            {"g": self.current.number})

    def stats(self) -> dict:
        g = {"g": self.current.number}
        articles, date_min, date_max = self._query(
            f"SELECT count(*), min({self._trusted_date}), max({self._trusted_date}) FROM articles"
            f" WHERE {visible()}", g)[0]
        meta = self.meta()
        return {"articles": articles, "passages": self.current.passages,
                "date_min": date_min, "date_max": date_max,
                "built_at": meta.get("built_at"), "embedder": meta.get("embedder"),
                "generation": self.current.number}

    def close(self) -> None:
        with self._db_lock:
            self._db.close()


def _article(row) -> Article:
    return Article(article_id=row[0], title=row[1], date=row[2], place=row[3], source=row[4],
                   url=row[5], path=row[6] or "", paragraphs=json.loads(row[7]), date_source=row[8])
