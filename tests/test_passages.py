"""Articles -> Passages: fragments merged, long paragraphs cut at sentence ends."""
from retrieval.config import SplitConfig
from retrieval.passages import split_article
from retrieval.types import Article

SENTENCE = "Hội Nông dân xã Tân Phú (hư cấu) vận động hội viên tham gia mô hình trồng rau sạch. "


def article(paragraphs):
    return Article(article_id="x/tin", title="Tiêu đề", paragraphs=paragraphs,
                   date="2023-05-01", place="Sơn Khê", source="Tác giả", url="https://example.org")


def test_each_passage_carries_metadata_and_position():
    passages = split_article(article([SENTENCE * 3, SENTENCE * 4]))
    assert [p.position for p in passages] == [0, 1]
    assert [p.passage_id for p in passages] == ["x/tin#0", "x/tin#1"]
    for p in passages:
        assert (p.article_id, p.title, p.date, p.place, p.source, p.url) == (
            "x/tin", "Tiêu đề", "2023-05-01", "Sơn Khê", "Tác giả", "https://example.org")
    assert passages[0].indexed_text().startswith("Tiêu đề · Sơn Khê · 2023-05-01\n")


def test_short_fragments_merge_into_next_paragraph():
    caption = "Lãnh đạo huyện trao quà"
    passages = split_article(article([SENTENCE * 3, caption, SENTENCE * 3]))
    assert len(passages) == 2
    assert passages[1].text.startswith(caption + "\n")


def test_trailing_fragment_joins_previous():
    passages = split_article(article([SENTENCE * 3, "Ảnh: tư liệu"]))
    assert len(passages) == 1
    assert passages[0].text.endswith("Ảnh: tư liệu")


def test_long_paragraph_split_at_sentence_boundaries_into_balanced_pieces():
    config = SplitConfig(min_chars=100, max_chars=400)
    long = SENTENCE * 12  # ~1000 chars
    passages = split_article(article([long]), config)
    assert len(passages) == 3
    for p in passages:
        assert len(p.text) <= 400
        assert p.text.endswith(".")  # whole sentences only
    assert " ".join(p.text for p in passages) == long.strip()
    lengths = [len(p.text) for p in passages]
    assert max(lengths) - min(lengths) <= len(SENTENCE) + 1


def test_run_on_text_without_sentence_ends_is_still_bounded():
    config = SplitConfig(min_chars=10, max_chars=200)
    passages = split_article(article(["từ " * 400]), config)
    assert all(len(p.text) <= 200 for p in passages)
    assert sum(len(p.text.split()) for p in passages) == 400
