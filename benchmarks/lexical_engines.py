"""Compare three BM25 engines for the lexical half of the index at archive scale.

    python -m benchmarks.lexical_engines --passages 100000 [--engines bm25s,tantivy,fts5] [--json]
    python -m benchmarks.lexical_engines --quality [--json]

Why: the lexical index used to be bm25s, which keeps the whole score matrix in
memory and can only be rebuilt from scratch.  Before the archive grew to
hundreds of thousands of passages we wanted figures for the alternatives that
update in place: tantivy (PyPI `tantivy`) and SQLite FTS5.  These figures chose
tantivy, which the index uses now; bm25s stays here as the reference.

Every engine gets exactly the same terms: `retrieval.textnorm.lexical_tokens`
(syllables, `~`-prefixed folded twins and folded `a_b` pairs), joined with
spaces, so each engine only has to split on whitespace.

Scale mode (`--passages N`) generates N passages, tokenizes them once into a
temporary file, then for each engine runs two fresh worker processes, so that
peak and resident memory belong to that engine alone:

* build: index build time (reading the token file included, tokenizing not),
  peak RSS, size on disk;
* query: open time, RSS after open and after the queries, latency p50/p95 of
  top-50 retrieval for 200 questions, the time to delete 1 passage + add 10 +
  commit until a reader sees them, and (tantivy) what deletes do to the BM25
  statistics before segments are merged.

THE SCALE CORPUS IS SYNTHETIC AND FICTIONAL: seeded random passages built from
lists of Vietnamese syllables, words, invented district names, mass
organisations, years and numbers.  No place, person or figure in it is real;
it only has the shape of the real corpus (headline · place · date header, then
60-120 syllables of body) so that term statistics and postings lengths are
realistic.

Quality mode (`--quality`) indexes the real evaluation corpus (corpus/ plus
tests/data/fictional/) with each engine and scores lexical-only ranking on
tests/data/questions.jsonl: article-level hit@1, hit@3, MRR, and the overlap
of each engine's top-5 passages with bm25s's.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import psutil

from retrieval.textnorm import fold, lexical_tokens

ROOT = Path(__file__).resolve().parent.parent

ENGINES = ("bm25s", "tantivy", "fts5")
TOP = 50
SEED = 20240110
MB = 1024 * 1024

# ---------------------------------------------------------------- synthetic corpus

_SYLLABLES = """an bình cát đông gia hà hòa hưng khánh lạc lâm long minh mỹ nam ninh phú phúc
quang sơn tân thanh thạnh thuận tiến trung vĩnh xuân yên đức hải lộc thọ bắc tây hồng kim
lương phong quế thái thủy văn vân cẩm đoan giang hiệp khê lai liên mai nghĩa quảng tường
uyên vạn xương đào chi bảo định hậu kỳ lĩnh nguyên""".split()
_FAMILY = "Nguyễn Trần Lê Phạm Hoàng Vũ Đặng Bùi Đỗ Hồ Ngô Dương Lý Đinh Mai Tạ".split()
_MIDDLE = "Văn Thị Đức Minh Thu Quốc Hữu Ngọc Thanh Xuân".split()
_ORGS = ["Hội Nông dân", "Hội Liên hiệp Phụ nữ", "Đoàn Thanh niên", "Hội Cựu chiến binh",
         "Ủy ban MTTQ", "Ban Dân vận", "Liên đoàn Lao động", "Hội Chữ thập đỏ",
         "Hội Người cao tuổi", "Hội Khuyến học"]
_ROLES = ["Chủ tịch", "Phó Chủ tịch", "Bí thư", "Phó Bí thư", "Trưởng ban", "Ủy viên Thường vụ"]
_HEADLINE_VERBS = ["tổng kết công tác", "triển khai nhiệm vụ", "sơ kết 6 tháng", "ra quân",
                   "hội nghị về", "đẩy mạnh", "kiểm tra", "giám sát"]
_TOPICS = ["xây dựng nông thôn mới", "chuyển đổi số", "giảm nghèo bền vững",
           "phát triển kinh tế hộ", "mô hình sản xuất", "hiến máu tình nguyện",
           "an toàn giao thông", "bảo vệ môi trường", "cải cách hành chính",
           "tuyên truyền pháp luật", "thi đua yêu nước", "vệ sinh an toàn thực phẩm",
           "phòng chống dịch bệnh", "khuyến học khuyến tài", "nhà đại đoàn kết",
           "quỹ hỗ trợ nông dân", "vay vốn ưu đãi", "đô thị văn minh", "sản phẩm OCOP",
           "phòng chống thiên tai", "chăm sóc người cao tuổi", "khởi nghiệp thanh niên"]
_VERBS = ["triển khai", "tổ chức", "phối hợp", "hướng dẫn", "vận động", "tuyên truyền",
          "kiểm tra", "giám sát", "tổng kết", "đánh giá", "hỗ trợ", "thành lập", "duy trì",
          "nhân rộng"]
_OBJECTS = ["hội viên", "đoàn viên", "cán bộ", "hộ gia đình", "thanh niên", "phụ nữ",
            "cựu chiến binh", "nông dân", "người dân", "chi hội", "cơ sở", "lượt người",
            "học sinh", "người lao động"]
_UNITS = ["thôn", "bản", "khu phố", "xã", "thị trấn"]
_FILLERS = ["Bên cạnh đó", "Đồng thời", "Qua đó", "Trong thời gian tới", "Nhờ vậy",
            "Ngoài ra", "Cùng với đó", "Thực hiện chỉ đạo của cấp trên"]
_TAILS = ["góp phần nâng cao đời sống nhân dân", "tạo chuyển biến rõ nét trong nhận thức",
          "được cấp ủy, chính quyền đánh giá cao", "còn một số hạn chế cần khắc phục",
          "bảo đảm đúng kế hoạch đề ra", "nâng cao chất lượng hoạt động của tổ chức",
          "huy động sức mạnh khối đại đoàn kết toàn dân tộc"]
_YEARS = list(range(2018, 2027))


def _title(words: str) -> str:
    return " ".join(w.capitalize() for w in words.split())


def _districts(count: int = 300) -> list[str]:
    """300 invented two-syllable district names, the same ones on every run."""
    rng = random.Random(SEED)
    names: list[str] = []
    while len(names) < count:
        name = _title(" ".join(rng.sample(_SYLLABLES, 2)))
        if name not in names:
            names.append(name)
    return names


DISTRICTS = _districts()


def _person(rng: random.Random) -> str:
    return f"{rng.choice(_FAMILY)} {rng.choice(_MIDDLE)} {_title(rng.choice(_SYLLABLES))}"


def _sentence(rng: random.Random, org: str, year: int, topic: str) -> str:
    n = rng.randint(2, 950)
    obj, verb, unit = rng.choice(_OBJECTS), rng.choice(_VERBS), rng.choice(_UNITS)
    commune = _title(" ".join(rng.sample(_SYLLABLES, 2)))
    forms = [
        f"{org} huyện đã {verb} {topic} cho {n} {obj}, {rng.choice(_TAILS)}.",
        f"Trong năm {year}, toàn huyện có {n} {obj} tham gia {rng.choice(_TOPICS)}.",
        f"{rng.choice(_FILLERS)}, {org.lower()} các {unit} tiếp tục {verb} {topic}.",
        f"Đồng chí {_person(rng)}, {rng.choice(_ROLES)} {org} huyện phát biểu chỉ đạo hội nghị.",
        f"Tại {unit} {commune}, {n} {obj} được {verb} với tổng kinh phí {rng.randint(5, 900)} triệu đồng.",
        f"Tỷ lệ {obj} đạt {rng.randint(40, 99)}%, tăng {rng.randint(1, 15)}% so với năm {year - 1}.",
        f"Đã tổ chức {rng.randint(2, 60)} lớp tập huấn về {rng.choice(_TOPICS)}, {rng.choice(_TAILS)}.",
    ]
    return rng.choice(forms)


def synthetic_passage(pid: int) -> tuple[str, dict]:
    """Passage `pid` (always the same text for the same pid) and what it is about."""
    rng = random.Random(SEED * 7919 + pid)
    place, org, year = rng.choice(DISTRICTS), rng.choice(_ORGS), rng.choice(_YEARS)
    topic = rng.choice(_TOPICS)
    headline = f"{org} huyện {place} {rng.choice(_HEADLINE_VERBS)} {topic} năm {year}"
    date = f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    target = rng.randint(60, 120)
    body: list[str] = []
    while sum(len(s.split()) for s in body) < target:
        body.append(_sentence(rng, org, year, topic))
    text = f"{headline} · {place} · {date}\n{' '.join(body)}"  # as Passage.indexed_text()
    return text, {"place": place, "org": org, "year": year}


def synthetic_questions(count: int = 200) -> list[dict]:
    """Questions aimed at one place + organisation + year; some typed without accents."""
    rng = random.Random(SEED + 1)
    templates = [
        "{org} huyện {place} năm {year} đã triển khai {topic} như thế nào?",
        "Năm {year}, {org} huyện {place} có bao nhiêu {obj} tham gia {topic}?",
        "Kết quả {topic} của {org} {place} năm {year}",
        "{org} huyện {place} tổng kết công tác năm {year} ra sao?",
        "Ai chủ trì hội nghị của {org} huyện {place} năm {year}?",
        "{org} {place} {year} hỗ trợ bao nhiêu hộ gia đình",
        "Trong năm {year} {org} ở {place} làm được gì về {topic}?",
    ]
    questions = []
    for i in range(count):
        target = {"place": rng.choice(DISTRICTS), "org": rng.choice(_ORGS),
                  "year": rng.choice(_YEARS)}
        text = rng.choice(templates).format(topic=rng.choice(_TOPICS), obj=rng.choice(_OBJECTS),
                                            **target)
        style = ("folded", "lower", "accented", "accented", "accented")[i % 5]
        if style == "folded":
            text = fold(text).lower()
        elif style == "lower":
            text = text.lower()
        questions.append({"question": text, "style": style, **target})
    return questions


def _token_line(pid: int) -> str:
    return " ".join(lexical_tokens(synthetic_passage(pid)[0]))


def write_token_file(path: Path, n: int) -> float:
    """Tokenize passages 0..n-1 (two processes) into one space-joined line each."""
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(2) as pool, open(path, "w", encoding="utf-8") as f:
        for line in pool.imap(_token_line, range(n), chunksize=2000):
            f.write(line + "\n")
    return time.perf_counter() - started


def read_token_lines(path: Path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            yield line.rstrip("\n")


# ---------------------------------------------------------------- engines

class Bm25sEngine:
    """Today's engine: dense score matrix in memory; any change means a full rebuild."""

    name = "bm25s"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.model = None

    @staticmethod
    def _bm25s():
        from retrieval.index import import_bm25s
        return import_bm25s()

    def build(self, lines) -> None:
        model = self._bm25s().BM25()
        model.index([line.split() for line in lines], show_progress=False)
        model.save(str(self.folder), show_progress=False)

    def open(self) -> None:
        self.model = self._bm25s().BM25.load(str(self.folder), show_progress=False)

    def search(self, tokens: list[str], k: int = TOP) -> list[int]:
        import numpy as np
        if not tokens:
            return []
        scores = self.model.get_scores(tokens)
        top = np.argpartition(-scores, k)[:k] if len(scores) > k else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        return [int(i) for i in top if scores[i] > 0]

    def update(self, token_file: Path, delete: int, added: dict[int, str]) -> None:
        """bm25s has no delete/add: rebuild from every token line, save, load."""
        def lines():
            for pid, line in enumerate(read_token_lines(token_file)):
                yield "" if pid == delete else line  # keep row numbers = passage ids
            yield from added.values()
        self.model = None
        self.build(list(lines()))
        self.open()


