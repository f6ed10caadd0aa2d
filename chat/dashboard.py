"""The admins' report as one local web page: `python -m chat dashboard`.

One self-contained HTML page (inline SVG charts drawn by matplotlib, tables, no
script, no external file), in Vietnamese, readable on a phone.  Served by the
standard library's http.server: a page for a handful of people in one office
needs no web framework.

Safety: it binds 127.0.0.1 unless told otherwise, and bound to any other
address it refuses to start without a token in the environment variable
`dashboard.token_env`, then answers 403 to any request without it
(`?token=...` or `Authorization: Bearer ...`).  It only reads: the feedback
store and the fetch state are opened read-only, the index through IndexReader,
while the bot and the builder write.
"""
from __future__ import annotations

import hmac
import html
import ipaddress
import logging
import os
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from .feedback import FeedbackReader
from .insights import (
    GRADE_COLOURS,
    GRADE_NAMES,
    MISSING_NAMES,
    MISSING_TEXT,
    Report,
    build_report,
    day_text,
    moment_text,
    number,
    page_charts,
    percent,
    period_text,
    source_name,
)
from .stores import OUTAGES, open_stores

log = logging.getLogger(__name__)

PERIODS = (7, 30, 90)

_STYLE = """
body{font-family:system-ui,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;padding:12px;
  color:#1b1b1b;background:#fafafa;line-height:1.4;max-width:960px;margin:auto}
h1{font-size:1.3rem;margin:.3rem 0}h2{font-size:1.08rem;margin:1.4rem 0 .4rem}
nav a{margin-right:.8rem}.muted{color:#666;font-size:.88rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(130px,1fr));gap:8px}
.card{background:#fff;border:1px solid #ddd;border-radius:8px;padding:8px 10px}
.card b{display:block;font-size:1.4rem}.card span{font-size:.85rem;color:#444}
.chart svg{width:100%;height:auto;background:#fff;border:1px solid #ddd;border-radius:8px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.9rem}
th,td{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
td.n{text-align:right;white-space:nowrap}th.n{text-align:right}
#gaps td:first-child{width:64%}ul.ex{margin:0;padding-left:1.1rem}
.dot{display:inline-block;width:.7em;height:.7em;border-radius:50%;margin-right:.3em}
"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _num(value: int, figure: str) -> str:
    """A figure the tests read back: shown Vietnamese-style, its value in data-value."""
    return f'<span data-figure="{figure}" data-value="{int(value)}">{number(value)}</span>'


def _table(head: list[str], rows: list[list[str]], numeric: set[int], name: str) -> str:
    if not rows:
        return '<p class="muted">Chưa có số liệu.</p>'
    ths = "".join(f'<th{" class=n" if i in numeric else ""}>{h}</th>' for i, h in enumerate(head))
    body = "".join("<tr>" + "".join(f'<td{" class=n" if i in numeric else ""}>{c}</td>'
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return (f'<div class="scroll"><table id="{name}"><thead><tr>{ths}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def render_page(report: Report, token: str | None = None, tz: str | None = None) -> str:
    """The whole page for one report."""
    tz = tz or "Asia/Ho_Chi_Minh"
    per_day_svg, gaps_svg = page_charts(report)
    keep = {"token": token} if token else {}  # the period links keep the token
    nav = " ".join(f'<a href="?{_e(urlencode({"days": d, **keep}))}">{d} ngày</a>'
                   if d != report.days else f"<b>{d} ngày</b>" for d in PERIODS)
    cards = [(_num(report.questions, "questions"), "câu hỏi"),
             (_num(report.people, "people"), "người hỏi")]
    for grade in report.grade_keys:
        key = grade or "unknown"
        cards.append((_num(report.grades.get(grade, 0), f"grade-{key}"),
                      f'<i class="dot" style="background:{GRADE_COLOURS[grade]}"></i>'
                      f"{GRADE_NAMES[grade]} ({percent(report.share(grade))})"))
    cards += [(_num(report.votes_up, "votes-up"), "lượt đánh giá hữu ích"),
              (_num(report.votes_down, "votes-down"), "lượt đánh giá chưa đúng")]
    parts = [
        f"<h1>Hỏi đáp: thống kê {_e(period_text(report))}</h1>",
        f'<nav>{nav}</nav><p class="muted">Lập lúc {_e(moment_text(report.generated_at.isoformat(), tz))}. '
        f"Câu hỏi được lưu {report.retention_days or 'không giới hạn'} ngày; trang này không hiện "
        "danh tính người hỏi.</p>",
        '<div class="cards">' + "".join(f'<div class="card"><b>{v}</b><span>{label}</span></div>'
                                        for v, label in cards) + "</div>",
        "<h2>Câu hỏi mỗi ngày</h2>",
        f'<div class="chart" id="chart-per-day">{per_day_svg}</div>',
        _per_day_table(report),
        "<h2>Chủ đề hỏi nhiều mà dữ liệu còn thiếu</h2>",
        '<p class="muted">Câu hỏi chưa có bài hoặc chỉ có bài gần đúng, gộp theo điều bot hiểu '
        "(tổ chức, địa bàn, năm, loại sự kiện); ví dụ mới nhất trước.</p>",
        f'<div class="chart" id="chart-gaps">{gaps_svg}</div>',
        _gaps_table(report),
        "<h2>Thiếu điều gì</h2>",
        _table(["Câu trả lời", "Số câu hỏi"],
               [[_e(MISSING_TEXT.get(what, what)), _num(n, f"missing-{what}")]
                for what, n in report.missing], {1}, "missing"),
        "<h2>Bài được đưa ra nhiều nhất</h2>",
        _table(["Bài viết", "Số câu hỏi", "Hữu ích", "Chưa đúng"],
               [[_e(a.title), _num(a.shown, "article-shown"), _num(a.up, "article-up"),
                 _num(a.down, "article-down")] for a in report.articles], {1, 2, 3}, "articles"),
        _coverage(report),
        _index_state(report, tz),
        _fetch_state(report, tz),
    ]
    return ("<!doctype html><html lang=vi><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width,initial-scale=1">'
            f"<title>Thống kê hỏi đáp {report.days} ngày</title>"
            f"<style>{_STYLE}</style></head>"
            f"<body>{''.join(parts)}</body></html>")


def _per_day_table(report: Report) -> str:
    head = ["Ngày", *[GRADE_NAMES[g] for g in report.grade_keys]]
    rows = [[_e(day_text(d)), *[_num(counts.get(g, 0), f"day-{g or 'unknown'}") for g in report.grade_keys]]
            for d, counts in reversed(report.per_day)]
    return ("<details><summary>Bảng số liệu theo ngày</summary>"
            + _table(head, rows, set(range(1, len(head))), "per-day") + "</details>")


def _gaps_table(report: Report) -> str:
    """One row per gap: the topic, what the nearest articles differ in, example questions
    under it (a phone has no room for more columns), then the counts."""
    rows = []
    for g in report.gaps:
        misses = ", ".join(f"{MISSING_NAMES.get(k, k)} ({n})" for k, n in g.missing.most_common())
        topic = (f'<b data-figure="gap-label">{_e(g.label)}</b>'
                 + (f'<div class="muted">Bài gần nhất thiếu: {_e(misses)}</div>' if misses else "")
                 + '<ul class="ex">' + "".join(f"<li>{_e(x)}</li>" for x in g.examples) + "</ul>")
        rows.append([topic, _num(g.asked, "gap-asked"), _num(g.none, "gap-none"),
                     _num(g.partial, "gap-partial")])
    return _table(["Chủ đề và câu hỏi gần nhất", "Số lần hỏi", "Chưa có bài", "Gần đúng"],
                  rows, {1, 2, 3}, "gaps")


def _coverage(report: Report) -> str:
    c = report.coverage
    if c is None:
        return '<h2>Dữ liệu hiện có</h2><p class="muted">Chưa có chỉ mục.</p>'
    orgs = _table(["Tổ chức", *[str(y) for y in c.years], "Tất cả"],
                  [[_e(name), *[_num(n, "coverage-cell") for n in per_year], _num(total, "coverage-org")]
                   for name, per_year, total in c.organisations],
                  set(range(1, len(c.years) + 2)), "coverage")
    places = _table(["Địa bàn", "Số bài"], [[_e(p), _num(n, "coverage-place")] for p, n in c.places],
                    {1}, "places")
    return (f"<h2>Dữ liệu hiện có: số bài theo tổ chức và năm</h2>{orgs}"
            f"<h2>Số bài theo địa bàn</h2>{places}")


def _index_state(report: Report, tz: str) -> str:
    s = report.index
    if s is None:
        return ""
    rows = [["Số bài", _num(s.get("articles") or 0, "index-articles")],
            ["Số đoạn", _num(s.get("passages") or 0, "index-passages")],
            ["Phiên bản chỉ mục", _num(s.get("generation") or 0, "index-generation")],
            ["Cập nhật lần cuối", _e(moment_text(s.get("built_at"), tz) or "—")],
            ["Bài cũ nhất / mới nhất", _e(" / ".join(day_text(datetime.fromisoformat(d[:10]).date())
                                                     for d in (s.get("date_min"), s.get("date_max")) if d)
                                         or "—")]]
    return "<h2>Chỉ mục</h2>" + _table(["", ""], rows, {1}, "index")


def _fetch_state(report: Report, tz: str) -> str:
    if not report.fetch:
        return '<h2>Lấy tin tự động</h2><p class="muted">Chưa lấy tin từ cổng thông tin nào.</p>'
    rows = [[_e(source_name(r["source"])), _e(moment_text(r["finished_at"], tz)),
             _num(r["fetched"], "fetch-fetched"), _num(r["unchanged"], "fetch-unchanged"),
             _num(r["skipped"], "fetch-skipped"), _num(r["failed"], "fetch-failed"),
             '<ul class="ex">' + "".join(f"<li>{_e(f['url'])}: {_e(f['reason'])}</li>"
                                         for f in r["failures"][:5]) + "</ul>"]
            for r in report.fetch]
    return "<h2>Lấy tin tự động (lần chạy gần nhất của mỗi nguồn)</h2>" + _table(
        ["Nguồn", "Lúc", "Mới/đổi", "Không đổi", "Bỏ qua", "Lỗi", "Lý do lỗi"], rows, {2, 3, 4, 5},
        "fetch")


# ---------------------------------------------------------------- serving

def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Dashboard:
    """What a request needs: the stores (read-only) and how to build the report."""

    def __init__(self, feedback_db: str | Path, index_dir: str | Path | None,
                 fetch_state: str | Path | None, *, retention_days: int = 90, default_days: int = 30,
                 tz: str = "Asia/Ho_Chi_Minh", token: str | None = None, open_feedback=None,
                 index_config=None):
        self.feedback_db = Path(feedback_db)
        # What the report reads: the SQLite file, or the replicas' PostgreSQL store.
        self.open_feedback = open_feedback or (lambda: FeedbackReader.open(self.feedback_db))
        self.index_config = index_config  # [index] backend: the folder or PostgreSQL
        self.index_dir = Path(index_dir) if index_dir else None
        self.fetch_state = fetch_state
        self.retention_days = retention_days
        self.default_days = default_days
        self.tz = tz
        self.token = token or None
        self._index = None
        self._lock = threading.Lock()

    def _reader(self):
        """The index catalog, opened once and moved to the newest generation per request."""
        from retrieval.index import IndexNotFound, IndexUnavailable, open_reader

        if self.index_dir is None:
            return None
        with self._lock:
            try:
                if self._index is None:
                    self._index = open_reader(self.index_dir, None, self.index_config)
                else:
                    self._index.refresh()
            except (IndexNotFound, IndexUnavailable) as e:
                log.info("dashboard: %s", e)
                return None
            return self._index

    def page(self, days: int | None = None) -> str:
        days = days if days and 1 <= days <= 365 else self.default_days
        feedback = self.open_feedback()
        try:
            report = build_report(feedback, self._reader(), self.fetch_state, days=days,
                                  retention_days=self.retention_days, tz=self.tz,
                                  now=datetime.now(UTC))
        finally:
            feedback.close()
        return render_page(report, self.token, self.tz)

    def warm_up(self) -> None:
        """Read the archive's coverage once before the first visitor (0.5 s per 1,000
        articles on a busy machine; then cached per index generation)."""
        try:
            self.page()
        except Exception as e:  # the first request will say what is wrong
            log.info("dashboard warm-up: %s", e)

    def allowed(self, query: dict, authorization: str | None) -> bool:
        if self.token is None:
            return True
        given = (query.get("token") or [""])[0] or (authorization or "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(given.encode(), self.token.encode())

    def close(self) -> None:
        if self._index is not None:
            self._index.close()


def make_server(dashboard: Dashboard, host: str = "127.0.0.1", port: int = 8750) -> ThreadingHTTPServer:
    """The HTTP server (not started); refuses a non-loopback address without a token."""
    if not is_loopback(host) and not dashboard.token:
        raise ValueError(f"the dashboard binds {host}, reachable from other machines: set a token "
                         "in the environment variable that dashboard.token_env names")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):  # the URL may hold the token: log the path only
            log.debug("dashboard: %s %s", self.command, urlsplit(self.path).path)

        def do_GET(self):
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            if url.path != "/":
                return self._send(404, "Không có trang này.", "text/plain")
            if not dashboard.allowed(query, self.headers.get("Authorization")):
                return self._send(403, "Cần mã truy cập (token).", "text/plain")
            try:
                days = int((query.get("days") or ["0"])[0])
            except ValueError:
                days = 0
            try:
                body = dashboard.page(days or None)
            except (FileNotFoundError, ValueError, *OUTAGES) as e:  # a server restarting: 503
                return self._send(503, f"Chưa đọc được dữ liệu: {e}", "text/plain")
            except Exception:
                log.exception("dashboard page failed")
                return self._send(500, "Lỗi khi lập thống kê; xem nhật ký của máy chủ.", "text/plain")
            self._send(200, body, "text/html")

        def _send(self, status: int, text: str, ctype: str) -> None:
            data = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", f"{ctype}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Referrer-Policy", "no-referrer")
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def dashboard_from_config(config, *, feedback_db=None, index_dir=None) -> Dashboard:
    """A Dashboard over the stores the config names (arguments override them)."""
    index = Path(index_dir or config.index_dir)
    open_feedback = None
    if config.index.backend == "postgres" and not feedback_db:
        open_feedback = open_stores(config).questions.reader
    return Dashboard(feedback_db or config.bot.feedback_db, index, config.fetch.state_path(index),
                     retention_days=config.bot.feedback_days, default_days=config.dashboard.days,
                     tz=config.insights.timezone,
                     token=os.environ.get(config.dashboard.token_env) or None,
                     open_feedback=open_feedback, index_config=config)


def start_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    """Serve in a daemon thread (the bot's `[dashboard] with_bot`); server.shutdown() stops it."""
    thread = threading.Thread(target=server.serve_forever, name="dashboard", daemon=True)
    thread.start()
    return thread
