"""End-to-end tests: the real python-telegram-bot Application, with its HTTP layer,
polling a fake Bot API server (tests/fake_bot_api.py) on 127.0.0.1.

Each test feeds update JSON as Telegram would send it and asserts on what the
bot sent back; the fake server rejects what Telegram would reject (bad HTML,
messages over 4096 characters, oversized callback data).
"""
from __future__ import annotations

import asyncio
import html
import json
import logging
import re
import threading
import time

import pytest
from chat_fixtures import (
    ADMIN_ID,
    LONG_ARTICLE,
    LONG_SOURCE,
    LONG_URL,
    SEED_ARTICLE,
    SEED_QUESTION,
)
from fake_bot_api import BOT_USERNAME, check_html, utf16_len

from chat import callbacks
from chat.render import cards, texts

pytestmark = pytest.mark.slow

USER = 4242
GROUP = -1001234567


def answer_of(messages):
    """The last message of an answer carries the buttons."""
    with_buttons = [m for m in messages if m.reply_markup]
    assert with_buttons, [m.plain for m in messages]
    return with_buttons[-1]


def has_buttons(messages) -> bool:
    """An answer is complete once its last part, the one with the buttons, has come."""
    return any(m.reply_markup for m in messages)


def ranks(messages) -> list[int]:
    """Result numbers as shown at the start of each passage's title line."""
    return [int(n) for m in messages for n in re.findall(r"^(\d+)\. ", m.plain, re.MULTILINE)]


def headlines(messages) -> list[str]:
    """The headline under each card, in order."""
    return [t for m in messages for t in re.findall(r"^📰 (.*)$", m.plain, re.MULTILINE)]


def assert_sane(api, allowed=()):
    """Telegram accepted everything the bot sent (no 400s) and every message fits."""
    assert not [e for e in api.errors if e[1] == 400 and e[0] not in allowed], api.errors
    for s in api.sent:
        assert utf16_len(s.text) <= 4096
        if s.parse_mode == "HTML":
            check_html(s.text)


# ---------------------------------------------------------------- answers

def test_seed_question_gets_cited_passages_and_buttons(bot_env):
    api = bot_env.api

    async def scenario():
        async with bot_env.running():
            api.message(SEED_QUESTION, chat_id=USER)
            return await api.wait_reply(USER, until=has_buttons)

    messages = bot_env.run(scenario())
    text = "\n".join(m.text for m in messages)
    plain = "\n".join(m.plain for m in messages)
    assert all(m.parse_mode == "HTML" for m in messages)
    # Three passages, each cited with title, place, date dd/mm/yyyy and source.
    assert ranks(messages) == [1, 2, 3]
    assert "Thường trực Huyện ủy duyệt Chương trình công tác" in plain
    assert "📍 Đầm Hà" in plain and "🗓 11/01/2024" in plain and "Nguồn: Mai Thắm" in plain
    assert "TT&amp;VH" in text  # the source's "&" escaped
    assert "<b>" in text and "<blockquote>" in text  # best sentence in bold, inside the quote
    assert messages[0].reply_to is None  # no need to quote the question in a private chat
    last = answer_of(messages)
    labels = [label for label, _ in last.buttons()]
    assert any(label.startswith("📄 Toàn văn") for label in labels)
    assert "➕ Xem thêm" in labels and "👍" in labels and "👎" in labels
    assert all(len(data.encode()) <= 64 for _, data in last.buttons())
    assert_sane(api)


def test_follow_up_chain_keeps_context_and_new_forgets(bot_env):
    """A question, two elliptic follow-ups that inherit its body and place, /new."""
    api = bot_env.api

    async def ask(text):
        n = len(api.sent_to(USER))
        api.message(text, chat_id=USER)
        return await api.wait_reply(USER, after=n)

    async def scenario():
        async with bot_env.running():
            replies = [await ask(SEED_QUESTION + " huyện Đầm Hà"),
                       await ask("còn năm 2022 thì sao?"), await ask("ai chủ trì?")]
            replies.append(await ask("/new"))
            replies.append(await ask("ai chủ trì?"))
            return replies

    first, year, who, new, after = [m[0].plain for m in bot_env.run(scenario())]
    assert "Hiểu là" not in first and "📍 Đầm Hà" in first
    assert "Hiểu là: MTTQ huyện Đầm Hà, năm 2022" in year and "🗓 30/03/2022" in year.split("1. ")[1]
    assert "Hiểu là: MTTQ huyện Đầm Hà, năm 2022" in who
    assert "cuộc trò chuyện mới" in new and "Hiểu là" not in after
    assert_sane(api)


