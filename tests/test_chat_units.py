"""Unit tests of the shared answer logic, with hand-made hits and a stub searcher:
formatting, escaping, splitting, button payloads, storage, uploads, logging."""
from __future__ import annotations

import html
import io
import logging
import random
import re
from datetime import datetime

import pytest
from chat_fixtures import StubReader
from fake_bot_api import check_html, html_to_text
from telegram import Message
from telegram.constants import MessageLimit

from chat import callbacks, logsafe
from chat.admin import UploadRejected, discard_if_skipped, safe_file_name, save_upload
from chat.callbacks import page_keyboard
from chat.feedback import FeedbackStore
from chat.ratelimit import QuestionLimiter
from chat.render import cards, texts
from chat.render.cards import (
    article_messages,
    card_answer_texts,
    card_excerpt,
    hit_block,
    page_messages,
    passage_block,
)
from chat.render.markup import HTML, PLAIN, ZALO, chunk_text
from chat.service import CardPassages, ChatService, Status
from chat.telegram_bot import addressed_text, file_url_for
from chat.textutil import (
    MAX_QUESTION_CHARS,
    best_sentence,
    clean_question,
    format_date,
    format_datetime,
    has_words,
    searchable,
    utf16_len,
)
from retrieval.types import Article, BuildReport, Hit, SearchResponse, SkippedFile


def make_hit(n: int = 0, text: str | None = None, **kw) -> Hit:
    base = dict(article_id=f"a{n}", passage_id=f"a{n}#0", score=1.0, title=f"Bài {n}",
                date="2024-01-11", place="Đầm Hà", source="Trung tâm TT&VH", url=None,
                text=text or "Câu mở đầu. Thường trực Huyện ủy duyệt chương trình công tác năm "
                             "2024. Câu kết thúc bài.")
    base.update(kw)
    return Hit(**base)


# ---------------------------------------------------------------- text helpers

def test_fold_and_question_cleaning():
    question, truncated = clean_question("  hỏi\u200b về\n\nĐầm   Hà\x00 ")
    assert (question, truncated) == ("hỏi về Đầm Hà", False)
    original = "chương trình công tác " * 1000
    long_q, truncated = clean_question(original)
    assert truncated and MAX_QUESTION_CHARS * 0.9 < len(long_q) <= MAX_QUESTION_CHARS
    assert original.startswith(long_q + " ")  # cut between words
    assert clean_question(None) == ("", False)
    assert not has_words("😀 🙏 *** ?!") and has_words("😀 năm 2024")
    assert searchable("<b>Đầm Hà</b> & **MTTQ** `x`") == "Đầm Hà & MTTQ x"


def test_best_sentence_ignores_diacritics():
    text = ("Hội nghị khai mạc lúc 8 giờ. Thường trực Huyện ủy Đầm Hà duyệt chương trình công "
            "tác của MTTQ năm 2024. Các đại biểu thảo luận sôi nổi.")
    for question in ("Huyện ủy Đầm Hà duyệt chương trình năm 2024",
                     "huyen uy dam ha duyet chuong trinh nam 2024"):
        s, e = best_sentence(text, question)
        assert text[s:e].startswith("Thường trực Huyện ủy Đầm Hà") and text[s:e].endswith("2024.")
    assert best_sentence(text, "gì thế nào?") is None  # only question words


def test_dates_in_vietnamese_format():
    assert format_date("2024-01-11") == "11/01/2024"
    assert format_date("2024-01") == "01/2024"
    assert format_date(None) is None
    # 20:00 UTC is 03:00 the next day in Vietnam.
    assert format_datetime("2024-01-10T20:00:00+00:00") == "11/01/2024 03:00"
    assert format_datetime(datetime(2024, 5, 1, 9, 30).isoformat()) == "01/05/2024 09:30"


# ---------------------------------------------------------------- rendering

def test_hit_block_escapes_everything_and_links_only_http():
    evil = make_hit(title="<script>x</script> & co", place="A&B", source="<i>nguồn</i>",
                    url="javascript:alert(1)", text="Giá < 5 & > 3. <b>Không</b> phải thẻ.")
    block = hit_block(HTML, evil, 1, "giá")
    check_html(block)
    assert "&lt;script&gt;x&lt;/script&gt; &amp; co" in block and "<script>" not in block
    assert "A&amp;B" in block and "&lt;i&gt;nguồn&lt;/i&gt;" in block
    assert "javascript" not in block and "href" not in block
    assert "<b>Giá &lt; 5 &amp; &gt; 3.</b>" in block  # best sentence bold, escaped inside
    good = hit_block(HTML, make_hit(url='https://x.vn/a?b=1&c="2"'), 2, "huyện ủy")
    assert '<a href="https://x.vn/a?b=1&amp;c=&quot;2&quot;">Đọc bài gốc</a>' in good
    check_html(good)


def test_huge_passage_is_cut_without_breaking_tags():
    text = ("Thường trực Huyện ủy & <MTTQ> duyệt chương trình năm 2024. " * 400)  # ~24k chars
    hit = make_hit(text=text)
    card = hit_block(HTML, hit, 1, "huyện ủy duyệt chương trình 2024")
    assert len(html_to_text(card)) < 1000  # the card quotes a few sentences only
    whole = passage_block(HTML, [hit], 1, "huyện ủy duyệt chương trình 2024")  # «Cả đoạn»
    for block in (card, whole):
        assert utf16_len(block) <= 4096
        check_html(block)
        assert block.count("<b>") == block.count("</b>") >= 1
    assert "…" in whole and utf16_len(whole) > 3000  # cut, but not needlessly short


