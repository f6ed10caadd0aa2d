"""A synthetic corpus, its questions and a fast stand-in embedder, for scale benchmarks.

Everything generated here is FICTIONAL: the districts are invented two-syllable
names put together from Vietnamese syllables (a combination may happen to match
a real place; no reference is meant), the people are random combinations of
common family, middle and given names, and every date, number, model and event
is drawn at random.  The articles only imitate the shape of local-government
news (an organisation of a district holds a review conference, recruits
members, hands over houses...) so that the splitter, BM25 and the dense index
see text of realistic length, vocabulary and redundancy.  Never use it as a
source of information.

- `write_corpus(folder, n_passages, seed)` writes one `.md` file with front
  matter (title, date, place, source) per article, 3-8 body paragraphs of
  300-1000 characters each, so `retrieval.passages.split_article` yields exactly
  one passage per paragraph; at most 1000 files per sub-folder.
- `questions(meta, n, seed)` asks about generated articles (with and without
  diacritics), each question naming the article id it targets.
- `write_new_article(folder, serial, seed)` adds one article about a place that
  no generated article names, with a question that only it answers.
- `HashedSyllableEmbedder` stands in for the 384-dimensional e5 model: each
  folded syllable gets a fixed pseudo-random Gaussian vector and a text is the
  normalised sum of its syllables' vectors, so texts sharing words get similar
  vectors (an ANN index sees clusters, as with a real model) at >10k passages/s.

Everything is deterministic: the same seed gives the same bytes.
"""
from __future__ import annotations

import hashlib
import random
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.textnorm import fold

FILES_PER_FOLDER = 1000
YEARS = range(2018, 2027)

# ---------------------------------------------------------------- vocabulary

# Syllables for invented district names.  The reserved ones further down never
# occur here, so an article about a reserved name is the only one about it.
_PLACE_FIRST = """Bình Lạc Sơn Đông Ngọc Vân Mỹ Kỳ Đào Tùng Hòa Phú An Thạch Hương Yên Long Tân
Thanh Quảng Hưng Gia Cẩm Kim Hải Lương Đức Phước Tiên Trường Vĩnh Minh Lộc Thuận Hoài Cát Nghĩa
Lam""".split()
_PLACE_SECOND = """Khê Giang Tràng Sương Phố Lâm Lương Nguyên Xuyên Điền Thủy Bắc Nam Hà Sơn Phong
Hải Thành Lộc Mỹ Tiến Trung Hòa Xá Kiều Đình Thắng Vượng Quan Bồng Diên Ninh Tường Linh Châu""".split()
_RESERVED_FIRST = ["Ngạn", "Quỳnh", "Sủng", "Khẩu", "Pác", "Mường", "Nà", "Chiêm"]
_RESERVED_SECOND = ["Thoa", "Lũng", "Ngòi", "Nặm", "Chiềng", "Bó", "Pản", "Mạ"]
N_PLACES = 400


def _place_names() -> list[str]:
    """400 distinct invented names, always the same ones (fixed seed, not the corpus seed)."""
    rng = random.Random(20240110)
    pairs = [(a, b) for a in _PLACE_FIRST for b in _PLACE_SECOND if a != b]
    rng.shuffle(pairs)
    return [f"{a} {b}" for a, b in pairs[:N_PLACES]]


PLACES = _place_names()
# A few are towns or cities, most are districts.
PLACE_KINDS = ["huyện"] * 8 + ["thị xã", "thành phố"]


@dataclass(frozen=True)
class Org:
    name: str  # "Hội Nông dân"
    short: str  # used in headlines
    members: str  # who it gathers
    head: str  # its leader's title


