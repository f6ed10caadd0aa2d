"""Retrieval with the postgres backend against the embedded one, on the same eval set (issue 17).

Prints hit@1, hit@3 and MRR of both, the share of questions graded the same
(`match`), and the lexical rankings alone: tantivy's BM25, the postgres backend's
BM25 from stored statistics, and PostgreSQL's own ts_rank (what one would get
without computing BM25), each as hit@1/hit@3/MRR of the gold passage and as top-10
agreement with tantivy.

    EVAL=/tmp/pg_evalc; mkdir -p $EVAL; cp corpus/* tests/data/fictional/* $EVAL/  # README.md aside
    python -m retrieval index --corpus $EVAL --index IDX
    eval "$(python -m retrieval postgres start /tmp/pg_dev | tail -1)"
    python -m retrieval --config PG.toml migrate --to postgres --index IDX   # [index] backend = "postgres"
    python benchmarks/postgres_eval.py --index IDX --questions tests/data/questions.jsonl
"""
from __future__ import annotations

import argparse
import os
import time

from retrieval import Config, Searcher
from retrieval.embedders import make_embedder
from retrieval.evaluate import Question, evaluate, first_hit_rank, read_questions
from retrieval.postgres.index import _quote, _vis
from retrieval.textnorm import lexical_tokens
from retrieval.types import Hit


def _ts_rank(reader, question: str, depth: int) -> list[int]:
    """PostgreSQL's own ranking: ts_rank over the same tokens, OR of all of them."""
    tokens = sorted(set(lexical_tokens(question)))
    if not tokens:
        return []
    rows = reader._query(f"SELECT p.id FROM passages p WHERE p.tokens @@ %(q)s::tsquery AND {_vis('p')}"
                         " ORDER BY ts_rank(p.tokens, %(q)s::tsquery) DESC, p.id LIMIT %(k)s",
                         {"q": " | ".join(_quote(t) for t in tokens), "g": reader.current.number, "k": depth})
    return [r[0] for r in rows]


def _as_hits(reader, pids: list[int]) -> list[Hit]:
    found = reader.candidates(reader.current, pids)
    return [Hit(article_id=c.article_id, passage_id=c.passage_id, text=c.text, score=0.0, title=c.title,
                date=c.date, place=c.place, source=c.source, url=c.url, position=c.position)
            for c in (found[p] for p in pids if p in found)]


def _lexical_metrics(questions: list[Question], rankings: list[list[Hit]]) -> str:
    n = hit1 = hit3 = rr = 0.0
    for q, hits in zip(questions, rankings, strict=True):
        if not q.gold_ids:
            continue
        n += 1
        rank, _ = first_hit_rank(hits, q)
        hit1 += bool(rank and rank <= 1)
        hit3 += bool(rank and rank <= 3)
        rr += 1 / rank if rank and rank <= 10 else 0.0
    return f"hit@1={hit1 / n:.3f} hit@3={hit3 / n:.3f} MRR@10={rr / n:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True, help="the embedded index folder (copied to postgres)")
    parser.add_argument("--questions", required=True)
    args = parser.parse_args()
    assert os.environ.get("CONGTAC_PG_DSN"), "set CONGTAC_PG_DSN (python -m retrieval postgres start DIR)"
    questions = read_questions(args.questions)
    embedded_config, pg_config = Config(), Config()
    pg_config.index.backend = "postgres"
    embedder = make_embedder(embedded_config.embedder)
    searchers = {"embedded": Searcher.open(args.index, embedded_config, embedder=embedder),
                 "postgres": Searcher.open(args.index, pg_config, embedder=embedder)}

    grades = {}
    for name, searcher in searchers.items():
        started = time.perf_counter()
        result = evaluate(searcher, questions)
        m = result.overall
        print(f"{name:<9} hit@1={m['hit@1']:.3f} hit@3={m['hit@3']:.3f} MRR@10={m['mrr@10']:.3f} "
              f"graded={result.graded} unanswerable={result.unanswerable['correct']}/"
              f"{result.unanswerable['n']} ({time.perf_counter() - started:.0f} s)")
        grades[name] = [searcher.search(q.question).match for q in questions]
    same = sum(a == b for a, b in zip(grades["embedded"], grades["postgres"], strict=True))
    print(f"same match grade: {same}/{len(questions)} = {same / len(questions):.3f}")
    for q, a, b in zip(questions, grades["embedded"], grades["postgres"], strict=True):
        if a != b:
            print(f"  differs: embedded {a}, postgres {b}: {q.question}")

    depth = 50
    emb, pg = searchers["embedded"].reader, searchers["postgres"].reader
    lexical = {
        "tantivy BM25": [_as_hits(emb, emb.current.lexical.ranking(q.question, depth)) for q in questions],
        "postgres BM25 (stored statistics)": [_as_hits(pg, pg.current.lexical.ranking(q.question, depth))
                                              for q in questions],
        "postgres ts_rank": [_as_hits(pg, _ts_rank(pg, q.question, depth)) for q in questions],
    }
    base = lexical["tantivy BM25"]
    print("lexical ranking alone (gold passage in the lexical list):")
    for name, rankings in lexical.items():
        overlap = sum(len({h.passage_id for h in a[:10]} & {h.passage_id for h in b[:10]})
                      / max(1, len(b[:10])) for a, b in zip(rankings, base, strict=True)) / len(questions)
        top1 = sum(bool(a and b and a[0].passage_id == b[0].passage_id)
                   for a, b in zip(rankings, base, strict=True)) / len(questions)
        print(f"  {name:<34} {_lexical_metrics(questions, rankings)}  top-10 shared with tantivy "
              f"{overlap:.3f}, same top-1 {top1:.3f}")


if __name__ == "__main__":
    main()
