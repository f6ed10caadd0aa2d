"""What people ask and what the archive lacks: one report for a period, for admins.

Computed only from what is stored: the feedback store (questions with their
grade, what they missed and what search understood; shown articles; votes),
the index catalog (through IndexReader's public methods) and the fetch state.
/thongke and the weekly message (chat/insights_bot.py) and the dashboard page
(chat/dashboard.py) all render this one Report, so they cannot disagree.

Privacy: the report holds no pseudonym (people are only counted), and no
question older than the retention period (`bot.feedback_days`): the period is
cut there even when the store has not been purged yet.

The content gaps are the point: unanswered and partial questions grouped by
what search understood (organisation, place, year, kind of event), counted,
with a few example questions, newest first, so someone writes or fetches the
missing article.
"""
from __future__ import annotations

import io
import threading
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from retrieval.fetch import PAGES_SOURCE, last_runs
from retrieval.query import article_subject
from retrieval.textnorm import fold
from retrieval.types import trusted_date
from retrieval.vocabulary import EVENT_NAMES, ORGANISATIONS

from .feedback import FeedbackReader
from .render.markup import Markup
from .textutil import cut_words

GRADE_NAMES = {"exact": "Có bài đúng", "partial": "Có bài gần đúng", "none": "Chưa có bài",
               None: "Chưa phân loại"}
GRADE_COLOURS = {"exact": "#2e7d32", "partial": "#f9a825", "none": "#c62828", None: "#9e9e9e"}
MISSING_NAMES = {"year": "năm", "place": "địa bàn", "organisation": "tổ chức", "detail": "chi tiết được hỏi"}
# What the nearest answer lacked, as the dashboard's table says it.
MISSING_TEXT = {"none": "Không có bài nào liên quan", "year": "Có bài nhưng khác năm",
                "place": "Có bài nhưng khác địa bàn", "organisation": "Có bài nhưng khác tổ chức",
                "detail": "Có bài nhưng không nêu điều được hỏi (con số, người, thời gian…)"}
NO_TOPIC = "Không nêu tổ chức, địa bàn hay năm"
EXAMPLES = 3
EXAMPLE_WORDS = 120  # characters of an example question shown
DEFAULT_TZ = "Asia/Ho_Chi_Minh"


@dataclass
class Gap:
    """Unanswered or partial questions about one topic."""

    label: str
    asked: int = 0
    none: int = 0  # no relevant article at all
    partial: int = 0  # an article, but not of the year / place / organisation asked
    missing: Counter = field(default_factory=Counter)  # of "year", "place", "organisation"
    examples: list[str] = field(default_factory=list)  # newest first
    last_asked: str = ""


@dataclass
class ShownArticle:
    article_id: str
    title: str
    shown: int  # questions it was shown for
    up: int = 0
    down: int = 0


@dataclass
class Coverage:
    """What the archive holds: articles per organisation and year, per place."""

    years: list[int] = field(default_factory=list)  # columns, newest first
    organisations: list[tuple[str, list[int], int]] = field(default_factory=list)  # (name, per year, all)
    places: list[tuple[str, int]] = field(default_factory=list)
    articles: int = 0


@dataclass
class Report:
    days: int
    start: date  # first day of the period (local time)
    end: date  # last day
    generated_at: datetime
    retention_days: int
    questions: int = 0
    people: int = 0
    grades: dict[str | None, int] = field(default_factory=dict)
    per_day: list[tuple[date, dict[str | None, int]]] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    missing: list[tuple[str, int]] = field(default_factory=list)  # (what, questions)
    articles: list[ShownArticle] = field(default_factory=list)
    votes_up: int = 0
    votes_down: int = 0
    coverage: Coverage | None = None
    index: dict | None = None  # IndexReader.stats(); None without an index
    fetch: list[dict] = field(default_factory=list)  # fetch.last_runs()

    def share(self, grade: str | None) -> float:
        return self.grades.get(grade, 0) / self.questions if self.questions else 0.0

    @property
    def grade_keys(self) -> list[str | None]:
        """The grades to show: exact, partial, none, and "unknown" only when present."""
        return ["exact", "partial", "none"] + ([None] if self.grades.get(None) else [])


