"""Fetching from a portal: a local FICTIONAL portal (tests/portal_site.py) served by http.server.

One module-scoped server and corpus carry the story: first fetch, second fetch
(nothing rewritten, conditional GETs answered 304), one page changed (only its
file changes), then index and search.  Timeouts are tiny so the whole file runs
in seconds.
"""
from __future__ import annotations

import subprocess
import sys
import time
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import date

import pytest
from chat_fixtures import ADMIN_ID
from conftest import ROOT
from fake_bot_api import check_html
from portal_site import ARTICLES, DISALLOWED, FakeArticle, PortalServer, Route, article_html, full_portal

from chat.render import texts
from retrieval.config import FetchConfig
from retrieval.convert.text import split_front_matter
from retrieval.crawl import HostLimiter
from retrieval.fetch import PAGES_SOURCE, canonical_url, fetch, last_runs

# A local page answers in milliseconds, but a loaded machine can stall one for a
# second: the timeout is generous, and the page that must time out has its own test.
FAST = FetchConfig(requests_per_second=0, timeout_seconds=10, retries=1, backoff_seconds=0.01,
                   max_page_kb=1024, user_agent="congtac-test/1.0 (+fictional)")
BAD_PAGES = ["/loi.html", "/vong-a", "/sang-trang-khac", "/van-ban/quyet-dinh.pdf",
             "/trang-trong.html", "/rat-lon.html", "/ma-hong.html", "/khong-co.html"]
CHANGED = ARTICLES[1]


@pytest.fixture(scope="module")
def portal():
    with PortalServer() as server:
        full_portal(server)
        yield server


@pytest.fixture(scope="module")
def runs(portal, tmp_path_factory):
    """Three runs over the same portal: as served, again, after one page changed."""
    root = tmp_path_factory.mktemp("fetch")
    corpus, state = root / "corpus", root / "index" / "fetch.sqlite"

    def run():
        return fetch(corpus, FAST, state, urls=[portal.base + p for p in BAD_PAGES],
                     feeds=[portal.base + "/rss.xml"], sitemaps=[portal.base + "/sitemap.xml"],
                     since=date(2020, 1, 1), allow_private=True)

    def snapshot():
        return {p.relative_to(corpus).as_posix(): (p.stat().st_mtime_ns, p.read_bytes())
                for p in corpus.rglob("*") if p.is_file()}

    first = run()
    after_first = snapshot()
    second = run()
    after_second = snapshot()
    edited = replace(CHANGED, paragraphs=CHANGED.paragraphs[:2] + [
        "Hội nghị đã khen thưởng 14 tập thể và 27 cá nhân; số liệu được Ban Thường vụ Hội "
        "điều chỉnh lại sau khi rà soát hồ sơ thi đua của các cơ sở hội."])
    portal.set_page(CHANGED.path, Route(article_html(edited)))
    third = run()
    return {"corpus": corpus, "state": state, "reports": (first, second, third),
            "snapshots": (after_first, after_second, snapshot())}


def _by_url(outcomes):
    """Outcomes by path and query; the id address of the first article counts as that article
    (which of the two is kept depends on which page arrives first; the other is a duplicate)."""
    found = {o.url.split(":", 2)[-1].split("/", 1)[-1]: o for o in outcomes}
    return {(FIRST if key == TWIN else key): o for key, o in found.items()}


FIRST, TWIN = ARTICLES[0].path.lstrip("/"), "tin-tuc/chi-tiet?id=101"


def test_first_run_writes_one_file_per_article_with_citations(runs, portal):
    first = runs["reports"][0]
    fetched = _by_url(first.fetched)
    assert sorted(fetched) == sorted(a.path.lstrip("/") for a in ARTICLES)
    files = {}
    for o in first.fetched:
        meta, body = split_front_matter((runs["corpus"] / o.path).read_text(encoding="utf-8"))
        assert o.path.startswith("fetched/127.0.0.1_")
        files[o.url.split("/", 3)[3]] = (meta, body)
    meta, body = files.get(FIRST) or files[TWIN]
    assert meta["title"] == ARTICLES[0].title and meta["date"] == "2024-01-15"
    assert meta["date_source"] == "meta"  # the page's markup
    assert meta["place"] == "Tân Khê" and meta["url"] == fetched[FIRST].url
    assert "Cổng thông tin điện tử huyện Tân Khê" in meta["source"]
    assert "Quỹ Vì người nghèo được 1,2 tỷ đồng" in body
    assert "Tin liên quan" not in body and "Bản quyền" not in body
    # Blog layout: the caption "Toàn cảnh hội nghị" is no headline and no text.
    meta, body = files["hoi-nong-dan/nuoi-ca-long-song-bac.html"]
    assert meta["title"] == ARTICLES[2].title and meta["date"] == "2024-03-08"
    assert "Toàn cảnh" not in body
    # Old layout: <title> is the site's name, the headline is a bold span and the only date is
    # "ngày 5/3" with the year from the text: the project's rules, not htmldate's 1 January.
    meta, body = files["tintuc.asp?id=305"]
    assert meta["title"] == "Huyện đoàn Tân Khê ra quân Tháng Thanh niên"
    assert meta["date"] == "2024-03-05" and meta["place"] == "Tân Khê"
    assert meta["date_source"] == "lead"  # kept, so the index does not take it for the page's markup
    assert body.lstrip().startswith("Sáng ngày 5/3")