ORGS = [
    Org("Hội Nông dân", "Hội Nông dân", "hội viên nông dân", "Chủ tịch Hội Nông dân"),
    Org("Hội Liên hiệp Phụ nữ", "Hội LHPN", "hội viên phụ nữ", "Chủ tịch Hội LHPN"),
    Org("Đoàn Thanh niên", "Huyện đoàn", "đoàn viên thanh niên", "Bí thư Huyện đoàn"),
    Org("Hội Cựu chiến binh", "Hội CCB", "hội viên cựu chiến binh", "Chủ tịch Hội CCB"),
    Org("Ủy ban MTTQ", "Ủy ban MTTQ", "các tầng lớp nhân dân", "Chủ tịch Ủy ban MTTQ"),
    Org("Ban Dân vận", "Ban Dân vận Huyện ủy", "cán bộ làm công tác dân vận", "Trưởng Ban Dân vận"),
    Org("Liên đoàn Lao động", "Công đoàn", "đoàn viên công đoàn", "Chủ tịch Liên đoàn Lao động"),
    Org("Hội Chữ thập đỏ", "Hội Chữ thập đỏ", "tình nguyện viên chữ thập đỏ", "Chủ tịch Hội Chữ thập đỏ"),
]


@dataclass(frozen=True)
class Event:
    title: str  # headline phrase; {y} is the article's year
    noun: str  # what a question calls it
    month: tuple[int, int]  # months in which it happens


EVENTS = [
    Event("tổng kết công tác năm {y1}, triển khai nhiệm vụ năm {y}", "hội nghị tổng kết", (1, 1)),
    Event("sơ kết công tác 6 tháng đầu năm {y}", "hội nghị sơ kết 6 tháng", (6, 7)),
    Event("tổ chức đại hội đại biểu nhiệm kỳ {y}-{y5}", "đại hội", (3, 10)),
    Event("ra quân hưởng ứng Tháng hành động vì môi trường năm {y}", "lễ ra quân", (3, 5)),
    Event("ký kết chương trình phối hợp giai đoạn {y}-{y2}", "hội nghị ký kết", (2, 4)),
    Event("tổ chức hội thi \"Tuyên truyền viên giỏi\" năm {y}", "hội thi", (8, 10)),
    Event("trao nhà \"Đại đoàn kết\" cho hộ nghèo năm {y}", "lễ trao nhà", (9, 12)),
    Event("tập huấn nghiệp vụ cho cán bộ cơ sở năm {y}", "lớp tập huấn", (4, 8)),
    Event("giao ban công tác quý III năm {y}", "hội nghị giao ban", (9, 10)),
    Event("kỷ niệm ngày truyền thống và biểu dương điển hình tiên tiến năm {y}", "lễ kỷ niệm", (10, 11)),
]

_FAMILY = """Nguyễn Trần Lê Phạm Hoàng Phan Vũ Đặng Bùi Đỗ Hồ Ngô Dương Lý Tạ Đinh Lương Mai Trịnh Cao
Hà Lại Chu Kiều""".split()
_MIDDLE = "Văn Thị Đức Minh Quang Thanh Ngọc Hữu Công Xuân Thu Kim Hồng Bảo".split()
_GIVEN = """An Bình Cường Dũng Hà Hải Hạnh Hòa Hùng Hương Lan Linh Long Mai Nam Nga Phong Phúc Quân
Sơn Tâm Thắng Thảo Trang Tuấn Vinh Yến Khánh Loan Hiền Toàn Thịnh Giang Duyên Tú""".split()
_GUEST_ROLES = ["Phó Bí thư Thường trực Huyện ủy", "Phó Chủ tịch UBND huyện", "Trưởng Ban Dân vận Huyện ủy",
                "Chủ tịch Ủy ban MTTQ huyện", "Ủy viên Ban Thường vụ Huyện ủy", "Phó Chủ tịch HĐND huyện"]
_MODELS = ["Chi hội nông dân nghề nghiệp", "Tổ hợp tác trồng nấm", "Câu lạc bộ gia đình hạnh phúc",
           "Tuyến đường hoa", "Thắp sáng đường quê", "Tổ tiết kiệm và vay vốn", "Vườn cây kiểu mẫu",
           "Nhà văn hóa xanh", "Tổ tự quản an ninh trật tự", "Bếp ăn tình thương", "Phiên chợ 0 đồng",
           "Hũ gạo tình thương", "Tủ sách pháp luật", "Con đường bích họa", "Ao cá Bác Hồ",
           "Hợp tác xã chăn nuôi bò", "Tổ phụ nữ không sinh con thứ ba", "Điểm sáng văn hóa khu dân cư",
           "Mái ấm cựu chiến binh", "Thanh niên khởi nghiệp"]
