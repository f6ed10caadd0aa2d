"""What the Zalo bot answers to one update: plain-text replies over the shared ChatService.

Zalo documents no buttons, so paging and full text are text commands, the
console's in spirit and Vietnamese first: «xem thêm» (/more), «đoạn N»
(/doan N), «toàn văn N» (/full N), /new, /chude, /help; typed with or without
diacritics.  The line that says how to use them comes once per conversation.

Messages are plain text within 2,000 characters (render.markup.ZALO), packed
at card boundaries.

Ids are strings on Zalo; the service, the rate limit and the feedback store
see them as "zalo:<id>", so they never meet a Telegram id of the same digits.
"""
from __future__ import annotations

import asyncio
import html
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from retrieval.textnorm import fold

from ..admin import LINK_ONLY, Reindexer, fetch_and_report, reindex_and_report
from ..feedback import ChatPage
from ..insights import PERIODS
from ..render.cards import article_messages, page_messages, passage_reply
from ..render.markup import ZALO, chunk_text, pack
from ..render.texts import (
    ADD_USAGE,
    ADMIN_ONLY,
    ARTICLE_GONE,
    ERROR,
    FULL_WHAT,
    NEW_CONVERSATION,
    NO_MORE,
    NO_SUCH,
    NOT_TEXT,
    PASSAGE_WHAT,
    RATE_LIMITED,
    STORE_UNAVAILABLE,
    UNKNOWN_COMMAND,
    ZALO_ADMIN_COMMANDS,
    ZALO_ASK_FIRST,
    ZALO_COMMANDS,
    ZALO_HOW_TO,
    ZALO_IN_GROUP,
    ZALO_NEED_NUMBER,
    ZALO_THONGKE_PRIVATE,
    help_intro,
    latest_text,
    seconds_text,
    stats_text,
    thongke_usage,
    topics_text,
)
from ..service import ChatService, Page, Status
from ..stores import OUTAGES, RateLimiter
from ..textutil import utf16_len

log = logging.getLogger(__name__)

TEXT_EVENT = "message.text.received"
CONVERSATION_SECONDS = 24 * 3600  # how long a typed «xem thêm» continues the last answer

# Folded (no diacritics, lower case) command words -> command.
_COMMANDS = {
    "/more": "more", "xem them": "more", "/xemthem": "more", "them": "more",
    "/full": "full", "toan van": "full", "/toanvan": "full",
    "/doan": "doan", "/passage": "doan", "doan": "doan", "ca doan": "doan",
    "/new": "new", "/moi": "new",
    "/chude": "topics", "/topics": "topics",
    "/help": "help", "/start": "help", "/huongdan": "help",
    "/stats": "stats", "/latest": "latest", "/thongke": "thongke",
    "/reindex": "reindex", "/add": "add",
    "/ask": "ask",
}
_NUMBERED = {"full", "doan"}


def parse_command(text: str) -> tuple[str | None, str]:
    """(command, argument) of a message, or (None, text) for a question.  «toàn văn 2»,
    «toan van 2», «/full 2» are one command; «đoạn 2» needs its number (a question may
    start with «đoạn», so it takes only a number or nothing)."""
    folded = " ".join(fold(text).lower().split())
    for words in (2, 1):
        head = " ".join(folded.split(" ")[:words])
        command = _COMMANDS.get(head)
        if command is None:
            continue
        rest = " ".join(text.split()[words:])
        if not head.startswith("/") and command in _NUMBERED and rest and not rest.isdigit():
            continue  # «đoạn đường ...» is a question; «đoạn» alone asks which one
        if not head.startswith("/") and command not in _NUMBERED and rest:
            continue  # «xem thêm về Hội Nông dân» is a question
        return command, rest
    if folded.startswith("/"):
        return "unknown", text
    return None, text


