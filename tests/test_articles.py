"""Corpus files -> Articles: metadata of each seed, front matter, HTML, broken files."""
import unicodedata
from pathlib import Path

import pytest
from conftest import SEED_CORPUS

from retrieval.articles import UnusableFile, corpus_files, read_article


def seed(name: str):
    return read_article(SEED_CORPUS / f"{name}.txt", SEED_CORPUS)


@pytest.mark.parametrize("name, title_start, date, place, source", [
    ("000_6c00fa246487b5d2", "Thường trực Huyện ủy duyệt Chương trình công tác của Cơ quan Khối MTTQ",
     "2024-01-11", "Đầm Hà", "Mai Thắm (Trung tâm TT&VH)"),
    ("001_9a509e2b4783760a", "Hội nghị đánh giá kết quả thực hiện chương trình phối hợp công tác",
     "2022-03-30", "Đầm Hà", "Kim Liên (Trung tâm TT&VH)"),
    ("002_179ffe2f7c53ff46", "Ban Dân vận Huyện ủy tổng kết công tác dân vận",
     "2024-01-10", "Gia Viễn", "Hồng Hạ (Trung tâm VHTT&TT)"),
    ("003_ac05bf14a328dd86", "THƯỜNG TRỰC HUYỆN UỶ LÀM VIỆC VỚI TẬP THỂ LÃNH ĐẠO",
     "2024-02-21", None, "Hồ Thuý Vinh"),
    ("004_6fe61718397cdb7e", "Thành ủy Hồng Ngự làm việc với các ngành Khối vận",
     "2022-12-21", "Hồng Ngự", "Đoàn Ti Vi (Ban Tuyên giáo Thành ủy Hồng Ngự)"),
])
def test_seed_metadata(name, title_start, date, place, source):
    article = seed(name)
    assert article.article_id == name
    assert article.title.startswith(title_start)
    assert article.date == date
    assert article.place == place
    assert article.source.startswith(source)


def test_banner_and_footer_lines_are_not_text():
    texts = {name: seed(name).text for name in
             ("000_6c00fa246487b5d2", "001_9a509e2b4783760a", "002_179ffe2f7c53ff46",
              "003_ac05bf14a328dd86", "004_6fe61718397cdb7e")}
    joined = "\n".join(texts.values())
    for junk in ("Chủ đề công tác năm 2020", "Trả lời", "loading....", "Bài viết khác",
                 "Xuất bản thông tin", "CHÀO MỪNG ĐẾN", "Chi tiết bài viết", "null"):
        assert junk not in joined, junk
    # the author line is metadata, not a passage
    assert "Mai Thắm" not in texts["000_6c00fa246487b5d2"]
    # the headline is not repeated as body text
    assert not any(p.startswith("Thành ủy Hồng Ngự làm việc")
                   for p in seed("004_6fe61718397cdb7e").paragraphs)


def test_site_banner_gives_the_site_name():
    assert "Trang thông tin điện tử huyện Gia Viễn" in seed("002_179ffe2f7c53ff46").source


def test_generic_captions_dropped_informative_ones_kept():
    text = seed("000_6c00fa246487b5d2").text
    assert "Đại biểu phát biểu ý kiến tại hội nghị" not in text
    assert "Lãnh đạo Đoàn Thanh niên huyện báo cáo Chương trình công tác" in text


def write(tmp_path: Path, name: str, data) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def test_front_matter_wins_over_inference(tmp_path):
    # Fictional article written for this test.
    path = write(tmp_path, "sub/tin.md", (
        "---\ntitle: Hội Nông dân huyện Sơn Khê tổng kết năm 2023: nhiều mô hình mới\n"
        "date: 2023-12-28\nplace: Sơn Khê\nsource: Đài Sơn Khê\nurl: https://example.org/a\n---\n"
        "Thứ hai, 01/01/2024\n\nSáng ngày 5/1, Hội Nông dân huyện Bình Lạc họp tổng kết.\n"))
    article = read_article(path, tmp_path)
    assert article.article_id == "sub/tin"
    assert article.title == "Hội Nông dân huyện Sơn Khê tổng kết năm 2023: nhiều mô hình mới"
    assert (article.date, article.place, article.source, article.url) == (
        "2023-12-28", "Sơn Khê", "Đài Sơn Khê", "https://example.org/a")


