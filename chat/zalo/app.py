"""The Zalo bot process: long polling getUpdates (or a webhook), one task per update,
replies in order.

Polling is the default: at start the bot deletes a webhook left set (getUpdates
does not work while one is), as python-telegram-bot does.  In webhook mode it
listens (chat/zalo/webhook.py) and then calls setWebhook with the URL and secret.

Zalo's getUpdates has no offset: the server hands each update out once, a
single one or a list in `result`; an empty result or a 408 means nothing new.
Network errors and 5xx back off (1, 2, 4 ... 30 s) and are logged once per
outage; an update that cannot be read is skipped and logged once.  Updates
of one chat are answered in the order they came (a lock per chat); different
chats are answered concurrently, since the search runs in a worker thread.
"""
from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

from .. import logsafe
from ..admin import IndexWatcher, Reindexer
from ..insights import build_report, chat_summary
from ..network import RETRY_PAUSE
from ..render.markup import ZALO
from ..render.texts import ERROR
from ..service import ChatService
from ..stores import ChatStores, QuestionStore, open_stores
from .client import ZaloClient, ZaloError, ZaloNetworkError, base_url_from_env
from .handlers import ZaloChat, read_update
from .webhook import WebhookSettings, start_server

log = logging.getLogger(__name__)

POLL_SECONDS = 30
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0
CHAT_LOCKS = 10_000


