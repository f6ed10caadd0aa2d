"""Corpus files and fetched pages -> Articles: one converter per format.

Each converter takes a path or bytes, the article's id and what the source
tells (its URL, its declared charset, when it was read) and returns one
Article, or raises UnusableFile with a reason a person can act on:

- text.py: `.txt` and `.md`, raw scraped pages optionally under front matter;
- html.py: `.html`/`.htm` files and the pages the fetcher brings from portals.

All of them decode through decode.py and end with the page rules of articles.py.
"""
from __future__ import annotations

from datetime import date
from pathlib import Path

from ..types import Article, UnusableFile
from . import html, text

CONVERTERS = {".txt": text.to_article, ".md": text.to_article,
              ".html": html.to_article, ".htm": html.to_article}
SUPPORTED_SUFFIXES = tuple(CONVERTERS)  # what the corpus reads, and so what admins may upload


def article_id_for(path: Path, corpus_dir: Path) -> str:
    return path.relative_to(corpus_dir).with_suffix("").as_posix()


def read_article(path: Path, corpus_dir: Path, now: date | None = None) -> Article:
    """Convert one corpus file (read at `now`, today by default); raises UnusableFile with the reason."""
    convert = CONVERTERS.get(path.suffix.lower())
    if convert is None:
        raise UnusableFile(f"not a supported file type (only {', '.join(SUPPORTED_SUFFIXES)})")
    article = convert(path, article_id_for(path, corpus_dir), now=now)
    article.path = path.relative_to(corpus_dir).as_posix()
    return article


def corpus_files(corpus_dir: Path) -> list[Path]:
    """Every supported file under the corpus folder (sub-folders too), hidden ones excluded."""
    return sorted(
        p for p in corpus_dir.rglob("*")
        if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(corpus_dir).parts)
        and p.name.lower() != "readme.md"
    )