def test_bad_pages_are_reported_and_skipped(runs, portal):
    first = runs["reports"][0]
    skipped, failed = _by_url(first.skipped), _by_url(first.failed)
    assert skipped[DISALLOWED.lstrip("/")].reason == "disallowed by robots.txt"
    assert "not an HTML page (application/pdf)" in skipped["van-ban/quyet-dinh.pdf"].reason
    assert "redirects to another host (example.invalid)" in skipped["sang-trang-khac"].reason
    assert "larger than 1024 KB" in skipped["rat-lon.html"].reason
    assert "broken encoding" in skipped["ma-hong.html"].reason
    assert "no article text" in skipped["trang-trong.html"].reason
    assert "older than --since (2019-05-01)" in skipped["gioi-thieu-cu.html"].reason
    # The same article under an id address: a duplicate, not a second file.
    assert "same article text as" in skipped[FIRST].reason
    assert failed["loi.html"].reason == "HTTP 500 (2 tries)"
    assert failed["vong-a"].reason == "redirect loop"
    assert failed["khong-co.html"].reason == "HTTP 404"
    assert len(portal.hits("/loi.html")) >= 2  # retried
    assert not portal.hits(DISALLOWED)  # robots.txt was honoured: never even requested
    assert {h["User-Agent"] for h in portal.hits(ARTICLES[0].path)} == {FAST.user_agent}
    # Tracking parameters and fragments do not make a second page.
    assert not any("utm_" in o.url or "#" in o.url for o in first.fetched + first.skipped)
    assert len(first.fetched) == 4 and len(list(runs["corpus"].rglob("*.md"))) == 4


def test_each_source_keeps_its_last_run_for_the_report(runs, portal):
    third = runs["reports"][2]
    by_source = {r["source"]: r for r in last_runs(runs["state"])}
    assert sorted(by_source) == sorted([PAGES_SOURCE, portal.base + "/rss.xml", portal.base + "/sitemap.xml"])
    for kind in ("fetched", "unchanged", "skipped", "failed"):  # every outcome under one source
        assert sum(r[kind] for r in by_source.values()) == len(getattr(third, kind)), kind
    pages = by_source[PAGES_SOURCE]
    assert pages["failed"] == len(pages["failures"]) >= 3  # loop, 404, 500 (the slow page now answers in time)
    reasons = {f["url"].rsplit("/", 1)[-1]: f["reason"] for f in pages["failures"]}
    assert reasons["khong-co.html"] == "HTTP 404" and reasons["vong-a"] == "redirect loop"
    assert pages["started_at"] <= pages["finished_at"]
    assert last_runs(runs["state"].with_name("none.sqlite")) == []


def test_second_run_rewrites_nothing_and_uses_conditional_get(runs, portal):
    (_, second, _), (after_first, after_second, _) = runs["reports"], runs["snapshots"]
    assert after_second == after_first  # same files, same bytes, same modification times
    assert second.fetched == [] and len(second.unchanged) == 4
    conditional = [h for a in ARTICLES for h in portal.hits(a.path) if "If-None-Match" in h]
    assert conditional  # the validators of run 1 were sent back


def test_a_changed_page_updates_only_its_file(runs):
    _, _, third = runs["reports"]
    _, after_second, after_third = runs["snapshots"]
    assert [o.url.endswith(CHANGED.path) for o in third.fetched] == [True]
    changed = third.fetched[0].path
    assert set(after_third) == set(after_second)
    assert {p for p in after_third if after_third[p] != after_second[p]} == {changed}
    assert "khen thưởng 14 tập thể" in after_third[changed][1].decode()


