"""URL canonicalization: one article, one URL, whichever feed or campaign linked it."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

# Query parameters that only track where a click came from. Prefix match for "utm_" etc.
TRACKING_PREFIXES = ("utm_", "mc_", "_hs", "pk_", "piwik_", "matomo_", "hmb_", "ga_")
TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "msclkid", "yclid", "twclid", "igshid", "mkt_tok",
    "ref", "ref_src", "ref_url", "referrer", "source", "src", "cmpid", "icid", "ncid", "ocid",
    "sr_share", "share", "smid", "taid", "guccounter", "guce_referrer", "guce_referrer_sig",
    "rss", "feed", "feedtype", "at_medium", "at_campaign", "cid", "s_cid", "spm", "__twitter_impression",
})
DEFAULT_PORTS = {"http": 80, "https": 443}
# Whitespace and control characters: percent-encoded in the path (else a path ending in a
# space would lose it on the next pass, which strips the URL), refused in the host.
_UNSAFE_IN_PATH = re.compile(r"[\x00-\x20\x7f-\x9f\s]")
_BAD_HOST_CHAR = re.compile(r"[\x00-\x20\x7f-\x9f\s<>\"{}|\\^`%]")


def _is_tracking(name: str) -> bool:
    n = name.lower()
    return n in TRACKING_PARAMS or n.startswith(TRACKING_PREFIXES)


def canonicalize_url(url: str, base: str | None = None) -> str | None:
    """Return the canonical form of an http(s) URL, or None when it is not one.

    Lower-cases scheme and host, drops default ports, userinfo, the fragment and tracking
    parameters, sorts the remaining query parameters and gives an empty path "/".
    """
    url = (url or "").strip()
    if not url:
        return None
    if base:
        try:
            url = urljoin(base, url)
        except ValueError:
            return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in DEFAULT_PORTS or not host:
        return None
    try:
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        host = host.lower()
    if _BAD_HOST_CHAR.search(host):  # checked after IDNA too: nameprep maps U+00A0 to a space
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)]
    query.sort()
    path = _UNSAFE_IN_PATH.sub(lambda m: quote(m.group(), safe=""), parts.path or "/")
    return urlunsplit((scheme, netloc, path, urlencode(query), ""))


def host_of(url: str) -> str:
    """The host (with non-default port) of a URL, for per-host limits and outlet names."""
    parts = urlsplit(url)
    return parts.netloc.lower()
