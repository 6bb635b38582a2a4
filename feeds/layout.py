"""The kinds of feed and where each lives: the vocabulary the catalog, the planner and the site share.

A published record is in the all-items feed, in one feed per topic slug and
in its provider's feed.  A *story* (the records covering one news story, see
`feeds.catalog.stories`) is in the stories feed, in the stories feed of each
of its members' topics, and, once its heat reaches the threshold, in the top
stories feeds beside them.  A feed is named by its *stem*, its site path
without extension (``feed``, ``topics/ai``, ``providers/example.com``,
``stories``, ``topics/ai/top``).
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
    folder: str  # the folder of its feeds, each named by its key ("" for one feed of the whole site)
    label: str
    leaf: str = ""  # for a feed of stories: its name, after the key's folder (``topics/ai/top``)

    @property
    def stories(self) -> bool:
        """True for a feed with one entry per story (not per record)."""
        return bool(self.leaf)


ALL = Kind("all", "", "All stories")
TOPIC = Kind("topic", "topics", "Topic")
PROVIDER = Kind("provider", "providers", "Provider")
STORIES = Kind("stories", "", "Stories", "stories")
TOP = Kind("top", "", "Top stories", "top")
TOPIC_STORIES = Kind("topic-stories", "topics", "Topic stories", "stories")
TOPIC_TOP = Kind("topic-top", "topics", "Topic top stories", "top")
KINDS = (ALL, TOPIC, PROVIDER, STORIES, TOP, TOPIC_STORIES, TOPIC_TOP)
KINDS_BY_NAME = {kind.name: kind for kind in KINDS}
ALL_STEM = "feed"
# The feeds of the whole site that exist even with nothing in them: readers may subscribe first.
SITE_KINDS = (ALL, STORIES, TOP)


ARCHIVE = "archive"  # the folder of a feed's archive, beside its page


def stem(kind: Kind, key: str) -> str:
    """The site path of a feed without its extension (``topics/ai``, ``topics/ai/stories``, ``top``)."""
    if kind is ALL:
        return ALL_STEM
    if not kind.folder:
        return kind.leaf
    return f"{kind.folder}/{key}/{kind.leaf}" if kind.leaf else f"{kind.folder}/{key}"


def feed_of(path: str) -> tuple[Kind, str] | None:
    """The kind and key of the feed whose stem is `path`; None when no feed could have it."""
    if path == ALL_STEM:
        return ALL, ""
    parts = path.split("/")
    for kind in KINDS[1:]:
        shape = ([kind.folder, None] if kind.folder else []) + ([kind.leaf] if kind.leaf else [])
        if len(parts) == len(shape) and all(part if want is None else part == want
                                            for want, part in zip(shape, parts, strict=True)):
            return kind, parts[1] if kind.folder else ""
    return None


def page_folder(kind: Kind, key: str) -> str:
    """The site path of a feed's HTML page (``topics/ai/``, ``stories/``; ``""``, the front page,
    for all items)."""
    return "" if kind is ALL else stem(kind, key) + "/"


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
    for at in (1, 2, 3):  # the folder a feed's archive is in: beside its page, at the depth of its stem
        if len(parts) > at + 1 and parts[at] == ARCHIVE:
            found = "/".join(parts[:at])
            if feed_of(found) is not None:
                return found, parts[at + 1].partition(".")[0]
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
