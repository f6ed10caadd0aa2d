"""Recall@10 of IVF settings against exact search on the synthetic corpus (not a test).

    python -m benchmarks.ann_sweep --passages 1000000 [--nlist 1000,4000] [--nprobe 32,64,128,256]

Why: `index.nprobe` and the number of IVF lists trade recall for speed, and
the right values depend on how clustered the vectors are.  This embeds the
fictional corpus of benchmarks/synthetic.py with its hashed-syllables
stand-in (each passage as headline, place, date and paragraph, as the index
does), trains each IVF variant the way retrieval/index/vectors.py does, and prints
recall@10 and the search time per question for every nprobe.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from retrieval.convert import corpus_files, read_article
from retrieval.index.vectors import new_ivf_index
from retrieval.passages import split_article

from .synthetic import HashedSyllableEmbedder, questions, write_corpus


def embed_corpus(folder: Path, embedder) -> np.ndarray:
    texts = [p.indexed_text() for path in corpus_files(folder)
             for p in split_article(read_article(path, folder))]
    return np.concatenate([embedder.embed_passages(texts[i:i + 20_000])
                           for i in range(0, len(texts), 20_000)]).astype(np.float32)


def main() -> None:
    import faiss

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--nlist", default="1000,4000")
    parser.add_argument("--nprobe", default="16,32,64,128,256")
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)  # as a serving process searches
    embedder = HashedSyllableEmbedder()
    with tempfile.TemporaryDirectory() as tmp:
        meta = write_corpus(Path(tmp), args.passages)
        vectors = embed_corpus(Path(tmp), embedder)
        queries = np.stack([embedder.embed_query(q.text) for q in questions(meta)]).astype(np.float32)
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    _, truth = exact.search(queries, 10)
    rng = np.random.default_rng(0)
    for nlist in (int(x) for x in args.nlist.split(",")):
        started = time.perf_counter()
        sample = vectors[rng.choice(len(vectors), size=min(len(vectors), 40 * nlist), replace=False)]
        index = new_ivf_index(vectors.shape[1], nlist, sample, 1)
        index.add(vectors)
        trained = time.perf_counter() - started
        for nprobe in (int(x) for x in args.nprobe.split(",")):
            index.nprobe = nprobe
            started = time.perf_counter()
            _, found = index.search(queries, 10)
            ms = (time.perf_counter() - started) / len(queries) * 1e3
            recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
            print(json.dumps({"passages": len(vectors), "nlist": nlist, "nprobe": nprobe,
                              "recall_at_10": round(float(recall), 4), "ms_per_query": round(ms, 2),
                              "train_and_add_s": round(trained, 1)}), flush=True)


if __name__ == "__main__":
    main()