def test_group_members_have_their_own_context(bot_env):
    api = bot_env.api

    async def ask(text, user_id):
        n = len(api.sent_to(GROUP))
        api.message(f"/ask {text}", chat_id=GROUP, user_id=user_id)
        return (await api.wait_reply(GROUP, after=n))[0].plain

    async def scenario():
        async with bot_env.running():
            await ask(SEED_QUESTION + " huyện Đầm Hà", 7001)
            return await ask("còn năm 2022 thì sao?", 7002), await ask("còn năm 2022 thì sao?", 7001)

    other, same = bot_env.run(scenario())
    assert "Hiểu là" not in other  # another member's question does not carry over
    assert "Hiểu là: MTTQ huyện Đầm Hà, năm 2022" in same


def test_first_page_shows_different_articles(bot_env):
    api = bot_env.api

    async def scenario():
        async with bot_env.running():
            api.message("chương trình phối hợp công tác MTTQ", chat_id=USER)
            return await api.wait_reply(USER, until=has_buttons)

    messages = bot_env.run(scenario())
    titles = headlines(messages)
    assert len(titles) == 3 and len(set(titles)) == 3, titles
    last = answer_of(messages)
    assert [label for label, _ in last.buttons()][:3] == [f"📄 Toàn văn {n}" for n in (1, 2, 3)]


def test_topics_list_counts_and_buttons_ask(bot_env):
    api = bot_env.api

    async def scenario():
        async with bot_env.running():
            api.message("/chude", chat_id=USER)
            listing = (await api.wait_reply(USER))[0]
            n = len(api.sent_to(USER))
            api.press(listing, listing.button("📍 Đầm Hà"))
            return listing, await api.wait_reply(USER, after=n, until=has_buttons)

    listing, answer = bot_env.run(scenario())
    assert "Đầm Hà (" in listing.plain and "Năm" in listing.plain and "Bài mới nhất" in listing.plain
    labels = [label for label, _ in listing.buttons()]
    assert any(label.startswith("📍 Đầm Hà (") for label in labels)
    assert any(label.startswith("🗓 2024 (") for label in labels)
    assert any(label.startswith("🆕 ") for label in labels)
    assert "Câu hỏi: Đầm Hà" in answer[0].plain and "📍 Đầm Hà" in answer[0].plain
    assert_sane(api)


def inline_answers(api, n: int) -> list[dict]:
    return [c.params for c in api.calls_to("answerInlineQuery")][n:]


def test_inline_query_offers_articles_that_post_a_cited_card(bot_env):
    api = bot_env.api

    async def scenario():
        async with bot_env.running():
            for text in (SEED_QUESTION, "Giá vàng hôm nay ở Paris bao nhiêu?"):
                n = len(api.calls_to("answerInlineQuery"))
                api.inline(text)
                await api.wait_for(lambda n=n: len(api.calls_to("answerInlineQuery")) > n)
            return inline_answers(api, 0)

    found, nothing = bot_env.run(scenario())
    results = found["results"]
    results = json.loads(results) if isinstance(results, str) else results
    assert 2 <= len(results) <= 5 and int(found["cache_time"]) > 0
    assert len({r["title"] for r in results}) == len(results)  # one result per article
    first = results[0]["input_message_content"]
    assert first["parse_mode"] == "HTML" and "Đầm Hà" in first["message_text"]
    assert "🔎" in first["message_text"] and "<b>" in first["message_text"]
    check_html(first["message_text"])
    assert (json.loads(nothing["results"]) if isinstance(nothing["results"], str)
            else nothing["results"]) == []


