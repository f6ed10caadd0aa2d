"""How well the page parser keeps prose and finds citations on a folder of pages (not a test).

    python -m benchmarks.parse_audit corpus/ [more folders ...] [--realdev FILE] [-v] [--dump FILE]

Why: issue 8 measured, on pages the project had never seen, titles that were
photo captions, pages without a date although one was shown, a person's name
as the place, and long paragraphs dropped.  This runs the parser over any
folder (sub-folders too) and prints those counts, so the figure can be taken
again on a new corpus.  Its checks are written here, apart from the parser's
own rules, so that a parser rule cannot excuse its own mistake:

- caption_titles: the title opens like a photo caption or byline ("Quang cảnh",
  "Các đại biểu", "• Tác giả:", "Ảnh:") or describes a photo ("tặng hoa",
  "chụp ảnh lưu niệm", "phát biểu tại");
- undated_but_shown: no date although the page shows dd/mm/yyyy, "d tháng m năm
  yyyy", or a day/month after "ngày"/"sáng"/"chiều"/... ;
- person_places: the place is written right after a person word ("đồng chí",
  "ông", "bà", ...) somewhere in the page;
- long_lines_lost: lines of 100+ characters of a .txt/.md page that are neither
  a paragraph nor the title (site names and copyright footers excepted).  HTML
  pages are skipped for this one: their lines are trafilatura's, not the file's.
  The issue counts a line that became the title as kept, so a lead taken for the
  headline is not "lost"; hence also
- sentence_titles: titles of 100+ characters ending in a full stop that are not
  also a paragraph.  A lead mistaken for the headline shows here, and so does a
  headline some portal writes as a sentence (look with -v): an upper bound.

Dates (issue 18), each page's date checked against its own text:

- future_dates: a date later than the audit's day (plus one day);
- before_2000: a date before 2000;
- founding_dates: the date is the first end of a range ("3/2/1930 - 3/2/2024") or
  follows "thành lập"/"ra đời" in the page, or its year plus the N of an
  anniversary ("kỷ niệm 94 năm", "92 năm ngày thành lập") is written in the page;
- undated_lead_date: no date although the lead (the first 400 characters of
  title and text: scraped lines may cut the lead anywhere) states a full date
  (dd/mm/yyyy or "d tháng m năm yyyy") that is
  not a cited document's ("Kế hoạch số 149/KH-MTTQ, ngày 28/3/2018") nor before 2000.

The date findings are always listed under their page, the others with -v.
`--realdev FILE` reads a JSON-lines file of pages (`{"id","url","title","text"}`,
as in ../shared/realdev/articles.jsonl) the way the product reads a fetched page:
the URL as front matter, title, date and place inferred.  `--dump FILE` writes
{id: [date, date_source]} for every page, to list the pages whose date a change moved.
"""
from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

from retrieval.articles import parse_text
from retrieval.convert import corpus_files, read_article
from retrieval.convert.decode import decode
from retrieval.convert.text import split_front_matter
from retrieval.types import Article, UnusableFile

CAPTION_TITLE = re.compile(
    r"^([•·*]|tác giả\b|ảnh\s*:|quang cảnh|toàn cảnh|các đại biểu|đại biểu\b|các đồng chí\b)"
    r"|tặng hoa|chụp ảnh lưu niệm|phát biểu (tại|chỉ đạo)",
    re.IGNORECASE,
)
DATE_SHOWN = re.compile(
    r"(?<!\d)\d{1,2}[/.-]\d{1,2}[/.-](19|20)\d\d(?!\d)"
    r"|\b(ngày|sáng|chiều|tối|trưa|đêm)\s+(nay\s+|qua\s+)?\d{1,2}/\d{1,2}\b"
    r"|\b\d{1,2} tháng \d{1,2} năm (19|20)\d\d\b",
    re.IGNORECASE,
)
FULL_DATE_SHOWN = re.compile(r"(?<!\d)\d{1,2}\s*[/.-]\s*\d{1,2}\s*[/.-]\s*(19|20)\d\d(?!\d)"
                             r"|\b\d{1,2} tháng \d{1,2},? năm (19|20)\d\d\b", re.IGNORECASE)
