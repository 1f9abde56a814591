"""Typed records that cross stage boundaries. Frozen: a stage returns new records."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal


def article_id_for(url: str) -> str:
    """Stable id of an article: first 16 hex digits of sha256 of its canonical URL."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class FeedSpec:
    name: str
    url: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the store remembers about a feed between polls."""

    name: str
    etag: str | None = None
    last_modified: str | None = None
    consecutive_failures: int = 0
    next_poll_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    """One feed entry, normalised at the feedparser boundary."""

    feed: str
    guid: str
    url: str  # canonical
    title: str | None
    summary: str | None
    published: datetime | None
    author: str | None

    @property
    def article_id(self) -> str:
        return article_id_for(self.url)


FeedStatus = Literal["ok", "not_modified", "error", "skipped"]


@dataclass(frozen=True, slots=True)
class FeedResult:
    feed: str
    url: str
    status: FeedStatus
    http_status: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    transient: bool = False
    retry_after: float | None = None
    warning: str | None = None
    entries: tuple[Entry, ...] = ()
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Page:
    """An article page as fetched (html is None when the fetch failed)."""

    entry: Entry
    final_url: str | None
    http_status: int | None
    html: str | None
    error: str | None = None


Extraction = Literal["trafilatura", "summary", "none"]


@dataclass(frozen=True, slots=True)
class Article:
    article_id: str
    url: str
    guid: str
    feed: str
    title: str | None
    text: str | None
    summary: str | None
    published: datetime | None
    author: str | None
    site: str | None
    language: str | None
    extraction: Extraction
    content_hash: str | None
    fetch_status: int | None
    fetch_error: str | None
    fetched_at: datetime


Label = Literal["positive", "borderline", "negative"]


@dataclass(frozen=True, slots=True)
class Detection:
    """The detector's verdict for one article (see accesswatch.detect)."""

    is_dispute: bool
    label: Label
    score: float
    action: str | None = None
    actor: str | None = None
    target: str | None = None
    reason: str | None = None
    evidence: tuple[str, ...] = ()
    vendors: tuple[str, ...] = ()
    detector_version: str = ""


@dataclass(frozen=True, slots=True)
class ArticleDetection:
    article_id: str
    detection: Detection


@dataclass(slots=True)
class RunCounts:
    """Counts collected over one flow run (mutable: the flow fills it as it goes)."""

    feeds_total: int = 0
    feeds_ok: int = 0
    feeds_not_modified: int = 0
    feeds_failed: int = 0
    feeds_skipped: int = 0
    entries_seen: int = 0
    entries_new: int = 0
    pages_fetched: int = 0
    pages_failed: int = 0
    articles_stored: int = 0
    extracted: int = 0
    summary_fallback: int = 0
    disputes: int = 0
    stories_new: int = 0
    alerts_sent: int = 0
    alerts_failed: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        from dataclasses import asdict

        return asdict(self)

    def summary(self, seconds: float) -> str:
        """The one-paragraph run summary that is logged and stored."""
        text = (f"Polled {self.feeds_total} feeds in {seconds:.1f}s: {self.feeds_ok} ok, "
                f"{self.feeds_not_modified} not modified, {self.feeds_failed} failed, "
                f"{self.feeds_skipped} backing off. {self.entries_seen} entries seen, {self.entries_new} new; "
                f"{self.pages_fetched} pages fetched ({self.pages_failed} failed), {self.articles_stored} "
                f"articles stored ({self.extracted} extracted, {self.summary_fallback} from the feed summary); "
                f"{self.disputes} access disputes detected; {self.stories_new} new stories, "
                f"{self.alerts_sent} alerts sent, {self.alerts_failed} failed.")
        if self.errors:
            text += f" {len(self.errors)} errors, first: {self.errors[0]}"
        return text
