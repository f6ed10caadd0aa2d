"""The catalog (SQLite): its schema as numbered migrations, visibility, and the meta checks.

The catalog is the index's source of truth: files, articles, passages and the
published generation.  A row is visible at generation g when
``added <= g < removed`` (see writer.py for how generations are made); every
query that reads what readers see goes through `visible` and
`visible_passages`, written once here.

The schema grows by numbered migrations (the style of simonw/llm's
migrations.py): each is one function ``mNNN_what(db)``, applied once, in
order, in its own transaction, and recorded by name in the `migrations`
table.  The writer applies the missing ones when it opens a catalog; a reader
(read-only) serves a catalog that lacks some as well as it can (a missing column
reads as NULL) and refuses one written by a newer version.  Adding a column is
one new function at the end of MIGRATIONS.
"""
from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from ..query import SUBJECT_RULES
from ..textnorm import LEXICAL_TOKENS_VERSION, folded_syllables
from ..types import TRUSTED_DATE_SOURCES
from .layout import FORMAT_VERSION, IndexFormatError, IndexMismatch

# ---------------------------------------------------------------- keys stored per passage


def text_hash(text: str) -> str:
    """The embedding cache's key for a passage's indexed text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def dedup_key(text: str) -> str:
    """Equal for the same paragraph in two syndicated copies (spacing and accents aside)."""
    return hashlib.blake2b(folded_syllables(text).encode(), digest_size=8).hexdigest()


# ---------------------------------------------------------------- migrations


def m001_initial(db: sqlite3.Connection) -> None:
    """The catalog as format 2 first wrote it (catalogs from before migrations have it)."""
    for statement in (
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER,"
        " sha256 TEXT, article_id TEXT, skipped TEXT)",
        "CREATE TABLE IF NOT EXISTS articles (id INTEGER PRIMARY KEY, article_id TEXT NOT NULL,"
        " path TEXT, title TEXT, date TEXT, place TEXT, source TEXT, url TEXT, paragraphs TEXT,"
        " years TEXT, scope TEXT, added INTEGER NOT NULL, removed INTEGER)",
        "CREATE INDEX IF NOT EXISTS articles_by_id ON articles (article_id)",
        "CREATE INDEX IF NOT EXISTS articles_by_date ON articles (date)",
        "CREATE INDEX IF NOT EXISTS articles_by_place ON articles (place)",
        "CREATE TABLE IF NOT EXISTS passages (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " article INTEGER NOT NULL, position INTEGER, text TEXT, hash TEXT, dedup TEXT,"
        " added INTEGER NOT NULL, removed INTEGER)",
        "CREATE INDEX IF NOT EXISTS passages_by_article ON passages (article)",
        "CREATE INDEX IF NOT EXISTS passages_added ON passages (added)",
        "CREATE INDEX IF NOT EXISTS passages_removed ON passages (removed)",
    ):
        db.execute(statement)


def m002_drop_unwritten_columns(db: sqlite3.Connection) -> None:
    """`years` and `scope` were never written since search reads an article's subject (query.py)."""
    for column in ("years", "scope"):
        if has_column(db, "articles", column):
            db.execute(f"ALTER TABLE articles DROP COLUMN {column}")


def m003_articles_date_source(db: sqlite3.Connection) -> None:
    """Where each article's date came from (issue 18); every file is parsed again at the
    next build, so no article keeps a date the old rules gave.  (Catalogs from between
    issue 18 and numbered migrations have the column already.)"""
    if not has_column(db, "articles", "date_source"):
        db.execute("ALTER TABLE articles ADD COLUMN date_source TEXT")
        db.execute("UPDATE files SET size = -1, sha256 = ''")


def m004_articles_lead(db: sqlite3.Connection) -> None:
    """Each article's first paragraph as a column of its own: search reads it for every
    candidate (the article's subject, query.article_subject), and taking it out of the
    JSON `paragraphs` cost ~20x the rest of the candidate row (a 4 kB parse an article)."""
    if not has_column(db, "articles", "lead"):
        db.execute("ALTER TABLE articles ADD COLUMN lead TEXT")
    db.execute("UPDATE articles SET lead = json_extract(paragraphs, '$[0]')")


def m005_visibility_indexes(db: sqlite3.Connection) -> None:
    """Covering indexes for what every update and every reader refresh counts: visible
    passages and articles, and the places articles are about.  Without them each count
    read every row with its text (0.9 s at 100k passages, ~10 s at 1M); with them 0.04 s."""
    db.execute("CREATE INDEX IF NOT EXISTS passages_visible ON passages (added, removed)")
    db.execute("CREATE INDEX IF NOT EXISTS articles_places ON articles (place, added, removed)")
    # Their leading columns make these two redundant.
    db.execute("DROP INDEX IF EXISTS passages_added")
    db.execute("DROP INDEX IF EXISTS articles_by_place")


def m006_update_lookups(db: sqlite3.Connection) -> None:
    """Indexes for what an update of one file looks up at 1M passages (issue 19): the files
    providing an article id, the skipped files, and the rows deleted at publish (a scan of
    the articles table on every update).  The removed-row indexes hold removed rows only:
    a full one on `removed` made SQLite answer "removed IS NULL AND article IN (...)"
    through it, reading every live row (1M passages) instead of an article's few."""
    db.execute("CREATE INDEX IF NOT EXISTS files_by_article ON files (article_id)")
    db.execute("CREATE INDEX IF NOT EXISTS files_skipped ON files (path) WHERE skipped IS NOT NULL")
    db.execute("CREATE INDEX IF NOT EXISTS articles_removed ON articles (removed) WHERE removed IS NOT NULL")
    db.execute("DROP INDEX IF EXISTS passages_removed")
    db.execute("CREATE INDEX passages_removed ON passages (removed) WHERE removed IS NOT NULL")


