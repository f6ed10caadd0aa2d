from retrieval.textnorm import (
    content_syllables,
    fold,
    folded_pairs,
    has_diacritics,
    lexical_tokens,
    nfc,
    syllables,
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
    # accented tokens are kept too, so an accented query matches on both forms
    assert {"hội", "đầm"} <= text_tokens
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
