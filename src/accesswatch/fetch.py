"""HTTP for feeds and pages: limits, timeouts and the URL guard, in one place.

Every request goes through :class:`HttpClient.get`, which
- allows only http/https,
- resolves the host and refuses loopback/private/link-local/reserved addresses unless the
  host name, or every such address it resolves to, is in ``http.allowed_private_hosts``
  (checked again on every redirect hop),
- follows at most ``max_redirects`` redirects itself,
- caps the decoded body at ``max_bytes``: gzip/deflate are decoded here, never more than the
  cap at a time (so a gzip bomb stops at the cap without ever inflating past it), and
- bounds the whole request, body included, by ``total_timeout_seconds`` (so a server that
  drips a byte a second is cut off).

The guard checks the addresses the host resolves to just before the request; httpx resolves
again when it connects, so a DNS answer that changes in between (rebinding) is not covered.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import logging
import socket
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from .config import HttpSettings
from .errors import BlockedURLError, FetchError, PermanentFetchError, TransientFetchError
from .models import Entry, Page
from .urls import host_of

log = logging.getLogger(__name__)

HTML_TYPES = ("text/html", "application/xhtml+xml")
REDIRECT_CODES = {301, 302, 303, 307, 308}
# Only what _BoundedDecoder can inflate with a bound on its output.
ACCEPT_ENCODING = "gzip, deflate"
# Leading bytes of formats that are never an article page, whatever the Content-Type says.
BINARY_MAGIC = (
    (b"%PDF-", "PDF"), (b"\x89PNG\r\n\x1a\n", "PNG image"), (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"), (b"\xff\xd8\xff", "JPEG image"), (b"PK\x03\x04", "ZIP archive"),
    (b"\x1f\x8b", "gzip data"), (b"OggS", "Ogg media"), (b"ID3", "MP3 audio"),
    (b"\x00\x00\x01\x00", "icon"), (b"wOFF", "font"), (b"wOF2", "font"),
)


@dataclass(frozen=True, slots=True)
class Response:
    url: str  # after redirects
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes


# ---------------------------------------------------------------- the address guard
def is_public_address(ip: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True only for globally routable unicast addresses (no connection is made)."""
    addr = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    if isinstance(addr, ipaddress.IPv6Address):
        mapped = addr.ipv4_mapped or addr.sixtofour
        if mapped is not None:
            return is_public_address(mapped)
    return bool(addr.is_global and not addr.is_multicast and not addr.is_reserved
                and not addr.is_loopback and not addr.is_link_local and not addr.is_private
                and not addr.is_unspecified)


def _allowed(host: str, port: int, private: Iterable[str], allowed: Iterable[str]) -> bool:
    """True when the host name itself is listed, or else every non-public address it resolves
    to is. (Matching any one address is not enough: a name resolving to an allowed 127.0.0.1
    and to 10.0.0.5 must not pass, since the connection may go to either.)"""
    entries = []
    for entry in allowed:
        e = entry.lower().strip()
        if e.startswith("[") and "]:" in e:  # [v6]:port
            e_host, _, e_port = e.rpartition(":")
        else:
            e_host, _, e_port = e.rpartition(":") if e.count(":") == 1 else (e, "", "")
        entries.append((e_host.strip("[]"), e_port))

    def listed(name: str) -> bool:
        return any(e_host == name and (not e_port or e_port == str(port)) for e_host, e_port in entries)

    private = list(private)
    return listed(host.lower().strip("[]")) or (bool(private) and all(listed(a) for a in private))


