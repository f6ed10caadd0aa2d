"""Articles -> Passages of paragraph size.

A passage is what a person reads in an answer, so it follows the article's
own paragraphs: fragments such as photo captions are merged into a
neighbour, and paragraphs too long to read (or to fit the embedding model's
512-token window) are cut at sentence boundaries into balanced pieces.
"""
from __future__ import annotations

import math
import re

from .config import SplitConfig
from .textnorm import sentences
from .types import Article, Passage

# A sentence longer than a passage is cut after its commas, semicolons and colons.
_PHRASE_END = re.compile(r"(?<=[,;:])\s+")


def _merge_fragments(paragraphs: list[str], min_chars: int) -> list[str]:
    """Attach each short paragraph to the one after it (the last one to the one before)."""
    merged: list[str] = []
    pending = ""
    for para in paragraphs:
        text = f"{pending}\n{para}" if pending else para
        if len(text) < min_chars:
            pending = text
        else:
            merged.append(text)
            pending = ""
    if pending:
        if merged:
            merged[-1] = f"{merged[-1]}\n{pending}"
        else:
            merged.append(pending)
    return merged


def _pieces(text: str, pattern: re.Pattern) -> list[str]:
    return [p for p in pattern.split(text) if p.strip()]


def _split_long(text: str, max_chars: int) -> list[str]:
    """Cut a long paragraph into about-equal chunks of whole sentences."""
    if len(text) <= max_chars:
        return [text]
    units = sentences(text)
    if len(units) == 1:
        units = _pieces(text, _PHRASE_END)
    if len(units) == 1:  # one enormous run-on: fall back to words
        units = text.split()
    target = len(text) / math.ceil(len(text) / max_chars)
    chunks: list[str] = []
    current = ""
    for unit in units:
        candidate = f"{current} {unit}" if current else unit
        if current and (len(candidate) > max_chars or len(current) >= target):
            chunks.append(current)
            current = unit
        else:
            current = candidate
    if current:
        chunks.append(current)
    # A unit longer than max_chars on its own still needs cutting.
    return [piece for chunk in chunks for piece in
            ([chunk] if len(chunk) <= max_chars else _split_long_words(chunk, max_chars))]


def _split_long_words(text: str, max_chars: int) -> list[str]:
    words, chunks, current = text.split(), [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > max_chars:
            chunks.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    return chunks + ([current] if current else [])


def split_article(article: Article, config: SplitConfig | None = None) -> list[Passage]:
    """The article's passages in reading order, each carrying the article's metadata."""
    config = config or SplitConfig()
    paragraphs = [p.strip() for p in article.paragraphs if p.strip()]
    texts = [
        piece.strip()
        for para in _merge_fragments(paragraphs, config.min_chars)
        for piece in _split_long(para, config.max_chars)
    ]
    return [
        Passage(
            passage_id=f"{article.article_id}#{i}",
            article_id=article.article_id,
            position=i,
            text=text,
            title=article.title,
            date=article.date,
            place=article.place,
            source=article.source,
            url=article.url,
        )
        for i, text in enumerate(texts)
    ]