def test_fetched_articles_are_indexed_and_found_with_title_and_date(runs, tmp_path, config, e5):
    from retrieval.index import build_index
    from retrieval.search import Searcher

    report = build_index(runs["corpus"], tmp_path / "index", config, progress=False, embedder=e5)
    assert report.articles == 4 and not report.skipped
    searcher = Searcher.open(tmp_path / "index", config, embedder=e5)
    try:
        hit = searcher.search("Huyện đoàn Tân Khê ra quân Tháng Thanh niên chuyển đổi số", top_k=1).hits[0]
        assert hit.title == "Huyện đoàn Tân Khê ra quân Tháng Thanh niên"
        assert hit.date == "2024-03-05" and hit.place == "Tân Khê" and hit.url.endswith("?id=305")
        hit = searcher.search("MTTQ Tân Khê vận động Quỹ Vì người nghèo bao nhiêu", top_k=1).hits[0]
        assert hit.title == ARTICLES[0].title and hit.date == "2024-01-15"
    finally:
        searcher.close()


def test_private_addresses_are_refused_unless_allowed(portal, tmp_path):
    requests_before = len(portal.requests)
    report = fetch(tmp_path / "corpus", FAST, tmp_path / "state.sqlite",
                   urls=[portal.base + ARTICLES[0].path, "ftp://example.org/a.txt"])
    assert not report.fetched and len(portal.requests) == requests_before  # nothing was sent
    reasons = [o.reason for o in report.skipped]
    assert any("loopback or private-network address" in r for r in reasons)
    assert "only http and https addresses are fetched" in reasons
    assert not (tmp_path / "corpus" / "fetched").exists()


def test_a_page_that_does_not_answer_in_time_is_reported_after_its_retries(tmp_path):
    """Its own server and a short timeout: only the page that must time out is asked for,
    and it answers ten times later than the timeout, so load cannot make it arrive in time."""
    page = ARTICLES[1]
    with PortalServer() as server:
        server.set_page("/cham.html", Route(article_html(page), delay=5))
        cfg = replace(FAST, timeout_seconds=0.4)
        report = fetch(tmp_path / "c", cfg, tmp_path / "s.sqlite", urls=[server.base + "/cham.html"],
                       allow_private=True)
        tries = len(server.hits("/cham.html"))
    assert [f.reason for f in report.failed] == ["timed out after 0.4 s (2 tries)"] and tries == 2
    assert not report.fetched


@pytest.mark.parametrize(("per_second", "robots", "interval"), [
    (10, b"User-agent: *\nDisallow: /noi-bo/\n", 0.1),  # fetch.requests_per_second
    (0, b"User-agent: *\nCrawl-delay: 1\n", 1.0),  # the site's Crawl-delay (whole seconds), limit off
])
def test_requests_to_one_host_are_spaced(tmp_path, monkeypatch, per_second, robots, interval):
    granted: list[float] = []  # when the fetcher let each request to the host start
    slot = HostLimiter.slot

    @asynccontextmanager
    async def timed_slot(self, host):
        async with slot(self, host):
            if host.startswith("127.0.0.1"):
                granted.append(time.monotonic())
            yield

    monkeypatch.setattr(HostLimiter, "slot", timed_slot)
    pages = [FakeArticle(f"/tin/{n}.html", f"Xã Phú Khê họp dân lần thứ {n} về đường giao thông",
                         [f"Ngày {n}/4/2024, Ủy ban nhân dân xã Phú Khê, huyện Tân Khê họp dân lần thứ "
                          f"{n} để bàn cách góp công, góp đất mở rộng tuyến đường liên thôn dài "
                          f"{n + 2} km, dự kiến khởi công trong quý hai."] * 2, f"2024-04-0{n}")
             for n in range(1, 5 if interval < 0.5 else 3)]
    with PortalServer() as server:
        for page in pages:
            server.set_page(page.path, Route(article_html(page)))
        server.set_page("/robots.txt", Route(robots, "text/plain"))
        cfg = replace(FAST, requests_per_second=per_second, concurrency_per_host=4, timeout_seconds=5)
        report = fetch(tmp_path / "c", cfg, tmp_path / "s.sqlite",
                       urls=[server.base + p.path for p in pages], allow_private=True)
        times = sorted(t for t, path in server.times if path.startswith("/tin/"))
    assert len(report.fetched) == len(pages) == len(times)
    # The fetcher starts the page requests `interval` apart (robots.txt is read first:
    # its Crawl-delay is known only then)...
    assert len(granted) == len(pages) + 1
    starts = granted[1:]
    assert all(b - a >= interval * 0.99 for a, b in zip(starts, starts[1:], strict=False)), granted
    # ...and the server sees them spread so.  Its clock takes arrivals, and on a loaded
    # machine the first (a new connection) came 0.1 s late: the run's span may lose one
    # interval.  A limiter that did not space them would put them all within milliseconds.
    assert times[-1] - times[0] >= (len(times) - 2) * interval, times


