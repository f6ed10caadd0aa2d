"""Fetch speed and deduplication over a local FICTIONAL portal of N article pages.

    python -m benchmarks.fetch_speed [--pages 500] [--runs 3] [--workers 8] [--per-host 8]
                                     [--no-validators]

The portal runs in a separate process (http.server, threads) so that serving
does not compete with the fetcher for the GIL.  Articles come from
benchmarks/synthetic.py (invented places, people and events), rendered in the
three page layouts of tests/portal_site.py.  A sitemap index (one gzip child)
lists every page; an RSS feed lists a fifth of them again with tracking
parameters, and an id address repeats one page in twenty: both must come out
as the same articles, not new ones.  Pages carry an ETag, so later runs are
answered 304; `--no-validators` serves them without one, so every run
downloads and extracts every page again and only the text hash keeps the files
untouched.

The rate limit is off (requests_per_second = 0), as the issue asks; a real
portal is fetched at fetch.requests_per_second (1 by default).

Prints, per run: seconds, pages/s (article pages handled / wall time),
fetched/unchanged/skipped/failed; then files, distinct article texts and
duplicates over all runs; how many files give the generated title, date and
place once the index build reads them; the machine's load.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import multiprocessing
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from retrieval.config import FetchConfig
from retrieval.convert import read_article
from retrieval.convert.text import split_front_matter
from retrieval.fetch import fetch
from tests.portal_site import (
    FakeArticle,
    PortalServer,
    Route,
    article_html,
    rss_feed,
    sitemap_index,
    urlset,
)

from .synthetic import article_spec, render_article

SEED = 7
LAYOUT_CYCLE = ("portal", "blog", "legacy")


def fictional_articles(n: int) -> list[FakeArticle]:
    pages = []
    for number in range(n):
        spec = article_spec(SEED, number)
        meta, body = split_front_matter(render_article(spec, SEED))
        paragraphs = [p for p in body.split("\n") if p.strip()]
        pages.append(FakeArticle(f"/tin-tuc/{number:05d}.html", meta["title"], paragraphs,
                                 meta["date"], LAYOUT_CYCLE[number % 3]))
    return pages


def serve(n: int, ready, validators: bool) -> None:
    """Child process: the portal, until the parent terminates it."""
    with PortalServer() as server:
        base = server.base
        articles = fictional_articles(n)
        for a in articles:
            server.set_page(a.path, Route(article_html(a), etag=validators))
        for a in articles[::20]:  # the same page under an id address
            server.set_page(a.path.replace("/tin-tuc/", "/chi-tiet?id="),
                            Route(article_html(a), etag=validators))
        server.set_page("/robots.txt", Route(b"User-agent: *\nDisallow: /noi-bo/\n", "text/plain"))
        entries = [(a.path, a.date) for a in articles]
        entries += [(a.path.replace("/tin-tuc/", "/chi-tiet?id="), a.date) for a in articles[::20]]
        half = len(entries) // 2
        server.set_page("/sitemap.xml", Route(sitemap_index(base, ["/s1.xml.gz", "/s2.xml"]),
                                              "application/xml"))
        server.set_page("/s1.xml.gz", Route(gzip.compress(urlset(base, entries[:half])),
                                            "application/x-gzip"))
        server.set_page("/s2.xml", Route(urlset(base, entries[half:]), "application/xml"))
        server.set_page("/rss.xml", Route(rss_feed(base, [
            (a.path + "?utm_source=rss&utm_campaign=tin", "Mon, 15 Jan 2024 08:30:00 +0700")
            for a in articles[::5]]), "application/rss+xml"))
        ready.put(base)
        while True:
            time.sleep(3600)


def citations_right(corpus: Path) -> dict[str, int]:
    """How many fetched files give the generated article's title, date and place when the
    index build reads them (straight quotes come back as “…”, see convert/text.py render)."""
    right = {"title": 0, "date": 0, "place": 0}
    for path in corpus.rglob("*.md"):
        article = read_article(path, corpus)
        spec = article_spec(SEED, int(path.stem.split("-")[0]))
        right["title"] += article.title == re.sub(r'"([^"]*)"', "“\\1”", spec.title)
        right["date"] += article.date == spec.date
        right["place"] += article.place == spec.place
    return right


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", type=int, default=500)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=8, help="fetch.workers")
    ap.add_argument("--per-host", type=int, default=8, help="fetch.concurrency_per_host")
    ap.add_argument("--no-validators", action="store_true", help="serve pages without ETag")
    args = ap.parse_args()

    ready = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(args.pages, ready, not args.no_validators),
                                     daemon=True)
    server.start()
    try:
        base = ready.get(timeout=120)
        cfg = FetchConfig(requests_per_second=0, workers=args.workers,
                          concurrency_per_host=args.per_host, timeout_seconds=30, max_pages=10**6)
        work = Path(tempfile.mkdtemp(prefix="fetch-bench-"))
        corpus, state = work / "corpus", work / "index" / "fetch.sqlite"
        print(f"{args.pages} fictional pages at {base}; rate limit off; workers={args.workers}, "
              f"per host={args.per_host}; ETag={'no' if args.no_validators else 'yes'}; "
              f"cpus={os.cpu_count()}")
        for run in range(1, args.runs + 1):
            started = time.perf_counter()
            report = fetch(corpus, cfg, state, feeds=[base + "/rss.xml"],
                           sitemaps=[base + "/sitemap.xml"], allow_private=True)
            seconds = time.perf_counter() - started
            handled = len(report.fetched) + len(report.unchanged)
            print(f"run {run}: {seconds:.2f} s, {handled / seconds:.1f} pages/s; fetched "
                  f"{len(report.fetched)}, unchanged {len(report.unchanged)}, skipped "
                  f"{len(report.skipped)}, failed {len(report.failed)}")
            reasons = {o.reason.split(" http")[0] for o in report.skipped + report.failed}
            if reasons:
                print(f"   skipped/failed reasons: {sorted(reasons)}")
        files = sorted(corpus.rglob("*.md"))
        bodies = {hashlib.sha256(split_front_matter(p.read_text(encoding="utf-8"))[1].encode()).hexdigest()
                  for p in files}
        print(f"after {args.runs} runs: {len(files)} files, {len(bodies)} distinct article texts, "
              f"{len(files) - len(bodies)} duplicates (expected {args.pages} files, 0 duplicates)")
        right = citations_right(corpus)
        print(f"citations as the index reads them, against the generated articles: title "
              f"{right['title']}/{len(files)}, date {right['date']}/{len(files)}, place "
              f"{right['place']}/{len(files)}")
        print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    finally:
        server.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
