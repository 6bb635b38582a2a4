"""Rendering: a `FeedSpec` into the bytes of one format.

Formats are a table (`FORMATS`).  Atom and RSS are written by feedgen in
`feeds.xmlfeeds`, imported when the first of them is made: feedgen and lxml
take a tenth of a second to load, which a build with nothing to make, or a
page served live, need not pay.  JSON Feed 1.1 is written here with the
standard library's `json`, with the same content as the Atom feed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import code_digest
from .content import entry_html
from .layout import KINDS, stem
from .plan import FeedSpec, Plan
from .records import Record
from .settings import Settings


@dataclass(frozen=True)
class Format:
    """One feed format: file extension, media type and the function that writes it."""

    name: str
    extension: str
    media_type: str
    label: str
    render: Callable[[FeedSpec, Settings], bytes]

    @property
    def content_type(self) -> str:
        """The Content-Type a feed of this format is sent with (every feed is UTF-8)."""
        return f"{self.media_type}; charset=utf-8"


def _date(moment: datetime) -> str:
    return moment.isoformat()


def _feedgen(fmt: str) -> Callable[[FeedSpec, Settings], bytes]:
    def render(spec: FeedSpec, settings: Settings) -> bytes:
        from .xmlfeeds import render_xml  # loaded with feedgen when the first Atom or RSS feed is made
        return render_xml(spec, fmt, FORMATS[fmt].media_type, FORMATS[fmt].extension, settings)
    return render


def _json_item(record: Record) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": record.id,
        "url": record.link,
        "title": record.title,
        "content_html": entry_html(record),
    }
    if record.original_url and record.original_url != record.link:
        item["external_url"] = record.original_url
    if record.excerpt:
        item["summary"] = record.excerpt
    if record.images:
        item["image"] = record.images[0].url
    item["date_published"] = _date(record.published_at)
    item["date_modified"] = _date(record.updated)
    item["authors"] = [{"name": record.provider.name, "url": record.provider.home}]
    if record.topics:
        item["tags"] = [topic.name for topic in record.topics]
    return item


def render_json(spec: FeedSpec, settings: Settings) -> bytes:
    """The JSON Feed 1.1 document of a feed."""
    doc: dict[str, Any] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": spec.title,
        "home_page_url": settings.url(spec.page),
        "feed_url": settings.url(spec.feed_stem + ".json"),  # an archive page's too: the feed it is of
        "description": spec.description,
        "language": settings.language,
    }
    older = dict(spec.links()).get("prev-archive")
    if older is not None:  # JSON Feed pages through the archive, newest first, by `next_url`
        doc["next_url"] = settings.url(older + ".json")
    if spec.logo:
        doc["icon"] = spec.logo
    if spec.archived is None and settings.hubs:  # WebSub; an archive page never changes: no hub
        doc["hubs"] = [{"type": "WebSub", "url": hub} for hub in settings.hubs]
    doc["items"] = [_json_item(record) for record in spec.entries()]
    # Compact: the C encoder only runs without indent, and readers do not care.
    return (json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


FORMATS: dict[str, Format] = {
    "atom": Format("atom", ".atom", "application/atom+xml", "Atom", _feedgen("atom")),
    "rss": Format("rss", ".rss", "application/rss+xml", "RSS", _feedgen("rss")),
    "json": Format("json", ".json", "application/feed+json", "JSON Feed", render_json),
}


def render_feed(spec: FeedSpec, fmt: str, settings: Settings) -> bytes:
    """The bytes of `spec` in format `fmt` ('atom', 'rss' or 'json')."""
    return FORMATS[fmt].render(spec, settings)


def feed_path(spec: FeedSpec, fmt: str) -> str:
    """The site path of `spec` in format `fmt` (``topics/ai.atom``)."""
    return spec.stem + FORMATS[fmt].extension


def feed_digest(spec: FeedSpec, settings: Settings) -> str:
    """A fingerprint that changes whenever a byte of the feed's files could change."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr((code_digest(), settings.base_url, settings.site_title, settings.language,
                        settings.stylesheet, spec.kind.name, spec.key, spec.name, spec.title,
                        spec.description, spec.logo, spec.links(), _page(spec),
                        settings.hubs if spec.archived is None else ())).encode())
    for record in spec.records:
        digest.update(f"{record.id} {record.digest}\n".encode())
    return digest.hexdigest()


def _page(spec: FeedSpec) -> tuple[object, ...]:
    """What an archive page holds, before its records are loaded: their count and hashes summed."""
    archived = spec.archived
    return () if archived is None else (archived.page.key, archived.page.count, archived.page.sums)


def render_site(plan: Plan, settings: Settings) -> Iterator[tuple[str, bytes]]:
    """Every file of the site: (site path, bytes), feeds in plan order."""
    for spec in plan.feeds:
        for fmt in FORMATS:
            yield feed_path(spec, fmt), render_feed(spec, fmt, settings)


# The files the static export owns, and so may remove when a feed disappears
# (temporary files left by a killed build included): every kind's feeds, named by key.
FEED_STEMS = tuple(stem(kind, "*") for kind in KINDS)  # ``feed``, ``topics/*``, ``topics/*/top``, …
MANAGED = (
    *(f"{feed}{f.extension}" for feed in FEED_STEMS for f in FORMATS.values()),
    *dict.fromkeys(f"{feed.rpartition('/')[0]}/.feeds-tmp-*".lstrip("/") for feed in FEED_STEMS),
)
