"""Index -> ranked, cited passages: hybrid BM25 + dense retrieval fused by reciprocal rank.

Why hybrid: BM25 over syllables and folded syllables handles names, numbers
and questions typed without diacritics; the dense e5 model handles
paraphrase.  Reciprocal-rank fusion needs no score calibration between them.

Why a separate answerability test: top dense scores look alike for answerable
and unanswerable questions, so "answered" is decided lexically instead.  One
of the best passages must contain the question's two-syllable words (most
Vietnamese words have two syllables: "hiến máu", "thời tiết") or most of its
IDF-weighted syllables, and its article must mention every year the question
names.  A question about a place, year or topic that the corpus never
mentions then gets an honest "nothing relevant found" instead of noise.
"""
from __future__ import annotations

import json
import math
import re
import sqlite3
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import Config
from .embedders import Embedder, make_embedder
from .index import (
    IndexNotFound,
    check_embedder,
    current_version,
    import_bm25s,
    read_manifest,
)
from .textnorm import (
    content_syllables,
    fold,
    folded_pairs,
    has_diacritics,
    lexical_tokens,
    syllables,
)
from .types import Article, Hit, SearchResponse

MAX_QUESTION_CHARS = 1000  # beyond this a "question" is a pasted document; its head is enough
_YEAR = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)")


@dataclass
class _Loaded:
    """One immutable index version in memory; a reload swaps the whole object."""

    version: Path
    manifest: dict
    articles: dict[str, Article]
    rows: list[tuple[str, str, int, str]]  # passage_id, article_id, position, text
    dense: object  # faiss.Index
    lexical: object  # bm25s.BM25
    doc_terms: list[set[str]]  # folded syllables of each passage incl. its header
    doc_pairs: list[set[tuple[str, str]]]  # folded syllable pairs of the same
    doc_freq: Counter
    article_years: dict[str, set[str]]  # years each article mentions (text, title, date)
    article_scope: dict[str, str]  # " folded syllables " of each article's place and title
    places: list[str]  # " folded syllables " of the corpus's place names
    dedup_keys: list[str]


def _folded_syllables(text: str) -> str:
    """"Đầm  Hà" -> "dam ha".  The same paragraph in two syndicated copies gets the same
    string whatever the spacing or accents, so it also serves as the dedup key."""
    return " ".join(fold(s) for s in syllables(text))


def _folded_words(text: str) -> str:
    """" a b c ": folded syllables padded with spaces, so `" dam ha " in ...` matches whole
    syllables only."""
    return f" {_folded_syllables(text)} "


def _load(version: Path) -> _Loaded:
    import faiss

    bm25s = import_bm25s()
    manifest = read_manifest(version)
    db = sqlite3.connect(f"file:{version / 'passages.sqlite'}?mode=ro", uri=True)
    try:
        articles = {
            row[0]: Article(article_id=row[0], title=row[1], date=row[2], place=row[3],
                            source=row[4], url=row[5], path=row[6], paragraphs=json.loads(row[7]))
            for row in db.execute("SELECT article_id, title, date, place, source, url, path,"
                                  " paragraphs FROM articles")
        }
        rows = list(db.execute("SELECT passage_id, article_id, position, text FROM passages"
                               " ORDER BY row"))
    finally:
        db.close()
    doc_terms, doc_pairs = [], []
    for _, article_id, _, text in rows:
        a = articles[article_id]
        with_header = " ".join(x for x in (a.title, a.place, a.date, text) if x)
        doc_terms.append({fold(s) for s in syllables(with_header)})
        doc_pairs.append(folded_pairs(with_header))
    doc_freq = Counter(t for terms in doc_terms for t in terms)
    article_years = {a.article_id: set(_YEAR.findall(f"{a.title} {a.date or ''} {a.text}"))
                     for a in articles.values()}
    place_names = {_folded_words(a.place) for a in articles.values() if a.place}
    # One-syllable "places" are misreadings, and folded they are common words ("van").
    places = sorted(p for p in place_names if len(p.split()) >= 2)
    return _Loaded(
        version=version,
        manifest=manifest,
        articles=articles,
        rows=rows,
        dense=faiss.read_index(str(version / "vectors.faiss")),
        lexical=bm25s.BM25.load(str(version / "bm25"), show_progress=False),
        doc_terms=doc_terms,
        doc_pairs=doc_pairs,
        doc_freq=doc_freq,
        article_years=article_years,
        article_scope={a.article_id: _folded_words(f"{a.place or ''} {a.title}")
                       for a in articles.values()},
        places=places,
        dedup_keys=[_folded_syllables(text) for *_, text in rows],
    )


