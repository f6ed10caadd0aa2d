"""The layers stay apart: retrieval never imports the chat, the front-end-neutral chat core
runs without python-telegram-bot, and each shared rule has one owner."""
import ast
import subprocess
import sys

from conftest import ROOT


def _imports(path) -> set[str]:
    """Every module a source file imports (absolute names; relative ones as written)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_nothing_in_retrieval_imports_the_chat():
    offenders = {str(p.relative_to(ROOT)): sorted(n for n in _imports(p) if n.split(".")[0] in ("chat", "telegram"))
                 for p in (ROOT / "retrieval").rglob("*.py")}
    assert {p: names for p, names in offenders.items() if names} == {}


_NO_TELEGRAM = """
import sys
class NoTelegram:
    def find_spec(self, name, path=None, target=None):
        if name == "telegram" or name.startswith("telegram."):
            raise ImportError(name + " is blocked")
sys.meta_path.insert(0, NoTelegram())
"""


def _without_telegram(script: str) -> subprocess.CompletedProcess:
    """Run `script` in a fresh interpreter where python-telegram-bot cannot be imported."""
    done = subprocess.run([sys.executable, "-c", _NO_TELEGRAM + script], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def test_the_chat_core_and_the_console_run_without_python_telegram_bot():
    """With `telegram` made unimportable, ChatService answers a question in the console."""
    done = _without_telegram("""
from chat.config import load_config
from chat.console import run_console
from chat.service import ChatService
from chat import textutil
from chat.render import cards, markup, texts
print("imported", ChatService.__name__, run_console.__name__, textutil.TELEGRAM_LIMIT)
""")
    assert "imported ChatService run_console 4096" in done.stdout


def test_the_zalo_bot_runs_without_python_telegram_bot():
    """With `telegram` made unimportable, the Zalo app (and bot.py's way to it) imports,
    and its /thongke summary renders: a Zalo-only deployment needs no Telegram library."""
    done = _without_telegram("""
import bot
from chat.zalo import app, client, handlers, webhook
from chat.insights import chat_summary
from chat.render.markup import ZALO
assert "telegram" not in sys.modules
print("imported", app.build_zalo.__name__, bot.run_zalo.__name__, chat_summary.__name__, ZALO.limit)
""")
    assert "imported build_zalo run_zalo chat_summary 2000" in done.stdout


def test_the_telegram_limit_written_in_the_core_is_telegrams():
    from telegram.constants import MessageLimit

    from chat.textutil import TELEGRAM_LIMIT

    assert TELEGRAM_LIMIT == MessageLimit.MAX_TEXT_LENGTH


def test_admins_may_upload_exactly_what_the_corpus_reads():
    from chat.admin import UploadRejected, safe_file_name
    from retrieval.convert import SUPPORTED_SUFFIXES

    for suffix in SUPPORTED_SUFFIXES:
        assert safe_file_name(f"Bài viết{suffix.upper()}") == f"bai-viet{suffix}"
    for other in (".pdf", ".docx", ".exe"):
        try:
            safe_file_name(f"bai{other}")
        except UploadRejected:
            continue
        raise AssertionError(f"{other} was accepted")
