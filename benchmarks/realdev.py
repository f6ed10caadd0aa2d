"""Real portal pages (../shared/realdev): the figures of issue 16, before and after a change.

    python benchmarks/realdev.py [--realdev DIR] [--work DIR] [--json] [--failures]

The pages are third-party text: they are read from ../shared/realdev and written
only into a temporary corpus folder (or `--work DIR`), never into the repository.
Each page becomes a `.md` file whose front matter gives only its URL, so title,
date and place are inferred by the product's own parser, as for a fetched page.
The index is built with the default configuration (the real embedder).

`--work DIR` keeps the corpus and index between runs: a second run skips the
build (the index is updated incrementally, but a file whose bytes did not change
is not parsed again, so use a fresh folder after changing the parser).

Definitions (issue 16):
- a passage hits when it contains the gold snippet (or its first 40 characters),
  as in `retrieval/evaluate.py`; passage hit@1 and MRR@10 are over the search's
  ranked passages, article hit@1 is the first passage's article;
- the answer is in the first card when the gold snippet, its first 40 or its last
  40 characters appear in the first card's shown text (chat.render.cards.card_answer_texts);
  a card's length is that text, before headline and citation lines; its total
  length is the whole plain card (headline, citation and link included) without
  the page's header;
- near misses are the questions with no gold article (off-topic included); they
  are declined when graded `partial` or `none`; "detail" ones carry "detail" in
  `expect_missing`; an answerable question graded `none` is a wrong "not found";
- the answer sentence hits when the first passage's bold sentence (Hit.answer)
  holds the snippet's first or last 40 characters, or lies inside the snippet;
- a chain is right when every turn's first card is its gold article, asked in one
  conversation;
- each off-topic question is sent right after every answerable question, in the
  same conversation, and must get "not found".
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as a script: python benchmarks/realdev.py
    sys.path.insert(0, str(ROOT))

from chat.context import ConversationMemory  # noqa: E402
from chat.feedback import FeedbackStore  # noqa: E402
from chat.render.cards import card_answer_texts, hit_block  # noqa: E402
from chat.render.markup import PLAIN  # noqa: E402
from chat.service import ChatService, Status  # noqa: E402
from retrieval import Config, Searcher, build_index  # noqa: E402
from retrieval.evaluate import SNIPPET_PREFIX, Question, first_hit_rank  # noqa: E402
from retrieval.textnorm import nfc, normalize_space  # noqa: E402

DEFAULT_REALDEV = ROOT.parent / "shared" / "realdev"


@dataclass
class Item:
    qid: str
    q: Question


def load(realdev: Path) -> tuple[list[dict], list[Item], list[dict]]:
    articles = [json.loads(line) for line in (realdev / "articles.jsonl").read_text("utf-8").splitlines()
                if line.strip()]
    items = []
    for line in (realdev / "questions.jsonl").read_text("utf-8").splitlines():
        if line.strip():
            o = json.loads(line)
            items.append(Item(o["qid"], Question(o["question"], list(o.get("gold_ids") or []),
                                                 o.get("gold_snippet") or "", o.get("type"),
                                                 list(o.get("expect_missing") or []))))
    chains = json.loads((realdev / "chains.json").read_text("utf-8"))
    return articles, items, chains


def write_corpus(articles: list[dict], corpus: Path) -> None:
    """One `.md` per page with its URL as front matter; unchanged files are left alone."""
    corpus.mkdir(parents=True, exist_ok=True)
    for a in articles:
        text = f"---\nurl: {a['url']}\n---\n{a['text']}\n"
        path = corpus / f"{a['id']}.md"
        if not path.exists() or path.read_text("utf-8") != text:
            path.write_text(text, "utf-8")


def _norm(text: str) -> str:
    return normalize_space(nfc(text))


def visible(snippet: str, shown: str) -> bool:
    s, t = _norm(snippet), _norm(shown)
    return bool(s) and (s in t or s[:SNIPPET_PREFIX] in t or s[-SNIPPET_PREFIX:] in t)


def overlaps(snippet: str, sentence: str) -> bool:
    """The bold sentence holds the snippet's start or end, or lies inside the snippet."""
    s, t = _norm(snippet), _norm(sentence)
    return bool(s and t) and (s[:SNIPPET_PREFIX] in t or s[-SNIPPET_PREFIX:] in t or t in s)


