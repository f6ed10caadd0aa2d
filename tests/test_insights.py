"""The admins' report (chat/insights.py): every figure against the fixture store counted
here directly, retention and pseudonyms, the stored grade and topic, the schema
migration, and the dashboard server's rules.  The browser and Telegram tests are in
test_insights_ui.py.  All questions are made up (tests/insights_fixture.py)."""
from __future__ import annotations

import json
import re
import sqlite3
import threading
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from chat_fixtures import StubReader
from insights_fixture import EVENT_WORDS, OLD_MARK, make_store

from chat.dashboard import Dashboard, make_server, render_page
from chat.feedback import ChatPage, FeedbackReader, FeedbackStore
from chat.insights import build_report, chat_chart
from chat.service import ChatService
from retrieval.query import Intent, Place
from retrieval.types import Hit, SearchResponse
from retrieval.vocabulary import ORGANISATIONS

TZ = "Asia/Ho_Chi_Minh"
NOW = datetime(2026, 11, 20, 3, 30, tzinfo=UTC)  # 10:30 in Hà Nội


def label_of(topic: dict) -> str:
    """The fixture's topic as the report should name it."""
    parts = [" ".join(ORGANISATIONS[o] for o in topic.get("organisations", [])),
             ", ".join(topic.get("places", [])),
             ", ".join(f"năm {y}" for y in topic.get("years", [])),
             ", ".join(EVENT_WORDS[e] for e in topic.get("events", []))]
    return " · ".join(p for p in parts if p) or "Không nêu tổ chức, địa bàn hay năm"


def expected(asked, *, days: int, retention: int, now=NOW) -> dict:
    """The report's figures, counted from the fixture as asked."""
    tz = ZoneInfo(TZ)
    first = now.astimezone(tz).date() - timedelta(days=days - 1)
    since = datetime.combine(first, time(), tz)
    if retention:
        since = max(since, now - timedelta(days=retention))
    inside = [q for q in asked if q.at >= since]
    per_day = defaultdict(Counter)
    for q in inside:
        per_day[q.at.astimezone(tz).date()][q.grade] += 1
    gaps = defaultdict(lambda: {"asked": 0, "none": 0, "partial": 0, "examples": []})
    for q in sorted(inside, key=lambda q: (q.at, q.qid), reverse=True):
        if q.grade in ("none", "partial"):
            g = gaps[label_of(q.topic)]
            g["asked"] += 1
            g[q.grade] += 1
            if len(g["examples"]) < 3:
                g["examples"].append(q.text)
    ranked = sorted(gaps.items(), key=lambda kv: (-kv[1]["asked"], kv[0].startswith("Không nêu"), kv[0]))
    votes = [(v, q) for q in asked for _, v, _ in q.votes if q.at + timedelta(seconds=30) >= since]
    shown = Counter(a for q in inside for _, a in q.shown)
    missing = Counter(m for q in inside if q.grade == "partial" for m in q.missing)
    return {"questions": len(inside), "people": len({q.user for q in inside}),
            "grades": Counter(q.grade for q in inside), "per_day": per_day, "gaps": ranked,
            "up": sum(v > 0 for v, _ in votes), "down": sum(v < 0 for v, _ in votes),
            "shown": shown, "missing": missing, "none": sum(q.grade == "none" for q in inside),
            "since": since}


@pytest.fixture(scope="module")
def fixture_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("insights") / "feedback.sqlite"
    store, asked = make_store(path, questions=600, days=30, retention_days=90, old=15, now=NOW)
    yield store, asked
    store.close()


