#!/usr/bin/env python
"""Vietnamese Q&A bot over the article index: on Telegram, or as a chat in the terminal.

    python bot.py                      # Telegram bot (long polling, or webhook if configured)
    python bot.py --console            # the same answers in the terminal
    python bot.py --console < q.txt    # one question per line, answers printed in order
    python bot.py --zalo               # Zalo bot (token in ZALO_BOT_TOKEN; or [zalo] enabled)
    python bot.py --telegram --zalo    # both in one process, one index and one store
    python bot.py --config bot.toml --index index/ --corpus corpus/

The token comes from the environment variable TELEGRAM_BOT_TOKEN (the config
can name another variable; it never holds the token itself).  With
TELEGRAM_BASE_URL set, e.g. http://127.0.0.1:8081/bot, the bot talks to that
Bot API server instead of Telegram's.  The Zalo bot reads ZALO_BOT_TOKEN and
ZALO_BASE_URL (default https://bot-api.zaloplatforms.com) the same way.

Which front ends run: --telegram and --zalo choose; without either, Telegram,
plus Zalo when [zalo] enabled = true (Zalo alone when no Telegram token is set).
--webhook / --polling override the mode of every front end that runs.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from urllib.parse import urlsplit

from chat.config import ConfigError, load_config

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
        description="Bot hỏi đáp tiếng Việt có trích dẫn nguồn: Telegram, Zalo hoặc terminal.")
    parser.add_argument("--config", help="tệp cấu hình TOML (xem config.example.toml)")
    parser.add_argument("--index", help="thư mục chỉ mục (ghi đè cấu hình)")
    parser.add_argument("--corpus", help="thư mục dữ liệu bài viết (ghi đè cấu hình)")
    parser.add_argument("--console", action="store_true",
                        help="trò chuyện trong terminal thay vì Telegram")
    parser.add_argument("--zalo", action="store_true",
                        help="chạy bot Zalo (Zalo Bot Platform); cùng --telegram: cả hai")
    parser.add_argument("--telegram", action="store_true",
                        help="chạy bot Telegram; cùng --zalo: cả hai trong một tiến trình")
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


def telegram_webhook(config) -> dict:
    """run_webhook's / start_webhook's options from [bot] (the secret from the environment)."""
    bot = config.bot
    return {"listen": bot.webhook_listen, "port": int(bot.webhook_port),
            "url_path": urlsplit(bot.webhook_url).path.lstrip("/"), "webhook_url": bot.webhook_url,
            "secret_token": os.environ.get(bot.webhook_secret_env) or None}


def zalo_webhook(config):
    """WebhookSettings from [zalo] (the secret from the environment), or the reason why not."""
    from chat.zalo.webhook import WebhookSettings, check_secret

    zalo = config.zalo
    if not zalo.webhook_url:
        return "Chế độ webhook của Zalo cần zalo.webhook_url trong tệp cấu hình."
    secret = os.environ.get(zalo.webhook_secret_env, "").strip()
    problem = check_secret(secret)
    if problem:
        return (f"Chế độ webhook của Zalo cần khoá bí mật trong biến {zalo.webhook_secret_env} "
                f"(8-256 ký tự): {problem}.")
    return WebhookSettings(url=zalo.webhook_url, secret=secret, listen=zalo.webhook_listen,
                           port=int(zalo.webhook_port))


def open_chat(config, rebuild: bool):
    """The chat stores (one set for every front end in this process; PostgreSQL's with
    [index] backend = "postgres"), then the index: a wrong database address is said
    before the index is loaded."""
    from chat.stores import open_stores

    stores = open_stores(config)
    return stores, open_searcher(config, rebuild)


def build_telegram(config, searcher, token: str, stores):
    """The Telegram Application over `searcher` and the `stores` open_stores gave."""
    from chat.telegram_bot import build_application

    base_url = os.environ.get(config.bot.base_url_env) or None
    if base_url:
        log.info("using the Bot API server at %s", base_url)
    return build_application(config, searcher, token=token, base_url=base_url, stores=stores,
                             base_file_url=os.environ.get("TELEGRAM_BASE_FILE_URL") or None)


def run_telegram(config, token: str, webhook: bool, rebuild: bool) -> int:
    from chat.telegram_bot import ALLOWED_UPDATES

    if webhook and not config.bot.webhook_url:
        print("Chế độ webhook cần bot.webhook_url trong tệp cấu hình.", file=sys.stderr)
        return 2
    stores, searcher = open_chat(config, rebuild)
    application = build_telegram(config, searcher, token, stores)
    if webhook:
        application.run_webhook(allowed_updates=ALLOWED_UPDATES, **telegram_webhook(config))
    else:
        application.run_polling(allowed_updates=ALLOWED_UPDATES)
    return 0


def run_zalo(config, token: str, webhook, rebuild: bool) -> int:
    """The Zalo bot, long polling (or on its webhook) until Ctrl-C or SIGTERM."""
    import asyncio

    from chat.zalo.app import build_zalo, serve

    stores, searcher = open_chat(config, rebuild)
    bot = build_zalo(config, searcher, token, stores=stores, webhook=webhook)
    asyncio.run(serve(bot))
    return 0


def run_both(config, tokens: dict[str, str], webhooks: dict, rebuild: bool) -> int:
    """Telegram and Zalo in one process: one index, one set of stores (questions, follow-up
    memory, rate limits) behind one ChatService, one build at a time; Telegram's reload
    job picks up a CLI rebuild for both."""
    import asyncio

    from chat.telegram_bot import STATE
    from chat.zalo.app import build_zalo

    if webhooks["telegram"] and not config.bot.webhook_url:
        print("Chế độ webhook cần bot.webhook_url trong tệp cấu hình.", file=sys.stderr)
        return 2
    stores, searcher = open_chat(config, rebuild)
    application = build_telegram(config, searcher, tokens["telegram"], stores)
    shared = application.bot_data[STATE]
    zalo = build_zalo(config, searcher, tokens["zalo"], stores=stores, service=shared.service,
                      reindexer=shared.reindexer, webhook=webhooks["zalo"], reload_seconds=0)
    asyncio.run(serve_both(application, zalo, webhooks["telegram"] and telegram_webhook(config)))
    return 0


async def serve_both(application, zalo, webhook: dict | None) -> None:
    """Start both bots on one event loop, answer until SIGINT/SIGTERM, then stop Zalo,
    stop Telegram (its shutdown closes the shared store and index), in that order."""
    from chat.telegram_bot import ALLOWED_UPDATES
    from chat.zalo.app import stop_on_signals

    await application.initialize()
    try:
        if application.post_init:  # run_polling would call it; initialize() does not
            await application.post_init(application)
        await zalo.start()
        if webhook:
            await application.updater.start_webhook(allowed_updates=ALLOWED_UPDATES, **webhook)
        else:
            await application.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
        await application.start()
        stop_on_signals(zalo.stop)
        log.info("serving Telegram and Zalo")
        await zalo.run()
    finally:
        await zalo.client.close()  # when start() failed, run() never closed it
        if application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()
        if application.post_shutdown:
            await application.post_shutdown(application)


def front_ends(args, config) -> set[str]:
    """--telegram / --zalo, or else Telegram plus Zalo when [zalo] enabled (Zalo alone when
    no Telegram token is set)."""
    chosen = {name for name in ("telegram", "zalo") if getattr(args, name)}
    if chosen:
        return chosen
    if not config.zalo.enabled:
        return {"telegram"}
    if not os.environ.get(config.bot.token_env, "").strip():
        return {"zalo"}
    return {"telegram", "zalo"}


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
        return _guard(lambda: run_console(config, args.reindex), config)

    fronts = front_ends(args, config)
    tokens = {}
    for front, env, missing in (("telegram", config.bot.token_env, NO_TOKEN),
                                ("zalo", config.zalo.token_env, NO_ZALO_TOKEN)):
        if front in fronts:
            tokens[front] = os.environ.get(env, "").strip()
            if not tokens[front]:
                print(missing.format(var=env), file=sys.stderr)
                return 2
    webhooks = webhook_modes(args, config, fronts)
    if isinstance(webhooks, str):
        print(webhooks, file=sys.stderr)
        return 2
    logsafe.install(tokens.get("telegram") or tokens["zalo"], level=level, **log_options)
    logsafe.protect(tokens.get("zalo"))
    if fronts == {"zalo"}:
        return _guard(lambda: run_zalo(config, tokens["zalo"], webhooks["zalo"], args.reindex),
                      config)
    if fronts == {"telegram"}:
        return _guard(lambda: run_telegram(config, tokens["telegram"], webhooks["telegram"],
                                           args.reindex), config)
    return _guard(lambda: run_both(config, tokens, webhooks, args.reindex), config)


def webhook_modes(args, config, fronts: set[str]) -> dict | str:
    """Per front end: Telegram's webhook on or off, Zalo's WebhookSettings or None (polling);
    --webhook / --polling override both configs.  A text: why Zalo's webhook cannot run."""
    def wanted(mode: str) -> bool:
        return (mode == "webhook" or args.webhook) and not args.polling

    modes = {"telegram": wanted(config.bot.mode), "zalo": None}
    if "zalo" in fronts and wanted(config.zalo.mode):
        modes["zalo"] = zalo_webhook(config)
        if isinstance(modes["zalo"], str):
            return modes["zalo"]
    return modes


def _guard(run, config) -> int:
    """Turn the expected start-up failures into one readable line and a non-zero exit."""
    from telegram.error import InvalidToken

    from chat.stores import StoreUnavailable
    from chat.zalo.client import ZaloError
    from retrieval.index import BuildInProgress, IndexMismatch, IndexUnavailable

    try:
        return run()
    except (IndexMismatch, BuildInProgress, IndexUnavailable, ConfigError, FileNotFoundError,
            StoreUnavailable) as e:
        print(f"Lỗi: {e}", file=sys.stderr)
        return 2
    except InvalidToken:
        print(f"Telegram không chấp nhận token trong biến {config.bot.token_env}: hãy kiểm tra "
              "lại với @BotFather (hoặc dùng --console).", file=sys.stderr)
        return 2
    except ZaloError as e:
        if e.code not in (401, 403, 404):
            raise
        print(f"Zalo không chấp nhận token trong biến {config.zalo.token_env} ({e.code}): hãy "
              "kiểm tra lại trong Zalo Bot Creator (hoặc dùng --console).", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
