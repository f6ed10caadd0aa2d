"""A page's text -> Article: boilerplate removal and citation metadata.

The rules every converter (retrieval/convert/) ends with, whatever the format:
raw scraped text (banner, headline, body, author line, footer), the body of a
front-matter file, or the main text trafilatura found in an HTML page.  The
title, date, place and source are inferred from the text unless the source
states them.  Each line is recognised by what it is (furniture, date line,
byline, caption, text), so prose is never lost for standing before a guessed
headline.

A page that cannot be used raises `UnusableFile` with a reason a person can act
on; the index build reports it and goes on with the rest.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from urllib.parse import unquote, urlsplit

from .textnorm import SENTENCE_END, YEAR, fold, normalize_space, sentences, syllables
from .types import DATE_SOURCES, Article, UnusableFile
from .vocabulary import (
    MEMBER_TITLES,
    MIDDLE_NAMES,
    OFFICES,
    PAGE_PERSON_WORDS,
    PLACE_LIKE_SURNAMES,
    SURNAMES,
    UNIT_BODIES,
    UNIT_PATTERNS,
    UNIT_WORDS,
)

# ---------------------------------------------------------------- what a line is
#
# A scraped page is a list of lines.  Each line is recognised by what it is,
# not by where it stands: page furniture (menus, breadcrumbs, banners,
# share/like counters, footers), a publication-date line, a byline, a photo
# caption, or text.  Only text can be the headline; a sentence-like line is
# always kept as content, wherever it stands.  Position is used once, for
# short non-sentences above the headline (see _choose_title).

_TERMINAL = (".", "!", "?", "…", '."', ".”", ".)", "!”", '!"', "?”", '?"')

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
_RELATED_HEADING = re.compile(
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
_CAPTION = re.compile(
    r"^(toàn cảnh|quang cảnh|ảnh|hình ảnh)\b"
    r"|^(các )?(đại biểu|đồng chí)\b.{0,80}?\b(dự|về dự|tham dự|phát biểu|biểu quyết|tham quan|thảo luận"
    r"|chứng kiến|chụp ảnh)\b"
    r"|^.{0,120}\b(tặng hoa|chụp ảnh lưu niệm|phát biểu (tại|chỉ đạo|khai mạc|bế mạc|kết luận))"
    r"|\((ảnh|ảnh minh họa|ảnh minh hoạ)\b[^)]*\)$",
    re.IGNORECASE,
)

# The first paragraph of a news item usually opens with when it happened,
# sometimes behind a "(Đầm Hà) –" place tag.
_LEAD_OPENING = re.compile(
    r"^(\([^)]{1,40}\)\s*[-–—:]?\s*)?"
    r"((sáng|chiều|tối|trưa|đêm)\s+(ngày\s+|nay\s+|qua\s+|hôm\s+nay\s+)?\d|ngày\s+\d|hôm\s+(nay|qua)"
    r"|vừa qua|mới đây|thực hiện\s)",
    re.IGNORECASE)


def _is_sentence(line: str) -> bool:
    """A full sentence: ends like one and is long enough to say something."""
    return line.endswith(_TERMINAL) and len(line.split()) >= 8


def _is_prose(line: str) -> bool:
    """Content wherever it stands: a long line, a sentence, or a dated lead."""
    return len(line) >= 100 or _is_sentence(line) or bool(_LEAD_OPENING.match(line))


def _is_banner(line: str) -> bool:
    """The site's name or yearly slogan (a sentence that opens the same way is text),
    or an organisation's name alone on its line ("HUYỆN ỦY HÒA LĨNH", "UBND huyện Hòa Lĩnh")."""
    if len(line) <= 60 and (m := _ORG_NAME.match(line)):
        words = m["name"].split()
        return 1 <= len(words) <= 4 and all(w[:1].isupper() for w in words)
    return bool(_BANNER.match(line)) and not _is_sentence(line)


def names_the_site(line: str) -> bool:
    """A portal's name or slogan ("Cổng thông tin điện tử huyện ..."): never an article's title."""
    return bool(_BANNER.match(line.strip()))


def _is_furniture(line: str) -> bool:
    """Page furniture recognised by its own text (not by its position)."""
    if _FOOTER.match(line) or _is_banner(line) or _BREADCRUMB.match(line):
        return True
    return not _is_prose(line) and bool(_FURNITURE.match(line) or _RELATED_HEADING.match(line))


def _is_caption(line: str) -> bool:
    return not _is_sentence(line) and bool(_CAPTION.search(line))


def _byline_author(line: str) -> str | None:
    """The person a byline names ("• Tác giả: Lê Hưng | Cập nhật ..." -> "Lê Hưng")."""
    if len(line) > 120 or not (m := _BYLINE.match(line)):
        return None
    return m["who"].strip(" .") or None


def _looks_like_author(line: str) -> bool:
    if len(line) > 90 or line.endswith((".", ":", ";", "!", "?")):
        return False
    return bool(_AUTHOR_LINE.match(line) or _SOURCE_HINT.match(line))


