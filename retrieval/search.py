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
from collections import Counter
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np

from .config import Config
from .embedders import Embedder, make_embedder
from .index import Candidate, IndexReader, vector_settings
from .index.lexical import lexical_schema
from .query import Intent, Subject, article_subject, missing, understand
from .textnorm import (
    MAX_QUESTION_CHARS,
    clean_text,
    content_syllables,
    folded_pairs,
    folded_words,
    has_diacritics,
    lexical_tokens,
    respell,
    syllables,
)
from .types import Article, Hit, SearchResponse

# Read for every question an article is a candidate of (~70 articles a question,
# 0.2-1 ms each); articles recur across questions, and the result depends on the
# arguments alone.  Shared: callers must not change a Subject.
_subject = lru_cache(maxsize=16_384)(article_subject)


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

    def search(self, question: str, top_k: int | None = None, offset: int = 0,
               today: date | None = None) -> SearchResponse:
        """Ranked passages offset..offset+top_k, one per distinct paragraph text, graded
        `exact`, `partial` (with what is `missing`) or `none`."""
        top_k = self.config.search.top_k if top_k is None else top_k
        question = clean_text(question).strip()[:MAX_QUESTION_CHARS]
        gen = self.reader.current  # one generation for the whole question
        if not question or not syllables(question) or not gen.passages:
            return SearchResponse(query=question, answered=False)

        intent = understand(question, gen.places, today)
        scores, cast, found = self._rank(gen, question)
        # Those visible in this generation; _rank has read some already.
        found |= self.reader.candidates(gen, [pid for pid in scores if pid not in found])
        subjects: dict[str, Subject] = {}
        for c in found.values():  # once per article, not per passage
            if c.article_id not in subjects:
                subjects[c.article_id] = _subject(c.title, c.place, c.date, c.lead or "")
        cast += self._vote_for_constraints(intent, found, subjects, scores)
        # A passage first in every vote cast scores 1.0.
        best = max(cast, 1e-9) / (self.config.search.rrf_k + 1)
        ranked: list[Candidate] = []
        seen: set[str] = set()
        for pid in sorted(found, key=lambda p: (-scores[p], p)):  # ties: catalog order
            if found[pid].dedup not in seen:
                seen.add(found[pid].dedup)
                ranked.append(found[pid])
        match, gaps = "none", []
        if self._is_relevant(gen, question, intent, ranked[:3], subjects):
            gaps = missing(intent, subjects[ranked[0].article_id], ranked[0].text)
            match = "partial" if gaps else "exact"
        hits = [self._hit(c, scores[c.pid] / best) for c in ranked[offset:offset + top_k]]
        return SearchResponse(query=question, answered=match != "none", hits=hits, match=match,
                              missing=gaps, understood=intent.describe())

    def _dense_weight(self, question: str) -> float:
        s = self.config.search
        return s.dense_weight if has_diacritics(question) else s.dense_weight_unaccented

    def _rank(self, gen, question: str) -> tuple[dict[int, float], float, dict[int, Candidate]]:
        """Reciprocal-rank fusion of the BM25 and dense rankings, by passage row id; the
        weight of the votes cast; and the candidates read on the way (for respelling)."""
        s = self.config.search
        depth = min(s.candidates, gen.passages)
        result = gen.lexical.search(lexical_query(question), depth + 1, count=False)
        pids = gen.lexical.fast_field_values("pid", [addr for _, addr in result.hits])
        lexical = [int(p) for (score, _), p in zip(result.hits, pids, strict=True)
                   if p and score > 0][:depth]

        dense: list[int] = []
        dense_weight = self._dense_weight(question)
        found: dict[int, Candidate] = {}
        if s.respell_questions and lexical:
            # The dense model reads words as written: unaccented ones poorly, and a
            # tone mark placed the other way (hoà/hòa) as another word.  Spelled
            # as the best lexical matches spell the same syllables, an unaccented
            # question is worth a dense vote too.
            found = self.reader.candidates(gen, lexical[:s.respell_from])
            question = respell(question, (c.indexed for c in found.values()))
            dense_weight = self._dense_weight(question)
        if dense_weight > 0:  # unaccented questions skip the model: its vote would be 0
            query_vector = self.embedder.embed_query(question).reshape(1, -1)
            _, ids = gen.vectors.search(np.ascontiguousarray(query_vector, dtype=np.float32), depth)
            dense = [int(i) for i in ids[0] if i >= 0]

        scores: dict[int, float] = {}
        for weight, ranking in ((s.bm25_weight, lexical), (dense_weight, dense)):
            for rank, pid in enumerate(ranking):
                scores[pid] = scores.get(pid, 0.0) + weight / (s.rrf_k + rank + 1)
        return scores, s.bm25_weight + dense_weight, found

    def _vote_for_constraints(self, intent: Intent, found: dict[int, Candidate],
                              subjects: dict[str, Subject], scores: dict[int, float]) -> float:
        """More votes: a candidate whose article is of the place, the year, the
        organisation or the kind of event the question names counts as if one more
        engine had ranked it first, for each.  Returns the weight of the votes cast.

        Why: BM25 and the dense model see one passage at a time, but a passage rarely
        repeats the district's name or the year (the body says "huyện", "năm nay"),
        while a portal holds the same kind of report for many districts and years.
        The article's own date, place, headline and lead decide (query.missing, where
        the passage itself can add next year's targets and a commune), so a 2024
        report that mentions 2021 in passing gets no vote for 2021.
        """
        s = self.config.search
        only = {"place": Intent(places=intent.places),
                "year": Intent(years=intent.years, terms=intent.terms),
                "organisation": Intent(organisations=intent.organisations)}
        cast = 0.0
        for name, weight in (("place", s.place_weight), ("year", s.year_weight),
                             ("organisation", s.organisation_weight)):
            if weight > 0 and not only[name].is_empty():
                cast += weight
                for pid, c in found.items():
                    if not missing(only[name], subjects[c.article_id], c.text):
                        scores[pid] += weight / (s.rrf_k + 1)
        if s.event_weight > 0 and intent.events:
            cast += s.event_weight
            for pid, c in found.items():
                if intent.events & subjects[c.article_id].events:
                    scores[pid] += s.event_weight / (s.rrf_k + 1)
        return cast

    def _is_relevant(self, gen, question: str, intent: Intent, best: list[Candidate],
                     subjects: dict[str, Subject]) -> bool:
        """Does one of the best passages contain what the question is about?

        Syllables weigh their IDF, so rare ones (names, numbers, programmes)
        decide, and a syllable the corpus never uses weighs most; two-syllable
        words (folded pairs) count on their own.  The place and year the question
        states count only where the passage's article satisfies them: where it
        does not, they are a constraint graded on the article (`partial`, with
        what is missing), so "Hội Nông dân of a district we have no article of"
        finds the other districts' reports and says so instead of "nothing
        found".  Document frequencies come from the lexical index (folded twins).
        """
        all_terms = set(content_syllables(question))
        all_pairs = folded_pairs(question, skip_stopwords=True)
        if not best or not all_terms:
            return False
        n = gen.passages

        def idf(term: str) -> float:
            return math.log((n + 1) / (gen.lexical.doc_freq("tokens", "~" + term) + 0.5))

        weights = {t: idf(t) for t in all_terms}
        s = self.config.search
        for c in best:
            gaps = missing(Intent(places=intent.places, years=intent.years, terms=intent.terms),
                           subjects[c.article_id], c.text)
            unmet = ({w for p in intent.places for w in p.name.split()} if "place" in gaps else set())
            if "year" in gaps:
                unmet |= {str(y) for y in intent.years} | {str(y) for t in intent.terms for y in t}
            terms = all_terms - unmet
            pairs = {p for p in all_pairs if not unmet & set(p)}
            if not terms:
                return True  # the question is nothing but the constraints it misses
            doc_terms = set(folded_words(c.indexed))
            covered = sum(weights[t] for t in terms if t in doc_terms) / sum(weights[t] for t in terms)
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
