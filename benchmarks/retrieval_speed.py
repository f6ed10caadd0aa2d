"""Build and query speed of the retrieval layer, printed as figures (not a test).

    python -m benchmarks.retrieval_speed [--corpus DIR ...] [--questions FILE]

Builds a fresh index of the seed corpus plus the fictional test articles in a
temporary folder (so every passage is embedded), rebuilds it unchanged (cache
only), then asks every question of the question set and reports latency.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from retrieval import Config, Searcher, build_index
from retrieval.convert import corpus_files
from retrieval.evaluate import evaluate, read_questions

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", nargs="+", default=[ROOT / "corpus", ROOT / "tests/data/fictional"])
    parser.add_argument("--questions", default=ROOT / "tests/data/questions.jsonl")
    args = parser.parse_args()

    config = Config()
    with tempfile.TemporaryDirectory() as tmp:
        corpus, index = Path(tmp) / "corpus", Path(tmp) / "index"
        corpus.mkdir()
        for folder in map(Path, args.corpus):
            for path in corpus_files(folder):
                shutil.copy(path, corpus / path.name)

        report = build_index(corpus, index, config, progress=False)
        print(f"cold build: {report.articles} articles, {report.passages} passages, "
              f"{report.seconds:.1f} s, {report.embedded / report.seconds:.2f} passages/s embedded")
        report = build_index(corpus, index, config, progress=False)
        print(f"unchanged rebuild: {report.embedded} embedded, {report.seconds:.2f} s")

        searcher = Searcher.open(index, config)
        questions = read_questions(args.questions)
        searcher.search("khởi động")  # first-call costs are not what a user waits for
        times = []
        for q in questions:
            started = time.perf_counter()
            searcher.search(q.question, top_k=5)
            times.append(1000 * (time.perf_counter() - started))
        times.sort()
        print(f"queries: {len(times)}, median {statistics.median(times):.1f} ms, "
              f"p90 {times[int(0.9 * len(times))]:.1f} ms, max {times[-1]:.1f} ms")
        print(evaluate(searcher, questions).report())


if __name__ == "__main__":
    main()