_CROPS = ["cây ăn quả", "lúa chất lượng cao", "rau an toàn", "chè", "quế", "cá lồng", "gà đồi", "bò vỗ béo",
          "nấm rơm", "dược liệu"]
_SOURCES = ["Trung tâm Truyền thông và Văn hóa huyện", "Đài Truyền thanh huyện", "Ban Tuyên giáo Huyện ủy",
            "Cổng thông tin điện tử huyện", "Văn phòng Huyện ủy"]

# ---------------------------------------------------------------- sentence templates
# Slots: the article's facts ({org} {org_short} {kind} {place} {members} {y} {y1}...) and the
# numbers and choices of _DRAWS, drawn per sentence.  A paragraph is sentences of one theme,
# added until it reaches its drawn length.

_OPENING = [
    "{when}, {org} {kind} {place} tổ chức {event}.",
    "Đồng chí {chair}, {head} {kind} chủ trì hội nghị; dự có đồng chí {guest}, {guest_role} cùng {n1} đại "
    "biểu đại diện các xã, thị trấn và các chi hội trực thuộc.",
    "Năm {y1}, trong bối cảnh còn nhiều khó khăn, các cấp {org_short} trên địa bàn {kind} đã bám sát "
    "nghị quyết đại hội, chủ động phối hợp với chính quyền và các đoàn thể để triển khai nhiệm vụ.",
    "Hội nghị đã thông qua báo cáo kết quả thực hiện nhiệm vụ và thảo luận {n2} ý kiến tham luận của các "
    "đơn vị cơ sở.",
]
_MEMBERS = [
    "Trong năm, các cấp {org_short} kết nạp {new_members} {members} mới, nâng tổng số lên {total} người, "
    "đạt {pct}% chỉ tiêu đề ra.",
    "Mô hình \"{model}\" được duy trì ở {n1} xã, thị trấn và thu hút {n2} {members} tham gia thường xuyên.",
    "Toàn {kind} có {n3} chi hội, chi đoàn được xếp loại vững mạnh, tăng {n4} đơn vị so với năm {y1}.",
    "Công tác tuyên truyền được đổi mới, với {n5} buổi sinh hoạt chuyên đề cho trên {n6} lượt người dự.",
]
_ECONOMY = [
    "{org} {kind} {place} đang quản lý dư nợ ủy thác {money} tỷ đồng qua {n1} tổ tiết kiệm và vay vốn, "
    "giúp {n2} hộ vay vốn phát triển kinh tế.",
    "Nhiều hộ mạnh dạn chuyển đổi sang trồng {crop}, cho thu nhập từ {n3} đến {n4} triệu đồng mỗi năm.",
    "Các cấp hội phối hợp mở {n5} lớp dạy nghề ngắn hạn, hướng dẫn kỹ thuật nuôi {crop2} cho {n6} người.",
    "Đã có {n7} hộ đạt danh hiệu sản xuất, kinh doanh giỏi các cấp, {n8} hộ thoát nghèo trong năm.",
]
_SOCIAL = [
    "Từ nguồn vận động xã hội hóa, {org_short} đã trao {houses} nhà \"Đại đoàn kết\" cho hộ nghèo, "
    "mỗi căn trị giá {n1} triệu đồng.",
    "Nhân dịp Tết Nguyên đán, các cấp hội tặng {n2} suất quà cho gia đình chính sách và hộ có hoàn cảnh "
    "khó khăn với tổng trị giá {n3} triệu đồng.",
    "Phong trào hiến máu tình nguyện thu về {n4} đơn vị máu; {n5} trẻ em mồ côi được nhận đỡ đầu.",
    "Hưởng ứng cuộc vận động xây dựng nông thôn mới, {members} đã hiến {n6} m2 đất, góp {n7} ngày công "
    "làm mới {km} km đường giao thông nông thôn.",
]
_LIMITS = [
    "Bên cạnh những kết quả đạt được, công tác {org_short} năm {y1} vẫn còn một số hạn chế.",
    "Việc tập hợp {members} trẻ gặp khó khăn do nhiều người đi làm ăn xa; {n1} chi hội sinh hoạt chưa "
    "đều đặn.",
    "Một số mô hình hiệu quả chưa cao, chưa được nhân rộng; nguồn kinh phí hoạt động ở cơ sở còn hạn hẹp.",
    "Công tác nắm bắt tư tưởng, tâm trạng {members} ở {n2} thôn, khu dân cư có lúc chưa kịp thời.",
]
_TASKS = [
    "Năm {y}, {org} {kind} {place} phấn đấu kết nạp {n1} {members} mới và xây dựng thêm {n2} mô hình "
    "\"{model2}\".",
    "Các cấp hội tiếp tục đổi mới nội dung, phương thức hoạt động, hướng mạnh về cơ sở, phấn đấu {pct}% "
    "chi hội đạt vững mạnh.",
    "{org_short} sẽ phối hợp tổ chức {n3} lớp tập huấn và vận động trao thêm {n4} nhà \"Mái ấm tình "
    "thương\" trước ngày {d}/{m}/{y}.",
    "Trọng tâm là tham gia giám sát, phản biện xã hội và xây dựng Đảng, chính quyền trong sạch, vững mạnh.",
]
_SPEECH = [
    "Phát biểu chỉ đạo, đồng chí {speaker}, {speaker_role} ghi nhận và biểu dương những kết quả "
    "{org_short} đạt được trong năm qua.",
    "Đồng chí đề nghị các cấp hội bám sát cơ sở, nắm chắc tình hình {members} và chủ động giải quyết "
    "những kiến nghị ngay từ thôn, khu dân cư.",
    "Dịp này, {org} {kind} khen thưởng {n1} tập thể và {n2} cá nhân có thành tích xuất sắc.",
    "Hội nghị cũng phát động phong trào thi đua năm {y} với chủ đề \"{theme}\".",
]
_THEMES = ["Đoàn kết, đổi mới, sáng tạo, phát triển", "Chung tay xây dựng nông thôn mới nâng cao",
           "Kỷ cương, trách nhiệm, hành động, hiệu quả", "Vì một cộng đồng khỏe mạnh, văn minh",
           "Phát huy truyền thống, đoàn kết, hội nhập"]
