"""Every sentence the bot says, in Vietnamese, in one place.

Constants are short replies, safe in Telegram's HTML as written (the few with a
`<code>` tag are sent on Telegram only); the functions build longer texts from
plain pieces through a `Markup` (markup.py), which escapes and decorates them for
each front end and says whether it has buttons or typed commands.
"""
from __future__ import annotations

from retrieval.query import ORGANISATIONS
from retrieval.types import Article, BuildReport, Hit

from ..service import Page, Status
from ..textutil import cut_words, format_date, format_datetime
from ..topics import Topics
from .markup import Markup, web_url

QUESTION_ECHO_CHARS = 200
TITLE_CHARS = 300

# ---------------------------------------------------------------- short replies (HTML-safe constants)

RATE_LIMITED = "⏳ Bạn hỏi hơi nhanh rồi. Vui lòng đợi khoảng {seconds} giây rồi hỏi tiếp nhé."
NOT_TEXT = ("Mình chỉ đọc được câu hỏi bằng chữ 🙂 Hãy gõ câu hỏi của bạn, "
            "hoặc gõ /help để xem hướng dẫn.")
ASK_USAGE = "Hãy viết câu hỏi ngay sau lệnh, ví dụ: <code>/ask {example}</code>"
MENTION_EMPTY = "Bạn muốn hỏi gì? Hãy viết câu hỏi ngay sau khi nhắc tên mình nhé."
UNKNOWN_COMMAND = "Mình không biết lệnh này. Gõ /help để xem hướng dẫn."
ERROR = "Xin lỗi, đã có lỗi khi xử lý yêu cầu của bạn. Bạn thử lại sau ít phút nhé."
# The shared store (PostgreSQL) is restarting: nothing is wrong with the question.
STORE_UNAVAILABLE = "Xin lỗi, hệ thống đang tạm gián đoạn trong giây lát. Bạn thử lại sau nhé."
ADMIN_ONLY = "Xin lỗi, chỉ quản trị viên của bot mới dùng được chức năng này."
ADD_USAGE = ("Gửi đường dẫn bài viết ngay sau lệnh, ví dụ: "
             "<code>/add https://congthongtin.example.vn/tin-tuc/bai-viet.html</code>")
FETCH_STARTED = "🌐 Đang tải bài viết từ đường dẫn…"
FETCH_NOTHING = "Không có đường dẫn nào để tải."
UPLOAD_PRIVATE_ONLY = "Để thêm bài viết, hãy gửi tệp cho mình trong cuộc trò chuyện riêng."
REINDEX_STARTED = ("🔄 Bắt đầu xây dựng lại chỉ mục từ thư mục dữ liệu. Trong lúc chờ, "
                   "mình vẫn trả lời câu hỏi bằng chỉ mục cũ.")
REINDEX_BUSY = "⏳ Chỉ mục đang được cập nhật, mình sẽ làm tiếp ngay khi xong."
REINDEX_FAILED = "❌ Cập nhật chỉ mục thất bại: {error}"
UPLOAD_BAD_TYPE = "Mình chỉ nhận tệp .txt, .md hoặc .html để thêm vào kho dữ liệu."
UPLOAD_TOO_BIG = "Tệp quá lớn: mình nhận tệp tối đa {mb} MB."
UPLOAD_UNSAFE = "Xin lỗi, mình không lưu được tệp này vào kho dữ liệu (thư mục không an toàn)."
UPLOAD_NOT_DOWNLOADED = "Mình không tải được tệp này từ Telegram. Bạn gửi lại tệp nhé."
UPLOAD_SAVED = "📥 Đã lưu tệp <code>{name}</code> vào kho dữ liệu. Đang cập nhật chỉ mục…"
UPLOAD_SKIPPED = ("⚠️ Tệp <code>{name}</code> không dùng được nên mình đã bỏ nó khỏi kho dữ liệu: "
                  "{reason}")
NEW_CONVERSATION = ("🆕 Đã bắt đầu cuộc trò chuyện mới: câu hỏi tiếp theo không dựa vào "
                    "các câu trước nữa.")
