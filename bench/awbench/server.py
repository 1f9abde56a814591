"""The benchmark's news sites: threaded HTTP servers on 127.0.0.1, run in a child process
(so serving pages does not compete for the measured process's GIL).

Layout (computed identically by the server and by run.py, see :class:`Layout`):
- ``sites`` listening ports stand for that many outlets; feed f and its articles live on
  port ``ports[f % sites]`` (the pipeline's per-host limit keys on host:port, as it would on
  distinct outlets' hosts).
- ``/feed/<f>.xml``: RSS with M items linking to ``/a/<f>/<j>.html``.
- ``/a/<f>/<j>.html``: pool page ``(f * M + j) % len(pool)``, served byte for byte.
- ``/q/<i>.xml``: extra feeds for the quiet run (10 items linking to main articles).
- ``/empty.xml``: an RSS channel with no items (for Prefect's start-up measurement).
Every feed sends an ETag and answers ``If-None-Match`` with 304 Not Modified.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape

QUIET_ITEMS = 10


@dataclass(frozen=True)
class Layout:
    ports: tuple[int, ...]
    feeds: int
    per_feed: int
    pool_size: int
    quiet_extra: int

    def port(self, f: int) -> int:
        return self.ports[f % len(self.ports)]

    def base(self, f: int) -> str:
        return f"http://127.0.0.1:{self.port(f)}"

    def feed_url(self, f: int) -> str:
        return f"{self.base(f)}/feed/{f}.xml"

    def article_url(self, f: int, j: int) -> str:
        return f"{self.base(f)}/a/{f}/{j}.html"

    def pool_index(self, f: int, j: int) -> int:
        return (f * self.per_feed + j) % self.pool_size

    def quiet_url(self, i: int) -> str:
        return f"{self.base(i)}/q/{i}.xml"

    def empty_url(self) -> str:
        return f"{self.base(0)}/empty.xml"

    @property
    def pages(self) -> int:
        return self.feeds * self.per_feed


def _rss(title: str, link: str, items: list[tuple[str, str, str, int]], newest: datetime) -> bytes:
    """``age`` of an item: minutes before ``newest`` (items are recent, so no feed looks stale)."""
    out = []
    for t, url, summary, age in items:
        out.append(f"<item><title>{escape(t)}</title><link>{escape(url)}</link>"
                   f"<guid isPermaLink=\"true\">{escape(url)}</guid>"
                   f"<description>{escape(summary)}</description>"
                   f"<pubDate>{format_datetime(newest - timedelta(minutes=age))}</pubDate></item>")
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{escape(title)}</title><link>{escape(link)}</link>"
            f"<description>accesswatch benchmark feed</description>{''.join(out)}</channel></rss>").encode()


class Site:
    def __init__(self, layout: Layout, pool: list[tuple[str, str, str]]):
        self.layout = layout
        self.pool_bytes = []
        for path, _ctype, _title in pool:
            with open(path, "rb") as f:
                self.pool_bytes.append(f.read())
        self.pool = pool
        self.newest = datetime.now(UTC).replace(microsecond=0)
        self.lock = threading.Lock()
        self.stats: dict[str, int] = {"pages": 0, "feeds_200": 0, "feeds_304": 0, "not_found": 0,
                                      "bytes": 0}

    def count(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.stats[key] += n

    def feed(self, f: int) -> bytes:
        lay = self.layout
        items = []
        for j in range(lay.per_feed):
            idx = lay.pool_index(f, j)
            title = self.pool[idx][2]
            items.append((title, lay.article_url(f, j), f"Summary of: {title}", j))
        return _rss(f"Bench outlet {f}", lay.base(f) + "/", items, self.newest)

    def quiet_feed(self, i: int) -> bytes:
        lay = self.layout
        items = []
        for k in range(QUIET_ITEMS):
            g = (i * QUIET_ITEMS + k) % lay.pages
            f, j = divmod(g, lay.per_feed)
            title = self.pool[lay.pool_index(f, j)][2]
            items.append((title, lay.article_url(f, j), f"Summary of: {title}", k))
        return _rss(f"Quiet outlet {i}", lay.base(i) + "/", items, self.newest)


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like a real server
        server_version = "aw-bench/1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes = b"", ctype: str | None = None,
                  etag: str | None = None) -> None:
            self.send_response(status)
            if ctype:
                self.send_header("Content-Type", ctype)
            if etag:
                self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)
                site.count("bytes", len(body))

        def _feed(self, etag: str, make) -> None:  # noqa: ANN001
            if self.headers.get("If-None-Match") == etag:
                site.count("feeds_304")
                self._send(304, etag=etag)
                return
            site.count("feeds_200")
            self._send(200, make(), "application/rss+xml; charset=utf-8", etag)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            parts = path.strip("/").split("/")
            lay = site.layout
            try:
                if parts[0] == "a" and len(parts) == 3:
                    f, j = int(parts[1]), int(parts[2].removesuffix(".html"))
                    if 0 <= f < lay.feeds and 0 <= j < lay.per_feed:
                        idx = lay.pool_index(f, j)
                        site.count("pages")
                        self._send(200, site.pool_bytes[idx], site.pool[idx][1])
                        return
                elif parts[0] == "feed" and len(parts) == 2:
                    f = int(parts[1].removesuffix(".xml"))
                    if 0 <= f < lay.feeds:
                        self._feed(f'"feed-{f}-v1"', lambda: site.feed(f))
                        return
                elif parts[0] == "q" and len(parts) == 2:
                    i = int(parts[1].removesuffix(".xml"))
                    if 0 <= i < lay.quiet_extra:
                        self._feed(f'"quiet-{i}-v1"', lambda: site.quiet_feed(i))
                        return
                elif path == "/empty.xml":
                    self._feed('"empty-v1"', lambda: _rss("Empty", lay.base(0) + "/", [], site.newest))
                    return
            except ValueError:
                pass
            site.count("not_found")
            self._send(404, b"not found", "text/plain")

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def serve(conn, sites: int, feeds: int, per_feed: int, quiet_extra: int,  # noqa: ANN001
          pool: list[tuple[str, str, str]]) -> None:
    """Child-process entry point: bind, report the layout, serve until told to stop."""
    servers = [_Server(("127.0.0.1", 0), BaseHTTPRequestHandler) for _ in range(sites)]
    layout = Layout(tuple(s.server_address[1] for s in servers), feeds, per_feed, len(pool), quiet_extra)
    site = Site(layout, pool)
    for s in servers:
        s.RequestHandlerClass = _handler(site)
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    conn.send(layout)
    while True:
        msg = conn.recv()
        if msg == "stats":
            with site.lock:
                conn.send(dict(site.stats))
        elif msg == "stop":
            for s in servers:
                s.shutdown()
                s.server_close()
            with site.lock:
                conn.send(dict(site.stats))
            return


class SiteProcess:
    """Start/stop the server child process (spawn context)."""

    def __init__(self, sites: int, feeds: int, per_feed: int, quiet_extra: int,
                 pool: list[tuple[str, str, str]]):
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=serve, args=(child, sites, feeds, per_feed, quiet_extra, pool),
                                name="aw-bench-server", daemon=True)
        self.proc.start()
        if not self._conn.poll(60):
            self.proc.terminate()
            raise RuntimeError("bench server did not start within 60 s")
        self.layout: Layout = self._conn.recv()

    @property
    def pid(self) -> int | None:
        return self.proc.pid

    def stats(self) -> dict[str, int]:
        self._conn.send("stats")
        return self._conn.recv()

    def stop(self) -> dict[str, int]:
        stats: dict[str, int] = {}
        try:
            self._conn.send("stop")
            if self._conn.poll(10):
                stats = self._conn.recv()
        except (BrokenPipeError, EOFError, OSError):
            pass
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)
        return stats
