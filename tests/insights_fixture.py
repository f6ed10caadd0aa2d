"""A fixture feedback store for the admins' report: made-up questions with known grades,
topics, shown articles and votes, spread over a period, plus questions older than the
retention period.  `make_store` returns the ground truth the tests (and
benchmarks/insights.py) compute the expected figures from, independently of
chat/insights.py.  Every name and question below is fictional.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chat.feedback import FeedbackStore

ORGS = ["hoi_ccb", "hoi_nong_dan", "hoi_phu_nu", "doan_tn", "mttq"]
ORG_WORDS = {"hoi_ccb": "Hội CCB", "hoi_nong_dan": "Hội Nông dân", "hoi_phu_nu": "Hội LHPN",
             "doan_tn": "Đoàn Thanh niên", "mttq": "MTTQ"}
PLACES = ["huyện Tùng Khê", "huyện Kỳ Lương", "xã Khe Vang", "huyện Mỹ Lâm Đông"]
YEARS = ["2022", "2023", "2024", "2025"]
EVENTS = ["dai_hoi", "tong_ket", "hoi_thi"]
EVENT_WORDS = {"dai_hoi": "đại hội", "tong_ket": "tổng kết", "hoi_thi": "hội thi"}
OLD_MARK = "Câu hỏi quá hạn lưu trữ số"  # only in questions older than the retention period


@dataclass
class Asked:
    qid: int
    text: str
    at: datetime
    user: int
    grade: str
    missing: list[str]
    topic: dict
    shown: list[tuple[str, str]] = field(default_factory=list)  # (passage id, article id)
    votes: list[tuple[int, int, list[str]]] = field(default_factory=list)  # (user, value, passage ids)


def _topic(rng: random.Random) -> dict:
    topic = {}
    if rng.random() < 0.8:
        topic["organisations"] = [rng.choice(ORGS)]
    if rng.random() < 0.7:
        topic["places"] = [rng.choice(PLACES)]
    if rng.random() < 0.6:
        topic["years"] = [rng.choice(YEARS)]
    if rng.random() < 0.3:
        topic["events"] = [rng.choice(EVENTS)]
    return topic


def _text(topic: dict, n: int) -> str:
    parts = [ORG_WORDS[o] for o in topic.get("organisations", [])] + topic.get("places", [])
    parts += [EVENT_WORDS[e] for e in topic.get("events", [])]
    parts += [f"năm {y}" for y in topic.get("years", [])]
    return " ".join(parts or ["Hoạt động"]) + f" thế nào (câu {n})?"


def make_store(path: Path, *, questions: int = 400, days: int = 30, retention_days: int = 90,
               old: int = 20, articles: list[tuple[str, str]] | None = None, people: int = 60,
               now: datetime | None = None, seed: int = 20) -> tuple[FeedbackStore, list[Asked]]:
    """A store at `path` with `questions` spread over the last `days` days and `old` more
    asked beyond `retention_days`; returns the store and every question as asked."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    articles = articles or [(f"bai_{k:03d}", f"Bài viết thử số {k}") for k in range(40)]
    store = FeedbackStore(path)
    asked: list[Asked] = []
    span = days * 86400 - 120
    for n in range(questions + old):
        if n < questions:
            at = now - timedelta(seconds=rng.uniform(60, span))
        else:
            at = now - timedelta(days=retention_days + 1 + rng.uniform(0, 20))
        topic = _topic(rng)
        grade = rng.choices(["exact", "partial", "none"], [0.55, 0.2, 0.25])[0]
        missing = (rng.sample(["year", "place", "organisation"], rng.choice([1, 1, 2]))
                   if grade == "partial" else [])
        text = _text(topic, n) if n < questions else f"{OLD_MARK} {n}"
        q = Asked(n + 1, text, at.replace(microsecond=0), rng.randrange(people) + 10_000, grade,
                  sorted(missing, key=["year", "place", "organisation"].index), topic)
        if grade != "none":
            for a in rng.sample(articles, 3):
                q.shown.append((f"{a[0]}#0", a[0]))
            for voter in rng.sample(range(people), rng.choice([0, 0, 0, 1, 2])):
                q.votes.append((voter + 10_000, rng.choice([1, 1, -1]), [p for p, _ in q.shown]))
        asked.append(q)
    iso = lambda t: t.isoformat(timespec="seconds")  # noqa: E731
    with store._lock:
        db = store._db
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO questions (id, chat_hash, user_hash, text, answered, asked_at, grade,"
            " missing, topic) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(q.qid, store.pseudonym(q.user), store.pseudonym(q.user), q.text, int(q.grade != "none"),
              iso(q.at), q.grade, json.dumps(q.missing), json.dumps(q.topic, ensure_ascii=False))
             for q in asked])
        db.executemany("INSERT INTO shown VALUES (?, ?, ?, ?)",
                       [(q.qid, r, p, a) for q in asked for r, (p, a) in enumerate(q.shown)])
        db.executemany(
            "INSERT INTO feedback (question_id, page_offset, user_hash, value, question,"
            " passage_ids, created_at) VALUES (?, 0, ?, ?, ?, ?, ?)",
            [(q.qid, store.pseudonym(u), v, q.text, json.dumps(p), iso(q.at + timedelta(seconds=30)))
             for q in asked for u, v, p in q.votes])
        db.execute("COMMIT")
    return store, asked