def m007_articles_subject(db: sqlite3.Connection) -> None:
    """What each article is about (query.Subject, as JSON), computed when it is added:
    search read it for ~40 candidate articles a question, 5 ms of a 32 ms question at
    100k passages.  Rows from before stay NULL until the next build fills them
    (meta `subjects` names the rules they follow); search computes those itself."""
    if not has_column(db, "articles", "subject"):
        db.execute("ALTER TABLE articles ADD COLUMN subject TEXT")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    m001_initial, m002_drop_unwritten_columns, m003_articles_date_source, m004_articles_lead,
    m005_visibility_indexes, m006_update_lookups, m007_articles_subject]


def has_column(db: sqlite3.Connection, table: str, column: str) -> bool:
    return any(row[1] == column for row in db.execute(f"PRAGMA table_info({table})"))


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                      (name,)).fetchone() is not None


def applied_migrations(db: sqlite3.Connection) -> set[str]:
    """Names of the migrations this catalog has; one from before migrations has the first."""
    if _has_table(db, "migrations"):
        return {name for (name,) in db.execute("SELECT name FROM migrations")}
    return {m001_initial.__name__} if _has_table(db, "meta") else set()


def pending_migrations(db: sqlite3.Connection, index_dir: Path) -> list[Callable]:
    """The migrations still to apply; IndexFormatError if a newer version wrote the catalog."""
    applied = applied_migrations(db)
    unknown = applied - {m.__name__ for m in MIGRATIONS}
    if unknown:
        raise IndexFormatError(f"the catalog in {index_dir} was written by a newer version "
                               f"(migrations {', '.join(sorted(unknown))}): update the program")
    return [m for m in MIGRATIONS if m.__name__ not in applied]


def migrate(db: sqlite3.Connection, index_dir: Path) -> list[str]:
    """Apply the pending migrations, each with its record in one transaction; returns their names."""
    todo = pending_migrations(db, index_dir)
    if not todo:
        return []
    done = applied_migrations(db)
    db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    now = datetime.now(UTC).isoformat(timespec="seconds")
    db.executemany("INSERT OR IGNORE INTO migrations VALUES (?, ?)", [(name, now) for name in done])
    db.commit()
    for migration in todo:
        db.execute("BEGIN IMMEDIATE")
        try:
            migration(db)
            db.execute("INSERT INTO migrations VALUES (?, ?)", (migration.__name__, now))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    return [m.__name__ for m in todo]


# ---------------------------------------------------------------- connections and meta


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    """The catalog; the writer's connection in WAL mode, so readers go on while it commits."""
    if readonly:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        db = sqlite3.connect(path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA busy_timeout=10000")
    return db


def get_meta(db: sqlite3.Connection) -> dict[str, str]:
    return dict(db.execute("SELECT key, value FROM meta"))


def new_meta(embedder_identity: str, dim: int) -> dict[str, str]:
    """The meta rows of a catalog that has never been written."""
    return {"format": str(FORMAT_VERSION), "embedder": embedder_identity, "dim": str(dim),
            "published": "0", "tokens": LEXICAL_TOKENS_VERSION, "subjects": SUBJECT_RULES}


def check_meta(index_dir: Path, meta: dict[str, str], embedder_identity: str | None) -> None:
    """The one check, for writer and readers alike, that this version may use the catalog
    with this embedder: same format, same embedder identity (None: any, for a reader
    that never embeds, such as the dashboard)."""
    if int(meta.get("format", 0)) != FORMAT_VERSION:
        raise IndexFormatError(f"{index_dir} holds index format {meta.get('format')}; this "
                               f"version reads {FORMAT_VERSION}: rebuild with `index --rebuild`")
    if embedder_identity is not None and meta["embedder"] != embedder_identity:
        raise IndexMismatch(
            f"the index in {index_dir} was built with embedder {meta['embedder']!r}, "
            f"but the configuration uses {embedder_identity!r}. Vectors of different models "
            f"cannot be mixed: use the matching configuration, another --index folder, "
            f"or rebuild from scratch with `index --rebuild`.")


# ---------------------------------------------------------------- visibility


def visible(table: str = "") -> str:
    """SQL: the row (of the table aliased `table`, if given) is visible at generation :g,
    that is added <= g and (removed is null or removed > g)."""
    t = f"{table}." if table else ""
    return f"{t}added <= :g AND ({t}removed IS NULL OR {t}removed > :g)"


def visible_passages(columns: str, where: str = "") -> str:
    """SQL: `columns` of the passages (p) visible at :g, with their articles (a)."""
    return (f"SELECT {columns} FROM passages p JOIN articles a ON a.id = p.article"
            f" WHERE {visible('p')}" + (f" AND {where}" if where else ""))


# The date browsing may rely on (types.trusted_date, in SQL): a full day the page itself states.
TRUSTED_DATE_SQL = ("CASE WHEN length(date) = 10 AND date_source IN ({}) THEN date END"
                    .format(", ".join(f"'{s}'" for s in sorted(TRUSTED_DATE_SOURCES))))


# A file's record, in FileRecord's order (writer.py).
FILE_COLUMNS = "path, size, mtime_ns, sha256, article_id, skipped"

# What the lexical index is made of, per passage (lexical.passage_tokens of indexed_text).
INDEXED_COLUMNS = "p.id, a.title, a.place, a.date, p.text"


def chunks(items: list, size: int = 500) -> Iterator[list]:
    """Slices of `items`: SQLite and tantivy take long id lists in parts."""
    for start in range(0, len(items), size):
        yield items[start:start + size]
