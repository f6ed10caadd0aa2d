"""An update python-telegram-bot cannot parse, in the middle of a batch, against the
real Application polling the fake Bot API (tests/fake_bot_api.py).

Before chat/polling.py one such update made every getUpdates of the batch fail:
the bot re-fetched it in a hot loop, logged the whole batch (other users'
questions included) at CRITICAL and answered nobody.
"""
from __future__ import annotations

import logging
import time

import pytest
from chat_fixtures import SEED_QUESTION

from chat.polling import MalformedUpdates, skip_unparseable

pytestmark = pytest.mark.slow

SECRET = "Câu hỏi riêng tư của Lò Thị Bí Mật"  # fictional; must never reach the log


def poison(api, chat_id: int) -> dict:
    """A message whose poll lacks fields PTB requires (TypeError in Poll.__init__)."""
    return api.message_update(SECRET, chat_id=chat_id,
                              poll={"id": "p1", "question": SECRET, "options": []})


def test_poison_update_in_a_batch_is_skipped_and_the_others_answered(bot_env, caplog):
    api = bot_env.api
    # Queued before the bot starts, so the three arrive in one getUpdates answer.
    first = api.message(SEED_QUESTION, chat_id=8101)
    bad = api.push(poison(api, 8102))
    last = api.message(SEED_QUESTION, chat_id=8103)

    async def scenario():
        async with bot_env.running():
            before = await api.wait_reply(8101)
            after = await api.wait_reply(8103)
            await api.wait_for(lambda: api.confirmed(last), what="offset confirmed")
            polls = len(api.calls_to("getUpdates"))
            api.message(SEED_QUESTION, chat_id=8104)  # and the bot goes on answering
            later = await api.wait_reply(8104)
            return before, after, later, polls

    with caplog.at_level(logging.DEBUG):
        started = time.monotonic()
        before, after, later, polls = bot_env.run(scenario())
        elapsed = time.monotonic() - started  # includes the clean shutdown
    assert "Đầm Hà" in before[0].plain and "Đầm Hà" in after[0].plain
    # No time bound on the answer: a loaded machine is slow, not wrong (wait_reply's own
    # timeout fails a bot that stopped answering); bot_latency.py measures the latency.
    assert "Đầm Hà" in later[0].plain
    assert not api.sent_to(8102)
    assert first < bad < last and api.confirmed(bad)
    # Long polling, not a hot loop: a handful of getUpdates for the whole scenario.  The
    # bound grows with the time taken, so a slow (loaded) run cannot break it; a hot loop
    # makes hundreds of calls a second.
    assert polls < 10 + 4 * elapsed, polls
    above_debug = [r for r in caplog.records if r.levelno > logging.DEBUG]
    skipped = [r.getMessage() for r in above_debug if f"skipped update {bad}" in r.getMessage()]
    assert len(skipped) == 1 and "TypeError" in skipped[0]
    text = "\n".join(r.getMessage() for r in above_debug)
    assert SECRET not in text and "Bí Mật" not in text and "Đầm Hà" not in text
    assert not [r for r in caplog.records if r.levelno >= logging.CRITICAL]
    assert "Error while parsing updates" not in caplog.text


def test_skip_unparseable_keeps_good_updates_untouched():
    good = {"update_id": 7, "message": {"message_id": 1, "date": 1, "text": "xin chào",
                                        "chat": {"id": 5, "type": "private"}}}
    broken = {"update_id": 8, "message": {"message_id": 2, "date": "hôm qua",
                                          "chat": {"id": 5, "type": "private"}}}
    assert skip_unparseable([good, broken], None) == [good, {"update_id": 8}]
    for answer in ({"update_id": 1}, [{"message": {}}], [{"update_id": "9"}], ["x"]):
        with pytest.raises(MalformedUpdates):  # PTB's polling loop backs off on these
            skip_unparseable(answer, None)


def test_an_answer_without_usable_updates_is_retried_with_back_off(bot_env, caplog):
    """getUpdates answering updates without ids: PTB's polling loop waits 1 s, 1.5 s, ...
    between tries instead of asking again at once, then the bot goes on."""
    api = bot_env.api
    bad_answers = []
    serve = api._get_updates

    def flaky(params):
        if len(bad_answers) < 2:
            bad_answers.append(time.monotonic())
            return [{"no_update_id": SECRET}]
        return serve(params)

    api._get_updates = flaky

    async def scenario():
        async with bot_env.running():
            api.message(SEED_QUESTION, chat_id=8201)
            return await api.wait_reply(8201)

    with caplog.at_level(logging.INFO):
        answer = bot_env.run(scenario())
    assert "Đầm Hà" in answer[0].plain
    assert len(bad_answers) == 2 and bad_answers[1] - bad_answers[0] >= 0.9  # backed off
    # Logged once per try (run_polling routes these to on_error; start_polling logs them).
    failures = [r for r in caplog.records if r.exc_info and "MalformedUpdates" in str(r.exc_info[0])]
    assert len(failures) == 2 and SECRET not in caplog.text
