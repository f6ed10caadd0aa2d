#!/usr/bin/env python
"""Latency of the Telegram bot: update served by getUpdates -> the bot's sendMessage.

Starts the real bot (python-telegram-bot Application with its HTTP layer)
against the fake Bot API server of the tests, sends questions one at a time
from different users, and prints the median and worst time from the moment
the fake server hands the update to the bot until the bot's first sendMessage
for it (the answer appears) and its last one (the answer is complete).
With --burst all questions are queued at once, as when many people ask together.

    python -m benchmarks.bot_latency                         # temp index of corpus/
    python -m benchmarks.bot_latency --index index --n 50 --burst
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from chat.config import ChatConfig
from chat.feedback import FeedbackStore
from chat.telegram_bot import ALLOWED_UPDATES, build_application
from tests.fake_bot_api import FakeBotAPI

ROOT = Path(__file__).resolve().parent.parent

QUESTIONS = [
    "Thường trực Huyện ủy duyệt chương trình công tác của MTTQ năm 2024",
    "thuong truc huyen uy duyet chuong trinh cong tac mttq nam 2024",
    "Thành ủy Hồng Ngự làm việc với các ngành Khối vận năm 2022",
    "thanh uy hong ngu lam viec voi khoi van",
    "Ban Dân vận Huyện ủy Gia Viễn tổng kết công tác dân vận năm 2023",
    "phong trào thi đua dân vận khéo ở Gia Viễn",
    "Hội nghị đánh giá chương trình phối hợp giữa HĐND, UBND huyện Đầm Hà năm 2022",
    "Thường trực Huyện ủy làm việc với Mặt trận Tổ quốc phiên đầu năm 2024",
    "Đại hội MTTQ huyện Đầm Hà nhiệm kỳ 2024 – 2029",
    "công tác nhân đạo, an sinh xã hội của Mặt trận Tổ quốc",
    "Giá vàng hôm nay bao nhiêu?",
    "Đồng chí Đặng Văn Tuấn chủ trì hội nghị nào?",
    "quy chế dân chủ ở cơ sở",
    "xây dựng nông thôn mới kiểu mẫu",
    "Ngày hội Đại đoàn kết ở khu dân cư",
    "Nghị quyết số 20 – NQ/TU ngày 27/11/2023",
    "giảm nghèo bền vững năm 2023",
    "😀",
    "Thời tiết Hà Nội ngày mai",
    "chuong trinh phoi hop nam 2022 dam ha",
]


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


@contextlib.asynccontextmanager
async def running_bot(config: ChatConfig, searcher, db: Path):
    """The real bot polling a fake Bot API server; yields the server."""
    with FakeBotAPI() as api:
        app = build_application(config, searcher, token=api.token, base_url=api.base_url,
                                store=FeedbackStore(db))
        await app.initialize()
        await app.start()
        await app.updater.start_polling(poll_interval=0.0, timeout=10,
                                        allowed_updates=ALLOWED_UPDATES)
        try:
            yield api
        finally:
            await app.updater.stop()
            await app.stop()
            await app.shutdown()


async def measure(config: ChatConfig, searcher, n: int, burst: bool, db: Path) -> dict:
    async with running_bot(config, searcher, db) as api:
        # One warm-up question: the first search loads the embedding model.
        api.message(QUESTIONS[0], chat_id=1)
        await api.wait_reply(1, timeout=120, settle=0.2)
        asked: list[tuple[int, int]] = []  # (update_id, chat_id)
        for i in range(n):
            chat = 1000 + i
            asked.append((api.message(QUESTIONS[i % len(QUESTIONS)], chat_id=chat), chat))
            if not burst:
                await api.wait_reply(chat, timeout=60, settle=0.05)
        for _, chat in asked:
            await api.wait_reply(chat, timeout=120, settle=0.05)
        await asyncio.sleep(0.3)  # late parts of multi-message answers
        return {**spans(api, [(api.served_at[u], chat) for u, chat in asked]),
                "errors": api.errors}


def spans(api, asked: list[tuple[float, object]]) -> dict:
    """Seconds from each update served (at `served`) to the first and the last message
    sent to its chat; `api` is a fake Bot API (Telegram's or Zalo's)."""
    first, last = [], []
    for served, chat in asked:
        sent = [s.at for s in api.sent_to(chat)]
        first.append(min(sent) - served)
        last.append(max(sent) - served)
    return {"first": first, "last": last}


def print_spans(result: dict) -> None:
    """Median, p90 and worst of `spans`, in milliseconds."""
    for name, values in (("first sendMessage", result["first"]),
                         ("answer complete", result["last"])):
        ms = [v * 1000 for v in values]
        print(f"  served -> {name:17}: median {statistics.median(ms):7.1f} ms, "
              f"p90 {percentile(ms, 0.9):7.1f} ms, worst {max(ms):7.1f} ms")


def bench_searcher(index: str | None, corpus: str, tmp: Path):
    """(config, searcher) for a benchmark: `index`, or a temporary index of `corpus`;
    no per-user question limit (the bot is measured, not the limit), no reload job."""
    from retrieval.index import build_index
    from retrieval.search import Searcher

    config = ChatConfig(corpus_dir=corpus, index_dir=index or str(tmp / "index"))
    config.bot.questions_per_minute = 0
    config.bot.reload_seconds = 0
    if not index:
        print(f"building a temporary index of {corpus} …", file=sys.stderr)
        build_index(config.corpus_dir, config.index_dir, config, progress=False)
    return config, Searcher.open(config.index_dir, config)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", help="an existing index folder (default: build a temporary "
                        "one from --corpus)")
    parser.add_argument("--corpus", default=str(ROOT / "corpus"))
    parser.add_argument("--n", type=int, default=50, help="number of questions (default 50)")
    parser.add_argument("--burst", action="store_true",
                        help="also queue all questions at once (concurrency)")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="bot-latency-"))
    try:
        config, searcher = bench_searcher(args.index, args.corpus, tmp)
        modes = [False, True] if args.burst else [False]
        for burst in modes:
            t0 = time.monotonic()
            result = asyncio.run(measure(config, searcher, args.n, burst, tmp / f"fb{burst}.db"))
            wall = time.monotonic() - t0
            label = "burst (all queued at once)" if burst else "sequential (one at a time)"
            print(f"{label}: {args.n} questions in {wall:.1f} s")
            print_spans(result)
            if result["errors"]:
                print(f"  API errors: {result['errors']}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
