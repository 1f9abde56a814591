"""The CLI on a real DuckDB file: query formats, stories, export, label + eval --from-db,
redetect, status, help texts; and ad hoc reads from another process while a run writes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from accesswatch.cli import app
from accesswatch.config import AlertSettings
from accesswatch.store import Store
from accesswatch.stories import update_stories

from .conftest import CONFIG_DIR
from .test_alerts import NOW, add

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "aw.duckdb"
    store = Store(path)
    add(store, 1, "Wire", "Anthropic cuts off OpenAI's access to Claude")
    add(store, 2, "Blog", "Why Anthropic pulled the plug on OpenAI")
    add(store, 3, "Wire", "Google suspends xAI's Gemini API account", actor="Google", target="xAI")
    update_stories(store, AlertSettings(), NOW)
    return path


def cli(*args: str) -> str:
    res = runner.invoke(app, [*args, "--config", str(CONFIG_DIR)])
    assert res.exit_code == 0, res.output
    return res.output


def test_every_command_has_help_with_an_example() -> None:
    for cmd in ("run", "serve", "demo", "query", "stories", "export", "label", "redetect", "status", "detect", "eval"):
        res = runner.invoke(app, [cmd, "--help"])
        assert res.exit_code == 0 and "Example:" in res.output, cmd


def test_query_formats(db: Path, tmp_path: Path) -> None:
    sql = "SELECT actor, target FROM stories ORDER BY actor"
    assert cli("query", sql, "--db", str(db), "-f", "csv").splitlines() == ["actor,target", "Anthropic,OpenAI",
                                                                              "Google,xAI"]
    rows = [json.loads(x) for x in cli("query", sql, "--db", str(db), "-f", "json").splitlines()]
    assert rows == [{"actor": "Anthropic", "target": "OpenAI"}, {"actor": "Google", "target": "xAI"}]
    out = tmp_path / "q.parquet"
    cli("query", sql, "--db", str(db), "-f", "parquet", "-o", str(out))
    assert pq.read_table(out).to_pylist() == rows


def test_stories_filters(db: Path) -> None:
    out = cli("stories", "--db", str(db), "--since", "3650d", "--vendor", "xai", "-f", "json")
    [row] = [json.loads(x) for x in out.splitlines()]
    assert (row["actor"], row["target"], row["articles"]) == ("Google", "xAI", 1)
    two = [json.loads(x) for x in cli("stories", "--db", str(db), "--since", "3650d", "-f", "json").splitlines()]
    assert sorted(r["articles"] for r in two) == [1, 2]
    assert runner.invoke(app, ["stories", "--db", str(db), "--since", "soon"]).exit_code != 0


def test_export_writes_parquet_per_table(db: Path, tmp_path: Path) -> None:
    cli("export", str(tmp_path / "x"), "--db", str(db))
    assert pq.read_table(tmp_path / "x" / "articles.parquet").num_rows == 3
    assert pq.read_table(tmp_path / "x" / "stories.parquet").num_rows == 2
    assert (tmp_path / "x" / "alerts.parquet").exists()


def test_label_then_eval_from_db(db: Path) -> None:
    ids = [json.loads(x)["article_id"] for x in cli("query", "SELECT article_id FROM articles ORDER BY url",
                                                    "--db", str(db), "-f", "json").splitlines()]
    cli("label", ids[0], "positive", "--actor", "Anthropic", "--target", "OpenAI", "--db", str(db))
    cli("label", ids[1], "negative", "--note", "an outage", "--db", str(db))
    bad = runner.invoke(app, ["label", "nope", "negative", "--db", str(db), "--config", str(CONFIG_DIR)])
    assert bad.exit_code == 2 and "no article" in bad.output
    rep = json.loads(cli("eval", "--from-db", "--db", str(db), "--json"))
    assert rep["n"] == 2 and rep["tp"] + rep["fn"] == 1 and rep["fp"] + rep["tn"] == 1


def test_redetect_stores_current_version(db: Path) -> None:
    from accesswatch.detect import DETECTOR_VERSION

    out = runner.invoke(app, ["redetect", "--db", str(db), "--config", str(CONFIG_DIR)])
    assert out.exit_code == 0 and "3 articles re-detected" in out.output
    _, rows = Store(db).query("SELECT count(*) FROM detections WHERE detector_version = ?", [DETECTOR_VERSION])
    assert rows[0][0] == 3


def test_status_shows_feeds_runs_and_outbox(db: Path) -> None:
    out = cli("status", "--db", str(db))
    assert "feeds" in out and "runs" in out and "alerts" in out and "pending" in out


_WRITER = """
import sys, time
from datetime import datetime, timedelta, UTC
sys.path.insert(0, sys.argv[2])
from tests.test_alerts import add
from accesswatch.store import Store
store = Store(sys.argv[1], lock_timeout=30)
end = time.time() + float(sys.argv[3])
n = 100
while time.time() < end:
    add(store, n, "Writer", f"Anthropic cuts off Startup{n}", target="OpenAI")
    n += 1
print(n - 100, flush=True)
"""


def test_reads_from_another_process_while_a_run_writes(db: Path) -> None:
    root = str(Path(__file__).resolve().parent.parent)
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(db), root, "4"], stdout=subprocess.PIPE, text=True)
    answers = 0
    started = time.time()
    while writer.poll() is None and time.time() - started < 30:
        res = subprocess.run([sys.executable, "-m", "accesswatch.cli", "query", "SELECT count(*) FROM articles",
                              "--db", str(db), "-f", "csv", "--config", str(CONFIG_DIR)],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        answers += 1
    out, _ = writer.communicate(timeout=60)
    assert writer.returncode == 0 and int(out) > 3  # the writer was never broken by the readers
    assert answers >= 2
    assert Store(db).counts()["articles"] == 3 + int(out)
