"""`accesswatch serve`: run the ``monitor`` flow on a schedule, the Prefect way.

Prefect's temporary (ephemeral) API does not run schedules, so when no ``PREFECT_API_URL``
is set this starts a real local Prefect server (``prefect server start`` on 127.0.0.1, a free
port, its own PREFECT_HOME under the data directory, analytics off), waits until it is
healthy, prints the UI address, and then serves the flow with ``flow.serve``: a deployment
``monitor/serve`` with an interval (or cron) schedule and a process that runs each scheduled
run in a subprocess.

Runs never overlap: the deployment has a concurrency limit of 1 with the collision strategy
CANCEL_NEW, so a scheduled run that comes due while the previous one is still working is
cancelled by the server before it starts ("Deployment concurrency limit reached."), and the
serve log says so. The flow's own run lock (``accesswatch.runlock``) remains as a second
guard, e.g. against a manual ``accesswatch run`` on the same database.

Ctrl-C or SIGTERM stops the runner (in-flight runs are cancelled) and then the server; the
server runs in its own process group, which is terminated as a whole, so nothing is left
behind. On Linux the server also gets SIGTERM if this process dies without cleaning up.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from .config import load_config
from .errors import AccessWatchError

DEPLOYMENT_NAME = "serve"
SERVER_START_TIMEOUT = 90.0


class _Stop(BaseException):
    """Raised by our SIGTERM handler while the server starts (before Prefect's runner owns
    SIGTERM), so the ``finally`` blocks run and the server is stopped."""


def prefect_defaults(data_dir: Path) -> None:
    """The same defaults as ``accesswatch.cli.prefect_env`` (set before Prefect is imported)."""
    os.environ.setdefault("PREFECT_HOME", str((data_dir / ".prefect").resolve()))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "accesswatch")


def prefect_cli() -> str | None:
    """The ``prefect`` executable of this environment (next to the interpreter), else PATH's."""
    here = Path(sys.executable).parent / "prefect"
    if here.exists() and os.access(here, os.X_OK):
        return str(here)
    return shutil.which("prefect")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: deliver SIGTERM to the server if the serving process dies (even by SIGKILL)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _stop_process_group(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """Terminate the server's process group (it was started in its own session), then kill
    what is left after ``timeout``."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
    # uvicorn or service processes that outlived the leader: same group, same fate
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def local_server(
    data_dir: Path, port: int | None = None, timeout: float = SERVER_START_TIMEOUT
) -> Iterator[str]:
    """Start ``prefect server start --host 127.0.0.1 --port PORT`` with PREFECT_HOME under
    ``data_dir/.prefect-server``, wait for /api/health, yield the API URL, stop it on exit."""
    import httpx

    cli = prefect_cli()
    if cli is None:
        raise AccessWatchError(
            "the `prefect` command was not found (install the project: make serve)"
        )
    home = (data_dir / ".prefect-server").resolve()
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_UI_URL")}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    log_path = home / "server.log"
    started = time.monotonic()
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [cli, "server", "start", "--host", "127.0.0.1", "--port", str(port), "--analytics-off"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
    try:
        print(
            f"Starting a local Prefect server on 127.0.0.1:{port} (PREFECT_HOME={home}; "
            f"log {log_path}) ...",
            flush=True,
        )
        deadline = started + timeout
        while True:
            if proc.poll() is not None:
                raise AccessWatchError(
                    f"the Prefect server exited with code {proc.returncode} before it "
                    f"was ready; last lines of {log_path}:\n{_tail(log_path)}"
                )
            try:
                if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AccessWatchError(
                    f"the Prefect server did not answer {api_url}/health within "
                    f"{timeout:.0f} s; last lines of {log_path}:\n{_tail(log_path)}"
                )
            time.sleep(0.5)
        print(
            f"Prefect server ready in {time.monotonic() - started:.1f} s. "
            f"UI: http://127.0.0.1:{port}  API: {api_url}",
            flush=True,
        )
        yield api_url
    finally:
        _stop_process_group(proc)
        print("Prefect server stopped.", flush=True)


class _SkipNotice(logging.Filter):
    """Turn the runner's terse "Aborted submission ... non-pending state 'CANCELLED'" into a
    plain warning that says why: the previous run is still working."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        if (
            "non-pending" in str(record.msg)
            and len(args) >= 2
            and str(args[1]).upper() == "CANCELLED"
        ):
            record.msg = (
                "Skipped scheduled run %s: the previous monitor run is still working "
                "(deployment concurrency limit 1, collision strategy CANCEL_NEW)."
            )
            record.args = (args[0],)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _schedule(interval_minutes: float | None, cron: str | None, configured: float) -> dict:
    if cron:
        from prefect.client.schemas.schedules import CronSchedule

        try:
            CronSchedule(cron=cron)
        except ValueError as e:
            errors = getattr(e, "errors", None)
            reason = errors()[0]["msg"].removeprefix("Value error, ") if errors else str(e)
            raise AccessWatchError(f"invalid cron string {cron!r}: {reason}") from None
        return {"cron": cron}
    minutes = interval_minutes if interval_minutes is not None else configured
    if not minutes > 0:
        raise AccessWatchError(f"the interval must be positive (got {minutes} minutes)")
    return {"interval": timedelta(minutes=minutes)}