def test_unaccented_question_is_answered_with_highlight(bot_env):
    api = bot_env.api

    async def scenario():
        async with bot_env.running():
            api.message("thuong truc huyen uy duyet chuong trinh cong tac MTTQ nam 2024",
                        chat_id=USER)
            return await api.wait_reply(USER)

    messages = bot_env.run(scenario())
    text = "\n".join(m.text for m in messages)
    assert "Đầm Hà" in text
    # A sentence of the passage is bold: <b> inside the blockquote, not only the title.
    quoted = text.split("<blockquote>", 1)[1].split("</blockquote>", 1)[0]
    assert "<b>" in quoted and "duyệt" in quoted.lower()


def test_markup_in_question_comes_back_escaped(bot_env):
    api = bot_env.api
    question = "<b>Đầm Hà</b> & **MTTQ** <script>alert(1)</script> năm 2024"

    async def scenario():
        async with bot_env.running():
            api.message(question, chat_id=USER)
            return await api.wait_reply(USER)

    messages = bot_env.run(scenario())
    first = messages[0].text
    assert "&lt;b&gt;Đầm Hà&lt;/b&gt; &amp; **MTTQ** &lt;script&gt;" in first
    assert "<script>" not in first
    assert messages[0].plain.count(question) == 1  # the user sees exactly what they typed
    assert texts.ERROR not in messages[0].plain
    assert_sane(api)


def test_nothing_relevant_gets_polite_vietnamese_reply(bot_env):
    api = bot_env.api

    async def scenario():
        async with bot_env.running():
            api.message("Giá vàng hôm nay ở Paris bao nhiêu?", chat_id=USER)
            return await api.wait_reply(USER)

    messages = bot_env.run(scenario())
    assert len(messages) == 1
    reply = messages[0]
    assert "chưa tìm thấy thông tin" in reply.plain
    assert "tên địa phương" in reply.plain and "năm" in reply.plain
    assert reply.reply_markup is None  # no passages, no buttons
    assert "📍" not in reply.plain and "<blockquote>" not in reply.text


def test_strange_input_gets_polite_answers(bot_env):
    api = bot_env.api
    huge = ("Thường trực Huyện ủy duyệt chương trình công tác MTTQ năm 2024 " * 200)[:10_000]

    async def scenario():
        async with bot_env.running():
            cases = {}
            for chat, kwargs in [
                (9001, {"text": "😀🙏🎉"}),
                (9002, {"text": huge}),
                (9003, {"sticker": {"file_id": "s1", "file_unique_id": "su1", "type": "regular",
                                    "width": 512, "height": 512, "is_animated": False,
                                    "is_video": False, "emoji": "😀"}}),
                (9004, {"photo": [{"file_id": "p1", "file_unique_id": "pu1", "width": 90,
                                   "height": 90}]}),
                (9005, {"voice": {"file_id": "v1", "file_unique_id": "vu1", "duration": 3}}),
                (9006, {"text": "/ask"}),
                (9007, {"text": "/khongcolenhnay"}),
                (9008, {"text": "   ***   "}),
                # A lone surrogate, as Bot API JSON can carry, and control characters.
                (9010, {"text": SEED_QUESTION.replace(" ", " \ud800", 2) + "\x00\x1b"}),
            ]:
                text = kwargs.pop("text", None)
                api.message(text, chat_id=chat, **kwargs)
                cases[chat] = None
            api.message(SEED_QUESTION, chat_id=9009, edited=True)
            cases[9009] = None
            for chat in cases:
                cases[chat] = await api.wait_reply(chat)
            return cases

    replies = bot_env.run(scenario())
    assert "chỉ đọc được câu hỏi bằng chữ" in replies[9001][0].plain
    long_answer = replies[9002]
    assert "Câu hỏi quá dài" in long_answer[0].plain and "Đầm Hà" in long_answer[0].plain
    for chat in (9003, 9004, 9005):
        assert replies[chat][0].plain == texts.NOT_TEXT
    assert "/ask" in replies[9006][0].plain and "ví dụ" in replies[9006][0].plain
    assert replies[9007][0].plain == texts.UNKNOWN_COMMAND
    assert "chỉ đọc được câu hỏi bằng chữ" in replies[9008][0].plain
    assert "Đầm Hà" in replies[9009][0].plain  # an edited question is answered anew
    assert "Đầm Hà" in replies[9010][0].plain  # answered, not the error reply
    for chat, messages in replies.items():
        assert all(texts.ERROR not in m.plain for m in messages), chat
    assert_sane(api)


