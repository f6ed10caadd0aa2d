"""The chat stores in PostgreSQL: what several bot replicas behind one webhook share.

`[index] backend = "postgres"` puts here (chat/stores.py chooses):

- conversation memory (`chat_context`): each conversation's last question, for
  follow-ups, expiring `bot.context_minutes` after it was asked (the server's clock,
  so replicas with skewed clocks agree);
- the per-user limit (`chat_asked`): one row per counted question, one user's
  questions serialised by an advisory lock, so two replicas cannot both let the
  eleventh through;
- the question store (`chat_questions`, `chat_shown`, `chat_feedback`, `chat_pages`):
  the same rows, pseudonyms and retention as chat/feedback.py's SQLite file.  Buttons
  name their question by id, so «Xem thêm», «Toàn văn», «Cả đoạn» and 👍/👎 pressed
  under an answer from one replica are served by any other; Zalo's typed «xem thêm»
  and «toàn văn N» read the chat's last page from `chat_pages`, so they work too.

Pseudonyms: ids are hashed with feedback.pseudonym and one key per install, kept in
its own table `chat_key` (created once, read by every replica); conversations and
rate-limit rows are keyed by pseudonyms too, so no Telegram id is stored.

Outages: every call runs in its own short transaction on a connection from a small
list.  When the server cannot be reached the call raises StoreUnavailable (the chat
says "thử lại sau"); connections of a server that went away are dropped, and the
next call connects afresh, so answers resume as soon as the server is back, with
no back-off to wait out (psycopg_pool's reconnect back-off doubles up to minutes).

Schema versions share chat/feedback.py's numbering: this store begins at 3, the
SQLite store's current layout; MIGRATIONS[n] holds the statements that reach
version n, applied in order under an advisory lock by whichever replica starts first.
"""
from __future__ import annotations

import logging
import random
import secrets
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb

from retrieval.types import Hit

from .context import Remembered, Resolved
from .feedback import (
    SCHEMA_VERSION,
    AskedQuestion,
    QuestionRules,
    StoredQuestion,
    pseudonym,
    purge_cutoff,
)
from .stores import ChatStores, StoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
CONNECT_TIMEOUT = 3  # seconds; a stopped server refuses at once, a lost one is given this long
IDLE_CONNECTIONS = 8  # kept open between calls (the bot's worker threads)
SWEEP_EVERY = 200  # calls of remember/retry_after between deletions of expired rows
_LOCK_MIGRATE = 7_402_117  # advisory lock key: one replica migrates at a time

MIGRATIONS: dict[int, list[str]] = {
    3: [
        """CREATE TABLE chat_questions (
            id        BIGSERIAL PRIMARY KEY,
            chat_hash TEXT NOT NULL,
            user_hash TEXT,
            text      TEXT NOT NULL,
            answered  BOOLEAN NOT NULL,
            asked_at  TEXT NOT NULL,          -- ISO UTC, as feedback._now writes it
            grade     TEXT,
            missing   JSONB NOT NULL DEFAULT '[]',
            topic     JSONB NOT NULL DEFAULT '{}')""",
        "CREATE INDEX chat_questions_asked_at ON chat_questions (asked_at)",
        """CREATE TABLE chat_shown (
            question_id BIGINT NOT NULL REFERENCES chat_questions (id) ON DELETE CASCADE,
            rank        INTEGER NOT NULL,
            passage_id  TEXT NOT NULL,
            article_id  TEXT NOT NULL,
            PRIMARY KEY (question_id, rank))""",
        """CREATE TABLE chat_feedback (
            id          BIGSERIAL PRIMARY KEY,
            question_id BIGINT NOT NULL,
            page_offset INTEGER NOT NULL,
            user_hash   TEXT,
            value       SMALLINT NOT NULL,
            question    TEXT NOT NULL,
            passage_ids JSONB NOT NULL,
            created_at  TEXT NOT NULL,
            UNIQUE (question_id, page_offset, user_hash))""",
        "CREATE INDEX chat_feedback_created_at ON chat_feedback (created_at)",
        """CREATE TABLE chat_context (
            conversation TEXT PRIMARY KEY,    -- pseudonym of "chat:user"
            remembered   JSONB NOT NULL,      -- context.Remembered.to_record
            stored_at    TIMESTAMPTZ NOT NULL DEFAULT now())""",
        "CREATE INDEX chat_context_stored_at ON chat_context (stored_at)",
        """CREATE TABLE chat_asked (
            user_hash TEXT NOT NULL,
            asked_at  TIMESTAMPTZ NOT NULL DEFAULT now())""",
        "CREATE INDEX chat_asked_user ON chat_asked (user_hash, asked_at)",
        "CREATE TABLE chat_key (id INTEGER PRIMARY KEY CHECK (id = 1), key BYTEA NOT NULL)",
    ],
    4: [
        """CREATE TABLE chat_pages (
            chat_hash   TEXT PRIMARY KEY,
            question_id BIGINT REFERENCES chat_questions (id) ON DELETE CASCADE,  -- NULL after /new
            next_offset INTEGER NOT NULL,
            has_more    BOOLEAN NOT NULL,
            stored_at   TEXT NOT NULL)""",
    ],
}


