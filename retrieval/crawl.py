"""Polite, safe HTTP for fetching portal pages: the rules every request follows.

- robots.txt (urllib.robotparser, RFC 9309: a missing one allows everything, an
  unreachable one disallows everything for the run; Crawl-delay honoured);
- per host, at most `concurrency_per_host` requests at once and
  `requests_per_second` request starts; the configured User-Agent;
- timeouts, retries with exponential backoff on timeouts, connection errors,
  5xx and 429 (Retry-After honoured); a maximum size, streamed;
- conditional GET (ETag / Last-Modified) when the caller has validators;
- only http/https; redirects followed hop by hop, refused to other hosts
  (unless listed in `redirect_hosts`), loops caught; loopback and private
  addresses refused unless allowed.

A URL that must be left out raises `Skip`, a portal or network failure raises
`Failure`; both carry the reason a person reads in the fetch summary.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
import zlib
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpx

from .config import FetchConfig

log = logging.getLogger(__name__)


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


# ---------------------------------------------------------------- limits and addresses

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


