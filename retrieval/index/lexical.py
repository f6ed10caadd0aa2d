"""The lexical engine (tantivy): one schema, passages by row id, and the generation it holds.

A meta document (pid 0; passage row ids start at 1) records the generation
the last lexical commit reflects, so a writer can tell whether tantivy is
ahead of (an unfinished update) or behind (a crash, a new tokenisation) the
catalog.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from ..textnorm import lexical_tokens
from .catalog import chunks
from .layout import LEXICAL_DIR

META_PID = 0


@cache
def lexical_schema():
    """The one schema of the lexical index (built once: queries need it too)."""
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field("pid", stored=True, indexed=True, fast=True)
    # Tokens are made by textnorm.lexical_tokens (syllables, folded twins, folded
    # pairs) and joined by spaces; tantivy only splits them again.  Term
    # frequencies but no positions: BM25 needs no more.
    builder.add_text_field("tokens", stored=False, tokenizer_name="whitespace", index_option="freq")
    builder.add_unsigned_field("generation", stored=True, indexed=False)
    # Every passage has kind "p": its document frequency counts deleted passages
    # that no merge has purged yet, which is how much BM25's statistics are off.
    builder.add_text_field("kind", stored=False, tokenizer_name="raw", index_option="basic")
    return builder.build()


def passage_tokens(indexed: str) -> str:
    """What tantivy indexes for a passage: the lexical tokens of its indexed text."""
    return " ".join(lexical_tokens(indexed))


def open_lexical(index_dir: Path, create: bool = True):
    """The tantivy index; only the writer creates it (a reader never writes)."""
    import tantivy

    folder = index_dir / LEXICAL_DIR
    if not create:
        return tantivy.Index.open(str(folder))
    folder.mkdir(exist_ok=True)
    return tantivy.Index(lexical_schema(), path=str(folder), reuse=True)


def lexical_generation(searcher) -> int | None:
    """The generation the lexical index's last commit reflects (None: never committed)."""
    import tantivy

    hits = searcher.search(tantivy.Query.term_query(lexical_schema(), "pid", META_PID), 1,
                           count=False).hits
    if not hits:
        return None
    return int(searcher.doc(hits[0][1]).to_dict()["generation"][0])


def delete_lexical(writer, pids: Iterable[int]) -> None:
    """Delete passages from the lexical index by id.

    By query, not `delete_documents_by_term`: tantivy-py turns a Python int into
    an i64 term there, which never matches the u64 id field.
    """
    import tantivy

    schema = lexical_schema()
    for chunk in chunks([int(p) for p in pids], 1000):
        writer.delete_documents_by_query(tantivy.Query.term_set_query(schema, "pid", chunk))


def deleted_share(searcher) -> float:
    """Share of the lexical index's passages that are deleted but still counted by BM25.

    tantivy purges a deleted document only when its segment is merged, and the
    Python binding cannot ask for a merge; until then document frequencies
    include it.
    """
    counted = searcher.doc_freq("kind", "p")
    live = searcher.num_docs - 1  # less the meta document
    return (counted - live) / counted if counted else 0.0


def passage_doc(pid: int, tokens: str):
    """The lexical document of one passage."""
    import tantivy

    doc = tantivy.Document()
    doc.add_unsigned("pid", pid)
    doc.add_text("tokens", tokens)
    doc.add_text("kind", "p")
    return doc


def generation_doc(generation: int):
    """The meta document recording the generation of a lexical commit."""
    import tantivy

    doc = tantivy.Document()
    doc.add_unsigned("pid", META_PID)
    doc.add_unsigned("generation", generation)
    return doc


def lexical_query(question: str):
    """tantivy query: every lexical token of the question, repeated ones weighing more."""
    import tantivy

    schema = lexical_schema()
    clauses = []
    for token, count in Counter(lexical_tokens(question)).items():
        term = tantivy.Query.term_query(schema, "tokens", token)
        clauses.append((tantivy.Occur.Should, tantivy.Query.boost_query(term, float(count))
                        if count > 1 else term))
    return tantivy.Query.boolean_query(clauses)


class TantivyLexical:
    """One generation's lexical engine as search uses any backend's (the postgres one is
    retrieval/postgres/index.py): a BM25 ranking of passage ids, and document frequencies."""

    def __init__(self, searcher) -> None:
        self.searcher = searcher

    def ranking(self, question: str, depth: int) -> list[int]:
        """The `depth` best passage ids by BM25 over the question's lexical tokens."""
        result = self.searcher.search(lexical_query(question), depth + 1, count=False)
        pids = self.searcher.fast_field_values("pid", [addr for _, addr in result.hits])
        return [int(p) for (score, _), p in zip(result.hits, pids, strict=True) if p and score > 0][:depth]

    def doc_freq(self, token: str) -> int:
        """In how many passages `token` occurs (deleted ones not yet merged away included)."""
        return self.searcher.doc_freq("tokens", token)
