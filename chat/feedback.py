"""SQLite storage for asked questions, the passages shown for them, and 👍/👎 votes.

Why store questions at all: Telegram buttons carry at most 64 bytes, so a
button says "more:<question id>:<offset>" and the question itself lives here.
Because it is on disk, buttons under old answers keep working after the bot
restarts.  Storing which passages were shown lets a vote name exactly the
passages it judged, even if the index changes later.

Privacy: no Telegram user or chat id is stored, only a keyed hash of it
(HMAC-SHA256 with a random per-install key kept beside the database in
`<db>.key`, readable by its owner only).  The hash still tells whether a
button is pressed in the chat where its question was asked and keeps one
vote per person and page, but the file alone does not say who asked.
Everything is deleted `bot.feedback_days` after it was written (`purge`,
run by the bot at start and daily; `python -m chat feedback purge`).

For the admins' report (chat/insights.py) each question also keeps its grade
(exact / partial / none), what the best article missed, and what search
understood (organisation, place, year, kind of event) as a small JSON record.

A database of an older version is converted on open, one numbered step at a
time: 1 -> 2 replaces raw ids by their hashes; 2 -> 3 adds the grade and the
topic, read again from each stored question's text (an old answered question's
grade is unknown: it is left empty).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from retrieval.query import Intent, understand
from retrieval.types import Hit

log = logging.getLogger(__name__)

# 1: raw user_id/chat_id columns; 2: keyed hashes only; 3: grade, missing and topic;
# 4: chat_pages, each chat's last answered page (typed «xem thêm», Zalo)
SCHEMA_VERSION = 4
GRADES = ("exact", "partial", "none")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS questions (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_hash TEXT NOT NULL,                -- keyed hash of the chat id
    user_hash TEXT,                         -- keyed hash of the user id
    text      TEXT NOT NULL,
    answered  INTEGER NOT NULL,
    asked_at  TEXT NOT NULL,
    grade     TEXT,                         -- exact, partial, none (NULL: unknown, older rows)
    missing   TEXT,                         -- JSON list: "year", "place", "organisation"
    topic     TEXT                          -- JSON: what search understood (topic_record)
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
    user_hash   TEXT,                       -- keyed hash of the user id
    value       INTEGER NOT NULL,           -- 1 helpful, -1 not helpful
    question    TEXT NOT NULL,
    passage_ids TEXT NOT NULL,              -- JSON list, in the order shown
    created_at  TEXT NOT NULL,
    UNIQUE (question_id, page_offset, user_hash)
);
CREATE INDEX IF NOT EXISTS questions_asked_at ON questions (asked_at);
CREATE INDEX IF NOT EXISTS feedback_created_at ON feedback (created_at);
"""
# A front end without buttons (Zalo) pages with typed words: «xem thêm» continues the
# chat's last answered page, «toàn văn N» opens its card N.
_PAGES = """
CREATE TABLE IF NOT EXISTS chat_pages (
    chat_hash   TEXT PRIMARY KEY,           -- keyed hash of the chat id
    question_id INTEGER,                    -- NULL: a new conversation began since (/new)
    next_offset INTEGER NOT NULL,           -- the first card «xem thêm» shows
    has_more    INTEGER NOT NULL,
    stored_at   TEXT NOT NULL
);
"""
# Version 1 -> 2: the same rows, ids kept, raw ids replaced by their hashes (the
# table is created as the current schema; step 2 -> 3 then fills the new columns).
_MIGRATE_V1 = [
    "ALTER TABLE questions RENAME TO questions_v1",
    "ALTER TABLE feedback RENAME TO feedback_v1",
    "DROP INDEX IF EXISTS questions_asked_at",
    "DROP INDEX IF EXISTS feedback_created_at",
    _SCHEMA,
    "INSERT INTO questions (id, chat_hash, user_hash, text, answered, asked_at)"
    " SELECT id, pseudonym(chat_id), pseudonym(user_id), text, answered, asked_at"
    " FROM questions_v1",
    "INSERT INTO feedback (id, question_id, page_offset, user_hash, value, question,"
    " passage_ids, created_at) SELECT id, question_id, page_offset, pseudonym(user_id), value,"
    " question, passage_ids, created_at FROM feedback_v1",
    "DROP TABLE questions_v1",
    "DROP TABLE feedback_v1",
]


