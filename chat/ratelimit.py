"""Per-user question limit: a sliding one-minute window.

Telegram's own flood limits protect Telegram; this one protects the CPU that
embeds every question, so one eager user cannot slow everybody else down.
"""
from __future__ import annotations

import time
from collections import defaultdict, deque


class QuestionLimiter:
    """At most `per_minute` questions per user in any 60-second window."""

    def __init__(self, per_minute: int, window: float = 60.0, clock=time.monotonic):
        self.per_minute = per_minute
        self.window = window
        self.clock = clock
        self._asked: dict[int, deque[float]] = defaultdict(deque)

    def retry_after(self, user_id: int | None) -> float:
        """0 if the user may ask now (and the question is counted), else seconds to wait."""
        if user_id is None or self.per_minute <= 0:
            return 0.0
        now = self.clock()
        asked = self._asked[user_id]
        while asked and now - asked[0] >= self.window:
            asked.popleft()
        if len(asked) >= self.per_minute:
            return max(1.0, self.window - (now - asked[0]))
        asked.append(now)
        return 0.0
