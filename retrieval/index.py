"""Passages -> an index folder that is rebuilt incrementally and swapped in atomically.

Layout of an index folder::

    index/
      CURRENT              name of the version being served, replaced atomically
      embeddings.sqlite    vector cache keyed by (embedder, sha256 of the text)
      build.lock           held while a build runs
      v-20240110T101500-1a2b/
        manifest.json      embedder, dimension, corpus file hashes, counts, build time
        passages.sqlite    articles and passages (metadata and text)
        vectors.faiss      inner-product FAISS index of normalised vectors
        bm25/              bm25s state over syllables + folded syllables

A build writes a complete new version folder next to the served one and only
then replaces CURRENT (os.replace is atomic), so a build killed at any moment
leaves the previous version loadable and correct.  Vectors are looked up in
the cache by content hash first: unchanged text is never embedded twice, and
a killed build keeps the vectors it had already paid for.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .articles import UnusableFile, corpus_files, read_article
from .config import Config
from .embedders import Embedder, make_embedder
from .passages import split_article
from .textnorm import lexical_tokens
from .types import Article, BuildReport, Passage, SkippedFile

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CURRENT = "CURRENT"
CACHE_DB = "embeddings.sqlite"
KEEP_OLD_VERSIONS = 1  # a bot that has not reloaded yet may still read the previous one


class IndexNotFound(FileNotFoundError):
    """There is no built index in the folder yet."""


class IndexMismatch(RuntimeError):
    """The index was built with another embedder; mixing vectors would give nonsense."""


class BuildInProgress(RuntimeError):
    """Another build holds the lock on this index folder."""


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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

    def get_many(self, embedder: str, hashes: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), 500):
            chunk = unique[start:start + 500]
            rows = self.db.execute(
                f"SELECT hash, vector FROM embeddings WHERE embedder = ? AND hash IN "
                f"({','.join('?' * len(chunk))})", [embedder, *chunk])
            found.update((h, np.frombuffer(v, dtype=np.float32)) for h, v in rows)
        return found

    def put_many(self, embedder: str, items: dict[str, np.ndarray]) -> None:
        with self.db:  # one transaction per batch: a killed build keeps finished batches
            self.db.executemany(
                "INSERT OR REPLACE INTO embeddings (embedder, hash, vector) VALUES (?, ?, ?)",
                [(embedder, h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in items.items()])

    def close(self) -> None:
        self.db.close()


# ---------------------------------------------------------------- versions

def current_version(index_dir: Path) -> Path | None:
    """The version folder CURRENT names, or None when nothing was built yet."""
    try:
        name = (index_dir / CURRENT).read_text().strip()
    except FileNotFoundError:
        return None
    version = index_dir / name
    return version if (version / "manifest.json").is_file() else None


def read_manifest(version: Path) -> dict:
    return json.loads((version / "manifest.json").read_text(encoding="utf-8"))


def check_embedder(manifest: dict, embedder_identity: str, index_dir: Path) -> None:
    if manifest.get("embedder") != embedder_identity:
        raise IndexMismatch(
            f"the index in {index_dir} was built with embedder {manifest.get('embedder')!r}, "
            f"but the configuration uses {embedder_identity!r}. Vectors of different models "
            f"cannot be mixed: use the matching configuration, another --index folder, "
            f"or rebuild from scratch with `index --rebuild`."
        )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


@contextmanager
def _build_lock(index_dir: Path):
    with open(index_dir / "build.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildInProgress(f"another build is running on {index_dir}") from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _prune(index_dir: Path, keep: Path) -> None:
    """Remove unfinished builds and versions older than the newest few."""
    versions = sorted((p for p in index_dir.iterdir() if p.is_dir() and p.name.startswith("v-")),
                      key=lambda p: p.name)
    old = [p for p in versions if p != keep][:-KEEP_OLD_VERSIONS or None]
    for path in old + [p for p in index_dir.iterdir() if p.name.startswith(".tmp-")]:
        shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------- progress

def _progress(total: int, enabled: bool, desc: str):
    """A tqdm bar on a terminal; plain log lines every ~10 % otherwise."""
    from tqdm import tqdm

    interactive = enabled and sys.stderr.isatty()
    bar = tqdm(total=total, desc=desc, unit="passage", disable=not interactive)
    step = max(1, total // 10)
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        before, done = done, done + n
        bar.update(n)
        if enabled and not interactive and (done // step > before // step or done == total):
            print(f"{desc}: {done}/{total} passages", file=sys.stderr, flush=True)

    return bar, advance


def import_bm25s():
    """bm25s, with its logger (which it sets to DEBUG on import) brought back to quiet."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


