"""Corpus folder -> index folder, doing only the work that the corpus's changes need.

A build scans the corpus and compares each file's size and modification time
with what the catalog recorded; only files whose stats moved are hashed, and
only files whose content changed are parsed, split, embedded (vectors come
from the cache whenever the text was embedded before) and written, as one
generation of the store (store.py owns the on-disk format and its crash
safety).  Unchanged files are not even read.
"""
from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from itertools import repeat
from pathlib import Path

import numpy as np

from .articles import UnusableFile, article_id_for, corpus_files, read_article
from .config import Config, SplitConfig
from .embedders import Embedder, make_embedder
from .passages import split_article
from .store import (
    CACHE_DB,
    CATALOG,
    BuildInProgress,
    EmbeddingCache,
    FileRecord,
    IndexFormatError,
    IndexMismatch,
    IndexNotFound,
    IndexStore,
    NewArticle,
    VectorSettings,
    passage_tokens,
    remove_old_format,
    reset,
    text_hash,
    write_lock,
)
from .types import Article, BuildReport, SkippedFile

log = logging.getLogger(__name__)

PARALLEL_FROM = 200  # changed files from which parsing is spread over processes

__all__ = ["BuildInProgress", "IndexFormatError", "IndexMismatch", "IndexNotFound", "build_index",
           "vector_settings"]


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def vector_settings(config: Config) -> VectorSettings:
    return VectorSettings(exact_max=config.index.exact_max_passages, ann=config.index.ann,
                          nprobe=config.index.nprobe)


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


# ---------------------------------------------------------------- scanning the corpus

@dataclass
class _Changes:
    """What a scan found: articles to (re)write, ids to drop, file records to store."""

    new: list[_Parsed] = field(default_factory=list)  # added or changed articles
    removed_ids: set[str] = field(default_factory=set)
    files: list[FileRecord] = field(default_factory=list)  # records to insert or replace
    forget: list[str] = field(default_factory=list)  # paths no longer in the corpus
    skipped: list[SkippedFile] = field(default_factory=list)  # new reasons found this run
    unchanged: int = 0  # files whose size and modification time did not move
    parsed: int = 0


@dataclass
class _Parsed:
    """One file read, parsed, split and tokenised (in a worker process for big batches)."""

    digest: str
    article: Article | None = None
    error: str | None = None
    passages: list[tuple[int, str, str]] = field(default_factory=list)  # position, text, hash
    indexed: list[str] = field(default_factory=list)  # what the embedder sees, per passage
    tokens: list[str] = field(default_factory=list)  # what tantivy indexes, per passage


def _parse_file(path: Path, corpus_dir: Path, split: SplitConfig) -> _Parsed:
    try:
        digest = file_hash(path)
    except OSError as e:
        return _Parsed("", error=f"cannot read: {e.strerror or e}")
    try:
        article = read_article(path, corpus_dir)
    except UnusableFile as e:
        return _Parsed(digest, error=str(e))
    parsed = _Parsed(digest, article)
    for p in split_article(article, split):
        indexed = p.indexed_text()
        parsed.passages.append((p.position, p.text, text_hash(indexed)))
        parsed.indexed.append(indexed)
        parsed.tokens.append(passage_tokens(p.title, p.place, p.date, p.text))
    return parsed


