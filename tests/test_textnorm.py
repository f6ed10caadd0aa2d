import pytest

from retrieval.textnorm import (
    ALIAS_EXPANSIONS,
    alias_keys,
    content_syllables,
    fold,
    folded_pairs,
    has_diacritics,
    lexical_tokens,
    nfc,
    respell,
    sentences,
    syllables,
    tone_key,
)


def test_fold_removes_tones_and_d_bar():
    assert fold("Đầm Hà") == "Dam Ha"
    assert fold("Hội Liên hiệp Phụ nữ") == "Hoi Lien hiep Phu nu"
    assert fold("đoàn thanh niên") == "doan thanh nien"


def test_decomposed_input_is_composed():
    decomposed = "Ho\u0302\u0323i"  # "Hội" typed with combining marks, as cp1258 produces
    assert nfc(decomposed) == "Hội"
    assert syllables(decomposed) == ["hội"]


def test_has_diacritics():
    assert has_diacritics("hội nông dân")
    assert has_diacritics("đoan")
    assert not has_diacritics("hoi nong dan 2024")


def test_unaccented_query_shares_folded_tokens_with_accented_text():
    text_tokens = set(lexical_tokens("Hội Nông dân huyện Đầm Hà"))
    query_tokens = set(lexical_tokens("hoi nong dan huyen dam ha"))
    assert {"~hoi", "~nong", "~dan", "~huyen", "~dam", "~ha"} <= text_tokens & query_tokens
    # accented tokens are kept too (tone as a digit), so an accented query matches on both forms
    assert {tone_key("hội"), tone_key("đầm")} <= text_tokens
    assert tone_key("hội") != "~hoi" and tone_key("hội") != tone_key("hồi")
    # and folded syllable pairs stand for two-syllable words
    assert {"nong_dan", "dam_ha"} <= text_tokens & query_tokens
    assert "dan_nong" not in text_tokens


def test_content_syllables_drop_question_words():
    assert content_syllables("Hội Nông dân đã tổ chức gì trong năm 2023?") == [
        "hoi", "nong", "dan", "to", "chuc", "nam", "2023"]


def test_folded_pairs_skip_question_words_on_request():
    all_pairs = folded_pairs("Hội Nông dân được bao nhiêu")
    assert all_pairs == {("hoi", "nong"), ("nong", "dan"), ("dan", "duoc"), ("duoc", "bao"),
                         ("bao", "nhieu")}
    assert folded_pairs("Hội Nông dân được bao nhiêu", skip_stopwords=True) == {
        ("hoi", "nong"), ("nong", "dan")}


def test_old_and_new_tone_placement_are_one_term():
    for old, new in (("hoà", "hòa"), ("uỷ ban", "ủy ban"), ("thuý", "thúy"), ("Khoẻ", "Khỏe")):
        assert set(lexical_tokens(old)) == set(lexical_tokens(new)), (old, new)
    # the tone itself still tells words apart
    assert set(lexical_tokens("hòa")) != set(lexical_tokens("hóa"))


@pytest.mark.parametrize("short, long", [
    ("HND", "Hội Nông dân"), ("Hội ND", "Hội Nông dân"), ("LHPN", "Hội Liên hiệp Phụ nữ"),
    ("Hội Phụ nữ", "Hội LHPN"), ("CCB", "Cựu chiến binh"), ("MTTQ", "Mặt trận Tổ quốc"),
    ("Mặt trận", "MTTQ"), ("ĐTN", "Đoàn Thanh niên"), ("Đoàn TN", "Huyện đoàn"), ("Tỉnh đoàn", "Đoàn TN"),
    ("LĐLĐ", "Công đoàn"), ("UBND", "Ủy ban nhân dân"), ("HĐND", "Hội đồng nhân dân"),
    ("BCH", "Ban Chấp hành"), ("TP", "thành phố"), ("TX", "thị xã"),
])
def test_abbreviations_share_a_term_with_the_full_name(short, long):
    shared = {t for t in set(lexical_tokens(short)) & set(lexical_tokens(long)) if t.startswith("@")}
    assert shared, (short, long)


