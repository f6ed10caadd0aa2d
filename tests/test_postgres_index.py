"""The postgres backend behind the same interfaces, on a real PostgreSQL + pgvector (tests/pg_fixtures.py):
the same answers as the index folder, generations published whole, kill -9, migrate, faults."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import psycopg
import pytest
from conftest import ROOT
from test_index import ARTICLES, MORE, QUESTIONS, _answers, _change_corpus

from retrieval import BuildInProgress, Config, IndexNotFound, IndexUnavailable, Searcher, build_index
from retrieval.postgres.index import LOCK_KEY, candidate_query, token_spans, tsvector_literal
from retrieval.postgres.migrate import migrate_index
from retrieval.postgres.server import create_database, drop_database

DSN_ENV = "CONGTAC_TEST_PG_DSN"


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name, text in ARTICLES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def pg_config(pg_database, monkeypatch) -> Config:
    monkeypatch.setenv(DSN_ENV, pg_database)
    config = Config()
    config.index.backend, config.index.dsn_env = "postgres", DSN_ENV
    return config


def _grades(searcher: Searcher) -> list[tuple[str, list[str]]]:
    return [(r.match, [h.passage_id for h in r.hits]) for r in (searcher.search(q, top_k=5) for q in QUESTIONS)]


def test_postgres_answers_as_the_index_folder(tmp_path, corpus, e5, pg_config):
    report = build_index(corpus, "unused", pg_config, progress=False, embedder=e5)
    assert (report.articles, report.added) == (2, ["binh_lac", "son_khe"])
    embedded = tmp_path / "index"
    build_index(corpus, embedded, progress=False, embedder=e5)
    served = Searcher.open("unused", pg_config, embedder=e5)
    assert _grades(served) == _grades(Searcher.open(embedded, embedder=e5))
    assert served.stats()["articles"] == 2 and served.article("binh_lac").title.startswith("Hội LHPN")
    assert [a.article_id for a in served.latest(5)] == [a.article_id for a in
                                                         Searcher.open(embedded, embedder=e5).latest(5)]
    again = build_index(corpus, "unused", pg_config, progress=False, embedder=e5)
    assert (again.embedded, again.parsed_files, again.unchanged_files) == (0, 0, 2)


def _statistics(dsn: str) -> tuple[dict, dict]:
    """BM25's statistics as the writer kept them (meta, lexicon) and as counted from the rows."""
    with psycopg.connect(dsn) as db:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        vis = "added <= %(g)s AND (removed IS NULL OR removed > %(g)s)"
        g = {"g": int(meta["published"])}
        kept = {"articles": int(meta["articles"]), "passages": int(meta["passages"]),
                "tokens": int(meta["tokens_total"]), "df": dict(db.execute("SELECT token, df FROM lexicon"))}
        articles = db.execute(f"SELECT count(*) FROM articles WHERE {vis}", g).fetchone()[0]
        passages, tokens = db.execute(f"SELECT count(*), sum(ntok) FROM passages WHERE {vis}", g).fetchone()
        df = dict(db.execute(f"SELECT u.lexeme, count(*) FROM passages, unnest(tokens) u WHERE {vis}"
                             " GROUP BY u.lexeme", g))
    return kept, {"articles": articles, "passages": passages, "tokens": tokens, "df": df}


def test_an_update_is_one_generation_seen_whole_by_a_serving_reader(corpus, e5, pg_config, pg_server,
                                                                     pg_database, monkeypatch):
    build_index(corpus, "unused", pg_config, progress=False, embedder=e5)
    serving = Searcher.open("unused", pg_config, embedder=e5)
    before = _answers(serving)
    _change_corpus(corpus)
    report = build_index(corpus, "unused", pg_config, progress=False, embedder=e5)
    assert sorted(report.added) == ["dong_trang_1", "dong_trang_2", "dong_trang_3"]
    assert report.removed == ["binh_lac"] and report.changed == ["son_khe"]
    kept, counted = _statistics(pg_database)  # kept up to date by the update's changes alone
    assert kept == counted and counted["articles"] == 4 and len(counted["df"]) > 100
    assert _answers(serving) == before  # still the generation it holds
    assert serving.reload() is True and serving.reload() is False
    assert serving.article("binh_lac") is None and serving.stats()["articles"] == 4
    admin = pg_server.dsn("postgres")
    monkeypatch.setenv(DSN_ENV, create_database(admin, "fresh"))
    try:  # the same corpus built at once in another database: the same answers
        build_index(corpus, "unused", pg_config, progress=False, embedder=e5)
        assert _answers(serving) == _answers(Searcher.open("unused", pg_config, embedder=e5))
    finally:
        drop_database(admin, "fresh")



