"""chat.admin.IndexWatcher: the reload job's checks never overlap and log once per change."""
from __future__ import annotations

import asyncio
import logging
import threading

from chat.admin import IndexWatcher


class SlowSearcher:
    """reload() blocks until released; answers True (a newer index) when told to."""

    def __init__(self):
        self.calls = 0
        self.threads: set[str] = set()
        self.release = threading.Event()
        self.newer = False

    def reload(self) -> bool:
        self.calls += 1
        self.threads.add(threading.current_thread().name)
        assert self.release.wait(5)
        newer, self.newer = self.newer, False
        return newer

    def stats(self) -> dict:
        return {"articles": 7}


def test_ticks_during_a_slow_check_start_nothing_and_one_change_logs_one_line(caplog):
    searcher = SlowSearcher()

    async def scenario():
        watcher = IndexWatcher(searcher)
        first = watcher.tick()
        for _ in range(20):  # the job firing again and again while the check is stuck
            await asyncio.sleep(0.01)
            assert watcher.tick() is None
        searcher.newer = True
        searcher.release.set()
        changed = await first
        for _ in range(5):  # later checks: nothing new, nothing logged
            assert await watcher.tick() is False
        await watcher.close()
        return watcher, changed

    with caplog.at_level(logging.DEBUG, logger="chat.admin"):
        watcher, changed = asyncio.run(scenario())
    assert changed and watcher.skipped == 20
    assert searcher.calls == 6  # one check per tick that found none running
    assert searcher.threads == {next(iter(searcher.threads))}  # its own single thread
    assert next(iter(searcher.threads)).startswith("index-watch")
    lines = [r.getMessage() for r in caplog.records if r.name == "chat.admin"]
    assert lines == ["reloaded a newer index: {'articles': 7}"]


def test_a_failing_check_is_logged_and_the_next_tick_tries_again(caplog):
    class Broken(SlowSearcher):
        def reload(self):
            self.calls += 1
            raise OSError("index.sqlite is locked")

    searcher = Broken()

    async def scenario():
        watcher = IndexWatcher(searcher)
        results = [await watcher.tick(), await watcher.tick()]
        await watcher.close()
        return results

    with caplog.at_level(logging.ERROR, logger="chat.admin"):
        assert asyncio.run(scenario()) == [False, False]
    assert searcher.calls == 2 and "index.sqlite is locked" in caplog.text