def test_alias_terms_need_whole_syllables_and_the_longest_spelling_wins():
    assert alias_keys("hoi nong dan".split()) == ["hoi_nong_dan"]
    assert alias_keys("mat tran to quoc".split()) == ["mttq"]  # one group, not "mat tran" + rest
    assert alias_keys("hndx".split()) == []
    assert "@hoi_ccb" not in lexical_tokens("Hội Nông dân")


def test_an_abbreviation_among_the_aliases_expands_to_the_spelling_of_its_initials():
    assert ALIAS_EXPANSIONS["hnd"] == "hoi nong dan"
    assert ALIAS_EXPANSIONS["lhpn"] == "lien hiep phu nu"  # not "hội liên hiệp phụ nữ"
    assert ALIAS_EXPANSIONS["ldld"] == "lien doan lao dong"  # đ folds to d on both sides
    assert ALIAS_EXPANSIONS["dtn"] == "doan thanh nien"
    assert "hoi nd" not in ALIAS_EXPANSIONS and "tncs" not in ALIAS_EXPANSIONS


def test_sentences_end_before_any_capital_even_outside_ascii():
    """Đ, Ơ, Ư and the capitals of Latin Extended Additional start sentences too (the
    range à-ỹ once counted them as lower case); lower-case letters after "v.v." and
    a capital's full stop ("TP.") do not."""
    text = ("Hội nghị tổng kết năm 2023. Đến dự có lãnh đạo huyện. Ủy ban MTTQ báo cáo. "
            "Ông Nguyễn Văn An phát biểu. Ưu tiên vốn cho hộ nghèo, v.v. đã được thống nhất. "
            "TP. Lam Hạ đạt 98% chỉ tiêu… Ở xã Tân Phú, hội viên ủng hộ.")
    assert sentences(text) == [
        "Hội nghị tổng kết năm 2023.", "Đến dự có lãnh đạo huyện.", "Ủy ban MTTQ báo cáo.",
        "Ông Nguyễn Văn An phát biểu.", "Ưu tiên vốn cho hộ nghèo, v.v. đã được thống nhất.",
        "TP. Lam Hạ đạt 98% chỉ tiêu…", "Ở xã Tân Phú, hội viên ủng hộ."]


def test_a_long_sentence_splits_at_semicolons_but_not_inside_a_quoted_name():
    name = "“Hội viên chung tay xây dựng nông thôn mới; đô thị văn minh”"
    text = (f"Hội phát động mô hình {name} trên địa bàn các xã (gồm 5 nội dung: xây dựng chi hội vững mạnh; "
            "phát triển kinh tế hộ gia đình; giữ gìn vệ sinh môi trường; bảo đảm an ninh trật tự; "
            "chăm lo hội viên nghèo, hội viên có hoàn cảnh khó khăn, hội viên cao tuổi và gia đình chính sách).")
    clauses = sentences(text)
    assert len(clauses) == 5
    assert name in clauses[0] and clauses[0].endswith("xây dựng chi hội vững mạnh;")


def test_respell_spells_unaccented_words_as_the_index_does_in_context():
    vocabulary = ["Đoàn viên trồng cây xanh", "Hội viên trồng cây ăn quả", "Nông dân xã Hòa Lĩnh cấy lúa"]
    assert respell("trong cay", vocabulary) == "trồng cây"  # the commoner spelling alone...
    assert respell("cay lua", vocabulary) == "cấy lúa"  # ...but a pair is read in context
    assert respell("Nong dan xa Hoà Lĩnh", vocabulary) == "Nông dân xã Hòa Lĩnh"  # case as typed, tone kept
    assert respell("cay o Paris?", vocabulary) == "cây o Paris?"  # unknown words stay as typed