def test_partial_front_matter_falls_back_to_inference(tmp_path):
    path = write(tmp_path, "tin.md", (
        "---\nsource: Ban Tuyên giáo\n---\n"
        "Hội LHPN huyện Bình Lạc triển khai nhiệm vụ năm 2023\n\n"
        "Chiều ngày 14/2, Hội LHPN huyện Bình Lạc tổ chức hội nghị triển khai nhiệm vụ.\n"))
    article = read_article(path, tmp_path)
    assert article.title == "Hội LHPN huyện Bình Lạc triển khai nhiệm vụ năm 2023"
    assert article.date == "2023-02-14"
    assert article.place == "Bình Lạc"
    assert article.source == "Ban Tuyên giáo"


def test_two_years_in_headline_pick_by_month(tmp_path):
    body = ("Ban Dân vận huyện Sơn Khê tổng kết năm 2023, triển khai nhiệm vụ năm 2024\n\n"
            "Sáng ngày {d}, Ban Dân vận huyện tổ chức hội nghị tổng kết công tác.\n")
    early = read_article(write(tmp_path, "a.txt", body.format(d="12/1")), tmp_path)
    late = read_article(write(tmp_path, "b.txt", body.format(d="27/12")), tmp_path)
    assert early.date == "2024-01-12"
    assert late.date == "2023-12-27"


def test_html_article(tmp_path):
    html = """<html><head><title>Đoàn Thanh niên huyện Sơn Khê ra quân Mùa hè xanh 2023</title>
    <meta name="date" content="2023-07-02"></head><body>
    <nav><a href="/">Trang chủ</a> <a href="/tin">Tin tức</a></nav>
    <article><h1>Đoàn Thanh niên huyện Sơn Khê ra quân Mùa hè xanh 2023</h1>
    <p>Sáng ngày 2/7, Huyện đoàn Sơn Khê tổ chức lễ ra quân chiến dịch thanh niên tình nguyện
    hè năm 2023 với sự tham gia của hơn 300 đoàn viên thanh niên đến từ các xã, thị trấn.</p>
    <p>Trong chiến dịch, các đội hình tình nguyện sẽ sửa chữa 12 km đường giao thông nông thôn,
    trồng 5.000 cây xanh và tổ chức lớp học kỹ năng cho thiếu nhi trên địa bàn huyện.</p>
    </article><footer>Bản quyền thuộc UBND huyện (hư cấu, dùng cho kiểm thử)</footer></body></html>"""
    article = read_article(write(tmp_path, "web/mua_he.html", html), tmp_path)
    assert article.article_id == "web/mua_he"
    assert article.title == "Đoàn Thanh niên huyện Sơn Khê ra quân Mùa hè xanh 2023"
    assert article.date == "2023-07-02"
    assert article.place == "Sơn Khê"
    assert "trồng 5.000 cây xanh" in article.text
    assert "Trang chủ" not in article.text


_TONES = "\u0300\u0301\u0303\u0309\u0323"


def to_cp1258(text: str) -> bytes:
    """Encode as Windows-1258 does: precomposed vowels with the tone as a combining mark."""
    out = b""
    for ch in text:
        try:
            out += ch.encode("cp1258")
        except UnicodeEncodeError:
            parts = unicodedata.normalize("NFD", ch)
            tone = "".join(c for c in parts if c in _TONES)
            base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in _TONES))
            out += base.encode("cp1258") + tone.encode("cp1258")
    return out


def test_legacy_code_page_is_decoded(tmp_path):
    text = "Hội Cựu chiến binh huyện Sơn Khê tổng kết năm 2023\n\nNgày 9/12, Hội CCB họp.\n"
    raw = to_cp1258(text)
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    article = read_article(write(tmp_path, "cp.txt", raw), tmp_path)
    assert article.title == "Hội Cựu chiến binh huyện Sơn Khê tổng kết năm 2023"
    assert article.place == "Sơn Khê"
    assert article.date == "2023-12-09"


@pytest.mark.parametrize("data, reason", [
    (b"", "empty"),
    (b"   \n\n  ", "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary"),
    ("Trả lời\nloading....\nBài viết khác\n".encode(), "no usable text"),
])
def test_unusable_files_say_why(tmp_path, data, reason):
    path = write(tmp_path, "bad.txt", data)
    with pytest.raises(UnusableFile, match=reason):
        read_article(path, tmp_path)


def test_corpus_files_walks_subfolders_and_skips_hidden_and_other_types(tmp_path):
    for name in ("a.txt", "x/b.md", "x/y/c.html", ".hidden/d.txt", "e.pdf", "README.md"):
        write(tmp_path, name, "x")
    assert [p.relative_to(tmp_path).as_posix() for p in corpus_files(tmp_path)] == [
        "a.txt", "x/b.md", "x/y/c.html"]


