"""Chat front ends of the Q&A bot: Telegram (telegram_bot) and terminal (console).

Both call ChatService (service.py) for answers and answers.py for every text a
person reads, so they can never disagree; feedback.py stores questions and
votes, admin.py handles uploads and background rebuilds.
"""
from .service import ChatService, Page, Status

__all__ = ["ChatService", "Page", "Status"]
