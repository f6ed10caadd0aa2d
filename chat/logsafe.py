"""Logging that never reveals the bot token or what users wrote, and does not flood.

The token is part of every Bot API URL (https://api.telegram.org/bot<TOKEN>/...);
httpx logs each request URL at INFO, python-telegram-bot logs its base URL at
DEBUG, and exception texts may quote URLs.  Whoever holds the token controls
the bot, and logs get pasted into issues, so records are redacted where they
are created: a filter on handlers would miss handlers added later, and a
filter on a logger misses records of its child loggers.

What people write stays out of the log above DEBUG: python-telegram-bot
passes whole updates (or the raw getUpdates batch) as arguments of some of
its error records, e.g. "Error while building CallbackContext for update
%s"; the same factory replaces such arguments by "<update N>".

Identical records are rate-limited (`RepeatFilter`): a failure that repeats
every second (a network outage, a job that keeps failing) logs once per
window, and the next record after the window says how many were dropped.
`install` can also write to a size-capped rotating file.
"""
from __future__ import annotations

import logging
import logging.handlers
import re
import sys
import threading
import time
from pathlib import Path

REDACTED = "[REDACTED]"
MIN_SECRET = 8  # Telegram's secret halves are 35 characters
# Anything shaped like a bot token, even one we were never told about.
_TOKEN_SHAPE = re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}")

_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False


def redact(text: str) -> str:
    for secret in _secrets:
        text = text.replace(secret, REDACTED)
    return _TOKEN_SHAPE.sub(REDACTED, text)


def _update_ids(value) -> list | None:
    """The update ids of a raw update (dict) or a raw batch (list of dicts), else None."""
    if isinstance(value, dict) and "update_id" in value:
        return [value["update_id"]]
    if isinstance(value, list | tuple) and value and all(
            isinstance(v, dict) and "update_id" in v for v in value):
        return [v["update_id"] for v in value]
    return None


def _telegram_object(value) -> bool:
    """Is `value` a python-telegram-bot object?  Asked without importing the library: a
    process that never imported it (the Zalo bot, the console) holds none."""
    telegram = sys.modules.get("telegram")
    kind = getattr(telegram, "TelegramObject", None)
    return kind is not None and isinstance(value, kind)


def without_user_data(value):
    """`value`, or a short stand-in when it is an update (parsed or raw) that may carry
    what a user wrote: such values are logged at DEBUG only."""
    if _telegram_object(value):
        update_id = getattr(value, "update_id", None)
        return f"<{type(value).__name__}{f' {update_id}' if update_id is not None else ''}>"
    ids = _update_ids(value)
    if ids is not None:
        return f"<update{'s' if len(ids) > 1 else ''} {', '.join(map(str, ids))}>"
    return value


def _scrub_args(record: logging.LogRecord) -> None:
    if record.levelno <= logging.DEBUG or not record.args:
        return
    if isinstance(record.args, dict):
        record.args = {k: without_user_data(v) for k, v in record.args.items()}
    else:
        record.args = tuple(without_user_data(a) for a in record.args)


def _wrap_factory(factory):
    def make_record(*args, **kwargs) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        _scrub_args(record)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the caller's bug; leave it visible
            return record
        record.msg, record.args = redact(message), None
        if record.exc_info:
            # Formatters reuse exc_text when it is set, so the traceback is printed redacted.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record

    return make_record


def protect(token: str | None) -> None:
    """Redact `token` (and token-shaped strings) from every log record from now on."""
    global _installed
    with _lock:
        # The secret half alone is just as bad.  Parts under MIN_SECRET characters (test
        # tokens such as "1:x") are not secrets, and redacting them would garble every
        # record that happens to contain an "x".
        for secret in (token or "", (token or "").split(":", 1)[-1]):
            if len(secret) >= MIN_SECRET:
                _secrets.add(secret)
        if not _installed:
            logging.setLogRecordFactory(_wrap_factory(logging.getLogRecordFactory()))
            _installed = True
    # httpx/httpcore log every request URL (token included) and nothing else of use.
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)


class RepeatFilter(logging.Filter):
    """At most one record with the same logger, level and text per `seconds`.

    The first record of a window passes; identical ones within the window are
    counted and dropped; the first one after it passes with "(repeated K
    times ...)" appended.  Put the same instance on every handler: a record
    is decided once, so all handlers agree.
    """

    MAX_KEYS = 10_000  # distinct texts remembered; older windows are forgotten beyond this

    def __init__(self, seconds: float = 60.0, clock=time.monotonic):
        super().__init__()
        self.seconds = seconds
        self.clock = clock
        self._windows: dict[tuple, list] = {}  # key -> [window start, records dropped]
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        decided = getattr(record, "_repeat_filter_pass", None)
        if decided is not None:
            return decided
        key = (record.name, record.levelno, record.getMessage())
        now = self.clock()
        with self._lock:
            window = self._windows.get(key)
            if window and now - window[0] < self.seconds:
                window[1] += 1
                keep = False
            else:
                if window and window[1]:
                    record.msg = (f"{key[2]} (repeated {window[1]} times in the "
                                  f"{now - window[0]:.0f} s before)")
                    record.args = None
                self._windows[key] = [now, 0]
                keep = True
            if len(self._windows) > self.MAX_KEYS:
                self._windows = {k: w for k, w in self._windows.items()
                                 if now - w[0] < self.seconds}
        record._repeat_filter_pass = keep
        return keep


def install(token: str | None, level: int = logging.INFO, *, file: str | Path | None = None,
            max_bytes: int = 10_000_000, backups: int = 5,
            repeat_seconds: float = 60.0) -> None:
    """Configure the process's logging for the bot: one line per record on stderr (and in
    `file`, rotated at `max_bytes` keeping `backups` old files), token redacted, user
    text kept to DEBUG, identical records at most once per `repeat_seconds`."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if file:
        Path(file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.handlers.RotatingFileHandler(
            file, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"))
    repeats = RepeatFilter(repeat_seconds) if repeat_seconds > 0 else None
    for handler in handlers:
        if repeats:
            handler.addFilter(repeats)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=level,
                        handlers=handlers)
    # Start-up chatter that says nothing about the bot (CPU feature probing, job bookkeeping).
    for name in ("faiss.loader", "apscheduler"):
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    protect(token)
