"""The Vietnamese vocabulary of work programmes: every word list the rules read, in one place.

The rules that use these words stay where they work (textnorm's lexical tokens,
query's constraints, articles' places, answer's cues, the chat's follow-ups and
/chude); this module holds data only and imports nothing of the project, so any
layer can read it (chat/ reads it; it never reads chat/).  Sections, top to
bottom: stop words, administrative units, asking words, organisations, event
kinds, offices and people, counting, time, and where a name or a headline ends.

Why Python and not a data file: most entries come with the reason they are (or
are not) there, several tables are derived from one another (aliases from the
organisations), and the spellings of organisations feed the index's lexical
tokens: a change here must travel in the same reviewed diff as a bump of
`textnorm.LEXICAL_TOKENS_VERSION`, which a file edited beside a deployment would
skip silently.

Conventions: phrases are lower case, NFC, syllables separated by one space.
Lists marked "folded" are written without diacritics (đ -> d), as
`textnorm.fold` writes them; the rule that reads them folds the text first.
"""
from __future__ import annotations

from typing import NamedTuple

# ---------------------------------------------------------------- stop words

# Question and function words that carry no topic; they must not make a
# question look answered just because the article also uses them.  Words whose
# folded form is also a content word ("thì"/"thi đua", "đang"/"Đảng",
# "hỏi"/"hội") are deliberately absent: IDF already weighs them lightly.
STOPWORDS = frozenset(
    """
    ai cái chưa của cùng đã gì hay hãy không là mà này nào nhé nhỉ những ở ra rằng rồi
    sao sẽ tôi trong từng và với bị khi nhiều nhiêu ít ấy kia gồm biết các cho được đến
    theo như bạn muốn xem
    """.split()
)

# ---------------------------------------------------------------- administrative units and levels

DISTRICT, PROVINCE, COMMUNE = 0, 1, 2  # tiers, in the order a citation wants a place


class Unit(NamedTuple):
    """An administrative unit: how pages and questions name it, and what is named after it."""

    name: str  # as a reply names the level: "thị xã"
    tier: int  # DISTRICT (what a district portal serves), PROVINCE or COMMUNE
    short: tuple[str, ...] = ()  # abbreviations: "TX Ngọc Sương", "TX. Ngọc Sương"
    alias: str | None = None  # the alias term the name shares with its abbreviations
    committee: str | None = None  # its Party committee: "Thị ủy"
    youth_union: str | None = None  # its Youth Union: "Thị đoàn"


# The one list of units that page parsing (articles/places.py) and question
# parsing (query.py, the follow-ups) read; every table below is derived from it.
ADMINISTRATIVE_UNITS = (
    Unit("huyện", DISTRICT, committee="huyện ủy", youth_union="huyện đoàn"),
    Unit("quận", DISTRICT, committee="quận ủy", youth_union="quận đoàn"),
    Unit("thành phố", DISTRICT, ("tp",), "thanh_pho", "thành ủy", "thành đoàn"),
    Unit("thị xã", DISTRICT, ("tx",), "thi_xa", "thị ủy", "thị đoàn"),
    Unit("tỉnh", PROVINCE, committee="tỉnh ủy", youth_union="tỉnh đoàn"),
    Unit("thị trấn", COMMUNE),
    Unit("xã", COMMUNE),
    Unit("phường", COMMUNE),
)

# Units as a question names them; each names its own level.
UNIT_NAMES = tuple(u.name for u in ADMINISTRATIVE_UNITS)
# Short forms ("TP Lam Hạ"), with the alias term they share with the unit's name.
UNIT_ABBREVIATIONS = {short: (u.name, u.alias) for u in ADMINISTRATIVE_UNITS for short in u.short}
# A unit's Party committee and its Youth Union are named after it: "Thành ủy", "Thị đoàn".
PARTY_COMMITTEES = {u.committee: u.name for u in ADMINISTRATIVE_UNITS if u.committee}
YOUTH_UNIONS = {u.youth_union: u.name for u in ADMINISTRATIVE_UNITS if u.youth_union}
# Every way a question names a unit, with the level a reply names.  "tỉnh", "xã",
# "phường" and "quận" typed without accents are also "tình", "xa", "phương" and
# "quan" (tình nguyện, phương hướng, cơ quan): unaccented, they introduce only a
# place the index knows.
UNITS = {**{u: u for u in UNIT_NAMES}, **PARTY_COMMITTEES, **YOUTH_UNIONS,
         **{short: unit for short, (unit, _) in UNIT_ABBREVIATIONS.items()}}