# Paragraph themes after the opening and the membership paragraph, in reading order.
_MIDDLE_THEMES = [_ECONOMY, _SOCIAL, _LIMITS, _TASKS, _SOCIAL, _ECONOMY]


# ---------------------------------------------------------------- one article

@dataclass
class ArticleSpec:
    """What an article says, drawn from (seed, number) alone so questions can redraw it."""

    number: int
    place: str
    kind: str
    org: Org
    year: int
    event: Event
    day: int
    month: int
    chair: str
    guest: str
    guest_role: str
    new_members: int
    model: str
    paragraphs: int  # 3..8

    @property
    def title(self) -> str:
        y = self.year
        what = self.event.title.format(y=y, y1=y - 1, y2=y + 2, y5=y + 5)
        return f"{self.org.short} {self.kind} {self.place} {what}"

    @property
    def date(self) -> str:
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"

    def article_id(self) -> str:
        return f"{self.number // FILES_PER_FOLDER:04d}/{_slug(self.place)}_{self.year}_{self.number:07d}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", fold(text).lower()).strip("_")


def _person(rng: random.Random) -> str:
    return f"{rng.choice(_FAMILY)} {rng.choice(_MIDDLE)} {rng.choice(_GIVEN)}"


def _combo(seed: int, number: int) -> tuple[str, Org, int, Event]:
    """Place, organisation, year and event: a seeded walk through all 288,000 combinations,
    so no two of the first 288,000 articles share all four (a question naming them is exact)."""
    total = len(PLACES) * len(ORGS) * len(YEARS) * len(EVENTS)
    k = (number * 104_729 + seed * 7_919) % total  # 104,729 is prime and does not divide total
    k, e = divmod(k, len(EVENTS))
    k, y = divmod(k, len(YEARS))
    p, o = divmod(k, len(ORGS))
    return PLACES[p], ORGS[o], YEARS[y], EVENTS[e]


def _rng(seed: int, number: int, stream: int) -> random.Random:
    """Independent random streams per (seed, article, purpose)."""
    return random.Random(((seed * 100_000_007 + number) << 2) + stream)


