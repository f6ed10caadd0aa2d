"""benchmarks/scale.py's figures with the postgres backend (issue 17), plus the database's sizes.

    python -m benchmarks.postgres_scale --passages 100000 [--json] [--server DIR] [--workdir DIR [--reuse]]

Starts (or reuses) a throwaway local PostgreSQL in DIR (default /tmp/pg_scale_server,
retrieval/postgres/server.py), creates a fresh database for the run, and drives
scale.py's `measure` with `[index] backend = "postgres"`: first build, full build from
cached vectors (`rebuild`), unchanged build, a serving child's open, query latency
without question embedding (p50/p95), its RSS, add one article until the serving
process finds it, and remove it.  Instead of the folder's size it reports the
database's, per table with its indexes and per passage, and instead of FAISS's
recall the HNSW graph's recall@10 against exact search over the same rows.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from retrieval.postgres.server import LocalServer, create_database, drop_database

from . import scale
from .synthetic import HashedSyllableEmbedder

DATABASE = "scale_bench"


def database_sizes(dsn: str) -> dict:
    """The database, and each table with its indexes and TOAST, in MB; bytes per passage."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        total = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        tables = dict(conn.execute(
            "SELECT relname, pg_total_relation_size(oid) FROM pg_class WHERE relkind = 'r' AND relname IN"
            " ('passages', 'articles', 'embeddings', 'lexicon', 'files')").fetchall())
        indexes = dict(conn.execute(
            "SELECT relname, pg_relation_size(oid) FROM pg_class WHERE relkind = 'i' AND relname IN"
            " ('passages_embedding', 'passages_tokens')").fetchall())
        passages = conn.execute("SELECT count(*) FROM passages").fetchone()[0]
    mb = 2**20
    figures = {"db_mb": round(total / mb, 1)}
    figures.update({f"table_{k}_mb": round(v / mb, 1) for k, v in sorted(tables.items())})
    figures.update({f"index_{k}_mb": round(v / mb, 1) for k, v in sorted(indexes.items())})
    figures["db_bytes_per_passage"] = round(total / max(passages, 1))
    return figures


def hnsw_recall(dsn: str, texts: list[str], k: int = 10) -> float:
    """recall@10 of the HNSW search the reader runs against an exact scan of the same rows."""
    import numpy as np
    import psycopg
    from pgvector.psycopg import register_vector

    from retrieval.postgres.index import EF_SEARCH

    embedder = HashedSyllableEmbedder()
    found = total = 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        register_vector(conn)
        conn.execute(f"SET hnsw.ef_search = {EF_SEARCH}")
        conn.execute("SET hnsw.iterative_scan = strict_order")
        sql = "SELECT id FROM passages WHERE removed IS NULL ORDER BY embedding <#> %s LIMIT %s"
        for text in texts:
            v = np.asarray(embedder.embed_query(text.strip()), dtype=np.float32)
            # Never prepared: a plan cached with index scans off would serve the approximate side too.
            approx = {r[0] for r in conn.execute(sql, (v, k), prepare=False)}
            conn.execute("SET enable_indexscan = off")
            exact = {r[0] for r in conn.execute(sql, (v, k), prepare=False)}
            conn.execute("SET enable_indexscan = on")
            found, total = found + len(approx & exact), total + len(exact)
    return round(found / total, 4) if total else None


def tune(server: LocalServer, shared_buffers: str) -> None:
    """A serving database's memory: the throwaway server's default 128 MB of shared buffers
    holds neither a 1M-passage HNSW graph nor its hot passages (restarts the server)."""
    import psycopg

    with psycopg.connect(server.dsn("postgres"), autocommit=True) as conn:
        current = conn.execute("SELECT setting::bigint * 8192 FROM pg_settings WHERE name = 'shared_buffers'"
                               ).fetchone()[0]
        wanted = conn.execute("SELECT pg_size_bytes(%s)", (shared_buffers,)).fetchone()[0]
        if current == wanted:
            return
        conn.execute(f"ALTER SYSTEM SET shared_buffers = '{shared_buffers}'")
        conn.execute("ALTER SYSTEM SET max_wal_size = '8GB'")  # a bulk build checkpoints less
    server.restart()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--questions", type=int, default=240)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--server", default="/tmp/pg_scale_server", help="the local server's folder")
    parser.add_argument("--shared-buffers", default="1GB", help="the server's shared_buffers (restarts it)")
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument("--workdir", help="where corpus/ goes, kept (default: a temporary folder, removed)")
    parser.add_argument("--reuse", action="store_true",
                        help="--workdir's corpus/ is built into --database already (same --passages and "
                             "--seed): measure serving, add and remove without generating or building")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.reuse and not (args.workdir and (Path(args.workdir) / "corpus").is_dir()):
        parser.error("--reuse needs --workdir holding the corpus/ of an earlier run")

    server = LocalServer(args.server)
    server.start()
    tune(server, args.shared_buffers)
    admin = server.dsn("postgres")
    if not args.reuse:
        drop_database(admin, args.database)
    dsn = create_database(admin, args.database)
    os.environ["CONGTAC_PG_DSN"] = dsn  # inherited by scale.py's build and serving children
    work = Path(args.workdir or tempfile.mkdtemp(prefix="pg_scale_"))
    (work / "index").mkdir(parents=True, exist_ok=True)  # scale.py's children take an index path: unused
    config = work / "postgres.toml"
    config.write_text('[index]\nbackend = "postgres"\ndsn_env = "CONGTAC_PG_DSN"\n', encoding="utf-8")

    scale.folder_mb = lambda path: None  # no index folder: database_sizes below instead
    scale.dense_recall = lambda index, texts: hnsw_recall(dsn, texts)
    try:
        figures = scale.measure(work, args.passages, args.questions, args.seed, False, str(config),
                                args.reuse)
        figures.pop("index_mb", None)
        figures.update(database_sizes(dsn))
        figures["backend"] = "postgres (local server: PostgreSQL 18, pgvector 0.8)"
    finally:
        if not args.workdir:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    else:
        scale.print_table(figures)


if __name__ == "__main__":
    main()
