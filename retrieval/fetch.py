"""Portal pages -> corpus files: fetch article URLs, RSS/Atom feeds and sitemaps politely.

Each article page becomes `<corpus>/fetched/<host>/<slug>.md`, a front-matter
file (title, date, place, source, url) that the ordinary index build reads.
The page's main text and metadata come from trafilatura through
`articles.parse_html`, so fetched pages get the same Vietnamese rules
(headline, place, dates without a year) as files dropped in by hand.

Politeness and safety (settings in the `[fetch]` config table):
- robots.txt is honoured (its Crawl-delay too); a disallowed page is skipped;
- per host, at most `concurrency_per_host` requests at once and
  `requests_per_second` request starts; a named User-Agent;
- timeouts, retries with exponential backoff on 5xx and timeouts, a maximum
  page size, conditional GET (ETag / Last-Modified) on later runs;
- only http/https; redirects are followed by hand, so a redirect to another
  host (unless listed in `redirect_hosts`) or a loop is caught; loopback and
  private-network addresses are refused unless `allow_private`.

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
import codecs
import gzip
import hashlib
import io
import ipaddress
import logging
import os
import re
import socket
import sqlite3
import threading
import time
import uuid
import zlib
from collections.abc import Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpx

from .articles import _BANNER, UnusableFile, decode, infer_place, parse_text
from .config import FetchConfig
from .textnorm import fold, nfc
from .types import Article

log = logging.getLogger(__name__)

FETCHED_DIR = "fetched"
STATE_DB = "fetch.sqlite"
HTML_TYPES = ("text/html", "application/xhtml+xml")
MAX_SITEMAP_DEPTH = 3  # sitemap index -> sitemap -> ...: deeper nesting is a loop or a trap
LIST_MAX_KB = 50 * 1024  # sitemaps and feeds: the sitemap protocol's 50 MB, whatever max_page_kb says


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

    def summary(self) -> str:
        lines = [f"fetched (new or changed): {len(self.fetched)}"]
        lines += [f"  + {o.path}: {o.title} ({o.date or 'no date'})" for o in self.fetched]
        lines += [f"unchanged: {len(self.unchanged)}", f"skipped: {len(self.skipped)}"]
        lines += [f"  - {o.url}: {o.reason}" for o in self.skipped]
        lines.append(f"failed: {len(self.failed)}")
        lines += [f"  - {o.url}: {o.reason}" for o in self.failed]
        lines.append(f"time: {self.seconds:.1f} s")
        return "\n".join(lines)


class Skip(Exception):
    """This URL is left out by rule (robots, type, size, address...); the message says why."""


class Failure(Exception):
    """The portal or the network failed for this URL; the message says how."""


# ---------------------------------------------------------------- URLs

def canonical_url(url: str) -> str:
    """The key of a page: courlan's normalisation (lower-case host, default port and
    tracking parameters removed, query sorted) without the fragment.  Raises Skip
    for anything but http(s)."""
    from courlan import normalize_url

    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise Skip("only http and https addresses are fetched")
    return urlsplit(normalize_url(url))._replace(fragment="").geturl()


def _host_key(url: str) -> str:
    """"host" or "host:port" of a URL: what rate limits and robots.txt apply to."""
    return urlsplit(url).netloc.lower()


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

    def close(self) -> None:
        self.db.close()


# ---------------------------------------------------------------- politeness

class HostLimiter:
    """Per host: at most `concurrency` requests at once, request starts `interval` seconds apart."""

    def __init__(self, concurrency: int, requests_per_second: float) -> None:
        self.concurrency = concurrency
        self.interval = 1.0 / requests_per_second if requests_per_second > 0 else 0.0
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._next: dict[str, float] = {}
        self._delay: dict[str, float] = {}  # robots.txt Crawl-delay, when longer

    def set_delay(self, host: str, seconds: float) -> None:
        self._delay[host] = seconds

    @asynccontextmanager
    async def slot(self, host: str):
        sem = self._slots.setdefault(host, asyncio.Semaphore(self.concurrency))
        async with sem:
            interval = max(self.interval, self._delay.get(host, 0.0))
            if interval:
                async with self._locks.setdefault(host, asyncio.Lock()):
                    wait = self._next.get(host, 0.0) - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    self._next[host] = time.monotonic() + interval
            yield


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class AddressGuard:
    """Refuses hosts that resolve to loopback, private or other non-public addresses.

    The check runs before each request (redirect targets included); it does not
    stop a DNS answer that changes between the check and the connection.
    """

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._verdict: dict[str, str | None] = {}

    async def check(self, url: str) -> None:
        if self.allow_private:
            return
        host = urlsplit(url).hostname or ""
        if host not in self._verdict:
            self._verdict[host] = await self._judge(host)
        if self._verdict[host]:
            raise Skip(self._verdict[host])

    @staticmethod
    async def _judge(host: str) -> str | None:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError as e:
            raise Failure(f"cannot resolve host {host}: {e.strerror or e}") from None
        for *_, sockaddr in infos:
            if not _is_public(sockaddr[0]):
                return (f"{host} is a loopback or private-network address ({sockaddr[0]}); "
                        "allow it with fetch.allow_private or --allow-private")
        return None


# ---------------------------------------------------------------- HTTP

@dataclass
class Response:
    url: str  # final URL after redirects
    status: int
    headers: httpx.Headers
    body: bytes


class Fetcher:
    """GET with the politeness rules: robots.txt, limits, retries, redirects checked hop by hop."""

    def __init__(self, cfg: FetchConfig, allow_private: bool = False,
                 client: httpx.AsyncClient | None = None) -> None:
        self.cfg = cfg
        self.client = client or httpx.AsyncClient(
            headers={"User-Agent": cfg.user_agent}, follow_redirects=False,
            timeout=httpx.Timeout(cfg.timeout_seconds),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))
        self.limiter = HostLimiter(cfg.concurrency_per_host, cfg.requests_per_second)
        self.guard = AddressGuard(allow_private or cfg.allow_private)
        self._robots: dict[str, asyncio.Task] = {}

    async def close(self) -> None:
        await self.client.aclose()

    async def get(self, url: str, *, validators: dict | None = None, check_robots: bool = True,
                  limit_kb: int | None = None) -> Response:
        """The final response after redirects (304 included), at most `limit_kb`
        (default fetch.max_page_kb) long; raises Skip or Failure."""
        limit_kb = limit_kb or self.cfg.max_page_kb
        seen = {url}
        start_host = urlsplit(url).hostname
        allowed_hosts = {start_host, *self.cfg.redirect_hosts}
        for _ in range(self.cfg.max_redirects + 1):
            await self.guard.check(url)
            if check_robots:
                await self._check_robots(url)
            response = await self._get_once(url, validators, limit_kb)
            location = response.headers.get("location")
            if response.status not in (301, 302, 303, 307, 308) or not location:
                return response
            target = urljoin(url, location)
            try:
                target = canonical_url(target)
            except Skip:
                raise Skip(f"redirects to a non-http address: {location[:200]}") from None
            if urlsplit(target).hostname not in allowed_hosts:
                raise Skip(f"redirects to another host ({urlsplit(target).hostname}); "
                           "allow it with fetch.redirect_hosts")
            if target in seen:
                raise Failure("redirect loop")
            seen.add(target)
            url = target
            validators = None
        raise Failure(f"more than {self.cfg.max_redirects} redirects")

    async def _get_once(self, url: str, validators: dict | None, limit_kb: int) -> Response:
        """One request with retries on timeouts, connection errors and 5xx."""
        headers = {}
        if validators and validators.get("etag"):
            headers["If-None-Match"] = validators["etag"]
        if validators and validators.get("last_modified"):
            headers["If-Modified-Since"] = validators["last_modified"]
        problem, wait = "", 0.0
        for attempt in range(self.cfg.retries + 1):
            if attempt:
                await asyncio.sleep(max(wait, self.cfg.backoff_seconds * 2 ** (attempt - 1)))
            try:
                async with self.limiter.slot(_host_key(url)):
                    response = await asyncio.wait_for(self._read(url, headers, limit_kb),
                                                      self.cfg.timeout_seconds * 2)
            except (httpx.TimeoutException, TimeoutError):
                problem = f"timed out after {self.cfg.timeout_seconds:g} s"
                continue
            except httpx.TransportError as e:
                problem = f"connection failed: {type(e).__name__} {e}".strip()
                continue
            if response.status >= 500 or response.status == 429:  # 429: too many requests
                problem = f"HTTP {response.status}"
                wait = _retry_after(response.headers.get("retry-after"))
                continue
            if response.status >= 400 and response.status != 304:
                raise Failure(f"HTTP {response.status}")
            return response
        tries = self.cfg.retries + 1
        raise Failure(f"{problem} ({tries} {'try' if tries == 1 else 'tries'})")

    async def _read(self, url: str, headers: dict, limit_kb: int) -> Response:
        """Stream the body, giving up as soon as it exceeds the limit."""
        async with self.client.stream("GET", url, headers=headers) as r:
            size = r.headers.get("content-length")
            if size and size.isdigit() and int(size) > limit_kb * 1024:
                raise Skip(f"larger than {limit_kb} KB ({int(size) // 1024} KB)")
            chunks, total = [], 0
            async for chunk in r.aiter_raw():
                total += len(chunk)
                if total > limit_kb * 1024:
                    raise Skip(f"larger than {limit_kb} KB")
                chunks.append(chunk)
            body = _decompress(b"".join(chunks), r.headers.get("content-encoding", ""), limit_kb)
            return Response(str(r.url), r.status_code, r.headers, body)

    async def _check_robots(self, url: str) -> None:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._robots:
            self._robots[origin] = asyncio.ensure_future(self._load_robots(origin))
        robots = await self._robots[origin]
        if robots is None:
            return
        if not robots.can_fetch(self.cfg.user_agent, url):
            raise Skip("disallowed by robots.txt")

    async def _load_robots(self, origin: str) -> RobotFileParser | None:
        """robots.txt of a site (RFC 9309): missing (4xx) allows everything; an
        unreachable one (5xx, network) disallows everything for this run."""
        robots = RobotFileParser(origin + "/robots.txt")
        try:
            response = await self.get(origin + "/robots.txt", check_robots=False)
        except Failure as e:
            if str(e).startswith("HTTP 4"):
                return None
            robots.disallow_all = True
            log.warning("robots.txt of %s unavailable (%s): nothing fetched there", origin, e)
            return robots
        except Skip:
            return None  # e.g. robots.txt redirected to another host: treated as absent
        robots.parse(response.body.decode("utf-8", "replace").splitlines())
        delay = robots.crawl_delay(self.cfg.user_agent)
        if delay:
            self.limiter.set_delay(_host_key(origin), float(delay))
        return robots


def _retry_after(value: str | None, cap: float = 120.0) -> float:
    """Seconds a 429/503 asks us to wait (a number or an HTTP date), at most `cap`."""
    if not value:
        return 0.0
    if value.strip().isdigit():
        return min(float(value), cap)
    try:
        return min(max(0.0, parsedate_to_datetime(value).timestamp() - time.time()), cap)
    except (TypeError, ValueError, IndexError):
        return 0.0


def _decompress(body: bytes, encoding: str, limit_kb: int) -> bytes:
    """Undo Content-Encoding gzip/deflate with the size limit applied to the result."""
    encoding = encoding.lower().strip()
    if encoding not in ("gzip", "x-gzip", "deflate"):
        return body
    wbits = 16 + zlib.MAX_WBITS if "gzip" in encoding else zlib.MAX_WBITS
    try:
        out = zlib.decompressobj(wbits).decompress(body, limit_kb * 1024 + 1)
    except zlib.error as e:
        raise Failure(f"broken {encoding} compression: {e}") from None
    if len(out) > limit_kb * 1024:
        raise Skip(f"larger than {limit_kb} KB once decompressed")
    return out


# ---------------------------------------------------------------- feeds and sitemaps

@dataclass
class Link:
    url: str
    date: str | None = None  # ISO date from the feed or the sitemap's lastmod


def _xml_root(body: bytes):
    """Parse XML safely (no entities, no network); gzip bodies are unpacked first."""
    from lxml import etree

    if body[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(body)) as f:
                body = f.read(LIST_MAX_KB * 1024 + 1)
        except (OSError, EOFError) as e:
            raise Failure(f"broken gzip file: {e}") from None
        if len(body) > LIST_MAX_KB * 1024:
            raise Skip(f"larger than {LIST_MAX_KB} KB once decompressed")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True, huge_tree=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as e:
        raise Failure(f"not XML: {e}") from None
    if root is None:
        raise Failure("not XML")
    return root


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def _iso_date(text: str | None) -> str | None:
    """Sitemap/Atom (ISO 8601) or RSS (RFC 822) dates -> yyyy-mm-dd."""
    text = (text or "").strip()
    if not text:
        return None
    if m := re.match(r"^(\d{4})-(\d{2})-(\d{2})", text):
        return f"{m[1]}-{m[2]}-{m[3]}"
    try:
        return parsedate_to_datetime(text).date().isoformat()
    except (TypeError, ValueError, IndexError):
        return None


def _child_text(element, *names: str) -> str | None:
    for child in element:
        if _local(child.tag) in names and (child.text or "").strip():
            return child.text.strip()
    return None


def feed_links(body: bytes, base_url: str) -> list[Link]:
    """Article links of an RSS 2.0, RSS 1.0 (RDF) or Atom feed, with their dates."""
    root = _xml_root(body)
    links = []
    for element in root.iter():
        name = _local(element.tag)
        if name == "item":  # RSS
            url = _child_text(element, "link") or _child_text(element, "guid")
            when = _child_text(element, "pubdate", "date", "updated")
        elif name == "entry":  # Atom
            hrefs = [c.get("href") for c in element if _local(c.tag) == "link"
                     and c.get("rel", "alternate") == "alternate" and c.get("href")]
            url = hrefs[0] if hrefs else None
            when = _child_text(element, "published", "updated")
        else:
            continue
        if url:
            links.append(Link(urljoin(base_url, url.strip()), _iso_date(when)))
    if not links and _local(root.tag) not in ("rss", "feed", "rdf"):
        raise Failure("not an RSS or Atom feed")
    return links


def sitemap_entries(body: bytes) -> tuple[list[str], list[Link]]:
    """(child sitemaps, pages) of a sitemap or sitemap index (gzip or not)."""
    root = _xml_root(body)
    kind = _local(root.tag)
    if kind not in ("urlset", "sitemapindex"):
        raise Failure("not a sitemap (no urlset or sitemapindex)")
    children, pages = [], []
    for element in root:
        loc = _child_text(element, "loc")
        if not loc:
            continue
        if _local(element.tag) == "sitemap":
            children.append(loc)
        elif _local(element.tag) == "url":
            pages.append(Link(loc, _iso_date(_child_text(element, "lastmod"))))
    return children, pages


# ---------------------------------------------------------------- pages -> files

def page_text(response: Response) -> str:
    """The HTML of a response as text; raises Skip for other types or broken encodings."""
    ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
    body = response.body
    if ctype and ctype not in HTML_TYPES:
        raise Skip(f"not an HTML page ({ctype})")
    if not ctype and not re.search(rb"<(html|body|p|article)\b", body[:4096], re.I):
        raise Skip("not an HTML page (no content type, no HTML tags)")
    charset = _declared_charset(response.headers.get("content-type", ""), body)
    if charset:
        try:
            return decode_declared(body, charset)
        except UnusableFile as e:
            raise Skip(str(e)) from None
    try:
        return decode(body)
    except UnusableFile as e:
        raise Skip(str(e)) from None


def _declared_charset(content_type: str, body: bytes) -> str | None:
    m = re.search(r"charset=[\"']?([\w.:-]+)", content_type, re.I)
    if not m:
        m = re.search(rb"<meta[^>]+charset=[\"']?([\w.:-]+)", body[:4096], re.I)
    if not m:
        return None
    name = m[1].decode("ascii", "replace") if isinstance(m[1], bytes) else m[1]
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_declared(body: bytes, charset: str) -> str:
    """Decode with the page's own charset; a page mostly undecodable in it is refused
    rather than indexed as garbage, a few bad bytes are replaced."""
    if b"\x00" in body[:4096]:
        raise UnusableFile("binary file (contains NUL bytes)")
    try:
        return body.decode(charset)
    except UnicodeDecodeError:
        pass
    if charset != "utf-8":
        try:
            return body.decode("utf-8")  # a common mislabel
        except UnicodeDecodeError:
            pass
    text = body.decode(charset, "replace")
    if text.count("\ufffd") > max(10, len(text) // 200):
        raise UnusableFile(f"broken encoding: many bytes are not valid {charset}")
    return text


def _trusted_title(title: str | None, sitename: str | None) -> bool:
    """A page title worth keeping: not missing, not the site's name or banner (old portals
    put the site name in <title> and the headline in a styled span)."""
    if not title or _BANNER.match(title.strip()):
        return False
    return not (sitename and fold(title).lower().strip() == fold(sitename).lower().strip())


def extract_article(html: str, url: str, min_chars: int = 150) -> Article:
    """Main text and metadata by trafilatura, then the project's Vietnamese rules.

    Dates come only from the page's markup (meta tags, <time>, the URL): htmldate's
    extensive search turns a bare "năm 2024" into 1 January, whereas the text's
    "ngày 5/3" with the year the headline implies is what the articles.py rules
    read.  When the page's title is only the site's name, the headline is in the
    text: a recall-oriented extraction keeps it, and the raw-page rules pick it
    out from captions and banners.  Raises UnusableFile when there is no article.
    """
    import trafilatura  # slow to import; only fetching needs it here

    options = {"url": url, "with_metadata": True, "include_comments": False,
               "date_extraction_params": {"extensive_search": False, "original_date": True}}
    doc = trafilatura.bare_extraction(html, favor_precision=True, **options)
    title = doc.title if doc else None
    if doc is None or not (doc.text or "").strip() or not _trusted_title(title, doc.sitename):
        doc = trafilatura.bare_extraction(html, favor_recall=True, **options) or doc
        title = title if doc and _trusted_title(title, doc.sitename) else None
    if doc is None or len((doc.text or "").strip()) < min_chars:
        raise UnusableFile("no article text on the page")
    meta = {"title": title, "date": doc.date,
            "source": " · ".join(x for x in (doc.author, doc.sitename) if x) or None}
    text = nfc(doc.text)
    article = parse_text(text, url, {k: nfc(v) for k, v in meta.items() if v})
    if not article.place:
        article.place = infer_place(article.title, [nfc(doc.sitename)] if doc.sitename else [], text)
    if sum(len(p) for p in article.paragraphs) < min_chars:
        raise UnusableFile("no article text on the page")
    return article


def render_markdown(article, url: str, fallback_source: str, fallback_date: str | None) -> str:
    """The corpus file for a page: front matter the parser honours, then one paragraph a line."""
    def one_line(value: str) -> str:
        return " ".join(str(value).split())

    meta = {"title": article.title, "date": article.date or fallback_date, "place": article.place,
            "source": article.source or fallback_source, "url": url}
    head = [f"{k}: {one_line(v)}" for k, v in meta.items() if v]
    return "---\n" + "\n".join(head) + "\n---\n\n" + "\n\n".join(article.paragraphs) + "\n"


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
        self._seen: set[str] = set()
        self._paths: dict[str, str] = {}  # corpus-relative path -> URL, within this run
        self._texts: dict[str, str] = {}  # text hash -> URL, within this run
        self._lock = asyncio.Lock()  # serialises choosing paths and writing state

    def _too_old(self, link: Link) -> bool:
        return bool(self.since and link.date and link.date < self.since.isoformat())

    async def links_of_feed(self, url: str) -> list[Link]:
        response = await self.fetcher.get(canonical_url(url), limit_kb=LIST_MAX_KB)
        return feed_links(response.body, response.url)

    async def links_of_sitemap(self, url: str, depth: int = 0, seen: set | None = None) -> list[Link]:
        seen = seen if seen is not None else set()
        url = canonical_url(url)
        if url in seen or depth > MAX_SITEMAP_DEPTH:
            return []
        seen.add(url)
        response = await self.fetcher.get(url, limit_kb=LIST_MAX_KB)
        children, pages = sitemap_entries(response.body)
        for child in children:
            try:
                pages += await self.links_of_sitemap(urljoin(response.url, child), depth + 1, seen)
            except (Skip, Failure) as e:
                self._record_source_problem(child, e)
        return pages

    def _record_source_problem(self, url: str, problem: Exception) -> None:
        outcome = Outcome(url, f"feed/sitemap: {problem}")
        (self.report.skipped if isinstance(problem, Skip) else self.report.failed).append(outcome)

    async def page(self, link: Link) -> None:
        """Fetch one page into the corpus, recording its outcome."""
        try:
            url = canonical_url(link.url)
        except Skip as e:
            self.report.skipped.append(Outcome(link.url, str(e)))
            return
        if url in self._seen:
            return
        self._seen.add(url)
        if len(self._seen) > self.max_pages:
            self.report.skipped.append(Outcome(url, f"over fetch.max_pages ({self.max_pages}) this run"))
            return
        if self._too_old(link):
            self.report.skipped.append(Outcome(url, f"older than --since ({link.date})"))
            return
        try:
            outcome, written = await self._page(url, link)
        except Skip as e:
            self.report.skipped.append(Outcome(url, str(e)))
        except Failure as e:
            self.report.failed.append(Outcome(url, str(e)))
        except Exception as e:  # a bug or a page no rule foresaw: report it, go on
            log.exception("fetching %s failed", url)
            self.report.failed.append(Outcome(url, f"unexpected error: {type(e).__name__}: {e}"))
        else:
            (self.report.fetched if written else self.report.unchanged).append(outcome)

    async def _page(self, url: str, link: Link) -> tuple[Outcome, bool]:
        known = await asyncio.to_thread(self.state.get, url)
        rel_known = known["path"] if known else None
        validators = known if known and rel_known and (self.corpus_dir / rel_known).exists() else None
        response = await self.fetcher.get(url, validators=validators)
        if response.status == 304:
            return Outcome(url, path=rel_known, title=known["title"], date=known["date"]), False
        html = page_text(response)
        host = urlsplit(url).hostname or ""
        try:
            article = await asyncio.to_thread(extract_article, html, url, self.min_chars)
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
    m = re.search(rf"^{key}: (.*)$", text.split("\n---\n", 1)[0], re.M)
    return m[1] if m else None


def _file_url(path: Path) -> str | None:
    """The url in an existing fetched file's front matter (the state may have been lost)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            head = f.read(4096)
    except OSError:
        return None
    return _front_value(head, "url")


