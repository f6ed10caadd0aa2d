"""Corpus folder -> index folder, doing only the work that the corpus's changes need.

A build scans the corpus and compares each file's size and modification time
with what the catalog recorded; only files whose stats moved are hashed, and
only files whose content changed are parsed, split, embedded (vectors come
from the cache whenever the text was embedded before) and written, as one
generation of the index (writer.py owns the update and its crash safety,
layout.py and catalog.py the format).  Unchanged files are not even read.
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
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from itertools import repeat
from pathlib import Path

from ..config import Config, SplitConfig
from ..convert import article_id_for, corpus_entries, corpus_order, read_article
from ..embedders import DeferredEmbedder, Embedder, build_embedder
from ..passages import split_article
from ..types import Article, BuildReport, SkippedFile, UnusableFile
from .backend import is_postgres, postgres_dsn
from .catalog import text_hash
from .layout import CATALOG, remove_old_format, reset, write_lock
from .lexical import passage_tokens
from .vectors import VectorSettings
from .writer import FileRecord, IndexWriter, NewArticle

log = logging.getLogger(__name__)

PARALLEL_FROM = 200  # changed files from which parsing is spread over processes
BATCH_FILES = 2000  # files parsed, embedded and written together (about 10k passages)

# Bump when parsing or splitting changes what a file's article or passages are, so
# that indexes built before pick the change up on their next `index` run:
# 2 - places from "huyện Trần Văn Thời" named as a unit again and again, run-on
#     names cut ("Năm Căn Tôn Nữ"), "Tỉnh Đoàn X"; no clause split inside “...”.
# 3 - one vocabulary: an "UBMTTQ huyện X" line is the site's banner; "Đảng bộ",
#     "chủ nhiệm" and "hội trưởng" before a name make it a person's.
# 4 - one list of units (vocabulary.ADMINISTRATIVE_UNITS): pages' "TX Vân Phố" is a town.
PARSE_RULES = 4


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def vector_settings(config: Config) -> VectorSettings:
    """The [index] settings (checked by load_config) as the writer takes them."""
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
        parsed.tokens.append(passage_tokens(indexed))
    return parsed


@contextmanager
def _parser(n_files: int, corpus_dir: Path, split: SplitConfig):
    """A function parsing a list of files; in worker processes when there are many
    (a first build, a new archive), one per core.

    Spawned rather than forked: the bot runs builds in a thread of a process
    with other threads, which a fork would copy mid-flight.
    """
    workers = min(os.cpu_count() or 1, 8)
    if n_files < PARALLEL_FROM or workers < 2:
        yield lambda paths: [_parse_file(p, corpus_dir, split) for p in paths]
        return
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield lambda paths: list(pool.map(_parse_file, paths, repeat(corpus_dir), repeat(split),
                                          chunksize=max(1, min(64, len(paths) // (4 * workers)))))


@dataclass
class _Scan:
    """The cheap first pass: which files moved since the catalog recorded them."""

    present: dict[str, os.DirEntry]  # by path relative to the corpus folder
    moved: list[tuple[str, os.stat_result]]  # size or modification time changed, or new
    forget: list[str]  # recorded but no longer in the corpus
    unchanged: int
    unreadable: list[SkippedFile]

    def path(self, rel: str) -> Path:
        return Path(self.present[rel].path)


def _scan(corpus_dir: Path, known: dict[str, FileRecord]) -> _Scan:
    """Stat every corpus file; the unchanged ones (same size and time) are not even read."""
    present = dict(corpus_entries(corpus_dir, ordered=False))
    scan = _Scan(present, [], sorted(set(known) - set(present)), 0, [])
    for rel, entry in present.items():
        try:
            st = entry.stat()
        except OSError as e:
            scan.unreadable.append(SkippedFile(rel, f"cannot read: {e.strerror or e}"))
            continue
        rec = known.get(rel)
        if rec and (rec.size, rec.mtime_ns) == (st.st_size, st.st_mtime_ns):
            scan.unchanged += 1
        else:
            scan.moved.append((rel, st))
    # Only what changed is sorted (new files: the first in path order keeps an article id).
    scan.moved.sort(key=lambda item: corpus_order(item[0]))
    scan.unreadable.sort(key=lambda skipped: corpus_order(skipped.path))
    return scan


# ---------------------------------------------------------------- embedding

def _embed_missing(embedder: Embedder, text_of: dict[str, str], cache,
                   batch_size: int, progress: bool, label: str = "embedding") -> list[str]:
    """Embed the texts (keyed by hash) that the cache lacks; returns their hashes.

    Each batch is committed to the cache (the writer's `open_cache()`) as soon as it
    is done, so a killed build loses at most one; the writer reads vectors from the
    cache at commit.
    """
    try:
        cached = cache.cached(embedder.identity, text_of)
        # Batches of similar length waste less padding in the model.
        missing = sorted((h for h in text_of if h not in cached), key=lambda h: len(text_of[h]))
        if missing and isinstance(embedder, DeferredEmbedder):
            embedder.prepare(len(missing))  # the model, on the GPU for bulk work
        bar, advance = _progress(len(missing), progress, label)
        batch = max(1, batch_size)
        for start in range(0, len(missing), batch):
            chunk = missing[start:start + batch]
            fresh = dict(zip(chunk, embedder.embed_passages([text_of[h] for h in chunk]), strict=True))
            cache.put_many(embedder.identity, fresh)
            advance(len(chunk))
        bar.close()
    finally:
        cache.close()
    return missing


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
    embedder = embedder or build_embedder(config.embedder)

    with _open_writer(index_dir, embedder, config, rebuild) as writer:
        try:
            writer.repair()
            split = json.dumps({**asdict(config.split), "rules": PARSE_RULES}, sort_keys=True)
            known = writer.files()
            if writer.meta_value("split") not in (None, split):
                # Other passage sizes or parse rules: every article is parsed and split
                # again (its vectors come from the embedding cache).
                known = {p: replace(r, size=-1, sha256="") for p, r in known.items()}
            report = _update(writer, corpus_dir, known, embedder, config, progress, split)
            fresh = {s.path for s in report.skipped}  # broken files not read again are still listed
            report.skipped += [SkippedFile(r.path, r.skipped) for r in writer.files().values()
                               if r.skipped and r.path not in fresh]
            report.articles, report.passages = writer.counts()
        finally:
            writer.close()
    report.seconds = time.monotonic() - started
    return report


@contextmanager
def _open_writer(index_dir: Path, embedder: Embedder, config: Config, rebuild: bool):
    """The backend's single writer, held for one build (layout.write_lock for a folder,
    an advisory lock in PostgreSQL); `rebuild` clears all but the embedding cache."""
    if is_postgres(config):
        from ..postgres.index import postgres_writer

        with postgres_writer(postgres_dsn(config), embedder.identity, embedder.dim, rebuild) as writer:
            yield writer
        return
    index_dir.mkdir(parents=True, exist_ok=True)
    with write_lock(index_dir):
        if rebuild:
            reset(index_dir)
        elif not (index_dir / CATALOG).exists():
            remove_old_format(index_dir)  # format 1: its embedding cache (same schema) is kept
        yield IndexWriter(index_dir, embedder.identity, embedder.dim, vector_settings(config))


def _update(writer: IndexWriter, corpus_dir: Path, known: dict[str, FileRecord], embedder: Embedder,
            config: Config, progress: bool, split: str) -> BuildReport:
    """Write what changed in the corpus as one generation, in batches of files.

    Batches keep a first build of a whole archive within a bounded memory: each
    batch is parsed, embedded into the cache and written to the index, then
    dropped.
    """
    scan = _scan(corpus_dir, known)
    report = BuildReport(unchanged_files=scan.unchanged, skipped=list(scan.unreadable))
    files: list[FileRecord] = []
    removed = {known[rel].article_id for rel in scan.forget if known[rel].article_id}
    stored = {rec.article_id for rec in known.values() if rec.article_id}
    written: set[str] = set()
    # Which file provides each article id ("a.txt" and "a.md" would share "a"): the
    # one already indexed keeps it; among new files, the first in path order.
    owner = {rec.article_id: p for p, rec in known.items() if rec.article_id and p in scan.present}
    writer.begin()
    with _parser(len(scan.moved), corpus_dir, config.split) as parse:
        for start in range(0, len(scan.moved), BATCH_FILES):
            batch = scan.moved[start:start + BATCH_FILES]
            new: list[_Parsed] = []
            for (rel, st), result in zip(batch, parse([scan.path(r) for r, _ in batch]), strict=True):
                rec = known.get(rel)
                record = partial(FileRecord, rel, st.st_size, st.st_mtime_ns, result.digest)
                if not result.digest:
                    report.skipped.append(SkippedFile(rel, result.error or "cannot read"))
                    continue
                if rec and rec.sha256 == result.digest:  # touched, same bytes: new stats only
                    files.append(record(rec.article_id, rec.skipped))
                    continue
                article_id = article_id_for(scan.path(rel), corpus_dir)
                if owner.get(article_id, rel) != rel:
                    reason = f"same article id as {owner[article_id]}"
                    files.append(record(None, reason))
                    report.skipped.append(SkippedFile(rel, reason))
                    continue
                report.parsed_files += 1
                if result.article is None:
                    log.warning("skipped %s: %s", rel, result.error)
                    files.append(record(None, result.error))
                    report.skipped.append(SkippedFile(rel, result.error or "unusable"))
                    if rec and rec.article_id:  # it was an article and is broken now
                        removed.add(rec.article_id)
                        owner.pop(rec.article_id, None)
                    continue
                owner[article_id] = rel
                new.append(result)
                files.append(record(article_id))
            text_of = {h: text for p in new for (_, _, h), text in zip(p.passages, p.indexed, strict=True)}
            label = ("embedding" if len(scan.moved) <= BATCH_FILES else
                     f"embedding (files {start + 1}-{start + len(batch)} of {len(scan.moved)})")
            missing = _embed_missing(embedder, text_of, writer.open_cache(),
                                     config.embedder.batch_size, progress, label)
            report.embedded += len(missing)
            report.reused += sum(len(p.passages) for p in new) - len(missing)
            writer.add([NewArticle(p.article, p.passages, p.tokens) for p in new])
            written.update(p.article.article_id for p in new)
    removed -= written
    writer.remove(removed)
    report.added = sorted(written - stored)
    report.changed = sorted(written & stored)
    report.removed = sorted(removed)
    if writer.changed or writer.published == 0:
        meta = {"built_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "corpus_dir": str(corpus_dir.resolve()), "split": split}
        writer.commit(files, scan.forget, meta)
    elif files or scan.forget:
        writer.record_files(files, scan.forget)
    return report
