"""The hostile world (issue 6): bad servers, bad pages and bad feeds, all on 127.0.0.1.

Every case runs as a small batch next to a good page or feed, and must end in a recorded error
or a clean skip, within a time bound and a memory bound, while the good one still succeeds.
Each case prints one line (``pytest -s -k hostile`` shows the table):

    HOSTILE | case | outcome | seconds | Python heap peak (tracemalloc) | RSS growth (sampled)

The URL-guard tests only ever connect to loopback addresses (127.0.0.0/8). Private-range
addresses (10/8, 172.16/12, 192.168/16) appear only in resolver stubs and ``check_url`` calls,
which resolve and classify without connecting.
"""

from __future__ import annotations

import asyncio
import gc
import http.server
import os
import random
import resource
import socket
import struct
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from accesswatch.config import ExtractSettings, FeedSettings, HttpSettings
from accesswatch.errors import BlockedURLError
from accesswatch.extract import extract_articles, extract_one
from accesswatch.feeds import defuse_entities, new_entries, plan_next_polls, poll_feeds
from accesswatch.fetch import check_url, fetch_pages
from accesswatch.models import Entry, FeedResult, FeedSpec, FeedState, Page

from .helpers import page, rss

MiB = 1 << 20
GOOD_TITLE = "A perfectly ordinary article"
GOOD_PAGE = page(GOOD_TITLE, ["Some text about models and the people who build them. " * 8] * 3)
FEEDS = FeedSettings()
HTTP = HttpSettings(allowed_private_hosts=("127.0.0.1",), total_timeout_seconds=5, read_timeout_seconds=3,
                    connect_timeout_seconds=2, concurrency=8, per_host_concurrency=8)


# ---------------------------------------------------------------- a server with byte-level control
class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: bodies may be close-delimited

    def do_GET(self) -> None:
        srv: HostileServer = self.server  # type: ignore[assignment]
        path = self.path.split("?", 1)[0]
        with srv.lock:
            srv.hits[path] = srv.hits.get(path, 0) + 1
        route = srv.routes.get(path)
        try:
            if route is None:
                self.raw(404, b"not found", "text/plain")
            else:
                route(self)
        except OSError:  # the client hung up: expected whenever a body is cut off
            pass
        finally:
            with srv.lock:
                srv.finished[path] = srv.finished.get(path, 0) + 1

    def raw(self, status: int, body: bytes = b"", ctype: str | None = "text/html; charset=utf-8",
            headers: dict[str, str] | None = None, length: bool = True) -> None:
        """One write: status line, headers, body (no Nagle stalls, exact bytes)."""
        lines = [f"HTTP/1.0 {status} X"]
        if ctype is not None:
            lines.append(f"Content-Type: {ctype}")
        if length:
            lines.append(f"Content-Length: {len(body)}")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def count_sent(self, n: int) -> None:
        srv: HostileServer = self.server  # type: ignore[assignment]
        path = self.path.split("?", 1)[0]
        with srv.lock:
            srv.sent[path] = srv.sent.get(path, 0) + n

    def log_message(self, *args: object) -> None:
        pass


Route = Callable[[_Handler], None]


class HostileServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__((host, 0), _Handler)
        self.routes: dict[str, Route] = {}
        self.hits: dict[str, int] = {}
        self.finished: dict[str, int] = {}
        self.sent: dict[str, int] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.port = self.server_address[1]
        self.host = host

    def route(self, path: str, fn: Route) -> str:
        self.routes[path] = fn
        return self.url(path)

    def static(self, path: str, body: bytes | str, ctype: str | None = "text/html; charset=utf-8",
               status: int = 200, headers: dict[str, str] | None = None) -> str:
        data = body.encode("utf-8") if isinstance(body, str) else body
        return self.route(path, lambda h: h.raw(status, data, ctype, headers))

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def wait_finished(self, path: str, timeout: float = 5.0) -> None:
        """Wait until every request to ``path`` has finished on the server side."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.finished.get(path, 0) >= self.hits.get(path, 0):
                    return
            time.sleep(0.02)


@contextmanager
def running(host: str = "127.0.0.1") -> Iterator[HostileServer]:
    srv = HostileServer(host)
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), name=f"hostile-{host}", daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.stop.set()
        srv.shutdown()
        srv.server_close()
        thread.join(5)


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with running() as srv:
        srv.static("/good", GOOD_PAGE)
        srv.static("/good.xml", rss([{"link": srv.url("/good-1"), "title": "Good one"},
                                     {"link": srv.url("/good-2"), "title": "Good two"}]),
                   "application/rss+xml")
        yield srv


# ---------------------------------------------------------------- measuring
def _rss_mib() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MiB
    except OSError:  # not Linux: the high-water mark is the best we have
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Measure:
    case: str
    outcome: str = "?"
    seconds: float = 0.0
    py_peak_mib: float = 0.0
    rss_growth_mib: float = 0.0


@contextmanager
def measure(case: str, trace: bool = True) -> Iterator[Measure]:
    """Time, tracemalloc peak and RSS growth of the block; prints one table line.

    RSS growth is the larger of a 5 ms sampler and the rise of the process high-water mark.
    ``trace=False`` skips tracemalloc, which slows pure-Python parsers several times over,
    for the CPU-bound cases (their time is the point there; RSS still bounds the memory).
    """
    m = Measure(case)
    gc.collect()
    base = _rss_mib()
    maxrss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], _rss_mib())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    try:
        yield m
    finally:
        m.seconds = time.perf_counter() - started
        if trace:
            m.py_peak_mib = tracemalloc.get_traced_memory()[1] / MiB
            tracemalloc.stop()
        done.set()
        sampler.join()
        maxrss_rise = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - maxrss0
        m.rss_growth_mib = max(0.0, max(peak[0], _rss_mib()) - base, maxrss_rise)
        py = f"{m.py_peak_mib:6.1f} MiB" if trace else "   n/a    "
        print(f"\nHOSTILE | {m.case:<44} | {m.outcome[:90]:<90} | {m.seconds:6.2f} s "
              f"| py peak {py} | rss +{m.rss_growth_mib:6.1f} MiB")


def entry(url: str, summary: str | None = None) -> Entry:
    return Entry(feed="t", guid=url, url=url, title="t", summary=summary,
                 published=datetime(2026, 11, 1, tzinfo=UTC), author=None)


def fetch_case(case: str, srv: HostileServer, url: str, settings: HttpSettings = HTTP,
               max_seconds: float = 5.0, max_mib: float = 100.0, trace: bool = True) -> tuple[Page, Measure]:
    """Fetch [hostile, good] in one batch; the good page must come through."""
    with measure(case, trace) as m:
        bad, good = fetch_pages([entry(url), entry(srv.url("/good"))], settings)
        m.outcome = f"error: {bad.error}" if bad.error else f"ok: {len(bad.html or '')} chars"
    assert good.error is None and good.html and GOOD_TITLE in good.html, "the good page must still succeed"
    assert m.seconds < max_seconds, f"{case} took {m.seconds:.1f}s"
    assert m.py_peak_mib < max_mib and m.rss_growth_mib < max_mib, f"{case} used too much memory: {m}"
    return bad, m


def poll_case(case: str, srv: HostileServer, url: str, http: HttpSettings = HTTP,
              settings: FeedSettings = FEEDS, max_seconds: float = 5.0,
              max_mib: float = 100.0, trace: bool = True) -> tuple[FeedResult, Measure]:
    """Poll [hostile, good] feeds in one batch; the good feed must come through."""
    with measure(case, trace) as m:
        bad, good = poll_feeds([FeedSpec("hostile", url), FeedSpec("good", srv.url("/good.xml"))],
                               {}, datetime.now(UTC), http, settings)
        m.outcome = (f"error: {bad.error}" if bad.status == "error"
                     else f"{bad.status}: {len(bad.entries)} entries" + (f" ({bad.warning})" if bad.warning else ""))
    assert good.status == "ok" and [e.title for e in good.entries] == ["Good one", "Good two"]
    assert bad.status in ("ok", "error", "not_modified")
    assert m.seconds < max_seconds, f"{case} took {m.seconds:.1f}s"
    assert m.py_peak_mib < max_mib and m.rss_growth_mib < max_mib, f"{case} used too much memory: {m}"
    return bad, m


# ---------------------------------------------------------------- slow servers
def _drip(h: _Handler, head: bytes, drip: bytes) -> None:
    h.wfile.write(head)
    for b in drip:
        h.wfile.write(bytes([b]))
        h.count_sent(1)
        if h.server.stop.wait(1.0):  # type: ignore[attr-defined]
            return


def test_drip_one_byte_a_second_is_cut_by_the_total_timeout(hostile: HostileServer) -> None:
    """Each byte arrives well within the read timeout, so only the total timeout can stop it."""
    settings = HTTP.model_copy(update={"total_timeout_seconds": 2, "read_timeout_seconds": 1.5})
    body_url = hostile.route("/drip-body", lambda h: _drip(
        h, b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n", b"<p>" + b"x" * 60))
    head_url = hostile.route("/drip-headers", lambda h: _drip(h, b"HTTP/1.0 200 OK\r\n", b"X-Slow: " + b"y" * 60))
    for case, url in (("drip 1 B/s in the body (page)", body_url), ("drip 1 B/s in the headers (page)", head_url)):
        bad, _ = fetch_case(case, hostile, url, settings, max_seconds=3.5)
        assert bad.html is None and "timed out after 2s" in (bad.error or "")
    bad_feed, _ = poll_case("drip 1 B/s in the body (feed)", hostile, body_url, settings, max_seconds=3.5)
    assert bad_feed.status == "error" and bad_feed.transient and "timed out" in (bad_feed.error or "")


# ---------------------------------------------------------------- big bodies
CHUNK = b"<p>" + b"a" * (64 * 1024 - 7) + b"</p>\n"
BIG = 200 * 1000 * 1000


def _stream(h: _Handler, head: bytes, chunked: bool = False) -> None:
    h.wfile.write(head)
    sent = 0
    frame = b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK) if chunked else CHUNK
    while sent < BIG and not h.server.stop.is_set():  # type: ignore[attr-defined]
        h.wfile.write(frame)
        sent += len(CHUNK)
        h.count_sent(len(CHUNK))
    if chunked:
        h.wfile.write(b"0\r\n\r\n")


@pytest.mark.parametrize("variant", ["declared", "close-delimited", "chunked"])
def test_200_mb_body_stops_at_the_cap_without_reading_it(hostile: HostileServer, variant: str) -> None:
    heads = {
        "declared": f"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: {BIG}\r\n\r\n",
        "close-delimited": "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n",
        "chunked": "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    }
    url = hostile.route("/huge", lambda h: _stream(h, heads[variant].encode(), chunked=variant == "chunked"))
    bad, m = fetch_case(f"200 MB page, {variant}", hostile, url)
    assert bad.html is None and "cap" in (bad.error or "")
    hostile.wait_finished("/huge")
    sent = hostile.sent.get("/huge", 0)
    print(f"HOSTILE | {'':<44} | server sent {sent / MiB:.1f} MiB of 190.7 MiB before the client hung up")
    # the cap is 5 MB; what else left the server sits in socket buffers, never 200 MB
    assert sent < 60 * MiB
    if variant == "declared":
        assert "exceeds cap" in (bad.error or "") and "200000000 bytes" in (bad.error or "")


# ---------------------------------------------------------------- compression
def _gzip_of_zeros(n_mib: int) -> bytes:
    """A valid gzip file of ``n_mib`` MiB of zeros. Full flushes make every 1 MiB block
    compress to the same bytes, so the bomb is built by repetition in a fraction of a second."""
    zeros = bytes(MiB)
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    first = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(n_mib):
        crc = zlib.crc32(zeros, crc)
    return (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + first + block * (n_mib - 1) + c.flush()
            + struct.pack("<II", crc, (n_mib * MiB) & 0xFFFFFFFF))


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    bomb = _gzip_of_zeros(1024)  # 1 GiB of zeros
    assert len(bomb) < 1.1 * MiB
    # it is a real gzip file: its header and first blocks inflate to zeros
    d = zlib.decompressobj(zlib.MAX_WBITS | 16)
    assert d.decompress(bomb[:4096], MiB) == bytes(MiB)
    return bomb


def test_gzip_bomb_stops_at_the_cap_without_inflating_it(hostile: HostileServer, gzip_bomb: bytes) -> None:
    hdrs = {"Content-Encoding": "gzip"}
    page_url = hostile.static("/bomb.html", gzip_bomb, "text/html", headers=hdrs)
    feed_url = hostile.static("/bomb.xml", gzip_bomb, "application/rss+xml", headers=hdrs)
    bad, m = fetch_case(f"gzip bomb page ({len(gzip_bomb) / MiB:.1f} MiB -> 1 GiB)", hostile, page_url,
                        max_seconds=3, max_mib=50)
    assert bad.html is None and "exceeds cap of 5000000" in (bad.error or "")
    bad_feed, m = poll_case(f"gzip bomb feed ({len(gzip_bomb) / MiB:.1f} MiB -> 1 GiB)", hostile, feed_url,
                            max_seconds=3, max_mib=50)
    assert bad_feed.status == "error" and f"exceeds cap of {HttpSettings().max_feed_bytes}" in (bad_feed.error or "")


def test_content_encodings_are_decoded_with_a_bound(hostile: HostileServer) -> None:
    body = GOOD_PAGE.encode()
    deflate_raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    urls = {
        "gzip": hostile.static("/gz", zlib.compress(body, wbits=31), headers={"Content-Encoding": "gzip"}),
        "deflate": hostile.static("/zlib", zlib.compress(body), headers={"Content-Encoding": "deflate"}),
        "raw deflate": hostile.static("/raw", deflate_raw.compress(body) + deflate_raw.flush(),
                                      headers={"Content-Encoding": "deflate"}),
        "identity": hostile.static("/id", body, headers={"Content-Encoding": "identity"}),
        "corrupt gzip": hostile.static("/bad-gz", b"\x1f\x8b\x08\x00garbage" * 50,
                                       headers={"Content-Encoding": "gzip"}),
        "brotli (not offered)": hostile.static("/br", b"\x8b\x03\x80hello\x03", headers={"Content-Encoding": "br"}),
    }
    pages = dict(zip(urls, fetch_pages([entry(u) for u in urls.values()], HTTP), strict=True))
    for name in ("gzip", "deflate", "raw deflate", "identity"):
        assert pages[name].html is not None and GOOD_TITLE in pages[name].html, name
    assert "cannot decode gzip" in (pages["corrupt gzip"].error or "")
    assert "unsupported content-encoding" in (pages["brotli (not offered)"].error or "")


# ---------------------------------------------------------------- redirects
def test_redirect_loops_and_non_http_schemes_are_refused(hostile: HostileServer) -> None:
    settings = HTTP.model_copy(update={"max_redirects": 4})

    def to(location: str) -> Route:
        return lambda h: h.raw(302, b"", None, {"Location": location})

    hostile.route("/loop", to("/loop"))
    hostile.route("/ping", to("/pong"))
    hostile.route("/pong", to(hostile.url("/ping")))
    cases = {
        "redirect loop (self)": ("/loop", "more than 4 redirects"),
        "redirect loop (two hops)": ("/ping", "more than 4 redirects"),
        "redirect to file:///etc/passwd": ("/to-file", "scheme 'file' not allowed"),
        "redirect to ftp://": ("/to-ftp", "scheme 'ftp' not allowed"),
        # httpx parses the Location eagerly and rejects these before our guard sees them
        "redirect to javascript:": ("/to-js", ("scheme 'javascript' not allowed", "invalid URL")),
        "redirect to data:": ("/to-data", ("scheme 'data' not allowed", "invalid URL")),
        "redirect to gopher:// (loopback)": ("/to-gopher", "scheme 'gopher' not allowed"),
    }
    hostile.route("/to-file", to("file:///etc/passwd"))
    hostile.route("/to-ftp", to(f"ftp://127.0.0.1:{hostile.port}/x"))
    hostile.route("/to-js", to("javascript:alert(document.cookie)"))
    hostile.route("/to-data", to("data:text/html,<h1>injected</h1>"))
    hostile.route("/to-gopher", to(f"gopher://127.0.0.1:{hostile.port}/_GET%20/"))
    for case, (path, expected) in cases.items():
        bad, _ = fetch_case(case, hostile, hostile.url(path), settings, max_seconds=2)
        expected = (expected,) if isinstance(expected, str) else expected
        assert bad.html is None and any(x in (bad.error or "") for x in expected), (case, bad.error)
    assert hostile.hits["/loop"] == 5  # the first request and 4 redirects, then it stops


# ---------------------------------------------------------------- not an article
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <</Type /Catalog>> endobj\n" + bytes(range(256)) * 40
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 40
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 40


def test_pdf_and_images_served_as_articles_are_recorded_not_extracted(hostile: HostileServer) -> None:
    cases = {
        "PDF as application/pdf": (hostile.static("/a.pdf", PDF, "application/pdf"), "content type"),
        "PNG as image/png": (hostile.static("/a.png", PNG, "image/png"), "content type"),
        "PDF as text/html (lying)": (hostile.static("/pdf.html", PDF, "text/html"), "PDF served as"),
        "PNG with no content type": (hostile.static("/png", PNG, None), "PNG image served as"),
        "JPEG as text/html; charset=utf-8": (hostile.static("/jpg.html", JPEG), "JPEG image served as"),
    }
    for case, (url, expected) in cases.items():
        bad, _ = fetch_case(case, hostile, url, max_seconds=2)
        assert bad.html is None and expected in (bad.error or ""), (case, bad.error)
    # the extract stage records them and falls back to the feed summary; the good page is extracted
    pages = fetch_pages([entry(url, summary="The feed's own summary.") for url, _ in cases.values()]
                        + [entry(hostile.url("/good"))], HTTP)
    articles = extract_articles(pages, ExtractSettings(workers=1))
    assert [a.extraction for a in articles] == ["summary"] * len(cases) + ["trafilatura"]
    assert all(a.fetch_error for a in articles[:-1]) and articles[-1].fetch_error is None


# ---------------------------------------------------------------- server errors and backoff
def test_500_and_503_with_retry_after_are_recorded_and_backed_off(hostile: HostileServer) -> None:
    now = datetime.now(UTC)
    in_two_hours = format_datetime(now + timedelta(hours=2), usegmt=True)
    cases = {
        "feed 500, no Retry-After": (500, None, timedelta(minutes=FEEDS.backoff_base_minutes * 4)),
        "feed 503, Retry-After: 3600": (503, "3600", timedelta(hours=1)),
        "feed 503, Retry-After: HTTP date (+2 h)": (503, in_two_hours, timedelta(hours=2)),
        "feed 429, Retry-After: 10^12 s": (429, str(10**12), timedelta(days=7)),
        "feed 503, Retry-After: garbage": (503, "soon-ish", timedelta(minutes=FEEDS.backoff_base_minutes)),
    }
    states = {"hostile": FeedState("hostile", consecutive_failures=2)}  # used for the first case only
    for i, (case, (status, retry_after, wait)) in enumerate(cases.items()):
        url = hostile.static(f"/status-{i}", "busy", "text/plain", status,
                             {"Retry-After": retry_after} if retry_after else None)
        bad, _ = poll_case(case, hostile, url, max_seconds=2)
        assert bad.status == "error" and bad.transient and f"HTTP {status}" in (bad.error or "")
        plan = plan_next_polls([bad], states if i == 0 else {}, now, FEEDS)
        assert plan["hostile"] is not None
        assert abs((plan["hostile"] - now) - wait) < timedelta(seconds=60), (case, plan["hostile"] - now)
    bad_page, _ = fetch_case("page 500", hostile, hostile.static("/500", "oops", status=500), max_seconds=2)
    assert bad_page.html is None and bad_page.http_status == 500 and "HTTP 500" in (bad_page.error or "")


# ---------------------------------------------------------------- encodings
DE = "Müller über Straße: der Übersetzer schrieb über große Füße und schöne Grüße."
JA = "人工知能の会社がAPIへのアクセスを停止しました。"
RU = "Компания закрыла доступ к API для конкурента."


def _html(title: str, text: str, meta: str = "") -> str:
    return (f"<html><head>{meta}<title>{title}</title></head><body><article><h1>{title}</h1>"
            + f"<p>{text}</p>" * 12 + "</article></body></html>")


def test_invalid_utf8_and_undeclared_legacy_encodings_in_pages(hostile: HostileServer) -> None:
    invalid = _html("Cafe news", "Caf\udce9 in Paris, na\udcefve fa\udce7ade, \udcff\udcfe stray bytes. " + DE)
    cases = {
        "page: invalid UTF-8 declared as UTF-8": (invalid.encode("utf-8", "surrogateescape"),
                                                  "text/html; charset=utf-8", "Paris"),
        "page: undeclared windows-1252": (_html("Nachrichten", DE).encode("cp1252"), "text/html", "Müller"),
        "page: undeclared Shift_JIS": (_html("ニュース", JA).encode("shift_jis"), "text/html", JA),
        "page: undeclared KOI8-R": (_html("Новости", RU).encode("koi8-r"), "text/html", RU),
        "page: UTF-16 with BOM, undeclared": (_html("Nachrichten", DE).encode("utf-16"), "text/html", "Müller"),
        "page: unknown charset label, bytes are UTF-8": (_html("Nachrichten", DE).encode(),
                                                         "text/html; charset=x-nope", "Müller"),
        "page: 200 kB of random bytes as text/html": (random.Random(6).randbytes(200_000), "text/html", None),
    }
    for i, (case, (body, ctype, expected)) in enumerate(cases.items()):
        bad, m = fetch_case(case, hostile, hostile.static(f"/enc-{i}", body, ctype), max_seconds=3)
        assert isinstance(bad.html, str), (case, bad.error)
        if expected is not None:
            assert expected in bad.html, case
        article = extract_articles([bad], ExtractSettings(workers=1))[0]  # and extraction copes
        assert article.extraction in ("trafilatura", "summary", "none")
        if expected is not None and len(expected) > 10:
            assert article.text and expected in article.text, case


def test_invalid_utf8_and_undeclared_legacy_encodings_in_feeds(hostile: HostileServer) -> None:
    def doc(title: str, decl: str = "") -> str:
        return (f'<?xml version="1.0"{decl}?><rss version="2.0"><channel><title>t</title>'
                f"<item><title>{title}</title><link>{hostile.url('/story-1')}</link>"
                f"<description>{title}</description></item></channel></rss>")

    cases = {
        "feed: invalid UTF-8 declared as UTF-8": (
            doc("Caf\udce9 \udcff " + DE, ' encoding="utf-8"').encode("utf-8", "surrogateescape"),
            "application/rss+xml; charset=utf-8", "Müller"),
        "feed: undeclared windows-1252": (doc(DE).encode("cp1252"), "application/rss+xml", "Müller"),
        "feed: Shift_JIS in the XML declaration only": (doc(JA, ' encoding="shift_jis"').encode("shift_jis"),
                                                       "application/rss+xml", JA),
        "feed: undeclared KOI8-R": (doc(RU).encode("koi8-r"), "application/rss+xml", None),
        "feed: UTF-16 served as text/xml, no charset": (doc("Plain ASCII title", ' encoding="utf-16"').encode("utf-16"),
                                                        "text/xml", "Plain ASCII title"),
        "feed: header says utf-8, body is UTF-16": (doc(DE, ' encoding="utf-16"').encode("utf-16"),
                                                    "application/rss+xml; charset=utf-8", "Müller"),
    }
    for i, (case, (body, ctype, expected)) in enumerate(cases.items()):
        bad, _ = poll_case(case, hostile, hostile.static(f"/feed-enc-{i}.xml", body, ctype), max_seconds=3)
        assert bad.status == "ok" and len(bad.entries) == 1, (case, bad.error)
        title = bad.entries[0].title
        assert isinstance(title, str) and title, case
        if expected is not None:
            assert expected in title, (case, title)


# ---------------------------------------------------------------- XML entity expansion
def _laughs(one_line: bool, pad: int = 0, prefix: str = "") -> str:
    decls = ['<!ENTITY lol "lollollollollollollollollollollollollollollollollollollollollol">']
    decls += [f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10)]
    sep = "" if one_line else "\n"
    return (f'<?xml version="1.0"?>{prefix}<!DOCTYPE rss [{sep}{sep.join(decls)}{sep}]>'
            f'<rss version="2.0"><channel><title>&lol9;</title><!--{"x" * pad}-->'
            f"<item><title>Laughs &lol9;</title><link>http://example.com/lol</link></item>"
            f"<item><title>Still here</title><link>http://example.com/ok</link></item></channel></rss>")


def test_xml_entity_bombs_in_feeds_are_defused(hostile: HostileServer) -> None:
    import pyexpat
    import xml.sax

    # feedparser's strict parser is xml.sax over expat: the one that would expand entities
    assert type(xml.sax.make_parser()).__module__ == "xml.sax.expatreader"
    print(f"\nHOSTILE | feedparser parses with xml.sax/expat ({pyexpat.EXPAT_VERSION}); "
          "entity declarations are defused before it sees them")
    quadratic = ('<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "' + "A" * 200 + '">]>'
                 '<rss version="2.0"><channel><title>q</title><item><title>' + "&a;" * 200_000
                 + '</title><link>http://example.com/q</link></item></channel></rss>')
    xxe = ('<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY xxe SYSTEM "file:///etc/passwd">\n'
           f'<!ENTITY % remote SYSTEM "{hostile.url("/evil.dtd")}">\n%remote;\n]>'
           '<rss version="2.0"><channel><title>x</title><item><title>Leak &xxe;</title>'
           '<link>http://example.com/xxe</link></item></channel></rss>')
    cases = {
        "billion laughs, classic multi-line DTD": _laughs(False).encode(),
        "billion laughs, one-line DTD": _laughs(True).encode(),
        "billion laughs, one line + 1 MB padding": _laughs(True, pad=1_000_000).encode(),
        "billion laughs after a '<a' comment": _laughs(True, pad=100_000, prefix="<!-- <a> -->").encode(),
        "billion laughs in UTF-16": _laughs(True, pad=100_000).replace(
            'version="1.0"', 'version="1.0" encoding="utf-16"').encode("utf-16"),
        "quadratic blowup (200 B entity x 200k refs)": quadratic.encode(),
        "external entities (XXE file://, remote DTD)": xxe.encode(),
    }
    for i, (case, body) in enumerate(cases.items()):
        bad, m = poll_case(case, hostile, hostile.static(f"/bomb-{i}.xml", body, "application/rss+xml"),
                           max_seconds=3, max_mib=60, trace=False)
        texts = " ".join(f"{e.title} {e.summary}" for e in bad.entries)
        assert "lollollol" * 10 not in texts and "A" * 2000 not in texts
        assert "root:" not in texts  # /etc/passwd never made it in
        assert hostile.hits.get("/evil.dtd") is None
        if bad.status == "ok":
            assert bad.warning and "unsafe entity" in bad.warning, case
    # and a legitimate small entity (as in feedparser's own corpus) still works
    ok = (b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n  <!ENTITY id "tag:example.com,">\n]>'
          b'<rss version="2.0"><channel><item><guid isPermaLink="false">&id;2006:/blog/</guid>'
          b'<title>t</title><link>http://example.com/b</link></item></channel></rss>')
    assert defuse_entities(ok) == (ok, 0)


# ---------------------------------------------------------------- big feeds and pages
def test_feed_with_20000_entries_is_bounded(hostile: HostileServer) -> None:
    items = [{"link": f"http://example.com/story/{i}", "title": f"Story {i}", "guid": f"tag:example.com,2026:{i}"}
             for i in range(20_000)]
    body = rss(items)
    url = hostile.static("/big.xml", body, "application/rss+xml")
    bad, m = poll_case(f"feed with 20,000 entries ({len(body) / MiB:.1f} MiB)", hostile, url,
                       max_seconds=3, trace=False)
    assert bad.status == "ok" and len(bad.entries) == FEEDS.max_entries_per_feed
    assert [e.title for e in bad.entries[:2]] == ["Story 0", "Story 1"]
    assert bad.entries[-1].title == f"Story {FEEDS.max_entries_per_feed - 1}"
    assert "19800 entries past the first 200 not parsed" in (bad.warning or "")


def test_page_of_5_mb_nested_tags_is_extracted_or_skipped_in_bounded_time(hostile: HostileServer) -> None:
    n = 4_900_000
    cases = {
        "5 MB page: <div> nested ~980k deep": "<html><body>" + "<div>" * (n // 5) + "deep text",
        "5 MB page: mixed inline/table nesting": "<html><body><article><p>Intro about models.</p>"
        + "<div><span><b><i><table><tr><td>" * (n // 36) + "</article>",
        "5 MB page: 400k balanced <div><p> pairs": "<html><body>" + "<div><p>a</p>" * (n // 26) + "</div>" * (n // 26),
        "5 MB page: unclosed <p><li><td> soup": "<html><body>" + "<p>x<li>y<td>z" * (n // 14),
    }
    settings = ExtractSettings(workers=1)
    for i, (case, html) in enumerate(cases.items()):
        assert len(html.encode()) < HTTP.max_page_bytes
        url = hostile.static(f"/nested-{i}.html", html)
        with measure(case, trace=False) as m:
            pages = fetch_pages([entry(url, summary="Feed summary."), entry(hostile.url("/good"))], HTTP)
            bad, good = extract_articles(pages, settings)
            m.outcome = (f"fetched {len(pages[0].html or '') / MiB:.1f} MiB; extraction={bad.extraction}, "
                         f"text {len(bad.text or '')} chars, error={bad.fetch_error}")
        assert pages[0].html is not None, pages[0].error
        assert bad.extraction in ("trafilatura", "summary", "none")
        assert good.extraction == "trafilatura" and good.text and "models" in good.text
        assert m.seconds < 10, f"{case} took {m.seconds:.1f}s"
        assert m.py_peak_mib < 200 and m.rss_growth_mib < 300, m
    # extract_one on its own never raises, even for the worst of them
    result = extract_one(cases["5 MB page: <div> nested ~980k deep"], "http://example.com/deep")
    assert isinstance(result, dict)


# ---------------------------------------------------------------- duplicates
def test_duplicate_guids_with_different_content_keep_the_first(hostile: HostileServer) -> None:
    first = rss([
        {"link": hostile.url("/v1"), "guid": "tag:wire,2026:dup", "title": "First version"},
        {"link": hostile.url("/v2"), "guid": "tag:wire,2026:dup", "title": "Second version, same guid"},
        {"link": hostile.url("/v1"), "guid": "tag:wire,2026:other", "title": "Same link, other guid"},
        {"link": hostile.url("/local"), "guid": "7", "title": "Short local guid"},
        {"link": hostile.url("/local-again"), "guid": "7", "title": "Short local guid again"},
    ])
    url = hostile.static("/dups.xml", first, "application/rss+xml")
    bad, m = poll_case("feed with duplicate guids", hostile, url, max_seconds=2)
    assert bad.status == "ok"
    fresh = new_entries([bad], set(), set())
    m.outcome = f"{len(bad.entries)} parsed, {len(fresh)} new"
    assert [e.title for e in fresh] == ["First version", "Short local guid"]
    # the next poll brings the same guids with new content: nothing is stored twice
    again = rss([{"link": hostile.url("/v3"), "guid": "tag:wire,2026:dup", "title": "Third version"},
                 {"link": hostile.url("/local-3"), "guid": "7", "title": "Changed"}])
    hostile.static("/dups.xml", again, "application/rss+xml")
    [second] = poll_feeds([FeedSpec("hostile", url)], {}, datetime.now(UTC), HTTP, FEEDS)
    assert new_entries([second], {e.url for e in fresh}, {e.guid for e in fresh}) == []


# ---------------------------------------------------------------- the URL guard
def test_guard_redirect_to_another_loopback_address_never_reaches_it(hostile: HostileServer) -> None:
    """Allowed: 127.0.0.1:PORT only. Redirects to 127.0.0.2, to another port, or to a name that
    resolves to loopback are refused before any connection (checked on every hop)."""
    settings = HTTP.model_copy(update={"allowed_private_hosts": (f"127.0.0.1:{hostile.port}",)})
    try:
        other_ctx = running("127.0.0.2")
        other = other_ctx.__enter__()
    except OSError as e:  # pragma: no cover - every Linux has 127/8 on lo
        pytest.skip(f"cannot bind 127.0.0.2: {e}")
    try:
        other.static("/secret", "secret on 127.0.0.2")
        with running() as third:  # 127.0.0.1 on a port that is not allowed
            third.static("/secret", "secret on another port")

            def to(location: str) -> Route:
                return lambda h: h.raw(302, b"", None, {"Location": location})

            cases = {
                "redirect to 127.0.0.2 (same port number)": f"http://127.0.0.2:{hostile.port}/secret",
                "redirect to 127.0.0.2 (its server)": other.url("/secret"),
                "redirect to 127.0.0.1, another port": third.url("/secret"),
                "redirect to localhost, another port": f"http://localhost:{third.port}/secret",
                "redirect to [::1]": f"http://[::1]:{hostile.port}/good",
                "redirect to 0.0.0.0": f"http://0.0.0.0:{hostile.port}/good",
                "redirect to 2130706433 (decimal 127.0.0.1)": f"http://2130706433:{third.port}/secret",
                "redirect after one allowed hop": hostile.url("/hop-to-other"),
            }
            hostile.route("/hop-to-other", to(other.url("/secret")))
            for i, (case, location) in enumerate(cases.items()):
                bad, _ = fetch_case(case, hostile, hostile.route(f"/r{i}", to(location)), settings, max_seconds=2)
                assert bad.html is None and "refused" in (bad.error or ""), (case, bad.error)
            assert other.hits == {} and third.hits == {}, "a refused address was contacted"
    finally:
        other_ctx.__exit__(None, None, None)


def test_guard_refuses_names_that_resolve_to_loopback_unless_allowed(hostile: HostileServer) -> None:
    url = f"http://localhost:{hostile.port}/good"
    for allowed in ((), ("127.0.0.2",), (f"localhost:{hostile.port + 1 if hostile.port < 65535 else 1}",)):
        [p] = fetch_pages([entry(url)], HTTP.model_copy(update={"allowed_private_hosts": allowed}))
        assert p.html is None and "refused" in (p.error or ""), allowed
    assert hostile.hits.get("/good") is None
    allowed_ok: list[tuple[str, ...]] = [("localhost",), (f"localhost:{hostile.port}",)]
    if {a[4][0] for a in socket.getaddrinfo("localhost", hostile.port, type=socket.SOCK_STREAM)} == {"127.0.0.1"}:
        allowed_ok.append((f"127.0.0.1:{hostile.port}",))  # every address it resolves to is allowed
    for allowed in allowed_ok:
        [p] = fetch_pages([entry(url)], HTTP.model_copy(update={"allowed_private_hosts": allowed}))
        assert p.html and GOOD_TITLE in p.html, (allowed, p.error)


def test_guard_requires_every_resolved_address_to_be_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name resolving to an allowed loopback address *and* a private one must be refused:
    the connection may go to either. Resolution is stubbed; nothing connects."""
    real = socket.getaddrinfo
    table = {
        "mixed.invalid": ["127.0.0.1", "10.0.0.5"],
        "public-and-private.invalid": ["93.184.215.14", "192.168.1.20"],
        "loopback-only.invalid": ["127.0.0.1"],
        "link-local.invalid": ["169.254.169.254"],
        "v6-loopback.invalid": ["::1"],
    }

    def fake(host: str, port: object, *args: object, **kwargs: object) -> list[tuple]:
        if host in table:
            return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                     (a, port or 0) if ":" not in a else (a, port or 0, 0, 0)) for a in table[host]]
        return real(host, port, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", fake)

    async def refused(url: str, allowed: tuple[str, ...]) -> str:
        with pytest.raises(BlockedURLError) as info:
            await check_url(url, allowed)
        return str(info.value)

    async def go() -> None:
        assert "10.0.0.5" in await refused("http://mixed.invalid/", ("127.0.0.1",))
        assert "192.168.1.20" in await refused("http://public-and-private.invalid/", ())
        await refused("http://loopback-only.invalid/", ())
        await refused("http://link-local.invalid/latest/meta-data/", ("127.0.0.1",))
        await refused("http://v6-loopback.invalid/", ("127.0.0.1",))
        await refused("http://167772161/", ())  # 10.0.0.1 written as one decimal number
        await refused("http://0x7f.1/", ("127.0.0.2",))  # 127.0.0.1 in hex shorthand
        # allowed: every private address listed, or the name itself listed explicitly
        await check_url("http://loopback-only.invalid/", ("127.0.0.1",))
        await check_url("http://mixed.invalid:8080/", ("mixed.invalid:8080",))
        await check_url("http://v6-loopback.invalid:8080/", ("[::1]:8080",))

    asyncio.run(go())