def describe(error: Exception, dsn: str) -> str:
    """One line about a connection failure that never repeats the connection string
    nor its password."""
    if isinstance(error, psycopg.ProgrammingError):
        return "chuỗi kết nối PostgreSQL không hợp lệ"
    text = (str(error).strip().splitlines() or [type(error).__name__])[0]
    try:
        password = conninfo_to_dict(dsn).get("password")
    except psycopg.Error:
        password = None
    for secret in filter(None, (dsn, password)):
        text = text.replace(str(secret), "***")
    return text


class Database:
    """Short transactions on a few connections, for many threads; an unreachable
    server is StoreUnavailable, and the next call connects again."""

    def __init__(self, dsn: str, connect_timeout: float = CONNECT_TIMEOUT):
        self._dsn = dsn
        self._timeout = connect_timeout
        self._idle: list[psycopg.Connection] = []
        self._lock = threading.Lock()

    def _connect(self) -> psycopg.Connection:
        try:
            return psycopg.connect(self._dsn, autocommit=True, connect_timeout=self._timeout,
                                   application_name="congtac-bot")
        except psycopg.Error as e:
            raise StoreUnavailable(f"PostgreSQL: {describe(e, self._dsn)}") from None

    def run(self, work: Callable[[psycopg.Cursor], T]) -> T:
        """`work(cursor)` in one transaction.  A connection kept from before a server
        restart fails on first use: then every kept one is dropped and `work` runs once
        more on a new connection."""
        for attempt in (1, 2):
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            reused = conn is not None
            conn = conn or self._connect()
            try:
                with conn.transaction(), conn.cursor() as cur:
                    result = work(cur)
            except psycopg.OperationalError as e:
                conn.close()
                if reused and attempt == 1:
                    self._drop_idle()
                    continue
                raise StoreUnavailable(f"PostgreSQL: {describe(e, self._dsn)}") from None
            except BaseException:
                self._keep(conn)
                raise
            self._keep(conn)
            return result
        raise AssertionError("unreachable")

    def _keep(self, conn: psycopg.Connection) -> None:
        if conn.closed or conn.broken:
            return
        with self._lock:
            if len(self._idle) < IDLE_CONNECTIONS:
                self._idle.append(conn)
                return
        conn.close()

    def _drop_idle(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def close(self) -> None:
        self._drop_idle()


def migrate(cur: psycopg.Cursor) -> int:
    """Bring the chat tables to SCHEMA_VERSION; returns the version found."""
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_MIGRATE,))
    cur.execute("CREATE TABLE IF NOT EXISTS chat_schema (version INTEGER NOT NULL)")
    cur.execute("SELECT max(version) FROM chat_schema")
    found = cur.fetchone()[0] or 0
    if found > SCHEMA_VERSION:
        raise StoreUnavailable(f"the chat tables are of version {found}, newer than this bot's "
                               f"{SCHEMA_VERSION}: upgrade the bot")
    for version in sorted(v for v in MIGRATIONS if v > found):
        for statement in MIGRATIONS[version]:
            cur.execute(statement)
        cur.execute("DELETE FROM chat_schema")
        cur.execute("INSERT INTO chat_schema (version) VALUES (%s)", (version,))
        log.info("chat tables in PostgreSQL brought to version %d", version)
    return found


