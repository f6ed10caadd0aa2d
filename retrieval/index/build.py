"""Corpus folder -> index folder, doing only the work that the corpus's changes need.

A build scans the corpus and compares each file's size and modification time
with what the catalog recorded; only files whose stats moved are hashed, and
only files whose content changed are parsed, split, embedded (vectors come
from the cache whenever the text was embedded before) and written, as one
generation of the index (writer.py owns the update and its crash safety,
layout.py and catalog.py the format).  Unchanged files are not even read.
"""
from __future__ import annotations

import gc
import hashlib
import json
import logging
import multiprocessing
import os
import stat
import sys
import time
from collections.abc import Container, Iterable
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from itertools import repeat
from pathlib import Path

from ..config import Config, SplitConfig
from ..convert import article_id_for, corpus_entries, corpus_name, corpus_order, read_article
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
# 5 - an address stamp to the millisecond (yyyymmddhhmmssmmm) dates the page.
PARSE_RULES = 5


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def vector_settings(config: Config) -> VectorSettings:
    """The [index] settings (checked by load_config) as the writer takes them."""
    return VectorSettings(exact_max=config.index.exact_max_passages, ann=config.index.ann,
                          nprobe=config.index.nprobe)


# ---------------------------------------------------------------- progress

def _progress(total: int, enabled: bool, desc: str):
    """A tqdm bar on a terminal; plain log lines every ~10 % otherwise.  Returns the
    bar's close and advance; tqdm is imported only for a bar (0.1 s of each update)."""
    bar = None
    if enabled and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=total, desc=desc, unit="passage")
    step = max(1, total // 10)
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        before, done = done, done + n
        if bar is not None:
            bar.update(n)
        elif enabled and (done // step > before // step or done == total):
            print(f"{desc}: {done}/{total} passages", file=sys.stderr, flush=True)

    return (bar.close if bar is not None else lambda: None), advance


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


Stat = tuple[int, int]  # a file's size and modification time (ns)


@dataclass
class _Scan:
    """The cheap first pass: which files moved since the catalog recorded them."""

    corpus_dir: Path
    present: Container[str]  # the corpus's files, by path relative to the corpus folder
    moved: list[tuple[str, Stat]]  # size or modification time changed, or new
    forget: list[str]  # recorded but no longer in the corpus
    unchanged: int
    unreadable: list[SkippedFile]
    named: int | None = None  # files the caller named (None: the whole folder was listed)

    def path(self, rel: str) -> Path:
        return self.corpus_dir / rel


@contextmanager
def _without_cyclic_gc():
    """For the stats of every file (catalog and corpus): big dicts of tuples and no
    reference cycles, which the cyclic collector went over again and again (8 % of
    the CPU of reading and comparing them at 182k files, 0.12 s of 1.5 s)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _scan(corpus_dir: Path, recorded: dict[str, Stat]) -> _Scan:
    """Stat every corpus file; the unchanged ones (same size and time) are not even read.

    The per-file work is one stat and one tuple: the comparison with the catalog's
    records is a dict lookup, the listing is corpus_entries' (os.scandir), and only
    what moved is sorted.  At 182k files (1M passages) this is ~1.1 s of CPU, stat's
    system time the most of it; threads did not help (the GIL), nothing short of not
    stat-ing unchanged files would (a file edited in place changes only its own stats).
    """
    present = dict(corpus_entries(corpus_dir, ordered=False))
    stats: dict[str, Stat] = {}
    unreadable: list[SkippedFile] = []
    for rel, entry in present.items():
        try:
            st = entry.stat()
        except OSError as e:
            unreadable.append(SkippedFile(rel, f"cannot read: {e.strerror or e}"))
            continue
        stats[rel] = (st.st_size, st.st_mtime_ns)
    get = recorded.get
    moved = [(rel, stat) for rel, stat in stats.items() if get(rel) != stat]
    forget = sorted(recorded.keys() - present.keys())
    # Only what changed is sorted (new files: the first in path order keeps an article id).
    moved.sort(key=lambda item: corpus_order(item[0]))
    unreadable.sort(key=lambda skipped: corpus_order(skipped.path))
    return _Scan(corpus_dir, present.keys(), moved, forget, len(stats) - len(moved), unreadable)


class _Elsewhere:
    """The corpus's files as a scan of named files sees them: those it stat-ed, and any
    other (a file sharing an article id with a named one) looked up when asked."""

    def __init__(self, corpus_dir: Path, found: set[str], named: set[str]) -> None:
        self.corpus_dir, self.found, self.named = corpus_dir, found, named

    def __contains__(self, rel: object) -> bool:
        if rel in self.named:
            return rel in self.found
        return isinstance(rel, str) and os.path.isfile(self.corpus_dir / rel)


def _scan_named(corpus_dir: Path, names: list[str], recorded: dict[str, Stat]) -> _Scan:
    """`_scan` of the files the caller says changed (an upload, a fetch), the rest of the
    folder taken as recorded: at 182k files, listing and stat-ing it all was ~1 s of an
    update's ~2 s of CPU.  A named file that is gone is removed from the index."""
    stats: dict[str, Stat] = {}
    unreadable: list[SkippedFile] = []
    for rel in names:
        try:
            st = os.stat(corpus_dir / rel)
        except FileNotFoundError:
            continue
        except OSError as e:
            unreadable.append(SkippedFile(rel, f"cannot read: {e.strerror or e}"))
            continue
        if stat.S_ISREG(st.st_mode):
            stats[rel] = (st.st_size, st.st_mtime_ns)
    moved = sorted(((rel, st) for rel, st in stats.items() if recorded.get(rel) != st),
                   key=lambda item: corpus_order(item[0]))
    unread = {u.path for u in unreadable}
    forget = sorted(rel for rel in recorded if rel not in stats and rel not in unread)
    return _Scan(corpus_dir, _Elsewhere(corpus_dir, set(stats), set(names)), moved, forget,
                 len(stats) - len(moved), unreadable, named=len(names))


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
        close, advance = _progress(len(missing), progress, label)
        batch = max(1, batch_size)
        for start in range(0, len(missing), batch):
            chunk = missing[start:start + batch]
            fresh = dict(zip(chunk, embedder.embed_passages([text_of[h] for h in chunk]), strict=True))
            cache.put_many(embedder.identity, fresh)
            advance(len(chunk))
        close()
    finally:
        cache.close()
    return missing


# ---------------------------------------------------------------- build

def build_index(corpus_dir: str | Path, index_dir: str | Path, config: Config | None = None,
                progress: bool = True, rebuild: bool = False,
                embedder: Embedder | None = None, changed: Iterable[str | Path] | None = None) -> BuildReport:
    """Bring the index of `corpus_dir` in `index_dir` up to date; returns what happened.

    Only added or changed files are parsed, and only passages whose text is
    not in the embedding cache are embedded.  Readers keep the previous
    generation until the new one is complete.  `rebuild` starts afresh (for
    another embedder), still reusing cached vectors.  `changed`: the corpus files
    the caller wrote or deleted (an admin's upload, a fetch); only they are looked
    at, instead of every file of the folder (paths outside it, hidden or of other
    types are ignored).  A rebuild, or new parse rules, still read the whole folder.
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
            # Other passage sizes or parse rules: every article is parsed and split
            # again (its vectors come from the embedding cache).
            reparse = writer.meta_value("split") not in (None, split)
            names = None if changed is None or rebuild or reparse else sorted(
                {n for n in (corpus_name(corpus_dir, p) for p in changed) if n})
            report = _update(writer, corpus_dir, reparse, embedder, config, progress, split, names)
            fresh = {s.path for s in report.skipped}  # broken files not read again are still listed
            report.skipped += [SkippedFile(path, reason) for path, reason in writer.skipped_files().items()
                               if path not in fresh]
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


def _records(writer: IndexWriter, corpus_dir: Path, scan: _Scan) -> dict[str, FileRecord]:
    """The catalog's records that the moved files' update depends on: theirs, the
    forgotten files', and those of every file providing one of their article ids (which
    file keeps an id, and whether it is new).  Only these: the other files' records
    are not read (whole, they cost ~1 s at 182k files)."""
    ids = {article_id_for(scan.path(rel), corpus_dir) for rel, _ in scan.moved}
    return writer.files([*(rel for rel, _ in scan.moved), *scan.forget], ids)


def _update(writer: IndexWriter, corpus_dir: Path, reparse: bool, embedder: Embedder,
            config: Config, progress: bool, split: str, names: list[str] | None = None) -> BuildReport:
    """Write what changed in the corpus as one generation, in batches of files.

    Batches keep a first build of a whole archive within a bounded memory: each
    batch is parsed, embedded into the cache and written to the index, then
    dropped.  `reparse`: every file is read again, as if it had changed.  `names`: only
    these files may have changed (`_scan_named`).
    """
    if names is not None:
        recorded = {p: (r.size, r.mtime_ns) for p, r in writer.files(names).items()}
        scan = _scan_named(corpus_dir, names, recorded)
    else:
        with _without_cyclic_gc():
            recorded = writer.file_stats()
            scan = _scan(corpus_dir, {p: (-1, -1) for p in recorded} if reparse else recorded)
    known = _records(writer, corpus_dir, scan)
    if reparse:
        known = {p: replace(r, sha256="") for p, r in known.items()}
    report = BuildReport(unchanged_files=scan.unchanged, skipped=list(scan.unreadable),
                         named_files=scan.named)
    files: list[FileRecord] = []
    removed = {known[rel].article_id for rel in scan.forget if known[rel].article_id}
    stored = {rec.article_id for rec in known.values() if rec.article_id}  # of the ids touched
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
                record = partial(FileRecord, rel, *st, result.digest)
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