def test_redirects_to_listed_hosts_are_followed_and_429_is_retried_after_its_wait(tmp_path):
    page = ARTICLES[2]
    with PortalServer() as server:
        other = server.base.replace("127.0.0.1", "localhost")
        server.set_page("/bai-cu.html", Route(b"", status=301, etag=False,
                                              headers={"Location": other + page.path}))
        server.set_page(page.path, Route(article_html(page)))
        server.set_page("/ban.html", Route(b"", status=429, etag=False, headers={"Retry-After": "1"}))
        cfg = replace(FAST, redirect_hosts=["localhost"], timeout_seconds=5)
        report = fetch(tmp_path / "c", cfg, tmp_path / "s.sqlite", allow_private=True,
                       urls=[server.base + "/bai-cu.html", server.base + "/ban.html"])
        waits = [t for t, path in server.times if path == "/ban.html"]
    assert [o.title for o in report.fetched] == [page.title]
    assert [(o.url.rsplit("/", 1)[-1], o.reason) for o in report.failed] == [("ban.html", "HTTP 429 (2 tries)")]
    assert waits[1] - waits[0] >= 0.99  # Retry-After, not the 0.01 s backoff


def test_a_headline_ending_in_a_quotation_survives_the_front_matter(tmp_path):
    from retrieval.convert import read_article

    page = replace(ARTICLES[0], path="/tin/hoi-thi.html",
                   title='Hội LHPN huyện Tân Khê tổ chức hội thi "Tuyên truyền viên giỏi"')
    with PortalServer() as server:
        server.set_page(page.path, Route(article_html(page)))
        report = fetch(tmp_path / "c", FAST, tmp_path / "s.sqlite", urls=[server.base + page.path],
                       allow_private=True)
    article = read_article(tmp_path / "c" / report.fetched[0].path, tmp_path / "c")
    assert article.title == "Hội LHPN huyện Tân Khê tổ chức hội thi “Tuyên truyền viên giỏi”"


def test_canonical_url_drops_fragments_tracking_and_default_port():
    assert (canonical_url("HTTP://Cong.Example.VN:80/tin/a.html?utm_source=zalo&id=7&fbclid=x#top")
            == "http://cong.example.vn/tin/a.html?id=7")