def test_page_messages_split_on_passage_boundaries():
    hits = [make_hit(i, text=f"Đoạn {i}: " + "Huyện ủy duyệt chương trình. " * 60,
                     title=f"Bài {i}: " + "tiêu đề rất dài " * 20) for i in range(12)]
    page = ChatServiceStub.page(hits)
    messages = page_messages(HTML, page, hint=texts.hint(HTML, page))
    assert len(messages) >= 2
    for m in messages:
        assert utf16_len(m) <= 4096
        check_html(m)
    # Each card sits whole in one message.
    for i in range(12):
        holders = [m for m in messages if f"Bài {i}:" in m]
        assert len(holders) == 1 and holders[0].count(f"Bài {i}:") == 1
        assert re.search(rf"<blockquote>{i + 1}\. [^<]*<b>[^<]+</b>[^<]*</blockquote>\n📰 Bài {i}:",
                         holders[0])
    assert messages[-1].endswith("👍/👎 để góp ý.") and "Xem thêm" not in messages[-1]


def test_article_split_keeps_all_text_and_valid_html():
    giant_word = "x&y<" * 1000  # 4k characters without a space, 12k once escaped
    paragraphs = ["Mở đầu & giới thiệu.", "Đoạn dài " + "chữ & số < 5 " * 600, giant_word]
    article = Article("a1", "Tiêu đề <dài>", paragraphs, date="2023-12-05", place="Bình Minh",
                      source="Nguồn & co", url="https://example.org/?a=1&b=2")
    messages = article_messages(HTML, article)
    assert len(messages) > 3
    for m in messages:
        assert utf16_len(m) <= 4096
        check_html(m)
    text = "".join(html_to_text(m).replace("\n", "").replace(" ", "") for m in messages)
    for p in paragraphs:
        assert p.replace(" ", "") in text
    assert html.escape("Tiêu đề <dài>", quote=False) in messages[0]


def test_article_messages_are_capped():
    article = Article("a1", "T", ["câu văn " * 400] * 40)
    messages = article_messages(HTML, article)
    assert len(messages) == cards.MAX_ARTICLE_MESSAGES
    assert "bài gốc" in messages[-1]


def test_chunk_text_plain_and_html_agree_on_content():
    text = "a&b " * 2000
    for markup in (PLAIN, HTML):
        pieces = chunk_text(markup, text.strip(), 500)
        assert all(utf16_len(p) <= 500 for p in pieces)
        joined = " ".join(html.unescape(p) if markup is HTML else p for p in pieces)
        assert joined == text.strip()


def test_no_answer_and_statuses_are_polite():
    page = ChatServiceStub.page([], status=Status.NO_ANSWER, question="<giá vàng>")
    (text,) = page_messages(HTML, page, examples=["Đầm Hà năm 2024"])
    check_html(text)
    assert "chưa tìm thấy" in text and "&lt;giá vàng&gt;" in text and "năm" in text
    assert "<code>Đầm Hà năm 2024</code>" in text
    # Each status says what happened and what to do next.
    says = {Status.EMPTY: ["chưa nhập câu hỏi", "<code>Hội Nông dân Đầm Hà năm 2024</code>"],
            Status.NOT_WORDS: ["chưa hiểu câu hỏi", "bằng chữ", "<code>Hội Nông dân Đầm Hà năm 2024</code>"],
            Status.END: ["Không còn kết quả nào khác"],
            Status.EXPIRED: ["không còn nhớ câu hỏi này", "gửi lại câu hỏi"]}
    for status, phrases in says.items():
        (text,) = page_messages(HTML, ChatServiceStub.page([], status=status),
                                examples=["Hội Nông dân Đầm Hà năm 2024"])
        check_html(text)
        assert all(p in text for p in phrases), (status, text)
    # Without examples (an empty index) the hints still show a question to copy.
    (text,) = page_messages(HTML, ChatServiceStub.page([], status=Status.EMPTY))
    assert "<code>" in text and "</code>" in text


def test_a_follow_up_naming_a_place_of_the_index_replaces_the_place():
    """The places come from the index being served (its reader), typed without diacritics."""
    searcher = StubSearcher([make_hit()])
    searcher.reader = StubReader(places={"tung khe": "Tùng Khê", "ky luong": "Kỳ Lương"})
    service = ChatService(searcher, FeedbackStore(":memory:"))
    service.ask("Hội Nông dân huyện Tùng Khê tổng kết công tác năm 2023 thế nào?")
    assert service.ask("còn ky luong?").followup
    searched = searcher.queries[-1][0]
    assert "Kỳ Lương" in searched and "Tùng Khê" not in searched and "2023" in searched


def test_examples_are_the_newest_headlines_and_a_failure_is_logged(caplog):
    class Searcher(StubSearcher):
        def latest(self, n):
            return [Article("a0", "Hội Nông dân huyện Tùng Khê tổng kết công tác Hội năm 2023", ["x"],
                            date="2023-12-20", place="Tùng Khê")]

    class Broken(StubSearcher):
        def latest(self, n):
            raise RuntimeError("catalog unreadable")

    service = ChatService(Searcher([]), FeedbackStore(":memory:"))
    service.searcher.reader = StubReader(places={"tung khe": "Tùng Khê"})
    assert service.examples(1) == ["Hội Nông dân huyện Tùng Khê tổng kết năm 2023 thế nào?"]
    with caplog.at_level(logging.ERROR, logger="chat.service"):
        assert ChatService(Broken([]), FeedbackStore(":memory:")).examples(1) == []
    assert "example questions failed" in caplog.text and "catalog unreadable" in caplog.text


def test_plain_markup_marks_best_sentence():
    page = ChatServiceStub.page([make_hit()], question="duyet chuong trinh cong tac 2024")
    text = "\n\n".join(page_messages(PLAIN, page))
    assert "**Thường trực Huyện ủy duyệt chương trình công tác năm 2024.**" in text
    assert "<" not in text and "&amp;" not in text


# ---------------------------------------------------------------- answer-first cards