def _author_of(line: str) -> str:
    """"(Theo Báo Lam Hạ)" -> "Báo Lam Hạ"; "Nguồn: X" -> "X"."""
    if line.startswith("(") and line.endswith(")"):
        line = line[1:-1]
    return _SOURCE_HINT.sub("", line)


# ---------------------------------------------------------------- dates

_NUMERIC_DATE = r"(?<!\d)(\d{1,2})\s*[/.-]\s*(\d{1,2})\s*[/.-]\s*(\d{4})(?!\d)"
_WORDED_DATE = r"(?<!\d)(\d{1,2})\s+tháng\s+(\d{1,2})\s*(?:năm|,|/)\s*(\d{4})(?!\d)"
_ISO_DATE = r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)"
_FULL_DATE = re.compile(rf"{_NUMERIC_DATE}|{_WORDED_DATE}|{_ISO_DATE}", re.IGNORECASE)
_TIME = r"\d{1,2}\s*[:h]\s*\d{2}(?::\d{2})?\s*(?:am|pm|sa|ch|gmt\s*\+\s*7)?"
_WEEKDAY = r"(thứ\s+(hai|ba|tư|năm|sáu|bảy|2|3|4|5|6|7)|chủ\s+nhật)"
# Words that announce a publication date: "Cập nhật", "Ngày đăng", "Đăng lúc" ...
_PUBLISHED = re.compile(
    r"\b(cập nhật|ngày đăng|đăng ngày|đăng lúc|ngày cập nhật|ngày xuất bản|xuất bản|thời gian đăng"
    r"|posted|published|updated)\b",
    re.IGNORECASE,
)
# What may surround a date on a line that is nothing but a date(+time).
_DATE_DRESSING = re.compile(rf"{_TIME}|{_WEEKDAY}|\bngày\b|\blúc\b|\bgmt\b|[\W\d_]", re.IGNORECASE)
_TIMESTAMP = re.compile(rf"({_NUMERIC_DATE})\s*[-,|]?\s*(lúc\s*)?{_TIME}|{_TIME}\s*[-,|]?\s*(ngày\s*)?"
                        rf"({_NUMERIC_DATE})", re.IGNORECASE)

# A date of the event in the lead: "Sáng nay 12/5", "Chiều ngày 30/3/2022", "Ngày 3/4 vừa qua".
_EVENT_DATE = re.compile(
    r"\b(?:(?:sáng|chiều|tối|trưa|đêm)(?:\s+(?:nay|qua|hôm\s+nay|hôm\s+qua|ngày))?|ngày|hôm\s+nay)"
    r"\s*\(?\s*(\d{1,2})\s*(?:[/.-]|\s+tháng\s+)(\d{1,2})(?:\s*(?:[/.-]|,?\s*năm\s+)(\d{4}))?(?![/.-]?\d)",
    re.IGNORECASE,
)
# A document cited in the body ("Kế hoạch số 12-KH/HND, ngày 5/3/2024", "Quyết định
# 123/QĐ-UBND ngày ...") carries its own date, which is never the article's.
_DOC_CODE = r"\d+(?:/\d+)*\s*[-–/]\s*(?-i:[A-ZĐ]{1,8}(?:\s*[-/]\s*[A-ZĐ]{1,10})*)"
_DOC_KIND = (r"kế hoạch|nghị quyết|quyết định|chỉ thị|công văn|thông báo|hướng dẫn|kết luận|thông tư"
             r"|nghị định|quy định|tờ trình|luật|văn bản|quy chế|đề án")
_CITED_BEFORE = re.compile(
    rf"(?:{_DOC_CODE}|\bsố\s+\S+|\b(?:{_DOC_KIND}))\s*[,:;]?\s*"
    r"(?:(?:được\s+)?(?:ban hành|ký|phê duyệt)\s*)?(?:ngày\s*)?$",
    re.IGNORECASE,
)
_URL_DATE = re.compile(r"/((?:19|20)\d\d)[/-](\d{1,2})[/-](\d{1,2})(?=[/_.-]|$)"
                       r"|(?<!\d)(20\d\d)(\d\d)(\d\d)(?:\d{4}|\d{6}|\d{8})?(?!\d)")


def _valid_date(y: int, m: int, d: int) -> str | None:
    try:
        return date(y, m, d).isoformat()
    except ValueError:
        return None


def _full_date_iso(m: re.Match) -> str | None:
    """An ISO date from a _FULL_DATE match (day-month-year or year-month-day)."""
    g = m.groups()
    if g[0]:
        return _valid_date(int(g[2]), int(g[1]), int(g[0]))
    if g[3]:
        return _valid_date(int(g[5]), int(g[4]), int(g[3]))
    return _valid_date(int(g[6]), int(g[7]), int(g[8]))