AMBIGUOUS_UNACCENTED_UNITS = frozenset({"tinh", "xa", "phuong", "quan"})  # folded
# Words that end with one of those and are no unit at all: "cơ quan Đầm Hà" is a
# body's office in Đầm Hà, not "quận Đầm Hà" (folded).
UNIT_LOOKALIKES = frozenset({"co quan", "lien quan", "dia phuong"})
# Levels below a district (None: no level said): an article is seldom about one, the paragraph is.
LOCAL_LEVELS = frozenset({u.name for u in ADMINISTRATIVE_UNITS if u.tier == COMMUNE} | {None})
# A level named without a place ("cấp tỉnh", "của tỉnh") in a follow-up: one word.
LEVEL_WORDS = frozenset(u for u in UNIT_NAMES if " " not in u)

# Words that only frame a constraint when a place or a year follows them
# ("huyện Tùng Khê", "năm 2024", "nhiệm kỳ 2020-2025"); elsewhere they may be
# topic ("thanh niên", "đoàn", "thi đua"), so they are dropped only there.
FRAME_WORDS = frozenset({w for u in UNIT_NAMES for w in u.split()} | set(UNIT_ABBREVIATIONS)
                        | {"năm", "nhiệm", "kỳ", "giai", "đoạn", "ở", "tại", "của"})


def _spelled(phrase: str) -> str:
    """A unit's name as a pattern: syllables apart by any space, "ủy" also written "uỷ",
    and a one-syllable name not as the end of another's ("xã" in "thị xã")."""
    if " " not in phrase:
        ends = [u.name.split()[0] for u in ADMINISTRATIVE_UNITS if u.name.endswith(" " + phrase)]
        return "".join(rf"(?<!{first}\s)" for first in ends) + phrase
    return r"\s+".join("(?:ủy|uỷ)" if w == "ủy" else w for w in phrase.split())


def _unit_pattern(tier: int) -> str:
    """The units of a tier as articles write them: names and committees, longest first
    ("Huyện ủy Đầm Hà" must not read as "huyện" + "Ủy Đầm Hà"), then abbreviations with
    or without their full stop ("TP. Lam Hạ", "TX Ngọc Sương")."""
    units = [u for u in ADMINISTRATIVE_UNITS if u.tier == tier]
    names = sorted([u.committee for u in units if u.committee] + [u.name for u in units],
                   key=lambda name: -len(name.split()))
    shorts = [rf"{short}\.\s*|{short}\s+" for u in units for short in u.short]
    return "|".join([rf"(?:{'|'.join(map(_spelled, names))})\s+", *shorts])


# Units as articles write them, as regular-expression fragments (each ends with
# the space before the name), from the level a citation wants most (the district
# or town) to the least.
UNIT_PATTERNS = tuple(_unit_pattern(tier) for tier in (DISTRICT, PROVINCE, COMMUNE))
# Bodies named with their unit, in a banner ("UBND huyện Hòa Lĩnh") or after an
# office ("Chủ tịch UBND huyện Nguyễn Văn A"), as a regular-expression alternation.
UNIT_BODIES = r"ubnd|hđnd|[uủ][ỷy] ban nhân dân|hội đồng nhân dân|đảng bộ|ubmttq|[uủ][ỷy] ban mttq|mttq"
# Unit words a captured place name may still open with ("Ủy Đầm Hà"): those of the
# district and province tiers; a commune's ("trấn", "phường") were never left in front of one.
UNIT_WORDS = frozenset({w for u in ADMINISTRATIVE_UNITS if u.tier != COMMUNE
                        for phrase in (u.name, u.committee, *u.short) for w in phrase.split()} | {"uỷ"})
