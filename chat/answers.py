"""Everything a person reads, written once for both front ends.

Each text is built from plain pieces through a `Markup`: `HTML` escapes every
piece (article text and user text alike) for Telegram's HTML parse mode,
`Plain`/`Ansi` print it in a terminal.  Long answers are split on passage
boundaries into messages within Telegram's limit; a passage too long for one
message is cut as plain text *before* markup is added, so no tag is ever
broken.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from urllib.parse import urlsplit

from retrieval.query import ORGANISATIONS
from retrieval.textnorm import sentence_spans
from retrieval.types import Article, BuildReport, Hit

from .service import CardPassages, Page, Status
from .textutil import (
    TELEGRAM_LIMIT,
    best_sentence,
    cut_words,
    format_date,
    format_datetime,
    head_words,
    tail_words,
    utf16_len,
)
from .topics import Topics

MAX_ARTICLE_MESSAGES = 10  # "Toàn văn" of a book-sized file must not flood the chat
QUESTION_ECHO_CHARS = 200
TITLE_CHARS = 300
ALLOWED_UPLOADS = (".txt", ".md", ".html", ".htm")
MAX_UPLOAD_MB = 5


# ---------------------------------------------------------------- markup

class Markup:
    """Plain text: no escaping, no decoration."""

    def esc(self, text: str) -> str:
        return text

    def b(self, text: str) -> str:
        return text

    def i(self, text: str) -> str:
        return text

    def code(self, text: str) -> str:
        return text

    def link(self, url: str, label: str) -> str:
        return url

    def pre(self, text: str) -> str:
        return text

    def quote(self, text: str) -> str:
        return text

    def mark(self, text: str) -> str:
        """The sentence that answers the question; plain text has no bold, so Markdown's."""
        return f"**{text}**"


class Ansi(Markup):
    """A terminal: bold and italics as escape codes."""

    def b(self, text: str) -> str:
        return f"\033[1m{text}\033[0m"

    def mark(self, text: str) -> str:
        return self.b(text)

    def i(self, text: str) -> str:
        return f"\033[3m{text}\033[0m"


class Html(Markup):
    """Telegram HTML parse mode; `esc` must wrap every piece of outside text."""

    def esc(self, text: str) -> str:
        return html.escape(text, quote=False)

    def b(self, text: str) -> str:
        return f"<b>{text}</b>"

    def i(self, text: str) -> str:
        return f"<i>{text}</i>"

    def code(self, text: str) -> str:
        return f"<code>{text}</code>"

    def link(self, url: str, label: str) -> str:
        return f'<a href="{html.escape(url, quote=True)}">{label}</a>'

    def pre(self, text: str) -> str:
        return f"<pre>{text}</pre>"

    def quote(self, text: str) -> str:
        return f"<blockquote>{text}</blockquote>"

    def mark(self, text: str) -> str:
        return self.b(text)


PLAIN = Markup()
HTML = Html()


