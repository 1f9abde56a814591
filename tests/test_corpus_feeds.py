"""The real-world feed corpus (issue 6): every test feed of feedparser's own suite, served over
one local HTTP server and ingested through the feeds stage.

Each file is served with the ``Header:`` lines of its leading comment as response headers
(``Content-Type`` defaults to ``text/xml``, what nginx and Python's http.server send for .xml).
The ``Expect:`` lines are Python expressions written for feedparser's own tests; they are not
evaluated here. Instead, a well-formed feed is checked against feedparser parsing the same
bytes directly: every entry with a link must come out of the pipeline with that link
(canonicalised) and its title.

Run ``pytest -s -m slow tests/test_corpus_feeds.py`` to see the counts.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote

import feedparser
import pytest

from accesswatch.config import FeedSettings, HttpSettings
from accesswatch.feeds import MAX_TITLE, poll_feeds
from accesswatch.models import FeedResult, FeedSpec
from accesswatch.urls import canonicalize_url

from .conftest import CORPUS

pytestmark = pytest.mark.slow

FEEDS_DIR = CORPUS / "feeds"
BATCH = 250
# Loopback HTTP is cheap; more concurrency only adds connection-pool bookkeeping.
HTTP = HttpSettings(allowed_private_hosts=("127.0.0.1",), concurrency=4, per_host_concurrency=4,
                    total_timeout_seconds=20, read_timeout_seconds=10)
FEEDS = FeedSettings()
_COMMENT = re.compile(r"<!--(.*?)-->", re.S)
_HEADER = re.compile(r"^\s*Header:\s*([^:\s][^:]*?)\s*:[ \t]*(.*?)\s*$", re.M)


def comment_text(raw: bytes) -> str:
    """The file as text, for reading its test comment (files may be UTF-16/32 or legacy)."""
    for codec in ("utf-8", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"):
        try:
            text = raw.decode(codec)
        except UnicodeError:
            continue
        if "<!--" in text[:400]:
            return text
    return raw.decode("latin-1")


def served_headers(raw: bytes) -> list[tuple[str, str]]:
    m = _COMMENT.search(comment_text(raw))
    return _HEADER.findall(m.group(1)) if m else []


class _CorpusHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: ~2,100 requests over a few connections

    def do_GET(self) -> None:
        item = self.server.files.get(unquote(self.path.split("?", 1)[0]))  # type: ignore[attr-defined]
        if item is None:
            self._send(404, b"not found", [("Content-Type", "text/plain")])
            return
        body, headers = item
        if not any(k.lower() == "content-type" for k, _ in headers):
            headers = [("Content-Type", "text/xml"), *headers]
        self._send(200, body, headers)

    def _send(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        # One write for headers and body: separate small writes stall on Nagle + delayed ACK.
        head = [f"HTTP/1.1 {status} X", *(f"{k}: {v}" for k, v in headers), f"Content-Length: {len(body)}"]
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def corpus() -> Iterator[tuple[str, dict[str, tuple[bytes, list[tuple[str, str]]]]]]:
    if not FEEDS_DIR.is_dir():
        pytest.skip(f"feed corpus not found at {FEEDS_DIR} (expected ../shared/corpus/feeds next to the repo)")
    files = {"/" + p.relative_to(FEEDS_DIR).as_posix(): (raw := p.read_bytes(), served_headers(raw))
             for p in sorted(FEEDS_DIR.rglob("*")) if p.is_file()}
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _CorpusHandler)
    srv.daemon_threads = True
    srv.files = files  # type: ignore[attr-defined]
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), name="corpus-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", files
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


def test_every_corpus_feed_is_ingested_without_a_crash(
        corpus: tuple[str, dict[str, tuple[bytes, list[tuple[str, str]]]]]) -> None:
    base, files = corpus
    paths = list(files)
    specs = [FeedSpec(f"corpus-{i}", base + quote(path)) for i, path in enumerate(paths)]
    started = time.perf_counter()
    results: list[FeedResult] = []
    for i in range(0, len(specs), BATCH):
        results += poll_feeds(specs[i:i + BATCH], {}, datetime.now(UTC), HTTP, FEEDS)
    elapsed = time.perf_counter() - started

    assert len(results) == len(specs)
    assert [r.feed for r in results] == [s.name for s in specs]
    statuses = Counter(r.status for r in results)
    assert set(statuses) <= {"ok", "not_modified", "error"}
    # "unexpected" errors are the catch-all in _poll_one: a crash that was only contained
    crashes = [(p, r.error) for p, r in zip(paths, results, strict=True)
               if r.status == "error" and not (r.error or "").startswith(("not a feed", "HTTP "))]
    assert crashes == [], crashes

    by_group: dict[str, Counter[str]] = defaultdict(Counter)
    problems: list[str] = []
    checked_entries = 0
    for path, r in zip(paths, results, strict=True):
        group = path.split("/")[1]
        by_group[group][r.status] += 1
        by_group[group]["entries"] += len(r.entries)
        for e in r.entries:  # every stored entry is clean text with an http(s) link
            assert e.url.startswith(("http://", "https://")) and canonicalize_url(e.url) == e.url
            assert all(v is None or isinstance(v, str) for v in (e.title, e.summary, e.author)), path
            assert isinstance(e.guid, str) and e.guid
        if group != "wellformed":
            continue
        # feedparser on the same bytes and headers, without HTTP in between
        raw, headers = files[path]
        hdrs = {k.lower(): v for k, v in headers}
        hdrs.setdefault("content-type", "text/xml")
        url = base + quote(path)
        direct = feedparser.parse(raw, response_headers={**hdrs, "content-location": url})
        if r.status != "ok":
            if direct.entries or direct.get("version"):
                problems.append(f"{path}: {r.status} ({r.error}) though feedparser reads it")
            continue
        got = {e.url: e for e in r.entries}
        for raw_entry in direct.entries[:FEEDS.max_entries_per_feed]:
            link = raw_entry.get("link")
            want = canonicalize_url(link, base=url) if isinstance(link, str) else None
            if want is None:
                continue
            checked_entries += 1
            if want not in got:
                problems.append(f"{path}: entry {want} missing")
                continue
            title = (raw_entry.get("title") or "").strip()[:MAX_TITLE] or None
            if title is not None and got[want].title != title:
                problems.append(f"{path}: title {got[want].title!r} != {title!r}")
    entries = sum(len(r.entries) for r in results)
    titled = sum(1 for r in results for e in r.entries if e.title)
    lines = [f"CORPUS | {len(files)} files served from {FEEDS_DIR} in {elapsed:.1f} s "
             f"({len(files) / elapsed:.0f} feeds/s, batches of {BATCH})",
             f"CORPUS | ok {statuses['ok']}, not_modified {statuses['not_modified']}, error {statuses['error']}; "
             f"entries {entries} ({titled} with a title); {checked_entries} well-formed entries checked "
             "against feedparser read directly"]
    for group, c in sorted(by_group.items()):
        lines.append(f"CORPUS |   {group:<14} ok {c['ok']:>5}  error {c['error']:>3}  entries {c['entries']:>4}")
    errors = Counter((r.error or "").split(" (")[0].split(":")[0] for r in results if r.status == "error")
    lines.append(f"CORPUS | errors by kind: {dict(errors)}")
    for path, r in zip(paths, results, strict=True):
        if r.status == "error":
            lines.append(f"CORPUS |   error {path}: {(r.error or '')[:110]}")
    print("\n" + "\n".join(lines))
    assert problems == [], "\n".join(problems[:20])

    # well-formed feeds with linked entries really produce entries with titles and links
    # (the corpus is mostly one-element unit tests: ~100 linked entries, ~45 with a title)
    assert checked_entries >= 90 and titled >= 40
    # UTF-16/32 feeds served as text/xml without a charset parse too (RFC 7303 over RFC 3023)
    assert by_group["encoding"]["error"] == 0
    assert by_group["wellformed"]["ok"] >= 0.99 * sum(by_group["wellformed"][s] for s in ("ok", "error"))
    assert elapsed < 45, f"the corpus sweep took {elapsed:.1f}s"


def test_header_lines_are_read_from_utf16_and_plain_files() -> None:
    """The served headers come from the files' own comments, whatever their encoding."""
    plain = b"<!--\nHeader:      Content-type: application/atom+xml\nHeader:  ETag: foo\nExpect: bozo\n-->\n<feed/>"
    assert served_headers(plain) == [("Content-type", "application/atom+xml"), ("ETag", "foo")]
    wide = plain.decode().encode("utf-16")
    assert served_headers(wide) == served_headers(plain)
    assert served_headers(b"<!--\nHeader:      Last-Modified:\n-->") == [("Last-Modified", "")]
    assert served_headers(b"<rss/>") == []
    if FEEDS_DIR.is_dir():
        assert sum(1 for p in FEEDS_DIR.rglob("*") if p.is_file() and served_headers(p.read_bytes())) == 106
