"""The chat front ends' settings: the [bot], [zalo], [insights], [dashboard] and [log]
tables of the one config file (see config.example.toml).

`ChatConfig` is retrieval's `Config` with these tables added, read by the same
loader (retrieval/config.py) with the same checks: the bot, the console and
`python -m chat` load the whole file; `python -m retrieval` reads only its own
sections of it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from retrieval.config import Config, ConfigError
from retrieval.config import load_config as load_with

__all__ = ["BotConfig", "ChatConfig", "ConfigError", "DashboardConfig", "InsightsConfig", "LogConfig",
           "ZaloConfig", "load_config"]


@dataclass
class BotConfig:
    token_env: str = "TELEGRAM_BOT_TOKEN"  # name of the variable holding the token, never the token
    base_url_env: str = "TELEGRAM_BASE_URL"
    admins: list[int] = field(default_factory=list)  # Telegram user ids allowed to /reindex and upload
    answers_per_page: int = 3
    questions_per_minute: int = 10  # per user
    context_minutes: float = 10  # how long a follow-up question inherits the previous one's place, body, year
    context_conversations: int = 5000  # conversations remembered (in memory only), least recent forgotten
    mode: str = "polling"  # or "webhook"
    webhook_url: str = ""
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443
    webhook_secret_env: str = "TELEGRAM_WEBHOOK_SECRET"
    feedback_db: str = "data/feedback.sqlite"
    # Questions and votes are deleted this many days after they were made (0: kept forever);
    # user and chat ids are stored as keyed hashes only (chat/feedback.py).
    feedback_days: int = 90
    reload_seconds: int = 60  # how often the bot checks for an index rebuilt by the CLI


@dataclass
class InsightsConfig:
    """The admins' report (chat/insights.py): /thongke and the weekly message."""

    weekly: bool = True  # send the last 7 days' report to every admin once a week
    weekly_day: str = "monday"
    weekly_hour: int = 8  # local time, in `timezone`
    timezone: str = "Asia/Ho_Chi_Minh"  # days of the report and the weekly hour


@dataclass
class DashboardConfig:
    """The local report page (chat/dashboard.py): `python -m chat dashboard`."""

    host: str = "127.0.0.1"  # any other address needs a token (token_env)
    port: int = 8750
    token_env: str = "CONGTAC_DASHBOARD_TOKEN"  # name of the variable holding the token
    days: int = 30  # days shown by default (the page links to 7, 30 and 90)
    with_bot: bool = False  # the Telegram bot also serves the page while it runs


@dataclass
class LogConfig:
    file: str = ""  # also log to this file ("" = stderr only), rotated by size
    max_bytes: int = 10_000_000  # rotate the file at this size...
    backups: int = 5  # ...keeping this many old files (file.1 ... file.5)
    repeat_seconds: int = 60  # identical log records at most once per this many seconds (0: all)


@dataclass
class ZaloConfig:
    """The Zalo front end (chat/zalo/); answers, rate limit and stores follow [bot]."""

    enabled: bool = False  # true: `python bot.py` serves Zalo too (or alone: bot.py --zalo)
    token_env: str = "ZALO_BOT_TOKEN"  # name of the variable holding the token, never the token
    base_url_env: str = "ZALO_BASE_URL"  # replaces https://bot-api.zaloplatforms.com
    admins: list[str] = field(default_factory=list)  # Zalo user ids (strings): /reindex, /add, /thongke
    mode: str = "polling"  # or "webhook"
    webhook_url: str = ""  # public https URL Zalo posts to (webhook mode)
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8444  # not Telegram's 8443: both can run in one process
    webhook_secret_env: str = "ZALO_WEBHOOK_SECRET"  # variable holding the 8-256 character secret


@dataclass
class ChatConfig(Config):
    """Every table of the config file: retrieval's and the chat front ends'."""

    bot: BotConfig = field(default_factory=BotConfig)
    zalo: ZaloConfig = field(default_factory=ZaloConfig)
    insights: InsightsConfig = field(default_factory=InsightsConfig)
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)
    log: LogConfig = field(default_factory=LogConfig)

    LIMITS: ClassVar[dict[str, tuple]] = {
        **Config.LIMITS,
        "bot.answers_per_page": (1, 10),
        "bot.questions_per_minute": (1, 10_000),
        "bot.context_minutes": (0, 1440),
        "bot.context_conversations": (1, 1_000_000),
        "bot.mode": ("polling", "webhook"),
        "bot.webhook_port": (1, 65535),
        "bot.reload_seconds": (0, 86_400),
        "bot.feedback_days": (0, 36_500),
        "insights.weekly_day": ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                                "sunday"),
        "insights.weekly_hour": (0, 23),
        "dashboard.port": (1, 65535),
        "dashboard.days": (1, 365),
        "log.max_bytes": (10_000, 10**12),
        "log.backups": (0, 1000),
        "log.repeat_seconds": (0, 86_400),
        "zalo.mode": ("polling", "webhook"),
        "zalo.webhook_port": (1, 65535),
    }

    def check(self, where: str) -> None:
        super().check(where)
        try:
            ZoneInfo(self.insights.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{where}: insights.timezone must be a time zone name such as "
                              f"'Asia/Ho_Chi_Minh', found {self.insights.timezone!r}") from None


def load_config(path: str | Path | None = None) -> ChatConfig:
    """Defaults, overridden by the TOML file at `path` when one is given: every table checked."""
    return load_with(path, ChatConfig)