REPORT = ("Sáng 14/3, Hội Nông dân huyện Tân Lạc tổ chức hội nghị sơ kết công tác quý I năm 2025. "
          "Dự hội nghị có lãnh đạo Huyện ủy cùng đại diện các xã, thị trấn trong huyện. "
          "Trong quý, các cấp Hội đã kết nạp 215 hội viên mới và thành lập 4 tổ hợp tác nuôi bò. "
          "Hội cũng phối hợp giải ngân 12 tỷ đồng vốn vay ưu đãi cho 310 hộ hội viên. "
          "Quý II, Hội tiếp tục vận động nông dân chuyển đổi cơ cấu cây trồng. "
          "Kết thúc hội nghị, Hội khen thưởng 9 chi hội có thành tích tốt.")
SENTENCES = [s + "." for s in REPORT[:-1].split(". ")]


def assert_whole_words(piece: str, text: str) -> None:
    """`piece` (ellipses aside) is a run of `text` that starts and ends at word boundaries."""
    flat = " ".join(text.split())
    for part in filter(None, (p.strip() for p in piece.split("…"))):
        i = flat.find(part)
        assert i >= 0, part
        assert i == 0 or flat[i - 1] == " ", f"starts mid-word: {part[:30]}"
        end = i + len(part)
        assert end == len(flat) or not flat[end].isalnum(), f"ends mid-word: {part[-30:]}"


def test_card_leads_with_the_answer_and_one_sentence_each_side():
    hit = make_hit(text=REPORT, title="Hội Nông dân Tân Lạc sơ kết quý I", url="https://x.vn/a")
    ex = card_excerpt(hit, "kết nạp bao nhiêu hội viên mới?")
    assert ex.marked and ex.answer == SENTENCES[2]
    assert ex.before == f"… {SENTENCES[1]}" and ex.after == f"{SENTENCES[3]} …"
    assert card_answer_texts(hit, "kết nạp bao nhiêu hội viên mới") == [ex.before, ex.answer, ex.after]
    lines = hit_block(PLAIN, hit, 2, "kết nạp bao nhiêu hội viên mới").split("\n")
    assert lines == [f"2. {ex.before} **{ex.answer}** {ex.after}",
                     "📰 Hội Nông dân Tân Lạc sơ kết quý I",
                     "📍 Đầm Hà · 🗓 11/01/2024 · Nguồn: Trung tâm TT&VH", "🔗 https://x.vn/a"]
    first = card_excerpt(hit, "hội nghị sơ kết quý I Tân Lạc")  # nothing before the first sentence
    assert (first.before, first.answer, first.after) == ("", SENTENCES[0], f"{SENTENCES[1]} …")


def test_a_card_dated_by_a_year_alone_shows_the_year():
    """A year-only date (an anniversary's year, the headline's) is shown as a year, never as a day."""
    hit = make_hit(date="2024", date_source="anniversary")
    for markup in (PLAIN, HTML):
        assert "📍 Đầm Hà · 🗓 2024 · Nguồn" in hit_block(markup, hit, 1, "duyệt chương trình công tác")


def test_search_choice_of_answer_is_used_as_is():
    start = REPORT.index(SENTENCES[5])
    hit = make_hit(text=REPORT, answer=(start, start + len(SENTENCES[5])))
    ex = card_excerpt(hit, "kết nạp bao nhiêu hội viên mới")  # best_sentence would say [2]
    assert (ex.before, ex.answer, ex.after) == (f"… {SENTENCES[4]}", SENTENCES[5], "")
    assert f"<b>{SENTENCES[5]}</b>" in hit_block(HTML, hit, 1, "kết nạp bao nhiêu hội viên mới")


def test_passage_without_an_answering_sentence_shows_its_opening_unmarked():
    ex = card_excerpt(make_hit(text=REPORT), "thời tiết thế nào?")
    assert not ex.marked and ex.pieces() == [SENTENCES[0], f"{SENTENCES[1]} …"]
    assert "**" not in hit_block(PLAIN, make_hit(text=REPORT), 1, "thời tiết thế nào?")


def test_long_context_is_cut_at_word_ends_within_the_limit():
    long_before = "Trước đó, " + "các chi hội đã rà soát danh sách hộ nghèo, cận nghèo ở từng ấp, " * 6
    long_after = "Sau hội nghị, " + "Ban Thường vụ giao các chi hội theo dõi tiến độ giải ngân, " * 6
    text = f"Mở đầu. {long_before.strip()}. {SENTENCES[2]} {long_after.strip()}. Kết luận."
    ex = card_excerpt(make_hit(text=text), "kết nạp bao nhiêu hội viên mới")
    assert ex.answer == SENTENCES[2]
    assert len(" ".join(ex.pieces())) <= cards.CARD_ANSWER_CHARS
    assert ex.before.startswith("… ") and ex.after.endswith(" …")
    assert len(ex.before) > 60 and len(ex.after) > 60  # both sides get a share of the room
    for piece in ex.pieces():
        assert_whole_words(piece, text)


