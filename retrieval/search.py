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
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np

from .answer import SentenceScorer, lacks_detail, wanted
from .config import Config
from .embedders import Embedder, make_embedder
from .index import Candidate, IndexReader, open_reader
from .query import Intent, Subject, article_subject, missing, understand, url_words
from .textnorm import (
    MAX_QUESTION_CHARS,
    alias_spellings,
    clean_text,
    content_syllables,
    folded_pairs,
    folded_words,
    has_diacritics,
    respell,
    sentence_spans,
    syllables,
)
from .types import Article, Hit, SearchResponse

# Read for every question an article is a candidate of (~40 articles a question,
# 0.2-1 ms each to compute): the index stores each article's when it adds it, and
# these are for an index whose stored ones follow older rules.  Shared: callers
# must not change a Subject.
_subject = lru_cache(maxsize=16_384)(article_subject)


def subject_of(c: Candidate) -> Subject:
    """What the candidate's article is about: as the index stored it, or computed."""
    if c.subject is not None:
        return Subject.from_json(c.subject)
    return _subject(c.title, c.place, c.date, c.lead or "", c.url)


def _background(c: Candidate) -> str:
    """What an article is about as a whole: its headline, the headline its address
    repeats, and its lead's first sentence.  The question's words found there are
    in every paragraph's context, so they weigh less when choosing the answering
    sentence (answer.BACKGROUND_SHARE): a photo caption or an opening that restates
    the topic does not beat the sentence with the figure.  Realdev: answer in the
    first card 79 -> 81 of 92 (titles made from a caption or the lead say little)."""
    lead = c.lead or ""
    first = next(iter(sentence_spans(lead)), (0, 0))
    return " ".join((c.title, " ".join(url_words(c.url)[1]), lead[first[0]:first[1]]))


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
        # The index (or the server) first: a missing one is a one-line error before the
        # model loads (~1 s), then the model, then whether the index was built with it.
        reader = open_reader(index_dir, None, config)
        try:
            embedder = embedder or make_embedder(config.embedder)
            reader.check_embedder(embedder.identity)
        except BaseException:
            reader.close()
            raise
        return cls(index_dir, config, embedder, reader)

    # ------------------------------------------------------------ maintenance

    def reload(self) -> bool:
        """Move to the newest published generation; False when there is none newer."""
        return self.reader.refresh()

    def close(self) -> None:
        self.reader.close()

    # ------------------------------------------------------------ search

    def search(self, question: str, top_k: int | None = None, offset: int = 0,
               today: date | None = None, prefer: tuple[str, ...] = (),
               intent: Intent | None = None) -> SearchResponse:
        """Ranked passages offset..offset+top_k, one per distinct paragraph text, graded
        `exact`, `partial` (with what is `missing`) or `none`.  `prefer` names the
        constraints ("organisation", "place", "year") a follow-up changed: articles that
        satisfy them come first, so the previous answer does not win on the old topic.
        `intent`: the question's constraints as the caller already understood them
        (the chat's follow-up rules do, chat.context.resolve); None: understood here."""
        top_k = self.config.search.top_k if top_k is None else top_k
        question = clean_text(question).strip()[:MAX_QUESTION_CHARS]
        gen = self.reader.current  # one generation for the whole question
        if not question or not syllables(question) or not gen.passages:
            return SearchResponse(query=question, answered=False)

        intent = intent or understand(question, gen.places, today)
        scores, cast, found = self._rank(gen, question)
        # Those visible in this generation; _rank has read some already.
        found |= self.reader.candidates(gen, [pid for pid in scores if pid not in found])
        subjects: dict[str, Subject] = {}
        for c in found.values():  # once per article, not per passage
            if c.article_id not in subjects:
                subjects[c.article_id] = subject_of(c)
        cast += self._vote_for_constraints(intent, found, subjects, scores)
        want = wanted(question)
        scorer = SentenceScorer(question, self._idf(gen, content_syllables(question)), want,
                                self.config.search.evidence_weight, years=frozenset(intent.years))
        weight, answers, texts = self._vote_for_answers(gen, scorer, found, scores, subjects)
        cast += weight
        # A passage first in every vote cast scores 1.0.
        best = max(cast, 1e-9) / (self.config.search.rrf_k + 1)
        ranked: list[Candidate] = []
        seen: set[str] = set()
        for pid in sorted(found, key=lambda p: (-scores[p], p)):  # ties: catalog order
            if found[pid].dedup not in seen:
                seen.add(found[pid].dedup)
                ranked.append(found[pid])
        for c in found.values():  # passages read whole for the answer vote have subjects too
            if c.article_id not in subjects:
                subjects[c.article_id] = subject_of(c)
        if prefer:
            wanted_now = Intent(places=intent.places if "place" in prefer else [],
                                years=intent.years if "year" in prefer else set(),
                                terms=intent.terms if "year" in prefer else [],
                                organisations=intent.organisations if "organisation" in prefer else [])
            ranked.sort(key=lambda c: bool(missing(wanted_now, subjects[c.article_id], c.text)))
        match, gaps, detail = "none", [], ""
        if self._is_relevant(gen, question, intent, ranked[:3], subjects):
            gaps = missing(intent, subjects[ranked[0].article_id], ranked[0].text)
            top = ranked[0].article_id
            if self.config.search.grade_details and want.is_detail and lacks_detail(
                    texts.get(top) or [ranked[0].text], scorer):
                gaps.append("detail")
                detail = want.describe()
            match = "partial" if gaps else "exact"
        hits = []
        for c in ranked[offset:offset + top_k]:
            hit = self._hit(c, scores[c.pid] / best)
            hit.answer = answers[c.pid] if c.pid in answers else scorer.best(c.text)[0]
            hits.append(hit)
        return SearchResponse(query=question, answered=match != "none", hits=hits, match=match,
                              missing=gaps, understood=intent.describe(), wanted=want.kind, detail=detail,
                              intent=intent)

    def _idf(self, gen, terms) -> dict[str, float]:
        """IDF of folded syllables over the visible passages (their folded twins' counts)."""
        n = gen.passages
        return {t: math.log((n + 1) / (gen.lexical.doc_freq("~" + t) + 0.5)) for t in set(terms)}

    def _vote_for_answers(self, gen, scorer: SentenceScorer, found: dict[int, Candidate],
                          scores: dict[int, float], subjects: dict[str, Subject]
                          ) -> tuple[float, dict[int, tuple[int, int] | None], dict[str, list[str]]]:
        """The answer inside the best articles: their passages read whole, each
        sentence scored for the question's words and the evidence it wants
        (answer.py).  Each article's best passage takes the article's best score (it
        is the one its card shows), and the articles get one more vote, in
        proportion to their best sentence's score.  Returns the weight cast, each scored
        passage's best sentence, and the articles' passage texts (for grading).

        Why: the engines rank passages as wholes, so an article's opening paragraph,
        which repeats the headline's words, outranks the paragraph with the number
        or the name asked for (realdev: passage hit@1 .74 with article hit@1 .90).
        """
        s = self.config.search
        by_article: dict[str, list[int]] = {}
        for pid in sorted(found, key=lambda p: (-scores[p], p)):
            by_article.setdefault(found[pid].article_id, []).append(pid)
        top = list(by_article)[:s.answer_articles]
        if not top:
            return 0.0, {}, {}
        answers: dict[int, tuple[int, int] | None] = {}
        texts: dict[str, list[str]] = {}
        article_best: dict[str, float] = {}
        chosen: dict[str, int] = {}
        whole = {c.pid: c for c in self.reader.article_passages(gen, top)}
        for c in whole.values():
            texts.setdefault(c.article_id, []).append(c.text)
        firsts = {c.article_id: c for c in reversed(whole.values())}
        years = {a: subjects[a].years for a in firsts}
        inside = {a: scorer.within(_background(c), texts[a], years[a]) for a, c in firsts.items()}
        plain: dict[str, float] = {}
        for c in whole.values():
            span, score = inside[c.article_id].best(c.text)
            answers[c.pid] = span
            plain[c.article_id] = max(plain.get(c.article_id, 0.0), scorer.score(
                c.text[span[0]:span[1]], years[c.article_id]) if span else 0.0)
            # The engines' own order breaks ties and weighs a little: a passage they
            # ranked first in its article needs a clearly better sentence to lose.
            retrieved = by_article[c.article_id]
            prior = 0.0 if c.pid not in scores else scores[c.pid] / scores[retrieved[0]]
            total = score + 0.25 * prior
            if total > article_best.get(c.article_id, -1.0):
                article_best[c.article_id], chosen[c.article_id] = total, c.pid
        for article_id, pid in chosen.items():
            retrieved = by_article[article_id]
            first = retrieved[0]
            if pid != first:
                found.setdefault(pid, whole[pid])
                # Just above the first: passages of one article may tie (the same votes).
                scores[pid], scores[first] = scores[first] + 1e-9, scores.get(pid, scores[retrieved[-1]])
        if s.answer_weight <= 0:
            return 0.0, answers, texts
        # Each article votes in proportion to its best sentence against the best article's.
        # By rank alone (1/(k+1) against 1/(k+2)) the vote could not tell the sentence that
        # answers from one that shares the topic's words: realdev article hit@1 .946 -> .967,
        # answer in the first card .891 -> .913; questions.jsonl hit@1 unchanged.
        top_plain = max(plain.values())
        for article_id in plain if top_plain > 0 else ():
            bonus = s.answer_weight / (s.rrf_k + 1) * plain[article_id] / top_plain
            for pid in {*by_article[article_id], chosen[article_id]}:
                scores[pid] += bonus
        return s.answer_weight, answers, texts

    def _dense_weight(self, question: str) -> float:
        s = self.config.search
        return s.dense_weight if has_diacritics(question) else s.dense_weight_unaccented

    def _rank(self, gen, question: str) -> tuple[dict[int, float], float, dict[int, Candidate]]:
        """Reciprocal-rank fusion of the BM25 and dense rankings, by passage row id; the
        weight of the votes cast; and the candidates read on the way (for respelling)."""
        s = self.config.search
        depth = min(s.candidates, gen.passages)
        lexical = gen.lexical.ranking(question, depth)

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
        weights = self._idf(gen, all_terms)
        spellings = alias_spellings(syllables(question))
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
            # "HND" is covered by an article of the Hội Nông dân, whatever it writes.
            for key, spelled in spellings.items():
                if key in subjects[c.article_id].organisations:
                    doc_terms |= spelled
            covered = sum(weights[t] for t in terms if t in doc_terms) / sum(weights[t] for t in terms)
            pair_share = len(pairs & folded_pairs(c.indexed)) / len(pairs) if pairs else covered
            if pair_share >= s.min_pair_coverage or covered >= s.min_coverage:
                return True
        return False

    @staticmethod
    def _hit(c: Candidate, score: float) -> Hit:
        return Hit(article_id=c.article_id, passage_id=c.passage_id, text=c.text,
                   score=round(float(score), 4), title=c.title, date=c.date, place=c.place,
                   source=c.source, url=c.url, position=c.position, date_source=c.date_source)

    # ------------------------------------------------------------ browsing

    def article(self, article_id: str) -> Article | None:
        return self.reader.article(article_id)

    def stats(self) -> dict:
        return self.reader.stats()

    def latest(self, n: int = 5) -> list[Article]:
        """Newest articles first (undated ones last)."""
        return self.reader.latest(n)
