"""The index in PostgreSQL + pgvector: the same writer and reader as the index folder's.

Why (issue 17): a national body runs several bot processes for 10M+ passages; they
must share one index that replicates, fails over and is backed up by tools the
users already trust.  `[index] backend = "postgres"` chooses this module
(index/backend.py); build_index, Searcher, the CLI and the bot do not know.

Tables (numbered migrations, `schema_migrations`): `meta`, `files`, `articles`,
`passages` (text, lexical tokens as a tsvector, the vector as pgvector), `lexicon`
(document frequency per token, for BM25) and `embeddings` (the embedding cache).

One generation is one transaction.  The writer marks replaced rows `removed = G+1`
and inserts new ones with `added = G+1` (the folder's visibility rule, catalog.visible),
updates the lexicon and `published` and commits: readers see generation G or G+1,
never half of one, and a killed writer's transaction is rolled back by the server.
A reader pins one generation per question, so a publish between two of its queries
changes nothing; rows removed before the previous generation are deleted at publish.

Search: lexical candidates by BM25 computed from stored statistics (tf in the
tsvector, df in `lexicon`, lengths in `ntok`), found through the tsvector's GIN
index; vector candidates by HNSW with iterative scans (filtered searches still
return k rows).  Fusion, votes and grading stay in search.py.
"""
from __future__ import annotations

import logging
import math
import threading
from collections import Counter
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ..index.catalog import FILE_COLUMNS, TRUSTED_DATE_SQL, check_meta, dedup_key, new_meta, visible
from ..index.layout import BuildInProgress, IndexFormatError, IndexNotFound, IndexUnavailable
from ..index.lexical import passage_tokens
from ..index.reader import Candidate, _article
from ..textnorm import (
    LEXICAL_TOKENS_VERSION,
    fold_syllable,
    folded_syllables,
    lexical_tokens,
    syllables,
    tone_key,
)
from ..types import indexed_text

log = logging.getLogger(__name__)

WHERE = "PostgreSQL"  # how messages name the index (never the DSN: it may hold a password)
LOCK_KEY = 0x636F6E67  # the advisory lock of the single writer ("cong")
K1, B = 1.2, 0.75  # BM25 as tantivy computes it
# Lexical candidates: each of the two parts of candidate_query is expected to match at most
# this many passages, whatever the corpus's size (exact BM25 while the question's tokens
# match fewer).  Scoring costs ~0.1-0.3 ms a candidate.
LEXICAL_CANDIDATES = 500
STATEMENT_TIMEOUT_S = 10
BUILD_MEMORY_MAX_MB = 4096  # maintenance_work_mem a bulk build may ask for (the HNSW graph of 1M: ~2.6 GB)
EF_SEARCH = 200  # HNSW candidate list per question (pgvector's default 40 is below 50 candidates)


# ---------------------------------------------------------------- connections