def test_an_answer_that_opens_a_list_shows_its_items_not_what_came_before():
    items = ["tiếp tục rà soát hội viên nghèo ở từng ấp;", "tăng cường nắm bắt tâm tư, nguyện vọng hội viên;",
             "đẩy mạnh đối thoại giữa người đứng đầu cấp ủy với nông dân;",
             "nhân rộng các mô hình kinh tế tập thể có hiệu quả."]
    opening = ("Kết luận hội nghị, đồng chí Chủ tịch Hội Nông dân huyện Tân Lạc đề nghị các cơ sở Hội "
               "trong năm 2025 thực hiện tốt các nhiệm vụ trọng tâm;")
    text = f"{SENTENCES[0]} {SENTENCES[1]} {opening} {' '.join(items)}"
    start = text.index(opening)
    ex = card_excerpt(make_hit(text=text, answer=(start, start + len(opening))), "Chủ tịch Hội đề nghị gì?")
    assert ex.answer == opening and ex.before == "…"
    assert ex.after.startswith(" ".join(items[:3]))  # three items fit beside the opening
    assert len(" ".join(ex.pieces())) <= cards.CARD_ANSWER_CHARS
    for piece in ex.pieces():
        assert_whole_words(piece, text)
    # a "bao nhiêu" answer ending in ";" is one item among others: context both sides
    counted = card_excerpt(make_hit(text=text, answer=(start, start + len(opening))),
                           "Hội có bao nhiêu nhiệm vụ trọng tâm?")
    assert counted.before == f"… {SENTENCES[1]}"


def test_one_long_sentence_is_cut_at_a_word_end_with_an_ellipsis():
    sentence = ("Năm 2024, Hội Nông dân huyện đã vận động " + "hội viên tham gia các mô hình kinh tế, "
                * 20 + "đạt 120% kế hoạch.")
    text = f"Câu mở đầu ngắn. {sentence} Câu kết."
    ex = card_excerpt(make_hit(text=text), "vận động hội viên tham gia mô hình kinh tế 2024")
    assert ex.before == "…" and ex.after == "" and ex.answer.endswith("…")
    assert len(" ".join(ex.pieces())) <= cards.CARD_ANSWER_CHARS
    assert sentence.startswith(ex.answer[:-1]) and sentence[len(ex.answer) - 1] in " ,"
    assert_whole_words(ex.answer, text)


def test_card_text_bounds_hold_for_any_passage():
    """Random fictional passages, questions and limits: the answer text stays within its
    limit, quotes whole words only, and a whole card stays under 1,000 characters."""
    rng = random.Random(16)
    words = ("hội viên nông dân huyện xã thị trấn kết nạp mô hình kinh tế tập thể giải ngân vốn "
             "vay ưu đãi hộ nghèo chi hội tổ hợp tác khen thưởng 215 12 tỷ đồng năm 2025").split()
    for _ in range(300):
        sentences = [" ".join(rng.choices(words, k=rng.randint(3, 70))).capitalize() + "."
                     for _ in range(rng.randint(1, 8))]
        text = " ".join(sentences)
        question = " ".join(rng.choices(words, k=4))
        limit = rng.randint(120, 400)
        ex = card_excerpt(make_hit(text=text), question, limit)
        assert ex.answer and len(" ".join(ex.pieces())) <= limit
        for piece in ex.pieces():
            assert_whole_words(piece, text)
        title = " ".join(rng.choices(words, k=40)).capitalize()
        card = hit_block(PLAIN, make_hit(text=text, title=title, url="https://x.vn/" + "a" * 100),
                         1, question)
        assert len(card) < 1000


def test_whole_passage_view_shows_everything_with_the_answer_marked():
    card = [make_hit(text=REPORT, title="Hội Nông dân Tân Lạc"),
            make_hit(passage_id="a0#3", text="Đoạn sau: đại biểu tham quan vườn cây ăn trái.")]
    whole = passage_block(PLAIN, card, 2, "khen thưởng bao nhiêu chi hội")
    assert whole.split("\n") == [
        "2. " + " ".join(SENTENCES[:5]) + f" **{SENTENCES[5]}**",  # the last sentence, marked
        "Đoạn sau: đại biểu tham quan vườn cây ăn trái.",  # nothing in it answers: unmarked
        "📰 Hội Nông dân Tân Lạc", "📍 Đầm Hà · 🗓 11/01/2024 · Nguồn: Trung tâm TT&VH"]
    assert cards.passage_reply(PLAIN, None) == texts.BUTTON_EXPIRED
    gone = cards.passage_reply(PLAIN, CardPassages([], 0, "câu hỏi"))
    assert gone == texts.PASSAGE_GONE


def test_partial_answer_says_what_is_missing_first():
    page = ChatServiceStub.page([make_hit()], question="Huyện ủy Đầm Hà năm 2023")
    page.match, page.missing, page.understood = "partial", ["year"], "Huyện ủy huyện Đầm Hà, năm 2023"
    first_line = page_messages(PLAIN, page)[0].split("\n")[0]
    assert first_line == "⚠️ Chưa có bài về Huyện ủy huyện Đầm Hà, năm 2023; gần nhất là năm 2024:"
    page.followup = True
    lines = page_messages(HTML, page)[0].split("\n")
    assert lines[0].startswith("⚠️ Chưa có bài về") and lines[1].startswith("🧭 Hiểu là:")
    assert "🔎 Câu hỏi" not in lines[0] + lines[1] and lines[3].startswith("<blockquote>1. ")


# ---------------------------------------------------------------- buttons

def test_callback_payloads_round_trip_and_fit():
    big = 10**17
    for data in (callbacks.more(big, 999999), callbacks.full(big, 999999),
                 callbacks.feedback(big, 999999, False)):
        assert len(data.encode()) <= 64
        assert callbacks.parse(data).qid == big
    assert callbacks.parse("fb:12:3:1") == callbacks.Button("fb", 12, 3, True)
    assert callbacks.parse("more:12:3") == callbacks.Button("more", 12, 3, None)
    whole = callbacks.passage(big, 2)  # «Cả đoạn»: its handler's pattern comes from the same name
    assert re.match(callbacks.PASSAGE_PATTERN, whole) and callbacks.parse(whole).kind == "doan"
    assert not re.match(callbacks.PASSAGE_PATTERN, callbacks.full(big, 2))
    for bad in ("", "more:x:1", "fb:1:2", "more:1:2:1", "full:1:2; DROP TABLE", None):
        assert callbacks.parse(bad) is None


