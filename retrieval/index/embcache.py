"""The embedding cache: vectors by (embedder identity, content hash), so rebuilds reuse them."""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .catalog import chunks


class EmbeddingCache:
    """Vectors by (embedder identity, content hash) in SQLite (embeddings.sqlite)."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS embeddings ("
            " embedder TEXT NOT NULL, hash TEXT NOT NULL, vector BLOB NOT NULL,"
            " PRIMARY KEY (embedder, hash))"
        )

    def _select(self, column: str, embedder: str, hashes: Iterable[str]) -> Iterable[tuple]:
        for chunk in chunks(list(dict.fromkeys(hashes))):
            yield from self.db.execute(
                f"SELECT {column} FROM embeddings WHERE embedder = ? AND hash IN "
                f"({','.join('?' * len(chunk))})", [embedder, *chunk])

    def get_many(self, embedder: str, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        return {h: np.frombuffer(v, dtype=np.float32)
                for h, v in self._select("hash, vector", embedder, hashes)}

    def cached(self, embedder: str, hashes: Iterable[str]) -> set[str]:
        """Which of `hashes` have a vector already (without reading the vectors)."""
        return {h for (h,) in self._select("hash", embedder, hashes)}

    def put_many(self, embedder: str, items: dict[str, np.ndarray]) -> None:
        with self.db:  # one transaction per batch: a killed build keeps finished batches
            self.db.executemany(
                "INSERT OR REPLACE INTO embeddings (embedder, hash, vector) VALUES (?, ?, ?)",
                [(embedder, h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in items.items()])

    def close(self) -> None:
        self.db.close()