class TantivyEngine:
    """tantivy: segments on disk (mmap), whitespace tokenizer over our own tokens."""

    name = "tantivy"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.index = None
        self.id_reader = "fast_field_values"

    @staticmethod
    def schema():
        import tantivy
        builder = tantivy.SchemaBuilder()
        # index_option="freq": BM25 needs term frequencies, not positions (no phrase queries).
        builder.add_text_field("tokens", stored=False, tokenizer_name="whitespace",
                               index_option="freq")
        builder.add_unsigned_field("pid", stored=True, indexed=True, fast=True)
        return builder.build()

    @staticmethod
    def _doc(pid: int, line: str):
        import tantivy
        doc = tantivy.Document()
        doc.add_unsigned("pid", pid)
        doc.add_text("tokens", line)
        return doc

    def build(self, lines) -> None:
        import tantivy
        self.folder.mkdir(parents=True, exist_ok=True)  # tantivy will not create it
        index = tantivy.Index(self.schema(), path=str(self.folder))
        writer = index.writer(heap_size=200_000_000, num_threads=2)
        for pid, line in enumerate(lines):
            writer.add_document(self._doc(pid, line))
        writer.commit()
        writer.wait_merging_threads()

    def open(self) -> None:
        import tantivy
        self.index = tantivy.Index.open(str(self.folder))
        self.searcher = self.index.searcher()

    def query(self, tokens: list[str]):
        import tantivy
        schema = self.index.schema
        clauses = []
        for token, count in Counter(tokens).items():
            q = tantivy.Query.term_query(schema, "tokens", token)
            if count > 1:  # bm25s and FTS5 add a repeated query term once per occurrence
                q = tantivy.Query.boost_query(q, float(count))
            clauses.append((tantivy.Occur.Should, q))
        return tantivy.Query.boolean_query(clauses)

    def hits(self, tokens: list[str], k: int = TOP) -> list[tuple[float, int]]:
        if not tokens:
            return []
        found = self.searcher.search(self.query(tokens), k, count=False).hits
        addresses = [address for _, address in found]
        if self.id_reader == "fast_field_values":
            try:
                pids = self.searcher.fast_field_values("pid", addresses)
            except Exception:  # older bindings: fall back to the stored field
                self.id_reader = "stored"
        if self.id_reader == "stored":
            pids = [self.searcher.doc(a)["pid"][0] for a in addresses]
        return [(score, pid) for (score, _), pid in zip(found, pids, strict=True)]

    def search(self, tokens: list[str], k: int = TOP) -> list[int]:
        return [pid for _, pid in self.hits(tokens, k)]

    def delete(self, writer, pid: int) -> None:
        # Not writer.delete_documents_by_term("pid", pid): in tantivy 0.27 it silently
        # deletes nothing on a u64 field (the Python int does not become a u64 term),
        # whereas Query.term_query converts the value through the schema.
        import tantivy
        writer.delete_documents_by_query(tantivy.Query.term_query(self.index.schema, "pid", pid))

    def update(self, token_file: Path, delete: int, added: dict[int, str]) -> None:
        writer = self.index.writer(heap_size=50_000_000, num_threads=1)
        self.delete(writer, delete)
        for pid, line in added.items():
            writer.add_document(self._doc(pid, line))
        writer.commit()
        writer.wait_merging_threads()  # releases the writer lock
        self.index.reload()
        self.searcher = self.index.searcher()

    def delete_stats(self, n: int, questions: list[list[str]]) -> dict:
        """Delete 10 % of the passages and look at BM25's inputs before any merge."""
        doomed = max(1, n // 10)
        probe = questions[0]
        before_hits = self.hits(probe)
        survivor = next((pid for _, pid in before_hits if pid >= doomed), None)
        score_before = next((s for s, pid in before_hits if pid == survivor), None)
        terms = [t for t in ("~huyen", "~nam", "hội", probe[-1]) if t]
        before = {"num_docs": self.searcher.num_docs,
                  "num_segments": self.searcher.num_segments,
                  "doc_freq": {t: self.searcher.doc_freq("tokens", t) for t in terms}}
        writer = self.index.writer(heap_size=50_000_000, num_threads=1)
        started = time.perf_counter()
        for pid in range(doomed):
            self.delete(writer, pid)
        writer.commit()
        delete_seconds = time.perf_counter() - started
        writer.wait_merging_threads()
        self.index.reload()
        self.searcher = self.index.searcher()
        import tantivy
        after = {"num_docs": self.searcher.num_docs,
                 "num_segments": self.searcher.num_segments,
                 "doc_freq": {t: self.searcher.doc_freq("tokens", t) for t in terms},
                 "matching_docs": {t: self.searcher.search(
                     tantivy.Query.term_query(self.index.schema, "tokens", t), 1).count
                     for t in terms}}
        score_after = next((s for s, pid in self.hits(probe, 1000) if pid == survivor), None)
        return {"deleted": doomed, "delete_commit_s": delete_seconds, "before": before,
                "after": after, "probe_score_before": score_before,
                "probe_score_after": score_after}


class Fts5Engine:
    """SQLite FTS5, contentless: only the inverted index is stored (the project already
    keeps passage texts in passages.sqlite, from which a delete's tokens are recomputed)."""

    name = "fts5"
    TOKENIZE = "unicode61 remove_diacritics 0 tokenchars '~_'"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "lexical.sqlite"
        self.db = None

    def build(self, lines) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"CREATE VIRTUAL TABLE t USING fts5(tokens, content='', "
                   f"tokenize=\"{self.TOKENIZE}\")")
        with db:
            db.executemany("INSERT INTO t(rowid, tokens) VALUES (?, ?)", enumerate(lines))
        started = time.perf_counter()
        with db:
            db.execute("INSERT INTO t(t) VALUES ('optimize')")
        self.optimize_seconds = time.perf_counter() - started
        db.close()

    def open(self) -> None:
        self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)

    @staticmethod
    def match(tokens: list[str]) -> str:
        return " OR ".join(f'"{t}"' for t in tokens)  # tokens are \w, ~ and _ only

    def search(self, tokens: list[str], k: int = TOP) -> list[int]:
        if not tokens:
            return []
        rows = self.db.execute("SELECT rowid FROM t WHERE t MATCH ? ORDER BY bm25(t) LIMIT ?",
                               (self.match(tokens), k))
        return [r[0] for r in rows]

    def update(self, token_file: Path, delete: int, added: dict[int, str]) -> None:
        old = next(line for pid, line in enumerate(read_token_lines(token_file)) if pid == delete)
        writer = sqlite3.connect(self.path)
        with writer:
            # Contentless tables need the exact old tokens to delete (SQLite < 3.43).
            writer.execute("INSERT INTO t(t, rowid, tokens) VALUES ('delete', ?, ?)", (delete, old))
            writer.executemany("INSERT INTO t(rowid, tokens) VALUES (?, ?)", added.items())
        writer.close()
        # The reader connection sees the commit on its next statement (WAL).

    def vocabulary(self) -> set[str]:
        self.db.execute("CREATE VIRTUAL TABLE temp.v USING fts5vocab(main, t, 'row')")
        return {r[0] for r in self.db.execute("SELECT term FROM temp.v")}