# ---------------------------------------------------------------- build

@dataclass
class _Parsed:
    articles: list[Article]
    files: dict[str, str]  # relative path -> sha256
    skipped: list[SkippedFile]


def _parse_corpus(corpus_dir: Path) -> _Parsed:
    articles, files, skipped = [], {}, []
    seen_ids: dict[str, str] = {}
    for path in corpus_files(corpus_dir):
        rel = path.relative_to(corpus_dir).as_posix()
        try:
            article = read_article(path, corpus_dir)
        except UnusableFile as e:
            skipped.append(SkippedFile(rel, str(e)))
            log.warning("skipped %s: %s", rel, e)
            continue
        if article.article_id in seen_ids:  # "a.txt" and "a.md" would share the id "a"
            skipped.append(SkippedFile(rel, f"same article id as {seen_ids[article.article_id]}"))
            continue
        seen_ids[article.article_id] = rel
        articles.append(article)
        files[rel] = file_hash(path)
    return _Parsed(articles, files, skipped)


def _write_version(version: Path, articles: list[Article], passages: list[Passage],
                   indexed_texts: list[str], vectors: np.ndarray, manifest: dict) -> None:
    import faiss

    bm25s = import_bm25s()
    version.mkdir(parents=True)
    db = sqlite3.connect(version / "passages.sqlite")
    with db:
        db.execute("CREATE TABLE articles (article_id TEXT PRIMARY KEY, title TEXT, date TEXT,"
                   " place TEXT, source TEXT, url TEXT, path TEXT, paragraphs TEXT)")
        db.execute("CREATE TABLE passages (row INTEGER PRIMARY KEY, passage_id TEXT UNIQUE,"
                   " article_id TEXT, position INTEGER, text TEXT)")
        db.executemany("INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [
            (a.article_id, a.title, a.date, a.place, a.source, a.url, a.path,
             json.dumps(a.paragraphs, ensure_ascii=False)) for a in articles])
        db.executemany("INSERT INTO passages VALUES (?, ?, ?, ?, ?)", [
            (i, p.passage_id, p.article_id, p.position, p.text) for i, p in enumerate(passages)])
    db.close()

    dense = faiss.IndexFlatIP(manifest["dim"])
    if len(vectors):
        dense.add(np.ascontiguousarray(vectors, dtype=np.float32))
    faiss.write_index(dense, str(version / "vectors.faiss"))

    lexical = bm25s.BM25()
    # bm25s cannot index an empty corpus; one empty document keeps the format uniform.
    lexical.index([lexical_tokens(t) for t in indexed_texts] or [[""]], show_progress=False)
    lexical.save(str(version / "bm25"), show_progress=False)

    (version / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1),
                                           encoding="utf-8")
    for path in version.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
    _fsync_dir(version)