class Searcher:
    """Answers questions from the index in one folder; `reload()` picks up a newer build."""

    def __init__(self, index_dir: Path, config: Config, embedder: Embedder, loaded: _Loaded):
        self.index_dir = index_dir
        self.config = config
        self.embedder = embedder
        self._loaded = loaded
        self._reload_lock = threading.Lock()

    @classmethod
    def open(cls, index_dir: str | Path, config: Config | None = None,
             embedder: Embedder | None = None) -> Searcher:
        """Load the served version; raises IndexNotFound or IndexMismatch."""
        config = config or Config()
        index_dir = Path(index_dir)
        version = current_version(index_dir)
        if version is None:
            raise IndexNotFound(f"no index in {index_dir}: build one with "
                                f"`python -m retrieval index --corpus DIR --index {index_dir}`")
        embedder = embedder or make_embedder(config.embedder)
        check_embedder(read_manifest(version), embedder.identity, index_dir)
        return cls(index_dir, config, embedder, _load(version))

    # ------------------------------------------------------------ maintenance

    def reload(self) -> bool:
        """Swap in the version CURRENT names if it is newer than the one served."""
        with self._reload_lock:
            version = current_version(self.index_dir)
            if version is None or version == self._loaded.version:
                return False
            check_embedder(read_manifest(version), self.embedder.identity, self.index_dir)
            self._loaded = _load(version)  # one reference assignment: searches see old or new
            return True

    # ------------------------------------------------------------ search

    def search(self, question: str, top_k: int | None = None, offset: int = 0) -> SearchResponse:
        """Ranked passages offset..offset+top_k, one per distinct paragraph text."""
        top_k = self.config.search.top_k if top_k is None else top_k
        question = question.strip()[:MAX_QUESTION_CHARS]
        idx = self._loaded
        if not question or not syllables(question) or not idx.rows:
            return SearchResponse(query=question, answered=False)

        fused = self._fuse(idx, question)
        ranked: list[int] = []
        seen: set[str] = set()
        for row in fused:
            key = idx.dedup_keys[row]
            if key not in seen:
                seen.add(key)
                ranked.append(row)
        answered = self._is_answered(idx, question, ranked[:3])
        hits = [self._hit(idx, row, fused[row])
                for row in ranked[offset:offset + top_k]]
        return SearchResponse(query=question, answered=answered, hits=hits)

    def _fuse(self, idx: _Loaded, question: str) -> dict[int, float]:
        """Reciprocal-rank fusion of the BM25, dense and place votes, best first.

        Scores are divided by the best a passage could get from the votes cast, so
        1.0 means first in every vote."""
        s = self.config.search
        n = len(idx.rows)
        depth = min(s.candidates, n)

        bm25_scores = idx.lexical.get_scores(lexical_tokens(question))[:n]
        lexical = [int(i) for i in np.argsort(-bm25_scores, kind="stable")[:depth]
                   if bm25_scores[i] > 0]

        query_vector = self.embedder.embed_query(question).reshape(1, -1)
        _, ids = idx.dense.search(np.ascontiguousarray(query_vector, dtype=np.float32), depth)
        dense = [int(i) for i in ids[0] if i >= 0]

        dense_weight = s.dense_weight if has_diacritics(question) else s.dense_weight_unaccented
        scores: dict[int, float] = {}
        for weight, ranking in ((s.bm25_weight, lexical), (dense_weight, dense)):
            for rank, row in enumerate(ranking):
                scores[row] = scores.get(row, 0.0) + weight / (s.rrf_k + rank + 1)
        cast = s.bm25_weight + dense_weight + self._vote_for_place(idx, question, scores)
        best = max(cast, 1e-9) / (s.rrf_k + 1)
        return {row: score / best for row, score in sorted(scores.items(), key=lambda kv: -kv[1])}

    def _vote_for_place(self, idx: _Loaded, question: str, scores: dict[int, float]) -> float:
        """Third vote, by article: candidates from an article of the place the question
        names count as if a third engine had ranked them first.

        Why: BM25 and the dense model see one passage at a time, but a passage rarely
        repeats the district's name (the body says "huyện"), while a portal holds the
        same kind of article for many districts.  Only names that some article is of
        are recognised, so an ordinary word cannot vote.  Years get no such vote: a
        report dated 2024 is where the question about 2023's results is answered.
        Returns the weight of the vote cast (0 when the question names no place).
        """
        weight = self.config.search.place_weight
        if weight <= 0 or not scores:
            return 0.0
        asked = _folded_words(question)
        named = [p for p in idx.places if p in asked]
        named = [p for p in named if not any(p != q and p in q for q in named)]  # "Hà" in "Đầm Hà"
        if not named:
            return 0.0
        bonus = weight / (self.config.search.rrf_k + 1)
        for row in scores:
            scope = idx.article_scope[idx.rows[row][1]]
            if any(p in scope for p in named):
                scores[row] += bonus
        return weight

    def _is_answered(self, idx: _Loaded, question: str, best_rows: list[int]) -> bool:
        """Does one of the best passages contain what the question is about?

        Syllables weigh their IDF, so rare ones (names, numbers, specific
        programmes) decide, and a syllable the corpus never uses weighs most.
        """
        terms = set(content_syllables(question))
        if not terms or not best_rows:
            return False
        years = set(_YEAR.findall(question))
        rows = [r for r in best_rows if years <= idx.article_years[idx.rows[r][1]]]
        if not rows:  # the question asks about a year none of these articles mentions
            return False
        n = len(idx.rows)

        def idf(term: str) -> float:
            return math.log((n + 1) / (idx.doc_freq.get(term, 0) + 0.5))

        total = sum(idf(t) for t in terms)
        pairs = folded_pairs(question, skip_stopwords=True)
        s = self.config.search
        for row in rows:
            covered = sum(idf(t) for t in terms if t in idx.doc_terms[row]) / total
            pair_share = len(pairs & idx.doc_pairs[row]) / len(pairs) if pairs else covered
            if pair_share >= s.min_pair_coverage or covered >= s.min_coverage:
                return True
        return False

    def _hit(self, idx: _Loaded, row: int, score: float) -> Hit:
        passage_id, article_id, position, text = idx.rows[row]
        a = idx.articles[article_id]
        return Hit(article_id=article_id, passage_id=passage_id, text=text,
                   score=round(float(score), 4), title=a.title, date=a.date, place=a.place,
                   source=a.source, url=a.url, position=position)

    # ------------------------------------------------------------ browsing

    def article(self, article_id: str) -> Article | None:
        return self._loaded.articles.get(article_id)

    def stats(self) -> dict:
        idx = self._loaded
        dates = sorted(a.date for a in idx.articles.values() if a.date)
        return {
            "articles": len(idx.articles),
            "passages": len(idx.rows),
            "date_min": dates[0] if dates else None,
            "date_max": dates[-1] if dates else None,
            "built_at": idx.manifest.get("built_at"),
            "embedder": idx.manifest.get("embedder"),
        }

    def latest(self, n: int = 5) -> list[Article]:
        """Newest articles first (undated ones last)."""
        articles = sorted(self._loaded.articles.values(),
                          key=lambda a: (a.date or "", a.article_id), reverse=True)
        return articles[:n]

    def example_questions(self, n: int = 3) -> list[str]:
        """Questions a person could ask, drawn from the newest headlines.

        ALL-CAPS headlines read badly as examples and are used last.
        """
        articles = sorted(self.latest(n * 3), key=lambda a: a.title.isupper())
        examples = []
        for a in articles[:n]:
            words = re.split(r"[:;]", a.title)[0].split()
            short = " ".join(words[:18]).rstrip(".,")
            if a.date and a.date[:4] not in short:
                short = f"{short} năm {a.date[:4]}"
            if a.place and fold(a.place).lower() not in fold(short).lower():
                short = f"{short} ở {a.place}"
            examples.append(short[:1].upper() + short[1:].lower() if a.title.isupper() else short)
        return examples
