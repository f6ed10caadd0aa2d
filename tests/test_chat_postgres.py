"""Chat state in PostgreSQL (issue 17, items 4, 5 and 8): follow-ups, the rate limit and
the question store shared by two bot replicas behind one webhook address; a database
restart while the bot serves; a wrong connection string at start.

A real server (tests/pg_fixtures.py) runs on 127.0.0.1; each test gets its own database.
"""
from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from dataclasses import replace

import psycopg
import pytest
from chat_fixtures import ADMIN_ID, SEED_QUESTION
from round_robin import RoundRobin, free_port
from test_chat_cli import BOT, _post, clean_env
from test_chat_telegram import answer_of, assert_sane, has_buttons

from chat.config import ChatConfig as Config
from chat.context import resolve
from chat.feedback import ChatPage, FeedbackStore
from chat.pgstate import SCHEMA_VERSION, PgQuestions
from chat.render import texts
from chat.stores import StoreUnavailable, open_stores
from chat.telegram_bot import ALLOWED_UPDATES, build_application
from retrieval.index import IndexUnavailable
from retrieval.types import Hit

SECRET = "replica-hook-secret"
PLACES = {"dam ha": "Đầm Hà", "tung khe": "Tùng Khê"}


@pytest.fixture
def state_dsn(pg_database, monkeypatch) -> str:
    """A fresh database, its address in CONGTAC_PG_DSN (the default [index] dsn_env)."""
    monkeypatch.setenv("CONGTAC_PG_DSN", pg_database)
    return pg_database


def pg_config(base: Config | None = None, **bot) -> Config:
    config = replace(base or Config())
    config.index = replace(config.index, backend="postgres")
    config.bot = replace(config.bot, **bot)
    return config


def _hit(n: int) -> Hit:
    return Hit(passage_id=f"a{n}#0", article_id=f"a{n}", score=1.0 - n / 10, text=f"đoạn {n}",
               title=f"Bài {n}")


# ---------------------------------------------------------------- the stores themselves

def test_two_replicas_share_follow_ups_limits_and_questions(state_dsn):
    """Two sets of stores over one database, as two bot processes have: what one
    remembers, counts or stores, the other sees."""
    config = pg_config(questions_per_minute=3, context_minutes=1 / 60)  # 1 s of context
    a, b = open_stores(config), open_stores(config)
    asked = resolve("Hội Nông dân huyện Tùng Khê tổng kết năm 2023 thế nào?", None, PLACES)
    a.memory.remember((7, 8), asked, frozenset({"tong", "ket"}))
    recalled = b.memory.recall((7, 8))
    assert recalled.intent == asked.intent and recalled.topic == asked.topic
    assert recalled.vocabulary == {"tong", "ket"}
    follow = resolve("còn năm 2024 thì sao?", recalled, PLACES)
    assert follow.followup and follow.intent.places[0].name == "tung khe"
    assert b.memory.recall((7, 9)) is None  # another member of the group
    time.sleep(1.3)
    assert a.memory.recall((7, 8)) is None  # expired, for every replica
    a.memory.remember((7, 8), asked)
    assert b.memory.forget((7, 8)) and a.memory.recall((7, 8)) is None  # /new on the other one

    waits = [(a if n % 2 else b).limiter.retry_after(42) for n in range(4)]
    assert waits[:3] == [0, 0, 0] and 58 < waits[3] <= 60
    assert a.limiter.retry_after(43) == 0  # per user

    qid = a.questions.add_question(7, 8, "câu hỏi", True, grade="exact", topic={"years": ["2023"]})
    a.questions.add_shown(qid, 0, [_hit(1), _hit(2), _hit(3)])
    assert b.questions.question(qid, 7).text == "câu hỏi"
    assert b.questions.question(qid, 6) is None  # a button only works in its own chat
    assert b.questions.question(10**30) is None  # a forged id beyond BIGINT
    assert b.questions.shown(qid, 1) == ("a2#0", "a2")
    assert b.questions.add_feedback(qid, 0, 8, 1, 3) and a.questions.add_feedback(qid, 0, 8, -1, 3)
    rows = b.questions.feedback_rows()
    assert [r["value"] for r in rows] == [-1]  # one vote per person and page, the last one
    assert rows[0]["passage_ids"] == ["a1#0", "a2#0", "a3#0"]
    assert rows[0]["user_hash"] == b.questions.pseudonym(8) == a.questions.pseudonym(8) != "8"
    with psycopg.connect(state_dsn) as conn:  # no raw id anywhere
        stored = conn.execute("SELECT conversation FROM chat_context UNION ALL"
                              " SELECT user_hash FROM chat_asked").fetchall()
    assert stored and all(len(s) == 32 and s not in ("42", "7:8") for (s,) in stored)
    assert b.questions.purge(None) == {"votes": 1, "shown": 3, "questions": 1}
    assert a.questions.question(qid) is None


