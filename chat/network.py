"""Bot API requests that get one more try when the network drops them.

Why: a connection to the Bot API that is refused, reset or closed without an
answer used to fail the handler at once: the user got the generic error and
the log a traceback, for a blip that a second try (half a second later, on a
fresh connection) gets through.  `RetryingRequest` retries such a request
once, whatever the method (sendMessage, answerCallbackQuery, getFile, a file
download), and logs one line when the retry saved it; when the second try
fails too, the error goes to the error handler, which logs it once, without a
traceback, and apologises.

A timeout is not retried: Telegram then usually has the request and is only
slow, and a second sendMessage would post the answer twice.  A connection
dropped after the request was written can, rarely, hide a message Telegram
did take; one duplicated answer is a smaller harm than none.  getUpdates does
not come through here: the Updater's polling loop retries it with back-off.
"""
from __future__ import annotations

import asyncio
import logging

import httpx
from telegram.error import NetworkError
from telegram.request import HTTPXRequest

log = logging.getLogger(__name__)

RETRY_PAUSE = 0.5  # seconds before the second try
# What httpx raises when the connection failed rather than the server being slow.
DROPPED = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.RemoteProtocolError,
           httpx.ReadError, httpx.WriteError)


def endpoint(url: str) -> str:
    """The method name of a Bot API URL ("sendMessage"), or "download" for a file URL;
    never the token the URL carries."""
    return "download" if "/file/bot" in url else url.rsplit("/", 1)[-1]


class RetryingRequest(HTTPXRequest):
    """HTTPXRequest that sends a request once more when its connection was lost."""

    __slots__ = ()

    async def do_request(self, url: str, method: str, request_data=None, *args, **kwargs):
        try:
            return await super().do_request(url, method, request_data, *args, **kwargs)
        except NetworkError as error:
            if not isinstance(error.__cause__, DROPPED):
                raise
            await asyncio.sleep(RETRY_PAUSE)
            result = await super().do_request(url, method, request_data, *args, **kwargs)
            log.info("%s lost its connection (%s); the second try went through",
                     endpoint(url), error)
            return result
