"""Command line: `python -m retrieval index|search|eval|fetch`.

    python -m retrieval index  --corpus DIR --index DIR [--rebuild]
    python -m retrieval search --index DIR --top K [--json] (QUESTION | --queries FILE)
    python -m retrieval eval   --index DIR --questions FILE [--json] [--misses]
    python -m retrieval fetch  --corpus DIR [--feed URL]... [--sitemap URL]... [--since DATE]
                               [--index DIR] [--allow-private] [URL...]
    python -m retrieval postgres start|stop DIR   (a throwaway local PostgreSQL with pgvector)
    python -m retrieval migrate --to postgres|embedded [--index DIR]   (copies, never re-embeds)

What the chat bot stores (questions, votes) and its report page are read by
`python -m chat feedback|dashboard` (chat/cli.py).

Speed figures come from benchmarks/retrieval_speed.py, not from here.

Works with no config file; `--config FILE` (TOML) overrides the defaults.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .config import ConfigError, load_config
from .index import BuildInProgress, IndexFormatError, IndexMismatch, IndexNotFound, build_index
from .index.layout import IndexUnavailable
from .types import SearchResponse, format_date


def format_response(response: SearchResponse) -> str:
    """A readable listing with citations, for people at a terminal."""
    lines = [f"? {response.query}"]
    if response.understood:
        lines.append(f"  understood: {response.understood}")
    if response.match == "partial":
        lines.append(f"  (partial match: no article satisfies the {' and '.join(response.missing)}"
                     " asked; the nearest are below)")
    elif not response.answered:
        lines.append("  (no passage answers this question well; closest matches below)"
                     if response.hits else "  (nothing found)")
    for rank, hit in enumerate(response.hits, 1):
        cite = " | ".join(x for x in (hit.place, format_date(hit.date) or "không rõ ngày", hit.source) if x)
        lines.append(f"\n[{rank}] {hit.title}")
        lines.append(f"    {cite}  (score {hit.score:.3f}, {hit.passage_id})")
        if hit.url:
            lines.append(f"    {hit.url}")
        lines.append("    " + hit.text.replace("\n", "\n    "))
    return "\n".join(lines)


def _cmd_index(args, config) -> int:
    corpus = args.corpus or config.corpus_dir
    index = args.index or config.index_dir
    report = build_index(corpus, index, config, progress=not args.quiet, rebuild=args.rebuild,
                         changed=args.changed)
    print(report.summary())
    if report.seconds > 0 and report.embedded:
        print(f"embedding speed: {report.embedded / report.seconds:.1f} passages/s (whole build)")
    return 0


def _open_searcher(args, config):
    from .search import Searcher

    return Searcher.open(args.index or config.index_dir, config)


def _cmd_search(args, config) -> int:
    searcher = _open_searcher(args, config)
    if args.queries:
        questions = [q for q in Path(args.queries).read_text(encoding="utf-8").splitlines()]
    elif args.question:
        questions = [" ".join(args.question)]
    else:
        print("give a QUESTION or --queries FILE", file=sys.stderr)
        return 2
    for question in questions:
        response = searcher.search(question, top_k=args.top)  # None: search.top_k of the config
        if args.json:
            print(json.dumps(response.to_json(), ensure_ascii=False), flush=True)
        else:
            print(format_response(response) + "\n", flush=True)
    return 0


def _cmd_eval(args, config) -> int:
    from .evaluate import evaluate, read_questions

    searcher = _open_searcher(args, config)
    result = evaluate(searcher, read_questions(args.questions))
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=1))
    else:
        print(result.report())
    if args.misses:
        for miss in result.misses:
            print(json.dumps(miss, ensure_ascii=False))
    return 0


def _cmd_fetch(args, config) -> int:
    from .fetch import fetch, parse_since

    cfg = config.fetch
    if args.url or args.feed or args.sitemap:  # sources on the command line replace the config's
        urls, feeds, sitemaps = args.url or [], args.feed or [], args.sitemap or []
    else:
        urls, feeds, sitemaps = cfg.pages, cfg.feeds, cfg.sitemaps
    if not (urls or feeds or sitemaps):
        print("error: give article URLs, --feed or --sitemap (or [fetch] pages, feeds, sitemaps "
              "in the config)", file=sys.stderr)
        return 2
    since = parse_since(args.since) if args.since else None
    corpus = Path(args.corpus or config.corpus_dir)
    index = Path(args.index or config.index_dir)
    report = fetch(corpus, cfg, cfg.state_path(index), urls=urls, feeds=feeds, sitemaps=sitemaps, since=since,
                   allow_private=args.allow_private)
    print(report.summary())
    if args.index:
        print("\nindex:")
        print(build_index(corpus, index, config, progress=not args.quiet,
                          changed=report.written(corpus)).summary())
    elif report.fetched:
        print(f"\nnew or changed files: run `python -m retrieval index --corpus {corpus}` "
              "(or pass --index DIR) to index them")
    return 0
def _cmd_postgres(args, config) -> int:
    from .postgres import server

    try:
        return server.main(args.action, args.folder)
    except server.ServerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _cmd_migrate(args, config) -> int:
    from .index.backend import postgres_dsn
    from .postgres.migrate import migrate_index

    print(migrate_index(args.index or config.index_dir, postgres_dsn(config), args.to))
    if config.index.backend != args.to:
        print(f'serve it with [index] backend = "{args.to}" in the config')
    return 0


def _moved(args, config) -> int:
    """feedback and dashboard read the chat bot's stores: they are `python -m chat ...`."""
    print(f"`python -m retrieval {args.command}` is now `python -m chat {args.command}` "
          "(same options)", file=sys.stderr)
    return 2