ENGINE_CLASSES = {e.name: e for e in (Bm25sEngine, TantivyEngine, Fts5Engine)}


# ---------------------------------------------------------------- measurement helpers

def rss_mb() -> float:
    return psutil.Process().memory_info().rss / MB


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def disk_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / MB


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


# ---------------------------------------------------------------- workers (one process each)

def worker_build(engine_name: str, work: Path) -> dict:
    engine = ENGINE_CLASSES[engine_name](work / engine_name)
    baseline = rss_mb()
    started = time.perf_counter()
    engine.build(read_token_lines(work / "tokens.txt"))
    seconds = time.perf_counter() - started
    out = {"build_s": seconds, "rss_baseline_mb": baseline, "build_peak_rss_mb": peak_rss_mb(),
           "disk_mb": disk_mb(work / engine_name)}
    if engine_name == "fts5":
        out["optimize_s"] = engine.optimize_seconds
    return out


def worker_query(engine_name: str, work: Path, n: int, budget: float) -> dict:
    engine = ENGINE_CLASSES[engine_name](work / engine_name)
    questions = json.loads((work / "questions.json").read_text(encoding="utf-8"))
    tokens = [q["tokens"] for q in questions]
    baseline = rss_mb()
    started = time.perf_counter()
    engine.open()
    out = {"open_s": time.perf_counter() - started, "rss_baseline_mb": baseline,
           "rss_open_mb": rss_mb()}

    started = time.perf_counter()
    engine.search(tokens[0])
    out["first_query_ms"] = 1000 * (time.perf_counter() - started)
    times, results, deadline = [], [], time.perf_counter() + budget
    for t in tokens:
        if time.perf_counter() > deadline:
            break
        started = time.perf_counter()
        results.append(engine.search(t))
        times.append(1000 * (time.perf_counter() - started))
    out.update(queries=len(times), p50_ms=percentile(times, 0.5), p95_ms=percentile(times, 0.95),
               rss_after_queries_mb=rss_mb())
    if isinstance(engine, TantivyEngine):
        out["tantivy_id_reader"] = engine.id_reader
        out["tantivy_segments"] = engine.searcher.num_segments
    (work / f"results-{engine_name}.json").write_text(json.dumps(results))

    out.update(measure_update(engine, work, n))
    out["peak_rss_mb"] = peak_rss_mb()
    if isinstance(engine, TantivyEngine):
        out["delete_stats"] = engine.delete_stats(n, tokens)
    return out


