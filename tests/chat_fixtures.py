"""Fixtures for the chat front-end tests (imported by tests/test_chat_*.py).

The real index is built once per session from a copy of the seed corpus plus
one long article with a link and markup-like characters (to exercise «Toàn
văn» splitting and escaping); every bot test shares it.  Tests that change the
corpus get their own copy of corpus and index (the embedding cache comes
along, so their rebuilds only embed what they add).

The tests are plain functions that run one `asyncio.run(...)` scenario each,
so no asyncio pytest plugin is needed.
"""
from __future__ import annotations

import asyncio
import shutil
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from fake_bot_api import FakeBotAPI

from chat.config import ChatConfig
from chat.feedback import FeedbackStore
from chat.telegram_bot import ALLOWED_UPDATES, build_application

REPO = Path(__file__).resolve().parent.parent
SEED_CORPUS = REPO / "corpus"
ADMIN_ID = 777000
SEED_QUESTION = "Thường trực Huyện ủy duyệt chương trình công tác của MTTQ năm 2024"
SEED_ARTICLE = "000_6c00fa246487b5d2"
LONG_ARTICLE = "binh_minh_nuoi_ong_2023"
LONG_URL = "https://example.org/tin-tuc?id=42&lang=vi"
LONG_SOURCE = "Ban biên tập <thử nghiệm> & cộng sự"

_XA = ["Tân Hòa", "Mỹ Lộc", "Phú An", "Đông Thành", "Thuận Hưng", "Long Phước", "Hòa Bình",
       "Ngãi Tứ", "Song Phú", "Tân Quới", "Phú Lộc", "Mỹ Thuận"]


def long_article_text() -> str:
    """A front-matter article long enough that its full text needs several messages."""
    paragraphs = []
    for n, xa in enumerate(_XA, 1):
        paragraphs.append(
            f"Tại xã {xa}, Hội Nông dân huyện Bình Minh đã hướng dẫn {n * 7} hộ hội viên nuôi ong "
            f"lấy mật theo hướng an toàn sinh học trong năm 2023. Mỗi hộ được hỗ trợ {n + 2} thùng "
            f"ong giống, được tập huấn kỹ thuật chăm sóc đàn ong vào mùa hoa nhãn và mùa hoa cà phê, "
            f"cách phòng bệnh thối ấu trùng và cách khai thác mật đúng thời điểm để mật đạt độ "
            f"khô cao. Tỷ lệ hộ có thu nhập < {30 + n} triệu đồng mỗi năm giảm rõ & số hộ khá tăng "
            f"thêm {n} hộ so với năm trước. Cán bộ hội cơ sở thường xuyên đến thăm các trại ong, "
            f"ghi chép sản lượng, kết nối đầu ra với hợp tác xã và các cửa hàng đặc sản trong tỉnh, "
            f"đồng thời vận động các hộ liên kết thành tổ hợp tác để giữ giá bán ổn định."
        )
    front = (f"---\ntitle: Hội Nông dân huyện Bình Minh tổng kết mô hình nuôi ong lấy mật năm 2023\n"
             f"date: 2023-12-05\nplace: Bình Minh\nsource: {LONG_SOURCE}\nurl: {LONG_URL}\n---\n\n")
    return front + "\n\n".join(paragraphs) + "\n"


class StubReader:
    """What ChatService reads of the searcher's IndexReader: the current generation
    (its number keys caches, its places are what questions may name) and the headlines
    /chude counts.  For stub searchers, which have no index."""

    @dataclass
    class Generation:
        number: int = 1
        places: dict[str, str] = field(default_factory=dict)

    def __init__(self, places: dict[str, str] | None = None,
                 headlines: list[tuple[str, str, str | None, str | None, str]] | None = None) -> None:
        self.current = self.Generation(places=dict(places or {}))
        self._headlines = list(headlines or [])

    def headlines(self) -> list[tuple[str, str, str | None, str | None, str]]:
        return list(self._headlines)


@dataclass
class SeedIndex:
    corpus_dir: Path
    index_dir: Path
    config: ChatConfig


