"""The plan: which feeds exist and what each holds. Feeds are data.

One loop over the published records gives the all-items feed, one feed per
topic slug and one per provider key; a topic or provider with no published
record has no feed.  Each `FeedSpec` holds its newest `limit` records.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cached_property

from .records import Headline, Record
from .settings import Settings
from .store import Store

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EMBED_LIMIT = 10  # the headlines an embed shows
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

    def narrowed(self, limit: int) -> FeedSpec:
        """This feed holding only its newest `limit` members."""
        return replace(self, records=self.members[:limit])

    @property
    def stem(self) -> str:
        """The site path of the feed without its extension (``topics/ai``)."""
        return stem(self.kind, self.key)

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


def stem(kind: Kind, key: str) -> str:
    """The site path of a feed without its extension (``topics/ai``)."""
    return "feed" if kind is ALL else f"{kind.folder}/{key}"


def feed_keys(record: Headline) -> list[tuple[Kind, str, str]]:
    """The feeds a published record is in beside the all-items feed: (kind, key, name as written)."""
    keys = [(TOPIC, topic.slug, topic.name) for topic in record.topics]
    if len(record.provider.key) <= MAX_KEY_CHARS:  # no file system holds a longer name
        keys.append((PROVIDER, record.provider.key, record.provider.name))
    return keys


def display_name(names: Iterable[str]) -> str:
    """The most used spelling of a name; ties go to the first in sort order."""
    return min(Counter(names).items(), key=lambda item: (-item[1], item[0]))[0]


def newest_logo(members: Iterable[Headline]) -> str | None:
    """The logo of a provider feed: that of its newest record that has one."""
    return next((r.provider.logo for r in members if r.provider.logo), None)


def make_spec(kind: Kind, key: str, name: str, members: tuple[Headline, ...], settings: Settings,
              total: int | None = None, logo: str | None = None) -> FeedSpec:
    """The feed of `kind` and `key` holding `members` (newest first), however many it has in all."""
    site = settings.site_title
    if kind is ALL:
        title, description = site, f"The newest stories on {site}"
    else:
        title = f"{site}: {name}"
        description = f"Stories about {name}" if kind is TOPIC else f"Stories from {name}"
    return FeedSpec(kind, key, name, title, description, members[:settings.limit],
                    len(members) if total is None else total, logo, members)


def plan_feeds(store: Store, settings: Settings) -> Plan:
    """The feeds a store publishes under `settings`."""
    members: dict[tuple[Kind, str], list[Headline]] = defaultdict(list)
    names: dict[tuple[Kind, str], list[str]] = defaultdict(list)
    for record in store.records:  # newest first, so every list is already in order
        for kind, key, name in feed_keys(record):
            members[kind, key].append(record)
            names[kind, key].append(name)
    feeds = [make_spec(ALL, "", settings.site_title, store.records, settings)]
    for kind, key in sorted(members, key=lambda feed: (feed[0] is PROVIDER, feed[1])):
        held = tuple(members[kind, key])
        feeds.append(make_spec(kind, key, display_name(names[kind, key]), held, settings,
                               logo=newest_logo(held) if kind is PROVIDER else None))
    return Plan(tuple(feeds))