# The level word that ends a body's name after an office (folded): "Chủ tịch Hội
# Nông dân tỉnh"; "thị" and "thành" end it with the syllable after them.  The units'
# first syllables (tests/test_vocabulary.py keeps them so) and the levels below a
# commune (ấp, thôn, khu), but not "quan": folded it is also the "cơ quan" of a
# body's name ("Chủ tịch Công đoàn cơ quan huyện").
LEVEL_SYLLABLES = frozenset({"huyen", "tinh", "xa", "phuong", "thi", "thanh", "ap", "thon", "khu"})
# The second syllables of the units' two-syllable spellings: thị ủy, thành phố... (folded).
UNIT_SECOND_SYLLABLES = frozenset({"uy", "doan", "xa", "tran", "pho"})

# ---------------------------------------------------------------- asking words (folded)

# What kind of answer a question wants, by its cues (retrieval/answer.py).
WHO_CUES = (("nguoi", "nao"), ("dong", "chi", "nao"), ("ai",))
WHEN_CUES = (("khi", "nao"), ("bao", "gio"), ("ngay", "nao"), ("luc", "nao"), ("thoi", "gian", "nao"),
             ("thoi", "diem", "nao"), ("nam", "nao"), ("thang", "nao"), ("hom", "nao"))
WHERE_CUES = (("o", "dau"), ("tai", "dau"), ("noi", "nao"), ("dia", "diem", "nao"), ("dia", "diem"),
              ("o", "xa", "nao"), ("o", "truong", "nao"))
TASK_CUES = (("nhiem", "vu"), ("giai", "phap"), ("noi", "dung"), ("nhung", "gi"), ("lam", "gi"),
             ("phuong", "huong"), ("chu", "de"), ("gi",), ("chi", "tieu"))
# "bao nhiêu" first: "mấy" (which needs its accent) is looked for between it and the rest.
HOW_MANY_CUES = (("bao", "nhieu"), ("so", "luong"), ("tong", "so"), ("tong", "cong"))
SHARE_CUES = (("ti", "le"), ("ty", "le"), ("phan", "tram"))
# "Đơn vị nào đạt giải nhất?": the noun before "nào" names the kind of thing the
# answer is, which the answering sentence names instead ("Đảng bộ Quân sự huyện đạt
# giải nhất"), so inside an article it weighs like the headline's words (folded).
WHICH_NOUNS = frozenset({
    ("don", "vi"), ("dia", "phuong"), ("to", "chuc"), ("co", "quan"), ("tap", "the"), ("ca", "nhan"),
    ("huyen",), ("tinh",), ("xa",), ("phuong",), ("thon",), ("ap",), ("doi",), ("truong",),
})
# A sentence that sets a target states a figure that is not yet achieved: "Năm 2023,
# Hội đặt mục tiêu thành lập thêm 3 Địa chỉ tin cậy" does not answer "năm 2023 có
# bao nhiêu Địa chỉ tin cậy?", unless the question asks for the target (folded).
TARGET_CUES = (("muc", "tieu"), ("phan", "dau"), ("du", "kien"))
# Syllables that ask rather than say: never topic words of a sentence match.
CUE_WORDS = frozenset("ai nao bao nhieu may gio dau gi khi luc sao the".split())
# A follow-up's words that say what is wanted, not what about: the cue words and
# the verbs of asking ("có ... không", "là gì", "được bao nhiêu", "như thế nào").
ASKING_WORDS = CUE_WORDS | {"co", "la", "duoc", "nhu"}

# Words that open or close an elliptic follow-up and carry no topic (accented).
FOLLOWUP_LEADS = frozenset({("thế", "còn"), ("vậy", "còn"), ("còn",), ("thế",), ("vậy",), ("còn", "ở"),
                            ("ở",), ("tại",), ("của",), ("với",), ("thì",), ("và",)})
FOLLOWUP_TAILS = frozenset({("thì", "sao"), ("thế", "nào"), ("ra", "sao"), ("thì", "thế", "nào"),
                            ("thì", "ra", "sao"), ("sao",), ("nhỉ",), ("nữa",), ("thì",)})
# Words that point back to the previous answer: "họ", "ở đó", "huyện ấy".
ANAPHORA = frozenset({"họ", "đó", "ấy", "đấy", "kia"})
# "lần thứ 9", "khóa X": another congress, another year (folded).
NEW_TERM_WORDS = frozenset({"lan", "khoa"})

# ---------------------------------------------------------------- organisations


