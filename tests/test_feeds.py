"""The feeds stage against real local HTTP servers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from accesswatch.config import FeedSettings, HttpSettings
from accesswatch.feeds import new_entries, next_poll_after_failure, plan_next_polls, poll_feeds
from accesswatch.models import FeedSpec, FeedState

from .helpers import rss

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
HTTP = HttpSettings(allowed_private_hosts=("127.0.0.1",), total_timeout_seconds=5, read_timeout_seconds=2)
FEEDS = FeedSettings()


def test_conditional_get_uses_etag_and_last_modified(server: HTTPServer) -> None:
    body = rss([{"link": server.url_for("/a1"), "title": "One"}, {"link": server.url_for("/a2")}])
    seen_headers: list[dict[str, str]] = []

    def handler(req: Request) -> Response:
        seen_headers.append(dict(req.headers))
        if req.headers.get("If-None-Match") == '"v1"':
            return Response(status=304, headers={"ETag": '"v1"'})
        return Response(body, content_type="application/rss+xml",
                        headers={"ETag": '"v1"', "Last-Modified": "Wed, 25 Nov 2026 10:00:00 GMT"})

    server.expect_request("/feed.xml").respond_with_handler(handler)
    feed = FeedSpec("t", server.url_for("/feed.xml"))
    [first] = poll_feeds([feed], {}, NOW, HTTP, FEEDS)
    assert first.status == "ok" and len(first.entries) == 2
    assert first.etag == '"v1"' and first.last_modified == "Wed, 25 Nov 2026 10:00:00 GMT"
    assert first.entries[0].title == "One"

    state = FeedState("t", etag=first.etag, last_modified=first.last_modified)
    [second] = poll_feeds([feed], {"t": state}, NOW, HTTP, FEEDS)
    assert second.status == "not_modified" and second.entries == ()
    assert seen_headers[1]["If-None-Match"] == '"v1"'
    assert seen_headers[1]["If-Modified-Since"] == "Wed, 25 Nov 2026 10:00:00 GMT"
    assert "accesswatch" in seen_headers[0]["User-Agent"]


def test_broken_and_missing_feeds_are_recorded_and_others_go_on(server: HTTPServer) -> None:
    server.expect_request("/good.xml").respond_with_data(rss([{"link": server.url_for("/x")}]),
                                                         content_type="application/rss+xml")
    server.expect_request("/nope.xml").respond_with_data("Not Found", status=404)
    server.expect_request("/html").respond_with_data("<html><body>Not a feed at all</body></html>",
                                                     content_type="text/html")
    server.expect_request("/busy").respond_with_data("busy", status=503, headers={"Retry-After": "7200"})
    feeds = [FeedSpec("missing", server.url_for("/nope.xml")), FeedSpec("html", server.url_for("/html")),
             FeedSpec("busy", server.url_for("/busy")), FeedSpec("good", server.url_for("/good.xml"))]
    results = {r.feed: r for r in poll_feeds(feeds, {}, NOW, HTTP, FEEDS)}
    assert results["good"].status == "ok" and len(results["good"].entries) == 1
    assert results["missing"].status == "error" and "404" in (results["missing"].error or "")
    assert not results["missing"].transient
    assert results["html"].status == "error"
    assert results["busy"].status == "error" and results["busy"].transient
    assert results["busy"].retry_after == 7200

    plan = plan_next_polls(results.values(), {"missing": FeedState("missing", consecutive_failures=2)}, NOW, FEEDS)
    assert plan["good"] is None
    assert plan["missing"] == NOW + timedelta(minutes=FEEDS.backoff_base_minutes * 4)  # third failure
    assert plan["busy"] == NOW + timedelta(hours=2)  # Retry-After beats the 15-minute backoff


def test_backoff_grows_and_caps() -> None:
    waits = [next_poll_after_failure(n, NOW, FEEDS) - NOW for n in range(1, 12)]
    assert waits[0] == timedelta(minutes=15) and waits[1] == timedelta(minutes=30)
    assert waits == sorted(waits) and waits[-1] == timedelta(minutes=FEEDS.backoff_max_minutes)


def test_feed_in_backoff_is_skipped_without_a_request(server: HTTPServer) -> None:
    feed = FeedSpec("t", server.url_for("/feed.xml"))
    state = FeedState("t", consecutive_failures=1, next_poll_at=NOW + timedelta(minutes=5))
    [r] = poll_feeds([feed], {"t": state}, NOW, HTTP, FEEDS)
    assert r.status == "skipped"
    assert server.log == []


def test_dedupe_across_feeds_by_canonical_url_and_guid(server: HTTPServer) -> None:
    a = server.url_for("/story?id=1")
    server.expect_request("/f1").respond_with_data(
        rss([{"link": a, "guid": "tag:wire,2026:1"}, {"link": server.url_for("/only-f1")}]),
        content_type="application/rss+xml")
    server.expect_request("/f2").respond_with_data(
        rss([{"link": a + "&utm_source=rss&utm_medium=feed#comments"},  # same article, tracked link
             {"link": server.url_for("/other-url"), "guid": "tag:wire,2026:1"},  # same guid elsewhere
             {"link": server.url_for("/only-f2"), "guid": "1"}]),  # short guid: local to its feed
        content_type="application/rss+xml")
    results = poll_feeds([FeedSpec("f1", server.url_for("/f1")), FeedSpec("f2", server.url_for("/f2"))],
                         {}, NOW, HTTP, FEEDS)
    fresh = new_entries(results, set(), set())
    assert sorted(e.url.rsplit("/", 1)[1] for e in fresh) == ["only-f1", "only-f2", "story?id=1"]
    # and what the store already knows is skipped
    again = new_entries(results, {e.url for e in fresh}, {e.guid for e in fresh})
    assert again == []
