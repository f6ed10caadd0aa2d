"""End-to-end tests of the Zalo front end: the real ZaloBot, its httpx client and the
shared ChatService over the seed index, polling a fake Zalo Bot API on 127.0.0.1
(tests/fake_zalo_api.py), which refuses what Zalo refuses (texts over 2,000
characters, ids that are not strings, a wrong token)."""
from __future__ import annotations

import asyncio
import logging
import re
import shutil
from contextlib import asynccontextmanager
from dataclasses import replace

import pytest
from chat_fixtures import LONG_URL, SEED_QUESTION
from fake_zalo_api import ACCOUNT_NAME, BOT_NAME, TEXT_LIMIT, FakeZaloAPI
from portal_site import ARTICLES, PortalServer, Route, article_html
from round_robin import free_port

from chat.admin import Reindexer
from chat.feedback import FeedbackStore
from chat.render.texts import ADMIN_ONLY, ERROR, FETCH_STARTED, REINDEX_STARTED, STORE_UNAVAILABLE
from chat.render.texts import ZALO_HOW_TO as HOW_TO
from chat.stores import StoreUnavailable, open_stores
from chat.zalo.app import build_zalo
from chat.zalo.client import ZaloClient, ZaloError
from chat.zalo.handlers import fit, parse_command
from chat.zalo.webhook import WebhookSettings
from retrieval.config import FetchConfig

pytestmark = pytest.mark.slow

USER = "8a1f30c2e5d7b9"
GROUP = "g_77f0a1b2c3"
ADMIN = "ad0000m1n"


@pytest.fixture
def zalo(seed_index, searcher, tmp_path):
    with FakeZaloAPI() as api:
        config = replace(seed_index.config)
        config.bot = replace(config.bot, questions_per_minute=30,
                             feedback_db=str(tmp_path / "feedback.sqlite"))
        config.zalo = replace(config.zalo, admins=[ADMIN])
        yield ZaloEnv(api, config, searcher, tmp_path)


class ZaloEnv:
    def __init__(self, api, config, searcher, tmp_path):
        self.api, self.config, self.searcher, self.tmp_path = api, config, searcher, tmp_path
        self.reindexer = None
        self.limiter = None  # replaces the stores' rate limiter

    @asynccontextmanager
    async def running(self, token=None, webhook: WebhookSettings | None = None):
        store = FeedbackStore(self.tmp_path / "feedback.sqlite")
        stores = open_stores(self.config, store)
        stores.limiter = self.limiter or stores.limiter
        bot = build_zalo(self.config, self.searcher, token or self.api.token,
                         base_url=self.api.base_url, stores=stores, webhook=webhook,
                         reindexer=self.reindexer)
        bot.poll_seconds = 1
        bot.backoff_first, bot.backoff_max = 0.05, 0.2
        await bot.start()
        task = asyncio.ensure_future(bot.run())
        try:
            yield bot
        finally:
            bot.stop()
            await asyncio.wait_for(task, 10)
            store.close()


def texts(messages) -> str:
    return "\n".join(m.text for m in messages)


def ranks(messages) -> list[int]:
    return [int(n) for m in messages for n in re.findall(r"^(\d+)\. ", m.text, re.MULTILINE)]


def assert_fits(api):
    """Zalo accepted everything the bot sent, and every message fits the limit."""
    assert not [e for e in api.errors if e[0] == "sendMessage"], api.errors
    assert all(1 <= len(s.text) <= TEXT_LIMIT for s in api.sent)


def test_question_answered_with_citations_then_paging_and_full_text(zalo):
    api = zalo.api

    async def scenario():
        async with zalo.running():
            api.message(SEED_QUESTION, chat_id=USER)
            first = await api.wait_reply(USER, contains="📰")
            api.message("xem thêm", chat_id=USER)
            more = await api.wait_reply(USER, after=len(first), contains="Kết quả")
            n = len(first) + len(more)
            api.message("Toàn văn 1", chat_id=USER)
            full = await api.wait_reply(USER, after=n, contains="📄")
            n += len(full)
            api.message("đoạn 2", chat_id=USER)
            passage = await api.wait_reply(USER, after=n, contains="📰")
            n += len(passage)
            api.message(SEED_QUESTION, chat_id=USER)  # asked again: no second how-to line
            again = await api.wait_reply(USER, after=n, contains="📰")
            return first, more, full, passage, again

    first, more, full, passage, again = asyncio.run(scenario())
    answer = texts(first)
    assert "**" in answer and "Huyện ủy" in answer  # the answering sentence marked
    assert answer.count("📰") == 3  # every card cites its article (seed files have no link)
    assert ranks(first) == [1, 2, 3]
    assert answer.count(HOW_TO) == 1 and HOW_TO not in texts(again)
    assert ranks(more)[0] == 4
    assert "📄" in full[0].text and "<" not in texts(full).replace("< ", "")  # plain text
    assert texts(passage).startswith("2.")
    assert_fits(api)


