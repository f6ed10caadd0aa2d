"""Index builds: incremental embedding, removed files, atomic swap, broken files, wrong embedder."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

from retrieval import Config, IndexMismatch, IndexNotFound, Searcher, build_index
from retrieval import index as index_module

# Fictional articles written for these tests; places and people are invented.
ARTICLES = {
    "son_khe.txt": """Trang thông tin điện tử huyện Sơn Khê

Hội Nông dân huyện Sơn Khê tổng kết công tác năm 2023

Sáng ngày 20/12, Hội Nông dân huyện Sơn Khê tổ chức hội nghị tổng kết công tác Hội và phong trào nông dân năm 2023. Trong năm, các cấp Hội đã xây dựng 46 mô hình kinh tế tập thể, hỗ trợ 320 hộ hội viên vay vốn từ Quỹ Hỗ trợ nông dân với tổng dư nợ 18 tỷ đồng.

Năm 2024, Hội Nông dân huyện phấn đấu phát triển thêm 500 hội viên mới, thành lập 10 chi hội nghề nghiệp trồng chè và nuôi ong, đồng thời phối hợp với Ngân hàng Chính sách xã hội mở 20 lớp tập huấn kỹ thuật.

Trần Văn Bình (Đài TT huyện Sơn Khê)
""",
    "binh_lac.md": """---
title: Hội LHPN huyện Bình Lạc ra mắt mô hình "Phụ nữ giữ đường hoa"
date: 2023-04-08
place: Bình Lạc
source: Lê Thị Hoa
---
Chiều ngày 8/4, Hội Liên hiệp Phụ nữ huyện Bình Lạc ra mắt mô hình "Phụ nữ giữ đường hoa" tại xã Yên Lâm, với 35 hội viên tham gia trồng và chăm sóc 2 km đường hoa ven kênh.

Mô hình được hỗ trợ 40 triệu đồng từ nguồn xã hội hóa; Hội đặt mục tiêu đến cuối năm nhân rộng ra 8 xã trên địa bàn huyện Bình Lạc.
""",
}
EXTRA = """Đoàn Thanh niên huyện Đông Tràng phát động Tháng Thanh niên năm 2024

Sáng ngày 3/3, Huyện đoàn Đông Tràng phát động Tháng Thanh niên năm 2024 với chủ đề "Tuổi trẻ xung kích, tình nguyện vì cộng đồng". Các cơ sở Đoàn sẽ ra quân làm sạch 15 km kênh mương, trồng 3.000 cây xanh và hiến 200 đơn vị máu.

Đông Tràng đặt mục tiêu kết nạp 400 đoàn viên mới trong năm và thành lập 5 câu lạc bộ khởi nghiệp thanh niên nông thôn.

