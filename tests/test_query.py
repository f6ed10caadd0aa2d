"""Question understanding and grading against an article's subject (query.py).

Places and people are fictional (see tests/data/fictional/README.md).
"""
from datetime import date

import pytest

from retrieval.query import Intent, Place, article_subject, missing, understand, url_words

KNOWN = {"dao nguyen": "Đào Nguyên", "ky luong": "Kỳ Lương", "my lam dong": "Mỹ Lâm Đông"}
TODAY = date(2026, 12, 2)


@pytest.mark.parametrize("question, places, years, terms, organisations", [
    ("Hội LHPN huyện Đào Nguyên năm 2023 kết nạp bao nhiêu hội viên?",
     [("dao nguyen", "huyện")], {2023}, [], ["hoi_phu_nu"]),
    # unaccented, lower case: the known name delimits the place
    ("hoi nong dan huyen ky luong nam 2023 tong ket the nao",
     [("ky luong", "huyện")], {2023}, [], ["hoi_nong_dan"]),
    # a place the index has no article of is still a constraint
    ("hoi nong dan huyen tien phong nam 2023", [("tien phong", "huyện")], {2023}, [], ["hoi_nong_dan"]),
    ("Hội Cựu chiến binh huyện Bắc Sơn Hà tổng kết", [("bac son ha", "huyện")], set(), [], ["hoi_ccb"]),
    # abbreviations
    ("HND TX Vân Phố ra quân", [("van pho", "thị xã")], set(), [], ["hoi_nong_dan"]),
    ("CCB TP Lạc Giang năm nay", [("lac giang", "thành phố")], {2026}, [], ["hoi_ccb"]),
    # urban districts, as pages name them: "quận", its Party committee, its Youth Union
    ("Hội LHPN quận Đông Lũy năm 2024", [("dong luy", "quận")], {2024}, [], ["hoi_phu_nu"]),
    ("Quận ủy Đông Lũy sơ kết", [("dong luy", "quận")], set(), [], ["cap_uy"]),
    ("Quận đoàn Đông Lũy ra quân", [("dong luy", "quận")], set(), [], ["doan_tn"]),
    # unaccented "quan" is also "cơ quan": it introduces no unknown name
    ("Công đoàn cơ quan Hội Nông dân tổng kết", [], set(), [], ["cong_doan", "hoi_nong_dan"]),
    # a youth union named by its level names the place too
    ("Huyện đoàn Phú Lộc ra quân hè 2023", [("phu loc", "huyện")], {2023}, [], ["doan_tn"]),
    # a term is not two separate years
    ("Đại hội Hội Nông dân xã Lạc Thượng nhiệm kỳ 2023-2028", [("lac thuong", "xã")], set(),
     [(2023, 2028)], ["hoi_nong_dan"]),
    # a known place needs no unit word
    ("nông dân Mỹ Lâm Đông nuôi tôm năm ngoái", [("my lam dong", None)], {2025}, [], []),
    ("Giá vàng hôm nay bao nhiêu?", [], set(), [], []),
])
def test_understand(question, places, years, terms, organisations):
    intent = understand(question, KNOWN, TODAY)
    assert [(p.name, p.level) for p in intent.places] == places
    assert intent.years == years
    assert intent.terms == terms
    assert intent.organisations == organisations


def test_describe_uses_the_indexed_spelling_of_known_places():
    intent = understand("hoi lhpn huyen dao nguyen nam 2022", KNOWN, TODAY)
    assert intent.describe() == "Hội LHPN huyện Đào Nguyên, năm 2022"


def test_governing_bodies_give_way_to_the_organisation_asked_about():
    intent = understand("Thường trực Huyện ủy duyệt chương trình công tác của MTTQ năm 2024", KNOWN, TODAY)
    assert intent.organisations == ["cap_uy", "mttq"]
    assert intent.deciding_organisations == ["mttq"]


REVIEW_2023 = article_subject(
    "Hội LHPN huyện Đào Nguyên tổng kết công tác Hội năm 2023", "Đào Nguyên", "2024-01-11",
    "Sáng ngày 10/1, Hội LHPN huyện Đào Nguyên tổ chức hội nghị tổng kết công tác Hội năm 2023, "
    "thực hiện Kế hoạch số 12-KH/HPN ngày 5/3/2021 của Tỉnh hội.")


@pytest.mark.parametrize("question, passage, expected", [
    ("Hội LHPN huyện Đào Nguyên năm 2023", "", []),
    ("Hội LHPN huyện Đào Nguyên năm 2024", "", []),  # the date: a January review
    # a year only cited in the lead (a plan's date) is not what the article is about
    ("Hội LHPN huyện Đào Nguyên năm 2021", "", ["year"]),
    ("Hội LHPN huyện Kỳ Lương năm 2023", "", ["place"]),
    ("Hội Nông dân huyện Đào Nguyên năm 2023", "", ["organisation"]),
    ("Hội Nông dân huyện Kỳ Lương năm 2020", "", ["year", "place", "organisation"]),
    # next year's targets are stated in the passage of a report dated the year before
    ("Hội LHPN huyện Đào Nguyên năm 2025", "Năm 2025, Hội phấn đấu kết nạp 300 hội viên.", []),
    ("Hội LHPN huyện Đào Nguyên năm 2026", "Năm 2026, Hội phấn đấu kết nạp 300 hội viên.", ["year"]),
    # a commune is settled by the passage that names it; a district is not
    ("Hội LHPN xã Cổ Vân năm 2023", "Hội LHPN xã Cổ Vân có 40 tổ hội.", []),
    ("Hội LHPN huyện Kỳ Lương năm 2023", "Hội LHPN huyện Kỳ Lương sang thăm.", ["place"]),
])
def test_missing_is_judged_on_the_articles_own_subject(question, passage, expected):
    assert missing(understand(question, KNOWN, TODAY), REVIEW_2023, passage) == expected


