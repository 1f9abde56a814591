"""Alerts: Slack (bot token or webhook) or the console, fed from the outbox in the store.

Delivery loses nothing and doubles nothing:
- alerts are written as ``pending`` with their story (one transaction), then claimed
  (``sending``), sent, and marked ``sent`` with the Slack ts;
- a failure keeps the attempt count and the error and waits with backoff (Retry-After
  honoured); permanent errors (invalid_auth, channel_not_found, ...) stop retries (``dead``);
- every parent message carries the story id as Slack message metadata. When an earlier
  attempt may have reached Slack (a timeout, a 5xx, a run that died mid-send), the sender
  first looks for that metadata in the channel's recent history and records what it finds
  instead of posting again.

Secrets come from the environment only (see config.slack_secrets) and never reach logs,
the database or exceptions: slack-sdk errors are reduced to Slack's error code.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from .config import AlertSettings, SlackSecrets, SlackSettings
from .store import Store
from .stories import next_attempt

log = logging.getLogger(__name__)

METADATA_EVENT = "accesswatch_story"
_MRKDWN_LINK = re.compile(r"<([^|>]+)\|([^>]*)>")
# Slack errors that no retry can fix.
PERMANENT_ERRORS = frozenset({
    "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "no_permission",
    "missing_scope", "channel_not_found", "not_in_channel", "is_archived", "invalid_arguments",
    "restricted_action", "team_access_not_granted", "ekm_access_denied", "invalid_blocks", "msg_too_long",
    "no_service", "no_service_id", "no_team", "team_disabled", "invalid_token", "action_prohibited",
})


class DeliveryError(Exception):
    def __init__(self, message: str, *, permanent: bool, uncertain: bool, retry_after: float | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.uncertain = uncertain
        self.retry_after = retry_after


def escape(text: str | None) -> str:
    """Escape text for Slack mrkdwn: &, < and > (so "<!channel>" or "<@U1>" mention nobody)."""
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(url: str, label: str) -> str:
    # a URL inside <...|...> must not contain | or > either
    safe_url = url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
    return f"<{safe_url}|{escape(label)}>"


# ---------------------------------------------------------------- messages
def _parties(s: dict[str, Any]) -> str:
    actor = s.get("actor") or "?"
    target = s.get("target") or ("companies in a class" if s.get("reason") == "national security" else "?")
    return f"{actor} → {target}"


def story_message(s: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """(fallback text, Block Kit blocks) for a story's parent message."""
    headline = s.get("headline") or s.get("url")
    action = s.get("action") or "dispute"
    reason = f" · reason: {escape(s['reason'])}" if s.get("reason") else ""
    sources = int(s.get("sources") or 1)
    outlets = int(s.get("outlets") or sources)
    text = f"API access dispute: {escape(_parties(s))} ({escape(action)}): {escape(headline)}"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{_link(s['url'], headline)}*"}},
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": f"*{escape(_parties(s))}* · {escape(action)}{reason}"}},
    ]
    if s.get("evidence"):
        quote = escape(str(s["evidence"])[:500])
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"> {quote}"}})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": (
        f"{sources} source{'s' if sources != 1 else ''} · {outlets} independent outlet{'s' if outlets != 1 else ''}"
        f" · confidence {float(s.get('score') or 0):.2f} · accesswatch")}]})
    return text, blocks


def followup_message(s: dict[str, Any], a: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    title = a.get("title") or a.get("url")
    text = f"More coverage: {escape(title)}"
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": (
        f"More coverage ({escape(a.get('site') or a.get('feed') or '')}): *{_link(a['url'], title)}*")}}]
    if a.get("evidence"):
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"> {escape(str(a['evidence'])[:300])}"}})
    return text, blocks


