"""Bytes -> text: the one decoder, for corpus files and fetched pages alike.

UTF-8 first: text that decodes as UTF-8 is practically never meant as anything
else, whatever a page declares.  Then the charset a page declares (an HTTP
header, a `<meta charset>`), trusted over guessing: a page mostly undecodable
in it is refused rather than indexed as garbage, a few bad bytes are replaced.
With nothing declared, the legacy Vietnamese code pages.
"""
from __future__ import annotations

import codecs
import re
from pathlib import Path

from ..textnorm import nfc
from ..types import UnusableFile

# Legacy Vietnamese pages were often saved as Windows-1258; cp1252 is the usual
# mislabel.  Both decode almost anything, so they come after strict UTF-8.
LEGACY_ENCODINGS = ("cp1258", "cp1252")
_META_CHARSET = re.compile(rb"<meta[^>]+charset=[\"']?([\w.:-]+)", re.IGNORECASE)
_HEADER_CHARSET = re.compile(r"charset=[\"']?([\w.:-]+)", re.IGNORECASE)


def _codec(name: str | bytes | None) -> str | None:
    """Python's name for a charset label, or None when the label is unknown."""
    if isinstance(name, bytes):
        name = name.decode("ascii", "replace")
    try:
        return codecs.lookup(name).name if name else None
    except LookupError:
        return None


def header_charset(content_type: str) -> str | None:
    """The charset of a Content-Type header ("text/html; charset=windows-1258")."""
    m = _HEADER_CHARSET.search(content_type or "")
    return _codec(m[1]) if m else None


def meta_charset(data: bytes) -> str | None:
    """The charset an HTML page declares in its first 4 KB (`<meta charset=...>`)."""
    m = _META_CHARSET.search(data[:4096])
    return _codec(m[1]) if m else None


def _declared(data: bytes, charset: str) -> str:
    try:
        return data.decode(charset)
    except UnicodeDecodeError:
        pass
    text = data.decode(charset, "replace")
    if text.count("\ufffd") > max(10, len(text) // 200):
        raise UnusableFile(f"broken encoding: many bytes are not valid {charset}")
    return text


def _guessed(data: bytes) -> str:
    for encoding in LEGACY_ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnusableFile("cannot decode as UTF-8 or a Vietnamese legacy code page")


def decode(data: bytes, charset: str | None = None) -> str:
    """Bytes -> NFC text with "\\n" line ends; `charset` is what the source declares, if
    anything.  Raises UnusableFile for empty, binary or undecodable data."""
    if not data.strip():
        raise UnusableFile("empty file")
    if b"\x00" in data[:4096]:
        raise UnusableFile("binary file (contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = _declared(data, charset) if charset else _guessed(data)
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\r\n\t\f")
    if controls > max(3, len(text) // 100):
        raise UnusableFile("binary file (control characters)")
    return nfc(text.replace("\r\n", "\n").replace("\r", "\n"))


def read_source(source: bytes | Path) -> bytes:
    """A converter's input as bytes: given as such, or read from a path."""
    if isinstance(source, bytes | bytearray):
        return bytes(source)
    try:
        return Path(source).read_bytes()
    except OSError as e:
        raise UnusableFile(f"cannot read: {e.strerror or e}") from None
