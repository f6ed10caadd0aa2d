"""Everything a person reads, written once for every front end.

- markup.py: how each front end shows text (Telegram HTML, a terminal, Zalo's plain
  text): tags, escaping, the length of one message, buttons or typed commands;
- texts.py: every sentence the bot says, in Vietnamese, in one place;
- cards.py: answers laid out as cited cards and packed into messages.
"""