Phạm Quang (Huyện đoàn Đông Tràng)
"""


class CountingEmbedder:
    """The real embedder, counting how many texts it was asked to embed."""

    def __init__(self, inner):
        self.inner, self.identity, self.dim, self.count = inner, inner.identity, inner.dim, 0

    def embed_passages(self, texts):
        self.count += len(texts)
        return self.inner.embed_passages(texts)

    def embed_query(self, text):
        return self.inner.embed_query(text)


class OtherModel:
    """Stands for any other embedding model: a different identity and dimension."""

    identity, dim = "test:other-model:8", 8

    def embed_passages(self, texts):
        return np.ones((len(texts), 8), dtype=np.float32) / np.sqrt(8)

    def embed_query(self, text):
        return np.ones(8, dtype=np.float32) / np.sqrt(8)


@pytest.fixture
def corpus(tmp_path) -> Path:
    folder = tmp_path / "corpus"
    for name, text in ARTICLES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def article_ids(searcher: Searcher, question: str) -> list[str]:
    return [h.article_id for h in searcher.search(question, top_k=5).hits]


def test_incremental_rebuild_embeds_only_new_text(tmp_path, corpus, e5):
    index = tmp_path / "index"
    counting = CountingEmbedder(e5)
    first = build_index(corpus, index, progress=False, embedder=counting)
    assert first.articles == 2 and first.passages >= 3
    assert first.embedded == first.passages == counting.count
    assert sorted(first.added) == ["binh_lac", "son_khe"]

    counting.count = 0
    second = build_index(corpus, index, progress=False, embedder=counting)
    assert (second.embedded, second.reused, counting.count) == (0, first.passages, 0)
    assert second.added == second.changed == second.removed == []

    (corpus / "more").mkdir()
    (corpus / "more" / "dong_trang.txt").write_text(EXTRA, encoding="utf-8")
    third = build_index(corpus, index, progress=False, embedder=counting)
    new_passages = third.passages - first.passages
    assert new_passages >= 1
    assert third.embedded == counting.count == new_passages
    assert third.added == ["more/dong_trang"]

    searcher = Searcher.open(index, embedder=e5)
    assert article_ids(searcher, "Tháng Thanh niên Đông Tràng 2024")[0] == "more/dong_trang"


def test_changed_and_removed_files(tmp_path, corpus, e5):
    index = tmp_path / "index"
    build_index(corpus, index, progress=False, embedder=e5)
    searcher = Searcher.open(index, embedder=e5)
    assert "binh_lac" in article_ids(searcher, "mô hình Phụ nữ giữ đường hoa")

    (corpus / "binh_lac.md").unlink()
    text = (corpus / "son_khe.txt").read_text(encoding="utf-8")
    (corpus / "son_khe.txt").write_text(text.replace("46 mô hình", "47 mô hình"), encoding="utf-8")
    report = build_index(corpus, index, progress=False, embedder=e5)
    assert report.removed == ["binh_lac"] and report.changed == ["son_khe"]
    assert report.embedded == 1  # only the edited paragraph

    assert searcher.reload() is True
    assert "binh_lac" not in article_ids(searcher, "mô hình Phụ nữ giữ đường hoa")
    assert searcher.article("binh_lac") is None
    assert "47 mô hình" in searcher.article("son_khe").text
    assert searcher.reload() is False  # nothing newer


def test_broken_files_are_reported_and_skipped(tmp_path, corpus, e5):
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)))
    (corpus / "footer_only.md").write_text("Trả lời\nloading....\n", encoding="utf-8")
    report = build_index(corpus, tmp_path / "index", progress=False, embedder=e5)
    assert report.articles == 2
    reasons = {s.path: s.reason for s in report.skipped}
    assert set(reasons) == {"empty.txt", "image.txt", "footer_only.md"}
    assert "empty" in reasons["empty.txt"] and "binary" in reasons["image.txt"]
    assert "image.txt: binary" in report.summary()


def test_failed_build_leaves_previous_index_serving(tmp_path, corpus, e5, monkeypatch):
    index = tmp_path / "index"
    build_index(corpus, index, progress=False, embedder=e5)
    before = (index / "CURRENT").read_text()
    (corpus / "dong_trang.txt").write_text(EXTRA, encoding="utf-8")

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(index_module, "_write_atomic", crash)  # dies right before the swap
    with pytest.raises(OSError):
        build_index(corpus, index, progress=False, embedder=e5)
    assert (index / "CURRENT").read_text() == before
    searcher = Searcher.open(index, embedder=e5)
    assert "dong_trang" not in {a.article_id for a in searcher.latest(10)}

    monkeypatch.undo()
    report = build_index(corpus, index, progress=False, embedder=e5)
    assert report.embedded == 0  # the crashed build's vectors were cached
    assert searcher.reload() and searcher.article("dong_trang") is not None
    leftovers = [p.name for p in index.iterdir() if p.name.startswith(".tmp-")]
    assert leftovers == []


def test_build_killed_mid_embedding_leaves_previous_index(tmp_path, corpus, e5):
    index = tmp_path / "index"
    build_index(corpus, index, progress=False, embedder=e5)
    searcher = Searcher.open(index, embedder=e5)
    expected = searcher.search("Hội Nông dân Sơn Khê năm 2023", top_k=3).to_json()
    for i in range(6):  # enough new passages for the build to take a while
        (corpus / f"extra_{i}.txt").write_text(
            EXTRA.replace("Đông Tràng", f"Đông Tràng {i}").replace("400", str(400 + i)), encoding="utf-8")
    config = tmp_path / "one_at_a_time.toml"  # a progress line after each passage
    config.write_text("[embedder]\nbatch_size = 1\n")
    cmd = [sys.executable, "-m", "retrieval", "--config", str(config), "index",
           "--corpus", str(corpus), "--index", str(index)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    line = proc.stderr.readline()  # the first progress line: embedding is under way
    assert line.startswith("embedding: 1/"), line
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    reopened = Searcher.open(index, embedder=e5)
    assert reopened.search("Hội Nông dân Sơn Khê năm 2023", top_k=3).to_json() == expected
    assert reopened.stats()["articles"] == 2
    report = build_index(corpus, index, progress=False, embedder=e5)
    assert report.articles == 8
    assert report.reused > 0  # the killed build's finished batches were kept


def test_other_embedder_is_refused(tmp_path, corpus, e5):
    index = tmp_path / "index"
    build_index(corpus, index, progress=False, embedder=e5)
    with pytest.raises(IndexMismatch, match="built with embedder"):
        build_index(corpus, index, progress=False, embedder=OtherModel())
    with pytest.raises(IndexMismatch):
        Searcher.open(index, embedder=OtherModel())
    # an explicit rebuild switches models and leaves a consistent index
    build_index(corpus, index, progress=False, embedder=OtherModel(), rebuild=True)
    assert Searcher.open(index, embedder=OtherModel()).stats()["embedder"] == "test:other-model:8"


def test_missing_index_is_a_clear_error(tmp_path):
    with pytest.raises(IndexNotFound, match="python -m retrieval index"):
        Searcher.open(tmp_path / "nothing", Config())
