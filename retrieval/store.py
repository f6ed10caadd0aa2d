"""The index folder on disk: its one writer and its readers, side by side.

Layout (format 2)::

    index/
      catalog.sqlite     the source of truth (WAL): files, articles, passages, generation
      embeddings.sqlite  vector cache keyed by (embedder, sha256 of the text)
      lexical/           tantivy index of the passages' lexical tokens
      vectors/           vectors-<generation>.faiss, one file per published generation
      write.lock         held while an update runs

Why this shape (issue 7): a province's archive holds 100k-1M passages, so an
update must cost what changed, and opening must map files rather than load
them.  SQLite and tantivy both update in place, transactionally, and let
readers carry on while a writer works; FAISS keeps stable ids
(``IndexIDMap2`` / IVF ids = passage row ids), so a removal touches only the
removed passages.

An update is a generation, done in three steps:

1. write (``begin``, ``remove``, ``add``, in batches): new article and passage
   rows are inserted with ``added = G+1`` and the replaced ones are marked
   ``removed = G+1``; readers still see generation G, because visibility is
   ``added <= published < removed``; the lexical documents are buffered in
   tantivy's writer, uncommitted;
2. apply (``commit``): a new ``vectors-<G+1>.faiss`` is written beside the old
   one (the published index minus the removed ids plus the added ones, vectors
   read from the embedding cache) and renamed into place; then tantivy commits,
   with a small meta document recording G+1;
3. publish: ``published`` becomes G+1 in one SQLite transaction, together
   with the file records; rows removed a generation ago are deleted for good.

Killed between 1 and 3, the previous generation is still what readers see,
and the next writer rolls the unfinished generation back (undoing whatever
the engines had applied) before doing its own work.  A serving process keeps
the tantivy snapshot it opened, so it answers exactly as before; only a process
that opens the index after the lexical commit and before the publish (a
moment, or until the next build after a crash there) finds the passages
being replaced through the dense engine alone.  Engines that lag or are
missing are rebuilt from the catalog and the embedding cache, so a crash
costs time, never correctness.

Readers (``IndexReader``) look things up for a few dozen candidates per
question, in SQLite; nothing per passage is built in Python at open.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from .textnorm import LEXICAL_TOKENS_VERSION, folded_words, lexical_tokens
from .types import TRUSTED_DATE_SOURCES, Article, indexed_text

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
CATALOG = "catalog.sqlite"
CACHE_DB = "embeddings.sqlite"
LEXICAL_DIR = "lexical"
VECTORS_DIR = "vectors"
LOCK_FILE = "write.lock"
META_PID = 0  # tantivy doc holding the generation; passage row ids start at 1
# Above this share of deleted-but-counted passages the lexical index is rebuilt
# from the catalog, so BM25 statistics stay those of the passages served.
MAX_DELETED_SHARE = 0.2


class IndexNotFound(FileNotFoundError):
    """There is no built index in the folder yet."""


class IndexMismatch(RuntimeError):
    """The index was built with another embedder; mixing vectors would give nonsense."""


class IndexFormatError(RuntimeError):
    """The folder holds an index in a format this version cannot read."""


class BuildInProgress(RuntimeError):
    """Another build holds the lock on this index folder."""


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def folded_syllables(text: str) -> str:
    """"Đầm  Hà" -> "dam ha": the same paragraph in two syndicated copies gets the
    same string whatever the spacing or accents."""
    return " ".join(folded_words(text))


def dedup_key(text: str) -> str:
    return hashlib.blake2b(folded_syllables(text).encode(), digest_size=8).hexdigest()


# ---------------------------------------------------------------- small file helpers

def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def write_lock(index_dir: Path):
    """One writer per index folder; a second one fails at once with BuildInProgress."""
    with open(index_dir / LOCK_FILE, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildInProgress(f"another build is running on {index_dir}") from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def check_format(index_dir: Path) -> None:
    """Raise IndexFormatError for a folder written by an older version of the project."""
    if (index_dir / "CURRENT").exists() and not (index_dir / CATALOG).exists():
        raise IndexFormatError(
            f"the index in {index_dir} has an older format (1). Update it with "
            f"`python -m retrieval index --index {index_dir}`: its embedding cache is kept, "
            f"and vectors of the same embedder identity are reused.")


def remove_old_format(index_dir: Path) -> None:
    """Delete a format-1 index's files, keeping its embedding cache (same schema)."""
    for path in index_dir.iterdir():
        if path.name.startswith(("v-", ".tmp-v-")) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
    for name in ("CURRENT", "build.lock"):
        (index_dir / name).unlink(missing_ok=True)


# ---------------------------------------------------------------- embedding cache

