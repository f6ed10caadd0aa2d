"""An article's title: the headline line among the page's text, else one its address
spells, else the lead's first sentence (a photo caption only when nothing else is there).

The line rules (what is a caption, a lead, an author line) are lines.py's.
"""
from __future__ import annotations

import re

from ..textnorm import SENTENCE_END, fold, sentences, syllables
from .address import YEAR_WORD, headline_words
from .lines import CAPTION, LEAD_OPENING, TERMINAL, is_caption, is_prose, looks_like_author

_BULLETS = ("•", "·", "*", "- ")  # a list item or a section's sub-heading, never the headline


def _headline_shaped(line: str) -> bool:
    """Four words or more, one sentence at most, not opening like a lead nor a list item;
    a long one has no full stop."""
    return (not LEAD_OPENING.match(line) and not is_caption(line) and len(line.split()) >= 4
            and not line.startswith(_BULLETS) and not (line[0] == "(" and line[-1] == ")")
            and not (line.endswith(TERMINAL) and CAPTION.search(line))
            and len(line) <= 400
            and not SENTENCE_END.search(line)
            and (len(line) <= 200 or not line.endswith(TERMINAL)))


def _opens_body(line: str) -> bool:
    """The lead paragraph: opens with when it happened, or is more than one sentence."""
    return bool(LEAD_OPENING.match(line)) or len(line) > 400 or bool(SENTENCE_END.search(line))


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
            and (not texts[i].endswith(TERMINAL) or i + 1 == lead < len(texts))]
    zone = [i for i in zone if not texts[i].endswith(TERMINAL)] or zone
    after_lead = not zone
    if after_lead:
        zone = [i for i in range(lead + 1, min(lead + 3, len(texts)))
                if _headline_shaped(texts[i]) and not texts[i].endswith(TERMINAL)
                and not looks_like_author(texts[i])]
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
# headline, where the lead or a photo caption would be a stand-in.  Which words an
# address carries is address.py's; here they are spelled as the page spells them.

# "năm 2019" in an address: before a year, "nam" is the word for year.
_NAM_BEFORE_YEAR = ("nam", "năm")

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
                              and YEAR_WORD.fullmatch(words[i + 1])):
            word = word if word.isdigit() else _NAM_BEFORE_YEAR[1]
            spelled += 1
        out.append(word)
        i += 1
    return out, spelled


def address_headline(url: str | None, texts: list[str]) -> str | None:
    """The headline the page's address carries, spelled as the page spells it, for a page
    with no headline line; None unless the page spells every word of it (a headline half
    without diacritics would misquote the page)."""
    words = headline_words(url)
    if not words:
        return None
    spelled, known = _spell_as_page(words, "\n".join(texts))
    if known < len(words):
        return None
    title = " ".join(spelled)
    return title[:1].upper() + title[1:]



def choose_title(texts: list[str]) -> tuple[str, str | None, list[str]]:
    """(title, the headline line it is or None, furniture lines above the headline).

    The headline when the page has one; else the lead sentence, shortened; a
    photo caption only when the page has nothing else.  Short non-sentences
    above the headline (or, with none, above the lead) are the site's furniture:
    slogans, section names, menu items.  Sentences there are content.
    """
    captions = [line for line in texts if is_caption(line)]
    candidates = [line for line in texts if not is_caption(line)]
    if not candidates:
        return (captions[0] if captions else ""), None, []
    best = _find_headline(candidates)
    prose = [line for line in candidates if _opens_body(line) or is_prose(line)]
    # A lead title is never a caption written as a sentence ("Các đại biểu chụp ảnh lưu niệm ...").
    top = candidates[best] if best is not None else next(
        (line for line in prose if not CAPTION.search(line)), prose[0] if prose else candidates[0])
    furniture = [line for line in texts[:texts.index(top)] if not is_prose(line)]
    if best is None:
        return _lead_title(top), None, furniture
    return top, top, furniture

