"""Extract article text and metadata with trafilatura; fall back to the feed summary.

Extraction is CPU-bound, so batches are spread over processes (``extract.workers``,
0 = one per core). Workers are started with "spawn" (forking a process that runs Prefect's
threads can deadlock) and kept warm for the life of the process.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from typing import Any

from .config import ExtractSettings
from .models import Article, Page

log = logging.getLogger(__name__)

_HTML_LANG = re.compile(r"<html[^>]*?\blang\s*=\s*[\"']?([A-Za-z]{2,3})", re.IGNORECASE)
MAX_TEXT = 200_000
MIN_POOL_BATCH = 8  # below this, starting processes costs more than it saves


def content_hash(text: str) -> str:
    """Hash of the whitespace-normalised text: same story text, same hash."""
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()


def detect_language(text: str, html: str | None = None) -> str | None:
    """ISO 639-1 code from the text (py3langid), falling back to <html lang>."""
    sample = text[:2000] if text else ""
    if len(sample) >= 40:
        import py3langid

        lang, _score = py3langid.classify(sample)
        return str(lang)
    if html:
        m = _HTML_LANG.search(html[:5000])
        if m:
            return m.group(1).lower()
    return None


def _parse_date(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        d = datetime.fromisoformat(value)
    except ValueError:
        return None
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def extract_one(html: str, url: str) -> dict[str, Any]:
    """trafilatura on one page -> plain dict (picklable across processes). Never raises."""
    import trafilatura

    try:
        doc = trafilatura.bare_extraction(html, url=url, with_metadata=True, include_comments=False,
                                          include_tables=False, fast=True)
    except Exception as e:  # hostile markup: treat as "found nothing"
        return {"error": f"{type(e).__name__}: {e}"}
    if doc is None:
        return {}
    # language here, in the worker: the py3langid model (~70 MB) then never loads in the flow's process
    return {"text": doc.text, "title": doc.title, "author": doc.author, "date": doc.date,
            "site": doc.sitename, "language": detect_language(doc.text or "", html) if doc.text else None}


def _extract_pair(item: tuple[str, str]) -> dict[str, Any]:
    return extract_one(*item)


def _workers(settings: ExtractSettings) -> int:
    return settings.workers or os.cpu_count() or 1


_POOL: ProcessPoolExecutor | None = None
_POOL_SIZE = 0


def _pool(workers: int) -> ProcessPoolExecutor:
    """One warm worker pool per process, reused by every batch of the run (and of later runs
    under `serve`): starting workers and loading trafilatura's date parser costs ~1.5 s per
    pool, which a pool per batch paid again and again."""
    global _POOL, _POOL_SIZE
    if _POOL is None or workers != _POOL_SIZE or getattr(_POOL, "_broken", False):
        if _POOL is not None:
            _POOL.shutdown(cancel_futures=True)
        _POOL = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
        _POOL_SIZE = workers
    return _POOL


@atexit.register
def shutdown_pool() -> None:
    global _POOL
    if _POOL is not None:
        _POOL.shutdown(cancel_futures=True)
        _POOL = None


_WARM_HTML = "<html><head><title>warm</title></head><body><article><p>" + "Warm-up text. " * 40 + "</p></article></body></html>"


def _warm(_: int) -> bool:
    extract_one(_WARM_HTML, "http://127.0.0.1/warm")
    return True


def prewarm(settings: ExtractSettings, pages: int) -> None:
    """Start the worker pool (spawn, imports, trafilatura's first call: ~1.5 s) in the
    background while the flow still fetches pages, when this run will need it."""
    workers = min(_workers(settings), max(1, pages // MIN_POOL_BATCH))
    if workers > 1:
        pool = _pool(workers)
        for i in range(workers):
            pool.submit(_warm, i)


def run_extraction(items: list[tuple[str, str]], settings: ExtractSettings) -> list[dict[str, Any]]:
    """Extract (html, url) pairs, in the worker pool when the batch is big enough. Small
    chunks are handed out as workers free up, so one slow page does not idle the other core."""
    workers = min(_workers(settings), max(1, len(items) // MIN_POOL_BATCH))
    if workers <= 1:
        return [extract_one(html, url) for html, url in items]
    try:
        return list(_pool(workers).map(_extract_pair, items, chunksize=4))
    except BrokenProcessPool:
        # a worker died (e.g. killed for memory): redo this batch in process, start afresh next time
        log.warning("extraction worker pool broke; extracting this batch in process")
        shutdown_pool()
        return [extract_one(html, url) for html, url in items]


def build_articles(pages: list[Page], extracted: list[dict[str, Any]], settings: ExtractSettings,
                   now: datetime) -> list[Article]:
    """Pure: pages + extraction results -> Article records (summary fallback decided here)."""
    articles: list[Article] = []
    for page, res in zip(pages, extracted, strict=True):
        e = page.entry
        text = (res.get("text") or "").strip()[:MAX_TEXT] or None
        extraction = "trafilatura"
        if text is None or len(text) < settings.min_text_chars:
            # paywall, script-only page or failed fetch: the feed summary is all we have
            if e.summary and len(e.summary) > len(text or ""):
                text, extraction = e.summary, "summary"
            elif text is None:
                extraction = "none"
        error = page.error or res.get("error")
        articles.append(Article(
            article_id=e.article_id, url=e.url, guid=e.guid, feed=e.feed,
            title=e.title or res.get("title"), text=text, summary=e.summary,
            published=e.published or _parse_date(res.get("date")),
            author=e.author or res.get("author"), site=res.get("site"),
            language=(res.get("language") if extraction == "trafilatura" else
                      detect_language(text, page.html) if text else None),
            extraction=extraction,  # type: ignore[arg-type]
            content_hash=content_hash(text) if text else None,
            fetch_status=page.http_status, fetch_error=error, fetched_at=now))
    return articles


def extract_articles(pages: list[Page], settings: ExtractSettings, now: datetime | None = None) -> list[Article]:
    """The extract stage: pages -> Articles (pages that failed to fetch keep their summary)."""
    now = now or datetime.now(UTC)
    todo = [(i, p) for i, p in enumerate(pages) if p.html]
    results = run_extraction([(p.html or "", p.final_url or p.entry.url) for _, p in todo], settings)
    extracted: list[dict[str, Any]] = [{} for _ in pages]
    for (i, _), res in zip(todo, results, strict=True):
        extracted[i] = res
    return build_articles(pages, extracted, settings, now)