# ---------------------------------------------------------------- buttons

def test_more_full_text_and_feedback_survive_restart(bot_env):
    api = bot_env.api

    async def first_run():
        async with bot_env.running():
            api.message(SEED_QUESTION, chat_id=USER)
            answer = answer_of(await api.wait_reply(USER, until=has_buttons))
            # «Xem thêm»: passages 4-6, and the old message loses its «Xem thêm» button.
            n = len(api.sent_to(USER))
            api.press(answer, answer.button("➕ Xem thêm"))
            more = await api.wait_reply(USER, after=n, contains="Kết quả 4",
                                        until=has_buttons)
            await api.wait_for(lambda: answer.button("➕ Xem thêm") is None, what="edited markup")
            # 👍 on the first page.
            api.press(answer, answer.button("👍"))
            await api.wait_for(lambda: len(api.calls_to("answerCallbackQuery")) >= 2,
                               what="feedback acknowledged")
            return answer, more

    answer, more = bot_env.run(first_run())
    assert ranks(more) == [4, 5, 6]
    assert answer_of(more).button("👍").endswith(":3:1")  # feedback on page 2 names offset 3
    rows = bot_env.store().feedback_rows()
    assert len(rows) == 1 and rows[0]["value"] == 1
    assert rows[0]["user_hash"] == bot_env.store().pseudonym(USER) != str(USER)
    assert rows[0]["question"] == SEED_QUESTION and len(rows[0]["passage_ids"]) == 3
    assert all(pid.startswith(SEED_ARTICLE) for pid in rows[0]["passage_ids"][:1])

    # A new Application over the same SQLite file: old buttons keep working, even when
    # the presses arrived while the bot was down and are too old to acknowledge.
    async def second_run():
        api.stale_callbacks = True
        async with bot_env.running():
            n = len(api.sent_to(USER))
            api.press(answer, answer.button("📄 Toàn văn"))
            full = await api.wait_reply(USER, after=n)
            acked = len(api.calls_to("answerCallbackQuery"))
            api.press(answer, answer.button("👎"))
            # The vote is stored before the press is acknowledged: wait for both.
            await api.wait_for(lambda: len(api.calls_to("answerCallbackQuery")) > acked,
                               what="👎 acknowledged")
            await api.wait_for(lambda: len(bot_env.store().feedback_rows()) == 1
                               and bot_env.store().feedback_rows()[0]["value"] == -1,
                               what="vote changed to 👎")
            acks = api.calls_to("answerCallbackQuery")
            return full, acks[-1].params

    full, ack = bot_env.run(second_run())
    full_text = "\n".join(m.plain for m in full)
    assert full[0].plain.startswith("📄 Thường trực Huyện ủy duyệt Chương trình công tác")
    assert "Chiều ngày 11/1, Thường trực Huyện ủy đã tổ chức hội nghị" in full_text
    assert "Đồng chí Đặng Văn Tuấn" in full_text
    assert ack.get("text") == texts.FEEDBACK_THANKS
    assert texts.ERROR not in full_text
    assert_sane(api, allowed=("answerCallbackQuery",))


def test_full_text_of_long_article_is_split_and_complete(bot_env, searcher):
    api = bot_env.api

    async def scenario():
        async with bot_env.running():
            api.message("Hội Nông dân huyện Bình Minh nuôi ong lấy mật năm 2023", chat_id=USER)
            answer = answer_of(await api.wait_reply(USER, until=has_buttons))
            n = len(api.sent_to(USER))
            api.press(answer, answer.button("📄 Toàn văn 1"))
            last = searcher.article(LONG_ARTICLE).paragraphs[-1]
            return answer, await api.wait_reply(
                USER, after=n, settle=0.6,
                until=lambda new: " ".join(last.split()[-5:]) in new[-1].plain)

    answer, full = bot_env.run(scenario())
    # The citation carries the link and the escaped source of the article.
    assert f'<a href="{html.escape(LONG_URL)}">' in answer.text or \
        any(f'<a href="{html.escape(LONG_URL)}">' in m.text for m in api.sent_to(USER))
    assert html.escape(LONG_SOURCE, quote=False) in api.sent_to(USER)[0].text
    assert len(full) >= 2  # too long for one message
    assert all(utf16_len(m.text) <= 4096 for m in full)
    article = searcher.article(LONG_ARTICLE)
    joined = "\n\n".join(m.plain for m in full)
    for paragraph in article.paragraphs:  # nothing lost between messages
        assert " ".join(paragraph.split()) in joined
    assert_sane(api)


