"""Portal pages -> corpus files: fetch article URLs, RSS/Atom feeds and sitemaps politely.

Each article page becomes `<corpus>/fetched/<host>/<slug>.md`, a front-matter
file (title, date, place, source, url) that the ordinary index build reads.
The page becomes an Article through the same HTML converter as an `.html` file
dropped in by hand (retrieval/convert/html.py), so fetched pages get the same
Vietnamese rules (headline, place, dates without a year).

Every request follows the politeness and safety rules of crawl.py (robots.txt,
per-host limits, retries, size limit, redirects, private addresses); feeds and
sitemaps are read by listings.py.

Deduplication: pages are keyed by their canonical URL (lower-case host,
default port, fragment and tracking parameters removed, by courlan); the state
(validators, content hashes, which file holds which URL) lives in SQLite
(`fetch.sqlite` in the index folder).  A page whose text is unchanged leaves
its file untouched, so the incremental index does nothing for it; the same
text under a second URL is skipped as a duplicate.

Nothing a portal sends can stop a run: each failure is reported with its
reason and the run goes on.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from .config import FetchConfig
from .convert import html as html_converter
from .convert import text as text_format
from .convert.decode import header_charset
from .crawl import Failure, Fetcher, Response, Skip, canonical_url
from .listings import LIST_MAX_KB, Link, feed_links, sitemap_entries
from .textnorm import fold
from .types import Article, UnusableFile

log = logging.getLogger(__name__)

__all__ = ["FetchReport", "Failure", "Outcome", "Skip", "canonical_url", "fetch", "fetch_async",
           "parse_since"]

FETCHED_DIR = "fetched"
HTML_TYPES = ("text/html", "application/xhtml+xml")
MAX_SITEMAP_DEPTH = 3  # sitemap index -> sitemap -> ...: deeper nesting is a loop or a trap


# ---------------------------------------------------------------- report

@dataclass
class Outcome:
    """What happened to one URL."""

    url: str
    reason: str = ""  # for skipped and failed pages
    path: str | None = None  # corpus-relative file, for fetched and unchanged pages
    title: str | None = None
    date: str | None = None


@dataclass
class FetchReport:
    """A run's result, for the CLI summary and the bot's reply."""

    fetched: list[Outcome] = field(default_factory=list)  # new or changed: file written
    unchanged: list[Outcome] = field(default_factory=list)  # file untouched
    skipped: list[Outcome] = field(default_factory=list)  # by rule: robots, type, size, duplicate...
    failed: list[Outcome] = field(default_factory=list)  # the portal or the network failed
    seconds: float = 0.0

    def written(self, corpus_dir: Path) -> list[Path]:
        """The corpus files this run wrote: what the build that follows is told changed."""
        return [Path(corpus_dir) / o.path for o in self.fetched if o.path]

    def summary(self) -> str:
        lines = [f"fetched (new or changed): {len(self.fetched)}"]
        lines += [f"  + {o.path}: {o.title} ({o.date or 'no date'})" for o in self.fetched]
        lines += [f"unchanged: {len(self.unchanged)}", f"skipped: {len(self.skipped)}"]
        lines += [f"  - {o.url}: {o.reason}" for o in self.skipped]
        lines.append(f"failed: {len(self.failed)}")
        lines += [f"  - {o.url}: {o.reason}" for o in self.failed]
        lines.append(f"time: {self.seconds:.1f} s")
        return "\n".join(lines)


# ---------------------------------------------------------------- file names

def _slug(url: str) -> tuple[str, str]:
    """(folder, file stem) for a page: the host, and its path in plain ASCII."""
    parts = urlsplit(url)
    host = re.sub(r"[^a-z0-9.-]+", "_", parts.netloc.lower()).strip("._") or "host"
    segments = [s for s in parts.path.split("/") if s]
    stem = re.sub(r"\.(html?|php|aspx?|jsp)$", "", segments[-1], flags=re.I) if segments else "index"
    if parts.query:
        stem += "-" + parts.query
    stem = re.sub(r"[^a-z0-9]+", "-", fold(unquote(stem)).lower()).strip("-")[:80] or "index"
    return host, stem


# ---------------------------------------------------------------- state

class FetchState:
    """SQLite record of every page fetched: validators, hashes and the file holding it.

    Called from worker threads (asyncio.to_thread), one at a time through a lock.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.db = sqlite3.connect(path, check_same_thread=False, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS pages ("
            " url TEXT PRIMARY KEY, path TEXT, etag TEXT, last_modified TEXT,"
            " body_hash TEXT, title TEXT, date TEXT, fetched_at REAL)")
        self.db.execute("CREATE INDEX IF NOT EXISTS pages_hash ON pages(body_hash)")
        self.db.execute("CREATE UNIQUE INDEX IF NOT EXISTS pages_path ON pages(path)")
        # The last run of each source (a feed, a sitemap, or "pages": single URLs), for
        # the admins' report: when, how many pages of each outcome, the failures' reasons.
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS runs ("
            " source TEXT PRIMARY KEY, started_at REAL, finished_at REAL, fetched INTEGER,"
            " unchanged INTEGER, skipped INTEGER, failed INTEGER, failures TEXT)")

    def _one(self, sql: str, args: tuple) -> tuple | None:
        with self._lock:
            return self.db.execute(sql, args).fetchone()

    def get(self, url: str) -> dict | None:
        row = self._one("SELECT path, etag, last_modified, body_hash, title, date FROM pages"
                        " WHERE url = ?", (url,))
        if row is None:
            return None
        return dict(zip(("path", "etag", "last_modified", "body_hash", "title", "date"), row,
                        strict=True))

    def url_with_hash(self, body_hash: str, other_than: str) -> str | None:
        row = self._one("SELECT url FROM pages WHERE body_hash = ? AND url != ? LIMIT 1",
                        (body_hash, other_than))
        return row[0] if row else None

    def path_owner(self, path: str) -> str | None:
        row = self._one("SELECT url FROM pages WHERE path = ?", (path,))
        return row[0] if row else None

    def put(self, url: str, path: str, etag: str | None, last_modified: str | None,
            body_hash: str, title: str | None, date: str | None) -> None:
        with self._lock, self.db:
            self.db.execute(
                "INSERT INTO pages VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(url) DO UPDATE SET"
                " path=excluded.path, etag=excluded.etag, last_modified=excluded.last_modified,"
                " body_hash=excluded.body_hash, title=excluded.title, date=excluded.date,"
                " fetched_at=excluded.fetched_at",
                (url, path, etag, last_modified, body_hash, title, date, time.time()))

    def record_run(self, source: str, started_at: float, report: FetchReport) -> None:
        """Keep `report` as the last run of `source` (its first failures with reasons)."""
        failures = [{"url": o.url, "reason": o.reason} for o in report.failed[:MAX_FAILURES_KEPT]]
        with self._lock, self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (source, started_at, time.time(), len(report.fetched), len(report.unchanged),
                 len(report.skipped), len(report.failed), json.dumps(failures, ensure_ascii=False)))

    def close(self) -> None:
        self.db.close()