async def check_url(url: str, allowed_private_hosts: Iterable[str] = ()) -> None:
    """Raise BlockedURLError unless ``url`` may be requested."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise BlockedURLError(f"invalid URL {url!r}: {e}") from None
    if parts.scheme not in ("http", "https"):
        raise BlockedURLError(f"scheme {parts.scheme!r} not allowed (only http/https): {url}")
    host = parts.hostname
    if not host:
        raise BlockedURLError(f"no host in URL {url!r}")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as e:
            raise TransientFetchError(f"cannot resolve {host}: {e}") from None
        addresses = sorted({info[4][0].split("%")[0] for info in infos})
    private = [a for a in addresses if not is_public_address(a)]
    if private and not _allowed(host, port, private, allowed_private_hosts):
        unlisted = [a for a in private if not _allowed(a, port, [a], allowed_private_hosts)]
        raise BlockedURLError(
            f"{host} resolves to non-public address {(unlisted or private)[0]}; refused "
            "(add it to http.allowed_private_hosts to allow)")


# ---------------------------------------------------------------- the client
class _BoundedDecoder:
    """Undo a gzip/deflate Content-Encoding without ever producing more than ``limit`` bytes.

    httpx inflates each network chunk in one call, so 64 KiB of a gzip bomb become ~64 MB
    in memory before any cap can look at it; zlib's ``max_length`` keeps every step small.
    """

    def __init__(self, encoding: str, url: str):
        codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise PermanentFetchError(f"unsupported content-encoding {encoding!r}: {url}")
        self.coding = codings[0] if codings else None
        self.url = url
        self._z: Any = None
        if self.coding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif self.coding == "deflate":
            self._z = zlib.decompressobj(zlib.MAX_WBITS)  # zlib-wrapped; raw deflate below
        # "deflate" means zlib-wrapped, but some servers send raw deflate: until the 2-byte
        # zlib header has been accepted, keep what was fed so it can be replayed as raw.
        self._undecided: bytearray | None = bytearray() if self.coding == "deflate" else None

    def decode(self, data: bytes, limit: int) -> Iterator[bytes]:
        """Decoded pieces of ``data``; stops as soon as ``limit`` + 1 bytes came out."""
        if self._z is None:
            yield data
            return
        produced = 0
        while data and produced <= limit:
            try:
                out = self._z.decompress(data, limit + 1 - produced)
            except zlib.error as e:
                if self._undecided is not None:  # not zlib: raw deflate, from the first byte
                    data = bytes(self._undecided) + data
                    self._undecided = None
                    self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise PermanentFetchError(f"cannot decode {self.coding} body ({e}): {self.url}") from None
            if self._undecided is not None:
                self._undecided += data[:len(data) - len(self._z.unconsumed_tail)]
                if len(self._undecided) >= 2:  # the zlib header passed its check
                    self._undecided = None
            produced += len(out)
            if out:
                yield out
            if self._z.eof:  # trailing garbage after the stream is ignored, as httpx does
                return
            data = self._z.unconsumed_tail


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def status_error(resp: Response) -> FetchError | None:
    """The error an HTTP status means, or None for 2xx/304."""
    if 200 <= resp.status < 300 or resp.status == 304:
        return None
    retry_after = parse_retry_after(resp.headers.get("retry-after"))
    msg = f"HTTP {resp.status} from {resp.url}"
    if resp.status in (408, 425, 429) or resp.status >= 500:
        return TransientFetchError(msg, status=resp.status, retry_after=retry_after)
    return PermanentFetchError(msg, status=resp.status, retry_after=retry_after)


class HttpClient:
    """An async HTTP client with the guard and limits above. Use as ``async with``."""

    def __init__(self, settings: HttpSettings, transport: httpx.AsyncBaseTransport | None = None):
        self.settings = settings
        limits = httpx.Limits(max_connections=settings.concurrency * 2,
                              max_keepalive_connections=settings.concurrency)
        timeout = httpx.Timeout(settings.read_timeout_seconds, connect=settings.connect_timeout_seconds)
        self._client = httpx.AsyncClient(
            headers={"User-Agent": settings.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
            timeout=timeout, limits=limits,
            follow_redirects=False, transport=transport, trust_env=False)

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    async def get(self, url: str, *, max_bytes: int, headers: Mapping[str, str] | None = None,
                  accept: Callable[[str], bool] | None = None) -> Response:
        """GET ``url``; raise FetchError subclasses for anything but a usable response.

        Non-2xx statuses are returned (callers decide), except redirects, which are followed.
        ``accept`` gets the content type of a 2xx response; False makes it a PermanentFetchError
        before the body is read.
        """
        try:
            async with asyncio.timeout(self.settings.total_timeout_seconds):
                return await self._get(url, max_bytes=max_bytes, headers=headers, accept=accept)
        except TimeoutError:
            raise TransientFetchError(
                f"timed out after {self.settings.total_timeout_seconds:g}s: {url}") from None
        except httpx.TimeoutException as e:
            raise TransientFetchError(f"timed out ({type(e).__name__}): {url}") from None
        except httpx.TransportError as e:
            raise TransientFetchError(f"{type(e).__name__}: {e or 'connection failed'}: {url}") from None
        except httpx.HTTPError as e:  # protocol oddities, decoding errors
            raise PermanentFetchError(f"{type(e).__name__}: {e}: {url}") from None
        except httpx.InvalidURL as e:  # e.g. "Location: javascript:..." (httpx parses it eagerly)
            raise PermanentFetchError(f"invalid URL or redirect target ({e}): {url}") from None

    async def _get(self, url: str, *, max_bytes: int, headers: Mapping[str, str] | None,
                   accept: Callable[[str], bool] | None) -> Response:
        current = url
        for _hop in range(self.settings.max_redirects + 1):
            await check_url(current, self.settings.allowed_private_hosts)
            async with self._client.stream("GET", current, headers=dict(headers or {})) as r:
                if r.status_code in REDIRECT_CODES and "location" in r.headers:
                    current = urljoin(current, r.headers["location"])
                    continue
                hdrs = {k.lower(): v for k, v in r.headers.items()}
                if 200 <= r.status_code < 300 and accept is not None:
                    ctype = hdrs.get("content-type", "")
                    if not accept(ctype):
                        raise PermanentFetchError(f"content type {ctype or 'missing'!r} refused: {current}",
                                                  status=r.status_code)
                declared = hdrs.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes and "content-encoding" not in hdrs:
                    raise PermanentFetchError(f"body of {declared} bytes exceeds cap of {max_bytes}: {current}",
                                              status=r.status_code)
                decoder = _BoundedDecoder(hdrs.get("content-encoding", ""), current)
                chunks: list[bytes] = []
                size = 0
                async for raw in r.aiter_raw():  # raw: the decoding is ours, bounded
                    for chunk in decoder.decode(raw, max_bytes - size):
                        size += len(chunk)
                        if size > max_bytes:
                            raise PermanentFetchError(f"body exceeds cap of {max_bytes} bytes: {current}",
                                                      status=r.status_code)
                        chunks.append(chunk)
                return Response(url=str(r.url), status=r.status_code, headers=hdrs, body=b"".join(chunks))
        raise PermanentFetchError(f"more than {self.settings.max_redirects} redirects: {url}")


def accept_html(content_type: str) -> bool:
    ctype = content_type.split(";")[0].strip().lower()
    return ctype in HTML_TYPES or ctype == ""


def _known_codec(name: str | None) -> bool:
    import codecs

    try:
        return name is not None and bool(codecs.lookup(name))
    except LookupError:
        return False


def sniff_binary(body: bytes) -> str | None:
    """The name of a binary format ``body`` starts with (PDF, images, archives), else None."""
    head = body[:16]
    for magic, kind in BINARY_MAGIC:
        if head.startswith(magic):
            return kind
    if head[4:8] == b"ftyp":
        return "MP4/QuickTime media"
    if head.startswith(b"RIFF") and head[8:12] in (b"WEBP", b"WAVE", b"AVI "):
        return "RIFF media"
    return None


def mostly_utf8(body: bytes) -> str | None:
    """The text of a body that is UTF-8 apart from a few stray bytes (a windows-1252 quote
    pasted into a UTF-8 page), with U+FFFD for those; None when it looks like another encoding
    (invalid sequences and no valid non-ASCII ones: let charset detection have it)."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    text = body.decode("utf-8", "replace")
    bad = text.count("\ufffd") - body.count(b"\xef\xbf\xbd")
    good = len(text) - len(text.encode("ascii", "ignore")) - text.count("\ufffd")
    return text if good >= max(bad, 1) else None