def test_an_update_told_which_files_changed_on_postgres_equals_one_that_lists_the_folder(
        corpus, e5, pg_config, pg_server, pg_database, monkeypatch):
    """build_index(changed=...) looks files up by path and article id in PostgreSQL
    (PostgresWriter.files), not in the folder's catalog: the same update as a listed one."""
    admin = pg_server.dsn("postgres")
    listed_dsn = create_database(admin, "listed")
    try:
        for dsn in (pg_database, listed_dsn):
            monkeypatch.setenv(DSN_ENV, dsn)
            build_index(corpus, "unused", pg_config, progress=False, embedder=e5)
        _change_corpus(corpus)
        listed = build_index(corpus, "unused", pg_config, progress=False, embedder=e5)
        listed_answers = _answers(Searcher.open("unused", pg_config, embedder=e5))
        monkeypatch.setenv(DSN_ENV, pg_database)
        changed = [corpus / "binh_lac.md", corpus / "son_khe.txt", corpus / "dong_trang_1.txt",
                   *(corpus / name for name in MORE)]
        named = build_index(corpus, "unused", pg_config, progress=False, embedder=e5, changed=changed)
        assert (named.added, named.changed, named.removed) == (listed.added, listed.changed, listed.removed)
        assert named.named_files == len(changed) and named.removed == ["binh_lac"]
        kept, counted = _statistics(pg_database)
        assert kept == counted and counted["articles"] == 4
        assert _answers(Searcher.open("unused", pg_config, embedder=e5)) == listed_answers
    finally:
        drop_database(admin, "listed")

# kill -9 inside the postgres writer: after a batch is written, or just before the publish commits.
KILLER = f"""
import os, signal, sys
from retrieval import Config, build_index
from retrieval.postgres.index import PostgresWriter
step = sys.argv[2]
original = getattr(PostgresWriter, step)
def die(self, *args, **kwargs):
    if step == "add":
        original(self, *args, **kwargs)
    else:  # commit: everything written, the transaction not committed
        self.db.commit = lambda: os.kill(os.getpid(), signal.SIGKILL)
        original(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
setattr(PostgresWriter, step, die)
config = Config()
config.index.backend, config.index.dsn_env = "postgres", "{DSN_ENV}"
build_index(sys.argv[1], "unused", config, progress=False)
"""


@pytest.mark.parametrize("step", ["add", "commit"])
def test_kill_during_an_update_leaves_the_previous_generation_served(corpus, e5, pg_config, step):
    build_index(corpus, "unused", pg_config, progress=False, embedder=e5)
    serving = Searcher.open("unused", pg_config, embedder=e5)
    before, before_stats = _answers(serving), serving.stats()
    _change_corpus(corpus)
    killed = subprocess.run([sys.executable, "-c", KILLER, str(corpus), step], cwd=ROOT)
    assert killed.returncode == -signal.SIGKILL

    assert serving.reload() is False and _answers(serving) == before
    reopened = Searcher.open("unused", pg_config, embedder=e5)
    assert reopened.stats() == before_stats and reopened.article("dong_trang_1") is None
    report = build_index(corpus, "unused", pg_config, progress=False, embedder=e5)  # carries on
    assert report.embedded == 0  # the killed build had cached every vector
    assert sorted(report.added) == ["dong_trang_1", "dong_trang_2", "dong_trang_3"]
    assert serving.reload() is True and serving.article("dong_trang_1") is not None


