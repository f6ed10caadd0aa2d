"""The throwaway local PostgreSQL: pgvector enabled, the DSN stable across restarts, clear errors."""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent


def test_session_server_has_pgvector_and_listens_on_loopback(pg_dsn):
    assert "@127.0.0.1:" in pg_dsn
    with psycopg.connect(pg_dsn) as conn:
        (version,) = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        assert tuple(int(x) for x in version.split(".")[:2]) >= (0, 8)
        (distance,) = conn.execute("SELECT '[1,0,0]'::vector <=> '[0,1,0]'::vector").fetchone()
        assert distance == 1.0
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)


def test_fresh_databases_are_separate(pg_database, pg_dsn):
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE only_here (x int)")
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT to_regclass('only_here')").fetchone() == (None,)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "retrieval", "postgres", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_cli_start_stop_restart_keeps_the_dsn():
    folder = tempfile.mkdtemp(prefix="pg_cli_", dir="/tmp")
    try:
        first = _cli("start", folder)
        assert first.returncode == 0, first.stderr
        export = [line for line in first.stdout.splitlines() if line.startswith("export CONGTAC_PG_DSN=")]
        assert len(export) == 1
        dsn = export[0].split("=", 1)[1].strip("'")
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert _cli("stop", folder).stdout.strip() == "stopped"
        try:
            psycopg.connect(dsn, connect_timeout=2).close()
            raise AssertionError("the server still answers after stop")
        except psycopg.OperationalError:
            pass
        again = _cli("start", folder)
        assert again.returncode == 0 and export[0] in again.stdout  # same port and password
        assert (Path(folder) / "dsn").stat().st_mode & 0o077 == 0
    finally:
        _cli("stop", folder)
        subprocess.run(["rm", "-rf", folder])


def test_cli_stop_of_an_empty_folder_is_one_clear_line(tmp_path):
    done = _cli("stop", str(tmp_path / "nothing"))
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error:") and "Traceback" not in done.stderr
