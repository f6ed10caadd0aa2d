"""A fake Zalo Bot API server for end-to-end tests of the Zalo front end.

An HTTP server on 127.0.0.1 (a free port) in a thread, speaking the Zalo Bot
API as documented: `POST /bot<token>/<method>` with a JSON body, answers
`{"ok": true, "result": ...}` or `{"ok": false, "error_code", "description"}`.
getUpdates has no offset: each queued update (or list of updates) is handed
out once; with none it waits (long polling, capped) and answers 408.

Strict where Zalo is: a wrong token is 401, sendMessage `text` must be 1 to
2,000 characters and `chat_id` a string, setWebhook's `secret_token` 8 to 256
characters, and getUpdates is refused while a webhook is set.  `deliver()` is
Zalo's side of webhook mode: it POSTs an update to the registered URL with the
registered secret in `X-Bot-Api-Secret-Token` (or another header, to test).  On request it fails as a bad day
does: `fail(method, status, times)` answers 5xx (or any status), and `drops` closes
a request's connection without an answer, as a dropped network does.
"""
from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    from fake_bot_api import FakeBotAPI
except ImportError:  # imported as tests.fake_zalo_api, by python -m benchmarks.zalo_latency
    from tests.fake_bot_api import FakeBotAPI

TOKEN = "3141592653589793:ZaloFakeTokenForTestsOnly_abcdefghijklmnop"
BOT_ID = "b0t1d2zal0"
BOT_NAME = "Hỏi đáp công tác"
ACCOUNT_NAME = "hoidap_congtac"
LONG_POLL_CAP = 0.3  # seconds a getUpdates may wait; keeps bot shutdown quick
TEXT_LIMIT = 2000


@dataclass
class Sent:
    chat_id: str
    text: str
    at: float

    @property
    def plain(self) -> str:
        return self.text


