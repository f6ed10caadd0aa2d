"""A Bot that survives an update python-telegram-bot cannot parse ("poison update").

Why: `Bot.get_updates` parses the whole batch with `Update.de_list`.  One
update of a shape PTB does not accept (say a poll without fields PTB
requires) makes the whole call fail; the Updater then logs the batch,
other users' messages included, at CRITICAL, never confirms the offset,
and fetches the same batch again at once, forever: nobody gets an answer.

`TolerantBot` parses each update of a getUpdates answer on its own first.
One that fails is replaced by a bare `{"update_id": N}`, which PTB parses
into an empty Update that no handler matches, so the Updater still confirms
the offset past it and the rest of the batch is answered.  It is logged once
with its id, its kind and the error's type, never its content (content is
logged at DEBUG only).  Anything else wrong with an answer (not a list, an
update without an id) becomes a `TelegramError`, for which PTB's polling
loop waits 1 s, then up to 30 s, instead of retrying in a hot loop.

Webhook mode (issue 17's replicas) had the same hole: PTB's webhook handler logs
an update it cannot parse at CRITICAL with its content and answers 400, which
Telegram retries.  `tolerate_webhook_poison` makes it take the same bare update
(logged once, without content) and answer 200.
"""
from __future__ import annotations

import asyncio
import logging

from telegram import Update
from telegram.error import NetworkError, TelegramError
from telegram.ext import ExtBot
from telegram.ext._utils import webhookhandler
from telegram.request import HTTPXRequest

from .network import RETRY_PAUSE, lost_connection

log = logging.getLogger(__name__)


def endpoint(url: str) -> str:
    """The method name of a Bot API URL ("sendMessage"), or "download" for a file URL;
    never the token the URL carries."""
    return "download" if "/file/bot" in url else url.rsplit("/", 1)[-1]


class RetryingRequest(HTTPXRequest):
    """HTTPXRequest that sends a request once more when its connection was lost
    (chat/network.py's rule), whatever the method (sendMessage, answerCallbackQuery,
    getFile, a file download); when the second try fails too, the error handler logs
    it once, without a traceback, and apologises."""

    __slots__ = ()

    async def do_request(self, url: str, method: str, request_data=None, *args, **kwargs):
        try:
            return await super().do_request(url, method, request_data, *args, **kwargs)
        except NetworkError as error:
            if not lost_connection(error.__cause__):
                raise
            await asyncio.sleep(RETRY_PAUSE)
            result = await super().do_request(url, method, request_data, *args, **kwargs)
            log.info("%s lost its connection (%s); the second try went through",
                     endpoint(url), error)
            return result


class MalformedUpdates(TelegramError):
    """A getUpdates answer that no update can be taken from (retried with back-off)."""


def skip_unparseable(result: object, bot) -> list[dict]:
    """The raw updates of a getUpdates answer, each one PTB cannot parse made bare."""
    if not isinstance(result, list):
        raise MalformedUpdates(f"getUpdates answered a {type(result).__name__}, not a list")
    kept = []
    for raw in result:
        update_id = raw.get("update_id") if isinstance(raw, dict) else None
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            raise MalformedUpdates("getUpdates answered an update without a numeric update_id")
        try:
            Update.de_json(raw, bot)
        except Exception as error:  # whatever PTB raises on a shape it does not know
            kinds = ",".join(sorted(k for k in raw if k != "update_id")) or "nothing"
            log.warning("skipped update %s (%s): python-telegram-bot cannot parse it (%s)",
                        update_id, kinds, type(error).__name__)
            log.debug("content of skipped update %s: %r", update_id, raw, exc_info=error)
            raw = {"update_id": update_id}
        kept.append(raw)
    return kept


class _TolerantUpdate(Update):
    """Update.de_json for PTB's webhook handler: an update it cannot parse becomes bare."""

    __slots__ = ()

    @classmethod
    def de_json(cls, data, bot=None):
        return Update.de_json(skip_unparseable([data], bot)[0], bot)


def tolerate_webhook_poison() -> None:
    """Make PTB's webhook handler skip (and confirm) updates it cannot parse.  It names
    `Update` as a module global (PTB 22); if a later version does not, nothing changes
    and tests/test_chat_postgres.py's poison check fails."""
    if getattr(webhookhandler, "Update", None) is Update:
        webhookhandler.Update = _TolerantUpdate


class TolerantBot(ExtBot):
    """ExtBot whose get_updates skips (and confirms) updates it cannot parse."""

    __slots__ = ()

    async def _post(self, endpoint: str, data=None, **kwargs):
        result = await super()._post(endpoint, data, **kwargs)
        if endpoint == "getUpdates":
            return skip_unparseable(result, self)
        return result


def tolerant_bot(token: str, *, base_url: str | None = None, base_file_url: str | None = None,
                 defaults=None, rate_limiter=None) -> TolerantBot:
    """A TolerantBot with the connection pools ApplicationBuilder would give an ExtBot
    (256 connections for requests, 1 for getUpdates); pass it to ApplicationBuilder.bot().
    Requests other than getUpdates get one more try when the network drops them."""
    tolerate_webhook_poison()  # the same bot may serve a webhook instead
    urls = {"base_url": base_url, "base_file_url": base_file_url}
    return TolerantBot(token, defaults=defaults, rate_limiter=rate_limiter,
                       request=RetryingRequest(connection_pool_size=256),
                       get_updates_request=HTTPXRequest(connection_pool_size=1),
                       **{k: v for k, v in urls.items() if v})
