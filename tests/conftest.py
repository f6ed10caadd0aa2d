"""Shared fixtures: real indexes built once per session with the bundled e5 model."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from retrieval import Config, Searcher, build_index
from retrieval.embedders import make_embedder

# The chat tests' fixtures (fake Bot API server, bots over a seed index); a real PostgreSQL.
pytest_plugins = ["chat_fixtures", "pg_fixtures"]

ROOT = Path(__file__).resolve().parent.parent
SEED_CORPUS = ROOT / "corpus"
FICTIONAL = ROOT / "tests" / "data" / "fictional"
QUESTIONS = ROOT / "tests" / "data" / "questions.jsonl"


# Fixtures that load the embedding model or build a real index with it.  A test that
# uses one is `slow` without saying so: `pytest -m "not slow"` loads no model and builds
# no real index.  A test that does either otherwise (the CLI in a subprocess, a model
# loaded in the test) carries the mark itself.
REAL_MODEL_FIXTURES = {"e5", "eval_index", "eval_searcher", "st_config", "seed_index", "searcher",
                       "bot_env", "own_index_env"}


def pytest_collection_modifyitems(items):
    for item in items:
        if REAL_MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def config() -> Config:
    return Config()


@pytest.fixture(scope="session")
def e5(config):
    return make_embedder(config.embedder)


@pytest.fixture(scope="session")
def eval_corpus(tmp_path_factory) -> Path:
    """The seeds plus the fictional test articles, in one flat folder (ids = file stems)."""
    corpus = tmp_path_factory.mktemp("eval_corpus")
    for folder in (SEED_CORPUS, FICTIONAL):
        for path in folder.iterdir():
            if path.is_file() and path.name.lower() != "readme.md":
                shutil.copy(path, corpus / path.name)
    return corpus


@pytest.fixture(scope="session")
def eval_index(tmp_path_factory, eval_corpus, config) -> Path:
    index = tmp_path_factory.mktemp("eval_index")
    build_index(eval_corpus, index, config, progress=False)
    return index


@pytest.fixture(scope="session")
def eval_searcher(eval_index, config) -> Searcher:
    return Searcher.open(eval_index, config)
