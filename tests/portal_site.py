"""A FICTIONAL local-government portal served on 127.0.0.1, for the fetch tests and benchmark.

Every district, organisation, person, number and event here is invented (the
place names are made up; any likeness is accidental).  The pages imitate three
page layouts seen on portals -- a modern portal (Open Graph metadata, dateline
with weekday), a blog theme (`<time datetime>`, figure captions) and an old
table layout whose only date is "ngày 5/3" without a year -- plus the things
crawlers meet: robots.txt, an RSS feed, a sitemap index with a gzip child, a
slow page, a 500, a redirect loop, a binary file, a 404, a page too large and a
page with no article text.

`PortalServer` is an http.server in a thread.  Pages can be changed while it
runs (`set_page`); it answers `If-None-Match` with 304 and logs every request.
"""
from __future__ import annotations

import gzip
import hashlib
import html
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SITE_NAME = "Cổng thông tin điện tử huyện Tân Khê"


@dataclass
class Route:
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    etag: bool = True


@dataclass
class FakeArticle:
    path: str
    title: str
    paragraphs: list[str]
    date: str | None  # ISO, shown by the layout; None: only the body dates the article
    layout: str = "portal"


def _para(texts: list[str]) -> str:
    return "\n".join(f"<p>{html.escape(t)}</p>" for t in texts)


def _ddmmyyyy(iso: str) -> str:
    y, m, d = iso.split("-")
    return f"{d}/{m}/{y}"


def portal_layout(a: FakeArticle) -> str:
    """A modern portal: Open Graph tags, breadcrumb, dateline with weekday, related links."""
    title = html.escape(a.title)
    return f"""<!DOCTYPE html><html lang="vi"><head><meta charset="utf-8">
<title>{title} - {SITE_NAME}</title>
<meta property="og:title" content="{title}"><meta property="og:site_name" content="{SITE_NAME}">
<meta property="article:published_time" content="{a.date}T08:30:00+07:00">
</head><body>
<header><div class="banner">{SITE_NAME}</div><nav><a href="/">Trang chủ</a> <a href="/tin-tuc/">Tin tức</a>
<a href="/gioi-thieu/">Giới thiệu</a></nav></header>
<div class="breadcrumb">Tin tức &gt; Mặt trận - Đoàn thể</div>
<main><article class="detail">
<h1 class="title">{title}</h1>
<div class="dateline">Thứ hai, {_ddmmyyyy(a.date)} 08:30</div>
<div class="detail-content">
{_para(a.paragraphs)}
<p class="author">Minh Thư</p>
</div></article>
<aside><h3>Tin liên quan</h3><ul><li><a href="/tin-tuc/khac-1.html">Hội nghị khác của huyện</a></li>
<li><a href="/tin-tuc/khac-2.html">Một tin khác trong tuần</a></li></ul></aside></main>
<footer>Bản quyền thuộc {SITE_NAME}. Địa chỉ: số 1 đường Trung Tâm.</footer></body></html>"""


def blog_layout(a: FakeArticle) -> str:
    """A blog theme: entry-title, <time datetime>, a figure with a generic caption."""
    title = html.escape(a.title)
    return f"""<!DOCTYPE html><html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<title>{title} | Hội Nông dân Tân Khê</title></head><body class="single-post">
<div id="masthead"><span class="site-title">Hội Nông dân huyện Tân Khê</span></div>
<div id="content"><article class="post type-post">
<header class="entry-header"><h2 class="entry-title">{title}</h2>
<div class="entry-meta">Đăng ngày <time class="entry-date published" datetime="{a.date}T07:00:00+07:00">{_ddmmyyyy(a.date)}</time></div></header>
<div class="entry-content">
<figure><img src="/anh/1.jpg" alt=""><figcaption>Toàn cảnh hội nghị</figcaption></figure>
{_para(a.paragraphs)}
</div></article></div>
<div id="sidebar"><h3>Chuyên mục</h3><ul><li>Tin hoạt động</li><li>Văn bản</li></ul></div>
<footer>Hội Nông dân huyện Tân Khê</footer></body></html>"""


def legacy_layout(a: FakeArticle) -> str:
    """An old portal: the site's name as <title>, the headline in a styled span, no date
    metadata; only the body's "ngày 5/3" (no year) dates the article."""
    title = html.escape(a.title)
    return f"""<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<title>{SITE_NAME}</title></head><body><div id="banner"><img src="/b.gif" alt="{SITE_NAME}"></div>
<div class="menu"><a href="/">Trang chủ</a> | <a href="/lien-he">Liên hệ</a></div>
<div id="noidung"><span class="tieude"><font size="4"><b>{title}</b></font></span><br>
<div class="chitiet">{_para(a.paragraphs)}</div></div>
<div class="footer">Lượt truy cập: 123456</div></body></html>"""


LAYOUTS = {"portal": portal_layout, "blog": blog_layout, "legacy": legacy_layout}

