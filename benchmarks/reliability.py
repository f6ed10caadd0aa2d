#!/usr/bin/env python
"""Reliability of the Telegram bot under hostile traffic, against the fake Bot API.

Runs the real bot (python-telegram-bot Application with its HTTP layer) over a
temporary copy of corpus/ and its index, and lets 50 chats talk to it at once,
each like a person: send an update, wait for the bot's reply (or its button
acknowledgement), send the next.  The updates are hostile: HTML/Markdown
markup, emoji only, right-to-left text with direction overrides, 10,000
characters, lone surrogates and control characters, stickers/photos/voice/
locations/polls, edited messages, forged callback data, group traffic (quiet
messages, mentions, replies, /ask, other bots' commands, member updates,
channel posts), and uploads from admins and non-admins (huge, binary, wrong
type), and polls of an older Bot API shape, which python-telegram-bot 22.8
cannot parse.  Half-way through, one more unparseable update is queued, then
a probe question from a fresh chat (after a control probe without poison).

After its 20 updates each chat sends --hostile-per-chat more (issue 23), drawn
from a second random stream so the first 20 stay the same: presses on cards
posted through inline mode (no chat), questions deleted before the answer,
lone surrogates in group mentions, files whose caption mentions the bot in a
group, GIFs, admin uploads Telegram will not hand over, and sends whose
connection drops once ("network") or twice in a row ("outage": the apology is
then the right answer).  --hostile-per-chat 0 is the mix before issue 23.

Printed figures (goals in brackets):
  handler exceptions [0]    records of on_error plus any ERROR/CRITICAL record
  unanswered [0]            updates that expected a reply/acknowledgement and got none
  log bytes per update      INFO-level log output (RepeatFilter on) / updates sent
  user text in the log [0]  log lines above DEBUG holding a marker planted in user text
  non-admin disk writes [0] corpus files created by non-admins; getFile calls for their files
  probe after poison        seconds from queuing the poison update to the probe's answer [< 5]
  generic-error replies [0] the "Xin lỗi, đã có lỗi" reply, outside the injected outages
  tracebacks [0]            log records carrying a traceback
  per kind                  updates of each issue-23 kind that got what they should: the
                            answer (it repeats the question's marker, or, opening with
                            what the archive lacks, came before the next update and is not
                            the apology), or the reply the case calls for (the apology, for
                            an outage)

--dump FILE writes every chat's replies (digits masked) as JSON; --compare FILE says
which chats got other replies than in that dump, in any order: other text, and
another kind of reply (first lines; which passages fill an answer's later cards
differs between two runs of the same code).  Run both with the same options
(--hostile-per-chat 0: the mix before issue 23) on the code before and after a
change: the cases that passed before must get the same kinds of reply.

    python -m benchmarks.reliability                   # 50 chats x 20 updates (+ probe, poison)
    python -m benchmarks.reliability --chats 10 --per-chat 10 --seed 2
    python -m benchmarks.reliability --dump after.json --compare before.json
    python -m benchmarks.reliability --replicas 2     # two bots behind one webhook (issue 17)

--replicas N (issue 17) runs N bot Applications, each with its own webhook server and
searcher over the same index folder, behind a round-robin proxy (tests/round_robin.py)
that the fake Bot API delivers every update to, secret token included; conversation
context, rate limits and the question store live in PostgreSQL (a throwaway server from
`python -m retrieval postgres`'s, or a new database on the server in $CONGTAC_PG_DSN).  Each private
chat (the admin's aside) then also runs one chain after its mix: a question, two
follow-ups, «Xem thêm» and 👍 on the first answer; a chain is intact when both
follow-ups were understood from the first question ("Hiểu là: ..."), the next page came
and the vote was thanked.  Printed: chains intact, and how many crossed replicas.

Before/after: copy this file and hostile_mix.py (the traffic it shares with
zalo_reliability.py) into benchmarks/ of a checkout of older code and run it there (it
imports the bot from the checkout it sits in).
"""
from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import random
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from chat import logsafe
from chat.config import ChatConfig
from chat.feedback import FeedbackStore
from chat.render import texts
from chat.telegram_bot import ALLOWED_UPDATES, build_application
from tests.fake_bot_api import FakeBotAPI
from tests.round_robin import RoundRobin, free_port

from .hostile_mix import PRIVATE_KINDS, QUESTIONS, hostile_texts, new_marker

ROOT = Path(__file__).resolve().parent.parent

