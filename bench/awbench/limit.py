"""The extraction limit: accesswatch.extract.extract_one over the pages, on every core.

Workers (spawn, like the pipeline) read and decode the page pool once at start, so the
measured part is extraction alone: no HTTP, no pickling of page bodies, no pool start-up.
"""

from __future__ import annotations

import time
from typing import Any

_POOL: list[str] = []


def init(pool: list[tuple[str, str, str]]) -> None:
    global _POOL
    from accesswatch.fetch import decode_html

    out = []
    for path, ctype, _title in pool:
        with open(path, "rb") as f:
            out.append(decode_html(f.read(), ctype))
    _POOL = out
    import trafilatura  # noqa: F401  (import cost belongs to start-up, not to the measurement)


def ready(seconds: float) -> int:
    """Warm-up task: keeps a worker busy briefly so that every worker gets started."""
    time.sleep(seconds)
    return len(_POOL)


def work(chunk: list[tuple[int, str, bool]]) -> list[tuple[int, int, str | None, str | None]]:
    """(pool index, url, keep text?) -> (pool index, text length, text or None, title or None)."""
    from accesswatch.extract import extract_one

    out = []
    for idx, url, keep in chunk:
        d: dict[str, Any] = extract_one(_POOL[idx], url)
        text = d.get("text") or ""
        out.append((idx, len(text), text if keep else None, d.get("title") if keep else None))
    return out