def measure_update(engine, work: Path, n: int) -> dict:
    """Delete passage 7, add 10 new ones, commit, and check a reader sees both changes."""
    delete = 7
    added = {pid: _token_line(pid) for pid in range(n, n + 10)}
    deleted_tokens = next(line for pid, line in enumerate(read_token_lines(work / "tokens.txt"))
                          if pid == delete).split()
    started = time.perf_counter()
    engine.update(work / "tokens.txt", delete, added)
    seconds = time.perf_counter() - started
    new_found = sum(pid in engine.search(line.split(), 5) for pid, line in added.items())
    old_gone = delete not in engine.search(deleted_tokens, TOP)
    return {"update_s": seconds, "update_visible": f"{new_found}/10 new found, "
            f"deleted {'gone' if old_gone else 'STILL FOUND'}"}


# ---------------------------------------------------------------- scale run (parent)

def run_worker(*args: str) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.lexical_engines", "--_worker", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def target_rates(work: Path, engine: str, questions: list[dict]) -> dict:
    """How often the top passage (top 5) is about the question's place, organisation and year."""
    path = work / f"results-{engine}.json"
    if not path.exists():
        return {}
    results = json.loads(path.read_text())
    meta: dict[int, dict] = {}

    def on_target(pid: int, q: dict) -> bool:
        if pid not in meta:
            meta[pid] = synthetic_passage(pid)[1]
        m = meta[pid]
        return (m["place"], m["org"], m["year"]) == (q["place"], q["org"], q["year"])

    at1 = sum(bool(r) and on_target(r[0], q) for r, q in zip(results, questions, strict=False))
    at5 = sum(any(on_target(p, q) for p in r[:5]) for r, q in zip(results, questions, strict=False))
    return {"target@1": at1 / max(1, len(results)), "target@5": at5 / max(1, len(results))}


