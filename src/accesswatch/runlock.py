"""One monitor run at a time per database: an advisory lock file next to the DuckDB file.

A scheduled run that starts while another is still working (a slow feed, a backfill, a manual
``accesswatch run``) is skipped and says so, instead of piling up. On several machines,
Prefect's deployment concurrency limit does the same job (see prefect.yaml).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".run.lock")


@contextlib.contextmanager
def exclusive_run(db_path: Path, wait_seconds: float = 0.0) -> Iterator[str | None]:
    """Yield None when this process holds the run lock, else a description of the holder.
    The lock is released when the block ends, or by the OS if the process dies."""
    path = lock_path(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    got = False
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                got = True
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.2)
        if not got:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            yield holder
            return
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode(), 0)
        yield None
    finally:
        if got:
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
