"""Which backend serves the index: the one place that reads `[index] backend`.

"embedded" is the index folder (layout.py); "postgres" is PostgreSQL + pgvector
(retrieval/postgres/index.py), imported only when chosen, so the default needs no
driver.  Both give the same writer and reader interfaces: build_index, Searcher,
the CLI and the bot do not know which one serves them.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..config import Config, ConfigError


def is_postgres(config: Config) -> bool:
    return config.index.backend == "postgres"


def postgres_dsn(config: Config) -> str:
    """The connection string, from the environment only (never the config file or logs)."""
    name = config.index.dsn_env
    dsn = os.environ.get(name, "").strip()
    if not dsn:
        raise ConfigError(f"[index] backend = \"postgres\" reads the connection string from the "
                          f"environment variable {name}, which is not set")
    return dsn


def open_reader(index_dir: str | Path, embedder_identity: str | None, config: Config | None = None):
    """A serving view of the published index (IndexReader or PostgresReader)."""
    config = config or Config()
    if is_postgres(config):
        from ..postgres.index import PostgresReader

        return PostgresReader(postgres_dsn(config), embedder_identity)
    from .build import vector_settings
    from .reader import IndexReader

    return IndexReader(index_dir, embedder_identity, vector_settings(config))
