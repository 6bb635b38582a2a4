"""The plan: which feeds exist and what each holds, from catalog queries. Feeds are data.

One planner for the static build and the live server: a feed is planned from
its summary (name, total, logo, newest record) and the newest records of its
members, as `Ref`s; only the files made afresh load the full records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cached_property
from itertools import groupby

from .archive import Page, archived_counts, cut
from .catalog import Catalog, Ref, Summary, member_hash
from .layout import (
    ALL,
    KINDS,
    KINDS_BY_NAME,
    PROVIDER,
    SITE_KINDS,
    STORIES,
    TOP,
    TOPIC,
    TOPIC_STORIES,
    TOPIC_TOP,
    Kind,
    archive_page,
    archive_stem,
    feed_of,
    page_folder,
    stem,
)
from .records import Headline, Record
from .settings import Settings

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EMBED_LIMIT = 10  # the headlines an embed shows

Held = Ref | Headline  # what a spec holds: refs as planned, full records once loaded to render
Start = tuple[float, str]  # the (at, id) a feed's archived members start from


@dataclass(frozen=True)
class Archive:
    """A feed's archive: where its archived members start, and its pages, oldest first."""

    start: Start
    pages: tuple[Page, ...]


@dataclass(frozen=True)
class Archived:
    """One archive page of a feed, between the pages older and newer than it (None: the oldest, or
    the newest, which the subscription document follows)."""

    start: Start
    page: Page
    older: Page | None
    newer: Page | None


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
    archive: Archive | None = None  # a subscription document's archive (None: it holds every record)
    archived: Archived | None = None  # set when this spec is one archive page of the feed

    @property
    def newest_page(self) -> Page | None:
        """The newest archive page of a subscription document: its `prev-archive`."""
        return self.archive.pages[-1] if self.archive and self.archive.pages else None

    def entries(self) -> tuple[Record, ...]:
        """The full records of the feed, once loaded (`with_records`)."""
        if not all(isinstance(r, Record) for r in self.records):
            raise TypeError(f"{self.stem}: render a spec after its records were loaded")
        return self.records  # type: ignore[return-value]

    def with_records(self, records: tuple[Headline, ...]) -> FeedSpec:
        """This feed, holding `records` (full records, or headlines, of the same entries)."""
        return replace(self, records=records)

    def narrowed(self, limit: int) -> FeedSpec:
        """This feed holding only its newest `limit` members (no archive follows them)."""
        return replace(self, records=self.members[:limit], archive=None)

    @property
    def stem(self) -> str:
        """The site path of the document without its extension (``topics/ai``,
        ``topics/ai/archive/2019``)."""
        if self.archived is not None:
            return archive_stem(self.kind, self.key, self.archived.page.key)
        return stem(self.kind, self.key)

    @property
    def feed_stem(self) -> str:
        """The site path of the feed's subscription document without extension: its identity."""
        return stem(self.kind, self.key)

    @property
    def page(self) -> str:
        """The site path of the document's HTML page (``topics/ai/``, ``topics/ai/archive/2019.html``)."""
        if self.archived is not None:
            return archive_page(self.kind, self.key, self.archived.page.key)
        return page_folder(self.kind, self.key)

    @property
    def feed_page(self) -> str:
        """The site path of the feed's own HTML page (an archive page's too)."""
        return page_folder(self.kind, self.key)

    def pages(self, only: Iterable[int] | None = None) -> list[FeedSpec]:
        """One spec for each archive page of a subscription document (those at the positions `only`
        names), oldest first; each holds its records once loaded (`page_refs`)."""
        if self.archive is None:
            return []
        pages = self.archive.pages
        # No logo: a provider's logo is its newest story's, and an archive page must not change with it.
        start = self.archive.start
        return [replace(self, title=f"{self.title} (archive: {page.label})", records=(), members=(),
                        logo=None, archive=None,
                        archived=Archived(start, page, pages[i - 1] if i else None,
                                          pages[i + 1] if i + 1 < len(pages) else None))
                for i, page in (enumerate(pages) if only is None else ((i, pages[i]) for i in only))]

    def nav(self) -> tuple[str | None, str | None]:
        """The HTML pages newer and older than this one (site paths; None at either end): a feed's
        page, then its archive pages from the newest to the oldest."""
        links = dict(self.links())  # the documents' own order: each page's HTML page beside them
        newer, older = links.get("next-archive", links.get("current")), links.get("prev-archive")
        return (None if newer is None else self.feed_page if newer == self.feed_stem else newer + ".html",
                None if older is None else older + ".html")

    def links(self) -> list[tuple[str, str]]:
        """The RFC 5005 links of the document, (relation, site path without extension): a subscription
        document's to its newest archive page; an archive page's to the subscription document and to
        the pages older and newer than it."""
        newest = self.newest_page
        if newest is not None:
            return [("prev-archive", archive_stem(self.kind, self.key, newest.key))]
        archived = self.archived
        if archived is None:
            return []
        links = [("current", self.feed_stem)]
        if archived.older is not None:
            links.append(("prev-archive", archive_stem(self.kind, self.key, archived.older.key)))
        if archived.newer is not None:
            links.append(("next-archive", archive_stem(self.kind, self.key, archived.newer.key)))
        return links

    @property
    def updated(self) -> datetime:
        """When its newest entry last changed (a story's newest coverage); never the clock."""
        if not self.records:
            return EPOCH
        if not all(isinstance(r, Headline) for r in self.records):
            raise TypeError(f"{self.stem}: its date is known once its records were loaded")
        return max(r.updated for r in self.records)  # type: ignore[union-attr]