def web_url(url: str | None) -> str | None:
    """Only http(s) links are shown: a corpus file must not smuggle javascript: links."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else None


# ---------------------------------------------------------------- splitting

def pack(blocks: list[str], limit: int = TELEGRAM_LIMIT, sep: str = "\n\n") -> list[str]:
    """Join blocks into as few messages as fit in `limit`; never split a block."""
    messages: list[str] = []
    current = ""
    for block in blocks:
        if not block:
            continue
        candidate = f"{current}{sep}{block}" if current else block
        if utf16_len(candidate) <= limit:
            current = candidate
        else:
            if current:
                messages.append(current)
            current = block
    if current:
        messages.append(current)
    return messages


def chunk_text(m: Markup, text: str, limit: int) -> list[str]:
    """Escaped pieces of `text`, each within `limit`, cut between words (or inside a huge word)."""
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for word in text.split(" "):
        w = m.esc(word)
        wlen = utf16_len(w)
        if wlen > limit:  # one "word" longer than a message: cut it by characters
            if current:
                pieces.append(" ".join(current))
                current, size = [], 0
            piece = ""
            for ch in word:
                if utf16_len(m.esc(piece + ch)) > limit:
                    pieces.append(m.esc(piece))
                    piece = ""
                piece += ch
            current, size = [m.esc(piece)], utf16_len(m.esc(piece))
            continue
        extra = wlen + (1 if current else 0)
        if size + extra > limit:
            pieces.append(" ".join(current))
            current, size = [w], wlen
        else:
            current.append(w)
            size += extra
    if current:
        pieces.append(" ".join(current))
    return [p for p in pieces if p]


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


# A card's answer text (the answering sentence and its context) stays within this
# many characters, so three cards fit a phone screen (issue 16: first card <= 600,
# whole card < 1,000); «Cả đoạn» and «Toàn văn» show the rest.
CARD_ANSWER_CHARS = 400
# A context sentence cut shorter than this says nothing: it is left out ("…" instead).
MIN_CONTEXT_CHARS = 40


@dataclass(frozen=True)
class Excerpt:
    """What a card quotes of its passage: the answering sentence (bold when `marked`)
    with at most one sentence of context each side, "…" where the passage goes on."""

    before: str
    answer: str
    after: str
    marked: bool

    def pieces(self) -> list[str]:
        return [p for p in (self.before, self.answer, self.after) if p]


def card_answer(hit: Hit, question: str) -> tuple[int, int] | None:
    """The sentence a card leads with: search's choice (`Hit.answer`) as is; where search
    chose none, the passage's sentence that best matches the question."""
    return hit.answer or best_sentence(hit.text, question)


def card_excerpt(hit: Hit, question: str, limit: int = CARD_ANSWER_CHARS) -> Excerpt:
    """The card's answer text: its answering sentence with a sentence of context each side
    within `limit` characters; a passage with no answering sentence shows its opening."""
    span = card_answer(hit, question)
    marked = span is not None
    if span is None:
        spans = sentence_spans(hit.text)
        span = spans[0] if spans else (0, len(hit.text))
    before, answer, after = _window(hit.text, span, limit)
    return Excerpt(before, answer, after, marked)


def card_answer_texts(hit: Hit, question: str, extra: list[Hit] | tuple = ()) -> list[str]:
    """The plain text a card shows of its article, before headline and citation: what
    a reader must see the answer in (benchmarks/realdev.py measures it).  A card quotes
    its best passage only; `extra`, the article's other close passages, waits behind
    «Cả đoạn» (quoting the best-matching sentence among them lost answers on realdev:
    48 of 92 shown against 60 from the best passage alone, while search chose none)."""
    return card_excerpt(hit, question).pieces()


def _flat(text: str) -> str:
    return " ".join(text.split())


def _window(text: str, span: tuple[int, int], limit: int) -> tuple[str, str, str]:
    """(before, answer, after) around `span`, within `limit` characters once joined by
    spaces: the previous and the next sentence whole when they fit, else their nearest
    words (left out under MIN_CONTEXT_CHARS); "…" marks text left out, never a split word."""
    s, e = span
    answer = _flat(text[s:e])
    head, tail = text[:s], text[e:]
    more_before, more_after = bool(head.strip()), bool(tail.strip())
    markers = 2 * more_before + 2 * more_after  # "… " and " …"
    if len(answer) + markers > limit:  # one long sentence: cut at a word end
        room = max(0, limit - 2 * more_before - 1)
        cut = head_words(answer, room) or answer[:room]  # (a single huge "word": cut anyway)
        return ("…" if more_before else ""), cut + "…", ""
    head_spans, tail_spans = sentence_spans(head), sentence_spans(tail)
    prev_at = head_spans[-1][0] if head_spans else len(head)
    next_to = tail_spans[0][1] if tail_spans else 0
    prev, nxt = _flat(head[prev_at:]), _flat(tail[:next_to])
    room_prev, room_next = _share(limit - len(answer) - markers, len(prev), len(nxt))
    before_text = prev if len(prev) <= room_prev else tail_words(prev, room_prev)
    after_text = nxt if len(nxt) <= room_next else head_words(nxt, room_next)
    if len(before_text) < min(MIN_CONTEXT_CHARS, len(prev)):
        before_text = ""
    if len(after_text) < min(MIN_CONTEXT_CHARS, len(nxt)):
        after_text = ""
    earlier = more_before and (before_text != prev or bool(head[:prev_at].strip()))
    later = more_after and (after_text != nxt or bool(tail[next_to:].strip()))
    before = " ".join(x for x in ("…" if earlier else "", before_text) if x)
    after = " ".join(x for x in (after_text, "…" if later else "") if x)
    return before, answer, after


