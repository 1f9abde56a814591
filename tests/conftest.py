"""Shared fixtures: real HTTP servers on 127.0.0.1, real DuckDB files in temp dirs, and one
Prefect test harness per session for the few end-to-end flow tests."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Prefect reads its settings at import: give the test session its own home, no analytics.
_PREFECT_HOME = tempfile.mkdtemp(prefix="aw-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "accesswatch")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
for var in [v for v in os.environ if v.startswith("ACCESSWATCH_") or v.startswith("SLACK_")]:
    del os.environ[var]

from pytest_httpserver import HTTPServer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "config"
CORPUS = ROOT.parent / "shared" / "corpus"


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    """A threaded HTTP server on 127.0.0.1 (threaded so a hanging handler blocks nothing else)."""
    srv = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    srv.start()
    yield srv
    srv.clear()
    if srv.is_running():
        srv.stop()


def write_config(dest: Path, feeds_toml: str, extra_env: dict[str, str] | None = None,
                 settings_override: str = "") -> Path:
    """A copy of config/ in which only feeds.toml is replaced (plus optional settings lines)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("accesswatch.toml", "vendors.toml"):
        shutil.copy(CONFIG_DIR / name, dest / name)
    if settings_override:
        text = (dest / "accesswatch.toml").read_text()
        (dest / "accesswatch.toml").write_text(text + "\n" + settings_override)
    (dest / "feeds.toml").write_text(feeds_toml)
    return dest


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_PREFECT_HOME, ignore_errors=True)