def overlap_with(work: Path, engine: str, reference: str = "bm25s", k: int = 5) -> float | None:
    a, b = work / f"results-{engine}.json", work / f"results-{reference}.json"
    if engine == reference or not (a.exists() and b.exists()):
        return None
    ra, rb = json.loads(a.read_text()), json.loads(b.read_text())
    pairs = list(zip(ra, rb, strict=False))
    return sum(len(set(x[:k]) & set(y[:k])) / k for x, y in pairs) / max(1, len(pairs))


def scale_run(n: int, engines: list[str], budget: float, keep: bool) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"lexical-{n}-"))
    report: dict = {"passages": n, "engines": {}}
    try:
        log(f"[{n}] tokenizing {n} synthetic passages into {work} ...")
        report["tokenize_s"] = write_token_file(work / "tokens.txt", n)
        report["tokens_file_mb"] = (work / "tokens.txt").stat().st_size / MB
        questions = synthetic_questions()
        for q in questions:
            q["tokens"] = lexical_tokens(q["question"])
        (work / "questions.json").write_text(json.dumps(questions, ensure_ascii=False))
        report["sample_questions"] = [q["question"] for q in questions[:5]]
        log(f"[{n}] tokenized in {report['tokenize_s']:.1f} s")
        for engine in engines:
            log(f"[{n}] {engine}: build ...")
            figures = run_worker("build", engine, str(work))
            log(f"[{n}] {engine}: {figures}")
            if "error" not in figures:
                log(f"[{n}] {engine}: query ...")
                figures.update({k if k not in figures else f"query_{k}": v
                                for k, v in run_worker("query", engine, str(work), str(n),
                                                       str(budget)).items()})
            figures.update(target_rates(work, engine, questions))
            report["engines"][engine] = figures
            shutil.rmtree(work / engine, ignore_errors=True)
            log(f"[{n}] {engine}: done")
        for engine in engines:
            if (ov := overlap_with(work, engine)) is not None:
                report["engines"][engine]["top5_overlap_bm25s"] = ov
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    return report