def test_a_second_writer_is_refused(corpus, e5, pg_config, pg_database):
    with psycopg.connect(pg_database) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        with pytest.raises(BuildInProgress):
            build_index(corpus, "unused", pg_config, progress=False, embedder=e5)


def test_migrate_there_and_back_without_re_embedding(tmp_path, corpus, e5, pg_config, pg_database):
    folder = tmp_path / "index"
    build_index(corpus, folder, progress=False, embedder=e5)
    summary = migrate_index(folder, pg_database, "postgres")
    assert "2 articles" in summary and "nothing was re-embedded" in summary
    served = Searcher.open("unused", pg_config, embedder=e5)
    assert _grades(served) == _grades(Searcher.open(folder, embedder=e5))
    # The copied cache serves builds: nothing to embed for unchanged texts.
    assert build_index(corpus, "unused", pg_config, progress=False, embedder=e5).embedded == 0

    back = tmp_path / "back"
    migrate_index(back, pg_database, "embedded")
    assert _grades(Searcher.open(back, embedder=e5)) == _grades(served)
    assert build_index(corpus, back, progress=False, embedder=e5).embedded == 0


def test_the_reader_survives_a_server_restart(corpus, e5, pg_config, pg_server):
    build_index(corpus, "unused", pg_config, progress=False, embedder=e5)
    serving = Searcher.open("unused", pg_config, embedder=e5)
    expected = _grades(serving)
    pg_server.stop()
    try:
        with pytest.raises(IndexUnavailable):
            serving.search(QUESTIONS[0])
        assert serving.reload() is False  # logged, not raised: the bot's reload job carries on
    finally:
        pg_server.start()
    assert _grades(serving) == expected  # reconnected by itself


def _cli(config_path, *args, env=None):
    return subprocess.run([sys.executable, "-m", "retrieval", "--config", str(config_path), *args],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)


