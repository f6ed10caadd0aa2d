"""The dense engine (FAISS): a base file and a small delta per generation, ids = passage row ids.

FAISS keeps stable ids (``IndexIDMap2`` / IVF ids = passage row ids).  Exact
(flat) search up to `exact_max` passages, an inverted-file index above.

Files, in vectors/::

    vectors-<B>.faiss           a base: every passage visible at generation B
    half-<B>.faiss, half-<B>.npy  a flat base's half-precision copy and its error bound
                                (HalfPrecisionCopy: searched first, for speed)
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


def half_paths(index_dir: Path, generation: int) -> tuple[Path, Path]:
    """The half-precision copy of base `generation` and its bound (see HalfPrecisionCopy)."""
    folder = index_dir / VECTORS_DIR
    return folder / f"half-{generation}.faiss", folder / f"half-{generation}.npy"


def delta_path(index_dir: Path, generation: int) -> Path:
    return index_dir / VECTORS_DIR / f"delta-{generation}.faiss"


def removed_path(index_dir: Path, generation: int) -> Path:
    return index_dir / VECTORS_DIR / f"delta-{generation}.removed.npy"


def vector_generations(index_dir: Path, kind: str = "vectors") -> list[int]:
    """The generations that have a base ("vectors"), its "half" copy or a "delta" file, oldest first."""
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
    for base in vector_generations(index_dir, "half"):  # a copy may outlive a killed base write
        if not keep_base(base):
            for path in half_paths(index_dir, base):
                path.unlink(missing_ok=True)
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


def write_base(index, index_dir: Path, generation: int) -> None:
    """A base, and for a flat one of HALF_PRECISION_MIN vectors or more its half-precision
    copy first (a base without its copy is served, only slower)."""
    HalfPrecisionCopy.write(index, index_dir, generation)
    write_vectors_atomic(index, vectors_path(index_dir, generation))


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

    def __init__(self, base, delta=None, removed: np.ndarray | None = None,
                 half: HalfPrecisionCopy | None = None) -> None:
        import faiss

        self.base, self.delta, self.half = base, delta, half
        self.removed = np.asarray(removed if removed is not None else [], dtype=np.int64)
        self._selector = None
        if self.removed.size:
            self._batch = faiss.IDSelectorBatch(self.removed)  # kept: the Not holds a pointer
            self._selector = faiss.IDSelectorNot(self._batch)
        self._half_without = half.without(self.removed) if half is not None and self.removed.size else None

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
        found = self.half.search(self.base, queries, k, self._half_without) if self.half else None
        if found is None:
            params = self._base_params()
            found = self.base.search(queries, k, params=params) if params else self.base.search(queries, k)
        scores, ids = found
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
    half = HalfPrecisionCopy.open(index_dir, base, index)
    if base == generation:
        return GenerationVectors(index, half=half)
    return GenerationVectors(index, *read_delta(index_dir, generation), half=half)


# A flat base of this many vectors or more gets a half-precision copy.
HALF_PRECISION_MIN = 20_000
HALF_PRECISION_DEPTH = 4  # the copy's pass keeps 4 k candidates for the exact pass


class HalfPrecisionCopy:
    """A flat base in half precision, searched first so that the exact pass reads a
    few hundred vectors instead of all of them.

    Why: an exact search reads the whole base, 1.5 KB a passage (153 MB, 6-10 ms
    of CPU a question at 100k passages, memory-bound); the copy is half that.
    Results are the exact search's, bit for bit: a vector's score in the copy is
    within |q| x `margin` of its exact score (the copy's rounding, measured when
    it is written, plus float32 summation in both), so when the copy's k-th best
    score beats its `depth`-th by more than twice that, the k best are among the
    `depth` first, and FAISS's own flat kernel over those, in storage order (equal
    scores keep FAISS's order), gives the exact k best.  When it cannot tell (or
    for a batch of queries), the base is searched whole.  Written beside the base
    at build time and mapped when served, so opening costs nothing more.
    """

    _CHUNK = 16_384

    def __init__(self, copy, ids: np.ndarray, margin: float) -> None:
        self.copy, self.ids, self.margin = copy, ids, margin

    @staticmethod
    def write(index, index_dir: Path, generation: int) -> None:
        """The copy of a flat inner-product base (nothing for a small or IVF one)."""
        import faiss

        if (is_ivf(index) or index.ntotal < HALF_PRECISION_MIN
                or index.metric_type != faiss.METRIC_INNER_PRODUCT
                or not isinstance(faiss.downcast_index(index.index), faiss.IndexFlat)):
            return
        flat = faiss.downcast_index(index.index)
        copy = faiss.IndexScalarQuantizer(index.d, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
        error = norm = 0.0
        for start in range(0, index.ntotal, HalfPrecisionCopy._CHUNK):
            exact = flat.reconstruct_n(start, min(HalfPrecisionCopy._CHUNK, index.ntotal - start))
            copy.add(exact)
            exact = exact.astype(np.float64)
            rounded = exact - copy.reconstruct_n(start, len(exact))
            error = max(error, float(np.sqrt(np.einsum("ij,ij->i", rounded, rounded)).max()))
            norm = max(norm, float(np.sqrt(np.einsum("ij,ij->i", exact, exact)).max()))
        # A float32 sum of d products is within d 2^-24 |q||x| of the true one (both
        # passes: twice, with room); a vector that half precision cannot hold makes
        # the margin infinite or NaN, and the copy is never trusted.
        margin = error + 3 * index.d * 2.0 ** -24 * norm
        copy_path, bound_path = half_paths(index_dir, generation)

        def save(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                np.save(f, np.asarray([index.ntotal, margin], dtype=np.float64))

        _write_atomic(copy_path, lambda tmp: faiss.write_index(copy, str(tmp)))
        _write_atomic(bound_path, save)

    @classmethod
    def open(cls, index_dir: Path, generation: int, base) -> HalfPrecisionCopy | None:
        """Base `generation`'s copy, mapped; None when it has none (or not this base's)."""
        copy_path, bound_path = half_paths(index_dir, generation)
        try:
            ntotal, margin = np.load(bound_path)
            copy = read_vectors(copy_path, mmap=True)
        except (OSError, RuntimeError, ValueError):
            return None
        if int(ntotal) != base.ntotal or copy.ntotal != base.ntotal:
            return None
        return cls(copy, stored_ids(base), float(margin))

    def without(self, removed: np.ndarray) -> tuple:
        """Search parameters that skip the `removed` ids (with the selectors they point to)."""
        import faiss

        batch = faiss.IDSelectorBatch(np.flatnonzero(np.isin(self.ids, removed)).astype(np.int64))
        selector = faiss.IDSelectorNot(batch)
        return faiss.SearchParameters(sel=selector), batch, selector

    def search(self, base, queries: np.ndarray, k: int,
               without: tuple | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """The exact (scores, ids) of `base` (the index copied), less the ids `without`
        skips, or None where the copy cannot tell them: then search the base whole."""
        import faiss

        if queries.shape[0] != 1:
            return None
        depth = HALF_PRECISION_DEPTH * k
        near, positions = (self.copy.search(queries, depth, params=without[0]) if without
                           else self.copy.search(queries, depth))
        positions = positions[0][positions[0] >= 0]
        if len(positions) < k:
            return None
        slack = 2 * self.margin * float(np.linalg.norm(queries[0].astype(np.float64)))
        if len(positions) == depth and not near[0][k - 1] - near[0][depth - 1] > slack:
            return None
        positions = np.sort(positions)
        exact = faiss.IndexFlatIP(queries.shape[1])
        exact.add(faiss.downcast_index(base.index).reconstruct_batch(positions))
        scores, picked = exact.search(queries, k)
        return scores, self.ids[positions[picked]]


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
