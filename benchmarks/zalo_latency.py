#!/usr/bin/env python
"""Latency of the Zalo bot: update handed out by getUpdates -> the bot's sendMessage.

Runs the real Zalo front end (chat/zalo: httpx client, polling loop, shared
ChatService) against the fake Zalo Bot API of the tests, sends the questions of
benchmarks/bot_latency.py one at a time from different chats, and prints the
median, p90 and worst time from the moment the fake server hands an update to
the bot until the bot's first sendMessage for it and its last one.  Also
counts unanswered updates and messages over 2,000 characters.

    python -m benchmarks.zalo_latency                  # temp index of corpus/ (seed corpus)
    python -m benchmarks.zalo_latency --index index --n 50
"""
from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

from chat.feedback import FeedbackStore
from chat.zalo.app import build_zalo
from tests.fake_zalo_api import TEXT_LIMIT, FakeZaloAPI

from .bot_latency import QUESTIONS, bench_searcher, print_spans, spans

ROOT = Path(__file__).resolve().parent.parent


async def measure(config, searcher, n: int, db: Path) -> dict:
    with FakeZaloAPI() as api:
        store = FeedbackStore(db)
        bot = build_zalo(config, searcher, api.token, base_url=api.base_url, store=store)
        await bot.start()
        task = asyncio.ensure_future(bot.run())
        try:
            api.message(QUESTIONS[0], chat_id="warm-up")  # the first search loads the model
            await api.wait_reply("warm-up", timeout=120, settle=0.2)
            asked = []
            for i in range(n):
                chat = f"c{i}"
                update = api.message(QUESTIONS[i % len(QUESTIONS)], chat_id=chat)
                asked.append((update["message"]["message_id"], chat))
                await api.wait_reply(chat, timeout=60, settle=0.05)
        finally:
            bot.stop()
            await task
            store.close()
        return {**spans(api, [(api.served[m], chat) for m, chat in asked]), "errors": api.errors,
                "unanswered": sum(not api.sent_to(chat) for _, chat in asked),
                "too_long": sum(len(s.text) > TEXT_LIMIT for s in api.sent)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", help="an existing index folder (default: build a temporary "
                        "one from --corpus)")
    parser.add_argument("--corpus", default=str(ROOT / "corpus"))
    parser.add_argument("--n", type=int, default=50, help="number of questions (default 50)")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="zalo-latency-"))
    try:
        config, searcher = bench_searcher(args.index, args.corpus, tmp)
        t0 = time.monotonic()
        result = asyncio.run(measure(config, searcher, args.n, tmp / "fb.db"))
        print(f"sequential (one at a time): {args.n} questions in {time.monotonic() - t0:.1f} s")
        print_spans(result)
        print(f"  unanswered: {result['unanswered']}, messages over {TEXT_LIMIT} characters: "
              f"{result['too_long']}, API errors: {len(result['errors'])}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