class FakeZaloAPI:
    """The server, its queue of updates and what the bot sent."""

    def __init__(self, token: str = TOKEN):
        self.token = token
        self._lock = threading.Condition()
        self._queue: list = []
        self._ids = itertools.count(1)
        self.sent: list[Sent] = []
        self.calls: list[tuple[str, dict]] = []
        self.errors: list[tuple[str, int, str]] = []
        self.served: dict[str, float] = {}  # message_id -> when getUpdates handed it out
        self._failures: dict[str, list[int]] = {}
        # Method, or (method, chat_id) -> how many of its next requests lose their
        # connection without an answer, as when the network drops (the server read them).
        self.drops: dict[str | tuple[str, str], int] = {}
        self.dropped: list[str] = []  # methods whose request was dropped, in order
        self._server: ThreadingHTTPServer | None = None
        self.webhook: dict | None = None  # {"url", "secret_token"} once setWebhook was called

    # ------------------------------------------------------------ server

    def __enter__(self) -> FakeZaloAPI:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                api._serve(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _serve(self, req: BaseHTTPRequestHandler) -> None:
        body = req.rfile.read(int(req.headers.get("Content-Length") or 0))
        prefix = f"/bot{self.token}/"
        if not req.path.startswith(prefix):
            return self._json(req, 401, {"ok": False, "error_code": 401,
                                         "description": "Unauthorized"})
        method = req.path[len(prefix):]
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            return self._json(req, 400, {"ok": False, "error_code": 400,
                                         "description": "Bad JSON"})
        if self._dropped(method, params.get("chat_id") if isinstance(params, dict) else None):
            req.close_connection = True  # no answer: the client sees the server disconnect
            return
        with self._lock:
            self.calls.append((method, params))
            failures = self._failures.get(method)
            status = failures.pop(0) if failures else None
        if status:
            self.errors.append((method, status, "injected"))
            return self._json(req, status, {"ok": False, "error_code": status,
                                            "description": "Injected failure"})
        status, payload = self._dispatch(method, params)
        if not payload.get("ok") and status != 408:  # 408: getUpdates found nothing new
            self.errors.append((method, status, payload.get("description", "")))
        self._json(req, status, payload)

    def _dropped(self, method: str, chat_id) -> bool:
        """True when this request is to lose its connection (see `drops`)."""
        with self._lock:
            key = next((k for k in ((method, chat_id), method) if self.drops.get(k, 0) > 0), None)
            if key is None:
                return False
            self.drops[key] -= 1
            self.dropped.append(method)
            return True

    @staticmethod
    def _json(req, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        req.send_response(status)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        try:
            req.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the bot stopped mid-poll (shutdown cancels its getUpdates)

    def _dispatch(self, method: str, p: dict) -> tuple[int, dict]:
        if method == "getMe":
            return 200, {"ok": True, "result": {"id": BOT_ID, "account_name": ACCOUNT_NAME,
                                                "account_type": "BASIC",
                                                "display_name": BOT_NAME}}
        if method == "getUpdates":
            return self._get_updates(p)
        if method == "sendMessage":
            return self._send_message(p)
        if method == "sendChatAction":
            return 200, {"ok": True, "result": {}}
        if method in ("setWebhook", "deleteWebhook", "getWebhookInfo"):
            return self._webhook(method, p)
        return 404, {"ok": False, "error_code": 404, "description": "Not Found"}

    def _webhook(self, method: str, p: dict) -> tuple[int, dict]:
        if method == "setWebhook":
            url, secret = p.get("url"), p.get("secret_token")
            if not isinstance(url, str) or not url.startswith(("https://", "http://127.0.0.1")):
                return 400, {"ok": False, "error_code": 400, "description": "url must be https"}
            if not isinstance(secret, str) or not 8 <= len(secret) <= 256:
                return 400, {"ok": False, "error_code": 400,
                             "description": "secret_token must be 8 to 256 characters"}
            self.webhook = {"url": url, "secret_token": secret}
        elif method == "deleteWebhook":
            self.webhook = None
        return 200, {"ok": True, "result": {"url": (self.webhook or {}).get("url", "")}}

    def deliver(self, update, secret: str | None = ..., timeout: float = 10) -> int:
        """POST `update` to the webhook as Zalo does; the HTTP status the bot answered.
        `secret`: the header's value (default: the registered secret; None: no header)."""
        if secret is ...:
            secret = self.webhook["secret_token"]
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Bot-Api-Secret-Token"] = secret
        data = update if isinstance(update, bytes) else json.dumps(update).encode()
        request = urllib.request.Request(self.webhook["url"], data=data, headers=headers,
                                         method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status = response.status
        except urllib.error.HTTPError as e:
            status = e.code
        if isinstance(update, dict) and isinstance(update.get("message"), dict):
            self.served[str(update["message"].get("message_id"))] = time.perf_counter()
        return status

    def _get_updates(self, p: dict) -> tuple[int, dict]:
        if self.webhook:
            return 409, {"ok": False, "error_code": 409,
                         "description": "Conflict: webhook is active, use deleteWebhook"}
        wait = min(float(p.get("timeout") or 0), LONG_POLL_CAP)
        with self._lock:
            self._lock.wait_for(lambda: self._queue, wait)
            if not self._queue:
                return 408, {"ok": False, "error_code": 408, "description": "Request timeout"}
            result = self._queue.pop(0)
        now = time.perf_counter()
        for u in result if isinstance(result, list) else [result]:
            if isinstance(u, dict) and isinstance(u.get("message"), dict):
                self.served[str(u["message"].get("message_id"))] = now
        return 200, {"ok": True, "result": result}

    def _send_message(self, p: dict) -> tuple[int, dict]:
        chat_id, text = p.get("chat_id"), p.get("text")
        if not isinstance(chat_id, str) or not chat_id:
            return 400, {"ok": False, "error_code": 400, "description": "chat_id must be a string"}
        if not isinstance(text, str) or not 1 <= len(text) <= TEXT_LIMIT:
            return 400, {"ok": False, "error_code": 400,
                         "description": f"text must be 1 to {TEXT_LIMIT} characters"}
        with self._lock:
            self.sent.append(Sent(chat_id, text, time.perf_counter()))
        return 200, {"ok": True, "result": {"message_id": f"m{next(self._ids)}",
                                            "date": int(time.time() * 1000)}}

    # ------------------------------------------------------------ test side

    def fail(self, method: str, status: int = 502, times: int = 1) -> None:
        """The next `times` calls of `method` answer `status`."""
        with self._lock:
            self._failures.setdefault(method, []).extend([status] * times)

    def push(self, update) -> None:
        """Queue a raw result for getUpdates: one update, a list of them, or anything."""
        with self._lock:
            self._queue.append(update)
            self._lock.notify_all()

    def message_update(self, text: str | None, *, chat_id: str = "u100", user_id: str | None = None,
                       group: bool = False, event: str = "message.text.received") -> dict:
        message = {"message_id": f"in{next(self._ids)}", "date": int(time.time() * 1000),
                   "chat": {"id": chat_id, "chat_type": "GROUP" if group else "PRIVATE"},
                   "from": {"id": user_id or chat_id, "display_name": "Người dùng thử",
                            "is_bot": False}}
        if text is not None:
            message["text"] = text
        return {"event_name": event, "message": message}

    def message(self, text: str | None, **kw) -> dict:
        update = self.message_update(text, **kw)
        self.push(update)
        return update

    def sent_to(self, chat_id: str) -> list[Sent]:
        with self._lock:
            return [s for s in self.sent if s.chat_id == chat_id]

    def calls_to(self, method: str) -> list[dict]:
        with self._lock:
            return [p for m, p in self.calls if m == method]

    # Waiting as the Telegram fake does (Sent.plain is the text here too).
    wait_for = FakeBotAPI.wait_for
    wait_reply = FakeBotAPI.wait_reply
