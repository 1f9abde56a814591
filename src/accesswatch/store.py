"""The DuckDB store: the only module that speaks SQL.

- The schema is versioned (``meta.schema_version``) and migrated on open.
- DuckDB lets one process hold a read-write connection to a file, and a second process
  cannot open it at all meanwhile (not even read-only). So every operation connects, runs
  one short transaction and closes; a lock conflict is retried until
  ``lock_timeout`` (then :class:`StoreBusyError`, which is transient).
- New files are created with storage version v1.5.0 so the DuckDB command-line tool
  (PyPI's duckdb-cli 1.5) can open them too.
- Bulk writes go through Arrow tables (``INSERT ... BY NAME SELECT ... ON CONFLICT``),
  hundreds of times faster than executemany.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from .errors import StoreBusyError, StoreError
from .health import Notice
from .models import Article, Detection, Entry, FeedResult, FeedSpec, FeedState, RunCounts
from .stories import PlannedAlert, Story, StoryArticle, StoryChange

log = logging.getLogger(__name__)

STORAGE_VERSION = "v1.5.0"
CATALOG = "aw"

# Each migration moves the schema from version i to i+1. Never edit a released one: append.
MIGRATIONS: list[str] = [
    # 1: the core tables
    """
    -- One row per configured feed, with its polling state.
    CREATE TABLE feeds (
        name                 VARCHAR PRIMARY KEY,
        url                  VARCHAR NOT NULL,
        tags                 VARCHAR[],
        etag                 VARCHAR,          -- conditional GET validators from the last 200
        last_modified        VARCHAR,
        last_polled_at       TIMESTAMPTZ,
        last_success_at      TIMESTAMPTZ,
        last_status          VARCHAR,          -- ok | not_modified | error | skipped
        last_http_status     INTEGER,
        last_error           VARCHAR,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        next_poll_at         TIMESTAMPTZ,      -- backoff after failures (Retry-After honoured)
        entries_seen         BIGINT NOT NULL DEFAULT 0,
        first_seen_at        TIMESTAMPTZ
    );
    -- One row per canonical article URL.
    CREATE TABLE articles (
        article_id    VARCHAR PRIMARY KEY,     -- sha256(url)[:16]
        url           VARCHAR NOT NULL UNIQUE, -- canonical
        guid          VARCHAR,
        feed          VARCHAR,                 -- first feed that carried it
        title         VARCHAR,
        text          VARCHAR,
        summary       VARCHAR,
        published     TIMESTAMPTZ,
        author        VARCHAR,
        site          VARCHAR,
        language      VARCHAR,
        extraction    VARCHAR,                 -- trafilatura | summary | none
        content_hash  VARCHAR,                 -- sha256 of whitespace-normalised text
        fetch_status  INTEGER,
        fetch_error   VARCHAR,
        fetched_at    TIMESTAMPTZ,
        run_id        VARCHAR
    );
    -- Every (guid, feed) sighting: dedupe by guid across feeds, and who carried what.
    CREATE TABLE entries (
        guid          VARCHAR PRIMARY KEY,
        article_id    VARCHAR NOT NULL,
        feed          VARCHAR NOT NULL,
        first_seen_at TIMESTAMPTZ NOT NULL
    );
    -- The detector's verdict per article and detector version.
    CREATE TABLE detections (
        article_id       VARCHAR NOT NULL,
        detector_version VARCHAR NOT NULL,
        is_dispute       BOOLEAN NOT NULL,
        label            VARCHAR NOT NULL,     -- positive | borderline | negative
        score            DOUBLE NOT NULL,
        action           VARCHAR,
        actor            VARCHAR,
        target           VARCHAR,
        reason           VARCHAR,
        evidence         VARCHAR[],
        vendors          VARCHAR[],
        detected_at      TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (article_id, detector_version)
    );
    -- One row per flow run.
    CREATE TABLE runs (
        run_id             VARCHAR PRIMARY KEY,
        flow_run_id        VARCHAR,
        started_at         TIMESTAMPTZ NOT NULL,
        finished_at        TIMESTAMPTZ,
        status             VARCHAR NOT NULL,   -- running | completed | failed
        feeds_total        INTEGER, feeds_ok INTEGER, feeds_not_modified INTEGER,
        feeds_failed       INTEGER, feeds_skipped INTEGER,
        entries_seen       INTEGER, entries_new INTEGER,
        pages_fetched      INTEGER, pages_failed INTEGER,
        articles_stored    INTEGER, extracted INTEGER, summary_fallback INTEGER,
        disputes           INTEGER,
        errors             VARCHAR[],
        summary            VARCHAR
    );
    """,
    # 2: stories and the alert outbox
    """
    -- One row per event: articles about the same dispute grouped together.
    CREATE TABLE stories (
        story_id      VARCHAR PRIMARY KEY,
        actor         VARCHAR,
        target        VARCHAR,
        action        VARCHAR,
        family        VARCHAR NOT NULL,     -- dispute | restore
        reason        VARCHAR,
        label         VARCHAR NOT NULL,
        score         DOUBLE NOT NULL,
        headline      VARCHAR,
        url           VARCHAR NOT NULL,
        evidence      VARCHAR,
        first_seen    TIMESTAMPTZ NOT NULL,
        last_seen     TIMESTAMPTZ NOT NULL,
        articles      INTEGER NOT NULL,
        sources       INTEGER NOT NULL,     -- distinct sites
        outlets       INTEGER NOT NULL,     -- independent outlets (syndicated copies once)
        slack_channel VARCHAR,              -- where the story's parent message lives
        slack_ts      VARCHAR,
        updated_at    TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE story_articles (
        article_id VARCHAR PRIMARY KEY,     -- an article belongs to one story
        story_id   VARCHAR NOT NULL,
        host       VARCHAR NOT NULL,
        seen_at    TIMESTAMPTZ NOT NULL,
        minhash    UBIGINT[],               -- MinHash of the text, for near-duplicates
        added_at   TIMESTAMPTZ NOT NULL
    );
    -- The outbox: written as pending with its story, then sent; never sent twice.
    CREATE TABLE alerts (
        alert_id        VARCHAR PRIMARY KEY, -- story_id:story | story_id:article_id | summary/digest ids
        story_id        VARCHAR,
        kind            VARCHAR NOT NULL,    -- story | followup | digest
        article_id      VARCHAR,
        status          VARCHAR NOT NULL,    -- pending | sending | sent | failed | dead
        attempts        INTEGER NOT NULL DEFAULT 0,
        uncertain       BOOLEAN NOT NULL DEFAULT false, -- may have reached Slack: check before re-posting
        last_error      VARCHAR,
        next_attempt_at TIMESTAMPTZ,
        claimed_at      TIMESTAMPTZ,
        created_at      TIMESTAMPTZ NOT NULL,
        sent_at         TIMESTAMPTZ,
        sink            VARCHAR,             -- slack | webhook | console
        slack_channel   VARCHAR,
        slack_ts        VARCHAR,
        via             VARCHAR              -- message | summary | found (already in the channel)
    );
    ALTER TABLE runs ADD COLUMN alerts_sent INTEGER;
    ALTER TABLE runs ADD COLUMN alerts_failed INTEGER;
    ALTER TABLE runs ADD COLUMN stories_new INTEGER;
    """,
    # 3: user labels (feedback), notices, skipped runs
    """
    -- A user's correction of the detector: `accesswatch label`, scored by `accesswatch eval --from-db`.
    CREATE TABLE labels (
        article_id  VARCHAR PRIMARY KEY,
        label       VARCHAR NOT NULL,        -- positive | borderline | negative
        actor       VARCHAR,
        target      VARCHAR,
        action      VARCHAR,
        note        VARCHAR,
        labelled_at TIMESTAMPTZ NOT NULL
    );
    ALTER TABLE alerts ADD COLUMN payload VARCHAR;       -- text of notices (kind = 'notice')
    ALTER TABLE feeds ADD COLUMN notice_state VARCHAR;   -- ok | failing | quiet: the last notice sent
    """,
]

# Views are recreated on every open (cheap), so they can change without a migration.
VIEWS = """
CREATE OR REPLACE VIEW latest_detections AS
    SELECT * FROM detections
    QUALIFY row_number() OVER (PARTITION BY article_id ORDER BY detected_at DESC, detector_version DESC) = 1;

CREATE OR REPLACE VIEW recent_disputes AS
    SELECT a.published, d.actor, d.action, d.target, d.reason, d.score, a.title, a.url,
           a.feed, d.evidence[1] AS evidence, a.article_id, d.detector_version
    FROM latest_detections d JOIN articles a USING (article_id)
    WHERE d.is_dispute
    ORDER BY coalesce(a.published, a.fetched_at) DESC;

CREATE OR REPLACE VIEW recent_stories AS
    SELECT s.last_seen, s.actor, s.action, s.target, s.reason, round(s.score, 2) AS score, s.articles,
           s.sources, s.outlets, s.headline, s.url, s.story_id,
           (SELECT max(status) FILTER (WHERE kind = 'story') FROM alerts a WHERE a.story_id = s.story_id) AS alert
    FROM stories s ORDER BY s.last_seen DESC;

CREATE OR REPLACE VIEW alert_outbox AS
    SELECT status, kind, count(*) AS alerts, max(attempts) AS max_attempts, any_value(last_error) AS last_error
    FROM alerts GROUP BY ALL ORDER BY status, kind;

-- Per feed: items stored, the newest item's date, and the typical (median) gap between
-- items by publication date (the fetch time when the feed gives none).
CREATE OR REPLACE VIEW feed_gaps AS
    SELECT feed, count(*) AS items, max(item_at) AS last_item_at, median(gap) AS typical_gap
    FROM (SELECT feed, item_at, item_at - lag(item_at) OVER (PARTITION BY feed ORDER BY item_at) AS gap
          FROM (SELECT e.feed, coalesce(a.published, a.fetched_at, e.first_seen_at) AS item_at
                FROM entries e LEFT JOIN articles a USING (article_id)))
    GROUP BY feed;

CREATE OR REPLACE VIEW feed_health AS
    SELECT f.name, f.last_status, f.last_success_at, f.consecutive_failures, f.last_error, f.next_poll_at,
           f.entries_seen, g.items AS items_stored, g.last_item_at, g.typical_gap, f.notice_state, f.url
    FROM feeds f LEFT JOIN feed_gaps g ON g.feed = f.name
    ORDER BY f.consecutive_failures DESC, f.name;

CREATE OR REPLACE VIEW vendor_history AS
    SELECT vendor, role, s.last_seen, s.actor, s.action, s.target, s.reason, s.articles, s.sources, s.headline, s.url
    FROM (SELECT *, actor AS vendor, 'actor' AS role FROM stories
          UNION ALL SELECT *, target AS vendor, 'target' AS role FROM stories WHERE target IS NOT NULL) s
    ORDER BY vendor, s.last_seen DESC;
"""


_VIEWS_HASH = hashlib.sha256(VIEWS.encode()).hexdigest()[:16]


def _ts(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


_TS = pa.timestamp("us", tz="UTC")
ARTICLE_SCHEMA = pa.schema([
    ("article_id", pa.string()), ("url", pa.string()), ("guid", pa.string()), ("feed", pa.string()),
    ("title", pa.string()), ("text", pa.string()), ("summary", pa.string()), ("published", _TS),
    ("author", pa.string()), ("site", pa.string()), ("language", pa.string()), ("extraction", pa.string()),
    ("content_hash", pa.string()), ("fetch_status", pa.int32()), ("fetch_error", pa.string()),
    ("fetched_at", _TS), ("run_id", pa.string()),
])
ENTRY_SCHEMA = pa.schema([("guid", pa.string()), ("article_id", pa.string()), ("feed", pa.string()),
                          ("first_seen_at", _TS)])
DETECTION_SCHEMA = pa.schema([
    ("article_id", pa.string()), ("detector_version", pa.string()), ("is_dispute", pa.bool_()),
    ("label", pa.string()), ("score", pa.float64()), ("action", pa.string()), ("actor", pa.string()),
    ("target", pa.string()), ("reason", pa.string()), ("evidence", pa.list_(pa.string())),
    ("vendors", pa.list_(pa.string())), ("detected_at", _TS),
])


STORY_SCHEMA = pa.schema([
    ("story_id", pa.string()), ("actor", pa.string()), ("target", pa.string()), ("action", pa.string()),
    ("family", pa.string()), ("reason", pa.string()), ("label", pa.string()), ("score", pa.float64()),
    ("headline", pa.string()), ("url", pa.string()), ("evidence", pa.string()), ("first_seen", _TS),
    ("last_seen", _TS), ("articles", pa.int32()), ("sources", pa.int32()), ("outlets", pa.int32()),
    ("updated_at", _TS),
])
STORY_ARTICLE_SCHEMA = pa.schema([
    ("article_id", pa.string()), ("story_id", pa.string()), ("host", pa.string()), ("seen_at", _TS),
    ("minhash", pa.list_(pa.uint64())), ("added_at", _TS),
])
ALERT_SCHEMA = pa.schema([
    ("alert_id", pa.string()), ("story_id", pa.string()), ("kind", pa.string()), ("article_id", pa.string()),
    ("status", pa.string()), ("next_attempt_at", _TS), ("created_at", _TS),
])


def _is_lock_error(e: Exception) -> bool:
    msg = str(e).lower()
    return "lock" in msg and ("conflict" in msg or "could not set" in msg)


class Store:
    """A DuckDB file. Cheap to construct; every method is one short connection."""

    def __init__(self, path: str | Path, lock_timeout: float = 30.0):
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self._migrated = False

    # ------------------------------------------------------------ connections
    @contextlib.contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection with the database as default catalog; waits out other processes' locks."""
        if not self._migrated:
            if read_only:
                self._check_schema()
            else:
                self._migrate()
        con = self._open(read_only)
        try:
            yield con
        finally:
            con.close()

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.02
        new_file = not self.path.exists()
        if new_file and read_only:
            raise StoreError(f"no database at {self.path} (run the flow first)")
        if new_file:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            con = duckdb.connect(":memory:")
            try:
                opts = ["READ_ONLY"] if read_only else ([f"STORAGE_VERSION '{STORAGE_VERSION}'"] if new_file else [])
                opt_sql = f" ({', '.join(opts)})" if opts else ""
                # ATTACH takes no prepared parameters: quote the path as an SQL literal
                path_sql = str(self.path).replace("'", "''")
                con.execute(f"ATTACH '{path_sql}' AS {CATALOG}{opt_sql}")
                con.execute(f"USE {CATALOG}")
                con.execute("SET TimeZone = 'UTC'")
                return con
            except duckdb.Error as e:
                con.close()
                if not _is_lock_error(e):
                    raise StoreError(f"cannot open {self.path}: {e}") from e
                if time.monotonic() >= deadline:
                    raise StoreBusyError(f"{self.path} is locked by another process "
                                         f"(waited {self.lock_timeout:g}s)") from e
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.5)

    def _check_schema(self) -> None:
        """Readers of a file written by an older accesswatch migrate it once (briefly writing)."""
        con = self._open(read_only=True)
        try:
            meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        except duckdb.Error:
            meta = {}
        finally:
            con.close()
        if int(meta.get("schema_version", 0)) < len(MIGRATIONS) or meta.get("views") != _VIEWS_HASH:
            self._migrate()
        self._migrated = True

    def _migrate(self) -> None:
        con = self._open(read_only=False)
        try:
            con.execute("CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
            row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > len(MIGRATIONS):
                raise StoreError(f"{self.path} has schema version {version}, newer than this "
                                 f"accesswatch ({len(MIGRATIONS)}); upgrade accesswatch")
            for i in range(version, len(MIGRATIONS)):
                con.execute("BEGIN")
                con.execute(MIGRATIONS[i])
                con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(i + 1)])
                con.execute("COMMIT")
                log.info("database %s migrated to schema version %d", self.path, i + 1)
            con.execute(VIEWS)
            con.execute("INSERT OR REPLACE INTO meta VALUES ('views', ?)", [_VIEWS_HASH])
        finally:
            con.close()
        self._migrated = True

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.connect() as con:
            con.execute("BEGIN")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def schema_version(self) -> int:
        with self.connect(read_only=True) as con:
            row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            return int(row[0]) if row else 0

    # ------------------------------------------------------------ feeds
    def sync_feeds(self, feeds: Sequence[FeedSpec], now: datetime) -> None:
        """Insert configured feeds that are new; update urls and tags of known ones."""
        tbl = pa.Table.from_pylist([{"name": f.name, "url": f.url, "tags": list(f.tags)} for f in feeds],
                                   schema=pa.schema([("name", pa.string()), ("url", pa.string()),
                                                     ("tags", pa.list_(pa.string()))]))
        with self.transaction() as con:
            con.register("incoming", tbl)
            con.execute("""
                INSERT INTO feeds (name, url, tags, first_seen_at)
                SELECT name, url, tags, ? FROM incoming
                ON CONFLICT (name) DO UPDATE SET url = excluded.url, tags = excluded.tags
            """, [now])

    def feed_states(self) -> dict[str, FeedState]:
        with self.connect() as con:
            rows = con.execute("SELECT name, etag, last_modified, consecutive_failures, next_poll_at FROM feeds").fetchall()
        return {r[0]: FeedState(name=r[0], etag=r[1], last_modified=r[2], consecutive_failures=r[3] or 0,
                                next_poll_at=_ts(r[4])) for r in rows}

    def record_feed_results(self, results: Iterable[FeedResult], next_poll: dict[str, datetime | None],
                            now: datetime) -> None:
        """Store the outcome of each poll. ``next_poll`` holds the backoff decided by the caller."""
        rows = []
        for r in results:
            if r.status == "skipped":
                continue
            rows.append({"name": r.feed, "status": r.status, "http_status": r.http_status,
                         "etag": r.etag, "last_modified": r.last_modified,
                         "error": r.error if r.status == "error" else (r.warning or None),
                         "failed": r.status == "error", "next_poll_at": next_poll.get(r.feed),
                         "n": len(r.entries)})
        if not rows:
            return
        tbl = pa.Table.from_pylist(rows, schema=pa.schema([
            ("name", pa.string()), ("status", pa.string()), ("http_status", pa.int32()), ("etag", pa.string()),
            ("last_modified", pa.string()), ("error", pa.string()), ("failed", pa.bool_()),
            ("next_poll_at", _TS), ("n", pa.int64())]))
        with self.transaction() as con:
            con.register("incoming", tbl)
            con.execute("""
                UPDATE feeds SET
                    last_polled_at = $now,
                    last_status = i.status,
                    last_http_status = i.http_status,
                    etag = CASE WHEN i.failed THEN feeds.etag ELSE i.etag END,
                    last_modified = CASE WHEN i.failed THEN feeds.last_modified ELSE i.last_modified END,
                    last_success_at = CASE WHEN i.failed THEN feeds.last_success_at ELSE $now END,
                    last_error = i.error,
                    consecutive_failures = CASE WHEN i.failed THEN feeds.consecutive_failures + 1 ELSE 0 END,
                    next_poll_at = i.next_poll_at,
                    entries_seen = feeds.entries_seen + i.n
                FROM incoming i WHERE feeds.name = i.name
            """, {"now": now})

    # ------------------------------------------------------------ dedupe
    def known(self, entries: Sequence[Entry]) -> tuple[set[str], set[str]]:
        """(urls, guids) among these entries that are already stored."""
        if not entries:
            return set(), set()
        urls = sorted({e.url for e in entries})
        guids = sorted({e.guid for e in entries})
        with self.connect() as con:
            known_urls = {r[0] for r in con.execute(
                "SELECT url FROM articles WHERE url IN (SELECT unnest($1::VARCHAR[]))", [urls]).fetchall()}
            known_guids = {r[0] for r in con.execute(
                "SELECT guid FROM entries WHERE guid IN (SELECT unnest($1::VARCHAR[]))", [guids]).fetchall()}
        return known_urls, known_guids

    # ------------------------------------------------------------ articles and detections
    def save_batch(self, articles: Sequence[Article], detections: Sequence[tuple[str, Detection]],
                   entries: Sequence[Entry], run_id: str, now: datetime) -> int:
        """Articles, their detections and their entry sightings in one short transaction.
        Returns the number of articles that were new."""
        art = pa.Table.from_pylist([{**_article_row(a), "run_id": run_id} for a in articles], schema=ARTICLE_SCHEMA)
        det = pa.Table.from_pylist([_detection_row(aid, d, now) for aid, d in detections], schema=DETECTION_SCHEMA)
        ent = pa.Table.from_pylist([{"guid": e.guid, "article_id": e.article_id, "feed": e.feed,
                                     "first_seen_at": now} for e in entries], schema=ENTRY_SCHEMA)
        with self.transaction() as con:
            con.register("new_articles", art)
            con.register("new_detections", det)
            con.register("new_entries", ent)
            before = con.execute("SELECT count(*) FROM articles").fetchone()[0]
            con.execute("INSERT INTO articles BY NAME SELECT * FROM new_articles ON CONFLICT DO NOTHING")
            added = con.execute("SELECT count(*) FROM articles").fetchone()[0] - before
            con.execute("INSERT INTO detections BY NAME SELECT * FROM new_detections ON CONFLICT DO NOTHING")
            con.execute("INSERT INTO entries BY NAME SELECT * FROM new_entries ON CONFLICT DO NOTHING")
        return int(added)

    def save_detections(self, detections: Sequence[tuple[str, Detection]], now: datetime) -> None:
        """Store (or replace) detections, e.g. after a re-detect with a new detector version."""
        det = pa.Table.from_pylist([_detection_row(aid, d, now) for aid, d in detections], schema=DETECTION_SCHEMA)
        with self.transaction() as con:
            con.register("new_detections", det)
            con.execute("INSERT OR REPLACE INTO detections BY NAME SELECT * FROM new_detections")

    def iter_articles(self, batch_size: int = 500) -> Iterator[list[tuple[str, str | None, str | None]]]:
        """(article_id, title, text) in batches, for re-detection."""
        offset = 0
        while True:
            with self.connect(read_only=True) as con:
                rows = con.execute("SELECT article_id, title, text FROM articles ORDER BY article_id "
                                   "LIMIT ? OFFSET ?", [batch_size, offset]).fetchall()
            if not rows:
                return
            yield rows
            offset += len(rows)

    # ------------------------------------------------------------ stories
    def story_candidates(self, since: datetime, labels: Sequence[str]) -> list[dict[str, Any]]:
        """Detected disputes fetched since ``since`` that are in no story yet (so a run that
        died before grouping is caught up by the next one), with their text and evidence."""
        cols, rows = self.query("""
            SELECT a.article_id, a.url, a.title, a.site, coalesce(a.published, a.fetched_at) AS seen_at, d.actor,
                   d.target, d.action, d.reason, d.label, d.score, d.evidence, a.text
            FROM articles a JOIN latest_detections d USING (article_id)
            WHERE a.fetched_at >= ? AND d.label IN (SELECT unnest(?::VARCHAR[]))
              AND a.article_id NOT IN (SELECT article_id FROM story_articles)
        """, [since, list(labels)])
        return [dict(zip(cols, r, strict=True)) for r in rows]

    def open_stories(self, since: datetime) -> list[Story]:
        """Stories whose last article is newer than ``since``, with their articles."""
        with self.connect(read_only=True) as con:
            srows = con.execute("""SELECT story_id, actor, target, action, family, reason, label, score, headline,
                                          url, evidence, first_seen, last_seen FROM stories WHERE last_seen >= ?""",
                                [since]).fetchall()
            arows = con.execute("""
                SELECT sa.story_id, sa.article_id, a.url, a.title, sa.host, sa.seen_at, d.actor, d.target, d.action,
                       d.reason, d.label, d.score, d.evidence[1], sa.minhash
                FROM story_articles sa JOIN articles a USING (article_id)
                LEFT JOIN latest_detections d USING (article_id)
                WHERE sa.story_id IN (SELECT story_id FROM stories WHERE last_seen >= ?)""", [since]).fetchall()
        arts: dict[str, list[StoryArticle]] = {}
        for r in arows:
            arts.setdefault(r[0], []).append(StoryArticle(
                article_id=r[1], url=r[2], title=r[3], host=r[4], seen_at=_ts(r[5]), actor=r[6], target=r[7],
                action=r[8], reason=r[9], label=r[10] or "positive", score=r[11] or 0.0, evidence=r[12],
                minhash=tuple(r[13]) if r[13] else None))
        return [Story(story_id=r[0], actor=r[1], target=r[2], action=r[3], family=r[4], reason=r[5], label=r[6],
                      score=r[7], headline=r[8], url=r[9], evidence=r[10], first_seen=_ts(r[11]),
                      last_seen=_ts(r[12]), articles=tuple(arts.get(r[0], ()))) for r in srows]

    def alerted_stories(self, story_ids: Sequence[str]) -> set[str]:
        if not story_ids:
            return set()
        with self.connect(read_only=True) as con:
            return {r[0] for r in con.execute(
                "SELECT story_id FROM alerts WHERE kind = 'story' AND story_id IN (SELECT unnest($1::VARCHAR[]))",
                [list(story_ids)]).fetchall()}

    def save_stories(self, changes: Sequence[StoryChange], alerts: Sequence[PlannedAlert], now: datetime) -> None:
        """Stories, their new articles and their pending alerts in one transaction."""
        if not changes:
            return
        srows = [{"story_id": c.story.story_id, "actor": c.story.actor, "target": c.story.target,
                  "action": c.story.action, "family": c.story.family, "reason": c.story.reason,
                  "label": c.story.label, "score": c.story.score, "headline": c.story.headline, "url": c.story.url,
                  "evidence": c.story.evidence, "first_seen": c.story.first_seen, "last_seen": c.story.last_seen,
                  "articles": len(c.story.articles), "sources": c.story.sources, "outlets": c.story.outlets,
                  "updated_at": now} for c in changes]
        arows = [{"article_id": a.article_id, "story_id": c.story.story_id, "host": a.host, "seen_at": a.seen_at,
                  "minhash": list(a.minhash) if a.minhash else None, "added_at": now}
                 for c in changes for a in c.added]
        alrows = [{"alert_id": a.alert_id, "story_id": a.story_id, "kind": a.kind, "article_id": a.article_id,
                   "status": "pending", "next_attempt_at": now, "created_at": now} for a in alerts]
        st = pa.Table.from_pylist(srows, schema=STORY_SCHEMA)
        at = pa.Table.from_pylist(arows, schema=STORY_ARTICLE_SCHEMA)
        al = pa.Table.from_pylist(alrows, schema=ALERT_SCHEMA)
        with self.transaction() as con:
            con.register("new_stories", st)
            con.register("new_story_articles", at)
            con.register("new_alerts", al)
            con.execute("""
                INSERT INTO stories BY NAME SELECT * FROM new_stories
                ON CONFLICT (story_id) DO UPDATE SET actor = excluded.actor, target = excluded.target,
                    action = excluded.action, reason = excluded.reason, label = excluded.label,
                    score = excluded.score, headline = excluded.headline, url = excluded.url,
                    evidence = excluded.evidence, first_seen = excluded.first_seen, last_seen = excluded.last_seen,
                    articles = excluded.articles, sources = excluded.sources, outlets = excluded.outlets,
                    updated_at = excluded.updated_at""")
            con.execute("INSERT INTO story_articles BY NAME SELECT * FROM new_story_articles ON CONFLICT DO NOTHING")
            con.execute("INSERT INTO alerts BY NAME SELECT * FROM new_alerts ON CONFLICT DO NOTHING")

    def feed_health_rows(self) -> list[dict[str, Any]]:
        cols, rows = self.query("SELECT * FROM feed_health")
        return [dict(zip(cols, r, strict=True)) for r in rows]

    def save_notices(self, notices: Sequence[Notice], now: datetime) -> None:
        """New notice states and their pending alerts, in one transaction."""
        if not notices:
            return
        with self.transaction() as con:
            for n in notices:
                con.execute("UPDATE feeds SET notice_state = ? WHERE name = ?", [n.state, n.feed])
                con.execute("""INSERT INTO alerts (alert_id, kind, status, next_attempt_at, created_at, payload)
                               VALUES (?, 'notice', 'pending', ?, ?, ?) ON CONFLICT DO NOTHING""",
                            [f"notice:{n.feed}:{n.state}:{now.isoformat()}", now, now, n.text])

    def queue_digest(self, now: datetime, hour_utc: int) -> bool:
        """Queue today's digest once (after ``hour_utc``), covering the last 24 hours."""
        from .stories import digest_text, due_digest

        _, rows = self.query("SELECT max(alert_id) FROM alerts WHERE kind = 'digest'")
        last = rows[0][0].removeprefix("digest:") if rows and rows[0][0] else None
        day = due_digest(now, hour_utc, last)
        if day is None:
            return False
        cols, srows = self.query("SELECT actor, target, action, sources, score, headline, url FROM stories "
                                 "WHERE last_seen >= ? AND label = 'positive'", [now - timedelta(days=1)])
        text = digest_text([dict(zip(cols, r, strict=True)) for r in srows], day)
        with self.transaction() as con:
            con.execute("""INSERT INTO alerts (alert_id, kind, status, next_attempt_at, created_at, payload)
                           VALUES (?, 'digest', ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
                        [f"digest:{day}", "pending" if text else "sent", now, now, text or "(no stories)"])
        return text is not None

    # ------------------------------------------------------------ the outbox
    def claim_alerts(self, now: datetime, max_attempts: int, stale_after: timedelta = timedelta(minutes=10),
                     ) -> list[dict[str, Any]]:
        """Atomically take every due alert for sending (status -> 'sending').

        Due: pending, or failed with next_attempt_at passed, or 'sending' claims older than
        ``stale_after`` (a run that crashed mid-send: marked uncertain, so the sender looks at
        the channel before posting again). DuckDB admits one writer at a time, so two runs
        cannot claim the same alert.
        """
        with self.transaction() as con:
            rows = con.execute("""
                UPDATE alerts SET
                    uncertain = uncertain OR status = 'sending',
                    status = 'sending', claimed_at = $now
                WHERE (status IN ('pending', 'failed') AND coalesce(next_attempt_at, $now) <= $now
                       AND attempts < $max)
                   OR (status = 'sending' AND claimed_at < $stale)
                RETURNING alert_id, story_id, kind, article_id, attempts, uncertain, created_at, payload
            """, {"now": now, "max": max_attempts, "stale": now - stale_after}).fetchall()
        cols = ["alert_id", "story_id", "kind", "article_id", "attempts", "uncertain", "created_at", "payload"]
        return sorted((dict(zip(cols, r, strict=True)) for r in rows), key=lambda r: (r["created_at"], r["alert_id"]))

    def release_alert(self, alert_id: str) -> None:
        """Give a claimed alert back untouched (e.g. a reply whose parent is not posted yet)."""
        with self.transaction() as con:
            con.execute("UPDATE alerts SET status = 'pending', claimed_at = NULL WHERE alert_id = ?", [alert_id])

    def mark_sent(self, alert_id: str, sink: str, channel: str | None, ts: str | None, via: str,
                  now: datetime) -> None:
        with self.transaction() as con:
            con.execute("""UPDATE alerts SET status = 'sent', sent_at = ?, sink = ?, slack_channel = ?, slack_ts = ?,
                           via = ?, attempts = attempts + 1, last_error = NULL, uncertain = false
                           WHERE alert_id = ?""", [now, sink, channel, ts, via, alert_id])
            con.execute("""UPDATE stories SET slack_channel = ?, slack_ts = ?
                           WHERE story_id = (SELECT story_id FROM alerts WHERE alert_id = ? AND kind = 'story')
                             AND ? IS NOT NULL""", [channel, ts, alert_id, ts])

    def mark_failed(self, alert_id: str, error: str, next_attempt_at: datetime | None, *, permanent: bool,
                    uncertain: bool) -> None:
        with self.transaction() as con:
            con.execute("""UPDATE alerts SET status = ?, attempts = attempts + 1, last_error = ?, next_attempt_at = ?,
                           uncertain = uncertain OR ?, claimed_at = NULL WHERE alert_id = ?""",
                        ["dead" if permanent else "failed", error[:500], next_attempt_at, uncertain, alert_id])

    def story_view(self, story_id: str) -> dict[str, Any] | None:
        cols, rows = self.query("SELECT * FROM stories WHERE story_id = ?", [story_id])
        return dict(zip(cols, rows[0], strict=True)) if rows else None

    def article_view(self, article_id: str) -> dict[str, Any] | None:
        cols, rows = self.query("""SELECT a.article_id, a.url, a.title, a.site, a.feed, d.evidence[1] AS evidence,
                                          d.score FROM articles a LEFT JOIN latest_detections d USING (article_id)
                                   WHERE article_id = ?""", [article_id])
        return dict(zip(cols, rows[0], strict=True)) if rows else None

    def alert_summary(self) -> tuple[list[str], list[tuple[Any, ...]]]:
        return self.query("""SELECT a.status, a.kind, a.attempts, a.last_error, a.next_attempt_at, s.headline
                             FROM alerts a LEFT JOIN stories s USING (story_id)
                             WHERE a.status IN ('pending', 'failed', 'dead', 'sending')
                             ORDER BY a.status, a.created_at""")

    # ------------------------------------------------------------ runs
    def close_interrupted_runs(self, now: datetime) -> int:
        """Runs left 'running' by a process that died (only called under the run lock, so no
        other run can be working): mark them failed."""
        with self.transaction() as con:
            rows = con.execute("""UPDATE runs SET status = 'failed', finished_at = ?,
                                  summary = coalesce(summary, 'interrupted: the process ended before the run finished')
                                  WHERE status = 'running' RETURNING run_id""", [now]).fetchall()
        return len(rows)

    def start_run(self, run_id: str, flow_run_id: str | None, now: datetime) -> None:
        with self.transaction() as con:
            con.execute("INSERT INTO runs (run_id, flow_run_id, started_at, status) VALUES (?, ?, ?, 'running') "
                        "ON CONFLICT DO NOTHING", [run_id, flow_run_id, now])

    def finish_run(self, run_id: str, counts: RunCounts, status: str, summary: str, now: datetime) -> None:
        c = asdict(counts)
        errors = c.pop("errors")
        cols = ", ".join(f"{k} = ${k}" for k in c)
        with self.transaction() as con:
            con.execute(f"UPDATE runs SET {cols}, errors = $errors, status = $status, summary = $summary, "
                        f"finished_at = $now WHERE run_id = $run_id",
                        {**c, "errors": errors[:200], "status": status, "summary": summary, "now": now,
                         "run_id": run_id})

    # ------------------------------------------------------------ reading
    def query(self, sql: str, params: Sequence[Any] | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run read-only SQL; returns (column names, rows)."""
        with self.connect(read_only=True) as con:
            cur = con.execute(sql, params or [])
            if cur.description is None:
                return [], []
            cols = [d[0] for d in cur.description]
            return cols, cur.fetchall()

    def counts(self) -> dict[str, int]:
        with self.connect(read_only=True) as con:
            return {t: int(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
                    for t in ("feeds", "articles", "entries", "detections", "runs")}

    def status(self, runs: int = 5) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
        """What `accesswatch status` shows: feeds, the last runs, the outbox."""
        return {
            "feeds": self.query("""SELECT name, last_status AS status, strftime(last_success_at, '%Y-%m-%d %H:%M')
                                       AS last_success, consecutive_failures AS failures, entries_seen AS seen,
                                       items_stored AS stored, typical_gap, strftime(last_item_at, '%Y-%m-%d %H:%M')
                                       AS last_item, left(last_error, 80) AS last_error
                                   FROM feed_health ORDER BY name"""),
            "runs": self.query("""SELECT strftime(started_at, '%Y-%m-%d %H:%M:%S') AS started, status, feeds_ok,
                                         feeds_failed, entries_new, articles_stored, disputes, stories_new,
                                         alerts_sent, alerts_failed,
                                         round(epoch(finished_at - started_at), 1) AS seconds
                                  FROM runs ORDER BY started_at DESC LIMIT ?""", [runs]),
            "alerts": self.query("""SELECT status, kind, count(*) AS alerts, max(attempts) AS max_attempts,
                                           min(next_attempt_at) AS next_attempt, any_value(last_error) AS last_error
                                    FROM alerts WHERE status <> 'sent' GROUP BY ALL ORDER BY status, kind"""),
        }

    # ------------------------------------------------------------ labels (user feedback)
    def save_label(self, article_id: str, label: str, actor: str | None, target: str | None,
                   action: str | None, note: str | None, now: datetime) -> None:
        with self.transaction() as con:
            if not con.execute("SELECT 1 FROM articles WHERE article_id = ?", [article_id]).fetchone():
                raise StoreError(f"no article with id {article_id!r} (see the article_id column of recent_disputes)")
            con.execute("INSERT OR REPLACE INTO labels VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [article_id, label, actor, target, action, note, now])

    def labelled_articles(self) -> list[dict[str, Any]]:
        """Labelled articles in the shape of the eval files (id, title, text, label, actor, target)."""
        cols, rows = self.query("""SELECT a.article_id AS id, a.title, a.text, l.label, l.actor, l.target, l.action,
                                          'user-label' AS kind, a.article_id AS event, 'db' AS split
                                   FROM labels l JOIN articles a USING (article_id) ORDER BY l.labelled_at""")
        return [dict(zip(cols, r, strict=True)) for r in rows]

    def export(self, out_dir: Path) -> dict[str, int]:
        """Every table as Parquet in ``out_dir`` (one file per table); returns rows per table."""
        out_dir.mkdir(parents=True, exist_ok=True)
        counts: dict[str, int] = {}
        with self.connect(read_only=True) as con:
            tables = [r[0] for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = ? ORDER BY 1", [CATALOG]).fetchall()]
            for t in tables:
                target = str(out_dir / f"{t}.parquet").replace("'", "''")
                con.execute(f'COPY "{t}" TO \'{target}\' (FORMAT parquet)')
                counts[t] = int(con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0])
        return counts

    def recent_stories(self, since: timedelta, vendor: str | None = None,
                       now: datetime | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Stories seen within ``since``, optionally naming ``vendor`` (actor or target)."""
        sql = ("SELECT strftime(last_seen, '%Y-%m-%d %H:%M') AS last_seen, actor, action, target, reason, score, "
               "articles, sources, outlets, alert, headline, url FROM recent_stories WHERE last_seen >= ?")
        params: list[Any] = [(now or datetime.now(UTC)) - since]
        if vendor:
            sql += " AND (lower(actor) = lower(?) OR lower(target) = lower(?))"
            params += [vendor, vendor]
        return self.query(sql, params)

    def demo_summary(self) -> tuple[int, tuple[list[str], list[tuple[Any, ...]]]]:
        """(dispute articles, stories table) for the end of `accesswatch demo`."""
        _, n = self.query("SELECT count(*) FROM recent_disputes")
        return int(n[0][0]), self.query(
            "SELECT actor || ' → ' || coalesce(target, '(class)') AS parties, action, articles, sources, headline "
            "FROM recent_stories")

    def article_count(self) -> int:
        with self.connect(read_only=True) as con:
            return int(con.execute("SELECT count(*) FROM articles").fetchone()[0])


def _article_row(a: Article) -> dict[str, Any]:
    row = {f: getattr(a, f) for f in Article.__slots__}  # type: ignore[attr-defined]
    row["published"] = _ts(a.published)
    row["fetched_at"] = _ts(a.fetched_at)
    return row


def _detection_row(article_id: str, d: Detection, now: datetime) -> dict[str, Any]:
    return {"article_id": article_id, "detector_version": d.detector_version, "is_dispute": d.is_dispute,
            "label": d.label, "score": d.score, "action": d.action, "actor": d.actor, "target": d.target,
            "reason": d.reason, "evidence": list(d.evidence), "vendors": list(d.vendors), "detected_at": now}