def connect(dsn: str, autocommit: bool = False):
    """A connection with pgvector's types; IndexUnavailable in one line when it fails."""
    import psycopg

    try:
        conn = psycopg.connect(dsn, autocommit=autocommit, connect_timeout=5)
    except psycopg.ProgrammingError:
        raise IndexUnavailable(f"{WHERE}: the connection string is malformed") from None
    except psycopg.OperationalError as e:
        raise IndexUnavailable(f"{WHERE}: cannot connect ({_first_line(e)})") from None
    try:
        _register_vector(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _register_vector(conn) -> None:
    """pgvector's adapters, once the extension exists (IndexUnavailable when it cannot)."""
    import psycopg
    from pgvector.psycopg import register_vector

    has = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone()
    if not has:
        try:
            with conn.transaction():
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except psycopg.Error as e:
            raise IndexUnavailable(f"{WHERE} has no pgvector extension and cannot create it "
                                   f"({_first_line(e)}): install pgvector 0.8 or newer on the server, "
                                   "or have an administrator run CREATE EXTENSION vector") from None
        if not conn.autocommit:
            conn.commit()
    register_vector(conn)


def _vis(table: str = "") -> str:
    """catalog.visible (added <= g < removed) with psycopg's placeholder."""
    return visible(table).replace(":g", "%(g)s")


# ---------------------------------------------------------------- migrations


def m001_initial(db, dim: int) -> None:
    """The index's tables; the vector column has the embedder's dimension (HNSW needs one)."""
    for statement in (
        "CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL)",
        "CREATE TABLE files (path text PRIMARY KEY, size bigint, mtime_ns bigint, sha256 text,"
        " article_id text, skipped text)",
        "CREATE TABLE articles (id bigserial PRIMARY KEY, article_id text NOT NULL, path text,"
        " title text, date text, place text, source text, url text, paragraphs jsonb,"
        " date_source text, added integer NOT NULL, removed integer)",
        "CREATE INDEX articles_by_id ON articles (article_id)",
        "CREATE INDEX articles_removed ON articles (removed) WHERE removed IS NOT NULL",
        f"CREATE TABLE passages (id bigserial PRIMARY KEY, article bigint NOT NULL,"
        f" position integer NOT NULL, text text NOT NULL, hash text NOT NULL, dedup text NOT NULL,"
        f" tokens tsvector NOT NULL, ntok integer NOT NULL, embedding vector({int(dim)}) NOT NULL,"
        f" added integer NOT NULL, removed integer)",
        "CREATE INDEX passages_by_article ON passages (article)",
        "CREATE INDEX passages_added ON passages (added)",
        "CREATE INDEX passages_removed ON passages (removed) WHERE removed IS NOT NULL",
        "CREATE INDEX passages_tokens ON passages USING gin (tokens)",
        "CREATE INDEX passages_embedding ON passages USING hnsw (embedding vector_ip_ops)",
        "CREATE TABLE lexicon (token text PRIMARY KEY, df integer NOT NULL)",
        "CREATE TABLE embeddings (embedder text NOT NULL, hash text NOT NULL, vector vector NOT NULL,"
        " PRIMARY KEY (embedder, hash))",
    ):
        db.execute(statement)


MIGRATIONS = [m001_initial]


def _table_exists(db, name: str) -> bool:
    return db.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()[0]


def pending_migrations(db) -> list:
    """Migrations still to apply; IndexFormatError when a newer version wrote the schema."""
    if not _table_exists(db, "schema_migrations"):
        return list(MIGRATIONS)
    applied = {name for (name,) in db.execute("SELECT name FROM schema_migrations")}
    unknown = applied - {m.__name__ for m in MIGRATIONS}
    if unknown:
        raise IndexFormatError(f"the index in {WHERE} was written by a newer version "
                               f"(migrations {', '.join(sorted(unknown))}): update the program")
    return [m for m in MIGRATIONS if m.__name__ not in applied]


def migrate(db, dim: int) -> list[str]:
    """Apply the pending migrations, each in its own transaction; returns their names."""
    db.commit()
    db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY,"
               " applied_at timestamptz NOT NULL DEFAULT now())")
    db.commit()
    done = []
    for migration in pending_migrations(db):
        try:
            migration(db, dim)
            db.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (migration.__name__,))
        except BaseException:
            db.rollback()
            raise
        db.commit()
        done.append(migration.__name__)
    return done


# ---------------------------------------------------------------- lexical tokens as stored


def _quote(token: str) -> str:
    """A lexeme as tsvector and tsquery literals spell it."""
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


_POSITIONS = [",".join(map(str, range(1, n + 1))) for n in range(256)]  # tsvector keeps <= 255


def tsvector_literal(tokens: list[str]) -> str:
    """The lexical tokens as a tsvector whose positions count them (tf = positions 1..tf)."""
    return _tsvector(Counter(tokens))


def _tsvector(counts: Counter) -> str:
    """tsvector_literal of counted tokens; written for speed (~300 distinct tokens a passage):
    quoting only where needed."""
    positions = _POSITIONS
    return " ".join(
        ("'" + t + "':" if "'" not in t and "\\" not in t else _quote(t) + ":") + positions[min(n, 255)]
        for t, n in counts.items())


# ---------------------------------------------------------------- the embedding cache