def test_a_bad_dsn_is_one_clear_line_without_the_password(tmp_path, monkeypatch):
    config = tmp_path / "pg.toml"
    config.write_text(f'[index]\nbackend = "postgres"\ndsn_env = "{DSN_ENV}"\n')
    env = {**os.environ, DSN_ENV: "postgresql://congtac:s3cret-pw@127.0.0.1:1/congtac"}
    done = _cli(config, "search", "--index", "unused", "Hội Nông dân", env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: PostgreSQL: cannot connect")
    assert "s3cret-pw" not in done.stderr
    env[DSN_ENV] = "not a connection string"
    done = _cli(config, "search", "--index", "unused", "Hội Nông dân", env=env)
    assert done.returncode == 2 and done.stderr.strip() == "error: PostgreSQL: the connection string is malformed"
    del env[DSN_ENV]
    done = _cli(config, "search", "--index", "unused", "Hội Nông dân", env=env)
    assert done.returncode == 2 and DSN_ENV in done.stderr and "Traceback" not in done.stderr


def test_a_server_without_pgvector_is_one_clear_line(tmp_path, pg_server):
    """A role that may not create the extension, in a database without it (a managed server
    where pgvector was never enabled)."""
    admin = pg_server.dsn("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS novector WITH (FORCE)")
        conn.execute("DROP ROLE IF EXISTS plain")
        conn.execute("CREATE ROLE plain LOGIN PASSWORD 'plainpw'")
        conn.execute("CREATE DATABASE novector OWNER plain")
    try:
        dsn = admin.rsplit("@", 1)[1].rsplit("/", 1)[0]
        config = tmp_path / "pg.toml"
        config.write_text(f'[index]\nbackend = "postgres"\ndsn_env = "{DSN_ENV}"\n')
        env = {**os.environ, DSN_ENV: f"postgresql://plain:plainpw@{dsn}/novector"}
        done = _cli(config, "index", "--corpus", str(tmp_path), "--index", "unused", env=env)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert done.stderr.count("\n") == 1 and "no pgvector extension" in done.stderr
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS novector WITH (FORCE)")
            conn.execute("DROP ROLE IF EXISTS plain")


def test_tokens_with_quotes_and_backslashes_are_stored_as_written(pg_database):
    tokens = ["it's", "a\\b", "~hoa", "hoa", "hoa", "năm_2024"]
    with psycopg.connect(pg_database) as conn:
        stored = conn.execute("SELECT u.lexeme, cardinality(u.positions) FROM unnest(%s::tsvector) u",
                              (tsvector_literal(tokens),)).fetchall()
    assert dict(stored) == {"it's": 1, "a\\b": 1, "~hoa": 1, "hoa": 2, "năm_2024": 1}


def test_embedded_stays_the_default_and_needs_no_server(tmp_path, corpus, e5):
    assert Config().index.backend == "embedded"
    build_index(corpus, tmp_path / "index", progress=False, embedder=e5)
    assert Searcher.open(tmp_path / "index", embedder=e5).stats()["articles"] == 2
    shutil.rmtree(tmp_path / "index")


def test_a_streaming_replica_serves_the_generation_published_on_the_primary(corpus, e5, pg_config,
                                                                            pg_server, pg_database,
                                                                            monkeypatch):
    folder = tempfile.mkdtemp(prefix="pg_replica_", dir="/tmp")
    replica = pg_server.start_replica(folder)
    try:
        build_index(corpus, "unused", pg_config, progress=False, embedder=e5)  # published on the primary
        primary = Searcher.open("unused", pg_config, embedder=e5)
        replica_config = Config()
        replica_config.index.backend, replica_config.index.dsn_env = "postgres", "CONGTAC_TEST_REPLICA_DSN"
        name = pg_database.rsplit("/", 1)[1]
        monkeypatch.setenv("CONGTAC_TEST_REPLICA_DSN", replica.dsn(name))
        deadline = time.monotonic() + 30
        while True:  # the replica applies the primary's WAL a moment later
            assert time.monotonic() < deadline, "the replica did not catch up in 30 s"
            try:
                served = Searcher.open("unused", replica_config, embedder=e5)
                if served.stats()["generation"] == primary.stats()["generation"]:
                    break
            except IndexNotFound:  # the tables or the first generation are not there yet
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.2)
        assert _grades(served) == _grades(primary)
        with psycopg.connect(replica.dsn(name)) as conn:
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
    finally:
        replica.stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_the_bot_with_a_bad_dsn_says_so_in_one_line(tmp_path):
    config = tmp_path / "pg.toml"
    config.write_text(f'[index]\nbackend = "postgres"\ndsn_env = "{DSN_ENV}"\n')
    env = {**os.environ, DSN_ENV: "postgresql://congtac:s3cret-pw@127.0.0.1:1/congtac"}
    done = subprocess.run([sys.executable, "bot.py", "--console", "--config", str(config)], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("Lỗi: PostgreSQL: cannot connect")
    assert "s3cret-pw" not in done.stderr


def test_lexical_candidates_stay_bounded_and_keep_the_commoner_words():
    """The rarest words are OR'ed while their passages fit the cap; the commoner ones are AND'ed,
    rarest first, until their expected matches fit it too (never the whole corpus of a common word)."""
    df = {"ngan": 3, "thoa": 40, "hoi": 300_000, "nghi": 50_000, "huyen": 600_000, "tong": 9_000}
    assert candidate_query(df, 1_000_000, 500) == ["'ngan' | 'thoa'", "'tong' & 'nghi'"]
    only_common = {"hoi": 300_000, "nghi": 250_000, "huyen": 600_000}
    assert candidate_query(only_common, 1_000_000, 500) == ["'nghi' & 'hoi' & 'huyen'"]
    assert candidate_query({"ngan": 3, "thoa": 40}, 1_000_000, 500) == ["'ngan' | 'thoa'"]
    # One phrase's tokens are not independent: its other pairs and syllables are not AND'ed to it.
    question = "huyện Ngạn Thoa năm 2022"
    df = {"ngan_thoa": 1200, "huyen_ngan": 1250, "~thoa": 1300, "~ngan": 2000, "nam_2022": 40_000,
          "~nam": 400_000}
    assert candidate_query(df, 500_000, 500, token_spans(question)) == ["'ngan_thoa' & 'nam_2022'"]
