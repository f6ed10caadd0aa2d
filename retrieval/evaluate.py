"""Retrieval metrics over a JSON-lines question set: hit@1/3/5, MRR@10, article hit@3.

A question's hit at rank k is a passage at rank <= k from a gold article whose
text contains the gold snippet (whitespace-normalised, NFC) or at least the
snippet's first 40 characters.  Questions with empty `gold_ids` are
unanswerable: they score when the engine does not grade them `exact` (they are
`partial`, with what is missing, or `none`).  Answerable questions should be
`exact`; one graded `none` is a wrong "not found".
"""
from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .search import Searcher
from .textnorm import nfc, normalize_space

SNIPPET_PREFIX = 40


@dataclass
class Question:
    question: str
    gold_ids: list[str]
    gold_snippet: str = ""
    type: str | None = None
    # Near misses: constraints the corpus cannot meet together.  A `partial` answer
    # should name one of them ("organisation" or "place" when the district has other
    # bodies' reports and the body has other districts').
    expect_missing: list[str] = field(default_factory=list)


def read_questions(path: str | Path) -> list[Question]:
    questions = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            questions.append(Question(obj["question"], list(obj.get("gold_ids") or []),
                                      obj.get("gold_snippet") or "", obj.get("type"),
                                      list(obj.get("expect_missing") or [])))
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise ValueError(f"{path}:{n}: not a question object ({e})") from None
    return questions


def _norm(text: str) -> str:
    return normalize_space(nfc(text))


def first_hit_rank(hits, q: Question) -> tuple[int | None, int | None]:
    """(rank of the first passage hit, rank of the first gold-article hit), 1-based."""
    snippet = _norm(q.gold_snippet)
    gold = set(q.gold_ids)
    passage_rank = article_rank = None
    for rank, hit in enumerate(hits, 1):
        if hit.article_id not in gold:
            continue
        article_rank = article_rank or rank
        text = _norm(hit.text)
        if snippet and (snippet in text or snippet[:SNIPPET_PREFIX] in text):
            passage_rank = rank
            break
    return passage_rank, article_rank


@dataclass
class _Tally:
    n: int = 0
    hit1: int = 0
    hit3: int = 0
    hit5: int = 0
    rr: float = 0.0
    article3: int = 0

    def add(self, passage_rank: int | None, article_rank: int | None) -> None:
        self.n += 1
        if passage_rank:
            self.hit1 += passage_rank <= 1
            self.hit3 += passage_rank <= 3
            self.hit5 += passage_rank <= 5
            self.rr += 1.0 / passage_rank if passage_rank <= 10 else 0.0
        self.article3 += bool(article_rank and article_rank <= 3)

    def metrics(self) -> dict:
        n = max(self.n, 1)
        return {"n": self.n, "hit@1": self.hit1 / n, "hit@3": self.hit3 / n,
                "hit@5": self.hit5 / n, "mrr@10": self.rr / n, "article_hit@3": self.article3 / n}


@dataclass
class EvalResult:
    overall: dict
    by_type: dict[str, dict]
    unanswerable: dict  # n, correct (graded partial or none), partial, none
    answered_rate: float  # share of answerable questions reported as answered (match != none)
    graded: dict  # answerable questions by match: exact, partial, none
    ms_per_query: float
    misses: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"overall": self.overall, "by_type": self.by_type,
                "unanswerable": self.unanswerable, "answered_rate": self.answered_rate,
                "answerable_graded": self.graded,
                "ms_per_query": self.ms_per_query}

    def report(self) -> str:
        def row(name: str, m: dict) -> str:
            return (f"{name:<14} n={m['n']:<4} hit@1={m['hit@1']:.3f} hit@3={m['hit@3']:.3f} "
                    f"hit@5={m['hit@5']:.3f} MRR@10={m['mrr@10']:.3f} "
                    f"article_hit@3={m['article_hit@3']:.3f}")

        lines = [row("all", self.overall)]
        lines += [row(t, m) for t, m in sorted(self.by_type.items())]
        u = self.unanswerable
        lines.append(f"unanswerable   n={u['n']:<4} graded partial or none: {u['correct']}/{u['n']}"
                     f" (partial {u['partial']}, none {u['none']});"
                     f" partial naming what is missing: {u['said_missing']}")
        g = self.graded
        lines.append(f"answerable     exact {g['exact']}, partial {g['partial']}, none {g['none']};"
                     f" reported as answered: {self.answered_rate:.3f}")
        lines.append(f"speed: {self.ms_per_query:.1f} ms per query")
        return "\n".join(lines)


