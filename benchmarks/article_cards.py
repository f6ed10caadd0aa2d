#!/usr/bin/env python
"""How many different articles the first page of an answer shows, passages vs cards.

For each question of a JSONL file (tests/data/questions.jsonl by default):
"passages" is the old first page (the three best passages, often of one
article); "cards" is the page chat/service.py now builds (article_cards: one
card per article).  "Relevant" articles of a question are the distinct articles
among its ten best passages (what the old first three pages and a bit showed);
the target of issue 11 is about questions with at least three of them.  Also
prints how often the question's gold article is on the first page, so a page of
more articles is not bought by losing the right one.

    python -m benchmarks.article_cards --index INDEX_DIR [--questions FILE] [--per-page 3]
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from chat.service import CARD_POOL, article_cards
from retrieval import Config, Searcher

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True)
    parser.add_argument("--questions", default=str(ROOT / "tests" / "data" / "questions.jsonl"))
    parser.add_argument("--per-page", type=int, default=3)
    args = parser.parse_args()
    searcher = Searcher.open(args.index, Config())
    n = args.per_page
    rows = []
    for line in Path(args.questions).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        q = json.loads(line)
        response = searcher.search(q["question"], top_k=CARD_POOL)
        if not response.answered:
            continue
        hits = response.hits
        old = {h.article_id for h in hits[:n]}
        new = [card[0].article_id for card in article_cards(hits)[:n]]
        relevant = len({h.article_id for h in hits[:10]})
        gold = set(q.get("gold_ids") or [])
        rows.append((len(old), len(new), relevant, bool(gold & old), bool(gold & set(new))))
    many = [r for r in rows if r[2] >= n]
    print(f"answered questions: {len(rows)}; with >= {n} relevant articles: {len(many)}")
    for name, i in (("passages (old)", 0), ("cards (new)", 1)):
        full = sum(r[i] >= n for r in many)
        print(f"{name:15s} first page shows {n} different articles: {full}/{len(many)}; "
              f"mean different articles (all answered): {statistics.mean(r[i] for r in rows):.2f}; "
              f"gold article on page 1: {sum(r[3 + i] for r in rows)}/{len(rows)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
