"""A page's text -> Article: boilerplate removal and citation metadata.

The rules every converter (retrieval/convert/) ends with, whatever the format:
raw scraped text (banner, headline, body, author line, footer), the body of a
front-matter file, or the main text trafilatura found in an HTML page.  The
title, date, place and source are inferred from the text unless the source
states them.  Each line is recognised by what it is (furniture, date line,
byline, caption, text), so prose is never lost for standing before a guessed
headline.

One module per job, read in this order by `parse_text`:
- lines.py: what a line is (furniture, banner, byline, caption, text);
- headline.py: the title (the headline line, the address's, or the lead's), with
  address.py: the words a page's address carries (search's query.py reads them too);
- dates.py: the date and where it came from;
- places.py: the administrative unit the article is about.

A page that cannot be used raises `UnusableFile` with a reason a person can act
on; the index build reports it and goes on with the rest.
"""
from __future__ import annotations

import re
from datetime import date

from ..textnorm import fold, normalize_space
from ..types import DATE_SOURCES, Article, UnusableFile
from .dates import beside_timestamp, date_claim, meta_date, publication_date
from .headline import address_headline, choose_title
from .lines import (
    RELATED_HEADING,
    author_of,
    byline_author,
    is_banner,
    is_furniture,
    is_generic_caption,
    is_prose,
    looks_like_author,
)
from .places import infer_place, site_name


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
        if RELATED_HEADING.match(line):
            in_related_list = True
        if publication_date(line) and not in_related_list:
            datelines.append(line)
            if author := byline_author(line.split("|")[0]):
                authors.append(author)  # "Tác giả: X | Cập nhật: 10:25 12/05/2024"
                continue
            line = beside_timestamp(line)
            if not line:
                continue
        elif author := byline_author(line):
            authors.append(author)
            continue
        if not (is_furniture(line) or (in_related_list and not is_prose(line))):
            texts.append(line)
    return texts, datelines, authors


def parse_text(text: str, article_id: str, meta: dict[str, str] | None = None,
               now: date | None = None) -> Article:
    """A raw scraped page (or a front-matter body) -> Article; `now` is when the page was
    read (today by default): no date after it is believed."""
    meta = meta or {}
    # "null Headline" is a scraping artefact of one portal: the headline behind a null.
    lines = [re.sub(r"^null\s+", "", line) for line in map(normalize_space, text.split("\n")) if line]
    banners = [line for line in lines if is_banner(line)]
    texts, datelines, authors = _sort_lines(lines)

    stand_in = None  # the title the page's text gave, when its address gave a better one
    if "title" in meta:
        title = headline = meta["title"]
        chrome: list[str] = []
    else:
        title, headline, chrome = choose_title(texts)
        if headline is None and (from_address := address_headline(meta.get("url"), texts)):
            stand_in, title = title, from_address
    # Only a headline found in the page is taken out of the text; a title made
    # from the lead (or a caption) leaves that line where it was.
    head_key = fold(headline).lower() if headline else None
    body_lines = [line for line in texts if line not in chrome and fold(line).lower() != head_key
                  and not is_generic_caption(line)]

    if body_lines and looks_like_author(body_lines[-1]):
        authors.append(author_of(body_lines.pop()))
    if not body_lines:
        raise UnusableFile("no usable text after removing banners and footers")
    body = "\n".join(body_lines)

    site = site_name(next((b for b in banners if not b.lower().startswith("chủ đề")), "")) or None
    source = meta.get("source") or " · ".join(x for x in (authors[:1] + [site]) if x) or None
    # A headline from the address lost its punctuation ("Năm Căn Hội nghị ..." reads as
    # one place name) and may name no year: the text's own stand-in is asked as before.
    when, date_source = date_claim(title or "", datelines, body, meta.get("url"),
                                   meta_date(meta.get("date")), now, "\n".join(chrome))
    if when is None and stand_in:
        when, date_source = date_claim(stand_in, datelines, body, meta.get("url"),
                                       meta_date(meta.get("date")), now, "\n".join(chrome))
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