# ---------------------------------------------------------------- computing

def period_start(days: int, now: datetime, tz: tzinfo) -> tuple[date, datetime]:
    """The first local day of a `days`-day period ending today, and its midnight in UTC."""
    first = now.astimezone(tz).date() - timedelta(days=days - 1)
    return first, datetime.combine(first, datetime.min.time(), tz).astimezone(UTC)


def _iso(moment: datetime) -> str:
    """As the feedback store writes times, so that they compare as text."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def topic_label(topic: dict) -> tuple[tuple, str]:
    """A grouping key and its label: "Hội Cựu chiến binh · huyện Tùng Khê · năm 2024 · đại hội"."""
    orgs = tuple(sorted(topic.get("organisations", [])))
    places = tuple(sorted(topic.get("places", [])))
    years = tuple(topic.get("years", []))
    events = tuple(sorted(topic.get("events", [])))
    key = (orgs, tuple(fold(p).lower() for p in places), years, events, topic.get("detail", ""))
    parts = [" ".join(ORGANISATIONS.get(o, o) for o in orgs), ", ".join(places),
             ", ".join(f"năm {y}" if "-" not in y else f"nhiệm kỳ {y}" for y in years),
             ", ".join(EVENT_NAMES.get(e, e) for e in events), topic.get("detail", "")]
    return key, " · ".join(p for p in parts if p) or NO_TOPIC


def build_report(feedback: FeedbackReader, index=None, fetch_state: str | Path | None = None, *,
                 days: int = 7, retention_days: int = 90, now: datetime | None = None,
                 tz: str | tzinfo = DEFAULT_TZ, top_gaps: int = 10, top_articles: int = 10) -> Report:
    """The report of the `days` days ending today; `index` is an IndexReader (or None)."""
    tz = ZoneInfo(tz) if isinstance(tz, str) else tz
    now = now or datetime.now(UTC)
    first, since = period_start(days, now, tz)
    if retention_days > 0:
        since = max(since, now - timedelta(days=retention_days))
    report = Report(days, first, now.astimezone(tz).date(), now, retention_days)
    questions = feedback.questions(_iso(since))
    report.questions, report.people = len(questions), feedback.people(_iso(since))
    _count_grades(report, questions, tz)
    _count_gaps(report, questions, top_gaps)
    titles = {}
    if index is not None:
        report.index = index.stats()
        headlines = index.headlines()
        titles = {h[0]: h[1] for h in headlines}
        report.coverage = coverage(headlines, report.index.get("generation"))
    _count_articles(report, feedback, _iso(since), titles, top_articles)
    if fetch_state is not None:
        report.fetch = last_runs(fetch_state)
    return report


def _count_grades(report: Report, questions, tz: tzinfo) -> None:
    days = {report.start + timedelta(days=n): Counter() for n in range(report.days)}
    grades = Counter()
    for q in questions:
        grades[q.grade] += 1
        day = datetime.fromisoformat(q.asked_at).astimezone(tz).date()
        if day in days:
            days[day][q.grade] += 1
    report.grades = dict(grades)
    report.per_day = [(d, dict(c)) for d, c in days.items()]


def _count_gaps(report: Report, questions, top: int) -> None:
    gaps: dict[tuple, Gap] = {}
    missing = Counter()
    labels: dict[str, tuple[tuple, str]] = {}  # each distinct topic read once
    misses: dict[str, list[str]] = {}
    for q in reversed(questions):  # newest first: examples are the latest asked
        if q.grade not in ("none", "partial"):
            continue
        if q.topic_json not in labels:
            labels[q.topic_json] = topic_label(q.topic)
        key, label = labels[q.topic_json]
        gap = gaps.get(key)
        if gap is None:
            gap = gaps[key] = Gap(label, last_asked=q.asked_at)
        gap.asked += 1
        if q.grade == "none":
            gap.none += 1
            missing["none"] += 1
        else:
            if q.missing_json not in misses:
                misses[q.missing_json] = q.missing
            gap.partial += 1
            gap.missing.update(misses[q.missing_json])
            missing.update(misses[q.missing_json])
        text = cut_words(" ".join(q.text.split()), EXAMPLE_WORDS)
        if len(gap.examples) < EXAMPLES and text not in gap.examples:
            gap.examples.append(text)
    ranked = sorted(gaps.values(), key=lambda g: (-g.asked, g.label == NO_TOPIC, g.label))
    report.gaps = ranked[:top]
    report.missing = [(k, missing[k]) for k in MISSING_TEXT if missing[k]]


def _count_articles(report: Report, feedback: FeedbackReader, since: str, titles: dict[str, str],
                    top: int) -> None:
    """The most shown articles with the 👍/👎 of the pages they were on."""
    report.votes_up, report.votes_down = feedback.votes(since)
    ranked = feedback.most_shown(since, top)
    votes = feedback.votes_on(since, [a for a, _ in ranked])
    report.articles = [ShownArticle(a, titles.get(a) or "(bài không còn trong dữ liệu)", n,
                                    *votes.get(a, (0, 0))) for a, n in ranked]


_COVERAGE: dict[object, Coverage] = {}
_COVERAGE_LOCK = threading.Lock()
# article id -> (its headline row, organisations, years): after a build only the new and
# changed articles are read again (article_subject costs 0.16-0.5 ms an article).
_SUBJECTS: dict[str, tuple[tuple, frozenset, frozenset]] = {}


def _subject(row: tuple) -> tuple[frozenset, frozenset]:
    """(organisations, years) of a headline row, as search grades the article."""
    known = _SUBJECTS.get(row[0])
    if known is not None and known[0] == row:
        return known[1], known[2]
    article_id, title, date_iso, place, lead, *source = row
    # A year counts only by a trusted date, as /chude counts (retrieval.types.trusted_date).
    trusted = trusted_date(date_iso, source[0]) if source else date_iso
    subject = article_subject(title, place, trusted, lead or "")
    found = frozenset(subject.organisations), frozenset(subject.years)
    _SUBJECTS[article_id] = (row, *found)
    return found


def coverage(headlines, generation=None, years: int = 6, places: int = 15) -> Coverage:
    """Articles per organisation × year (the newest `years` years) and per place, each
    article counted by its own subject as search grades it; cached per generation."""
    key = generation if generation is not None else object()
    with _COVERAGE_LOCK:
        if key in _COVERAGE:
            return _COVERAGE[key]
    by_org: dict[str, Counter] = defaultdict(Counter)
    all_years, by_place = Counter(), Counter()
    rows = [tuple(r) for r in headlines]
    with _COVERAGE_LOCK:
        subjects = [_subject(r) for r in rows]
        for gone in _SUBJECTS.keys() - {r[0] for r in rows}:  # left the index
            del _SUBJECTS[gone]
    for row, (organisations, article_years) in zip(rows, subjects, strict=True):
        place = row[3]
        all_years.update(article_years)
        for org in organisations:
            by_org[org].update(article_years or {0})
        if place:
            by_place[place] += 1
    columns = sorted(all_years, reverse=True)[:years]
    result = Coverage(
        years=columns,
        organisations=sorted(((ORGANISATIONS[o], [c[y] for y in columns], sum(c.values()))
                              for o, c in by_org.items()), key=lambda r: (-r[2], r[0])),
        places=by_place.most_common(places), articles=len(rows))
    with _COVERAGE_LOCK:
        if generation is not None:
            _COVERAGE.clear()  # only the served generation is worth keeping
            _COVERAGE[key] = result
    return result


# ---------------------------------------------------------------- words and numbers

def number(n: int) -> str:
    """1234 -> "1.234", as Vietnamese writes it."""
    return f"{n:,}".replace(",", ".")


def percent(share: float) -> str:
    return f"{round(share * 100)}%"


def day_text(d: date) -> str:
    return d.strftime("%d/%m/%Y")


def moment_text(value, tz: tzinfo | str = DEFAULT_TZ) -> str:
    """An ISO time or a Unix time as "03/12/2026 08:00" in local time; "" when unknown."""
    tz = ZoneInfo(tz) if isinstance(tz, str) else tz
    if value in (None, ""):
        return ""
    try:
        moment = (datetime.fromtimestamp(float(value), UTC) if isinstance(value, int | float)
                  else datetime.fromisoformat(str(value)))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(tz).strftime("%d/%m/%Y %H:%M")


def source_name(source: str) -> str:
    return "Các trang gửi riêng (/add, [fetch] pages)" if source == PAGES_SOURCE else source


def period_text(report: Report) -> str:
    return f"{report.days} ngày ({day_text(report.start)} – {day_text(report.end)})"


# ---------------------------------------------------------------- the chat's summary

PERIODS = (7, 30)  # days /thongke offers in a chat
TOP_GAPS = 5  # a chat message, not the dashboard
GRADE_MARKS = {"exact": "🟢", "partial": "🟡", "none": "🔴", None: "⚪"}


def chat_summary(report: Report, m: Markup) -> str:
    """The report's headline figures as a short chat message (/thongke, the weekly
    message), in any front end's markup: Telegram's HTML, Zalo's plain text."""
    lines = [m.b(f"📊 Thống kê {m.esc(period_text(report))}"),
             f"Câu hỏi: {m.b(number(report.questions))} từ {number(report.people)} người"]
    for grade in report.grade_keys:
        lines.append(f"{GRADE_MARKS[grade]} {GRADE_NAMES[grade]}: {number(report.grades.get(grade, 0))}"
                     f" ({percent(report.share(grade))})")
    lines.append(f"👍 {number(report.votes_up)} · 👎 {number(report.votes_down)}")
    if report.gaps:
        lines += ["", m.b("Hỏi nhiều mà dữ liệu còn thiếu:")]
        for n, gap in enumerate(report.gaps[:TOP_GAPS], 1):
            lines.append(f"{n}. {m.esc(gap.label)}: {number(gap.asked)} lần"
                         f" (chưa có bài {number(gap.none)}, gần đúng {number(gap.partial)})")
            if gap.examples:
                lines.append(f"   {m.i('«' + m.esc(cut_words(gap.examples[0], 80)) + '»')}")
    if report.index:
        built = moment_text(report.index.get("built_at"))
        lines += ["", f"Dữ liệu: {number(report.index.get('articles') or 0)} bài"
                  + (f", cập nhật {built}" if built else "")]
    if report.fetch:
        failed = sum(r["failed"] for r in report.fetch)
        lines.append(f"Lấy tin: {len(report.fetch)} nguồn, lần gần nhất "
                     f"{moment_text(report.fetch[0]['finished_at'])}, {number(failed)} trang lỗi")
    lines.append(f"Xem đầy đủ: {m.code('python -m chat dashboard')}")
    return "\n".join(lines)


