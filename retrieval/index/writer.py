"""The single writer of an index folder: one update is one generation.

Why this shape (issue 7): a province's archive holds 100k-1M passages, so an
update must cost what changed, and opening must map files rather than load
them.  SQLite and tantivy both update in place, transactionally, and let
readers carry on while a writer works; FAISS keeps stable ids, so a removal
touches only the removed passages.

An update is a generation, done in three steps:

1. write (``begin``, ``remove``, ``add``, in batches): new article and passage
   rows are inserted with ``added = G+1`` and the replaced ones are marked
   ``removed = G+1``; readers still see generation G, because visibility is
   ``added <= published < removed``; the lexical documents are buffered in
   tantivy's writer, uncommitted;
2. apply (``commit``): generation G+1's vectors are written beside G's: a
   small delta over the base G serves from (see vectors.py), or a new base when
   the delta has grown big, vectors read from the embedding cache; then tantivy
   commits, with a small meta document recording G+1;
3. publish: ``published`` becomes G+1 in one SQLite transaction, together
   with its ``vectors_base`` and the file records; rows removed a generation
   ago are deleted for good.

Killed between 1 and 3, the previous generation is still what readers see,
and the next writer rolls the unfinished generation back (undoing whatever
the engines had applied) before doing its own work.  A serving process keeps
the tantivy snapshot it opened, so it answers exactly as before; only a process
that opens the index after the lexical commit and before the publish (a
moment, or until the next build after a crash there) finds the passages
being replaced through the dense engine alone.  Engines that lag or are
missing are rebuilt from the catalog and the embedding cache, so a crash
costs time, never correctness.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..query import SUBJECT_RULES, article_subject
from ..textnorm import LEXICAL_TOKENS_VERSION
from ..types import Article, indexed_text
from . import vectors
from .catalog import (
    FILE_COLUMNS,
    INDEXED_COLUMNS,
    check_meta,
    chunks,
    connect,
    dedup_key,
    get_meta,
    migrate,
    new_meta,
    visible,
    visible_passages,
)
from .embcache import EmbeddingCache
from .layout import CACHE_DB, CATALOG
from .lexical import (
    META_PID,
    delete_lexical,
    deleted_share,
    generation_doc,
    lexical_generation,
    open_lexical,
    passage_doc,
    passage_tokens,
)
from .vectors import VectorSettings, vectors_path

log = logging.getLogger(__name__)

# Above this share of deleted-but-counted passages the lexical index is rebuilt
# from the catalog, so BM25 statistics stay those of the passages served.
MAX_DELETED_SHARE = 0.2


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


def stored_subject(title: str, place: str | None, date: str | None, lead: str | None,
                   url: str | None) -> str:
    """An article's subject as the catalog stores it (search reads it for every candidate)."""
    return article_subject(title, place, date, lead or "", url).to_json()


