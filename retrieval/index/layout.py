"""The index folder's files, its one-writer lock, and the errors a caller can meet.

Layout (format 2)::

    index/
      catalog.sqlite     the source of truth (WAL): files, articles, passages, generation
      embeddings.sqlite  vector cache keyed by (embedder, sha256 of the text)
      lexical/           tantivy index of the passages' lexical tokens
      vectors/           vectors-<generation>.faiss, one file per published generation
      write.lock         held while an update runs

Format 1 (before the catalog) kept versions in `v-*` folders named by `CURRENT`.
"""
from __future__ import annotations

import fcntl
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

FORMAT_VERSION = 2
CATALOG = "catalog.sqlite"
CACHE_DB = "embeddings.sqlite"
LEXICAL_DIR = "lexical"
VECTORS_DIR = "vectors"
LOCK_FILE = "write.lock"


class IndexNotFound(FileNotFoundError):
    """There is no built index in the folder yet."""


class IndexMismatch(RuntimeError):
    """The index was built with another embedder; mixing vectors would give nonsense."""


class IndexFormatError(RuntimeError):
    """The folder holds an index in a format this version cannot read."""


class IndexUnavailable(RuntimeError):
    """The index server (PostgreSQL) cannot be reached now; retrying later may succeed.

    The bot answers "thử lại sau" for it; the reader reconnects by itself on the next
    question once the server is back.
    """


class BuildInProgress(RuntimeError):
    """Another build holds the lock on this index folder."""


def fsync_dir(path: Path) -> None:
    """Make a rename inside `path` durable (a crash after it must not undo it)."""
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


def check_not_format_1(index_dir: Path) -> None:
    """Raise IndexFormatError for a folder written before the catalog existed (format 1)."""
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


def reset(index_dir: Path) -> None:
    """Remove every derived file and the catalog, keeping the embedding cache (--rebuild)."""
    remove_old_format(index_dir)
    for name in (CATALOG, f"{CATALOG}-wal", f"{CATALOG}-shm"):
        (index_dir / name).unlink(missing_ok=True)
    for name in (LEXICAL_DIR, VECTORS_DIR):
        shutil.rmtree(index_dir / name, ignore_errors=True)
