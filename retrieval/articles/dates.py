"""When an article was written: its date and where the date came from.

A page states its date in its metadata, on a publication-date line ("Cập nhật
lúc 08:30 ngày 12/5/2024"), in its address (/2024/05/12/), or only in its lead
("Sáng ngày 12/5, ..."), whose year the headline or the text implies.  Dates of
documents the text cites and foundings an anniversary celebrates are never the
article's; an undated page stays undated rather than wrongly dated
(`date_claim`, whose order of claims is the rule).
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta

from ..textnorm import YEAR, fold
from .lines import is_sentence

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
                       r"|(?<!\d)(20\d\d)(\d\d)(\d\d)(?:\d{4}|\d{6}|\d{8}|\d{9})?(?!\d)")


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


def publication_date(line: str) -> str | None:
    """The date a metadata line states, or None when the line is not one.

    Three shapes say "this page was published on": a labelled date ("Cập nhật
    lúc 08:30 ngày 12/5/2024", "Tác giả: X | Ngày đăng: 12/05/2024"), a line
    that is nothing but a date ("Thứ tư, 10/01/2024"), and a date with its
    clock time ("12/05/2024 08:30"), which body text never writes.
    """
    if len(line) > 120 or is_sentence(line):
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


def beside_timestamp(line: str) -> str:
    """The words a date line carries besides its date ("Headline 12/05/2024 08:30" ->
    "Headline"), or "" when it is all metadata (a label, weekday, date and time)."""
    if _PUBLISHED.search(line):
        return ""
    rest = re.sub(_WEEKDAY, "", _FULL_DATE.sub("", _TIMESTAMP.sub("", line)), flags=re.IGNORECASE)
    rest = rest.strip(" -–|,:()")
    return rest if len(re.findall(r"[^\W\d_]+", rest)) >= 5 else ""


def _url_date(url: str | None) -> str | None:
    """/2024/05/12/ or a yyyymmdd stamp in a page address (with its time to the minute,
    second or millisecond: hhmm, hhmmss, hhmmssxx, hhmmssmmm)."""
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
        if limits.allows(iso := publication_date(line), old_ok=True):
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



def meta_date(value: str | None) -> str | None:
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