def evaluate(searcher: Searcher, questions: list[Question], depth: int = 10) -> EvalResult:
    overall = _Tally()
    by_type: dict[str, _Tally] = defaultdict(_Tally)
    # said_missing: partial answers that name what the question's `expect_missing` lists
    unanswerable = {"n": 0, "correct": 0, "partial": 0, "none": 0, "said_missing": 0}
    graded = {"exact": 0, "partial": 0, "none": 0}
    answered_count = answerable = 0
    misses = []
    started = time.perf_counter()
    for q in questions:
        response = searcher.search(q.question, top_k=depth)
        if not q.gold_ids:
            unanswerable["n"] += 1
            unanswerable["correct"] += response.match != "exact"
            if response.match != "exact":
                unanswerable[response.match] += 1
                said = bool(set(q.expect_missing) & set(response.missing))
                unanswerable["said_missing"] += said
                if q.expect_missing and response.match == "partial" and not said:
                    misses.append({"question": q.question, "missing": response.missing,
                                   "expected": q.expect_missing})
            else:
                misses.append({"question": q.question, "graded": "exact", "expected": "partial or none"})
            continue
        answerable += 1
        answered_count += response.answered
        graded[response.match] += 1
        if response.match != "exact":
            misses.append({"question": q.question, "graded": response.match,
                           "missing": response.missing})
        passage_rank, article_rank = first_hit_rank(response.hits, q)
        overall.add(passage_rank, article_rank)
        if q.type:
            by_type[q.type].add(passage_rank, article_rank)
        if not passage_rank or passage_rank > 3:
            misses.append({"question": q.question, "rank": passage_rank,
                           "top": [h.passage_id for h in response.hits[:3]]})
    elapsed = time.perf_counter() - started
    return EvalResult(
        overall=overall.metrics(),
        by_type={t: tally.metrics() for t, tally in by_type.items()},
        unanswerable=unanswerable,
        answered_rate=answered_count / max(answerable, 1),
        graded=graded,
        ms_per_query=1000 * elapsed / max(len(questions), 1),
        misses=misses,
    )


def dense_recall(index_dir: str | Path, query_vectors: np.ndarray, k: int = 10) -> float | None:
    """Recall@k of the served dense index against exact search (None when it is exact).

    For IVF, exact search is the same index probing every list.
    """
    import faiss

    from .index.catalog import connect, get_meta
    from .index.layout import CATALOG
    from .index.vectors import is_ivf, open_generation

    index_dir = Path(index_dir)
    db = connect(index_dir / CATALOG, readonly=True)
    try:
        meta = get_meta(db)
    finally:
        db.close()
    gen = int(meta["published"])
    vectors = open_generation(index_dir, gen, int(meta.get("vectors_base", gen)), nprobe=None)
    if not is_ivf(vectors.base):
        return None
    queries = np.ascontiguousarray(query_vectors, dtype=np.float32)
    _, approx = vectors.search(queries, k)
    ivf = faiss.extract_index_ivf(vectors.base)
    ivf.nprobe = ivf.nlist
    _, exact = vectors.search(queries, k)
    found = sum(len(set(a[a >= 0]) & set(e[e >= 0])) for a, e in zip(approx, exact, strict=True))
    total = sum(int((e >= 0).sum()) for e in exact)
    return found / total if total else None