Pages = dict[str, tuple[int | None, list[Page]]]  # by feed: its newest day and its archive pages


@dataclass(frozen=True)
class Plan:
    """Every feed of a site, all-items first, then topics and providers by key."""

    feeds: tuple[FeedSpec, ...]
    every_page: Pages | None = None  # by feed: newest day, archive pages

    def sitemap(self) -> list[tuple[str, int | None]]:
        """Every HTML page of the site, (site path, the day of its newest story; None for none),
        each feed's newest first: the index, each feed's page and each page of its archive."""
        if self.every_page is None:
            raise TypeError("the sitemap is made from a plan of every page (plan_index)")
        found: list[tuple[str, int | None]] = []
        for spec in self.feeds:
            newest, pages = self.every_page.get(spec.stem, (None, []))
            found.append((spec.page, newest))
            found.extend((archive_page(spec.kind, spec.key, page.key), page.last_day)
                         for page in reversed(pages))
        return found

    @cached_property
    def by_stem(self) -> dict[str, FeedSpec]:
        """Every feed by its site path without extension (``topics/ai``)."""
        return {spec.stem: spec for spec in self.feeds}

    def find(self, kind: str, key: str) -> FeedSpec | None:
        """The feed of `kind` ('all', 'topic', 'provider') keyed by `key`, if it exists."""
        found = KINDS_BY_NAME.get(kind)
        spec = None if found is None else self.by_stem.get(stem(found, key))
        return spec if spec is not None and spec.kind.name == kind else None


def make_spec(kind: Kind, key: str, name: str, members: tuple[Held, ...], settings: Settings,
              total: int, logo: str | None = None) -> FeedSpec:
    """The feed of `kind` and `key` holding `members` (its newest, newest first) of `total`."""
    site = settings.site_title
    every = "each story once, with every provider's coverage"
    entered = f"each entered once when its heat reached {settings.top_heat}"
    named, title, description = {
        ALL: (site, site, f"The newest stories on {site}"),
        TOPIC: (name, f"{site}: {name}", f"Stories about {name}"),
        PROVIDER: (name, f"{site}: {name}", f"Stories from {name}"),
        STORIES: ("Stories", f"{site}: stories", f"The newest stories on {site}, {every}"),
        TOP: ("Top stories", f"{site}: top stories",
              f"The top stories on {site}, {entered}"),
        TOPIC_STORIES: (f"{name}: stories", f"{site}: {name} stories", f"Stories about {name}, {every}"),
    }.get(kind) or (f"{name}: top stories", f"{site}: top {name} stories",
                    f"The top stories about {name}, {entered}")
    return FeedSpec(kind, key, named, title, description,
                    members[:settings.limit], total, logo if kind is PROVIDER else None, members)


# The feeds of the whole site when they hold nothing: they exist all the same (readers may subscribe first).
_EMPTY = {stem(kind, ""): Summary(stem(kind, ""), kind, "", "", 0, None, None) for kind in SITE_KINDS}


def summaries(catalog: Catalog) -> list[Summary]:
    """Every feed's summary, in the catalog's order (the all-items feed first), with those that exist
    even when they hold nothing: the whole site's, and each topic's top stories (readers may
    subscribe first)."""
    found = catalog.feeds()
    have = {summary.stem for summary in found}
    found += [summary for summary in (*_EMPTY.values(), *(_top_of(s) for s in found if s.kind is TOPIC))
              if summary.stem not in have]
    found.sort(key=lambda summary: (KINDS.index(summary.kind), summary.key))
    return found


def _top_of(topic: Summary) -> Summary:
    """The summary of a topic's top stories while it has none."""
    return Summary(stem(TOPIC_TOP, topic.key), TOPIC_TOP, topic.key, topic.name, 0, None, None)