def cli(*args):
    return subprocess.run([sys.executable, "-m", "retrieval", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow  # --index builds a real index in a subprocess
def test_cli_fetch_prints_the_summary_and_exits_0_despite_failures(portal, tmp_path):
    result = cli("fetch", "--corpus", tmp_path / "corpus", "--index", tmp_path / "index", "-q",
                 "--allow-private", portal.base + ARTICLES[3].path, portal.base + "/loi.html")
    assert result.returncode == 0, result.stderr
    assert "fetched (new or changed): 1" in result.stdout and "failed: 1" in result.stdout
    assert f"{ADMIN_PAGE.title} (2024-03-05)" in result.stdout
    assert "loi.html: HTTP 500" in result.stdout
    assert "articles: 1" in result.stdout  # --index indexed it in the same command
    assert (tmp_path / "index" / "fetch.sqlite").exists()


def test_cli_fetch_takes_the_sources_of_the_config_when_none_are_given(portal, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'[fetch]\npages = ["{portal.base}{ARTICLES[2].path}"]\nallow_private = true\n'
                      f'requests_per_second = 0\nstate_db = "{tmp_path / "state.sqlite"}"\n',
                      encoding="utf-8")
    result = cli("fetch", "--config", config, "--corpus", tmp_path / "corpus")
    assert result.returncode == 0, result.stderr
    assert f"{ARTICLES[2].title} (2024-03-08)" in result.stdout
    assert "run `python -m retrieval index --corpus" in result.stdout  # no --index: a hint
    assert (tmp_path / "state.sqlite").exists()


@pytest.mark.parametrize(("args", "message"), [
    ((), "give article URLs, --feed or --sitemap"),
    (("--since", "hôm qua", "http://example.org/a"), "--since must be a date"),
])
def test_cli_fetch_bad_usage_exits_2(tmp_path, args, message):
    result = cli("fetch", "--corpus", tmp_path / "corpus", "--index", tmp_path / "index", *args)
    assert result.returncode == 2 and message in result.stderr


# ---------------------------------------------------------------- the bot

ADMIN_PAGE = ARTICLES[3]  # the old layout: title and date come from the project's rules
ADMIN_QUESTION = "Huyện đoàn Tân Khê ra quân Tháng Thanh niên trồng bao nhiêu cây xanh"
USER = 4243


def _fetching_env(env, portal, **fetch_settings):
    env.config = replace(env.config, fetch=replace(FAST, allow_private=True, **fetch_settings))
    return env


def _sane(api):
    assert not [e for e in api.errors if e[1] == 400], api.errors
    for sent in api.sent:
        if sent.parse_mode == "HTML":
            check_html(sent.text)


@pytest.mark.slow
def test_admin_link_is_fetched_indexed_and_answered_with_title_and_date(own_index_env, portal):
    env, api = _fetching_env(own_index_env, portal), own_index_env.api
    link = portal.base + ADMIN_PAGE.path

    async def scenario():
        async with env.running():
            api.message("/help", chat_id=ADMIN_ID, user_id=ADMIN_ID)
            help_reply = await api.wait_reply(ADMIN_ID)
            n = len(api.sent_to(ADMIN_ID))
            api.message(f"/add {link}", chat_id=ADMIN_ID, user_id=ADMIN_ID)
            added = await api.wait_reply(ADMIN_ID, after=n, contains="Đã cập nhật chỉ mục", timeout=120)
            n = len(api.sent_to(ADMIN_ID))
            api.message(portal.base + "/khong-co.html", chat_id=ADMIN_ID, user_id=ADMIN_ID)
            missing = await api.wait_reply(ADMIN_ID, after=n, contains="Không lấy được")
            api.message(ADMIN_QUESTION, chat_id=USER)
            answer = await api.wait_reply(USER)
            return help_reply, added, missing, answer

    help_reply, added, missing, answer = env.run(scenario())
    assert "/add <đường dẫn> (hoặc chỉ gửi đường dẫn)" in help_reply[0].plain
    text = "\n".join(m.plain for m in added)
    assert f"Đã lưu: {ADMIN_PAGE.title}" in text and "🗓 05/03/2024" in text
    assert "Thêm mới: 1 (fetched/127.0.0.1_" in text
    assert "khong-co.html: HTTP 404" in "\n".join(m.plain for m in missing)
    assert "Đã cập nhật chỉ mục" not in "\n".join(m.plain for m in missing)  # nothing to index
    answer_text = "\n".join(m.text for m in answer)
    assert ADMIN_PAGE.title in answer_text and "05/03/2024" in answer_text
    _sane(api)


@pytest.mark.slow
def test_links_from_non_admins_are_questions_and_add_is_refused(bot_env, portal):
    env, api = _fetching_env(bot_env, portal), bot_env.api
    requests_before = len(portal.requests)

    async def scenario():
        async with env.running():
            api.message(f"/add {portal.base}{ADMIN_PAGE.path}", chat_id=USER)
            refused = await api.wait_reply(USER)
            n = len(api.sent_to(USER))
            api.message(portal.base + ADMIN_PAGE.path, chat_id=USER)
            return refused, await api.wait_reply(USER, after=n)

    refused, asked = env.run(scenario())
    assert [m.plain for m in refused] == [texts.ADMIN_ONLY]
    assert texts.FETCH_STARTED not in [m.plain for m in asked]
    assert len(portal.requests) == requests_before  # nothing was fetched for them
    _sane(api)


@pytest.mark.slow
def test_scheduled_fetch_job_adds_feed_articles_and_the_bot_keeps_answering(own_index_env, portal):
    env, api = _fetching_env(own_index_env, portal, interval_minutes=30,
                             pages=[portal.base + ADMIN_PAGE.path]), own_index_env.api

    async def scenario():
        async with env.running() as app:
            [job] = app.job_queue.get_jobs_by_name("fetch-portals")
            await job.run(app)
            api.message(ADMIN_QUESTION, chat_id=USER)
            return await api.wait_reply(USER)

    answer = env.run(scenario())
    assert list((env.corpus_dir / "fetched").rglob("*.md"))
    answer_text = "\n".join(m.text for m in answer)
    assert ADMIN_PAGE.title in answer_text and "05/03/2024" in answer_text