MAX_FAILURES_KEPT = 20
PAGES_SOURCE = "pages"  # the source name of single article URLs (config pages, /add)


def last_runs(path: str | Path) -> list[dict]:
    """Each source's last run, newest first, read without writing (the bot may be
    fetching); [] when nothing was ever fetched."""
    path = Path(path)
    if not path.is_file():
        return []
    db = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True)
    try:
        db.execute("PRAGMA busy_timeout=5000")
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'runs'").fetchone():
            return []
        rows = db.execute("SELECT source, started_at, finished_at, fetched, unchanged, skipped,"
                          " failed, failures FROM runs ORDER BY finished_at DESC").fetchall()
    finally:
        db.close()
    names = ("source", "started_at", "finished_at", "fetched", "unchanged", "skipped", "failed")
    return [{**dict(zip(names, r[:7], strict=True)), "failures": json.loads(r[7] or "[]")}
            for r in rows]


# ---------------------------------------------------------------- pages -> files

def check_html(response: Response) -> None:
    """Raise Skip unless the response is an HTML page (by its type, else by its first tags)."""
    ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype and ctype not in HTML_TYPES:
        raise Skip(f"not an HTML page ({ctype})")
    if not ctype and not re.search(rb"<(html|body|p|article)\b", response.body[:4096], re.I):
        raise Skip("not an HTML page (no content type, no HTML tags)")


def page_article(response: Response, url: str, min_chars: int) -> Article:
    """The article of an HTML response, through the one HTML converter; raises UnusableFile."""
    charset = header_charset(response.headers.get("content-type", ""))
    return html_converter.to_article(response.body, url, url=url, charset=charset,
                                     min_chars=min_chars)