def test_each_button_reaches_its_own_handler_only():
    """The handlers' patterns are built from the payloads' own prefixes: every payload
    matches exactly one pattern, the one of its kind."""
    made = {callbacks.MORE_PATTERN: callbacks.more(5, 3), callbacks.FULL_PATTERN: callbacks.full(5, 0),
            callbacks.PASSAGE_PATTERN: callbacks.passage(5, 0),
            callbacks.FEEDBACK_PATTERN: callbacks.feedback(5, 0, True),
            callbacks.TOPIC_PATTERN: callbacks.topic("y", "2024")}
    for own, data in made.items():
        assert [p for p in made if re.match(p, data)] == [own], data
    assert not any(re.match(p, "lạ:nút-cũ") for p in made)  # the catch-all handler's


def test_each_front_end_has_its_limit_and_its_way_to_go_on():
    """Telegram: its message limit and buttons; Zalo: 2,000 characters, typed commands."""
    assert HTML.limit == MessageLimit.MAX_TEXT_LENGTH and HTML.buttons
    assert ZALO.limit == 2000 and not ZALO.buttons and not PLAIN.buttons


def test_keyboard_has_one_full_text_button_per_article():
    hits = [make_hit(1), make_hit(1, passage_id="a1#3"), make_hit(2)]
    page = ChatServiceStub.page(hits, has_more=True, offset=3, qid=77)
    rows = page_keyboard(page).inline_keyboard
    data = [b.callback_data for row in rows for b in row]
    assert data == ["full:77:3", "full:77:5", "doan:77:3", "doan:77:5", "more:77:6", "fb:77:3:1",
                    "fb:77:3:0"]
    assert [b.text for b in rows[1]] == ["📃 Cả đoạn 4", "📃 Cả đoạn 6"]
    assert page_keyboard(ChatServiceStub.page([], status=Status.NO_ANSWER)) is None


# ---------------------------------------------------------------- service with a stub searcher

class StubSearcher:
    def __init__(self, hits, answered=True):
        self.hits, self.answered, self.queries = hits, answered, []
        self.reader = StubReader()

    def search(self, question, top_k=5, offset=0, today=None, prefer=(), intent=None):
        self.queries.append((question, top_k, offset))
        return SearchResponse(question, self.answered, self.hits[offset:offset + top_k])

    def article(self, article_id):
        return Article(article_id, f"Bài {article_id}", ["Đoạn một.", "Đoạn hai."])


class ChatServiceStub:
    @staticmethod
    def page(hits, status=Status.ANSWER, question="huyện ủy", has_more=False, offset=0, qid=1):
        from chat.service import Page

        return Page(status, question=question, qid=qid, offset=offset, hits=hits,
                    has_more=has_more)


def test_service_pages_feedback_and_chat_isolation(tmp_path):
    store = FeedbackStore(tmp_path / "fb.sqlite")
    searcher = StubSearcher([make_hit(i) for i in range(5)])
    service = ChatService(searcher, store, per_page=3)
    page = service.ask("  <b>Huyện ủy</b>  ", chat_id=10, user_id=20)
    assert page.status is Status.ANSWER and page.has_more and len(page.hits) == 3
    assert page.question == "<b>Huyện ủy</b>"  # shown as typed (escaped later)...
    assert searcher.queries[-1][0] == "Huyện ủy"  # ...searched without markup
    second = service.more(page.qid, 3, chat_id=10)
    assert [h.article_id for h in second.hits] == ["a3", "a4"] and not second.has_more
    assert service.more(page.qid, 6, chat_id=10).status is Status.END
    assert service.more(page.qid, 3, chat_id=99).status is Status.EXPIRED  # other chat
    assert service.full_text(page.qid, 4, chat_id=10).article.article_id == "a4"
    assert service.full_text(page.qid, 9, chat_id=10) is None
    assert service.vote(page.qid, 3, 20, good=False, chat_id=10)
    assert service.vote(page.qid, 3, 20, good=True, chat_id=10)  # changes the vote
    assert not service.vote(12345, 0, 20, good=True, chat_id=10)
    store.close()
    rows = FeedbackStore(tmp_path / "fb.sqlite").feedback_rows()  # survives reopening
    assert len(rows) == 1
    assert rows[0]["value"] == 1 and rows[0]["passage_ids"] == ["a3#0", "a4#0"]
    assert rows[0]["question"] == "<b>Huyện ủy</b>" and rows[0]["page_offset"] == 3


def test_a_page_shows_one_card_per_article():
    """Three passages of article a0 and one each of a1, a2, a3: the first page shows
    a0, a1, a2 (a0 with its close second passage), the next page a3."""
    hits = [make_hit(0, passage_id="a0#0", score=1.0), make_hit(0, passage_id="a0#1", score=0.99),
            make_hit(0, passage_id="a0#2", score=0.985), make_hit(1, score=0.98),
            make_hit(2, score=0.9), make_hit(1, passage_id="a1#1", score=0.8), make_hit(3, score=0.7)]
    service = ChatService(StubSearcher(hits), FeedbackStore(":memory:"), per_page=3)
    page = service.ask("huyện ủy")
    assert [h.article_id for h in page.hits] == ["a0", "a1", "a2"] and page.has_more
    # a0 shows its two best passages; a1's second is far below its first and stays out.
    assert [[h.passage_id for h in more] for more in page.extra] == [["a0#1"], [], []]
    assert service.full_text(page.qid, 1).article.article_id == "a1"  # "Toàn văn 2"
    text = "\n\n".join(page_messages(PLAIN, page))
    assert text.count("Bài 0") == 1 and text.count("Đầm Hà") == 3  # title and place once a card
    assert text.count("**Thường trực Huyện ủy") == 3  # each card quotes one passage, answer in bold
    whole = service.passages(page.qid, 0)  # «Cả đoạn 1»: both passages a0 matched, whole
    assert [h.passage_id for h in whole.card] == ["a0#0", "a0#1"] and whole.rank == 0
    second = service.more(page.qid, 3)
    assert [h.article_id for h in second.hits] == ["a3"] and not second.has_more


