"""Chat front ends of the Q&A bot: Telegram (telegram_bot), Zalo (zalo/) and terminal (console).

All call ChatService (service.py) for answers and render/ for every text a
person reads (render/markup.py says how each front end shows it), so they can
never disagree; feedback.py stores questions and votes, admin.py handles
uploads and background rebuilds.
"""
from .service import ChatService, Page, Status

__all__ = ["ChatService", "Page", "Status"]