def render_markdown(article: Article, url: str, fallback_source: str, fallback_date: str | None) -> str:
    """The corpus file for a page: front matter the text converter honours, then the paragraphs."""
    meta = {"title": article.title, "date": article.date or fallback_date,
            "date_source": article.date_source if article.date else None, "place": article.place,
            "source": article.source or fallback_source, "url": url}
    return text_format.render(meta, article.paragraphs)


def _write_if_changed(path: Path, text: str) -> bool:
    """Write atomically unless the file already holds exactly this text."""
    data = text.encode("utf-8")
    if path.exists() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".fetch-{uuid.uuid4().hex}.tmp"  # hidden: an index build skips it
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return True


# ---------------------------------------------------------------- a run

class FetchRun:
    """One pass over URLs, feeds and sitemaps into a corpus folder."""

    def __init__(self, corpus_dir: Path, state: FetchState, fetcher: Fetcher,
                 since: date | None, max_pages: int, min_chars: int) -> None:
        self.corpus_dir = corpus_dir
        self.state = state
        self.fetcher = fetcher
        self.since = since
        self.max_pages = max_pages
        self.min_chars = min_chars
        self.report = FetchReport()
        self.by_source: dict[str, FetchReport] = {}  # the same outcomes, per source
        self._seen: set[str] = set()
        self._paths: dict[str, str] = {}  # corpus-relative path -> URL, within this run
        self._texts: dict[str, str] = {}  # text hash -> URL, within this run
        self._lock = asyncio.Lock()  # serialises choosing paths and writing state

    def _too_old(self, link: Link) -> bool:
        return bool(self.since and link.date and link.date < self.since.isoformat())

    async def links_of_feed(self, url: str) -> list[Link]:
        response = await self.fetcher.get(canonical_url(url), limit_kb=LIST_MAX_KB)
        return feed_links(response.body, response.url)

    async def links_of_sitemap(self, url: str, depth: int = 0, seen: set | None = None,
                               source: str | None = None) -> list[Link]:
        seen = seen if seen is not None else set()
        source = source or url
        url = canonical_url(url)
        if url in seen or depth > MAX_SITEMAP_DEPTH:
            return []
        seen.add(url)
        response = await self.fetcher.get(url, limit_kb=LIST_MAX_KB)
        children, pages = sitemap_entries(response.body)
        for child in children:
            try:
                pages += await self.links_of_sitemap(urljoin(response.url, child), depth + 1, seen,
                                                     source)
            except (Skip, Failure) as e:
                self._record_source_problem(child, e, source)
        return pages

    def _record_source_problem(self, url: str, problem: Exception, source: str | None = None) -> None:
        outcome = Outcome(url, f"feed/sitemap: {problem}")
        self._add("skipped" if isinstance(problem, Skip) else "failed", outcome, source or url)

    def _add(self, kind: str, outcome: Outcome, source: str) -> None:
        """Record an outcome ("fetched", "unchanged", "skipped", "failed") in the run's
        report and in its source's."""
        getattr(self.report, kind).append(outcome)
        getattr(self.by_source.setdefault(source, FetchReport()), kind).append(outcome)

    async def page(self, link: Link, source: str = PAGES_SOURCE) -> None:
        """Fetch one page into the corpus, recording its outcome under `source`."""
        try:
            url = canonical_url(link.url)
        except Skip as e:
            self._add("skipped", Outcome(link.url, str(e)), source)
            return
        if url in self._seen:
            return
        self._seen.add(url)
        if len(self._seen) > self.max_pages:
            self._add("skipped", Outcome(url, f"over fetch.max_pages ({self.max_pages}) this run"),
                      source)
            return
        if self._too_old(link):
            self._add("skipped", Outcome(url, f"older than --since ({link.date})"), source)
            return
        try:
            outcome, written = await self._page(url, link)
        except Skip as e:
            self._add("skipped", Outcome(url, str(e)), source)
        except Failure as e:
            self._add("failed", Outcome(url, str(e)), source)
        except Exception as e:  # a bug or a page no rule foresaw: report it, go on
            log.exception("fetching %s failed", url)
            self._add("failed", Outcome(url, f"unexpected error: {type(e).__name__}: {e}"), source)
        else:
            self._add("fetched" if written else "unchanged", outcome, source)

    async def _page(self, url: str, link: Link) -> tuple[Outcome, bool]:
        known = await asyncio.to_thread(self.state.get, url)
        rel_known = known["path"] if known else None
        validators = known if known and rel_known and (self.corpus_dir / rel_known).exists() else None
        response = await self.fetcher.get(url, validators=validators)
        if response.status == 304:
            return Outcome(url, path=rel_known, title=known["title"], date=known["date"]), False
        check_html(response)
        host = urlsplit(url).hostname or ""
        try:
            article = await asyncio.to_thread(page_article, response, url, self.min_chars)
        except UnusableFile as e:
            raise Skip(str(e)) from None
        text = render_markdown(article, url, host, link.date)
        body_hash = hashlib.sha256("\n".join(article.paragraphs).encode("utf-8")).hexdigest()
        async with self._lock:
            twin = self._texts.get(body_hash) or await asyncio.to_thread(
                self.state.url_with_hash, body_hash, url)
            if twin and twin != url:
                raise Skip(f"same article text as {twin}")
            self._texts[body_hash] = url
            rel = rel_known or self._choose_path(url)
            self._paths[rel] = url
        written = await asyncio.to_thread(_write_if_changed, self.corpus_dir / rel, text)
        title, when = _front_value(text, "title"), _front_value(text, "date")
        await asyncio.to_thread(self.state.put, url, rel, response.headers.get("etag"),
                                response.headers.get("last-modified"), body_hash, title, when)
        return Outcome(url, path=rel, title=title, date=when), written

    def _choose_path(self, url: str) -> str:
        """A file for a new URL: host/slug.md, with a hash suffix when another URL holds it."""
        host, stem = _slug(url)
        rel = f"{FETCHED_DIR}/{host}/{stem}.md"
        owner = self._paths.get(rel) or self.state.path_owner(rel) or _file_url(self.corpus_dir / rel)
        if owner and owner != url:
            digest = hashlib.sha1(url.encode("utf-8")).hexdigest()[:8]
            rel = f"{FETCHED_DIR}/{host}/{stem[:70]}-{digest}.md"
        return rel