class Organisation(NamedTuple):
    name: str  # as a reply names it
    spellings: tuple[str, ...]  # as users and portals write it


# Organisations a question can be about, keyed as the index's alias terms
# (`@hoi_nong_dan`).  Every spelling of one adds its key to the lexical tokens
# of passages and questions, so "HND" finds "Hội Nông dân" and the reverse.
# Spellings are whole syllables and keep their tones ("Ấm tình đoàn kết" is no
# "tỉnh đoàn").  Changing a spelling changes the tokens: bump
# textnorm.LEXICAL_TOKENS_VERSION with it.
_ORGANISATIONS = {
    "hoi_nong_dan": Organisation("Hội Nông dân", ("hội nông dân", "hnd", "hội nd")),
    "hoi_phu_nu": Organisation("Hội LHPN", ("hội liên hiệp phụ nữ", "liên hiệp phụ nữ", "hội lhpn", "lhpn",
                                            "hội phụ nữ")),
    "hoi_ccb": Organisation("Hội Cựu chiến binh", ("hội cựu chiến binh", "cựu chiến binh", "ccb", "hội ccb")),
    "mttq": Organisation("MTTQ", ("mặt trận tổ quốc", "mttq", "mặt trận")),
    "doan_tn": Organisation("Đoàn Thanh niên", ("đoàn thanh niên", "đoàn tn", "đtn", "đoàn tncs",
                                                *YOUTH_UNIONS)),
    "hoi_lhtn": Organisation("Hội LHTN", ("hội liên hiệp thanh niên", "liên hiệp thanh niên", "hội lhtn",
                                          "lhtn")),
    "cong_doan": Organisation("Công đoàn", ("liên đoàn lao động", "lđlđ", "công đoàn")),
    "dan_van": Organisation("Ban Dân vận", ("ban dân vận", "dân vận")),
    "cap_uy": Organisation("cấp ủy", (*PARTY_COMMITTEES, "đảng ủy", "ban thường vụ")),
    "ubnd": Organisation("UBND", ("ủy ban nhân dân", "ubnd")),
    "hdnd": Organisation("HĐND", ("hội đồng nhân dân", "hđnd")),
    "hoi_nct": Organisation("Hội Người cao tuổi", ("hội người cao tuổi", "người cao tuổi")),
    "chu_thap_do": Organisation("Hội Chữ thập đỏ", ("hội chữ thập đỏ", "chữ thập đỏ")),
    "khuyen_hoc": Organisation("Hội Khuyến học", ("hội khuyến học", "khuyến học")),
}
# Key -> the name a reply uses.
ORGANISATIONS = {key: org.name for key, org in _ORGANISATIONS.items()}
# Governing bodies chair or attend most meetings of the others ("Thường trực
# Huyện ủy duyệt chương trình của MTTQ"): when a question also names another
# organisation, that one is what it is about.
GOVERNING = frozenset({"cap_uy", "ubnd", "hdnd"})

# Names written in several ways: the organisations', then others that are no
# organisation (a question about "BCH" or "TP" asks about no body).  Same rule
# as the organisations' spellings: a change needs a LEXICAL_TOKENS_VERSION bump.
ALIASES: dict[str, tuple[str, ...]] = {
    **{key: org.spellings for key, org in _ORGANISATIONS.items()},
    "bch": ("ban chấp hành", "bch"),
    **{key: (unit, short) for short, (unit, key) in UNIT_ABBREVIATIONS.items()},
}

# Abbreviations read as the words they stand for when an office's body is
# compared ("Chủ tịch UBMTTQ" is "Chủ tịch Ủy ban Mặt trận Tổ quốc") (folded).
# An alias spelling such as "ubnd" or "hnd" is not repeated here: it stands for
# the spelling of its group whose initials it is (textnorm.ALIAS_EXPANSIONS).
ABBREVIATIONS = {"ubmttq": "uy ban mat tran to quoc", "mttqvn": "mat tran to quoc",
                 "ubmttqvn": "uy ban mat tran to quoc", "nd": "nong dan", "uv": "uy vien",
                 "btv": "ban thuong vu"}

# ---------------------------------------------------------------- event kinds

