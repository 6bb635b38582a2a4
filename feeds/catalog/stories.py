"""Stories: the records that cover one news story, grouped at the source, and what each story's entry shows.

The rule (the README states it for users):

* Every published record names some web pages: its own link, its original
  URL, and the URL of each item of its related coverage.  Two URLs name the
  same page when they differ only in ``http``/``https``, a leading ``www.``,
  a default port, a trailing ``/`` or a ``#fragment``.  A URL without a path
  (a site's home page) names no article and joins nothing.
* Two records that name the same page cover the same story; so do records
  joined through others (a chain).  A story is such a group: one record
  related to two stories joins them into one, and a story grows as records
  naming any of its pages arrive.  A secondary article (heat ``-1``) joins
  the story it is linked to like any other record and is never what makes a
  story top.  The same article in two files is published once (the catalog
  hides the second), so it is one member.
* A story's id is made from its first article (the earliest published, ties
  by id): coverage that comes later never changes it.  Its entry links to its
  best article (highest quality, then heat, then the earliest), is published
  when the first article was and updated when the newest was.
* Its heat is its hottest member's.  It is a top story once a member's heat
  reaches ``top_heat``; it enters the top feeds at the time the first such
  member was published, and keeps that place whatever comes after.

Everything here is a function of the members alone, so a story computed
after any sequence of changes equals the one a clean build computes.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urlsplit

from ..layout import STORIES, TOP, TOPIC_STORIES, TOPIC_TOP, stem
from ..records import Record, Related, Topic

STORY_NAMESPACE = uuid.UUID("5f3c8a52-7d0b-4c55-9a2e-6d1b3f0e9c47")  # story ids are not record ids
MAX_COVERAGE = 50  # other articles an entry lists: the rest are counted, not listed
_DEFAULT_PORTS = {"http": 80, "https": 443}


def page_key(url: str) -> str | None:
    """The key under which `url` (a cleaned http(s) URL) names a page; None for a URL naming no article."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").removeprefix("www.")
    path = parts.path.rstrip("/")
    if not host or (not path and not parts.query):
        return None
    if port is not None and port != _DEFAULT_PORTS.get(parts.scheme.lower()):
        host = f"{host}:{port}"
    return f"{host}{path}" + (f"?{parts.query}" if parts.query else "")


def page_keys(record: Record) -> tuple[str, ...]:
    """The keys of every page a record names: its link, its original URL, its related coverage."""
    found = dict.fromkeys(key for key in (page_key(url) for url in (
        record.link, record.original_url or "", *(item.url for item in record.related))) if key)
    return tuple(found)


def story_id(first: Record) -> str:
    """The permanent id of the story whose first article is `first`."""
    return f"urn:uuid:{uuid.uuid5(STORY_NAMESPACE, first.id)}"


@dataclass(frozen=True)
class Place:
    """Where a story stands in one feed: the feed, the time it is ordered by, the feed's name."""

    stem: str
    at: datetime
    name: str


@dataclass(frozen=True)
class Story:
    """A story: its entry (a record of its own, with the story's id) and its places in feeds."""

    entry: Record
    places: tuple[Place, ...]
    heat: int | None
    quality: int | None


def _first(record: Record) -> tuple[datetime, str]:
    return record.published_at, record.id


def _best(record: Record) -> tuple[int, int, float, str]:
    # Highest quality, then heat; then the earliest, then the id: a total order, so one lead.
    low = -(2**63)
    return (-(record.quality if record.quality is not None else low),
            -(record.heat if record.heat is not None else low), record.published_at.timestamp(), record.id)


def compose(members: Iterable[Record], top_heat: int, max_topics: int, max_related: int) -> Story:
    """The story of `members` (the published records of one group, at least one)."""
    ordered = sorted(members, key=_first)
    first, lead = ordered[0], min(ordered, key=_best)
    newest = max(record.published_at for record in ordered)
    heats = [record.heat for record in ordered if record.heat is not None]
    hot = [r.published_at for r in ordered if r.heat is not None and r.heat >= top_heat]
    others = sorted((record for record in ordered if record is not lead),
                    key=lambda r: (-r.published_at.timestamp(), r.id))  # the newest first
    coverage = tuple(Related(r.title, r.link, r.provider.name, r.published_at) for r in others[:MAX_COVERAGE])
    named = {key for record in ordered
             for key in (page_key(record.link), page_key(record.original_url or ""))}
    related: dict[str, Related] = {}
    for record in (lead, *others):  # what the members cite that is not itself a member
        for item in record.related:
            key = page_key(item.url) or item.url
            if key not in named and key not in related:
                related[key] = item
    topics: dict[str, Topic] = {}
    for record in (lead, *(r for r in ordered if r is not lead)):
        for topic in record.topics:
            topics.setdefault(topic.slug, topic)
    # No file name: a story is made of several files, and one renamed changes none of its bytes.
    entry = replace(lead, id=story_id(first), source="", published_at=first.published_at, updated_at=newest,
                    topics=tuple(topics.values())[:max_topics], heat=max(heats) if heats else None,
                    related=tuple(related.values())[:max_related], coverage=coverage,
                    digest="", published=True)
    places = [Place(stem(STORIES, ""), newest, ""),
              *(Place(stem(TOPIC_STORIES, t.slug), newest, t.name) for t in topics.values())]
    if hot:
        entered = min(hot)
        places += [Place(stem(TOP, ""), entered, ""),
                   *(Place(stem(TOPIC_TOP, t.slug), entered, t.name) for t in topics.values())]
    return Story(entry, tuple(places), entry.heat, lead.quality)


def with_digest(entry: Record, encoded: str) -> Record:
    """`entry` holding the digest of `encoded` (what the catalog keeps of it)."""
    return replace(entry, digest=hashlib.blake2b(encoded.encode(), digest_size=16).hexdigest())


class Groups:
    """Union-find over records joined by the pages they name."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, rec: int) -> int:
        """The representative of the group of `rec`."""
        parent = self.parent
        root = parent.setdefault(rec, rec)
        while parent[root] != root:
            root = parent[root]
        while parent[rec] != root:  # path compression
            parent[rec], rec = root, parent[rec]
        return root

    def join(self, a: int, b: int) -> None:
        """Put `a` and `b` in one group."""
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> list[list[int]]:
        """Every group, its records ascending, the groups by their first record."""
        found: dict[int, list[int]] = {}
        for rec in sorted(self.parent):
            found.setdefault(self.find(rec), []).append(rec)
        return list(found.values())