class ZaloBot:
    """Polls one Zalo bot (or takes its webhook's POSTs) and answers through a ZaloChat
    until `stop()`."""

    def __init__(self, client: ZaloClient, chat: ZaloChat, poll_seconds: int = POLL_SECONDS,
                 backoff: tuple[float, float] = (BACKOFF_FIRST, BACKOFF_MAX),
                 reload_seconds: float = 0, webhook: WebhookSettings | None = None):
        self.client = client
        self.reload_seconds = reload_seconds  # pick up an index rebuilt by the CLI or Telegram
        self.webhook = webhook  # None: long polling
        self.webhook_port: int | None = None  # where the webhook server listens, once started
        self._server = None
        self.chat = chat
        chat.deliver, chat.background = self._deliver, self._track
        self.poll_seconds = poll_seconds
        self.backoff_first, self.backoff_max = backoff
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self._locks: OrderedDict[str, asyncio.Lock] = OrderedDict()
        self.handled = 0  # updates fully answered (benchmarks and tests read it)

    async def start(self) -> dict:
        """Check the token (getMe), learn the names a group mention may use; then listen
        and register the webhook, or delete a webhook that would stop polling."""
        me = await self.client.get_me()
        names = [str(me.get(k) or "") for k in ("account_name", "display_name")]
        self.chat.bot_names = [n for n in names if n] or self.chat.bot_names
        if self.webhook:
            logsafe.protect(self.webhook.secret)
            self._server, self.webhook_port = start_server(self.webhook, self._accept)
            try:
                await self.client.set_webhook(self.webhook.url, self.webhook.secret)
            except BaseException:
                self._server.stop()
                raise
            log.info("Zalo bot %s started (webhook %s, listening on %s:%s)",
                     self.chat.bot_names[:1] or "?", self.webhook.url, self.webhook.listen,
                     self.webhook_port)
            return me
        try:
            await self.client.delete_webhook()
        except (ZaloError, ZaloNetworkError) as e:  # polling then tells what is wrong
            log.warning("deleteWebhook failed: %s", e)
        log.info("Zalo bot %s started (long polling)", self.chat.bot_names[:1] or "?")
        return me

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Poll (or serve the webhook) until stop(); then wait for the answers under way and
        close the client."""
        delay = 0.0
        watcher = IndexWatcher(self.chat.service.searcher) if self.reload_seconds else None
        if watcher:
            self._track(self._watch(watcher))
        try:
            if self._server is not None:
                await self._stopping.wait()
            while not self._stopping.is_set():
                updates, delay = await self._poll(delay)
                for update in updates:
                    self._spawn(update)
        finally:
            self._stopping.set()
            if self._server is not None:  # no new updates; the ones taken are answered below
                self._server.stop()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            if watcher:
                await watcher.close()
            await self.client.close()

    async def _watch(self, watcher: IndexWatcher) -> None:
        """Check for a newer index every reload_seconds, as the Telegram bot does."""
        while not await self._sleep(self.reload_seconds):
            watcher.tick()

    async def _poll(self, delay: float) -> tuple[list[dict], float]:
        """One getUpdates (cancelled by stop()); the next back-off delay."""
        if delay:
            if await self._sleep(delay):
                return [], delay
        poll = asyncio.ensure_future(self.client.get_updates(self.poll_seconds))
        stopping = asyncio.ensure_future(self._stopping.wait())
        done, _ = await asyncio.wait({poll, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if poll not in done:
            poll.cancel()
            await asyncio.gather(poll, return_exceptions=True)
            return [], 0.0
        stopping.cancel()
        try:
            updates = poll.result()
        except (ZaloNetworkError, ZaloError) as e:
            if isinstance(e, ZaloError) and not e.server_side:
                log.error("getUpdates refused: %s (check the token and webhook: polling "
                          "does not work while a webhook is set)", e)
            else:
                log.warning("getUpdates failed: %s; retrying with back-off", e)
            return [], min(self.backoff_max, max(self.backoff_first, delay * 2))
        if delay:
            log.info("getUpdates works again")
        return updates, 0.0

    async def _sleep(self, seconds: float) -> bool:
        """Wait `seconds`; True when stop() came first."""
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
            return True
        except TimeoutError:
            return False

    def _spawn(self, update) -> None:
        self._track(self._handle(update))

    def _accept(self, update) -> bool:
        """A webhook's update: answered, unless shutdown began (Zalo then sends it again)."""
        if self._stopping.is_set():
            return False
        self._spawn(update)
        return True

    def _track(self, coro) -> None:
        """Run `coro` as a task that shutdown waits for; a failure is logged, not lost."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a Zalo update failed", exc_info=task.exception())

    def _lock(self, chat_id: str) -> asyncio.Lock:
        lock = self._locks.pop(chat_id, None) or asyncio.Lock()
        self._locks[chat_id] = lock
        while len(self._locks) > CHAT_LOCKS:
            self._locks.popitem(last=False)
        return lock

    async def _handle(self, update) -> None:
        if not isinstance(update, dict):
            log.warning("skipped a Zalo update that is not a JSON object (%s)",
                        type(update).__name__)
            return
        try:
            incoming = read_update(update)
        except Exception as e:
            log.warning("skipped a Zalo update that could not be read (%s, event %r)",
                        type(e).__name__, str(update.get("event_name"))[:60])
            return
        if incoming is None:
            log.info("ignored a Zalo update without a chat (event %r)",
                     str(update.get("event_name"))[:60])
            return
        async with self._lock(incoming.chat_id):
            if not incoming.group and incoming.text:  # groups: only once we know it is for us
                self._track(self._typing(incoming.chat_id))
            await self._deliver(incoming.chat_id, await self.chat.answer(incoming))
            self.handled += 1

    async def _deliver(self, chat_id: str, texts: list[str]) -> None:
        """Send texts to a chat in order (admin reports arriving after the command); a
        text the network lost twice ends the reply with the apology (issue 23's rule)."""
        for text in texts:
            if not await self._send(chat_id, text):
                await self._send(chat_id, ERROR, quiet=True)
                return

    async def _typing(self, chat_id: str) -> None:
        try:
            await self.client.send_chat_action(chat_id)
        except (ZaloError, ZaloNetworkError) as e:
            log.debug("sendChatAction failed: %s", e)

    async def _send(self, chat_id: str, text: str, quiet: bool = False) -> bool:
        """sendMessage; once more when the connection was lost (chat/network.py: not after
        a timeout, which could post the answer twice).  False when the network lost it
        twice: logged once, without a traceback (`quiet`: at DEBUG, for the apology)."""
        first = None
        for attempt in (1, 2):
            try:
                await self.client.send_message(chat_id, text)
            except ZaloNetworkError as e:
                if e.lost and attempt == 1:
                    first = e
                    await asyncio.sleep(RETRY_PAUSE)
                    continue
                (log.debug if quiet else log.warning)("sendMessage lost: %s", e)
                return False
            except ZaloError as e:  # the server answered: sending again would not help
                log.warning("sendMessage refused: %s", e)
                return True
            if first is not None:
                log.info("sendMessage lost its connection (%s); the second try went through", first)
            return True
        return False


def build_zalo(config, searcher, token: str, base_url: str | None = None,
               store: QuestionStore | None = None, *, stores: ChatStores | None = None,
               service: ChatService | None = None, reindexer: Reindexer | None = None,
               webhook: WebhookSettings | None = None,
               reload_seconds: float | None = None) -> ZaloBot:
    """The Zalo bot over `searcher` with the [bot] answer settings and the [zalo] admins.
    A process that also serves Telegram passes that bot's `stores`, `service` and
    `reindexer`, so both answer from one index, one set of stores (follow-ups, limits,
    questions; PostgreSQL's when [index] backend says so) and one build at a time."""
    bot_cfg = config.bot
    stores = stores or open_stores(config, store)  # memory, PostgreSQL when [index] backend says so
    service = service or ChatService(searcher, stores.questions, bot_cfg.answers_per_page,
                                     stores.memory)
    zalo_cfg = config.zalo
    chat = ZaloChat(service, stores.limiter,
                    admins=list(zalo_cfg.admins),
                    report=lambda days: report_text(config, service, days),
                    reindexer=reindexer or Reindexer(searcher, config.corpus_dir,
                                                     config.index_dir, config))
    client = ZaloClient(token, base_url or base_url_from_env(zalo_cfg.base_url_env))
    return ZaloBot(client, chat, webhook=webhook,
                   reload_seconds=bot_cfg.reload_seconds if reload_seconds is None
                   else reload_seconds)


def report_text(config, service: ChatService, days: int) -> str:
    """/thongke as plain text: the report's chat summary in Zalo's markup (blocking)."""
    report = build_report(service.store.reader(), getattr(service.searcher, "reader", None),
                          config.fetch.state_path(config.index_dir), days=days,
                          retention_days=config.bot.feedback_days, tz=config.insights.timezone)
    return chat_summary(report, ZALO)


def stop_on_signals(stop) -> None:
    """SIGINT and SIGTERM call `stop` (a clean shutdown) instead of killing the process."""
    import signal

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop)
        except (NotImplementedError, RuntimeError):  # not on this platform / thread
            pass


async def serve(bot: ZaloBot) -> None:
    """bot.py's Zalo process: start, answer until SIGINT/SIGTERM, stop cleanly."""
    await bot.start()
    stop_on_signals(bot.stop)
    try:
        await bot.run()
    finally:
        await asyncio.to_thread(bot.chat.service.close)