def _fill(store) -> None:
    """The same questions, pages and votes, in either kind of store."""
    q1 = store.add_question(1, 10, "Hội Nông dân huyện Tùng Khê năm 2023", True, grade="exact",
                            topic={"organisations": ["hoi_nong_dan"], "years": ["2023"]})
    store.add_shown(q1, 0, [_hit(1), _hit(2), _hit(3)])
    store.add_shown(q1, 3, [_hit(4), _hit(2)])
    q2 = store.add_question(2, 20, "giá vàng", False, missing=["place"])
    store.add_question(3, None, "Đoàn Thanh niên xã Hòa Bình", True, grade="partial",
                       missing=["year"], topic={"places": ["xã Hòa Bình"]})
    store.add_feedback(q1, 0, 10, 1, 3)
    store.add_feedback(q1, 3, 10, -1, 3)
    store.add_feedback(q1, 0, 11, 1, 3)
    assert not store.add_feedback(q2 + 100, 0, 10, 1, 3)


def _comparable(store) -> tuple:
    """What both stores must agree on: records without ids' hashes and times."""
    def strip(record):
        return {k: v for k, v in record.items()
                if k not in ("chat_hash", "user_hash", "asked_at", "created_at")}

    reader = store.reader()
    since = "2000-01-01T00:00:00+00:00"
    asked = [(q.text, q.grade, q.missing, q.topic) for q in reader.questions(since)]
    top = reader.most_shown(since, 10)
    return ([strip(r) for r in store.export()], asked, reader.people(since), top,
            reader.votes(since), reader.votes_on(since, [a for a, _ in top]))


def test_question_store_keeps_what_the_sqlite_store_keeps(state_dsn):
    """The PostgreSQL question store answers every query as chat/feedback.py's does:
    export, the admins' report queries, purge."""
    sqlite, pg = FeedbackStore(":memory:"), open_stores(pg_config()).questions
    for store in (sqlite, pg):
        _fill(store)
    assert isinstance(pg, PgQuestions)
    assert _comparable(pg) == _comparable(sqlite)
    assert pg.purge(30) == sqlite.purge(30) == {"votes": 0, "questions": 0, "shown": 0}
    assert pg.purge(None) == sqlite.purge(None)


def test_a_chats_last_page_is_one_for_every_replica_and_purged_with_its_question(state_dsn):
    """Typed paging (Zalo's «xem thêm») reads the chat's last page from the question store:
    kept by one replica, read by the other; /new clears it; both stores behave alike."""
    a, b = open_stores(pg_config()), open_stores(pg_config())
    for keeper, reader in ((a.questions, b.questions), (FeedbackStore(":memory:"),) * 2):
        qid = keeper.add_question("zalo:c1", "zalo:u1", "Hội Nông dân huyện Tùng Khê", True)
        assert reader.chat_page("zalo:c1", 60) is None
        keeper.keep_page("zalo:c1", ChatPage(qid, 3, True))
        assert reader.chat_page("zalo:c1", 60) == ChatPage(qid, 3, True)
        assert reader.chat_page("zalo:c2", 60) is None  # another chat's page is not this one's
        reader.forget_page("zalo:c1")
        reader.forget_page("zalo:c9")  # a chat with no page: nothing to clear, nothing kept
        assert keeper.chat_page("zalo:c1", 60) == ChatPage(None, 3, True)
        assert keeper.chat_page("zalo:c9", 60) is None
        keeper.keep_page("zalo:c1", ChatPage(qid, 6, False))
        keeper.purge(None)
        assert reader.chat_page("zalo:c1", 60) is None


