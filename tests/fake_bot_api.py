"""A fake Telegram Bot API server for end-to-end tests of the real bot.

It runs an HTTP server on 127.0.0.1 (a free port) in a thread and speaks the
Bot API the way python-telegram-bot uses it: `POST /bot<token>/<method>` with
form-encoded parameters, `GET /file/bot<token>/<path>` for downloads.  Tests
queue update JSON (served to getUpdates, long polling included) and inspect
what the bot sent.

It is strict where Telegram is strict, so a test fails the way production
would: sendMessage rejects text over 4096 UTF-16 units, HTML that Telegram
could not parse (stray `<`/`&`, unknown or unbalanced tags), callback_data
over 64 bytes, and answers 403 for chats that blocked the bot.

It also fails the way a hostile day does, on request: a reply to a message
the user deleted meanwhile ("message to be replied not found", unless the bot
allowed sending without the reply), getFile of an unknown file ("invalid
file_id"), and a connection dropped without an answer (`drop`), for any
method or for file downloads.

After a setWebhook, queued updates are POSTed to the registered URL (with its
secret token header, retried while nothing listens there) instead of being
served to getUpdates, as Telegram does; `deliveries` holds each one's status.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

TOKEN = "123456789:AAEfakeTokenForTestsOnly_abcdefghijklmno"
BOT_ID = 123456789
BOT_USERNAME = "vn_hoidap_test_bot"
LONG_POLL_CAP = 0.5  # seconds a getUpdates may wait; keeps bot shutdown quick

# Tags Telegram accepts in HTML parse mode.
ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
                "a", "tg-emoji", "code", "pre", "blockquote"}
_TAG = re.compile(r'<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:="[^"<>]*")?)*)\s*>')
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts; a lone surrogate counts one."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def check_html(text: str) -> None:
    """Raise ValueError where Telegram would answer "can't parse entities"."""
    stack: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "<":
            m = _TAG.match(text, i)
            if not m:
                raise ValueError(f"unexpected '<' at offset {i}: {text[i:i + 20]!r}")
            closing, name = m.group(1), m.group(2).lower()
            if name not in ALLOWED_TAGS:
                raise ValueError(f"unsupported start tag {name!r} at offset {i}")
            if closing:
                if not stack or stack[-1] != name:
                    raise ValueError(f"unmatched end tag {name!r} at offset {i}")
                stack.pop()
            else:
                stack.append(name)
            i = m.end()
        elif c == "&":
            m = _ENTITY.match(text, i)
            if not m:
                raise ValueError(f"unescaped '&' at offset {i}")
            i = m.end()
        elif c == ">":
            raise ValueError(f"unescaped '>' at offset {i}")
        else:
            i += 1
    if stack:
        raise ValueError(f"unclosed tags {stack}")


def html_to_text(text: str) -> str:
    """What the user reads: tags dropped, entities decoded."""
    import html

    return html.unescape(re.sub(r"<[^>]+>", "", text))


class ApiError(Exception):
    def __init__(self, code: int, description: str):
        super().__init__(description)
        self.code = code
        self.description = description


@dataclass
class Call:
    method: str
    params: dict
    at: float


@dataclass
class Sent:
    """A message the bot sent (or edited)."""

    message_id: int
    chat_id: int
    text: str
    parse_mode: str | None
    reply_markup: dict | None
    reply_to: int | None
    at: float
    raw: dict = field(default_factory=dict)  # the Message JSON returned to the bot
    photo: bytes | None = None  # sendPhoto: the uploaded image (text holds the caption)

    @property
    def plain(self) -> str:
        return html_to_text(self.text) if self.parse_mode == "HTML" else self.text

    def buttons(self) -> list[tuple[str, str]]:
        """(label, callback_data) of every inline button."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [(b["text"], b.get("callback_data", "")) for row in rows for b in row]

    def button(self, prefix: str) -> str | None:
        """callback_data of the first button whose label starts with `prefix`."""
        return next((data for label, data in self.buttons() if label.startswith(prefix)), None)


