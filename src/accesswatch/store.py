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
import logging
import random
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from .errors import StoreBusyError, StoreError
from .models import Article, Detection, Entry, FeedResult, FeedSpec, FeedState, RunCounts

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

CREATE OR REPLACE VIEW feed_health AS
    SELECT name, last_status, last_success_at, consecutive_failures, last_error, next_poll_at,
           entries_seen, url
    FROM feeds ORDER BY consecutive_failures DESC, name;
"""


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
        if not read_only and not self._migrated:
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

    def record_sightings(self, entries: Sequence[Entry], now: datetime) -> int:
        """Remember every (guid -> article) seen, so a guid is never processed twice."""
        if not entries:
            return 0
        tbl = pa.Table.from_pylist([{"guid": e.guid, "article_id": e.article_id, "feed": e.feed,
                                     "first_seen_at": now} for e in entries], schema=ENTRY_SCHEMA)
        with self.transaction() as con:
            con.register("incoming", tbl)
            before = con.execute("SELECT count(*) FROM entries").fetchone()[0]
            con.execute("INSERT INTO entries BY NAME SELECT * FROM incoming ON CONFLICT DO NOTHING")
            return con.execute("SELECT count(*) FROM entries").fetchone()[0] - before

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

    # ------------------------------------------------------------ runs
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

    def query_arrow(self, sql: str) -> pa.Table:
        with self.connect(read_only=True) as con:
            return con.execute(sql).fetch_arrow_table()

    def counts(self) -> dict[str, int]:
        with self.connect(read_only=True) as con:
            return {t: int(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
                    for t in ("feeds", "articles", "entries", "detections", "runs")}

    def status(self, runs: int = 5) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
        return {
            "feeds": self.query("SELECT name, last_status, last_success_at, consecutive_failures, "
                                "entries_seen, next_poll_at, last_error FROM feeds ORDER BY name"),
            "runs": self.query("SELECT started_at, status, feeds_ok, feeds_failed, entries_new, "
                               "articles_stored, disputes, round(epoch(finished_at - started_at), 1) AS seconds "
                               "FROM runs ORDER BY started_at DESC LIMIT ?", [runs]),
        }


def _article_row(a: Article) -> dict[str, Any]:
    row = {f: getattr(a, f) for f in Article.__slots__}  # type: ignore[attr-defined]
    row["published"] = _ts(a.published)
    row["fetched_at"] = _ts(a.fetched_at)
    return row


def _detection_row(article_id: str, d: Detection, now: datetime) -> dict[str, Any]:
    return {"article_id": article_id, "detector_version": d.detector_version, "is_dispute": d.is_dispute,
            "label": d.label, "score": d.score, "action": d.action, "actor": d.actor, "target": d.target,
            "reason": d.reason, "evidence": list(d.evidence), "vendors": list(d.vendors), "detected_at": now}