def test_schema_is_versioned_and_a_newer_one_is_refused(state_dsn):
    open_stores(pg_config())
    open_stores(pg_config())  # a second replica: nothing to do
    with psycopg.connect(state_dsn, autocommit=True) as conn:
        assert conn.execute("SELECT version FROM chat_schema").fetchall() == [(SCHEMA_VERSION,)]
        conn.execute("UPDATE chat_schema SET version = 99")
    with pytest.raises(StoreUnavailable, match="version 99"):
        open_stores(pg_config())


@pytest.mark.parametrize("dsn", [None, "postgresql://bot:hunter2@127.0.0.1:{port}/congtac",
                                 "host=127.0.0.1 port={port} password=hunter2 user=bot"])
def test_bad_dsn_is_one_line_at_start(tmp_path, dsn):
    """No variable, or a server that is not there: one line naming the problem, exit 2,
    no traceback, and the password never printed."""
    config = tmp_path / "bot.toml"
    config.write_text('[index]\nbackend = "postgres"\n', encoding="utf-8")
    env = clean_env(TELEGRAM_BOT_TOKEN="1:x")
    env.pop("CONGTAC_PG_DSN", None)
    if dsn:
        env["CONGTAC_PG_DSN"] = dsn.format(port=free_port())
    run = subprocess.run([sys.executable, BOT, "--config", str(config), "--index",
                          str(tmp_path / "none")], capture_output=True, text=True, timeout=60,
                         env=env, cwd=tmp_path)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1, run.stderr
    assert "Traceback" not in run.stderr and "hunter2" not in run.stderr
    assert ("CONGTAC_PG_DSN" in lines[0]) if dsn is None else ("PostgreSQL" in lines[0])


# ---------------------------------------------------------------- two replicas, one webhook

async def _replica(config, searcher, api, port: int, public_url: str, corpus, index):
    """One bot process's Application, serving the webhook on `port`."""
    app = build_application(config, searcher, token=api.token, base_url=api.base_url,
                            corpus_dir=corpus, index_dir=index)
    await app.initialize()
    await app.post_init(app)
    await app.start()
    await app.updater.start_webhook(listen="127.0.0.1", port=port, url_path="hook",
                                    webhook_url=f"{public_url}/hook", secret_token=SECRET,
                                    allowed_updates=ALLOWED_UPDATES)
    return app


async def _stop(app) -> None:
    await app.updater.stop()
    await app.stop()
    await app.shutdown()