def summary_message(stories: Sequence[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    lines = [f"• {_link(s['url'], s.get('headline') or s['url'])} ({escape(_parties(s))}, {escape(s.get('action') or '')})"
             for s in stories[:40]]
    more = f"\n…and {len(stories) - 40} more" if len(stories) > 40 else ""
    text = f"{len(stories)} more API access dispute stories"
    return text, [{"type": "section", "text": {"type": "mrkdwn",
                                               "text": f"*{text}* (flood guard):\n" + "\n".join(lines) + more}}]


# ---------------------------------------------------------------- sinks
@dataclass(frozen=True)
class Posted:
    channel: str | None
    ts: str | None


class Sink(Protocol):
    name: str
    threads: bool

    def post(self, text: str, blocks: list[dict[str, Any]], *, thread_ts: str | None = None,
             story_id: str | None = None) -> Posted: ...

    def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None: ...

    def find(self, story_id: str, oldest: datetime) -> Posted | None: ...


def _slack_error(e: Exception) -> DeliveryError:
    """slack-sdk exception -> DeliveryError with no secret in it (only Slack's error code)."""
    from slack_sdk.errors import SlackApiError

    if isinstance(e, SlackApiError):
        resp = e.response
        code = (resp.data or {}).get("error") if isinstance(resp.data, dict) else None
        status = getattr(resp, "status_code", None)
        retry_after = None
        if status == 429:
            try:
                retry_after = float(resp.headers.get("Retry-After") or resp.headers.get("retry-after") or 0) or None
            except (TypeError, ValueError):
                retry_after = None
        code = code or f"http_{status}"
        return DeliveryError(f"slack error: {code} (HTTP {status})", permanent=code in PERMANENT_ERRORS,
                             uncertain=status is not None and status >= 500, retry_after=retry_after)
    # timeouts, connection resets: the request may have reached Slack
    return DeliveryError(f"slack unreachable: {type(e).__name__}", permanent=False, uncertain=True)


class SlackBotSink:
    """chat.postMessage / chat.update / conversations.history with a bot token."""

    name = "slack"
    threads = True

    def __init__(self, token: str, channel: str, base_url: str = "", timeout: int = 10):
        from slack_sdk import WebClient
        from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

        self.channel = channel
        self._client = WebClient(token=token, base_url=base_url or "https://slack.com/api/", timeout=timeout,
                                 retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)])
        self._channel_id: str | None = None

    def __repr__(self) -> str:
        return f"SlackBotSink(channel={self.channel!r})"

    def post(self, text, blocks, *, thread_ts=None, story_id=None) -> Posted:  # noqa: ANN001
        kwargs: dict[str, Any] = {"channel": self._channel_id or self.channel, "text": text, "blocks": blocks,
                                  "unfurl_links": False, "unfurl_media": False}
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        if story_id:
            kwargs["metadata"] = {"event_type": METADATA_EVENT, "event_payload": {"story_id": story_id}}
        try:
            resp = self._client.chat_postMessage(**kwargs)
        except Exception as e:
            raise _slack_error(e) from None
        self._channel_id = resp.get("channel") or self._channel_id
        return Posted(resp.get("channel"), resp.get("ts"))

    def update(self, channel, ts, text, blocks) -> None:  # noqa: ANN001
        try:
            self._client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        except Exception as e:
            raise _slack_error(e) from None

    def find(self, story_id, oldest) -> Posted | None:  # noqa: ANN001
        """The story's parent message if it is already in the channel (by metadata)."""
        try:
            resp = self._client.conversations_history(channel=self._channel_id or self.channel,
                                                      oldest=str(oldest.timestamp()), limit=200,
                                                      include_all_metadata=True)
        except Exception as e:
            raise _slack_error(e) from None
        for msg in resp.get("messages", []):
            meta = msg.get("metadata") or {}
            if meta.get("event_type") == METADATA_EVENT and (meta.get("event_payload") or {}).get("story_id") == story_id:
                return Posted(resp.get("channel") or self._channel_id or self.channel, msg.get("ts"))
        return None


