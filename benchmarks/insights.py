"""How fast the admins' report is, on a fixture store of 10,000 questions over 90 days.

    python -m benchmarks.insights [--index DIR] [--questions N] [--runs N]

Prints three figures against issue 20's targets:
- report: chat.insights.build_report for 7, 30 and 90 days (target <= 1 s);
- page: the dashboard page loaded by headless Chromium, from navigation start to the
  load event of the page (server report + SVG charts + layout), measured inside the
  browser by a wrapper page whose frame loads the dashboard (target <= 2 s);
- /thongke: the real bot on the fake Bot API, from the command sent to the chart
  received (target <= 3 s); matplotlib is imported beforehand, as the bot does 15 s
  after it starts.
Without --index, the bundled corpus/ is indexed into a temporary folder first.
The archive's coverage (articles per organisation and year) is computed once per
index generation; its cost on a large archive is measured on --articles synthetic
headlines (benchmarks/synthetic.py, fictional).
"""
from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

from chat.config import ChatConfig
from chat.dashboard import Dashboard, make_server
from chat.feedback import FeedbackStore
from chat.insights import build_report, pyplot
from tests.fake_bot_api import FakeBotAPI
from tests.insights_fixture import make_store

ROOT = Path(__file__).resolve().parent.parent

ADMIN = 777


def _index(args, tmp: Path) -> Path:
    if args.index:
        return Path(args.index)
    from retrieval.index import build_index

    index = tmp / "index"
    build_index(ROOT / "corpus", index, ChatConfig(), progress=False)
    return index


def coverage_time(n: int) -> None:
    """The first report after an index build reads every headline once (then cached)."""
    from chat.insights import coverage
    from retrieval.convert.text import split_front_matter

    from .synthetic import article_spec, render_article

    rows = []
    for number in range(n):
        spec = article_spec(7, number)
        _, body = split_front_matter(render_article(spec, 7, paragraphs=1))
        rows.append((spec.article_id(), spec.title, spec.date, spec.place, body.strip()))
    started = time.perf_counter()
    coverage(rows, None)
    first = time.perf_counter() - started
    rows[-n // 10:] = [(a, t + " (sửa)", d, p, lead) for a, t, d, p, lead in rows[-n // 10:]]
    started = time.perf_counter()
    coverage(rows, None)
    print(f"coverage of {n} synthetic articles: {first:.2f} s the first time in a process, "
          f"{time.perf_counter() - started:.2f} s after a build that changed {n // 10} of them")


def report_times(db: Path, index: Path, runs: int) -> None:
    from retrieval.index import IndexReader

    store = FeedbackStore(db)
    reader = IndexReader(index, None)
    for days in (7, 30, 90):
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            report = build_report(store.reader(), reader, None, days=days)
            times.append(time.perf_counter() - started)
        print(f"report {days:>2} days ({report.questions} questions): "
              f"median {statistics.median(times):.3f} s, max {max(times):.3f} s "
              f"(first, coverage not cached: {times[0]:.3f} s)")
    reader.close()
    store.close()


def page_times(db: Path, index: Path, tmp: Path, runs: int) -> None:
    browser = shutil.which("chromium")
    if not browser:
        print("page: chromium missing (apt-get install chromium)")
        return
    dashboard = Dashboard(db, index, None)
    server = make_server(dashboard, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        for days in (7, 90):
            wrapper = tmp / f"wrapper{days}.html"
            wrapper.write_text(
                "<!doctype html><body><script>var t0 = performance.now();</script>"
                f'<iframe src="http://127.0.0.1:{port}/?days={days}" style="width:412px;height:3000px" '
                "onload=\"document.body.setAttribute('data-ms', Math.round(performance.now() - t0))\">"
                "</iframe></body>", encoding="utf-8")
            times = []
            for n in range(runs):
                dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                                      f"--user-data-dir={tmp / f'profile{days}-{n}'}",
                                      "--dump-dom", wrapper.as_uri()],
                                     capture_output=True, text=True, timeout=120).stdout
                found = re.search(r'data-ms="(\d+)"', dom)
                times.append(int(found[1]) / 1000 if found else float("nan"))
            print(f"page {days:>2} days in Chromium: median {statistics.median(times):.3f} s, "
                  f"max {max(times):.3f} s")
    finally:
        server.shutdown()
        server.server_close()
        dashboard.close()


async def _thongke_times(db: Path, index: Path, runs: int) -> list[float]:
    from chat.telegram_bot import ALLOWED_UPDATES, build_application
    from retrieval.search import Searcher

    config = ChatConfig(index_dir=str(index))
    config.bot = replace(config.bot, admins=[ADMIN], reload_seconds=0, feedback_db=str(db))
    searcher = Searcher.open(index, config)
    times = []
    with FakeBotAPI() as api:
        app = build_application(config, searcher, token=api.token, base_url=api.base_url,
                                store=FeedbackStore(db))
        await app.initialize()
        await app.start()
        await app.updater.start_polling(poll_interval=0.0, timeout=1, allowed_updates=ALLOWED_UPDATES)
        try:
            for days in ["30"] * runs:
                n = len(api.sent_to(ADMIN))
                started = time.perf_counter()
                api.message(f"/thongke {days}", chat_id=ADMIN)
                await api.wait_for(lambda n=n: any(s.photo for s in api.sent_to(ADMIN)[n:]), timeout=60,
                                   what="the chart")
                times.append(time.perf_counter() - started)
        finally:
            await app.updater.stop()
            await app.stop()
            await app.shutdown()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", help="index folder (default: index corpus/ into a temporary folder)")
    parser.add_argument("--questions", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--articles", type=int, default=5000, help="synthetic headlines for coverage")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        index = _index(args, tmp)
        from retrieval.index import IndexReader

        reader = IndexReader(index, None)
        articles = [(h[0], h[1]) for h in reader.headlines()]
        reader.close()
        started = time.perf_counter()
        store, _ = make_store(tmp / "feedback.sqlite", questions=args.questions, days=90, old=200,
                              articles=articles, people=800)
        store.close()
        print(f"fixture: {args.questions} questions over 90 days (+200 beyond retention), "
              f"{len(articles)} articles in the index, written in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        with pyplot():
            pass
        print(f"importing matplotlib: {time.perf_counter() - started:.2f} s (once per process)")
        report_times(tmp / "feedback.sqlite", index, args.runs)
        coverage_time(args.articles)
        page_times(tmp / "feedback.sqlite", index, tmp, max(3, args.runs // 2))
        times = asyncio.run(_thongke_times(tmp / "feedback.sqlite", index, max(3, args.runs // 2)))
        print(f"/thongke 30 through the fake Bot API: first {times[0]:.2f} s, "
              f"median {statistics.median(times):.2f} s, max {max(times):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