# ---------------------------------------------------------------- quality run

def load_eval_passages(tmp: Path):
    from retrieval.config import SplitConfig
    from retrieval.convert import read_article
    from retrieval.passages import split_article
    from retrieval.types import UnusableFile

    corpus = tmp / "eval_corpus"  # flat copy, as tests/conftest.py's eval_corpus does
    corpus.mkdir()
    for folder in (ROOT / "corpus", ROOT / "tests" / "data" / "fictional"):
        for path in folder.iterdir():
            if path.is_file() and path.name.lower() != "readme.md":
                shutil.copy(path, corpus / path.name)
    passages = []
    for path in sorted(corpus.iterdir()):
        try:
            article = read_article(path, corpus)
        except UnusableFile:
            continue
        passages.extend(split_article(article, SplitConfig()))
    return passages


def article_ranking(rows: list[int], passages) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        seen.setdefault(passages[row].article_id, None)
    return list(seen)


def quality_run() -> dict:
    questions = [json.loads(line) for line in
                 (ROOT / "tests/data/questions.jsonl").read_text(encoding="utf-8").splitlines()
                 if line.strip()]
    tmp = Path(tempfile.mkdtemp(prefix="lexical-quality-"))
    try:
        passages = load_eval_passages(tmp)
        lines = [" ".join(lexical_tokens(p.indexed_text())) for p in passages]
        engines = {}
        for name, cls in ENGINE_CLASSES.items():
            engine = cls(tmp / name)
            engine.build(lines)
            engine.open()
            engines[name] = engine
        vocab = set(" ".join(lines).split())
        fts_vocab = engines["fts5"].vocabulary()
        report = {"passages": len(passages), "articles": len({p.article_id for p in passages}),
                  "questions": len(questions),
                  "answerable": sum(bool(q["gold_ids"]) for q in questions),
                  "fts5_vocab_identical": fts_vocab == vocab,
                  "fts5_vocab_diff": sorted(fts_vocab ^ vocab)[:10], "engines": {}}
        ranked = {name: [e.search(lexical_tokens(q["question"])) for q in questions]
                  for name, e in engines.items()}
        for name in engines:
            report["engines"][name] = quality_figures(ranked[name], ranked["bm25s"], questions,
                                                      passages)
        return report
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def quality_figures(ranked, reference, questions, passages) -> dict:
    hit1 = hit3 = rr = 0.0
    by_type: dict[str, list[float]] = {}
    answerable = 0
    for rows, q in zip(ranked, questions, strict=False):
        if not q["gold_ids"]:
            continue
        answerable += 1
        articles = article_ranking(rows, passages)
        rank = next((i + 1 for i, a in enumerate(articles) if a in q["gold_ids"]), None)
        hit1 += rank == 1
        hit3 += rank is not None and rank <= 3
        rr += 1 / rank if rank else 0.0
        by_type.setdefault(q["type"], []).append(1 / rank if rank else 0.0)
    overlap = [len(set(a[:5]) & set(b[:5])) / max(1, min(5, len(b)))
               for a, b in zip(ranked, reference, strict=False)]
    return {"hit@1": hit1 / answerable, "hit@3": hit3 / answerable, "mrr": rr / answerable,
            "mrr_by_type": {t: sum(v) / len(v) for t, v in sorted(by_type.items())},
            "top5_overlap_bm25s": sum(overlap) / len(overlap)}