class FakeBotAPI:
    """The server plus the state tests read and write; all of it thread-safe."""

    def __init__(self, token: str = TOKEN, bot_id: int = BOT_ID, username: str = BOT_USERNAME):
        self.token = token
        self.bot_user = {"id": bot_id, "is_bot": True, "first_name": "Hỏi đáp thử",
                         "username": username, "can_join_groups": True,
                         "can_read_all_group_messages": False, "supports_inline_queries": False}
        self.cond = threading.Condition()
        self.updates: list[dict] = []
        self.calls: list[Call] = []
        self.sent: list[Sent] = []
        self.errors: list[tuple[str, int, str]] = []  # (method, code, description) we answered
        self.served_at: dict[int, float] = {}  # update_id -> first time getUpdates returned it
        self.files: dict[str, bytes] = {}
        self.blocked_chats: set[int] = set()
        # Presses delivered after a bot restart may be too old for answerCallbackQuery.
        self.stale_callbacks = False
        self.deleted: set[tuple[int, int]] = set()  # (chat_id, message_id) users deleted
        # Method name (or "download"), or (method, chat_id) -> how many of its next
        # requests lose their connection without an answer, as when the network drops.
        self.drops: dict[str | tuple[str, int], int] = {}
        self.dropped: list[str] = []  # methods whose request was dropped, in order
        self._update_ids = itertools.count(1000)
        self._message_ids = itertools.count(1)
        self._ids = itertools.count(1)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.webhook: tuple[str, str | None] | None = None  # (url, secret token) once set
        self.deliveries: dict[int, int | None] = {}  # update_id -> webhook's HTTP status
        self._delivery: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> FakeBotAPI:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; with Nagle's algorithm and the
            # client's delayed ACK that costs ~40 ms per response, which Telegram has not.
            disable_nagle_algorithm = True

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                api._handle(self, "GET")

            def do_POST(self):
                api._handle(self, "POST")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._delivery:
            self._delivery.shutdown(wait=True)
            self._delivery = None
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeBotAPI:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """What TELEGRAM_BASE_URL would be set to."""
        return f"http://127.0.0.1:{self.port}/bot"

    # ------------------------------------------------------------ HTTP

    def _handle(self, req: BaseHTTPRequestHandler, verb: str) -> None:
        try:
            self._serve(req, verb)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the bot hung up during a long poll (it is shutting down)

    def _serve(self, req: BaseHTTPRequestHandler, verb: str) -> None:
        path = unquote(urlsplit(req.path).path)
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        file_prefix = f"/file/bot{self.token}/"
        api_prefix = f"/bot{self.token}/"
        if verb == "GET" and path.startswith(file_prefix):
            if self._dropped("download"):
                req.close_connection = True
                return
            data = self.files.get(path[len(file_prefix):].split("/")[-1])
            if data is None:
                return self._reply(req, 404, b"not found", "text/plain")
            return self._reply(req, 200, data, "application/octet-stream")
        if not path.startswith(api_prefix):
            return self._json(req, 401 if path.startswith("/bot") else 404,
                              {"ok": False, "error_code": 401, "description": "Unauthorized"})
        method = path[len(api_prefix):]
        params = self._params(req.headers.get("Content-Type", ""), body)
        if self._dropped(method, params.get("chat_id")):
            req.close_connection = True
            return
        with self.cond:
            self.calls.append(Call(method, params, time.monotonic()))
            self.cond.notify_all()
        try:
            result = self._dispatch(method, params)
        except ApiError as e:
            with self.cond:
                self.errors.append((method, e.code, e.description))
            return self._json(req, e.code, {"ok": False, "error_code": e.code,
                                            "description": e.description})
        self._json(req, 200, {"ok": True, "result": result})

    def _dropped(self, method: str, chat_id=None) -> bool:
        """True when this request is to lose its connection: the caller answers nothing
        and closes it, so the client sees the server disconnect."""
        with self.cond:
            keys = [method] if chat_id in (None, "") else [(method, int(chat_id)), method]
            key = next((k for k in keys if self.drops.get(k, 0) > 0), None)
            if key is None:
                return False
            self.drops[key] -= 1
            self.dropped.append(method)
            self.cond.notify_all()
            return True

    @staticmethod
    def _params(content_type: str, body: bytes) -> dict:
        if not body:
            return {}
        if "application/json" in content_type:
            return json.loads(body)
        if "multipart/form-data" in content_type:
            from email.parser import BytesParser

            msg = BytesParser().parsebytes(
                f"Content-Type: {content_type}\r\n\r\n".encode() + body)
            return {part.get_param("name", header="content-disposition"):
                    part.get_payload(decode=True) if part.get_filename() else
                    part.get_payload(decode=True).decode("utf-8", "replace")
                    for part in msg.get_payload()}
        return {k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}

    @staticmethod
    def _json(req, status: int, payload: dict) -> None:
        # ASCII escapes, as the real Bot API may send them: a lone surrogate in a user's
        # text then arrives as "\ud800", which UTF-8 could not carry.
        FakeBotAPI._reply(req, status, json.dumps(payload, ensure_ascii=True).encode(),
                          "application/json")

    @staticmethod
    def _reply(req, status: int, data: bytes, content_type: str) -> None:
        req.send_response(status)
        req.send_header("Content-Type", content_type)
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)

    # ------------------------------------------------------------ methods

    def _dispatch(self, method: str, p: dict):
        if method == "getMe":
            return self.bot_user
        if method == "getUpdates":
            return self._get_updates(p)
        if method == "answerCallbackQuery" and self.stale_callbacks:
            raise ApiError(400, "Bad Request: query is too old and response timeout expired "
                                "or query id is invalid")
        if method == "setWebhook":
            with self.cond:
                self.webhook = (p["url"], p.get("secret_token")) if p.get("url") else None
            return True
        if method in ("deleteWebhook", "setMyCommands", "deleteMyCommands",
                      "answerCallbackQuery", "close", "logOut", "setChatMenuButton",
                      "answerInlineQuery"):
            return True
        if method == "sendChatAction":
            self._check_chat(p)
            return True
        if method == "getWebhookInfo":
            return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
        if method == "sendMessage":
            return self._send_message(p)
        if method == "sendPhoto":
            return self._send_photo(p)
        if method in ("editMessageText", "editMessageReplyMarkup"):
            return self._edit(method, p)
        if method == "getFile":
            file_id = p.get("file_id", "")
            if file_id not in self.files:
                raise ApiError(400, "Bad Request: invalid file_id")
            return {"file_id": file_id, "file_unique_id": f"u{file_id}",
                    "file_size": len(self.files[file_id]), "file_path": f"documents/{file_id}"}
        raise ApiError(404, "Not Found")

    def _get_updates(self, p: dict) -> list[dict]:
        offset = int(p.get("offset") or 0)
        timeout = min(float(p.get("timeout") or 0), LONG_POLL_CAP)
        deadline = time.monotonic() + timeout
        with self.cond:
            if offset:  # Telegram forgets updates below the offset: they are confirmed
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
            while not self.updates and time.monotonic() < deadline:
                self.cond.wait(max(0.0, deadline - time.monotonic()))
            batch = list(self.updates[:100])
            now = time.monotonic()
            for u in batch:
                self.served_at.setdefault(u["update_id"], now)
            return batch

    def _check_chat(self, p: dict) -> int:
        chat_id = int(p.get("chat_id"))
        if chat_id in self.blocked_chats:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    def _check_markup(self, p: dict) -> dict | None:
        markup = p.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        for row in (markup or {}).get("inline_keyboard", []):
            for b in row:
                data = b.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return markup

    def _check_text(self, p: dict) -> str:
        text = p.get("text", "")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        if p.get("parse_mode") == "HTML":
            try:
                check_html(text)
            except ValueError as e:
                raise ApiError(400, f"Bad Request: can't parse entities: {e}") from None
        return text

    def _send_message(self, p: dict) -> dict:
        chat_id = self._check_chat(p)
        text = self._check_text(p)
        markup = self._check_markup(p)
        reply_to = self._reply_target(chat_id, p)
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self._chat(chat_id),
            "from": self.bot_user,
            "text": text,
        }
        if markup:
            message["reply_markup"] = markup
        with self.cond:
            self.sent.append(Sent(message["message_id"], chat_id, text, p.get("parse_mode"),
                                  markup, reply_to, time.monotonic(), message))
            self.cond.notify_all()
        return message

    def _reply_target(self, chat_id: int, p: dict) -> int | None:
        """The message a send quotes; one the user deleted is an error unless the bot
        allowed sending without it (then the message goes out unquoted)."""
        reply = p.get("reply_parameters")
        if isinstance(reply, str):
            reply = json.loads(reply)
        if reply:
            reply_to, anyway = int(reply["message_id"]), reply.get("allow_sending_without_reply")
        elif p.get("reply_to_message_id"):
            reply_to, anyway = int(p["reply_to_message_id"]), p.get("allow_sending_without_reply")
        else:
            return None
        if (chat_id, reply_to) not in self.deleted:
            return reply_to
        if anyway in (True, "true", "True"):
            return None
        raise ApiError(400, "Bad Request: message to be replied not found")

    def _send_photo(self, p: dict) -> dict:
        """An uploaded photo (multipart, as python-telegram-bot sends bytes); the caption is
        checked like a message text, against Telegram's 1024-character caption limit."""
        chat_id = self._check_chat(p)
        photo = p.get("photo")
        if not isinstance(photo, bytes) or not photo:
            raise ApiError(400, "Bad Request: there is no photo in the request")
        caption = p.get("caption", "")
        if utf16_len(caption) > 1024:
            raise ApiError(400, "Bad Request: message caption is too long")
        if caption and p.get("parse_mode") == "HTML":
            try:
                check_html(caption)
            except ValueError as e:
                raise ApiError(400, f"Bad Request: can't parse entities: {e}") from None
        message = {"message_id": next(self._message_ids), "date": int(time.time()),
                   "chat": self._chat(chat_id), "from": self.bot_user, "caption": caption,
                   "photo": [{"file_id": f"photo{len(self.sent)}", "file_unique_id": f"up{len(self.sent)}",
                              "width": 800, "height": 800, "file_size": len(photo)}]}
        with self.cond:
            self.sent.append(Sent(message["message_id"], chat_id, caption, p.get("parse_mode"), None,
                                  None, time.monotonic(), message, photo))
            self.cond.notify_all()
        return message

    def _edit(self, method: str, p: dict):
        chat_id = self._check_chat(p)
        message_id = int(p.get("message_id"))
        markup = self._check_markup(p)
        with self.cond:
            target = next((s for s in self.sent
                           if s.chat_id == chat_id and s.message_id == message_id), None)
            if target is None:
                raise ApiError(400, "Bad Request: message to edit not found")
            if method == "editMessageText":
                target.text = self._check_text(p)
                target.parse_mode = p.get("parse_mode")
            target.reply_markup = markup
            target.raw = {**target.raw, "text": target.text}
            if markup:
                target.raw["reply_markup"] = markup
            else:
                target.raw.pop("reply_markup", None)
            self.cond.notify_all()
            return target.raw

    # ------------------------------------------------------------ updates (what users do)

    @staticmethod
    def _chat(chat_id: int) -> dict:
        if chat_id < 0:
            return {"id": chat_id, "type": "supergroup", "title": "Nhóm thử nghiệm"}
        return {"id": chat_id, "type": "private", "first_name": "Người dùng"}

    @staticmethod
    def user(user_id: int) -> dict:
        return {"id": user_id, "is_bot": False, "first_name": f"Người dùng {user_id}",
                "language_code": "vi"}

    def push(self, update: dict) -> int:
        """Queue a raw update (update_id is assigned); returns the update_id."""
        with self.cond:
            update = {"update_id": next(self._update_ids), **update}
            if self.webhook is None:
                self.updates.append(update)
            else:
                if self._delivery is None:  # Telegram's default max_connections is 40
                    self._delivery = ThreadPoolExecutor(40, thread_name_prefix="webhook")
                self._delivery.submit(self._deliver, update, *self.webhook)
            self.cond.notify_all()
        return update["update_id"]

    def _deliver(self, update: dict, url: str, secret: str | None) -> None:
        """POST one update to the webhook, retrying for 10 s while nothing listens."""
        headers = {"Content-Type": "application/json"}
        if secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        request = urllib.request.Request(url, json.dumps(update).encode(), headers)
        status = None
        for _ in range(40):
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    status = response.status
                break
            except urllib.error.HTTPError as e:
                status = e.code
                break
            except OSError:
                time.sleep(0.25)
        with self.cond:
            self.deliveries[update["update_id"]] = status
            self.cond.notify_all()

    def message(self, text: str | None = None, **kw) -> int:
        """Queue a user's message (text, or other content as keyword arguments) for getUpdates."""
        return self.push(self.message_update(text, **kw))

    def message_update(self, text: str | None = None, *, chat_id: int = 1001,
                       user_id: int | None = None, entities: list[dict] | None = None,
                       reply_to: Sent | dict | None = None, edited: bool = False,
                       **extra) -> dict:
        """The update JSON of a user's message, without an update_id (push() adds one)."""
        user_id = user_id if user_id is not None else (chat_id if chat_id > 0 else 5001)
        msg = {"message_id": next(self._ids) + 100000, "date": int(time.time()),
               "chat": self._chat(chat_id), "from": self.user(user_id)}
        if text is not None:
            msg["text"] = text
        if entities:
            msg["entities"] = entities
        if text and text.startswith("/") and not entities:
            msg["entities"] = [{"type": "bot_command", "offset": 0,
                                "length": utf16_len(text.split()[0])}]
        if reply_to is not None:
            msg["reply_to_message"] = reply_to.raw if isinstance(reply_to, Sent) else reply_to
        if edited:
            msg["edit_date"] = int(time.time())
        msg.update(extra)
        return {"edited_message" if edited else "message": msg}

    def mention_entity(self, text: str, username: str | None = None) -> dict:
        """The entity Telegram attaches to "@username" (the bot by default) in `text`."""
        handle = f"@{username or self.bot_user['username']}"
        start = text.index(handle)
        return {"type": "mention", "offset": utf16_len(text[:start]), "length": utf16_len(handle)}

    def mention(self, text: str, username: str | None = None, **kw) -> int:
        """A message mentioning @username (the bot by default) with a proper entity."""
        return self.message(text, entities=[self.mention_entity(text, username)], **kw)

    def document_update(self, name: str, data: bytes, *, chat_id: int = 1001,
                        user_id: int | None = None, mime: str = "text/plain",
                        fetchable: bool = True, **extra) -> dict:
        """A user sending a file (caption etc. as keyword arguments); a file that is not
        `fetchable` is unknown to getFile, as after Telegram dropped it."""
        file_id = f"doc{next(self._ids)}"
        if fetchable:
            self.files[file_id] = data
        return self.message_update(None, chat_id=chat_id, user_id=user_id, document={
            "file_id": file_id, "file_unique_id": f"u{file_id}", "file_name": name,
            "mime_type": mime, "file_size": len(data)}, **extra)

    def document(self, name: str, data: bytes, **kw) -> int:
        return self.push(self.document_update(name, data, **kw))

    def animation_update(self, *, chat_id: int = 1001, user_id: int | None = None) -> dict:
        """A GIF: Telegram sends it as `animation` and, for older clients, as `document`."""
        file = {"file_id": f"gif{next(self._ids)}", "file_unique_id": "ugif",
                "file_name": "vui.gif.mp4", "mime_type": "video/mp4", "file_size": 52_000}
        return self.message_update(None, chat_id=chat_id, user_id=user_id, document=file,
                                   animation={**file, "width": 320, "height": 240, "duration": 3})

    def animation(self, **kw) -> int:
        return self.push(self.animation_update(**kw))

    def press(self, sent: Sent, data: str, *, user_id: int | None = None) -> int:
        """A user pressing an inline button under a message the bot sent."""
        user_id = user_id if user_id is not None else (sent.chat_id if sent.chat_id > 0 else 5001)
        return self.push({"callback_query": {
            "id": str(next(self._ids)), "from": self.user(user_id), "chat_instance": "ci",
            "data": data, "message": sent.raw}})

    def press_inline(self, data: str, *, user_id: int = 4242) -> int:
        """A press on a message posted through inline mode: Telegram sends no message and
        no chat with it, only the inline_message_id."""
        return self.push({"callback_query": {
            "id": str(next(self._ids)), "from": self.user(user_id), "chat_instance": "ci",
            "data": data, "inline_message_id": f"AAAAinline{next(self._ids)}"}})

    def inline(self, text: str, *, user_id: int = 4242) -> int:
        """A user typing "@bot text" in any chat (an inline query)."""
        return self.push({"inline_query": {"id": str(next(self._ids)), "from": self.user(user_id),
                                           "query": text, "offset": ""}})

    # ------------------------------------------------------------ what the bot did

    def sent_to(self, chat_id: int) -> list[Sent]:
        with self.cond:
            return [s for s in self.sent if s.chat_id == chat_id]

    def calls_to(self, method: str) -> list[Call]:
        with self.cond:
            return [c for c in self.calls if c.method == method]

    def confirmed(self, update_id: int) -> bool:
        """The bot asked for updates past this one, i.e. it has fetched it."""
        with self.cond:
            return any(int(c.params.get("offset") or 0) > update_id
                       for c in self.calls if c.method == "getUpdates")

    async def wait_for(self, predicate, timeout: float = 30.0, what: str = "condition"):
        """Poll `predicate` from async test code (the bot runs in the same event loop)."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; bot sent: "
                                     f"{[(s.chat_id, s.plain[:80]) for s in self.sent]}; "
                                     f"API errors: {self.errors}")
            await asyncio.sleep(0.02)

    async def wait_messages(self, chat_id: int, count: int, timeout: float = 30.0) -> list[Sent]:
        """The first `count` messages sent to the chat, waiting for them."""
        return (await self.wait_for(lambda: len(self.sent_to(chat_id)) >= count
                                    and self.sent_to(chat_id), timeout,
                                    f"{count} message(s) to chat {chat_id}"))[:count]

    async def wait_reply(self, chat_id: int, after: int = 0, timeout: float = 30.0,
                         contains: str | None = None, settle: float = 0.3,
                         until=None) -> list[Sent]:
        """Messages sent to the chat beyond the first `after`, once one contains `contains`,
        `until(messages)` holds, and no further message came for `settle` seconds.

        Answers may span messages; on a loaded machine the gap between two parts can
        outlast `settle`, so tests that need the whole reply say what completes it."""

        def ready():
            new = self.sent_to(chat_id)[after:]
            if not new:
                return None
            if contains is not None and not any(contains in s.plain for s in new):
                return None
            if until is not None and not until(new):
                return None
            return new

        await self.wait_for(ready, timeout, f"reply in chat {chat_id}"
                            + (f" containing {contains!r}" if contains else ""))
        count = len(self.sent_to(chat_id))
        while True:
            await asyncio.sleep(settle)
            now = len(self.sent_to(chat_id))
            if now == count:
                return self.sent_to(chat_id)[after:]
            count = now
