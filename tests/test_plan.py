"""The plan: which feeds exist and what each holds (PRODUCT.md, "Feeds")."""

from __future__ import annotations

from pathlib import Path

from feeds.plan import Plan
from feeds.settings import Settings, replace

from .stores import RecordWriter, read_store


def plan_of(settings: Settings) -> Plan:
    """The plan of the store `settings` points at, as a build plans it (records loaded)."""
    return read_store(settings).plan


def keys(plan: Plan) -> list[tuple[str, str]]:
    """(kind, key) of every planned feed, in plan order."""
    return [(spec.kind.name, spec.key) for spec in plan.feeds]


def test_the_seeds_plan_topics_ai_and_computer_vision_and_two_providers(
        seeds_dir: Path, settings: Settings) -> None:
    plan = plan_of(replace(settings, records=str(seeds_dir)))
    assert keys(plan) == [
        ("all", ""),
        ("topic", "ai"), ("topic", "computer-vision"),
        ("provider", "businessinsider.com"), ("provider", "reuters.com"),
        # The story feeds come after the record feeds: the site's, then each topic's.
        ("stories", ""), ("top", ""),
        ("topic-stories", "ai"), ("topic-stories", "computer-vision"),
        ("topic-top", "ai"), ("topic-top", "computer-vision"),
    ]


def test_the_seeds_feeds_hold_000_and_002_newest_first(seeds_dir: Path, settings: Settings) -> None:
    plan = plan_of(replace(settings, records=str(seeds_dir)))
    # A story's entry names no file: it is known by its lead article's link.
    by_link = {r.link: r.source[:3] for r in plan.feeds[0].records}
    held = {(s.kind.name, s.key): [by_link[r.link] if s.kind.stories else r.source[:3] for r in s.records]
            for s in plan.feeds}
    assert held == {
        ("all", ""): ["002", "000"],
        ("topic", "ai"): ["002", "000"],
        ("topic", "computer-vision"): ["002", "000"],
        ("provider", "businessinsider.com"): ["002"],
        ("provider", "reuters.com"): ["000"],
        # The two records name no page in common: two stories, each of its one article; only
        # 002 (heat 93) reaches top_heat (90), 000 (heat 79) does not.
        ("stories", ""): ["002", "000"],
        ("top", ""): ["002"],
        ("topic-stories", "ai"): ["002", "000"],
        ("topic-stories", "computer-vision"): ["002", "000"],
        ("topic-top", "ai"): ["002"],
        ("topic-top", "computer-vision"): ["002"],
    }


def test_drafts_plan_the_unpublished_providers_too(seeds_dir: Path, settings: Settings) -> None:
    plan = plan_of(replace(settings, records=str(seeds_dir), drafts=True))
    providers = [key for kind, key in keys(plan) if kind == "provider"]
    assert providers == ["businessinsider.com", "hrw.org", "predictiveanalyticsworld.com",
                         "reuters.com"]
    assert len(plan.feeds[0].records) == 5


def test_feed_titles_name_the_site_and_the_topic_or_provider(seeds_dir: Path,
                                                             settings: Settings) -> None:
    plan = plan_of(replace(settings, records=str(seeds_dir), site_title="Face News"))
    titles = {(s.kind.name, s.key): s.title for s in plan.feeds}
    assert titles[("all", "")] == "Face News"
    assert titles[("topic", "computer-vision")] == "Face News: Computer Vision"
    assert titles[("provider", "reuters.com")] == "Face News: Reuters"


def test_provider_feeds_carry_the_provider_logo(seeds_dir: Path, settings: Settings) -> None:
    plan = plan_of(replace(settings, records=str(seeds_dir)))
    logos = {s.key: s.logo for s in plan.feeds}
    assert logos["reuters.com"] == ("https://smartableai.github.io/artificial-intelligence/assets/"
                                    "images/organizations/reuters.com-50x50.jpg")
    assert logos["ai"] is None and logos[""] is None


def test_feed_paths_follow_the_url_layout(seeds_dir: Path, settings: Settings) -> None:
    plan = plan_of(replace(settings, records=str(seeds_dir)))
    assert [(s.stem, s.page) for s in plan.feeds] == [
        ("feed", ""),
        ("topics/ai", "topics/ai/"), ("topics/computer-vision", "topics/computer-vision/"),
        ("providers/businessinsider.com", "providers/businessinsider.com/"),
        ("providers/reuters.com", "providers/reuters.com/"),
        ("stories", "stories/"), ("top", "top/"),
        ("topics/ai/stories", "topics/ai/stories/"),
        ("topics/computer-vision/stories", "topics/computer-vision/stories/"),
        ("topics/ai/top", "topics/ai/top/"), ("topics/computer-vision/top", "topics/computer-vision/top/"),
    ]


def test_a_feed_holds_at_most_limit_records_the_newest(write_record: RecordWriter,
                                                       settings: Settings) -> None:
    for day in range(1, 8):  # seven stories of one record each, every one hot enough to be top
        write_record(f"{day}.md", publishedDateTime=f"2021-01-0{day}T00:00:00Z",
                     webUrl=f"https://e.example/{day}", heat=95)
    plan = plan_of(replace(settings, limit=3))
    assert {spec.kind.name for spec in plan.feeds} == {
        "all", "topic", "provider", "stories", "top", "topic-stories", "topic-top"}
    for spec in plan.feeds:
        assert [r.published_at.day for r in spec.records] == [7, 6, 5], spec.stem
        assert spec.total == 7


def test_the_default_limit_is_50(write_record: RecordWriter, settings: Settings) -> None:
    for i in range(55):
        write_record(f"{i}.md", webUrl=f"https://e.example/{i}")
    assert Settings.make().limit == 50
    assert len(plan_of(settings).feeds[0].records) == 50


