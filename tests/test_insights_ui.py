"""The admins' report as people use it: the dashboard page opened by a real headless
browser (Debian's Chromium; `make test` installs it), and /thongke plus the weekly
message through the real bot and the fake Bot API.  Figures are checked against the
fixture store counted directly (test_insights.expected)."""
from __future__ import annotations

import asyncio
import re
import shutil
import struct
import subprocess
import threading
import urllib.request
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

from chat_fixtures import ADMIN_ID
from insights_fixture import OLD_MARK, make_store
from test_insights import TZ, expected

from chat.dashboard import Dashboard, make_server
from chat.insights import build_report, chat_chart
from chat.render import texts

USER = 4321
GROUP = -100555


def chromium() -> str:
    """Debian's Chromium: the test fails, never skips, without it (`make test` installs it)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Chromium is missing: run `make test` (as root it installs Debian's chromium)"
    return path


class Figures(HTMLParser):
    """data-figure values in document order, and the text of the SVG groups with an id."""

    def __init__(self):
        super().__init__()
        self.figures: list[tuple[str, int]] = []
        self.labels: list[str] = []
        self.drawn: dict[str, str] = {}
        self._group: str | None = None
        self._label = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-value" in a:
            self.figures.append((a["data-figure"], int(a["data-value"])))
        if a.get("data-figure") == "gap-label":
            self._label = True
        if tag == "g" and re.match(r"(day|gap)-", a.get("id", "")):
            self._group = a["id"]

    def handle_data(self, data):
        if self._label:
            self.labels.append(data)
            self._label = False
        if self._group and data.strip():
            self.drawn[self._group] = data.strip()
            self._group = None

    def of(self, name: str) -> list[int]:
        return [v for f, v in self.figures if f == name]


def test_the_page_in_a_browser_shows_the_fixture_figures(tmp_path, seed_index):
    store, asked = make_store(tmp_path / "feedback.sqlite", questions=500, days=30,
                              articles=[(h[0], h[1]) for h in _headlines(seed_index)])
    store.close()
    dashboard = Dashboard(tmp_path / "feedback.sqlite", seed_index.index_dir, None, tz=TZ)
    server = make_server(dashboard, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/?days=7"
    shot = tmp_path / "dashboard.png"
    try:
        common = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                  "--window-size=412,2400", f"--user-data-dir={tmp_path / 'profile'}"]
        dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=120,
                             check=True).stdout
        subprocess.run([*common, f"--screenshot={shot}", url], capture_output=True, timeout=120, check=True)
    finally:
        server.shutdown()
        server.server_close()
        dashboard.close()
    now = datetime.now(UTC)
    want = expected(asked, days=7, retention=90, now=now)
    today = now.astimezone(ZoneInfo(TZ)).date()
    # every day of the period, newest first, a day nobody asked on included (as 0)
    days = [today - timedelta(days=k) for k in range(7)]
    page = Figures()
    page.feed(dom)
    assert page.of("questions") == [want["questions"]] and page.of("people") == [want["people"]]
    for grade in ("exact", "partial", "none"):
        assert page.of(f"grade-{grade}") == [want["grades"][grade]]
        assert page.of(f"day-{grade}") == [want["per_day"][d][grade] for d in days]
        for day in days:  # the chart's bar labels
            n = want["per_day"][day][grade]
            assert page.drawn.get(f"day-{day.isoformat()}-{grade}", "0") == str(n)
    assert (page.of("votes-up"), page.of("votes-down")) == ([want["up"]], [want["down"]])
    top = want["gaps"][:10]
    assert page.labels == [label for label, _ in top]
    assert page.of("gap-asked") == [g["asked"] for _, g in top]
    assert page.of("gap-none") == [g["none"] for _, g in top]
    assert page.of("gap-partial") == [g["partial"] for _, g in top]
    assert [page.drawn[f"gap-{r}"] for r in range(len(top))] == [str(g["asked"]) for _, g in top]
    for _, g in top:
        for example in g["examples"]:
            assert example in dom
    assert page.of("article-shown") == sorted(want["shown"].values(), reverse=True)[:10]
    headlines = _headlines(seed_index)
    assert page.of("index-articles") == [len(headlines)]
    assert OLD_MARK not in dom
    # The screenshot is a real PNG of a phone-wide page.
    width, height = png_size(shot.read_bytes())
    assert width == 412 and height >= 1000


def _headlines(seed_index):
    from retrieval.index import IndexReader

    reader = IndexReader(seed_index.index_dir, None)
    try:
        return reader.headlines()
    finally:
        reader.close()


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, after checking its signature and header chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _numbers(line: str) -> list[int]:
    return [int(n.replace(".", "")) for n in re.findall(r"\d[\d.]*", line)]


def test_thongke_for_admins_text_and_chart_match_the_fixture_and_weekly_message(bot_env):
    api = bot_env.api
    store, asked = make_store(bot_env.db_path, questions=400, days=30,
                              articles=[(h.article_id, h.title) for h in bot_env.searcher.latest(20)])
    store.close()
    bot_env.config.dashboard = replace(bot_env.config.dashboard, with_bot=True, port=0)

    async def scenario():
        async with bot_env.running() as app:
            server = app.bot_data["insights"].dashboard  # [dashboard] with_bot: served meanwhile
            page = await asyncio.to_thread(_page, f"http://127.0.0.1:{server.server_address[1]}/?days=7")
            api.message("/thongke", chat_id=USER)
            refused = await api.wait_reply(USER)
            api.message("/thongke", chat_id=ADMIN_ID)
            week = await api.wait_reply(ADMIN_ID, until=lambda m: any(s.photo for s in m))
            n = len(api.sent_to(ADMIN_ID))
            api.message("/thongke 30", chat_id=ADMIN_ID)
            month = await api.wait_reply(ADMIN_ID, after=n, until=lambda m: any(s.photo for s in m))
            n = len(api.sent_to(ADMIN_ID))
            api.message("/thongke 12", chat_id=ADMIN_ID)
            usage = await api.wait_reply(ADMIN_ID, after=n)
            api.message("/thongke", chat_id=GROUP, user_id=ADMIN_ID)
            usage += await api.wait_reply(GROUP)
            (job,) = app.job_queue.get_jobs_by_name("weekly-report")
            next_run = job.next_t.astimezone(ZoneInfo(TZ))
            n = len(api.sent_to(ADMIN_ID))
            await job.run(app)
            weekly = api.sent_to(ADMIN_ID)[n:]
            return refused, week, month, usage, next_run, weekly, page

    refused, week, month, usage, next_run, weekly, page = bot_env.run(scenario())
    figures = Figures()
    figures.feed(page)
    assert figures.of("questions") == [expected(asked, days=7, retention=90, now=datetime.now(UTC))["questions"]]
    assert [m.plain for m in refused] == [texts.ADMIN_ONLY]
    assert "/thongke 30" in usage[0].plain
    assert "tin nhắn riêng" in usage[1].plain and not any(s.photo for s in api.sent_to(GROUP))
    assert (next_run.weekday(), next_run.hour, next_run.minute) == (0, 8, 0)  # Monday 08:00
    for messages, days in ((week, 7), (month, 30), (weekly, 7)):
        text, photo = messages[0].plain, messages[-1].photo
        assert photo is not None and len(messages) == 2
        want = expected(asked, days=days, retention=90, now=datetime.now(UTC))
        lines = text.splitlines()
        assert f"Thống kê {days} ngày" in lines[0]
        assert _numbers(lines[1]) == [want["questions"], want["people"]]
        for line, grade in zip(lines[2:5], ("exact", "partial", "none"), strict=True):
            share = round(want["grades"][grade] / want["questions"] * 100)
            assert _numbers(line) == [want["grades"][grade], share]
        assert _numbers(lines[5]) == [want["up"], want["down"]]
        gap_lines = [line for line in lines if re.match(r"\d\. ", line)]
        assert [line.split(". ", 1)[1].rsplit(": ", 1)[0] for line in gap_lines] == [
            label for label, _ in want["gaps"][:5]]
        assert [_numbers(line.rsplit(": ", 1)[1]) for line in gap_lines] == [
            [g["asked"], g["none"], g["partial"]] for _, g in want["gaps"][:5]]
        assert OLD_MARK not in text
        width, height = png_size(photo)
        assert 600 <= width <= 2000 and 600 <= height <= 2000 and 20_000 < len(photo) < 1_000_000
    # The picture draws the same figures (drawn again as SVG, text kept as text).
    report = build_report(FeedbackStoreReader(bot_env.db_path), bot_env.searcher.reader, None, days=7, tz=TZ)
    svg = chat_chart(report, fmt="svg").decode()
    now = datetime.now(UTC)
    want = expected(asked, days=7, retention=90, now=now)
    today = now.astimezone(ZoneInfo(TZ)).date()
    # every day of the period, newest first, a day nobody asked on included (as 0)
    days = [today - timedelta(days=k) for k in range(7)]
    for rank, (_, g) in enumerate(want["gaps"][:6]):
        assert re.search(rf'<g id="gap-{rank}">\s*<text[^>]*>{g["asked"]}</text>', svg)


def _page(url: str) -> str:
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read().decode()


def FeedbackStoreReader(path):  # noqa: N802 - reads like the class it opens
    from chat.feedback import FeedbackReader

    return FeedbackReader.open(path)