def test_service_statuses(tmp_path):
    service = ChatService(StubSearcher([make_hit()], answered=False), FeedbackStore(":memory:"))
    assert service.ask("   ").status is Status.EMPTY
    assert service.ask("😀🎉").status is Status.NOT_WORDS
    page = service.ask("giá vàng")
    assert page.status is Status.NO_ANSWER and not page.hits
    assert service.ask("x " * 5000).truncated


def test_rate_limit_window():
    now = [0.0]
    limiter = QuestionLimiter(2, clock=lambda: now[0])
    assert limiter.retry_after(1) == 0 and limiter.retry_after(1) == 0
    assert limiter.retry_after(1) == pytest.approx(60.0)
    assert limiter.retry_after(2) == 0  # per user
    now[0] = 30.0
    assert limiter.retry_after(1) == pytest.approx(30.0)
    now[0] = 60.5
    assert limiter.retry_after(1) == 0


# ---------------------------------------------------------------- uploads

def test_safe_file_names():
    assert safe_file_name("../../Báo cáo (1).TXT") == "bao-cao-1.txt"
    assert safe_file_name("..\\..\\evil.md") == "evil.md"
    assert safe_file_name(".hidden.html") == "hidden.html"
    assert safe_file_name("README.md") == "readme-upload.md"
    assert safe_file_name("😀.txt") == "tai-lieu.txt"
    for bad in ("virus.exe", "noext", "a.txt.sh", None, ""):
        with pytest.raises(UploadRejected):
            safe_file_name(bad)