ARTICLES = [
    FakeArticle(
        "/tin-tuc/mttq-tan-khe-trien-khai-nhiem-vu-2024.html",
        "Ủy ban MTTQ huyện Tân Khê triển khai chương trình công tác năm 2024",
        ["Sáng ngày 15/01/2024, Ủy ban Mặt trận Tổ quốc huyện Tân Khê tổ chức hội nghị triển khai "
         "chương trình công tác năm 2024. Dự hội nghị có đồng chí Lò Văn Khải, Phó Bí thư Thường trực "
         "Huyện ủy, cùng đại diện các tổ chức thành viên và Ban Công tác Mặt trận của 14 xã, thị trấn.",
         "Năm 2024, Mặt trận huyện đặt mục tiêu vận động Quỹ Vì người nghèo được 1,2 tỷ đồng, hỗ trợ "
         "xây dựng 35 nhà Đại đoàn kết cho hộ nghèo và duy trì cuộc vận động người dân ưu tiên dùng "
         "hàng Việt ở tất cả các khu dân cư của huyện Tân Khê.",
         "Phát biểu chỉ đạo, đồng chí Lò Văn Khải đề nghị Mặt trận các cấp tiếp tục đổi mới nội dung, "
         "phương thức hoạt động, hướng về khu dân cư, lắng nghe ý kiến của nhân dân và phản ánh kịp "
         "thời với cấp ủy, chính quyền."],
        "2024-01-15", "portal"),
    FakeArticle(
        "/tin-tuc/hoi-ccb-tan-khe-tong-ket-2023.html",
        "Hội Cựu chiến binh huyện Tân Khê tổng kết công tác hội năm 2023",
        ["Chiều ngày 22/12/2023, Hội Cựu chiến binh huyện Tân Khê tổ chức hội nghị tổng kết công tác "
         "hội và phong trào cựu chiến binh năm 2023. Toàn huyện hiện có 2.140 hội viên sinh hoạt tại "
         "16 cơ sở hội.",
         "Trong năm, các cấp hội đã giúp 48 hội viên thoát nghèo, phát triển 22 mô hình kinh tế cho "
         "thu nhập trên 300 triệu đồng mỗi năm và tham gia hòa giải thành 31 vụ việc ở cơ sở.",
         "Hội nghị đã khen thưởng 12 tập thể và 25 cá nhân có thành tích xuất sắc trong phong trào thi "
         "đua Cựu chiến binh gương mẫu năm 2023."],
        "2023-12-22", "portal"),
    FakeArticle(
        "/hoi-nong-dan/nuoi-ca-long-song-bac.html",
        "Hội Nông dân huyện Tân Khê nhân rộng mô hình nuôi cá lồng trên sông Bạc",
        ["Ngày 8/3/2024, Hội Nông dân huyện Tân Khê tổ chức tham quan mô hình nuôi cá lồng trên sông "
         "Bạc tại xã Phú Khê. Mô hình có 18 lồng nuôi cá diêu hồng và cá lăng, mỗi năm cho lãi khoảng "
         "450 triệu đồng.",
         "Thời gian tới, Hội sẽ phối hợp với Ngân hàng Chính sách xã hội huyện giải ngân nguồn vốn vay "
         "ưu đãi để 20 hộ hội viên ở các xã ven sông có điều kiện đầu tư nuôi cá lồng.",
         "Các hộ tham gia được tập huấn kỹ thuật chọn giống, phòng bệnh cho cá và liên kết tiêu thụ với "
         "các nhà hàng trong tỉnh."],
        "2024-03-08", "blog"),
    FakeArticle(
        "/tintuc.asp?id=305",
        "Huyện đoàn Tân Khê ra quân Tháng Thanh niên",
        ["Sáng ngày 5/3, Huyện đoàn Tân Khê tổ chức lễ ra quân Tháng Thanh niên năm 2024 với chủ đề "
         "Thanh niên tiên phong chuyển đổi số. Hơn 400 đoàn viên thanh niên của 14 cơ sở đoàn đã tham dự.",
         "Trong tháng, các cơ sở đoàn sẽ ra quân làm sạch 30 km đường giao thông nông thôn, trồng 2.000 "
         "cây xanh và hướng dẫn người dân cài đặt ứng dụng dịch vụ công trực tuyến.",
         "Huyện đoàn cũng phát động cuộc thi tìm hiểu lịch sử Đoàn dành cho đoàn viên ở các trường "
         "trung học phổ thông trên địa bàn huyện Tân Khê."],
        None, "legacy"),
]
DISALLOWED = "/noi-bo/bao-cao-mat.html"


def article_html(a: FakeArticle) -> bytes:
    return LAYOUTS[a.layout](a).encode("utf-8")


def rss_feed(base: str, links: list[tuple[str, str]]) -> bytes:
    items = "".join(f"<item><title>t</title><link>{base}{path}</link><pubDate>{when}</pubDate></item>"
                    for path, when in links)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{SITE_NAME}'
            f"</title><link>{base}/</link>{items}</channel></rss>").encode()


def urlset(base: str, links: list[tuple[str, str | None]]) -> bytes:
    urls = "".join(f"<url><loc>{base}{path}</loc>" + (f"<lastmod>{lm}</lastmod>" if lm else "") + "</url>"
                   for path, lm in links)
    return ('<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/'
            f'sitemap/0.9">{urls}</urlset>').encode()