def _install_key(cur: psycopg.Cursor) -> bytes:
    cur.execute("INSERT INTO chat_key (id, key) VALUES (1, %s) ON CONFLICT (id) DO NOTHING",
                (secrets.token_bytes(32),))
    cur.execute("SELECT key FROM chat_key WHERE id = 1")
    return bytes(cur.fetchone()[0])


class _Sweeper:
    """Deletes expired rows every SWEEP_EVERY calls (at a random phase per replica)."""

    def __init__(self, sql: str):
        self._sql = sql
        self._calls = random.randrange(SWEEP_EVERY)

    def due(self, cur: psycopg.Cursor, *params) -> None:
        self._calls += 1
        if self._calls % SWEEP_EVERY == 0:
            cur.execute(self._sql, params)


class PgConversations:
    """Follow-up memory shared by every replica; ttl in seconds."""

    def __init__(self, db: Database, key: bytes, ttl_seconds: float):
        self._db, self._key, self.ttl = db, key, ttl_seconds
        self._sweep = _Sweeper("DELETE FROM chat_context WHERE stored_at < now() - make_interval("
                               "secs => %s)")

    def _id(self, key: tuple) -> str:
        return pseudonym(self._key, ":".join(map(str, key)))

    def recall(self, key: tuple) -> Remembered | None:
        if self.ttl <= 0:
            return None

        def work(cur):
            cur.execute("SELECT remembered FROM chat_context WHERE conversation = %s"
                        " AND stored_at >= now() - make_interval(secs => %s)",
                        (self._id(key), self.ttl))
            return cur.fetchone()

        row = self._db.run(work)
        return Remembered.from_record(row[0]) if row else None

    def remember(self, key: tuple, resolved: Resolved, vocabulary: frozenset[str] = frozenset()) -> None:
        record = Remembered(resolved.intent, resolved.topic, vocabulary).to_record()

        def work(cur):
            cur.execute("INSERT INTO chat_context (conversation, remembered) VALUES (%s, %s)"
                        " ON CONFLICT (conversation) DO UPDATE SET remembered = excluded.remembered,"
                        " stored_at = now()", (self._id(key), Jsonb(record)))
            self._sweep.due(cur, self.ttl)

        self._db.run(work)

    def forget(self, key: tuple) -> bool:
        def work(cur):
            cur.execute("DELETE FROM chat_context WHERE conversation = %s AND stored_at >= now()"
                        " - make_interval(secs => %s)", (self._id(key), self.ttl))
            return cur.rowcount > 0

        return self._db.run(work)


class PgRateLimiter:
    """At most `per_minute` questions per user in any `window` seconds, across replicas."""

    def __init__(self, db: Database, key: bytes, per_minute: int, window: float = 60.0):
        self._db, self._key = db, key
        self.per_minute, self.window = per_minute, window
        self._sweep = _Sweeper("DELETE FROM chat_asked WHERE asked_at < now() - make_interval("
                               "secs => %s)")

    def retry_after(self, user_id: int | str | None) -> float:
        if user_id is None or self.per_minute <= 0:
            return 0.0
        user = pseudonym(self._key, user_id)

        def work(cur) -> float:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (user,))
            cur.execute("DELETE FROM chat_asked WHERE user_hash = %s"
                        " AND asked_at <= now() - make_interval(secs => %s)", (user, self.window))
            cur.execute("SELECT count(*), extract(epoch FROM now() - min(asked_at))"
                        " FROM chat_asked WHERE user_hash = %s", (user,))
            count, age = cur.fetchone()
            if count >= self.per_minute:
                return max(1.0, self.window - float(age))
            cur.execute("INSERT INTO chat_asked (user_hash) VALUES (%s)", (user,))
            self._sweep.due(cur, self.window)
            return 0.0

        return self._db.run(work)