def test_save_upload_stays_inside_corpus(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    first = save_upload(corpus, "../../../../tmp/x/Bài mới.txt", b"noi dung 1")
    assert first == (corpus / "uploads" / "bai-moi.txt").resolve()
    assert save_upload(corpus, "bai moi.txt", b"noi dung 1") == first  # same content: reused
    second = save_upload(corpus, "bai moi.txt", b"noi dung 2")  # never overwrites
    assert second.name == "bai-moi-2.txt" and first.read_bytes() == b"noi dung 1"
    third = save_upload(corpus, "bai moi.md", b"noi dung 3")  # same article id otherwise
    assert third.name == "bai-moi-3.md"
    assert not list((corpus / "uploads").glob(".upload-*"))
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (corpus / "uploads").rename(tmp_path / "old-uploads")
    (corpus / "uploads").symlink_to(outside)
    with pytest.raises(UploadRejected):
        save_upload(corpus, "x.txt", b"data")
    assert not list(outside.iterdir())


def test_unusable_upload_is_removed(tmp_path):
    corpus = tmp_path / "corpus"
    path = save_upload(corpus, "rong.txt", b"   ")
    report = BuildReport(skipped=[SkippedFile("uploads/rong.txt", "empty file")])
    assert discard_if_skipped(corpus, path, report) == "empty file"
    assert not path.exists()
    kept = save_upload(corpus, "tot.txt", b"noi dung")
    assert discard_if_skipped(corpus, kept, report) is None and kept.exists()


# ---------------------------------------------------------------- telegram helpers

def test_file_url_follows_base_url():
    assert file_url_for("http://127.0.0.1:8081/bot") == "http://127.0.0.1:8081/file/bot"
    assert file_url_for("https://api.telegram.org/bot") == "https://api.telegram.org/file/bot"
    assert file_url_for("http://h/tg/bot{token}") == "http://h/tg/file/bot{token}"
    assert file_url_for("http://h:1") == "http://h:1/file/bot"


def _group_message(text, entities=(), reply_from=None):
    data = {"message_id": 5, "date": 0, "chat": {"id": -1, "type": "group", "title": "g"},
            "from": {"id": 9, "is_bot": False, "first_name": "A"}, "text": text,
            "entities": list(entities)}
    if reply_from:
        data["reply_to_message"] = {"message_id": 4, "date": 0, "text": "x",
                                    "chat": {"id": -1, "type": "group", "title": "g"},
                                    "from": {"id": reply_from, "is_bot": True, "first_name": "B"}}
    return Message.de_json(data, None)


def test_addressed_text_in_groups():
    text = "Hỏi 😀 @Vn_Bot Đầm Hà năm 2024?"
    offset = utf16_len(text[:text.index("@")])
    mention = {"type": "mention", "offset": offset, "length": 7}
    assert addressed_text(_group_message(text, [mention]), 1, "vn_bot") == "Hỏi 😀 Đầm Hà năm 2024?"
    assert addressed_text(_group_message("@khac hỏi", [{"type": "mention", "offset": 0,
                                                         "length": 5}]), 1, "vn_bot") is None
    assert addressed_text(_group_message("Đầm Hà?"), 1, "vn_bot") is None
    assert addressed_text(_group_message("Đầm Hà?", reply_from=1), 1, "vn_bot") == "Đầm Hà?"
    assert addressed_text(_group_message("Đầm Hà?", reply_from=2), 1, "vn_bot") is None


# ---------------------------------------------------------------- logging

def test_token_never_reaches_log_output():
    token = "987654321:ZZsecretTokenValue_abcdefghijklmnopqrstu"
    logsafe.protect(token)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    logger = logging.getLogger("telegram.ext.test_logsafe")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        logger.debug("Set Bot API URL: %s", f"https://api.telegram.org/bot{token}")
        try:
            raise RuntimeError(f"POST https://api.telegram.org/bot{token}/getMe failed")
        except RuntimeError:
            logger.exception("request failed")
        logger.info("other 111111:%s", "A" * 35)  # token-shaped, never told
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "getMe failed" in out and "Traceback" in out
    assert token not in out and token.split(":")[1] not in out and "A" * 35 not in out
    assert out.count(logsafe.REDACTED) >= 3
    assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING


# ---------------------------------------------------------------- console

def test_console_conversation_with_prompt_more_and_full(tmp_path):
    from chat.console import PROMPT, run_console

    class Searcher(StubSearcher):
        def stats(self):
            return {"articles": 2, "passages": 5, "date_min": "2022-03-30",
                    "date_max": "2024-02-21", "built_at": "2024-02-22T01:00:00+00:00"}

        def latest(self, n):
            return [Article("a0", "Bài mới", ["x"], date="2024-02-21")]

    service = ChatService(Searcher([make_hit(i) for i in range(5)]), FeedbackStore(":memory:"))
    stdin = io.StringIO("huyện ủy 2024\n/more\n/more\n/full 5\n/full x\n/doan 4\n/doan 9\n"
                        "/stats\n/quit\nbỏ qua\n")
    stdout = io.StringIO()
    assert run_console(service, stdin, stdout, interactive=True) == 0
    out = stdout.getvalue()
    assert out.startswith("👋 Xin chào!") and "/full N" in out and "/doan N" in out  # help first
    assert out.count(PROMPT) == 9  # one prompt per line read, none after /quit
    for n in (1, 4, 5):  # each card: the answer first, then its headline
        assert f"\n{n}. Câu mở đầu. **Thường trực Huyện ủy" in out
        assert f"Câu kết thúc bài.\n📰 Bài {n - 1}\n" in out
    assert "Không còn kết quả nào khác" in out  # the second /more
    assert "📄 Bài a4" in out and "Đoạn hai." in out  # /full 5 = the article of result 5
    assert "Gõ /full kèm số thứ tự" in out
    replies = out.split(PROMPT)[1:]  # replies[n] answers input line n
    assert replies[5].startswith("4. Câu mở đầu. **Thường trực Huyện ủy duyệt chương trình công "
                                 "tác năm 2024.** Câu kết thúc bài.\n📰 Bài 3\n")  # /doan 4
    assert "Không có kết quả số 9" in replies[6]
    assert "Số bài viết: 2" in out and "30/03/2022 – 21/02/2024" in out
    assert "bỏ qua" not in out
    assert "\033[" not in out  # no colour codes when stdout is not a terminal


def test_run_on_sentence_is_split_into_clauses_for_bold():
    text = ("MTTQ và các đoàn thể có ít nhất một mô hình cụ thể, mang lại hiệu quả kinh tế và "
            "hiệu quả xã hội cho người dân trong huyện; quan tâm đến công tác phát triển đảng, "
            "phát triển hội viên trong năm; triển khai có hiệu quả nguồn vốn từ Ngân hàng CSXH "
            "huyện cho hộ nghèo; chuẩn bị tổ chức Đại hội MTTQ các cấp nhiệm kỳ 2024 - 2029.")
    s, e = best_sentence(text, "chuẩn bị đại hội MTTQ nhiệm kỳ 2024")
    assert text[s:e] == "chuẩn bị tổ chức Đại hội MTTQ các cấp nhiệm kỳ 2024 - 2029."
    s, e = best_sentence(text, "nguon von ngan hang CSXH")
    assert text[s:e].startswith("triển khai có hiệu quả nguồn vốn") and text[s:e].endswith(";")


def test_shutdown_closes_the_question_store_and_the_index(tmp_path):
    import asyncio
    import sqlite3

    from chat.config import ChatConfig
    from chat.telegram_bot import build_application

    class Index:
        closed = False

        def close(self):
            self.closed = True

    store, index = FeedbackStore(tmp_path / "fb.sqlite"), Index()
    app = build_application(ChatConfig(), index, token="1:x", base_url="http://127.0.0.1:9/bot",
                            store=store)
    asyncio.run(app.post_shutdown(app))  # what run_polling/run_webhook call last
    assert index.closed
    with pytest.raises(sqlite3.ProgrammingError):
        store.add_question(1, 1, "câu hỏi", True)


def test_partial_answer_says_what_is_missing_before_the_results():
    from chat.service import Page

    hit = make_hit(place="Đào Nguyên", date="2021-12-15", title="Hội LHPN huyện Đào Nguyên tổng kết năm 2021")
    page = Page(Status.ANSWER, question="hội lhpn huyện đào nguyên năm 2023", qid=1, hits=[hit],
                match="partial", missing=["year"], understood="Hội LHPN huyện Đào Nguyên, năm 2023")
    (text,) = page_messages(HTML, page)
    check_html(text)
    assert "Chưa có bài về <b>Hội LHPN huyện Đào Nguyên, năm 2023</b>; gần nhất là năm 2021:" in text
    assert text.index("gần nhất") < text.index("Hội LHPN huyện Đào Nguyên tổng kết năm 2021")
    exact = Page(Status.ANSWER, question=page.question, qid=1, hits=[hit], match="exact")
    assert "Chưa có bài" not in page_messages(HTML, exact)[0]


def test_service_passes_the_grade_to_the_page(tmp_path):
    class Partial(StubSearcher):
        def search(self, question, top_k=5, offset=0, today=None, prefer=(), intent=None):
            response = super().search(question, top_k, offset)
            response.match, response.missing, response.understood = "partial", ["place"], "huyện X"
            return response

    service = ChatService(Partial([make_hit()]), FeedbackStore(":memory:"))
    page = service.ask("Hội Nông dân huyện X")
    assert (page.match, page.missing, page.understood) == ("partial", ["place"], "huyện X")


# ---------------------------------------------------------------- /chude and examples

def test_topics_count_articles_by_subject_and_examples_are_questions():
    from chat.topics import Headline, count_topics, example_question

    heads = [
        Headline("a", "Hội Nông dân huyện Tùng Khê tổng kết công tác Hội năm 2023", "2023-12-20",
                 "Tùng Khê", date_source="dateline"),
        Headline("b", "Hội LHPN huyện Đào Nguyên tổng kết công tác Hội năm 2023, triển khai nhiệm vụ "
                      "năm 2024", "2024-01-11", "Đào Nguyên", date_source="lead"),
        Headline("c", "Hội Nông dân huyện Đào Nguyên ra quân làm đường", "2022-05-02", "Đào Nguyên",
                 date_source="meta"),
    ]
    topics = count_topics(heads)
    assert dict(topics.organisations) == {"hoi_nong_dan": 2, "hoi_phu_nu": 1}
    assert topics.places[0] == ("Đào Nguyên", 2) and topics.articles == 3
    assert [y for y, _ in topics.years] == [2024, 2023, 2022]  # newest first
    known = {"tung khe": "Tùng Khê", "dao nguyen": "Đào Nguyên"}
    assert example_question(heads[0], known) == "Hội Nông dân huyện Tùng Khê tổng kết năm 2023 thế nào?"
    # The headline's year, not the date's: a review of 2023 published in January 2024.
    assert example_question(heads[1], known) == "Hội LHPN huyện Đào Nguyên tổng kết năm 2023 thế nào?"
    odd = Headline("d", "LẠC GIANG: HƠN 1.200 ĐOÀN VIÊN RA QUÂN TÌNH NGUYỆN HÈ", "2023-06-05", "Lạc Giang",
                   date_source="url")
    assert example_question(odd) == ("Hơn 1.200 đoàn viên ra quân tình nguyện hè ở Lạc Giang năm 2023 "
                                     "diễn ra thế nào?")


def test_browsing_reads_only_trusted_dates():
    from chat.topics import Headline, count_topics, example_question

    # Fictional: dated by the page itself, by an anniversary's year, by a date elsewhere in the text.
    stated = Headline("a", "Hội Nông dân xã Tân Mai ra quân làm đường", "2024-03-14", "Tân Mai",
                      date_source="dateline")
    anniversary = Headline("b", "Đảng bộ xã Phú Đông gặp mặt đảng viên lão thành", "2029", "Phú Đông",
                           date_source="anniversary")
    in_text = Headline("c", "Đoàn xã Phú Đông về nguồn", "2027-09-02", "Phú Đông", date_source="text")
    topics = count_topics([anniversary, in_text, stated])
    assert topics.years == [(2024, 1)]
    assert [h.article_id for h in topics.newest] == ["a"]
    assert "2029" not in example_question(anniversary) and "2027" not in example_question(in_text)


def test_topic_payloads_fit_and_parse():
    from chat import callbacks

    assert callbacks.parse_topic(callbacks.topic("p", "my lam dong")) == ("p", "my lam dong")
    assert callbacks.topic("a", "x" * 80) is None  # too long for Telegram's 64 bytes: no button
    assert callbacks.parse_topic("tp:z:1") is None and callbacks.parse_topic("more:1:1") is None


def test_an_article_that_does_not_state_the_detail_says_so_first():
    from chat.service import Page

    hit = make_hit(title="Đại hội Hội Nông dân huyện Tùng Khê nhiệm kỳ 2023-2028")
    page = Page(Status.ANSWER, question="ai được bầu làm Chủ tịch?", qid=1, hits=[hit], match="partial",
                missing=["detail"], detail="tên người giữ chức Chủ tịch Hội",
                understood="Hội Nông dân huyện Tùng Khê")
    (text,) = page_messages(HTML, page)
    check_html(text)
    first = text.split("\n")[0]
    assert first == ("⚠️ Bài «Đại hội Hội Nông dân huyện Tùng Khê nhiệm kỳ 2023-2028» không nêu "
                     "<b>tên người giữ chức Chủ tịch Hội</b>; đây là đoạn gần nhất:")
    both = Page(Status.ANSWER, question="q", qid=1, hits=[hit], match="partial", missing=["year", "detail"],
                detail="số hội viên", understood="Hội Nông dân huyện Tùng Khê, năm 2020")
    assert "cũng không nêu số hội viên" in page_messages(HTML, both)[0]


def test_an_upload_and_a_fetch_tell_the_build_their_files_and_reindex_lists_the_folder(tmp_path, monkeypatch):
    """At 1M passages listing the corpus folder is most of an update: an admin's upload and
    a fetch name the files they wrote (build_index(changed=...)); /reindex reads it all."""
    import asyncio

    import retrieval.index
    from chat import admin
    from retrieval.fetch import FetchReport, Outcome
    from retrieval.types import BuildReport

    told: list = []

    def build_index(corpus, index, config, progress, changed=None):
        told.append(changed)
        return BuildReport()

    class Reloading:
        def reload(self):
            return True

    monkeypatch.setattr(retrieval.index, "build_index", build_index)
    reindexer = admin.Reindexer(Reloading(), tmp_path / "corpus", tmp_path / "index", config=None)
    said: list[str] = []

    async def say(text):
        said.append(text)

    uploaded = tmp_path / "corpus" / "bai_moi.txt"
    fetched = FetchReport(fetched=[Outcome("https://x.vn/a", path="portal/a.html")],
                          unchanged=[Outcome("https://x.vn/b", path="portal/b.html")])

    async def run():
        await admin.rebuild_and_report(reindexer, say, HTML, uploaded=uploaded)
        await admin.rebuild_and_report(reindexer, say, HTML, changed=fetched.written(reindexer.corpus_dir))
        await admin.reindex_and_report(reindexer, say, HTML)

    asyncio.run(run())
    assert told == [[uploaded], [tmp_path / "corpus" / "portal" / "a.html"], None]