@pytest.mark.parametrize("days,retention", [(7, 90), (30, 90), (30, 12)])
def test_every_figure_equals_the_fixture_counted_directly(fixture_store, days, retention):
    store, asked = fixture_store
    want = expected(asked, days=days, retention=retention)
    report = build_report(store.reader(), None, None, days=days, retention_days=retention, now=NOW, tz=TZ)
    assert report.questions == want["questions"] > 0
    assert report.people == want["people"]
    assert report.grades == dict(want["grades"])
    assert len(report.per_day) == days
    assert {d: c for d, c in report.per_day if c} == {d: dict(c) for d, c in want["per_day"].items()}
    got = [(g.label, g.asked, g.none, g.partial, g.examples) for g in report.gaps]
    assert got == [(label, g["asked"], g["none"], g["partial"], g["examples"])
                   for label, g in want["gaps"][:10]]
    assert (report.votes_up, report.votes_down) == (want["up"], want["down"])
    assert [(a.article_id, a.shown) for a in report.articles] == sorted(
        want["shown"].items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert dict(report.missing) == {**({"none": want["none"]} if want["none"] else {}),
                                    **want["missing"]}


def test_an_empty_store_gives_an_empty_report_page_and_chart(tmp_path):
    store = FeedbackStore(tmp_path / "empty.sqlite")
    report = build_report(store.reader(), None, None, days=30, now=NOW, tz=TZ)
    assert (report.questions, report.people, report.gaps, report.articles) == (0, 0, [], [])
    assert sum(sum(c.values()) for _, c in report.per_day) == 0 and report.share("none") == 0
    page = render_page(report)
    assert 'data-figure="questions" data-value="0"' in page and "Chưa có số liệu" in page
    assert chat_chart(report)[:8] == b"\x89PNG\r\n\x1a\n"
    store.close()


@pytest.mark.parametrize("days,retention", [(90, 90), (30, 12)])
def test_retention_and_pseudonyms_never_reach_the_page_text_or_image(fixture_store, days, retention):
    store, asked = fixture_store
    report = build_report(store.reader(), None, None, days=days, retention_days=retention, now=NOW,
                          tz=TZ)
    page = render_page(report)
    image_text = chat_chart(report, fmt="svg").decode()
    assert any(OLD_MARK in q.text for q in asked)  # the store does hold them
    # Asked within the period but before the retention cut (30 days shown, 12 kept).
    expired = [q.text for q in asked if q.at < NOW - timedelta(days=retention)]
    kept = [q.text for q in asked if q.at >= NOW - timedelta(days=retention)]
    assert any(t in page for t in kept)  # examples are shown: the check below can fail
    pseudonyms = {store.pseudonym(q.user) for q in asked}
    for shown in (page, image_text, json.dumps([g.examples for g in report.gaps], ensure_ascii=False)):
        assert OLD_MARK not in shown
        assert not any(t in shown for t in expired)
        assert not any(p in shown for p in pseudonyms)
    png = chat_chart(report)
    assert not any(p.encode() in png for p in pseudonyms)


def test_the_chart_draws_the_reports_figures(fixture_store):
    store, asked = fixture_store
    report = build_report(store.reader(), None, None, days=7, retention_days=90, now=NOW, tz=TZ)
    want = expected(asked, days=7, retention=90)
    svg = chat_chart(report, fmt="svg").decode()
    drawn = dict(re.findall(r'<g id="((?:day|gap)-[^"]+)">\s*<text[^>]*>([^<]*)</text>', svg))
    for day, counts in want["per_day"].items():
        for grade, n in counts.items():
            assert drawn[f"day-{day.isoformat()}-{grade}"] == str(n)
    for rank, (label, g) in enumerate(want["gaps"][:6]):
        assert drawn[f"gap-{rank}"] == str(g["asked"])
        assert label[:20] in svg


class GradingSearcher:
    """Answers every question with one article, graded as the test says."""

    reader = StubReader()

    def __init__(self, match: str, missing: list[str], intent: Intent, detail: str = ""):
        self.match, self.missing, self.intent, self.detail = match, missing, intent, detail

    def search(self, question, top_k=None, offset=0, today=None, prefer=(), intent=None):
        hit = Hit(article_id="a1", passage_id="a1#0", text="…", score=1.0, title="Bài 1")
        answered = self.match != "none"
        return SearchResponse(question, answered, [hit] if answered else [], self.match,
                              self.missing, intent=self.intent, detail=self.detail)

    def article(self, article_id):
        return None


def test_a_question_is_stored_with_its_grade_what_it_missed_and_its_topic(tmp_path):
    intent = Intent(places=[Place("tung khe", "huyện", "Tùng Khê")], years={2024},
                    organisations=["hoi_ccb"], events={"dai_hoi"})
    store = FeedbackStore(tmp_path / "fb.sqlite")
    for match, missing in (("partial", ["year"]), ("none", []), ("exact", [])):
        ChatService(GradingSearcher(match, missing, intent), store).ask(
            "Đại hội Hội CCB huyện Tùng Khê năm 2024", chat_id=5, user_id=5)
    rows = [r for r in store.export() if r["kind"] == "question"]
    assert [(r["grade"], r["missing"], r["answered"]) for r in rows] == [
        ("partial", ["year"], True), ("none", [], False), ("exact", [], True)]
    assert rows[0]["topic"] == {"organisations": ["hoi_ccb"], "places": ["huyện Tùng Khê"],
                                "years": ["2024"], "events": ["dai_hoi"]}
    (gap,) = build_report(store.reader(), days=1).gaps
    assert (gap.label, gap.asked, gap.none, gap.partial) == (
        "Hội Cựu chiến binh · huyện Tùng Khê · năm 2024 · đại hội", 2, 1, 1)
    # The article is there but does not say what was asked: a gap of its own.
    ChatService(GradingSearcher("partial", ["detail"], intent, "số hội viên"), store).ask(
        "Hội CCB huyện Tùng Khê có bao nhiêu hội viên năm 2024", chat_id=5, user_id=5)
    report = build_report(store.reader(), days=1)
    assert [(g.label, g.asked, dict(g.missing)) for g in report.gaps][-1] == (
        "Hội Cựu chiến binh · huyện Tùng Khê · năm 2024 · đại hội · số hội viên", 1, {"detail": 1})
    assert dict(report.missing)["detail"] == 1
    assert "không nêu điều được hỏi" in render_page(report)
    store.close()


V2_SCHEMA = """
CREATE TABLE questions (id INTEGER PRIMARY KEY AUTOINCREMENT, chat_hash TEXT NOT NULL,
    user_hash TEXT, text TEXT NOT NULL, answered INTEGER NOT NULL, asked_at TEXT NOT NULL);
CREATE TABLE shown (question_id INTEGER NOT NULL REFERENCES questions(id), rank INTEGER NOT NULL,
    passage_id TEXT NOT NULL, article_id TEXT NOT NULL, PRIMARY KEY (question_id, rank));
CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT,
    question_id INTEGER NOT NULL REFERENCES questions(id), page_offset INTEGER NOT NULL,
    user_hash TEXT, value INTEGER NOT NULL, question TEXT NOT NULL, passage_ids TEXT NOT NULL,
    created_at TEXT NOT NULL, UNIQUE (question_id, page_offset, user_hash));
PRAGMA user_version = 2;
"""


def test_version_2_rows_get_their_topic_from_their_text_and_are_read_before_and_after(tmp_path):
    path = tmp_path / "v2.sqlite"
    db = sqlite3.connect(path)
    db.executescript(V2_SCHEMA)
    when = datetime.now(UTC) - timedelta(hours=2)
    asked = when.isoformat(timespec="seconds")
    db.executemany("INSERT INTO questions VALUES (?, 'c', 'u', ?, ?, ?)", [
        (1, "Hội Nông dân huyện Kỳ Lương tổng kết năm 2023", 0, asked),
        (2, "Đoàn Thanh niên ra quân năm nay", 1, asked)])
    db.commit()
    db.close()
    # Read-only (the dashboard before the bot was restarted): topics read from the text.
    reader = FeedbackReader.open(path)
    before = reader.questions("2000")
    reader.close()
    store = FeedbackStore(path)  # the bot: converts
    after = store.reader().questions("2000")
    assert [(q.grade, q.topic) for q in after] == [(q.grade, q.topic) for q in before]
    assert after[0].grade == "none" and after[1].grade is None  # answered, grade unknown
    assert after[0].topic == {"organisations": ["hoi_nong_dan"], "places": ["huyện Kỳ Lương"],
                              "years": ["2023"], "events": ["tong_ket"]}
    assert after[1].topic["years"] == [str(datetime.now(UTC).year)]
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == 4
    store.keep_page("zalo:c", ChatPage(1, 3, True))  # version 4: chats' last pages
    assert store.chat_page("zalo:c", 60) == ChatPage(1, 3, True)
    # "Today" as of a minute after they were asked: two hours before now may be
    # yesterday in Vietnam (between 17:00 and 19:00 UTC).
    report = build_report(store.reader(), days=1, now=when + timedelta(minutes=1))
    assert report.grades == {"none": 1, None: 1} and report.grade_keys[-1] is None
    store.close()


def test_the_reader_never_writes(fixture_store, tmp_path):
    store, _ = fixture_store
    copy = tmp_path / "copy.sqlite"
    with store._lock:
        store._db.execute("VACUUM INTO ?", (str(copy),))
    before = copy.read_bytes()
    reader = FeedbackReader.open(copy)
    build_report(reader, days=30, now=NOW, tz=TZ)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader._db.execute("DELETE FROM questions")
    reader.close()
    assert copy.read_bytes() == before


def test_the_page_shows_each_fetch_sources_last_run_with_its_failures(fixture_store, tmp_path):
    from retrieval.fetch import PAGES_SOURCE, FetchReport, FetchState, Outcome

    store, _ = fixture_store
    state = FetchState(tmp_path / "fetch.sqlite")
    state.record_run("https://cong.example.vn/rss.xml", 1_700_000_000.0, FetchReport(
        fetched=[Outcome("https://cong.example.vn/a")] * 3,
        failed=[Outcome("https://cong.example.vn/b", "HTTP 500 (2 tries)")]))
    state.record_run(PAGES_SOURCE, 1_700_000_100.0, FetchReport(unchanged=[Outcome("u")] * 2))
    state.close()
    report = build_report(store.reader(), None, tmp_path / "fetch.sqlite", days=7, now=NOW, tz=TZ)
    assert [(r["source"], r["fetched"], r["unchanged"], r["failed"]) for r in report.fetch] == [
        (PAGES_SOURCE, 0, 2, 0), ("https://cong.example.vn/rss.xml", 3, 0, 1)]
    page = render_page(report)
    assert 'data-figure="fetch-fetched" data-value="3"' in page
    assert 'data-figure="fetch-failed" data-value="1"' in page
    assert "https://cong.example.vn/b: HTTP 500 (2 tries)" in page


def test_python_m_chat_dashboard_serves_the_page_until_stopped(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    store, asked = make_store(tmp_path / "fb.sqlite", questions=50, days=10, old=5)
    store.close()
    env = {k: v for k, v in os.environ.items() if k != "CONGTAC_DASHBOARD_TOKEN"}
    refused = subprocess.run([sys.executable, "-m", "chat", "dashboard", "--feedback-db", str(store.path),
                              "--host", "0.0.0.0", "--port", "0"], capture_output=True, text=True,
                             timeout=60, env=env)
    assert refused.returncode == 2 and "token" in refused.stderr
    # Ctrl+C as a terminal sends it, whatever this process inherited: a job started in
    # the background by a script ignores SIGINT, and so would the server.
    server = subprocess.Popen([sys.executable, "-m", "chat", "dashboard", "--feedback-db", str(store.path),
                               "--index", str(tmp_path / "no-index"), "--port", "0"],
                              stdout=subprocess.PIPE, text=True, env=env,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        line = server.stdout.readline()
        url = re.search(r"http://\S+/", line)[0]
        status, page = _get(url + "?days=90")
        assert status == 200 and "Chưa có chỉ mục" in page
        assert 'data-figure="questions" data-value="50"' in page and OLD_MARK not in page
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 0


def _get(url: str, headers=None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_dashboard_needs_a_token_off_loopback_and_checks_it(fixture_store, tmp_path):
    store, _ = fixture_store
    with pytest.raises(ValueError, match="token"):
        make_server(Dashboard(store.path, None, None), "0.0.0.0", 0)
    server = make_server(Dashboard(store.path, None, None, token="bi-mat-thu-123"), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        assert _get(base + "/")[0] == 403
        assert _get(base + "/?token=sai")[0] == 403
        status, page = _get(base + "/?days=7&token=bi-mat-thu-123")
        assert status == 200 and "thống kê 7 ngày" in page
        assert "days=30&amp;token=" in page  # the period links keep the token
        assert _get(base + "/", {"Authorization": "Bearer bi-mat-thu-123"})[0] == 200
        assert _get(base + "/khac")[0] == 404
    finally:
        server.shutdown()
        server.server_close()
    missing = make_server(Dashboard(tmp_path / "none.sqlite", None, None), "127.0.0.1", 0)
    thread = threading.Thread(target=missing.serve_forever, daemon=True)
    thread.start()
    try:
        status, text = _get(f"http://127.0.0.1:{missing.server_address[1]}/")
        assert status == 503 and "no feedback database" in text
    finally:
        missing.shutdown()
        missing.server_close()


@pytest.mark.parametrize("settings,when", [
    ("", ("mon", "8")),  # on by default: Monday 08:00
    ('weekly_day = "friday"\nweekly_hour = 17\n', ("fri", "17")),
    ("weekly = false\n", None),
])
def test_the_weekly_message_follows_its_config_switch_day_and_hour(tmp_path, settings, when):
    from telegram.ext import ApplicationBuilder

    from chat import insights_bot
    from chat.config import load_config

    path = tmp_path / "bot.toml"
    path.write_text(f"[bot]\nadmins = [5]\n[insights]\n{settings}", encoding="utf-8")
    application = ApplicationBuilder().token("1:test").build()  # not started: no network
    insights_bot.register(application, load_config(path), None, tmp_path / "index")
    jobs = application.job_queue.get_jobs_by_name("weekly-report")
    if when is None:
        assert jobs == ()
        return
    (job,) = jobs
    fields = {f.name: str(f) for f in job.job.trigger.fields}
    assert (fields["day_of_week"], fields["hour"], fields["minute"]) == (*when, "0")


def test_the_dashboard_token_comes_from_the_variable_the_config_names(tmp_path, monkeypatch):
    from chat.config import load_config
    from chat.dashboard import dashboard_from_config

    path = tmp_path / "bot.toml"
    path.write_text('[dashboard]\nhost = "0.0.0.0"\ntoken_env = "MY_PAGE_TOKEN"\n', encoding="utf-8")
    config = load_config(path)
    monkeypatch.delenv("MY_PAGE_TOKEN", raising=False)
    monkeypatch.setenv("CONGTAC_DASHBOARD_TOKEN", "not-this-one")
    with pytest.raises(ValueError, match="token"):  # bound off loopback without it: refused
        make_server(dashboard_from_config(config), config.dashboard.host, 0)
    monkeypatch.setenv("MY_PAGE_TOKEN", "ma-trang-456")
    dashboard = dashboard_from_config(config)
    assert dashboard.token == "ma-trang-456"
    assert dashboard.allowed({"token": ["ma-trang-456"]}, None)
    assert not dashboard.allowed({}, None) and not dashboard.allowed({"token": ["not-this-one"]}, None)
