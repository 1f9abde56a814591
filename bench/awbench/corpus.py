"""The page pool: real HTML pages from the shared corpus, read at run time (never copied).

English news pages come first (MANIFEST.tsv groups ``en-news`` and ``en-news-unannotated``);
``mix="all"`` appends every other page (other languages, non-news English) after them.
Pages are cycled under unique URLs, so N feeds x M articles can exceed the pool size.
"""

from __future__ import annotations

import csv
import html
import os
import re
from dataclasses import dataclass
from pathlib import Path

EN_NEWS = ("en-news", "en-news-unannotated")
OTHER_GROUPS = ("en-other", "de-news", "es-news", "fr-news", "pl-news", "other-lang-news")

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_\-]+)""", re.IGNORECASE)


@dataclass(frozen=True)
class PoolPage:
    rel: str  # path under html/
    path: str
    group: str
    size: int
    content_type: str  # what the bench server sends (a declared charset when we know one)
    title: str


def default_corpus(root: Path) -> Path:
    env = os.environ.get("AW_BENCH_CORPUS")
    return Path(env) if env else root.parent / "shared" / "corpus"


def corpus_missing(corpus: Path) -> str | None:
    """A message when the corpus is unusable, else None."""
    manifest = corpus / "html" / "MANIFEST.tsv"
    if not manifest.is_file():
        return (f"corpus not found: {manifest} does not exist. The benchmark serves the real pages "
                f"of the shared test corpus; pass --corpus DIR or set AW_BENCH_CORPUS.")
    return None


def _content_type(body: bytes) -> str:
    try:
        body.decode("utf-8")
        return "text/html; charset=utf-8"
    except UnicodeDecodeError:
        pass
    m = _META_CHARSET.search(body[:8192])
    if m:
        cs = m.group(1).decode("ascii", "replace").lower()
        try:
            body.decode(cs)
            return f"text/html; charset={cs}"
        except (LookupError, UnicodeDecodeError):
            pass
    return "text/html"  # no charset: the client has to detect it


def _title(body: bytes, ctype: str, fallback: str) -> str:
    m = _TITLE.search(body[:200_000])
    if not m:
        return fallback
    cs = ctype.split("charset=")[-1] if "charset=" in ctype else "utf-8"
    raw = m.group(1).decode(cs, "replace")
    text = " ".join(html.unescape(raw).split())
    return text[:300] or fallback


def load_pool(corpus: Path, mix: str = "en-news") -> list[PoolPage]:
    """Read MANIFEST.tsv and the pages' headers; page bodies are re-read by whoever serves
    or extracts them, so nothing holds the whole corpus longer than needed."""
    base = corpus / "html"
    with (base / "MANIFEST.tsv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    groups = EN_NEWS if mix == "en-news" else EN_NEWS + OTHER_GROUPS
    order = {g: i for i, g in enumerate(groups)}
    rows = [r for r in rows if r["group"] in order and r["path"].endswith(".html")]
    rows.sort(key=lambda r: (order[r["group"]], r["path"]))
    pool: list[PoolPage] = []
    for r in rows:
        p = base / r["path"]
        if not p.is_file():
            continue
        body = p.read_bytes()
        ctype = _content_type(body)
        pool.append(PoolPage(rel=r["path"], path=str(p), group=r["group"], size=len(body),
                             content_type=ctype, title=_title(body, ctype, Path(r["path"]).stem)))
    return pool


def decoded(page: PoolPage) -> str:
    """The page as the pipeline's fetch stage would decode it (same function)."""
    from accesswatch.fetch import decode_html

    with open(page.path, "rb") as f:
        return decode_html(f.read(), page.content_type)
