"""`python bot.py` as a user runs it: console mode with piped input, the
missing-token message, and the Telegram mode against the fake Bot API."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from chat_fixtures import REPO, SEED_QUESTION
from fake_bot_api import FakeBotAPI
from round_robin import free_port

pytestmark = pytest.mark.slow

BOT = str(REPO / "bot.py")


def clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_BASE_URL", "MY_BOT_TOKEN")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def test_console_answers_piped_questions_in_order(seed_index):
    questions = [
        SEED_QUESTION,
        "",  # blank lines are skipped
        "thanh uy hong ngu lam viec voi khoi van nam 2022",
        "Giá vàng hôm nay ở Paris bao nhiêu?",
        "/more",
        "😀😀",
    ]
    run = subprocess.run(
        [sys.executable, BOT, "--console", "--index", str(seed_index.index_dir),
         "--corpus", str(seed_index.corpus_dir)],
        input="\n".join(questions) + "\n", capture_output=True, text=True, timeout=180,
        env=clean_env(), cwd=REPO)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    echoes = [line[2:] for line in out.splitlines() if line.startswith("❓ ")]
    assert echoes == [q for q in questions if q]
    blocks = out.split("❓ ")[1:]
    assert "📍 Đầm Hà · 🗓 11/01/2024" in blocks[0] and "1. " in blocks[0]
    assert "**" in blocks[0]  # the best sentence is marked even without a terminal
    assert "Hồng Ngự" in blocks[1] and "🗓 21/12/2022" in blocks[1]
    assert "chưa tìm thấy thông tin" in blocks[2] and "📍" not in blocks[2]
    # /more continues the last answered question, not the unanswered one.
    assert "Kết quả 4–6 cho: thanh uy hong ngu" in blocks[3] and "\n4. " in blocks[3]
    assert "chỉ đọc được câu hỏi bằng chữ" in blocks[4]
    assert "<b>" not in out and "&amp;" not in out  # terminal text, not Telegram HTML
    assert "Traceback" not in run.stderr


def test_console_builds_missing_index_with_progress(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(REPO / "corpus" / "004_6fe61718397cdb7e.txt", corpus)  # the shortest seed
    run = subprocess.run(
        [sys.executable, BOT, "--console", "--index", str(tmp_path / "index"),
         "--corpus", str(corpus)],
        input="Thành ủy Hồng Ngự làm việc với các ngành Khối vận năm 2022\n",
        capture_output=True, text=True, timeout=180, env=clean_env(), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "Chưa có chỉ mục" in run.stderr and "embedding:" in run.stderr
    assert "articles: 1" in run.stderr
    assert "Hồng Ngự" in run.stdout and "📍" in run.stdout
    assert (tmp_path / "index" / "catalog.sqlite").is_file()


def test_no_token_explains_and_exits_nonzero(tmp_path):
    run = subprocess.run([sys.executable, BOT], capture_output=True, text=True, timeout=60,
                         env=clean_env(), cwd=tmp_path)
    assert run.returncode != 0
    assert "TELEGRAM_BOT_TOKEN" in run.stderr and "--console" in run.stderr
    assert "BotFather" in run.stderr and "Traceback" not in run.stderr
    # A config may name another variable; the message follows it.
    config = tmp_path / "bot.toml"
    config.write_text('[bot]\ntoken_env = "MY_BOT_TOKEN"\n', encoding="utf-8")
    run = subprocess.run([sys.executable, BOT, "--config", str(config)], capture_output=True,
                         text=True, timeout=60, env=clean_env(TELEGRAM_BOT_TOKEN="x:y"),
                         cwd=tmp_path)
    assert run.returncode != 0 and "MY_BOT_TOKEN" in run.stderr


def test_bad_config_is_reported(tmp_path):
    config = tmp_path / "bot.toml"
    config.write_text("[bot]\nno_such_setting = 1\n", encoding="utf-8")
    run = subprocess.run([sys.executable, BOT, "--config", str(config), "--console"],
                         capture_output=True, text=True, timeout=60, env=clean_env(), cwd=tmp_path)
    assert run.returncode == 2 and "no_such_setting" in run.stderr
    # A wrong type is refused by every front end before anything starts.
    config.write_text('[bot]\nadmins = "123"\n', encoding="utf-8")
    for extra, env in (["--console"], clean_env()), ([], clean_env(TELEGRAM_BOT_TOKEN="1:x")):
        run = subprocess.run([sys.executable, BOT, "--config", str(config), *extra],
                             capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
        assert run.returncode == 2 and "bot.admins must be a list of whole numbers" in run.stderr
        assert "Traceback" not in run.stderr


def test_bot_process_talks_to_base_url_server(seed_index, fake_api, tmp_path):
    """The real `python bot.py`: token and TELEGRAM_BASE_URL from the environment,
    config from TOML, answers a question, stops on SIGINT, never logs the token."""
    api: FakeBotAPI = fake_api
    config = tmp_path / "bot.toml"
    db = tmp_path / "data" / "fb.sqlite"
    config.write_text(f'[bot]\nfeedback_db = "{db}"\nreload_seconds = 5\n', encoding="utf-8")
    api.message(SEED_QUESTION, chat_id=31337)  # waiting before the bot starts
    proc = subprocess.Popen(
        [sys.executable, BOT, "--config", str(config), "--index", str(seed_index.index_dir),
         "--corpus", str(seed_index.corpus_dir), "--log-level", "DEBUG"],
        env=clean_env(TELEGRAM_BOT_TOKEN=api.token, TELEGRAM_BASE_URL=api.base_url),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        while not any(m.reply_markup for m in api.sent_to(31337)) \
                and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        out, err = _interrupt(proc)
    sent = api.sent_to(31337)
    assert sent, err
    assert "Đầm Hà" in sent[0].plain and sent[-1].reply_markup
    assert proc.returncode == 0, err
    assert api.calls_to("setMyCommands") and api.calls_to("deleteWebhook")
    assert db.is_file()  # feedback storage from the config
    assert api.token not in err + out and api.token.split(":")[1] not in err + out
    assert "127.0.0.1" in err  # it did log, at DEBUG, with the URL redacted


def _interrupt(proc: subprocess.Popen) -> tuple[str, str]:
    """Stop the bot as Ctrl-C would (killing it only if it hangs); its (stdout, stderr)."""
    proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()


def _post(url: str, payload: dict, secret: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if secret:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    request = urllib.request.Request(url, json.dumps(payload).encode(), headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def test_bot_process_webhook_mode(seed_index, fake_api, tmp_path):
    """mode = "webhook": the bot registers its URL and secret with setWebhook, answers
    updates POSTed with the secret header, and ignores those without it."""
    api: FakeBotAPI = fake_api
    port = free_port()
    url = f"http://127.0.0.1:{port}/tg-hook"
    config = tmp_path / "bot.toml"
    config.write_text(
        f'[bot]\nmode = "webhook"\nwebhook_url = "{url}"\nwebhook_listen = "127.0.0.1"\n'
        f'webhook_port = {port}\nfeedback_db = "{tmp_path / "fb.sqlite"}"\n', encoding="utf-8")
    secret = "s3cret-hook-token"
    proc = subprocess.Popen(
        [sys.executable, BOT, "--config", str(config), "--index", str(seed_index.index_dir),
         "--corpus", str(seed_index.corpus_dir)],
        env=clean_env(TELEGRAM_BOT_TOKEN=api.token, TELEGRAM_BASE_URL=api.base_url,
                      TELEGRAM_WEBHOOK_SECRET=secret),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        while not api.calls_to("setWebhook") and time.monotonic() < deadline \
                and proc.poll() is None:
            time.sleep(0.1)
        forged = dict(api.message_update("Đầm Hà năm 2024", chat_id=501), update_id=1)
        genuine = dict(api.message_update(SEED_QUESTION, chat_id=502), update_id=2)
        status_forged = status_genuine = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status_forged = _post(url, forged, "wrong-secret")
                status_genuine = _post(url, genuine, secret)
                break
            except OSError:  # the webhook server is not listening yet
                time.sleep(0.2)
        while not api.sent_to(502) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        out, err = _interrupt(proc)
    hook = api.calls_to("setWebhook")
    assert hook, err
    assert hook[0].params["url"] == url and hook[0].params["secret_token"] == secret
    assert status_forged == 403 and status_genuine == 200
    assert not api.sent_to(501)
    assert "Đầm Hà" in api.sent_to(502)[0].plain
    assert api.token not in out + err


def test_rejected_token_is_explained(seed_index, fake_api, tmp_path):
    run = subprocess.run(
        [sys.executable, BOT, "--index", str(seed_index.index_dir),
         "--corpus", str(seed_index.corpus_dir)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env=clean_env(TELEGRAM_BOT_TOKEN="42:not-the-right-token",
                      TELEGRAM_BASE_URL=fake_api.base_url))
    assert run.returncode == 2
    assert "không chấp nhận token" in run.stderr and "TELEGRAM_BOT_TOKEN" in run.stderr
    assert run.stderr.rstrip().endswith("(hoặc dùng --console).")  # our words come last
    assert "not-the-right-token" not in run.stderr
