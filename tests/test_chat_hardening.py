"""The failure paths a hostile run found (issue 23), end to end: the real Application
against the fake Bot API (tests/fake_bot_api.py), which produces each failure.

Presses on cards posted through inline mode (no chat), questions deleted before
their answer, lone surrogates in group mentions, uploads Telegram will not hand
over, connections to the Bot API that drop, GIFs in private chats and files
whose caption mentions the bot in a group.
"""
from __future__ import annotations

import asyncio
import logging

import pytest
from chat_fixtures import ADMIN_ID, SEED_QUESTION
from fake_bot_api import BOT_USERNAME

from chat import callbacks
from chat.render import texts
from chat.telegram_bot import entity_texts

USER = 4343
GROUP = -1007654321
BOT = f"@{BOT_USERNAME}"


def no_failures(api, caplog) -> None:
    """Nobody got the generic error, Telegram refused nothing, the log has no traceback."""
    assert all(texts.ERROR not in s.plain for s in api.sent), [s.plain for s in api.sent]
    assert not [e for e in api.errors if e[1] == 400], api.errors
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert "Traceback" not in caplog.text


# ---------------------------------------------------------------- entity parsing (no bot)

def test_entity_texts_counts_a_lone_surrogate_as_one_unit():
    from telegram import Message

    def message(text, entities, caption=False):
        data = {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "group"},
                "caption" if caption else "text": text,
                "caption_entities" if caption else "entities": entities}
        return Message.de_json(data, None)

    mention = {"type": "mention", "offset": 2, "length": 1 + len(BOT_USERNAME)}
    text = f"\ud800 {BOT} câu hỏi \udfff"
    with pytest.raises(UnicodeEncodeError):  # what python-telegram-bot does with it
        message(text, [mention]).parse_entities()
    assert [v for _, v in entity_texts(message(text, [mention]), ("mention",))] == [BOT]
    # A pair counts two units, as Telegram counts; a caption's entities are read too.
    emoji = {"type": "mention", "offset": 3, "length": 1 + len(BOT_USERNAME)}
    found = entity_texts(message(f"😀 {BOT} hỏi", [emoji], caption=True), ("mention",))
    assert [v for _, v in found] == [BOT]
    assert entity_texts(message("không nhắc ai", []), ("mention",)) == []


# ---------------------------------------------------------------- buttons without a chat

def test_presses_on_inline_cards_get_a_short_answer_for_every_button_kind(bot_env, caplog):
    """A card posted through inline mode has no chat: Telegram sends only its
    inline_message_id with a press."""
    api = bot_env.api
    payloads = [callbacks.more(1, 3), callbacks.full(1, 0), callbacks.passage(1, 0),
                callbacks.feedback(1, 0, True), callbacks.topic("y", "2024"), "lạ:nút-cũ"]

    async def scenario():
        async with bot_env.running():
            api.message(SEED_QUESTION, chat_id=USER)  # question 1 exists, in another chat
            await api.wait_reply(USER)
            for data in payloads:
                api.press_inline(data, user_id=USER)
            await api.wait_for(lambda: len(api.calls_to("answerCallbackQuery")) == len(payloads),
                               what="every press answered")
            await asyncio.sleep(0.3)  # time for anything else the bot would (wrongly) send

    with caplog.at_level(logging.INFO):
        bot_env.run(scenario())
    acks = [c.params.get("text") for c in api.calls_to("answerCallbackQuery")]
    assert acks == [texts.BUTTON_NO_CHAT] * len(payloads)
    assert len(api.sent) == len(api.sent_to(USER))  # nothing sent anywhere else
    assert bot_env.store().feedback_rows() == []  # the vote from nowhere was not stored
    no_failures(api, caplog)


# ---------------------------------------------------------------- deleted questions

