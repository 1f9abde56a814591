"""Feed health notices: one notice when a feed starts failing or goes quiet, one when it
recovers; never one per run. Pure: rows and ``now`` in, notices out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True, slots=True)
class Notice:
    feed: str
    state: str  # the feed's new notice state: failing | quiet | ok
    text: str


def plan_notices(feeds: list[dict[str, Any]], now: datetime, failures: int, quiet_factor: float,
                 quiet_min: timedelta) -> list[Notice]:
    """``feeds``: rows of the feed_health view. A feed is failing after ``failures`` failed
    polls in a row; quiet when its newest item is older than ``quiet_factor`` times its
    typical gap (and at least ``quiet_min``)."""
    out: list[Notice] = []
    for f in feeds:
        name, state = f["name"], f.get("notice_state") or "ok"
        failing = (f.get("consecutive_failures") or 0) >= failures
        gap, last = f.get("typical_gap"), f.get("last_item_at")
        quiet = bool(gap and last and (f.get("items_stored") or 0) >= 4
                     and now - last > max(quiet_factor * gap, quiet_min))
        if failing and state != "failing":
            out.append(Notice(name, "failing", f"Feed {name} has failed {f['consecutive_failures']} polls in a row: "
                                               f"{(f.get('last_error') or 'unknown error')[:200]}"))
        elif quiet and not failing and state == "ok":
            out.append(Notice(name, "quiet", f"Feed {name} has gone quiet: no new item since "
                                             f"{last:%Y-%m-%d %H:%M} UTC (it usually posts every {_human(gap)})."))
        elif state != "ok" and not failing and not quiet:
            was = "failing" if state == "failing" else "quiet"
            out.append(Notice(name, "ok", f"Feed {name} has recovered (it was {was})."))
    return out


def _human(d: timedelta) -> str:
    hours = d.total_seconds() / 3600
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} days"
