"""Memory of the process tree: a sampler of summed RSS (from /proc) plus getrusage."""

from __future__ import annotations

import contextlib
import os
import resource
import sys
import threading

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'
        rest = stat[stat.rfind(b")") + 2:].split()
        kids.setdefault(int(rest[1]), []).append(int(name))
    return kids


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def role(pid: int, root: int) -> str:
    """What a process of the tree is, from its command line."""
    if pid == root:
        return "bench process (flow, client)"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read()
    except OSError:
        return "?"
    if b"uvicorn" in cmd:  # Prefect's temporary local API: `python -m uvicorn ...`
        return "prefect-api"
    if b"spawn_main" in cmd:
        return "spawn worker"
    if b"resource_tracker" in cmd:
        return "mp resource tracker"
    if b"naive.py" in cmd:
        return "naive.py"
    return os.path.basename(cmd.split(b"\0")[0].decode(errors="replace")) or "?"


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _descendants(root: int, exclude: set[int]) -> list[int]:
    kids = _children_map()
    out, stack = [], list(kids.get(root, []))
    while stack:
        pid = stack.pop()
        if pid in exclude:
            continue
        out.append(pid)
        stack.extend(kids.get(pid, []))
    return out


def _proc_cpu(pid: int) -> float:
    """utime + stime (+ those of its reaped children) of a live process, in seconds."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return 0.0
    fields = stat[stat.rfind(b")") + 2:].split()
    # after the comm: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    return sum(int(x) for x in fields[11:15]) / _TICK


def tree_cpu(exclude: set[int]) -> dict[str, float]:
    """CPU seconds used so far by this process, its reaped children and its live
    descendants (minus ``exclude``); ``prefect-api`` is the part of Prefect's API process.
    Take the difference of two calls to get what a phase cost, whatever else the machine ran."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = me.ru_utime + me.ru_stime + ch.ru_utime + ch.ru_stime
    api = 0.0
    root = os.getpid()
    if os.path.isdir("/proc"):
        for pid in _descendants(root, exclude):
            c = _proc_cpu(pid)
            total += c
            if role(pid, root) == "prefect-api":
                api += c
    return {"total": total, "prefect-api": api}


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: round(after[k] - before[k], 3) for k in before}


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def tree_rss(root: int, exclude: set[int]) -> list[tuple[int, int]]:
    """[(pid, RSS in bytes)] of root and its descendants, minus ``exclude``. A child that
    still has root's command line is a fork that has not exec'd yet (a worker being started):
    its pages are root's, so it is skipped rather than counted twice."""
    kids = _children_map()
    root_cmd = _cmdline(root)
    out, stack = [], [root]
    while stack:
        pid = stack.pop()
        if pid in exclude or (pid != root and _cmdline(pid) == root_cmd):
            continue
        out.append((pid, _rss_bytes(pid)))
        stack.extend(kids.get(pid, []))
    return out


class TreeSampler:
    """Samples the process tree's summed RSS every ``interval`` s; peak per phase."""

    def __init__(self, interval: float = 0.25):
        self.interval = interval
        self.exclude: set[int] = set()
        self.phase = "setup"
        self.peaks: dict[str, int] = {}
        self.peak_procs: dict[str, int] = {}
        self.peaks_without_api: dict[str, int] = {}
        self.breakdown: dict[str, list[tuple[str, int]]] = {}
        self.available = sys.platform.startswith("linux") and os.path.isdir("/proc")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def start(self) -> TreeSampler:
        if self.available:
            self._thread.start()
        return self

    def set_phase(self, name: str) -> None:
        self.sample()
        self.phase = name

    def sample(self) -> None:
        if not self.available:
            return
        root = os.getpid()
        procs = tree_rss(root, self.exclude)
        rss = sum(r for _, r in procs)
        roles = {pid: role(pid, root) for pid, _ in procs}
        api = sum(r for pid, r in procs if roles[pid] == "prefect-api")
        phase = self.phase
        if rss > self.peaks.get(phase, 0):
            self.peaks[phase] = rss
            self.peak_procs[phase] = len(procs)
            self.breakdown[phase] = sorted(((roles[pid], r) for pid, r in procs), key=lambda x: -x[1])
        if rss - api > self.peaks_without_api.get(phase, 0):
            self.peaks_without_api[phase] = rss - api

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(Exception):  # never let the sampler break the benchmark
                self.sample()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)
        self.sample()


def rusage_mb() -> dict[str, float]:
    """ru_maxrss of this process and of the largest waited-for descendant (Linux: KiB)."""
    scale = 1 / 1024 if sys.platform.startswith("linux") else 1 / (1024 * 1024)
    return {"self_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale, 1),
            "children_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale, 1)}
