"""How well the page parser keeps prose and finds citations on a folder of pages (not a test).

    python benchmarks/parse_audit.py corpus/ [more folders ...] [-v]

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

-v lists each finding under its page.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

from retrieval.articles import (  # noqa: E402
    UnusableFile,
    corpus_files,
    decode,
    read_article,
    split_front_matter,
)
from retrieval.types import Article  # noqa: E402

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
PERSON_WORDS = r"(đồng chí|đ/c|ông|bà|anh|chị|cụ|em|cháu|thầy|cô)"
SITE_OR_FOOTER = re.compile(
    r"^((trang|cổng) (thông )?tin điện tử|báo |chủ đề |chào mừng|bản quyền|©|copyright)", re.IGNORECASE)


def page_lines(path: Path) -> list[str]:
    """The page's own lines (front matter left out), spaces normalised."""
    _, body = split_front_matter(decode(path.read_bytes()))
    return [" ".join(line.split()).removeprefix("null ") for line in body.split("\n")]


def findings(path: Path, article: Article) -> dict[str, str | None]:
    """What is wrong with one parsed page, per check (None when nothing)."""
    raw = decode(path.read_bytes())
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
    if path.suffix.lower() in (".txt", ".md"):
        kept = set(article.paragraphs) | {article.title}
        lost = [line for line in page_lines(path)
                if len(line) >= 100 and line not in kept and not SITE_OR_FOOTER.match(line)]
        if lost:
            out["long_lines_lost"] = f"{len(lost)}: " + " | ".join(line[:80] for line in lost)
    return out


def audit(folder: Path, verbose: bool) -> dict[str, int]:
    counts = {"pages": 0, "unusable": 0, "caption_titles": 0, "undated_but_shown": 0,
              "person_places": 0, "long_lines_lost": 0, "long_lines": 0, "sentence_titles": 0}
    for path in corpus_files(folder):
        try:
            article = read_article(path, folder)
        except UnusableFile as e:
            counts["unusable"] += 1
            if verbose:
                print(f"  {path.relative_to(folder)}: unusable ({e})")
            continue
        counts["pages"] += 1
        if path.suffix.lower() in (".txt", ".md"):
            counts["long_lines"] += sum(len(line) >= 100 for line in page_lines(path))
        for check, detail in findings(path, article).items():
            if detail is None:
                continue
            counts[check] += int(detail.split(":")[0]) if check == "long_lines_lost" else 1
            if verbose:
                print(f"  {path.relative_to(folder)}: {check}: {detail}")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("-v", "--verbose", action="store_true", help="list each finding")
    args = parser.parse_args()
    total: dict[str, int] = {}
    for folder in args.folders:
        counts = audit(folder, args.verbose)
        print(f"{folder}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
        for k, v in counts.items():
            total[k] = total.get(k, 0) + v
    if len(args.folders) > 1:
        print("total: " + ", ".join(f"{k}={v}" for k, v in total.items()))


if __name__ == "__main__":
    main()