# ---------------------------------------------------------------- output

def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def print_scale(report: dict) -> None:
    n = report["passages"]
    print(f"\n== {n:,} synthetic passages (tokenizing: {report['tokenize_s']:.1f} s on 2 "
          f"processes, token file {report['tokens_file_mb']:.0f} MB; same for every engine)")
    rows = [
        ("build s", "build_s", "{:.1f}"), ("build peak RSS MB", "build_peak_rss_mb", "{:.0f}"),
        ("disk MB", "disk_mb", "{:.0f}"), ("open s", "open_s", "{:.2f}"),
        ("RSS after open MB", "rss_open_mb", "{:.0f}"),
        ("RSS after queries MB", "rss_after_queries_mb", "{:.0f}"),
        ("(interpreter baseline MB)", "query_rss_baseline_mb", "{:.0f}"),
        ("first query ms", "first_query_ms", "{:.1f}"),
        ("queries timed", "queries", "{}"),
        ("query p50 ms", "p50_ms", "{:.1f}"), ("query p95 ms", "p95_ms", "{:.1f}"),
        ("del 1 + add 10 + commit s", "update_s", "{:.2f}"),
        ("target@1", "target@1", "{:.2f}"), ("target@5", "target@5", "{:.2f}"),
        ("top-5 overlap with bm25s", "top5_overlap_bm25s", "{:.2f}"),
    ]
    engines = report["engines"]
    print(f"{'':28}" + "".join(f"{e:>14}" for e in engines))
    for label, key, fmt in rows:
        cells = [fmt.format(f[key]) if key in f and f[key] is not None else "-"
                 for f in engines.values()]
        print(f"{label:28}" + "".join(f"{c:>14}" for c in cells))
    for e, f in engines.items():
        if "error" in f:
            print(f"{e}: ERROR {f['error']}")
        if "optimize_s" in f:
            print(f"fts5: of the build, 'optimize' took {f['optimize_s']:.1f} s")
        if "update_visible" in f:
            print(f"{e}: after the update a reader sees: {f['update_visible']}")
        if "delete_stats" in f:
            d = f["delete_stats"]
            print(f"tantivy, {d['deleted']:,} passages deleted ({d['delete_commit_s']:.2f} s), "
                  f"no merge yet: num_docs {d['before']['num_docs']:,} -> {d['after']['num_docs']:,}, "
                  f"segments {d['before']['num_segments']} -> {d['after']['num_segments']}")
            for t, df in d["before"]["doc_freq"].items():
                print(f"   doc_freq({t!r}) {df:,} -> {d['after']['doc_freq'][t]:,} "
                      f"(docs matching now: {d['after']['matching_docs'][t]:,})")
            print(f"   BM25 score of one surviving passage for question 1: "
                  f"{d['probe_score_before']} -> {d['probe_score_after']}")