class EmbeddingCache:
    """Vectors by (embedder identity, content hash) in SQLite, so rebuilds reuse them."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS embeddings ("
            " embedder TEXT NOT NULL, hash TEXT NOT NULL, vector BLOB NOT NULL,"
            " PRIMARY KEY (embedder, hash))"
        )

    def get_many(self, embedder: str, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for chunk in chunks(list(dict.fromkeys(hashes))):
            rows = self.db.execute(
                f"SELECT hash, vector FROM embeddings WHERE embedder = ? AND hash IN "
                f"({','.join('?' * len(chunk))})", [embedder, *chunk])
            found.update((h, np.frombuffer(v, dtype=np.float32)) for h, v in rows)
        return found

    def cached(self, embedder: str, hashes: Iterable[str]) -> set[str]:
        """Which of `hashes` have a vector already (without reading the vectors)."""
        found: set[str] = set()
        for chunk in chunks(list(dict.fromkeys(hashes))):
            found.update(h for (h,) in self.db.execute(
                f"SELECT hash FROM embeddings WHERE embedder = ? AND hash IN "
                f"({','.join('?' * len(chunk))})", [embedder, *chunk]))
        return found

    def put_many(self, embedder: str, items: dict[str, np.ndarray]) -> None:
        with self.db:  # one transaction per batch: a killed build keeps finished batches
            self.db.executemany(
                "INSERT OR REPLACE INTO embeddings (embedder, hash, vector) VALUES (?, ?, ?)",
                [(embedder, h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in items.items()])

    def close(self) -> None:
        self.db.close()


# ---------------------------------------------------------------- catalog (SQLite)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, sha256 TEXT,
    article_id TEXT, skipped TEXT);
CREATE TABLE IF NOT EXISTS articles (
    id INTEGER PRIMARY KEY, article_id TEXT NOT NULL, path TEXT, title TEXT, date TEXT,
    place TEXT, source TEXT, url TEXT, paragraphs TEXT,
    years TEXT, scope TEXT,  -- no longer written: search reads an article's subject (query.py)
    added INTEGER NOT NULL, removed INTEGER);
CREATE INDEX IF NOT EXISTS articles_by_id ON articles (article_id);
CREATE INDEX IF NOT EXISTS articles_by_date ON articles (date);
CREATE INDEX IF NOT EXISTS articles_by_place ON articles (place);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, article INTEGER NOT NULL, position INTEGER,
    text TEXT, hash TEXT, dedup TEXT, added INTEGER NOT NULL, removed INTEGER);
CREATE INDEX IF NOT EXISTS passages_by_article ON passages (article);
CREATE INDEX IF NOT EXISTS passages_added ON passages (added);
CREATE INDEX IF NOT EXISTS passages_removed ON passages (removed);
"""
def _has_date_source(db: sqlite3.Connection) -> bool:
    return any(row[1] == "date_source" for row in db.execute("PRAGMA table_info(articles)"))


def _add_date_source(db: sqlite3.Connection) -> None:
    """Catalogs written before dates kept their source (issue 18) get the column, and every
    file is parsed again at the next build, so no article keeps a date the old rules gave."""
    if not _has_date_source(db):
        with db:
            db.execute("ALTER TABLE articles ADD COLUMN date_source TEXT")
            db.execute("UPDATE files SET size = -1, sha256 = ''")


# The date browsing may rely on (types.trusted_date, in SQL): a full day the page itself states.
TRUSTED_DATE_SQL = ("CASE WHEN length(date) = 10 AND date_source IN ({}) THEN date END"
                    .format(", ".join(f"'{s}'" for s in sorted(TRUSTED_DATE_SOURCES))))


def visible(table: str = "") -> str:
    """SQL: the row (of the table aliased `table`, if given) is visible at generation :g,
    that is added <= g and (removed is null or removed > g)."""
    t = f"{table}." if table else ""
    return f"{t}added <= :g AND ({t}removed IS NULL OR {t}removed > :g)"


