"""Config files: every wrong type, unknown key and bad value is refused with its key and file."""
from dataclasses import fields

import pytest

from chat.config import ChatConfig, ConfigError, load_config
from retrieval.config import Config
from retrieval.config import load_config as load_retrieval_config

CASES = [
    ('[bot]\nadmins = "123"\n', "bot.admins must be a list of whole numbers, found '123' (str)"),
    ('[bot]\nadmins = [1, "2"]\n', "bot.admins must be a list of whole numbers"),
    ("[bot]\nadmins = 123\n", "bot.admins must be a list of whole numbers, found 123 (int)"),
    ('[bot]\nmode = "pull"\n', "bot.mode must be one of 'polling', 'webhook', found 'pull'"),
    ("[bot]\nwebhook_port = 70000\n", "bot.webhook_port must be between 1 and 65535, found 70000"),
    ("[bot]\nquestions_per_minute = 0\n", "bot.questions_per_minute must be between 1"),
    ("[bot]\nreload_seconds = -5\n", "bot.reload_seconds must be between 0"),
    ("[search]\ntop_k = 0\n", "search.top_k must be between 1 and 100, found 0"),
    ("[search]\ntop_k = true\n", "search.top_k must be a whole number, found True (bool)"),
    ('[search]\ntop_k = "5"\n', "search.top_k must be a whole number, found '5' (str)"),
    ("[search]\ntop_k = 2.5\n", "search.top_k must be a whole number, found 2.5 (float)"),
    ("[search]\nmin_coverage = 1.5\n", "search.min_coverage must be between 0 and 1, found 1.5"),
    ('[search]\nbm25_weight = "high"\n', "search.bm25_weight must be a number, found 'high' (str)"),
    ("[split]\nmin_chars = 500\nmax_chars = 200\n", "split.max_chars (200) must not be below"),
    ('[embedder]\nbackend = "word2vec"\n', "embedder.backend must be one of"),
    ("[embedder]\nquery_prefix = 1\n", "embedder.query_prefix must be a text or absent, found 1 (int)"),
    ('[index]\nann = "hnsw"\n', "index.ann must be one of 'ivf', 'flat', found 'hnsw'"),
    ("corpus_dir = 5\n", "corpus_dir must be a text, found 5 (int)"),
    ("[bot]\nadmin = [1]\n", "unknown setting bot.'admin'"),
    ("colour = 1\n", "unknown setting 'colour'"),
    ('bot = "x"\n', "bot must be a table like [bot]"),
    ("[search\n", "is not valid TOML"),
    ("[fetch]\nrequests_per_second = -1\n", "fetch.requests_per_second must be between 0 and 1000"),
    ('[fetch]\nfeeds = "https://a.vn/rss"\n', "fetch.feeds must be a list of texts"),
    ('[fetch]\nsitemaps = ["file:///etc/passwd"]\n', "fetch.sitemaps must hold http(s) addresses"),
    ('[fetch]\nuser_agent = " "\n', "fetch.user_agent must name the bot"),
    ("[fetch]\nallow_private = 1\n", "fetch.allow_private must be true or false, found 1 (int)"),
    ("[fetch]\ninterval = 5\n", "unknown setting fetch.'interval'"),
    ("[bot]\nfeedback_days = -1\n", "bot.feedback_days must be between 0 and 36500, found -1"),
    ('[log]\nfile = 5\n', "log.file must be a text, found 5 (int)"),
    ("[log]\nmax_bytes = 10\n", "log.max_bytes must be between 10000"),
    ("[log]\nbackups = -2\n", "log.backups must be between 0 and 1000, found -2"),
    ("[log]\nrepeat_seconds = 1.5\n", "log.repeat_seconds must be a whole number"),
]


@pytest.mark.parametrize(("text", "message"), CASES)
def test_bad_settings_are_refused_with_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert message in str(error.value).replace(f"{path}: ", "")
    assert str(path) in str(error.value)


def test_good_settings_are_taken(tmp_path):
    path = tmp_path / "good.toml"
    path.write_text('[bot]\nadmins = [123, 456]\nmode = "webhook"\n[search]\ntop_k = 3\n'
                    'min_coverage = 1\n[embedder]\nquery_prefix = "q: "\n', encoding="utf-8")
    config = load_config(path)
    assert config.bot.admins == [123, 456] and config.bot.mode == "webhook"
    assert config.search.top_k == 3 and config.search.min_coverage == 1
    assert config.embedder.query_prefix == "q: "


def test_the_example_config_is_valid():
    from conftest import ROOT

    load_config(ROOT / "config.example.toml")


def test_one_file_serves_retrieval_and_the_chat_front_ends(tmp_path):
    """`python -m retrieval` reads its sections of the bot's file and leaves the chat's
    tables to chat/config.py, which checks every one; a misspelt table is refused by both."""
    path = tmp_path / "both.toml"
    path.write_text('[search]\ntop_k = 3\n[bot]\nadmins = [7]\n[zalo]\nenabled = true\n'
                    '[log]\nbackups = 2\n', encoding="utf-8")
    retrieval_side = load_retrieval_config(path)
    assert type(retrieval_side) is Config and retrieval_side.search.top_k == 3
    assert not hasattr(retrieval_side, "bot")
    chat_side = load_config(path)
    assert chat_side.search.top_k == 3 and chat_side.bot.admins == [7] and chat_side.zalo.enabled
    front_end = {f.name for f in fields(ChatConfig)} - {f.name for f in fields(Config)}
    assert front_end == set(Config.FRONT_END_SECTIONS)
    path.write_text("[serch]\ntop_k = 3\n", encoding="utf-8")
    for load in (load_retrieval_config, load_config):
        with pytest.raises(ConfigError, match="unknown setting 'serch'"):
            load(path)


def test_the_fetch_state_has_one_home(tmp_path):
    config = load_config()
    assert config.fetch.state_path(tmp_path / "index") == tmp_path / "index" / "fetch.sqlite"
    config.fetch.state_db = str(tmp_path / "state.sqlite")
    assert config.fetch.state_path(tmp_path / "index") == tmp_path / "state.sqlite"