def topic_record(intent: Intent | None, detail: str = "") -> dict:
    """What search understood, as stored with a question: organisation keys, places
    as a reply names them ("huyện Đầm Hà"), years and terms ("2020-2025"), event keys,
    and the detail asked for when the best article lacks it ("số hội viên")."""
    if intent is None:
        return {"detail": detail} if detail else {}
    record = {
        "organisations": list(intent.deciding_organisations),
        "places": [f"{p.level} {p.label}" if p.level else p.label for p in intent.places],
        "years": [str(y) for y in sorted(intent.years)] + [f"{a}-{b}" for a, b in intent.terms],
        "events": sorted(intent.events),
        "detail": detail,
    }
    return {k: v for k, v in record.items() if v}


def _topic_of_text(text: str, asked_at: str) -> str:
    """Step 2 -> 3: an old question's topic, read again from its text ("năm nay" is
    the year it was asked; places are those named with a unit word)."""
    try:
        asked = datetime.fromisoformat(asked_at).date()
    except ValueError:
        asked = None
    return json.dumps(topic_record(understand(text, {}, asked)), ensure_ascii=False)


def _migrate_v2(db: sqlite3.Connection) -> None:
    """Version 2 -> 3: add grade, missing and topic; fill topic from each text."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(questions)")}
    for name in ("grade", "missing", "topic"):
        if name not in columns:
            db.execute(f"ALTER TABLE questions ADD COLUMN {name} TEXT")
    rows = db.execute("SELECT id, text, asked_at, answered FROM questions"
                      " WHERE topic IS NULL").fetchall()
    db.executemany("UPDATE questions SET topic = ?, grade = ? WHERE id = ?",
                   [(_topic_of_text(text, asked), None if answered else "none", qid)
                    for qid, text, asked, answered in rows])


@dataclass(frozen=True)
class ChatPage:
    """A chat's last answered page, for the words typed after it («xem thêm», «toàn văn N»)."""

    question_id: int | None  # None: the chat began a new conversation since (/new)
    next_offset: int = 0  # the first card «xem thêm» shows
    has_more: bool = False


@dataclass
class StoredQuestion:
    id: int
    chat_hash: str
    user_hash: str | None
    text: str
    answered: bool
    asked_at: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def purge_cutoff(older_than_days: float | None) -> str:
    """The time before which `purge` deletes, as stored times are written (ISO text,
    compared as text); everything when `older_than_days` is None."""
    if older_than_days is None:
        return "9999"
    return (datetime.now(UTC) - timedelta(days=older_than_days)).isoformat(timespec="seconds")