ANNIVERSARY_YEARS = re.compile(r"\b(\d{1,3}) năm (ngày )?"
                               r"(thành lập|truyền thống|ra đời|chiến thắng|giải phóng)"
                               r"|kỷ niệm (\d{1,3}) năm", re.IGNORECASE)
PERSON_WORDS = r"(đồng chí|đ/c|ông|bà|anh|chị|cụ|em|cháu|thầy|cô)"
SITE_OR_FOOTER = re.compile(
    r"^((trang|cổng) (thông )?tin điện tử|báo |chủ đề |chào mừng|bản quyền|©|copyright)", re.IGNORECASE)
# "Kế hoạch số 149/KH-MTTQ, ngày 28/3/2018": the date of a document the page cites, not of its event.
CITED = re.compile(r"(\bsố\b|\d/[A-ZĐ]|kế hoạch|nghị quyết|quyết định|chỉ thị|công văn|thông báo)"
                   r"[^.;]{0,50}$",
                   re.IGNORECASE)
DATE_CHECKS = ("future_dates", "before_2000", "founding_dates", "undated_lead_date")


def normalised_lines(text: str) -> list[str]:
    """A page's lines, spaces normalised and the one portal's "null " artefact removed."""
    return [" ".join(line.split()).removeprefix("null ") for line in text.split("\n")]


def page_lines(path: Path) -> list[str]:
    """The page's own lines (front matter left out), spaces normalised."""
    return normalised_lines(split_front_matter(decode(path.read_bytes()))[1])


def _written_forms(iso: str) -> list[str]:
    """The ways a page writes a day: 03/02/1930, 3/2/1930, 3-2-1930, 3.2.1930."""
    y, m, d = iso.split("-")
    return [f"{dd}{sep}{mm}{sep}{y}" for dd in {d, d.lstrip("0")} for mm in {m, m.lstrip("0")}
            for sep in "/-."]


def founding_date(raw: str, iso: str) -> str | None:
    """Why the date looks like the founding date an anniversary page celebrates, or None."""
    for form in _written_forms(iso) if len(iso) == 10 else []:
        for m in re.finditer(rf"(?<!\d){re.escape(form)}(?!\d)", raw):
            if re.match(r"\s*[-–—]\s*\d{1,2}[/.-]\d{1,2}[/.-]\d{4}", raw[m.end():]):
                return f"first end of a range at {form}"
            if re.search(r"(thành lập|ra đời)\W+(\S+\s+){0,4}$", raw[max(0, m.start() - 60):m.start()],
                         re.IGNORECASE):
                return f"after 'thành lập' at {form}"
    year = int(iso[:4])
    for m in ANNIVERSARY_YEARS.finditer(raw):
        n = int(m[1] or m[4])
        if n and str(year + n) in raw and year + n != year:
            return f"{m[0]!r} and {year + n} in the page"
    return None


def date_findings(raw: str, article: Article, today: date) -> dict[str, str | None]:
    """What is wrong with a page's date, per date check (None when nothing)."""
    when = article.date
    source = getattr(article, "date_source", None)
    out: dict[str, str | None] = dict.fromkeys(DATE_CHECKS)
    shown = f"{when} ({source})" if source else str(when)
    if when and when[:10] > (today + timedelta(days=1)).isoformat():
        out["future_dates"] = shown
    if when and when[:4] < "2000":
        out["before_2000"] = shown
    if when and (why := founding_date(raw, when)):
        out["founding_dates"] = f"{shown}: {why}"
    lead = " ".join([article.title] + article.paragraphs)[:400]
    stated = [m for m in FULL_DATE_SHOWN.finditer(lead) if m[0][-4:] >= "2000"  # 2/9/1945 is history
              and not CITED.search(lead[max(0, m.start() - 60):m.start()])]
    if when is None and stated:
        out["undated_lead_date"] = f"{stated[0][0]} in {lead[:80]!r}"
    return out