def _publication_date(line: str) -> str | None:
    """The date a metadata line states, or None when the line is not one.

    Three shapes say "this page was published on": a labelled date ("Cập nhật
    lúc 08:30 ngày 12/5/2024", "Tác giả: X | Ngày đăng: 12/05/2024"), a line
    that is nothing but a date ("Thứ tư, 10/01/2024"), and a date with its
    clock time ("12/05/2024 08:30"), which body text never writes.
    """
    if len(line) > 120 or _is_sentence(line):
        return None
    m = _FULL_DATE.search(line)
    if not m:
        return None
    only_a_date = not _DATE_DRESSING.sub("", _FULL_DATE.sub("", line))
    if _PUBLISHED.search(line) or only_a_date:
        return _full_date_iso(m)
    if t := _TIMESTAMP.search(line):
        return next(_full_date_iso(d) for d in _FULL_DATE.finditer(t[0]))
    return None


def _beside_timestamp(line: str) -> str:
    """The words a date line carries besides its date ("Headline 12/05/2024 08:30" ->
    "Headline"), or "" when it is all metadata (a label, weekday, date and time)."""
    if _PUBLISHED.search(line):
        return ""
    rest = re.sub(_WEEKDAY, "", _FULL_DATE.sub("", _TIMESTAMP.sub("", line)), flags=re.IGNORECASE)
    rest = rest.strip(" -–|,:()")
    return rest if len(re.findall(r"[^\W\d_]+", rest)) >= 5 else ""


def _url_date(url: str | None) -> str | None:
    """/2024/05/12/ or a yyyymmdd stamp in a page address."""
    for m in _URL_DATE.finditer(url or ""):
        y, mo, d = (m[1], m[2], m[3]) if m[1] else (m[4], m[5], m[6])
        if iso := _valid_date(int(y), int(mo), int(d)):
            return iso
    return None


# Two years joined by a dash.  A term ("nhiệm kỳ 2024-2029", "giai đoạn 2021-2025",
# "khóa X, 2020-2025") never completes a date: a congress opens its term, so the first
# year is the only one it can lend, and only when nothing better exists.  A school or
# crop year ("năm học 2021-2022") lends both years, as two years in a headline do.
# Around "kỷ niệm N năm" the range is an anniversary: founding year - this year.
_YEAR_RANGE = re.compile(r"(?<![\d/.-])((?:19|20)\d\d)\s*[-–—]\s*((?:19|20)\d\d)(?![\d/.-]?\d)")
_TERM_WORDS = re.compile(r"(nhiệm\s+k[ỳì]|giai\s+đoạn|kh[óo]á|thời\s+k[ỳì]|\bnk\b)[^.;\n]{0,24}$",
                         re.IGNORECASE)
_DATE_RANGE = re.compile(rf"{_NUMERIC_DATE}\s*[-–—]\s*{_NUMERIC_DATE}")
# "kỷ niệm 94 năm", "92 năm Ngày thành lập", "30 năm Ngày truyền thống".
_ANNIVERSARY = re.compile(
    r"k[ỷỉ]\s+niệm\s+(\d{1,3})\s+năm"
    r"|(?<!\d)(\d{1,3})\s+năm\s+(?:ngày\s+)?(?:thành\s+lập|truyền\s+thống|ra\s+đời)",
    re.IGNORECASE)
_FOUNDED = re.compile(r"(?:thành\s+lập|ra\s+đời)\W+(?:\S+\s+){0,4}?(?:\d{1,2}\s*[/.-]\s*\d{1,2}\s*[/.-]\s*)?"
                      r"((?:18|19|20)\d\d)(?!\d)", re.IGNORECASE)


class _Years:
    """What the years of a text can say about when it was written: its single years, the
    terms it names and the anniversaries it celebrates, each founding year set apart."""

    def __init__(self, text: str) -> None:
        self.founding: set[int] = set()
        self.celebrated: list[int] = []  # the anniversary's own year: later end, or founding + N
        self.term_starts: list[int] = []
        self.spans: list[tuple[int, int]] = []  # where ranges stand: their years are not single
        counts = {int(n) for m in _ANNIVERSARY.finditer(text) for n in m.groups() if n}
        for m in _DATE_RANGE.finditer(text):
            d1, m1, y1, d2, m2, y2 = map(int, m.groups())
            if (d1, m1) == (d2, m2) and y2 > y1:
                self._anniversary(y1, y2, m.span())
        for m in _YEAR_RANGE.finditer(text):
            y1, y2 = int(m[1]), int(m[2])
            if y2 - y1 in counts:
                self._anniversary(y1, y2, m.span())
            elif _TERM_WORDS.search(text[max(0, m.start() - 40):m.start()]) or y2 - y1 >= 2:
                self.term_starts.append(y1)
                self.spans.append(m.span())
        if counts and not self.celebrated:
            found = {int(m[1]) for m in _FOUNDED.finditer(text)}
            self.founding |= found
            self.celebrated += sorted({y + n for y in found for n in counts})
        self.single = [int(m[0]) for m in YEAR.finditer(text) if int(m[0]) not in self.founding
                       and not any(a <= m.start() < b for a, b in self.spans)]

    def _anniversary(self, founded: int, year: int, span: tuple[int, int]) -> None:
        self.founding.add(founded)
        self.celebrated.append(year)
        self.spans.append(span)

    def founding_date(self, text: str, m: re.Match) -> bool:
        """Is this full date the founding an anniversary celebrates, or a range's first end?"""
        year = int(next(g for g in (m.group(3), m.group(6), m.group(7)) if g))
        before = text[max(0, m.start() - 40):m.start()]
        return (year in self.founding
                or bool(re.search(r"(thành\s+lập|ra\s+đời)\W+(\S+\s+){0,4}$", before, re.IGNORECASE))
                or bool(re.match(r"\s*[-–—]\s*\d{1,2}\s*[/.-]\s*\d{1,2}\s*[/.-]\s*\d{4}", text[m.end():])))


