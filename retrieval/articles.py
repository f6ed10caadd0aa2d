"""Corpus files -> Articles: decoding, boilerplate removal and citation metadata.

Three kinds of file are read:
- raw scraped `.txt` pages (banner, headline, body, author line, footer); the
  title, date, place and source are inferred from the text;
- `.md`/`.txt` starting with a front-matter block (`---`, `key: value` lines,
  `---`); what it states wins over inference;
- `.html` pages, whose main text and metadata come from trafilatura.

A file that cannot be used raises `UnusableFile` with a reason a person can act
on; the index build reports it and goes on with the rest.
"""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from .textnorm import fold, nfc, normalize_space, syllables
from .types import Article

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm")
FRONT_MATTER_KEYS = ("title", "date", "place", "source", "url")


class UnusableFile(Exception):
    """The file has nothing we can index; the message says why."""


# ---------------------------------------------------------------- decoding

# Legacy Vietnamese pages were often saved as Windows-1258; cp1252 is the usual
# mislabel.  Both decode almost anything, so they come after strict UTF-8.
_LEGACY_ENCODINGS = ("cp1258", "cp1252")


def decode(data: bytes) -> str:
    """Bytes -> NFC text: UTF-8 first, then legacy Vietnamese code pages."""
    if not data.strip():
        raise UnusableFile("empty file")
    if b"\x00" in data[:4096]:
        raise UnusableFile("binary file (contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        for encoding in _LEGACY_ENCODINGS:
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise UnusableFile("cannot decode as UTF-8 or a Vietnamese legacy code page") from None
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\r\n\t\f")
    if controls > max(3, len(text) // 100):
        raise UnusableFile("binary file (control characters)")
    return nfc(text.replace("\r\n", "\n").replace("\r", "\n"))


# ---------------------------------------------------------------- front matter

def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """Read a leading `---` block of `key: value` lines.

    Deliberately not YAML: values here are plain Vietnamese text that often
    holds colons and quotes, which YAML would misread.
    """
    lines = text.lstrip("\ufeff").split("\n")
    if not lines or lines[0].strip() != "---":
        return {}, text
    for end in range(1, len(lines)):
        if lines[end].strip() == "---":
            break
    else:
        return {}, text
    meta: dict[str, str] = {}
    for line in lines[1:end]:
        key, sep, value = line.partition(":")
        if sep:
            value = value.strip().strip('"').strip("'").strip()
            if value:
                meta[key.strip().lower()] = value
    return meta, "\n".join(lines[end + 1:])


# ---------------------------------------------------------------- boilerplate

_BOILERPLATE = re.compile(
    r"""^(
        trả\ lời | loading\.*\ *|bài\ viết\ khác | xuất\ bản\ thông\ tin | null
      | chi\ tiết\ bài\ viết.* | tin\ tức | in\ bài\ viết | chia\ sẻ.* | bình\ luận
      | ý\ kiến\ bạn\ đọc | tin\ liên\ quan | các\ tin\ khác | xem\ thêm | quay\ lại
      | \d+\ lượt\ xem | lượt\ xem.* | \W*
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
# A site banner names the portal and usually its district.
_BANNER = re.compile(
    r"^((trang|cổng) (thông )?tin điện tử|báo .{2,40} điện tử|chào mừng đến|chủ đề (công tác )?năm)",
    re.IGNORECASE,
)
# "Tin tức > Đoàn thể": a breadcrumb trail, not text.
_BREADCRUMB = re.compile(r"^[^.]{2,40}( [>»›] [^.]{2,40})+$")
# The first body paragraph of a news item usually opens with when it happened,
# sometimes behind a "(Đầm Hà) –" place tag.
_BODY_OPENING = re.compile(
    r"^(\([^)]{1,40}\)\s*[-–—:]?\s*)?"
    r"((sáng|chiều|tối|trưa|đêm)\s+(ngày\s+|nay\s+)?\d|ngày\s+\d|hôm\s+(nay|qua)|vừa qua|mới đây)",
    re.IGNORECASE)
# Generic photo captions say nothing a reader would search for.
_GENERIC_CAPTION = re.compile(
    r"^(toàn cảnh|quang cảnh|các đại biểu|đại biểu|các đồng chí lãnh đạo|ảnh)\b.{0,70}$",
    re.IGNORECASE,
)
_WEEKDAY = r"(thứ (hai|ba|tư|năm|sáu|bảy|2|3|4|5|6|7)|chủ nhật)"
_DATELINE = re.compile(
    r"^((cập nhật|ngày đăng|đăng ngày|ngày cập nhật|thời gian)\s*:?\s*)?"  # label
    rf"({_WEEKDAY}\s*,?\s*)?(ngày\s*)?"  # weekday
    r"\d{1,2}[/.-]\d{1,2}[/.-]\d{4}"  # the date itself
    r"([\s,|-]+\d{1,2}:\d{2}(:\d{2})?\s*(am|pm|sa|ch)?)?$",  # time of publication
    re.IGNORECASE,
)


def _is_boilerplate(line: str) -> bool:
    return bool(_BOILERPLATE.match(line) or _BREADCRUMB.match(line))


def _is_body_like(line: str) -> bool:
    return (len(line) > 300 or bool(_BODY_OPENING.match(line))
            or (len(line) > 200 and line.endswith((".", "!", "?", "…"))))


def _split_header(lines: list[str]) -> tuple[str, list[str], list[str]]:
    """(headline, page chrome, remaining lines) of a raw scraped page.

    A page opens with chrome (site banner, slogan, breadcrumb), the headline
    and perhaps a dateline, then the body.  Among the first lines before the
    first body-like paragraph, the headline is the one whose words the body
    repeats most, a long sentence ending in a full stop counting as less
    headline-like.  Lines above the headline are chrome (kept to infer the
    place and the site name); lines below it stay in the body.
    """
    end = min(next((i for i, line in enumerate(lines) if _is_body_like(line)), len(lines)), 6)
    zone = [i for i in range(end) if not _DATELINE.match(lines[i])]
    if not zone:
        return "", [], lines
    body_words = {fold(w) for w in syllables(" ".join(lines[end:]))}

    def headline_score(i: int) -> float:
        words = [fold(w) for w in syllables(lines[i])]
        overlap = sum(w in body_words for w in words) / max(len(words), 1)
        sentence_like = len(lines[i]) > 160 and lines[i].endswith(".")
        return overlap - (0.3 if sentence_like else 0.0)

    best = max(zone, key=headline_score)  # max keeps the earliest of equals
    title = lines[best]
    chrome = [lines[i] for i in zone if i < best]
    datelines_above = [line for line in lines[:best] if _DATELINE.match(line)]
    return title, chrome, datelines_above + lines[best + 1:]


# ---------------------------------------------------------------- metadata inference

_FULL_DATE = re.compile(r"(?<!\d)(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?!\d)")
_DAY_MONTH = re.compile(r"\bngày\s+(\d{1,2})[/.-](\d{1,2})(?![/.-]?\d)", re.IGNORECASE)
_YEAR = re.compile(r"(?<!\d)(19[5-9]\d|20\d\d)(?!\d)")
_DATE_IN_BODY = re.compile(
    r"\bngày\s+(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{4}))?(?![/.-]?\d)", re.IGNORECASE
)

# Longest first: "Huyện ủy Đầm Hà" must not read as "huyện" + "Ủy Đầm Hà".
_UNIT = r"(?:huyện ủy|huyện uỷ|thành ủy|thành uỷ|thị ủy|thị uỷ|thị xã|thành phố|huyện|tỉnh|tp\.?)"
_NAME_SYLLABLE = r"[A-ZÀ-ỸĐ][a-zà-ỹđ]*"
_PLACE = re.compile(rf"\b{_UNIT}\s+((?:{_NAME_SYLLABLE})(?:\s+{_NAME_SYLLABLE}){{0,3}})", re.IGNORECASE)
# Banners are sometimes all lower case ("trang thông tin điện tử huyện gia viễn").
_PLACE_IN_BANNER = re.compile(rf"\b{_UNIT}\s+([^\d\W]+(?:\s+[^\d\W]+){{0,2}})\s*$", re.IGNORECASE)
_UNIT_WORDS = {"huyện", "thị", "xã", "thành", "phố", "tỉnh", "ủy", "uỷ", "tp"}

_AUTHOR_LINE = re.compile(
    r"^[A-ZÀ-ỸĐ][\w.]*(?:\s+[A-ZÀ-ỸĐ][\w.]*){0,4}\s*(\([^()]{2,80}\))?\s*$"
)
_SOURCE_HINT = re.compile(r"^(nguồn|theo|tác giả)\s*:?\s+", re.IGNORECASE)


def _valid_date(y: int, m: int, d: int) -> str | None:
    try:
        return date(y, m, d).isoformat()
    except ValueError:
        return None


def _year_for(day_month: tuple[int, int], headline: str, body: str) -> int | None:
    """Complete a dd/mm date with the year the headline (or else the text) implies.

    A headline such as "tổng kết năm 2023, nhiệm vụ năm 2024" names two
    years: a meeting early in the year reviews the year before and plans the
    current one, so early months take the later year and late months the
    earlier one.  The same holds for a headline naming only the year under
    review ("tổng kết công tác năm 2023") when the text plans the next one: a
    meeting on 5/1 is then in January 2024.
    """
    years = sorted({int(y) for y in _YEAR.findall(headline)})
    if (len(years) == 1 and day_month[1] <= 2 and "tong ket" in fold(headline).lower()
            and str(years[0] + 1) in _YEAR.findall(body)):
        return years[0] + 1
    if not years:
        counts: dict[int, int] = {}
        for y in _YEAR.findall(body):
            counts[int(y)] = counts.get(int(y), 0) + 1
        if not counts:
            return None
        top = max(counts.values())
        years = sorted(y for y, c in counts.items() if c == top)
    if len(years) == 1:
        return years[0]
    return years[-1] if day_month[1] <= 6 else years[0]


def infer_date(headline: str, lines: list[str], body: str) -> str | None:
    """The article's date: a dateline first, then the first dated event in the text."""
    for line in lines[:4]:
        if _DATELINE.match(line):
            m = _FULL_DATE.search(line)
            if m and (iso := _valid_date(int(m[3]), int(m[2]), int(m[1]))):
                return iso
    for m in _DATE_IN_BODY.finditer(body[:1500]):
        d, mo = int(m[1]), int(m[2])
        y = int(m[3]) if m[3] else _year_for((d, mo), headline, body)
        if y and (iso := _valid_date(y, mo, d)):
            return iso
    m = _FULL_DATE.search(body)
    if m:
        return _valid_date(int(m[3]), int(m[2]), int(m[1]))
    return None


def _clean_place(name: str) -> str | None:
    """"Ủy Đầm Hà" (from "Huyện ủy Đầm Hà") -> "Đầm Hà".  Only leading unit words go:
    "Châu Thành" and "Vân Phố" are names."""
    words = name.split()
    while words and words[0].lower() in _UNIT_WORDS:
        words.pop(0)
    if not words:
        return None
    return " ".join(w[:1].upper() + w[1:].lower() for w in words)


def infer_place(headline: str, banners: list[str], body: str) -> str | None:
    """The district/town/province the article is about: headline, then banner, then text."""
    # In an ALL-CAPS headline every word looks like a name, so it cannot say where a name ends.
    if not headline.isupper() and (m := _PLACE.search(headline)):
        if place := _clean_place(_first_capitalised_run(m[1])):
            return place
    for banner in banners:
        for pattern in (_PLACE, _PLACE_IN_BANNER):
            if m := pattern.search(banner):
                named = m[1] if pattern is _PLACE_IN_BANNER else _first_capitalised_run(m[1])
                if place := _clean_place(named):
                    return place
    counts: dict[str, int] = {}
    for m in _PLACE.finditer(body):
        if place := _clean_place(_first_capitalised_run(m[1])):
            counts[place] = counts.get(place, 0) + 1
    return max(counts, key=counts.get) if counts else None


def _first_capitalised_run(words: str) -> str:
    """Keep the leading words that start with a capital: "Đầm Hà tự hào" -> "Đầm Hà"."""
    run = []
    for w in words.split():
        if not w[:1].isupper():
            break
        run.append(w)
    return " ".join(run)


def _looks_like_author(line: str) -> bool:
    if len(line) > 90 or line.endswith((".", ":", ";", "!", "?")):
        return False
    return bool(_AUTHOR_LINE.match(line) or _SOURCE_HINT.match(line))


def _site_name(banner: str) -> str:
    """"Trang thông tin điện tử huyện gia viễn" -> "Trang thông tin điện tử huyện Gia Viễn"."""
    m = _PLACE_IN_BANNER.search(banner)
    if m and m[1].islower():
        return banner[: m.start(1)] + " ".join(w.capitalize() for w in m[1].split())
    return banner


# ---------------------------------------------------------------- raw text

def parse_text(text: str, article_id: str, meta: dict[str, str] | None = None) -> Article:
    """A raw scraped page (or a front-matter body) -> Article."""
    meta = meta or {}
    raw_lines = [normalize_space(line) for line in text.split("\n")]
    lines = [line for line in raw_lines if line]
    banners = [line for line in lines if _BANNER.match(line)]
    # "null Headline" is a scraping artefact of one portal: the headline behind a null.
    lines = [re.sub(r"^null\s+", "", line) for line in lines
             if not _is_boilerplate(line) and not _BANNER.match(line)]

    title = meta.get("title")
    if title is None:
        title, chrome, lines = _split_header(lines)
        banners += [line for line in chrome if line not in banners]
    # Drop the headline (and copies of it) and datelines from the body.
    head_key = fold(title).lower()
    body_lines = [line for line in lines if fold(line).lower() != head_key]
    datelines = [line for line in body_lines[:3] if _DATELINE.match(line)]
    body_lines = [line for line in body_lines if line not in datelines]

    author = None
    if body_lines and _looks_like_author(body_lines[-1]):
        author = _SOURCE_HINT.sub("", body_lines.pop())

    paragraphs = [line for line in body_lines if not _GENERIC_CAPTION.match(line)]
    if not paragraphs:
        raise UnusableFile("no usable text after removing banners and footers")
    body = "\n".join(paragraphs)

    site = _site_name(next((b for b in banners if not b.lower().startswith("chủ đề")), "")) or None
    source = meta.get("source") or " · ".join(x for x in (author, site) if x) or None
    return Article(
        article_id=article_id,
        title=title or paragraphs[0][:120],
        paragraphs=paragraphs,
        date=_meta_date(meta.get("date")) or infer_date(title, datelines + lines[:4], body),
        place=meta.get("place") or infer_place(title, banners, body),
        source=source,
        url=meta.get("url"),
    )


def _meta_date(value: str | None) -> str | None:
    """Front-matter dates: ISO (2024-01-10) or Vietnamese (10/01/2024)."""
    if not value:
        return None
    if m := re.match(r"^(\d{4})-(\d{1,2})-(\d{1,2})", value):
        return _valid_date(int(m[1]), int(m[2]), int(m[3]))
    if m := _FULL_DATE.search(value):
        return _valid_date(int(m[3]), int(m[2]), int(m[1]))
    return None


# ---------------------------------------------------------------- html

def parse_html(html: str, article_id: str) -> Article:
    """Main text and metadata through trafilatura; gaps filled by the raw-text rules."""
    import trafilatura  # imported here: it is slow to import and only HTML needs it

    doc = trafilatura.bare_extraction(html, with_metadata=True, include_comments=False,
                                      favor_precision=True)
    if doc is None or not (doc.text or "").strip():
        raise UnusableFile("no main text found in the HTML page")
    meta = {
        "title": doc.title,
        "date": doc.date,
        "source": " · ".join(x for x in (doc.author, doc.sitename) if x) or None,
        "url": doc.url,
    }
    text = nfc(doc.text)
    banners = [nfc(doc.sitename)] if doc.sitename else []
    article = parse_text(text, article_id, {k: nfc(v) for k, v in meta.items() if v})
    if not article.place:
        article.place = infer_place(article.title, banners, text)
    return article


# ---------------------------------------------------------------- entry point

def article_id_for(path: Path, corpus_dir: Path) -> str:
    return path.relative_to(corpus_dir).with_suffix("").as_posix()


def read_article(path: Path, corpus_dir: Path) -> Article:
    """Parse one corpus file; raises UnusableFile with the reason."""
    article_id = article_id_for(path, corpus_dir)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UnusableFile(f"cannot read: {e.strerror or e}") from None
    text = decode(data)
    if path.suffix.lower() in (".html", ".htm"):
        article = parse_html(text, article_id)
    else:
        meta, body = split_front_matter(text)
        article = parse_text(body, article_id, meta)
    article.path = path.relative_to(corpus_dir).as_posix()
    return article


def corpus_files(corpus_dir: Path) -> list[Path]:
    """Every supported file under the corpus folder (sub-folders too), hidden ones excluded."""
    return sorted(
        p for p in corpus_dir.rglob("*")
        if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(corpus_dir).parts)
        and p.name.lower() != "readme.md"
    )