def plain(text: str) -> str:
    """A reply written for Telegram's HTML as plain text: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def fit(text: str, limit: int = ZALO.limit) -> list[str]:
    """A long plain text (a rebuild report, /thongke) as messages within Zalo's limit,
    cut between paragraphs, else between lines, else between words."""
    blocks: list[str] = []
    for paragraph in text.split("\n\n"):
        if utf16_len(paragraph) <= limit:
            blocks.append(paragraph)
            continue
        lines: list[str] = []
        for line in paragraph.split("\n"):
            lines += chunk_text(ZALO, line, limit) if utf16_len(line) > limit else [line]
        blocks += pack(lines, limit, sep="\n")
    return pack(blocks, limit)


@dataclass
class Incoming:
    """The parts of a Zalo update the bot uses."""

    event: str
    chat_id: str
    user_id: str
    group: bool
    text: str | None


def read_update(update: dict) -> Incoming | None:
    """The update's chat, sender and text; None when it has no chat to answer (logged by
    the caller).  Raises on a shape that is not a Zalo update."""
    message = update.get("message") or {}
    chat = message.get("chat") or {}
    sender = message.get("from") or {}
    chat_id = chat.get("id")
    if chat_id is None or chat_id == "":
        return None
    text = message.get("text")
    return Incoming(event=str(update.get("event_name") or ""), chat_id=str(chat_id),
                    user_id=str(sender.get("id") or chat_id),
                    group=str(chat.get("chat_type") or "").upper() == "GROUP",
                    text=text if isinstance(text, str) else None)


def addressed(text: str, names: list[str]) -> str | None:
    """A group message meant for the bot, with the mention removed; None if not for it.
    Zalo documents no mention entities, so a message is for the bot when it contains
    "@<bot name>" (display or account name from getMe) or starts with a slash command."""
    stripped = text.strip()
    if stripped.startswith("/"):
        return stripped
    low = stripped.lower()
    for name in names:
        mention = f"@{name}".lower()
        at = low.find(mention)
        if name and at >= 0:
            return " ".join((stripped[:at] + stripped[at + len(mention):]).split())
    return None


class ZaloChat:
    """Answers Zalo messages with the shared ChatService.  Each chat's last page is kept
    in the question store (chat/stores.py), so with PostgreSQL any replica pages on
    from an answer another one gave."""

    def __init__(self, service: ChatService, limiter: RateLimiter,
                 admins: list[str] | None = None, bot_names: list[str] | None = None,
                 report: Callable[[int], str] | None = None, reindexer: Reindexer | None = None):
        self.service = service
        self.reindexer = reindexer  # /reindex and /add for the admins (None: not offered)
        # Set by the bot: sends texts to a chat now; runs a task that shutdown waits for.
        self.deliver: Callable[[str, list[str]], Awaitable[None]] | None = None
        self.background: Callable[[Awaitable], None] | None = None
        self.report = report  # days -> the admins' report as plain text (/thongke)
        self.limiter = limiter
        self.admins = {str(a) for a in admins or []}
        self.bot_names = [n for n in bot_names or [] if n]

    async def answer(self, msg: Incoming) -> list[str]:
        if msg.text is None or (msg.event and msg.event != TEXT_EVENT):
            # Images, stickers, "unsupported" and unknown events: a polite line, in
            # private chats only (a group sends many photos not meant for us).
            return [] if msg.group else [NOT_TEXT]
        text = msg.text
        if msg.group:
            text = addressed(text, self.bot_names)
            if text is None:
                return []
        command, arg = parse_command(text)
        if msg.group and command == "unknown":
            return []  # another bot's command, most likely
        if (command is None and not msg.group and msg.user_id in self.admins
                and LINK_ONLY.match(text)):
            command, arg = "add", text.strip()  # an admin's bare link: the same as /add
        chat, user = f"zalo:{msg.chat_id}", f"zalo:{msg.user_id}"
        try:
            if command in (None, "ask", "more", "full", "doan"):
                wait = await asyncio.to_thread(self.limiter.retry_after, user)  # may be PostgreSQL
                if wait:
                    return [RATE_LIMITED.format(seconds=seconds_text(wait))]
            if command == "thongke":
                return await self._thongke(arg, msg)
            if command in ("reindex", "add"):
                return self._admin(command, arg, msg)
            return await self._command(command, arg, chat, user, msg.group)
        except OUTAGES as e:  # a database restart: it passes, no bug to log
            log.warning("the Zalo handler could not reach the store: %s", e)
            return [STORE_UNAVAILABLE]
        except Exception:
            log.exception("the Zalo handler failed on a %s message", command or "question")
            return [ERROR]

    async def _command(self, command: str | None, arg: str, chat: str, user: str,
                       group: bool) -> list[str]:
        service = self.service
        if command == "help":
            return [self._help(group, user)]
        if command == "new":
            service.forget(chat, user)
            await asyncio.to_thread(service.store.forget_page, chat)
            return [NEW_CONVERSATION]
        if command == "topics":
            return [topics_text(ZALO, await asyncio.to_thread(service.topics))]
        if command == "stats":
            return [stats_text(ZALO, await asyncio.to_thread(service.stats))]
        if command == "latest":
            return [latest_text(ZALO, await asyncio.to_thread(service.latest, 5))]
        if command == "more":
            return await self._more(chat)
        if command in ("full", "doan"):
            return await self._numbered(command, arg, chat)
        if command == "unknown":
            return [UNKNOWN_COMMAND]
        page = await asyncio.to_thread(service.ask, arg, chat, user)
        return await self._show(page, chat)

    async def _thongke(self, arg: str, msg: Incoming) -> list[str]:
        """/thongke [7|30], for the [zalo] admins, in a private chat: it quotes questions."""
        if msg.user_id not in self.admins or self.report is None:
            return [ADMIN_ONLY]
        if msg.group:
            return [ZALO_THONGKE_PRIVATE]
        days = arg.strip() or str(PERIODS[0])
        if days not in {str(p) for p in PERIODS}:
            return [thongke_usage(ZALO)]
        return fit(await asyncio.to_thread(self.report, int(days)))

    def _admin(self, command: str, arg: str, msg: Incoming) -> list[str]:
        """/reindex and /add URL for the [zalo] admins, through the admin flows Telegram
        uses; they run in the background (the chat keeps getting answers meanwhile) and
        report to the admin's chat as they go."""
        if msg.user_id not in self.admins or self.reindexer is None or self.background is None:
            return [ADMIN_ONLY]
        urls = arg.split()
        if command == "add" and not urls:
            return [plain(ADD_USAGE)]
        self.background(self._admin_flow(command, urls, msg.chat_id))
        return []

    async def _admin_flow(self, command: str, urls: list[str], chat_id: str) -> None:
        async def say(text: str) -> None:
            await self.deliver(chat_id, fit(text))

        try:
            if command == "add":
                await fetch_and_report(self.reindexer, say, ZALO, urls)
            else:
                await reindex_and_report(self.reindexer, say, ZALO)
        except OUTAGES as e:  # a database restart during the flow: the admin tries again
            log.warning("the Zalo /%s could not reach the store: %s", command, e)
            await say(STORE_UNAVAILABLE)
        except Exception:
            log.exception("the Zalo /%s failed", command)
            await say(ERROR)

    def _help(self, group: bool, user: str = "") -> str:
        stats, examples = self.service.stats(), self.service.examples(3)
        parts = [help_intro(ZALO, stats, examples).rstrip(), ZALO_COMMANDS]
        if user.removeprefix("zalo:") in self.admins:
            parts.append(ZALO_ADMIN_COMMANDS)
        if group or self.bot_names:
            parts.append(ZALO_IN_GROUP.format(name=self.bot_names[0] if self.bot_names else "tên bot"))
        return "\n\n".join(parts)

    async def _show(self, page: Page, chat: str) -> list[str]:
        examples = None
        if page.status in (Status.NO_ANSWER, Status.EMPTY, Status.NOT_WORDS):
            examples = await asyncio.to_thread(self.service.examples, 1)
        how_to = ""
        if page.status is Status.ANSWER and not await asyncio.to_thread(self._keep, chat, page):
            how_to = ZALO_HOW_TO  # the chat's first answer (in a day): how to page on
        return page_messages(ZALO, page, examples, hint=how_to)

    def _keep(self, chat: str, page: Page) -> bool:
        """Keep the chat's last answered page; True when the chat had one (or began a new
        conversation since), so it was shown how to page."""
        store = self.service.store
        told = store.chat_page(chat, CONVERSATION_SECONDS) is not None
        store.keep_page(chat, ChatPage(page.qid, page.offset + len(page.hits), page.has_more))
        return told

    async def _last(self, chat: str) -> ChatPage | None:
        """The chat's last answered page, whichever replica answered it; None after /new."""
        last = await asyncio.to_thread(self.service.store.chat_page, chat, CONVERSATION_SECONDS)
        return last if last is not None and last.question_id is not None else None

    async def _more(self, chat: str) -> list[str]:
        last = await self._last(chat)
        if last is None or not last.has_more:
            return [NO_MORE]
        page = await asyncio.to_thread(self.service.more, last.question_id, last.next_offset, chat)
        return await self._show(page, chat)

    async def _numbered(self, command: str, arg: str, chat: str) -> list[str]:
        """«toàn văn N» / «đoạn N»: the article or the passages of card N of the last answer."""
        word, what = ("toàn văn", FULL_WHAT) if command == "full" else ("đoạn", PASSAGE_WHAT)
        last = await self._last(chat)
        if last is None:
            return [ZALO_ASK_FIRST.format(command=word, what=what)]
        if not arg.strip().isdigit():
            return [ZALO_NEED_NUMBER.format(command=word)]
        rank = int(arg) - 1
        lookup = self.service.full_text if command == "full" else self.service.passages
        result = await asyncio.to_thread(lookup, last.question_id, rank, chat)
        if result is None:
            return [NO_SUCH.format(n=arg.strip())]
        if command == "doan":
            return [passage_reply(ZALO, result)]
        if result.article is None:
            return [ARTICLE_GONE]
        return article_messages(ZALO, result.article)