def _year_for(day_month: tuple[int, int], headline: str, body: str) -> list[int]:
    """The years that may complete a dd/mm date, the one the headline implies first.

    A headline such as "tổng kết năm 2023, nhiệm vụ năm 2024" names two
    years: a meeting early in the year reviews the year before and plans the
    current one, so early months take the later year and late months the
    earlier one.  The same holds for a headline naming only the year under
    review ("tổng kết công tác năm 2023") when the text plans the next one: a
    meeting on 5/1 is then in January 2024.  Then the year an anniversary
    celebrates, the text's most frequent year, and last the first year of a term
    the headline (else the text) names.  A founding year or a term's end never
    completes a date ("Ngày 1/4, ... nhiệm kỳ 2024-2029" is not 01/04/2029).
    """
    head, text = _Years(headline), _Years(body)
    years = sorted(set(head.single) | set(head.celebrated))
    found: list[int] = []
    if (len(years) == 1 and day_month[1] <= 2 and "tong ket" in fold(headline).lower()
            and years[0] + 1 in text.single):
        found.append(years[0] + 1)
    if len(years) >= 2:
        found += [years[-1], years[0]] if day_month[1] <= 6 else [years[0], years[-1]]
    found += years + sorted(set(text.celebrated), reverse=True)
    counts: dict[int, int] = {}
    for y in text.single:
        counts[y] = counts.get(y, 0) + 1
    if counts:
        top = max(counts.values())
        tied = sorted(y for y, c in counts.items() if c == top)
        found += [tied[-1], tied[0]] if day_month[1] <= 6 else tied
    found += sorted(set(head.term_starts), reverse=True) + sorted(set(text.term_starts), reverse=True)
    return list(dict.fromkeys(found))


def _is_cited(text: str, start: int) -> bool:
    """Does the date at `start` belong to a document the text cites?"""
    return bool(_CITED_BEFORE.search(text[max(0, start - 80):start]))


def _without_cited_dates(body: str) -> str:
    """The text with cited documents' dates blanked, so their years cannot complete
    the event's date ("Sáng nay 12/5, ... Nghị quyết ... ngày 27/11/2023")."""
    return _FULL_DATE.sub(lambda m: " " * len(m[0]) if _is_cited(body, m.start()) else m[0], body)


class _Limits:
    """Which dates can be an article's: none after the moment the page was read (with a
    day's slack: a portal's clock may run ahead), and none before 2000 unless the page's
    own metadata or date line states it."""

    def __init__(self, now: date | None) -> None:
        self.latest = (now or date.today()) + timedelta(days=1)

    def allows(self, iso: str | None, old_ok: bool = False) -> bool:
        if not iso:
            return False
        if len(iso) == 4:
            return (old_ok or iso >= "2000") and int(iso) <= self.latest.year
        return (old_ok or iso >= "2000") and iso <= self.latest.isoformat()


def _event_dates(headline: str, body: str, above: str = "") -> Iterator[str]:
    """The dates of what the lead reports (the headline first, the short lines above the
    headline last: a scraped lead may be cut into such lines), their year completed;
    never a cited document's nor the founding an anniversary celebrates."""
    text = f"{headline}\n{body[:1500]}\n{above}"
    years = _Years(text)
    uncited = _without_cited_dates(body)
    for m in _EVENT_DATE.finditer(text):
        if _is_cited(text, m.start()):
            continue
        d, mo = int(m[1]), int(m[2])
        if m[3]:
            if (full := _FULL_DATE.match(text, m.start(1))) and years.founding_date(text, full):
                continue
            candidates = [int(m[3])]
        else:
            candidates = _year_for((d, mo), headline, uncited)
        yield from filter(None, (_valid_date(y, mo, d) for y in candidates))


def _text_dates(body: str) -> Iterator[str]:
    """Full dates written anywhere in the text, save cited documents' and foundings."""
    years = _Years(body)
    for m in _FULL_DATE.finditer(body):
        if not _is_cited(body, m.start()) and not years.founding_date(body, m) and (iso := _full_date_iso(m)):
            yield iso