def test_headline_found_among_banner_slogan_and_breadcrumb(tmp_path):
    # Fictional page shape: site name, slogan, breadcrumb, headline, dateline, body.
    page = ("Báo Vân Hồ điện tử - Cơ quan của Đảng bộ và Nhân dân thị xã Vân Hồ\n"
            "Vân Hồ - Đất lành chim đậu\n"
            "Tin tức > Đoàn thể\n\n"
            "Hội Cựu chiến binh thị xã Vân Hồ ra mắt mô hình nuôi cá lồng\n\n"
            "Cập nhật: 05/06/2023 08:15\n\n"
            "(Vân Hồ) – Sáng 4/6, Hội Cựu chiến binh thị xã Vân Hồ ra mắt mô hình nuôi cá lồng "
            "với 14 hội viên tham gia.\n\n"
            "Mô hình được hỗ trợ 120 triệu đồng vốn vay để mua giống cá và làm lồng nuôi.\n\n"
            "Lê Hưng\n")
    article = read_article(write(tmp_path, "van_ho.txt", page), tmp_path)
    assert article.title == "Hội Cựu chiến binh thị xã Vân Hồ ra mắt mô hình nuôi cá lồng"
    assert article.date == "2023-06-05"
    assert article.place == "Vân Hồ"
    assert article.source.startswith("Lê Hưng · Báo Vân Hồ điện tử")
    assert article.paragraphs[0].startswith("(Vân Hồ) – Sáng 4/6")
    assert not any("Đất lành" in p or "Tin tức" in p for p in article.paragraphs)


def test_short_opening_paragraphs_are_kept_as_body(tmp_path):
    # Fictional: the lead paragraphs are short and have no date opening.
    page = ("Hội Nông dân huyện Sơn Khê trao vốn cho hội viên\n\n"
            "Hội Nông dân huyện Sơn Khê vừa trao 2 tỷ đồng vốn vay cho 40 hội viên.\n\n"
            "Các hộ vay vốn sẽ đầu tư trồng chè và nuôi ong theo hướng hữu cơ.\n\n"
            "Hội viên cam kết trả nợ đúng hạn và chia sẻ kinh nghiệm cho hộ khác.\n")
    article = read_article(write(tmp_path, "von.txt", page), tmp_path)
    assert article.title == "Hội Nông dân huyện Sơn Khê trao vốn cho hội viên"
    assert len(article.paragraphs) == 3


@pytest.mark.parametrize("headline, place", [
    # Fictional headlines; the names end in words that are also unit words.
    ("Hội Nông dân huyện Châu Thành Tây tổng kết công tác Hội năm 2023", "Châu Thành Tây"),
    ("Thị đoàn thị xã Vân Phố ra quân chiến dịch tình nguyện hè", "Vân Phố"),
    ("Huyện ủy Đầm Khê tổ chức hội nghị học tập nghị quyết", "Đầm Khê"),
    ("Thị ủy Phú Lâm làm việc với Khối dân vận", "Phú Lâm"),
])
def test_place_names_keep_syllables_that_are_also_unit_words(tmp_path, headline, place):
    page = f"{headline}\n\nChiều ngày 12/12, {headline[:1].lower() + headline[1:]}.\n\nAn Nhiên\n"
    assert read_article(write(tmp_path, "a.txt", page), tmp_path).place == place


@pytest.mark.parametrize("opening, plans, date", [
    # Fictional: a year-end review held in January belongs to the next year ...
    ("Sáng ngày 5/1", "Năm 2024, Hội phấn đấu kết nạp 300 hội viên mới.", "2024-01-05"),
    # ... unless the text plans no next year, and never for a review held in December.
    ("Sáng ngày 5/1", "Hội khen thưởng 12 tập thể.", "2023-01-05"),
    ("Sáng ngày 27/12", "Năm 2024, Hội phấn đấu kết nạp 300 hội viên mới.", "2023-12-27"),
])
def test_review_meeting_in_january_takes_the_next_year(tmp_path, opening, plans, date):
    page = ("Hội Nông dân huyện Tùng Giang tổng kết công tác Hội năm 2023\n\n"
            f"{opening}, Hội Nông dân huyện Tùng Giang tổ chức hội nghị tổng kết công tác "
            "Hội năm 2023.\n\n"
            f"Năm 2023, các cấp Hội giải ngân 20 tỷ đồng vốn vay. {plans}\n\nAn Nhiên\n")
    assert read_article(write(tmp_path, "a.txt", page), tmp_path).date == date
