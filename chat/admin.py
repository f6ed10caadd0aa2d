"""Admin actions: adding a file to the corpus and rebuilding the index in the background.

A file name chosen by someone else is never trusted as a path: it is reduced
to a plain ASCII name and written inside corpus/uploads/, and the resolved
target is checked to lie inside the corpus folder before anything is written.
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from retrieval.convert import SUPPORTED_SUFFIXES
from retrieval.textnorm import fold
from retrieval.types import BuildReport

from .render.markup import Markup
from .render.texts import (
    FETCH_STARTED,
    REINDEX_BUSY,
    REINDEX_FAILED,
    REINDEX_STARTED,
    STORE_UNAVAILABLE,
    UPLOAD_BAD_TYPE,
    UPLOAD_SKIPPED,
    UPLOAD_TOO_BIG,
    UPLOAD_UNSAFE,
    fetch_text,
    report_text,
)
from .stores import OUTAGES

UPLOAD_DIR = "uploads"
ALLOWED_UPLOADS = SUPPORTED_SUFFIXES  # an upload is what the corpus reader reads
MAX_UPLOAD_MB = 5
LINK_ONLY = re.compile(r"^\s*https?://\S+\s*$")  # a message that is just a link (admins: fetch it)

log = logging.getLogger(__name__)


class UploadRejected(ValueError):
    """The file cannot be added; the message is the (HTML-safe) reply for the admin."""


def safe_file_name(name: str | None) -> str:
    """"../../Báo cáo (1).TXT" -> "bao-cao-1.txt"; raises UploadRejected for other types."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, ext = base.rpartition(".")
    ext = ext.lower()
    if not dot or f".{ext}" not in ALLOWED_UPLOADS:
        raise UploadRejected(UPLOAD_BAD_TYPE)
    stem = re.sub(r"[^a-z0-9_-]+", "-", fold(stem).lower()).strip("-_")[:80] or "tai-lieu"
    if stem == "readme":  # the corpus reader ignores README.md files
        stem = "readme-upload"
    return f"{stem}.{ext}"


def check_upload(name: str | None, size: int | None) -> None:
    """Raise UploadRejected before downloading anything that would be refused anyway."""
    safe_file_name(name)
    if size is not None and size > MAX_UPLOAD_MB * 1024 * 1024:
        raise UploadRejected(UPLOAD_TOO_BIG.format(mb=MAX_UPLOAD_MB))


def save_upload(corpus_dir: str | Path, name: str | None, data: bytes) -> Path:
    """Write the upload under corpus/uploads/ with a fresh safe name; returns the path.

    An existing file with the same content is reused; otherwise a numbered
    name is taken, so an upload never overwrites an article silently.  Two
    files differing only in extension would share an article id, so a
    numbered name is also taken when the stem exists with another extension.
    """
    if len(data) > MAX_UPLOAD_MB * 1024 * 1024:
        raise UploadRejected(UPLOAD_TOO_BIG.format(mb=MAX_UPLOAD_MB))
    corpus = Path(corpus_dir).resolve()
    folder = corpus / UPLOAD_DIR
    folder.mkdir(parents=True, exist_ok=True)
    if not folder.resolve().is_relative_to(corpus):  # e.g. uploads/ is a symlink elsewhere
        raise UploadRejected(UPLOAD_UNSAFE)
    safe = safe_file_name(name)
    stem, ext = safe.rsplit(".", 1)
    for n in range(1, 1000):
        candidate = stem if n == 1 else f"{stem}-{n}"
        target = folder / f"{candidate}.{ext}"
        same_stem = [p for p in folder.glob(f"{candidate}.*") if p.suffix.lower() in ALLOWED_UPLOADS]
        if target.exists() and target.read_bytes() == data:
            return target
        if not same_stem:
            break
    else:
        raise UploadRejected(UPLOAD_UNSAFE)
    if not target.resolve().is_relative_to(corpus):
        raise UploadRejected(UPLOAD_UNSAFE)
    tmp = folder / f".upload-{uuid.uuid4().hex}.tmp"  # hidden: a build running now skips it
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target


def discard_if_skipped(corpus_dir: str | Path, path: Path, report: BuildReport) -> str | None:
    """If the build could not use the uploaded file, delete it and return the reason."""
    rel = path.resolve().relative_to(Path(corpus_dir).resolve()).as_posix()
    for skipped in report.skipped:
        if skipped.path == rel:
            path.unlink(missing_ok=True)
            return skipped.reason
    return None


async def fetch_into_corpus(config, corpus_dir: str | Path, index_dir: str | Path,
                            urls: list[str] | None = None):
    """Fetch `urls` (an admin's links), or else the feeds, sitemaps and pages of [fetch]."""
    from retrieval.fetch import fetch_async

    cfg = config.fetch
    sources = ({"urls": urls} if urls is not None else
               {"urls": cfg.pages, "feeds": cfg.feeds, "sitemaps": cfg.sitemaps})
    return await fetch_async(corpus_dir, cfg, cfg.state_path(index_dir), **sources)


