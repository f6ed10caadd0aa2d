"""`python -m retrieval migrate --to postgres|embedded`: copy a published index between backends.

Nothing is re-embedded: the embedding cache is copied first, then the articles and
passages of the published generation are written as one generation of the target by
its own writer, which reads their vectors from the copied cache (the lexical tokens
are made again from the texts, as a build makes them: seconds, not the model's hours).
The source is only read; the target's previous content is replaced in one generation.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from ..index.catalog import get_meta, visible
from ..index.layout import CACHE_DB, CATALOG, IndexNotFound
from ..index.lexical import passage_tokens
from ..index.writer import FileRecord, NewArticle
from ..types import Article
from .index import connect

BATCH = 2000  # articles written together
KEEP_META = ("built_at", "corpus_dir", "split")


@dataclass
class _Source:
    """What a copy reads: meta, files, articles with passages, and cached vectors."""

    meta: dict[str, str]
    files: list[FileRecord]
    articles: Iterator[NewArticle]
    vectors: Iterator[tuple[str, str, bytes]]  # embedder, hash, float32 bytes


_ARTICLES = ("SELECT id, article_id, path, title, date, place, source, url, paragraphs, date_source"
             " FROM articles WHERE {vis} ORDER BY id")
_PASSAGES = "SELECT article, position, text, hash FROM passages WHERE {vis} ORDER BY article, position"


def _new_articles(articles, passages) -> Iterator[NewArticle]:
    """Merge two id-ordered row streams into NewArticle items, tokens made as a build makes them."""
    passages = iter(passages)
    pending = next(passages, None)
    for aid, article_id, path, title, date, place, source, url, paragraphs, date_source in articles:
        if isinstance(paragraphs, str):
            paragraphs = json.loads(paragraphs)
        article = Article(article_id=article_id, title=title, date=date, place=place, source=source, url=url,
                          path=path or "", paragraphs=paragraphs, date_source=date_source)
        rows = []
        while pending is not None and pending[0] == aid:
            rows.append(pending[1:])
            pending = next(passages, None)
        indexed = [passage_tokens(_indexed(article, text)) for _, text, _ in rows]
        yield NewArticle(article, [(pos, text, h) for pos, text, h in rows], indexed)


def _indexed(article: Article, text: str) -> str:
    from ..types import indexed_text

    return indexed_text(article.title, article.place, article.date, text)


def _folder_source(index_dir: Path) -> _Source:
    catalog = index_dir / CATALOG
    if not catalog.is_file():
        raise IndexNotFound(f"no index in {index_dir} to copy")
    db = sqlite3.connect(f"file:{catalog}?mode=ro", uri=True)
    meta = get_meta(db)
    g = {"g": int(meta["published"])}
    if not g["g"]:
        raise IndexNotFound(f"the index in {index_dir} has no finished build to copy")
    files = [FileRecord(*r) for r in db.execute(
        "SELECT path, size, mtime_ns, sha256, article_id, skipped FROM files")]
    articles = db.execute(_ARTICLES.format(vis=visible()), g)
    passages = sqlite3.connect(f"file:{catalog}?mode=ro", uri=True).execute(
        _PASSAGES.format(vis=visible()), g)
    cache = sqlite3.connect(f"file:{index_dir / CACHE_DB}?mode=ro", uri=True)
    return _Source(meta, files, _new_articles(articles, passages),
                   iter(cache.execute("SELECT embedder, hash, vector FROM embeddings")))


def _postgres_source(dsn: str) -> _Source:
    import numpy as np

    db = connect(dsn)
    meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    if int(meta.get("published", 0)) == 0:
        raise IndexNotFound("the index in PostgreSQL has no finished build to copy")
    vis = visible().replace(":g", "%(g)s")
    g = {"g": int(meta["published"])}
    files = [FileRecord(*r) for r in db.execute(
        "SELECT path, size, mtime_ns, sha256, article_id, skipped FROM files")]

    def stream(sql, params=None):
        with connect(dsn).cursor(name="copy") as cur:  # server-side: never the whole table in memory
            cur.execute(sql, params)
            yield from cur

    vectors = ((e, h, np.asarray(v.to_numpy(), dtype=np.float32).tobytes())
               for e, h, v in stream("SELECT embedder, hash, vector FROM embeddings"))
    return _Source(meta, files, _new_articles(stream(_ARTICLES.format(vis=vis), g),
                                              stream(_PASSAGES.format(vis=vis), g)), vectors)


def migrate_index(index_dir: str | Path, dsn: str, to: str) -> str:
    """Copy the folder's index into PostgreSQL (`to` "postgres") or back ("embedded")."""
    import numpy as np

    index_dir = Path(index_dir)
    if to == "postgres":
        source = _folder_source(index_dir)
    else:
        source = _postgres_source(dsn)
        index_dir.mkdir(parents=True, exist_ok=True)
    identity, dim = source.meta["embedder"], int(source.meta["dim"])
    articles = passages = 0
    with _target_writer(index_dir, dsn, to, identity, dim) as writer:
        copied = _copy_vectors(source.vectors, writer.open_cache(), np)
        writer.begin()
        batch: list[NewArticle] = []
        for item in source.articles:
            batch.append(item)
            articles, passages = articles + 1, passages + len(item.passages)
            if len(batch) >= BATCH:
                writer.add(batch)
                batch = []
        writer.add(batch)
        writer.commit(source.files, [], {k: source.meta[k] for k in KEEP_META if k in source.meta})
    target = "PostgreSQL" if to == "postgres" else str(index_dir)
    return (f"copied {articles} articles, {passages} passages and {copied} cached vectors to {target} "
            f"(embedder {identity}); nothing was re-embedded")


def _copy_vectors(rows, cache, np, batch: int = 5000) -> int:
    """The whole embedding cache, every embedder's, in batches."""
    count = 0
    with closing(cache):
        by_embedder: dict[str, dict] = {}
        for embedder, h, blob in rows:
            by_embedder.setdefault(embedder, {})[h] = np.frombuffer(blob, dtype=np.float32)
            count += 1
            if count % batch == 0:
                for e, items in by_embedder.items():
                    cache.put_many(e, items)
                by_embedder = {}
        for e, items in by_embedder.items():
            cache.put_many(e, items)
    return count


def _target_writer(index_dir: Path, dsn: str, to: str, identity: str, dim: int):
    """The target's own writer, starting afresh (its embedding cache kept)."""
    if to == "postgres":
        from .index import postgres_writer

        return postgres_writer(dsn, identity, dim, rebuild=True)
    return _folder_writer(index_dir, identity, dim)


def _folder_writer(index_dir: Path, identity: str, dim: int):
    from contextlib import contextmanager

    from ..index.layout import reset, write_lock
    from ..index.writer import IndexWriter

    @contextmanager
    def opened():
        with write_lock(index_dir):
            reset(index_dir)
            writer = IndexWriter(index_dir, identity, dim)
            try:
                yield writer
            finally:
                writer.close()

    return opened()
