"""`make bench`: how close the pipeline comes to the extraction limit, and to a naive script.

Serves N feeds x M articles built from the real pages of the shared corpus on 127.0.0.1 and
measures, in one run and on the same pages:

  limit        accesswatch.extract.extract_one over the pages, in process, on all cores
  naive        bench/naive.py: feedparser -> httpx.get -> trafilatura.extract -> one INSERT
  accesswatch  the real `monitor` flow end to end into a fresh DuckDB file
  quiet        the flow again over --quiet-feeds feeds that all answer 304 Not Modified
  prefect      Prefect's own start-up cost (first empty flow run vs later ones)
  detector     accesswatch.detect.detect alone on one core
  stages       the stage functions called directly (no Prefect), with sub-stage times

Writes bench/results/latest.json and latest.md. See bench/README.md.
Only the standard library is imported at module level: extraction workers are started
with "spawn" and re-import this file.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PHASES = ("limit", "naive", "detector", "accesswatch", "quiet", "stages")
TARGETS = {"aw_vs_limit": 0.8, "aw_vs_naive": 1.8, "quiet_seconds": 5.0, "peak_rss_mb": 600.0,
           "detector_per_s": 2000.0}


# ------------------------------------------------------------------ arguments
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="bench/run.py", description="accesswatch benchmark (issue 7)")
    ap.add_argument("--feeds", type=int, default=None, help="feeds in the main run (default 20)")
    ap.add_argument("--articles-per-feed", type=int, default=None, help="articles per feed (default 25)")
    ap.add_argument("--quiet-feeds", type=int, default=1000, help="feeds in the 304 quiet run (default 1000)")
    ap.add_argument("--large", action="store_true",
                    help="preset: 200 feeds x 100 articles = 20,000 (naive capped at 2,000 pages)")
    ap.add_argument("--sites", type=int, default=0,
                    help="distinct host:ports the feeds are spread over (default: one per feed, max 50)")
    ap.add_argument("--mix", choices=("en-news", "all"), default="en-news",
                    help="page pool: English news only (default) or English news first, then the rest")
    ap.add_argument("--naive-max-pages", type=int, default=None,
                    help="stop the naive script after this many pages (default: all; --large: 2000)")
    ap.add_argument("--limit-workers", type=int, default=0, help="processes for the limit (default: cores)")
    ap.add_argument("--detector-seconds", type=float, default=3.0, help="minimum time per detector run")
    ap.add_argument("--skip", default="", help=f"comma list of phases to skip: {','.join(PHASES)}")
    ap.add_argument("--corpus", type=Path, default=None,
                    help="corpus directory (default: ../shared/corpus or $AW_BENCH_CORPUS)")
    ap.add_argument("--out", type=Path, default=BENCH / "results", help="where latest.json/.md go")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (databases, configs)")
    args = ap.parse_args(argv)
    if args.large:
        args.feeds = args.feeds or 200
        args.articles_per_feed = args.articles_per_feed or 100
        if args.naive_max_pages is None:
            args.naive_max_pages = 2000
    args.feeds = args.feeds or 20
    args.articles_per_feed = args.articles_per_feed or 25
    args.naive_max_pages = args.naive_max_pages or 0
    args.sites = args.sites or min(args.feeds, 50)
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = args.skip - set(PHASES)
    if unknown:
        ap.error(f"unknown phase(s) in --skip: {', '.join(sorted(unknown))}")
    if min(args.feeds, args.articles_per_feed, args.quiet_feeds, args.sites) < 1:
        ap.error("sizes must be positive")
    return args


# ------------------------------------------------------------------ small helpers
def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def rate(n: float, seconds: float) -> float:
    return round(n / seconds, 2) if seconds > 0 else 0.0


def mb(n: float) -> float:
    return round(n / (1024 * 1024), 1)


@contextlib.contextmanager
def timed(acc: dict[str, float], key: str, hwm: dict[str, float] | None = None) -> Iterator[None]:
    """Time a block; with ``hwm``, also add how far it raised this process's peak RSS (MB)."""
    import resource

    t = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        yield
    finally:
        acc[key] += time.perf_counter() - t
        if hwm is not None:
            hwm[key] += (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024


@contextlib.contextmanager
def patched(module: Any, name: str, acc: dict[str, float], key: str,
            counts: dict[str, int] | None = None) -> Iterator[None]:
    """Instrument module.name (looked up as a global at call time) with a timer."""
    original = getattr(module, name)

    def wrapper(*a: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        try:
            return original(*a, **kw)
        finally:
            acc[key] += time.perf_counter() - t
            if counts is not None:
                counts[key] += 1

    setattr(module, name, wrapper)
    try:
        yield
    finally:
        setattr(module, name, original)


def write_config(dest: Path, feeds: list[tuple[str, str]], base: Path = ROOT / "config") -> Path:
    """Like tests/conftest.py's write_config: a copy of config/ with only feeds.toml replaced."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("accesswatch.toml", "vendors.toml"):
        shutil.copy(base / name, dest / name)
    lines = [f'[[feed]]\nname = "{name}"\nurl = "{url}"\ntags = ["bench"]\n' for name, url in feeds]
    (dest / "feeds.toml").write_text("\n".join(lines), encoding="utf-8")
    return dest


# ------------------------------------------------------------------ limit
def cpu_fields(cpu: dict[str, float], pages: int) -> dict[str, Any]:
    out: dict[str, Any] = {"cpu_seconds": cpu["total"], "cpu_ms_per_page": round(1000 * cpu["total"] / pages, 1)
                           if pages else None}
    if cpu.get("prefect-api"):
        out["prefect_api_cpu_seconds"] = cpu["prefect-api"]
    return out


def measure_limit(pool: list, layout: Any, workers: int,
                  cpu: Callable[[], dict[str, float]]) -> tuple[dict[str, Any], dict[int, tuple[str, str]]]:
    """extract_one over every page of the layout on `workers` spawn processes (warm pool)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from awbench import limit
    from awbench.procs import cpu_delta

    specs = [(p.path, p.content_type, p.title) for p in pool]
    first: set[int] = set()
    tasks: list[tuple[int, str, bool]] = []
    for f in range(layout.feeds):
        for j in range(layout.per_feed):
            idx = layout.pool_index(f, j)
            tasks.append((idx, layout.article_url(f, j), idx not in first))
            first.add(idx)
    chunk = 4
    chunks = [tasks[i:i + chunk] for i in range(0, len(tasks), chunk)]
    ctx = multiprocessing.get_context("spawn")
    texts: dict[int, tuple[str, str]] = {}
    chars = 0
    empty = 0
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=limit.init,
                             initargs=(specs,)) as ex:
        # start every worker (spawn + import + decode the pool) before the clock starts
        list(ex.map(limit.ready, [0.5] * workers))
        startup = time.perf_counter() - t0
        c1 = cpu()
        t1 = time.perf_counter()
        for part in ex.map(limit.work, chunks):
            for idx, n, text, title in part:
                chars += n
                empty += n == 0
                if text is not None:
                    texts[idx] = (title or pool[idx].title, text)
        seconds = time.perf_counter() - t1
        used = cpu_delta(c1, cpu())
    return ({"pages": len(tasks), "workers": workers, "seconds": round(seconds, 3), **cpu_fields(used, len(tasks)),
             "pages_per_s": rate(len(tasks), seconds), "pool_startup_seconds": round(startup, 3),
             "mean_text_chars": round(chars / max(1, len(tasks))), "pages_without_text": empty}, texts)


def extract_serially(pool: list) -> dict[int, tuple[str, str]]:
    from awbench.corpus import decoded

    from accesswatch.extract import extract_one

    out = {}
    for i, p in enumerate(pool):
        d = extract_one(decoded(p), f"http://bench.invalid/{i}")
        if d.get("text"):
            out[i] = (d.get("title") or p.title, d["text"])
    return out


# ------------------------------------------------------------------ naive
def measure_naive(layout: Any, tmp: Path, max_pages: int) -> dict[str, Any]:
    feeds_file = tmp / "naive-feeds.txt"
    feeds_file.write_text("\n".join(layout.feed_url(f) for f in range(layout.feeds)) + "\n")
    cmd = [sys.executable, str(BENCH / "naive.py"), "--feeds-file", str(feeds_file),
           "--db", str(tmp / "naive.duckdb")]
    if max_pages:
        cmd += ["--max-pages", str(max_pages)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ})
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"naive.py failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["pages_per_s"] = rate(res["pages"], res["seconds"])
    res["cpu_ms_per_page"] = round(1000 * res["cpu_seconds"] / res["pages"], 1) if res["pages"] else None
    res["process_wall_seconds"] = round(wall, 3)
    res["subset"] = bool(max_pages) and res["pages"] < layout.pages
    return res