def findings(raw: str, lines: list[str] | None, article: Article, today: date) -> dict[str, str | None]:
    """What is wrong with one parsed page, per check (None when nothing).

    `lines` are the page's own lines, or None when they are not the parser's input (HTML)."""
    out: dict[str, str | None] = {
        "caption_titles": article.title if CAPTION_TITLE.search(article.title) else None,
        "undated_but_shown": None,
        "person_places": None,
        "long_lines_lost": None,
        "sentence_titles": None,
    }
    if article.date is None and (m := DATE_SHOWN.search(raw)):
        out["undated_but_shown"] = m[0]
    if article.place and re.search(rf"\b{PERSON_WORDS}\s+{re.escape(article.place)}\b", raw, re.IGNORECASE):
        out["person_places"] = article.place
    if (len(article.title) >= 100 and article.title.endswith((".", '."', ".”"))
            and article.title not in article.paragraphs):
        out["sentence_titles"] = article.title[:100]
    if lines is not None:
        kept = set(article.paragraphs) | {article.title}
        lost = [line for line in lines
                if len(line) >= 100 and line not in kept and not SITE_OR_FOOTER.match(line)]
        if lost:
            out["long_lines_lost"] = f"{len(lost)}: " + " | ".join(line[:80] for line in lost)
    return out | date_findings(raw, article, today)


Page = tuple[str, str, "list[str] | None", "Article | UnusableFile"]


def folder_pages(folder: Path) -> Iterator[Page]:
    """(name, raw text, own lines or None, Article or the reason it is unusable) per file."""
    for path in corpus_files(folder):
        name = str(path.relative_to(folder))
        try:
            article = read_article(path, folder)
        except UnusableFile as e:
            yield name, "", None, e
            continue
        raw = decode(path.read_bytes())
        yield name, raw, page_lines(path) if path.suffix.lower() in (".txt", ".md") else None, article


def realdev_pages(jsonl: Path) -> Iterator[Page]:
    """Pages of a realdev-style JSON-lines file, read as the product reads a fetched page."""
    if jsonl.is_dir():
        jsonl = jsonl / "articles.jsonl"
    for line in jsonl.read_text("utf-8").splitlines():
        if not line.strip():
            continue
        page = json.loads(line)
        text = decode(f"---\nurl: {page['url']}\n---\n{page['text']}\n".encode())
        meta, body = split_front_matter(text)
        try:
            article: Article | UnusableFile = parse_text(body, page["id"], meta)
        except UnusableFile as e:
            article = e
        yield page["id"], body, normalised_lines(body), article


def audit(pages: Iterator[Page], verbose: bool, today: date, dump: dict | None = None) -> dict[str, int]:
    counts = {"pages": 0, "unusable": 0, "caption_titles": 0, "undated_but_shown": 0,
              "person_places": 0, "long_lines_lost": 0, "long_lines": 0, "sentence_titles": 0}
    counts |= dict.fromkeys(DATE_CHECKS, 0)
    for name, raw, lines, article in pages:
        if isinstance(article, UnusableFile):
            counts["unusable"] += 1
            if verbose:
                print(f"  {name}: unusable ({article})")
            continue
        counts["pages"] += 1
        if dump is not None:
            dump[article.article_id] = [article.date, getattr(article, "date_source", None)]
        if lines is not None:
            counts["long_lines"] += sum(len(line) >= 100 for line in lines)
        for check, detail in findings(raw, lines, article, today).items():
            if detail is None:
                continue
            counts[check] += int(detail.split(":")[0]) if check == "long_lines_lost" else 1
            if verbose or check in DATE_CHECKS:
                print(f"  {name}: {check}: {detail}")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument("--realdev", type=Path, action="append", default=[],
                        help="a JSON-lines file of pages (or a folder holding articles.jsonl)")
    parser.add_argument("-v", "--verbose", action="store_true", help="list each finding")
    parser.add_argument("--dump", type=Path, help="write {id: [date, date_source]} as JSON here")
    args = parser.parse_args()
    if not args.folders and not args.realdev:
        parser.error("give a folder or --realdev FILE")
    today = date.today()
    dump: dict | None = {} if args.dump else None
    sets = ([(str(f), folder_pages(f)) for f in args.folders]
            + [(str(f), realdev_pages(f)) for f in args.realdev])
    total: dict[str, int] = {}
    for name, pages in sets:
        counts = audit(pages, args.verbose, today, dump)
        print(f"{name}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
        for k, v in counts.items():
            total[k] = total.get(k, 0) + v
    if len(sets) > 1:
        print("total: " + ", ".join(f"{k}={v}" for k, v in total.items()))
    if args.dump:
        args.dump.write_text(json.dumps(dump, ensure_ascii=False, indent=1, sort_keys=True), "utf-8")


if __name__ == "__main__":
    main()
