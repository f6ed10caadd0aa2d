"""The command-line contract: index summary, search (--json, --queries), eval, config, errors."""
import json
import subprocess
import sys

import pytest
from conftest import QUESTIONS, ROOT


def cli(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "retrieval", *map(str, args)], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.mark.slow  # builds a real index in a subprocess
def test_index_prints_a_summary_with_skipped_files(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "tin.txt").write_text(  # fictional
        "Hội CCB huyện Sơn Khê tổng kết năm 2023\n\nNgày 20/12/2023, Hội Cựu chiến binh huyện "
        "Sơn Khê tổng kết công tác năm, biểu dương 12 mô hình kinh tế tiêu biểu của hội viên.\n",
        encoding="utf-8")
    (corpus / "hong.txt").write_bytes(b"\x00\x01\x02binary")
    out = cli("index", "--corpus", corpus, "--index", tmp_path / "index").stdout
    assert "articles: 1" in out and "passages: 1" in out
    assert "embedded now: 1" in out and "reused from cache: 0" in out
    assert "hong.txt: binary" in out
    again = cli("index", "--corpus", corpus, "--index", tmp_path / "index", "-q").stdout
    assert "embedded now: 0" in again and "files unchanged (not read): 2, parsed: 0" in again


def test_search_queries_file_gives_one_json_line_per_question_in_order(eval_index, tmp_path):
    questions = ["Năm 2023 huyện Gia Viễn thực hiện được bao nhiêu mô hình Dân vận khéo?",
                 "lich thi dau bong da U23 chau A",
                 "quy vi nguoi ngheo son khe tiep nhan bao nhieu tien"]
    queries = tmp_path / "q.txt"
    queries.write_text("\n".join(questions) + "\n", encoding="utf-8")
    out = cli("search", "--index", eval_index, "--top", 3, "--json", "--queries", queries).stdout
    lines = [json.loads(line) for line in out.splitlines()]
    assert [o["query"] for o in lines] == questions
    assert [o["answered"] for o in lines] == [True, False, True]
    first = lines[0]["results"]
    assert len(first) == 3
    assert set(first[0]) >= {"article_id", "passage_id", "text", "score", "title", "date", "date_source",
                             "place", "source", "url"}
    assert first[0]["article_id"] == "002_179ffe2f7c53ff46" and first[0]["place"] == "Gia Viễn"
    assert (first[0]["date"], first[0]["date_source"]) == ("2024-01-10", "dateline")


def test_search_without_json_is_a_readable_listing(eval_index):
    out = cli("search", "--index", eval_index, "--top", 2, "Hội CCB Ngọc Sương có bao nhiêu hội viên").stdout
    assert "[1] Hội Cựu chiến binh thị xã Ngọc Sương" in out
    assert "Ngọc Sương | 28/12/2023 | Quang Vinh" in out
    assert "[3]" not in out


def test_eval_prints_the_metrics(eval_index):
    out = cli("eval", "--index", eval_index, "--questions", QUESTIONS).stdout
    for label in ("hit@1=", "hit@3=", "hit@5=", "MRR@10=", "article_hit@3=", "unaccented",
                  "paraphrase", "graded partial or none", "answerable     exact"):
        assert label in out


def test_config_file_overrides_and_bad_config_is_reported(eval_index, tmp_path):
    good = tmp_path / "c.toml"
    good.write_text("[search]\ntop_k = 1\n")
    bad = tmp_path / "bad.toml"
    bad.write_text("[search]\ntopk = 1\n")
    result = cli("--config", bad, "search", "--index", eval_index, "x", check=False)
    assert result.returncode == 2 and "unknown setting search.'topk'" in result.stderr
    result = cli("--config", tmp_path / "missing.toml", "search", "--index", eval_index, "x", check=False)
    assert result.returncode == 2 and "config file not found" in result.stderr


def test_missing_index_and_corpus_are_clear_errors(tmp_path):
    result = cli("search", "--index", tmp_path / "none", "xin chào", check=False)
    assert result.returncode == 2 and "no index in" in result.stderr
    result = cli("index", "--corpus", tmp_path / "nope", "--index", tmp_path / "i", check=False)
    assert result.returncode == 2 and "corpus folder not found" in result.stderr


def test_bad_index_settings_are_refused_with_the_key(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[index]\nann = "hnsw"\n', encoding="utf-8")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    run = cli("--config", config, "index", "--corpus", corpus, "--index", tmp_path / "index", check=False)
    assert run.returncode == 2 and "index.ann" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.slow  # builds a real index in a subprocess
def test_search_takes_top_k_and_config_after_the_command(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for n in range(4):  # fictional
        (corpus / f"tin_{n}.txt").write_text(
            f"Hội CCB xã Tân Hòa {n} tổng kết năm 2023\n\nNgày 20/12/2023, Hội Cựu chiến binh xã Tân Hòa {n} "
            f"tổng kết công tác năm, biểu dương {10 + n} mô hình kinh tế tiêu biểu của hội viên.\n",
            encoding="utf-8")
    cli("index", "--corpus", corpus, "--index", tmp_path / "index", "-q")
    config = tmp_path / "two.toml"
    config.write_text("[search]\ntop_k = 2\n", encoding="utf-8")
    out = cli("search", "--config", config, "--index", tmp_path / "index", "--json",
              "hội cựu chiến binh tổng kết").stdout
    assert len(json.loads(out)["results"]) == 2
    out = cli("--config", config, "search", "--top", "3", "--index", tmp_path / "index", "--json",
              "hội cựu chiến binh tổng kết").stdout
    assert len(json.loads(out)["results"]) == 3