def test_two_webhook_replicas_answer_one_conversation(state_dsn, seed_index, searcher, fake_api,
                                                      tmp_path, caplog):
    """Turns alternate between two replicas behind a round-robin proxy: follow-ups carry
    over, «Xem thêm», «Toàn văn» and 👍 work on the other replica, /new on one is seen
    by the other, and one user's questions are counted together."""
    api = fake_api
    config = pg_config(seed_index.config, admins=[ADMIN_ID], questions_per_minute=4,
                       reload_seconds=0, feedback_db=str(tmp_path / "unused.sqlite"))
    ports = [free_port(), free_port()]
    proxy = RoundRobin([f"http://127.0.0.1:{p}" for p in ports]).start()
    user, hasty = 4242, 4343

    async def turn(chat, text=None, press=None, until=None):
        n = len(api.sent_to(chat))
        update_id = api.press(*press) if press else api.message(text, chat_id=chat)
        reply = await api.wait_reply(chat, after=n, until=until)
        return reply, update_id

    async def scenario():
        apps = [await _replica(config, searcher, api, port, proxy.url, seed_index.corpus_dir,
                               seed_index.index_dir) for port in ports]
        try:
            first, u1 = await turn(user, SEED_QUESTION + " huyện Đầm Hà", until=has_buttons)
            year, u2 = await turn(user, "còn năm 2022 thì sao?", until=has_buttons)
            who, u3 = await turn(user, "ai chủ trì?", until=has_buttons)
            answer = answer_of(first)
            more, u4 = await turn(user, press=(answer, answer.button("➕ Xem thêm")),
                                  until=has_buttons)
            full, u5 = await turn(user, press=(answer, answer.button("📄 Toàn văn")))
            vote = api.press(answer, answer.button("👍"))
            await api.wait_for(lambda: len(api.calls_to("answerCallbackQuery")) >= 3,
                               what="the vote acknowledged")
            _, u7 = await turn(user, "/new")
            after, u8 = await turn(user, "ai chủ trì?")
            hasty_replies = [(await turn(hasty, SEED_QUESTION))[0][0].plain for _ in range(5)]
            forged = dict(api.message_update(SEED_QUESTION, chat_id=999), update_id=1)
            refused = [await asyncio.to_thread(_post, f"{proxy.url}/hook", forged, secret)
                       for secret in ("wrong", None)]  # each replica checks the secret
            assert refused == [403, 403] and not api.sent_to(999)
            # An update PTB cannot parse is skipped (answered 200, content not logged), and
            # the next question is answered.
            api.push(api.message_update("QZXPOISON", chat_id=998, poll={
                "id": "bad", "question": "QZXPOISON", "options": []}))
            await turn(997, SEED_QUESTION)
            return first, year, who, more, full, after, [u1, u2, u3, u4, u5, vote, u7, u8], \
                hasty_replies
        finally:
            for app in apps:
                await _stop(app)
            proxy.stop()

    first, year, who, more, full, after, updates, hasty_replies = asyncio.run(scenario())
    routed = [proxy.routed[u] for u in updates]
    assert all(a != b for a, b in zip(routed, routed[1:], strict=False)), routed  # alternating
    assert set(api.deliveries.values()) == {200}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "QZXPOISON" not in caplog.text
    assert "Hiểu là" not in first[0].plain and "📍 Đầm Hà" in first[0].plain
    assert "Hiểu là: MTTQ huyện Đầm Hà, năm 2022" in year[0].plain
    assert "Hiểu là: MTTQ huyện Đầm Hà, năm 2022" in who[0].plain
    assert "Kết quả 4" in " ".join(m.plain for m in more)  # the next page, from the other replica
    assert texts.BUTTON_EXPIRED not in " ".join(m.plain for m in more + full)
    assert len(full[0].plain) > 200  # the article's text
    acks = [c.params.get("text") for c in api.calls_to("answerCallbackQuery")]
    assert texts.FEEDBACK_THANKS in acks
    assert "Hiểu là" not in after[0].plain  # /new went to the other replica
    votes = open_stores(config).questions.feedback_rows()
    assert [v["value"] for v in votes] == [1]
    limited = [texts.RATE_LIMITED.split("{")[0] in t for t in hasty_replies]
    assert limited == [False] * 4 + [True]  # the 5th of 4 a minute, whichever replica took it
    assert_sane(api)


# ---------------------------------------------------------------- the server restarts

def test_postgres_restart_while_serving(state_dsn, pg_server, seed_index, searcher, fake_api,
                                        tmp_path):
    """Stop the database under a serving bot: questions get the polite "thử lại sau";
    start it again: answers come back within 10 s, the same bot process."""
    server = pg_server
    try:
        config = pg_config(seed_index.config, questions_per_minute=100, reload_seconds=0,
                           feedback_db=str(tmp_path / "unused.sqlite"))
        api = fake_api
        chat = 5151

        async def ask(text):
            n = len(api.sent_to(chat))
            api.message(text, chat_id=chat)
            return (await api.wait_reply(chat, after=n))[0].plain

        async def scenario():
            app = build_application(config, searcher, token=api.token, base_url=api.base_url,
                                    corpus_dir=seed_index.corpus_dir,
                                    index_dir=seed_index.index_dir)
            await app.initialize()
            await app.start()
            await app.updater.start_polling(poll_interval=0.0, timeout=1,
                                            allowed_updates=ALLOWED_UPDATES)
            try:
                before = await ask(SEED_QUESTION + " huyện Đầm Hà")
                await asyncio.to_thread(server.stop)
                during = [await ask("còn năm 2022 thì sao?") for _ in range(2)]
                await asyncio.to_thread(server.start)
                back_at = time.monotonic()
                after = await ask(SEED_QUESTION)
                while texts.STORE_UNAVAILABLE in after and time.monotonic() - back_at < 10:
                    await asyncio.sleep(0.5)
                    after = await ask(SEED_QUESTION)
                return before, during, after, time.monotonic() - back_at
            finally:
                await _stop(app)

        before, during, after, seconds = asyncio.run(scenario())
    finally:
        server.start()  # whatever happened: the other tests need it
    assert "Đầm Hà" in before
    assert during == [texts.STORE_UNAVAILABLE] * 2 and "thử lại sau" in during[0]
    print(f"answered again {seconds:.2f} s after the server was back")  # pytest -s shows it
    assert "MTTQ" in after and texts.STORE_UNAVAILABLE not in after and seconds < 10
    assert_sane(api)


