"""Command line of the chat side: `python -m chat feedback|dashboard`.

    python -m chat feedback export [--db FILE] [--out FILE]
    python -m chat feedback purge  [--db FILE] (--all | --older-than DAYS)
    python -m chat dashboard [--feedback-db FILE] [--index DIR] [--host H] [--port N]

They live here, not in `python -m retrieval`, because the stores they read
belong to the chat front end and retrieval/ never imports chat/.  Works with no
config file; `--config FILE` (TOML) overrides the defaults.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from pathlib import Path

from retrieval.cli import common_options, parse_common

from .config import ConfigError, load_config
from .feedback import FeedbackStore
from .stores import StoreUnavailable, open_stores


def _cmd_feedback(args, config) -> int:
    """Export (JSON lines) or delete what the bot stored about questions and votes."""
    if args.action == "purge" and not args.all and args.older_than is None:
        print("purge needs --all or --older-than DAYS", file=sys.stderr)
        return 2
    if config.index.backend == "postgres" and not args.db:  # the replicas' shared store
        store = open_stores(config).questions
    else:
        db = Path(args.db or config.bot.feedback_db)
        if not db.is_file():
            raise FileNotFoundError(f"no feedback database at {db}")
        store = FeedbackStore(db)
    try:
        if args.action == "purge":
            deleted = store.purge(None if args.all else args.older_than)
            print(f"deleted {deleted['questions']} questions, {deleted['votes']} votes, "
                  f"{deleted['shown']} shown-passage rows")
            return 0
        # The export holds what people asked: readable by its owner only.
        out = (os.fdopen(os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w",
                         encoding="utf-8") if args.out else sys.stdout)
        try:
            for record in store.export():
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        finally:
            if out is not sys.stdout:
                out.close()
        return 0
    finally:
        store.close()


def _cmd_dashboard(args, config) -> int:
    """Serve the report page until interrupted."""
    from .dashboard import dashboard_from_config, make_server

    dashboard = dashboard_from_config(config, feedback_db=args.feedback_db, index_dir=args.index)
    if config.index.backend != "postgres" and not dashboard.feedback_db.is_file():
        raise FileNotFoundError(f"no feedback database at {dashboard.feedback_db}")
    host = args.host or config.dashboard.host
    server = make_server(dashboard, host, args.port if args.port is not None else config.dashboard.port)
    port = server.server_address[1]
    # Not a daemon, and joined on the way out: interrupting the interpreter while this
    # thread is still loading the index's native libraries aborts the process
    # ("terminate called without an active exception", exit -6, seen in CI).
    warm_up = threading.Thread(target=dashboard.warm_up, name="dashboard-warm-up")
    warm_up.start()
    print(f"Trang thống kê: http://{'localhost' if host in ('127.0.0.1', '::1') else host}:{port}/"
          + ("  (cần ?token=...)" if dashboard.token else "") + "  (Ctrl+C để dừng)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        warm_up.join()
        dashboard.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = common_options()
    parser = argparse.ArgumentParser(prog="python -m chat", parents=[common],
                                     description="What the chat bot stored: export, purge, report page.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("feedback", parents=[common],
                       help="export or delete the questions and votes the bot stored")
    p.add_argument("action", choices=["export", "purge"])
    p.add_argument("--db", help="feedback database (default: bot.feedback_db)")
    p.add_argument("--out", help="export: write JSON lines to this file instead of stdout")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help="purge: everything")
    which.add_argument("--older-than", type=float, metavar="DAYS",
                       help="purge: what was stored more than DAYS days ago")
    p.set_defaults(run=_cmd_feedback)

    p = sub.add_parser("dashboard", parents=[common],
                       help="serve the admins' report (questions, content gaps, coverage) as a web page")
    p.add_argument("--feedback-db", help="feedback database (default: bot.feedback_db)")
    p.add_argument("--index", help="index folder (default: index)")
    p.add_argument("--host", help="address to bind (default: dashboard.host, 127.0.0.1); any other "
                                  "needs a token in the variable dashboard.token_env names")
    p.add_argument("--port", type=int, help="port (default: dashboard.port, 8750; 0: any free port)")
    p.set_defaults(run=_cmd_dashboard)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse_common(build_parser(), argv)
    try:
        return args.run(args, load_config(args.config))
    except (ConfigError, FileNotFoundError, ValueError, OSError, StoreUnavailable) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