def test_follow_up_and_new_conversation(zalo):
    api = zalo.api

    async def scenario():
        async with zalo.running():
            api.message("Hội Nông dân huyện Bình Minh nuôi ong năm 2023", chat_id=USER)
            first = await api.wait_reply(USER, contains="📰")
            api.message("còn năm 2024 thì sao?", chat_id=USER)
            follow = await api.wait_reply(USER, after=len(first))
            n = len(first) + len(follow)
            api.message("/new", chat_id=USER)
            new = await api.wait_reply(USER, after=n)
            return follow, new

    follow, new = asyncio.run(scenario())
    assert "Hiểu là" in texts(follow)  # completed from the conversation, and says so
    assert "cuộc trò chuyện mới" in texts(new)


def test_full_text_of_a_long_article_is_split_within_2000_characters(zalo):
    api = zalo.api

    async def scenario():
        async with zalo.running():
            api.message("Hội Nông dân huyện Bình Minh tổng kết mô hình nuôi ong lấy mật năm 2023",
                        chat_id=USER)
            first = await api.wait_reply(USER, contains="📰")
            rank = next(n for n, m in enumerate(re.findall(r"^📰 (.*)$", texts(first), re.M), 1)
                        if "nuôi ong" in m)
            api.message(f"toan van {rank}", chat_id=USER)
            return await api.wait_reply(USER, after=len(first), contains="📄", settle=0.6)

    full = asyncio.run(scenario())
    assert len(full) >= 3  # the article is ~8,000 characters
    assert LONG_URL in full[0].text
    assert all(len(m.text) <= TEXT_LIMIT for m in full)
    # Split between paragraphs, never inside one: each later message starts a paragraph.
    assert all(m.text.startswith("Tại xã ") for m in full[1:]), [m.text[:30] for m in full]
    assert sum(m.text.count("Tại xã ") for m in full) == 12  # nothing lost (LONG_ARTICLE)
    assert_fits(api)


def test_groups_answer_only_when_addressed(zalo):
    api = zalo.api

    async def scenario():
        async with zalo.running() as bot:
            api.message("Chiều nay họp chi bộ lúc 14 giờ nhé cả nhà", chat_id=GROUP,
                        user_id="m1", group=True)
            api.message(None, chat_id=GROUP, user_id="m1", group=True,
                        event="message.image.received")
            api.message(f"@{BOT_NAME} {SEED_QUESTION}", chat_id=GROUP, user_id="m2", group=True)
            reply = await api.wait_reply(GROUP, contains="📰")
            api.message("/start@other_bot", chat_id=GROUP, user_id="m1", group=True)
            api.message(f"/ask {SEED_QUESTION}", chat_id=GROUP, user_id="m3", group=True)
            ask = await api.wait_reply(GROUP, after=len(reply), contains="📰")
            await api.wait_for(lambda: bot.handled >= 5, what="all updates handled")
            return reply, ask

    reply, ask = asyncio.run(scenario())
    assert "Câu hỏi: Thường trực Huyện ủy" in texts(reply)  # the mention is removed
    assert "📰" in texts(ask)
    # Nothing for the chatter, the photo or another bot's command.
    assert len(api.sent_to(GROUP)) == len(reply) + len(ask)
    assert ACCOUNT_NAME  # getMe's names are what a mention may use
    assert_fits(api)