def test_questions_limit_follows_the_user_not_the_process(state_dsn):
    """The embedded default keeps per-process limits (the control for the test above):
    a second process starts counting from zero."""
    config = Config()
    config.bot = replace(config.bot, questions_per_minute=1, feedback_db=":memory:")
    a, b = open_stores(config), open_stores(config)
    assert a.limiter.retry_after(1) == 0 and a.limiter.retry_after(1) > 0
    assert b.limiter.retry_after(1) == 0
    shared = [open_stores(pg_config(questions_per_minute=1)) for _ in range(2)]
    assert shared[0].limiter.retry_after(1) == 0 and shared[1].limiter.retry_after(1) > 0



def test_feedback_export_and_purge_read_the_shared_store(state_dsn, tmp_path, capsys):
    """`python -m chat feedback export|purge` with backend = "postgres": the replicas'
    store, not a local file."""
    from chat.cli import main

    _fill(open_stores(pg_config()).questions)
    toml = tmp_path / "bot.toml"
    toml.write_text('[index]\nbackend = "postgres"\n', encoding="utf-8")
    assert main(["feedback", "export", "--config", str(toml)]) == 0
    kinds = [json.loads(line)["kind"] for line in capsys.readouterr().out.splitlines()]
    assert kinds == ["question"] * 3 + ["vote"] * 3
    assert main(["feedback", "purge", "--all", "--config", str(toml)]) == 0
    assert "deleted 3 questions, 3 votes" in capsys.readouterr().out


def test_dashboard_reads_the_shared_store(state_dsn, tmp_path):
    """`python -m chat dashboard` with backend = "postgres" reports what the replicas stored."""
    from chat.dashboard import dashboard_from_config

    config = pg_config()
    _fill(open_stores(config).questions)
    page = dashboard_from_config(config, index_dir=tmp_path / "no-index").page(30)
    assert 'data-figure="questions" data-value="3"' in page


def test_zalo_says_try_later_while_postgres_restarts(state_dsn, pg_server, seed_index, searcher):
    """The Zalo front end over the same stores: the polite line during the outage (not the
    generic error, no traceback), answers again once the server is back."""
    from fake_zalo_api import FakeZaloAPI

    from chat.zalo.app import build_zalo

    config = pg_config(seed_index.config, questions_per_minute=30)
    user = "zalo_user_1"
    with FakeZaloAPI() as api:
        async def ask(bot, n):
            api.message(SEED_QUESTION, chat_id=user)
            await api.wait_for(lambda: bot.handled >= n, what=f"question {n}")
            return len(api.sent_to(user))

        async def scenario():
            bot = build_zalo(config, searcher, api.token, base_url=api.base_url)
            bot.poll_seconds = 1
            await bot.start()
            task = asyncio.ensure_future(bot.run())
            try:
                first = await ask(bot, 1)
                await asyncio.to_thread(pg_server.stop)
                during = await ask(bot, 2)
                await asyncio.to_thread(pg_server.start)
                await ask(bot, 3)
                return first, during
            finally:
                bot.stop()
                await asyncio.wait_for(task, 10)

        try:
            first, during = asyncio.run(scenario())
        finally:
            pg_server.start()
        sent = [s.text for s in api.sent_to(user)]
    assert "MTTQ" in sent[0] and sent[first:during] == [texts.STORE_UNAVAILABLE]
    assert "MTTQ" in sent[during]


