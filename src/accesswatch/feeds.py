"""Poll feeds with conditional GET and turn entries into typed records at once.

``poll_feeds`` never raises for one feed: a failure becomes a ``FeedResult`` with
status "error" (and ``transient`` set when a later poll may succeed). Deciding when a
failing feed is polled again is the pure function :func:`next_poll_after_failure`.
"""

from __future__ import annotations

import asyncio
import calendar
import logging
import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser
import httpx

from .config import FeedSettings, HttpSettings
from .errors import FeedParseError, FetchError
from .fetch import HttpClient, mostly_utf8, status_error
from .models import Entry, FeedResult, FeedSpec, FeedState
from .urls import canonicalize_url

log = logging.getLogger(__name__)

MAX_TITLE = 1_000
MAX_SUMMARY = 20_000


def _clip(value: Any, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value[:limit] or None


def _entry_time(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        t = entry.get(key)
        if t:
            try:
                return datetime.fromtimestamp(calendar.timegm(t), tz=UTC)
            except (OverflowError, ValueError, TypeError):
                continue
    return None


def _summary_text(entry: Any) -> str | None:
    """Plain text of the entry's summary (feedparser has sanitised the HTML already)."""
    raw = entry.get("summary")
    if not raw and entry.get("content"):
        raw = entry["content"][0].get("value")
    if not isinstance(raw, str) or not raw.strip():
        return None
    if "<" in raw:
        import lxml.html

        try:
            raw = lxml.html.fromstring(raw).text_content()
        except Exception:  # malformed fragments: fall back to the raw string
            pass
    return _clip(" ".join(raw.split()), MAX_SUMMARY)


def _guid_key(guid: str | None, feed_name: str) -> str | None:
    """Guids that look global (URLs, tag:/urn: URIs) dedupe across feeds; short local ids
    like "123" are only unique within their feed, so they are namespaced by it."""
    if not guid:
        return None
    if ":" in guid and len(guid) >= 10:
        return guid
    return f"{feed_name}#{guid}"


def entries_from_parsed(parsed: Any, feed: FeedSpec, base_url: str, limit: int) -> list[Entry]:
    """feedparser's result -> our records. Entries without a usable http(s) link are skipped."""
    out: list[Entry] = []
    seen: set[str] = set()
    for raw in parsed.entries[:limit]:
        try:
            link = raw.get("link") or next(
                (lnk.get("href") for lnk in raw.get("links", []) if lnk.get("rel") == "alternate"), None)
            url = canonicalize_url(link, base=base_url) if isinstance(link, str) else None
            if url is None or url in seen:
                continue
            seen.add(url)
            guid = _guid_key(_clip(raw.get("id"), 2_000), feed.name) or url
            out.append(Entry(feed=feed.name, guid=guid, url=url, title=_clip(raw.get("title"), MAX_TITLE),
                             summary=_summary_text(raw), published=_entry_time(raw),
                             author=_clip(raw.get("author"), 500)))
        except Exception as e:  # one bad entry is skipped, not the feed
            log.warning("feed %s: skipped an entry: %s: %s", feed.name, type(e).__name__, e)
    return out


# ---------------------------------------------------------------- entity bombs
# feedparser hands the body to expat, which expands entities declared in an internal DTD
# subset. expat >= 2.4 stops at an amplification factor of 100, but that is 100x a body of up
# to max_feed_bytes: a 1 MB "billion laughs" feed costs ~300 MB and seconds of CPU before it
# trips. feedparser strips unsafe declarations only when each sits at the start of a line
# after a DOCTYPE found by a naive search, so a one-line DTD (or a comment before it) gets
# through. Real feeds need no entity declarations; we keep only tiny literal ones.
_WIDE_BOMS = ((b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe\x00\x00", "utf-32-le"),
              (b"\xfe\xff", "utf-16-be"), (b"\xff\xfe", "utf-16-le"))
_PROLOG_SKIP = re.compile(r"(?:[\s\ufeff]+|<\?.*?\?>|<!--.*?-->)*", re.S)
_DOCTYPE_TOKENS = re.compile(r"<!--|<\?|[\"'\[\]>]")
_ENTITY_DECL = re.compile(r"<!ENTITY\b[^>\"']*(?:(?:\"[^\"]*\"|'[^']*')[^>\"']*)*>?")
_SAFE_ENTITY = re.compile(r"<!ENTITY\s+([^\s%\"'>]+)\s+(?:\"(&#\w{1,8};|[^&%<\"]{0,200})\"|'(&#\w{1,8};|[^&%<']{0,200})')\s*>")
MAX_ENTITY_EXPANSION = 1_000_000  # characters that kept (literal) entities may add in total
MAX_LITERAL_ENTITIES = 32


def _xml_codec(body: bytes) -> str | None:
    """The codec of a UTF-16/32 or EBCDIC body (BOM or the bytes of '<'), else None (ASCII-compatible)."""
    for bom, codec in _WIDE_BOMS:
        if body.startswith(bom):
            return codec
    head = body[:4]
    if len(head) == 4:
        nul = tuple(b == 0 for b in head)
        patterns = {(True, True, True, False): "utf-32-be", (False, True, True, True): "utf-32-le",
                    (True, False, True, False): "utf-16-be", (False, True, False, True): "utf-16-le"}
        if nul in patterns:
            return patterns[nul]
        if head == b"\x4c\x6f\xa7\x94":  # "<?xm" in EBCDIC
            return "cp037"
    return None


def _doctype_span(text: str) -> tuple[int, int] | None:
    """Where the DOCTYPE declaration of the prolog is (start, end), or None. Linear time."""
    start = _PROLOG_SKIP.match(text).end()  # type: ignore[union-attr]  # always matches
    if not text.startswith("<!DOCTYPE", start):
        return None
    in_subset = False
    pos = start + 9
    closers = {'"': '"', "'": "'", "<!--": "-->", "<?": "?>"}
    while (tok := _DOCTYPE_TOKENS.search(text, pos)) is not None:
        t = tok.group()
        if t in closers:
            close = text.find(closers[t], tok.end())
            if close < 0:
                break  # unterminated: expat fails there, but treat the rest as DTD to be safe
            pos = close + len(closers[t])
            continue
        pos = tok.end()
        if t == "[":
            in_subset = True
        elif t == "]":
            in_subset = False
        elif not in_subset:  # ">"
            return start, pos
    return start, len(text)


def defuse_entities(body: bytes) -> tuple[bytes, int]:
    """Drop entity declarations that could expand (references, parameter/external entities,
    long literals) from the document's DTD. Returns (body, number dropped)."""
    codec = _xml_codec(body)
    marker = "<!ENTITY".encode(codec) if codec else b"<!ENTITY"
    if marker not in body:
        return body, 0  # the common case: nothing declared, nothing to do
    # latin-1 maps bytes 1:1, so ASCII-compatible encodings round-trip unchanged
    codec, errors = (codec, "surrogatepass") if codec and codec.startswith("utf") else (codec or "latin-1", "strict")
    try:
        text = body.decode(codec, errors)
    except UnicodeDecodeError:
        raise FeedParseError(f"entity declarations in a body that is not valid {codec}; refused") from None
    span = _doctype_span(text)
    if span is None:
        return body, 0
    start, end = span
    safe: list[tuple[str, int]] = []
    decls = list(_ENTITY_DECL.finditer(text, start, end))
    for m in decls:
        if (ok := _SAFE_ENTITY.fullmatch(m.group())) is not None:
            safe.append((ok.group(1), len(ok.group(2) if ok.group(2) is not None else ok.group(3))))
    # even literal entities amplify when referenced often: keep a few, within a budget
    keep_literals = len(safe) <= MAX_LITERAL_ENTITIES and sum(
        size * text.count(f"&{name};", end) for name, size in safe) <= MAX_ENTITY_EXPANSION
    dropped = 0

    def keep(m: re.Match[str]) -> str:
        nonlocal dropped
        if keep_literals and _SAFE_ENTITY.fullmatch(m.group()):
            return m.group()
        dropped += 1
        return ""

    doctype = _ENTITY_DECL.sub(keep, text[start:end])
    if not dropped:
        return body, 0
    text = text[:start] + doctype + text[end:]
    return text.encode(codec, errors), dropped


# ---------------------------------------------------------------- bounded work
# feedparser parses every entry (about 0.3 ms each, more with dates and HTML), and only the
# first max_entries_per_feed are used: a 10 MB feed of 60,000 tiny items would cost ~20 s.
_ENTRY_END = re.compile(r"</(?:[A-Za-z_][\w.-]*:)?(?:item|entry)\s*>")


def _mask_opaque(text: str) -> str | None:
    """``text`` with CDATA sections and comments blanked out (same length), so that markup
    quoted inside them is not mistaken for tags; None if one is unterminated. Linear time."""
    out: list[str] = []
    pos = 0
    nxt = {"<![CDATA[": text.find("<![CDATA["), "<!--": text.find("<!--")}
    closers = {"<![CDATA[": "]]>", "<!--": "-->"}
    while True:
        live = [(at, opener) for opener, at in nxt.items() if at >= 0]
        if not live:
            break
        at, opener = min(live)
        end = text.find(closers[opener], at + len(opener))
        if end < 0:
            return None
        end += len(closers[opener])
        out += [text[pos:at], " " * (end - at)]
        pos = end
        for o in nxt:  # refresh the openers we have passed (each is searched for once per hit)
            if 0 <= nxt[o] < pos:
                nxt[o] = text.find(o, pos)
    out.append(text[pos:])
    return "".join(out)


def limit_entries(body: bytes, limit: int) -> tuple[bytes, int]:
    """Cut the document after its ``limit``-th item/entry, keeping what follows the last one
    (the closing tags), so feedparser sees the same first entries and no more. Returns
    (body, number of entries cut). Tags quoted inside CDATA sections or comments do not count;
    a document with an unterminated one is left alone."""
    codec = _xml_codec(body)
    codec, errors = (codec, "surrogatepass") if codec and codec.startswith("utf") else (codec or "latin-1", "strict")
    try:
        text = body.decode(codec, errors)
    except UnicodeDecodeError:
        return body, 0
    if sum(1 for _ in _ENTRY_END.finditer(text)) <= limit:  # an upper bound: usually the end
        return body, 0
    masked = _mask_opaque(text)
    if masked is None:
        return body, 0
    ends = [m.end() for m in _ENTRY_END.finditer(masked)]
    if len(ends) <= limit:
        return body, 0
    cut, last = ends[limit - 1], ends[-1]
    return (text[:cut] + text[last:]).encode(codec, errors), len(ends) - limit


_XML_DECL_ENCODING = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*<\?xml[^>]{0,200}?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)")


def repair_utf8(body: bytes, headers: dict[str, str]) -> tuple[bytes, int]:
    """A feed that is UTF-8 (declared or by default) apart from a few stray bytes gets U+FFFD
    for those, instead of feedparser re-reading the whole document as windows-1252 (which
    garbles every correct non-ASCII character). Returns (body, number of bytes replaced)."""
    if _xml_codec(body) is not None:
        return body, 0
    ctype = headers.get("content-type", "").lower()
    http_charset = ctype.split("charset=")[-1].split(";")[0].strip().strip("\"'") if "charset=" in ctype else None
    m = _XML_DECL_ENCODING.match(body[:300])
    xml_charset = m.group(1).decode("ascii").lower() if m else None
    if any(c not in (None, "utf-8", "utf8") for c in (http_charset, xml_charset)):
        return body, 0
    try:
        body.decode("utf-8")
        return body, 0
    except UnicodeDecodeError:
        pass
    text = mostly_utf8(body)
    if text is None:
        return body, 0
    return text.encode("utf-8"), text.count("\ufffd") - body.count(b"\xef\xbf\xbd")


def _feedparse(body: bytes, headers: dict[str, str]) -> Any:
    """feedparser.parse; its own crashes on hostile input (e.g. ValueError for a NUL in the
    declared encoding name) make the feed unusable, not the run."""
    try:
        return feedparser.parse(body, response_headers=headers, sanitize_html=True, resolve_relative_uris=True)
    except Exception as e:
        raise FeedParseError(f"feedparser failed: {type(e).__name__}: {e}") from e


def parse_feed(body: bytes, headers: dict[str, str], feed: FeedSpec, base_url: str,
               limit: int) -> tuple[list[Entry], str | None]:
    """Parse feed bytes; return (entries, warning). Raise FeedParseError when unusable."""
    body, dropped = defuse_entities(body)
    body, cut = limit_entries(body, limit)
    body, replaced = repair_utf8(body, headers)
    # feedparser resolves relative links against content-location; give it the real URL.
    parsed = _feedparse(body, {**headers, "content-location": base_url})
    warning = None
    exc = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if exc is not None:
        warning = f"{type(exc).__name__}: {exc}"
    if not parsed.entries and not parsed.get("version") and headers.get("content-type"):
        # feedparser follows RFC 3023: text/xml (and text/*) without a charset means us-ascii,
        # which turns a UTF-16/32 feed without non-ASCII text into NUL-riddled garbage, and a
        # wrong charset parameter can do the same. RFC 7303 lets the BOM / XML declaration
        # decide instead: try that once before calling the body unusable.
        retry = _feedparse(body, {**headers, "content-location": base_url, "content-type": "application/xml"})
        if retry.entries or retry.get("version"):
            parsed = retry
            warning = (f"content-type {headers['content-type']!r} ignored: "
                       f"the document's own encoding declaration was used ({warning})")
            exc = retry.get("bozo_exception") if retry.get("bozo") else None
    notes = [f"dropped {dropped} unsafe entity declaration(s)" if dropped else "",
             f"{cut} entries past the first {limit} not parsed" if cut else "",
             f"{replaced} invalid UTF-8 byte(s) replaced" if replaced else "", warning or ""]
    warning = "; ".join(n for n in notes if n) or None
    if not parsed.entries and not parsed.get("version"):
        # nothing usable: an HTML page, an empty body, XML that is not a feed
        cause = exc if isinstance(exc, BaseException) else None
        raise FeedParseError(f"not a feed ({warning or 'no feed elements found'})") from cause
    return entries_from_parsed(parsed, feed, base_url, limit), warning


def next_poll_after_failure(failures: int, now: datetime, settings: FeedSettings,
                            retry_after: float | None = None) -> datetime:
    """Exponential backoff (base * 2^(failures-1), capped); a longer Retry-After wins."""
    minutes = min(settings.backoff_base_minutes * 2 ** max(0, failures - 1), settings.backoff_max_minutes)
    wait = timedelta(minutes=minutes)
    if retry_after is not None:
        wait = max(wait, timedelta(seconds=min(retry_after, 7 * 86400)))
    return now + wait


def plan_next_polls(results: Iterable[FeedResult], states: dict[str, FeedState], now: datetime,
                    settings: FeedSettings) -> dict[str, datetime | None]:
    """When each polled feed is due again: now for a success, after a backoff for a failure."""
    plan: dict[str, datetime | None] = {}
    for r in results:
        if r.status == "skipped":
            continue
        if r.status == "error":
            prev = states.get(r.feed)
            failures = (prev.consecutive_failures if prev else 0) + 1
            plan[r.feed] = next_poll_after_failure(failures, now, settings, r.retry_after)
        else:
            plan[r.feed] = None
    return plan


def is_due(state: FeedState | None, now: datetime) -> bool:
    return state is None or state.next_poll_at is None or state.next_poll_at <= now


async def _poll_one(client: HttpClient, feed: FeedSpec, state: FeedState | None,
                    http: HttpSettings, settings: FeedSettings) -> FeedResult:
    started = time.perf_counter()
    headers: dict[str, str] = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"}
    if state is not None and state.etag:
        headers["If-None-Match"] = state.etag
    if state is not None and state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    try:
        resp = await client.get(feed.url, max_bytes=http.max_feed_bytes, headers=headers)
        if resp.status == 304:
            return FeedResult(feed.name, feed.url, "not_modified", http_status=304,
                              etag=resp.headers.get("etag") or (state.etag if state else None),
                              last_modified=resp.headers.get("last-modified") or (state.last_modified if state else None),
                              seconds=time.perf_counter() - started)
        err = status_error(resp)
        if err is not None:
            raise err
        body, hdrs = resp.body, dict(resp.headers)
        # parsing is CPU work; keep the event loop free for the other feeds
        entries, warning = await asyncio.to_thread(parse_feed, body, hdrs, feed, resp.url,
                                                   settings.max_entries_per_feed)
        if warning:
            log.info("feed %s parsed with a warning: %s", feed.name, warning)
        return FeedResult(feed.name, feed.url, "ok", http_status=resp.status,
                          etag=resp.headers.get("etag"), last_modified=resp.headers.get("last-modified"),
                          warning=warning, entries=tuple(entries), seconds=time.perf_counter() - started)
    except FetchError as e:
        log.warning("feed %s failed: %s", feed.name, e)
        return FeedResult(feed.name, feed.url, "error", http_status=e.status, error=str(e),
                          transient=e.transient, retry_after=e.retry_after,
                          seconds=time.perf_counter() - started)
    except FeedParseError as e:
        log.warning("feed %s unusable: %s", feed.name, e)
        return FeedResult(feed.name, feed.url, "error", http_status=200, error=str(e),
                          seconds=time.perf_counter() - started)
    except Exception as e:  # never let one feed stop the others
        log.exception("feed %s: unexpected error", feed.name)
        return FeedResult(feed.name, feed.url, "error", error=f"{type(e).__name__}: {e}",
                          seconds=time.perf_counter() - started)


async def poll_feeds_async(feeds: Iterable[FeedSpec], states: dict[str, FeedState], now: datetime,
                           http: HttpSettings, settings: FeedSettings,
                           transport: httpx.AsyncBaseTransport | None = None) -> list[FeedResult]:
    feeds = list(feeds)
    sem = asyncio.Semaphore(http.concurrency)

    async def guarded(client: HttpClient, feed: FeedSpec) -> FeedResult:
        state = states.get(feed.name)
        if not is_due(state, now):
            return FeedResult(feed.name, feed.url, "skipped",
                              error=f"backing off until {state.next_poll_at:%Y-%m-%d %H:%M}Z" if state else None)
        async with sem:
            return await _poll_one(client, feed, state, http, settings)

    async with HttpClient(http, transport) as client:
        return list(await asyncio.gather(*(guarded(client, f) for f in feeds)))


def poll_feeds(feeds: Iterable[FeedSpec], states: dict[str, FeedState], now: datetime,
               http: HttpSettings, settings: FeedSettings) -> list[FeedResult]:
    """Poll every due feed concurrently; one result per feed, in input order."""
    return asyncio.run(poll_feeds_async(feeds, states, now, http, settings))


def new_entries(results: Iterable[FeedResult], known_urls: set[str], known_guids: set[str]) -> list[Entry]:
    """Entries not stored before (by canonical URL or guid), first occurrence across feeds wins."""
    out: list[Entry] = []
    urls, guids = set(known_urls), set(known_guids)
    for r in results:
        for e in r.entries:
            if e.url in urls or e.guid in guids:
                continue
            urls.add(e.url)
            guids.add(e.guid)
            out.append(e)
    return out