class WebhookSink:
    """An incoming webhook: same blocks, no threads, no history (replies become new messages)."""

    name = "webhook"
    threads = False

    def __init__(self, url: str, timeout: int = 10):
        from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
        from slack_sdk.webhook import WebhookClient

        self._client = WebhookClient(url, timeout=timeout, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)])

    def __repr__(self) -> str:
        return "WebhookSink(url=***)"

    def post(self, text, blocks, *, thread_ts=None, story_id=None) -> Posted:  # noqa: ANN001
        try:
            resp = self._client.send(text=text, blocks=blocks)
        except Exception as e:
            raise _slack_error(e) from None
        if resp.status_code == 429:
            ra = resp.headers.get("Retry-After") or resp.headers.get("retry-after")
            raise DeliveryError("webhook rate limited", permanent=False, uncertain=False,
                                retry_after=float(ra) if ra and str(ra).isdigit() else None)
        if resp.status_code >= 400:
            body = (resp.body or "")[:60]
            permanent = resp.status_code in (400, 403, 404, 410) and body not in ("",)
            raise DeliveryError(f"webhook error {resp.status_code}: {body}", permanent=permanent,
                                uncertain=resp.status_code >= 500)
        return Posted(None, None)

    def update(self, channel, ts, text, blocks) -> None:  # noqa: ANN001
        return None

    def find(self, story_id, oldest) -> Posted | None:  # noqa: ANN001
        return None


class ConsoleSink:
    """Prints alerts readably (the same content as the Slack message)."""

    name = "console"
    threads = True

    def __init__(self, write: Callable[[str], None] | None = None):
        # sys.stdout, not print(): Prefect's log_prints would turn the alert into a log line
        self._write = write or (lambda s: (sys.stdout.write(s + "\n"), sys.stdout.flush()))
        self._n = 0

    @staticmethod
    def _plain(mrkdwn: str) -> str:
        """Slack mrkdwn -> terminal text: <url|label> becomes "label (url)", entities unescaped."""
        text = _MRKDWN_LINK.sub(lambda m: f"{m.group(2)}\n     {m.group(1)}", mrkdwn.replace("*", ""))
        return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")

    def post(self, text, blocks, *, thread_ts=None, story_id=None) -> Posted:  # noqa: ANN001
        self._n += 1
        lines = []
        for b in blocks:
            if b["type"] == "section":
                lines.append(self._plain(b["text"]["text"]))
            elif b["type"] == "context":
                lines.extend(self._plain(e["text"]) for e in b["elements"])
        prefix = "  ↳ " if thread_ts else "🔔 "
        self._write(prefix + ("\n" + ("    " if thread_ts else "   ")).join(lines))
        return Posted("console", f"console-{time.time():.6f}-{self._n}")

    def update(self, channel, ts, text, blocks) -> None:  # noqa: ANN001
        return None

    def find(self, story_id, oldest) -> Posted | None:  # noqa: ANN001
        return None


def make_sink(secrets: SlackSecrets, slack: SlackSettings) -> Sink:
    if secrets.bot_token:
        return SlackBotSink(secrets.bot_token, slack.channel, slack.base_url, timeout=slack.timeout_seconds)
    if secrets.webhook_url:
        return WebhookSink(secrets.webhook_url, timeout=slack.timeout_seconds)
    return ConsoleSink()


# ---------------------------------------------------------------- delivery
@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    found: int = 0
    summarized: int = 0
    deferred: int = 0
    errors: list[str] | None = None


