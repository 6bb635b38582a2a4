"""The plan: which feeds exist and what each holds, from catalog queries. Feeds are data.

One planner for the static build and the live server: a feed is planned from
its summary (name, total, logo, newest record) and the newest records of its
members, as `Ref`s; only the files made afresh load the full records.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cached_property

from .catalog import Catalog, Ref, Summary
from .layout import ALL, ALL_STEM, PROVIDER, TOPIC, Kind, stem
from .records import Headline, Record
from .settings import Settings

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EMBED_LIMIT = 10  # the headlines an embed shows

Held = Ref | Headline  # what a spec holds: refs as planned, full records once loaded to render


@dataclass(frozen=True)
class FeedSpec:
    """One feed: what it is called, where it lives and the records it carries."""

    kind: Kind
    key: str
    name: str
    title: str
    description: str
    records: tuple[Held, ...]  # its newest `limit`: what its feed files carry
    total: int
    logo: str | None = None
    members: tuple[Held, ...] = ()  # its newest max(limit, EMBED_LIMIT): what any of its files show

    def entries(self) -> tuple[Record, ...]:
        """The full records of the feed, once loaded (`with_records`)."""
        if not all(isinstance(r, Record) for r in self.records):
            raise TypeError(f"{self.stem}: render a spec after its records were loaded")
        return self.records  # type: ignore[return-value]

    def with_records(self, records: tuple[Headline, ...]) -> FeedSpec:
        """This feed, holding `records` (full records, or headlines, of the same entries)."""
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
        if not self.records:
            return EPOCH
        newest = self.records[0]
        if not isinstance(newest, Headline):
            raise TypeError(f"{self.stem}: its date is known once its records were loaded")
        return newest.published_at


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
        spec = self.by_stem.get(ALL_STEM if kind == ALL.name else f"{kind}s/{key}")
        return spec if spec is not None and spec.kind.name == kind else None


def make_spec(kind: Kind, key: str, name: str, members: tuple[Held, ...], settings: Settings,
              total: int, logo: str | None = None) -> FeedSpec:
    """The feed of `kind` and `key` holding `members` (its newest, newest first) of `total`."""
    site = settings.site_title
    if kind is ALL:
        title, description = site, f"The newest stories on {site}"
    else:
        title = f"{site}: {name}"
        description = f"Stories about {name}" if kind is TOPIC else f"Stories from {name}"
    return FeedSpec(kind, key, site if kind is ALL else name, title, description,
                    members[:settings.limit], total, logo if kind is PROVIDER else None, members)


_EMPTY = Summary(ALL_STEM, ALL, "", "", 0, None, None)  # the all-items feed of a store with none


def summaries(catalog: Catalog) -> list[Summary]:
    """Every feed's summary, the all-items feed first even when it holds nothing."""
    found = catalog.feeds()
    if not found or found[0].stem != ALL_STEM:
        found.insert(0, _EMPTY)
    return found


def summary_of(catalog: Catalog, stem: str) -> Summary | None:
    """The summary of the feed at `stem`, if there is such a feed (the all-items one always is)."""
    found = catalog.summary(stem)
    return _EMPTY if found is None and stem == ALL_STEM else found


def plan_feed(catalog: Catalog, summary: Summary, settings: Settings, limit: int | None = None,
              min_quality: int | None = None, min_heat: int | None = None) -> FeedSpec:
    """One feed, holding its newest records (those of at least `min_quality` and `min_heat`,
    `limit` of them when given)."""
    held = limit or max(settings.limit, EMBED_LIMIT)
    refs = tuple(catalog.newest(summary.stem, held, min_quality, min_heat))
    spec = make_spec(summary.kind, summary.key, summary.name, refs, settings, summary.total, summary.logo)
    return spec if limit is None else replace(spec, records=refs)


def plan_index(catalog: Catalog, settings: Settings) -> Plan:
    """Every feed from its summary alone, holding its newest record: what the index and the
    OPML list need."""
    return Plan(tuple(make_spec(s.kind, s.key, s.name, (s.newest,) if s.newest else (), settings, s.total,
                                s.logo) for s in summaries(catalog)))


def plan_site(catalog: Catalog, settings: Settings) -> Plan:
    """Every feed, each holding the newest records its files show."""
    return Plan(tuple(plan_feed(catalog, s, settings) for s in summaries(catalog)))
