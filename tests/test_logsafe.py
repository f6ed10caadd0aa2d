"""chat/logsafe.py beyond the token: user text kept to DEBUG, repeats rate-limited,
a rotating log file.  The names and questions below are fictional."""
from __future__ import annotations

import io
import logging
import subprocess
import sys

from conftest import ROOT
from telegram import Update

from chat import logsafe

QUESTION = "Chị Lò Thị Mây hỏi về hội thi ở xã Khe Vang"
RAW = {"update_id": 41, "message": {"message_id": 1, "date": 1, "text": QUESTION,
                                    "chat": {"id": 5, "type": "private"}}}


def _capture(name: str):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger, handler, stream


def test_updates_in_log_arguments_are_summarised_above_debug():
    logsafe.protect(None)  # installs the record factory
    logger, handler, stream = _capture("telegram.ext.test_user_text")
    update = Update.de_json(RAW, None)
    try:
        # What python-telegram-bot itself logs when an update goes wrong.
        logger.critical("Error while building CallbackContext for update %s. ", update)
        logger.critical("Error while parsing updates! Received data was %r",
                        [RAW, dict(RAW, update_id=42)])
        logger.error("one raw update: %(u)s", {"u": RAW})
        logger.debug("at DEBUG the content stays: %s", update)
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("CRITICAL Error while building CallbackContext for update "
                               "<Update 41>")
    assert "Received data was '<updates 41, 42>'" in lines[1]
    assert lines[2] == "ERROR one raw update: <update 41>"
    assert QUESTION not in "\n".join(lines[:3])
    assert lines[3].startswith("DEBUG") and QUESTION in lines[3]


def test_identical_records_pass_once_per_window_then_say_how_many_were_dropped():
    now = [0.0]
    repeats = logsafe.RepeatFilter(seconds=10, clock=lambda: now[0])
    logger, handler, stream = _capture("test_repeats")
    second = logging.StreamHandler(io.StringIO())  # two handlers, one decision per record
    for h in (handler, second):
        h.addFilter(repeats)
    logger.addHandler(second)
    try:
        for _ in range(50):  # a failure repeating every 0.1 s for 5 s
            logger.warning("problem while polling: %s", "timed out")
            now[0] += 0.1
        logger.warning("something else")
        now[0] = 12.0
        logger.warning("problem while polling: %s", "timed out")
        logger.error("problem while polling: timed out")  # another level: own key
    finally:
        logger.removeHandler(handler)
        logger.removeHandler(second)
    lines = stream.getvalue().splitlines()
    assert lines == [
        "WARNING problem while polling: timed out",
        "WARNING something else",
        "WARNING problem while polling: timed out (repeated 49 times in the 12 s before)",
        "ERROR problem while polling: timed out",
    ]
    assert second.stream.getvalue().count("\n") == 4


def test_install_writes_a_rotating_file(tmp_path):
    log_file = tmp_path / "logs" / "bot.log"
    script = (
        "import logging, sys\n"
        "from chat import logsafe\n"
        f"logsafe.install('55555:{'T' * 35}', file={str(log_file)!r}, max_bytes=10_000, "
        "backups=2)\n"
        "log = logging.getLogger('bot')\n"
        "for n in range(600):\n"
        "    log.info('answered question number %d for chat %d', n, n % 7)\n"
        f"log.info('token {'T' * 35} is redacted in the file too')\n"
    )
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    files = sorted(p.name for p in log_file.parent.iterdir())
    assert files == ["bot.log", "bot.log.1", "bot.log.2"]  # older ones deleted
    assert all((log_file.parent / f).stat().st_size <= 10_000 for f in files)
    text = log_file.read_text(encoding="utf-8")
    assert "answered question number 599" in text and "T" * 35 not in text
    assert "is redacted in the file too" in text and "answered question number 599" in run.stderr


def test_a_toy_token_does_not_garble_later_records():
    logsafe.protect("1:x")  # as a test or a typo might; Telegram's are 35 characters
    logger, handler, stream = _capture("test_toy_token")
    try:
        logger.info("index.sqlite exported 1:x")
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == "INFO index.sqlite exported 1:x\n"
