"""Stories and Slack alerts through slack-sdk against a Slack-compatible server on 127.0.0.1,
with a real DuckDB file: one alert per story, threaded follow-ups, nothing lost, nothing
doubled, whatever fails."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from accesswatch.alerts import ConsoleSink, SlackBotSink, WebhookSink, deliver, escape
from accesswatch.config import AlertSettings
from accesswatch.models import Article, Detection, Entry, article_id_for
from accesswatch.store import Store
from accesswatch.stories import update_stories

from .slack_fake import FakeSlack, SlackServer

TOKEN = "xoxb-test-secret-token-0123456789"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SETTINGS = AlertSettings(max_messages_per_run=10, retry_base_minutes=1, max_attempts=5)
FILLER = ("The company said the decision followed a review of how the startup used its models "
          "over several months, and that it had informed the startup in writing. ")


@pytest.fixture
def slack():
    with SlackServer() as fake:
        yield fake


def bot(fake: FakeSlack) -> SlackBotSink:
    return SlackBotSink(TOKEN, "#alerts", fake.base_url, timeout=1)


def add(store: Store, n: int, site: str, title: str, actor: str = "Anthropic", target: str = "OpenAI",
        when: datetime = NOW, text: str | None = None, score: float = 0.95) -> str:
    url = f"https://{site.lower()}.example/news/{n}"
    # each article its own words, so that only deliberate copies look like near-duplicates
    own = " ".join(f"{w}{n}" for w in ("alpha", "bravo", "charlie", "delta", "echo", "fox", "golf", "hotel") * 6)
    body = text or f"{title}. {FILLER} {own}"
    e = Entry(feed=site, guid=url, url=url, title=title, summary=None, published=when, author=None)
    a = Article(article_id=article_id_for(url), url=url, guid=url, feed=site, title=title, text=body, summary=None,
                published=when, author=None, site=site, language="en", extraction="trafilatura", content_hash=str(n),
                fetch_status=200, fetch_error=None, fetched_at=when)
    d = Detection(True, "positive", score, action="revoke", actor=actor, target=target, reason="competing model",
                  evidence=(title, f"{actor} cut off {target}'s access to its models."), detector_version="t")
    store.save_batch([a], [(a.article_id, d)], [e], "run", when)
    return a.article_id


def run(store: Store, sink, now: datetime = NOW, settings: AlertSettings = SETTINGS):  # noqa: ANN001
    update_stories(store, settings, now)
    return deliver(store, sink, settings, now)


def statuses(store: Store) -> dict[str, int]:
    return dict(store.query("SELECT status, count(*) FROM alerts GROUP BY ALL")[1])


def test_one_parent_per_story_then_threaded_followups(tmp_path: Path, slack: FakeSlack) -> None:
    store = Store(tmp_path / "aw.duckdb")
    add(store, 1, "Wire", "Anthropic cuts off OpenAI's access to Claude")
    add(store, 2, "Blog", "Why Anthropic pulled the plug on OpenAI")
    add(store, 3, "Wire", "Mistral AI threatens Groq over fees", actor="Mistral AI", target="Groq")
    rep = run(store, bot(slack))
    assert rep.sent == 2 and len(slack.parents()) == 2 and slack.replies() == []
    first = next(m for m in slack.parents() if "OpenAI" in m["text"])
    assert first["metadata"]["event_type"] == "accesswatch_story"
    assert "2 sources" in str(first["blocks"]) and "Anthropic → OpenAI" in str(first["blocks"])
    assert slack.calls("chat.postMessage")[0].headers["Authorization"] == f"Bearer {TOKEN}"

    # a later article from a new outlet: one reply in the thread, and the parent's count updated
    add(store, 4, "Newsletter", "Anthropic-OpenAI rift deepens", when=NOW + timedelta(hours=3))
    rep = run(store, bot(slack), NOW + timedelta(hours=3))
    assert rep.sent == 1 and len(slack.parents()) == 2
    [reply] = slack.replies()
    assert reply["thread_ts"] == first["ts"] and "More coverage" in reply["text"]
    assert len(slack.calls("chat.update")) == 1 and "3 sources" in str(first["blocks"])

    # a rerun sends nothing
    before = len(slack.requests)
    assert run(store, bot(slack), NOW + timedelta(hours=4)).sent == 0
    assert len(slack.requests) == before
    assert statuses(store) == {"sent": 3}


def test_slack_down_then_each_sent_exactly_once(tmp_path: Path, slack: FakeSlack) -> None:
    store = Store(tmp_path / "aw.duckdb")
    add(store, 1, "Wire", "Anthropic cuts off OpenAI's access to Claude")
    add(store, 2, "Wire", "Google suspends xAI's Gemini API account", actor="Google", target="xAI")
    slack.fail_next("chat.postMessage", "500", times=2)
    rep = run(store, bot(slack))
    assert rep.sent == 0 and rep.failed == 2 and slack.parents() == []
    _, rows = store.query("SELECT status, attempts, last_error, next_attempt_at FROM alerts")
    assert all(r[0] == "failed" and r[1] == 1 and "HTTP 500" in r[2] and r[3] > NOW for r in rows)
    # not due yet: nothing happens
    assert run(store, bot(slack), NOW + timedelta(seconds=10)).sent == 0
    # due: each goes out once (after checking the channel, since a 500 may have posted)
    rep = run(store, bot(slack), NOW + timedelta(minutes=2))
    assert rep.sent == 2 and len(slack.parents()) == 2
    assert len(slack.calls("conversations.history")) == 2
    assert statuses(store) == {"sent": 2}


def test_lost_answer_is_found_in_history_not_posted_twice(tmp_path: Path, slack: FakeSlack) -> None:
    store = Store(tmp_path / "aw.duckdb")
    add(store, 1, "Wire", "Anthropic cuts off OpenAI's access to Claude")
    slack.fail_next("chat.postMessage", "timeout", seconds=2.5)  # posted, but the answer never comes
    rep = run(store, bot(slack))
    assert rep.failed == 1 and len(slack.parents()) == 1
    rep = run(store, bot(slack), NOW + timedelta(minutes=2))
    assert rep.found == 1 and rep.sent == 0
    assert len(slack.parents()) == 1  # not doubled
    _, rows = store.query("SELECT status, via, slack_ts FROM alerts")
    assert rows == [("sent", "found", slack.parents()[0]["ts"])]


def test_crash_between_posting_and_recording(tmp_path: Path, slack: FakeSlack) -> None:
    store = Store(tmp_path / "aw.duckdb")
    add(store, 1, "Wire", "Anthropic cuts off OpenAI's access to Claude")
    update_stories(store, SETTINGS, NOW)
    # a run claims the alert and posts it, then dies before recording the ts
    [claim] = store.claim_alerts(NOW, SETTINGS.max_attempts)
    story = store.story_view(claim["story_id"])
    from accesswatch.alerts import story_message

    bot(slack).post(*story_message(story), story_id=story["story_id"])
    # an overlapping run right away does not touch the claimed alert
    assert deliver(store, bot(slack), SETTINGS, NOW + timedelta(minutes=1)).sent == 0
    # later the stale claim is retaken as uncertain: found in the channel, not posted again
    rep = deliver(store, bot(slack), SETTINGS, NOW + timedelta(minutes=15))
    assert rep.found == 1 and len(slack.parents()) == 1


def test_rate_limit_honours_retry_after(tmp_path: Path, slack: FakeSlack) -> None:
    store = Store(tmp_path / "aw.duckdb")
    add(store, 1, "Wire", "Anthropic cuts off OpenAI's access to Claude")
    slack.fail_next("chat.postMessage", "429", seconds=1)
    rep = run(store, bot(slack))
    assert rep.sent == 1 and len(slack.calls("chat.postMessage")) == 2 and len(slack.parents()) == 1


def test_rate_limit_that_persists_is_retried_later(tmp_path: Path, slack: FakeSlack) -> None:
    store = Store(tmp_path / "aw.duckdb")
    add(store, 1, "Wire", "Anthropic cuts off OpenAI's access to Claude")
    slack.fail_next("chat.postMessage", "429", times=3, seconds=1)
    rep = run(store, bot(slack))
    assert rep.failed == 1 and slack.parents() == []
    assert run(store, bot(slack), NOW + timedelta(minutes=2)).sent == 1 and len(slack.parents()) == 1


def test_permanent_errors_stop_retries_and_show(tmp_path: Path, slack: FakeSlack) -> None:
    store = Store(tmp_path / "aw.duckdb")
    add(store, 1, "Wire", "Anthropic cuts off OpenAI's access to Claude")
    slack.fail_next("chat.postMessage", "invalid_auth")
    rep = run(store, bot(slack))
    assert rep.dead == 1 and rep.errors and "invalid_auth" in rep.errors[0]
    assert run(store, bot(slack), NOW + timedelta(days=1)).sent == 0
    assert len(slack.calls("chat.postMessage")) == 1
    _, rows = store.alert_summary()
    assert rows[0][0] == "dead" and "invalid_auth" in rows[0][3]


def test_mentions_in_article_text_are_escaped(tmp_path: Path, slack: FakeSlack) -> None:
    store = Store(tmp_path / "aw.duckdb")
    add(store, 1, "Wire", "<!channel> Anthropic cuts off OpenAI <@U123> & <!here> <https://evil.example|click>")
    run(store, bot(slack))
    [msg] = slack.parents()
    raw = str(msg["blocks"]) + msg["text"]
    for token in ("<!channel>", "<!here>", "<@U123>", "<https://evil.example|click>"):
        assert token not in raw
    assert "&lt;!channel&gt;" in raw and "&amp;" in raw
    assert escape("a<b>&c") == "a&lt;b&gt;&amp;c"


def test_flood_guard_sends_a_summary(tmp_path: Path, slack: FakeSlack) -> None:
    store = Store(tmp_path / "aw.duckdb")
    vendors = ["OpenAI", "xAI", "Groq", "Cursor", "Lovable", "Replit"]
    for i, t in enumerate(vendors):
        add(store, i, f"Site{i}", f"Anthropic cuts off {t}", target=t)
    rep = run(store, bot(slack), settings=AlertSettings(max_messages_per_run=3))
    assert len(slack.calls("chat.postMessage")) == 3
    assert rep.summarized == 4 and "4 more" in slack.parents()[-1]["text"]
    assert statuses(store) == {"sent": 6}


def test_policy_filters_and_borderline(tmp_path: Path, slack: FakeSlack) -> None:
    store = Store(tmp_path / "aw.duckdb")
    add(store, 1, "Wire", "Anthropic cuts off OpenAI", score=0.55)
    add(store, 2, "Wire", "Google cuts off xAI", actor="Google", target="xAI")
    run(store, bot(slack), settings=AlertSettings(min_score=0.6, mute_vendors=("xAI",)))
    assert slack.parents() == [] and store.counts()["runs"] == 0
    assert store.query("SELECT count(*) FROM stories")[1][0][0] == 2


def test_webhook_mode_posts_blocks_without_threads(tmp_path: Path, slack: FakeSlack) -> None:
    store = Store(tmp_path / "aw.duckdb")
    add(store, 1, "Wire", "Anthropic cuts off OpenAI's access to Claude")
    run(store, WebhookSink(slack.webhook_url))
    add(store, 2, "Blog", "More on Anthropic and OpenAI", when=NOW + timedelta(hours=1))
    run(store, WebhookSink(slack.webhook_url), NOW + timedelta(hours=1))
    assert len(slack.webhook_posts) == 2
    assert slack.webhook_posts[0]["blocks"][0]["type"] == "section"
    assert "More coverage" in slack.webhook_posts[1]["text"]


def test_console_sink_and_no_secret_anywhere(tmp_path: Path, slack: FakeSlack,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    store = Store(tmp_path / "aw.duckdb")
    add(store, 1, "Wire", "Anthropic cuts off OpenAI's access to Claude")
    lines: list[str] = []
    assert run(store, ConsoleSink(lines.append)).sent == 1
    assert "Anthropic cuts off OpenAI's access to Claude" in lines[0] and "Anthropic → OpenAI" in lines[0]
    # a bot run with failures: the token must not show in logs, errors or the database
    add(store, 2, "Wire", "Google cuts off xAI", actor="Google", target="xAI")
    slack.fail_next("chat.postMessage", "invalid_auth")
    rep = run(store, bot(slack), NOW + timedelta(minutes=1))
    assert TOKEN not in caplog.text and TOKEN not in " ".join(rep.errors or [])
    assert TOKEN not in repr(bot(slack))
    assert TOKEN.encode() not in (tmp_path / "aw.duckdb").read_bytes()


def test_daily_digest_once_a_day(tmp_path: Path, slack: FakeSlack) -> None:
    store = Store(tmp_path / "aw.duckdb")
    add(store, 1, "Wire", "Anthropic cuts off OpenAI's access to Claude")
    update_stories(store, SETTINGS, NOW)
    assert not store.queue_digest(NOW.replace(hour=7), hour_utc=8)  # not yet
    assert store.queue_digest(NOW, hour_utc=8)
    assert not store.queue_digest(NOW + timedelta(hours=2), hour_utc=8)  # once a day
    deliver(store, bot(slack), SETTINGS, NOW)
    digest = [m for m in slack.messages if m["text"].startswith("Daily digest")]
    assert len(digest) == 1 and "Anthropic -&gt; OpenAI" in digest[0]["text"]
    assert store.queue_digest(NOW + timedelta(days=1), hour_utc=8)