def print_quality(report: dict) -> None:
    print(f"\n== eval set: {report['articles']} articles, {report['passages']} passages, "
          f"{report['questions']} questions ({report['answerable']} answerable); "
          f"FTS5 vocabulary identical to lexical_tokens: {report['fts5_vocab_identical']}")
    print(f"{'':10}{'hit@1':>8}{'hit@3':>8}{'MRR':>8}{'top5 ovl':>10}   MRR by type")
    for name, f in report["engines"].items():
        types = ", ".join(f"{t} {v:.2f}" for t, v in f["mrr_by_type"].items())
        print(f"{name:10}{f['hit@1']:8.3f}{f['hit@3']:8.3f}{f['mrr']:8.3f}"
              f"{f['top5_overlap_bm25s']:10.2f}   {types}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, nargs="*", default=[],
                        help="synthetic corpus size(s), e.g. 100000 1000000")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--quality", action="store_true", help="score lexical ranking on the eval set")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--query-budget", type=float, default=120.0,
                        help="seconds of querying per engine before the rest is skipped")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--_worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args._worker:
        phase, engine, work, *rest = args._worker
        if phase == "build":
            out = worker_build(engine, Path(work))
        else:
            out = worker_query(engine, Path(work), int(rest[0]), float(rest[1]))
        print(json.dumps(out))
        return

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if unknown := set(engines) - set(ENGINES):
        parser.error(f"unknown engines: {', '.join(sorted(unknown))}")
    if not args.passages and not args.quality:
        parser.error("give --passages N and/or --quality")
    reports = {"scale": [scale_run(n, engines, args.query_budget, args.keep)
                         for n in args.passages]}
    if args.quality:
        reports["quality"] = quality_run()
    if args.json:
        print(json.dumps(reports, ensure_ascii=False, indent=1))
        return
    for report in reports["scale"]:
        print_scale(report)
    if args.quality:
        print_quality(reports["quality"])


if __name__ == "__main__":
    main()