ADMIN = 777000
GROUP_BASE = -1009000000000
# Replies of issue 23, absent from older code (which then fails those cases).
NO_CHAT = getattr(texts, "BUTTON_NO_CHAT", "(no such reply before issue 23)")
NOT_DOWNLOADED = getattr(texts, "UPLOAD_NOT_DOWNLOADED", "(no such reply before issue 23)")
MEDIA = [
    {"sticker": {"file_id": "s1", "file_unique_id": "su1", "type": "regular", "width": 512,
                 "height": 512, "is_animated": False, "is_video": False, "emoji": "😀"}},
    {"photo": [{"file_id": "p1", "file_unique_id": "pu1", "width": 90, "height": 90}]},
    {"voice": {"file_id": "v1", "file_unique_id": "vu1", "duration": 3}},
    {"location": {"latitude": 21.0, "longitude": 105.8}},
    {"contact": {"phone_number": "+84000000000", "first_name": "Khe Vang"}},
    {"poll": {"id": "ok1", "question": "Họp lúc mấy giờ?", "options": [
        {"text": "8 giờ", "voter_count": 0, "persistent_id": "o1"},
        {"text": "9 giờ", "voter_count": 0, "persistent_id": "o2"}],
        "total_voter_count": 0, "is_closed": False, "is_anonymous": True, "type": "regular",
        "allows_multiple_answers": False, "allows_revoting": False,
        "members_only": False}},
]


class CountingAPI(FakeBotAPI):
    """The fake server plus O(1) counters the 50 chat tasks can poll cheaply."""

    def __init__(self):
        super().__init__()
        self.per_chat: dict[int, int] = {}
        self.acked: dict[str, str | None] = {}  # callback query id -> the text it showed

    def _send_message(self, p: dict) -> dict:
        message = super()._send_message(p)
        chat = message["chat"]["id"]
        self.per_chat[chat] = self.per_chat.get(chat, 0) + 1
        return message

    def _dispatch(self, method: str, p: dict):
        result = super()._dispatch(method, p)
        if method == "answerCallbackQuery":
            self.acked[str(p.get("callback_query_id"))] = p.get("text")
        return result


@dataclass
class Tally:
    sent: int = 0
    unanswered: list = field(default_factory=list)
    quiet_ids: dict = field(default_factory=dict)  # chat -> message ids that need no reply
    non_admin_files: set = field(default_factory=set)  # file ids sent by non-admins
    non_admin_markers: set = field(default_factory=set)  # words in their file names
    markers: list = field(default_factory=list)
    unparseable: int = 0  # old-shape polls sent besides the one poison update
    hostile: list = field(default_factory=list)  # (chat, kind, want, callback id, window)
    chains: list = field(default_factory=list)  # (chat, intact, update ids of its turns)


def marker(rng: random.Random, tally: Tally) -> str:
    """A word planted in user text; it must never show in the log above DEBUG."""
    word = new_marker(rng)
    tally.markers.append(word)
    return word


def private_step(api, rng, tally, chat: int, n: int, admin: bool):
    """One hostile update of a private chat: (update JSON, what it expects)."""
    m = marker(rng, tally)
    user = ADMIN if admin else chat
    q = rng.choice(QUESTIONS)
    kind = rng.choice(PRIVATE_KINDS)
    text = hostile_texts(rng, q, m).get(kind)
    if kind == "old_poll":  # a poll as older Bot APIs sent it: PTB 22.8 cannot parse it
        tally.unparseable += 1
        return api.message_update(None, chat_id=chat, user_id=user, poll={
            "id": m, "question": f"{q} {m}", "options": [{"text": m, "voter_count": 0}],
            "total_voter_count": 0, "is_closed": False, "is_anonymous": True,
            "type": "regular", "allows_multiple_answers": False}), "none", kind
    if kind == "media":
        return api.message_update(None, chat_id=chat, user_id=user, caption=m,
                                  **rng.choice(MEDIA)), "reply", kind
    if kind in ("upload", "huge", "binary"):
        file_id = f"doc-{chat}-{n}"
        if kind == "huge":
            data, size = b"x", 200 * 1024 * 1024  # declared size: refused before download
        elif kind == "binary":
            data = bytes(rng.randrange(256) for _ in range(4096))
            size = len(data)
        else:
            data = f"Tiêu đề {m}\n\nNội dung thử nghiệm {m}.".encode()
            size = len(data)
        api.files[file_id] = data
        name = rng.choice([f"bai-{m}.txt", f"../../{m}.md", f"{m}.exe", "bao cao.HTML"])
        if not admin:
            tally.non_admin_files.add(file_id)
            tally.non_admin_markers.add(m.lower())
        return api.message_update(None, chat_id=chat, user_id=user, document={
            "file_id": file_id, "file_unique_id": f"u{file_id}", "file_name": name,
            "mime_type": "application/octet-stream", "file_size": size}), "reply", kind
    if kind == "button":
        data = rng.choice(["more:999999:3", "full:1:0", "fb:1:0:1", "more:x:y", "", "zz" * 40,
                           f"fb:{rng.randrange(10**6)}:0:0", f"lạ:{m}", "more:-1:-1"])
        anchor = {"message_id": 1, "date": int(time.time()), "chat": api._chat(chat),
                  "from": api.bot_user, "text": "câu trả lời cũ"}
        return {"callback_query": {"id": f"cb-{chat}-{n}", "from": api.user(user),
                                   "chat_instance": "ci", "data": data, "message": anchor}}, \
            "ack", kind
    return api.message_update(text, chat_id=chat, user_id=user,
                              edited=kind == "edited"), "reply", kind