# Fixtures imported into several test modules get one FixtureDef per module,
# so "session" scope alone would build the index once per module: cache here.
_CACHE: dict[str, object] = {}


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory) -> SeedIndex:
    """The session's real index (built once: ~20-40 s on two cores)."""
    if "seed" not in _CACHE:
        _CACHE["seed"] = _build_seed(tmp_path_factory)
    return _CACHE["seed"]


def _build_seed(tmp_path_factory) -> SeedIndex:
    from retrieval.index import build_index

    root = tmp_path_factory.mktemp("chat-index")
    corpus, index = root / "corpus", root / "index"
    shutil.copytree(SEED_CORPUS, corpus)
    (corpus / f"{LONG_ARTICLE}.md").write_text(long_article_text(), encoding="utf-8")
    config = ChatConfig(corpus_dir=str(corpus), index_dir=str(index))
    build_index(corpus, index, config, progress=False)
    return SeedIndex(corpus, index, config)


@pytest.fixture(scope="session")
def searcher(seed_index):
    from retrieval.search import Searcher

    if "searcher" not in _CACHE:
        _CACHE["searcher"] = Searcher.open(seed_index.index_dir, seed_index.config)
    return _CACHE["searcher"]


@pytest.fixture
def fake_api():
    with FakeBotAPI() as api:
        yield api


@dataclass
class BotEnv:
    """Everything one bot test needs; `running()` starts the real Application."""

    api: FakeBotAPI
    searcher: object
    config: ChatConfig
    corpus_dir: Path
    index_dir: Path
    db_path: Path
    build: object = None  # replaces the index build (see build_application)
    apps: list = field(default_factory=list)

    @asynccontextmanager
    async def running(self):
        """Start polling the fake API with the real HTTP stack; stop cleanly afterwards."""
        store = FeedbackStore(self.db_path)
        app = build_application(self.config, self.searcher, token=self.api.token,
                                base_url=self.api.base_url, store=store, build=self.build,
                                corpus_dir=self.corpus_dir, index_dir=self.index_dir)
        await app.initialize()
        if app.post_init:  # run_polling would call it; start() does not
            await app.post_init(app)
        await app.start()
        await app.updater.start_polling(poll_interval=0.0, timeout=1,
                                        allowed_updates=ALLOWED_UPDATES)
        self.apps.append(app)
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()
            if app.post_stop:
                await app.post_stop(app)
            await app.shutdown()
            store.close()

    def run(self, coro):
        return asyncio.run(coro)

    def store(self) -> FeedbackStore:
        return FeedbackStore(self.db_path)


def _bot_config(seed: SeedIndex, corpus: Path, index: Path, tmp_path: Path) -> ChatConfig:
    config = replace(seed.config, corpus_dir=str(corpus), index_dir=str(index))
    config.bot = replace(config.bot, admins=[ADMIN_ID], questions_per_minute=30,
                         reload_seconds=0, feedback_db=str(tmp_path / "feedback.sqlite"))
    return config


@pytest.fixture
def bot_env(seed_index, searcher, fake_api, tmp_path) -> BotEnv:
    """A bot over the shared session index (tests must not change corpus or index)."""
    config = _bot_config(seed_index, seed_index.corpus_dir, seed_index.index_dir, tmp_path)
    return BotEnv(fake_api, searcher, config, seed_index.corpus_dir, seed_index.index_dir,
                  tmp_path / "feedback.sqlite",
                  build=_forbidden_build)


def _forbidden_build():
    raise AssertionError("this test must not rebuild the shared session index")


@pytest.fixture
def own_index_env(seed_index, searcher, fake_api, tmp_path) -> BotEnv:
    """A bot over a private copy of corpus and index, free to add articles and rebuild."""
    from retrieval.search import Searcher

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(seed_index.corpus_dir, corpus)
    shutil.copytree(seed_index.index_dir, index, ignore=shutil.ignore_patterns("build.lock"))
    config = _bot_config(seed_index, corpus, index, tmp_path)
    own = Searcher.open(index, config, embedder=searcher.embedder)  # one model in memory
    return BotEnv(fake_api, own, config, corpus, index, tmp_path / "feedback.sqlite")