FEEDBACK_THANKS = "Cảm ơn bạn đã góp ý!"
BUTTON_EXPIRED = "Nút này không còn dùng được. Bạn gửi lại câu hỏi nhé."
PASSAGE_GONE = ("Xin lỗi, đoạn này không còn trong dữ liệu (có thể vừa được cập nhật). "
                "Bạn gửi lại câu hỏi nhé.")
BUTTON_NO_CHAT = ("Nút này chỉ dùng được trong cuộc trò chuyện với mình. "
                  "Bạn nhắn câu hỏi cho mình nhé.")
ARTICLE_GONE = "Xin lỗi, bài viết này không còn trong dữ liệu (có thể vừa được cập nhật)."
ARTICLE_CUT = "… Bài viết còn dài, phần còn lại xin xem ở bài gốc."
EMPTY_INDEX = "Kho dữ liệu chưa có bài viết nào."
QUESTION_EXPIRED = "Xin lỗi, mình không còn nhớ câu hỏi này. Bạn gửi lại câu hỏi nhé."
NO_FURTHER_RESULTS = "Không còn kết quả nào khác cho câu hỏi này."
QUESTION_CUT = "(Câu hỏi quá dài nên mình chỉ dùng phần đầu.)"
NO_TITLE = "Không có tiêu đề"
READ_ORIGINAL = "Đọc bài gốc"
# Telegram's buttons under an answer, and its command menu (command, description).
BUTTON_FULL = "📄 Toàn văn {n}"
BUTTON_PASSAGE = "📃 Cả đoạn {n}"
BUTTON_MORE = "➕ Xem thêm"
COMMAND_MENU = (
    ("help", "Hướng dẫn cách hỏi"),
    ("ask", "Đặt câu hỏi (dùng trong nhóm)"),
    ("stats", "Thống kê dữ liệu"),
    ("latest", "Các bài viết mới nhất"),
    ("new", "Hỏi chuyện khác (quên ngữ cảnh câu trước)"),
    ("chude", "Dữ liệu có những chủ đề nào"),
)
# Typed commands (the console): /more after the last page, /doan N and /full N.
NO_MORE = "Không còn kết quả nào khác. Hãy đặt câu hỏi mới."
ASK_FIRST = "Hãy đặt câu hỏi trước, rồi gõ {command} N để đọc {what} số N."
NEED_NUMBER = "Gõ {command} kèm số thứ tự kết quả, ví dụ: {command} 1"
NO_SUCH = "Không có kết quả số {n} cho câu hỏi vừa rồi."
PROMPT = "❓ Bạn hỏi: "  # what the console shows before each question at a terminal
PASSAGE_WHAT = "cả đoạn trích của kết quả"  # ASK_FIRST's {what} for /doan N
FULL_WHAT = "toàn văn bài"  # ... and for /full N
# /thongke (the admins' report): it quotes what people asked, so not in a group.
THONGKE_PRIVATE = "Thống kê có trích câu hỏi của người dùng: hãy gửi /thongke trong tin nhắn riêng với bot."

# ---------------------------------------------------------------- Zalo (typed commands, Vietnamese first)

ZALO_HOW_TO = ("💡 Gõ «xem thêm» để xem kết quả tiếp theo · «đoạn N» để đọc cả đoạn trích số N · "
               "«toàn văn N» để đọc cả bài số N · /new để hỏi chuyện khác · /help để xem hướng dẫn.")
ZALO_THONGKE_PRIVATE = "Thống kê có trích câu hỏi của người dùng: hãy gửi /thongke trong tin nhắn riêng."
ZALO_ASK_FIRST = "Hãy đặt câu hỏi trước, rồi gõ «{command} N» để đọc {what} số N."
ZALO_NEED_NUMBER = "Gõ «{command}» kèm số thứ tự kết quả, ví dụ: {command} 1"
ZALO_IN_GROUP = ("Trong nhóm: nhắc tên mình (@{name}) kèm câu hỏi, "
                 "hoặc gõ /ask kèm câu hỏi.")