def test_a_page_of_every_article_is_short_cards_answer_first(bot_env):
    """A page of every article of the seed index (one with long passages) fits one
    message: each card quotes a few sentences, answer first, then its headline.
    (Answers longer than a message are split between cards: test_chat_units.)"""
    api = bot_env.api
    bot_env.config.bot.answers_per_page = 8  # more than the articles: all of them on one page

    async def scenario():
        async with bot_env.running():
            api.message("Hội Nông dân huyện Bình Minh nuôi ong lấy mật năm 2023", chat_id=USER)
            return await api.wait_reply(USER, settle=0.6,
                                        until=has_buttons)

    messages = bot_env.run(scenario())
    assert len(messages) == 1 and utf16_len(messages[0].text) <= 4096
    text = messages[0].text
    quotes = re.findall(r"<blockquote>(.*?)</blockquote>\n📰 ", text)
    shown = ranks(messages)
    assert len(shown) >= 5 and shown == list(range(1, len(shown) + 1))  # one card per article
    assert len(quotes) == len(shown)
    assert all(len(html.unescape(re.sub(r"<[^>]+>", "", q))) <= cards.CARD_ANSWER_CHARS + 3
               for q in quotes)  # "N. " and the answer text
    titles = headlines(messages)
    assert len(titles) == len(set(titles)) == len(shown)
    assert [label for label, _ in answer_of(messages).buttons()].count("📃 Cả đoạn 1") == 1
    assert_sane(api)


def test_whole_passage_button_shows_what_the_card_left_out(bot_env, searcher):
    """«Cả đoạn 1» under an answer sends card 1's passages whole, answer in bold."""
    from chat.service import CARD_POOL, article_cards

    api = bot_env.api
    question = "Hội Nông dân huyện Bình Minh nuôi ong lấy mật năm 2023"

    async def scenario():
        async with bot_env.running():
            api.message(question, chat_id=USER)
            answer = answer_of(await api.wait_reply(USER, until=has_buttons))
            n = len(api.sent_to(USER))
            api.press(answer, answer.button("📃 Cả đoạn 1"))
            whole = await api.wait_reply(USER, after=n)
            n = len(api.sent_to(USER))
            api.press(answer, callbacks.passage(99999, 0))  # a question this bot never stored
            return answer, whole, await api.wait_reply(USER, after=n)

    answer, whole, unknown = bot_env.run(scenario())
    card = article_cards(searcher.search(question, top_k=CARD_POOL).hits)[0]
    passage = " ".join(card[0].text.split())
    assert len(passage) > cards.CARD_ANSWER_CHARS and passage not in answer.plain  # the card: part
    (reply,) = whole
    for hit in card:  # «Cả đoạn»: all of it
        assert " ".join(hit.text.split()) in reply.plain
    assert reply.plain.startswith("1. ") and f"📰 {card[0].title}" in reply.plain
    assert "<b>" in reply.text.split("</blockquote>")[0]
    assert [m.plain for m in unknown] == [texts.BUTTON_EXPIRED]
    assert_sane(api)


# ---------------------------------------------------------------- commands

