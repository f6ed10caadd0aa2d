"""How each front end shows text: its tags, its escaping, its message limit, its buttons.

Each text is built from plain pieces through a `Markup`: `Html` escapes every
piece (article text and user text alike) for Telegram's HTML parse mode; the
plain `Markup` (a piped console, Zalo) and `Ansi` (a terminal) print it as is.
Long texts are packed into messages within the front end's limit (`pack`); a
piece too long for one message is cut as plain text *before* markup is added
(`chunk_text`), so no tag is ever broken.
"""
from __future__ import annotations

import html
from urllib.parse import urlsplit

from ..textutil import TELEGRAM_LIMIT, utf16_len

ZALO_LIMIT = 2000  # Zalo's sendMessage `text`: 1 to 2,000 characters


class Markup:
    """Plain text: no escaping, no decoration; typed commands instead of buttons."""

    limit = TELEGRAM_LIMIT  # one message, in UTF-16 units (a console keeps Telegram's pages)
    buttons = False  # answers end with typed commands (/more, /doan N), not buttons

    def esc(self, text: str) -> str:
        return text

    def b(self, text: str) -> str:
        return text

    def i(self, text: str) -> str:
        return text

    def code(self, text: str) -> str:
        return text

    def link(self, url: str, label: str) -> str:
        return url

    def pre(self, text: str) -> str:
        return text

    def quote(self, text: str) -> str:
        return text

    def mark(self, text: str) -> str:
        """The sentence that answers the question; plain text has no bold, so Markdown's."""
        return f"**{text}**"


class Ansi(Markup):
    """A terminal: bold and italics as escape codes."""

    def b(self, text: str) -> str:
        return f"\033[1m{text}\033[0m"

    def mark(self, text: str) -> str:
        return self.b(text)

    def i(self, text: str) -> str:
        return f"\033[3m{text}\033[0m"


class Html(Markup):
    """Telegram: HTML parse mode (`esc` must wrap every piece of outside text), buttons."""

    buttons = True

    def esc(self, text: str) -> str:
        return html.escape(text, quote=False)

    def b(self, text: str) -> str:
        return f"<b>{text}</b>"

    def i(self, text: str) -> str:
        return f"<i>{text}</i>"

    def code(self, text: str) -> str:
        return f"<code>{text}</code>"

    def link(self, url: str, label: str) -> str:
        return f'<a href="{html.escape(url, quote=True)}">{label}</a>'

    def pre(self, text: str) -> str:
        return f"<pre>{text}</pre>"

    def quote(self, text: str) -> str:
        return f"<blockquote>{text}</blockquote>"

    def mark(self, text: str) -> str:
        return self.b(text)


class Zalo(Markup):
    """Zalo: plain text (it documents no formatting) in messages of 2,000 characters.
    `pack` counts UTF-16 units, never fewer than characters, so a message fits whether
    Zalo counts characters (as documented) or UTF-16 units."""

    limit = ZALO_LIMIT


PLAIN = Markup()
ANSI = Ansi()
HTML = Html()
ZALO = Zalo()


def web_url(url: str | None) -> str | None:
    """Only http(s) links are shown: a corpus file must not smuggle javascript: links."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def pack(blocks: list[str], limit: int = TELEGRAM_LIMIT, sep: str = "\n\n") -> list[str]:
    """Join blocks into as few messages as fit in `limit`; never split a block."""
    messages: list[str] = []
    current = ""
    for block in blocks:
        if not block:
            continue
        candidate = f"{current}{sep}{block}" if current else block
        if utf16_len(candidate) <= limit:
            current = candidate
        else:
            if current:
                messages.append(current)
            current = block
    if current:
        messages.append(current)
    return messages


def chunk_text(m: Markup, text: str, limit: int) -> list[str]:
    """Escaped pieces of `text`, each within `limit`, cut between words (or inside a huge word)."""
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for word in text.split(" "):
        w = m.esc(word)
        wlen = utf16_len(w)
        if wlen > limit:  # one "word" longer than a message: cut it by characters
            if current:
                pieces.append(" ".join(current))
                current, size = [], 0
            piece = ""
            for ch in word:
                if utf16_len(m.esc(piece + ch)) > limit:
                    pieces.append(m.esc(piece))
                    piece = ""
                piece += ch
            current, size = [m.esc(piece)], utf16_len(m.esc(piece))
            continue
        extra = wlen + (1 if current else 0)
        if size + extra > limit:
            pieces.append(" ".join(current))
            current, size = [w], wlen
        else:
            current.append(w)
            size += extra
    if current:
        pieces.append(" ".join(current))
    return [p for p in pieces if p]
