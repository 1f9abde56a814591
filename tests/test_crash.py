"""Crashes and concurrency: SIGKILL in the middle of storing, then run again; two runs at
once. The database opens, nothing is stored twice, no alert is lost or sent twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from accesswatch.alerts import deliver
from accesswatch.config import AlertSettings
from accesswatch.store import Store

from .slack_fake import SlackServer
from .test_alerts import NOW, TOKEN, bot

ROOT = Path(__file__).resolve().parent.parent
N = 80

# The flow's store path without Prefect: articles saved in batches (each batch one
# transaction, as the flow's store task does), then stories grouped and alerts queued.
_DRIVER = """
import sys, time
sys.path.insert(0, sys.argv[2])
from datetime import timedelta
from accesswatch.config import AlertSettings
from accesswatch.store import Store
from accesswatch.stories import update_stories
from tests.test_alerts import NOW, add
store = Store(sys.argv[1])
known = store.counts()["articles"] if store.path.exists() else 0
for i in range(int(sys.argv[3])):
    # 20 events, 4 articles each; a rerun skips what is stored, as the flow's dedupe does
    if i < known:
        continue
    add(store, i, f"Site{i % 10}", f"Vendor{i % 20} cuts off Startup{i % 20}",
        actor="Anthropic", target=f"Target{i % 20}", when=NOW + timedelta(minutes=i))
    print(i, flush=True)
update_stories(store, AlertSettings(), NOW + timedelta(days=1))
print("done", flush=True)
"""


def _run(db: Path, stop_after: int | None = None) -> subprocess.Popen[str]:
    p = subprocess.Popen([sys.executable, "-c", _DRIVER, str(db), str(ROOT), str(N)], stdout=subprocess.PIPE,
                         text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if stop_after is not None:
        assert p.stdout is not None
        for line in p.stdout:
            if line.strip().isdigit() and int(line) >= stop_after:
                break
        p.send_signal(signal.SIGKILL)
    return p


def test_sigkill_mid_storing_then_rerun_is_whole_and_single(tmp_path: Path) -> None:
    db = tmp_path / "aw.duckdb"
    killed = _run(db, stop_after=30)
    killed.wait(timeout=60)
    assert killed.returncode == -signal.SIGKILL
    before = Store(db).counts()["articles"]  # the file opens after a kill
    assert 25 <= before < N
    again = _run(db)
    out, _ = again.communicate(timeout=240)
    assert again.returncode == 0 and "done" in out
    store = Store(db)
    _, rows = store.query("SELECT count(*), count(DISTINCT url) FROM articles")
    assert rows[0] == (N, N)
    _, rows = store.query("SELECT count(*), count(DISTINCT article_id) FROM story_articles")
    assert rows[0] == (N, N)
    _, rows = store.query("SELECT count(*), count(DISTINCT story_id) FROM alerts WHERE kind = 'story'")
    assert rows[0] == (20, 20)


def test_kill_during_delivery_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    db = tmp_path / "aw.duckdb"
    done = _run(db)
    assert done.wait(timeout=240) == 0
    settings = AlertSettings(max_messages_per_run=100)
    with SlackServer() as slack:
        # a delivery process killed part-way (Slack answers slowly, so it is mid-send)
        script = (f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
                  "from accesswatch.alerts import SlackBotSink, deliver\n"
                  "from accesswatch.config import AlertSettings\n"
                  "from accesswatch.store import Store\n"
                  "from datetime import timedelta\n"
                  "from tests.test_alerts import NOW\n"
                  f"deliver(Store({str(db)!r}), SlackBotSink({TOKEN!r}, '#a', {slack.base_url!r}, timeout=5), "
                  "AlertSettings(max_messages_per_run=100), NOW + timedelta(days=2))\n")
        slack.fail_next("chat.postMessage", "timeout", times=20, seconds=0.3)
        p = subprocess.Popen([sys.executable, "-c", script])
        deadline = time.time() + 60
        while len(slack.messages) < 5 and time.time() < deadline:
            time.sleep(0.05)
        p.send_signal(signal.SIGKILL)
        p.wait()
        posted = len(slack.parents())
        assert 5 <= posted < 20
        # the next runs: stale claims are retaken as uncertain and found in the channel
        deliver(Store(db), bot(slack), settings, NOW + timedelta(days=2, minutes=30))
        deliver(Store(db), bot(slack), settings, NOW + timedelta(days=3))
        ids = [m["metadata"]["event_payload"]["story_id"] for m in slack.parents()]
        assert len(ids) == len(set(ids)) == 20  # every story exactly once
    _, rows = Store(db).query("SELECT status, count(*) FROM alerts GROUP BY ALL")
    assert rows == [("sent", 20)]