def group_step(api, rng, tally, chat: int, n: int):
    """One update of a group: most need no reply; mentions, /ask and replies to the bot do."""
    m = marker(rng, tally)
    q = rng.choice(QUESTIONS)
    user = 5000 + rng.randrange(100)
    kind = rng.choice(["quiet", "quiet", "other_bot", "edited", "member", "channel",
                       "mention", "ask", "reply"])
    if kind in ("quiet", "other_bot", "edited"):
        text = {"quiet": f"Chào cả nhà {m}, họp lúc mấy giờ?", "other_bot": f"/stats@bot_khac {m}",
                "edited": f"sửa lại {m}"}[kind]
        update = api.message_update(text, chat_id=chat, user_id=user, edited=kind == "edited")
        key = "edited_message" if kind == "edited" else "message"
        tally.quiet_ids.setdefault(chat, set()).add(update[key]["message_id"])
        return update, "none", kind
    if kind == "member":
        return {"my_chat_member": {
            "chat": api._chat(chat), "from": api.user(user), "date": int(time.time()),
            "old_chat_member": {"status": "left", "user": api.bot_user},
            "new_chat_member": {"status": "member", "user": api.bot_user}}}, "none", kind
    if kind == "channel":
        return {"channel_post": {"message_id": 5, "date": int(time.time()), "text": m,
                                 "chat": {"id": chat - 1, "type": "channel", "title": "Kênh"}}}, \
            "none", kind
    if kind == "mention":
        handle = f"@{api.bot_user['username']}"
        text = f"{handle} {q} {m}"
        return api.message_update(text, chat_id=chat, user_id=user, entities=[
            {"type": "mention", "offset": 0, "length": len(handle)}]), "reply", kind
    if kind == "ask":
        return api.message_update(f"/ask {q} {m}", chat_id=chat, user_id=user), "reply", kind
    bot_message = {"message_id": 3, "date": int(time.time()), "chat": api._chat(chat),
                   "from": api.bot_user, "text": "câu trả lời trước"}
    return api.message_update(f"{q} {m}", chat_id=chat, user_id=user,
                              reply_to=bot_message), "reply", kind


def hostile_step(api, rng, tally, chat: int, admin: bool, group: bool):
    """One update of the failure paths of issue 23: (update, expects, kind, setup, want).
    setup() runs just before the update is queued (a drop must hit this update's reply);
    `want` is what the chat (or, for a press, its acknowledgement) must then show: the
    marker a question's answer repeats, or the fixed reply the case calls for."""
    m = marker(rng, tally)
    q = rng.choice(QUESTIONS)
    handle = f"@{api.bot_user['username']}"
    user = 5000 + rng.randrange(100) if group else (ADMIN if admin else chat)
    kinds = (["surrogate_mention", "deleted_mention", "deleted_ask", "caption_file",
              "group_network"] if group else
             ["inline_press", "network", "outage", "animation"]
             + (["bad_file", "lost_download"] if admin else []))
    kind = rng.choice(kinds)

    def drop(key, times):
        return lambda: api.drops.__setitem__(key, times)

    if kind == "inline_press":
        data = rng.choice(["more:1:3", "full:1:0", "doan:1:0", "fb:1:0:1", "tp:y:2024", f"lạ:{m}"])
        return {"callback_query": {"id": f"inl-{chat}-{m}", "from": api.user(user),
                                   "chat_instance": "ci", "data": data,
                                   "inline_message_id": f"inl{m}"}}, \
            "ack", kind, None, NO_CHAT
    if kind in ("network", "outage"):
        update = api.message_update(f"{q} {m}", chat_id=chat, user_id=user)
        return update, "reply", kind, drop(("sendMessage", chat), 1 if kind == "network" else 2), \
            m if kind == "network" else texts.ERROR
    if kind == "animation":
        return api.animation_update(chat_id=chat, user_id=user), "reply", kind, None, \
            texts.NOT_TEXT
    if kind in ("bad_file", "lost_download"):
        update = api.document_update(f"bai-{m}.txt", f"Tiêu đề {m}\n\nNội dung.".encode(),
                                     chat_id=chat, user_id=user, fetchable=kind == "lost_download")
        return update, "reply", kind, drop("download", 2) if kind == "lost_download" else None, \
            NOT_DOWNLOADED
    if kind == "surrogate_mention":
        text, want = rng.choice([(f"{handle} \ud800", "chưa nhập câu hỏi"),
                                 (f"{handle} {q} \udfff{m}", m), (f"\ud83d {handle} {q} {m}", m),
                                 (f"{m}\udc00 {handle}\ud800 {q}", m)])
        return api.message_update(text, chat_id=chat, user_id=user,
                                  entities=[api.mention_entity(text)]), "reply", kind, None, want
    if kind == "caption_file":
        caption = f"{handle} thêm bài {m}"
        update = api.document_update(f"{m}.txt", b"x", chat_id=chat, user_id=user, caption=caption,
                                     caption_entities=[api.mention_entity(caption)])
        return update, "reply", kind, None, texts.ADMIN_ONLY
    if kind == "deleted_ask":
        update = api.message_update(f"/ask {q} {m}", chat_id=chat, user_id=user)
    else:
        text = f"{handle} {q} {m}"
        update = api.message_update(text, chat_id=chat, user_id=user,
                                    entities=[api.mention_entity(text)])
    if kind != "group_network":
        api.deleted.add((chat, update["message"]["message_id"]))
        return update, "reply", kind, None, m
    return update, "reply", kind, drop(("sendMessage", chat), 1), m