def _embed_with_cache(embedder: Embedder, text_of: dict[str, str], cache_path: Path,
                      batch_size: int, progress: bool) -> tuple[dict[str, np.ndarray], list[str]]:
    """Vectors for every text (by hash), embedding only what the cache lacks.

    Returns the vectors and the hashes embedded now.  Each batch is committed
    to the cache as soon as it is done, so a killed build loses at most one.
    """
    cache = EmbeddingCache(cache_path)
    try:
        vectors = cache.get_many(embedder.identity, list(text_of))
        # Batches of similar length waste less padding in the model.
        missing = sorted((h for h in text_of if h not in vectors), key=lambda h: len(text_of[h]))
        bar, advance = _progress(len(missing), progress, "embedding")
        batch = max(1, batch_size)
        for start in range(0, len(missing), batch):
            chunk = missing[start:start + batch]
            fresh = dict(zip(chunk, embedder.embed_passages([text_of[h] for h in chunk]), strict=True))
            cache.put_many(embedder.identity, fresh)
            vectors.update(fresh)
            advance(len(chunk))
        bar.close()
    finally:
        cache.close()
    return vectors, missing


def build_index(corpus_dir: str | Path, index_dir: str | Path, config: Config | None = None,
                progress: bool = True, rebuild: bool = False,
                embedder: Embedder | None = None) -> BuildReport:
    """Build or update the index of `corpus_dir` in `index_dir`; returns what happened.

    Only passages whose text is not in the embedding cache are embedded.  The
    served index is replaced only once the new one is complete.
    """
    started = time.monotonic()
    config = config or Config()
    corpus_dir, index_dir = Path(corpus_dir), Path(index_dir)
    if not corpus_dir.is_dir():
        raise FileNotFoundError(f"corpus folder not found: {corpus_dir}")
    index_dir.mkdir(parents=True, exist_ok=True)
    embedder = embedder or make_embedder(config.embedder, for_build=True)

    with _build_lock(index_dir):
        previous = current_version(index_dir)
        old_manifest = read_manifest(previous) if previous else None
        if old_manifest and not rebuild:
            check_embedder(old_manifest, embedder.identity, index_dir)

        parsed = _parse_corpus(corpus_dir)
        passages = [p for a in parsed.articles for p in split_article(a, config.split)]
        texts = [p.indexed_text() for p in passages]
        hashes = [text_hash(t) for t in texts]
        vectors, missing = _embed_with_cache(embedder, dict(zip(hashes, texts, strict=True)),
                                             index_dir / CACHE_DB, config.embedder.batch_size,
                                             progress)

        newly_embedded = set(missing)
        matrix = (np.stack([vectors[h] for h in hashes]) if hashes
                  else np.zeros((0, embedder.dim), dtype=np.float32))
        old_files = (old_manifest or {}).get("files", {})
        old_ids = set((old_manifest or {}).get("article_ids", []))
        new_ids = {a.article_id for a in parsed.articles}
        id_by_path = {a.path: a.article_id for a in parsed.articles}
        report = BuildReport(
            articles=len(parsed.articles),
            passages=len(passages),
            embedded=len(missing),
            reused=sum(1 for h in hashes if h not in newly_embedded),
            skipped=parsed.skipped,
            added=sorted(new_ids - old_ids),
            changed=sorted(id_by_path[p] for p, h in parsed.files.items()
                           if p in old_files and old_files[p] != h and id_by_path[p] in old_ids),
            removed=sorted(old_ids - new_ids),
        )
        built_at = datetime.now(UTC)
        manifest = {
            "format": FORMAT_VERSION,
            "embedder": embedder.identity,
            "dim": embedder.dim,
            "built_at": built_at.isoformat(timespec="seconds"),
            "corpus_dir": str(corpus_dir.resolve()),
            "files": parsed.files,
            "article_ids": sorted(new_ids),
            "articles": len(parsed.articles),
            "passages": len(passages),
            "skipped": [asdict(s) for s in parsed.skipped],
            "split": asdict(config.split),
        }
        name = f"v-{built_at.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
        staging = index_dir / f".tmp-{name}"
        _write_version(staging, parsed.articles, passages, texts, matrix, manifest)
        os.replace(staging, index_dir / name)
        _fsync_dir(index_dir)
        _write_atomic(index_dir / CURRENT, name + "\n")  # the swap
        _prune(index_dir, keep=index_dir / name)
    report.seconds = time.monotonic() - started
    return report
