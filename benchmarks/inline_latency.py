#!/usr/bin/env python
"""Latency of inline mode: "@bot câu hỏi" served by getUpdates -> the bot's answerInlineQuery.

Starts the real bot against the fake Bot API server of the tests and sends the
questions of bot_latency.py as inline queries one at a time, twice: the first
round searches, the second is answered from the bot's brief inline cache.
Prints the median, p90 and worst time of each round.

    python -m benchmarks.inline_latency                 # temporary index of corpus/
    python -m benchmarks.inline_latency --index index --rounds 3
"""
from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from chat.config import ChatConfig

from .bot_latency import QUESTIONS, bench_searcher, percentile, running_bot

ROOT = Path(__file__).resolve().parent.parent


async def measure(config: ChatConfig, searcher, rounds: int, db: Path) -> list[list[float]]:
    """Seconds from update served to answerInlineQuery, per question, per round."""
    async with running_bot(config, searcher, db) as api:

        async def ask(text: str, user: int) -> float:
            n = len(api.calls_to("answerInlineQuery"))
            update_id = api.inline(text, user_id=user)
            await api.wait_for(lambda: len(api.calls_to("answerInlineQuery")) > n, timeout=120)
            return api.calls_to("answerInlineQuery")[n].at - api.served_at[update_id]

        await ask("khởi động mô hình", 1)  # warm-up: the first search loads the model
        return [[await ask(q, 2 + i) for i, q in enumerate(QUESTIONS)] for _ in range(rounds)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", help="an existing index (default: a temporary one of --corpus)")
    parser.add_argument("--corpus", default=str(ROOT / "corpus"))
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="inline-latency-"))
    try:
        config, searcher = bench_searcher(args.index, args.corpus, tmp)
        rounds = asyncio.run(measure(config, searcher, args.rounds, tmp / "fb.db"))
        for n, seconds in enumerate(rounds, 1):
            ms = [s * 1000 for s in seconds]
            label = "searched" if n == 1 else "cached  "
            print(f"round {n} ({label}) {len(ms)} inline queries: median {statistics.median(ms):7.1f} ms, "
                  f"p90 {percentile(ms, 0.9):7.1f} ms, worst {max(ms):7.1f} ms")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