# ------------------------------------------------------------------ detector
_SYN_NEUTRAL = [
    "The company reported quarterly revenue that beat analyst expectations by a wide margin.",
    "Executives said the new data centre would come online early next year in Arizona.",
    "Researchers published a paper describing a faster way to train large language models.",
    "Shares rose three percent in early trading after the announcement on Tuesday morning.",
    "The startup raised a new funding round led by several venture capital firms.",
    "Developers have been building agents and coding assistants on top of the platform.",
    "Regulators in Brussels are expected to publish further guidance on the AI Act.",
    "A spokesperson declined to comment on the details of the partnership agreement.",
    "Analysts expect demand for inference capacity to keep growing through the decade.",
    "The model scored well on several public benchmarks, including coding and math tests.",
]
_SYN_ACTIONS = ["cut off access to", "revoked API access for", "suspended the accounts of",
                "blocked", "restricted usage by", "threatened to pull access from",
                "restored access for", "is probing whether", "said it would no longer serve"]
_SYN_REASONS = ["citing a violation of its terms of service", "after a dispute over competing products",
                "over concerns about distillation", "for security reasons", ""]


def synthetic_texts(vendors: list[str], n: int = 200, chars: int = 5000, seed: int = 7) -> list[tuple[str, str]]:
    """Dense synthetic news text: vendor names everywhere, access verbs in about 1 sentence in 4
    (the detector only reads sentences with a trigger, so this is a heavy case)."""
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        a, b = rnd.sample(vendors, 2)
        title = f"{a} {rnd.choice(_SYN_ACTIONS)} {b}"
        parts: list[str] = []
        size = 0
        while size < chars:
            if rnd.random() < 0.25:
                x, y = rnd.sample(vendors, 2)
                s = f"{x} {rnd.choice(_SYN_ACTIONS)} {y}'s developers {rnd.choice(_SYN_REASONS)}".strip() + "."
            elif rnd.random() < 0.5:
                s = f"{rnd.choice(vendors)} said {rnd.choice(_SYN_NEUTRAL)[0].lower()}{rnd.choice(_SYN_NEUTRAL)[1:]}"
            else:
                s = rnd.choice(_SYN_NEUTRAL)
            parts.append(s)
            size += len(s) + 1
            if rnd.random() < 0.2:
                parts.append("\n")
        out.append((title, " ".join(parts)[:chars]))
    return out


