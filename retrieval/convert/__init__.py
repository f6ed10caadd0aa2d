"""Corpus files and fetched pages -> Articles: one converter per format.

Each converter takes a path or bytes, the article's id and what the source
tells (its URL, its declared charset, when it was read) and returns one
Article, or raises UnusableFile with a reason a person can act on:

- text.py: `.txt` and `.md`, raw scraped pages optionally under front matter;
- html.py: `.html`/`.htm` files and the pages the fetcher brings from portals.

All of them decode through decode.py and end with the page rules of articles/.
"""
from __future__ import annotations

import os
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
    return [Path(entry.path) for _, entry in corpus_entries(corpus_dir)]


def corpus_entries(corpus_dir: Path, ordered: bool = True) -> list[tuple[str, os.DirEntry]]:
    """(path relative to the corpus folder, POSIX style; its directory entry) of each
    file `corpus_files` lists, in the same order (`corpus_order`), or in the order the
    folders list them (`ordered` False: a build sorts only the files that changed).

    Why os.scandir rather than Path.rglob: a build that changes one file still scans
    every file, and rglob made a Path, two stats and a relative path of each (8 s for
    18k files on a loaded machine, the most of adding one article).  Like rglob, it
    does not follow links to folders and skips folders it may not read.
    """
    found: list[tuple[str, os.DirEntry]] = []

    def walk(folder: str, prefix: str) -> None:
        try:
            with os.scandir(folder) as entries:
                listed = list(entries)
        except PermissionError:
            return
        for entry in listed:
            name = entry.name
            if name.startswith("."):
                continue
            if entry.is_dir():
                if not entry.is_symlink():
                    walk(entry.path, f"{prefix}{name}/")
            elif entry.is_file() and _listed(name):
                found.append((prefix + name, entry))

    walk(str(corpus_dir), "")
    if ordered:
        found.sort(key=lambda item: corpus_order(item[0]))
    return found


def _listed(name: str) -> bool:
    """Is a file of this name (not hidden) part of the corpus?  str.endswith on the
    lower-cased name: Path.suffix's rule for names not starting with a dot, in C (a
    third of the listing's time at 182k files)."""
    lower = name.lower()
    return lower.endswith(SUPPORTED_SUFFIXES) and lower != "readme.md"


def corpus_name(corpus_dir: Path, path: str | Path) -> str | None:
    """`path` as corpus_entries names it (relative to the corpus folder, POSIX style) when
    a file there is part of the corpus, whether or not it exists now (a file just
    removed is named too); None for a path outside the folder, hidden, or of another type."""
    full = Path(os.path.abspath(path))
    try:
        parts = full.relative_to(os.path.abspath(corpus_dir)).parts
    except ValueError:
        return None
    if not parts or any(p.startswith(".") for p in parts) or not _listed(parts[-1]):
        return None
    return "/".join(parts)


def corpus_order(rel: str) -> list[str]:
    """Sort key of corpus files by relative path: Path order (component by component)."""
    return rel.split("/")