def test_answer_to_a_question_deleted_meanwhile_goes_out_unquoted(bot_env, caplog):
    api = bot_env.api

    async def scenario():
        async with bot_env.running():
            gone = api.message_update(f"/ask {SEED_QUESTION}", chat_id=GROUP, user_id=71)
            api.deleted.add((GROUP, gone["message"]["message_id"]))
            api.push(gone)
            unquoted = await api.wait_reply(GROUP)
            n = len(api.sent_to(GROUP))
            kept = api.message_update(f"/ask {SEED_QUESTION}", chat_id=GROUP, user_id=72)
            api.push(kept)
            quoted = await api.wait_reply(GROUP, after=n)
            return gone, unquoted, kept, quoted

    with caplog.at_level(logging.INFO):
        gone, unquoted, kept, quoted = bot_env.run(scenario())
    assert "Đầm Hà" in unquoted[0].plain and unquoted[0].reply_to is None
    assert "Đầm Hà" in quoted[0].plain
    assert quoted[0].reply_to == kept["message"]["message_id"]  # quoted whenever possible
    sends = [c.params for c in api.calls_to("sendMessage")]
    assert any(str(p.get("reply_parameters", "")).count("allow_sending_without_reply")
               for p in sends)
    no_failures(api, caplog)


# ---------------------------------------------------------------- surrogates in groups

def test_group_mentions_with_lone_surrogates_are_answered(bot_env, caplog):
    api = bot_env.api
    texts = {
        7101: f"{BOT} \ud800",
        7102: f"{BOT} {SEED_QUESTION} \udfff",
        7103: f"\ud83d {BOT} {SEED_QUESTION}",  # before the mention: shifts its offset by one
    }

    async def scenario():
        async with bot_env.running():
            api.mention("\ud800 @ai_do_khac chào \udfff", username="ai_do_khac",
                        chat_id=GROUP, user_id=7100)  # not for the bot: no reply
            replies = {}
            for user, text in texts.items():
                n = len(api.sent_to(GROUP))
                api.mention(text, chat_id=GROUP, user_id=user)
                replies[user] = await api.wait_reply(GROUP, after=n)
            return replies

    with caplog.at_level(logging.INFO):
        replies = bot_env.run(scenario())
    assert len(replies[7101]) == 1 and "chưa nhập câu hỏi" in replies[7101][0].plain
    assert "Đầm Hà" in replies[7102][0].plain and "Đầm Hà" in replies[7103][0].plain
    assert len(api.sent_to(GROUP)) == sum(len(r) for r in replies.values())
    no_failures(api, caplog)


# ---------------------------------------------------------------- uploads that cannot be fetched

def test_admin_upload_that_cannot_be_downloaded_is_asked_again(bot_env, caplog):
    api = bot_env.api
    before = sorted(p.name for p in bot_env.corpus_dir.rglob("*"))
    data = "Tiêu đề\n\nNội dung bài viết mới.".encode()

    async def scenario():
        async with bot_env.running():
            # getFile: "invalid file_id" (Telegram no longer has the file).
            api.document("bai-moi.txt", data, chat_id=ADMIN_ID, user_id=ADMIN_ID,
                         fetchable=False)
            refused = await api.wait_reply(ADMIN_ID)
            # The download itself loses its connection, twice (the retry too).
            api.drops["download"] = 2
            n = len(api.sent_to(ADMIN_ID))
            api.document("bai-moi-2.txt", data, chat_id=ADMIN_ID, user_id=ADMIN_ID)
            dropped = await api.wait_reply(ADMIN_ID, after=n)
            return refused, dropped

    with caplog.at_level(logging.INFO):
        refused, dropped = bot_env.run(scenario())
    assert [m.plain for m in refused + dropped] == [texts.UPLOAD_NOT_DOWNLOADED] * 2
    assert api.errors[0][:2] == ("getFile", 400) and "file_id" in api.errors[0][2]
    assert api.dropped == ["download", "download"]
    assert sorted(p.name for p in bot_env.corpus_dir.rglob("*")) == before
    warnings = [r.getMessage() for r in caplog.records if "could not download" in r.getMessage()]
    assert len(warnings) == 2
    api.errors.clear()  # the getFile 400 was the point of this test
    no_failures(api, caplog)


