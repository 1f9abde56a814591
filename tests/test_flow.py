"""The real monitor flow, end to end, on Prefect's local ephemeral API, over the bundled
sample news site served on 127.0.0.1, into a real DuckDB file."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from accesswatch import demo
from accesswatch.cli import app
from accesswatch.store import Store

from .conftest import CONFIG_DIR

pytestmark = pytest.mark.flow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory, prefect_harness: None):
    from flows.monitor import monitor

    tmp = tmp_path_factory.mktemp("flow")
    db = tmp / "demo.duckdb"
    with demo.serve_site(port=None) as base:
        cfg = demo.write_demo_config(CONFIG_DIR, tmp / "config", base)
        port = base.rsplit(":", 1)[1]
        os.environ["ACCESSWATCH_HTTP_ALLOWED_PRIVATE_HOSTS"] = json.dumps([f"127.0.0.1:{port}"])
        try:
            first = monitor(config_dir=str(cfg), db_path=str(db))
            second = monitor(config_dir=str(cfg), db_path=str(db))
        finally:
            del os.environ["ACCESSWATCH_HTTP_ALLOWED_PRIVATE_HOSTS"]
    return db, first, second


def test_first_run_stores_every_article_with_text(demo_run) -> None:
    db, first, _ = demo_run
    store = Store(db)
    expected = demo.manifest()
    _, rows = store.query("SELECT count(*), count(*) FILTER (WHERE extraction = 'trafilatura'), "
                          "count(*) FILTER (WHERE extraction = 'summary'), count(DISTINCT content_hash) FROM articles")
    total, extracted, fallback, hashes = rows[0]
    assert total == len(expected) >= 40
    assert fallback >= 1  # the paywalled page falls back to its feed summary
    assert extracted == total - fallback
    assert first["articles_stored"] == total and first["status"] == "completed"
    # the 404 feed and the broken feed are recorded; the run still completed
    _, feeds = store.query("SELECT name, last_status, consecutive_failures, last_error FROM feeds ORDER BY name")
    by_name = {r[0]: r for r in feeds}
    assert by_name["Gone Gazette"][1] == "error" and "404" in by_name["Gone Gazette"][3]
    assert by_name["TechWire"][1] in ("ok", "not_modified") and by_name["TechWire"][2] == 0
    _, run_rows = store.query("SELECT status, feeds_failed, articles_stored FROM runs ORDER BY started_at")
    assert run_rows[0][0] == "completed" and run_rows[0][1] >= 1


def test_second_run_adds_nothing_and_uses_304(demo_run) -> None:
    db, _, second = demo_run
    assert second["articles_stored"] == 0 and second["entries_new"] == 0
    assert second["feeds_not_modified"] >= 4
    _, rows = Store(db).query("SELECT count(*) FROM runs WHERE status = 'completed'")
    assert rows[0][0] == 2


def test_disputes_come_from_the_detector_and_match_the_site(demo_run) -> None:
    db, _, _ = demo_run
    store = Store(db)
    truth = {m["path"]: m for m in demo.manifest()}
    _, rows = store.query("SELECT a.url, d.is_dispute, d.actor, d.target FROM articles a "
                          "JOIN latest_detections d USING (article_id)")
    assert len(rows) == len(truth)
    tp = fp = fn = 0
    for url, is_dispute, _actor, _target in rows:
        path = url.split("/", 3)[3].split("?")[0]
        expected = truth[path]["is_dispute"]
        tp += is_dispute and expected
        fp += is_dispute and not expected
        fn += expected and not is_dispute
    assert tp >= 0.8 * sum(m["is_dispute"] for m in truth.values())
    assert fp <= 1


def test_cli_reads_the_run(demo_run) -> None:
    db, _, _ = demo_run
    runner = CliRunner()
    res = runner.invoke(app, ["query", "--db", str(db), "--format", "json",
                              "SELECT actor, target, action FROM recent_disputes"])
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in res.output.splitlines()]
    assert lines and all(set(x) == {"actor", "target", "action"} for x in lines)
    res = runner.invoke(app, ["status", "--db", str(db), "--config", str(CONFIG_DIR), "--format", "json"])
    assert res.exit_code == 0 and '"name": "TechWire"' in res.output
    res = runner.invoke(app, ["query", "--db", str(db), "DELETE FROM articles"])
    assert res.exit_code == 2 and "read-only" in res.output.lower()
    assert Store(db).counts()["articles"] > 0


def test_demo_site_to_slack_one_parent_per_story_and_rerun_sends_nothing(tmp_path, prefect_harness) -> None:
    from flows.monitor import monitor

    from .slack_fake import SlackServer

    db = tmp_path / "slack.duckdb"
    with SlackServer() as slack, demo.serve_site(port=None) as base:
        cfg = demo.write_demo_config(CONFIG_DIR, tmp_path / "config", base)
        env = {"ACCESSWATCH_HTTP_ALLOWED_PRIVATE_HOSTS": json.dumps([f"127.0.0.1:{base.rsplit(':', 1)[1]}"]),
               "SLACK_BOT_TOKEN": "xoxb-flow-test", "ACCESSWATCH_SLACK_BASE_URL": slack.base_url}
        os.environ.update(env)
        try:
            first = monitor(config_dir=str(cfg), db_path=str(db))
            posted = len(slack.calls("chat.postMessage"))
            second = monitor(config_dir=str(cfg), db_path=str(db))
        finally:
            for k in env:
                del os.environ[k]
    _, rows = Store(db).query("SELECT count(*), sum(articles) FROM stories")
    stories, articles = rows[0]
    assert first["stories_new"] == stories >= 5 and articles > stories  # several outlets, one story
    assert len(slack.parents()) == stories and slack.replies() == []
    assert {m["metadata"]["event_payload"]["story_id"] for m in slack.parents()} == set(
        r[0] for r in Store(db).query("SELECT story_id FROM stories")[1])
    assert second["alerts_sent"] == 0 and len(slack.calls("chat.postMessage")) == posted


def test_a_run_that_finds_another_working_is_skipped(tmp_path, prefect_harness) -> None:
    import subprocess
    import sys

    from flows.monitor import monitor

    from .test_health import _HOLD

    db = tmp_path / "aw.duckdb"
    cfg = demo.write_demo_config(CONFIG_DIR, tmp_path / "config", "http://127.0.0.1:9")
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(db), "20"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = monitor(config_dir=str(cfg), db_path=str(db))
    finally:
        holder.kill()
        holder.wait()
    assert result["status"] == "skipped" and "another monitor run" in result["summary"]
    _, rows = Store(db).query("SELECT status FROM runs")
    assert rows == [("skipped",)]