def _parse_files(paths: list[Path], corpus_dir: Path, split: SplitConfig) -> list[_Parsed]:
    """Parse in worker processes when there are many files (a first build, a new archive).

    Spawned rather than forked: the bot runs builds in a thread of a process
    with other threads, which a fork would copy mid-flight.
    """
    workers = min(os.cpu_count() or 1, 8)
    if len(paths) < PARALLEL_FROM or workers < 2:
        return [_parse_file(p, corpus_dir, split) for p in paths]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_parse_file, paths, repeat(corpus_dir), repeat(split),
                             chunksize=max(1, min(64, len(paths) // (4 * workers)))))


def _scan(corpus_dir: Path, known: dict[str, FileRecord], split: SplitConfig) -> _Changes:
    """Compare the corpus with the catalog's file records; parse only what changed."""
    changes = _Changes()
    present = {path.relative_to(corpus_dir).as_posix(): path for path in corpus_files(corpus_dir)}
    for rel in sorted(set(known) - set(present)):
        changes.forget.append(rel)
        if known[rel].article_id:
            changes.removed_ids.add(known[rel].article_id)
    moved = []  # files whose size or modification time changed: (rel, stat)
    for rel, path in present.items():
        try:
            st = path.stat()
        except OSError as e:
            changes.skipped.append(SkippedFile(rel, f"cannot read: {e.strerror or e}"))
            continue
        rec = known.get(rel)
        if rec and (rec.size, rec.mtime_ns) == (st.st_size, st.st_mtime_ns):
            changes.unchanged += 1  # the fast check: same size and time, not even read
        else:
            moved.append((rel, st))
    results = _parse_files([present[rel] for rel, _ in moved], corpus_dir, split)

    # Which file provides each article id ("a.txt" and "a.md" would share "a"): the
    # one already indexed keeps it; among new files, the first in path order.
    owner = {rec.article_id: p for p, rec in known.items() if rec.article_id and p in present}
    for (rel, st), result in zip(moved, results, strict=True):
        rec = known.get(rel)
        record = partial(FileRecord, rel, st.st_size, st.st_mtime_ns, result.digest)
        if not result.digest:
            changes.skipped.append(SkippedFile(rel, result.error or "cannot read"))
            continue
        if rec and rec.sha256 == result.digest:  # touched, same bytes: new stats only
            changes.files.append(record(rec.article_id, rec.skipped))
            continue
        article_id = article_id_for(present[rel], corpus_dir)
        if owner.get(article_id, rel) != rel:
            reason = f"same article id as {owner[article_id]}"
            changes.files.append(record(None, reason))
            changes.skipped.append(SkippedFile(rel, reason))
            continue
        changes.parsed += 1
        if result.article is None:
            log.warning("skipped %s: %s", rel, result.error)
            changes.files.append(record(None, result.error))
            changes.skipped.append(SkippedFile(rel, result.error or "unusable"))
            if rec and rec.article_id:  # it was an article and is broken now
                changes.removed_ids.add(rec.article_id)
                owner.pop(rec.article_id, None)
            continue
        owner[article_id] = rel
        changes.new.append(result)
        changes.files.append(record(article_id))
    changes.removed_ids -= {p.article.article_id for p in changes.new}
    return changes


# ---------------------------------------------------------------- embedding

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


# ---------------------------------------------------------------- build

def build_index(corpus_dir: str | Path, index_dir: str | Path, config: Config | None = None,
                progress: bool = True, rebuild: bool = False,
                embedder: Embedder | None = None) -> BuildReport:
    """Bring the index of `corpus_dir` in `index_dir` up to date; returns what happened.

    Only added or changed files are parsed, and only passages whose text is
    not in the embedding cache are embedded.  Readers keep the previous
    generation until the new one is complete.  `rebuild` starts afresh (for
    another embedder), still reusing cached vectors.
    """
    started = time.monotonic()
    config = config or Config()
    corpus_dir, index_dir = Path(corpus_dir), Path(index_dir)
    if not corpus_dir.is_dir():
        raise FileNotFoundError(f"corpus folder not found: {corpus_dir}")
    index_dir.mkdir(parents=True, exist_ok=True)
    embedder = embedder or make_embedder(config.embedder, for_build=True)

    with write_lock(index_dir):
        if rebuild:
            reset(index_dir)
        elif not (index_dir / CATALOG).exists():
            remove_old_format(index_dir)  # format 1: its embedding cache is reused as is
        store = IndexStore(index_dir, embedder.identity, embedder.dim, vector_settings(config))
        try:
            store.repair()
            split = json.dumps(asdict(config.split), sort_keys=True)
            known = store.files()
            if store.db.execute("SELECT value FROM meta WHERE key = 'split'").fetchone() not in (
                    None, (split,)):
                # Other passage sizes: every article is parsed and split again.
                known = {p: replace(r, size=-1, sha256="") for p, r in known.items()}
            changes = _scan(corpus_dir, known, config.split)
            report = _write_changes(store, changes, known, embedder, config, index_dir, progress,
                                    corpus_dir, split)
            previous_skips = [SkippedFile(r.path, r.skipped) for r in store.files().values()
                              if r.skipped]
            fresh = {s.path for s in changes.skipped}
            report.skipped = changes.skipped + [s for s in previous_skips if s.path not in fresh]
            report.articles, report.passages = store.counts()
        finally:
            store.close()
    report.seconds = time.monotonic() - started
    return report


def _write_changes(store: IndexStore, changes: _Changes, known: dict[str, FileRecord],
                   embedder: Embedder, config: Config,
                   index_dir: Path, progress: bool, corpus_dir: Path, split: str) -> BuildReport:
    """Split and embed the changed articles and write them as one generation."""
    new = [NewArticle(p.article, p.passages, p.tokens) for p in changes.new]
    text_of = {h: text for p in changes.new
               for (_, _, h), text in zip(p.passages, p.indexed, strict=True)}
    vectors, missing = _embed_with_cache(embedder, text_of, index_dir / CACHE_DB,
                                         config.embedder.batch_size, progress)
    stored_before = {rec.article_id for rec in known.values() if rec.article_id}
    new_ids = {p.article.article_id for p in changes.new}
    report = BuildReport(
        unchanged_files=changes.unchanged,
        parsed_files=changes.parsed,
        embedded=len(missing),
        reused=sum(len(n.passages) for n in new) - len(missing),
        added=sorted(new_ids - stored_before - changes.removed_ids),
        changed=sorted(new_ids & stored_before),
        removed=sorted(changes.removed_ids),
    )
    if new or changes.removed_ids or store.published == 0:
        meta = {"built_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "corpus_dir": str(corpus_dir.resolve()), "split": split}
        store.update(new, changes.removed_ids, changes.files, changes.forget, vectors, meta)
    elif changes.files or changes.forget:
        store.record_files(changes.files, changes.forget)
    return report
