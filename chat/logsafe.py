"""Logging that never reveals the bot token.

The token is part of every Bot API URL (https://api.telegram.org/bot<TOKEN>/...);
httpx logs each request URL at INFO, python-telegram-bot logs its base URL at
DEBUG, and exception texts may quote URLs.  Whoever holds the token controls
the bot, and logs get pasted into issues, so records are redacted where they
are created: a filter on handlers would miss handlers added later, and a
filter on a logger misses records of its child loggers.
"""
from __future__ import annotations

import logging
import re
import threading

REDACTED = "[REDACTED]"
# Anything shaped like a bot token, even one we were never told about.
_TOKEN_SHAPE = re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}")

_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False


def redact(text: str) -> str:
    for secret in _secrets:
        text = text.replace(secret, REDACTED)
    return _TOKEN_SHAPE.sub(REDACTED, text)


def _wrap_factory(factory):
    def make_record(*args, **kwargs) -> logging.LogRecord:
        record = factory(*args, **kwargs)
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
        if token:
            _secrets.add(token)
            _secrets.add(token.split(":", 1)[-1])  # the secret half alone is just as bad
        if not _installed:
            logging.setLogRecordFactory(_wrap_factory(logging.getLogRecordFactory()))
            _installed = True
    # httpx/httpcore log every request URL (token included) and nothing else of use.
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)


def install(token: str | None, level: int = logging.INFO) -> None:
    """Configure the process's logging for the bot: one line per record, token redacted."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=level)
    # Start-up chatter that says nothing about the bot (CPU feature probing, job bookkeeping).
    for name in ("faiss.loader", "apscheduler"):
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    protect(token)
