"""Story grouping and alert planning: pure functions, ``now`` passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from accesswatch.stories import AlertPolicy, StoryArticle, assign, minhash_of, plan_alerts

T0 = datetime(2026, 11, 20, 9, tzinfo=UTC)
WEEK = timedelta(days=7)
WIRE = ("Anthropic has revoked xAI's access to its Claude models, the company said on Wednesday, after "
        "engineers at the startup used its coding assistant to build a rival product in breach of its terms. "
        "xAI did not respond to a request for comment. The move follows similar cut-offs earlier this year.")


def art(i: int, host: str, text: str, actor: str = "Anthropic", target: str = "xAI", action: str = "revoke",
        when: datetime = T0, score: float = 0.9) -> StoryArticle:
    return StoryArticle(article_id=f"a{i}", url=f"https://{host}/{i}", title=f"Headline {i}", host=host,
                        seen_at=when, actor=actor, target=target, action=action, reason=None, label="positive",
                        score=score, evidence=None, minhash=minhash_of(text))


def own(i: int) -> str:
    return " ".join(f"word{i}x{j}" for j in range(60))


def test_syndicated_copies_join_and_count_once() -> None:
    a = art(1, "wire.example", WIRE)
    b = art(2, "paper.example", WIRE + " Reporting by the wire.", when=T0 + timedelta(hours=2))
    c = art(3, "blog.example", own(3), when=T0 + timedelta(hours=5))  # same parties, own words
    [ch] = assign([a, b, c], [], WEEK)
    assert ch.new and len(ch.story.articles) == 3
    assert ch.story.sources == 3 and ch.story.outlets == 2


def test_near_duplicate_joins_even_when_roles_were_read_differently() -> None:
    a = art(1, "wire.example", WIRE)
    b = art(2, "paper.example", WIRE, actor="xAI", target="Anthropic", action="complain")
    [ch] = assign([a, b], [], WEEK)
    assert len(ch.story.articles) == 2


def test_window_family_and_parties_split_stories() -> None:
    arts = [art(1, "a.example", own(1)),
            art(2, "b.example", own(2), when=T0 + timedelta(days=3)),                  # same event
            art(3, "c.example", own(3), when=T0 + timedelta(days=20)),                 # outside the window
            art(4, "d.example", own(4), action="restore", when=T0 + timedelta(days=4)),  # a new event
            art(5, "e.example", own(5), actor="OpenAI", target="Windsurf")]             # other parties
    changes = assign(arts, [], WEEK)
    sizes = sorted(len(c.story.articles) for c in changes)
    assert sizes == [1, 1, 1, 2]


def test_assign_is_idempotent_and_extends_open_stories() -> None:
    [ch] = assign([art(1, "a.example", own(1))], [], WEEK)
    assert assign([art(1, "a.example", own(1))], [ch.story], WEEK) == []
    [ch2] = assign([art(2, "b.example", own(2), when=T0 + timedelta(days=1))], [ch.story], WEEK)
    assert not ch2.new and ch2.story.story_id == ch.story.story_id and len(ch2.story.articles) == 2


def test_plan_alerts_parent_once_then_followups_for_new_sites_only() -> None:
    policy = AlertPolicy()
    [ch] = assign([art(1, "a.example", own(1))], [], WEEK)
    [p] = plan_alerts([ch], set(), policy)
    assert p.kind == "story"
    [ch2] = assign([art(2, "a.example", own(2)), art(3, "b.example", own(3))], [ch.story], WEEK)
    planned = plan_alerts([ch2], {ch.story.story_id}, policy)
    assert [(x.kind, x.article_id) for x in planned] == [("followup", "a3")]
    assert plan_alerts([ch], set(), AlertPolicy(min_score=0.95)) == []
    assert plan_alerts([ch], set(), AlertPolicy(watch_vendors=("OpenAI",))) == []
    assert plan_alerts([ch], set(), AlertPolicy(mute_vendors=("xAI",))) == []