# Kinds of event, keyed, as a reader writes them.  Used for ranking only: a
# report of a "hội nghị tổng kết" answers a question about the "tổng kết".
EVENT_NAMES = {
    "dai_hoi": "đại hội", "tong_ket": "tổng kết", "so_ket": "sơ kết", "hoi_nghi": "hội nghị",
    "ky_niem": "kỷ niệm", "ra_quan": "ra quân", "phat_dong": "phát động", "hoi_thi": "hội thi",
    "tap_huan": "tập huấn",
}

# ---------------------------------------------------------------- offices and people

# Offices a person holds, as questions and articles name them ("ai là Chủ tịch Hội
# ...?", "Bí thư Huyện ủy Nguyễn Văn A"); the words after one (its body: "Hội",
# "Ủy ban MTTQ huyện") must agree with the office a sentence names.
OFFICES = ("phó chủ tịch", "chủ tịch", "phó bí thư", "bí thư", "trưởng ban", "phó trưởng ban", "giám đốc",
           "chủ nhiệm", "trưởng phòng", "chi hội trưởng", "hội trưởng")
# Memberships and posts an article also writes right before a name ("Ủy viên BTV
# Huyện ủy Nguyễn Văn A").
MEMBER_TITLES = ("ủy viên", "uỷ viên", "uvbtv", "tuv", "huv", "chánh văn phòng")
# A sentence's office preceded by these is another office: the deputy, the former holder (folded).
NOT_THE_OFFICE = frozenset({"pho", "nguyen", "cuu"})
# Words that end the name of a body after an office: "Chủ tịch Hội [nhiệm kỳ ...]" (folded).
BODY_STOP = frozenset("nhiem la lan khoa nam duoc o tai cua thi trong va voi tu nay moi tan".split())
# After an office, the body may be left unsaid: "Chủ tịch, ông ...", "Chủ tịch Lê Văn A" (folded).
NAME_START = frozenset({"ong", "ba", "dong"})
# Syllables of offices and titles, capitalised in any sentence ("Chủ tịch", "Đại
# biểu"): a follow-up naming them names no new subject (folded).
TITLE_SYLLABLES = frozenset({"chu", "tich", "bi", "thu", "pho", "truong", "ban", "giam", "doc", "hoi", "dai",
                             "uy", "vien", "dang", "dong", "chi"})

# Words a person's name follows in a sentence an answer quotes ("ông Lê Văn A").
PERSON_WORDS = ("ông", "bà", "đồng chí", "đ/c", "anh", "chị", "cụ", "cháu")
# ... and, to tell a person from a place in an article, these as well.
PAGE_PERSON_WORDS = (*PERSON_WORDS, "em", "thầy", "cô", "nhà báo", "nghệ nhân", "bác sĩ")
# Surnames: one opens a full name in a sentence ("Nguyễn Văn A").
SURNAMES = frozenset("""
    Nguyễn Trần Lê Phạm Hoàng Huỳnh Phan Vũ Võ Đặng Bùi Đỗ Hồ Ngô Dương Lý Đinh Lại Lưu Mai Trương Đoàn
    Cao Lâm Châu Tạ Hà Thái Tô Chu Kiều Quách Lương Triệu Văn Khuất Tăng Đào Lò Hứa Mạc Âu Thạch Nông
    Ninh Giang Phùng Đàm Kim Y Lữ Vương Từ Diệp Trịnh Đồng Mã Lục Danh Sơn Tiêu Lã Viên Khổng Hầu Ông
    Thân La Bạch Tống Doãn Quan
""".split())
# Surnames that are not enough to make the name after an office and a unit word
# a person's rather than a place's ("Chủ tịch UBND huyện Sơn Động ..."): most also
# open place names (Sơn La, Châu Thành, Kim Sơn, Văn Lâm, Y Tý, Đồng Hới).
PLACE_LIKE_SURNAMES = frozenset(
    "Châu Danh Khuất Kim Lã Lữ Mã Ninh Sơn Thạch Tiêu Viên Văn Y Ông Đàm Đồng".split())
MIDDLE_NAMES = frozenset({"Văn", "Thị"})

# ---------------------------------------------------------------- counting (folded unless said)

