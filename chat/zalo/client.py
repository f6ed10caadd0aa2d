"""A thin async client for the Zalo Bot Platform API, on httpx.

Every call is `POST {base}/bot{TOKEN}/{method}` with a JSON body, answered by
`{"ok": true, "result": ...}` or `{"ok": false, "error_code", "description"}`.

Why not a PyPI client: python-zalo-bot 0.1.9 (checked 2026-12) is a copy of
python-telegram-bot with Telegram-only parts (passport, stickers) left in, its
project links are placeholders ("yourusername"), it pins httpx<0.29 and logs
the raw update (what the user wrote) at CRITICAL when it cannot parse one;
zalobot-python is not on PyPI.  The five calls we need fit in this file.

The token is in every URL: it is registered with logsafe (records are
redacted), httpx's request logging is silenced by that, and no exception
raised here quotes the URL.
"""
from __future__ import annotations

import os

import httpx

from .. import logsafe
from ..network import lost_connection

DEFAULT_BASE_URL = "https://bot-api.zaloplatforms.com"
BASE_URL_ENV = "ZALO_BASE_URL"
TOKEN_ENV = "ZALO_BOT_TOKEN"
REQUEST_SECONDS = 15.0  # any call but getUpdates; getUpdates waits its `timeout` on top
TIMEOUT_CODE = 408  # getUpdates' "nothing new within timeout" answer


class ZaloError(Exception):
    """The API answered ok=false (or an HTTP error status): `code` and `description`."""

    def __init__(self, method: str, code: int, description: str):
        super().__init__(f"{method}: {code} {description}")
        self.method, self.code, self.description = method, code, description

    @property
    def server_side(self) -> bool:
        """5xx and 429: worth retrying later; 4xx is our mistake (or a bad token)."""
        return self.code >= 500 or self.code == 429


class ZaloNetworkError(Exception):
    """The request did not get an answer (connection refused, reset, timed out)."""

    def __init__(self, method: str, cause: Exception, sent: bool):
        super().__init__(f"{method}: {type(cause).__name__}")
        self.method = method
        self.sent = sent  # False: the request surely never reached the server
        self.lost = lost_connection(cause)  # the connection failed, not a timeout: try again


def base_url_from_env(env_name: str = BASE_URL_ENV) -> str:
    """ZALO_BASE_URL (or the variable the config names), else Zalo's own server."""
    return (os.environ.get(env_name) or DEFAULT_BASE_URL).rstrip("/")


class ZaloClient:
    """One bot's calls to the Zalo Bot API."""

    def __init__(self, token: str, base_url: str = DEFAULT_BASE_URL,
                 transport: httpx.AsyncBaseTransport | None = None):
        if not token:
            raise ValueError("a Zalo bot token is needed")
        logsafe.protect(token)
        self._prefix = f"{base_url.rstrip('/')}/bot{token}/"
        self._http = httpx.AsyncClient(timeout=REQUEST_SECONDS, transport=transport)

    async def close(self) -> None:
        await self._http.aclose()

    async def call(self, method: str, read_seconds: float | None = None, **params):
        """`result` of one call; ZaloError or ZaloNetworkError otherwise (texts without URL)."""
        try:
            response = await self._http.post(self._prefix + method, json=params,
                                             timeout=read_seconds or REQUEST_SECONDS)
        except httpx.TransportError as e:
            sent = not isinstance(e, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
            raise ZaloNetworkError(method, e, sent) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ZaloError(method, response.status_code, "answer is not a JSON object")
        if not body.get("ok") or response.status_code >= 400:
            code = body.get("error_code") or response.status_code
            raise ZaloError(method, int(code) if str(code).isdigit() else response.status_code,
                            logsafe.redact(str(body.get("description") or "")))
        return body.get("result")

    async def get_me(self) -> dict:
        return await self.call("getMe") or {}

    async def get_updates(self, timeout: int = 30) -> list[dict]:
        """New updates (a single one or a list, as the server sends); [] when none came."""
        try:
            result = await self.call("getUpdates", read_seconds=timeout + REQUEST_SECONDS,
                                     timeout=timeout)
        except ZaloError as e:
            if e.code == TIMEOUT_CODE:
                return []
            raise
        if not result:
            return []
        return list(result) if isinstance(result, list) else [result]

    async def send_message(self, chat_id: str, text: str) -> dict:
        return await self.call("sendMessage", chat_id=chat_id, text=text)

    async def send_chat_action(self, chat_id: str, action: str = "typing") -> None:
        await self.call("sendChatAction", chat_id=chat_id, action=action)

    async def set_webhook(self, url: str, secret_token: str) -> None:
        await self.call("setWebhook", url=url, secret_token=secret_token)

    async def delete_webhook(self) -> None:
        await self.call("deleteWebhook")