def deliver(store: Store, sink: Sink, settings: AlertSettings, now: datetime | None = None) -> DeliveryReport:
    """Send every due alert in the outbox once. Never raises for one alert."""
    now = now or datetime.now(UTC)
    rep = DeliveryReport(errors=[])
    claimed = store.claim_alerts(now, settings.max_attempts)
    if not claimed:
        return rep
    notices = [a for a in claimed if a["kind"] in ("notice", "digest")]
    parents = [a for a in claimed if a["kind"] == "story"]
    replies = [a for a in claimed if a["kind"] == "followup"]
    budget = settings.max_messages_per_run
    # flood guard: the budget's last message summarises whatever does not fit
    overflow: list[dict[str, Any]] = []
    if len(parents) + len(replies) > budget:
        keep = max(0, budget - 1)
        individual = parents[:keep]
        overflow = parents[keep:]
        replies_kept = replies[:max(0, keep - len(individual))]
        for r in replies[len(replies_kept):]:
            store.release_alert(r["alert_id"])  # replies wait for the next run rather than flood
            rep.deferred += 1
        parents, replies = individual, replies_kept

    def fail(a: dict[str, Any], e: DeliveryError) -> None:
        attempts = a["attempts"] + 1
        permanent = e.permanent or attempts >= settings.max_attempts
        store.mark_failed(a["alert_id"], str(e), None if permanent else next_attempt(
            attempts, now, settings.retry_base_minutes, e.retry_after), permanent=permanent, uncertain=e.uncertain)
        if permanent:
            rep.dead += 1
        else:
            rep.failed += 1
        assert rep.errors is not None
        rep.errors.append(f"alert {a['alert_id']}: {e}")
        log.warning("alert %s not delivered: %s%s", a["alert_id"], e, " (permanent)" if permanent else "")

    for a in notices:  # feed health and the daily digest: few, and outside the flood budget
        try:
            text = escape(str(a.get("payload") or ""))  # quotes feed errors and headlines: outside text
            icon = ":warning: " if a["kind"] == "notice" else ""
            posted = sink.post(text, [{"type": "section", "text": {"type": "mrkdwn", "text": icon + text[:2900]}}])
            store.mark_sent(a["alert_id"], sink.name, posted.channel, posted.ts, "message", now)
            rep.sent += 1
        except DeliveryError as e:
            fail(a, e)
    for a in parents:
        s = store.story_view(a["story_id"])
        if s is None:
            store.mark_failed(a["alert_id"], "story missing", None, permanent=True, uncertain=False)
            continue
        try:
            if a["uncertain"]:
                got = sink.find(s["story_id"], a["created_at"] - timedelta(minutes=5))
                if got is not None:
                    store.mark_sent(a["alert_id"], sink.name, got.channel, got.ts, "found", now)
                    rep.found += 1
                    continue
            text, blocks = story_message(s)
            posted = sink.post(text, blocks, story_id=s["story_id"])
            store.mark_sent(a["alert_id"], sink.name, posted.channel, posted.ts, "message", now)
            rep.sent += 1
        except DeliveryError as e:
            fail(a, e)
    if overflow:
        views = [v for v in (store.story_view(a["story_id"]) for a in overflow) if v]
        try:
            text, blocks = summary_message(views)
            posted = sink.post(text, blocks)
            for a in overflow:
                store.mark_sent(a["alert_id"], sink.name, posted.channel, None, "summary", now)
            rep.sent += 1
            rep.summarized += len(overflow)
        except DeliveryError as e:
            for a in overflow:
                fail(a, e)
    for a in replies:
        s = store.story_view(a["story_id"])
        art = store.article_view(a["article_id"]) if a["article_id"] else None
        if s is None or art is None:
            store.mark_failed(a["alert_id"], "story or article missing", None, permanent=True, uncertain=False)
            continue
        if sink.threads and not s.get("slack_ts"):
            store.release_alert(a["alert_id"])  # the parent is not posted yet: reply later
            rep.deferred += 1
            continue
        try:
            text, blocks = followup_message(s, art)
            thread = s.get("slack_ts") if sink.threads else None
            posted = sink.post(text, blocks, thread_ts=thread)
            store.mark_sent(a["alert_id"], sink.name, posted.channel, posted.ts, "message", now)
            rep.sent += 1
            if thread and s.get("slack_channel"):
                ptext, pblocks = story_message(s)
                try:
                    sink.update(s["slack_channel"], thread, ptext, pblocks)  # new source count
                except DeliveryError as e:
                    log.warning("could not update the parent of story %s: %s", s["story_id"], e)
        except DeliveryError as e:
            fail(a, e)
    return rep