def test_topic_names_sharing_a_slug_share_one_feed(write_record: RecordWriter,
                                                   settings: Settings) -> None:
    spellings = ["Zeta Topic", "zeta topic", "ZETA-TOPIC", "zeta_topic", "Zeta.Topic", "Zeta Topic"]
    for i, name in enumerate(spellings):
        write_record(f"{i}.md", topics=[name], webUrl=f"https://e.example/{i}")
    plan = plan_of(settings)
    topics = [s for s in plan.feeds if s.kind.name == "topic"]
    assert [s.key for s in topics] == ["zeta-topic"]
    assert len(topics[0].records) == len(spellings), "no record may vanish in a merge"
    assert topics[0].name == "Zeta Topic", "the most used spelling names the feed"


def test_providers_are_keyed_by_lowercase_host(write_record: RecordWriter,
                                               settings: Settings) -> None:
    write_record("a.md", provider={"name": "Reuters", "domain": "Reuters.com"},
                 webUrl="https://e.example/a")
    write_record("b.md", provider={"name": "Reuters Agency", "domain": "reuters.com"},
                 webUrl="https://e.example/b")
    providers = [s for s in plan_of(settings).feeds if s.kind.name == "provider"]
    assert [s.key for s in providers] == ["reuters.com"]
    assert len(providers[0].records) == 2


def test_a_topic_or_provider_with_no_published_record_has_no_feed(
        write_record: RecordWriter, settings: Settings) -> None:
    write_record("pub.md", topics=["Shared"])
    write_record("draft.md", published=False, topics=["Shared", "Zyxwv Classified Program"],
                 provider={"name": "Zyxwv", "domain": "zyxwv-classified.example"},
                 webUrl="https://zyxwv-classified.example/x")
    plan = plan_of(settings)
    assert keys(plan) == [("all", ""), ("topic", "shared"), ("provider", "example.com"),
                          ("stories", ""), ("top", ""), ("topic-stories", "shared"), ("topic-top", "shared")]


def test_an_empty_store_plans_only_the_site_s_feeds(settings: Settings) -> None:
    """The all-items, stories and top stories feeds exist from the start (readers may subscribe first),
    empty; no topic, provider or topic's story feed does."""
    plan = plan_of(settings)
    assert keys(plan) == [("all", ""), ("stories", ""), ("top", "")]
    assert all(spec.records == () and spec.total == 0 for spec in plan.feeds)


def test_the_feed_updated_date_is_the_newest_record(write_record: RecordWriter,
                                                    settings: Settings) -> None:
    write_record("old.md", publishedDateTime="2001-02-03T04:05:06Z", webUrl="https://e.example/o")
    write_record("new.md", publishedDateTime="2002-02-03T04:05:06Z", webUrl="https://e.example/n",
                 topics=["Other"])
    plan = plan_of(settings)
    updated = {(s.kind.name, s.key): s.updated.isoformat() for s in plan.feeds}
    assert updated == {("all", ""): "2002-02-03T04:05:06+00:00",
                       ("topic", "testing"): "2001-02-03T04:05:06+00:00",
                       ("topic", "other"): "2002-02-03T04:05:06+00:00",
                       ("provider", "example.com"): "2002-02-03T04:05:06+00:00",
                       ("stories", ""): "2002-02-03T04:05:06+00:00",
                       ("topic-stories", "testing"): "2001-02-03T04:05:06+00:00",
                       ("topic-stories", "other"): "2002-02-03T04:05:06+00:00",
                       # No story is top (no heat): the top feeds hold nothing, and take no date
                       # from the clock.
                       ("top", ""): "1970-01-01T00:00:00+00:00",
                       ("topic-top", "testing"): "1970-01-01T00:00:00+00:00",
                       ("topic-top", "other"): "1970-01-01T00:00:00+00:00"}


def test_a_story_feed_s_updated_date_is_its_newest_coverage(write_record: RecordWriter,
                                                            settings: Settings) -> None:
    """A story's date is its newest member's, so a story feed is updated when coverage is added to an
    old story, though the record that began it is older than another story."""
    write_record("first.md", publishedDateTime="2001-02-03T04:05:06Z", webUrl="https://e.example/first",
                 heat=95)
    write_record("other.md", publishedDateTime="2002-02-03T04:05:06Z", webUrl="https://e.example/other")
    write_record("later.md", publishedDateTime="2003-02-03T04:05:06Z", webUrl="https://e.example/later",
                 related=[{"title": "First", "webUrl": "https://e.example/first"}])
    plan = plan_of(settings)
    stories = plan.find("stories", "")
    assert stories is not None and stories.total == 2
    assert stories.updated.isoformat() == "2003-02-03T04:05:06+00:00"
    # Led by "first" (no quality decides; heat 95 does), dated by "later".
    assert [r.link for r in stories.records] == ["https://e.example/first", "https://e.example/other"], (
        "the grown story comes first")
    top = plan.find("top", "")
    assert top is not None and [r.link for r in top.records] == ["https://e.example/first"]
    assert top.updated.isoformat() == "2003-02-03T04:05:06+00:00", "its one story's newest coverage"


def test_plan_find_looks_feeds_up_by_kind_and_key(seeds_dir: Path, settings: Settings) -> None:
    plan = plan_of(replace(settings, records=str(seeds_dir)))
    spec = plan.find("topic", "ai")
    assert spec is not None and spec.name == "AI"
    assert plan.find("provider", "hrw.org") is None
    assert plan.find("topic", "../../etc") is None
