"""The hostile chat traffic both reliability benchmarks send (Telegram's and Zalo's).

One owner for what a difficult person types: the questions, the planted markers
that must never reach the log, and the kinds of text (markup, emoji, right-to-left
overrides, 10,000 characters, lone surrogates and control characters, commands).
The random draws are made in a fixed order, so a seed gives the same traffic to
benchmarks/reliability.py as before this module existed.
"""
from __future__ import annotations

import random

QUESTIONS = [
    "Thường trực Huyện ủy duyệt chương trình công tác của MTTQ năm 2024",
    "thuong truc huyen uy duyet chuong trinh cong tac mttq nam 2024",
    "Thành ủy Hồng Ngự làm việc với các ngành Khối vận năm 2022",
    "Ban Dân vận Huyện ủy Gia Viễn tổng kết công tác dân vận năm 2023",
    "Đại hội MTTQ huyện Đầm Hà nhiệm kỳ 2024 – 2029",
    "Giá vàng hôm nay bao nhiêu?",
]
# Kinds of a private chat's update; the text ones are built by hostile_texts.
PRIVATE_KINDS = ["question", "markup", "emoji", "rtl", "long", "surrogate", "media",
                 "edited", "command", "upload", "huge", "binary", "button", "old_poll"]
COMMANDS = ["/ask {q} {m}", "/start", "/help", "/stats", "/latest", "/khong_co {m}", "/reindex",
            "/ask"]


def new_marker(rng: random.Random) -> str:
    """A word planted in user text; it must never show in the log above DEBUG."""
    return f"QZX{rng.randrange(10**9):09d}"


def hostile_texts(rng: random.Random, q: str, m: str) -> dict[str, str]:
    """Every text kind for question `q` with marker `m` (one draw each, always in this
    order, whichever kind is used)."""
    return {
        "question": f"{q} {m}",
        "markup": f"<b>{q}</b> & **{m}** <script>alert(1)</script> [x](javascript:1) `<i>`",
        "emoji": "😀🙏🏽👨‍👩‍👧‍👦🇻🇳" * rng.randint(1, 50),
        "rtl": f"\u202e{m} مرحبا שלום \u202d {q} \u200f",
        "long": (f"{q} {m} " * 400)[:10_000],
        "surrogate": f"{q} \ud800{m}\udfff \x00\x1b\x7f",
        "command": rng.choice(COMMANDS).format(q=q, m=m),
        "edited": f"{q} {m}",
    }