async def fetch_async(corpus_dir: str | Path, cfg: FetchConfig, state_path: str | Path, *,
                      urls: Iterable[str] = (), feeds: Iterable[str] = (), sitemaps: Iterable[str] = (),
                      since: date | None = None, allow_private: bool = False) -> FetchReport:
    """Fetch pages, and the pages listed by feeds and sitemaps, into `corpus_dir`."""
    started = time.monotonic()
    corpus_dir = Path(corpus_dir)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    state = FetchState(Path(state_path))
    fetcher = Fetcher(cfg, allow_private=allow_private)
    run = FetchRun(corpus_dir, state, fetcher, since, cfg.max_pages, cfg.min_text_chars)
    try:
        links = [Link(u) for u in urls]
        for source, lister in [(f, run.links_of_feed) for f in feeds] + \
                              [(s, run.links_of_sitemap) for s in sitemaps]:
            try:
                links += await lister(source)
            except (Skip, Failure) as e:
                run._record_source_problem(source, e)
        queue: asyncio.Queue[Link] = asyncio.Queue()
        for link in links:
            queue.put_nowait(link)

        async def worker() -> None:
            while not queue.empty():
                await run.page(queue.get_nowait())

        workers = max(1, min(len(links), cfg.workers))
        await asyncio.gather(*(worker() for _ in range(workers)))
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