def chunks(items: list, size: int = 500) -> Iterator[list]:
    """Slices of `items`: SQLite and tantivy take long id lists in parts."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        db = sqlite3.connect(path)
        db.execute("PRAGMA journal_mode=WAL")  # readers go on while the writer commits
        db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA busy_timeout=10000")
    return db


def get_meta(db: sqlite3.Connection) -> dict[str, str]:
    return dict(db.execute("SELECT key, value FROM meta"))


# ---------------------------------------------------------------- lexical (tantivy)

@cache
def lexical_schema():
    """The one schema of the lexical index (built once: queries need it too)."""
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field("pid", stored=True, indexed=True, fast=True)
    # Tokens are made by textnorm.lexical_tokens (syllables, folded twins, folded
    # pairs) and joined by spaces; tantivy only splits them again.  Term
    # frequencies but no positions: BM25 needs no more.
    builder.add_text_field("tokens", stored=False, tokenizer_name="whitespace", index_option="freq")
    builder.add_unsigned_field("generation", stored=True, indexed=False)
    # Every passage has kind "p": its document frequency counts deleted passages
    # that no merge has purged yet, which is how much BM25's statistics are off.
    builder.add_text_field("kind", stored=False, tokenizer_name="raw", index_option="basic")
    return builder.build()


def open_lexical(index_dir: Path, create: bool = True):
    """The tantivy index; only the writer creates it (a reader never writes)."""
    import tantivy

    folder = index_dir / LEXICAL_DIR
    if not create:
        return tantivy.Index.open(str(folder))
    folder.mkdir(exist_ok=True)
    return tantivy.Index(lexical_schema(), path=str(folder), reuse=True)


def lexical_generation(searcher) -> int | None:
    """The generation the lexical index's last commit reflects (None: never committed)."""
    import tantivy

    index_schema = lexical_schema()
    hits = searcher.search(tantivy.Query.term_query(index_schema, "pid", META_PID), 1, count=False).hits
    if not hits:
        return None
    return int(searcher.doc(hits[0][1]).to_dict()["generation"][0])


def delete_lexical(writer, pids: Iterable[int]) -> None:
    """Delete passages from the lexical index by id.

    By query, not `delete_documents_by_term`: tantivy-py turns a Python int into
    an i64 term there, which never matches the u64 id field.
    """
    import tantivy

    schema = lexical_schema()
    for chunk in chunks([int(p) for p in pids], 1000):
        writer.delete_documents_by_query(tantivy.Query.term_set_query(schema, "pid", chunk))


def deleted_share(searcher) -> float:
    """Share of the lexical index's passages that are deleted but still counted by BM25.

    tantivy purges a deleted document only when its segment is merged, and the
    Python binding cannot ask for a merge; until then document frequencies
    include it.
    """
    counted = searcher.doc_freq("kind", "p")
    live = searcher.num_docs - 1  # less the meta document
    return (counted - live) / counted if counted else 0.0


def _lexical_doc(pid: int, tokens: str | None = None, generation: int | None = None):
    import tantivy

    doc = tantivy.Document()
    doc.add_unsigned("pid", pid)
    if tokens is not None:
        doc.add_text("tokens", tokens)
        doc.add_text("kind", "p")
    if generation is not None:
        doc.add_unsigned("generation", generation)
    return doc


# ---------------------------------------------------------------- vectors (FAISS)

@dataclass
class VectorSettings:
    """How the dense index is kept; see IndexConfig in config.py."""

    exact_max: int = 200_000
    ann: str = "ivf"  # above exact_max: "ivf" (IndexIVFFlat) or "flat" (always exact)
    nprobe: int = 384


def vectors_path(index_dir: Path, generation: int) -> Path:
    return index_dir / VECTORS_DIR / f"vectors-{generation}.faiss"


def vector_generations(index_dir: Path) -> list[int]:
    folder = index_dir / VECTORS_DIR
    if not folder.is_dir():
        return []
    found = []
    for p in folder.glob("vectors-*.faiss"):
        try:
            found.append(int(p.stem.split("-", 1)[1]))
        except ValueError:
            continue
    return sorted(found)


def read_vectors(path: Path, mmap: bool):
    """A FAISS index from disk; mapped rather than read when serving, so two
    generations open during a reload share the page cache instead of doubling RSS."""
    import faiss

    if mmap:
        try:
            # Maps flat codes and IVF lists alike (faiss 1.15: a 200k x 384 flat index
            # adds 12 MB of RSS at open instead of 300 MB).
            return faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
        except RuntimeError:  # an index type FAISS cannot map: read it
            pass
    return faiss.read_index(str(path))


def ivf_lists(n: int) -> int:
    """About 4 sqrt(n) lists, as FAISS advises, never more than the vectors."""
    return int(min(65536, 4 * np.sqrt(n), n))


def _new_flat_index(dim: int):
    """Exact search with passage ids: the default up to `exact_max` passages."""
    import faiss

    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


def _new_ivf_index(dim: int, nlist: int, sample: np.ndarray, nprobe: int):
    """An inverted-file index trained on `sample` (the collection or 40 vectors a list of it)."""
    import faiss

    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = 10  # instead of 25: training at 1M passages stays near a minute on 2 cores
    index.train(np.ascontiguousarray(sample, dtype=np.float32))
    index.nprobe = nprobe
    return index


