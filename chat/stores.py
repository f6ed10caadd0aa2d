"""Where a bot keeps what outlives one message: the choice, behind three small interfaces.

A chat front end (Telegram, Zalo) and ChatService need three stores:

- conversation memory: the last question of each conversation, for follow-ups;
- a rate limiter: questions per user per minute;
- the question store: asked questions, what was shown, votes (buttons name their
  question by id, so «Xem thêm», «Toàn văn» and 👍/👎 are looked up there), and each
  chat's last answered page, which a typed «xem thêm» (Zalo: no buttons) continues.

With `[index] backend = "embedded"` (the default) they are process memory and the
SQLite file `bot.feedback_db`, as before.  With `backend = "postgres"` all three
live in PostgreSQL (chat/pgstate.py), so several bot processes behind one webhook
agree about every conversation: any replica can answer any message or button.
Neither ChatService nor the front ends know which is used.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from retrieval.index import IndexUnavailable
from retrieval.index.backend import is_postgres, postgres_dsn
from retrieval.types import Hit

from .context import Remembered, Resolved
from .feedback import ChatPage, FeedbackStore, StoredQuestion
from .ratelimit import QuestionLimiter
from .service import conversation_memory


class StoreUnavailable(RuntimeError):
    """The shared store cannot be reached now (a restart, a network cut): the user is
    asked to try again later, and the next message tries again."""


try:  # the postgres index backend (retrieval/postgres) raises psycopg's own errors
    from psycopg import OperationalError as _ServerGone
except ImportError:  # psycopg is an optional dependency
    _ServerGone = StoreUnavailable
# What a front end answers with "thử lại sau" instead of the generic error: the server
# behind the stores or the index went away for a while (the postgres index reader raises
# IndexUnavailable and reconnects by itself); nothing to debug.
OUTAGES: tuple[type[Exception], ...] = (StoreUnavailable, IndexUnavailable, _ServerGone)


class Conversations(Protocol):
    """Follow-up memory, keyed by (chat id, user id)."""

    def recall(self, key: tuple) -> Remembered | None: ...
    def remember(self, key: tuple, resolved: Resolved, vocabulary: frozenset[str] = frozenset()) -> None: ...
    def forget(self, key: tuple) -> bool: ...


class RateLimiter(Protocol):
    def retry_after(self, user_id: int | str | None) -> float:
        """0 if the user may ask now (and the question is counted), else seconds to wait."""


class QuestionStore(Protocol):
    """Questions, the passages shown for them and votes (chat/feedback.py's FeedbackStore)."""

    def pseudonym(self, telegram_id: int | str | None) -> str | None: ...
    def add_question(self, chat_id: int, user_id: int | None, text: str, answered: bool,
                     grade: str | None = None, missing: list[str] | None = None,
                     topic: dict | None = None) -> int: ...
    def question(self, question_id: int, chat_id: int | None = None) -> StoredQuestion | None: ...
    def add_shown(self, question_id: int, offset: int, hits: list[Hit]) -> None: ...
    def shown(self, question_id: int, rank: int) -> tuple[str, str] | None: ...
    def shown_page(self, question_id: int, offset: int, size: int) -> list[str]: ...
    def add_feedback(self, question_id: int, offset: int, user_id: int | None, value: int,
                     page_size: int) -> bool: ...
    def keep_page(self, chat_id: int | str, page: ChatPage) -> None: ...
    def chat_page(self, chat_id: int | str, max_age: float) -> ChatPage | None: ...
    def forget_page(self, chat_id: int | str) -> None: ...
    def feedback_rows(self) -> list[dict]: ...
    def export(self) -> Iterator[dict]: ...
    def reader(self): ...
    def purge(self, older_than_days: float | None = None) -> dict[str, int]: ...
    def close(self) -> None: ...


@dataclass
class ChatStores:
    memory: Conversations
    limiter: RateLimiter
    questions: QuestionStore


def open_stores(config, questions: QuestionStore | None = None) -> ChatStores:
    """The stores `config` asks for; `questions` replaces the question store (tests).

    Raises StoreUnavailable (or ConfigError when the DSN variable is unset), with one
    line saying why, when PostgreSQL is asked for and cannot be used: bot.py prints it
    and exits, no traceback."""
    bot = config.bot
    if not is_postgres(config):
        return ChatStores(conversation_memory(bot), QuestionLimiter(bot.questions_per_minute),
                          questions or FeedbackStore(bot.feedback_db))
    from .pgstate import open_postgres_stores

    return open_postgres_stores(postgres_dsn(config), config, questions)