def sitemap_index(base: str, children: list[str]) -> bytes:
    maps = "".join(f"<sitemap><loc>{base}{c}</loc></sitemap>" for c in children)
    return ('<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/'
            f'schemas/sitemap/0.9">{maps}</sitemapindex>').encode()


class PortalServer:
    """http.server on 127.0.0.1 in a daemon thread; `routes` maps a path (with query) to a Route."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, path, headers)
        self.times: list[tuple[float, str]] = []  # (time.monotonic() on arrival, path)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                with server._lock:
                    server.requests.append(("GET", self.path, dict(self.headers)))
                    server.times.append((time.monotonic(), self.path))
                    route = server.routes.get(self.path)
                if route is None:
                    self._send(404, b"<html><body><p>Not found</p></body></html>", "text/html", {})
                    return
                if route.delay:
                    time.sleep(route.delay)
                headers = dict(route.headers)
                if route.etag and route.status == 200:
                    tag = '"' + hashlib.sha1(route.body).hexdigest()[:16] + '"'
                    headers["ETag"] = tag
                    if self.headers.get("If-None-Match") == tag:
                        self._send(304, b"", None, headers)
                        return
                self._send(route.status, route.body, route.content_type, headers)

            def _send(self, status, body, ctype, headers) -> None:
                try:
                    self.send_response(status)
                    if ctype:
                        self.send_header("Content-Type", ctype)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None  # a client that gave up (timeouts)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> PortalServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def set_page(self, path: str, route: Route) -> None:
        with self._lock:
            self.routes[path] = route

    def hits(self, path: str) -> list[dict[str, str]]:
        """Headers of every GET of `path`."""
        with self._lock:
            return [h for m, p, h in self.requests if p == path]


def full_portal(server: PortalServer) -> None:
    """Every page and oddity of the fictional portal."""
    base = server.base
    for a in ARTICLES:
        server.set_page(a.path, Route(article_html(a)))
    # The same article as the first one under a second address (an id link): a duplicate.
    server.set_page("/tin-tuc/chi-tiet?id=101", Route(article_html(ARTICLES[0])))
    server.set_page("/robots.txt", Route(b"User-agent: *\nDisallow: /noi-bo/\n", "text/plain", etag=False))
    server.set_page(DISALLOWED, Route(article_html(FakeArticle(
        DISALLOWED, "Báo cáo nội bộ không công khai", ["Nội dung này không được thu thập."] * 3,
        "2024-01-02"))))
    server.set_page("/cham.html", Route(article_html(ARTICLES[1]), delay=1.5))
    server.set_page("/loi.html", Route(b"<html><body>Internal error</body></html>", status=500))
    server.set_page("/vong-a", Route(b"", status=302, headers={"Location": "/vong-b"}, etag=False))
    server.set_page("/vong-b", Route(b"", status=302, headers={"Location": "/vong-a"}, etag=False))
    server.set_page("/sang-trang-khac", Route(b"", status=301, etag=False,
                                              headers={"Location": "http://example.invalid/x"}))
    server.set_page("/van-ban/quyet-dinh.pdf", Route(b"%PDF-1.4\n\x00\x01\x02\x03binary",
                                                     "application/pdf"))
    server.set_page("/trang-trong.html", Route(b"<html><head><title>Trang</title></head><body>"
                                               b"<nav><a href='/'>Trang ch\xe1\xbb\xa7</a></nav></body></html>"))
    server.set_page("/rat-lon.html", Route(b"<html><body>" + b"<p>x</p>" * 200_000 + b"</body></html>"))
    server.set_page("/ma-hong.html", Route(b"<html><body><p>" + bytes(range(128, 256)) * 40
                                           + b"</p></body></html>", "text/html; charset=utf-8"))
    server.set_page("/rss.xml", Route(rss_feed(base, [
        (ARTICLES[0].path + "?utm_source=rss&utm_medium=feed", "Mon, 15 Jan 2024 08:30:00 +0700"),
        (ARTICLES[1].path, "Fri, 22 Dec 2023 15:00:00 +0700"),
        (DISALLOWED, "Tue, 02 Jan 2024 08:00:00 +0700"),
        ("/loi.html", "Tue, 02 Jan 2024 08:00:00 +0700"),
    ]), "application/rss+xml; charset=utf-8", etag=False))
    server.set_page("/sitemap.xml", Route(sitemap_index(base, ["/sitemap-tin.xml.gz", "/sitemap-trang.xml"]),
                                          "application/xml", etag=False))
    server.set_page("/sitemap-tin.xml.gz", Route(gzip.compress(urlset(base, [
        (ARTICLES[2].path, "2024-03-08"),
        (ARTICLES[3].path, "2024-03-05"),
        ("/tin-tuc/chi-tiet?id=101", "2024-01-15"),
        (ARTICLES[0].path + "#binh-luan", "2024-01-15"),
    ])), "application/x-gzip", etag=False))
    server.set_page("/sitemap-trang.xml", Route(urlset(base, [
        ("/gioi-thieu-cu.html", "2019-05-01"),
    ]), "application/xml", etag=False))
