"""What a line of a scraped page is: furniture, banner, byline, caption, or text.

A scraped page is a list of lines.  Each line is recognised by what it is,
not by where it stands: page furniture (menus, breadcrumbs, banners,
share/like counters, footers), a publication-date line (dates.py), a byline,
a photo caption, or text.  Only text can be the headline (headline.py); a
sentence-like line is always kept as content, wherever it stands.  Position is
used once, for short non-sentences above the headline (see
`headline.choose_title`).
"""
from __future__ import annotations

import re

from .places import unit_named

TERMINAL = (".", "!", "?", "…", '."', ".”", ".)", "!”", '!"', "?”", '?"')

# Menus, share/like/print widgets, counters, comment prompts and the headings of
# "related articles" lists: short lines whose whole text is the widget.
_FURNITURE = re.compile(
    r"""^(
        trả\ lời | loading\.* | xuất\ bản\ thông\ tin | null | chi\ tiết\ bài\ viết.{0,30}
      | trang\ chủ | giới\ thiệu | liên\ hệ | tin\ tức | sự\ kiện | english | đăng\ nhập | tìm\ kiếm
      | sơ\ đồ\ (site|trang|cổng) | quay\ lại | trở\ về | về\ đầu\ trang | ý\ kiến\ bạn\ đọc
      | in\ bài(\ viết)? | bản\ in | print | chia\ sẻ.{0,30} | share.{0,20} | bình\ luận.{0,30}
      | (\d+\ )?lượt\ (xem|đọc|thích|truy\ cập).{0,20} | thích\ ?\d* | like\ ?\d* | tweet | facebook | zalo
      | e-?mail | font\ size.{0,20} | cỡ\ chữ.{0,20} | (a\ ?){2,3} | [-+]?a[-+]
      | gửi\ (email|bài|cho\ bạn\ bè|góp\ ý).{0,20} | lưu\ bài.{0,20} | đánh\ giá\ bài\ viết.{0,20}
      | \W*
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
# A "related articles" list follows these headings: its items are other pages' titles.
RELATED_HEADING = re.compile(
    r"""^(bài\ viết\ khác|các\ bài\ (viết\ )?khác|tin\ liên\ quan|bài\ viết\ liên\ quan|các\ tin\ khác
       |tin\ khác|tin\ cùng\ chuyên\ mục|xem\ thêm|tin\ mới(\ nhất)?|tin\ đọc\ nhiều(\ nhất)?)\W*$""",
    re.IGNORECASE | re.VERBOSE,
)
# Site footers: legal and contact lines, long or not.
_FOOTER = re.compile(
    r"^(bản quyền|©|copyright|cơ quan chủ quản|chịu trách nhiệm (chính|nội dung|xuất bản)"
    r"|giấy phép (số|xuất bản|thiết lập|hoạt động)|ghi rõ nguồn"
    r"|địa chỉ\s*:|điện thoại\s*:|fax\s*:|e-?mail\s*:|website\s*:|(tổng )?số lượt truy cập|đang truy cập"
    r"|đang trực tuyến)",
    re.IGNORECASE,
)
# A site banner names the portal and usually its district; "Chủ đề năm" lines are slogans.
_BANNER = re.compile(
    r"^((trang|cổng) (thông )?tin điện tử|báo (?!cáo\b).{2,40} điện tử|chào mừng đến|chủ đề (công tác )?năm)",
    re.IGNORECASE,
)
# "Tin tức > Đoàn thể", "Trang chủ | Giới thiệu": a breadcrumb or menu trail, not text.
# A breadcrumb may end in the page's own (long) headline: "Trang chủ > Tin tức > Headline".
_BREADCRUMB = re.compile(r"^[^.]{2,40}( [>»›|/] [^.]{2,40})+$"
                         r"|^[^.]{2,40}( [>»›] [^.>»›]{2,40})* [>»›] .{2,300}$")

# A byline names who wrote the page or took the photo: "• Tác giả: X", "Tin, ảnh: X".
_BYLINE = re.compile(
    r"^[•·*-]?\s*(tác giả|nguồn|tin\W{0,3}ảnh|bài\W{0,3}ảnh|tin và ảnh|bài và ảnh|người viết"
    r"|phóng viên|ảnh)\s*[:-]\s*(?P<who>[^|]+)",
    re.IGNORECASE,
)
# "Mai Thắm (Trung tâm TT&VH)", "Thu Hà - Hội LHPN huyện", "(BBT)", "(Theo Báo Lam Hạ)".
_AUTHOR_LINE = re.compile(
    r"^[A-ZÀ-ỸĐ][\w.]*(?:\s+[A-ZÀ-ỸĐ][\w.]*){0,4}\s*(\([^()]{2,80}\)|[-–]\s+[^.()]{2,60})?\s*$"
    r"|^\((?!(?i:còn nữa|còn tiếp|tiếp theo|hết))[^()]{2,80}\)$"
)
_SOURCE_HINT = re.compile(r"^(nguồn|theo|tác giả)\s*:?\s+", re.IGNORECASE)

# Photo captions describe a picture: never a headline.  Generic ones ("Quang cảnh
# hội nghị") say nothing a reader would search for and are dropped; informative
# ones ("Lãnh đạo Đoàn Thanh niên huyện báo cáo ...") stay as text.
_GENERIC_CAPTION = re.compile(
    r"^(toàn cảnh|quang cảnh|các đại biểu|đại biểu|các đồng chí lãnh đạo|ảnh)\b.{0,70}$",
    re.IGNORECASE,
)
# A caption opens on the picture ("Quang cảnh ...", "Các đại biểu dự ...") or shows a
# ceremony ("... tặng hoa ...", "... phát biểu tại ...").  "Đại biểu HĐND tỉnh tiếp xúc
# cử tri" and "Lãnh đạo huyện thăm, tặng quà ..." are headlines, so those stay out.
CAPTION = re.compile(
    r"^(toàn cảnh|quang cảnh|ảnh|hình ảnh)\b"
    r"|^(các )?(đại biểu|đồng chí)\b.{0,80}?\b(dự|về dự|tham dự|phát biểu|biểu quyết|tham quan|thảo luận"
    r"|chứng kiến|chụp ảnh)\b"
    r"|^.{0,120}\b(tặng hoa|chụp ảnh lưu niệm|phát biểu (tại|chỉ đạo|khai mạc|bế mạc|kết luận))"
    r"|\((ảnh|ảnh minh họa|ảnh minh hoạ)\b[^)]*\)$",
    re.IGNORECASE,
)

# The first paragraph of a news item usually opens with when it happened,
# sometimes behind a "(Đầm Hà) –" place tag.
LEAD_OPENING = re.compile(
    r"^(\([^)]{1,40}\)\s*[-–—:]?\s*)?"
    r"((sáng|chiều|tối|trưa|đêm)\s+(ngày\s+|nay\s+|qua\s+|hôm\s+nay\s+)?\d|ngày\s+\d|hôm\s+(nay|qua)"
    r"|vừa qua|mới đây|thực hiện\s)",
    re.IGNORECASE)


def is_sentence(line: str) -> bool:
    """A full sentence: ends like one and is long enough to say something."""
    return line.endswith(TERMINAL) and len(line.split()) >= 8


def is_prose(line: str) -> bool:
    """Content wherever it stands: a long line, a sentence, or a dated lead."""
    return len(line) >= 100 or is_sentence(line) or bool(LEAD_OPENING.match(line))


def is_banner(line: str) -> bool:
    """The site's name or yearly slogan (a sentence that opens the same way is text),
    or an organisation's name alone on its line ("HUYỆN ỦY HÒA LĨNH", "UBND huyện Hòa Lĩnh")."""
    if len(line) <= 60 and (name := unit_named(line)):
        words = name.split()
        return 1 <= len(words) <= 4 and all(w[:1].isupper() for w in words)
    return bool(_BANNER.match(line)) and not is_sentence(line)


def names_the_site(line: str) -> bool:
    """A portal's name or slogan ("Cổng thông tin điện tử huyện ..."): never an article's title."""
    return bool(_BANNER.match(line.strip()))


def is_furniture(line: str) -> bool:
    """Page furniture recognised by its own text (not by its position)."""
    if _FOOTER.match(line) or is_banner(line) or _BREADCRUMB.match(line):
        return True
    return not is_prose(line) and bool(_FURNITURE.match(line) or RELATED_HEADING.match(line))


def is_caption(line: str) -> bool:
    return not is_sentence(line) and bool(CAPTION.search(line))


def is_generic_caption(line: str) -> bool:
    """A caption that says nothing a reader would search for ("Quang cảnh hội nghị"): dropped."""
    return bool(_GENERIC_CAPTION.match(line)) and not is_sentence(line)


def byline_author(line: str) -> str | None:
    """The person a byline names ("• Tác giả: Lê Hưng | Cập nhật ..." -> "Lê Hưng")."""
    if len(line) > 120 or not (m := _BYLINE.match(line)):
        return None
    return m["who"].strip(" .") or None


def looks_like_author(line: str) -> bool:
    if len(line) > 90 or line.endswith((".", ":", ";", "!", "?")):
        return False
    return bool(_AUTHOR_LINE.match(line) or _SOURCE_HINT.match(line))


def author_of(line: str) -> str:
    """"(Theo Báo Lam Hạ)" -> "Báo Lam Hạ"; "Nguồn: X" -> "X"."""
    if line.startswith("(") and line.endswith(")"):
        line = line[1:-1]
    return _SOURCE_HINT.sub("", line)