def article_spec(seed: int, number: int) -> ArticleSpec:
    rng = _rng(seed, number, 0)
    place, org, year, event = _combo(seed, number)
    return ArticleSpec(
        number=number, place=place, kind=rng.choice(PLACE_KINDS), org=org, year=year, event=event,
        day=rng.randint(1, 28), month=rng.randint(*event.month),
        chair=_person(rng), guest=_person(rng), guest_role=rng.choice(_GUEST_ROLES),
        new_members=rng.randint(40, 2400), model=rng.choice(_MODELS), paragraphs=rng.randint(3, 8),
    )


_DAYPART = ["Sáng ngày", "Chiều ngày", "Ngày"]


def _lo_hi(lo: int, hi: int):
    return lambda r: lo + int(r.random() * (hi - lo + 1))


def _pick(items: list[str]):
    return lambda r: items[int(r.random() * len(items))]


# How each number or choice a template names is drawn, fresh for every sentence.
_DRAWS = {f"n{i}": _lo_hi(2, 950) for i in range(1, 9)} | {
    "pct": _lo_hi(60, 100), "houses": _lo_hi(2, 60), "total": _lo_hi(2500, 40000),
    "d": _lo_hi(1, 28), "m": _lo_hi(1, 12),
    "money": lambda r: f"{5 + int(r.random() * 176)},{1 + int(r.random() * 9)}",
    "km": lambda r: f"{1 + int(r.random() * 40)},{1 + int(r.random() * 9)}",
    "crop": _pick(_CROPS), "crop2": _pick(_CROPS), "model2": _pick(_MODELS), "theme": _pick(_THEMES),
    "speaker": lambda r: f"{_pick(_FAMILY)(r)} {_pick(_MIDDLE)(r)} {_pick(_GIVEN)(r)}",
    "speaker_role": _pick(_GUEST_ROLES),
}


class _Slots(dict):
    """The article's facts, plus the numbers a sentence asks for, drawn only when asked (fast)."""

    def __init__(self, facts: dict, rng: random.Random) -> None:
        super().__init__(facts)
        self.rng = rng

    def __missing__(self, key: str):
        value = self[key] = _DRAWS[key](self.rng)
        return value


def _fill_paragraph(rng: random.Random, templates: list[str], facts: dict, first: list[str] = ()) -> str:
    """Sentences of one theme (fresh numbers each) until the paragraph reaches 300-800 characters."""
    target = rng.randint(300, 800)
    order = list(first) + [t for t in rng.sample(templates, len(templates)) if t not in first]
    sentences: list[str] = []
    length = 0
    while length < target:
        if not order:  # a theme can be used up before a long target: repeat it with new numbers
            order = rng.sample(templates, len(templates))
        sentence = order.pop(0).format_map(_Slots(facts, rng))
        sentences.append(sentence)
        length += len(sentence) + 1
    return " ".join(sentences)


def render_article(spec: ArticleSpec, seed: int, paragraphs: int | None = None) -> str:
    """The article's file text: front matter, then one body paragraph per line pair."""
    rng = _rng(seed, spec.number, 1)
    y = spec.year
    facts = dict(
        org=spec.org.name, org_short=spec.org.short, kind=spec.kind, place=spec.place,
        members=spec.org.members, head=spec.org.head, y=y, y1=y - 1,
        when=f"{rng.choice(_DAYPART)} {spec.day}/{spec.month}/{y}",
        event=spec.event.title.format(y=y, y1=y - 1, y2=y + 2, y5=y + 5),
        chair=spec.chair, guest=spec.guest, guest_role=spec.guest_role,
        new_members=spec.new_members, model=spec.model,
    )
    n = spec.paragraphs if paragraphs is None else paragraphs
    body = [_fill_paragraph(rng, _OPENING, facts, first=_OPENING[:2])]
    if n >= 2:
        body.append(_fill_paragraph(rng, _MEMBERS, facts, first=_MEMBERS[:2]))
    middle = rng.sample(_MIDDLE_THEMES, max(0, n - 3))
    body += [_fill_paragraph(rng, theme, facts) for theme in middle]
    if n >= 3:
        body.append(_fill_paragraph(rng, _SPEECH, facts))
    source = f"{_person(rng)} ({rng.choice(_SOURCES)} {spec.place})"
    head = (f"---\ntitle: {spec.title}\ndate: {spec.date}\nplace: {spec.place}\nsource: {source}\n"
            f"note: bài viết hư cấu, sinh tự động cho đo hiệu năng (fictional benchmark article)\n---\n")
    return head + "\n\n".join(body) + "\n"