def test_group_mentions_with_lone_surrogates_are_answered(zalo, caplog):
    """Issue 23's surrogate case on Zalo: lone surrogates around a mention of the bot."""
    api = zalo.api
    caplog.set_level(logging.INFO)
    said = {"m1": f"@{BOT_NAME} \ud800", "m2": f"@{BOT_NAME} {SEED_QUESTION} \udfff",
            "m3": f"\ud83d @{BOT_NAME} {SEED_QUESTION}"}

    async def scenario():
        async with zalo.running():
            api.message("\ud800 @ai_do_khac chào \udfff", chat_id=GROUP, user_id="m0", group=True)
            replies = {}
            for user, text in said.items():
                n = len(api.sent_to(GROUP))
                api.message(text, chat_id=GROUP, user_id=user, group=True)
                replies[user] = await api.wait_reply(GROUP, after=n)
            return replies

    replies = asyncio.run(scenario())
    assert "chưa nhập câu hỏi" in texts(replies["m1"])
    assert "Câu hỏi: Thường trực Huyện ủy" in texts(replies["m2"])
    assert "Câu hỏi: Thường trực Huyện ủy" in texts(replies["m3"])
    assert len(api.sent_to(GROUP)) == sum(len(r) for r in replies.values())  # m0: not for us
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert_fits(api)


def test_strange_events_get_a_polite_line_and_never_stop_the_bot(zalo, caplog):
    api = zalo.api
    caplog.set_level(logging.INFO)

    async def scenario():
        async with zalo.running() as bot:
            api.message(None, chat_id="u1", event="message.sticker.received")
            api.message(None, chat_id="u2", event="message.unsupported.received")
            api.message(None, chat_id="u3", event="some.future.event")
            api.push({"event_name": "message.text.received", "message": "not an object"})
            api.push("garbage")
            api.push({"event_name": "message.text.received"})  # no chat to answer
            api.push([api.message_update("/help", chat_id="u4"),
                      api.message_update("/chude", chat_id="u5")])  # a list in `result`
            api.push([])  # an empty list: nothing new
            api.message("🙂🙂", chat_id="u6")
            api.message("/khonglenhnay", chat_id="u7")
            for chat in ("u1", "u2", "u3", "u4", "u5", "u6", "u7"):
                await api.wait_reply(chat, settle=0)
            api.message(SEED_QUESTION, chat_id=USER)  # still answering
            await api.wait_reply(USER, contains="📰")
            return bot.handled

    handled = asyncio.run(scenario())
    for chat in ("u1", "u2", "u3"):
        assert "chỉ đọc được câu hỏi bằng chữ" in api.sent_to(chat)[0].text
    assert "xem thêm" in api.sent_to("u4")[0].text and "/quit" not in api.sent_to("u4")[0].text
    assert "Dữ liệu có gì" in api.sent_to("u5")[0].text
    assert "bằng chữ" in api.sent_to("u6")[0].text
    assert "không biết lệnh" in api.sent_to("u7")[0].text
    assert handled == 8
    skipped = [r for r in caplog.records if "could not be read" in r.getMessage()
               or "not a JSON object" in r.getMessage()]
    assert len(skipped) == 2  # logged once each, and nothing of what was written
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert_fits(api)


def test_5xx_and_network_errors_back_off_and_recover(zalo, caplog):
    api = zalo.api
    caplog.set_level(logging.INFO)

    async def scenario():
        async with zalo.running():
            api.fail("getUpdates", 502, times=3)
            api.message(SEED_QUESTION, chat_id=USER)
            return await api.wait_reply(USER, contains="📰")

    asyncio.run(scenario())
    polls = api.calls_to("getUpdates")
    assert len(polls) >= 4
    assert any("getUpdates works again" in r.getMessage() for r in caplog.records)