class PgQuestions(QuestionRules):
    """chat/feedback.py's FeedbackStore on PostgreSQL: the same methods and records."""

    def __init__(self, db: Database, key: bytes):
        self._db, self._key = db, key

    def close(self) -> None:
        self._db.close()

    def _one(self, sql: str, params=()):
        def work(cur):
            cur.execute(sql, params)
            return cur.fetchone()
        return self._db.run(work)

    def _all(self, sql: str, params=()) -> list[tuple]:
        def work(cur):
            cur.execute(sql, params)
            return cur.fetchall()
        return self._db.run(work)

    def _dicts(self, sql: str, params=()) -> list[dict]:
        def work(cur):
            cur.execute(sql, params)
            names = [d.name for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        return self._db.run(work)

    def _insert_question(self, row: tuple) -> int:
        *fields, missing, topic = row
        return self._one(
            "INSERT INTO chat_questions (chat_hash, user_hash, text, answered, asked_at, grade,"
            " missing, topic) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (*fields, Jsonb(missing), Jsonb(topic)))[0]

    def question(self, question_id: int, chat_id: int | None = None) -> StoredQuestion | None:
        if not -2**63 <= question_id < 2**63:  # a forged payload's id: not a BIGINT
            return None
        row = self._one("SELECT id, chat_hash, user_hash, text, answered, asked_at"
                        " FROM chat_questions WHERE id = %s", (question_id,))
        if row is None or (chat_id is not None and row[1] != self.pseudonym(chat_id)):
            return None
        return StoredQuestion(*row)

    def add_shown(self, question_id: int, offset: int, hits: list[Hit]) -> None:
        rows = [(question_id, offset + i, h.passage_id, h.article_id) for i, h in enumerate(hits)]

        def work(cur):
            cur.executemany(
                "INSERT INTO chat_shown (question_id, rank, passage_id, article_id)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (question_id, rank) DO UPDATE SET"
                " passage_id = excluded.passage_id, article_id = excluded.article_id", rows)

        if rows:
            self._db.run(work)

    def shown(self, question_id: int, rank: int) -> tuple[str, str] | None:
        row = self._one("SELECT passage_id, article_id FROM chat_shown WHERE question_id = %s"
                        " AND rank = %s", (question_id, rank))
        return (row[0], row[1]) if row else None

    def shown_page(self, question_id: int, offset: int, size: int) -> list[str]:
        return [r[0] for r in self._all(
            "SELECT passage_id FROM chat_shown WHERE question_id = %s AND rank >= %s"
            " AND rank < %s ORDER BY rank", (question_id, offset, offset + size))]

    def _upsert_vote(self, row: tuple) -> None:
        *fields, passage_ids, created_at = row
        self._one(
            "INSERT INTO chat_feedback (question_id, page_offset, user_hash, value, question,"
            " passage_ids, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (question_id, page_offset, user_hash) DO UPDATE SET"
            " value = excluded.value, created_at = excluded.created_at RETURNING id",
            (*fields, Jsonb(passage_ids), created_at))

    def _upsert_page(self, row: tuple) -> None:
        self._one(
            "INSERT INTO chat_pages (chat_hash, question_id, next_offset, has_more, stored_at)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (chat_hash) DO UPDATE SET"
            " question_id = excluded.question_id, next_offset = excluded.next_offset,"
            " has_more = excluded.has_more, stored_at = excluded.stored_at RETURNING chat_hash", row)

    def _page_row(self, chat_hash: str, since: str) -> tuple | None:
        return self._one("SELECT question_id, next_offset, has_more FROM chat_pages"
                         " WHERE chat_hash = %s AND stored_at >= %s", (chat_hash, since))

    def _clear_page(self, chat_hash: str) -> None:
        self._one("UPDATE chat_pages SET question_id = NULL WHERE chat_hash = %s RETURNING chat_hash",
                  (chat_hash,))

    def feedback_rows(self) -> list[dict]:
        return self._dicts("SELECT question_id, page_offset, user_hash, value, question,"
                           " passage_ids, created_at FROM chat_feedback ORDER BY id")

    def export(self) -> Iterator[dict]:
        shown: dict[int, list[str]] = {}
        for qid, passage in self._all("SELECT question_id, passage_id FROM chat_shown"
                                      " ORDER BY question_id, rank"):
            shown.setdefault(qid, []).append(passage)
        for q in self._dicts("SELECT id, chat_hash, user_hash, text, answered, asked_at, grade,"
                             " missing, topic FROM chat_questions ORDER BY id"):
            yield {"kind": "question", **q, "shown": shown.get(q["id"], [])}
        for v in self.feedback_rows():
            yield {"kind": "vote", **v}

    def reader(self) -> PgFeedbackReader:
        return PgFeedbackReader(self._db)

    def purge(self, older_than_days: float | None = None) -> dict[str, int]:
        cutoff = purge_cutoff(older_than_days)

        def work(cur):
            counts = {}
            for name, sql in (("votes", "DELETE FROM chat_feedback WHERE created_at < %s"),
                              ("shown", "DELETE FROM chat_shown WHERE question_id IN (SELECT id"
                                        " FROM chat_questions WHERE asked_at < %s)"),
                              ("questions", "DELETE FROM chat_questions WHERE asked_at < %s")):
                cur.execute(sql, (cutoff,))
                counts[name] = cur.rowcount
            cur.execute("DELETE FROM chat_pages WHERE stored_at < %s", (cutoff,))  # the rest cascaded
            return counts

        return self._db.run(work)


class PgFeedbackReader:
    """chat/feedback.py's FeedbackReader (the admins' report) over PostgreSQL."""

    def __init__(self, db: Database):
        self._db = db

    def close(self) -> None:
        """The store owns the connections."""

    def _rows(self, sql: str, params=()) -> list[tuple]:
        def work(cur):
            cur.execute(sql, params)
            return cur.fetchall()
        return self._db.run(work)

    def questions(self, since: str) -> list[AskedQuestion]:
        return [AskedQuestion(*row) for row in self._rows(
            "SELECT id, text, asked_at, grade, missing::text, topic::text FROM chat_questions"
            " WHERE asked_at >= %s ORDER BY asked_at, id", (since,))]

    def people(self, since: str) -> int:
        return self._rows("SELECT count(DISTINCT user_hash) FROM chat_questions"
                          " WHERE asked_at >= %s", (since,))[0][0]

    def most_shown(self, since: str, top: int) -> list[tuple[str, int]]:
        return self._rows(
            "SELECT s.article_id, count(DISTINCT s.question_id) AS n FROM chat_shown s"
            " JOIN chat_questions q ON q.id = s.question_id WHERE q.asked_at >= %s"
            " GROUP BY s.article_id ORDER BY n DESC, s.article_id LIMIT %s", (since, top))

    def votes(self, since: str) -> tuple[int, int]:
        up, down = self._rows("SELECT count(*) FILTER (WHERE value > 0), count(*) FILTER"
                              " (WHERE value < 0) FROM chat_feedback WHERE created_at >= %s",
                              (since,))[0]
        return up, down

    def votes_on(self, since: str, article_ids: list[str]) -> dict[str, tuple[int, int]]:
        if not article_ids:
            return {}
        return {a: (up, down) for a, up, down in self._rows(
            "SELECT s.article_id, count(DISTINCT f.id) FILTER (WHERE f.value > 0),"
            " count(DISTINCT f.id) FILTER (WHERE f.value < 0)"
            " FROM chat_feedback f, jsonb_array_elements_text(f.passage_ids) j(passage_id)"
            " JOIN chat_shown s ON s.passage_id = j.passage_id"
            " WHERE s.question_id = f.question_id AND f.created_at >= %s"
            " AND s.article_id = ANY(%s) GROUP BY s.article_id", (since, list(article_ids)))}


def open_postgres_stores(dsn: str, config, questions=None) -> ChatStores:
    """The three stores on one server, tables migrated; StoreUnavailable (one line)
    when the server cannot be used."""
    db = Database(dsn)
    db.run(migrate)
    key = db.run(_install_key)
    bot = config.bot
    return ChatStores(PgConversations(db, key, bot.context_minutes * 60),
                      PgRateLimiter(db, key, bot.questions_per_minute),
                      questions or PgQuestions(db, key))