async def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def quiet(api: CountingAPI, chat: int, seconds: float, busy=lambda: False) -> None:
    """Wait until the bot has sent nothing to the chat for `seconds` (and is not busy)."""
    count = -1
    while count != api.per_chat.get(chat, 0) or busy():
        count = api.per_chat.get(chat, 0)
        await asyncio.sleep(seconds)


async def converse(api: CountingAPI, steps, chat: int, tally: Tally, settle: float,
                   hostile_settle: float, building=lambda: False) -> None:
    """One chat: send each update, wait for what it expects, then go on."""
    for update, expect, kind, *hostile in steps:
        window: list[str] = []  # what came back before the next update (hostile steps)
        if hostile:
            # The rate limiter spaces a group's messages seconds apart, and an admin's
            # index report comes when the build ends: an earlier reply must not land in
            # this step's window, nor take its drop.
            await quiet(api, chat, hostile_settle, building)
            settle = hostile_settle
            setup, want = hostile
            if setup:
                setup()
            tally.hostile.append((chat, kind, want, update.get("callback_query", {}).get("id"),
                                  window))
        before = api.per_chat.get(chat, 0)
        update_id = api.push(update)
        tally.sent += 1
        if expect == "none":
            continue
        if expect == "ack":
            query_id = update["callback_query"]["id"]
            ok = await wait_until(lambda q=query_id: q in api.acked, 60)
        else:
            ok = await wait_until(lambda b=before: api.per_chat.get(chat, 0) > b, 90)
        if not ok:  # the person gives up; a reply coming later is counted as late
            tally.unanswered.append((chat, update_id, kind, api.per_chat.get(chat, 0)))
            return
        # Let the rest of a multi-message answer arrive before the next question.
        await quiet(api, chat, settle)
        window += [s.plain for s in api.sent_to(chat)[before:]]


CHAIN = (f"{QUESTIONS[0]} huyện Đầm Hà", "còn năm 2022 thì sao?", "ai chủ trì?")
UNDERSTOOD = "Hiểu là: MTTQ huyện Đầm Hà, năm 2022"


async def chain_turn(api: CountingAPI, chat: int, tally: Tally, send, settle: float):
    """(the reply's messages, update id) of one turn; a rate-limit notice is waited out
    and the turn sent again, as a person would."""
    for _ in range(20):
        before = len(api.sent_to(chat))
        update_id = send()
        tally.sent += 1
        if not await wait_until(lambda b=before: len(api.sent_to(chat)) > b, 90):
            return [], update_id
        await quiet(api, chat, settle)
        reply = api.sent_to(chat)[before:]
        if not any("hỏi hơi nhanh" in m.plain for m in reply):
            return reply, update_id
        await asyncio.sleep(5)
    return reply, update_id


async def chain(api: CountingAPI, chat: int, tally: Tally, settle: float) -> None:
    """A question, two follow-ups, «Xem thêm» and 👍 under the first answer (--replicas)."""
    replies, ids = [], []
    for text in CHAIN:
        reply, update_id = await chain_turn(
            api, chat, tally, lambda t=text: api.message(t, chat_id=chat), settle)
        replies.append(reply)
        ids.append(update_id)
    answer = next((m for m in reversed(replies[0]) if m.button("➕ Xem thêm")), None)
    more = vote = None
    if answer is not None:
        more, update_id = await chain_turn(
            api, chat, tally, lambda: press(api, answer, answer.button("➕ Xem thêm"), f"m{chat}"),
            settle)
        ids.append(update_id)
        ids.append(press(api, answer, answer.button("👍"), f"v{chat}"))
        tally.sent += 1
        await wait_until(lambda: f"v{chat}" in api.acked, 60)
        vote = api.acked.get(f"v{chat}")
    intact = (all(r and UNDERSTOOD in r[0].plain for r in replies[1:])
              and bool(more) and any("Kết quả 4" in m.plain for m in more)
              and vote == texts.FEEDBACK_THANKS)
    tally.chains.append((chat, intact, ids))