def test_a_reply_that_loses_its_connection_is_sent_again_once_then_apologised(zalo, caplog):
    """Issue 23's rule on Zalo: the server closes the connection without an answer (it
    had read the request); the send is tried once more; lost twice, one warning line, no
    traceback, and the apology instead of the rest of the answer."""
    api = zalo.api
    caplog.set_level(logging.INFO)

    async def ask(drops: int) -> list:
        api.drops[("sendMessage", USER)] = drops
        n = len(api.sent_to(USER))
        api.message(SEED_QUESTION, chat_id=USER)
        return await api.wait_reply(USER, after=n, contains="📰" if drops < 2 else None)

    async def scenario():
        async with zalo.running():
            saved = await ask(1)
            records = len(caplog.records)
            lost = await ask(2)
            return saved, records, lost, await ask(0)  # and the network is back

    saved, records, lost, after = asyncio.run(scenario())
    assert "Câu hỏi: Thường trực Huyện ủy" in texts(saved) and "📰" in texts(after)
    assert [m.text for m in lost] == [ERROR]
    assert api.dropped == ["sendMessage"] * 3
    # A dropped request never reached the method: each message was sent once, not twice.
    assert len([p for p in api.calls_to("sendMessage") if p["chat_id"] == USER]) \
        == len(saved + lost + after)
    retried = [r.getMessage() for r in caplog.records if "second try went through" in r.getMessage()]
    assert len(retried) == 1 and retried[0].startswith("sendMessage ")
    later = [r for r in caplog.records[records:] if r.levelno >= logging.WARNING]
    assert len(later) == 1 and "sendMessage lost" in later[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def test_unreachable_server_is_a_network_error_without_the_token(caplog):
    caplog.set_level(logging.DEBUG)
    from fake_zalo_api import TOKEN

    async def scenario():
        client = ZaloClient(TOKEN, "http://127.0.0.1:9")  # nothing listens on port 9
        try:
            await client.get_me()
        except Exception as e:  # noqa: BLE001 - the test looks at what any error says
            return e
        finally:
            await client.close()

    error = asyncio.run(scenario())
    assert type(error).__name__ == "ZaloNetworkError" and not error.sent
    assert TOKEN not in str(error) and TOKEN.split(":")[1] not in repr(error)
    assert error.__cause__ is None and error.__suppress_context__


def test_token_never_in_logs_and_wrong_token_refused(zalo, caplog):
    api = zalo.api
    caplog.set_level(logging.DEBUG)

    async def scenario():
        async with zalo.running():
            api.fail("sendMessage", 500)
            api.message(SEED_QUESTION, chat_id=USER)
            await api.wait_for(lambda: api.calls_to("sendMessage"), what="a send")
            api.message("/help", chat_id=USER)
            await api.wait_reply(USER, contains="xem thêm")
        client = ZaloClient("1:wrong-token-of-test", api.base_url)
        try:
            await client.get_me()
        except ZaloError as e:
            return e
        finally:
            await client.close()

    error = asyncio.run(scenario())
    assert error.code == 401
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "sendMessage refused" in logged
    assert api.token not in logged and api.token.split(":")[1] not in logged
    assert SEED_QUESTION not in logged  # what people write stays out of the log


def test_clean_shutdown_waits_for_the_answer_under_way(zalo):
    api = zalo.api

    async def scenario():
        async with zalo.running() as bot:
            api.message(SEED_QUESTION, chat_id=USER)
            # "typing" is the first thing the bot does with a private question (the index
            # watcher's task is in bot._tasks from the start, so that set says nothing).
            await api.wait_for(lambda: api.calls_to("sendChatAction"), what="the question taken")
        return bot

    bot = asyncio.run(scenario())  # stop() right after the update arrived
    assert bot.handled == 1 and api.sent_to(USER)  # answered before the process ended
    assert bot.client._http.is_closed


def test_thongke_for_admins_only_in_private(zalo):
    api = zalo.api

    async def scenario():
        async with zalo.running():
            api.message(SEED_QUESTION, chat_id=USER)
            n = len(await api.wait_reply(USER, contains="📰"))
            api.message("/thongke", chat_id=ADMIN)
            api.message("/thongke", chat_id=USER)
            api.message("/thongke 30", chat_id=GROUP, user_id=ADMIN, group=True)
            api.message("/thongke 5", chat_id=ADMIN)
            return (await api.wait_reply(ADMIN, contains="7 ngày"),
                    await api.wait_reply(GROUP), await api.wait_reply(USER, after=n))

    admin, group, other = asyncio.run(scenario())
    report = texts(admin)
    assert "📊 Thống kê" in report and "Câu hỏi: 1 từ 1 người" in report
    assert "<b>" not in report and "&" not in report
    assert "quản trị viên" in texts(other) and "tin nhắn riêng" in texts(group)


def test_rate_limit_per_user(zalo):
    api = zalo.api
    zalo.config.bot = replace(zalo.config.bot, questions_per_minute=2)

    async def scenario():
        async with zalo.running() as bot:
            for _ in range(3):
                api.message(SEED_QUESTION, chat_id=USER)
            await api.wait_for(lambda: bot.handled >= 3, what="three questions")

    asyncio.run(scenario())
    assert sum("hỏi hơi nhanh" in s.text for s in api.sent_to(USER)) == 1


@pytest.mark.parametrize("text,expected", [
    ("Xem thêm", ("more", "")), ("xem them", ("more", "")), ("/more", ("more", "")),
    ("Toàn văn 2", ("full", "2")), ("toan van 3", ("full", "3")), ("/full 1", ("full", "1")),
    ("Đoạn 2", ("doan", "2")), ("/doan 2", ("doan", "2")), ("/new", ("new", "")),
    ("đoạn đường qua xã năm 2024", (None, "đoạn đường qua xã năm 2024")),
    ("xem thêm về Hội Nông dân", (None, "xem thêm về Hội Nông dân")),
    ("/lenhla", ("unknown", "/lenhla")), ("toàn văn", ("full", "")), ("Đoạn", ("doan", "")),
])
def test_text_commands_with_or_without_diacritics(text, expected):
    assert parse_command(text) == expected


def test_bot_process_with_zalo_flag(seed_index, tmp_path):
    """The real `python bot.py --zalo`: token and ZALO_BASE_URL from the environment, answers,
    stops on SIGINT with exit 0, never logs the token; a wrong token is one clear line."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from chat_fixtures import REPO

    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZALO_", "TELEGRAM_"))}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    config = tmp_path / "bot.toml"
    config.write_text(f'[bot]\nfeedback_db = "{tmp_path / "fb.sqlite"}"\n'
                      '[zalo]\nadmins = ["8a1f30c2e5d7b9"]\n', encoding="utf-8")
    command = [sys.executable, str(REPO / "bot.py"), "--zalo", "--config", str(config),
               "--index", str(seed_index.index_dir), "--corpus", str(seed_index.corpus_dir),
               "--log-level", "DEBUG"]
    with FakeZaloAPI() as api:
        api.message(SEED_QUESTION, chat_id=USER)  # waiting before the bot starts
        proc = subprocess.Popen(command, env={**env, "ZALO_BOT_TOKEN": api.token,
                                              "ZALO_BASE_URL": api.base_url},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=tmp_path)
        try:
            deadline = time.monotonic() + 120
            while not api.sent_to(USER) and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.1)
            time.sleep(0.5)
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        assert api.sent_to(USER) and "📰" in texts(api.sent_to(USER)), err
        assert proc.returncode == 0, err
        assert api.token not in err + out and api.token.split(":")[1] not in err + out
        wrong = subprocess.run(command, env={**env, "ZALO_BOT_TOKEN": "1:not-the-token",
                                             "ZALO_BASE_URL": api.base_url},
                               capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert wrong.returncode == 2 and "Zalo Bot Creator" in wrong.stderr
    assert "Traceback" not in wrong.stderr
    missing = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60,
                             cwd=tmp_path)
    assert missing.returncode == 2 and "ZALO_BOT_TOKEN" in missing.stderr


# ---------------------------------------------------------------- webhook mode

SECRET = "s3cret-of-the-tests_0123456789"


def test_webhook_answers_with_the_secret_and_refuses_without_it(zalo, caplog):
    """Webhook mode: listen, setWebhook with the URL and secret; Zalo's POSTs are answered;
    a POST with a wrong or no secret is refused (403) and nothing is answered."""
    api = zalo.api
    caplog.set_level(logging.DEBUG)
    port = free_port()
    hook = WebhookSettings(url=f"http://127.0.0.1:{port}/zalo/hook", secret=SECRET, port=port)

    async def scenario():
        async with zalo.running(webhook=hook) as bot:
            assert api.webhook == {"url": hook.url, "secret_token": SECRET}
            post = asyncio.to_thread
            refused = [await post(api.deliver, api.message_update(f"{SEED_QUESTION} {n}",
                                                                  chat_id="intruder"), secret)
                       for n, secret in enumerate(["wrong-secret-12345", None, SECRET[:-1],
                                                   SECRET + "x", ""])]
            wrapped = {"ok": True, "result": api.message_update("/help", chat_id="u2")}
            statuses = [await post(api.deliver, api.message_update(SEED_QUESTION, chat_id=USER)),
                        await post(api.deliver, wrapped),
                        await post(api.deliver, b"{not json"),
                        await post(api.deliver, {"event_name": "message.text.received"})]
            first = await api.wait_reply(USER, contains="📰")
            await api.wait_reply("u2", contains="xem thêm")
            await api.wait_for(lambda: bot.handled >= 2, what="both updates handled")
            return refused, statuses, first

    refused, statuses, first = asyncio.run(scenario())
    assert refused == [403] * 5 and not api.sent_to("intruder")
    assert statuses == [200, 200, 400, 200]
    assert "📰" in texts(first)
    assert not api.calls_to("getUpdates")  # no polling in webhook mode
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert logged.count("refused a webhook request") == 6  # 5 secrets, 1 body
    assert SECRET not in logged and api.token not in logged
    assert_fits(api)


class _StoreGone:
    """What the PostgreSQL stores raise while the server restarts."""

    def retry_after(self, user_id):
        raise StoreUnavailable("PostgreSQL: server closed the connection unexpectedly")

    def __call__(self):  # as an index build
        self.retry_after(None)


def test_store_outage_on_the_webhook_and_in_admin_commands_is_the_polite_reply(zalo, caplog):
    """The shared store gone (PostgreSQL restarting) for a question that came by webhook
    and for an admin's /reindex: "thử lại sau" and a warning, not the generic error and a
    traceback; the admin heard the build start first."""
    api = zalo.api
    zalo.limiter = gone = _StoreGone()
    zalo.reindexer = Reindexer(zalo.searcher, zalo.config.corpus_dir, zalo.config.index_dir,
                               zalo.config, build=gone)
    port = free_port()
    hook = WebhookSettings(url=f"http://127.0.0.1:{port}/zalo/hook", secret=SECRET, port=port)

    async def scenario():
        async with zalo.running(webhook=hook):
            post = asyncio.to_thread
            statuses = [await post(api.deliver, api.message_update(SEED_QUESTION, chat_id=USER)),
                        await post(api.deliver, api.message_update("/reindex", chat_id=ADMIN))]
            asked = await api.wait_reply(USER)
            admin = await api.wait_reply(ADMIN, contains=STORE_UNAVAILABLE)
            return statuses, asked, admin

    statuses, asked, admin = asyncio.run(scenario())
    assert statuses == [200, 200]
    assert [m.text for m in asked] == [STORE_UNAVAILABLE]
    assert [m.text for m in admin] == [REINDEX_STARTED, STORE_UNAVAILABLE]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_polling_deletes_a_webhook_left_set(zalo):
    """A webhook left by an earlier run would stop getUpdates: polling deletes it first."""
    api = zalo.api
    api.webhook = {"url": "https://example.org/old-hook", "secret_token": SECRET}

    async def scenario():
        async with zalo.running():
            api.message(SEED_QUESTION, chat_id=USER)
            return await api.wait_reply(USER, contains="📰")

    asyncio.run(scenario())
    assert api.webhook is None and api.calls_to("deleteWebhook")
    assert not [e for e in api.errors if e[0] == "getUpdates"]


# ---------------------------------------------------------------- admins

NEW_ARTICLE = """---
title: Xã Tân Lập tổ chức hội thi gói bánh chưng xanh năm 2025
date: 2025-01-20
place: Tân Lập
---

Sáng 20/1/2025, Hội Liên hiệp Phụ nữ xã Tân Lập tổ chức hội thi gói bánh chưng xanh đón Tết
với 12 đội thi đến từ các thôn. Bánh của các đội được trao tặng 40 hộ nghèo trong xã.
"""
NEW_QUESTION = "hội thi gói bánh chưng xanh xã Tân Lập năm 2025"
PAGE = ARTICLES[3]  # a fictional portal page (tests/portal_site.py)


@pytest.fixture
def own_zalo(zalo, seed_index, searcher, tmp_path):
    """The Zalo bot over a private copy of corpus and index, free to fetch and rebuild."""
    from retrieval.index import build_index
    from retrieval.search import Searcher

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(seed_index.corpus_dir, corpus)
    shutil.copytree(seed_index.index_dir, index, ignore=shutil.ignore_patterns("build.lock"))
    config = replace(zalo.config, corpus_dir=str(corpus), index_dir=str(index),
                     fetch=FetchConfig(requests_per_second=0, timeout_seconds=10, retries=0,
                                       allow_private=True))
    zalo.config = config
    zalo.searcher = Searcher.open(index, config, embedder=searcher.embedder)  # one model
    zalo.reindexer = Reindexer(zalo.searcher, corpus, index, config, build=lambda: build_index(
        corpus, index, config, progress=False, embedder=searcher.embedder))
    with PortalServer() as portal:
        portal.set_page(PAGE.path, Route(article_html(PAGE)))
        zalo.portal = portal
        yield zalo


def test_admins_reindex_and_add_links_others_are_refused(own_zalo):
    env, api, portal = own_zalo, own_zalo.api, own_zalo.portal
    link = portal.base + PAGE.path
    (env.tmp_path / "corpus" / "tan_lap_banh_chung.md").write_text(NEW_ARTICLE, encoding="utf-8")

    async def scenario():
        async with env.running():
            replies = {}
            for n, text in enumerate(["/reindex", f"/add {link}", link]):
                chat = f"other{n}"
                api.message(text, chat_id=chat)
                replies[text] = await api.wait_reply(chat)
            api.message("/help", chat_id=ADMIN)
            replies["help"] = await api.wait_reply(ADMIN, contains="Quản trị")
            n = len(api.sent_to(ADMIN))
            api.message("/reindex", chat_id=ADMIN)
            replies["reindex"] = await api.wait_reply(ADMIN, after=n, contains="Đã cập nhật",
                                                      timeout=120)
            api.message(NEW_QUESTION, chat_id=USER)
            replies["new"] = await api.wait_reply(USER, contains="📰")
            n = len(api.sent_to(ADMIN))
            api.message("/add", chat_id=ADMIN)
            replies["usage"] = await api.wait_reply(ADMIN, after=n)
            n = len(api.sent_to(ADMIN))
            api.message(f"/add {link}", chat_id=ADMIN)
            replies["add"] = await api.wait_reply(ADMIN, after=n, contains="Đã cập nhật",
                                                  timeout=120)
            n = len(api.sent_to(ADMIN))
            api.message(link, chat_id=ADMIN)  # a bare link: the same as /add
            replies["link"] = await api.wait_reply(ADMIN, after=n, contains="Đã có, không đổi")
            return replies

    r = asyncio.run(scenario())
    assert [m.text for m in r["/reindex"]] == [ADMIN_ONLY]
    assert [m.text for m in r[f"/add {link}"]] == [ADMIN_ONLY]
    assert FETCH_STARTED not in texts(r[link])  # a non-admin's link is a question
    assert len(portal.hits(PAGE.path)) == 2  # the admin's /add and link; nothing for others
    assert "/reindex" in texts(r["help"]) and "/add" in texts(r["help"])
    report = texts(r["reindex"])
    assert REINDEX_STARTED in report and "Thêm mới: 1 (tan_lap_banh_chung)" in report
    assert "Xã Tân Lập tổ chức hội thi gói bánh chưng xanh" in texts(r["new"])
    assert "/add https://" in texts(r["usage"]) and "<code>" not in texts(r["usage"])
    added = texts(r["add"])
    assert f"Đã lưu: {PAGE.title}" in added and "Thêm mới: 1 (fetched/127.0.0.1_" in added
    assert "<b>" not in added and "<code>" not in added  # plain text on Zalo
    assert "Đã cập nhật chỉ mục" not in texts(r["link"])  # unchanged: nothing to index
    assert_fits(api)


def test_fit_cuts_long_reports_between_lines_within_the_limit():
    lines = [f"• dòng {n}: " + "chữ " * 60 for n in range(40)] + ["x" * 4500]
    parts = fit("\n".join(lines))
    assert all(1 <= len(p) <= TEXT_LIMIT for p in parts)
    assert "".join(parts).replace("\n", "") == "".join(lines)  # nothing lost
    assert all(p.startswith(("• dòng", "x")) for p in parts)  # whole lines, never mid-line
    assert fit("📊 Thống kê\n\n• Câu hỏi: 3\n• Người hỏi: 2") == [
        "📊 Thống kê\n\n• Câu hỏi: 3\n• Người hỏi: 2"]  # a short text as it is, blank lines kept


# ---------------------------------------------------------------- both front ends in one process

def test_one_process_serves_telegram_and_zalo_webhook(seed_index, tmp_path):
    """`python bot.py --telegram --zalo`: a question through the fake Telegram Bot API and
    one through the Zalo webhook are both answered, into the same feedback store; SIGINT
    stops both with exit 0; tokens and secret stay out of the log.  Without the secret,
    Zalo's webhook mode is one clear line and exit 2."""
    import os
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    from chat_fixtures import REPO
    from fake_bot_api import FakeBotAPI

    port = free_port()
    db = tmp_path / "fb.sqlite"
    config = tmp_path / "bot.toml"
    config.write_text(f'[bot]\nfeedback_db = "{db}"\nreload_seconds = 1\n'
                      f'[zalo]\nmode = "webhook"\nwebhook_url = "http://127.0.0.1:{port}/zalo"\n'
                      f'webhook_port = {port}\n', encoding="utf-8")
    command = [sys.executable, str(REPO / "bot.py"), "--telegram", "--zalo", "--config",
               str(config), "--index", str(seed_index.index_dir), "--corpus",
               str(seed_index.corpus_dir), "--log-level", "DEBUG"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZALO_", "TELEGRAM_"))}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    with FakeBotAPI() as telegram, FakeZaloAPI() as zalo:
        env.update(TELEGRAM_BOT_TOKEN=telegram.token, TELEGRAM_BASE_URL=telegram.base_url,
                   ZALO_BOT_TOKEN=zalo.token, ZALO_BASE_URL=zalo.base_url)
        telegram.message(SEED_QUESTION, chat_id=4242)
        proc = subprocess.Popen(command, env={**env, "ZALO_WEBHOOK_SECRET": SECRET}, cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            while not zalo.webhook and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.1)
            status = zalo.deliver(zalo.message_update(SEED_QUESTION, chat_id=USER)) \
                if zalo.webhook else None
            while (not (zalo.sent_to(USER) and telegram.sent_to(4242))
                   and time.monotonic() < deadline and proc.poll() is None):
                time.sleep(0.1)
            time.sleep(0.5)
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        assert status == 200, err
        assert "📰" in texts(zalo.sent_to(USER)), err
        assert "📰" in "\n".join(s.plain for s in telegram.sent_to(4242)), err
        assert proc.returncode == 0 and "Traceback" not in err, err
        for secret in (telegram.token, zalo.token, SECRET):
            assert secret not in err + out and secret.split(":")[-1] not in err + out
        no_secret = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60,
                                   cwd=tmp_path)
    with sqlite3.connect(db) as store:
        assert store.execute("SELECT count(*) FROM questions").fetchone()[0] == 2  # one store
    assert no_secret.returncode == 2 and "ZALO_WEBHOOK_SECRET" in no_secret.stderr


@pytest.mark.parametrize("flags,enabled,telegram_token,expected", [
    ([], False, True, {"telegram"}),
    ([], True, True, {"telegram", "zalo"}),
    ([], True, False, {"zalo"}),  # [zalo] enabled and no Telegram token: Zalo alone
    (["--zalo"], False, True, {"zalo"}),
    (["--telegram"], True, True, {"telegram"}),
    (["--telegram", "--zalo"], False, False, {"telegram", "zalo"}),
])
def test_which_front_ends_run(monkeypatch, flags, enabled, telegram_token, expected):
    import bot
    from chat.config import ChatConfig as Config

    config = Config()
    config.zalo.enabled = enabled
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    if telegram_token:
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "1:t")
    assert bot.front_ends(bot.parse_args(flags), config) == expected


