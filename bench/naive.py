"""The script a user would write without accesswatch: serial, obvious, no frills.

    for each feed: feedparser.parse(url)
        for each entry: httpx.get(link) -> trafilatura.extract(html) -> one INSERT

Used by bench/run.py as the "naive" row; runnable alone:
    python bench/naive.py --feeds-file feeds.txt --db /tmp/naive.duckdb [--max-pages N]
Prints one JSON line with its timings at the end.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

t_process = time.perf_counter()

import duckdb  # noqa: E402
import feedparser  # noqa: E402
import httpx  # noqa: E402
import trafilatura  # noqa: E402

t_imported = time.perf_counter()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds-file", required=True, help="one feed URL per line")
    ap.add_argument("--db", required=True)
    ap.add_argument("--max-pages", type=int, default=0, help="stop after this many pages (0 = all)")
    args = ap.parse_args()
    with open(args.feeds_file, encoding="utf-8") as f:
        feed_urls = [line.strip() for line in f if line.strip()]

    started = time.perf_counter()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    con = duckdb.connect(args.db)
    con.execute("CREATE TABLE IF NOT EXISTS articles (url VARCHAR PRIMARY KEY, title VARCHAR, "
                "published VARCHAR, text VARCHAR, fetched_at TIMESTAMP)")
    pages = failed = 0
    t_feeds = t_get = t_extract = t_insert = cpu_extract = 0.0
    done = False
    for url in feed_urls:
        t = time.perf_counter()
        feed = feedparser.parse(url)
        t_feeds += time.perf_counter() - t
        for entry in feed.entries:
            t = time.perf_counter()
            try:
                r = httpx.get(entry.link, timeout=30)
                r.raise_for_status()
                html = r.text
            except httpx.HTTPError:
                failed += 1
                continue
            t_get += time.perf_counter() - t
            t, c = time.perf_counter(), time.process_time()
            text = trafilatura.extract(html, url=entry.link)
            t_extract += time.perf_counter() - t
            cpu_extract += time.process_time() - c
            t = time.perf_counter()
            con.execute("INSERT INTO articles VALUES (?, ?, ?, ?, now()) ON CONFLICT DO NOTHING",
                        [entry.link, entry.get("title"), entry.get("published"), text])
            t_insert += time.perf_counter() - t
            pages += 1
            if args.max_pages and pages >= args.max_pages:
                done = True
                break
        if done:
            break
    rows = con.execute("SELECT count(*), count(text) FROM articles").fetchone()
    con.close()
    seconds = time.perf_counter() - started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
    print(json.dumps({
        "pages": pages, "failed": failed, "rows": rows[0], "rows_with_text": rows[1],
        "seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3), "import_seconds": round(t_imported - t_process, 3),
        "feeds_seconds": round(t_feeds, 3), "get_seconds": round(t_get, 3),
        "extract_seconds": round(t_extract, 3), "extract_cpu_seconds": round(cpu_extract, 3), "insert_seconds": round(t_insert, 3),
        "maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()