def summary_of(catalog: Catalog, path: str) -> Summary | None:
    """The summary of the feed at `path`, if there is such a feed (as `summaries` has it)."""
    found = catalog.summary(path)
    if found is not None or path in _EMPTY:
        return found or _EMPTY[path]
    feed = feed_of(path)
    topic = catalog.summary(stem(TOPIC, feed[1])) if feed is not None and feed[0] is TOPIC_TOP else None
    return None if topic is None else _top_of(topic)


def plan_feed(catalog: Catalog, summary: Summary, settings: Settings) -> FeedSpec:
    """One feed, holding the newest records its files show, and its archive."""
    refs = tuple(catalog.newest(summary.stem, max(settings.limit, EMBED_LIMIT)))
    spec = make_spec(summary.kind, summary.key, summary.name, refs, settings, summary.total, summary.logo)
    return replace(spec, archive=archive_of(catalog, summary.stem, settings))


def archive_of(catalog: Catalog, feed: str, settings: Settings) -> Archive | None:
    """The archive of the feed at `feed`: its records beyond the newest `limit`, cut into pages."""
    if not settings.archive_size:
        return None
    start = catalog.first_archived(feed, settings.limit)
    if start is None:
        return None
    pages = cut(catalog.archived_days(feed, start), settings.archive_size)
    size = settings.archive_size
    return Archive(start, tuple(_summed(catalog, feed, start, page, size) if page.part else page
                                for page in pages))


def _part(catalog: Catalog, feed: str, start: Start, page: Page, size: int) -> list[Ref]:
    """The records of one part of a day holding more than a page, newest first."""
    oldest_first = catalog.archived(feed, start, page.first_day, page.last_day)[::-1]
    return oldest_first[(page.part - 1) * size:page.part * size][::-1]


def _summed(catalog: Catalog, feed: str, start: Start, page: Page, size: int) -> Page:
    hashes = [member_hash(ref.id, ref.digest) for ref in _part(catalog, feed, start, page, size)]
    return replace(page, sums=(sum(h >> 31 for h in hashes), sum(h & 0x7FFFFFFF for h in hashes)))


def page_refs(catalog: Catalog, spec: FeedSpec, size: int) -> tuple[Ref, ...]:
    """The records of an archive page spec, newest first."""
    archived = spec.archived
    if archived is None:
        raise TypeError(f"{spec.stem}: not an archive page")
    page = archived.page
    if page.part:
        return tuple(_part(catalog, spec.feed_stem, archived.start, page, size))
    return tuple(catalog.archived(spec.feed_stem, archived.start, page.first_day, page.last_day))


def every_page(catalog: Catalog, settings: Settings, known: Pages | None = None,
               touched: Iterable[str] = ()) -> Pages:
    """Every feed's newest day and archive pages (what the sitemap lists): the same pages as
    `archive_of` gives each feed.  From one pass over the catalog, or, given `known` (what this
    gave for the catalog before an update), from it and the feeds the update `touched`."""
    if known is not None:
        found = dict(known)
        for feed in touched:
            counts = catalog.days(feed)
            if counts:
                found[feed] = _pages(counts, settings)
            else:
                found.pop(feed, None)
        return found
    return {feed: _pages([(day, count) for _, day, count in days], settings)
            for feed, days in groupby(catalog.every_day(), lambda row: row[0])}


def _pages(counts: list[tuple[int, int]], settings: Settings) -> tuple[int | None, list[Page]]:
    """A feed's newest day and archive pages from how many members each of its days holds, newest first."""
    size = settings.archive_size
    return counts[0][0], cut(archived_counts(counts, settings.limit), size) if size else []


def plan_index(catalog: Catalog, settings: Settings, pages: bool = True, known: Pages | None = None,
               touched: Iterable[str] = ()) -> Plan:
    """Every feed from its summary alone, holding its newest record, but the all-items feed planned
    in full (the front page leads with its stories), and every feed's archive pages: what the
    index, the OPML list and the sitemap need (see `every_page` for `known` and `touched`).
    Without `pages`, only the summaries (what a build's report counts)."""
    found = summaries(catalog)
    specs = [make_spec(s.kind, s.key, s.name, (s.newest,) if s.newest else (), settings, s.total, s.logo)
             for s in found]
    if not pages:
        return Plan(tuple(specs))
    return Plan((plan_feed(catalog, found[0], settings), *specs[1:]),
                every_page(catalog, settings, known, touched))


def plan_site(catalog: Catalog, settings: Settings) -> Plan:
    """Every feed, each holding the newest records its files show, and its archive."""
    return Plan(tuple(plan_feed(catalog, s, settings) for s in summaries(catalog)),
                every_page(catalog, settings))
