"""The DuckDB store on a real file: schema, idempotent writes, locks across processes."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from accesswatch.errors import StoreBusyError
from accesswatch.models import Article, Detection, Entry, FeedResult, FeedSpec, article_id_for
from accesswatch.store import MIGRATIONS, Store

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


def _article(url: str, text: str = "Body text") -> tuple[Article, Entry]:
    e = Entry(feed="f", guid=url, url=url, title="T", summary="S", published=NOW, author=None)
    a = Article(article_id=article_id_for(url), url=url, guid=url, feed="f", title="T", text=text, summary="S",
                published=NOW, author="A", site="Site", language="en", extraction="trafilatura",
                content_hash="h", fetch_status=200, fetch_error=None, fetched_at=NOW)
    return a, e


def test_schema_created_versioned_and_idempotent(tmp_path: Path) -> None:
    store = Store(tmp_path / "db" / "aw.duckdb")
    store.sync_feeds([FeedSpec("f", "https://x/f")], NOW)
    assert store.schema_version() == len(MIGRATIONS)
    pairs = [_article(f"https://x/a{i}") for i in range(300)]
    dets = [(a.article_id, Detection(i % 3 == 0, "positive" if i % 3 == 0 else "negative", 0.9,
                                     actor="Anthropic", target="OpenAI", evidence=("s",), detector_version="t"))
            for i, (a, _) in enumerate(pairs)]
    added = store.save_batch([a for a, _ in pairs], dets, [e for _, e in pairs], "run1", NOW)
    again = store.save_batch([a for a, _ in pairs], dets, [e for _, e in pairs], "run2", NOW)
    assert (added, again) == (300, 0)
    counts = store.counts()
    assert counts["articles"] == 300 and counts["detections"] == 300 and counts["entries"] == 300
    cols, rows = store.query("SELECT count(*) FROM recent_disputes")
    assert rows[0][0] == 100
    # reopening migrates nothing and keeps the data
    assert Store(tmp_path / "db" / "aw.duckdb").counts()["articles"] == 300


def test_feed_results_recorded(tmp_path: Path) -> None:
    store = Store(tmp_path / "aw.duckdb")
    store.sync_feeds([FeedSpec("ok", "https://x/1"), FeedSpec("bad", "https://x/2")], NOW)
    results = [FeedResult("ok", "https://x/1", "ok", 200, etag='"e"', last_modified="lm"),
               FeedResult("bad", "https://x/2", "error", 503, error="HTTP 503", transient=True)]
    store.record_feed_results(results, {"ok": None, "bad": NOW}, NOW)
    store.record_feed_results(results[1:], {"bad": NOW}, NOW)
    states = store.feed_states()
    assert states["ok"].etag == '"e"' and states["ok"].consecutive_failures == 0
    assert states["bad"].consecutive_failures == 2 and states["bad"].next_poll_at == NOW
    store.record_feed_results([FeedResult("bad", "https://x/2", "ok", 200)], {"bad": None}, NOW)
    assert store.feed_states()["bad"].consecutive_failures == 0


def test_file_readable_by_older_duckdb_storage(tmp_path: Path) -> None:
    store = Store(tmp_path / "aw.duckdb")
    store.sync_feeds([FeedSpec("f", "https://x/f")], NOW)
    con = duckdb.connect()
    con.execute(f"ATTACH '{tmp_path / 'aw.duckdb'}' AS x (READ_ONLY)")
    tags = dict(con.execute("SELECT database_name, tags FROM duckdb_databases()").fetchall())
    assert tags["x"]["storage_version"].startswith("v1.5.0")


_HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("CREATE TABLE IF NOT EXISTS hold (x INT)")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def test_waits_for_another_process_lock_then_proceeds(tmp_path: Path) -> None:
    path = tmp_path / "aw.duckdb"
    Store(path).sync_feeds([FeedSpec("f", "https://x/f")], NOW)
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path), "1.5"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(StoreBusyError):
            Store(path, lock_timeout=0.3).counts()
        started = time.perf_counter()
        assert Store(path, lock_timeout=20).counts()["feeds"] == 1  # waits for the holder to let go
        assert time.perf_counter() - started > 0.5
    finally:
        holder.wait(timeout=20)


def test_interrupted_runs_are_closed(tmp_path: Path) -> None:
    from accesswatch.models import RunCounts

    store = Store(tmp_path / "aw.duckdb")
    store.start_run("dead", None, NOW)
    store.start_run("done", None, NOW)
    store.finish_run("done", RunCounts(), "completed", "ok", NOW)
    assert store.close_interrupted_runs(NOW) == 1
    assert dict(store.query("SELECT run_id, status FROM runs")[1]) == {"dead": "failed", "done": "completed"}