def date_claim(headline: str, lines: list[str], body: str, url: str | None = None,
               meta_date: str | None = None, now: date | None = None,
               above: str = "") -> tuple[str | None, str | None]:
    """(the article's date, where it came from), or (None, None): the page is undated
    rather than wrongly dated.

    In order: the page's metadata ("meta"), its own publication-date line
    ("dateline"), a date in its URL ("url"), the lead's event date, its year
    completed if need be ("lead"), the year an anniversary it celebrates falls
    in ("anniversary", year only), a full date elsewhere in the text ("text"),
    and the one year the headline names ("headline-year", year only).  Each
    claim must pass `_Limits`; one that does not leaves the decision to the next.
    """
    limits = _Limits(now)
    if limits.allows(meta_date, old_ok=True):
        return meta_date, "meta"
    for line in lines:
        if limits.allows(iso := _publication_date(line), old_ok=True):
            return iso, "dateline"
    if limits.allows(iso := _url_date(url)):
        return iso, "url"
    for iso in _event_dates(headline, body, above):
        if limits.allows(iso):
            return iso, "lead"
    years = _Years(f"{headline}\n{body}")
    for year in sorted(set(years.celebrated), reverse=True):
        if limits.allows(str(year)):
            return str(year), "anniversary"
    for iso in _text_dates(body):
        if limits.allows(iso):
            return iso, "text"
    single = set(_Years(_without_cited_dates(headline)).single)
    if len(single) == 1 and limits.allows(year := str(single.pop())):
        return year, "headline-year"
    return None, None


def infer_date(headline: str, lines: list[str], body: str, url: str | None = None,
               now: date | None = None) -> str | None:
    """The article's date alone (see `date_claim`)."""
    return date_claim(headline, lines, body, url, now=now)[0]


# ---------------------------------------------------------------- places

# The unit words, bodies, offices and names these rules read are the vocabulary's;
# UNIT_PATTERNS go from the level a citation wants most (the district or town) to the least.
_NAME_SYLLABLE = r"[A-ZÀ-ỸĐ][a-zà-ỹđ]*"
_ANY_UNIT = "|".join(UNIT_PATTERNS)  # any unit word, as the place patterns spell them
_ORG_NAME = re.compile(
    rf"^(({UNIT_BODIES})\s+)?"
    rf"(?:{_ANY_UNIT})(?P<name>.+)$",
    re.IGNORECASE)
_NAMED = rf"((?:{_NAME_SYLLABLE})(?:\s+{_NAME_SYLLABLE}){{0,3}})"
_PLACE_LEVELS = tuple(re.compile(rf"\b(?:{unit}){_NAMED}", re.IGNORECASE) for unit in UNIT_PATTERNS)
# Banners are sometimes all lower case ("trang thông tin điện tử huyện gia viễn").
_BANNER_PLACE_LEVELS = tuple(re.compile(rf"\b(?:{unit})([^\d\W]+(?:\s+[^\d\W]+){{0,2}})\s*$", re.IGNORECASE)
                             for unit in UNIT_PATTERNS)

# A person is named after these words ("đồng chí Lê Văn A", "bà Trần Thị B") ...
_PERSON_WORD = re.compile(
    rf"\b(?:{'|'.join(PAGE_PERSON_WORDS)})\s+(\w+(?:\s+\w+){{1,3}})",
    re.IGNORECASE)
# ... and often right after an office and its unit: "Bí thư Huyện ủy Nguyễn Văn A".
_OFFICE_BEFORE = re.compile(
    rf"\b({'|'.join(OFFICES + MEMBER_TITLES)})(\s+({UNIT_BODIES}))?\s*$",
    re.IGNORECASE)


def _first_capitalised_run(words: str) -> str:
    """Keep the leading words that start with a capital: "Đầm Hà tự hào" -> "Đầm Hà"."""
    run = []
    for w in words.split():
        if not w[:1].isupper():
            break
        run.append(w)
    return " ".join(run)


def _clean_place(name: str) -> str | None:
    """"Ủy Đầm Hà" (from "Huyện ủy Đầm Hà") -> "Đầm Hà".  Only leading unit words go:
    "Châu Thành" and "Vân Phố" are names."""
    words = name.split()
    # "Tỉnh Đoàn Vĩnh Long" is the province's Youth Union: the place is what follows.
    while words and (words[0].lower() in UNIT_WORDS or words[0].lower() == "đoàn" and len(words) >= 3):
        words.pop(0)
    if not words:
        return None
    return " ".join(w[:1].upper() + w[1:].lower() for w in words)


def _people(text: str) -> set[str]:
    """Names that follow a person word anywhere in the page."""
    return {run for m in _PERSON_WORD.finditer(text)
            if len((run := _first_capitalised_run(m[1])).split()) >= 2}


def _is_person(name: str, text: str, at: int, people: set[str]) -> bool:
    """Is the name after a unit word in fact a person (the place can never be one)?"""
    words = name.split()
    if any(p == name or p.startswith(name + " ") or name.startswith(p + " ") for p in people):
        return True
    if len(words) >= 3 and words[1] in MIDDLE_NAMES:
        # Unless the page keeps naming it as a unit: districts are named after
        # people too ("huyện Trần Văn Thời", five times in its MTTQ report).
        return len(re.findall(rf"\b(?:{_ANY_UNIT}){re.escape(name)}\b", text,
                              re.IGNORECASE)) < 3
    return (words[0] in SURNAMES and words[0] not in PLACE_LIKE_SURNAMES
            and bool(_OFFICE_BEFORE.search(text[max(0, at - 40):at])))