def _share(room: int, prev: int, nxt: int) -> tuple[int, int]:
    """Characters for the sentence before and the one after (a space each counted): half
    the room each, and what one side does not need goes to the other."""
    need_prev, need_next = prev + 1 if prev else 0, nxt + 1 if nxt else 0
    if need_prev <= room // 2:
        room_prev = need_prev
    elif need_next <= room // 2:
        room_prev = room - need_next
    else:
        room_prev = room // 2
    return max(0, room_prev - 1), max(0, room - room_prev - 1)


def _whole(hit: Hit, question: str, limit: int) -> Excerpt:
    """A passage whole, answering sentence marked; a passage over `limit` characters (only
    ever one too long for a message) is cut at a word end."""
    text, cut = hit.text, len(hit.text) > limit
    if cut:
        text = (head_words(text, limit - 1) or text[:limit - 1]) + "…"
    span = card_answer(hit, question)
    if span is None or span[1] > len(text) - cut:  # (the answer was cut off)
        return Excerpt("", "", _flat(text), False)
    s, e = span
    return Excerpt(_flat(text[:s]), _flat(text[s:e]), _flat(text[e:]), True)


def _quoted(m: Markup, rank: int | None, ex: Excerpt) -> str:
    """One quoted excerpt (or whole passage), its answering sentence in bold."""
    answer = m.mark(m.esc(ex.answer)) if ex.marked else m.esc(ex.answer)
    parts = [f"{rank}." if rank is not None else "", m.esc(ex.before), answer, m.esc(ex.after)]
    return m.quote(" ".join(p for p in parts if p))


def _citation(m: Markup, hit: Hit) -> list[str]:
    """Headline, place · date · source, and the link, under what a card quotes."""
    return [f"📰 {m.esc(cut_words(hit.title or 'Không có tiêu đề', TITLE_CHARS))}",
            *_where_from(m, hit)]


def _where_from(m: Markup, item: Hit | Article) -> list[str]:
    """The place · date · source line and the link to the original, where known."""
    meta = meta_line(m, item.place, item.date, item.source)
    url = web_url(item.url)
    return [x for x in (meta, f"🔗 {m.link(url, 'Đọc bài gốc')}" if url else "") if x]


def _fitted(render, size: int, limit: int) -> str:
    """`render(size)` with `size` (the characters quoted) shrunk until the block fits `limit`."""
    block = render(size)
    while utf16_len(block) > limit and size > 0:
        size = int(size * min(0.9, limit / utf16_len(block)))
        block = render(size)
    return block


def hit_block(m: Markup, hit: Hit, rank: int, question: str, limit: int = TELEGRAM_LIMIT) -> str:
    """One article card: the answering sentence in bold with a sentence of context each
    side (card_excerpt), then headline, place · date · source and link."""
    return _fitted(lambda size: "\n".join([_quoted(m, rank, card_excerpt(hit, question, size)),
                                           *_citation(m, hit)]), CARD_ANSWER_CHARS, limit)


