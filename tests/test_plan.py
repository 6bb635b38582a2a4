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
    ]


def test_the_seeds_feeds_hold_000_and_002_newest_first(seeds_dir: Path, settings: Settings) -> None:
    plan = plan_of(replace(settings, records=str(seeds_dir)))
    held = {(s.kind.name, s.key): [r.source[:3] for r in s.records] for s in plan.feeds}
    assert held == {
        ("all", ""): ["002", "000"],
        ("topic", "ai"): ["002", "000"],
        ("topic", "computer-vision"): ["002", "000"],
        ("provider", "businessinsider.com"): ["002"],
        ("provider", "reuters.com"): ["000"],
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
    ]


def test_a_feed_holds_at_most_limit_records_the_newest(write_record: RecordWriter,
                                                       settings: Settings) -> None:
    for day in range(1, 8):
        write_record(f"{day}.md", publishedDateTime=f"2021-01-0{day}T00:00:00Z",
                     webUrl=f"https://e.example/{day}")
    plan = plan_of(replace(settings, limit=3))
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
    assert keys(plan) == [("all", ""), ("topic", "shared"), ("provider", "example.com")]


def test_an_empty_store_plans_only_the_all_items_feed(settings: Settings) -> None:
    plan = plan_of(settings)
    assert keys(plan) == [("all", "")]
    assert plan.feeds[0].records == ()


def test_the_feed_updated_date_is_the_newest_record(write_record: RecordWriter,
                                                    settings: Settings) -> None:
    write_record("old.md", publishedDateTime="2001-02-03T04:05:06Z", webUrl="https://e.example/o")
    write_record("new.md", publishedDateTime="2002-02-03T04:05:06Z", webUrl="https://e.example/n",
                 topics=["Other"])
    plan = plan_of(settings)
    updated = {s.key: s.updated.isoformat() for s in plan.feeds}
    assert updated == {"": "2002-02-03T04:05:06+00:00", "testing": "2001-02-03T04:05:06+00:00",
                       "other": "2002-02-03T04:05:06+00:00",
                       "example.com": "2002-02-03T04:05:06+00:00"}


def test_plan_find_looks_feeds_up_by_kind_and_key(seeds_dir: Path, settings: Settings) -> None:
    plan = plan_of(replace(settings, records=str(seeds_dir)))
    spec = plan.find("topic", "ai")
    assert spec is not None and spec.name == "AI"
    assert plan.find("provider", "hrw.org") is None
    assert plan.find("topic", "../../etc") is None
