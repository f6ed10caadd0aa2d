"""Shared fixtures: real indexes built once per session with the bundled e5 model."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from retrieval import Config, Searcher, build_index
from retrieval.embedders import make_embedder

# The chat tests' fixtures (fake Bot API server, bots over a seed index).
pytest_plugins = ["chat_fixtures"]

ROOT = Path(__file__).resolve().parent.parent
SEED_CORPUS = ROOT / "corpus"
FICTIONAL = ROOT / "tests" / "data" / "fictional"
QUESTIONS = ROOT / "tests" / "data" / "questions.jsonl"


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