def measure(searcher: Searcher, items: list[Item], chains: list[dict], failures: bool) -> dict:
    service = ChatService(searcher, FeedbackStore(":memory:"), 3, ConversationMemory())
    conv = iter(range(1, 10**9))
    answerable = [it for it in items if it.q.gold_ids]
    misses = [it for it in items if not it.q.gold_ids]
    hit1 = art1 = in_card = graded_none = sentence_hit = 0
    rr = 0.0
    card_chars: list[int] = []
    card_totals: list[int] = []
    by_type: dict[str, Counter] = defaultdict(Counter)
    report: list[str] = []
    for it in answerable:
        q = it.q
        response = searcher.search(q.question, top_k=10)
        p_rank, a_rank = first_hit_rank(response.hits, q)
        hit1 += p_rank == 1
        sentence_hit += bool(response.hits) and response.hits[0].article_id in q.gold_ids and overlaps(
            q.gold_snippet, response.hits[0].answer_sentence)
        art1 += bool(response.hits) and response.hits[0].article_id in q.gold_ids
        rr += 1 / p_rank if p_rank else 0.0
        page = service.ask(q.question, chat_id=next(conv))
        shown_ok = False
        if page.status is Status.ANSWER:
            texts = card_answer_texts(page.hits[0], page.searched or page.question, page.extra[0])
            card_chars.append(len("\n".join(texts)))
            card_totals.append(len(hit_block(PLAIN, page.hits[0], 1, page.searched or page.question)))
            shown_ok = page.hits[0].article_id in q.gold_ids and visible(q.gold_snippet, "\n".join(texts))
        else:
            graded_none += 1
        in_card += shown_ok
        t = by_type[q.type or "?"]
        t["n"] += 1
        t["hit1"] += p_rank == 1
        t["card"] += shown_ok
        if failures and not (p_rank == 1 and shown_ok):
            top = response.hits[0] if response.hits else None
            report.append(f"[{it.qid} {q.type}] passage rank {p_rank}, article rank {a_rank}, "
                          f"card {'ok' if shown_ok else 'MISS'}, {page.status.value}/{page.match}: "
                          f"{q.question}\n    gold {q.gold_ids} «{q.gold_snippet[:90]}»\n"
                          f"    top  {top.article_id if top else '-'} «{(top.text[:90] if top else '')}»")

    declined = Counter()
    total_kind = Counter()
    for it in misses:
        q = it.q
        page = service.ask(q.question, chat_id=next(conv))
        ok = page.status is not Status.ANSWER or page.match == "partial"
        for kind in q.expect_missing or ["?"]:
            total_kind[kind] += 1
            declined[kind] += ok
        declined["all"] += ok
        if failures and not ok:
            top = page.hits[0]
            report.append(f"[{it.qid} near miss {q.expect_missing}] graded {page.match}: {q.question}\n"
                          f"    top {top.article_id} {top.date} «{top.title[:80]}»")

    chains_ok = 0
    for chain in chains:
        conversation = next(conv)
        ok = True
        for question, gold in chain["turns"]:
            page = service.ask(question, chat_id=conversation)
            turn_ok = page.status is Status.ANSWER and page.hits[0].article_id == gold
            if failures and not turn_ok:
                report.append(f"[chain {chain['name']}] turn «{question}»: "
                              f"{page.hits[0].article_id if page.hits else page.status.value}"
                              f" (gold {gold}); understood «{page.understood}»")
            ok &= turn_ok
        chains_ok += ok

    offtopic = [it for it in misses if it.q.type == "offtopic"]
    off_ok = off_n = 0
    for off in offtopic:
        for it in answerable:
            conversation = next(conv)
            service.ask(it.q.question, chat_id=conversation)
            page = service.ask(off.q.question, chat_id=conversation)
            off_n += 1
            off_ok += page.status is Status.NO_ANSWER
            if failures and page.status is not Status.NO_ANSWER and off_n - off_ok <= 10:
                report.append(f"[off-topic] «{off.q.question}» after «{it.q.question}» answered with "
                              f"{page.hits[0].article_id if page.hits else '-'}")

    n = len(answerable)
    figures = {
        "passage_hit1": round(hit1 / n, 3),
        "mrr": round(rr / n, 3),
        "article_hit1": round(art1 / n, 3),
        "answer_sentence_hit1": round(sentence_hit / n, 3),
        "answer_in_first_card": round(in_card / n, 3),
        "nearmiss_declined": round(declined["all"] / len(misses), 3),
        "detail_declined": round(declined["detail"] / max(1, total_kind["detail"]), 3),
        "answerable_none": round(graded_none / n, 3),
        "chains_ok": chains_ok,
        "chains_total": len(chains),
        "offtopic_after_question_not_found": round(off_ok / max(1, off_n), 3),
        "first_card_max_chars": max(card_chars, default=0),
        "first_card_max_total_chars": max(card_totals, default=0),
        # counts behind the shares
        "answerable": n,
        "nearmiss": len(misses),
        "nearmiss_declined_by_kind": {k: f"{declined[k]}/{total_kind[k]}" for k in sorted(total_kind)},
        "answerable_none_count": graded_none,
        "offtopic_pairs": f"{off_ok}/{off_n}",
        "first_card_median_chars": sorted(card_chars)[len(card_chars) // 2] if card_chars else 0,
        "by_type": {k: f"hit@1 {v['hit1']}/{v['n']}, card {v['card']}/{v['n']}"
                    for k, v in sorted(by_type.items())},
    }
    return {"figures": figures, "failures": report}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdev", type=Path, default=DEFAULT_REALDEV)
    parser.add_argument("--work", type=Path, help="keep corpus and index here between runs")
    parser.add_argument("--json", action="store_true", help="one JSON object with every figure")
    parser.add_argument("--failures", action="store_true", help="print each miss (to stderr)")
    args = parser.parse_args(argv)

    articles, items, chains = load(args.realdev)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        corpus, index = work / "corpus", work / "index"
        write_corpus(articles, corpus)
        config = Config()
        build_index(corpus, index, config, progress=False)
        searcher = Searcher.open(index, config)
        try:
            result = measure(searcher, items, chains, args.failures)
        finally:
            searcher.close()
    if args.failures:
        print("\n".join(result["failures"]), file=sys.stderr)
    figures = result["figures"]
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    else:
        for key, value in figures.items():
            print(f"{key:36} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
