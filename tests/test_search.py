"""Search over the seeds + fictional test articles: ranking, citations, dedup, answerability."""
import pytest
from conftest import QUESTIONS

from retrieval import Config, Searcher, build_index
from retrieval.evaluate import evaluate, read_questions
from retrieval.textnorm import fold

pytestmark = pytest.mark.slow  # every test here searches a real index

# Our own test set (tests/data/questions.jsonl) with the default embedder, as
# `python -m retrieval eval` measures it today: of 90 answerable questions 84 have the
# answer at rank 1 (hit@1 0.933), 89 in the top 3 (0.989), 90 in the top 5 (1.0), the
# article in the top 3 for 90 (1.0), MRR@10 0.958; of 25 unaccented ones 25 at rank 1,
# 25 in the top 3; of 43 unanswerable ones 43 graded partial or none, 33 of them naming
# what is missing; 3 answerable ones graded none.  Each floor lets two questions slip and
# no more, so a change that moves three questions fails here: rerun the eval, look at
# what moved, then update these figures and the README's table together
# (benchmarks/readme_eval.py).
SLACK = 2
ANSWERABLE, UNACCENTED, UNANSWERABLE = 90, 25, 43
FLOORS = {"hit@1": (84 - SLACK) / ANSWERABLE, "hit@3": (89 - SLACK) / ANSWERABLE,
          "hit@5": (90 - SLACK) / ANSWERABLE, "article_hit@3": (90 - SLACK) / ANSWERABLE,
          "mrr@10": 0.958 - SLACK * (1 - 1 / 2) / ANSWERABLE}  # two questions from rank 1 to 2
UNACCENTED_FLOORS = {"hit@1": (25 - SLACK) / UNACCENTED, "hit@3": (25 - SLACK) / UNACCENTED}


def test_seed_question_cites_the_right_article(eval_searcher):
    response = eval_searcher.search("Ai chủ trì hội nghị duyệt chương trình công tác năm 2024 "
                                    "của Khối MTTQ huyện Đầm Hà?", top_k=3)
    assert response.answered
    top = response.hits[0]
    assert top.article_id == "000_6c00fa246487b5d2"
    assert (top.place, top.date, top.source) == ("Đầm Hà", "2024-01-11", "Mai Thắm (Trung tâm TT&VH)")
    assert top.title.startswith("Thường trực Huyện ủy duyệt Chương trình công tác")
    assert top.score > 0


def test_unaccented_question_finds_the_same_passage(eval_searcher):
    accented = eval_searcher.search("Hồng Ngự trao bao nhiêu điện thoại thông minh cho học sinh", top_k=3)
    plain = eval_searcher.search(fold(accented.query), top_k=3)
    assert plain.answered and accented.answered
    assert plain.hits[0].passage_id == accented.hits[0].passage_id
    assert "76 chiếc điện thoại thông minh" in plain.hits[0].text


def test_syndicated_copy_appears_once(eval_searcher):
    hits = eval_searcher.search("Thành đoàn Lạc Giang ra quân chiến dịch thanh niên tình nguyện hè 2023",
                                top_k=10).hits
    texts = [" ".join(h.text.split()) for h in hits]
    assert len(texts) == len(set(texts))
    assert {"lac_giang_mua_he_xanh_2023", "lac_giang_ban_sao"} & {h.article_id for h in hits}


def test_a_year_place_or_body_the_corpus_lacks_is_a_partial_answer(eval_searcher):
    asked = "Hội Nông dân huyện Sơn Khê năm {} có bao nhiêu hộ sản xuất kinh doanh giỏi?"
    exact = eval_searcher.search(asked.format(2023))
    assert (exact.match, exact.missing, exact.answered) == ("exact", [], True)
    assert exact.hits[0].article_id == "son_khe_hoi_nong_dan_2023"
    assert exact.understood == "Hội Nông dân huyện Sơn Khê, năm 2023"
    # the same report, but the question asks for a year no article is about
    other_year = eval_searcher.search(asked.format(2017))
    assert (other_year.match, other_year.missing) == ("partial", ["year"])
    assert other_year.hits[0].article_id == "son_khe_hoi_nong_dan_2023"
    # a district the corpus has no article of: the nearest report, said to be another place's
    other_place = eval_searcher.search("Hội Nông dân huyện Tiên Phong tổng kết công tác Hội năm 2023")
    assert (other_place.match, other_place.missing) == ("partial", ["place"])
    assert "Hội Nông dân" in other_place.hits[0].title
    # another body of a district we have
    other_body = eval_searcher.search("Hội LHPN huyện Kỳ Lương tổng kết công tác Hội năm 2023")
    assert other_body.match == "partial" and other_body.missing in (["organisation"], ["place"])


def test_the_year_asked_decides_between_two_reports_of_one_body(eval_searcher):
    for year in (2022, 2023):
        response = eval_searcher.search(f"Hội LHPN huyện Đào Nguyên năm {year} kết nạp bao nhiêu hội viên mới",
                                        top_k=1)
        assert response.hits[0].article_id == f"conf_dao_nguyen_hoi_lhpn_{year}"
        assert response.match == "exact"


