"""Page fetching: limits, timeouts and the URL guard, against real local servers.

Guard tests use loopback addresses only (127.0.0.0/8): nothing here sends a request to a
private-range address; the classifier is unit-tested with no connection at all.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from accesswatch.config import HttpSettings
from accesswatch.errors import BlockedURLError
from accesswatch.fetch import check_url, fetch_pages, is_public_address
from accesswatch.models import Entry

from .helpers import page


def entry(url: str) -> Entry:
    return Entry(feed="t", guid=url, url=url, title="t", summary=None,
                 published=datetime(2026, 11, 1, tzinfo=UTC), author=None)


@pytest.mark.parametrize("ip,public", [
    ("8.8.8.8", True), ("1.1.1.1", True), ("2606:4700:4700::1111", True),
    ("127.0.0.1", False), ("127.8.9.10", False), ("10.1.2.3", False), ("172.16.0.1", False),
    ("192.168.1.1", False), ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False),
    ("224.0.0.1", False), ("240.0.0.1", False), ("::1", False), ("fe80::1", False), ("fc00::1", False),
    ("::ffff:127.0.0.1", False), ("::ffff:10.0.0.1", False), ("::ffff:8.8.8.8", True), ("2002:0a00:0001::", False),
])
def test_address_classifier(ip: str, public: bool) -> None:
    assert is_public_address(ip) is public


def test_guard_refuses_schemes_and_unlisted_loopback() -> None:
    async def go() -> None:
        for url in ("file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1/", "javascript:alert(1)"):
            with pytest.raises(BlockedURLError):
                await check_url(url, ("127.0.0.1",))
        with pytest.raises(BlockedURLError):
            await check_url("http://127.0.0.1:9/x", ())
        with pytest.raises(BlockedURLError):
            await check_url("http://localhost:9/x", ())
        # allowed host:port allows that port only, and only that address
        await check_url("http://127.0.0.1:8123/x", ("127.0.0.1:8123",))
        with pytest.raises(BlockedURLError):
            await check_url("http://127.0.0.1:8124/x", ("127.0.0.1:8123",))
        with pytest.raises(BlockedURLError):
            await check_url("http://127.0.0.2:8123/x", ("127.0.0.1:8123",))
        with pytest.raises(BlockedURLError):
            await check_url("http://[::1]:8123/x", ("127.0.0.1",))

    asyncio.run(go())


def test_fetch_limits_and_guard_end_to_end(server: HTTPServer) -> None:
    port = server.port
    settings = HttpSettings(allowed_private_hosts=(f"127.0.0.1:{port}",), total_timeout_seconds=2,
                            read_timeout_seconds=1, max_page_bytes=50_000, max_redirects=3)
    good = page("A fine article", ["Some text about models. " * 20])

    def hang(req: Request) -> Response:
        time.sleep(5)
        return Response(good, content_type="text/html")

    server.expect_request("/good").respond_with_data(good, content_type="text/html; charset=utf-8")
    server.expect_request("/hang").respond_with_handler(hang)
    server.expect_request("/huge").respond_with_data("<p>" + "x" * 200_000 + "</p>", content_type="text/html")
    server.expect_request("/pdf").respond_with_data(b"%PDF-1.7 ...", content_type="application/pdf")
    server.expect_request("/loop").respond_with_data("", status=302, headers={"Location": "/loop"})
    server.expect_request("/to-file").respond_with_data("", status=301, headers={"Location": "file:///etc/passwd"})
    server.expect_request("/to-other-loopback").respond_with_data(
        "", status=302, headers={"Location": f"http://127.0.0.2:{port}/good"})
    server.expect_request("/redirect-ok").respond_with_data("", status=302, headers={"Location": "/good"})

    urls = {name: server.url_for(f"/{name}") for name in
            ("good", "hang", "huge", "pdf", "loop", "to-file", "to-other-loopback", "redirect-ok")}
    urls["refused-port"] = f"http://127.0.0.1:{port + 1 if port < 65535 else port - 1}/good"
    started = time.perf_counter()
    pages = {p.entry.url: p for p in fetch_pages([entry(u) for u in urls.values()], settings)}
    elapsed = time.perf_counter() - started
    got = {name: pages[u] for name, u in urls.items()}

    assert got["good"].html and "A fine article" in got["good"].html
    assert got["redirect-ok"].html and got["redirect-ok"].final_url.endswith("/good")
    assert got["hang"].html is None and "timed out" in got["hang"].error
    assert "cap" in got["huge"].error
    assert "content type" in got["pdf"].error
    assert "redirects" in got["loop"].error
    assert "scheme" in got["to-file"].error
    assert "refused" in got["to-other-loopback"].error
    assert "refused" in got["refused-port"].error
    assert elapsed < 4.5, "the hanging page must not hold the batch past its total timeout"
    # nothing was ever requested from 127.0.0.2 (it is refused before connecting)
    assert all(r.path != "/etc/passwd" for r, _ in server.log)
