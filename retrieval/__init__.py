"""Retrieval for Vietnamese work-programme articles.

The data's path, one module per step:
corpus files -> convert/ (articles/) -> passages.py -> index/ (embedders.py) -> search.py
-> chat.
"""
from .config import Config, load_config
from .index import (
    BuildInProgress,
    IndexFormatError,
    IndexMismatch,
    IndexNotFound,
    IndexUnavailable,
    build_index,
)
from .search import Searcher
from .types import Article, BuildReport, Hit, Passage, SearchResponse

__all__ = [
    "Article", "BuildInProgress", "BuildReport", "Config", "Hit", "IndexFormatError", "IndexMismatch",
    "IndexNotFound", "IndexUnavailable", "Passage", "SearchResponse", "Searcher", "build_index",
    "load_config",
]
