#!/usr/bin/env python
"""Vietnamese Q&A bot over the article index: on Telegram, or as a chat in the terminal.

    python bot.py                      # Telegram bot (long polling, or webhook if configured)
    python bot.py --console            # the same answers in the terminal
    python bot.py --console < q.txt    # one question per line, answers printed in order
    python bot.py --zalo               # Zalo bot (token in ZALO_BOT_TOKEN; or [zalo] enabled)
    python bot.py --config bot.toml --index index/ --corpus corpus/

The token comes from the environment variable TELEGRAM_BOT_TOKEN (the config
can name another variable; it never holds the token itself).  With
TELEGRAM_BASE_URL set, e.g. http://127.0.0.1:8081/bot, the bot talks to that
Bot API server instead of Telegram's.  The Zalo bot reads ZALO_BOT_TOKEN and
ZALO_BASE_URL (default https://bot-api.zaloplatforms.com) the same way.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from urllib.parse import urlsplit

from retrieval.config import ConfigError, load_config

log = logging.getLogger("bot")

NO_TOKEN = """\
Chưa có token của bot Telegram: biến môi trường {var} chưa được đặt.

  1. Tạo bot và lấy token với @BotFather trên Telegram.
  2. Chạy:   export {var}='123456789:ABC...'
             python bot.py

Muốn hỏi đáp ngay trong terminal, không cần Telegram:
             python bot.py --console
             echo "Huyện ủy duyệt chương trình công tác năm 2024" | python bot.py --console
(No Telegram token: set {var}, or use --console.)"""

NO_ZALO_TOKEN = """\
Chưa có token của bot Zalo: biến môi trường {var} chưa được đặt.

  1. Tạo bot bằng Zalo Bot Creator (zalo.me/s/botcreator) và lấy token.
  2. Chạy:   export {var}='...'
             python bot.py --zalo
(No Zalo token: set {var}, or use --console.)"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Bot hỏi đáp tiếng Việt có trích dẫn nguồn: Telegram hoặc terminal.")
    parser.add_argument("--config", help="tệp cấu hình TOML (xem config.example.toml)")
    parser.add_argument("--index", help="thư mục chỉ mục (ghi đè cấu hình)")
    parser.add_argument("--corpus", help="thư mục dữ liệu bài viết (ghi đè cấu hình)")
    parser.add_argument("--console", action="store_true",
                        help="trò chuyện trong terminal thay vì Telegram")
    parser.add_argument("--zalo", action="store_true",
                        help="chạy bot Zalo (Zalo Bot Platform) thay vì Telegram")
    parser.add_argument("--reindex", action="store_true",
                        help="cập nhật chỉ mục từ thư mục dữ liệu trước khi chạy")
    parser.add_argument("--webhook", action="store_true", help="dùng webhook (ghi đè cấu hình)")
    parser.add_argument("--polling", action="store_true", help="dùng long polling (ghi đè cấu hình)")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING... (mặc định INFO)")
    return parser.parse_args(argv)


def open_searcher(config, rebuild: bool = False):
    """Open the index, building it from the corpus first when there is none (progress on stderr)."""
    from retrieval.index import IndexFormatError, IndexNotFound, build_index
    from retrieval.search import Searcher

    if not rebuild:
        try:
            return Searcher.open(config.index_dir, config)
        except IndexNotFound:
            print(f"Chưa có chỉ mục trong {config.index_dir}: đang xây dựng từ {config.corpus_dir}…",
                  file=sys.stderr, flush=True)
        except IndexFormatError:  # an index of an older version: converted, cache kept
            print(f"Chỉ mục trong {config.index_dir} ở định dạng cũ: đang chuyển đổi…",
                  file=sys.stderr, flush=True)
    report = build_index(config.corpus_dir, config.index_dir, config, progress=True)
    print(report.summary(), file=sys.stderr, flush=True)
    return Searcher.open(config.index_dir, config)


def run_console(config, rebuild: bool) -> int:
    """The terminal chat; questions and feedback are not stored on disk."""
    from chat.console import run_console as console_loop
    from chat.feedback import FeedbackStore
    from chat.service import ChatService, conversation_memory

    for stream in (sys.stdin, sys.stdout):
        if hasattr(stream, "reconfigure"):  # Vietnamese text whatever the locale says
            stream.reconfigure(encoding="utf-8", errors="replace")
    searcher = open_searcher(config, rebuild)
    service = ChatService(searcher, FeedbackStore(":memory:"), config.bot.answers_per_page,
                          conversation_memory(config.bot))
    return console_loop(service)


