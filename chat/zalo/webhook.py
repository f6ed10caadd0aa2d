"""Webhook mode: Zalo POSTs each update to our URL, with the secret in a header.

setWebhook registers `url` and a `secret_token` (8 to 256 characters, from
the environment); Zalo echoes the secret in `X-Bot-Api-Secret-Token` on every
request.  A request without it, or with another value, is refused with 403
and nothing of it is read or answered; the comparison takes the same time
whatever the value.  The body is the update itself ({"event_name",
"message"}), or, as some deliveries are wrapped, {"ok": true, "result": ...}.
An authenticated body that is JSON is answered 200 at once and handed to the
bot, which skips what it cannot read as on polling (a non-200 would only make
Zalo send it again); a body that is not JSON is refused with 400, and an update
that comes while the bot shuts down with 503, so that Zalo sends it again.

The server is tornado's (already installed for python-telegram-bot's webhook
mode) on the bot's event loop, so both front ends can share one process.
"""
from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import tornado.httpserver
import tornado.netutil
import tornado.web

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Bot-Api-Secret-Token"
SECRET_CHARS = (8, 256)  # setWebhook's secret_token, as Zalo documents it
MAX_BODY = 1024 * 1024  # an update is a few KB; anything this big is not from Zalo


@dataclass
class WebhookSettings:
    """Where Zalo posts (the public URL) and where this process listens."""

    url: str
    secret: str
    listen: str = "127.0.0.1"
    port: int = 8444

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or "/"


def check_secret(secret: str | None) -> str | None:
    """Why `secret` cannot be a Zalo webhook secret, or None when it can."""
    low, high = SECRET_CHARS
    if not secret:
        return "is not set"
    if not low <= len(secret) <= high:
        return f"must be {low} to {high} characters long (it has {len(secret)})"
    return None


def updates_of(body) -> list:
    """The updates a webhook body carries: the update itself, or a wrapped `result`."""
    if isinstance(body, dict) and body.get("ok") is True and "result" in body:
        body = body["result"]
    if isinstance(body, list):
        return body
    return [] if body is None else [body]


class UpdateHandler(tornado.web.RequestHandler):
    """POST <path>: check the secret, hand the updates to the bot, answer at once."""

    def initialize(self, secret: str, accept: Callable[[object], bool]) -> None:
        self.secret = secret.encode()
        self.accept = accept

    def check_xsrf_cookie(self) -> None:  # a server-to-server call, not a browser form
        pass

    def post(self) -> None:
        given = self.request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, self.secret):
            log.warning("refused a webhook request with %s secret token (from %s)",
                        "a wrong" if given else "no", self.request.remote_ip)
            self._answer(403, {"ok": False, "error_code": 403, "description": "Forbidden"})
            return
        try:
            body = json.loads(self.request.body or b"null")
        except ValueError:
            log.warning("refused a webhook request whose body is not JSON")
            self._answer(400, {"ok": False, "error_code": 400, "description": "Bad JSON"})
            return
        if not all([self.accept(update) for update in updates_of(body)]):
            self._answer(503, {"ok": False, "error_code": 503, "description": "Shutting down"})
            return
        self._answer(200, {"ok": True})

    def _answer(self, status: int, payload: dict) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(payload))


def _quiet(handler: tornado.web.RequestHandler) -> None:
    """One access line per update would flood the log; errors are logged by the handler."""
    log.debug("%s %s %s", handler.get_status(), handler.request.method, handler.request.uri)


def start_server(settings: WebhookSettings, accept: Callable[[object], bool]
                 ) -> tuple[tornado.httpserver.HTTPServer, int]:
    """Listen for Zalo's POSTs on settings.listen:port at the URL's path (on this event
    loop); `accept(update)` gets each authenticated update (False: not taken now).  The server and its port
    (port 0 picks a free one)."""
    app = tornado.web.Application(
        [(settings.path, UpdateHandler, {"secret": settings.secret, "accept": accept})],
        log_function=_quiet)
    server = tornado.httpserver.HTTPServer(app, max_body_size=MAX_BODY, xheaders=True)
    sockets = tornado.netutil.bind_sockets(settings.port, settings.listen)
    server.add_sockets(sockets)
    return server, sockets[0].getsockname()[1]