ZALO_COMMANDS = "\n".join([
    "Lệnh (gõ như tin nhắn thường)",
    "xem thêm (/more) – xem thêm kết quả cho câu hỏi vừa rồi",
    "đoạn N (/doan N) – đọc cả đoạn trích của kết quả số N",
    "toàn văn N (/full N) – đọc toàn văn bài của kết quả số N",
    "/new – hỏi chuyện khác (quên ngữ cảnh câu trước) · /chude – dữ liệu có gì",
    "/stats – thống kê dữ liệu · /latest – bài mới nhất · /help – hướng dẫn này",
])
ZALO_ADMIN_COMMANDS = "\n".join([
    "Quản trị",
    "/reindex – xây dựng lại chỉ mục từ thư mục dữ liệu",
    "/add <đường dẫn> (hoặc chỉ gửi đường dẫn) – tải bài viết từ trang web về kho dữ liệu",
    "/thongke [7|30] – người dùng hỏi gì, dữ liệu còn thiếu gì (trong tin nhắn riêng)",
])


def thongke_usage(m: Markup) -> str:
    """/thongke with a period it does not offer."""
    return f"Dùng {m.code('/thongke')} (7 ngày) hoặc {m.code('/thongke 30')} (30 ngày)."


def seconds_text(seconds: float) -> str:
    return str(max(1, round(seconds)))


def first_example(examples: list[str] | None) -> str:
    """The example a usage hint shows: the newest headline's question, else (an empty
    index, or examples that failed and were logged) a question of the usual shape."""
    return examples[0] if examples else "Huyện ủy duyệt chương trình công tác năm 2024"


# ---------------------------------------------------------------- answers

def meta_line(m: Markup, place: str | None, date: str | None, source: str | None) -> str:
    parts = []
    if place:
        parts.append(f"📍 {m.esc(cut_words(place, 100))}")
    if date:
        parts.append(f"🗓 {m.esc(cut_words(format_date(date) or date, 30))}")
    if source:
        parts.append(f"Nguồn: {m.esc(cut_words(source, 200))}")
    return m.i(" · ".join(parts)) if parts else ""


def where_from(m: Markup, item: Hit | Article) -> list[str]:
    """The place · date · source line and the link to the original, where known."""
    meta = meta_line(m, item.place, item.date, item.source)
    url = web_url(item.url)
    return [x for x in (meta, f"🔗 {m.link(url, READ_ORIGINAL)}" if url else "") if x]


def page_notice(m: Markup, page: Page, examples: list[str] | None) -> str:
    """What a page says instead of cards (nothing asked, no words, a forgotten question,
    no further results, nothing found); "" for a page with cards."""
    if page.status is Status.EMPTY:
        return (f"Bạn chưa nhập câu hỏi. Hãy gõ điều bạn muốn biết, ví dụ: "
                f"{m.code(m.esc(first_example(examples)))}")
    if page.status is Status.NOT_WORDS:
        return ("Mình chưa hiểu câu hỏi 🙂 Mình chỉ đọc được câu hỏi bằng chữ. Ví dụ: "
                f"{m.code(m.esc(first_example(examples)))}")
    if page.status is Status.EXPIRED:
        return QUESTION_EXPIRED
    if page.status is Status.END:
        return NO_FURTHER_RESULTS
    if page.status is Status.NO_ANSWER:
        understood = understood_line(m, page)
        return no_answer(m, _echo(m, page), examples) + (f"\n{understood}" if understood else "")
    return ""


def page_heading(m: Markup, page: Page) -> str:
    """The lines above a page's cards: the question echoed (or, first, what the cards
    miss), a note when it was cut, and how a follow-up was understood."""
    echo = _echo(m, page)
    first, last = page.offset + 1, page.offset + len(page.hits)
    if page.offset == 0 and page.match == "partial" and page.hits:
        lines = [close_but(m, page)]  # the first thing read: what the cards below miss
    else:
        lines = [f"🔎 Câu hỏi: {echo}" if page.offset == 0
                 else f"🔎 Kết quả {first}–{last} cho: {echo}"]
    if page.truncated:
        lines.append(m.i(QUESTION_CUT))
    understood = understood_line(m, page)
    if understood and page.offset == 0:
        lines.append(understood)
    return "\n".join(lines)