def detector_rate(items: list[tuple[str, str]], gaz: Any, min_seconds: float) -> dict[str, Any]:
    from accesswatch.detect import detect

    if not items:
        return {"articles": 0}
    n = 0
    per: list[float] = []
    positives = 0
    t0 = time.perf_counter()
    while True:
        for title, text in items:
            t = time.perf_counter()
            d = detect(title, text, gaz, 0.5)
            per.append(time.perf_counter() - t)
            positives += d.label != "negative"
            n += 1
        if time.perf_counter() - t0 >= min_seconds:
            break
    seconds = time.perf_counter() - t0
    per.sort()
    return {"articles": n, "distinct_texts": len(items), "seconds": round(seconds, 3),
            "per_s": rate(n, seconds),
            "mean_chars": round(statistics.mean(len(t) for _, t in items)),
            "p50_ms": round(1000 * per[len(per) // 2], 3), "p99_ms": round(1000 * per[int(len(per) * 0.99)], 3),
            "max_ms": round(1000 * per[-1], 3), "flagged_share": round(positives / n, 3)}


def measure_detector(texts: dict[int, tuple[str, str]], min_seconds: float, vendors_path: Path) -> dict[str, Any]:
    from accesswatch.detect import load_gazetteer

    gaz = load_gazetteer(vendors_path)
    real = [texts[k] for k in sorted(texts)]
    vendors = sorted(v.name for v in gaz.vendors.values() if v.is_ai)[:40] or ["OpenAI", "Anthropic"]
    return {"extracted": detector_rate(real, gaz, min_seconds),
            "synthetic_5000": detector_rate(synthetic_texts(vendors), gaz, min_seconds)}


# ------------------------------------------------------------------ the Prefect flow
def instrument_tasks(monitor_mod: Any, acc: dict[str, float], counts: dict[str, int]) -> Callable[[], None]:
    """Time each task's function inside the real flow (what the task does, without Prefect's
    orchestration around it). Returns an undo function."""
    import functools

    from prefect import Task

    undo = []
    for task in [v for v in vars(monitor_mod).values() if isinstance(v, Task)]:
        original = task.fn

        def make(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
            @functools.wraps(fn)
            def wrapper(*a: Any, **kw: Any) -> Any:
                t = time.perf_counter()
                try:
                    return fn(*a, **kw)
                finally:
                    acc[name] += time.perf_counter() - t
                    counts[name] += 1
            return wrapper

        task.fn = make(original, task.name)
        undo.append((task, original))

    def restore() -> None:
        for task, original in undo:
            task.fn = original
    return restore


def prefect_task_runs(flow_run_id: str, expected: int, wait: float = 15.0) -> dict[str, Any]:
    """Task-run durations as Prefect recorded them (events arrive asynchronously: poll)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    deadline = time.monotonic() + wait
    runs: list[Any] = []
    flt = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
    with get_client(sync_client=True) as client:
        while True:
            runs = []
            while True:  # the API pages its answers (200 by default)
                page = client.read_task_runs(flow_run_filter=flt, limit=200, offset=len(runs))
                runs.extend(page)
                if len(page) < 200:
                    break
            done = [r for r in runs if r.end_time is not None]
            if len(done) >= expected or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    out: dict[str, dict[str, float]] = {}
    for r in runs:
        name = r.name.rsplit("-", 1)[0] if r.name.count("-") else r.name
        d = out.setdefault(name, {"runs": 0, "run_seconds": 0.0, "wall_seconds": 0.0})
        d["runs"] += 1
        d["run_seconds"] += r.total_run_time.total_seconds() if r.total_run_time else 0.0
        if r.start_time and r.end_time:
            d["wall_seconds"] += (r.end_time - r.start_time).total_seconds()
    return {k: {kk: round(vv, 3) if isinstance(vv, float) else vv for kk, vv in v.items()} for k, v in out.items()}


def run_flow(monitor: Any, cfg: Path, db: Path) -> tuple[dict[str, Any], float]:
    t = time.perf_counter()
    res = monitor(config_dir=str(cfg), db_path=str(db))
    return res, time.perf_counter() - t


# ------------------------------------------------------------------ stages without Prefect
def measure_stages(cfg_dir: Path, db: Path, cpu: Callable[[], dict[str, float]]) -> dict[str, Any]:
    """The flow's body with the stage functions called directly, plus sub-stage timers."""
    import resource

    from awbench.procs import cpu_delta

    from accesswatch import detect, extract, feeds, fetch
    from accesswatch.config import load_config
    from accesswatch.store import Store

    acc: dict[str, float] = defaultdict(float)
    sub: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    hwm: dict[str, float] = defaultdict(float)
    hwm_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    last_items: list[tuple[str, str]] = []
    now = datetime.now(UTC)
    c0 = cpu()
    t_all = time.perf_counter()
    with contextlib.ExitStack() as stack:
        stack.enter_context(patched(feeds, "parse_feed", sub, "poll: parse_feed (summed over threads)", calls))
        stack.enter_context(patched(fetch, "decode_html", sub, "fetch: decode_html", calls))
        stack.enter_context(patched(extract, "run_extraction", sub, "extract: run_extraction (process pool)", calls))
        stack.enter_context(patched(extract, "detect_language", sub, "extract: detect_language (py3langid)", calls))
        stack.enter_context(patched(extract, "content_hash", sub, "extract: content_hash", calls))
        cfg = load_config(cfg_dir, db)
        store = Store(cfg.db_path, cfg.settings.database.lock_timeout_seconds)
        with timed(acc, "store: sync_feeds + feed_states", hwm):
            store.sync_feeds(cfg.feeds, now)
            states = store.feed_states()
        with timed(acc, "poll: feeds.poll_feeds", hwm):
            results = feeds.poll_feeds(cfg.feeds, states, now, cfg.settings.http, cfg.settings.feeds)
        with timed(acc, "store: record_feed_results + known", hwm):
            store.record_feed_results(results, feeds.plan_next_polls(results, states, now, cfg.settings.feeds), now)
            every = [e for r in results for e in r.entries]
            known_urls, known_guids = store.known(every)
            new = feeds.new_entries(results, known_urls, known_guids)
        size = cfg.settings.pipeline.batch_size
        pages_ok = 0
        batches = 0
        for start in range(0, len(new), size):
            entries = new[start:start + size]
            batches += 1
            with timed(acc, "fetch: fetch.fetch_pages", hwm):
                pages = fetch.fetch_pages(entries, cfg.settings.http)
            pages_ok += sum(p.html is not None for p in pages)
            if len(entries) == size or not last_items:
                last_items = [(p.html, p.final_url or p.entry.url) for p in pages if p.html]
            with timed(acc, "extract: extract.extract_articles", hwm):
                articles = extract.extract_articles(pages, cfg.settings.extract, now)
            with timed(acc, "detect: detect.detect_articles", hwm):
                gaz = detect.load_gazetteer(cfg.vendors_path)
                detections = detect.detect_articles([(a.article_id, a.title, a.text) for a in articles], gaz,
                                                    cfg.settings.detect.threshold)
            with timed(acc, "store: Store.save_batch", hwm):
                store.save_batch(articles, detections, entries, "bench-stages", now)
            del pages, articles, detections
    total = time.perf_counter() - t_all
    used = cpu_delta(c0, cpu())
    # what one process pool costs before it extracts anything (paid once per batch)
    tiny = [("<html><body><p>x</p></body></html>", f"http://bench.invalid/{i}")
            for i in range(2 * extract.MIN_POOL_BATCH)]
    starts = []
    for _ in range(2):
        t = time.perf_counter()
        extract.run_extraction(tiny, cfg.settings.extract)
        starts.append(time.perf_counter() - t)
    pool_cmp = compare_pools(last_items, cfg.settings.extract, cpu)
    return {"pages": pages_ok, "batches": batches, "batch_size": size, "seconds": round(total, 3),
            **cpu_fields(used, pages_ok),
            "pages_per_s": rate(pages_ok, total),
            "stages": {k: round(v, 3) for k, v in acc.items()},
            "sub_stages": {k: round(v, 3) for k, v in sub.items()},
            "sub_stage_calls": dict(calls),
            "main_rss_high_water_mb": {"at_start": round(hwm_start), **{k: round(v) for k, v in hwm.items() if v >= 1}},
            "one_batch_cold_vs_warm_pool": pool_cmp,
            "extract_pool_start_seconds": round(min(starts), 3)}


def compare_pools(items: list[tuple[str, str]], settings: Any, cpu: Callable[[], dict[str, float]]) -> dict[str, Any]:
    """One batch extracted the way the extract stage does it (a new spawn pool per call)
    and by a pool that is already up and has extracted once (same workers, same split)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from awbench.procs import cpu_delta

    from accesswatch import extract

    if len(items) < 2 * extract.MIN_POOL_BATCH:
        return {}
    c0, t = cpu(), time.perf_counter()
    extract.run_extraction(items, settings)
    cold_s, cold_cpu = time.perf_counter() - t, cpu_delta(c0, cpu())["total"]
    workers = min(extract._workers(settings), max(1, len(items) // extract.MIN_POOL_BATCH))
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as ex:
        list(ex.map(extract._extract_pair, items, chunksize=4))  # start and warm the workers
        c0, t = cpu(), time.perf_counter()
        list(ex.map(extract._extract_pair, items, chunksize=4))
        warm_s, warm_cpu = time.perf_counter() - t, cpu_delta(c0, cpu())["total"]
    return {"pages": len(items), "workers": workers, "cold_seconds": round(cold_s, 3), "cold_cpu_seconds": round(cold_cpu, 3),
            "warm_seconds": round(warm_s, 3), "warm_cpu_seconds": round(warm_cpu, 3)}


# ------------------------------------------------------------------ report
def fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        s = f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
    else:
        s = f"{v:,}" if isinstance(v, int) else str(v)
    return f"{s} {unit}".strip()


def check(value: float | None, target: float, higher_is_better: bool) -> str:
    if value is None:
        return ""
    ok = value >= target if higher_is_better else value <= target
    return ("PASS" if ok else "MISS") + f" ({'>=' if higher_is_better else '<='} {target:g})"


def build_rows(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(section, measure, value, target) rows for the table."""
    rows: list[tuple[str, str, str, str]] = []
    lim, nai, aw = r.get("limit"), r.get("naive"), r.get("accesswatch")
    if lim:
        rows.append(("throughput", f"limit: extract_one on {lim['workers']} processes", fmt(lim["pages_per_s"], "pages/s"),
                     f"{fmt(lim['seconds'])} s for {lim['pages']:,} pages; CPU {lim['cpu_ms_per_page']} ms/page"))
    if nai:
        sub = f" (first {nai['pages']:,} pages)" if nai.get("subset") else ""
        rows.append(("throughput", "naive: serial script" + sub, fmt(nai["pages_per_s"], "pages/s"),
                     f"{fmt(nai['seconds'])} s; extract {fmt(nai['extract_seconds'])} s, get {fmt(nai['get_seconds'])} s, "
                     f"insert {fmt(nai['insert_seconds'])} s; CPU {nai.get('cpu_ms_per_page')} ms/page"))
    if aw:
        api = aw.get("prefect_api_cpu_seconds")
        rows.append(("throughput", "accesswatch: monitor flow", fmt(aw["pages_per_s"], "pages/s"),
                     f"{fmt(aw['seconds'])} s for {aw['pages']:,} pages; CPU {aw['cpu_ms_per_page']} ms/page"
                     + (f" (Prefect API {fmt(api)} CPU-s)" if api else "")))
    if lim and nai and nai["pages"] and "extract_cpu_seconds" in nai:
        rows.append(("throughput", "extraction CPU ms per page: extract_one vs naive's extract()",
                     f"{lim['cpu_ms_per_page']} vs {1000 * nai['extract_cpu_seconds'] / nai['pages']:.1f}",
                     "pipeline options (metadata on, fast) vs trafilatura.extract defaults"))
    ratios = r.get("ratios", {})
    if "aw_vs_limit" in ratios:
        rows.append(("ratio", "accesswatch / limit", fmt(ratios["aw_vs_limit"]),
                     check(ratios["aw_vs_limit"], TARGETS["aw_vs_limit"], True)))
    if "aw_vs_naive" in ratios:
        rows.append(("ratio", "accesswatch / naive", fmt(ratios["aw_vs_naive"]),
                     check(ratios["aw_vs_naive"], TARGETS["aw_vs_naive"], True)))
    if aw and lim and lim.get("cpu_ms_per_page"):
        rows.append(("ratio", "CPU per page: accesswatch / limit", fmt(round(aw["cpu_ms_per_page"] / lim["cpu_ms_per_page"], 2)),
                     f"{aw['cpu_ms_per_page']} vs {lim['cpu_ms_per_page']} ms; robust to other load on the machine"))
    if aw and nai and nai.get("cpu_ms_per_page"):
        rows.append(("ratio", "CPU per page: accesswatch / naive", fmt(round(aw["cpu_ms_per_page"] / nai["cpu_ms_per_page"], 2)),
                     f"{aw['cpu_ms_per_page']} vs {nai['cpu_ms_per_page']} ms (page server excluded)"))
    if aw:
        for name, v in aw["task_fn_seconds"].items():
            pr = aw.get("prefect_task_runs", {}).get(name, {})
            extra = f"{aw['task_fn_calls'][name]} task runs"
            if pr:
                extra += f"; Prefect run time {fmt(pr.get('run_seconds'))} s"
            rows.append(("flow stages", f"task {name}", fmt(v, "s"), extra))
        rows.append(("flow stages", "outside task functions (Prefect + flow body)",
                     fmt(aw["outside_tasks_seconds"], "s"), ""))
    st = r.get("stages")
    if st:
        for name, v in st["stages"].items():
            rows.append(("direct stages", name, fmt(v, "s"), ""))
        for name, v in st["sub_stages"].items():
            rows.append(("direct stages", "  " + name, fmt(v, "s"), f"{st['sub_stage_calls'].get(name, 0)} calls"))
        pool_key = "extract: run_extraction (process pool)"
        if lim and pool_key in st["sub_stages"] and lim["pages_per_s"]:
            extra = st["sub_stages"][pool_key] - st["pages"] / lim["pages_per_s"]
            rows.append(("direct stages", "extract: run_extraction minus limit time for the same pages",
                         fmt(extra, "s"), "pool start, cold workers per batch, static split, pickling"))
        pc = st.get("one_batch_cold_vs_warm_pool") or {}
        if pc:
            rows.append(("direct stages", f"extract one batch of {pc['pages']}: new pool (as now) vs pool already up",
                         f"{pc['cold_seconds']:.2f} vs {pc['warm_seconds']:.2f} s",
                         f"CPU {pc['cold_cpu_seconds']:.2f} vs {pc['warm_cpu_seconds']:.2f} s"))
        hw = st.get("main_rss_high_water_mb") or {}
        if hw:
            rows.append(("direct stages", "this process's peak RSS: start, then raised by",
                         f"{hw['at_start']} MB", ", ".join(f"{k.split(':')[0]} +{v}" for k, v in hw.items()
                                                            if k != "at_start") or "nothing"))
        rows.append(("direct stages", "extract: process-pool start (paid per batch)",
                     fmt(st["extract_pool_start_seconds"], "s"), f"{st['batches']} batches of {st['batch_size']}"))
        rows.append(("direct stages", "total (no Prefect)", fmt(st["pages_per_s"], "pages/s"),
                     f"{fmt(st['seconds'])} s; CPU {st['cpu_ms_per_page']} ms/page"))
    pf = r.get("prefect")
    if pf:
        rows.append(("prefect", "import prefect + flows.monitor", fmt(pf["import_seconds"], "s"), ""))
        rows.append(("prefect", "first empty flow run (starts the local API)", fmt(pf["first_empty_run_seconds"], "s"), ""))
        rows.append(("prefect", "later empty flow run (fixed cost per run)", fmt(pf["later_empty_run_seconds"], "s"), ""))
        rows.append(("prefect", "start-up cost (first - later)", fmt(pf["startup_seconds"], "s"), ""))
    q = r.get("quiet")
    if q:
        rows.append(("quiet", f"quiet run: {q['feeds']:,} feeds, all 304", fmt(q["seconds"], "s"),
                     check(q["seconds"], TARGETS["quiet_seconds"], False)
                     + f"; CPU {fmt(q['cpu_seconds'])} s (Prefect API {fmt(q['prefect_api_cpu_seconds'])} s)"))
        rows.append(("quiet", "  of which task functions", fmt(q["task_fn_total_seconds"], "s"),
                     ", ".join(f"{k} {v:.2f}" for k, v in q["task_fn_seconds"].items())))
        rows.append(("quiet", "priming run (first poll of the extra feeds, 200)", fmt(q["priming_seconds"], "s"), ""))
    d = r.get("detector")
    if d:
        e, s = d["extracted"], d["synthetic_5000"]
        if e.get("articles"):
            rows.append(("detector", f"detect() on extracted texts (mean {e['mean_chars']:,} chars)",
                         fmt(e["per_s"], "articles/s"),
                         check(e["per_s"], TARGETS["detector_per_s"], True) + f"; p99 {e['p99_ms']} ms"))
        rows.append(("detector", "detect() on synthetic 5,000-char texts", fmt(s["per_s"], "articles/s"),
                     check(s["per_s"], TARGETS["detector_per_s"], True) + f"; p99 {s['p99_ms']} ms"))
    m = r.get("memory", {})
    for phase, v in m.get("tree_peak_mb", {}).items():
        parts = m.get("tree_peak_breakdown_mb", {}).get(phase, [])
        notes = [" + ".join(f"{name} {x:,.0f}" for name, x in parts if x >= 1)] if parts else []
        no_api = m.get("tree_peak_without_prefect_api_mb", {}).get(phase)
        if no_api is not None and no_api < v:
            notes.append(f"{fmt(no_api)} MB without Prefect's API process")
        if phase == "accesswatch":
            if r["meta"]["pages"] >= 20_000:
                notes.append(check(v, TARGETS["peak_rss_mb"], False))
            else:
                notes.append(f"target <= {TARGETS['peak_rss_mb']:g} MB applies at 20,000 articles (--large)")
        rows.append(("memory", f"peak RSS of process tree: {phase}", fmt(v, "MB"), "; ".join(notes)))
    for phase, msg in r.get("errors", {}).items():
        rows.append(("errors", phase, "FAILED", msg[:200]))
    if "rusage" in m:
        rows.append(("memory", "ru_maxrss: this process", fmt(m["rusage"]["self_mb"], "MB"), ""))
        rows.append(("memory", "ru_maxrss: largest finished child", fmt(m["rusage"]["children_mb"], "MB"),
                     "one child, not a sum"))
    return rows


def render_text(rows: list[tuple[str, str, str, str]]) -> str:
    w = [max(len(r[i]) for r in rows) for i in range(3)] if rows else [0, 0, 0]
    out, last = [], None
    for sec, name, val, tgt in rows:
        if sec != last:
            out.append("")
            last = sec
        out.append(f"{sec:<{w[0]}}  {name:<{w[1]}}  {val:>{w[2]}}  {tgt}".rstrip())
    return "\n".join(out).strip("\n")


def render_md(r: dict[str, Any], rows: list[tuple[str, str, str, str]]) -> str:
    meta = r["meta"]
    lines = [
        "# accesswatch benchmark: latest run", "",
        f"{meta['finished_at']} on {meta['cpu_count']} cores ({meta['platform']}), Python {meta['python']}; "
        f"{meta['feeds']} feeds x {meta['articles_per_feed']} articles = {meta['pages']:,} pages from a pool of "
        f"{meta['pool_pages']} corpus pages ({meta['mix']}, mean {meta['pool_mean_kb']} KiB), on {meta['sites']} "
        f"local host:ports; quiet run over {meta['quiet_feeds']:,} feeds. Load average (1, 5, 15 min) "
        f"at start {meta['loadavg_start']}, at end {meta['loadavg_end']}.", "",
        f"Reproduce: `make bench BENCH_ARGS=\"{meta['argv']}\"`" if meta["argv"] else "Reproduce: `make bench`", "",
        "| section | measure | value | target / notes |", "| --- | --- | ---: | --- |",
    ]
    lines += [f"| {s} | {n.strip()} | {v} | {t} |" for s, n, v, t in rows]
    if meta.get("env_overrides"):
        lines += ["", "Settings overridden from the environment: " +
                  ", ".join(f"`{k}={v}`" for k, v in meta["env_overrides"].items())]
    return "\n".join(lines) + "\n"


def write_results(out: Path, r: dict[str, Any], md: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, text in (("latest.json", json.dumps(r, indent=2, default=str) + "\n"), ("latest.md", md)):
        tmp = out / (name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out / name)


# ------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(BENCH))
    from awbench.corpus import corpus_missing, default_corpus, load_pool

    corpus = args.corpus or default_corpus(ROOT)
    missing = corpus_missing(corpus)
    if missing:
        print(f"bench: SKIPPED: {missing}", file=sys.stderr)
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="aw-bench-"))
    if not args.keep:
        # registered before Prefect is imported, so it runs after Prefect's own exit handlers
        # (atexit is LIFO) have stopped the temporary API that lives in this directory
        import atexit

        atexit.register(shutil.rmtree, tmp, True)
    prefect_home = tmp / "prefect-home"
    prefect_home.mkdir()
    # Prefect reads these at import: a throwaway home, no analytics, a generous start-up timeout.
    os.environ["PREFECT_HOME"] = str(prefect_home)
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ["DO_NOT_TRACK"] = "1"
    os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "180"
    os.environ.pop("PREFECT_API_URL", None)  # always the temporary local API
    env_overrides = {k: v for k, v in os.environ.items()
                     if k.startswith("ACCESSWATCH_") and k not in ("ACCESSWATCH_HTTP_ALLOWED_PRIVATE_HOSTS",
                                                                    "ACCESSWATCH_CONFIG_DIR", "ACCESSWATCH_DATABASE_PATH")}
    sys.path.insert(0, str(ROOT))  # flows/ from this working tree
    sys.path.insert(0, str(ROOT / "src"))

    from awbench.procs import TreeSampler, cpu_delta, rusage_mb, tree_cpu
    from awbench.server import SiteProcess

    # one snapshot of config/ at start: every run of this benchmark uses the same settings
    base_cfg = tmp / "config-snapshot"
    base_cfg.mkdir()
    for name in ("accesswatch.toml", "vendors.toml"):
        shutil.copy(ROOT / "config" / name, base_cfg / name)
    pool = load_pool(corpus, args.mix)
    if not pool:
        print(f"bench: SKIPPED: no usable pages under {corpus / 'html'}", file=sys.stderr)
        return 0
    quiet_extra = max(0, args.quiet_feeds - args.feeds)
    cores = os.cpu_count() or 1
    log(f"pool: {len(pool)} pages ({args.mix}); {args.feeds} feeds x {args.articles_per_feed} articles "
        f"= {args.feeds * args.articles_per_feed:,} pages on {args.sites} sites; {cores} cores; temp {tmp}")

    sampler = TreeSampler().start()
    site = SiteProcess(args.sites, args.feeds, args.articles_per_feed, quiet_extra,
                       [(p.path, p.content_type, p.title) for p in pool])
    sampler.exclude.add(site.pid or -1)
    layout = site.layout
    os.environ["ACCESSWATCH_HTTP_ALLOWED_PRIVATE_HOSTS"] = json.dumps([f"127.0.0.1:{p}" for p in layout.ports])

    results: dict[str, Any] = {"meta": {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "argv": " ".join(sys.argv[1:] if argv is None else argv),
        "cpu_count": cores, "platform": platform.platform(terse=True), "python": platform.python_version(),
        "feeds": args.feeds, "articles_per_feed": args.articles_per_feed, "pages": layout.pages,
        "quiet_feeds": args.quiet_feeds, "sites": args.sites, "mix": args.mix, "pool_pages": len(pool),
        "pool_mean_kb": round(statistics.mean(p.size for p in pool) / 1024),
        "corpus": str(corpus), "env_overrides": env_overrides, "skipped": sorted(args.skip),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }}
    if os.getloadavg()[0] > 0.5 * cores:
        log(f"warning: load average {os.getloadavg()[0]:.1f} on {cores} cores: other work is running, "
            "timings will be noisy")
    errors: dict[str, str] = {}
    state: dict[str, Any] = {"texts": {}}

    def attempt(name: str, fn: Callable[[], Any]) -> None:
        """Run one phase; a failure is recorded and the other phases go on."""
        sampler.set_phase(name)
        try:
            fn()
        except Exception as e:
            import traceback

            traceback.print_exc()
            errors[name] = f"{type(e).__name__}: {e}"
            log(f"{name}: FAILED ({errors[name]}); going on with the other phases")

    def cpu() -> dict[str, float]:
        return tree_cpu(sampler.exclude)

    main_feeds = [(f"Bench {f:05d}", layout.feed_url(f)) for f in range(args.feeds)]
    main_cfg = write_config(tmp / "cfg-main", main_feeds, base_cfg)
    main_db = tmp / "accesswatch.duckdb"
    flow: dict[str, Any] = {}

    def phase_limit() -> None:
        workers = args.limit_workers or cores
        log(f"limit: extract_one over {layout.pages:,} pages on {workers} processes")
        results["limit"], state["texts"] = measure_limit(pool, layout, workers, cpu)
        log(f"limit: {results['limit']['pages_per_s']} pages/s")

    def phase_naive() -> None:
        log("naive: bench/naive.py (serial)")
        results["naive"] = measure_naive(layout, tmp, args.naive_max_pages)
        log(f"naive: {results['naive']['pages_per_s']} pages/s")

    def phase_detector() -> None:
        texts = state["texts"] or extract_serially(pool)
        log(f"detector: {len(texts)} extracted texts and 200 synthetic ones, one core")
        results["detector"] = measure_detector(texts, args.detector_seconds, base_cfg / "vendors.toml")

    def phase_prefect() -> None:
        # the first flow run starts the temporary local API; later ones find it up
        t = time.perf_counter()
        import flows.monitor as monitor_mod
        import_s = time.perf_counter() - t
        flow["mod"] = monitor_mod
        empty_cfg = write_config(tmp / "cfg-empty", [("Empty", layout.empty_url())], base_cfg)
        log("prefect: first empty flow run (starts the local API)")
        r0, first_s = run_flow(monitor_mod.monitor, empty_cfg, tmp / "empty.duckdb")
        later = [run_flow(monitor_mod.monitor, empty_cfg, tmp / "empty.duckdb")[1] for _ in range(2)]
        results["prefect"] = {"import_seconds": round(import_s, 3), "first_empty_run_seconds": round(first_s, 3),
                              "later_empty_run_seconds": round(statistics.mean(later), 3),
                              "later_runs": [round(x, 3) for x in later],
                              "startup_seconds": round(first_s - statistics.mean(later), 3),
                              "first_status": r0.get("status")}
        log(f"prefect: first {first_s:.2f} s, later {statistics.mean(later):.2f} s")

    def phase_accesswatch() -> None:
        monitor_mod = flow["mod"]
        acc: dict[str, float] = defaultdict(float)
        calls: dict[str, int] = defaultdict(int)
        restore = instrument_tasks(monitor_mod, acc, calls)
        log(f"accesswatch: monitor flow over {layout.pages:,} pages")
        c0 = cpu()
        try:
            res, secs = run_flow(monitor_mod.monitor, main_cfg, main_db)
        finally:
            restore()
        used = cpu_delta(c0, cpu())
        task_total = sum(acc.values())
        aw = {"pages": res["pages_fetched"], "seconds": round(secs, 3),
              "pages_per_s": rate(res["pages_fetched"], secs), "status": res["status"],
              **cpu_fields(used, res["pages_fetched"]),
              "counts": {k: v for k, v in res.items() if k not in ("summary", "errors", "run_id")},
              "errors": res.get("errors", [])[:5],
              "task_fn_seconds": {k: round(v, 3) for k, v in acc.items()},
              "task_fn_calls": dict(calls),
              "outside_tasks_seconds": round(secs - task_total, 3)}
        try:
            aw["prefect_task_runs"] = prefect_task_runs(res["run_id"], sum(calls.values()))
        except Exception as e:  # reporting only
            aw["prefect_task_runs_error"] = f"{type(e).__name__}: {e}"
        results["accesswatch"] = aw
        log(f"accesswatch: {aw['pages_per_s']} pages/s ({res['status']}; "
            f"{res['articles_stored']} stored, {res['pages_failed']} failed)")

    def phase_quiet() -> None:
        # every feed answers 304: the main feeds (their ETags are stored) plus extra ones,
        # which a priming run lets answer 200 once
        monitor_mod = flow["mod"]
        quiet_feeds = main_feeds[:args.quiet_feeds] + [
            (f"Quiet {i:05d}", layout.quiet_url(i)) for i in range(quiet_extra)]
        quiet_cfg = write_config(tmp / "cfg-quiet", quiet_feeds, base_cfg)
        log(f"quiet: priming run over {len(quiet_feeds):,} feeds (the extra ones answer 200 once)")
        _, prime_s = run_flow(monitor_mod.monitor, quiet_cfg, main_db)
        before = site.stats()
        acc: dict[str, float] = defaultdict(float)
        calls: dict[str, int] = defaultdict(int)
        restore = instrument_tasks(monitor_mod, acc, calls)
        log("quiet: the measured run (all 304)")
        c0 = cpu()
        try:
            qres, q_s = run_flow(monitor_mod.monitor, quiet_cfg, main_db)
        finally:
            restore()
        used = cpu_delta(c0, cpu())
        after = site.stats()
        results["quiet"] = {
            "feeds": len(quiet_feeds), "seconds": round(q_s, 3), "priming_seconds": round(prime_s, 3),
            "cpu_seconds": used["total"], "prefect_api_cpu_seconds": used["prefect-api"],
            "not_modified": qres["feeds_not_modified"], "ok": qres["feeds_ok"],
            "failed": qres["feeds_failed"], "entries_new": qres["entries_new"],
            "server_304": after["feeds_304"] - before["feeds_304"],
            "server_200": after["feeds_200"] - before["feeds_200"],
            "task_fn_seconds": {k: round(v, 3) for k, v in acc.items()},
            "task_fn_total_seconds": round(sum(acc.values()), 3), "status": qres["status"]}
        log(f"quiet: {q_s:.2f} s ({qres['feeds_not_modified']} not modified)")

    def phase_stages() -> None:
        log(f"stages: the stage functions directly (no Prefect) over {layout.pages:,} pages")
        results["stages"] = measure_stages(main_cfg, tmp / "stages.duckdb", cpu)
        log(f"stages: {results['stages']['pages_per_s']} pages/s")

    try:
        if "limit" not in args.skip:
            attempt("limit", phase_limit)
        if "naive" not in args.skip:
            attempt("naive", phase_naive)
        if "detector" not in args.skip:
            attempt("detector", phase_detector)
        state["texts"] = {}
        if not {"accesswatch", "quiet"} <= args.skip:
            attempt("prefect-startup", phase_prefect)
            if "mod" in flow:
                # the quiet run needs the main run's database (its feeds' ETags)
                attempt("accesswatch", phase_accesswatch)
                if "quiet" not in args.skip and "accesswatch" not in errors:
                    attempt("quiet", phase_quiet)
        if "stages" not in args.skip:
            attempt("stages", phase_stages)
    finally:
        sampler.stop()
        results["memory"] = {"tree_peak_mb": {k: mb(v) for k, v in sampler.peaks.items() if k != "setup"},
                             "tree_peak_without_prefect_api_mb": {
                                 k: mb(v) for k, v in sampler.peaks_without_api.items() if k != "setup"},
                             "tree_peak_procs": {k: v for k, v in sampler.peak_procs.items() if k != "setup"},
                             "tree_peak_breakdown_mb": {k: [[name, mb(v)] for name, v in rows]
                                                        for k, rows in sampler.breakdown.items() if k != "setup"},
                             "rusage": rusage_mb(),
                             "note": "tree = summed RSS of this process and its descendants (the page "
                                     "server excluded), sampled every 0.25 s; ru_maxrss children = the "
                                     "largest single waited-for child (it can include the parent's RSS copied at fork)"}
        results["server"] = site.stop()

    if errors:
        results["errors"] = errors
    status = 1 if errors else 0
    ratios: dict[str, float] = {}
    aw = results.get("accesswatch")
    if aw and results.get("limit"):
        ratios["aw_vs_limit"] = round(aw["pages_per_s"] / results["limit"]["pages_per_s"], 3)
    if aw and results.get("naive"):
        ratios["aw_vs_naive"] = round(aw["pages_per_s"] / results["naive"]["pages_per_s"], 3)
    results["ratios"] = ratios
    results["targets"] = TARGETS
    results["meta"]["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["meta"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    rows = build_rows(results)
    results["table"] = [list(r) for r in rows]
    print(render_text(rows))
    write_results(args.out, results, render_md(results, rows))
    print(f"\nwrote {args.out / 'latest.json'} and {args.out / 'latest.md'}")
    if args.keep:
        print(f"kept {tmp}")
    return status


if __name__ == "__main__":
    sys.exit(main())
