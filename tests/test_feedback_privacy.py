"""The feedback store keeps no Telegram ids, forgets after the retention period, converts
old databases without losing anything else, and can be exported or purged from the CLI.
Questions and ids below are made up."""
from __future__ import annotations

import json
import sqlite3
import stat
from types import SimpleNamespace

import pytest
from chat_fixtures import StubReader

from chat.feedback import FeedbackStore
from chat.service import ChatService, Status
from retrieval.types import Hit

USER, CHAT = 987654321, -1002233445566

OLD_SCHEMA = """
CREATE TABLE questions (id INTEGER PRIMARY KEY AUTOINCREMENT, chat_id INTEGER NOT NULL,
    user_id INTEGER, text TEXT NOT NULL, answered INTEGER NOT NULL, asked_at TEXT NOT NULL);
CREATE TABLE shown (question_id INTEGER NOT NULL REFERENCES questions(id),
    rank INTEGER NOT NULL, passage_id TEXT NOT NULL, article_id TEXT NOT NULL,
    PRIMARY KEY (question_id, rank));
CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT,
    question_id INTEGER NOT NULL REFERENCES questions(id), page_offset INTEGER NOT NULL,
    user_id INTEGER, value INTEGER NOT NULL, question TEXT NOT NULL, passage_ids TEXT NOT NULL,
    created_at TEXT NOT NULL, UNIQUE (question_id, page_offset, user_id));
"""


def hit(n: int) -> Hit:
    return Hit(passage_id=f"a{n}#0", article_id=f"a{n}", title=f"Bài {n}", text="…", score=1.0)


class Searcher:
    reader = StubReader()

    def search(self, question, top_k=None, offset=0, today=None, prefer=(), intent=None):
        from retrieval.types import SearchResponse

        return SearchResponse(query=question, answered=True,
                              hits=[hit(i) for i in range(6)][offset:offset + top_k])

    def article(self, article_id):
        return None  # no article behind these hits: the service falls back to the hit's text


def raw_values(path) -> set:
    """Every value of every column of every table, as SQLite returns it."""
    db = sqlite3.connect(path)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {v for t in tables for row in db.execute(f"SELECT * FROM {t}") for v in row}
    finally:
        db.close()


def test_only_keyed_hashes_of_ids_are_stored(tmp_path):
    path = tmp_path / "fb.sqlite"
    store = FeedbackStore(path)
    service = ChatService(Searcher(), store, per_page=3)
    page = service.ask("Hội thi ở xã Khe Vang năm 2025", chat_id=CHAT, user_id=USER)
    assert service.vote(page.qid, 0, USER, good=True, chat_id=CHAT)
    assert service.vote(page.qid, 0, USER, good=False, chat_id=CHAT)  # one vote per person
    assert service.more(page.qid, 3, chat_id=CHAT).status is Status.ANSWER
    assert service.more(page.qid, 3, chat_id=CHAT + 1).status is Status.EXPIRED
    store.close()
    values = raw_values(path)
    assert USER not in values and CHAT not in values
    assert not any(str(USER) in str(v) or str(CHAT) in str(v) for v in values)
    key = path.with_name("fb.sqlite.key")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    again = FeedbackStore(path)  # the same key next time: hashes still match
    rows = again.feedback_rows()
    assert len(rows) == 1 and rows[0]["value"] == -1
    assert rows[0]["user_hash"] == again.pseudonym(USER) != FeedbackStore(":memory:").pseudonym(USER)
    assert again.question(page.qid, CHAT).text == "Hội thi ở xã Khe Vang năm 2025"