def _places_in(pattern: re.Pattern, text: str, people: set[str]) -> list[str]:
    """Every administrative unit name the pattern finds in the text, persons left out."""
    found = []
    for m in pattern.finditer(text):
        run = _first_capitalised_run(m[1])
        if run and not _is_person(run, text, m.start(), people) and (place := _clean_place(run)):
            found.append(place)
    return found


def infer_place(headline: str, banners: list[str], body: str) -> str | None:
    """The unit the article is about: at the first level any source names (district or
    town, then province, then commune), the headline's, else a banner's, else the one the
    text names most.  A name after a unit word that belongs to a person never counts."""
    people = _people(f"{headline}\n{body}")
    # In an ALL-CAPS headline every word looks like a name, so it cannot say where a name ends.
    head = "" if headline.isupper() else headline
    # A name runs on into the next capitalised words ("huyện Năm Căn Tôn Nữ Hương
    # Giang phát biểu"): where the page also names a shorter place that starts it,
    # that one is meant.
    # Each level's names in the headline, each banner and the body, read once.
    levels = [[_places_in(pattern, text, people) for text in (head, *banners, body)]
              for pattern in _PLACE_LEVELS]
    named = {p for level in levels for found in level for p in found}

    def shortest(place: str) -> str:
        return min((p for p in named if place.startswith(p + " ") and " " in p), key=len, default=place)

    for (in_head, *in_banners, in_body), in_banner in zip(levels, _BANNER_PLACE_LEVELS, strict=True):
        if in_head:
            return shortest(in_head[0])
        for banner, found in zip(banners, in_banners, strict=True):
            if found:
                return shortest(found[0])
            if (m := in_banner.search(banner)) and (place := _clean_place(m[1])):
                return place
        counts: dict[str, int] = {}
        for place in map(shortest, in_body):
            counts[place] = counts.get(place, 0) + 1
        if counts:
            return max(counts, key=counts.get)
    return None


# ---------------------------------------------------------------- headline

_BULLETS = ("•", "·", "*", "- ")  # a list item or a section's sub-heading, never the headline


def _headline_shaped(line: str) -> bool:
    """Four words or more, one sentence at most, not opening like a lead nor a list item;
    a long one has no full stop."""
    return (not _LEAD_OPENING.match(line) and not _is_caption(line) and len(line.split()) >= 4
            and not line.startswith(_BULLETS) and not (line[0] == "(" and line[-1] == ")")
            and not (line.endswith(_TERMINAL) and _CAPTION.search(line))
            and len(line) <= 400
            and not SENTENCE_END.search(line)
            and (len(line) <= 200 or not line.endswith(_TERMINAL)))


def _opens_body(line: str) -> bool:
    """The lead paragraph: opens with when it happened, or is more than one sentence."""
    return bool(_LEAD_OPENING.match(line)) or len(line) > 400 or bool(SENTENCE_END.search(line))


def _find_headline(texts: list[str]) -> int | None:
    """Index of the headline among a page's text lines, or None when it has none.

    The headline comes before the lead: among the headline-shaped lines there,
    it is the one whose words the body repeats most.  A headline written as a
    sentence (some portals end it with a full stop) counts only when the lead
    follows it directly and no line without a full stop is there to choose;
    elsewhere such a line is text (a summary, a lead).  Rarely the lead comes
    first and the headline right after it: that line has no full stop and the
    body repeats most of its words.
    """
    lead = next((i for i, line in enumerate(texts) if _opens_body(line)), len(texts))
    zone = [i for i in range(min(lead, 6)) if _headline_shaped(texts[i])
            and (not texts[i].endswith(_TERMINAL) or i + 1 == lead < len(texts))]
    zone = [i for i in zone if not texts[i].endswith(_TERMINAL)] or zone
    after_lead = not zone
    if after_lead:
        zone = [i for i in range(lead + 1, min(lead + 3, len(texts)))
                if _headline_shaped(texts[i]) and not texts[i].endswith(_TERMINAL)
                and not _looks_like_author(texts[i])]
    if not zone:
        return None

    def overlap(i: int) -> float:
        rest = texts[lead:] if i < lead < len(texts) else texts[:i] + texts[i + 1:]
        body_words = {fold(w) for w in syllables(" ".join(rest))}
        words = [fold(w) for w in syllables(texts[i])]
        return sum(w in body_words for w in words) / max(len(words), 1)

    best = max(zone, key=overlap)  # max keeps the earliest of equals
    if after_lead and overlap(best) < 0.6:
        return None
    return best


def _lead_title(lead: str, limit: int = 150) -> str:
    """A title made from the lead: its first sentence, shortened at a word boundary."""
    lead = re.sub(r"^\([^)]{1,40}\)\s*[-–—:]\s*", "", lead)
    first, *rest = sentences(lead)
    sentence = re.sub(r"[.!?…][\"”)]?$", "", first) if rest else first  # a title needs no full stop
    if len(sentence) <= limit:
        return sentence
    return sentence[:limit].rsplit(" ", 1)[0].rstrip(",;:–- ") + " …"