def _front_value(text: str, key: str) -> str | None:
    return text_format.split_front_matter(text)[0].get(key)


def _file_url(path: Path) -> str | None:
    """The url in an existing fetched file's front matter (the state may have been lost)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            head = f.read(16384)
    except OSError:
        return None
    return _front_value(head, "url")


async def fetch_async(corpus_dir: str | Path, cfg: FetchConfig, state_path: str | Path, *,
                      urls: Iterable[str] = (), feeds: Iterable[str] = (), sitemaps: Iterable[str] = (),
                      since: date | None = None, allow_private: bool = False) -> FetchReport:
    """Fetch pages, and the pages listed by feeds and sitemaps, into `corpus_dir`."""
    started, started_at = time.monotonic(), time.time()
    corpus_dir = Path(corpus_dir)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    state = FetchState(Path(state_path))
    fetcher = Fetcher(cfg, allow_private=allow_private)
    run = FetchRun(corpus_dir, state, fetcher, since, cfg.max_pages, cfg.min_text_chars)
    try:
        links = [(PAGES_SOURCE, Link(u)) for u in urls]
        sources = [PAGES_SOURCE] if links else []
        for source, lister in [(f, run.links_of_feed) for f in feeds] + \
                              [(s, run.links_of_sitemap) for s in sitemaps]:
            sources.append(source)
            try:
                links += [(source, link) for link in await lister(source)]
            except (Skip, Failure) as e:
                run._record_source_problem(source, e)
        queue: asyncio.Queue[tuple[str, Link]] = asyncio.Queue()
        for item in links:
            queue.put_nowait(item)

        async def worker() -> None:
            while not queue.empty():
                source, link = queue.get_nowait()
                await run.page(link, source)

        workers = max(1, min(len(links), cfg.workers))
        await asyncio.gather(*(worker() for _ in range(workers)))
        for source in dict.fromkeys(sources):
            await asyncio.to_thread(state.record_run, source, started_at,
                                    run.by_source.get(source, FetchReport()))
    finally:
        await fetcher.close()
        state.close()
    run.report.seconds = time.monotonic() - started
    return run.report


def fetch(corpus_dir: str | Path, cfg: FetchConfig, state_path: str | Path, **kwargs) -> FetchReport:
    """`fetch_async` for synchronous callers (the CLI; the bot calls it in a worker thread)."""
    return asyncio.run(fetch_async(corpus_dir, cfg, state_path, **kwargs))


def parse_since(value: str) -> date:
    """--since: yyyy-mm-dd or dd/mm/yyyy."""
    value = value.strip()
    try:
        if m := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", value):
            return date(int(m[3]), int(m[2]), int(m[1]))
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise ValueError(f"--since must be a date like 2024-01-31 or 31/01/2024, found {value!r}") from None
