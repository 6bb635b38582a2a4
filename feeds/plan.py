"""The plan: which feeds exist and what each holds. Feeds are data.

One loop over the published records gives the all-items feed, one feed per
topic slug and one per provider key; a topic or provider with no published
record has no feed.  Each `FeedSpec` holds its newest `limit` records.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cached_property

from .records import Headline, Record
from .settings import Settings
from .store import Store

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_KEY_CHARS = 200  # a feed's file name must stay under the usual 255-byte limit


@dataclass(frozen=True, slots=True)
class Kind:
    """A kind of feed: where its files live and how it is described."""

    name: str
    folder: str
    label: str


ALL = Kind("all", "", "All stories")
TOPIC = Kind("topic", "topics", "Topic")
PROVIDER = Kind("provider", "providers", "Provider")
KINDS = (ALL, TOPIC, PROVIDER)


@dataclass(frozen=True)
class FeedSpec:
    """One feed: what it is called, where it lives and the records it carries."""

    kind: Kind
    key: str
    name: str
    title: str
    description: str
    records: tuple[Headline, ...]
    total: int
    logo: str | None = None
    members: tuple[Headline, ...] = ()  # every record of the feed, newest first

    def entries(self) -> tuple[Record, ...]:
        """The full records of the feed; `Store.full` loads them where only headlines are held."""
        if not all(isinstance(r, Record) for r in self.records):
            raise TypeError(f"{self.stem}: render a spec after Store.full() loaded its records")
        return self.records  # type: ignore[return-value]

    def with_records(self, records: tuple[Record, ...]) -> FeedSpec:
        """This feed, holding `records` (full records of the same entries)."""
        return replace(self, records=records)

    def narrowed(self, limit: int, min_quality: int | None = None, min_heat: int | None = None
                 ) -> FeedSpec:
        """This feed holding only the newest `limit` members that meet the minimums."""
        if min_quality is None and min_heat is None:
            return replace(self, records=self.members[:limit])
        chosen = [
            r for r in self.members
            if (min_quality is None or (r.quality is not None and r.quality >= min_quality))
            and (min_heat is None or (r.heat is not None and r.heat >= min_heat))
        ]
        return replace(self, records=tuple(chosen[:limit]))

    @property
    def stem(self) -> str:
        """The site path of the feed without its extension (``topics/ai``)."""
        return "feed" if self.kind is ALL else f"{self.kind.folder}/{self.key}"

    @property
    def page(self) -> str:
        """The site path of the feed's HTML page (``topics/ai/``)."""
        return "" if self.kind is ALL else f"{self.kind.folder}/{self.key}/"

    @property
    def updated(self) -> datetime:
        """The date of the newest entry; never the clock."""
        return self.records[0].published_at if self.records else EPOCH


@dataclass(frozen=True)
class Plan:
    """Every feed of a site, all-items first, then topics and providers by key."""

    feeds: tuple[FeedSpec, ...]

    @cached_property
    def by_stem(self) -> dict[str, FeedSpec]:
        """Every feed by its site path without extension (``topics/ai``)."""
        return {spec.stem: spec for spec in self.feeds}

    def find(self, kind: str, key: str) -> FeedSpec | None:
        """The feed of `kind` ('all', 'topic', 'provider') keyed by `key`, if it exists."""
        spec = self.by_stem.get("feed" if kind == ALL.name else f"{kind}s/{key}")
        return spec if spec is not None and spec.kind.name == kind else None


def _display_name(names: Counter[str]) -> str:
    """The most used spelling of a name; ties go to the first in sort order."""
    return min(names.items(), key=lambda item: (-item[1], item[0]))[0]


def plan_feeds(store: Store, settings: Settings) -> Plan:
    """The feeds a store publishes under `settings`."""
    limit = settings.limit
    site = settings.site_title
    by_topic: dict[str, list[Headline]] = defaultdict(list)
    by_provider: dict[str, list[Headline]] = defaultdict(list)
    topic_names: dict[str, Counter[str]] = defaultdict(Counter)
    provider_names: dict[str, Counter[str]] = defaultdict(Counter)
    logos: dict[str, str] = {}
    for record in store.records:  # newest first, so every list is already in order
        for topic in record.topics:
            by_topic[topic.slug].append(record)
            topic_names[topic.slug][topic.name] += 1
        key = record.provider.key
        by_provider[key].append(record)
        provider_names[key][record.provider.name] += 1
        if record.provider.logo and key not in logos:
            logos[key] = record.provider.logo
    feeds = [FeedSpec(ALL, "", site, site, f"The newest stories on {site}",
                      store.records[:limit], len(store.records), None, store.records)]
    for slug in sorted(by_topic):
        name = _display_name(topic_names[slug])
        members = tuple(by_topic[slug])
        feeds.append(FeedSpec(TOPIC, slug, name, f"{site}: {name}", f"Stories about {name}",
                              members[:limit], len(members), None, members))
    for key in sorted(by_provider):
        if len(key) > MAX_KEY_CHARS:
            continue  # no file system holds the name; the records stay in their other feeds
        name = _display_name(provider_names[key])
        members = tuple(by_provider[key])
        feeds.append(FeedSpec(PROVIDER, key, name, f"{site}: {name}", f"Stories from {name}",
                              members[:limit], len(members), logos.get(key), members))
    return Plan(tuple(feeds))
