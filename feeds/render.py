"""Rendering: a `FeedSpec` into the bytes of one format. The one module that owns feedgen.

Formats are a table (`FORMATS`).  Atom and RSS go through feedgen 1.0.0,
whose pitfalls are handled here and nowhere else:

* Atom entry links keep only ``href`` (python-feedgen issue 135), so
  ``rel="related"`` links are written by `_Entry` itself;
* feed and entry ``updated`` default to now: both are always set from records;
* ``add_entry()`` prepends: entries are added with ``order="append"``;
* the media extension wants string attributes and wraps items in
  ``media:group``: `_MediaEntry` writes bare ``media:thumbnail``/``media:content``;
* RSS ``<author>`` needs an e-mail address: the ``dc`` extension carries names;
* ``generator`` carries feedgen's version: it is set to a fixed value.

JSON Feed 1.1 is written with the standard library's `json`, with the same
content as the Atom feed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

from feedgen.entry import FeedEntry
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from feedgen.util import xml_elem

from . import code_digest
from .layout import PROVIDER, TOPIC
from .plan import FeedSpec, Plan
from .records import Record
from .settings import Settings

MEDIA_NS = "http://search.yahoo.com/mrss/"
ATOM_NS = "http://www.w3.org/2005/Atom"
GENERATOR = "feeds"


@dataclass(frozen=True)
class Format:
    """One feed format: file extension, media type and the function that writes it."""

    name: str
    extension: str
    media_type: str
    label: str
    render: Callable[[FeedSpec, Settings], bytes]


class _MediaFeed(BaseExtension):  # type: ignore[misc]
    """Declares the Media RSS namespace on the feed."""

    def extend_ns(self) -> dict[str, str]:
        return {"media": MEDIA_NS}


class _MediaEntry(BaseEntryExtension):  # type: ignore[misc]
    """Bare Media RSS elements for one entry: thumbnail, image content, video player."""

    def __init__(self) -> None:
        self.record: Record | None = None

    def _extend(self, entry: Any) -> Any:
        record = self.record
        if record is None:
            return entry
        if record.images:
            image = record.images[0]
            size = {k: str(v) for k, v in (("width", image.width), ("height", image.height)) if v}
            xml_elem(f"{{{MEDIA_NS}}}thumbnail", entry, url=image.url, **size)
            xml_elem(f"{{{MEDIA_NS}}}content", entry, url=image.url, medium="image", **size)
        if record.video_url:
            xml_elem(f"{{{MEDIA_NS}}}player", entry, url=record.video_url)
        return entry

    def extend_atom(self, entry: Any) -> Any:
        return self._extend(entry)

    def extend_rss(self, entry: Any) -> Any:
        return self._extend(entry)


class _Entry(FeedEntry):  # type: ignore[misc]
    """A feedgen entry that writes its own ``rel="related"`` links (feedgen issue 135)."""

    def __init__(self, record: Record) -> None:
        super().__init__()
        self.record = record

    def atom_entry(self, extensions: bool = True) -> Any:
        entry = super().atom_entry(extensions)
        for item in self.record.related:
            xml_elem("link", entry, href=item.url, rel="related", type="text/html", title=item.title)
        return entry


def _date(moment: datetime) -> str:
    return moment.isoformat()


def entry_html(record: Record) -> str:
    """The HTML content of an entry: image, excerpt, video link and related coverage."""
    parts: list[str] = []
    link = escape(record.link)
    if record.images:
        image = record.images[0]
        size = "".join(f' {k}="{v}"' for k, v in (("width", image.width), ("height", image.height))
                       if v)
        parts.append(f'<p><a href="{link}"><img src="{escape(image.url)}" alt=""{size}></a></p>')
    if record.excerpt:
        parts.append(f"<p>{escape(record.excerpt, quote=False)}</p>")
    if record.video_url:
        parts.append(f'<p><a href="{escape(record.video_url)}">Watch the video</a></p>')
    parts.append(f'<p><a href="{link}">Read the story at {escape(record.provider.name, quote=False)}</a></p>')
    if record.related:
        items = "".join(
            f'<li><a href="{escape(item.url)}">{escape(item.title, quote=False)}</a>'
            + (f" ({escape(item.provider, quote=False)})" if item.provider else "") + "</li>"
            for item in record.related
        )
        parts.append(f"<p>Related coverage:</p><ul>{items}</ul>")
    return "".join(parts)


def _generator(spec: FeedSpec, settings: Settings, fmt: str) -> FeedGenerator:
    fg = FeedGenerator()
    fg.register_extension("media", _MediaFeed, _MediaEntry)
    if fmt == "rss":
        fg.load_extension("dc", atom=False, rss=True)
    self_url = settings.url(spec.stem + FORMATS[fmt].extension)
    fg.id(settings.url(spec.stem + ".atom"))
    fg.title(spec.title)
    if fmt == "atom":
        fg.subtitle(spec.description)
    else:
        fg.description(spec.description)
    # feedgen writes the RSS channel <link> from the link added last: the page.
    fg.link(href=self_url, rel="self", type=FORMATS[fmt].media_type)
    fg.link(href=settings.url(spec.page), rel="alternate", type="text/html")
    fg.language(settings.language)
    fg.generator(GENERATOR)
    fg.updated(spec.updated)
    if spec.logo:
        fg.image(url=spec.logo, title=spec.title, link=settings.url(spec.page))
    for record in spec.entries():
        fg.add_entry(_entry(record), order="append")
    return fg


def _entry(record: Record) -> _Entry:
    fe = _Entry(record)
    fe.id(record.id)
    fe.guid(record.id, permalink=False)
    fe.title(record.title)
    fe.link(href=record.link, rel="alternate", type="text/html")
    fe.published(record.published_at)
    fe.updated(record.published_at)
    if record.excerpt:
        fe.description(escape(record.excerpt, quote=False))  # RSS <description> is HTML
    fe.content(entry_html(record), type="html")
    if record.excerpt:
        fe.summary(record.excerpt)  # Atom <summary> is plain text
    fe.author(name=record.provider.name, uri=record.provider.home)
    for topic in record.topics:
        fe.category(term=topic.name)
    return fe


def _attach(fe: _Entry, fmt: str) -> None:
    # Extensions exist on an entry only once it is added to the generator.
    fe.media.record = fe.record
    if fmt == "rss":
        fe.dc.dc_creator(fe.record.provider.name)


def _feedgen(fmt: str) -> Callable[[FeedSpec, Settings], bytes]:
    def render(spec: FeedSpec, settings: Settings) -> bytes:
        fg = _generator(spec, settings, fmt)
        for fe in fg.entry():
            _attach(fe, fmt)
        if fmt == "atom":
            return bytes(fg.atom_str(pretty=True, encoding="UTF-8"))
        return bytes(fg.rss_str(pretty=True, encoding="UTF-8"))
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
    item["date_modified"] = _date(record.published_at)
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
        "feed_url": settings.url(spec.stem + ".json"),
        "description": spec.description,
        "language": settings.language,
    }
    if spec.logo:
        doc["icon"] = spec.logo
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
    digest.update(repr((code_digest(), settings.base_url, settings.site_title,
                        settings.language, spec.kind.name, spec.key, spec.name, spec.title,
                        spec.description, spec.logo)).encode())
    for record in spec.records:
        digest.update(f"{record.id} {record.digest}\n".encode())
    return digest.hexdigest()


def render_site(plan: Plan, settings: Settings) -> Iterator[tuple[str, bytes]]:
    """Every file of the site: (site path, bytes), feeds in plan order."""
    for spec in plan.feeds:
        for fmt in FORMATS:
            yield feed_path(spec, fmt), render_feed(spec, fmt, settings)


# The files the static export owns, and so may remove when a feed disappears
# (temporary files left by a killed build included).
_OWNED = (*(f"*{f.extension}" for f in FORMATS.values()), ".feeds-tmp-*")
MANAGED = (
    *(f"feed{f.extension}" for f in FORMATS.values()),
    ".feeds-tmp-*",
    *(f"{kind.folder}/{pattern}" for kind in (TOPIC, PROVIDER) for pattern in _OWNED),
)