# ---------------------------------------------------------------- network drops

def test_a_send_that_loses_its_connection_is_retried_once_then_apologised(bot_env, caplog):
    api = bot_env.api

    async def ask(drops: int) -> list:
        api.drops[("sendMessage", USER)] = drops
        n = len(api.sent_to(USER))
        api.message(SEED_QUESTION, chat_id=USER)
        return await api.wait_reply(USER, after=n)

    async def scenario():
        async with bot_env.running():
            saved = await ask(1)
            records = len(caplog.records)
            lost = await ask(2)  # the retry is lost too: an apology
            return saved, records, lost, await ask(0)  # and the network is back

    with caplog.at_level(logging.INFO):
        saved, records, lost, after = bot_env.run(scenario())
    assert "Đầm Hà" in saved[0].plain and "Đầm Hà" in after[0].plain
    assert [m.plain for m in lost] == [texts.ERROR]
    assert api.dropped == ["sendMessage"] * 3
    # A dropped request never reached the method: each reply was sent once, not twice.
    assert len([c for c in api.calls_to("sendMessage") if int(c.params["chat_id"]) == USER]) \
        == len(saved + lost + after)
    retried = [r.getMessage() for r in caplog.records if "second try went through" in r.getMessage()]
    assert len(retried) == 1 and retried[0].startswith("sendMessage ")
    # The lost answer: one line, a warning, no traceback.
    later = [r for r in caplog.records[records:] if r.levelno >= logging.WARNING]
    assert len(later) == 1 and "could not be reached" in later[0].getMessage()
    api.sent = [m for m in api.sent if m not in lost]  # the apology was the point here
    no_failures(api, caplog)


# ---------------------------------------------------------------- what is (not) an upload

def test_gif_in_a_private_chat_is_not_an_upload(bot_env, caplog):
    api = bot_env.api

    async def scenario():
        async with bot_env.running():
            api.animation(chat_id=USER)
            api.animation(chat_id=ADMIN_ID, user_id=ADMIN_ID)
            return await api.wait_reply(USER), await api.wait_reply(ADMIN_ID)

    with caplog.at_level(logging.INFO):
        user, admin = bot_env.run(scenario())
    assert [m.plain for m in user + admin] == [texts.NOT_TEXT] * 2
    assert not api.calls_to("getFile")
    no_failures(api, caplog)


def test_group_file_whose_caption_mentions_the_bot_gets_a_reply(bot_env, caplog):
    api = bot_env.api
    data = b"Tieu de\n\nNoi dung."
    caption = f"{BOT} thêm bài này vào dữ liệu nhé"
    mention = [api.mention_entity(caption)]

    async def scenario():
        async with bot_env.running():
            api.document("bai.txt", data, chat_id=GROUP, user_id=81)  # no caption: quiet
            replies = []
            for user in (82, ADMIN_ID):
                n = len(api.sent_to(GROUP))
                api.document("bai.txt", data, chat_id=GROUP, user_id=user, caption=caption,
                             caption_entities=mention)
                replies += await api.wait_reply(GROUP, after=n)
            n = len(api.sent_to(GROUP))
            api.message(None, chat_id=GROUP, user_id=83, caption=caption, caption_entities=mention,
                        photo=[{"file_id": "p1", "file_unique_id": "pu1", "width": 9, "height": 9}])
            return replies + await api.wait_reply(GROUP, after=n)

    with caplog.at_level(logging.INFO):
        replies = bot_env.run(scenario())
    assert [m.plain for m in replies] == [texts.ADMIN_ONLY, texts.UPLOAD_PRIVATE_ONLY,
                                          texts.NOT_TEXT]
    assert all(m.reply_to is not None for m in replies)  # the group sees which file it is about
    assert len(api.sent_to(GROUP)) == 3 and not api.calls_to("getFile")
    no_failures(api, caplog)