def test_start_help_stats_latest(bot_env):
    api = bot_env.api

    async def scenario():
        async with bot_env.running():
            replies = {}
            for n, command in enumerate(["/start", "/help", "/stats", "/latest"]):
                api.message(command, chat_id=USER + n)
                replies[command] = (await api.wait_reply(USER + n))[0]
            api.message("/help", chat_id=ADMIN_ID)
            replies["admin help"] = (await api.wait_reply(ADMIN_ID))[0]
            return replies

    r = bot_env.run(scenario())
    for command in ("/start", "/help"):
        text = r[command].plain
        assert "Cách hỏi" in text and "không dấu" in text and "Ví dụ" in text
        assert "6 bài" in text and "30/03/2022" in text and "21/02/2024" in text
        assert f"@{BOT_USERNAME}" in text and "/ask" in text
        assert "/reindex" not in text
    assert "/reindex" in r["admin help"].plain
    stats = r["/stats"].plain
    assert "Số bài viết: 6" in stats and "30/03/2022 – 21/02/2024" in stats
    assert "Cập nhật lần cuối: " in stats and "chưa rõ" not in stats
    latest = r["/latest"].plain
    assert latest.index("21/02/2024") < latest.index("11/01/2024") < latest.index("05/12/2023")
    assert "30/03/2022" not in latest  # only the newest five
    commands = api.calls_to("setMyCommands")
    assert commands and "stats" in commands[0].params["commands"]
    assert_sane(api)


# ---------------------------------------------------------------- groups

def test_group_answers_only_when_addressed(bot_env):
    api = bot_env.api

    async def scenario():
        async with bot_env.running():
            quiet = [
                api.message("Chào cả nhà, hôm nay họp lúc mấy giờ?", chat_id=GROUP, user_id=11),
                api.mention("@ai_do_khac Đầm Hà năm 2024 thế nào?", username="ai_do_khac",
                            chat_id=GROUP, user_id=12),
                api.message("/stats@bot_khac", chat_id=GROUP, user_id=13),
            ]
            api.message(f"/ask {SEED_QUESTION}", chat_id=GROUP, user_id=14)
            first = await api.wait_reply(GROUP)
            n = len(api.sent_to(GROUP))
            api.mention(f"@{BOT_USERNAME} Thành ủy Hồng Ngự làm việc với Khối vận năm 2022",
                        chat_id=GROUP, user_id=15)
            second = await api.wait_reply(GROUP, after=n)
            n = len(api.sent_to(GROUP))
            api.message("thế còn Ban Dân vận Huyện ủy Gia Viễn năm 2023?", chat_id=GROUP,
                        user_id=16, reply_to=answer_of(first))
            third = await api.wait_reply(GROUP, after=n)
            await asyncio.sleep(0.5)  # time for any (wrong) reply to the quiet messages
            return quiet, first, second, third

    quiet, first, second, third = bot_env.run(scenario())
    assert "Đầm Hà" in first[0].plain
    assert "Hồng Ngự" in second[0].plain
    assert "Gia Viễn" in third[0].plain
    # Every message in the group answers one of the three addressed questions.
    assert all(m.chat_id == GROUP for m in first + second + third)
    assert len(api.sent_to(GROUP)) == len(first) + len(second) + len(third)
    assert first[0].reply_to is not None  # quoted, so the group sees which question it answers
    assert_sane(api)


# ---------------------------------------------------------------- admin

def test_non_admin_cannot_reindex_or_upload(bot_env):
    api = bot_env.api
    before = sorted(p.name for p in bot_env.corpus_dir.rglob("*"))

    async def scenario():
        async with bot_env.running():
            api.message("/reindex", chat_id=USER)
            refused = await api.wait_reply(USER)
            n = len(api.sent_to(USER))
            api.document("bai-moi.txt", "Tiêu đề\n\nNội dung bài viết mới.".encode(),
                         chat_id=USER)
            refused += await api.wait_reply(USER, after=n)
            return refused

    refused = bot_env.run(scenario())
    assert [m.plain for m in refused] == [texts.ADMIN_ONLY, texts.ADMIN_ONLY]
    assert sorted(p.name for p in bot_env.corpus_dir.rglob("*")) == before
    assert not api.calls_to("getFile")  # the file was not even downloaded


NEW_ARTICLE = """---
title: Xã Tân Lập tổ chức hội thi gói bánh chưng xanh năm 2025
date: 2025-01-20
place: Tân Lập
source: Đài truyền thanh xã Tân Lập
url: https://example.vn/tan-lap/banh-chung?nam=2025
---

Sáng ngày 20/01/2025, Ủy ban nhân dân xã Tân Lập tổ chức hội thi gói bánh chưng xanh chào đón
Tết Nguyên đán Ất Tỵ 2025 với sự tham gia của mười hai đội thi đến từ các thôn trong xã. Các đội
đã gói được hơn ba trăm chiếc bánh để trao tặng các hộ gia đình có hoàn cảnh khó khăn.

Ban tổ chức trao giải nhất cho đội thôn Đồng Mới, giải nhì cho đội thôn Khe Vang và giải ba cho
đội thôn Bản Chanh; hội thi góp phần giữ gìn nét đẹp văn hóa truyền thống của dân tộc.
"""
NEW_QUESTION = "hội thi gói bánh chưng xanh xã Tân Lập năm 2025"


