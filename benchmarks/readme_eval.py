"""Keep the README's eval table equal to what `python -m retrieval eval --json` prints.

    python -m retrieval eval --index INDEX --questions tests/data/questions.jsonl --json > eval.json
    python -m benchmarks.readme_eval eval.json            # exit 1, with a diff, if the README differs
    python -m benchmarks.readme_eval eval.json --write    # rewrite the README's table from it

INDEX is an index of corpus/ plus tests/data/fictional/ built with the default
config (what the tests evaluate).  The table sits between the README's
`<!-- eval -->` and `<!-- /eval -->` lines; this script is the only writer of
its format, so a figure there is always one that eval printed.
"""
from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"(<!-- eval -->\n)(.*?)(<!-- /eval -->)", re.S)
COLUMNS = ("hit@1", "hit@3", "hit@5", "mrr@10", "article_hit@3")


def table(result: dict) -> str:
    """The README's eval table, rendered from eval's JSON."""
    def row(name: str, m: dict) -> str:
        return f"| {name} | {m['n']} | " + " | ".join(f"{m[c]:.3f}" for c in COLUMNS) + " |"

    u, graded = result["unanswerable"], result["answerable_graded"]
    lines = ["| questions | n | hit@1 | hit@3 | hit@5 | MRR@10 | article hit@3 |",
             "|---|---|---|---|---|---|---|",
             row("all answerable", result["overall"])]
    lines += [row(name, m) for name, m in sorted(result["by_type"].items())]
    lines += ["",
              f"Unanswerable: {u['correct']} of {u['n']} graded partial or none, {u['said_missing']} "
              "of them naming what is missing.",
              f"Answerable graded \"not found\": {graded['none']} of {result['overall']['n']}.", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("eval_json", help="output of `python -m retrieval eval --json` (- = stdin)")
    parser.add_argument("--write", action="store_true", help="rewrite the README's table")
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args()
    raw = sys.stdin.read() if args.eval_json == "-" else Path(args.eval_json).read_text(encoding="utf-8")
    text = args.readme.read_text(encoding="utf-8")
    found = BLOCK.search(text)
    if not found:
        print(f"{args.readme}: no <!-- eval --> ... <!-- /eval --> block", file=sys.stderr)
        return 2
    wanted = table(json.loads(raw))
    if found.group(2) == wanted:
        print(f"{args.readme}: the eval table matches the eval output")
        return 0
    if args.write:
        args.readme.write_text(text[:found.start(2)] + wanted + text[found.end(2):], encoding="utf-8")
        print(f"{args.readme}: eval table rewritten")
        return 0
    sys.stdout.writelines(difflib.unified_diff(found.group(2).splitlines(True), wanted.splitlines(True),
                                               "README.md", "eval output"))
    return 1


if __name__ == "__main__":
    sys.exit(main())
