"""Atom and RSS through feedgen 1.0.0: the one module that owns feedgen.

Its pitfalls are handled here and nowhere else:

* Atom entry links keep only ``href`` (python-feedgen issue 135), so
  ``rel="related"`` links are written by `_Entry` itself;
* feed and entry ``updated`` default to now: both are always set from records;
* ``add_entry()`` prepends: entries are added with ``order="append"``;
* the media extension wants string attributes and wraps items in
  ``media:group``: `_MediaEntry` writes bare ``media:thumbnail``/``media:content``;
* RSS ``<author>`` needs an e-mail address: the ``dc`` extension carries names;
* ``generator`` carries feedgen's version: it is set to a fixed value;
* feedgen writes no processing instructions: `_with_stylesheet` adds ``<?xml-stylesheet?>``.
"""

from __future__ import annotations

from html import escape
from typing import Any

from feedgen.entry import FeedEntry
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from feedgen.util import xml_elem

from .content import entry_html
from .plan import FeedSpec
from .records import Record
from .settings import Settings

MEDIA_NS = "http://search.yahoo.com/mrss/"
HISTORY_NS = "http://purl.org/syndication/history/1.0"  # RFC 5005
ATOM_NS = "http://www.w3.org/2005/Atom"
GENERATOR = "feeds"
STYLESHEET = "feed.xsl"  # the site file Atom and RSS name in <?xml-stylesheet?>
_DECLARATION = b"<?xml version='1.0' encoding='UTF-8'?>\n"  # what lxml writes first


class _History(BaseExtension):  # type: ignore[misc]
    """RFC 5005 archives: ``fh:archive`` on an archive document, and its ``prev-archive``,
    ``next-archive`` and ``current`` links (as ``atom:link`` in RSS).  Written here, not with
    `FeedGenerator.link`: feedgen takes the RSS channel's <link> from the link added last."""

    def __init__(self) -> None:
        self.links: list[tuple[str, str, str]] = []  # (relation, URL, media type)
        self.archive = False

    def extend_ns(self) -> dict[str, str]:
        return {"fh": HISTORY_NS} if self.archive else {}

    def _extend(self, parent: Any, link: str) -> None:
        if self.archive:
            xml_elem(f"{{{HISTORY_NS}}}archive", parent)
        for rel, href, media_type in self.links:
            xml_elem(link, parent, href=href, rel=rel, type=media_type)

    def extend_atom(self, feed: Any) -> Any:
        self._extend(feed, "link")  # feedgen writes Atom's own elements without a namespace
        return feed

    def extend_rss(self, feed: Any) -> Any:
        self._extend(feed[0], f"{{{ATOM_NS}}}link")  # in the channel
        return feed


class _Hubs(BaseExtension):  # type: ignore[misc]
    """WebSub: a ``rel="hub"`` link per hub (``atom:link`` in RSS), written here for the reason
    `_History` gives (the RSS channel's <link> must stay the page)."""

    def __init__(self) -> None:
        self.hubs: tuple[str, ...] = ()

    def extend_atom(self, feed: Any) -> Any:
        for hub in self.hubs:
            xml_elem("link", feed, href=hub, rel="hub")
        return feed

    def extend_rss(self, feed: Any) -> Any:
        for hub in self.hubs:
            xml_elem(f"{{{ATOM_NS}}}link", feed[0], href=hub, rel="hub")
        return feed


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
        for item in (*self.record.coverage, *self.record.related):
            xml_elem("link", entry, href=item.url, rel="related", type="text/html", title=item.title)
        return entry


def _generator(spec: FeedSpec, settings: Settings, fmt: str, media_type: str,
               extension: str) -> FeedGenerator:
    fg = FeedGenerator()
    fg.register_extension("media", _MediaFeed, _MediaEntry)
    fg.register_extension("history", _History)
    fg.history.archive = spec.archived is not None
    fg.history.links = [(rel, settings.url(path + extension), media_type) for rel, path in spec.links()]
    fg.register_extension("websub", _Hubs)
    # Readers subscribe to the feed; an archive document never changes, so it names no hub.
    fg.websub.hubs = settings.hubs if spec.archived is None else ()
    if fmt == "rss":
        fg.load_extension("dc", atom=False, rss=True)
    self_url = settings.url(spec.stem + extension)
    fg.id(settings.url(spec.feed_stem + ".atom"))  # an archive document's too: the feed it is part of
    fg.title(spec.title)
    if fmt == "atom":
        fg.subtitle(spec.description)
    else:
        fg.description(spec.description)
    # feedgen writes the RSS channel <link> from the link added last: the page.
    fg.link(href=self_url, rel="self", type=media_type)
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
    fe.updated(record.updated)
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


def render_xml(spec: FeedSpec, fmt: str, media_type: str, extension: str, settings: Settings) -> bytes:
    """The bytes of `spec` as Atom (`fmt` 'atom') or RSS ('rss'), served as `media_type` at its stem
    plus `extension`."""
    fg = _generator(spec, settings, fmt, media_type, extension)
    for fe in fg.entry():
        _attach(fe, fmt)
    if fmt == "atom":
        data = bytes(fg.atom_str(pretty=True, encoding="UTF-8"))
    else:
        data = bytes(fg.rss_str(pretty=True, encoding="UTF-8"))
    return _with_stylesheet(data, spec.stem) if settings.stylesheet else data


def stylesheet_href(stem: str) -> str:
    """The href of the site's stylesheet from the document at site path `stem` plus an extension
    (``../../../feed.xsl`` from ``topics/ai/archive/2019.atom``).

    Relative, not the absolute URL built from ``base_url``: a browser only applies a stylesheet
    of the document's own origin, and the same bytes are served live, from the static export on
    any host (a preview on localhost, a CDN alias) and under a base URL with a path
    (``https://example.com/news/``).  A path relative to the document resolves to the site's
    ``feed.xsl`` in all of them; a query (``?limit=5``) does not change it."""
    return "../" * stem.count("/") + STYLESHEET


def _with_stylesheet(data: bytes, stem: str) -> bytes:
    """`data` with ``<?xml-stylesheet?>`` right after its XML declaration (before the root
    element, where browsers look for it; feed readers and validators skip it)."""
    if not data.startswith(_DECLARATION):
        raise ValueError("feedgen's document does not start with the expected XML declaration")
    pi = f'<?xml-stylesheet type="text/xsl" href="{escape(stylesheet_href(stem))}"?>\n'
    return _DECLARATION + pi.encode("ascii") + data[len(_DECLARATION):]
