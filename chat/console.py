"""Console front end: the same answers as the Telegram bot, in a terminal.

At a terminal it is a chat with a prompt; with piped stdin it reads one
question per line and prints the answers in order and nothing else on stdout,
so it can be scripted (`python bot.py --console < questions.txt`).
"""
from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import TextIO

from .render.cards import article_messages, page_messages, passage_reply
from .render.markup import ANSI, PLAIN, Markup
from .render.texts import (
    ARTICLE_GONE,
    ASK_FIRST,
    FULL_WHAT,
    NEED_NUMBER,
    NEW_CONVERSATION,
    NO_MORE,
    NO_SUCH,
    PASSAGE_WHAT,
    PROMPT,
    QUESTION_ECHO_CHARS,
    help_text,
    hint,
    latest_text,
    stats_text,
    topics_text,
)
from .service import ChatService, Page, Status
from .textutil import cut_words

SEPARATOR = "─" * 40


def _lines(stdin: TextIO, stdout: TextIO, interactive: bool) -> Iterator[str]:
    if interactive and stdin is sys.stdin and stdout is sys.stdout:
        while True:  # input() gives line editing and history at a real terminal
            try:
                yield input(PROMPT)
            except EOFError:
                print()
                return
    while True:
        if interactive:
            stdout.write(PROMPT)
            stdout.flush()
        line = stdin.readline()
        if not line:
            return
        yield line.rstrip("\r\n")


class Console:
    """One conversation: remembers the last answer so /more, /doan N and /full N work."""

    def __init__(self, service: ChatService, markup: Markup = PLAIN):
        self.service = service
        self.m = markup
        self.last: Page | None = None

    def reply(self, line: str) -> str | None:
        """The text answering one input line; None means "quit"."""
        text = line.strip()
        command, _, arg = text.partition(" ")
        command = command.lower()
        if command in ("/quit", "/exit", "/thoat"):
            return None
        if command in ("/help", "/start"):
            return help_text(self.m, self.service.stats(), self.service.examples(3))
        if command == "/stats":
            return stats_text(self.m, self.service.stats())
        if command in ("/chude", "/topics"):
            return topics_text(self.m, self.service.topics())
        if command == "/latest":
            return latest_text(self.m, self.service.latest(5))
        if command in ("/new", "/moi"):
            self.service.forget(0, 0)
            return NEW_CONVERSATION
        if command == "/more":
            return self._more()
        if command == "/full":
            return self._full(arg)
        if command in ("/doan", "/passage"):
            return self._passages(arg)
        if command == "/ask":
            text = arg
        page = self.service.ask(text, chat_id=0, user_id=0)
        return self._show(page)

    def _show(self, page: Page) -> str:
        examples = (self.service.examples(1)
                    if page.status in (Status.NO_ANSWER, Status.EMPTY, Status.NOT_WORDS) else None)
        if page.status is Status.ANSWER:
            self.last = page
        return "\n\n".join(page_messages(self.m, page, examples, hint=hint(self.m, page)))

    def _more(self) -> str:
        if self.last is None or not self.last.has_more:
            return NO_MORE
        page = self.service.more(self.last.qid, self.last.offset + len(self.last.hits))
        return self._show(page)

    def _stored(self, command: str, arg: str, what: str, lookup):
        """What `lookup(qid, rank)` finds for result number `arg` of the last answer, or
        the sentence to say instead."""
        if self.last is None:
            return ASK_FIRST.format(command=command, what=what)
        try:
            rank = int(arg) - 1
        except ValueError:
            return NEED_NUMBER.format(command=command)
        result = lookup(self.last.qid, rank)
        return NO_SUCH.format(n=arg) if result is None else result

    def _passages(self, arg: str) -> str:
        result = self._stored("/doan", arg, PASSAGE_WHAT, self.service.passages)
        return result if isinstance(result, str) else passage_reply(self.m, result)

    def _full(self, arg: str) -> str:
        result = self._stored("/full", arg, FULL_WHAT, self.service.full_text)
        if isinstance(result, str):
            return result
        if result.article is None:
            return ARTICLE_GONE
        return "\n\n".join(article_messages(self.m, result.article))


def run_console(service: ChatService, stdin: TextIO | None = None, stdout: TextIO | None = None,
                interactive: bool | None = None) -> int:
    """Read questions until end of input (or /quit) and print the answers in order."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    if interactive is None:
        interactive = stdin.isatty()
    markup = ANSI if interactive and stdout.isatty() else PLAIN
    console = Console(service, markup)
    if interactive:
        print(help_text(markup, service.stats(), service.examples(3)), file=stdout)
        print(file=stdout)
    try:
        for line in _lines(stdin, stdout, interactive):
            if not line.strip():
                continue
            answer = console.reply(line)
            if answer is None:
                break
            if not interactive:  # in a transcript, say which question each answer belongs to
                print(f"❓ {cut_words(line.strip(), QUESTION_ECHO_CHARS)}", file=stdout)
            print(answer, file=stdout)
            print(SEPARATOR, file=stdout, flush=True)
    except KeyboardInterrupt:
        print(file=stdout)
    return 0
