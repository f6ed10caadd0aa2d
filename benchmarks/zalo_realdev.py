#!/usr/bin/env python
"""Real portal pages (../shared/realdev) through the Zalo front end: the same first card
as the console, for every question.

    python benchmarks/zalo_realdev.py [--realdev DIR] [--work DIR] [--failures]

The corpus and index are built as benchmarks/realdev.py builds them (its `load`
and `write_corpus`; the pages are read from ../shared/realdev and written only
into a temporary folder or `--work DIR`, never into the repository).  Every
question is asked twice, each time in a fresh conversation:

- the console's way: ChatService.ask, as `python bot.py --console` does; the first
  card's article is the first hit's, none when the answer is "not found";
- the Zalo way: the real Zalo bot (chat/zalo, its httpx client and polling loop)
  against the fake Zalo Bot API of the tests; the first card's article is the one
  whose link comes first in the reply (every card cites its page's URL), none when
  the reply has no article link.

Each follow-up chain is asked turn by turn in one conversation on both sides.
Printed: how many questions (and chain turns) got the same first-card article,
and each one that did not.
"""
from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]

from fake_zalo_api import TEXT_LIMIT, FakeZaloAPI  # noqa: E402
from realdev import DEFAULT_REALDEV, load, write_corpus  # noqa: E402

from chat.feedback import FeedbackStore  # noqa: E402
from chat.service import ChatService, Status, conversation_memory  # noqa: E402
from chat.zalo.app import build_zalo  # noqa: E402
from retrieval import Config, Searcher, build_index  # noqa: E402

URL = re.compile(r"https?://\S+")


def console_first(service: ChatService, question: str, conversation: str) -> str | None:
    """The console's first card: its article id, or None for "not found"."""
    page = service.ask(question, chat_id=conversation)
    return page.hits[0].article_id if page.status is Status.ANSWER and page.hits else None


def zalo_first(texts: list[str], by_url: dict[str, str]) -> str | None:
    """The Zalo reply's first card: the article of its first page link, or None."""
    for url in URL.findall("\n".join(texts)):
        if url in by_url:
            return by_url[url]
    return None


async def ask_zalo(config, searcher, sessions: list[list[str]], settle: float
                   ) -> tuple[list[list[list[str]]], int, int]:
    """Each session's questions through the Zalo bot, one chat per session, in order:
    the texts of each reply; messages sent; messages over the limit."""
    replies: list[list[list[str]]] = []
    with FakeZaloAPI() as api, tempfile.TemporaryDirectory() as tmp:
        store = FeedbackStore(Path(tmp) / "fb.sqlite")
        bot = build_zalo(config, searcher, api.token, base_url=api.base_url, store=store)
        await bot.start()
        task = asyncio.ensure_future(bot.run())
        try:
            for n, questions in enumerate(sessions):
                chat, answers = f"s{n}", []
                for question in questions:
                    before = len(api.sent_to(chat))
                    api.message(question, chat_id=chat)
                    reply = await api.wait_reply(chat, after=before, timeout=120, settle=settle)
                    answers.append([m.text for m in reply])
                replies.append(answers)
        finally:
            bot.stop()
            await task
            store.close()
        return replies, len(api.sent), sum(len(m.text) > TEXT_LIMIT for m in api.sent)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdev", type=Path, default=DEFAULT_REALDEV)
    parser.add_argument("--work", type=Path, help="keep corpus and index here between runs")
    parser.add_argument("--settle", type=float, default=0.4,
                        help="quiet seconds that end a multi-message Zalo reply")
    parser.add_argument("--failures", action="store_true", help="print each mismatch")
    args = parser.parse_args(argv)

    articles, items, chains = load(args.realdev)
    by_url = {a["url"]: a["id"] for a in articles}
    sessions = [[it.q.question] for it in items] + [[q for q, _ in c["turns"]] for c in chains]
    labels = [it.qid for it in items] + [f"chain {c['name']}" for c in chains]
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        corpus, index = work / "corpus", work / "index"
        write_corpus(articles, corpus)
        config = Config(corpus_dir=str(corpus), index_dir=str(index))
        config.bot.questions_per_minute = 10_000  # one benchmark, not a flood of people
        config.bot.reload_seconds = 0
        build_index(corpus, index, config, progress=False)
        searcher = Searcher.open(index, config)
        try:
            console = ChatService(searcher, FeedbackStore(":memory:"), config.bot.answers_per_page,
                                  conversation_memory(config.bot))
            expected = [[console_first(console, q, f"console-{n}") for q in session]
                        for n, session in enumerate(sessions)]
            replies, messages, too_long = asyncio.run(
                ask_zalo(config, searcher, sessions, args.settle))
        finally:
            searcher.close()

    same = total = questions_same = chain_turns_same = chain_turns = 0
    mismatches = []
    for label, session, want, got in zip(labels, sessions, expected, replies, strict=True):
        for question, console_id, reply in zip(session, want, got, strict=True):
            zalo_id = zalo_first(reply, by_url)
            total += 1
            ok = zalo_id == console_id
            same += ok
            if label.startswith("chain"):
                chain_turns += 1
                chain_turns_same += ok
            else:
                questions_same += ok
            if not ok:
                mismatches.append(f"[{label}] {question}: console {console_id}, zalo {zalo_id}")
    answered = sum(x is not None for session in expected for x in session)
    print(f"questions: {len(items)}, same first-card article through Zalo as through the "
          f"console: {questions_same}/{len(items)}")
    print(f"follow-up chains: {len(chains)} ({chain_turns} turns), same first card on "
          f"{chain_turns_same}/{chain_turns} turns")
    print(f"all: {same}/{total} (console answered {answered}, said not found "
          f"{total - answered}); Zalo messages {messages}, over {TEXT_LIMIT} characters: "
          f"{too_long}")
    if mismatches:
        print(f"mismatches: {len(mismatches)}")
        for line in mismatches if args.failures else mismatches[:10]:
            print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
