"""The dense engine (FAISS): one vectors file per published generation, ids = passage row ids.

FAISS keeps stable ids (``IndexIDMap2`` / IVF ids = passage row ids), so a
removal touches only the removed passages.  Exact (flat) search up to
`exact_max` passages, an inverted-file index above.
"""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .layout import VECTORS_DIR, fsync_dir


@dataclass
class VectorSettings:
    """How the dense index is kept; see IndexConfig in config.py."""

    exact_max: int = 200_000
    ann: str = "ivf"  # above exact_max: "ivf" (IndexIVFFlat) or "flat" (always exact)
    nprobe: int = 384


def vectors_path(index_dir: Path, generation: int) -> Path:
    return index_dir / VECTORS_DIR / f"vectors-{generation}.faiss"


def vector_generations(index_dir: Path) -> list[int]:
    """The generations that have a vectors file, oldest first."""
    folder = index_dir / VECTORS_DIR
    if not folder.is_dir():
        return []
    found = []
    for p in folder.glob("vectors-*.faiss"):
        try:
            found.append(int(p.stem.split("-", 1)[1]))
        except ValueError:
            continue
    return sorted(found)


def read_vectors(path: Path, mmap: bool):
    """A FAISS index from disk; mapped rather than read when serving, so two
    generations open during a reload share the page cache instead of doubling RSS."""
    import faiss

    if mmap:
        try:
            # Maps flat codes and IVF lists alike (faiss 1.15: a 200k x 384 flat index
            # adds 12 MB of RSS at open instead of 300 MB).
            return faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
        except RuntimeError:  # an index type FAISS cannot map: read it
            pass
    return faiss.read_index(str(path))


def write_vectors_atomic(index, path: Path) -> None:
    """Write a FAISS index under a temporary name, fsync it, rename it into place."""
    import faiss

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    faiss.write_index(index, str(tmp))
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def ivf_lists(n: int) -> int:
    """About 4 sqrt(n) lists, as FAISS advises, never more than the vectors."""
    return int(min(65536, 4 * np.sqrt(n), n))


def new_flat_index(dim: int):
    """Exact search with passage ids: the default up to `exact_max` passages."""
    import faiss

    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


def new_ivf_index(dim: int, nlist: int, sample: np.ndarray, nprobe: int):
    """An inverted-file index trained on `sample` (the collection or 40 vectors a list of it)."""
    import faiss

    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = 10  # instead of 25: training at 1M passages stays near a minute on 2 cores
    index.train(np.ascontiguousarray(sample, dtype=np.float32))
    index.nprobe = nprobe
    return index


def is_ivf(index) -> bool:
    import faiss

    return isinstance(index, faiss.IndexIVF)


def set_nprobe(index, nprobe: int) -> None:
    import faiss

    if is_ivf(index):
        faiss.extract_index_ivf(index).nprobe = nprobe


def needs_new_index(index, expected: int, settings: VectorSettings) -> bool:
    """Must the dense index be made anew for `expected` passages? When the collection
    crosses `exact_max`, or when an IVF index has grown 4x since it was trained."""
    if settings.ann != "ivf":
        return is_ivf(index)
    if not is_ivf(index):
        return expected > settings.exact_max
    import faiss

    trained_for = int(faiss.extract_index_ivf(index).nlist) ** 2 / 16  # see ivf_lists
    return expected > 4 * trained_for or expected <= settings.exact_max