def is_ivf(index) -> bool:
    import faiss

    return isinstance(index, faiss.IndexIVF)


def set_nprobe(index, nprobe: int) -> None:
    import faiss

    if is_ivf(index):
        faiss.extract_index_ivf(index).nprobe = nprobe


def write_vectors_atomic(index, path: Path) -> None:
    import faiss

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    faiss.write_index(index, str(tmp))
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


# ---------------------------------------------------------------- the writer

@dataclass
class NewArticle:
    """An article and its passages ready to store (their vectors are in the embedding cache)."""

    article: Article
    passages: list[tuple[int, str, str]]  # position, text, sha256 of its indexed text
    tokens: list[str]  # space-joined lexical tokens of each passage's indexed text


@dataclass
class FileRecord:
    path: str
    size: int
    mtime_ns: int
    sha256: str
    article_id: str | None
    skipped: str | None = None


class IndexStore:
    """The single writer of an index folder (hold `write_lock` while using it)."""

    def __init__(self, index_dir: Path, embedder_identity: str, dim: int,
                 settings: VectorSettings | None = None) -> None:
        self.index_dir = index_dir
        self.identity, self.dim = embedder_identity, dim
        self.settings = settings or VectorSettings()
        self.db = connect(index_dir / CATALOG)
        self.db.executescript(SCHEMA)
        _add_date_source(self.db)
        meta = get_meta(self.db)
        if not meta:
            with self.db:
                self.db.executemany("INSERT INTO meta VALUES (?, ?)", [
                    ("format", str(FORMAT_VERSION)), ("embedder", embedder_identity),
                    ("dim", str(dim)), ("published", "0"), ("tokens", LEXICAL_TOKENS_VERSION)])
            meta = get_meta(self.db)
        if int(meta["format"]) != FORMAT_VERSION:
            raise IndexFormatError(f"{index_dir} holds index format {meta['format']}; this version "
                                   f"reads {FORMAT_VERSION}: rebuild with `index --rebuild`")
        if meta["embedder"] != embedder_identity:
            raise mismatch(index_dir, meta["embedder"], embedder_identity)
        self.published = int(meta["published"])
        self.lexical = open_lexical(index_dir)
        self._writer = None

    # -------------------------------------------------------- reading the catalog

    def files(self) -> dict[str, FileRecord]:
        return {row[0]: FileRecord(*row) for row in self.db.execute(
            "SELECT path, size, mtime_ns, sha256, article_id, skipped FROM files")}

    def counts(self) -> tuple[int, int]:
        """Articles and passages of the published generation."""
        return self._count("articles"), self._count("passages")

    def _count(self, table: str) -> int:
        return self.db.execute(f"SELECT count(*) FROM {table} WHERE {visible()}",
                               {"g": self.published}).fetchone()[0]

    # -------------------------------------------------------- one generation

    def begin(self) -> int:
        """Start generation published+1; `remove`/`add` it in batches, then `commit` it.

        Nothing of it is visible to readers before `commit`; a writer killed
        before that leaves rows that the next `repair` rolls back.
        """
        self._gen = self.published + 1
        self._dropped: list[int] = []  # passage ids the generation removes
        self._added: list[tuple[int, str]] = []  # passage ids and hashes it adds
        return self._gen

    @property
    def changed(self) -> bool:
        return bool(self._dropped or self._added)

    def remove(self, article_ids: Iterable[str]) -> None:
        """Mark the stored articles `article_ids` (and their passages) removed in this generation."""
        db, gen = self.db, self._gen
        ids = list(article_ids)
        with db:
            for chunk in chunks(ids):
                rows = db.execute(f"SELECT id FROM articles WHERE removed IS NULL AND article_id IN "
                                  f"({','.join('?' * len(chunk))})", chunk).fetchall()
                aids = [r[0] for r in rows]
                if not aids:
                    continue
                marks = ",".join("?" * len(aids))
                dropped = [r[0] for r in db.execute(
                    f"SELECT id FROM passages WHERE removed IS NULL AND article IN ({marks})", aids)]
                db.execute(f"UPDATE articles SET removed = ? WHERE id IN ({marks})", [gen, *aids])
                db.execute(f"UPDATE passages SET removed = ? WHERE removed IS NULL AND article IN "
                           f"({marks})", [gen, *aids])
                delete_lexical(self._writer_for_lexical(), dropped)  # applied at the lexical commit
                self._dropped += dropped

    def add(self, new: list[NewArticle]) -> None:
        """Write a batch of articles into this generation: catalog rows and lexical documents.

        An article whose id is stored already replaces it.  Vectors are not
        held here: `commit` reads them from the embedding cache by hash.
        """
        self.remove(n.article.article_id for n in new)
        db, gen = self.db, self._gen
        writer = self._writer_for_lexical()
        with db:
            for item in new:
                a = item.article
                cur = db.execute(
                    "INSERT INTO articles (article_id, path, title, date, place, source, url, paragraphs,"
                    " added, date_source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (a.article_id, a.path, a.title, a.date, a.place, a.source, a.url,
                     json.dumps(a.paragraphs, ensure_ascii=False), gen, a.date_source))
                aid = cur.lastrowid
                for (position, text, h), tokens in zip(item.passages, item.tokens, strict=True):
                    cur = db.execute(
                        "INSERT INTO passages (article, position, text, hash, dedup, added)"
                        " VALUES (?, ?, ?, ?, ?, ?)", (aid, position, text, h, dedup_key(text), gen))
                    self._added.append((cur.lastrowid, h))
                    writer.add_document(_lexical_doc(cur.lastrowid, tokens))

    def commit(self, files: list[FileRecord], forget_files: Iterable[str], meta: dict[str, str]) -> int:
        """Apply this generation to the vectors, commit the lexical index, publish; returns it."""
        gen = self._gen
        # Vectors go to a new file that no reader opens before the publish; the
        # lexical commit is the one change readers opening now can see, so it comes
        # last, leaving the shortest window before the publish.
        self._apply_vectors(gen, self._dropped, self._added)
        self._commit_lexical(gen)
        self._publish(gen, files, forget_files, meta)
        return gen

    def _writer_for_lexical(self):
        if self._writer is None:
            self._writer = self.lexical.writer(heap_size=128_000_000, num_threads=1)
        return self._writer

    def _commit_lexical(self, gen: int) -> None:
        """Step 2b: the generation's lexical deletions and additions, committed with its number."""
        writer = self._writer_for_lexical()
        delete_lexical(writer, [META_PID])
        writer.add_document(_lexical_doc(META_PID, generation=gen))
        writer.commit()
        self.lexical.reload()
        if deleted_share(self.lexical.searcher()) > MAX_DELETED_SHARE:
            self._rebuild_lexical(gen)


    def _load_vectors(self, generation: int):
        path = vectors_path(self.index_dir, generation)
        return read_vectors(path, mmap=False) if path.exists() else None

    def _apply_vectors(self, gen: int, dropped: list[int], added: list[tuple[int, str]]) -> None:
        """Step 2a: a new vectors file for `gen`: the published one minus `dropped` plus `added`.

        Vectors come from the embedding cache in chunks, so a big build never
        holds them twice.  A dense index is made anew from the catalog when there
        is none yet, when the collection crosses `exact_max`, or when an IVF index
        has grown 4x since it was trained.
        """
        index = self._load_vectors(self.published)
        expected = self._count("passages") - len(dropped) + len(added)
        if index is None or self._needs_new_vector_index(index, expected):
            index = self._vectors_from_catalog(gen)
        else:
            if dropped:
                index.remove_ids(np.asarray(dropped, dtype=np.int64))
            self._add_vectors(index, added)
        write_vectors_atomic(index, vectors_path(self.index_dir, gen))

    def _add_vectors(self, index, rows: list[tuple[int, str]], batch: int = 20_000) -> None:
        """Add (passage id, hash) rows to a FAISS index, vectors read from the cache."""
        cache = EmbeddingCache(self.index_dir / CACHE_DB)
        try:
            for part in chunks(rows, batch):
                found = cache.get_many(self.identity, (h for _, h in part))
                missing = sum(1 for _, h in part if h not in found)
                if missing:
                    raise RuntimeError(f"{missing} passage vectors are missing from the embedding "
                                       f"cache; rebuild with `index --rebuild`")
                matrix = np.stack([found[h] for _, h in part]).astype(np.float32)
                index.add_with_ids(matrix, np.asarray([pid for pid, _ in part], dtype=np.int64))
        finally:
            cache.close()

    def _needs_new_vector_index(self, index, expected: int) -> bool:
        s = self.settings
        if s.ann != "ivf":
            return is_ivf(index)
        if not is_ivf(index):
            return expected > s.exact_max
        import faiss

        trained_for = int(faiss.extract_index_ivf(index).nlist) ** 2 / 16  # see ivf_lists
        return expected > 4 * trained_for or expected <= s.exact_max

    def _visible_rows(self, gen: int) -> Iterator[tuple[int, str, str | None, str | None, str]]:
        """Passage id, headline, place, date and text of every passage visible at `gen`."""
        yield from self.db.execute(
            f"SELECT p.id, a.title, a.place, a.date, p.text FROM passages p "
            f"JOIN articles a ON a.id = p.article WHERE {visible('p')} "
            f"ORDER BY p.id", {"g": gen})

    def _vectors_from_catalog(self, gen: int):
        """A new dense index of every passage visible at `gen`, vectors from the cache."""
        rows = self.db.execute(f"SELECT id, hash FROM passages WHERE {visible()} ORDER BY id",
                               {"g": gen}).fetchall()
        settings = self.settings
        if settings.ann == "ivf" and len(rows) > settings.exact_max:
            rng = np.random.default_rng(0)
            nlist = ivf_lists(len(rows))
            picked = sorted(rng.choice(len(rows), size=min(len(rows), 40 * nlist), replace=False))
            sample = self._cached_matrix([rows[i][1] for i in picked])
            index = _new_ivf_index(self.dim, nlist, sample, settings.nprobe)
            del sample
        else:
            index = _new_flat_index(self.dim)
        self._add_vectors(index, rows)
        return index

    def _cached_matrix(self, hashes: list[str]) -> np.ndarray:
        cache = EmbeddingCache(self.index_dir / CACHE_DB)
        try:
            found = cache.get_many(self.identity, hashes)
        finally:
            cache.close()
        return np.stack([found[h] for h in hashes]).astype(np.float32)

    def _publish(self, gen: int, files: list[FileRecord], forget_files: Iterable[str],
                 meta: dict[str, str]) -> None:
        """Step 3: readers move to `gen`; rows removed before the previous generation go."""
        with self.db:
            self._write_files(files, forget_files)
            self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                [*meta.items(), ("published", str(gen))])
            # A reader that has not reloaded yet may still look up generation gen-1's rows.
            self.db.execute("DELETE FROM passages WHERE removed < ?", (gen,))
            self.db.execute("DELETE FROM articles WHERE removed < ?", (gen,))
        self.published = gen
        for old in vector_generations(self.index_dir):
            if old < gen - 1:
                vectors_path(self.index_dir, old).unlink(missing_ok=True)
        for tmp in (self.index_dir / VECTORS_DIR).glob(".*.tmp"):
            tmp.unlink(missing_ok=True)

    def record_files(self, files: list[FileRecord], forget_files: Iterable[str]) -> None:
        """File stats that changed without changing any article (touched, or still broken)."""
        with self.db:
            self._write_files(files, forget_files)

    def _write_files(self, files: list[FileRecord], forget_files: Iterable[str]) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO files (path, size, mtime_ns, sha256, article_id, skipped)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(f.path, f.size, f.mtime_ns, f.sha256, f.article_id, f.skipped) for f in files])
        self.db.executemany("DELETE FROM files WHERE path = ?", [(p,) for p in forget_files])

    # -------------------------------------------------------- repair

    def repair(self) -> list[str]:
        """Roll back an unfinished generation and catch up engines that lag; returns what was done."""
        done: list[str] = []
        g = self.published
        unfinished = self.db.execute(
            "SELECT (SELECT count(*) FROM articles WHERE added > :g OR removed > :g)"
            " + (SELECT count(*) FROM passages WHERE added > :g OR removed > :g)", {"g": g}).fetchone()[0]
        self.lexical.reload()
        lexical_gen = lexical_generation(self.lexical.searcher())
        if unfinished:
            if lexical_gen is not None and lexical_gen > g:
                self._undo_lexical(g)
                lexical_gen = g
            for gen in vector_generations(self.index_dir):
                if gen > g:
                    vectors_path(self.index_dir, gen).unlink(missing_ok=True)
            with self.db:
                self.db.execute("DELETE FROM passages WHERE added > ?", (g,))
                self.db.execute("DELETE FROM articles WHERE added > ?", (g,))
                self.db.execute("UPDATE passages SET removed = NULL WHERE removed > ?", (g,))
                self.db.execute("UPDATE articles SET removed = NULL WHERE removed > ?", (g,))
            done.append(f"rolled back an unfinished update (generation {g + 1})")
        tokens = get_meta(self.db).get("tokens")
        if g > 0 and (lexical_gen != g or tokens != LEXICAL_TOKENS_VERSION):
            self._rebuild_lexical(g)
            done.append("rebuilt the lexical index from the catalog"
                        + ("" if tokens == LEXICAL_TOKENS_VERSION else " (new tokenisation)"))
        if tokens != LEXICAL_TOKENS_VERSION:
            with self.db:
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('tokens', ?)",
                                (LEXICAL_TOKENS_VERSION,))
        if g > 0 and not vectors_path(self.index_dir, g).exists():
            write_vectors_atomic(self._vectors_from_catalog(g), vectors_path(self.index_dir, g))
            done.append("rebuilt the vector index from the catalog and the embedding cache")
        for line in done:
            log.warning("%s: %s", self.index_dir, line)
        return done

    def _undo_lexical(self, g: int) -> None:
        writer = self._writer_for_lexical()
        restore = self.db.execute(
            "SELECT p.id, a.title, a.place, a.date, p.text FROM passages p "
            "JOIN articles a ON a.id = p.article WHERE p.removed > ?", (g,)).fetchall()
        unfinished = [pid for (pid,) in self.db.execute("SELECT id FROM passages WHERE added > ?", (g,))]
        delete_lexical(writer, [*unfinished, *(r[0] for r in restore), META_PID])
        for pid, title, place, date, text in restore:
            writer.add_document(_lexical_doc(pid, passage_tokens(indexed_text(title, place, date, text))))
        writer.add_document(_lexical_doc(META_PID, generation=g))
        writer.commit()
        self.lexical.reload()

    def _rebuild_lexical(self, g: int) -> None:
        writer = self._writer_for_lexical()
        writer.delete_all_documents()
        for pid, title, place, date, text in self._visible_rows(g):
            writer.add_document(_lexical_doc(pid, passage_tokens(indexed_text(title, place, date, text))))
        writer.add_document(_lexical_doc(META_PID, generation=g))
        writer.commit()
        self.lexical.reload()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.wait_merging_threads()
            self._writer = None
        self.db.close()