def test_two_zalo_webhook_replicas_page_each_others_answers(state_dsn, seed_index, searcher):
    """Two Zalo bot processes' apps (each its own stores over one database) behind one
    webhook address, taking turns: a typed «xem thêm», «toàn văn N» and /new work
    whichever replica answered the card, and the how-to line comes once per chat."""
    from fake_zalo_api import FakeZaloAPI
    from test_chat_zalo import SECRET, ranks

    from chat.zalo.app import build_zalo
    from chat.zalo.webhook import WebhookSettings

    config = pg_config(seed_index.config, questions_per_minute=30)
    user = "zalo_pager"
    ports = [free_port(), free_port()]
    proxy = RoundRobin([f"http://127.0.0.1:{p}" for p in ports]).start()
    with FakeZaloAPI() as api:
        async def say(text: str, n: int, **wait) -> list:
            await asyncio.to_thread(api.deliver, api.message_update(text, chat_id=user))
            return await api.wait_reply(user, after=n, **wait)

        async def scenario():
            bots = [build_zalo(config, searcher, api.token, base_url=api.base_url,
                               webhook=WebhookSettings(url=f"{proxy.url}/zalo/hook", secret=SECRET,
                                                       port=port)) for port in ports]
            for bot in bots:
                await bot.start()
            tasks = [asyncio.ensure_future(bot.run()) for bot in bots]
            try:
                first = await say(SEED_QUESTION, 0, contains="📰")  # replica 0
                n = len(first)
                more = await say("xem thêm", n, contains="Kết quả")  # replica 1
                n += len(more)
                full = await say("toàn văn 4", n, contains="📄")  # replica 0
                n += len(full)
                new = await say("/new", n)  # replica 1
                n += len(new)
                after_new = await say("xem thêm", n)  # replica 0
                return first, more, full, after_new, [bot.handled for bot in bots]
            finally:
                for bot in bots:
                    bot.stop()
                await asyncio.gather(*(asyncio.wait_for(t, 10) for t in tasks))
                for bot in bots:
                    bot.chat.service.store.close()

        try:
            first, more, full, after_new, handled = asyncio.run(scenario())
        finally:
            proxy.stop()
    assert handled == [3, 2]  # the replicas took turns
    assert ranks(first) == [1, 2, 3] and ranks(more)[0] == 4
    assert "\n".join(m.text for m in first + more).count(texts.ZALO_HOW_TO) == 1
    assert full[0].text.startswith("📄")
    assert [m.text for m in after_new] == [texts.NO_MORE]


def test_telegram_and_zalo_in_one_process_share_the_postgres_stores(state_dsn, seed_index,
                                                                   searcher, monkeypatch):
    """`bot.py --telegram --zalo` with the postgres backend: both front ends get the one
    set of stores bot.py opened (PostgreSQL's), so a limit or a follow-up is one per
    person whichever front end is used."""
    import bot
    from chat.pgstate import PgConversations, PgRateLimiter
    from chat.telegram_bot import STATE

    built = {}

    async def serve_both(application, zalo, webhook):
        built.update(telegram=application.bot_data[STATE], zalo=zalo.chat)
        await zalo.client.close()

    monkeypatch.setattr(bot, "serve_both", serve_both)
    monkeypatch.setattr(bot, "open_searcher", lambda config, rebuild: searcher)
    config = pg_config(seed_index.config, questions_per_minute=1)
    assert bot.run_both(config, {"telegram": "1:x", "zalo": "zalo-token"},
                        {"telegram": False, "zalo": None}, False) == 0
    telegram, zalo = built["telegram"], built["zalo"]
    try:
        assert zalo.service is telegram.service and zalo.limiter is telegram.limiter
        assert isinstance(zalo.limiter, PgRateLimiter)
        assert isinstance(zalo.service.memory, PgConversations)
        assert isinstance(zalo.service.store, PgQuestions)
        assert zalo.limiter.retry_after("zalo:u1") == 0 and zalo.limiter.retry_after("zalo:u1")
    finally:
        telegram.service.store.close()


class _IndexServerGone:
    """The real searcher, except that searching fails as the postgres index backend does
    when its server restarts: the reader's IndexUnavailable, or a raw psycopg error."""

    def __init__(self, searcher, error):
        self._searcher = searcher
        self._error = error

    def search(self, *args, **kwargs):
        raise self._error

    def __getattr__(self, name):
        return getattr(self._searcher, name)


@pytest.mark.parametrize("error", [
    IndexUnavailable("the index server cannot be reached"),
    psycopg.OperationalError("server closed the connection unexpectedly"),
], ids=["IndexUnavailable", "OperationalError"])
def test_index_server_outage_is_the_polite_reply_too(bot_env, caplog, error):
    """The index on PostgreSQL going away mid-question: the same "thử lại sau", no
    traceback, whatever store keeps the chat state."""
    bot_env.searcher = _IndexServerGone(bot_env.searcher, error)
    api = bot_env.api

    async def scenario():
        async with bot_env.running():
            api.message(SEED_QUESTION, chat_id=6161)
            return await api.wait_reply(6161)

    reply = bot_env.run(scenario())
    assert [m.plain for m in reply] == [texts.STORE_UNAVAILABLE]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