def press(api: CountingAPI, sent, data: str, query_id: str) -> int:
    """A press on a button under the bot's message, with a callback id we know."""
    return api.push({"callback_query": {"id": query_id, "from": api.user(sent.chat_id),
                                        "chat_instance": "ci", "data": data, "message": sent.raw}})


def poison_update(api) -> dict:
    return api.message_update("QZXPOISON", chat_id=424242,
                              poll={"id": "bad", "question": "QZXPOISON", "options": []})


async def run(config: ChatConfig, searcher, args, db: Path, corpus: Path, log_stream) -> dict:
    rng = random.Random(args.seed)
    tally = Tally()
    api = CountingAPI().start()
    apps, proxy = await start_bots(config, searcher, args, api, db, corpus)
    corpus_before = {p.relative_to(corpus) for p in corpus.rglob("*")}
    api.message(QUESTIONS[0], chat_id=1)  # warm-up: loads the embedding model
    await wait_until(lambda: api.per_chat.get(1, 0) > 0, 120)
    groups = max(1, args.chats // 5)
    scripts = {}
    for c in range(args.chats):
        if c < groups:
            chat = GROUP_BASE - c
            scripts[chat] = [group_step(api, rng, tally, chat, n) for n in range(args.per_chat)]
        else:
            chat = 20_000 + c
            admin = c == groups  # one private chat belongs to an admin
            scripts[chat] = [private_step(api, rng, tally, chat, n, admin)
                             for n in range(args.per_chat)]
    hostile = random.Random(args.seed + 1)  # its own stream: the steps above stay the same
    for c, (chat, steps) in enumerate(scripts.items()):
        steps += [hostile_step(api, hostile, tally, chat, c == groups, c < groups)
                  for _ in range(args.hostile_per_chat)]
    t0 = time.monotonic()
    def building() -> bool:
        states = [app.bot_data.get("chat") for app in apps]
        return any(state and state.reindexer.busy for state in states)

    chained = ({chat for c, chat in enumerate(scripts) if c > groups} if args.replicas > 1
               else set())

    async def talk(chat, steps):
        await converse(api, steps, chat, tally, args.settle, args.hostile_settle, building)
        if chat in chained:
            await chain(api, chat, tally, args.settle)

    tasks = [asyncio.create_task(talk(chat, steps)) for chat, steps in scripts.items()]
    # The poison update once about half of the updates are out, then a probe question.
    total = sum(len(s) for s in scripts.values())
    await wait_until(lambda: tally.sent >= total // 2 or all(t.done() for t in tasks), 600)
    # A control probe first: how long an answer takes under this load without poison.
    control_at = time.monotonic()
    api.message(QUESTIONS[0], chat_id=31336)
    control_ok = await wait_until(lambda: api.per_chat.get(31336, 0) > 0, 30)
    control_delay = time.monotonic() - control_at if control_ok else None
    poisoned_at = time.monotonic()
    poison_id = api.push(poison_update(api))
    api.message(QUESTIONS[0], chat_id=31337)
    probe_ok = await wait_until(lambda: api.per_chat.get(31337, 0) > 0, 30)
    probe_delay = time.monotonic() - poisoned_at if probe_ok else None
    await asyncio.gather(*tasks)
    wall = time.monotonic() - t0
    await asyncio.sleep(1.0)  # late replies to quiet group messages would show now
    stop0 = time.monotonic()
    shutdown_error = None
    for app in apps:
        try:
            await app.updater.stop()
        except Exception as e:  # code before issue 12: the last getUpdates re-parses the poison
            shutdown_error = f"{type(e).__name__}: {str(e)[:120]}"
        await app.stop()
        await app.shutdown()
    if proxy:
        proxy.stop()
    stop_seconds = time.monotonic() - stop0
    api.stop()

    new_files = {p.relative_to(corpus) for p in corpus.rglob("*")} - corpus_before
    fetched = {c.params.get("file_id") for c in api.calls_to("getFile")}
    quiet_replies = [s for s in api.sent
                     if s.reply_to is not None and s.reply_to in tally.quiet_ids.get(s.chat_id, ())]
    late = [u for u in tally.unanswered if api.per_chat.get(u[0], 0) > u[3]]
    return {"tally": tally, "api": api, "wall": wall, "probe_delay": probe_delay,
            "control_delay": control_delay, "late": late,
            "poison_id": poison_id, "stop_seconds": stop_seconds,
            "shutdown_error": shutdown_error, "new_files": new_files, "proxy": proxy,
            "non_admin_fetched": fetched & tally.non_admin_files, "quiet_replies": quiet_replies,
            # + warm-up, control, poison, probe, and the chains' turns (--replicas)
            "total": total + 4 + sum(len(ids) for _, _, ids in tally.chains)}


async def start_bots(config, searcher, args, api, db: Path, corpus: Path):
    """([Application], None) polling, as the bot runs by default; or, with --replicas N,
    N Applications on webhooks behind a round-robin proxy, state in PostgreSQL."""
    if args.replicas <= 1:
        app = build_application(config, searcher, token=api.token, base_url=api.base_url,
                                store=FeedbackStore(db), corpus_dir=corpus,
                                index_dir=config.index_dir)
        await app.initialize()
        await app.post_init(app)
        await app.start()
        await app.updater.start_polling(poll_interval=0.0, timeout=10,
                                        allowed_updates=ALLOWED_UPDATES)
        return [app], None
    from retrieval.search import Searcher

    ports = [free_port() for _ in range(args.replicas)]
    proxy = RoundRobin([f"http://127.0.0.1:{p}" for p in ports]).start()
    apps = []
    for n, port in enumerate(ports):  # each replica its own searcher (one model in memory)
        own = searcher if n == 0 else Searcher.open(config.index_dir, config,
                                                    embedder=searcher.embedder)
        app = build_application(config, own, token=api.token, base_url=api.base_url,
                                corpus_dir=corpus, index_dir=config.index_dir)
        await app.initialize()
        await app.post_init(app)
        await app.start()
        await app.updater.start_webhook(listen="127.0.0.1", port=port, url_path="hook",
                                        webhook_url=f"{proxy.url}/hook",
                                        secret_token="reliability-secret",
                                        allowed_updates=ALLOWED_UPDATES)
        apps.append(app)
    return apps, proxy


class Records(logging.Handler):
    """Counts what the log would hold; keeps the first lines of each kind to look at.

    Counting rather than keeping everything: on code without the fix (module docstring)
    a poison update makes PTB log the whole batch in a hot loop."""

    KEEP = 2000

    def __init__(self, handlers: str = "chat.telegram_bot"):
        super().__init__()
        self.handlers = handlers  # the logger (prefix) whose "failed" records are handler failures
        self.count = self.bytes = self.leaked = self.error_count = self.tracebacks = 0
        self.errors: list[str] = []
        self.failures = self.skipped = 0
        self.skipped_lines: list[str] = []

    def emit(self, record):
        text = self.format(record)
        self.count += 1
        self.bytes += len(text.encode("utf-8", "replace")) + 1
        self.leaked += "QZX" in text  # every planted marker starts so
        self.tracebacks += bool(record.exc_info) or "Traceback" in text
        if record.levelno >= logging.ERROR:
            self.error_count += 1
            if len(self.errors) < self.KEEP:
                self.errors.append(text[:300])
        if record.name.startswith(self.handlers) and "failed" in text:
            self.failures += 1
        if "skipped update" in text:
            self.skipped += 1
            if len(self.skipped_lines) < self.KEEP:
                self.skipped_lines.append(text)


def mix_options(parser: argparse.ArgumentParser) -> None:
    """The options of both reliability benchmarks (this one and zalo_reliability.py)."""
    parser.add_argument("--corpus", default=str(ROOT / "corpus"))
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--per-chat", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--questions-per-minute", type=int, default=30)
    parser.add_argument("--settle", type=float, default=0.3,
                        help="quiet seconds that end a multi-message reply")


def temporary_index(source: str, tmp: Path, questions_per_minute: int):
    """A copy of `source` in tmp (admins may add to it and rebuild) and its fresh index:
    the config and the searcher."""
    from retrieval.index import build_index
    from retrieval.search import Searcher

    corpus = tmp / "corpus"
    shutil.copytree(source, corpus)
    config = ChatConfig(corpus_dir=str(corpus), index_dir=str(tmp / "index"))
    config.bot.questions_per_minute = questions_per_minute
    config.bot.reload_seconds = 5
    print(f"building a temporary index of {source} …", file=sys.stderr)
    build_index(config.corpus_dir, config.index_dir, config, progress=False)
    return config, Searcher.open(config.index_dir, config)


def capture_log(records: Records, log_file: str | None = None) -> None:
    """Send the log at INFO to `records` (and `log_file`) as bot.py's handler would get it,
    RepeatFilter included; remove with logging.getLogger().removeHandler(records)."""
    records.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if hasattr(logsafe, "RepeatFilter"):  # absent in code before issue 12
        records.addFilter(logsafe.RepeatFilter(60))
    root = logging.getLogger()
    root.addHandler(records)
    if log_file:  # the whole log at INFO, to read what the figures count
        to_file = logging.FileHandler(log_file, mode="w", encoding="utf-8")
        to_file.setFormatter(records.formatter)
        root.addHandler(to_file)
    root.setLevel(logging.INFO)
    for name in ("httpx", "httpcore", "faiss.loader", "apscheduler"):
        logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mix_options(parser)
    parser.add_argument("--hostile-per-chat", type=int, default=4,
                        help="updates of issue 23's failure paths after each chat's others")
    parser.add_argument("--hostile-settle", type=float, default=3.5,
                        help="quiet seconds around each of those (a group's messages can "
                             "be 3 s apart)")
    parser.add_argument("--replicas", type=int, default=1,
                        help="bots behind one webhook, state in PostgreSQL (1: polling, as before)")
    parser.add_argument("--log", help="also write the log (INFO and above) to this file")
    parser.add_argument("--dump", help="write what each update got back to this JSON file")
    parser.add_argument("--compare", help="a --dump of an earlier run to compare replies with")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="bot-reliability-"))
    server = None
    try:
        config, searcher = temporary_index(args.corpus, tmp, args.questions_per_minute)
        config.bot.admins = [ADMIN]
        server = shared_state(config, tmp) if args.replicas > 1 else None
        records = Records()
        capture_log(records, args.log)
        logsafe.protect(None)
        result = asyncio.run(run(config, searcher, args, tmp / "feedback.sqlite",
                                 Path(config.corpus_dir), io.StringIO()))
        logging.getLogger().removeHandler(records)
    finally:
        if server is not None:
            server.stop()
            shutil.rmtree(server.folder, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)

    tally, api = result["tally"], result["api"]
    skipped = [t for t in records.skipped_lines if f"skipped update {result['poison_id']}" in t]
    rate_limited = sum(1 for s in api.sent if "hỏi hơi nhanh" in s.plain)
    bad_requests = [e for e in api.errors
                    if e[1] == 400 and e[0] not in ("answerCallbackQuery", "getFile")]
    print(f"updates sent: {result['total']} ({tally.sent} from {args.chats} concurrent chats, "
          f"{args.chats // 5 or 1} of them groups) in {result['wall']:.1f} s; "
          f"bot messages: {len(api.sent)}, of them rate-limit notices: {rate_limited}")
    print(f"handler exceptions: {records.failures} "
          f"(ERROR/CRITICAL records: {records.error_count})")
    print(f"unanswered within 90 s: {len(tally.unanswered)} (chat, update, kind): "
          f"{[u[:3] for u in tally.unanswered[:12]]}; the chat stops there")
    print(f"replies to group messages not meant for the bot: {len(result['quiet_replies'])}")
    print(f"log: {records.count} records, {records.bytes} bytes, "
          f"{records.bytes / result['total']:.1f} bytes per update")
    print(f"user text in the log above DEBUG: {records.leaked} lines")
    by_others = [p for p in result["new_files"]
                 if any(m in str(p).lower() for m in tally.non_admin_markers)]
    print(f"non-admin disk writes: {len(by_others)} corpus files from non-admin uploads, "
          f"{len(result['non_admin_fetched'])} of their files downloaded; new corpus "
          f"paths (admin uploads): {sorted(map(str, result['new_files']))}")
    def seconds(value):
        return f"{value:.2f} s" if value is not None else "NOT within 30 s"

    print(f"  of them answered later, after the 90 s wait: {len(result['late'])}")
    print(f"probe answered after the poison update: {seconds(result['probe_delay'])} "
          f"(control probe just before it, no poison: {seconds(result['control_delay'])}); "
          f"poison logged {len(skipped)} time(s)")
    print(f"unparseable updates: {tally.unparseable + 1} sent (the poison and old-shape polls), "
          f"{records.skipped} skipped-update log lines")
    print(f"Bot API 400s (not counting stale button acks and getFile of lost files): "
          f"{len(bad_requests)} {bad_requests[:3]}")
    print(f"shutdown in {result['stop_seconds']:.2f} s: "
          + (f"FAILED, {result['shutdown_error']}" if result["shutdown_error"] else "clean"))
    report_failure_paths(tally, api, records, args)
    if result["proxy"] is not None:
        report_replicas(tally, result["proxy"], api, args.replicas)
    for text in records.errors[:3]:
        print("  " + text[:300])
    return 0