def passage_tokens(indexed: str) -> str:
    """What tantivy indexes for a passage: the lexical tokens of its indexed text."""
    return " ".join(lexical_tokens(indexed))


def mismatch(index_dir: Path, stored: str, wanted: str) -> IndexMismatch:
    return IndexMismatch(
        f"the index in {index_dir} was built with embedder {stored!r}, "
        f"but the configuration uses {wanted!r}. Vectors of different models "
        f"cannot be mixed: use the matching configuration, another --index folder, "
        f"or rebuild from scratch with `index --rebuild`.")


def reset(index_dir: Path) -> None:
    """Remove every derived file and the catalog, keeping the embedding cache (--rebuild)."""
    remove_old_format(index_dir)
    for name in (CATALOG, f"{CATALOG}-wal", f"{CATALOG}-shm"):
        (index_dir / name).unlink(missing_ok=True)
    for name in (LEXICAL_DIR, VECTORS_DIR):
        shutil.rmtree(index_dir / name, ignore_errors=True)


def dense_recall(index_dir: str | Path, query_vectors: np.ndarray, k: int = 10) -> float | None:
    """Recall@k of the served dense index against exact search (None when it is exact).

    For IVF, exact search is the same index probing every list.
    """
    index_dir = Path(index_dir)
    db = connect(index_dir / CATALOG, readonly=True)
    try:
        gen = int(get_meta(db)["published"])
    finally:
        db.close()
    index = read_vectors(vectors_path(index_dir, gen), mmap=True)
    if not is_ivf(index):
        return None
    import faiss

    queries = np.ascontiguousarray(query_vectors, dtype=np.float32)
    _, approx = index.search(queries, k)
    ivf = faiss.extract_index_ivf(index)
    served_nprobe = ivf.nprobe
    ivf.nprobe = ivf.nlist
    _, exact = index.search(queries, k)
    ivf.nprobe = served_nprobe
    found = sum(len(set(a[a >= 0]) & set(e[e >= 0])) for a, e in zip(approx, exact, strict=True))
    total = sum(int((e >= 0).sum()) for e in exact)
    return found / total if total else None