def passage_block(m: Markup, card: list[Hit], rank: int, question: str,
                  limit: int = TELEGRAM_LIMIT) -> str:
    """«Cả đoạn»: card `rank`'s passages (service.CardPassages) whole, each answering
    sentence in bold."""

    def render(size: int) -> str:
        quotes = [_quoted(m, rank if n == 0 else None, _whole(p, question, size))
                  for n, p in enumerate(card)]
        return "\n".join([*quotes, *_citation(m, card[0])])

    return _fitted(render, max(len(p.text) for p in card), limit)


def passage_reply(m: Markup, result: CardPassages | None) -> str:
    """The answer to «Cả đoạn N» (the button or /doan N)."""
    if result is None:
        return BUTTON_EXPIRED
    if not result.card:
        return PASSAGE_GONE
    return passage_block(m, result.card, result.rank + 1, result.question)


def inline_card(m: Markup, question: str, card: list[Hit], limit: int = TELEGRAM_LIMIT) -> str:
    """The message an inline result posts: the question, then one article card."""
    head = f"🔎 {m.i(m.esc(cut_words(question, QUESTION_ECHO_CHARS)))}"
    return f"{head}\n\n" + hit_block(m, card[0], 1, question, limit - utf16_len(head) - 2)


def page_messages(m: Markup, page: Page, examples: list[str] | None = None,
                  hint: str = "", limit: int = TELEGRAM_LIMIT) -> list[str]:
    """The messages answering one page of a question (at least one message)."""
    if page.status is Status.EMPTY:
        return [f"Bạn chưa nhập câu hỏi. Hãy gõ điều bạn muốn biết, ví dụ: "
                f"{m.code(m.esc(first_example(examples)))}"]
    if page.status is Status.NOT_WORDS:
        return ["Mình chưa hiểu câu hỏi 🙂 Mình chỉ đọc được câu hỏi bằng chữ. Ví dụ: "
                f"{m.code(m.esc(first_example(examples)))}"]
    if page.status is Status.EXPIRED:
        return ["Xin lỗi, mình không còn nhớ câu hỏi này. Bạn gửi lại câu hỏi nhé."]
    if page.status is Status.END:
        return ["Không còn kết quả nào khác cho câu hỏi này."]
    echo = m.i(m.esc(cut_words(page.question, QUESTION_ECHO_CHARS)))
    understood = understood_line(m, page)
    if page.status is Status.NO_ANSWER:
        return [no_answer(m, echo, examples) + (f"\n{understood}" if understood else "")]

    first, last = page.offset + 1, page.offset + len(page.hits)
    if page.offset == 0 and page.match == "partial" and page.hits:
        lines = [close_but(m, page)]  # the first thing read: what the cards below miss
    else:
        lines = [f"🔎 Câu hỏi: {echo}" if page.offset == 0
                 else f"🔎 Kết quả {first}–{last} cho: {echo}"]
    if page.truncated:
        lines.append(m.i("(Câu hỏi quá dài nên mình chỉ dùng phần đầu.)"))
    if understood and page.offset == 0:
        lines.append(understood)
    blocks = ["\n".join(lines)]
    blocks += [hit_block(m, h, page.offset + i + 1, page.searched or page.question, limit)
               for i, h in enumerate(page.hits)]
    if hint:
        blocks.append(hint)
    return pack(blocks, limit)


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


def first_example(examples: list[str] | None) -> str:
    """The example a usage hint shows: the newest headline's question, else (an empty
    index, or examples that failed and were logged) a question of the usual shape."""
    return examples[0] if examples else "Huyện ủy duyệt chương trình công tác năm 2024"