# Units and counters a stated number is followed by when it says how many (accented).
COUNT_UNITS = ("%", "m2", "m²", "km", "km2", "ha", "kg", "tấn", "tỷ", "triệu", "nghìn", "ngàn", "đồng", "usd",
               "hộ", "người", "hội viên", "đoàn", "đại biểu", "căn nhà", "lượt", "mô hình", "công trình",
               "phần việc", "suất quà", "xã", "chi", "cơ sở", "tổ chức", "cá nhân", "em", "học sinh", "đảng",
               "thành viên", "cán bộ", "phụ nữ", "thanh niên", "con giống", "cây", "tập thể", "gia đình",
               "vị", "ủy", "ý kiến", "câu hỏi", "chỉ tiêu", "buổi", "lớp", "đợt", "ngày công")
# What a "how many" question counts: money, shares and people are classes of units.
MONEY_UNITS = frozenset({"dong", "trieu", "ty", "nghin", "ngan", "usd", "vnd"})
# Words before "bao nhiêu" that ask for money: tiền, kinh phí, trị giá, vốn, quỹ,
# ủng hộ (accented: folded, "vốn" is also "vận").  Typed without accents "gia" is
# as often gia đình or tham gia: MONEY_CUES_NOT_FOLDED are read only accented.
MONEY_CUES = frozenset({"tiền", "kinh", "giá", "vốn", "quỹ", "ủng"})
MONEY_CUES_NOT_FOLDED = frozenset({"giá"})
PEOPLE_COUNTERS = frozenset({"nguoi", "hoi", "doan", "dai", "thanh", "can", "dong", "luot", "em", "hoc",
                             "phu", "nong", "cuu", "vi"})
# Words that end what "bao nhiêu" counts: "bao nhiêu hộ [được hỗ trợ]".
COUNTER_STOP = frozenset({"de", "duoc", "cho", "cua", "va", "la", "thi", "nam", "trong", "tai", "o", "khi",
                          "voi", "co", "tu", "so", "nao", "moi", "tham", "du", "tren", "hon", "gan", "mot",
                          "khoang", "ban"})
# A number after these is no count: "năm 2023", "ngày 19", "lần thứ 9", "số 12".
NOT_A_COUNT = frozenset({"nam", "thang", "ngay", "lan", "thu", "so", "khoa", "ky", "quy", "hang", "doi"})
MEASURES = frozenset({"m2", "m", "km", "km2", "ha", "kg", "tan", "lit"})
ONE_SYLLABLE_COUNTERS = frozenset({"nguoi", "ho", "can", "luot", "xa", "tinh", "huyen", "suat", "con", "cay",
                                   "em", "buoi", "lop", "dot", "vi", "m2", "km", "ha", "tan", "kg"})

# ---------------------------------------------------------------- time (folded)

# Years said relative to today: "năm nay", "năm ngoái", "năm tới".
RELATIVE_YEARS = {("nam", "nay"): 0, ("nam", "ngoai"): -1, ("nam", "truoc"): -1,
                  ("nam", "qua"): -1, ("nam", "toi"): 1, ("nam", "sau"): 1}

# ---------------------------------------------------------------- where a name or a headline ends

# Words that end a place name typed in lower case ("huyen dam ha nam 2023") (folded).
PLACE_NAME_STOP = frozenset("""
    nam to tong trong co da ve thi the nao gi hoi doan dai duoc la cua va voi tai o nhu bao
    nhieu khi sau truoc hop so ket phat nhiem ky ngay thang tuan dang dan chuc tinh huyen xa
    ban uy cac nhung mot hai ba trien khai thuc hien giai doan lan thu
""".split())
# Labels of a page's host name that name no place: "thoibinh.camau.gov.vn" is
# Thới Bình's portal, "hoinongdan.camau.gov.vn" no place's.
NOT_PLACE_HOST_LABELS = frozenset({"www", "gov", "vn", "com", "org", "net", "edu", "dcs", "info", "mobile",
                                   "m", "tintuc", "baomoi", "ubmttq", "mttq", "doanthanhnien", "hoinongdan",
                                   "thanhdoan"})
# Words a cut headline must not end on ("... chương trình phối hợp giữa").
DANGLING = frozenset({"năm", "và", "các", "của", "giữa", "với", "về", "cho", "tại", "ở", "giai", "tổ", "mặt",
                      "những", "trong", "thực", "hiện", "tình", "hình"})