# ---------------------------------------------------------------- the readers

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
    vectors: object  # faiss index, memory-mapped
    lexical: object  # tantivy searcher
    places: dict[str, str]  # the places articles are about: folded syllables -> name as written
    passages: int  # visible passages (for IDF)


_CANDIDATE_SQL = (
    "SELECT p.id, a.article_id, p.position, p.text, p.dedup, a.title, a.date, a.place, a.source,"
    " a.url, json_extract(a.paragraphs, '$[0]'), {date_source}"
    " FROM passages p JOIN articles a ON a.id = p.article"
    " WHERE {visible} AND p.id IN ({marks})")
_ARTICLE_SQL = ("SELECT article_id, title, date, place, source, url, path, paragraphs, {date_source}"
                " FROM articles a WHERE {visible} ")


class IndexReader:
    """A serving view of an index folder.

    Opening reads the small `meta` table, maps the vectors file and opens
    tantivy's segments; per-passage data is read from SQLite for a few dozen
    candidates per question.  `refresh()` moves to a newer published
    generation; the old one is dropped as soon as no search holds it.
    """

    def __init__(self, index_dir: str | Path, embedder_identity: str,
                 settings: VectorSettings | None = None) -> None:
        self.index_dir = Path(index_dir)
        check_format(self.index_dir)
        if not (self.index_dir / CATALOG).is_file():
            raise IndexNotFound(f"no index in {self.index_dir}: build one with "
                                f"`python -m retrieval index --corpus DIR --index {self.index_dir}`")
        self.settings = settings or VectorSettings()
        self._db = connect(self.index_dir / CATALOG, readonly=True)
        # A catalog from before issue 18 has no date sources until its next build: none is trusted.
        self._date_source = "date_source" if _has_date_source(self._db) else "NULL"
        self._trusted_date = TRUSTED_DATE_SQL if self._date_source != "NULL" else "NULL"
        self._db_lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        meta = self.meta()
        if int(meta.get("format", 0)) != FORMAT_VERSION:
            raise IndexFormatError(f"{self.index_dir} holds index format {meta.get('format')}; this "
                                   f"version reads {FORMAT_VERSION}: rebuild with `index --rebuild`")
        if meta["embedder"] != embedder_identity:
            raise mismatch(self.index_dir, meta["embedder"], embedder_identity)
        if meta.get("tokens") != LEXICAL_TOKENS_VERSION:
            raise IndexFormatError(
                f"the lexical index in {self.index_dir} was built by an older version: run "
                f"`python -m retrieval index --index {self.index_dir}` to update it (nothing is re-embedded)")
        if int(meta["published"]) == 0:
            raise IndexNotFound(f"the index in {self.index_dir} has no finished build yet")
        try:
            self._lexical_index = open_lexical(self.index_dir, create=False)
            self.current = self._open_generation(int(meta["published"]))
        except (OSError, RuntimeError, ValueError) as e:  # a file deleted or damaged by hand
            raise IndexNotFound(
                f"the index in {self.index_dir} is incomplete ({e}); run `python -m retrieval "
                f"index --index {self.index_dir}` to repair it from its catalog") from None
        # One question is one query vector: FAISS's OpenMP threads cost more to wake
        # than they save (3 ms against 1 ms a question on the test corpus, 2 cores),
        # and a serving process answers several chats at once on its own threads.
        import faiss

        faiss.omp_set_num_threads(1)

    # -------------------------------------------------------- generations

    def _query(self, sql: str, params=()) -> list[tuple]:
        with self._db_lock:
            return self._db.execute(sql, params).fetchall()

    def meta(self) -> dict[str, str]:
        return dict(self._query("SELECT key, value FROM meta"))

    def _open_generation(self, number: int) -> _Generation:
        vectors = read_vectors(vectors_path(self.index_dir, number), mmap=True)
        set_nprobe(vectors, self.settings.nprobe)
        self._lexical_index.reload()
        g = {"g": number}
        places = {folded_syllables(p): p for (p,) in self._query(
            f"SELECT DISTINCT place FROM articles WHERE place IS NOT NULL AND {visible()}", g)}
        passages = self._query(f"SELECT count(*) FROM passages WHERE {visible()}", g)[0][0]
        # One-syllable "places" are misreadings, and folded they are common words ("van").
        return _Generation(number, vectors, self._lexical_index.searcher(),
                           {k: v for k, v in sorted(places.items()) if len(k.split()) >= 2}, passages)

    def refresh(self) -> bool:
        """Move to the newest published generation; False when already there."""
        with self._refresh_lock:
            published = int(self.meta()["published"])
            if published == self.current.number:
                return False
            try:
                self.current = self._open_generation(published)
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
            sql = _CANDIDATE_SQL.format(visible=visible("p"), date_source=self._date_source,
                                        marks=",".join(f":i{k}" for k in range(len(chunk))))
            for row in self._query(sql, params):
                found[row[0]] = Candidate(*row)
        return found

    def article_passages(self, gen: _Generation, article_ids: Iterable[str]) -> list[Candidate]:
        """Every visible passage of these articles, in article and reading order: where
        search looks for the sentence that answers (retrieval/answer.py)."""
        ids = list(dict.fromkeys(article_ids))
        out: list[Candidate] = []
        for chunk in chunks(ids):
            params = {"g": gen.number, **{f"i{k}": a for k, a in enumerate(chunk)}}
            sql = (_CANDIDATE_SQL.split(" WHERE ")[0] + " WHERE {visible} AND {va} AND a.article_id IN ({marks})"
                   " ORDER BY a.article_id, p.position").format(
                visible=visible("p"), va=visible("a"), date_source=self._date_source,
                marks=",".join(f":i{k}" for k in range(len(chunk))))
            out += [Candidate(*row) for row in self._query(sql, params)]
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
            "SELECT article_id, title, date, place, coalesce(json_extract(paragraphs, '$[0]'), ''),"
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
