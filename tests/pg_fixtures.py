"""A real PostgreSQL with pgvector for the tests (retrieval/postgres/server.py), started once per session.

    pg_server    the LocalServer (session): its .dsn(), .stop(), .start() (restart tests)
    pg_dsn       DSN of its `congtac` database (session)
    pg_database  DSN of a fresh empty database with pgvector, dropped after the test

Runs as `nobody` when the tests run as root (CI): the folder is made under /tmp, which
nobody can enter (pytest's own tmp folders are private to root).
"""
from __future__ import annotations

import itertools
import shutil
import tempfile

import pytest

from retrieval.postgres.server import LocalServer, create_database, drop_database

_names = itertools.count()


@pytest.fixture(scope="session")
def pg_server():
    folder = tempfile.mkdtemp(prefix="pg_test_", dir="/tmp")
    server = LocalServer(folder)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_dsn(pg_server) -> str:
    return pg_server.dsn()


@pytest.fixture
def pg_database(pg_server):
    name = f"test_{next(_names)}"
    admin = pg_server.dsn("postgres")
    drop_database(admin, name)
    yield create_database(admin, name)
    drop_database(admin, name)