# ---------------------------------------------------------------- the corpus

@dataclass
class CorpusMeta:
    """What `questions` needs: per article its id, place, organisation, year and paragraph count."""

    seed: int
    passages: int
    ids: list[str]
    places: list[str]
    orgs: list[str]
    years: list[int]
    paragraphs: list[int]

    @property
    def articles(self) -> int:
        return len(self.ids)


def corpus_specs(n_passages: int, seed: int = 0):
    """(spec, paragraphs) of each article of the corpus of `n_passages` (the last one cut short)."""
    passages, number = 0, 0
    while passages < n_passages:
        spec = article_spec(seed, number)
        n = min(spec.paragraphs, n_passages - passages)
        yield spec, n
        passages += n
        number += 1


def corpus_meta(n_passages: int, seed: int = 0) -> CorpusMeta:
    """What `write_corpus` returns, without writing: to ask about a corpus written before."""
    meta = CorpusMeta(seed, 0, [], [], [], [], [])
    for spec, n in corpus_specs(n_passages, seed):
        _record(meta, spec, n)
    return meta


def _record(meta: CorpusMeta, spec: ArticleSpec, n: int) -> None:
    meta.ids.append(spec.article_id())
    meta.places.append(spec.place)
    meta.orgs.append(spec.org.name)
    meta.years.append(spec.year)
    meta.paragraphs.append(n)
    meta.passages += n


def write_corpus(folder: str | Path, n_passages: int, seed: int = 0) -> CorpusMeta:
    """Write articles into `folder` until they hold `n_passages` passages (the last one is cut short)."""
    folder = Path(folder)
    meta = CorpusMeta(seed, 0, [], [], [], [], [])
    made: set[Path] = set()
    for spec, n in corpus_specs(n_passages, seed):
        path = folder / f"{spec.article_id()}.md"
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        path.write_text(render_article(spec, seed, n), encoding="utf-8")
        _record(meta, spec, n)
    return meta


# ---------------------------------------------------------------- questions

@dataclass
class Question:
    text: str
    article_id: str
    kind: str  # which template; "-unaccented" when typed without diacritics


def _question_for(spec: ArticleSpec, paragraphs: int, rng: random.Random) -> tuple[str, str]:
    o, k, p, y = spec.org, spec.kind, spec.place, spec.year
    choices = [
        ("event", f"{o.name} {k} {p} {spec.event.noun} năm {y} có nội dung gì?"),
        ("event", f"Kết quả {spec.event.noun} của {o.short} {k} {p} năm {y}"),
        ("chair", f"Ai chủ trì {spec.event.noun} của {o.name} {k} {p} năm {y}?"),
        ("date", f"{o.short} {p} {spec.event.noun} vào ngày nào năm {y}?"),
        ("keywords", f"{o.name} {p} {y} {spec.event.noun}"),
        ("person", f"Đồng chí {spec.chair} phát biểu gì tại {spec.event.noun} ở {p}?"),
    ]
    if paragraphs >= 2:
        choices += [
            ("number", f"{o.name} {k} {p} kết nạp bao nhiêu {o.members} mới năm {y - 1}?"),
            ("model", f"Mô hình \"{spec.model}\" của {o.short} {k} {p} năm {y} thu hút bao nhiêu người?"),
        ]
    return rng.choice(choices)


def questions(meta: CorpusMeta, n: int = 240, seed: int = 0) -> list[Question]:
    """`n` questions about random articles (distinct ones while there are enough); about a
    third typed without diacritics."""
    rng = random.Random(seed + 99)
    numbers: list[int] = []
    while len(numbers) < n:
        numbers += rng.sample(range(meta.articles), min(n - len(numbers), meta.articles))
    out = []
    for number in numbers:
        spec = article_spec(meta.seed, number)
        kind, text = _question_for(spec, meta.paragraphs[number], rng)
        if rng.random() < 0.35:
            text, kind = fold(text).lower(), f"{kind}-unaccented"
        out.append(Question(text, meta.ids[number], kind))
    return out