def _echo(m: Markup, page: Page) -> str:
    """The question as the reply repeats it: in italics, cut at a word end."""
    return m.i(m.esc(cut_words(page.question, QUESTION_ECHO_CHARS)))


def understood_line(m: Markup, page: Page) -> str:
    """"🧭 Hiểu là: Hội Nông dân huyện X, năm 2024 (gõ /new để hỏi chuyện khác)": said
    when a follow-up was completed from the conversation, so a wrong guess shows."""
    if not page.followup:
        return ""
    about = page.understood or page.searched
    return f"🧭 Hiểu là: {m.b(m.esc(cut_words(about, QUESTION_ECHO_CHARS)))} " + \
        m.i("(gõ /new để hỏi chuyện khác)")


def close_but(m: Markup, page: Page) -> str:
    """"Chưa có bài về Hội LHPN huyện X, năm 2023; gần nhất là năm 2021:" — said
    before results that miss part of what was asked, so nobody takes them for it."""
    best = page.hits[0]
    nearest = []
    if "organisation" in page.missing:
        nearest.append(f"«{cut_words(best.title, 90)}»")
    if "place" in page.missing and best.place:
        nearest.append(best.place)
    if "year" in page.missing and best.date:
        nearest.append(f"năm {best.date[:4]}")
    about = page.understood or page.question
    if page.missing == ["detail"]:
        # The right article, without the figure, name or date asked for: say so first.
        lacks = page.detail or "điều bạn hỏi"
        return (f"⚠️ Bài «{m.esc(cut_words(best.title, 90))}» không nêu {m.b(m.esc(lacks))}; "
                "đây là đoạn gần nhất:")
    text = f"⚠️ Chưa có bài về {m.b(m.esc(about))}"
    if nearest:
        text += f"; gần nhất là {m.esc(', '.join(nearest))}"
    if "detail" in page.missing and page.detail:
        text += f" (và bài gần nhất cũng không nêu {m.esc(page.detail)})"
    return text + ":"


def no_answer(m: Markup, echo: str, examples: list[str] | None) -> str:
    text = (f"😔 Xin lỗi, mình chưa tìm thấy thông tin liên quan đến câu hỏi «{echo}» "
            "trong dữ liệu hiện có.\n"
            f"Bạn thử hỏi cụ thể hơn, ví dụ thêm {m.b('tên địa phương')} (xã, huyện, tỉnh) "
            f"hoặc {m.b('năm')} diễn ra sự việc")
    if examples:
        text += f", chẳng hạn: {m.code(m.esc(examples[0]))}"
    return text + "."


def hint(m: Markup, page: Page) -> str:
    """How to use the buttons (or typed commands), under the first page of an answer."""
    if page.status is not Status.ANSWER or page.offset:
        return ""
    if not m.buttons:
        parts = (["/more: xem thêm kết quả"] if page.has_more else []) + \
            ["/doan N: cả đoạn trích số N", "/full N: toàn văn bài số N"]
        return f"({' · '.join(parts)})"
    parts = ["«Cả đoạn» để đọc hết đoạn trích", "«Toàn văn» để đọc cả bài"] + \
        (["«Xem thêm» cho kết quả tiếp theo"] if page.has_more else []) + ["👍/👎 để góp ý"]
    return "👇 " + " · ".join(parts) + "."


# ---------------------------------------------------------------- browsing texts

def help_intro(m: Markup, stats: dict, examples: list[str]) -> str:
    """/help's first part, on every front end: what the archive holds and how to ask."""
    span = _date_span(stats)
    lines = [
        f"👋 {m.b('Xin chào!')} Mình trả lời câu hỏi dựa trên kho bài viết tin tức về hoạt động "
        f"của các địa phương: {stats.get('articles', 0)} bài, {stats.get('passages', 0)} đoạn văn"
        + (f", từ {span}" if span else "") + ".",
        "Mỗi câu trả lời mở đầu bằng câu trả lời đúng nhất (in đậm) trong bài, kèm tiêu đề, "
        "địa phương, ngày đăng và nguồn của bài gốc.",
        "",
        m.b("Cách hỏi"),
        "• Gõ câu hỏi bằng tiếng Việt, có dấu hay không dấu đều được.",
        "• Nên nêu tên địa phương hoặc năm để kết quả chính xác hơn.",
        "• Hỏi tiếp ngắn gọn cũng được («còn năm 2024 thì sao?», «ở huyện khác?»): mình hiểu "
        "theo câu hỏi trước.",
    ]
    if examples:
        lines.append("• Ví dụ:")
        lines += [f"  – {m.code(m.esc(e))}" for e in examples]
    return "\n".join(lines)