def article_messages(m: Markup, article: Article, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """The whole article, split across messages on paragraph boundaries."""
    head = [f"📄 {m.b(m.esc(cut_words(article.title or 'Không có tiêu đề', TITLE_CHARS)))}",
            *_where_from(m, article)]
    blocks = ["\n".join(head)]
    for paragraph in article.paragraphs:
        blocks += chunk_text(m, " ".join(paragraph.split()), limit)
    messages = pack(blocks, limit)
    if len(messages) > MAX_ARTICLE_MESSAGES:
        # The note gets a message slot of its own so it can never push one over the limit.
        messages = messages[:MAX_ARTICLE_MESSAGES - 1]
        messages.append(m.i("… Bài viết còn dài, phần còn lại xin xem ở bài gốc."))
    return messages


def article_gone(m: Markup) -> str:
    return "Xin lỗi, bài viết này không còn trong dữ liệu (có thể vừa được cập nhật)."


# ---------------------------------------------------------------- browsing texts

def help_text(m: Markup, stats: dict, examples: list[str], *, admin: bool = False,
              console: bool = False, bot_username: str | None = None) -> str:
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
    lines.append("")
    if console:
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
    if not articles:
        return "Kho dữ liệu chưa có bài viết nào."
    lines = [f"🆕 {m.b('Các bài viết mới nhất')}"]
    for n, a in enumerate(articles, 1):
        lines.append(f"{n}. {m.b(m.esc(cut_words(a.title or 'Không có tiêu đề', TITLE_CHARS)))}")
        meta = meta_line(m, a.place, a.date, a.source)
        url = web_url(a.url)
        extra = " · ".join(x for x in (meta, m.link(url, "Đọc bài") if url else "") if x)
        if extra:
            lines.append(f"   {extra}")
    return "\n".join(lines)


def topics_text(m: Markup, topics: Topics, console: bool = False) -> str:
    """/chude: the organisations, places and years the articles are about, with counts,
    and the newest articles."""
    if not topics.articles:
        return "Kho dữ liệu chưa có bài viết nào."
    lines = [f"🗂 {m.b('Dữ liệu có gì')} ({topics.articles} bài)"]
    sections = (("Tổ chức", [(ORGANISATIONS[k], n) for k, n in topics.organisations]),
                ("Địa phương", topics.places),
                ("Năm", [(str(y), n) for y, n in topics.years]))
    for name, items in sections:
        if items:
            lines.append(f"{m.b(name)}: " + " · ".join(f"{m.esc(label)} ({n})" for label, n in items))
    if topics.newest:
        lines.append(m.b("Bài mới nhất"))
        lines += [f"{n}. {m.esc(cut_words(h.title or 'Không có tiêu đề', 120))}"
                  + (f" ({m.esc(format_date(h.date) or h.date)})" if h.date else "")
                  for n, h in enumerate(topics.newest, 1)]
    lines.append(m.i("Gõ tên một chủ đề (ví dụ: Hội Nông dân) để hỏi về nó." if console
                     else "Bấm một nút bên dưới để hỏi về chủ đề đó."))
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
        f"• Tệp không đổi (không đọc lại): {report.unchanged_files}, đã đọc: {report.parsed_files}",
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
UPLOAD_TOO_BIG = f"Tệp quá lớn: mình nhận tệp tối đa {MAX_UPLOAD_MB} MB."
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


def hint(page: Page, console: bool = False) -> str:
    """How to use the buttons (or console commands), under the first page of an answer."""
    if page.status is not Status.ANSWER or page.offset:
        return ""
    if console:
        parts = (["/more: xem thêm kết quả"] if page.has_more else []) + \
            ["/doan N: cả đoạn trích số N", "/full N: toàn văn bài số N"]
        return f"({' · '.join(parts)})"
    parts = ["«Cả đoạn» để đọc hết đoạn trích", "«Toàn văn» để đọc cả bài"] + \
        (["«Xem thêm» cho kết quả tiếp theo"] if page.has_more else []) + ["👍/👎 để góp ý"]
    return "👇 " + " · ".join(parts) + "."


def seconds_text(seconds: float) -> str:
    return str(max(1, round(seconds)))