@pytest.mark.parametrize("url,secret,problem", [
    ("", SECRET, "zalo.webhook_url"),
    ("https://bot.example.vn/zalo", None, "is not set"),
    ("https://bot.example.vn/zalo", "short", "8 to 256"),
    ("https://bot.example.vn/zalo", "x" * 257, "8 to 256"),
])
def test_zalo_webhook_needs_a_url_and_a_secret_of_8_to_256_characters(monkeypatch, url, secret,
                                                                       problem):
    import bot
    from chat.config import ChatConfig as Config

    config = Config()
    config.zalo.mode, config.zalo.webhook_url = "webhook", url
    monkeypatch.delenv("ZALO_WEBHOOK_SECRET", raising=False)
    if secret:
        monkeypatch.setenv("ZALO_WEBHOOK_SECRET", secret)
    assert problem in bot.webhook_modes(bot.parse_args(["--zalo"]), config, {"zalo"})
    monkeypatch.setenv("ZALO_WEBHOOK_SECRET", SECRET)
    if url:  # with a good secret it runs, and --polling turns it off
        assert bot.webhook_modes(bot.parse_args([]), config, {"zalo"})["zalo"].secret == SECRET
        assert bot.webhook_modes(bot.parse_args(["--polling"]), config, {"zalo"})["zalo"] is None