# ---------------------------------------------------------------- headline from the address
#
# Many portals write the headline into the page's address ("/trao-nha-mai-am-cong-doan-
# tai-huyen-giong-trom-22092020-a78189.html"), without diacritics.  When the page's text
# has no headline line, the address's words spelled as the page spells them are the real
# headline, where the lead or a photo caption would be a stand-in.

_SLUG_SPLIT = re.compile(r"[-_+.]+")
_SLUG_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")  # .html, .aspx, ".337" (an id)
_YEAR_WORD = re.compile(r"(?:19|20)\d\d")
# "năm 2019" in an address: before a year, "nam" is the word for year.
_NAM_BEFORE_YEAR = ("nam", "năm")


def _is_slug_id(word: str, at_end: bool) -> bool:
    """A record number or stamp around the words: "a78189", "22092020", "6439967"; at the
    end a 4-digit number that is no year ("-4747.html") too."""
    if not word.isdigit():
        return not word.isalpha()
    return len(word) >= 5 or (at_end and len(word) == 4 and not _YEAR_WORD.fullmatch(word))


def _slug_words(url: str | None) -> list[str]:
    """The words of a page address's last segment when they can spell a headline (four
    words or more, letters and short numbers only), else []."""
    segments = [s for s in urlsplit(url or "").path.split("/") if s]
    if not segments:
        return []
    words = [w for w in _SLUG_SPLIT.split(_SLUG_EXTENSION.sub("", unquote(segments[-1]))) if w]
    while words and _is_slug_id(words[0], at_end=False):
        words.pop(0)
    while words and _is_slug_id(words[-1], at_end=True):
        words.pop()
    if not all((w.isascii() and w.isalpha()) or (w.isdigit() and len(w) <= 4) for w in words):
        return []
    return [w.lower() for w in words] if sum(w.isalpha() for w in words) >= 4 else []


_PAIRS = {"(": ")", "“": "”", "[": "]"}


def _closed(text: str, start: int, end: int) -> str:
    """text[start:end], with the bracket or quotation mark it opens closed when the text
    closes it right after ("nhà “Mái ấm Công đoàn" -> "nhà “Mái ấm Công đoàn”"), else
    without the unmatched opening mark."""
    span = text[start:end]
    for opening, closing in _PAIRS.items():
        if span.count(opening) > span.count(closing):
            if text[end:end + 1] == closing:
                span += closing
            else:
                cut = span.rfind(opening)
                span = (span[:cut] + span[cut + 1:]).replace("  ", " ")
    return span


def _spell_as_page(words: list[str], text: str) -> tuple[list[str], int]:
    """(the words as the page writes them, how many the page spelled).  Only runs of two
    words or more are looked up, and copied as the page writes them ("4,03", "Covid-19",
    quotes); one syllable alone ("dong": đồng, động, đông) is ambiguous.  Numbers stand
    as they are, "nam" before a year is "năm"; a word the page does not spell stays as
    the address writes it."""
    matches = list(re.finditer(r"\w+", text))
    folded = [fold(m[0]).lower() for m in matches]
    at: dict[str, list[int]] = {}
    for k, f in enumerate(folded):
        at.setdefault(f, []).append(k)
    out: list[str] = []
    spelled = i = 0
    while i < len(words):
        run = next(((j, k) for j in range(len(words), i + 1, -1) for k in at.get(words[i], ())
                    if folded[k:k + j - i] == words[i:j]), None)
        if run:
            j, k = run
            span = _closed(text, matches[k].start(), matches[k + j - i - 1].end())
            out += [span] if not re.search(r"[\n.!?;:]\s", span) else [m[0] for m in matches[k:k + j - i]]
            spelled += j - i
            i = j
            continue
        word = words[i]
        if word.isdigit() or (word == _NAM_BEFORE_YEAR[0] and i + 1 < len(words)
                              and _YEAR_WORD.fullmatch(words[i + 1])):
            word = word if word.isdigit() else _NAM_BEFORE_YEAR[1]
            spelled += 1
        out.append(word)
        i += 1
    return out, spelled


def _address_headline(url: str | None, texts: list[str]) -> str | None:
    """The headline the page's address carries, spelled as the page spells it, for a page
    with no headline line; None unless the page spells every word of it (a headline half
    without diacritics would misquote the page)."""
    words = _slug_words(url)
    if not words:
        return None
    spelled, known = _spell_as_page(words, "\n".join(texts))
    if known < len(words):
        return None
    title = " ".join(spelled)
    return title[:1].upper() + title[1:]


# ---------------------------------------------------------------- raw text

def _choose_title(texts: list[str]) -> tuple[str, str | None, list[str]]:
    """(title, the headline line it is or None, furniture lines above the headline).

    The headline when the page has one; else the lead sentence, shortened; a
    photo caption only when the page has nothing else.  Short non-sentences
    above the headline (or, with none, above the lead) are the site's furniture:
    slogans, section names, menu items.  Sentences there are content.
    """
    captions = [line for line in texts if _is_caption(line)]
    candidates = [line for line in texts if not _is_caption(line)]
    if not candidates:
        return (captions[0] if captions else ""), None, []
    best = _find_headline(candidates)
    prose = [line for line in candidates if _opens_body(line) or _is_prose(line)]
    # A lead title is never a caption written as a sentence ("Các đại biểu chụp ảnh lưu niệm ...").
    top = candidates[best] if best is not None else next(
        (line for line in prose if not _CAPTION.search(line)), prose[0] if prose else candidates[0])
    furniture = [line for line in texts[:texts.index(top)] if not _is_prose(line)]
    if best is None:
        return _lead_title(top), None, furniture
    return top, top, furniture


