"""The dense engine (FAISS): a base file and a small delta per generation, ids = passage row ids.

FAISS keeps stable ids (``IndexIDMap2`` / IVF ids = passage row ids).  Exact
(flat) search up to `exact_max` passages, an inverted-file index above.

Files, in vectors/::

    vectors-<B>.faiss           a base: every passage visible at generation B
    delta-<G>.faiss             generation G's passages added since its base (flat, exact)
    delta-<G>.removed.npy       ids of the base that G no longer shows

Generation G is served from its base B (``vectors_base`` in the catalog's meta,
published with G) less ``removed``, plus the delta (no delta when B = G).  Why
(issue 19): at 1M passages a base is 1.5 GB, and rewriting it for each update
took 13-24 s to add one article; an update now writes a delta that holds only
what changed since the base, and the base is rewritten when the delta reaches
`MERGE_SHARE` of it (or MERGE_MIN ids), so its cost is spread over many updates.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .layout import VECTORS_DIR, fsync_dir

# A base is rewritten when its generation's delta (added vectors and removed ids)
# exceeds this share of it, or MERGE_MIN ids, whichever is more: a 1M-passage base
# then takes a delta of up to 20k ids (30 MB, 2-4 ms a question to search exactly).
MERGE_SHARE = 0.02
MERGE_MIN = 5_000


@dataclass
class VectorSettings:
    """How the dense index is kept; see IndexConfig in config.py."""

    exact_max: int = 200_000
    ann: str = "ivf"  # above exact_max: "ivf" (IndexIVFFlat) or "flat" (always exact)
    nprobe: int = 384


def vectors_path(index_dir: Path, generation: int) -> Path:
    return index_dir / VECTORS_DIR / f"vectors-{generation}.faiss"


def delta_path(index_dir: Path, generation: int) -> Path:
    return index_dir / VECTORS_DIR / f"delta-{generation}.faiss"


def removed_path(index_dir: Path, generation: int) -> Path:
    return index_dir / VECTORS_DIR / f"delta-{generation}.removed.npy"


def vector_generations(index_dir: Path, kind: str = "vectors") -> list[int]:
    """The generations that have a base ("vectors") or a "delta" file, oldest first."""
    folder = index_dir / VECTORS_DIR
    if not folder.is_dir():
        return []
    found = []
    for p in folder.glob(f"{kind}-*.faiss"):
        try:
            found.append(int(p.stem.split("-", 1)[1]))
        except ValueError:
            continue
    return sorted(found)


def remove_generation_files(index_dir: Path, keep_base: Callable[[int], bool],
                            keep_delta: Callable[[int], bool]) -> None:
    """Delete the bases and deltas whose generation is not kept, and temporary files
    of killed writes."""
    for base in vector_generations(index_dir):
        if not keep_base(base):
            vectors_path(index_dir, base).unlink(missing_ok=True)
    for gen in vector_generations(index_dir, "delta"):
        if not keep_delta(gen):
            delta_path(index_dir, gen).unlink(missing_ok=True)
            removed_path(index_dir, gen).unlink(missing_ok=True)
    for tmp in (index_dir / VECTORS_DIR).glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


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


def _write_atomic(path: Path, write) -> None:
    """`write(tmp)` under a temporary name, fsync it, rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    write(tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_vectors_atomic(index, path: Path) -> None:
    """Write a FAISS index so that a crash leaves the old file or the whole new one."""
    import faiss

    _write_atomic(path, lambda tmp: faiss.write_index(index, str(tmp)))


def write_delta(index_dir: Path, generation: int, delta, removed: np.ndarray) -> None:
    """Generation's delta and removed ids (both before the publish that names them)."""
    def save(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.save(f, np.asarray(removed, dtype=np.int64))

    _write_atomic(removed_path(index_dir, generation), save)
    write_vectors_atomic(delta, delta_path(index_dir, generation))


def read_delta(index_dir: Path, generation: int):
    """Generation's delta index and the base ids it removes."""
    return (read_vectors(delta_path(index_dir, generation), mmap=False),
            np.load(removed_path(index_dir, generation)))


def stored_ids(index) -> np.ndarray:
    """The ids an IndexIDMap2 holds, in storage order."""
    import faiss

    return faiss.vector_to_array(index.id_map)


def stored_vectors(index) -> np.ndarray:
    """The vectors of an IndexIDMap2 over a flat index, in storage order."""
    return index.index.reconstruct_n(0, index.ntotal)


class GenerationVectors:
    """What one generation serves: its base less the removed ids, plus its delta.

    Results are those of one index holding exactly the visible passages: the
    removed ids are excluded inside FAISS's search (an IDSelector), so they take
    no place among the k, and the delta's hits are merged by score, the base's
    first among equal scores (as an index with the delta appended would order them).
    """

    def __init__(self, base, delta=None, removed: np.ndarray | None = None) -> None:
        import faiss

        self.base, self.delta = base, delta
        self.removed = np.asarray(removed if removed is not None else [], dtype=np.int64)
        self._selector = None
        if self.removed.size:
            self._batch = faiss.IDSelectorBatch(self.removed)  # kept: the Not holds a pointer
            self._selector = faiss.IDSelectorNot(self._batch)

    @property
    def ntotal(self) -> int:
        return self.base.ntotal - self.removed.size + (self.delta.ntotal if self.delta else 0)

    def _base_params(self):
        import faiss

        if self._selector is None:
            return None
        if is_ivf(self.base):
            return faiss.SearchParametersIVF(sel=self._selector,
                                             nprobe=faiss.extract_index_ivf(self.base).nprobe)
        return faiss.SearchParameters(sel=self._selector)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), best first, -1 where fewer than k passages exist."""
        params = self._base_params()
        scores, ids = self.base.search(queries, k, params=params) if params else self.base.search(queries, k)
        if self.delta is None or self.delta.ntotal == 0:
            return scores, ids
        d_scores, d_ids = self.delta.search(queries, min(k, self.delta.ntotal))
        scores, ids = np.hstack([scores, d_scores]), np.hstack([ids, d_ids])
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)


def open_generation(index_dir: Path, generation: int, base: int,
                    nprobe: int | None) -> GenerationVectors:
    """A generation's vectors for serving: the base mapped, the (small) delta read;
    `nprobe` lists probed (None: as the base was written)."""
    index = read_vectors(vectors_path(index_dir, base), mmap=True)
    if nprobe is not None:
        set_nprobe(index, nprobe)
    if base == generation:
        return GenerationVectors(index)
    return GenerationVectors(index, *read_delta(index_dir, generation))


def merge_due(base, delta, removed: np.ndarray) -> bool:
    """Is a delta big enough to be folded into a new base (see MERGE_SHARE)?"""
    return delta.ntotal + removed.size > max(MERGE_MIN, MERGE_SHARE * base.ntotal)


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
