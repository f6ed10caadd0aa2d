"""Article links from RSS/Atom feeds and sitemaps (indexes and gzip ones too), with dates.

Parsed with lxml, entities and network access off.  trafilatura's own feed and
sitemap helpers fetch by themselves (outside crawl.py's rules) and drop the
dates, which `--since` needs, so they are not used here.
"""
from __future__ import annotations

import gzip
import io
import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin

from .crawl import Failure, Skip

LIST_MAX_KB = 50 * 1024  # sitemaps and feeds: the sitemap protocol's 50 MB, whatever max_page_kb says


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