def common_options() -> argparse.ArgumentParser:
    """--config and --verbose, accepted before or after the command (this CLI and chat's)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS,
                        help="TOML file overriding the defaults (see config.example.toml)")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="log details")
    return common


def parse_common(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse, give --config and --verbose their defaults, and set up logging (both CLIs)."""
    args = parser.parse_args(argv)
    args.config = getattr(args, "config", None)
    args.verbose = getattr(args, "verbose", False)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    return args


def build_parser() -> argparse.ArgumentParser:
    common = common_options()
    parser = argparse.ArgumentParser(prog="python -m retrieval", parents=[common],
                                     description="Index and search Vietnamese work-programme articles.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", parents=[common], help="build or update the index of a corpus folder")
    p.add_argument("--corpus", help="corpus folder (default: corpus)")
    p.add_argument("--index", help="index folder (default: index)")
    p.add_argument("--rebuild", action="store_true",
                   help="start afresh, e.g. after switching to another embedder")
    p.add_argument("--changed", nargs="+", metavar="FILE",
                   help="only these corpus files were written or deleted: the folder is not listed "
                        "(a script that copies articles in; the next plain run catches anything else)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.set_defaults(run=_cmd_index)

    p = sub.add_parser("search", parents=[common], help="ask questions")
    p.add_argument("question", nargs="*", help="the question")
    p.add_argument("--index", help="index folder (default: index)")
    p.add_argument("--top", type=int, help="passages per question (default: search.top_k, 5)")
    p.add_argument("--json", action="store_true", help="one JSON object per question")
    p.add_argument("--queries", help="file with one question per line")
    p.set_defaults(run=_cmd_search)

    p = sub.add_parser("eval", parents=[common], help="hit@k and MRR on a JSON-lines question set")
    p.add_argument("--index", help="index folder (default: index)")
    p.add_argument("--questions", required=True, help="JSON lines: question, gold_ids, gold_snippet")
    p.add_argument("--json", action="store_true", help="metrics as JSON")
    p.add_argument("--misses", action="store_true", help="also list questions missed at rank 3")
    p.set_defaults(run=_cmd_eval)

    p = sub.add_parser("fetch", parents=[common],
                       help="fetch articles from portal URLs, RSS/Atom feeds and sitemaps into the corpus")
    p.add_argument("url", nargs="*", help="article page URLs")
    p.add_argument("--corpus", help="corpus folder; pages go to CORPUS/fetched/<host>/ (default: corpus)")
    p.add_argument("--feed", action="append", help="RSS or Atom feed URL (repeatable)")
    p.add_argument("--sitemap", action="append", help="sitemap or sitemap index URL, .xml or .xml.gz "
                                                      "(repeatable)")
    p.add_argument("--since", help="skip pages whose feed date or sitemap lastmod is older (2024-01-31)")
    p.add_argument("--index", help="also update this index folder after fetching; the fetch state "
                                   "(fetch.sqlite) lives in the index folder either way")
    p.add_argument("--allow-private", action="store_true",
                   help="allow loopback and private-network addresses (tests against a local server)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output while indexing")
    p.set_defaults(run=_cmd_fetch)
    p = sub.add_parser("postgres", parents=[common],
                       help="start or stop a throwaway local PostgreSQL with pgvector in DIR")
    p.add_argument("action", choices=("start", "stop"))
    p.add_argument("folder", metavar="DIR", help="the server's folder (initialised when empty)")
    p.set_defaults(run=_cmd_postgres)
    p = sub.add_parser("migrate", parents=[common],
                       help="copy the index between the index folder and PostgreSQL, without re-embedding")
    p.add_argument("--to", required=True, choices=("postgres", "embedded"))
    p.add_argument("--index", help="the index folder copied from or to (default: index)")
    p.set_defaults(run=_cmd_migrate)
    for moved in ("feedback", "dashboard"):  # see _moved
        p = sub.add_parser(moved, help=f"moved: python -m chat {moved}", add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(run=_moved)

    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse_common(build_parser(), argv)
    try:
        config = load_config(args.config)
        return args.run(args, config)
    except (ConfigError, IndexNotFound, IndexMismatch, IndexFormatError, BuildInProgress,
            IndexUnavailable, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the previous index is still in place", file=sys.stderr)
        return 130