# ---------------------------------------------------------------- charts (PNG, SVG)

_PYPLOT = threading.Lock()


@contextmanager
def pyplot():
    """matplotlib with the Agg backend (no display), imported on first use (~0.5 s),
    for one drawing at a time.  pyplot's figures and rc settings are global state:
    the dashboard's warm-up thread and a first request drawing together left the
    process unable to stop (its warm-up never joined, seen once in CI)."""
    import matplotlib

    with _PYPLOT:
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        yield plt


def _draw_per_day(ax, report: Report) -> None:
    labels = [d.strftime("%d/%m") for d, _ in report.per_day]
    bottom = [0] * len(labels)
    for grade in report.grade_keys:
        values = [counts.get(grade, 0) for _, counts in report.per_day]
        bars = ax.bar(range(len(labels)), values, bottom=bottom, color=GRADE_COLOURS[grade],
                      label=GRADE_NAMES[grade], width=0.8)
        if len(labels) <= 10:  # each count on its bar; the id names day and grade
            texts = ax.bar_label(bars, labels=[str(v) if v else "" for v in values],
                                 label_type="center", fontsize=8, color="white")
            for text, (day, _) in zip(texts, report.per_day, strict=True):
                text.set_gid(f"day-{day.isoformat()}-{grade or 'unknown'}")
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    step = max(1, len(labels) // 10)
    ax.set_xticks(range(0, len(labels), step), labels[::step], fontsize=8)
    ax.set_title("Câu hỏi mỗi ngày", fontsize=11, loc="left")
    ax.yaxis.get_major_locator().set_params(integer=True)  # counts: no 2.5 questions
    ax.legend(fontsize=8, frameon=False, ncols=len(report.grade_keys), loc="upper left",
              bbox_to_anchor=(0, -0.12))
    ax.spines[["top", "right"]].set_visible(False)


def _draw_gaps(ax, report: Report, top: int, label_chars: int = 48) -> None:
    gaps = report.gaps[:top][::-1]
    if not gaps:
        ax.text(0.5, 0.5, "Không có câu hỏi nào chưa có bài", ha="center", va="center")
        ax.set_axis_off()
        return
    names = [cut_words(g.label, label_chars) for g in gaps]
    none = ax.barh(names, [g.none for g in gaps], color=GRADE_COLOURS["none"], label=GRADE_NAMES["none"])
    part = ax.barh(names, [g.partial for g in gaps], left=[g.none for g in gaps],
                   color=GRADE_COLOURS["partial"], label=GRADE_NAMES["partial"])
    texts = ax.bar_label(part, labels=[str(g.asked) for g in gaps], padding=3, fontsize=8)
    for rank, text in enumerate(reversed(texts)):  # the id names the gap's rank, from 0
        text.set_gid(f"gap-{rank}")
    del none
    ax.set_title("Chủ đề hỏi nhiều mà dữ liệu còn thiếu (số lần hỏi)", fontsize=11, loc="left",
                 pad=22)
    ax.tick_params(axis="y", labelsize=8)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=8, frameon=False, ncols=2, loc="lower left", bbox_to_anchor=(0, 1.0))
    ax.spines[["top", "right"]].set_visible(False)