def shared_state(config: ChatConfig, tmp: Path):
    """--replicas: the bots' state in PostgreSQL; a throwaway server (returned, to be
    removed), or a new database on the server $CONGTAC_PG_DSN names (None returned)."""
    import os

    from retrieval.postgres.server import LocalServer, create_database

    config.index.backend = "postgres"
    server, dsn = None, os.environ.get(config.index.dsn_env)
    if not dsn:
        server = LocalServer(tempfile.mkdtemp(prefix="pgchat_reliability_", dir="/tmp"))
        dsn = server.start()
    os.environ[config.index.dsn_env] = create_database(dsn, f"reliability_{int(time.time())}")
    return server


def report_replicas(tally: Tally, proxy, api, replicas: int) -> None:
    """Which replica took what, webhook deliveries, and the follow-up chains."""
    taken = Counter(proxy.routed.values())
    failed = [s for s in api.deliveries.values() if s != 200]
    crossed = [c for c in tally.chains if len({proxy.routed.get(u) for u in c[2]}) > 1]
    intact = [c for c in tally.chains if c[1]]
    print(f"replicas: {replicas}, updates taken by each: "
          f"{[taken[n] for n in range(replicas)]}; webhook deliveries not answered 200: "
          f"{len(failed)} {Counter(failed).most_common(3)}")
    print(f"follow-up chains intact: {len(intact)}/{len(tally.chains)} (question, 2 follow-ups, "
          f"«Xem thêm», 👍); chains whose turns crossed replicas: {len(crossed)}; broken: "
          f"{[c[0] for c in tally.chains if not c[1]][:6]}")