def _key_for(path: str) -> bytes:
    """The install's hashing key: `<db>.key`, created (owner-only) on first use."""
    if path == ":memory:":
        return secrets.token_bytes(32)
    key_path = Path(f"{path}.key")
    if not key_path.exists():
        # Written whole under a temporary name, then linked into place: a second process
        # opening the store meanwhile never reads a half-written key, and never replaces it.
        tmp = key_path.with_name(f".{key_path.name}.{secrets.token_hex(8)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secrets.token_bytes(32).hex() + "\n")
        try:
            os.link(tmp, key_path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    key = bytes.fromhex(key_path.read_text(encoding="ascii").strip())
    if len(key) < 16:
        raise ValueError(f"{key_path} does not hold a key (64 hex digits expected)")
    return key


def pseudonym(key: bytes, telegram_id: int | str | None) -> str | None:
    """The keyed hash stored instead of a user or chat id (None stays None); every
    question store (SQLite here, PostgreSQL in pgstate.py) hashes alike."""
    if telegram_id is None:
        return None
    # Telegram ids are numbers (an int or its digits hash alike, as since v2); Zalo's
    # are opaque strings, stored by the Zalo front end as "zalo:<id>".
    text = str(telegram_id)
    if isinstance(telegram_id, int) or text.lstrip("-").isdigit():
        text = str(int(telegram_id))
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:32]


def _run(db: sqlite3.Connection, statements: list[str]) -> None:
    for statement in statements:
        for part in statement.split(";"):
            if part.strip():
                db.execute(part)


class QuestionRules:
    """What every question store does alike, whatever keeps its rows (SQLite here,
    PostgreSQL in pgstate.py): a store writes a question row and a vote row."""

    _key: bytes

    def pseudonym(self, telegram_id: int | str | None) -> str | None:
        """The keyed hash stored instead of a user or chat id (None stays None)."""
        return pseudonym(self._key, telegram_id)

    def add_question(self, chat_id: int, user_id: int | None, text: str, answered: bool,
                     grade: str | None = None, missing: list[str] | None = None,
                     topic: dict | None = None) -> int:
        """Store a question with how search graded it (exact/partial/none), what the
        best article missed, and what search understood (topic_record)."""
        if grade is None and not answered:
            grade = "none"
        return self._insert_question((self.pseudonym(chat_id), self.pseudonym(user_id), text,
                                      answered, _now(), grade, missing or [], topic or {}))

    def add_feedback(self, question_id: int, offset: int, user_id: int | None, value: int,
                     page_size: int) -> bool:
        """Record (or change) a user's vote on one page of answers; False if the question is unknown."""
        question = self.question(question_id)
        if question is None:
            return False
        self._upsert_vote((question_id, offset, self.pseudonym(user_id), value, question.text,
                           self.shown_page(question_id, offset, page_size), _now()))
        return True

    def keep_page(self, chat_id: int | str, page: ChatPage) -> None:
        """Remember the chat's last answered page, where every replica reads it."""
        self._upsert_page((self.pseudonym(chat_id), page.question_id, page.next_offset,
                           page.has_more, _now()))

    def chat_page(self, chat_id: int | str, max_age: float) -> ChatPage | None:
        """The chat's last page kept within `max_age` seconds (its question_id None after
        /new), or None."""
        row = self._page_row(self.pseudonym(chat_id), purge_cutoff(max_age / 86400))
        return ChatPage(row[0], row[1], bool(row[2])) if row else None

    def forget_page(self, chat_id: int | str) -> None:
        """/new: typed paging no longer continues the old answer (the row stays, question
        id cleared: the chat has been shown how to page)."""
        self._clear_page(self.pseudonym(chat_id))


class FeedbackStore(QuestionRules):
    """Thread-safe: handlers call it from worker threads, one connection behind a lock."""

    def __init__(self, path: str | Path, key: bytes | None = None):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._key = key or _key_for(self.path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.create_function("pseudonym", 1, self.pseudonym, deterministic=True)
        self._lock = threading.Lock()
        with self._lock:
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA secure_delete=ON")  # purged text is overwritten, not left
            self._open_schema()

    def _open_schema(self) -> None:
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(questions)")}
        version = (1 if "user_id" in columns else SCHEMA_VERSION if not columns else
                   self._db.execute("PRAGMA user_version").fetchone()[0] or 2)
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if version == 1:
                _run(self._db, _MIGRATE_V1)
                log.info("feedback store %s: user and chat ids replaced by keyed hashes",
                         self.path)
            elif version == SCHEMA_VERSION:
                _run(self._db, [_SCHEMA])
            if version < 3:
                _migrate_v2(self._db)
                log.info("feedback store %s: grades and topics added to stored questions",
                         self.path)
            _run(self._db, [_PAGES])  # new in version 4
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, sql: str, params=(), many: bool = False) -> sqlite3.Cursor:
        with self._lock:
            self._db.execute("BEGIN")
            try:
                cur = (self._db.executemany if many else self._db.execute)(sql, params)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return cur

    def _insert_question(self, row: tuple) -> int:
        chat, user, text, answered, asked_at, grade, missing, topic = row
        cur = self._write(
            "INSERT INTO questions (chat_hash, user_hash, text, answered, asked_at, grade,"
            " missing, topic) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (chat, user, text, int(answered), asked_at, grade, json.dumps(missing),
             json.dumps(topic, ensure_ascii=False)))
        return int(cur.lastrowid)

    def question(self, question_id: int, chat_id: int | None = None) -> StoredQuestion | None:
        """The stored question; None if unknown, or asked in another chat than `chat_id`."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, chat_hash, user_hash, text, answered, asked_at FROM questions"
                " WHERE id = ?", (question_id,)).fetchone()
        if row is None or (chat_id is not None and row[1] != self.pseudonym(chat_id)):
            return None
        return StoredQuestion(row[0], row[1], row[2], row[3], bool(row[4]), row[5])

    def add_shown(self, question_id: int, offset: int, hits: list[Hit]) -> None:
        self._write(
            "INSERT OR REPLACE INTO shown (question_id, rank, passage_id, article_id)"
            " VALUES (?, ?, ?, ?)",
            [(question_id, offset + i, h.passage_id, h.article_id) for i, h in enumerate(hits)],
            many=True)

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

    def _upsert_vote(self, row: tuple) -> None:
        qid, offset, user, value, text, passage_ids, created_at = row
        self._write(
            "INSERT INTO feedback (question_id, page_offset, user_hash, value, question,"
            " passage_ids, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (question_id, page_offset, user_hash) DO UPDATE SET"
            " value = excluded.value, created_at = excluded.created_at",
            (qid, offset, user, value, text, json.dumps(passage_ids, ensure_ascii=False),
             created_at))

    def _upsert_page(self, row: tuple) -> None:
        self._write(
            "INSERT INTO chat_pages (chat_hash, question_id, next_offset, has_more, stored_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (chat_hash) DO UPDATE SET"
            " question_id = excluded.question_id, next_offset = excluded.next_offset,"
            " has_more = excluded.has_more, stored_at = excluded.stored_at", row)

    def _page_row(self, chat_hash: str, since: str) -> tuple | None:
        with self._lock:
            return self._db.execute(
                "SELECT question_id, next_offset, has_more FROM chat_pages"
                " WHERE chat_hash = ? AND stored_at >= ?", (chat_hash, since)).fetchone()

    def _clear_page(self, chat_hash: str) -> None:
        self._write("UPDATE chat_pages SET question_id = NULL WHERE chat_hash = ?", (chat_hash,))

    def _rows(self, sql: str, params=()) -> list[dict]:
        with self._lock:
            cur = self._db.execute(sql, params)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def feedback_rows(self) -> list[dict]:
        """Every vote, oldest first (for export and tests)."""
        out = self._rows("SELECT question_id, page_offset, user_hash, value, question, passage_ids,"
                         " created_at FROM feedback ORDER BY id")
        for r in out:
            r["passage_ids"] = json.loads(r["passage_ids"])
        return out

    def export(self) -> Iterator[dict]:
        """Everything stored, as JSON-ready records: each question (with the passages
        shown for it), then each vote; oldest first."""
        shown: dict[int, list[str]] = {}
        for r in self._rows("SELECT question_id, passage_id FROM shown"
                            " ORDER BY question_id, rank"):
            shown.setdefault(r["question_id"], []).append(r["passage_id"])
        for q in self._rows("SELECT id, chat_hash, user_hash, text, answered, asked_at, grade,"
                            " missing, topic FROM questions ORDER BY id"):
            yield {"kind": "question", **q, "answered": bool(q["answered"]),
                   "missing": json.loads(q["missing"] or "[]"),
                   "topic": json.loads(q["topic"] or "{}"), "shown": shown.get(q["id"], [])}
        for v in self.feedback_rows():
            yield {"kind": "vote", **v}

    def reader(self) -> FeedbackReader:
        """What the admins' report reads, over this store's connection."""
        return FeedbackReader(self._db, self._lock)

    def purge(self, older_than_days: float | None = None) -> dict[str, int]:
        """Delete questions, shown passages and votes made more than `older_than_days`
        ago (everything when None); returns how many of each were deleted."""
        cutoff = purge_cutoff(older_than_days)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                counts = {
                    "votes": self._db.execute(
                        "DELETE FROM feedback WHERE created_at < ?", (cutoff,)).rowcount,
                    "questions": self._db.execute(
                        "DELETE FROM questions WHERE asked_at < ?", (cutoff,)).rowcount,
                    "shown": self._db.execute(
                        "DELETE FROM shown WHERE question_id NOT IN (SELECT id FROM questions)"
                    ).rowcount,
                }
                self._db.execute("DELETE FROM chat_pages WHERE stored_at < ?"
                                 " OR question_id NOT IN (SELECT id FROM questions)", (cutoff,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            if self.path != ":memory:":  # no copy of the deleted pages left in the WAL file
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return counts


@dataclass
class AskedQuestion:
    """A stored question as the report reads it: no pseudonym.  `missing` and `topic`
    stay JSON until asked for: the report groups by the text, and parses each
    distinct one once (10,000 questions hold a few hundred topics)."""

    id: int
    text: str
    asked_at: str
    grade: str | None  # None: asked before grades were stored, answered
    missing_json: str
    topic_json: str

    @property
    def missing(self) -> list[str]:
        return json.loads(self.missing_json or "[]")

    @property
    def topic(self) -> dict:
        """topic_record"""
        return json.loads(self.topic_json or "{}")


class FeedbackReader:
    """The report's queries (chat/insights.py).  Pseudonyms are only ever counted,
    never returned; `since` is an ISO time, and nothing older is read."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock | None = None):
        self._db = db
        self._lock = lock or threading.Lock()
        columns = {row[1] for row in self._rows("PRAGMA table_info(questions)")}
        if "user_id" in columns:
            raise ValueError("the feedback database is of version 1: start the bot (or run "
                             "`python -m chat feedback export`) once to convert it")
        self._graded = "topic" in columns  # version 2: read the topic from the text

    @classmethod
    def open(cls, path: str | Path) -> FeedbackReader:
        """Open read-only: the bot may be writing meanwhile (WAL), nothing here writes."""
        if not Path(path).is_file():
            raise FileNotFoundError(f"no feedback database at {path}")
        db = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True,
                             check_same_thread=False)
        db.execute("PRAGMA busy_timeout=5000")
        return cls(db)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _rows(self, sql: str, params=()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def questions(self, since: str) -> list[AskedQuestion]:
        """Questions asked since `since`, oldest first."""
        extra = "grade, missing, topic" if self._graded else "NULL, NULL, NULL"
        out = []
        for qid, text, asked_at, answered, grade, missing, topic in self._rows(
                f"SELECT id, text, asked_at, answered, {extra} FROM questions"
                " WHERE asked_at >= ? ORDER BY asked_at, id", (since,)):
            if not self._graded:
                grade, topic = (None if answered else "none"), _topic_of_text(text, asked_at)
            out.append(AskedQuestion(qid, text, asked_at, grade, missing or "[]", topic or "{}"))
        return out

    def people(self, since: str) -> int:
        """How many different people asked since `since` (a count of pseudonyms)."""
        return self._rows("SELECT count(DISTINCT user_hash) FROM questions WHERE asked_at >= ?",
                          (since,))[0][0]

    def most_shown(self, since: str, top: int) -> list[tuple[str, int]]:
        """(article id, questions it was shown for) of the `top` articles shown most for
        questions asked since `since`; ties by article id."""
        return self._rows(
            "SELECT s.article_id, count(DISTINCT s.question_id) AS n FROM shown s"
            " JOIN questions q ON q.id = s.question_id WHERE q.asked_at >= ?"
            " GROUP BY s.article_id ORDER BY n DESC, s.article_id LIMIT ?", (since, top))

    def votes(self, since: str) -> tuple[int, int]:
        """(👍, 👎) votes made since `since`."""
        up, down = self._rows("SELECT count(*) FILTER (WHERE value > 0), count(*) FILTER"
                              " (WHERE value < 0) FROM feedback WHERE created_at >= ?", (since,))[0]
        return up, down

    def votes_on(self, since: str, article_ids: list[str]) -> dict[str, tuple[int, int]]:
        """(👍, 👎) since `since` of the pages that showed each article: a vote judges
        the passages of its page, each article once."""
        if not article_ids:
            return {}
        marks = ",".join("?" * len(article_ids))
        return {a: (up, down) for a, up, down in self._rows(
            "SELECT s.article_id, count(DISTINCT f.id) FILTER (WHERE f.value > 0),"
            " count(DISTINCT f.id) FILTER (WHERE f.value < 0)"
            " FROM feedback f, json_each(f.passage_ids) j"
            " JOIN shown s ON s.question_id = f.question_id AND s.passage_id = j.value"
            f" WHERE f.created_at >= ? AND s.article_id IN ({marks}) GROUP BY s.article_id",
            (since, *article_ids))}
