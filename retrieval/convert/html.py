"""`.html` files and fetched portal pages -> Article: one converter for both.

trafilatura finds the main text and the markup's metadata (title, date, author,
site name); the raw-page rules of articles/ do the rest, so a page gets the
same Vietnamese rules (headline, place, dates without a year) whether an admin
dropped it in the corpus or the fetcher brought it.

Dates come only from the markup (meta tags, <time>, the URL): htmldate's
extensive search turns a bare "năm 2024" into 1 January, whereas the text's
"ngày 5/3" with the year the headline implies is what the articles/ rules
read.  When the page's title is only the site's name, the headline is in the
text: a recall-oriented extraction keeps it, and the raw-page rules pick it out
from captions and banners.
"""
from __future__ import annotations

from datetime import date
from pathlib import Path

from ..articles import parse_text
from ..articles.lines import names_the_site
from ..articles.places import infer_place
from ..textnorm import fold, nfc
from ..types import Article, UnusableFile
from .decode import decode, meta_charset, read_source

NO_TEXT = "no article text on the page"


def _trusted_title(title: str | None, sitename: str | None) -> bool:
    """A page title worth keeping: not missing, not the site's name or banner (old portals
    put the site name in <title> and the headline in a styled span)."""
    if not title or names_the_site(title):
        return False
    return not (sitename and fold(title).lower().strip() == fold(sitename).lower().strip())


def _extract(html: str, url: str | None):
    """(trafilatura's document or None, the title worth keeping or None)."""
    import trafilatura  # slow to import: only HTML needs it

    options = {"url": url, "with_metadata": True, "include_comments": False,
               "date_extraction_params": {"extensive_search": False, "original_date": True}}
    doc = trafilatura.bare_extraction(html, favor_precision=True, **options)
    title = doc.title if doc else None
    if doc is None or not (doc.text or "").strip() or not _trusted_title(title, doc.sitename):
        doc = trafilatura.bare_extraction(html, favor_recall=True, **options) or doc
        title = title if doc and _trusted_title(title, doc.sitename) else None
    return doc, title


def to_article(source: bytes | Path, article_id: str, *, url: str | None = None,
               charset: str | None = None, now: date | None = None, min_chars: int = 1) -> Article:
    """An HTML page (path or bytes) -> Article.  `url` is where it was fetched from,
    `charset` what its HTTP header declared (else its <meta charset> is read), `now` when
    it was read; a page with less article text than `min_chars` raises UnusableFile."""
    data = read_source(source)
    doc, title = _extract(decode(data, charset or meta_charset(data)), url)
    if doc is None or len((doc.text or "").strip()) < min_chars:
        raise UnusableFile(NO_TEXT)
    meta = {"title": title, "date": doc.date, "url": url or doc.url,
            "source": " · ".join(x for x in (doc.author, doc.sitename) if x) or None}
    text = nfc(doc.text)
    article = parse_text(text, article_id, {k: nfc(v) for k, v in meta.items() if v}, now)
    if not article.place:
        article.place = infer_place(article.title, [nfc(doc.sitename)] if doc.sitename else [], text)
    if sum(len(p) for p in article.paragraphs) < min_chars:
        raise UnusableFile(NO_TEXT)
    return article
