"""SQLite storage for asked questions, the passages shown for them, and 👍/👎 votes.

Why store questions at all: Telegram buttons carry at most 64 bytes, so a
button says "more:<question id>:<offset>" and the question itself lives here.
Because it is on disk, buttons under old answers keep working after the bot
restarts.  Storing which passages were shown lets a vote name exactly the
passages it judged, even if the index changes later.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from retrieval.types import Hit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS questions (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id   INTEGER NOT NULL,
    user_id   INTEGER,
    text      TEXT NOT NULL,
    answered  INTEGER NOT NULL,
    asked_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS shown (
    question_id INTEGER NOT NULL REFERENCES questions(id),
    rank        INTEGER NOT NULL,           -- 0-based rank in the result list
    passage_id  TEXT NOT NULL,
    article_id  TEXT NOT NULL,
    PRIMARY KEY (question_id, rank)
);
CREATE TABLE IF NOT EXISTS feedback (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    question_id INTEGER NOT NULL REFERENCES questions(id),
    page_offset INTEGER NOT NULL,           -- which page of results was judged
    user_id     INTEGER,
    value       INTEGER NOT NULL,           -- 1 helpful, -1 not helpful
    question    TEXT NOT NULL,
    passage_ids TEXT NOT NULL,              -- JSON list, in the order shown
    created_at  TEXT NOT NULL,
    UNIQUE (question_id, page_offset, user_id)
);
"""


@dataclass
class StoredQuestion:
    id: int
    chat_id: int
    user_id: int | None
    text: str
    answered: bool
    asked_at: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class FeedbackStore:
    """Thread-safe: handlers call it from worker threads, one connection behind a lock."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock, self._db:
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add_question(self, chat_id: int, user_id: int | None, text: str, answered: bool) -> int:
        with self._lock, self._db:
            cur = self._db.execute(
                "INSERT INTO questions (chat_id, user_id, text, answered, asked_at)"
                " VALUES (?, ?, ?, ?, ?)", (chat_id, user_id, text, int(answered), _now()))
            return int(cur.lastrowid)

    def question(self, question_id: int) -> StoredQuestion | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, chat_id, user_id, text, answered, asked_at FROM questions WHERE id = ?",
                (question_id,)).fetchone()
        return StoredQuestion(row[0], row[1], row[2], row[3], bool(row[4]), row[5]) if row else None

    def add_shown(self, question_id: int, offset: int, hits: list[Hit]) -> None:
        with self._lock, self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO shown (question_id, rank, passage_id, article_id)"
                " VALUES (?, ?, ?, ?)",
                [(question_id, offset + i, h.passage_id, h.article_id) for i, h in enumerate(hits)])

    def shown(self, question_id: int, rank: int) -> tuple[str, str] | None:
        """(passage_id, article_id) shown at `rank` for the question."""
        with self._lock:
            row = self._db.execute(
                "SELECT passage_id, article_id FROM shown WHERE question_id = ? AND rank = ?",
                (question_id, rank)).fetchone()
        return (row[0], row[1]) if row else None

    def shown_page(self, question_id: int, offset: int, size: int) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT passage_id FROM shown WHERE question_id = ? AND rank >= ? AND rank < ?"
                " ORDER BY rank", (question_id, offset, offset + size)).fetchall()
        return [r[0] for r in rows]

    def add_feedback(self, question_id: int, offset: int, user_id: int | None, value: int,
                     page_size: int) -> bool:
        """Record (or change) a user's vote on one page of answers; False if the question is unknown."""
        question = self.question(question_id)
        if question is None:
            return False
        passage_ids = self.shown_page(question_id, offset, page_size)
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO feedback (question_id, page_offset, user_id, value, question,"
                " passage_ids, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (question_id, page_offset, user_id) DO UPDATE SET"
                " value = excluded.value, created_at = excluded.created_at",
                (question_id, offset, user_id, value, question.text,
                 json.dumps(passage_ids, ensure_ascii=False), _now()))
        return True

    def feedback_rows(self) -> list[dict]:
        """Every vote, oldest first (for export and tests)."""
        with self._lock:
            cur = self._db.execute(
                "SELECT question_id, page_offset, user_id, value, question, passage_ids, created_at"
                " FROM feedback ORDER BY id")
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        out = [dict(zip(names, r, strict=True)) for r in rows]
        for r in out:
            r["passage_ids"] = json.loads(r["passage_ids"])
        return out