def chat_chart(report: Report, top: int = 6, fmt: str = "png") -> bytes:
    """The /thongke image: questions per day by grade above the top content gaps (PNG;
    "svg" draws the same figure with its text as text, for tests)."""
    with pyplot() as plt:
        fig, (days, gaps) = plt.subplots(2, 1, figsize=(8, 8), dpi=110,
                                         gridspec_kw={"height_ratios": [1, 1.1]})
        try:
            fig.suptitle(f"Thống kê {period_text(report)}", fontsize=12, x=0.02, ha="left")
            _draw_per_day(days, report)
            _draw_gaps(gaps, report, top)
            fig.tight_layout()
            out = io.BytesIO()
            with plt.rc_context({"svg.fonttype": "none"}):
                fig.savefig(out, format=fmt)
            return out.getvalue()
        finally:
            plt.close(fig)


def page_charts(report: Report, top: int = 10) -> tuple[str, str]:
    """The dashboard's two charts as inline SVG, text kept as text (readable, searchable)."""
    out = []
    # 6 inches wide: on a phone's 360-pixel screen 8-point text still reads.
    rows = max(1, min(top, len(report.gaps)))
    for draw, size in ((lambda ax: _draw_per_day(ax, report), (6, 3.2)),
                       (lambda ax: _draw_gaps(ax, report, top, 30), (6, 1.0 + 0.36 * rows))):
        with pyplot() as plt, plt.rc_context({"svg.fonttype": "none", "font.family": "DejaVu Sans"}):
            fig, ax = plt.subplots(figsize=size)
            try:
                draw(ax)
                fig.tight_layout()
                buffer = io.StringIO()
                fig.savefig(buffer, format="svg")
            finally:
                plt.close(fig)
        svg = buffer.getvalue()
        out.append(svg[svg.index("<svg"):])  # no XML prologue inside HTML
    return out[0], out[1]
