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

import math
import re
from collections import Counter
from pathlib import Path

import numpy as np

from .config import Config
from .embedders import Embedder, make_embedder
from .index import vector_settings
from .store import YEAR, Candidate, IndexReader, folded_words, lexical_schema
from .textnorm import (
    MAX_QUESTION_CHARS,
    clean_text,
    content_syllables,
    fold,
    fold_syllable,
    folded_pairs,
    has_diacritics,
    lexical_tokens,
    syllables,
)
from .types import Article, Hit, SearchResponse


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


class Searcher:
    """Answers questions from the index in one folder; `reload()` picks up a newer build."""

    def __init__(self, index_dir: Path, config: Config, embedder: Embedder, reader: IndexReader):
        self.index_dir = index_dir
        self.config = config
        self.embedder = embedder
        self.reader = reader

    @classmethod
    def open(cls, index_dir: str | Path, config: Config | None = None,
             embedder: Embedder | None = None) -> Searcher:
        """Open the served generation; raises IndexNotFound, IndexMismatch or IndexFormatError."""
        config = config or Config()
        index_dir = Path(index_dir)
        embedder = embedder or make_embedder(config.embedder)
        return cls(index_dir, config, embedder,
                   IndexReader(index_dir, embedder.identity, vector_settings(config)))

    # ------------------------------------------------------------ maintenance

    def reload(self) -> bool:
        """Move to the newest published generation; False when there is none newer."""
        return self.reader.refresh()

    def close(self) -> None:
        self.reader.close()

    # ------------------------------------------------------------ search

    def search(self, question: str, top_k: int | None = None, offset: int = 0) -> SearchResponse:
        """Ranked passages offset..offset+top_k, one per distinct paragraph text."""
        top_k = self.config.search.top_k if top_k is None else top_k
        question = clean_text(question).strip()[:MAX_QUESTION_CHARS]
        gen = self.reader.current  # one generation for the whole question
        if not question or not syllables(question) or not gen.passages:
            return SearchResponse(query=question, answered=False)

        scores = self._rank(gen, question)
        found = self.reader.candidates(gen, scores)  # those visible in this generation
        named = self._named_places(gen, question) if self.config.search.place_weight > 0 else []
        self._vote_for_place(named, found, scores)
        best = self._best_possible(question, bool(named))
        ranked: list[Candidate] = []
        seen: set[str] = set()
        for pid in sorted(found, key=lambda p: -scores[p]):
            if found[pid].dedup not in seen:
                seen.add(found[pid].dedup)
                ranked.append(found[pid])
        answered = self._is_answered(gen, question, ranked[:3])
        hits = [self._hit(c, scores[c.pid] / best) for c in ranked[offset:offset + top_k]]
        return SearchResponse(query=question, answered=answered, hits=hits)

    def _dense_weight(self, question: str) -> float:
        s = self.config.search
        return s.dense_weight if has_diacritics(question) else s.dense_weight_unaccented

    def _rank(self, gen, question: str) -> dict[int, float]:
        """Reciprocal-rank fusion of the BM25 and dense rankings, by passage row id."""
        s = self.config.search
        depth = min(s.candidates, gen.passages)
        result = gen.lexical.search(lexical_query(question), depth + 1, count=False)
        pids = gen.lexical.fast_field_values("pid", [addr for _, addr in result.hits])
        lexical = [int(p) for (score, _), p in zip(result.hits, pids, strict=True)
                   if p and score > 0][:depth]

        dense: list[int] = []
        dense_weight = self._dense_weight(question)
        if dense_weight > 0:  # unaccented questions skip the model: its vote would be 0
            query_vector = self.embedder.embed_query(question).reshape(1, -1)
            _, ids = gen.vectors.search(np.ascontiguousarray(query_vector, dtype=np.float32), depth)
            dense = [int(i) for i in ids[0] if i >= 0]

        scores: dict[int, float] = {}
        for weight, ranking in ((s.bm25_weight, lexical), (dense_weight, dense)):
            for rank, pid in enumerate(ranking):
                scores[pid] = scores.get(pid, 0.0) + weight / (s.rrf_k + rank + 1)
        return scores

    def _named_places(self, gen, question: str) -> list[str]:
        asked = folded_words(question)
        named = [p for p in gen.places if p in asked]
        return [p for p in named if not any(p != q and p in q for q in named)]  # "Hà" in "Đầm Hà"

    def _best_possible(self, question: str, place_voted: bool) -> float:
        """The score of a passage first in every vote cast: scores are divided by it, so
        1.0 means first everywhere."""
        s = self.config.search
        cast = s.bm25_weight + self._dense_weight(question)
        if place_voted:
            cast += s.place_weight
        return max(cast, 1e-9) / (s.rrf_k + 1)

    def _vote_for_place(self, named: list[str], found: dict[int, Candidate],
                        scores: dict[int, float]) -> None:
        """Third vote, by article: candidates from an article of the place the question
        names count as if a third engine had ranked them first.

        Why: BM25 and the dense model see one passage at a time, but a passage rarely
        repeats the district's name (the body says "huyện"), while a portal holds the
        same kind of article for many districts.  Only names that some article is of
        are recognised, so an ordinary word cannot vote.  Years get no such vote: a
        report dated 2024 is where the question about 2023's results is answered.
        """
        if not named:
            return
        bonus = self.config.search.place_weight / (self.config.search.rrf_k + 1)
        for pid, c in found.items():
            if any(p in c.scope for p in named):
                scores[pid] += bonus

    def _is_answered(self, gen, question: str, best: list[Candidate]) -> bool:
        """Does one of the best passages contain what the question is about?

        Syllables weigh their IDF, so rare ones (names, numbers, specific
        programmes) decide, and a syllable the corpus never uses weighs most.
        Document frequencies come from the lexical index (folded twins).
        """
        terms = set(content_syllables(question))
        if not terms or not best:
            return False
        years = set(YEAR.findall(question))
        rows = [c for c in best if years <= set(c.years.split())]
        if not rows:  # the question asks about a year none of these articles mentions
            return False
        n = gen.passages

        def idf(term: str) -> float:
            return math.log((n + 1) / (gen.lexical.doc_freq("tokens", "~" + term) + 0.5))

        weights = {t: idf(t) for t in terms}
        total = sum(weights.values())
        pairs = folded_pairs(question, skip_stopwords=True)
        s = self.config.search
        for c in rows:
            doc_terms = {fold_syllable(x) for x in syllables(c.indexed)}
            covered = sum(w for t, w in weights.items() if t in doc_terms) / total
            pair_share = len(pairs & folded_pairs(c.indexed)) / len(pairs) if pairs else covered
            if pair_share >= s.min_pair_coverage or covered >= s.min_coverage:
                return True
        return False

    @staticmethod
    def _hit(c: Candidate, score: float) -> Hit:
        return Hit(article_id=c.article_id, passage_id=c.passage_id, text=c.text,
                   score=round(float(score), 4), title=c.title, date=c.date, place=c.place,
                   source=c.source, url=c.url, position=c.position)

    # ------------------------------------------------------------ browsing

    def article(self, article_id: str) -> Article | None:
        return self.reader.article(article_id)

    def stats(self) -> dict:
        return self.reader.stats()

    def latest(self, n: int = 5) -> list[Article]:
        """Newest articles first (undated ones last)."""
        return self.reader.latest(n)

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
