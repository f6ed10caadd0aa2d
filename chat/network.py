"""Requests to a chat platform's API that get one more try when the network drops them:
the rule both front ends follow (Telegram's `polling.RetryingRequest`, Zalo's
`ZaloBot._send`).

Why: a connection to the Bot API that is refused, reset or closed without an
answer used to fail the handler at once: the user got the generic error and
the log a traceback, for a blip that a second try (half a second later, on a
fresh connection) gets through.  Such a request is sent once more, whatever
the method, and one line is logged when the retry saved it; when the second
try fails too, the failure is logged once, without a traceback, and the user
gets an apology.

A timeout is not retried: the server then usually has the request and is only
slow, and a second sendMessage would post the answer twice.  A connection
dropped after the request was written can, rarely, hide a message the server
did take; one duplicated answer is a smaller harm than none.  Polling for
updates does not come through here: each polling loop retries with back-off.

Free of python-telegram-bot: the Zalo bot runs without it.
"""
from __future__ import annotations

import httpx

RETRY_PAUSE = 0.5  # seconds before the second try
# What httpx raises when the connection failed rather than the server being slow.
DROPPED = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.RemoteProtocolError,
           httpx.ReadError, httpx.WriteError)


def lost_connection(error: BaseException | None) -> bool:
    """The request's connection failed (refused, reset, closed without an answer): worth
    one more try.  A timeout is not: the server is likely slow and has the request."""
    return isinstance(error, DROPPED)
