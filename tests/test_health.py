"""Feed health notices (pure) and the one-run-at-a-time lock (real processes)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from accesswatch.health import plan_notices
from accesswatch.runlock import exclusive_run

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


def row(**kw: object) -> dict[str, object]:
    base = {"name": "Feed", "consecutive_failures": 0, "last_error": None, "notice_state": "ok",
            "typical_gap": timedelta(hours=6), "last_item_at": NOW - timedelta(hours=3), "items_stored": 20}
    return {**base, **kw}


def plan(rows: list[dict[str, object]]) -> list[tuple[str, str]]:
    return [(n.feed, n.state) for n in plan_notices(rows, NOW, 3, 4, timedelta(hours=48))]


def test_one_notice_when_failing_one_when_recovered() -> None:
    assert plan([row(consecutive_failures=2)]) == []
    assert plan([row(consecutive_failures=3, last_error="HTTP 503")]) == [("Feed", "failing")]
    assert plan([row(consecutive_failures=7, notice_state="failing")]) == []  # not once per run
    assert plan([row(consecutive_failures=0, notice_state="failing")]) == [("Feed", "ok")]
    assert plan([row()]) == []


def test_quiet_feed_is_noticed_once() -> None:
    quiet = row(last_item_at=NOW - timedelta(days=5))
    assert plan([quiet]) == [("Feed", "quiet")]
    assert plan([{**quiet, "notice_state": "quiet"}]) == []
    assert plan([row(notice_state="quiet")]) == [("Feed", "ok")]
    # a feed that posts weekly is not quiet after five days
    assert plan([row(typical_gap=timedelta(days=7), last_item_at=NOW - timedelta(days=5))]) == []


_HOLD = """
import sys, time
from pathlib import Path
from accesswatch.runlock import exclusive_run
with exclusive_run(Path(sys.argv[1])) as holder:
    assert holder is None
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_second_run_is_refused_while_first_holds_the_lock(tmp_path: Path) -> None:
    db = tmp_path / "aw.duckdb"
    p = subprocess.Popen([sys.executable, "-c", _HOLD, str(db), "3"], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "held"
        with exclusive_run(db) as holder:
            assert holder is not None and "pid" in holder
        with exclusive_run(db, wait_seconds=10) as holder:  # waits for the first to finish
            assert holder is None
    finally:
        p.wait(timeout=20)
    p.kill() if p.poll() is None else None
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(db), "30"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    proc.kill()  # a killed holder never leaves the lock behind
    proc.wait()
    with exclusive_run(db) as holder:
        assert holder is None