def test_an_old_database_is_converted_on_open_losing_nothing_else(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    db.executemany("INSERT INTO questions VALUES (?, ?, ?, ?, ?, ?)", [
        (1, USER, USER, "Câu hỏi thứ nhất", 1, "2026-01-02T03:04:05+00:00"),
        (7, CHAT, 5551, "Câu hỏi trong nhóm", 0, "2026-02-03T04:05:06+00:00"),
        (8, 42, None, "Câu hỏi không rõ người hỏi", 1, "2026-02-04T00:00:00+00:00")])
    db.executemany("INSERT INTO shown VALUES (?, ?, ?, ?)",
                   [(1, 0, "a1#0", "a1"), (1, 1, "a2#0", "a2"), (7, 0, "a3#0", "a3")])
    db.execute("INSERT INTO feedback VALUES (3, 1, 0, ?, 1, 'Câu hỏi thứ nhất', '[\"a1#0\"]',"
               " '2026-01-02T03:05:00+00:00')", (USER,))
    db.commit()
    db.close()

    store = FeedbackStore(path)
    values = raw_values(path)
    assert not {USER, CHAT, 5551} & values
    records = list(store.export())
    questions = [r for r in records if r["kind"] == "question"]
    assert [(q["id"], q["text"], q["answered"], q["asked_at"], q["shown"]) for q in questions] == [
        (1, "Câu hỏi thứ nhất", True, "2026-01-02T03:04:05+00:00", ["a1#0", "a2#0"]),
        (7, "Câu hỏi trong nhóm", False, "2026-02-03T04:05:06+00:00", ["a3#0"]),
        (8, "Câu hỏi không rõ người hỏi", True, "2026-02-04T00:00:00+00:00", [])]
    assert [q["user_hash"] for q in questions] == [store.pseudonym(USER),
                                                   store.pseudonym(5551), None]
    assert store.question(7, CHAT) is not None and store.question(7, USER) is None
    (vote,) = [r for r in records if r["kind"] == "vote"]
    assert vote["user_hash"] == store.pseudonym(USER) and vote["passage_ids"] == ["a1#0"]
    # The old vote and a new one by the same person are the same vote.
    assert store.add_feedback(1, 0, USER, -1, page_size=1)
    assert [r["value"] for r in store.feedback_rows()] == [-1]
    assert store.add_question(CHAT, USER, "mới", True) == 9  # ids go on after the old ones
    store.close()
    FeedbackStore(path).close()  # opening again changes nothing
    assert len(list(FeedbackStore(path).export())) == 5


def test_purge_forgets_what_is_older_than_the_retention_period(tmp_path):
    store = FeedbackStore(tmp_path / "fb.sqlite")
    old = store.add_question(1, 2, "cũ", True)
    store.add_shown(old, 0, [hit(1)])
    store.add_feedback(old, 0, 2, 1, page_size=3)
    new = store.add_question(1, 2, "mới", True)
    store.add_shown(new, 0, [hit(2)])
    with store._lock:  # the first question and its vote were made 91 days ago
        store._db.execute("UPDATE questions SET asked_at = '2000-01-01T00:00:00+00:00'"
                          " WHERE id = ?", (old,))
        store._db.execute("UPDATE feedback SET created_at = '2000-01-01T00:00:00+00:00'")
    assert store.purge(90) == {"votes": 1, "questions": 1, "shown": 1}
    assert store.question(old) is None and store.question(new).text == "mới"
    assert store.shown(new, 0) == ("a2#0", "a2")
    assert store.purge(90) == {"votes": 0, "questions": 0, "shown": 0}
    assert store.purge() == {"votes": 0, "questions": 1, "shown": 1}
    assert list(store.export()) == []


def test_retrieval_cli_points_to_the_chat_cli(capsys):
    from retrieval.cli import main

    for command in (["feedback", "export", "--db", "x.sqlite"], ["dashboard"]):
        assert main(command) == 2
        assert f"python -m chat {command[0]}" in capsys.readouterr().err


def test_cli_exports_json_lines_and_purges(tmp_path, capsys):
    from chat.cli import main

    def _cli(*args):
        code = main(["feedback", *args])
        out, err = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out, stderr=err)

    path = tmp_path / "fb.sqlite"
    store = FeedbackStore(path)
    qid = store.add_question(CHAT, USER, "Đại hội Hội Nông dân xã Khe Vang", True)
    store.add_feedback(qid, 0, USER, 1, page_size=3)
    store.close()

    run = _cli("export", "--db", str(path))
    assert run.returncode == 0, run.stderr
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r["kind"] for r in records] == ["question", "vote"]
    assert records[0]["text"] == "Đại hội Hội Nông dân xã Khe Vang"
    assert str(USER) not in run.stdout
    out = tmp_path / "export.jsonl"
    assert _cli("export", "--db", str(path), "--out", str(out)).returncode == 0
    assert out.read_text(encoding="utf-8") == run.stdout
    assert stat.S_IMODE(out.stat().st_mode) == 0o600

    refused = _cli("purge", "--db", str(path))
    assert refused.returncode == 2 and "--all or --older-than" in refused.stderr
    kept = _cli("purge", "--db", str(path), "--older-than", "30")
    assert kept.returncode == 0 and "deleted 0 questions, 0 votes" in kept.stdout
    gone = _cli("purge", "--db", str(path), "--all")
    assert gone.returncode == 0 and "deleted 1 questions, 1 votes" in gone.stdout
    assert _cli("export", "--db", str(path)).stdout == ""
    missing = _cli("export", "--db", str(tmp_path / "none.sqlite"))
    assert missing.returncode == 2 and "no feedback database" in missing.stderr


@pytest.mark.slow
def test_the_bot_purges_at_start(bot_env):
    bot_env.config.bot.feedback_days = 90
    store = bot_env.store()
    old = store.add_question(USER, USER, "cũ", True)
    new = store.add_question(USER, USER, "mới", True)
    with store._lock:
        store._db.execute("UPDATE questions SET asked_at = '2000-01-01T00:00:00+00:00'"
                          " WHERE id = ?", (old,))

    async def scenario():
        async with bot_env.running():
            await bot_env.api.wait_for(lambda: store.question(old) is None, timeout=20,
                                       what="purge at start")

    bot_env.run(scenario())
    assert store.question(new).text == "mới"
    store.close()