def test_term_needs_both_years_in_the_subject():
    congress = article_subject("Đại hội Hội Nông dân huyện Kỳ Lương nhiệm kỳ 2023 - 2028",
                               "Kỳ Lương", "2023-05-04", "")
    assert missing(Intent(terms=[(2023, 2028)]), congress) == []
    assert missing(Intent(terms=[(2018, 2023)]), congress) == ["year"]


def test_lower_case_place_may_run_one_word_long():
    # "huyen tien phong nam" parsed with a stray syllable still matches on its first two
    place = Place("tien phong ha")
    assert place.in_text(" hoi nong dan huyen tien phong tong ket ")
    assert not place.in_text(" hoi nong dan huyen tien yen ")


def test_a_review_of_its_own_year_is_not_about_next_year():
    """"tổng kết năm 2022, triển khai nhiệm vụ năm 2023" is the 2022 review; a passage
    of next year's targets alone still counts for next year."""
    subject = article_subject("Hội LHPN huyện Đào Nguyên tổng kết công tác Hội năm 2022",
                              "Đào Nguyên", "2022-12-15", "")
    asked = understand("Hội LHPN huyện Đào Nguyên năm 2023", {"dao nguyen": "Đào Nguyên"})
    review = "Hội tổng kết công tác năm 2022, triển khai nhiệm vụ năm 2023."
    assert missing(asked, subject, review) == ["year"]
    assert missing(asked, subject, "Trong năm 2023, Hội phấn đấu kết nạp 600 hội viên.") == []


def test_co_quan_is_an_office_not_a_district():
    """Unaccented "quan" may be "quận", but "cơ quan" (an office), "liên quan" and
    "địa phương" are words of their own: the place after them is named with no level,
    and the reply does not call it a "quận"."""
    for question in ("Công đoàn cơ quan Đào Nguyên năm 2024", "cong doan co quan dao nguyen",
                     "Cơ Quan Đào Nguyên", "tin liên quan Đào Nguyên", "dia phuong dao nguyen"):
        intent = understand(question, KNOWN, TODAY)
        assert [(p.name, p.level) for p in intent.places] == [("dao nguyen", None)], question
        assert "quận" not in intent.describe()
    # "quan" alone before a known place still reads as the district level.
    assert [(p.name, p.level) for p in understand("quan dao nguyen", KNOWN, TODAY).places] == [
        ("dao nguyen", "quận")]


def test_a_unit_word_at_the_very_end_is_no_place_and_no_error():
    # Spellings.find once reported a one-syllable unit at the end with a two-syllable end index
    intent = understand("Ban Tuyên giáo Huyện ủy và các tổ chức chính trị – xã hội huyện", KNOWN, TODAY)
    assert intent.places == []
    assert understand("Hội Nông dân xã", KNOWN, TODAY).places == []


def test_the_page_address_states_a_place_the_page_does_not():
    """A district portal's host, or a slug repeating the headline, names the district
    that the page body leaves as "huyện" (fictional addresses)."""
    asked = understand("Hội CCB huyện Hòa Lĩnh năm 2019", KNOWN, TODAY)
    title = "Hội Cựu chiến binh huyện tổng kết công tác hội năm 2019"
    for url in ("https://hoalinh.lamha.gov.vn/thoi-su/hoi-ccb-tong-ket-164166",
                "https://baolamha.vn/hoi-ccb-huyen-hoa-linh-tong-ket-nam-2019-a1.html"):
        assert missing(asked, article_subject(title, None, "2019-12-18", "", url)) == []
    assert missing(asked, article_subject(title, None, "2019-12-18", "")) == ["place"]
    other = article_subject(title, None, "2019-12-18", "", "https://kyluong.lamha.gov.vn/tin/a-b-c-d")
    assert missing(asked, other) == ["place"]


def test_url_words_leave_out_what_names_no_place():
    hosts, slug = url_words("http://www.tranvanthoi.camau.dcs.vn/huyen-tran-van-thoi-dai-hoi-lan-ix.330")
    assert hosts == {"tranvanthoi", "camau"}
    assert slug == ["huyen", "tran", "van", "thoi", "dai", "hoi", "lan", "ix"]
    assert url_words(None) == (frozenset(), [])
    assert url_words("https://example.org/tin/123") == ({"example"}, [])


def test_an_undated_congress_opens_the_term_its_address_states():
    title = "Hoàn thành đại hội cơ sở"
    url = "http://mylan.lamha.gov.vn/my-lan-hoan-thanh-dai-hoi-mttq-cap-co-so-nhiem-ky-20192024.405"
    assert url_words(url)[1][-2:] == ["2019", "2024"]
    assert article_subject(title, None, None, "", url).years == {2019}
    assert article_subject(title, None, "2018-12-01", "", url).years == {2018}  # a date decides
    assert missing(Intent(terms=[(2019, 2024)]), article_subject(title, None, "2018-12-01", "", url)) == []