def _site_name(banner: str) -> str:
    """"Trang thông tin điện tử huyện gia viễn" -> "Trang thông tin điện tử huyện Gia Viễn"."""
    m = next(filter(None, (p.search(banner) for p in _BANNER_PLACE_LEVELS)), None)
    if m and m[1].islower():
        return banner[: m.start(1)] + " ".join(w.capitalize() for w in m[1].split())
    return banner


def _sort_lines(lines: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(text lines, publication-date lines, authors named in bylines), in page order.

    Furniture goes; so do the items of a "related articles" list, which are
    other pages' titles and dates, unless one is a sentence.
    """
    texts: list[str] = []
    datelines: list[str] = []
    authors: list[str] = []
    in_related_list = False
    for line in lines:
        if _RELATED_HEADING.match(line):
            in_related_list = True
        if _publication_date(line) and not in_related_list:
            datelines.append(line)
            if author := _byline_author(line.split("|")[0]):
                authors.append(author)  # "Tác giả: X | Cập nhật: 10:25 12/05/2024"
                continue
            line = _beside_timestamp(line)
            if not line:
                continue
        elif author := _byline_author(line):
            authors.append(author)
            continue
        if not (_is_furniture(line) or (in_related_list and not _is_prose(line))):
            texts.append(line)
    return texts, datelines, authors


def parse_text(text: str, article_id: str, meta: dict[str, str] | None = None,
               now: date | None = None) -> Article:
    """A raw scraped page (or a front-matter body) -> Article; `now` is when the page was
    read (today by default): no date after it is believed."""
    meta = meta or {}
    # "null Headline" is a scraping artefact of one portal: the headline behind a null.
    lines = [re.sub(r"^null\s+", "", line) for line in map(normalize_space, text.split("\n")) if line]
    banners = [line for line in lines if _is_banner(line)]
    texts, datelines, authors = _sort_lines(lines)

    stand_in = None  # the title the page's text gave, when its address gave a better one
    if "title" in meta:
        title = headline = meta["title"]
        chrome: list[str] = []
    else:
        title, headline, chrome = _choose_title(texts)
        if headline is None and (from_address := _address_headline(meta.get("url"), texts)):
            stand_in, title = title, from_address
    # Only a headline found in the page is taken out of the text; a title made
    # from the lead (or a caption) leaves that line where it was.
    head_key = fold(headline).lower() if headline else None
    body_lines = [line for line in texts if line not in chrome and fold(line).lower() != head_key
                  and not (_GENERIC_CAPTION.match(line) and not _is_sentence(line))]

    if body_lines and _looks_like_author(body_lines[-1]):
        authors.append(_author_of(body_lines.pop()))
    if not body_lines:
        raise UnusableFile("no usable text after removing banners and footers")
    body = "\n".join(body_lines)

    site = _site_name(next((b for b in banners if not b.lower().startswith("chủ đề")), "")) or None
    source = meta.get("source") or " · ".join(x for x in (authors[:1] + [site]) if x) or None
    # A headline from the address lost its punctuation ("Năm Căn Hội nghị ..." reads as
    # one place name) and may name no year: the text's own stand-in is asked as before.
    when, date_source = date_claim(title or "", datelines, body, meta.get("url"),
                                   _meta_date(meta.get("date")), now, "\n".join(chrome))
    if when is None and stand_in:
        when, date_source = date_claim(stand_in, datelines, body, meta.get("url"),
                                       _meta_date(meta.get("date")), now, "\n".join(chrome))
    if date_source == "meta" and meta.get("date_source") in DATE_SOURCES:
        date_source = meta["date_source"]  # a fetched page's front matter keeps where its date came from
    return Article(
        article_id=article_id,
        title=title or body_lines[0][:120],
        paragraphs=body_lines,
        date=when,
        date_source=date_source,
        place=meta.get("place") or infer_place(stand_in or title or "", banners + chrome, body)
        or (infer_place(title, banners + chrome, body) if stand_in else None),
        source=source,
        url=meta.get("url"),
    )


def _meta_date(value: str | None) -> str | None:
    """Front-matter dates: ISO (2024-01-10), Vietnamese (10/01/2024) or a year alone (2024)."""
    if not value:
        return None
    if re.fullmatch(r"(19|20)\d\d", value.strip()):
        return value.strip()
    if m := re.match(r"^(\d{4})-(\d{1,2})-(\d{1,2})", value):
        return _valid_date(int(m[1]), int(m[2]), int(m[3]))
    if m := _FULL_DATE.search(value):
        return _full_date_iso(m)
    return None