class IndexWriter:
    """The single writer of an index folder (hold `layout.write_lock` while using it)."""

    def __init__(self, index_dir: Path, embedder_identity: str, dim: int,
                 settings: VectorSettings | None = None) -> None:
        self.index_dir = index_dir
        self.identity, self.dim = embedder_identity, dim
        self.settings = settings or VectorSettings()
        self.db = connect(index_dir / CATALOG)
        for name in migrate(self.db, index_dir):
            log.info("%s: catalog migration %s applied", index_dir, name)
        meta = get_meta(self.db)
        if not meta:
            with self.db:
                self.db.executemany("INSERT INTO meta VALUES (?, ?)",
                                    new_meta(embedder_identity, dim).items())
            meta = get_meta(self.db)
        check_meta(index_dir, meta, embedder_identity)
        self.published = int(meta["published"])
        self.base = int(meta.get("vectors_base", self.published))  # the base `published` serves from
        self.lexical = open_lexical(index_dir)
        self._writer = None

    # -------------------------------------------------------- reading the catalog

    def file_stats(self) -> dict[str, tuple[int, int]]:
        """(size, mtime_ns) of every recorded file by path: what a build compares the corpus
        with.  Only these two columns, as tuples: whole records of 182k files cost ~1 s."""
        return {path: (size, mtime) for path, size, mtime in
                self.db.execute("SELECT path, size, mtime_ns FROM files")}

    def files(self, paths: Iterable[str] | None = None,
              article_ids: Iterable[str] = ()) -> dict[str, FileRecord]:
        """The records of `paths` and of the files providing `article_ids` (every record
        when `paths` is None), by path."""
        if paths is None:
            return {row[0]: FileRecord(*row) for row in self.db.execute(f"SELECT {FILE_COLUMNS} FROM files")}
        found: dict[str, FileRecord] = {}
        for column, keys in (("path", list(paths)), ("article_id", list(article_ids))):
            for chunk in chunks(keys):
                found.update((row[0], FileRecord(*row)) for row in self.db.execute(
                    f"SELECT {FILE_COLUMNS} FROM files WHERE {column} IN ({','.join('?' * len(chunk))})",
                    chunk))
        return found

    def skipped_files(self) -> dict[str, str]:
        """Why each recorded file is not indexed, by path."""
        return dict(self.db.execute("SELECT path, skipped FROM files WHERE skipped IS NOT NULL"))

    def meta_value(self, key: str) -> str | None:
        return get_meta(self.db).get(key)

    def open_cache(self) -> EmbeddingCache:
        """The embedding cache the build fills and `commit` reads (the caller closes it)."""
        return EmbeddingCache(self.index_dir / CACHE_DB)

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
                lead = a.paragraphs[0] if a.paragraphs else None
                cur = db.execute(
                    "INSERT INTO articles (article_id, path, title, date, place, source, url, paragraphs,"
                    " added, date_source, lead, subject) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (a.article_id, a.path, a.title, a.date, a.place, a.source, a.url,
                     json.dumps(a.paragraphs, ensure_ascii=False), gen, a.date_source, lead,
                     stored_subject(a.title, a.place, a.date, lead, a.url)))
                aid = cur.lastrowid
                for (position, text, h), tokens in zip(item.passages, item.tokens, strict=True):
                    cur = db.execute(
                        "INSERT INTO passages (article, position, text, hash, dedup, added)"
                        " VALUES (?, ?, ?, ?, ?, ?)", (aid, position, text, h, dedup_key(text), gen))
                    self._added.append((cur.lastrowid, h))
                    writer.add_document(passage_doc(cur.lastrowid, tokens))

    def commit(self, files: list[FileRecord], forget_files: Iterable[str], meta: dict[str, str]) -> int:
        """Apply this generation to the vectors, commit the lexical index, publish; returns it."""
        gen = self._gen
        # Vectors go to a new file that no reader opens before the publish; the
        # lexical commit is the one change readers opening now can see, so it comes
        # last, leaving the shortest window before the publish.
        base = self._apply_vectors(gen, self._dropped, self._added)
        self._commit_lexical(gen)
        self._publish(gen, files, forget_files, {**meta, "vectors_base": str(base)})
        return gen

    def _writer_for_lexical(self):
        if self._writer is None:
            self._writer = self.lexical.writer(heap_size=128_000_000, num_threads=1)
        return self._writer

    def _commit_lexical(self, gen: int) -> None:
        """Step 2b: the generation's lexical deletions and additions, committed with its number."""
        writer = self._writer_for_lexical()
        delete_lexical(writer, [META_PID])
        writer.add_document(generation_doc(gen))
        writer.commit()
        self.lexical.reload()
        if deleted_share(self.lexical.searcher()) > MAX_DELETED_SHARE:
            self._rebuild_lexical(gen)

    def _apply_vectors(self, gen: int, dropped: list[int], added: list[tuple[int, str]]) -> int:
        """Step 2a: the vectors of `gen` (the published ones minus `dropped` plus `added`)
        written beside the published ones; returns the base `gen` serves from.

        Usually a delta over the published base: its cost follows the change, not
        the collection (vectors.py).  A base is made anew from the catalog when
        there is none yet or when `vectors.needs_new_index` says so, and the
        delta is folded into a new base when `vectors.merge_due`.
        """
        base_file = vectors.vectors_path(self.index_dir, self.base)
        base = vectors.read_vectors(base_file, mmap=True) if base_file.exists() else None
        expected = self._count("passages") - len(dropped) + len(added)
        if base is None or vectors.needs_new_index(base, expected, self.settings):
            vectors.write_base(self._vectors_from_catalog(gen), self.index_dir, gen)
            return gen
        if self.base == self.published:
            delta, removed = vectors.new_flat_index(self.dim), np.zeros(0, dtype=np.int64)
        else:
            delta, removed = vectors.read_delta(self.index_dir, self.published)
        in_delta = np.isin(np.asarray(dropped, dtype=np.int64), vectors.stored_ids(delta))
        if in_delta.any():
            delta.remove_ids(np.asarray(dropped, dtype=np.int64)[in_delta])
        removed = np.union1d(removed, np.asarray(dropped, dtype=np.int64)[~in_delta])
        self._add_vectors(delta, added)
        if not vectors.merge_due(base, delta, removed):
            vectors.write_delta(self.index_dir, gen, delta, removed)
            return self.base
        merged = vectors.read_vectors(base_file, mmap=False)
        if removed.size:
            merged.remove_ids(removed)
        if delta.ntotal:
            merged.add_with_ids(vectors.stored_vectors(delta), vectors.stored_ids(delta))
        vectors.write_base(merged, self.index_dir, gen)
        return gen

    def _add_vectors(self, index, rows: list[tuple[int, str]], batch: int = 20_000) -> None:
        """Add (passage id, hash) rows to a FAISS index, vectors read from the cache."""
        for part in chunks(rows, batch):
            matrix = self._cached_matrix([h for _, h in part])
            index.add_with_ids(matrix, np.asarray([pid for pid, _ in part], dtype=np.int64))

    def _cached_matrix(self, hashes: list[str]) -> np.ndarray:
        """The cached vectors of `hashes`, in order; a clear error when some are missing."""
        cache = self.open_cache()
        try:
            found = cache.get_many(self.identity, hashes)
        finally:
            cache.close()
        missing = sum(1 for h in hashes if h not in found)
        if missing:
            raise RuntimeError(f"{missing} passage vectors are missing from the embedding "
                               f"cache; rebuild with `index --rebuild`")
        return np.stack([found[h] for h in hashes]).astype(np.float32)

    def _indexed_rows(self, gen: int) -> Iterator[tuple[int, str, str | None, str | None, str]]:
        """Passage id, headline, place, date and text of every passage visible at `gen`."""
        yield from self.db.execute(visible_passages(INDEXED_COLUMNS) + " ORDER BY p.id", {"g": gen})

    def _vectors_from_catalog(self, gen: int):
        """A new dense index of every passage visible at `gen`, vectors from the cache."""
        rows = self.db.execute(visible_passages("p.id, p.hash") + " ORDER BY p.id", {"g": gen}).fetchall()
        settings = self.settings
        if settings.ann == "ivf" and len(rows) > settings.exact_max:
            rng = np.random.default_rng(0)
            nlist = vectors.ivf_lists(len(rows))
            picked = sorted(rng.choice(len(rows), size=min(len(rows), 40 * nlist), replace=False))
            sample = self._cached_matrix([rows[i][1] for i in picked])
            index = vectors.new_ivf_index(self.dim, nlist, sample, settings.nprobe)
            del sample
        else:
            index = vectors.new_flat_index(self.dim)
        self._add_vectors(index, rows)
        return index

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
        # Readers that have not reloaded yet still serve the previous generation.
        bases = {self.base, int(meta["vectors_base"])}
        vectors.remove_generation_files(self.index_dir, bases.__contains__, lambda d: d >= gen - 1)
        self.published, self.base = gen, int(meta["vectors_base"])

    def record_files(self, files: list[FileRecord], forget_files: Iterable[str]) -> None:
        """File stats that changed without changing any article (touched, or still broken)."""
        with self.db:
            self._write_files(files, forget_files)

    def _write_files(self, files: list[FileRecord], forget_files: Iterable[str]) -> None:
        self.db.executemany(
            f"INSERT OR REPLACE INTO files ({FILE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
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
            vectors.remove_generation_files(self.index_dir, lambda b: b <= g, lambda d: d <= g)
            with self.db:
                self.db.execute("DELETE FROM passages WHERE added > ?", (g,))
                self.db.execute("DELETE FROM articles WHERE added > ?", (g,))
                self.db.execute("UPDATE passages SET removed = NULL WHERE removed > ?", (g,))
                self.db.execute("UPDATE articles SET removed = NULL WHERE removed > ?", (g,))
            done.append(f"rolled back an unfinished update (generation {g + 1})")
        meta = get_meta(self.db)
        tokens = meta.get("tokens")
        if g > 0 and (lexical_gen != g or tokens != LEXICAL_TOKENS_VERSION):
            self._rebuild_lexical(g)
            done.append("rebuilt the lexical index from the catalog"
                        + ("" if tokens == LEXICAL_TOKENS_VERSION else " (new tokenisation)"))
        if tokens != LEXICAL_TOKENS_VERSION:
            with self.db:
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('tokens', ?)",
                                (LEXICAL_TOKENS_VERSION,))
        if meta.get("subjects") != SUBJECT_RULES:
            self._recompute_subjects()
            if g > 0:
                done.append("recomputed the articles' subjects (new rules)")
        if g > 0 and not self._vectors_complete(g):
            vectors.write_base(self._vectors_from_catalog(g), self.index_dir, g)
            with self.db:
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('vectors_base', ?)", (str(g),))
            self.base = g
            done.append("rebuilt the vector index from the catalog and the embedding cache")
        for line in done:
            log.warning("%s: %s", self.index_dir, line)
        return done

    def _recompute_subjects(self) -> None:
        """Every live article's stored subject by today's rules, and the rules recorded, in
        one transaction: a reader sees old subjects under the old rules' name (and computes
        its own) or the new ones (0.3 ms an article: 6 s at 100k passages)."""
        with self.db:
            rows = self.db.execute("SELECT id, title, place, date, lead, url FROM articles"
                                   " WHERE removed IS NULL").fetchall()
            self.db.executemany("UPDATE articles SET subject = ? WHERE id = ?",
                                [(stored_subject(*row[1:]), row[0]) for row in rows])
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('subjects', ?)", (SUBJECT_RULES,))

    def _vectors_complete(self, g: int) -> bool:
        """Are the files generation `g` serves from all there?"""
        files = [vectors_path(self.index_dir, self.base)]
        if self.base != g:
            files += [vectors.delta_path(self.index_dir, g), vectors.removed_path(self.index_dir, g)]
        return all(f.exists() for f in files)

    def _undo_lexical(self, g: int) -> None:
        """Put the lexical index back to generation `g` after a lexical commit of g+1."""
        writer = self._writer_for_lexical()
        restore = self.db.execute(
            f"SELECT {INDEXED_COLUMNS} FROM passages p JOIN articles a ON a.id = p.article"
            " WHERE p.removed > ?", (g,)).fetchall()
        unfinished = [pid for (pid,) in self.db.execute("SELECT id FROM passages WHERE added > ?", (g,))]
        delete_lexical(writer, [*unfinished, *(r[0] for r in restore), META_PID])
        self._write_lexical(writer, restore, g)

    def _rebuild_lexical(self, g: int) -> None:
        """The lexical index anew from the passages visible at `g`."""
        writer = self._writer_for_lexical()
        writer.delete_all_documents()
        self._write_lexical(writer, self._indexed_rows(g), g)

    def _write_lexical(self, writer, rows: Iterable[tuple], g: int) -> None:
        for pid, title, place, date, text in rows:
            writer.add_document(passage_doc(pid, passage_tokens(indexed_text(title, place, date, text))))
        writer.add_document(generation_doc(g))
        writer.commit()
        self.lexical.reload()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.wait_merging_threads()
            self._writer = None
        self.db.close()