def help_text(m: Markup, stats: dict, examples: list[str], *, admin: bool = False,
              bot_username: str | None = None) -> str:
    """/help on Telegram (buttons, groups, admins' commands) or in the console (typed
    commands); Zalo adds its own command list to help_intro."""
    lines = [help_intro(m, stats, examples), ""]
    if not m.buttons:
        lines += [
            m.b("Lệnh"),
            "/more – xem thêm kết quả cho câu hỏi vừa rồi",
            "/doan N – đọc cả đoạn trích của kết quả số N",
            "/full N – đọc toàn văn bài của kết quả số N",
            "/new – hỏi chuyện khác (quên ngữ cảnh câu trước) · /chude – dữ liệu có gì",
            "/stats – thống kê dữ liệu · /latest – bài mới nhất · /quit – thoát",
        ]
    else:
        mention = f"@{m.esc(bot_username)}" if bot_username else "tên của mình"
        lines += [
            f"{m.b('Trong nhóm')}: gõ /ask kèm câu hỏi, nhắc {mention} trong tin nhắn, "
            "hoặc trả lời (reply) tin nhắn của mình.",
            "Dưới mỗi câu trả lời: «Xem thêm» cho kết quả tiếp theo, «Cả đoạn» để đọc hết đoạn "
            "trích, «Toàn văn» để đọc cả bài, 👍/👎 để góp ý.",
            "",
            m.b("Lệnh"),
            "/new – hỏi chuyện khác (quên ngữ cảnh câu trước)",
            "/chude – dữ liệu có những tổ chức, địa phương, năm nào",
            "/stats – thống kê dữ liệu",
            "/latest – các bài viết mới nhất",
            "/help – hướng dẫn này",
        ]
        if admin:
            lines += [
                "",
                m.b("Quản trị"),
                "/reindex – xây dựng lại chỉ mục từ thư mục dữ liệu",
                "/thongke [7|30] – người dùng hỏi gì, dữ liệu còn thiếu gì",
                "Gửi tệp .txt, .md hoặc .html để thêm bài viết vào kho dữ liệu.",
                f"/add {m.esc('<đường dẫn>')} (hoặc chỉ gửi đường dẫn) – tải bài viết từ trang web "
                "về kho dữ liệu",
            ]
    return "\n".join(lines)


def _date_span(stats: dict) -> str:
    lo, hi = format_date(stats.get("date_min")), format_date(stats.get("date_max"))
    if lo and hi:
        return f"{lo} đến {hi}"
    return lo or hi or ""


def stats_text(m: Markup, stats: dict) -> str:
    """/stats: how many articles and passages, from when to when, last updated."""
    lo, hi = format_date(stats.get("date_min")), format_date(stats.get("date_max"))
    lines = [
        f"📊 {m.b('Thống kê dữ liệu')}",
        f"• Số bài viết: {stats.get('articles', 0)}",
        f"• Số đoạn văn: {stats.get('passages', 0)}",
        f"• Khoảng thời gian: {m.esc(f'{lo} – {hi}') if lo and hi else 'chưa rõ'}",
        f"• Cập nhật lần cuối: {m.esc(format_datetime(stats.get('built_at')) or 'chưa rõ')}",
    ]
    return "\n".join(lines)