def test_admin_upload_is_saved_safely_and_indexed(own_index_env):
    env, api = own_index_env, own_index_env.api

    async def scenario():
        async with env.running():
            api.message(NEW_QUESTION, chat_id=USER)
            before = await api.wait_reply(USER)
            api.document("../../etc/Bánh chưng Tân Lập.md", NEW_ARTICLE.encode(),
                         chat_id=ADMIN_ID, user_id=ADMIN_ID)
            report = await api.wait_reply(ADMIN_ID, contains="Đã cập nhật chỉ mục", timeout=120)
            n = len(api.sent_to(USER))
            api.message(NEW_QUESTION, chat_id=USER)
            after = await api.wait_reply(USER, after=n)
            return before, report, after

    before, report, after = env.run(scenario())
    assert "chưa tìm thấy" in before[0].plain
    saved = env.corpus_dir / "uploads" / "banh-chung-tan-lap.md"
    assert saved.read_bytes() == NEW_ARTICLE.encode()
    assert not (env.corpus_dir.parent / "etc").exists()
    assert "Đã lưu tệp banh-chung-tan-lap.md" in report[0].plain
    assert "Thêm mới: 1 (uploads/banh-chung-tan-lap)" in report[-1].plain
    # Only the upload was looked at, read, parsed and embedded: the folder was not even listed.
    assert "Chỉ xem 1 tệp vừa gửi/tải về, đã đọc: 1" in report[-1].plain
    assert "Đoạn tính vector mới: 2, dùng lại: 0" in report[-1].plain
    text = "\n".join(m.text for m in after)
    assert "Xã Tân Lập tổ chức hội thi gói bánh chưng xanh" in text
    assert "🗓 20/01/2025" in text
    assert '<a href="https://example.vn/tan-lap/banh-chung?nam=2025">Đọc bài gốc</a>' in text
    assert_sane(api)


def test_reindex_keeps_answering_then_serves_new_article(own_index_env):
    """The old index serves until the rebuild swaps the new one in, even once the new
    generation is on disk: asked then, the new article's question finds nothing of it."""
    env, api = own_index_env, own_index_env.api
    from retrieval.index import build_index

    started, release = threading.Event(), threading.Event()
    timeline = {}

    def slow_build():
        """The real build, then held open until the test has asked its questions."""
        started.set()
        report = build_index(env.corpus_dir, env.index_dir, env.config, progress=False,
                             embedder=env.searcher.embedder)
        timeline["built"] = time.monotonic()
        assert release.wait(60)
        timeline["released"] = time.monotonic()
        return report

    env.build = slow_build
    (env.corpus_dir / "tan_lap_banh_chung.md").write_text(NEW_ARTICLE, encoding="utf-8")

    async def scenario():
        async with env.running():
            api.message("/reindex", chat_id=ADMIN_ID, user_id=ADMIN_ID)
            await api.wait_reply(ADMIN_ID, contains="Bắt đầu xây dựng lại", settle=0)
            await api.wait_for(started.is_set, what="build started")
            await api.wait_for(lambda: "built" in timeline, what="new generation written", timeout=120)
            # The new generation is on disk, the rebuild not finished: the old index answers.
            api.message(NEW_QUESTION, chat_id=USER)
            during = await api.wait_reply(USER)
            timeline["answered"] = time.monotonic()
            # ...and a second /reindex is told to wait instead of starting another build.
            n = len(api.sent_to(ADMIN_ID))
            api.message("/reindex", chat_id=ADMIN_ID, user_id=ADMIN_ID)
            busy = await api.wait_reply(ADMIN_ID, after=n)
            release.set()
            report = await api.wait_reply(ADMIN_ID, after=n + 1, contains="Đã cập nhật",
                                          timeout=120)
            n = len(api.sent_to(USER))
            api.message(NEW_QUESTION, chat_id=USER)
            after = await api.wait_reply(USER, after=n)
            return during, busy, report, after

    during, busy, report, after = env.run(scenario())
    assert timeline["built"] < timeline["answered"] < timeline["released"]
    assert [m.plain for m in during if "Xã Tân Lập tổ chức hội thi" in m.plain] == []
    assert "chưa tìm thấy" in during[0].plain  # nothing of the new article in the old index
    assert busy[0].plain == texts.REINDEX_BUSY
    assert "Thêm mới: 1 (tan_lap_banh_chung)" in report[-1].plain
    assert "Bài viết: 7" in report[-1].plain
    assert "Xã Tân Lập tổ chức hội thi gói bánh chưng xanh" in after[0].plain
    assert_sane(api)


