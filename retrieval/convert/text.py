"""`.txt` and `.md` files -> Article: a raw scraped page, optionally under a front-matter block.

Front matter is a leading `---` block of `key: value` lines; what it states
(title, date, place, source, url) wins over what the page's rules infer.  The
fetcher writes every page it fetches in this form (`render`), so reading and
writing the format live here together.
"""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from ..articles import parse_text
from ..types import Article
from .decode import decode, read_source

# The keys a fetched page's file carries, in the order they are written.
FRONT_MATTER_KEYS = ("title", "date", "date_source", "place", "source", "url")


def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """Read a leading `---` block of `key: value` lines.

    Deliberately not YAML: values here are plain Vietnamese text that often
    holds colons and quotes, which YAML would misread.
    """
    lines = text.lstrip("\ufeff").split("\n")
    if not lines or lines[0].strip() != "---":
        return {}, text
    for end in range(1, len(lines)):
        if lines[end].strip() == "---":
            break
    else:
        return {}, text
    meta: dict[str, str] = {}
    for line in lines[1:end]:
        key, sep, value = line.partition(":")
        if sep:
            value = value.strip().strip('"').strip("'").strip()
            if value:
                meta[key.strip().lower()] = value
    return meta, "\n".join(lines[end + 1:])


def _front_matter_value(value: str) -> str:
    """One line, and straight double quotes as “…”: the reader strips quotes at the ends
    of a value, which would cut the closing one of 'Hội thi "Dân vận khéo"'."""
    return re.sub(r'"([^"\n]*)"', "“\\1”", " ".join(str(value).split()))


def render(meta: dict[str, str | None], paragraphs: list[str]) -> str:
    """A file this module reads back as the same article: front matter, then one paragraph
    a line (blank lines between).  Keys outside FRONT_MATTER_KEYS and empty values are left out."""
    head = [f"{k}: {meta[k] if k == 'url' else _front_matter_value(meta[k])}"
            for k in FRONT_MATTER_KEYS if meta.get(k)]
    return "---\n" + "\n".join(head) + "\n---\n\n" + "\n\n".join(paragraphs) + "\n"


def to_article(source: bytes | Path, article_id: str, *, url: str | None = None,
               charset: str | None = None, now: date | None = None) -> Article:
    """A text file (path or bytes) -> Article; `url` stands in for a front-matter url,
    `now` is when the page was read (no date after it is believed)."""
    meta, body = split_front_matter(decode(read_source(source), charset))
    if url:
        meta.setdefault("url", url)
    return parse_text(body, article_id, meta, now)
