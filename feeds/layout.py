"""The kinds of feed and where each lives: the vocabulary the catalog, the planner and the site share.

A published record is in the all-items feed, in one feed per topic slug and
in its provider's feed.  A feed is named by its *stem*, its site path
without extension (``feed``, ``topics/ai``, ``providers/example.com``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .records import Headline

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
KINDS_BY_NAME = {kind.name: kind for kind in KINDS}
ALL_STEM = "feed"


ARCHIVE = "archive"  # the folder of a feed's archive, beside its page


def stem(kind: Kind, key: str) -> str:
    """The site path of a feed without its extension (``topics/ai``)."""
    return ALL_STEM if kind is ALL else f"{kind.folder}/{key}"


def page_folder(kind: Kind, key: str) -> str:
    """The site path of a feed's HTML page (``topics/ai/``; ``""``, the front page, for all items)."""
    return "" if kind is ALL else f"{kind.folder}/{key}/"


def archive_stem(kind: Kind, key: str, page: str) -> str:
    """The site path of one archive page of a feed without extension (``topics/ai/archive/2019-03``):
    its documents add the format's extension, its HTML page ``.html``."""
    return f"{page_folder(kind, key)}{ARCHIVE}/{page}"


def archive_page(kind: Kind, key: str, page: str) -> str:
    """The site path of one archive page's HTML page (``topics/ai/archive/2019-03.html``)."""
    return archive_stem(kind, key, page) + ".html"


def archive_of(path: str) -> tuple[str, str] | None:
    """(feed stem, page key) of a path inside a feed's archive folder; None for any other path."""
    parts = path.split("/")
    if len(parts) >= 2 and parts[0] == ARCHIVE:
        return ALL_STEM, parts[1].partition(".")[0]
    if len(parts) >= 4 and parts[0] in (TOPIC.folder, PROVIDER.folder) and parts[2] == ARCHIVE:
        return f"{parts[0]}/{parts[1]}", parts[3].partition(".")[0]
    return None


@dataclass(frozen=True, slots=True)
class Membership:
    """A published record's place in one feed: the feed, and the name and logo it gives that feed."""

    kind: Kind
    key: str
    name: str  # as this record writes it; a feed is named by its most used spelling
    logo: str | None = None

    @property
    def stem(self) -> str:
        """The feed's site path without extension."""
        return stem(self.kind, self.key)


def memberships(record: Headline) -> Iterator[Membership]:
    """Every feed a published record is in: all-items, its topics, its provider."""
    yield Membership(ALL, "", "")
    for topic in record.topics:
        yield Membership(TOPIC, topic.slug, topic.name)
    if len(record.provider.key) <= MAX_KEY_CHARS:  # no file system holds a longer name
        yield Membership(PROVIDER, record.provider.key, record.provider.name, record.provider.logo)