def test_abbreviations_and_old_tone_marks_find_the_full_spelling(eval_searcher):
    full = eval_searcher.search("Hội Nông dân huyện Kỳ Lương năm 2024 phấn đấu bao nhiêu hộ sản xuất giỏi",
                                top_k=3)
    short = eval_searcher.search("HND H. Kỳ Lương năm 2024 phấn đấu bao nhiêu hộ sản xuất giỏi", top_k=3)
    assert short.match == "exact"
    assert short.hits[0].passage_id == full.hits[0].passage_id
    new = eval_searcher.search("Cựu chiến binh Ngọc Sương tham gia hòa giải bao nhiêu vụ việc", top_k=3)
    old = eval_searcher.search("Cựu chiến binh Ngọc Sương tham gia hoà giải bao nhiêu vụ việc", top_k=3)
    assert [h.passage_id for h in old.hits] == [h.passage_id for h in new.hits]
    assert "41 vụ việc" in old.hits[0].text


def test_off_topic_and_empty_questions_are_not_answered(eval_searcher):
    for question in ("dự báo thời tiết cuối tuần", "", "   ", "😀👍", "?!"):
        assert not eval_searcher.search(question).answered, question


def test_paging_continues_without_repeats(eval_searcher):
    question = "Hội Nông dân tổng kết công tác năm"
    first = eval_searcher.search(question, top_k=3)
    second = eval_searcher.search(question, top_k=3, offset=3)
    assert len(first.hits) == len(second.hits) == 3
    assert not {h.passage_id for h in first.hits} & {h.passage_id for h in second.hits}
    assert first.hits[-1].score >= second.hits[0].score


def test_very_long_input_is_handled(eval_searcher):
    response = eval_searcher.search("Quỹ Vì người nghèo Sơn Khê " * 2000, top_k=3)
    assert response.hits and len(response.query) <= 1000


def test_browsing_helpers(eval_searcher):
    stats = eval_searcher.stats()
    assert stats["articles"] == 27 and stats["passages"] > 27
    assert stats["date_min"] == "2022-03-30" and stats["date_max"] == "2024-02-21"
    latest = eval_searcher.latest(3)
    assert [a.date for a in latest] == sorted([a.date for a in latest], reverse=True)
    assert latest[0].article_id == "003_ac05bf14a328dd86"


def test_eval_floors_on_our_question_set(eval_searcher):
    result = evaluate(eval_searcher, read_questions(QUESTIONS))
    print("\n" + result.report())
    assert result.overall["n"] == ANSWERABLE and result.by_type["unaccented"]["n"] == UNACCENTED
    for metric, floor in FLOORS.items():
        assert result.overall[metric] >= floor - 1e-9, (metric, result.overall)
    for metric, floor in UNACCENTED_FLOORS.items():
        assert result.by_type["unaccented"][metric] >= floor - 1e-9, (metric, result.by_type["unaccented"])
    # near misses and off-topic questions are graded partial or none, not exact ...
    u = result.unanswerable
    assert u["n"] == UNANSWERABLE and u["correct"] >= 43 - SLACK and u["said_missing"] >= 33 - SLACK, u
    # ... while answerable ones are seldom graded "not found"
    assert result.graded["none"] <= 3 + SLACK, result.graded


# Two fictional districts' Hội Nông dân reports of the same kind.  The bodies say
# "huyện"; the other district's report names Vĩnh Khê once, as the model it copied.
_DISTRICT_REPORT = """---
title: Hội Nông dân huyện {place} tổng kết công tác Hội năm 2023
date: 2023-12-{day}
place: {place}
source: Bài viết hư cấu cho bộ kiểm thử
---
{body}
"""
_TERSE = ("Trong năm, Hội đã giải ngân 12 tỷ đồng vốn vay cho hội viên phát triển chăn nuôi "
          "và trồng cây ăn quả.")
_WORDY = ("Học cách làm của Hội Nông dân huyện Vĩnh Khê, Hội Nông dân các xã giải ngân 31 tỷ "
          "đồng vốn vay ưu đãi, Hội Nông dân huyện giải ngân thêm vốn vay từ Quỹ Hỗ trợ nông "
          "dân cho hội viên.")


def test_the_district_a_question_names_outranks_a_wordier_passage(tmp_path, e5):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    (corpus / "vinh_khe.md").write_text(
        _DISTRICT_REPORT.format(place="Vĩnh Khê", day=20, body=_TERSE), encoding="utf-8")
    (corpus / "an_lac.md").write_text(
        _DISTRICT_REPORT.format(place="An Lạc", day=22, body=_WORDY), encoding="utf-8")
    build_index(corpus, index, progress=False, embedder=e5)
    question = "Hội Nông dân huyện Vĩnh Khê giải ngân bao nhiêu vốn vay năm 2023?"

    off = Config()
    off.search.place_weight = 0.0
    without_vote = Searcher.open(index, off, embedder=e5)
    with_vote = Searcher.open(index, embedder=e5)
    # Passage by passage, the other district's report matches the words better ...
    assert without_vote.search(question, top_k=2).hits[0].article_id == "an_lac"
    # ... but the question asks about Vĩnh Khê, typed with or without diacritics.
    for asked in (question, fold(question)):
        response = with_vote.search(asked, top_k=2)
        assert [h.article_id for h in response.hits] == ["vinh_khe", "an_lac"], asked
        assert response.hits[0].score <= 1.0


def test_unencodable_characters_are_dropped_before_searching(eval_searcher):
    clean = eval_searcher.search("Hồng Ngự trao bao nhiêu điện thoại thông minh cho học sinh", top_k=3)
    dirty = eval_searcher.search("Hồng Ngự \ud800trao bao nhiêu\x00 điện thoại \udfffthông minh cho học sinh",
                                 top_k=3)
    assert dirty.answered and dirty.hits[0].passage_id == clean.hits[0].passage_id
    dirty.query.encode("utf-8")  # what is echoed back can be sent