def latest_text(m: Markup, articles: list[Article]) -> str:
    """/latest: the newest articles, with where, when and a link."""
    if not articles:
        return EMPTY_INDEX
    lines = [f"🆕 {m.b('Các bài viết mới nhất')}"]
    for n, a in enumerate(articles, 1):
        lines.append(f"{n}. {m.b(m.esc(cut_words(a.title or NO_TITLE, TITLE_CHARS)))}")
        meta = meta_line(m, a.place, a.date, a.source)
        url = web_url(a.url)
        extra = " · ".join(x for x in (meta, m.link(url, "Đọc bài") if url else "") if x)
        if extra:
            lines.append(f"   {extra}")
    return "\n".join(lines)


def topics_text(m: Markup, topics: Topics) -> str:
    """/chude: the organisations, places and years the articles are about, with counts,
    and the newest articles."""
    if not topics.articles:
        return EMPTY_INDEX
    lines = [f"🗂 {m.b('Dữ liệu có gì')} ({topics.articles} bài)"]
    sections = (("Tổ chức", [(ORGANISATIONS[k], n) for k, n in topics.organisations]),
                ("Địa phương", topics.places),
                ("Năm", [(str(y), n) for y, n in topics.years]))
    for name, items in sections:
        if items:
            lines.append(f"{m.b(name)}: " + " · ".join(f"{m.esc(label)} ({n})" for label, n in items))
    if topics.newest:
        lines.append(m.b("Bài mới nhất"))
        lines += [f"{n}. {m.esc(cut_words(h.title or NO_TITLE, 120))}"
                  + (f" ({m.esc(format_date(h.date) or h.date)})" if h.date else "")
                  for n, h in enumerate(topics.newest, 1)]
    lines.append(m.i("Bấm một nút bên dưới để hỏi về chủ đề đó." if m.buttons
                     else "Gõ tên một chủ đề (ví dụ: Hội Nông dân) để hỏi về nó."))
    return "\n".join(lines)


def report_text(m: Markup, report: BuildReport, uploaded: str | None = None) -> str:
    """What a rebuild changed, for the admin who asked for it."""

    def ids(items: list[str]) -> str:
        if not items:
            return "0"
        shown = ", ".join(m.code(m.esc(cut_words(x, 120))) for x in items[:10])
        return f"{len(items)} ({shown}{', …' if len(items) > 10 else ''})"

    seconds = f"{report.seconds:.1f}".replace(".", ",")
    lines = [
        f"✅ {m.b('Đã cập nhật chỉ mục')} trong {seconds} giây.",
        f"• Bài viết: {report.articles} (đoạn văn: {report.passages})",
        (f"• Tệp không đổi (không đọc lại): {report.unchanged_files}, đã đọc: {report.parsed_files}"
         if report.named_files is None else  # an upload or a fetch: only its files were looked at
         f"• Chỉ xem {report.named_files} tệp vừa gửi/tải về, đã đọc: {report.parsed_files}"),
        f"• Thêm mới: {ids(report.added)}",
        f"• Thay đổi: {ids(report.changed)}",
        f"• Đã xoá: {ids(report.removed)}",
        f"• Đoạn tính vector mới: {report.embedded}, dùng lại: {report.reused}",
        f"• Tệp bị bỏ qua: {len(report.skipped)}",
    ]
    lines += [f"   – {m.code(m.esc(cut_words(s.path, 150)))}: {m.esc(cut_words(s.reason, 150))}"
              for s in report.skipped[:10]]
    if len(report.skipped) > 10:
        lines.append("   – …")
    return "\n".join(lines)


def fetch_text(m: Markup, report) -> str:
    """What fetching the links an admin sent stored (title and date), or why it could not."""
    lines = []
    for o in report.fetched + report.unchanged:
        state = "Đã lưu" if o in report.fetched else "Đã có, không đổi"
        lines.append(f"✅ {state}: {m.b(m.esc(cut_words(o.title or o.url, TITLE_CHARS)))}")
        lines.append(f"   🗓 {m.esc(format_date(o.date) or 'không rõ ngày')} · "
                     f"{m.code(m.esc(cut_words(o.path or '', 150)))}")
    for o in report.skipped + report.failed:
        lines.append(f"⚠️ Không lấy được {m.code(m.esc(cut_words(o.url, 150)))}: "
                     f"{m.esc(cut_words(o.reason, 300))}")
    return "\n".join(lines) or FETCH_NOTHING
