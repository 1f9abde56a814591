"""`accesswatch.serve.serve` end to end: a real local Prefect server, scheduled runs every 6 s
of a flow whose feed takes 8 s to answer, so ticks collide with a running run. Runs must
complete back to back without overlap, and SIGTERM must stop everything (runner, flow runs,
server) within seconds."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from accesswatch.serve import prefect_cli
from accesswatch.store import Store

from .conftest import ROOT, write_config
from .helpers import page, rss

pytestmark = pytest.mark.slow

FEED_DELAY = 8.0  # seconds each feed request takes: a run lasts longer than the interval
INTERVAL_MINUTES = 0.1  # 6 s
RUN_WINDOW = 40.0  # how long to let it serve once the flow is served
MAX_WAIT = 100.0  # ... extended up to this when fewer than 2 runs completed


def _procs_in(directory: Path) -> list[tuple[int, str]]:
    """Our processes still running with their working directory inside ``directory``
    (the serve process, the Prefect server and flow-run subprocesses all start there)."""
    found = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit() or int(p.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(p / "cwd")
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = next(
                (ln for ln in (p / "status").read_text().splitlines() if ln.startswith("State:")),
                "",
            )
        except OSError:
            continue
        if "zombie" in state:
            continue
        if cwd == str(directory) or cwd.startswith(str(directory) + os.sep):
            found.append((int(p.name), cmd))
    return found


def _runs(db: Path) -> list[tuple]:
    if not db.exists():
        return []
    try:
        _, rows = Store(db, lock_timeout=5).query(
            "SELECT run_id, status, started_at, finished_at FROM runs ORDER BY started_at"
        )
    except Exception:  # the first run may still be creating the file
        return []
    return rows


def _wait_for(pattern: str, log: Path, proc: subprocess.Popen, timeout: float) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(pattern, log.read_text(errors="replace"))
        if m:
            return m
        if proc.poll() is not None:
            pytest.fail(f"serve exited early ({proc.returncode}):\n{log.read_text()[-4000:]}")
        time.sleep(0.5)
    pytest.fail(
        f"no {pattern!r} in the serve log within {timeout:.0f} s:\n{log.read_text()[-4000:]}"
    )


def test_serve_runs_on_schedule_without_overlap_and_stops_cleanly(
    tmp_path: Path, server: HTTPServer
) -> None:
    cli = prefect_cli()
    if cli is None:
        pytest.skip("the `prefect` command is not available in this environment")

    def slow_feed(request: Request) -> Response:
        time.sleep(FEED_DELAY)
        return Response(
            rss([{"link": server.url_for("/story-1"), "title": "A quiet day"}]),
            content_type="application/rss+xml",
        )

    server.expect_request("/feed.xml").respond_with_handler(slow_feed)
    server.expect_request("/story-1").respond_with_data(
        page("A quiet day", ["Nothing happened between the vendors today. " * 12]),
        content_type="text/html",
    )

    work = tmp_path / "work"
    work.mkdir()
    cfg = write_config(
        tmp_path / "config", f'[[feed]]\nname = "Slow"\nurl = "{server.url_for("/feed.xml")}"\n'
    )
    db = tmp_path / "serve.duckdb"
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_UI_URL")}
    env.update(
        {
            "PREFECT_HOME": str(tmp_path / "prefect-home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_RUNNER_POLL_FREQUENCY": "2",  # look for due runs every 2 s (default 10)
            "ACCESSWATCH_HTTP_ALLOWED_PRIVATE_HOSTS": json.dumps([f"127.0.0.1:{server.port}"]),
            "PYTHONPATH": os.pathsep.join(
                [str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")]
            ),
            "PYTHONUNBUFFERED": "1",
        }
    )
    code = (
        "from pathlib import Path\nfrom accesswatch.serve import serve\n"
        f"serve({str(cfg)!r}, {str(db)!r}, interval_minutes={INTERVAL_MINUTES}, data_dir=Path({str(data_dir)!r}))\n"
    )
    log = tmp_path / "serve.log"
    t0 = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=work,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        m = _wait_for(r"Starting a local Prefect server on 127\.0\.0\.1:(\d+)", log, proc, 30)
        port = int(m.group(1))
        m = _wait_for(r"Prefect server ready in ([\d.]+) s", log, proc, 120)
        server_seconds = float(m.group(1))
        _wait_for(r"Serving flow 'monitor'", log, proc, 60)
        served_at = time.monotonic()
        while True:
            elapsed = time.monotonic() - served_at
            completed = [r for r in _runs(db) if r[1] == "completed"]
            if (elapsed >= RUN_WINDOW and len(completed) >= 2) or elapsed >= MAX_WAIT:
                break
            assert proc.poll() is None, log.read_text()[-4000:]
            time.sleep(2)
        served_for = time.monotonic() - served_at

        stop = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"serve did not exit within 30 s of SIGTERM:\n{log.read_text()[-4000:]}")
        stop_seconds = time.monotonic() - stop
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    text = log.read_text(errors="replace")
    time.sleep(1)  # let killed children be reaped
    left = _procs_in(tmp_path)
    rows = _runs(db)
    completed = [r for r in rows if r[1] == "completed"]
    skipped_logged = text.count("Skipped scheduled run")
    print(
        f"\nserver start {server_seconds:.1f} s; served {served_for:.0f} s; {len(completed)} runs completed, "
        f"{len(rows)} recorded; {skipped_logged} scheduled runs skipped; exit {rc} "
        f"{stop_seconds:.1f} s after SIGTERM; total {time.monotonic() - t0:.0f} s"
    )

    assert rc == 0, text[-4000:]
    assert stop_seconds < 20, f"took {stop_seconds:.1f} s to stop"
    assert not left, f"processes left behind: {left}"
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "the Prefect server still listens"
    assert "Prefect server stopped." in text

    assert len(completed) >= 2, f"{rows}\n{text[-4000:]}"
    # back to back, never overlapping: each run finished before the next one started
    for prev, nxt in zip(rows, rows[1:], strict=False):
        assert prev[3] is not None, f"run {prev[0]} never finished but {nxt[0]} started: {rows}"
        assert prev[3] <= nxt[2], f"runs overlap: {prev} and {nxt}"
    # ticks that came due while a run was working were cancelled, and the log says so
    assert skipped_logged >= 1, text[-4000:]
    assert "skipped" not in {r[1] for r in rows}  # the server refused them: the flow never started