class PostgresCache:
    """Vectors by (embedder identity, content hash): embcache.EmbeddingCache's interface."""

    def __init__(self, dsn: str) -> None:
        self.db = connect(dsn, autocommit=True)

    def get_many(self, embedder: str, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        rows = self.db.execute("SELECT hash, vector FROM embeddings WHERE embedder = %s AND hash = ANY(%s)",
                               (embedder, list(dict.fromkeys(hashes))))
        return {h: np.asarray(v.to_numpy() if hasattr(v, "to_numpy") else v, dtype=np.float32)
                for h, v in rows}

    def cached(self, embedder: str, hashes: Iterable[str]) -> set[str]:
        rows = self.db.execute("SELECT hash FROM embeddings WHERE embedder = %s AND hash = ANY(%s)",
                               (embedder, list(dict.fromkeys(hashes))))
        return {h for (h,) in rows}

    def put_many(self, embedder: str, items: dict[str, np.ndarray]) -> None:
        """One transaction per batch: a killed build keeps the batches it finished."""
        with self.db.transaction(), self.db.cursor() as cur:
            cur.execute("CREATE TEMP TABLE IF NOT EXISTS staged_vectors (hash text, vector vector)"
                        " ON COMMIT DELETE ROWS")
            # Binary COPY: pgvector's float32 bytes, where text cost ~0.1 ms a vector in repr().
            with cur.copy("COPY staged_vectors FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.set_types(["text", "vector"])
                for h, v in items.items():
                    copy.write_row((h, np.asarray(v, dtype=np.float32)))
            cur.execute("INSERT INTO embeddings SELECT %s, hash, vector FROM staged_vectors"
                        " ON CONFLICT DO NOTHING", (embedder,))

    def close(self) -> None:
        self.db.close()


# ---------------------------------------------------------------- the writer


@contextmanager
def postgres_writer(dsn: str, embedder_identity: str, dim: int, rebuild: bool = False):
    """The single writer (an advisory lock: a second build fails at once with BuildInProgress)."""
    writer = PostgresWriter(dsn, embedder_identity, dim, rebuild)
    try:
        yield writer
    finally:
        writer.close()


class PostgresWriter:
    """IndexWriter's interface over PostgreSQL: one generation is one transaction."""

    def __init__(self, dsn: str, embedder_identity: str, dim: int, rebuild: bool = False) -> None:
        self.dsn, self.identity, self.dim = dsn, embedder_identity, dim
        self.db = connect(dsn)
        if not self.db.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]:
            self.db.close()
            raise BuildInProgress(f"another build is running on the index in {WHERE}")
        for name in migrate(self.db, dim):
            log.info("%s: migration %s applied", WHERE, name)
        if rebuild:
            # In the transaction of the new generation: readers keep the old one until it
            # publishes, waiting (statement_timeout, then IndexUnavailable) meanwhile.
            self.db.execute("TRUNCATE meta, files, articles, passages, lexicon")
            self._set_dimension(dim)
        meta = self._meta()
        if not meta:
            self.db.cursor().executemany("INSERT INTO meta VALUES (%s, %s)",
                                         list(new_meta(embedder_identity, dim).items()))
            meta = self._meta()
        check_meta(WHERE, meta, embedder_identity)
        if not rebuild:
            self.db.commit()
        self.published = int(meta["published"])
        self._gen = None

    def _set_dimension(self, dim: int) -> None:
        """Another embedder after --rebuild: the vector column takes its dimension."""
        (current,) = self.db.execute("SELECT atttypmod FROM pg_attribute WHERE attname = 'embedding'"
                                     " AND attrelid = 'passages'::regclass").fetchone()
        if current != dim:
            self.db.execute("DROP INDEX IF EXISTS passages_embedding")
            self.db.execute(f"ALTER TABLE passages ALTER COLUMN embedding TYPE vector({int(dim)})")

    def _meta(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, value FROM meta").fetchall())

    def meta_value(self, key: str) -> str | None:
        return self._meta().get(key)

    def open_cache(self) -> PostgresCache:
        return PostgresCache(self.dsn)

    def file_stats(self) -> dict[str, tuple[int, int]]:
        """(size, mtime_ns) of every recorded file by path (IndexWriter.file_stats)."""
        return {path: (size, mtime) for path, size, mtime in
                self.db.execute("SELECT path, size, mtime_ns FROM files").fetchall()}

    def files(self, paths: Iterable[str] | None = None, article_ids: Iterable[str] = ()):
        """The records of `paths` and of the files providing `article_ids` (every record
        when `paths` is None), by path (IndexWriter.files)."""
        from ..index.writer import FileRecord

        sql = f"SELECT {FILE_COLUMNS} FROM files"
        # Fetched whole: 1.0 s for 91k files, against 1.7 s iterating the cursor.
        rows = (self.db.execute(sql) if paths is None else self.db.execute(
            f"{sql} WHERE path = ANY(%s) OR article_id = ANY(%s)", (list(paths), list(article_ids)))
                ).fetchall()
        return {row[0]: FileRecord(*row) for row in rows}

    def skipped_files(self) -> dict[str, str]:
        """Why each recorded file is not indexed, by path."""
        return dict(self.db.execute("SELECT path, skipped FROM files WHERE skipped IS NOT NULL").fetchall())

    def counts(self) -> tuple[int, int]:
        """Articles and passages of the published generation."""
        totals = self._published_totals()
        return totals["articles"], totals["passages"]

    # -------------------------------------------------------- one generation

    def begin(self) -> int:
        """Start generation published+1, in a transaction that `commit` ends.

        The first generation is written without the search indexes, which are built
        once at its commit (pgvector builds an HNSW graph far faster whole than one
        insert at a time).
        """
        self._gen = self.published + 1
        self._changed = False
        self._df = Counter()  # document frequencies of the passages added, counted as they are written
        self._added = Counter()  # articles, passages and tokens added
        self._bulk = self.published == 0
        if self._bulk:
            self.db.execute("DROP INDEX IF EXISTS passages_embedding")
            self.db.execute("DROP INDEX IF EXISTS passages_tokens")
        return self._gen

    @property
    def changed(self) -> bool:
        return self._changed

    def remove(self, article_ids: Iterable[str]) -> None:
        ids = list(article_ids)
        if not ids:
            return
        g = {"g": self._gen, "ids": ids}
        marked = self.db.execute("UPDATE articles SET removed = %(g)s WHERE removed IS NULL AND"
                                 " article_id = ANY(%(ids)s) RETURNING id", g).fetchall()
        if marked:
            self.db.execute("UPDATE passages SET removed = %(g)s WHERE removed IS NULL AND"
                            " article = ANY(%(a)s)", {"g": self._gen, "a": [r[0] for r in marked]})
            self._changed = True

    def add(self, new: list) -> None:
        """Write a batch of articles (writer.NewArticle) into this generation; vectors come
        from the embedding cache inside the server, never through Python."""
        if not new:
            return
        self.remove(n.article.article_id for n in new)
        ids = [r[0] for r in self.db.execute(
            "SELECT nextval('articles_id_seq') FROM generate_series(1, %s)", (len(new),))]
        cur = self.db.cursor()
        with cur.copy("COPY articles (id, article_id, path, title, date, place, source, url, paragraphs,"
                      " date_source, added) FROM STDIN") as copy:
            for aid, item in zip(ids, new, strict=True):
                a = item.article
                copy.write_row((aid, a.article_id, a.path, a.title, a.date, a.place, a.source, a.url,
                                _json(a.paragraphs), a.date_source, self._gen))
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS staged (article bigint, position integer, text text,"
                    " hash text, dedup text, tokens tsvector, ntok integer) ON COMMIT DELETE ROWS")
        cur.execute("TRUNCATE staged")
        df, added = self._df, self._added
        added["articles"] += len(new)
        with cur.copy("COPY staged FROM STDIN") as copy:
            for aid, item in zip(ids, new, strict=True):
                for (position, text, h), tokens in zip(item.passages, item.tokens, strict=True):
                    toks = tokens.split()
                    counts = Counter(toks)
                    df.update(counts.keys())
                    added["passages"] += 1
                    added["tokens_total"] += len(toks)
                    copy.write_row((aid, position, text, h, dedup_key(text), _tsvector(counts), len(toks)))
        inserted = cur.execute(
            "INSERT INTO passages (article, position, text, hash, dedup, tokens, ntok, embedding, added)"
            " SELECT s.article, s.position, s.text, s.hash, s.dedup, s.tokens, s.ntok, e.vector, %s"
            " FROM staged s JOIN embeddings e ON e.embedder = %s AND e.hash = s.hash",
            (self._gen, self.identity)).rowcount
        staged = cur.execute("SELECT count(*) FROM staged").fetchone()[0]
        if inserted != staged:
            raise RuntimeError(f"{staged - inserted} passage vectors are missing from the embedding "
                               f"cache; rebuild with `index --rebuild`")
        self._changed = True

    def commit(self, files: list, forget_files: Iterable[str], meta: dict[str, str]) -> int:
        """Publish this generation: lexicon, statistics, files and `published` in its transaction."""
        gen, g = self._gen, {"g": self._gen}
        db = self.db
        self._update_lexicon()
        totals = self._totals()
        if self._bulk:
            self._create_search_indexes(totals["passages"])
        self._write_files(files, forget_files)
        rows = {**meta, **{k: str(v) for k, v in totals.items()}, "published": str(gen),
                "tokens": LEXICAL_TOKENS_VERSION}
        db.cursor().executemany("INSERT INTO meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE"
                                " SET value = EXCLUDED.value", list(rows.items()))
        # A reader that has not refreshed yet may still look up the previous generation's rows.
        db.execute("DELETE FROM passages WHERE removed < %(g)s", g)
        db.execute("DELETE FROM articles WHERE removed < %(g)s", g)
        db.execute("SELECT pg_notify('congtac_index', %s)", (str(gen),))
        db.commit()
        self.published = gen
        return gen

    def _totals(self) -> dict[str, int]:
        """Articles, passages and lexical tokens of this generation: the published one's (meta)
        plus this one's changes, where counting a table of 1M passages took seconds.  Also
        deletes the rows added and removed within this generation (never visible)."""
        g = {"g": self._gen}
        totals = self._published_totals()
        gone = self.db.execute("DELETE FROM passages WHERE added = %(g)s AND removed = %(g)s RETURNING ntok",
                               g).fetchall()
        gone_articles = self.db.execute("DELETE FROM articles WHERE added = %(g)s AND removed = %(g)s",
                                        g).rowcount
        (articles,) = self.db.execute("SELECT count(*) FROM articles WHERE removed = %(g)s", g).fetchone()
        passages, tokens = self.db.execute("SELECT count(*), coalesce(sum(ntok), 0) FROM passages"
                                           " WHERE removed = %(g)s", g).fetchone()
        totals["articles"] += self._added["articles"] - gone_articles - articles
        totals["passages"] += self._added["passages"] - len(gone) - passages
        totals["tokens_total"] += self._added["tokens_total"] - sum(n for (n,) in gone) - tokens
        return totals

    def _published_totals(self) -> dict[str, int]:
        """The published generation's totals (counted once for an index written before meta kept them)."""
        meta, keys = self._meta(), ("articles", "passages", "tokens_total")
        if self.published == 0:
            return dict.fromkeys(keys, 0)
        if all(k in meta for k in keys):
            return {k: int(meta[k]) for k in keys}
        g = {"g": self.published}
        return dict(zip(keys, self.db.execute(
            f"SELECT (SELECT count(*) FROM articles WHERE {_vis()}), count(*), coalesce(sum(ntok), 0)"
            f" FROM passages WHERE {_vis()}", g).fetchone(), strict=True))

    def _update_lexicon(self) -> None:
        """Document frequencies: + the passages added (counted by `add`), - those removed in
        this generation (their tokens read back: few).  Unnesting every added tsvector in SQL
        instead cost about as much as writing the passages."""
        cur = self.db.cursor()
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS df_delta (token text, d integer) ON COMMIT DROP")
        with cur.copy("COPY df_delta FROM STDIN") as copy:
            for token, d in self._df.items():
                copy.write_row((token, d))
        cur.execute("INSERT INTO df_delta SELECT u.lexeme, -count(*) FROM passages p, unnest(p.tokens) u"
                    " WHERE p.removed = %(g)s GROUP BY u.lexeme", {"g": self._gen})
        cur.execute("INSERT INTO lexicon AS l (token, df) SELECT token, sum(d) FROM df_delta GROUP BY token"
                    " ON CONFLICT (token) DO UPDATE SET df = l.df + EXCLUDED.df")
        cur.execute("DELETE FROM lexicon WHERE df <= 0")
        self._df = Counter()

    def _create_search_indexes(self, passages: int) -> None:
        """The GIN index of the tokens and the HNSW graph of the vectors, built whole.

        pgvector builds the graph in memory and slows down many times over once it no
        longer fits maintenance_work_mem: enough for the graph (about the vectors plus
        1 KB of links a passage), within BUILD_MEMORY_MAX_MB, unless the server allows more."""
        (current,) = self.db.execute("SELECT setting::bigint * 1024 FROM pg_settings"
                                     " WHERE name = 'maintenance_work_mem'").fetchone()
        needed = min(BUILD_MEMORY_MAX_MB << 20, int(passages * (4 * self.dim + 1024) * 1.2))
        if needed > current:
            self.db.execute(f"SET LOCAL maintenance_work_mem = '{needed >> 20}MB'")
        self.db.execute("CREATE INDEX IF NOT EXISTS passages_tokens ON passages USING gin (tokens)")
        self.db.execute("CREATE INDEX IF NOT EXISTS passages_embedding ON passages"
                        " USING hnsw (embedding vector_ip_ops)")

    def record_files(self, files: list, forget_files: Iterable[str]) -> None:
        """File stats that changed without changing any article."""
        self._write_files(files, forget_files)
        self.db.commit()

    def _write_files(self, files: list, forget_files: Iterable[str]) -> None:
        cur = self.db.cursor()
        cur.executemany(
            "INSERT INTO files (path, size, mtime_ns, sha256, article_id, skipped) VALUES (%s, %s, %s, %s,"
            " %s, %s) ON CONFLICT (path) DO UPDATE SET size = EXCLUDED.size, mtime_ns = EXCLUDED.mtime_ns,"
            " sha256 = EXCLUDED.sha256, article_id = EXCLUDED.article_id, skipped = EXCLUDED.skipped",
            [(f.path, f.size, f.mtime_ns, f.sha256, f.article_id, f.skipped) for f in files])
        cur.execute("DELETE FROM files WHERE path = ANY(%s)", (list(forget_files),))

    def repair(self) -> list[str]:
        """Nothing to roll back (a killed writer's transaction is gone); re-tokenise when
        the lexical tokenisation changed, from the stored texts, without re-embedding."""
        tokens = self.meta_value("tokens")
        if self.published == 0 or tokens == LEXICAL_TOKENS_VERSION:
            self.db.commit()
            return []
        g = {"g": self.published}
        rows = self.db.execute(f"SELECT p.id, a.title, a.place, a.date, p.text FROM passages p JOIN"
                               f" articles a ON a.id = p.article WHERE {_vis('p')}", g).fetchall()
        cur = self.db.cursor()
        for pid, title, place, date, text in rows:
            toks = passage_tokens(indexed_text(title, place, date, text)).split()
            cur.execute("UPDATE passages SET tokens = %s::tsvector, ntok = %s WHERE id = %s",
                        (tsvector_literal(toks), len(toks), pid))
        cur.execute("TRUNCATE lexicon")
        cur.execute(f"INSERT INTO lexicon SELECT u.lexeme, count(*) FROM passages p, unnest(p.tokens) u"
                    f" WHERE {_vis('p')} GROUP BY u.lexeme", g)
        cur.execute(f"UPDATE meta SET value = (SELECT coalesce(sum(ntok), 0)::text FROM passages WHERE"
                    f" {_vis()}) WHERE key = 'tokens_total'", g)
        cur.execute("UPDATE meta SET value = %s WHERE key = 'tokens'", (LEXICAL_TOKENS_VERSION,))
        self.db.commit()
        done = ["re-tokenised the lexical index from the stored passages (new tokenisation)"]
        log.warning("%s: %s", WHERE, done[0])
        return done

    def close(self) -> None:
        if not self.db.closed:
            self.db.rollback()  # an unfinished generation (an exception) is never published
        self.db.close()


def _json(value) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


# ---------------------------------------------------------------- the reader


# BM25 of the candidates.  A term's frequency in a passage is read back from ts_rank of
# that one term: the tsvector stores a token occurring tf times at positions 1..tf, all of
# weight D (0.1), for which ts_rank is 0.1 * H(tf) / (pi^2/6) with H(n) = sum 1/j^2 for
# j <= n (PostgreSQL's calc_rank_or), and pi^2/6 - H(n) = 1/(n + 1/2) within rounding:
# a binary search in the tsvector, where unnesting it (~500 tokens a passage) cost 10x.
# The candidates are detoasted once (`|| ''`) and scored with each term once (OFFSET 0).
_TF = "round(1 / (1.64493406685 - r * 16.4493406685) - 0.5)"
# Each part is a CTE of its own, LIMITed where it is read: PostgreSQL plans a CTE for all
# its rows (the GIN index when few match) and reads it lazily, so the LIMIT still stops it
# early.  With the LIMIT inside, the planner counted on finding `cap` matches soon (it
# guesses ~0.5% of the rows for a token it has no statistics of) and scanned the table
# instead: 8.4 s at 500k passages for a new article's place name (4 matches), over the
# reader's statement timeout under load, against 6 ms from the index.
_PART = (f"q{{0}} AS MATERIALIZED (SELECT p.id, p.tokens, p.ntok FROM passages p"
         f" WHERE p.tokens @@ %(q{{0}})s::tsquery AND {_vis('p')})")


def _bm25_sql(parts: int) -> str:
    """BM25 of the passages matched by `parts` tsqueries (%(q0)s...), each part LIMITed on its own."""
    ctes = ", ".join(_PART.format(i) for i in range(parts))
    union = " UNION ALL ".join(f"(SELECT * FROM q{i} LIMIT %(cap)s)" for i in range(parts))
    return (f"WITH {ctes}, c AS MATERIALIZED (SELECT DISTINCT ON (id) id, tokens || ''::tsvector AS tokens,"
            f" ntok FROM ({union}) u)" + _SCORE_SQL)


_SCORE_SQL = (
    f" SELECT id, sum(w * {_TF} / ({_TF} + %(k1)s * (1 - %(b)s + %(b)s * ntok / %(avgdl)s))) AS score"
    " FROM (SELECT c.id, c.ntok, t.w, ts_rank(c.tokens, t.term) AS r"
    "       FROM c CROSS JOIN unnest(%(terms)s::tsquery[], %(ws)s::float8[]) t(term, w) OFFSET 0) x"
    " WHERE r > 0 GROUP BY id ORDER BY score DESC, id LIMIT %(depth)s")
_BM25_SQL = {n: _bm25_sql(n) for n in (1, 2)}


def token_spans(question: str) -> dict[str, set[int]]:
    """The question's syllables each lexical token covers (a syllable's two forms: itself, a
    folded pair: both); aliases cover none here."""
    sylls = syllables(question)
    folded = [fold_syllable(x) for x in sylls]
    spans: dict[str, set[int]] = {}
    for i, (x, f) in enumerate(zip(sylls, folded, strict=True)):
        spans.setdefault(tone_key(x), set()).add(i)
        spans.setdefault("~" + f, set()).add(i)
    for i in range(len(folded) - 1):
        spans.setdefault(f"{folded[i]}_{folded[i + 1]}", set()).update((i, i + 1))
    return spans


def candidate_query(df: dict[str, int], n: int, cap: int, spans: dict[str, set[int]] | None = None
                    ) -> list[str]:
    """The tsqueries of a question's BM25 candidates, each matching at most about `cap` passages
    whatever the corpus's size (the GIN index reads no more than that, and fast-scans the long
    posting lists of an AND), each LIMITed to `cap` on its own:

    - the passages holding any of the rarest tokens, their document frequencies summing to at
      most `cap` (they hold the question's highest-IDF words: exact for them);
    - the passages holding all of the commoner tokens, taking them rarest first until
      `n * product(df / n)` (independent tokens) is at most `cap`: the best passages among those
      with no rare token hold most of its common tokens.  Tokens of one phrase are far from
      independent ("huyện Ngạn Thoa": ngan_thoa, huyen_ngan, thoa), so a token covering a
      syllable (`spans`) that an AND'ed one covers already is left out of the AND.  Past the
      estimate, the LIMIT keeps an arbitrary `cap` of the matches: where this stops being exact.
    """
    ordered = sorted(df, key=lambda t: (df[t], t))
    rare, total = [], 0
    for t in ordered:
        if total + df[t] > cap:
            break
        rare.append(t)
        total += df[t]
    parts = [" | ".join(map(_quote, rare))] if rare else []
    common, expected = [], float(n)
    covered: set[int] = set()
    for t in ordered[len(rare):]:
        span = (spans or {}).get(t, set())
        if span & covered or (len(span) == 1 and not t.startswith("~")):
            continue  # a syllable already AND'ed; or its accented form, where "~" matches both spellings
        covered |= span
        common.append(t)
        expected *= df[t] / max(n, 1)
        if expected <= cap:
            break
    if common:
        parts.append(" & ".join(map(_quote, common)))
    return parts


class PgLexical:
    """BM25 over one generation's passages, as tantivy ranks them (lexical.TantivyLexical)."""

    def __init__(self, reader: PostgresReader, number: int, passages: int, tokens_total: int) -> None:
        self.reader, self.number, self.n = reader, number, passages
        self.avgdl = tokens_total / passages if passages else 1.0
        self._df: dict[str, int] = {}

    def doc_freqs(self, tokens: Iterable[str]) -> dict[str, int]:
        """Document frequencies from the lexicon (cached for the generation)."""
        todo = [t for t in set(tokens) if t not in self._df]
        if todo:
            found = dict(self.reader._query("SELECT token, df FROM lexicon WHERE token = ANY(%s)", (todo,)))
            if len(self._df) > 200_000:
                self._df.clear()
            self._df.update({t: found.get(t, 0) for t in todo})
        return {t: self._df[t] for t in tokens}

    def doc_freq(self, token: str) -> int:
        return self.doc_freqs([token])[token]

    def ranking(self, question: str, depth: int) -> list[int]:
        """The `depth` best passage ids by BM25 (k1 1.2, b 0.75, tantivy's IDF)."""
        counts = Counter(lexical_tokens(question))
        df = {t: d for t, d in self.doc_freqs(counts).items() if d > 0}
        if not df or depth <= 0:
            return []
        weights = {t: math.log(1 + (self.n - d + 0.5) / (d + 0.5)) * counts[t] * (K1 + 1)
                   for t, d in df.items()}
        parts = candidate_query(df, self.n, LEXICAL_CANDIDATES, token_spans(question))
        rows = self.reader._query(_BM25_SQL[len(parts)], {
            **{f"q{i}": q for i, q in enumerate(parts)}, "g": self.number, "cap": LEXICAL_CANDIDATES,
            "k1": K1, "b": B, "avgdl": self.avgdl, "terms": [_quote(t) for t in weights],
            "ws": list(weights.values()), "depth": depth})
        return [int(pid) for pid, score in rows if score > 0]


class PgVectors:
    """Nearest passages of one generation by inner product (HNSW), FAISS's search interface."""

    def __init__(self, reader: PostgresReader, number: int) -> None:
        self.reader, self.number = reader, number

    def search(self, queries: np.ndarray, k: int):
        rows = self.reader._query(
            f"SELECT p.id, p.embedding <#> %(v)s AS d FROM passages p WHERE {_vis('p')}"
            " ORDER BY d LIMIT %(k)s",
            {"v": np.asarray(queries[0], dtype=np.float32), "g": self.number, "k": k})
        ids = np.full((1, k), -1, dtype=np.int64)
        scores = np.zeros((1, k), dtype=np.float32)
        for i, (pid, d) in enumerate(rows):
            ids[0, i], scores[0, i] = pid, -d
        return scores, ids


@dataclass
class PgGeneration:
    """One published generation as search sees it (reader._Generation's fields)."""

    number: int
    vectors: PgVectors
    lexical: PgLexical
    places: dict[str, str]
    passages: int


_CANDIDATE_COLUMNS = ("p.id, a.article_id, p.position, p.text, p.dedup, a.title, a.date, a.place,"
                      " a.source, a.url, a.paragraphs->>0, a.date_source")
_ARTICLE_COLUMNS = "article_id, title, date, place, source, url, path, paragraphs::text, date_source"
_TRUSTED_DATE = TRUSTED_DATE_SQL


class PostgresReader:
    """IndexReader's interface over PostgreSQL; one connection, reconnected when the server
    comes back.  Every failure to reach the server is IndexUnavailable."""

    def __init__(self, dsn: str, embedder_identity: str | None) -> None:
        self._dsn = dsn
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._db = None
        with self._lock:
            self._connect()
            if not _table_exists(self._db, "meta"):
                raise IndexNotFound(f"no index in {WHERE} yet: build one with "
                                    "`python -m retrieval index --corpus DIR` with [index] backend"
                                    " = \"postgres\"")
            pending_migrations(self._db)
        meta = self.meta()
        if not meta:
            raise IndexNotFound(f"the index in {WHERE} has no finished build yet")
        check_meta(WHERE, meta, embedder_identity)
        if meta.get("tokens") != LEXICAL_TOKENS_VERSION:
            raise IndexFormatError(f"the lexical tokens in {WHERE} were made by an older version: run "
                                   "`python -m retrieval index` to update them (nothing is re-embedded)")
        if int(meta["published"]) == 0:
            raise IndexNotFound(f"the index in {WHERE} has no finished build yet")
        self.index_dir = None
        self.current = self._open_generation(meta)

    def check_embedder(self, identity: str) -> None:
        """IndexMismatch unless the index was built with the embedder of this identity."""
        check_meta(WHERE, self.meta(), identity)

    def _connect(self) -> None:
        self._db = connect(self._dsn, autocommit=True)
        # A question never waits long: past it, IndexUnavailable ("thử lại sau").
        self._db.execute(f"SET statement_timeout = '{STATEMENT_TIMEOUT_S}s'")
        self._db.execute(f"SET hnsw.ef_search = {EF_SEARCH}")
        self._db.execute("SET work_mem = '32MB'")  # the lexical candidates stay in memory
        self._db.execute("SET hnsw.iterative_scan = strict_order")  # filtered searches still give k rows
        # psycopg prepares a query run 5 times; PostgreSQL's generic plan for it knows neither the
        # question's vector nor LIMIT, and chose a sequential scan over every vector (230 ms at 20k
        # passages instead of 10 ms): plan each question with its own values.
        self._db.execute("SET plan_cache_mode = force_custom_plan")

    def _query(self, sql: str, params=None) -> list[tuple]:
        """Run one query; after a lost connection, reconnect once and run it again."""
        import psycopg

        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._db is None or self._db.closed:
                        self._connect()
                    return self._db.execute(sql, params).fetchall()
                except (psycopg.OperationalError, psycopg.InterfaceError) as e:
                    if self._db is not None:
                        self._db.close()
                    self._db = None
                    if attempt == 2:
                        raise IndexUnavailable(f"{WHERE}: {_first_line(e)}") from None
                except IndexUnavailable:
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def meta(self) -> dict[str, str]:
        return dict(self._query("SELECT key, value FROM meta"))

    def _open_generation(self, meta: dict[str, str]) -> PgGeneration:
        number = int(meta["published"])
        g = {"g": number}
        places = {folded_syllables(p): p for (p,) in self._query(
            f"SELECT DISTINCT place FROM articles WHERE place IS NOT NULL AND {_vis()}", g)}
        passages = int(meta.get("passages", 0))
        return PgGeneration(number, PgVectors(self, number),
                            PgLexical(self, number, passages, int(meta.get("tokens_total", 0))),
                            {k: v for k, v in sorted(places.items()) if len(k.split()) >= 2}, passages)

    def refresh(self) -> bool:
        """Move to the newest published generation; False when already there or unreachable."""
        with self._refresh_lock:
            try:
                meta = self.meta()
                if int(meta["published"]) == self.current.number:
                    return False
                self.current = self._open_generation(meta)
            except IndexUnavailable as e:
                log.warning("index not refreshed: %s", e)
                return False
            return True

    def candidates(self, gen: PgGeneration, pids: Iterable[int]) -> dict[int, Candidate]:
        ids = list(dict.fromkeys(int(p) for p in pids))
        if not ids:
            return {}
        rows = self._query(f"SELECT {_CANDIDATE_COLUMNS} FROM passages p JOIN articles a ON a.id = p.article"
                           f" WHERE {_vis('p')} AND p.id = ANY(%(ids)s)", {"g": gen.number, "ids": ids})
        return {row[0]: Candidate(*row) for row in rows}

    def article_passages(self, gen: PgGeneration, article_ids: Iterable[str]) -> list[Candidate]:
        ids = list(dict.fromkeys(article_ids))
        if not ids:
            return []
        rows = self._query(f"SELECT {_CANDIDATE_COLUMNS} FROM passages p JOIN articles a ON a.id = p.article"
                           f" WHERE {_vis('p')} AND {_vis('a')} AND a.article_id = ANY(%(ids)s)"
                           " ORDER BY a.article_id, p.position", {"g": gen.number, "ids": ids})
        return [Candidate(*row) for row in rows]

    def article(self, article_id: str, gen: PgGeneration | None = None):
        gen = gen or self.current
        rows = self._query(f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE {_vis()} AND article_id = %(id)s",
                           {"g": gen.number, "id": article_id})
        return _article(rows[0]) if rows else None

    def latest(self, n: int):
        rows = self._query(f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE {_vis()}"
                           f" ORDER BY coalesce({_TRUSTED_DATE}, '') DESC, article_id DESC LIMIT %(n)s",
                           {"g": self.current.number, "n": n})
        return [_article(r) for r in rows]

    def headlines(self):
        return self._query(
            f"SELECT article_id, title, date, place, coalesce(paragraphs->>0, ''), date_source FROM articles"
            f" WHERE {_vis()} ORDER BY coalesce({_TRUSTED_DATE}, '') DESC, article_id DESC",
            {"g": self.current.number})

    def stats(self) -> dict:
        g = {"g": self.current.number}
        articles, date_min, date_max = self._query(
            f"SELECT count(*), min({_TRUSTED_DATE}), max({_TRUSTED_DATE}) FROM articles WHERE {_vis()}", g)[0]
        meta = self.meta()
        return {"articles": articles, "passages": self.current.passages, "date_min": date_min,
                "date_max": date_max, "built_at": meta.get("built_at"), "embedder": meta.get("embedder"),
                "generation": self.current.number}

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
