"""The ``monitor`` flow: poll feeds -> fetch pages -> extract -> detect -> store.

Tasks are thin wrappers over stage functions in ``accesswatch``; they run over batches
(one task run per stage per batch, never one per article). Only network tasks retry, and
only on transient errors. Run it with ``accesswatch run`` (or ``python -m flows.monitor``).
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from accesswatch import alerts, detect, extract, feeds, fetch, health, stories
from accesswatch.config import Config, load_config, slack_secrets
from accesswatch.errors import is_transient
from accesswatch.models import Article, Detection, Entry, FeedResult, Page, RunCounts
from accesswatch.runlock import exclusive_run
from accesswatch.store import Store


def _retry_transient(task, task_run, state) -> bool:  # noqa: ANN001 (Prefect's signature)
    try:
        state.result()
    except Exception as e:
        return is_transient(e)
    return False


_task = {"cache_policy": NO_CACHE, "persist_result": False}
_net = {**_task, "retries": 2, "retry_delay_seconds": [2, 10], "retry_condition_fn": _retry_transient}


@task(name="poll-feeds", **_net)
def poll_feeds(cfg: Config, now: datetime) -> list[FeedResult]:
    store = Store(cfg.db_path, cfg.settings.database.lock_timeout_seconds)
    store.sync_feeds(cfg.feeds, now)
    return feeds.poll_feeds(cfg.feeds, store.feed_states(), now, cfg.settings.http, cfg.settings.feeds)


@task(name="record-feeds", **_task)
def record_feeds(cfg: Config, results: list[FeedResult], now: datetime) -> list[Entry]:
    store = Store(cfg.db_path, cfg.settings.database.lock_timeout_seconds)
    states = store.feed_states()
    store.record_feed_results(results, feeds.plan_next_polls(results, states, now, cfg.settings.feeds), now)
    every = [e for r in results for e in r.entries]
    known_urls, known_guids = store.known(every)
    return feeds.new_entries(results, known_urls, known_guids)


@task(name="feed-notices", **_task)
def feed_notices(cfg: Config, now: datetime) -> int:
    store = Store(cfg.db_path, cfg.settings.database.lock_timeout_seconds)
    f = cfg.settings.feeds
    notices = health.plan_notices(store.feed_health_rows(), now, f.notice_after_failures, f.quiet_factor,
                                  timedelta(hours=f.quiet_min_hours))
    store.save_notices(notices, now)
    return len(notices)


@task(name="fetch-pages", **_net)
def fetch_pages(cfg: Config, entries: list[Entry]) -> list[Page]:
    return fetch.fetch_pages(entries, cfg.settings.http)


@task(name="extract", **_task)
def extract_articles(cfg: Config, pages: list[Page], now: datetime) -> list[Article]:
    return extract.extract_articles(pages, cfg.settings.extract, now)


@task(name="detect", **_task)
def detect_disputes(cfg: Config, articles: list[Article]) -> list[tuple[str, Detection]]:
    gaz = detect.load_gazetteer(cfg.vendors_path)
    return detect.detect_articles([(a.article_id, a.title, a.text) for a in articles], gaz,
                                  cfg.settings.detect.threshold)


@task(name="store", **_task)
def save(cfg: Config, articles: list[Article], detections: list[tuple[str, Detection]],
         entries: list[Entry], run_id: str, now: datetime) -> int:
    store = Store(cfg.db_path, cfg.settings.database.lock_timeout_seconds)
    return store.save_batch(articles, detections, entries, run_id, now)


@task(name="group-stories", **_task)
def group_stories(cfg: Config, now: datetime) -> int:
    store = Store(cfg.db_path, cfg.settings.database.lock_timeout_seconds)
    return sum(c.new for c in stories.update_stories(store, cfg.settings.alerts, now))


@task(name="deliver-alerts", **_task)
def deliver_alerts(cfg: Config) -> alerts.DeliveryReport:
    # the token is read here, from the environment: never a flow or task parameter
    sink = alerts.make_sink(slack_secrets(), cfg.settings.slack)
    store = Store(cfg.db_path, cfg.settings.database.lock_timeout_seconds)
    if cfg.settings.alerts.daily_digest:
        store.queue_digest(datetime.now(UTC), cfg.settings.alerts.digest_hour_utc)
    return alerts.deliver(store, sink, cfg.settings.alerts)


@flow(name="monitor", log_prints=True)
def monitor(config_dir: str | None = None, db_path: str | None = None) -> dict:
    """Poll every due feed once and store what is new. Returns the run's counts.

    Runs never overlap on one database: a run that finds another one working is skipped
    (recorded in `runs` with status 'skipped')."""
    log = get_run_logger()
    cfg = load_config(config_dir, db_path)
    with exclusive_run(cfg.db_path) as holder:
        if holder is not None:
            now = datetime.now(UTC)
            run_id = str(flow_run.get_id() or uuid.uuid4())
            summary = f"Skipped: another monitor run is still working on {cfg.db_path} ({holder})."
            log.warning(summary)
            store = Store(cfg.db_path, cfg.settings.database.lock_timeout_seconds)
            store.start_run(run_id, flow_run.get_id(), now)
            store.finish_run(run_id, RunCounts(), "skipped", summary, now)
            return {"run_id": run_id, "status": "skipped", "summary": summary, **RunCounts().as_dict()}
        return _run(cfg, log)


def _run(cfg: Config, log) -> dict:  # noqa: ANN001 (Prefect's logger adapter)
    started = time.perf_counter()
    now = datetime.now(UTC)
    store = Store(cfg.db_path, cfg.settings.database.lock_timeout_seconds)
    if interrupted := store.close_interrupted_runs(now):
        log.warning("%d earlier run(s) had been interrupted; marked failed", interrupted)
    run_id = str(flow_run.get_id() or uuid.uuid4())
    store.start_run(run_id, flow_run.get_id(), now)
    counts = RunCounts(feeds_total=len(cfg.feeds))
    status = "completed"
    try:
        results = poll_feeds(cfg, now)
        for r in results:
            counts.entries_seen += len(r.entries)
            if r.status == "error":
                counts.errors.append(f"feed {r.feed}: {r.error}")
        counts.feeds_ok = sum(r.status == "ok" for r in results)
        counts.feeds_not_modified = sum(r.status == "not_modified" for r in results)
        counts.feeds_failed = sum(r.status == "error" for r in results)
        counts.feeds_skipped = sum(r.status == "skipped" for r in results)
        new = record_feeds(cfg, results, now)
        feed_notices(cfg, now)
        counts.entries_new = len(new)
        size = cfg.settings.pipeline.batch_size
        # extraction workers start while the first batch's pages download
        extract.prewarm(cfg.settings.extract, min(len(new), size))
        for start in range(0, len(new), size):
            entries = new[start:start + size]
            pages = fetch_pages(cfg, entries)
            articles = extract_articles(cfg, pages, now)
            detections = detect_disputes(cfg, articles)
            counts.articles_stored += save(cfg, articles, detections, entries, run_id, now)
            counts.pages_fetched += sum(p.html is not None for p in pages)
            counts.pages_failed += sum(p.html is None for p in pages)
            counts.errors.extend(f"page {p.entry.url}: {p.error}" for p in pages if p.error)
            counts.extracted += sum(a.extraction == "trafilatura" for a in articles)
            counts.summary_fallback += sum(a.extraction == "summary" for a in articles)
            counts.disputes += sum(d.is_dispute for _, d in detections)
        # stories and alerts also pick up what an earlier, interrupted run left behind
        counts.stories_new = group_stories(cfg, now)
        report = deliver_alerts(cfg)
        counts.alerts_sent = report.sent
        counts.alerts_failed = report.failed + report.dead
        counts.errors.extend(report.errors or [])
    except BaseException as e:
        status = "failed"
        counts.errors.append(f"run failed: {type(e).__name__}: {e}")
        raise
    finally:
        summary = counts.summary(time.perf_counter() - started)
        log.info(summary)
        store.finish_run(run_id, counts, status, summary, datetime.now(UTC))
    return {"run_id": run_id, "status": status, "summary": summary, **counts.as_dict()}


if __name__ == "__main__":
    monitor()
