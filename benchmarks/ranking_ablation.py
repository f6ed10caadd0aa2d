"""What moves the right article to rank 1: the ranking's parts switched off one at a time.

    python -m benchmarks.ranking_ablation --index INDEX [--questions tests/data/questions.jsonl] [--json]

Each row is `retrieval.evaluate` with one part of search.py changed in the
config: the constraint votes (place, year, organisation, event) and the
diacritic restoration of unaccented questions.  Every row is today's code with
weights zeroed or switches off, not an older version of it.  Build the index first, e.g. of
corpus/ plus tests/data/fictional/ (what the tests use).
"""
from __future__ import annotations

import argparse
import copy
import json

from retrieval import Config, Searcher
from retrieval.evaluate import evaluate, read_questions

VARIANTS = {
    "all on (default)": {},
    "no constraint votes": {"place_weight": 0.0, "year_weight": 0.0, "organisation_weight": 0.0,
                            "event_weight": 0.0},
    "place vote only, no respelling": {"year_weight": 0.0, "organisation_weight": 0.0, "event_weight": 0.0,
                                 "respell_questions": False},
    "no place vote": {"place_weight": 0.0},
    "no year vote": {"year_weight": 0.0},
    "no organisation vote": {"organisation_weight": 0.0},
    "no event vote": {"event_weight": 0.0},
    "no respelling of questions": {"respell_questions": False},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True)
    parser.add_argument("--questions", default="tests/data/questions.jsonl")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    questions = read_questions(args.questions)
    base = Config()
    searcher = Searcher.open(args.index, base)
    rows = {}
    for name, changes in VARIANTS.items():
        config = copy.deepcopy(base)
        for key, value in changes.items():
            setattr(config.search, key, value)
        searcher.config = config
        result = evaluate(searcher, questions)
        u, g = result.unanswerable, result.graded
        rows[name] = {**{k: round(v, 3) for k, v in result.overall.items() if k != "n"},
                      "unaccented_hit@1": round(result.by_type.get("unaccented", {}).get("hit@1", 0), 3),
                      "unanswerable_not_exact": f"{u['correct']}/{u['n']}",
                      "answerable_none": f"{g['none']}/{sum(g.values())}"}
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    print(f"{'variant':<31} hit@1  hit@3  MRR@10 unacc@1 unanswerable≠exact answerable=none")
    for name, r in rows.items():
        print(f"{name:<31} {r['hit@1']:.3f}  {r['hit@3']:.3f}  {r['mrr@10']:.3f}  "
              f"{r['unaccented_hit@1']:.3f}   {r['unanswerable_not_exact']:>8}"
              f"         {r['answerable_none']:>6}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