def masked(text: str) -> str:
    """A reply with digits masked: times, counts and ids differ between runs, the text not."""
    return re.sub(r"\d", "0", text)


def answered(window: list[str]) -> bool:
    """An answer came before the chat's next update, neither the apology nor a rate-limit
    notice: an answer that opens with what the archive lacks ("⚠️ Chưa có bài về …")
    does not repeat the question, so its marker cannot show."""
    return bool(window) and not any(texts.ERROR in t or "hỏi hơi nhanh" in t for t in window)


def report_failure_paths(tally: Tally, api, records: Records, args) -> None:
    """Generic-error replies, tracebacks, issue 23's kinds; the dump and the comparison."""
    by_chat: dict[int, list[str]] = {}  # not `texts`: that name is the replies module
    for sent in api.sent:
        by_chat.setdefault(sent.chat_id, []).append(sent.plain)
    outages = Counter(chat for chat, kind, *_ in tally.hostile if kind == "outage")
    errors = Counter(chat for chat, chat_texts in by_chat.items() for t in chat_texts
                     if texts.ERROR in t)
    beyond = {chat: n - outages[chat] for chat, n in errors.items() if n > outages[chat]}
    print(f"generic-error replies: {sum(beyond.values())} outside injected outages "
          f"(chats {sorted(beyond)[:6]}), {sum(errors.values()) - sum(beyond.values())} "
          f"for {sum(outages.values())} outages; tracebacks in the log: {records.tracebacks}")
    ok: dict[str, list[int]] = {}
    misses = []
    for chat, kind, want, press, window in tally.hostile:
        if press is not None:
            good = api.acked.get(press) == want
        elif want.startswith("QZX"):  # a question's marker: its answer repeats it, whenever
            good = any(want in t for t in by_chat.get(chat, [])) or answered(window)
        else:  # a fixed reply: before the chat's next update
            good = any(want in t for t in window)
        ok.setdefault(kind, [0, 0])[good] += 1
        if not good:
            misses.append((chat, kind, [t[:60] for t in window][:2]))
    if ok:
        print("issue 23 kinds that got what they should: " + ", ".join(
            f"{kind} {good}/{bad + good}" for kind, (bad, good) in sorted(ok.items()))
              + (f"; missed (chat, kind, what came back): {misses[:4]}" if misses else ""))
    replies = {str(chat): sorted(masked(t) for t in chat_texts) for chat, chat_texts in by_chat.items()}
    if args.dump:
        Path(args.dump).write_text(json.dumps(replies, ensure_ascii=False, indent=0))
    if args.compare:
        compare(replies, json.loads(Path(args.compare).read_text()), args.compare)


def first_lines(texts: list[str]) -> Counter:
    """The replies as kinds: each message's first line, an answer's later parts dropped.
    Which passages fill a card can differ between two runs of the same code (scores
    within float noise of the cut-offs); which reply each update got may not."""
    return Counter(t.split("\n", 1)[0] for t in texts if not re.match(r"0+\. ", t))


def compare(replies: dict, earlier: dict, name: str) -> None:
    """Chats whose replies differ from an earlier run's: exactly, and in kind."""
    chats = sorted(replies.keys() | earlier.keys())
    exact = [c for c in chats if Counter(replies.get(c, [])) != Counter(earlier.get(c, []))]
    kinds = []
    for chat in chats:
        before, now = first_lines(earlier.get(chat, [])), first_lines(replies.get(chat, []))
        if before != now:
            kinds.append((chat, [t[:80] for t in before - now][:2], [t[:80] for t in now - before][:2]))
    print(f"compared with {name}: of {len(chats)} chats, {len(exact)} got other text, "
          f"{len(kinds)} another kind of reply (first lines, answers' later parts aside)"
          + "".join(f"\n  chat {c}: before {b}, now {n}" for c, b, n in kinds[:5]))


if __name__ == "__main__":
    sys.exit(main())
