"""The vectors layer's cost of one small update at N passages: a whole rewrite against a delta.

    python -m benchmarks.vector_update [--passages 1000000] [--workdir DIR]

Why (issue 19): before deltas, every update read, changed and rewrote the whole
vectors file (1.5 GB at 1M passages).  This writes a base of N random unit
vectors (flat, as with `ann = "flat"`; an IVF base's file is as big), then times
one update that adds and removes 6 passages both ways, the reader's open of
base + delta, and one search of each.  Figures only; scale.py times the
whole path (catalog, tantivy, reload) at the same sizes.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from retrieval.index import vectors

DIM = 384


def write_base(folder: Path, n: int, rng: np.random.Generator) -> None:
    """Generation 1's base: n random unit vectors, ids 1..n."""
    base = vectors.new_flat_index(DIM)
    for start in range(0, n, 100_000):
        size = min(100_000, n - start)
        x = rng.standard_normal((size, DIM), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        base.add_with_ids(x, np.arange(start + 1, start + size + 1, dtype=np.int64))
    vectors.write_vectors_atomic(base, vectors.vectors_path(folder, 1))


def timed(label: str, run) -> object:
    started = time.perf_counter()
    result = run()
    print(f"{label}: {time.perf_counter() - started:.2f} s", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--workdir", help="where the vectors go (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        folder = Path(tmp)
        rng = np.random.default_rng(0)
        timed(f"writing a base of {args.passages} vectors", lambda: write_base(folder, args.passages, rng))
        added = rng.standard_normal((6, DIM), dtype=np.float32)
        added_ids = np.arange(args.passages + 1, args.passages + 7, dtype=np.int64)
        dropped = np.arange(500, 506, dtype=np.int64)

        def rewrite() -> None:  # what every update did before deltas
            whole = vectors.read_vectors(vectors.vectors_path(folder, 1), mmap=False)
            whole.remove_ids(dropped)
            whole.add_with_ids(added, added_ids)
            vectors.write_vectors_atomic(whole, vectors.vectors_path(folder, 2))

        def delta() -> None:  # what the writer does now (writer._apply_vectors)
            base = vectors.read_vectors(vectors.vectors_path(folder, 1), mmap=True)
            new = vectors.new_flat_index(DIM)
            new.add_with_ids(added, added_ids)
            assert not vectors.merge_due(base, new, dropped)
            vectors.write_delta(folder, 3, new, dropped)

        timed("one update, whole file rewritten (add 6, remove 6)", rewrite)
        timed("one update as a delta (add 6, remove 6)", delta)
        served = timed("reader opens base + delta", lambda: vectors.open_generation(folder, 3, 1, None))
        query = rng.standard_normal((1, DIM), dtype=np.float32)
        timed("one search of base less removed plus delta", lambda: served.search(query, 50))


if __name__ == "__main__":
    main()