class Reindexer:
    """Runs one index build at a time off the event loop, then reloads the searcher.

    The searcher keeps serving the old index during the build (the new
    version is written beside it and swapped atomically), so the bot answers
    questions the whole time.
    """

    def __init__(self, searcher, corpus_dir: str | Path, index_dir: str | Path, config,
                 build=None):
        self.searcher = searcher
        self.corpus_dir = Path(corpus_dir)
        self.index_dir = Path(index_dir)
        self.config = config
        self._build = build  # a stand-in for tests: a no-argument callable
        self._lock = asyncio.Lock()

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    def _index(self, changed: list[Path] | None) -> BuildReport:
        from retrieval.index import build_index

        if self._build is not None:
            return self._build()
        return build_index(self.corpus_dir, self.index_dir, self.config, progress=False, changed=changed)

    async def run(self, changed: list[Path] | None = None) -> BuildReport:
        """Build (waiting for a build already running here), then swap the new index in.
        `changed`: the only corpus files that changed (an upload, a fetch), so the build
        does not list the whole folder (at 1M passages most of an update's cost)."""
        async with self._lock:
            report = await asyncio.to_thread(self._index, changed)
            await asyncio.to_thread(self.searcher.reload)
            return report



Say = Callable[[str], Awaitable[object]]  # sends one reply to the admin's chat


async def reindex_and_report(reindexer: Reindexer, say: Say, m: Markup) -> None:
    """/reindex, on any front end: one build at a time, the admin told it started and
    what changed (the old index answers meanwhile)."""
    if reindexer.busy:
        await say(REINDEX_BUSY)
        return
    await say(REINDEX_STARTED)
    await rebuild_and_report(reindexer, say, m)


async def rebuild_and_report(reindexer: Reindexer, say: Say, m: Markup, uploaded: Path | None = None,
                             changed: list[Path] | None = None) -> None:
    """Rebuild, then tell the admin what changed, why an uploaded file was dropped, or why
    the build failed (the old index keeps serving).  An upload, or the files a fetch
    wrote (`changed`), are all the build looks at; /reindex reads the whole folder."""
    if uploaded is not None:
        changed = [uploaded]
    try:
        report = await reindexer.run(changed)
    except OUTAGES as e:  # a database restart: the old index serves, the admin tries again
        log.warning("index rebuild: the store could not be reached: %s", e)
        await say(STORE_UNAVAILABLE)
        return
    except Exception as e:  # the admin must hear about it
        log.exception("index rebuild failed")
        await say(REINDEX_FAILED.format(error=m.esc(str(e)[:500])))
        return
    if uploaded is not None:
        reason = await asyncio.to_thread(discard_if_skipped, reindexer.corpus_dir, uploaded, report)
        if reason:
            await say(UPLOAD_SKIPPED.format(name=m.esc(uploaded.name), reason=m.esc(reason)))
    await say(report_text(m, report))


async def fetch_and_report(reindexer: Reindexer, say: Say, m: Markup, urls: list[str]) -> None:
    """/add URL (or a bare link), on any front end: fetch the admin's links into the corpus,
    say what was stored, and index it if anything changed."""
    await say(FETCH_STARTED)
    report = await fetch_into_corpus(reindexer.config, reindexer.corpus_dir, reindexer.index_dir,
                                     urls)
    await say(fetch_text(m, report))
    if report.fetched:
        await rebuild_and_report(reindexer, say, m, changed=report.written(reindexer.corpus_dir))


class IndexWatcher:
    """Picks up an index published by another process (`python -m retrieval index`).

    The reload job ticks every few seconds.  Under load a check used to outlast
    the interval (it waited for a free worker thread behind the searches), and
    apscheduler logged "maximum number of running instances reached" at every
    tick.  Here a tick only starts a check when none is running and returns at
    once, so checks never overlap and the scheduler has nothing to report; the
    check runs on its own thread, so it does not queue behind searches.  A
    check is one SQLite read of the published generation number; the new
    generation is opened, and one line logged, only when that number changed.
    """

    def __init__(self, searcher):
        self.searcher = searcher
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="index-watch")
        self._check: asyncio.Task | None = None
        self.skipped = 0  # ticks that found a check still running

    def tick(self) -> asyncio.Task | None:
        """Start a check unless one is still running; the check's task, or None."""
        if self._check is not None and not self._check.done():
            self.skipped += 1
            return None
        self._check = asyncio.get_running_loop().create_task(self._reload(),
                                                             name="index-watch")
        return self._check

    async def _reload(self) -> bool:
        loop = asyncio.get_running_loop()
        try:
            if not await loop.run_in_executor(self._thread, self.searcher.reload):
                return False
            log.info("reloaded a newer index: %s",
                     await loop.run_in_executor(self._thread, self.searcher.stats))
            return True
        except Exception:  # the old index keeps serving; the next tick tries again
            log.exception("checking for a newer index failed")
            return False

    async def close(self) -> None:
        """Wait for a running check, then stop the thread (before the index is closed)."""
        if self._check is not None:
            await asyncio.gather(self._check, return_exceptions=True)
        self._thread.shutdown(wait=True)
