"""Where `make_embedder` runs the bundled model, with torch's CUDA availability faked.

No GPU here: torch is told it sees one (or none), and SentenceTransformer records
the device it is asked for and loads on the CPU (once: loading takes seconds).  What is tested is the branch
`make_embedder` takes, the identity the build records, and the errors.  Vectors
on a real GPU are measured by `python -m benchmarks.embed_speed --device cuda`.
"""
import sys

import pytest

from retrieval import embedders
from retrieval.config import EmbedderConfig
from retrieval.embedders import OnnxE5Embedder, TorchE5Embedder, make_embedder

pytestmark = pytest.mark.slow  # loads the converted model in ONNX Runtime and torch

@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")  # here, not at import: collecting stays fast


@pytest.fixture(scope="module")
def sentence_transformers():
    return pytest.importorskip("sentence_transformers")


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch):
    """Each test loads afresh; nothing loaded under a fake GPU stays in the process cache."""
    monkeypatch.setattr(embedders, "_cache", {})


@pytest.fixture(scope="module")
def loaded_on_cpu() -> dict:
    return {}


@pytest.fixture
def asked(monkeypatch, loaded_on_cpu, sentence_transformers) -> list:
    """The devices SentenceTransformer is asked for; it loads on the CPU, once a module."""
    asked = []
    real = sentence_transformers.SentenceTransformer

    def on_cpu(model, device=None):
        asked.append(device)
        if model not in loaded_on_cpu:
            loaded_on_cpu[model] = real(model, device="cpu")
        return loaded_on_cpu[model]

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", on_cpu)
    return asked


@pytest.fixture
def gpu(monkeypatch, asked, torch) -> list:
    """torch sees one CUDA device."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    return asked


@pytest.fixture
def no_gpu(monkeypatch, asked, torch) -> list:
    """torch sees no CUDA device (whether or not this machine has one)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    return asked


def test_auto_builds_on_the_gpu_with_the_identity_the_cpu_serves(gpu):
    build = make_embedder(EmbedderConfig(device="auto"), for_build=True)
    assert isinstance(build, TorchE5Embedder) and build.device == "cuda" and gpu == ["cuda"]
    questions = make_embedder(EmbedderConfig(device="auto"))
    assert isinstance(questions, OnnxE5Embedder)  # questions stay on the CPU
    assert build.identity == questions.identity and "fp32" in build.identity


def test_cuda_asked_for_is_used_and_int8_is_refused_on_it(gpu):
    assert make_embedder(EmbedderConfig(device="cuda"), for_build=True).device == "cuda"
    with pytest.raises(ValueError, match="set precision = 'fp32'"):
        make_embedder(EmbedderConfig(device="cuda", precision="int8"), for_build=True)
    # auto with int8 stays on ONNX Runtime: int8 vectors are its own
    auto_int8 = make_embedder(EmbedderConfig(device="auto", precision="int8"), for_build=True)
    assert isinstance(auto_int8, OnnxE5Embedder) and "int8" in auto_int8.identity
    assert gpu == ["cuda"]


def test_the_torch_backend_follows_the_device_for_questions_too(gpu):
    embedder = make_embedder(EmbedderConfig(backend="torch", device="auto"))
    assert isinstance(embedder, TorchE5Embedder) and embedder.device == "cuda" and gpu == ["cuda"]


def test_without_a_gpu_auto_stays_on_the_cpu_and_cuda_is_a_clear_error(no_gpu):
    assert isinstance(make_embedder(EmbedderConfig(device="auto"), for_build=True), OnnxE5Embedder)
    with pytest.raises(ValueError, match="torch sees no CUDA device"):
        make_embedder(EmbedderConfig(device="cuda"), for_build=True)
    torch_cpu = make_embedder(EmbedderConfig(backend="torch", device="auto"))
    assert isinstance(torch_cpu, TorchE5Embedder) and torch_cpu.device == "cpu" and no_gpu == ["cpu"]


def test_cuda_without_torch_installed_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` fails, find_spec says absent
    with pytest.raises(ValueError, match="torch sees no CUDA device"):
        make_embedder(EmbedderConfig(device="cuda"), for_build=True)
    assert isinstance(make_embedder(EmbedderConfig(device="auto"), for_build=True), OnnxE5Embedder)
