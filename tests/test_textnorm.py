from retrieval.textnorm import content_syllables, fold, has_diacritics, lexical_tokens, nfc, syllables


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
    # accented tokens are kept too, so an accented query matches on both forms
    assert {"hội", "đầm"} <= text_tokens


def test_content_syllables_drop_question_words():
    assert content_syllables("Hội Nông dân đã tổ chức gì trong năm 2023?") == [
        "hoi", "nong", "dan", "to", "chuc", "nam", "2023"]