def write_new_article(folder: str | Path, serial: int, seed: int = 0) -> tuple[Path, Question]:
    """One more article, about a place no generated article names; returns its file and a question
    that only it answers.  `serial` picks the place, so repeated calls give distinct subjects."""
    first = _RESERVED_FIRST[serial % len(_RESERVED_FIRST)]
    second = _RESERVED_SECOND[(serial // len(_RESERVED_FIRST)) % len(_RESERVED_SECOND)]
    spec = article_spec(seed, 10_000_000 + serial)
    spec.place, spec.kind, spec.org = f"{first} {second}", "huyện", ORGS[3]
    spec.paragraphs = 4
    article_id = f"zz_new/{_slug(spec.place)}_{spec.year}_{serial:04d}"
    path = Path(folder) / f"{article_id}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_article(spec, seed), encoding="utf-8")
    q = f"Hội Cựu chiến binh huyện {spec.place} kết nạp bao nhiêu hội viên mới năm {spec.year - 1}?"
    return path, Question(q, article_id, "new-article")


# ---------------------------------------------------------------- stand-in embedder

_TOKEN = re.compile(r"\w+")


class HashedSyllableEmbedder:
    """Deterministic, model-free 384-d vectors: sum of per-syllable Gaussian vectors, normalised.

    The sum runs over a text's distinct syllables (a set of words, like a binary bag of
    words), so the function words every passage repeats do not drown its topic.

    A syllable is folded (no diacritics, lower case) and hashed with blake2b (stable across
    processes, unlike hash()) into the seed of its vector; vectors are cached in a growing
    table, so a text costs one regex, a few dict look-ups and one gather-and-sum.  Texts that
    share syllables point the same way, which gives an ANN index realistic cluster structure.
    Accented and unaccented spellings embed identically (the real model does not).
    """

    identity = "bench:hashed-syllables:384"
    dim = 384

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}  # raw lower-case syllable -> row of its folded form
        self._rows: dict[str, int] = {}  # folded syllable -> row
        self._table = np.zeros((4096, self.dim), dtype=np.float32)
        # Each row's hash: a text's rows are summed in this order, not in order of first sight,
        # so the same text gets the same bits in every process whatever it embedded before.
        self._keys = np.zeros(4096, dtype=np.uint64)
        self._lock = threading.Lock()

    def _row(self, token: str) -> int:
        """Row of a syllable never seen in this form; called once per distinct spelling."""
        folded = fold(token)
        row = self._rows.get(folded)
        if row is None:
            row = len(self._rows)
            if row == len(self._table):
                self._table = np.concatenate([self._table, np.zeros_like(self._table)])
                self._keys = np.concatenate([self._keys, np.zeros_like(self._keys)])
            digest = hashlib.blake2b(folded.encode("utf-8"), digest_size=8, person=b"bench384").digest()
            key = int.from_bytes(digest, "little")
            self._table[row] = np.random.default_rng(key).standard_normal(self.dim, dtype=np.float32)
            self._keys[row] = key
            self._rows[folded] = row
        self._ids[token] = row
        return row

    def _token_rows(self, text: str) -> list[int]:
        """Rows of the text's distinct syllables."""
        tokens = set(_TOKEN.findall(text.lower()))
        rows = set(map(self._ids.get, tokens))
        if None in rows:
            rows = {self._ids.get(t) if t in self._ids else self._row(t) for t in tokens}
        return list(rows) or [self._row("")]  # an empty text still gets a (fixed) unit vector

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            per_text = [self._token_rows(t) for t in texts]
            lengths = np.fromiter((len(r) for r in per_text), dtype=np.int64, count=len(per_text))
            flat = np.fromiter((r for rows in per_text for r in rows), dtype=np.int64,
                               count=int(lengths.sum()))
            flat = flat[np.lexsort((self._keys[flat], np.repeat(np.arange(len(texts)), lengths)))]
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
            sums = np.add.reduceat(self._table[flat], starts, axis=0)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return (sums / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_passages([text])[0]
