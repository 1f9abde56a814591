"""Group detected articles into stories (events), and decide which alerts a change calls for.

Pure functions of data and ``now``: the flow reads the open stories from the store, calls
:func:`assign` and :func:`plan_alerts`, and writes the result (stories and their pending
alerts in one transaction).

An article joins a story when
1. its text is a near-duplicate of one of the story's articles (MinHash over 5-word
   shingles, estimated Jaccard >= 0.6): syndicated copies and light rewrites, or
2. it names the same actor and target, its action is of the same family (a cut-off, the
   complaint about it and the probe behind it are one event; a restoration is another),
   and it appeared within ``window`` of the story's last article.
Syndicated copies (near-duplicates on different sites) count as one independent outlet.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from datasketch import MinHash

if TYPE_CHECKING:  # the stage function at the bottom does I/O through these
    from .config import AlertSettings
    from .store import Store

NUM_PERM = 64
NEAR_DUP = 0.6
_WORDS = re.compile(r"\w+")


def family(action: str | None) -> str:
    """Actions that belong to one event: the cut, the threat, the probe, the complaint."""
    return "restore" if action == "restore" else "dispute"


def minhash_of(text: str | None) -> tuple[int, ...] | None:
    """MinHash signature of a text's 5-word shingles (None for texts too short to compare)."""
    words = _WORDS.findall((text or "").lower())
    if len(words) < 20:
        return None
    m = MinHash(num_perm=NUM_PERM)
    m.update_batch([" ".join(words[i:i + 5]).encode("utf-8") for i in range(len(words) - 4)])
    return tuple(int(v) for v in m.hashvalues)


def similarity(a: Sequence[int] | None, b: Sequence[int] | None) -> float:
    if not a or not b or len(a) != len(b):
        return 0.0
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


@dataclass(frozen=True, slots=True)
class StoryArticle:
    """A detected dispute article, as the story stage needs it."""

    article_id: str
    url: str
    title: str | None
    host: str
    seen_at: datetime  # published, or fetched when the feed gave no date
    actor: str | None
    target: str | None
    action: str | None
    reason: str | None
    label: str
    score: float
    evidence: str | None
    minhash: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class Story:
    story_id: str
    actor: str | None
    target: str | None
    action: str | None
    family: str
    reason: str | None
    label: str
    score: float
    headline: str | None
    url: str
    evidence: str | None
    first_seen: datetime
    last_seen: datetime
    articles: tuple[StoryArticle, ...] = field(default=())

    @property
    def sources(self) -> int:
        """Distinct sites that carried the story."""
        return len({a.host for a in self.articles})

    @property
    def outlets(self) -> int:
        """Independent outlets: sites, with syndicated copies of one text counted once."""
        clusters: list[tuple[set[str], list[tuple[int, ...] | None]]] = []
        for a in sorted(self.articles, key=lambda x: x.seen_at):
            for hosts, sigs in clusters:
                if a.host in hosts or any(similarity(a.minhash, s) >= NEAR_DUP for s in sigs):
                    hosts.add(a.host)
                    sigs.append(a.minhash)
                    break
            else:
                clusters.append(({a.host}, [a.minhash]))
        return len(clusters)


@dataclass(frozen=True, slots=True)
class StoryChange:
    story: Story
    new: bool
    added: tuple[StoryArticle, ...]


def story_id_for(first_article_id: str) -> str:
    return "s" + hashlib.sha256(first_article_id.encode()).hexdigest()[:15]


def _summarise(story: Story) -> Story:
    """Headline, url, evidence, reason and score from the story's best article."""
    best = max(story.articles, key=lambda a: (a.score, a.title is not None, -a.seen_at.timestamp()))
    labels = {a.label for a in story.articles}
    return replace(
        story, headline=best.title or story.headline, url=best.url, evidence=best.evidence or story.evidence,
        reason=best.reason or story.reason, score=max(a.score for a in story.articles),
        label="positive" if "positive" in labels else best.label,
        first_seen=min(a.seen_at for a in story.articles), last_seen=max(a.seen_at for a in story.articles))


def _matches(story: Story, a: StoryArticle, window: timedelta) -> int:
    """0 = no; 2 = near-duplicate text; 1 = same parties and action family in the window."""
    if any(similarity(a.minhash, b.minhash) >= NEAR_DUP for b in story.articles):
        return 2
    if (story.actor, story.target, story.family) == (a.actor, a.target, family(a.action)) and (
            story.first_seen - window <= a.seen_at <= story.last_seen + window):
        return 1
    return 0


def assign(articles: Iterable[StoryArticle], stories: Iterable[Story], window: timedelta) -> list[StoryChange]:
    """Put each new article into an existing story or a new one. Articles already in a story
    are ignored, so a rerun changes nothing."""
    by_id = {s.story_id: s for s in stories}
    known = {a.article_id for s in by_id.values() for a in s.articles}
    created: set[str] = set()
    added: dict[str, list[StoryArticle]] = {}
    for a in sorted(articles, key=lambda x: (x.seen_at, x.article_id)):
        if a.article_id in known:
            continue
        known.add(a.article_id)
        scored = [(m, s) for s in by_id.values() if (m := _matches(s, a, window))]
        if scored:
            _, story = max(scored, key=lambda t: (t[0], t[1].last_seen))
            story = _summarise(replace(story, articles=story.articles + (a,)))
        else:
            story = _summarise(Story(
                story_id=story_id_for(a.article_id), actor=a.actor, target=a.target, action=a.action,
                family=family(a.action), reason=a.reason, label=a.label, score=a.score, headline=a.title,
                url=a.url, evidence=a.evidence, first_seen=a.seen_at, last_seen=a.seen_at, articles=(a,)))
            created.add(story.story_id)
        by_id[story.story_id] = story
        added.setdefault(story.story_id, []).append(a)
    return [StoryChange(by_id[sid], sid in created, tuple(arts)) for sid, arts in added.items()]


