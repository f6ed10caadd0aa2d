"""The Zalo front end: the same answers as on Telegram, through the Zalo Bot Platform API."""
