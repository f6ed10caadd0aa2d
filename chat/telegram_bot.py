"""Telegram front end: thin handlers over ChatService, wired by build_application().

Handlers only talk to the chat; searching and storing live in service.py, every
text in render/, the buttons in callbacks.py, all shared with the other front
ends.  Each handler gets a BotContext (PTB's ContextTypes), whose `state` is what
they share.  Blocking work (search, SQLite, index builds) runs in worker threads
so many chats are served at once.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import html
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from telegram import (
    BotCommand,
    InlineQueryResultArticle,
    InputTextMessageContent,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    Update,
)
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, NetworkError, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    ExtBot,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from retrieval.types import Hit

from . import callbacks, insights_bot, logsafe
from .admin import (
    LINK_ONLY,
    IndexWatcher,
    Reindexer,
    UploadRejected,
    check_upload,
    fetch_and_report,
    fetch_into_corpus,
    rebuild_and_report,
    reindex_and_report,
    save_upload,
)
from .polling import MalformedUpdates, tolerant_bot
from .render.cards import article_messages, inline_card, page_messages, passage_reply
from .render.markup import HTML
from .render.texts import (
    ADD_USAGE,
    ADMIN_ONLY,
    ARTICLE_GONE,
    ASK_USAGE,
    BUTTON_EXPIRED,
    BUTTON_NO_CHAT,
    COMMAND_MENU,
    ERROR,
    FEEDBACK_THANKS,
    MENTION_EMPTY,
    NEW_CONVERSATION,
    NO_TITLE,
    NOT_TEXT,
    RATE_LIMITED,
    STORE_UNAVAILABLE,
    UNKNOWN_COMMAND,
    UPLOAD_NOT_DOWNLOADED,
    UPLOAD_PRIVATE_ONLY,
    UPLOAD_SAVED,
    first_example,
    help_text,
    hint,
    latest_text,
    seconds_text,
    stats_text,
    topics_text,
)
from .service import INLINE_CACHE_SECONDS, ChatService, Page, Status
from .stores import OUTAGES, ChatStores, QuestionStore, RateLimiter, open_stores
from .textutil import cut_words, format_date

log = logging.getLogger(__name__)

STATE = "chat"  # key of BotState in application.bot_data
TYPING_AFTER = 0.5  # seconds of searching before the chat shows "typing…"
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "inline_query"]
COMMANDS = [BotCommand(command, description) for command, description in COMMAND_MENU]


@dataclass
class BotState:
    """What the handlers share; one per Application."""

    service: ChatService
    limiter: RateLimiter
    reindexer: Reindexer
    admins: frozenset[int]
    corpus_dir: Path
    reload_seconds: int
    watcher: IndexWatcher


def bot_state(application: Application) -> BotState:
    """The state build_application() left in `bot_data` (PTB's own dict, which the
    /thongke handlers share under their own key)."""
    return application.bot_data[STATE]


class BotContext(CallbackContext[ExtBot, dict, dict, dict]):
    """What every handler and job receives (PTB's ContextTypes): the update's context
    plus the bot's shared state, typed."""

    @property
    def state(self) -> BotState:
        return bot_state(self.application)

    @property
    def service(self) -> ChatService:
        """The chat logic every handler talks to."""
        return self.state.service

    def is_admin(self, update: Update) -> bool:
        """Whether the update comes from one of the [bot] admins."""
        user = update.effective_user
        return user is not None and user.id in self.state.admins


# ---------------------------------------------------------------- helpers (no Telegram I/O)

def file_url_for(base_url: str) -> str:
    """Bot API file URL matching a custom API URL: ".../bot" -> ".../file/bot".

    A self-hosted Bot API server serves downloads under /file/bot<token>/ on
    the same host, exactly as api.telegram.org does.
    """
    parts = urlsplit(base_url)
    path = parts.path
    at = path.rfind("/bot")
    path = f"{path[:at]}/file{path[at:]}" if at >= 0 else f"{path.rstrip('/')}/file/bot"
    return urlunsplit(parts._replace(path=path))


def entity_texts(message: Message, types: tuple[str, ...]) -> list[tuple[MessageEntity, str]]:
    """(entity, the text it covers) for the entities of these types in the message's text,
    or else its caption (a file's caption can mention the bot too).

    Telegram counts offsets in UTF-16 units.  python-telegram-bot's parse_entities
    encodes strictly and raises on a lone surrogate, which the Bot API's JSON can
    carry ("@bot \\ud800" crashed the group filter); "surrogatepass" counts it as the
    one unit it is.
    """
    text, entities = ((message.text, message.entities) if message.text is not None
                      else (message.caption or "", message.caption_entities))
    units = text.encode("utf-16-le", "surrogatepass")
    return [(e, units[2 * e.offset:2 * (e.offset + e.length)].decode("utf-16-le", "surrogatepass"))
            for e in entities if e.type in types]


def addressed_text(message: Message, bot_id: int, bot_username: str | None) -> str | None:
    """Text of a group message meant for the bot, mention removed; None if not for the bot."""
    text = message.text or message.caption or ""
    mention = f"@{bot_username}".lower() if bot_username else None
    mentioned = False
    for entity, value in entity_texts(message, ("mention", "text_mention")):
        if entity.type == "mention" and mention and value.lower() == mention:
            mentioned = True
        elif entity.type == "text_mention" and entity.user and entity.user.id == bot_id:
            mentioned = True
    reply = message.reply_to_message
    replied = bool(reply and reply.from_user and reply.from_user.id == bot_id)
    if not (mentioned or replied):
        return None
    return without_mention(text, bot_username)


def without_mention(text: str, bot_username: str | None) -> str:
    """The text minus "@botname": the bot's own name is not part of the question."""
    if bot_username:
        text = re.sub(re.escape(f"@{bot_username}") + r"\b", " ", text, flags=re.IGNORECASE)
    return " ".join(text.split())


class _AddressedToBot(filters.MessageFilter):
    """Group messages that mention the bot or reply to one of its messages."""

    def filter(self, message: Message) -> bool:
        bot = message.get_bot()
        return addressed_text(message, bot.id, bot.username) is not None


ADDRESSED_TO_BOT = _AddressedToBot(name="AddressedToBot")


async def _ack(query, text: str | None = None) -> None:
    """Stop the button's spinner.  A press delivered late (the bot was restarting) can be
    too old to acknowledge; the press itself must still be served."""
    with contextlib.suppress(BadRequest):
        await query.answer(text)


def in_a_chat(callback):
    """Every handler answers in a chat, but a press on a card posted through inline mode
    comes with none (only an inline_message_id): such a press gets a short note on the
    button for every kind of button, instead of failing on update.effective_chat."""

    @functools.wraps(callback)
    async def handler(update: Update, context: BotContext) -> None:
        if update.callback_query is not None and update.effective_chat is None:
            await _ack(update.callback_query, BUTTON_NO_CHAT)
            return
        await callback(update, context)

    return handler


def admins_only(callback):
    """A handler for the [bot] admins only: anyone else gets the polite refusal."""

    @functools.wraps(callback)
    async def handler(update: Update, context: BotContext) -> None:
        if not context.is_admin(update):
            await update.effective_message.reply_html(ADMIN_ONLY)
            return
        await callback(update, context)

    return handler


# ---------------------------------------------------------------- talking to the chat

async def _send_page(update: Update, context: BotContext, page: Page,
                     quote: bool = True) -> None:
    """Send a page's messages, the first quoting the question, the buttons under the last."""
    examples = None
    if page.status in (Status.NO_ANSWER, Status.EMPTY, Status.NOT_WORDS):
        examples = await asyncio.to_thread(context.service.examples, 1)
    messages = page_messages(HTML, page, examples, hint=hint(HTML, page))
    markup = callbacks.page_keyboard(page)
    for n, text in enumerate(messages):
        last = n == len(messages) - 1
        if n == 0 and quote and update.effective_message:
            await update.effective_message.reply_html(text, reply_markup=markup if last else None)
        else:
            await update.effective_chat.send_message(text, reply_markup=markup if last else None)


async def _answer(update: Update, context: BotContext, text: str | None) -> None:
    """Rate-limit, search off the event loop, reply with the first page."""
    state = context.state
    user = update.effective_user
    wait = await asyncio.to_thread(state.limiter.retry_after, user.id if user else None)
    if wait:
        await update.effective_message.reply_html(RATE_LIMITED.format(seconds=seconds_text(wait)))
        return
    search = asyncio.ensure_future(asyncio.to_thread(
        state.service.ask, text, update.effective_chat.id, user.id if user else None))
    # "typing…" only when the answer is slow (e.g. during a rebuild): chat actions count
    # against the same flood limit as answers, and a fast answer needs none.
    done, _ = await asyncio.wait({search}, timeout=TYPING_AFTER)
    if not done:
        await update.effective_chat.send_action(ChatAction.TYPING)
    await _send_page(update, context, await search)


async def _rebuild_and_report(update: Update, context: BotContext,
                              uploaded: Path | None = None) -> None:
    """Rebuild the index and tell the admin what changed (or why it failed, or why the
    uploaded file was dropped); the old index answers meanwhile."""
    await rebuild_and_report(context.state.reindexer, update.effective_chat.send_message, HTML,
                             uploaded)


# ---------------------------------------------------------------- command handlers

async def start(update: Update, context: BotContext) -> None:
    """/start: greet and explain what the bot knows and how to ask."""
    await help_command(update, context)


async def help_command(update: Update, context: BotContext) -> None:
    """/help: what the bot knows, how to ask, with example questions."""
    service = context.service
    stats, examples = await asyncio.gather(asyncio.to_thread(service.stats),
                                           asyncio.to_thread(service.examples, 3))
    await update.effective_message.reply_html(help_text(
        HTML, stats, examples, admin=context.is_admin(update), bot_username=context.bot.username))


async def stats(update: Update, context: BotContext) -> None:
    """/stats: size and date range of the data, time of the last index build."""
    data = await asyncio.to_thread(context.service.stats)
    await update.effective_message.reply_html(stats_text(HTML, data))


async def latest(update: Update, context: BotContext) -> None:
    """/latest: the newest articles, so people see what they can ask about."""
    articles = await asyncio.to_thread(context.service.latest, 5)
    await update.effective_message.reply_html(latest_text(HTML, articles))


async def new_conversation(update: Update, context: BotContext) -> None:
    """/new (/moi): forget the conversation, so the next question inherits nothing."""
    user = update.effective_user
    context.service.forget(update.effective_chat.id, user.id if user else None)
    await update.effective_message.reply_html(NEW_CONVERSATION)


async def topics(update: Update, context: BotContext) -> None:
    """/chude (/topics): organisations, places, years and newest articles, as buttons."""
    data = await asyncio.to_thread(context.service.topics)
    await update.effective_message.reply_html(topics_text(HTML, data),
                                              reply_markup=callbacks.topics_keyboard(data))


async def ask(update: Update, context: BotContext) -> None:
    """/ask <question>: how groups ask (works in private chats too)."""
    question = " ".join(context.args or [])
    if not question.strip():
        examples = await asyncio.to_thread(context.service.examples, 1)
        example = html.escape(first_example(examples))
        await update.effective_message.reply_html(ASK_USAGE.format(example=example))
        return
    await _answer(update, context, question)


@admins_only
async def reindex(update: Update, context: BotContext) -> None:
    """/reindex (admins): rebuild from the corpus folder while answering from the old index."""
    await reindex_and_report(context.state.reindexer, update.effective_message.reply_html, HTML)


async def unknown_command(update: Update, context: BotContext) -> None:
    """A command this bot does not have (private chats only; groups have other bots)."""
    await update.effective_message.reply_html(UNKNOWN_COMMAND)


async def _fetch_and_report(update: Update, context: BotContext,
                            urls: list[str]) -> None:
    """Fetch an admin's links into the corpus, say what was stored, index it if anything changed."""
    await fetch_and_report(context.state.reindexer, update.effective_message.reply_html, HTML,
                           urls)


@admins_only
async def add_link(update: Update, context: BotContext) -> None:
    """/add URL (admins): fetch the article page into the corpus and index it."""
    if not context.args:
        await update.effective_message.reply_html(ADD_USAGE)
        return
    await _fetch_and_report(update, context, list(context.args))


async def admin_link(update: Update, context: BotContext) -> None:
    """A bare link from an admin in a private chat: the same as /add."""
    await _fetch_and_report(update, context, [update.effective_message.text.strip()])


# ---------------------------------------------------------------- message handlers

async def private_question(update: Update, context: BotContext) -> None:
    """In a private chat every text message (edited ones too) is a question."""
    await _answer(update, context,
                  without_mention(update.effective_message.text, context.bot.username))


async def group_question(update: Update, context: BotContext) -> None:
    """In a group, a message that mentions the bot or replies to it is a question."""
    bot = context.bot
    question = addressed_text(update.effective_message, bot.id, bot.username)
    if not question:
        await update.effective_message.reply_html(MENTION_EMPTY)
        return
    await _answer(update, context, question)


async def not_text(update: Update, context: BotContext) -> None:
    """Stickers, photos, voice notes...: explain that only written questions work."""
    await update.effective_message.reply_html(NOT_TEXT)


@admins_only
async def document(update: Update, context: BotContext) -> None:
    """A file sent in a private chat: admins add it to the corpus, others are refused."""
    message = update.effective_message
    doc = message.document
    try:
        check_upload(doc.file_name, doc.file_size)
        data = await _download(doc)
        path = await asyncio.to_thread(save_upload, context.state.corpus_dir, doc.file_name,
                                       data)
    except UploadRejected as refusal:
        await message.reply_html(str(refusal))
        return
    await message.reply_html(UPLOAD_SAVED.format(name=html.escape(path.name)))
    await _rebuild_and_report(update, context, uploaded=path)


async def _download(doc) -> bytes:
    """The uploaded file's bytes.  Telegram can refuse it (getFile: "invalid file_id", a
    file it no longer keeps) or the download can fail even on a second try: the admin
    is asked to send it again, which gives the bot a fresh file_id."""
    try:
        return bytes(await (await doc.get_file()).download_as_bytearray())
    except TelegramError as error:
        log.warning("could not download an uploaded file: %s", error)
        raise UploadRejected(UPLOAD_NOT_DOWNLOADED) from error


async def group_document(update: Update, context: BotContext) -> None:
    """A file addressed to the bot in a group: uploads are accepted in private chats only."""
    await update.effective_message.reply_html(
        UPLOAD_PRIVATE_ONLY if context.is_admin(update) else ADMIN_ONLY)


# ---------------------------------------------------------------- buttons

async def more_button(update: Update, context: BotContext) -> None:
    """«Xem thêm»: the next page of passages for the stored question."""
    query = update.callback_query
    button = callbacks.parse(query.data)
    await _ack(query)
    if button is None:
        await update.effective_chat.send_message(BUTTON_EXPIRED)
        return
    page = await asyncio.to_thread(context.service.more, button.qid, button.number,
                                   update.effective_chat.id)
    await _send_page(update, context, page, quote=False)
    if page.status is Status.ANSWER and isinstance(query.message, Message):
        with contextlib.suppress(BadRequest):  # e.g. message too old to edit
            await query.edit_message_reply_markup(callbacks.without_more(query.message.reply_markup))


async def _card_lookup(update: Update, lookup):
    """Acknowledge a card's button and look up what it names, in this chat only
    (`lookup(qid, rank, chat_id)`); None when the button is unknown."""
    query = update.callback_query
    button = callbacks.parse(query.data)
    await _ack(query)
    if button is None:
        return None
    return await asyncio.to_thread(lookup, button.qid, button.number, update.effective_chat.id)


async def full_button(update: Update, context: BotContext) -> None:
    """«Toàn văn»: the whole article behind a passage, split across messages."""
    result = await _card_lookup(update, context.service.full_text)
    if result is None:
        texts = [BUTTON_EXPIRED]
    elif result.article is None:
        texts = [ARTICLE_GONE]
    else:
        texts = article_messages(HTML, result.article)
    for text in texts:
        await update.effective_chat.send_message(text)


async def passage_button(update: Update, context: BotContext) -> None:
    """«Cả đoạn»: the passage a card quoted, whole (and its article's close seconds)."""
    result = await _card_lookup(update, context.service.passages)
    await update.effective_chat.send_message(passage_reply(HTML, result))


async def feedback_button(update: Update, context: BotContext) -> None:
    """👍/👎: store the vote with the question and the passages it judged."""
    query = update.callback_query
    button = callbacks.parse(query.data)
    stored = False
    if button is not None:
        stored = await asyncio.to_thread(
            context.service.vote, button.qid, button.number,
            update.effective_user.id if update.effective_user else None, bool(button.good),
            update.effective_chat.id)
    await _ack(query, FEEDBACK_THANKS if stored else BUTTON_EXPIRED)


async def topic_button(update: Update, context: BotContext) -> None:
    """A /chude button: ask about that organisation, place, year or article."""
    query = update.callback_query
    picked = callbacks.parse_topic(query.data)
    await _ack(query)
    question = None
    if picked:
        question = await asyncio.to_thread(context.service.topic_question, *picked)
    if not question:
        await update.effective_chat.send_message(BUTTON_EXPIRED)
        return
    await _answer(update, context, question)


async def inline_query(update: Update, context: BotContext) -> None:
    """"@bot câu hỏi" in any chat: the top articles, each posting a cited card."""
    query = update.inline_query
    state = context.state
    if not query.query.strip():
        await query.answer([], cache_time=INLINE_CACHE_SECONDS)
        return
    if await asyncio.to_thread(state.limiter.retry_after, query.from_user.id):
        await query.answer([], cache_time=0, is_personal=True)
        return
    question, cards = await asyncio.to_thread(state.service.inline, query.query)
    await query.answer(inline_results(question, cards), cache_time=INLINE_CACHE_SECONDS)


def inline_results(question: str, cards: list[list[Hit]]) -> list[InlineQueryResultArticle]:
    """One result per article: headline and where/when to choose by, the card to post."""
    return [InlineQueryResultArticle(
        id=str(n), title=cut_words(card[0].title or NO_TITLE, 120),
        description=cut_words(" · ".join(x for x in (card[0].place, format_date(card[0].date),
                                                     card[0].text) if x), 200),
        input_message_content=InputTextMessageContent(inline_card(HTML, question, card)))
        for n, card in enumerate(cards)]


async def unknown_button(update: Update, context: BotContext) -> None:
    """A button this bot does not know (e.g. from an older version)."""
    await _ack(update.callback_query, BUTTON_EXPIRED)


# ---------------------------------------------------------------- background and errors

async def check_reload(context: BotContext) -> None:
    """Job: pick up an index rebuilt meanwhile by the command-line tool (never overlapping)."""
    context.state.watcher.tick()


async def _purge(application: Application, days: int) -> None:
    """Forget questions and votes older than `days` (at start, then daily)."""
    deleted = await asyncio.to_thread(bot_state(application).service.store.purge, days)
    if any(deleted.values()):
        log.info("deleted what was stored more than %s days ago: %s", days, deleted)


async def purge_feedback(context: BotContext) -> None:
    """Job (daily): forget questions and votes older than bot.feedback_days."""
    await _purge(context.application, context.job.data)


async def scheduled_fetch(context: BotContext) -> None:
    """Job: fetch the [fetch] feeds, sitemaps and pages; index what changed, keep serving."""
    state = context.state
    report = await fetch_into_corpus(state.reindexer.config, state.corpus_dir, state.reindexer.index_dir)
    log.info("scheduled fetch: %d fetched, %d unchanged, %d skipped, %d failed",
             len(report.fetched), len(report.unchanged), len(report.skipped), len(report.failed))
    for outcome in report.failed:
        log.warning("fetch failed: %s: %s", outcome.url, outcome.reason)
    if report.fetched:
        build = await state.reindexer.run(report.written(state.corpus_dir))
        log.info("index updated after fetching: %d added, %d changed", len(build.added),
                 len(build.changed))


async def on_error(update: object, context: BotContext) -> None:
    """Log the failure (logsafe redacts the token) and tell the user briefly."""
    error = context.error
    if isinstance(error, Forbidden):  # the user blocked the bot or left: nothing to tell them
        log.info("cannot write to the chat (%s); skipped", error)
        return
    if isinstance(error, Conflict):
        log.error("another instance of this bot is polling with the same token: %s", error)
        return
    if update is None and isinstance(error, NetworkError | MalformedUpdates):
        log.warning("problem while polling (retried with back-off): %s", error)
        return
    update_id = update.update_id if isinstance(update, Update) else None
    reply = ERROR
    if isinstance(error, OUTAGES):  # a database restart: not a bug, it passes
        log.warning("update %s: %s", update_id, error)
        reply = STORE_UNAVAILABLE
    elif isinstance(error, NetworkError) and not isinstance(error, BadRequest):
        # Already tried twice (polling.RetryingRequest): the network, not a bug.
        log.warning("update %s: the Bot API could not be reached (%s)", update_id, error)
    else:
        log.error("update %s failed", update_id, exc_info=error)
    if isinstance(update, Update) and update.effective_chat:
        with contextlib.suppress(TelegramError):
            await update.effective_chat.send_message(reply)


async def _post_init(application: Application) -> None:
    """Forget expired questions and votes, publish the command menu; a failure to
    publish must not stop the bot."""
    for job in application.job_queue.get_jobs_by_name("purge-feedback"):
        await _purge(application, job.data)
    try:
        await application.bot.set_my_commands(COMMANDS)
    except TelegramError as e:
        log.warning("could not set the command menu: %s", e)


async def _post_shutdown(application: Application) -> None:
    """Close the question store and the index once no handler can use them."""
    state = bot_state(application)
    await state.watcher.close()
    insights_bot.close(application)
    state.service.close()


# ---------------------------------------------------------------- wiring

def build_application(config, searcher, *, token: str, base_url: str | None = None,
                      base_file_url: str | None = None, store: QuestionStore | None = None,
                      build=None, corpus_dir: str | Path | None = None,
                      index_dir: str | Path | None = None,
                      stores: ChatStores | None = None) -> Application:
    """The complete bot, ready for run_polling/run_webhook (or start() in tests).

    `build` replaces the index build (a no-argument callable returning a
    BuildReport); tests use it to hold a rebuild open while asking questions.
    """
    logsafe.protect(token)  # before the first request can log a URL
    bot_cfg = config.bot
    corpus_dir = Path(corpus_dir or config.corpus_dir)
    index_dir = Path(index_dir or config.index_dir)
    stores = stores or open_stores(config, store)  # memory, or PostgreSQL ([index] backend)
    service = ChatService(searcher, stores.questions, bot_cfg.answers_per_page, stores.memory)

    bot = tolerant_bot(  # skips updates PTB cannot parse instead of re-fetching them forever
        token, base_url=base_url,
        base_file_url=base_file_url or (file_url_for(base_url) if base_url else None),
        rate_limiter=AIORateLimiter(max_retries=3),
        # A question deleted while it was searched: the answer goes out unquoted
        # instead of failing with "Message to be replied not found".
        defaults=Defaults(parse_mode=ParseMode.HTML, allow_sending_without_reply=True,
                          link_preview_options=LinkPreviewOptions(is_disabled=True)))
    application = (
        ApplicationBuilder()
        .bot(bot)
        .context_types(ContextTypes(context=BotContext))
        .concurrent_updates(True)  # a slow search in one chat must not hold up the others
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
        .build()
    )
    application.bot_data[STATE] = BotState(
        service=service,
        limiter=stores.limiter,
        reindexer=Reindexer(searcher, corpus_dir, index_dir, config, build=build),
        admins=frozenset(int(a) for a in bot_cfg.admins),
        corpus_dir=corpus_dir,
        reload_seconds=int(bot_cfg.reload_seconds),
        watcher=IndexWatcher(searcher),
    )

    private, groups = filters.ChatType.PRIVATE, filters.ChatType.GROUPS
    # A GIF comes as both animation and document: it is not a file upload.
    files = filters.Document.ALL & ~filters.ANIMATION
    handlers = [
        CommandHandler("start", start),
        CommandHandler("help", help_command),
        CommandHandler("stats", stats),
        CommandHandler("latest", latest),
        CommandHandler("ask", ask),
        CommandHandler(["new", "moi"], new_conversation),
        CommandHandler(["chude", "topics"], topics),
        CommandHandler("reindex", reindex),
        CommandHandler("add", add_link),
        insights_bot.command(),  # /thongke
        MessageHandler(private & filters.COMMAND, unknown_command),
        MessageHandler(private & filters.User(user_id=bot_cfg.admins, allow_empty=False)
                       & filters.Regex(LINK_ONLY), admin_link),
        MessageHandler(private & filters.TEXT, private_question),
        MessageHandler(groups & filters.TEXT & ADDRESSED_TO_BOT, group_question),
        MessageHandler(private & files, document),
        MessageHandler(groups & files & ADDRESSED_TO_BOT, group_document),
        MessageHandler(groups & filters.CAPTION & ADDRESSED_TO_BOT, not_text),
        MessageHandler(private & ~filters.StatusUpdate.ALL, not_text),
        CallbackQueryHandler(more_button, pattern=callbacks.MORE_PATTERN),
        CallbackQueryHandler(full_button, pattern=callbacks.FULL_PATTERN),
        CallbackQueryHandler(passage_button, pattern=callbacks.PASSAGE_PATTERN),
        CallbackQueryHandler(feedback_button, pattern=callbacks.FEEDBACK_PATTERN),
        CallbackQueryHandler(topic_button, pattern=callbacks.TOPIC_PATTERN),
        InlineQueryHandler(inline_query),
        CallbackQueryHandler(unknown_button),
    ]
    for handler in handlers:
        handler.callback = in_a_chat(handler.callback)
    application.add_handlers(handlers)
    insights_bot.register(application, config, service, index_dir)  # /thongke, weekly report
    application.add_error_handler(on_error)
    if bot_cfg.reload_seconds > 0:
        application.job_queue.run_repeating(check_reload, interval=bot_cfg.reload_seconds,
                                            first=bot_cfg.reload_seconds, name="reload-index")
    fetch_cfg = config.fetch
    if fetch_cfg.interval_minutes > 0 and (fetch_cfg.feeds or fetch_cfg.sitemaps or fetch_cfg.pages):
        application.job_queue.run_repeating(scheduled_fetch, interval=fetch_cfg.interval_minutes * 60,
                                            first=10, name="fetch-portals")
    if bot_cfg.feedback_days > 0:
        # Daily; _post_init runs the first purge at start.
        application.job_queue.run_repeating(purge_feedback, interval=86_400, first=86_400,
                                            data=bot_cfg.feedback_days, name="purge-feedback")
    return application