def test_reload_job_picks_up_cli_rebuild(own_index_env):
    """The job queue's periodic check swaps in an index rebuilt by another process."""
    env, api = own_index_env, own_index_env.api
    from retrieval.index import build_index

    env.config.bot.reload_seconds = 1
    (env.corpus_dir / "tan_lap_banh_chung.md").write_text(NEW_ARTICLE, encoding="utf-8")

    async def scenario():
        async with env.running():
            # What `python -m retrieval index` does from another process.
            await asyncio.to_thread(build_index, env.corpus_dir, env.index_dir, env.config,
                                    progress=False, embedder=env.searcher.embedder)
            await api.wait_for(lambda: env.searcher.stats()["articles"] == 7, timeout=30,
                               what="reload job")
            api.message(NEW_QUESTION, chat_id=USER)
            return await api.wait_reply(USER)

    after = env.run(scenario())
    assert "Xã Tân Lập tổ chức hội thi gói bánh chưng xanh" in after[0].plain


# ---------------------------------------------------------------- robustness

def test_blocked_user_and_rate_limit_do_not_break_the_bot(bot_env, caplog):
    api = bot_env.api
    bot_env.config.bot.questions_per_minute = 2
    api.blocked_chats.add(666)

    async def scenario():
        async with bot_env.running():
            api.message(SEED_QUESTION, chat_id=666)
            await api.wait_for(lambda: any(e[1] == 403 for e in api.errors), what="403")
            for _ in range(3):
                api.message(SEED_QUESTION, chat_id=USER)
            # The refusal can overtake the two answers, so wait for all three replies.
            await api.wait_for(lambda: len(api.sent_to(USER)) >= 3, what="three replies")
            return await api.wait_reply(USER, settle=0.8)

    with caplog.at_level(logging.DEBUG):
        replies = bot_env.run(scenario())
    limited = [m for m in replies if "hỏi hơi nhanh" in m.plain]
    answered = [m for m in replies if m.reply_markup]
    assert len(limited) == 1 and len(answered) == 2
    assert not api.sent_to(666)
    assert "blocked" in caplog.text
    assert api.token not in caplog.text  # never logged, not even at DEBUG
    assert api.token.split(":")[1] not in caplog.text


class ExplodingSearcher:
    """The real searcher, except that questions containing BOOM crash the search."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def search(self, question, top_k=None, offset=0, today=None, prefer=(), intent=None):
        if "BOOM" in question:
            raise RuntimeError("index exploded")
        return self.inner.search(question, top_k, offset, today, prefer)


def test_failure_is_logged_and_user_told_briefly(bot_env, caplog):
    api = bot_env.api
    bot_env.searcher = ExplodingSearcher(bot_env.searcher)

    async def scenario():
        async with bot_env.running():
            api.message("BOOM Đầm Hà", chat_id=USER)
            failed = await api.wait_reply(USER)
            n = len(api.sent_to(USER))
            api.message(SEED_QUESTION, chat_id=USER)
            return failed, await api.wait_reply(USER, after=n)

    with caplog.at_level(logging.INFO):
        failed, after = bot_env.run(scenario())
    assert [m.plain for m in failed] == [texts.ERROR]
    assert "Đầm Hà" in after[0].plain  # the bot goes on
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and "index exploded" in caplog.text and "Traceback" in caplog.text
    assert api.token not in caplog.text
