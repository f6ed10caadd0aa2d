"""Follow-up questions keep the conversation's place, organisation and year.

The chains in data/followups.jsonl are our own, over the fictional articles
(tests/data/fictional, all places invented): a question, then two elliptic
follow-ups, each with the article (file stem) it is about.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from chat.console import Console
from chat.context import ConversationMemory, Remembered, Resolved, resolve, topic_words
from chat.feedback import FeedbackStore
from chat.service import ChatService, Status
from retrieval.query import Intent, understand
from retrieval.textnorm import folded_words

CHAINS = Path(__file__).parent / "data" / "followups.jsonl"
KNOWN = {"tung khe": "Tùng Khê", "ky luong": "Kỳ Lương", "dao nguyen": "Đào Nguyên"}


def ask_chain(memory: ConversationMemory, questions: list[str]) -> list[Resolved]:
    out = []
    for q in questions:
        r = resolve(q, memory.recall((1, 1)), KNOWN)
        memory.remember((1, 1), r)
        out.append(r)
    return out


def test_follow_up_inherits_what_it_leaves_unsaid():
    first, place, body, who = ask_chain(ConversationMemory(), [
        "Hội Nông dân huyện Tùng Khê tổng kết công tác năm 2023 thế nào?",
        "còn huyện Kỳ Lương?", "còn Hội Cựu chiến binh?", "ai chủ trì?"])
    assert not first.followup and first.text.startswith("Hội Nông dân huyện Tùng Khê")
    assert place.followup and place.intent.describe() == "Hội Nông dân huyện Kỳ Lương, năm 2023"
    assert "tổng kết" in place.text  # the topic travels too
    assert body.intent.describe() == "Hội Cựu chiến binh huyện Kỳ Lương, năm 2023"
    assert who.intent.describe() == body.intent.describe() and "chủ trì" in who.text


def test_when_asked_either_way_is_a_follow_up():
    for when in ("khi nào", "bao giờ"):  # "giờ" asks, like "nào"
        _, follow = ask_chain(ConversationMemory(), [
            "Hội Nông dân huyện Tùng Khê tổng kết công tác năm 2023 thế nào?", f"tổ chức {when}?"])
        assert follow.followup and follow.intent.describe() == "Hội Nông dân huyện Tùng Khê, năm 2023"


def test_a_question_that_states_everything_starts_fresh():
    _, fresh = ask_chain(ConversationMemory(), [
        "Hội Nông dân huyện Tùng Khê tổng kết năm 2023",
        "Hội LHPN huyện Đào Nguyên năm 2022 tổ chức những hoạt động gì?"])
    assert not fresh.followup
    assert fresh.text == "Hội LHPN huyện Đào Nguyên năm 2022 tổ chức những hoạt động gì?"


def test_a_long_new_question_is_not_a_follow_up():
    _, other = ask_chain(ConversationMemory(), [
        "Hội Nông dân huyện Tùng Khê tổng kết năm 2023",
        "phong trào thi đua sản xuất kinh doanh giỏi được phát động như thế nào"])
    assert not other.followup


def test_topic_words_drop_constraints_but_keep_topic():
    q = "Đoàn thanh niên huyện Tùng Khê ra quân tình nguyện hè năm 2023 thế nào?"
    assert topic_words(q, understand(q, KNOWN)) == ["ra", "quân", "tình", "nguyện", "hè"]


def test_context_expires_is_bounded_and_forgotten():
    now = [0.0]
    memory = ConversationMemory(ttl_seconds=60, max_conversations=2, clock=lambda: now[0])
    fact = Resolved("x", intent=Intent(years={2023}))
    memory.remember((1, 1), fact)
    now[0] = 61
    assert memory.recall((1, 1)) is None  # too old
    for key in [(1, 1), (2, 2), (3, 3)]:
        memory.remember(key, fact)
    assert len(memory) == 2 and memory.recall((1, 1)) is None  # least recent went first
    assert memory.recall((2, 2)) is not None and memory.forget((2, 2))
    assert memory.recall((2, 2)) is None
    # Users of one group chat are separate conversations.
    assert memory.recall((3, 3)) is not None and memory.recall((3, 4)) is None


def load_chains() -> list[list[tuple[str, set[str]]]]:
    return [[(q, set(ids.split("|"))) for q, ids in json.loads(line)["chain"]]
            for line in CHAINS.read_text(encoding="utf-8").splitlines() if line.strip()]


def chain_results(service: ChatService) -> list[list[bool]]:
    """Per chain, per question: is the first result the intended article?"""
    results = []
    for n, chain in enumerate(load_chains()):
        service.forget(n, n)
        steps = []
        for question, wanted in chain:
            page = service.ask(question, chat_id=n, user_id=n)
            steps.append(page.status is Status.ANSWER and page.hits[0].article_id in wanted)
        results.append(steps)
    return results


@pytest.mark.slow
def test_follow_up_chains_stay_on_the_intended_article(eval_searcher):
    service = ChatService(eval_searcher, FeedbackStore(":memory:"), per_page=3)
    results = chain_results(service)
    passed = sum(all(steps) for steps in results)
    print(f"\nfollow-up chains answered about the intended article: {passed}/{len(results)} "
          f"{results}")
    # Measured: 10 of 10.  The README says a follow-up keeps the organisation, place and
    # year, without exceptions, so every step of every chain must find its article.
    assert passed == len(results) == 10, results


@pytest.mark.slow
def test_console_says_what_it_understood_and_new_forgets(eval_searcher):
    console = Console(ChatService(eval_searcher, FeedbackStore(":memory:"), per_page=3))
    console.reply("Hội LHPN huyện Đào Nguyên tổng kết năm 2023 ra sao?")
    second = console.reply("còn năm 2022 thì sao?")
    assert "Hiểu là: Hội LHPN huyện Đào Nguyên, năm 2022" in second
    assert "Đào Nguyên" in second.split("1. ", 1)[1]
    third = console.reply("ai chủ trì?")
    assert "Hiểu là: Hội LHPN huyện Đào Nguyên, năm 2022" in third
    assert "cuộc trò chuyện mới" in console.reply("/new")
    after = console.reply("ai chủ trì?")
    assert "Hiểu là" not in after
    topics = console.reply("/chude")
    assert "Hội Nông dân (5)" in topics and "Tùng Khê (2)" in topics and "2023 (" in topics


def test_a_question_naming_something_else_is_not_a_follow_up():
    _, other = ask_chain(ConversationMemory(), [
        "Hội Nông dân huyện Tùng Khê tổng kết năm 2023", "Giá vàng hôm nay ở Paris bao nhiêu?"])
    assert not other.followup


def remembered(question: str, vocabulary: str = "") -> Remembered:
    r = resolve(question, None, KNOWN)
    return Remembered(r.intent, r.topic, frozenset(folded_words(vocabulary)))


ARTICLE = ("Hội Nông dân huyện Tùng Khê tổng kết công tác Hội năm 2023. Đồng chí Ma Đình Tuấn, "
           "Chủ tịch Hội Nông dân huyện chủ trì hội nghị; 135 đại biểu dự.")


@pytest.mark.parametrize("message", [
    "Giá vàng hôm nay bao nhiêu?", "Thời tiết ngày mai thế nào?", "Kết quả bóng đá tối qua?",
    "gia vang hom nay bao nhieu"])
def test_a_message_with_words_of_its_own_is_a_fresh_question(message):
    previous = remembered("Hội Nông dân huyện Tùng Khê tổng kết công tác năm 2023 thế nào?", ARTICLE)
    assert not resolve(message, previous, KNOWN).followup


@pytest.mark.parametrize("message", [
    "ai chủ trì?", "bao nhiêu đại biểu dự?", "năm 2022?", "còn huyện Kỳ Lương?", "ở huyện Kỳ Lương thì sao?",
    "đại biểu dự hội nghị tổng kết có bao nhiêu?", "năm 2022 thì họ làm gì?"])
def test_elliptic_pointing_or_on_topic_messages_are_follow_ups(message):
    previous = remembered("Hội Nông dân huyện Tùng Khê tổng kết công tác năm 2023 thế nào?", ARTICLE)
    assert resolve(message, previous, KNOWN).followup


def test_a_follow_up_says_which_constraint_it_changed():
    previous = remembered("Hội Nông dân huyện Tùng Khê tổng kết công tác năm 2023 thế nào?", ARTICLE)
    body = resolve("còn Hội Phụ nữ thì sao?", previous, KNOWN)
    assert body.changed == ("organisation",) and body.intent.describe() == "Hội LHPN huyện Tùng Khê, năm 2023"
    assert resolve("còn năm 2022?", previous, KNOWN).changed == ("year",)
    # "huyện đó" points back to the old place; "cấp tỉnh" leaves it
    back = resolve("còn Hội Phụ nữ huyện đó?", previous, KNOWN)
    assert back.intent.describe() == "Hội LHPN huyện Tùng Khê, năm 2023"
    assert not resolve("thế còn đại hội cấp tỉnh lần thứ 9 thì sao?", previous, KNOWN).intent.places
    # a subject of its own replaces the old one's topic words
    congress = resolve("còn đại hội đại biểu nhiệm kỳ 2023-2028 thì sao?", previous, KNOWN)
    assert "tổng kết" not in congress.text and "đại hội" in congress.text


def test_an_elliptic_question_that_states_everything_is_searched_without_its_edges():
    previous = remembered("Hội Nông dân huyện Tùng Khê tổng kết công tác năm 2023 thế nào?", ARTICLE)
    fresh = resolve("còn Hội LHPN huyện Đào Nguyên năm 2022 thì sao?", previous, KNOWN)
    assert not fresh.followup and fresh.text == "Hội LHPN huyện Đào Nguyên năm 2022"


@pytest.mark.slow
def test_off_topic_after_a_question_is_not_found_and_a_changed_body_comes_first(eval_searcher):
    service = ChatService(eval_searcher, FeedbackStore(":memory:"), per_page=3)
    first = service.ask("Hội Nông dân huyện Kỳ Lương tổng kết công tác năm 2023 thế nào?", chat_id=7)
    assert first.status is Status.ANSWER
    assert service.ask("Giá vàng hôm nay bao nhiêu?", chat_id=7).status is Status.NO_ANSWER
    service.ask("Hội Nông dân huyện Kỳ Lương tổng kết công tác năm 2023 thế nào?", chat_id=8)
    other = service.ask("còn Hội Cựu chiến binh thì sao?", chat_id=8)
    assert other.hits[0].article_id == "conf_ky_luong_hoi_ccb_2023"


def _constraints(intent: Intent) -> tuple:
    return (intent.places, intent.years, intent.terms, intent.organisations, intent.events)


@pytest.mark.parametrize("message", [
    "ai chủ trì?", "năm 2022?", "còn huyện Kỳ Lương?", "còn Hội Phụ nữ huyện đó?", "năm 2022 thì họ làm gì?",
    "còn đại hội đại biểu nhiệm kỳ 2023-2028 thì sao?", "còn Hội Cựu chiến binh huyện đó làm được gì?",
    "thế còn đại hội cấp tỉnh lần thứ 9 thì sao?"])
def test_what_a_follow_up_searches_states_what_it_means(message):
    """Search takes the resolved constraints (`Searcher.search(intent=...)`) instead of
    parsing the question again, and «Xem thêm» parses the stored text: both must agree,
    so the text searched states exactly the merged constraints, and an event kind goes
    with the topic it came with."""
    previous = remembered("Đại hội Hội Nông dân huyện Tùng Khê năm 2023 có bao nhiêu đại biểu?", ARTICLE)
    resolved = resolve(message, previous, KNOWN)
    assert resolved.followup
    assert _constraints(understand(resolved.text, KNOWN)) == _constraints(resolved.intent)