# ---------------------------------------------------------------- alerts
@dataclass(frozen=True, slots=True)
class AlertPolicy:
    min_score: float = 0.5
    include_borderline: bool = False
    watch_vendors: tuple[str, ...] = ()
    mute_vendors: tuple[str, ...] = ()


def should_alert(story: Story, policy: AlertPolicy) -> bool:
    if story.score < policy.min_score:
        return False
    if story.label != "positive" and not (policy.include_borderline and story.label == "borderline"):
        return False
    parties = {story.actor, story.target} - {None}
    if policy.mute_vendors and parties & set(policy.mute_vendors):
        return False
    return not (policy.watch_vendors and not parties & set(policy.watch_vendors))


@dataclass(frozen=True, slots=True)
class PlannedAlert:
    alert_id: str
    story_id: str
    kind: str  # "story" (a new parent message) or "followup" (a reply in the story's thread)
    article_id: str | None


def plan_alerts(changes: Iterable[StoryChange], alerted: set[str], policy: AlertPolicy) -> list[PlannedAlert]:
    """One "story" alert the first time a story qualifies; afterwards one "followup" per
    article from a site the story had not had yet. ``alerted``: stories with a story alert.
    Alert ids are deterministic, so planning twice yields the same rows (idempotent)."""
    out: list[PlannedAlert] = []
    for ch in changes:
        s = ch.story
        if not should_alert(s, policy):
            continue
        if s.story_id not in alerted:
            out.append(PlannedAlert(f"{s.story_id}:story", s.story_id, "story", None))
            continue
        before = {a.host for a in s.articles if a not in ch.added}
        for a in ch.added:
            if a.host not in before:
                before.add(a.host)
                out.append(PlannedAlert(f"{s.story_id}:{a.article_id}", s.story_id, "followup", a.article_id))
    return out


def next_attempt(attempts: int, now: datetime, base_minutes: float, retry_after: float | None = None) -> datetime:
    """Backoff for a failed delivery: base * 2^(attempts-1) minutes; a longer Retry-After wins."""
    wait = timedelta(minutes=base_minutes * 2 ** max(0, attempts - 1))
    if retry_after:
        wait = max(wait, timedelta(seconds=retry_after))
    return now + wait


# ---------------------------------------------------------------- the stage
def policy_from(settings: AlertSettings) -> AlertPolicy:
    return AlertPolicy(min_score=settings.min_score, include_borderline=settings.include_borderline,
                       watch_vendors=tuple(settings.watch_vendors), mute_vendors=tuple(settings.mute_vendors))


def _quote(evidence: Sequence[str] | None, title: str | None) -> str | None:
    """The evidence sentence to quote: the first one that is not the headline itself."""
    ev = list(evidence or [])
    return next((e for e in ev if e != title), ev[0] if ev else None)


def candidate_from_row(r: dict[str, object]) -> StoryArticle:
    """A stored dispute article (store.story_candidates row) as the story stage needs it. The
    source is the site's own name when the page gives one (a publisher's brands can share a
    host), else the host."""
    from .urls import host_of

    return StoryArticle(
        article_id=str(r["article_id"]), url=str(r["url"]), title=r["title"],  # type: ignore[arg-type]
        host=str(r["site"] or host_of(str(r["url"]))), seen_at=r["seen_at"],  # type: ignore[arg-type]
        actor=r["actor"], target=r["target"], action=r["action"], reason=r["reason"],  # type: ignore[arg-type]
        label=str(r["label"]), score=float(r["score"]),  # type: ignore[arg-type]
        evidence=_quote(r["evidence"], r["title"]), minhash=minhash_of(r["text"]))  # type: ignore[arg-type]


def update_stories(store: Store, settings: AlertSettings, now: datetime) -> list[StoryChange]:
    """The story stage: read candidates and open stories, decide (the pure functions above),
    write stories and their pending alerts in one transaction."""
    window = timedelta(days=settings.story_window_days)
    candidates = [candidate_from_row(r) for r in
                  store.story_candidates(now - timedelta(days=30), ("positive", "borderline"))]
    if not candidates:
        return []
    open_ = store.open_stories(now - 2 * window - timedelta(days=30))
    changes = assign(candidates, open_, window)
    alerted = store.alerted_stories([c.story.story_id for c in changes])
    store.save_stories(changes, plan_alerts(changes, alerted, policy_from(settings)), now)
    return changes


def digest_text(stories: Sequence[dict[str, object]], day: str) -> str | None:
    """The daily digest: one line per story of the last day, strongest first (None if none)."""
    if not stories:
        return None
    lines = [f"Daily digest {day}: {len(stories)} API access dispute stor{'y' if len(stories) == 1 else 'ies'}"]
    for st in sorted(stories, key=lambda x: -float(x.get("score") or 0))[:30]:  # type: ignore[arg-type]
        lines.append(f"- {st.get('actor') or '?'} -> {st.get('target') or '?'} ({st.get('action') or 'dispute'}, "
                     f"{st.get('sources')} sources): {st.get('headline')} {st.get('url')}")
    return "\n".join(lines)


def due_digest(now: datetime, hour_utc: int, last_digest_day: str | None) -> str | None:
    """The day (YYYY-MM-DD) whose digest is due now, or None."""
    day = now.strftime("%Y-%m-%d")
    return day if now.hour >= hour_utc and last_digest_day != day else None
