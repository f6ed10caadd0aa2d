"""The index folder: built from a corpus (build), updated by one writer, served by readers.

    layout.py    the folder's files, the write lock, the errors
    catalog.py   SQLite schema as numbered migrations, visibility at a generation, meta checks
    lexical.py   tantivy (BM25 over lexical tokens)
    vectors.py   FAISS (one vectors file per generation)
    embcache.py  vectors by embedder and content hash, reused across builds
    writer.py    one update = one generation, crash-safe
    reader.py    a serving view of the published generation
    build.py     corpus folder -> index folder, touching only what changed
    backend.py   which backend serves: the folder, or PostgreSQL (retrieval/postgres/index.py)
"""
from .backend import open_reader
from .build import build_index, vector_settings
from .layout import BuildInProgress, IndexFormatError, IndexMismatch, IndexNotFound, IndexUnavailable
from .reader import Candidate, IndexReader

__all__ = ["BuildInProgress", "Candidate", "IndexFormatError", "IndexMismatch", "IndexNotFound",
           "IndexReader", "IndexUnavailable", "build_index", "open_reader", "vector_settings"]