def serve(
    config_dir: str | None,
    db_path: str | None,
    interval_minutes: float | None = None,
    cron: str | None = None,
    data_dir: Path = Path("data"),
) -> None:
    """Serve the ``monitor`` flow on a schedule until Ctrl-C or SIGTERM.

    The schedule is ``cron`` when given, else every ``interval_minutes`` (default: the
    config's ``schedule.interval_minutes``, 15). Runs get ``config_dir`` and ``db_path`` as
    parameters. Uses the Prefect API at ``PREFECT_API_URL`` when set, else starts a local
    server for the lifetime of this call."""
    cfg = load_config(config_dir, db_path)  # fail fast on a bad config, before any server
    prefect_defaults(data_dir)
    schedule = _schedule(interval_minutes, cron or cfg.settings.schedule.cron or None,
                         cfg.settings.schedule.interval_minutes)
    previous = signal.getsignal(signal.SIGTERM)

    def _on_sigterm(signum, frame):  # noqa: ANN001
        raise _Stop()

    def _on_sigint(signum, frame):  # noqa: ANN001
        # Ctrl-C takes the SIGTERM path of whoever owns SIGTERM right now: ours while the
        # server starts (stop it), Prefect's runner while serving (graceful shutdown: in-flight
        # runs cancelled, schedule paused), ignored while stopping.
        handler = signal.getsignal(signal.SIGTERM)
        if handler is not signal.SIG_IGN:
            print("Interrupted: stopping ...", flush=True)
        if callable(handler):
            handler(signal.SIGTERM, frame)

    in_main = _is_main_thread()
    previous_int = signal.getsignal(signal.SIGINT)
    if in_main:
        signal.signal(signal.SIGTERM, _on_sigterm)
        signal.signal(signal.SIGINT, _on_sigint)
    try:
        with contextlib.ExitStack() as stack:
            api_url = os.environ.get("PREFECT_API_URL")
            if not api_url:
                api_url = stack.enter_context(local_server(data_dir))
                # for this process and its flow-run subprocesses
                os.environ["PREFECT_API_URL"] = api_url
                os.environ["PREFECT_UI_URL"] = api_url.removesuffix("/api")
                stack.callback(os.environ.pop, "PREFECT_API_URL", None)
                stack.callback(os.environ.pop, "PREFECT_UI_URL", None)
            else:
                print(f"Using the Prefect API at {api_url}", flush=True)
            try:
                _serve_flow(schedule, api_url=api_url, config_dir=config_dir, db_path=db_path)
            finally:
                # stopping now: a second SIGTERM must not cut the server's shutdown short
                if in_main:
                    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    except (_Stop, KeyboardInterrupt):
        print("Stopped.", flush=True)
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
            signal.signal(signal.SIGINT, previous_int)


def _is_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _serve_flow(
    schedule: dict, *, api_url: str, config_dir: str | None, db_path: str | None
) -> None:
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.deployments.runner import EntrypointType
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

    from flows.monitor import monitor

    if "cron" in schedule:
        when = f"cron {schedule['cron']!r}"
    else:
        when = f"every {schedule['interval'].total_seconds() / 60:g} minutes"
    skip_notice = _SkipNotice()
    proposer = logging.getLogger("prefect.runner.state_proposer")
    proposer.addFilter(skip_notice)
    print(
        f"Serving flow 'monitor' as deployment 'monitor/{DEPLOYMENT_NAME}', {when}; one run at a "
        "time (a run due while another works is cancelled and logged). Ctrl-C or SIGTERM stops.",
        flush=True,
    )
    try:
        # Prefect reads settings when imported: make sure this process talks to `api_url`.
        with temporary_settings(
            updates={PREFECT_API_URL: api_url, PREFECT_UI_URL: api_url.removesuffix("/api")}
        ):
            monitor.serve(
                name=DEPLOYMENT_NAME,
                **schedule,
                parameters={"config_dir": config_dir, "db_path": db_path},
                global_limit=ConcurrencyLimitConfig(
                    limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
                ),
                tags=["accesswatch"],
                description="accesswatch: poll the feeds, detect API access disputes, store, alert.",
                # flows.monitor is an installed package: import it by module path, whatever the cwd
                entrypoint_type=EntrypointType.MODULE_PATH,
                print_starting_message=False,
            )
    finally:
        proposer.removeFilter(skip_notice)