def run_telegram(config, token: str, webhook: bool, rebuild: bool) -> int:
    from chat.stores import open_stores
    from chat.telegram_bot import ALLOWED_UPDATES, build_application

    stores = open_stores(config)  # first: a wrong database address is said before the index loads
    searcher = open_searcher(config, rebuild)
    base_url = os.environ.get(config.bot.base_url_env) or None
    application = build_application(config, searcher, token=token, base_url=base_url, stores=stores,
                                    base_file_url=os.environ.get("TELEGRAM_BASE_FILE_URL") or None)
    if base_url:
        log.info("using the Bot API server at %s", base_url)
    if webhook:
        bot = config.bot
        if not bot.webhook_url:
            print("Chế độ webhook cần bot.webhook_url trong tệp cấu hình.", file=sys.stderr)
            return 2
        application.run_webhook(
            listen=bot.webhook_listen,
            port=int(bot.webhook_port),
            url_path=urlsplit(bot.webhook_url).path.lstrip("/"),
            webhook_url=bot.webhook_url,
            secret_token=os.environ.get(bot.webhook_secret_env) or None,
            allowed_updates=ALLOWED_UPDATES,
        )
    else:
        application.run_polling(allowed_updates=ALLOWED_UPDATES)
    return 0


def run_zalo(config, token: str, rebuild: bool) -> int:
    """The Zalo bot, long polling until Ctrl-C or SIGTERM."""
    import asyncio

    from chat.zalo.app import build_zalo, serve
    from chat.zalo.client import ZaloError

    searcher = open_searcher(config, rebuild)
    bot = build_zalo(config, searcher, token)
    try:
        asyncio.run(serve(bot))
    except ZaloError as e:
        if e.code not in (401, 403, 404):
            raise
        print(f"Zalo không chấp nhận token trong biến {config.zalo.token_env} ({e.code}): hãy "
              "kiểm tra lại trong Zalo Bot Creator (hoặc dùng --console).", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(f"Lỗi cấu hình: {e}", file=sys.stderr)
        return 2
    if args.index:
        config.index_dir = args.index
    if args.corpus:
        config.corpus_dir = args.corpus

    from chat import logsafe

    level = getattr(logging, str(args.log_level).upper(), logging.INFO)
    logs = config.log
    log_options = {"file": logs.file or None, "max_bytes": logs.max_bytes,
                   "backups": logs.backups, "repeat_seconds": logs.repeat_seconds}
    if args.console:  # keep the transcript clean
        logsafe.install(None, level=max(level, logging.WARNING), **log_options)
        return _guard(lambda: run_console(config, args.reindex))

    if args.zalo or config.zalo.enabled:
        token = os.environ.get(config.zalo.token_env, "").strip()
        if not token:
            print(NO_ZALO_TOKEN.format(var=config.zalo.token_env), file=sys.stderr)
            return 2
        logsafe.install(token, level=level, **log_options)
        return _guard(lambda: run_zalo(config, token, args.reindex))

    token = os.environ.get(config.bot.token_env, "").strip()
    if not token:
        print(NO_TOKEN.format(var=config.bot.token_env), file=sys.stderr)
        return 2
    logsafe.install(token, level=level, **log_options)
    webhook = (config.bot.mode == "webhook" or args.webhook) and not args.polling
    return _guard(lambda: run_telegram(config, token, webhook, args.reindex),
                  token_env=config.bot.token_env)


def _guard(run, token_env: str | None = None) -> int:
    """Turn the expected start-up failures into one readable line and a non-zero exit."""
    from telegram.error import InvalidToken

    from chat.stores import StoreUnavailable
    from retrieval.index import BuildInProgress, IndexMismatch

    try:
        return run()
    except (IndexMismatch, BuildInProgress, FileNotFoundError, StoreUnavailable) as e:
        print(f"Lỗi: {e}", file=sys.stderr)
        return 2
    except InvalidToken:
        print(f"Telegram không chấp nhận token trong biến {token_env}: hãy kiểm tra lại với "
              "@BotFather (hoặc dùng --console).", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