def decode_html(body: bytes, content_type: str | None) -> str:
    """Bytes to text: the declared charset when it works, else UTF-8 when the body mostly is,
    else trafilatura's detection."""
    charset = None
    if content_type and "charset=" in content_type.lower():
        charset = content_type.lower().split("charset=")[-1].split(";")[0].strip().strip("\"'")
        try:
            return body.decode(charset)
        except (LookupError, UnicodeDecodeError):
            pass
    if charset in (None, "utf-8", "utf8") or not _known_codec(charset):
        text = mostly_utf8(body)
        if text is not None:
            return text
    from trafilatura.utils import decode_file  # import here: trafilatura is slow to import

    return decode_file(body)


# ---------------------------------------------------------------- the page stage
async def fetch_pages_async(entries: list[Entry], settings: HttpSettings,
                            transport: httpx.AsyncBaseTransport | None = None) -> list[Page]:
    """Fetch article pages concurrently (global and per-host limits). Never raises for a page:
    a failed page comes back with ``html=None`` and its error."""
    overall = asyncio.Semaphore(settings.concurrency)
    per_host: dict[str, asyncio.Semaphore] = {}

    async def one(client: HttpClient, entry: Entry) -> Page:
        sem = per_host.setdefault(host_of(entry.url), asyncio.Semaphore(settings.per_host_concurrency))
        async with overall, sem:
            try:
                resp = await client.get(entry.url, max_bytes=settings.max_page_bytes, accept=accept_html)
                err = status_error(resp)
                if err is not None:
                    raise err
                kind = sniff_binary(resp.body)
                if kind is not None:  # a PDF or image sent as text/html (or with no type)
                    raise PermanentFetchError(
                        f"{kind} served as {resp.headers.get('content-type') or 'no content type'!r}, "
                        f"not a page: {resp.url}", status=resp.status)
                html = decode_html(resp.body, resp.headers.get("content-type"))
                return Page(entry=entry, final_url=resp.url, http_status=resp.status, html=html)
            except FetchError as e:
                log.warning("page failed: %s", e)
                return Page(entry=entry, final_url=None, http_status=e.status, html=None, error=str(e))
            except Exception as e:  # a hostile page must never stop the batch
                log.exception("unexpected error fetching %s", entry.url)
                return Page(entry=entry, final_url=None, http_status=None, html=None,
                            error=f"{type(e).__name__}: {e}")

    async with HttpClient(settings, transport) as client:
        return list(await asyncio.gather(*(one(client, e) for e in entries)))


def fetch_pages(entries: list[Entry], settings: HttpSettings) -> list[Page]:
    """Synchronous entry point for the flow."""
    if not entries:
        return []
    return asyncio.run(fetch_pages_async(entries, settings))
