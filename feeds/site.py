"""The site: every file of the static export (and every live path) as a list of artifacts.

An `Artifact` is one file: its path, media type, a fingerprint that changes
whenever its bytes could, the feed whose full records it needs, and how to
make its bytes.  The static export and the live server both take their files
from here, so their bytes are the same.
"""

from __future__ import annotations

import gc
import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import cache, cached_property
from typing import Any

from . import code_digest
from .compression import compress, managed
from .layout import ALL, KINDS, Kind, archive_of, archive_page, archive_stem, page_folder
from .pages import (
    EMBED_JS,
    EMBED_LIMIT,
    FAVICON,
    STYLESHEET,
    embed_path,
    page_path,
    render_embed,
    render_index,
    render_opml,
    render_page,
    render_robots,
    render_sitemap,
)
from .plan import FeedSpec, Plan
from .records import Headline, Record
from .render import FEED_STEMS, FORMATS, feed_digest, feed_path, render_feed
from .render import MANAGED as FEED_FILES
from .settings import Settings
from .workers import in_order

HTML = "text/html; charset=utf-8"
OPML = "text/x-opml; charset=utf-8"
JS = "text/javascript; charset=utf-8"
XML = "application/xml; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
ICON = "image/x-icon"  # a PNG inside an ICO: no charset
# The feeds' XSLT stylesheet.  Every browser that runs XSLT loads a stylesheet served as an XML type;
# application/xml is the one they all accept (Chromium also takes application/xslt+xml and text/xsl,
# not all servers know those) and the one static hosts such as GitHub Pages send for .xsl.
XSL = XML
# Chromium shows application/atom+xml and application/rss+xml as plain text and Firefox downloads them:
# neither runs the feed's <?xml-stylesheet?>.  So a browser tab opening an Atom or RSS feed (the one
# request with Sec-Fetch-Dest: document, a header only browsers send and page scripts cannot set) gets
# the same bytes as application/xml, which both render through feed.xsl; readers get the feed's own type.
STYLED = (".atom", ".rss")
FOR_PEOPLE = XML
ARCHIVE_MAX_AGE = 86400  # seconds caches may keep a closed archive page (back-dated stories change it)
Source = FeedSpec | Plan | None  # what a file is made from: a feed, every feed, or nothing
Maker = Callable[[Any, Settings], bytes]
Full = Callable[[tuple[Any, ...]], tuple[Record, ...]]  # the full records of a spec's refs
Headlines = Callable[[tuple[Any, ...]], Sequence[Headline]]  # the headlines of refs
Archived = Callable[[FeedSpec], tuple[Any, ...]]  # the refs of an archive page spec


def content_types() -> dict[str, str]:
    """The Content-Type of each file extension of the site (``atom``, ``html``, …), as the live
    server sends it to a feed reader: the static hosts (nginx, a bucket) send the same."""
    types = {f.extension.lstrip("."): f.content_type for f in FORMATS.values()}
    types.update(html=HTML, opml=OPML, js=JS, ico=ICON, xml=XML, xsl=XSL, txt=TEXT)
    return types


@dataclass(frozen=True)
class Artifact:
    """One file of the site."""

    path: str
    media_type: str
    fingerprint: Callable[[], str] = field(repr=False)
    make: Maker = field(repr=False)
    source: Source = None

    @cached_property
    def digest(self) -> str:
        """Changes whenever a byte of the file could change."""
        return self.fingerprint()

    @property
    def spec(self) -> FeedSpec | None:
        """The feed this file is made from, if it is one feed's."""
        return self.source if isinstance(self.source, FeedSpec) else None

    @property
    def closed(self) -> bool:
        """True for an archive page with a newer one after it: new stories no longer reach it, so
        caches may keep it long."""
        spec = self.spec
        return spec is not None and spec.archived is not None and spec.archived.newer is not None


# Settings that change no byte of a file (precompression adds files: the build's `made_by` says so).
_NOT_OUTPUT = ("jobs", "cache_dir", "body_cache_bytes", "precompress")


def fingerprint(settings: Settings) -> str:
    """Changes with the code and with every setting that shapes a byte of the site."""
    wanted = {k: v for k, v in asdict(settings).items() if k not in _NOT_OUTPUT}
    return hashlib.blake2b(repr((code_digest(), sorted(wanted.items()))).encode(), digest_size=16).hexdigest()


def stem_of(path: str) -> str:
    """The feed a site path would belong to (``topics/ai`` for ``embed/topics/ai.html`` and for
    ``topics/ai/archive/2019.atom``)."""
    archived = archive_of(path)
    if archived is not None:
        return archived[0]
    if path.startswith("embed/") and path.endswith(".html"):
        return path[len("embed/"):-len(".html")]
    if path.endswith("/index.html"):
        return path[:-len("/index.html")]
    return path.rpartition(".")[0]


def loaded(source: Source, full: Full, headlines: Headlines, archived: Archived) -> Source:
    """`source` holding the records its file shows: a feed's newest (or an archive page's) in full,
    or the front page's stories in full and each other feed's newest headline (all the index and
    the OPML list show)."""
    if isinstance(source, FeedSpec):
        refs = archived(source) if source.archived is not None else source.records
        return source.with_records(full(refs))
    if isinstance(source, Plan):
        front, *others = source.feeds
        firsts = headlines(tuple(spec.records[0] for spec in others if spec.records))
        newest = iter(firsts)
        return replace(source, feeds=(front.with_records(full(front.records)),
                                      *(spec.with_records((next(newest),) if spec.records else ())
                                        for spec in others)))
    return source


def _given(spec: Any) -> FeedSpec:
    if not isinstance(spec, FeedSpec):
        raise TypeError("this artifact is made from a feed's full records")
    return spec


def _plan(plan: Any) -> Plan:
    if not isinstance(plan, Plan):
        raise TypeError("this artifact is made from the plan of every feed")
    return plan


def _feed_maker(fmt: str) -> Maker:
    return lambda spec, settings: render_feed(_given(spec), fmt, settings)


def _hash(*parts: object) -> str:
    return hashlib.blake2b(repr((code_digest(), parts)).encode(), digest_size=16).hexdigest()


def feed_artifacts(spec: FeedSpec, settings: Settings, pages: list[FeedSpec] | None = None) -> list[Artifact]:
    """The files of one feed: its three formats, its page and its embed, and those of its archive
    pages (of `pages`, when given: some of `spec.pages()`)."""
    @cache  # one fingerprint for its four files
    def digest() -> str:
        return feed_digest(spec, settings)

    files = [Artifact(feed_path(spec, fmt), f.content_type, digest,
                      _feed_maker(fmt), spec)
             for fmt, f in FORMATS.items()]
    if spec.kind is not ALL:  # the all-items feed's page is the index
        files.append(_page_artifact(spec, digest))
    files.append(embed_artifact(spec.narrowed(EMBED_LIMIT), settings))
    for page in spec.pages() if pages is None else pages:  # its archive: every format, and for people
        files.extend(archive_artifacts(page, settings))
    return files


def archive_files(kind: Kind, key: str, page: str) -> list[str]:
    """The site paths of the files `archive_artifacts` makes for one archive page of a feed."""
    found = archive_stem(kind, key, page)
    return [*(found + f.extension for f in FORMATS.values()), archive_page(kind, key, page)]


def _page_artifact(spec: FeedSpec, digest: Callable[[], str]) -> Artifact:
    # A feed's page tells how many stories it has; an archive page only its own (it stays as it is).
    total = spec.total if spec.archived is None else None
    return Artifact(page_path(spec), HTML, lambda: _hash("page", digest(), total),
                    lambda s, st: render_page(_given(s), st), spec)


def archive_artifacts(page: FeedSpec, settings: Settings) -> list[Artifact]:
    """The files of one archive page of a feed: its documents in every format and its HTML page."""
    @cache  # one fingerprint for its four files
    def digest() -> str:
        return feed_digest(page, settings)

    return [*(Artifact(feed_path(page, fmt), f.content_type, digest, _feed_maker(fmt), page)
              for fmt, f in FORMATS.items()),
            _page_artifact(page, digest)]


def embed_artifact(spec: FeedSpec, settings: Settings) -> Artifact:
    """The embeddable headline list of `spec` (already narrowed to what it shows)."""
    return Artifact(embed_path(spec), HTML, lambda: _hash("embed", feed_digest(spec, settings)),
                    lambda s, st: render_embed(_given(s), st), spec)


def narrowed_artifact(artifact: Artifact, spec: FeedSpec, settings: Settings) -> Artifact:
    """`artifact` made from `spec`: its feed narrowed to the records that passed a reader's filters."""
    return Artifact(artifact.path, artifact.media_type,
                    lambda: _hash(artifact.path, spec.total, feed_digest(spec, settings)),
                    artifact.make, spec)


# The site's own files (the rest are each one feed's), as `site_artifacts` makes them.
# feed.xsl only with the `stylesheet` setting: a site whose feeds name no stylesheet has no use for
# one, and a build with the setting turned off removes the one an earlier build wrote.
SITE_FILES = ("index.html", "feeds.opml", "sitemap.xml", "robots.txt", "embed.js", "favicon.ico", "feed.xsl")


def site_artifacts(plan: Plan, settings: Settings, only: set[str] | None = None) -> list[Artifact]:
    """Every file of the site, in a stable order (of the feeds `only` names, with the site's own)."""
    def newest(spec: FeedSpec) -> tuple[str, str]:
        return (spec.records[0].id, spec.records[0].digest) if spec.records else ("", "")

    def index_digest() -> str:
        return _hash("index", [(s.stem, s.name, s.title, s.total, *newest(s)) for s in plan.feeds],
                     feed_digest(plan.feeds[0], settings), settings.base_url, settings.site_title,
                     settings.language)

    def opml_digest() -> str:
        return _hash("opml", [(s.stem, s.title) for s in plan.feeds], newest(plan.feeds[0]),
                     settings.base_url, settings.site_title)

    def sitemap_digest() -> str:
        return _hash("sitemap", plan.sitemap(), settings.base_url)

    files = [  # SITE_FILES, in order
        Artifact("index.html", HTML, index_digest, lambda p, st: render_index(_plan(p), st), plan),
        Artifact("feeds.opml", OPML, opml_digest, lambda p, st: render_opml(_plan(p), st), plan),
        Artifact("sitemap.xml", XML, sitemap_digest, lambda p, st: render_sitemap(_plan(p).sitemap(), st),
                 plan),
        Artifact("robots.txt", TEXT, lambda: _hash("robots", settings.base_url),
                 lambda s, st: render_robots(st)),
        Artifact("embed.js", JS, lambda: _hash("js", EMBED_JS), lambda s, st: EMBED_JS),
        Artifact("favicon.ico", ICON, lambda: _hash("ico", FAVICON), lambda s, st: FAVICON),
    ]
    if settings.stylesheet:
        files.append(Artifact("feed.xsl", XSL, lambda: _hash("xsl", STYLESHEET), lambda s, st: STYLESHEET))
    for spec in plan.feeds:
        if only is None or spec.stem in only:
            files.extend(feed_artifacts(spec, settings))
    return files


# The files the static export owns beyond the feeds, and so may remove when
# they disappear (temporary files left by a killed build and compressed siblings included).
_PAGED = [page_folder(kind, "*") for kind in KINDS]  # the folders of feeds' pages: "", "topics/*/", …
MANAGED = managed((
    *FEED_FILES,
    *SITE_FILES,
    *(f"{folder}{name}" for folder in _PAGED if folder for name in ("index.html", ".feeds-tmp-*")),
    *(f"{folder}archive/{name}" for folder in _PAGED
      for name in (*(f"*{f.extension}" for f in FORMATS.values()), "*.html", ".feeds-tmp-*")),
    *(f"embed/{feed}.html" for feed in FEED_STEMS),
    *dict.fromkeys(f"embed/{feed.rpartition('/')[0]}/.feeds-tmp-*".replace("//", "/") for feed in FEED_STEMS),
))

_WORK: list[tuple[Artifact, Source]] = []  # what a forked worker makes, by index
PARALLEL_FROM = 64  # fewer files are made faster than processes start


def _make_one(artifact: Artifact, source: Source, settings: Settings) -> list[tuple[str, bytes]]:
    """(path, bytes) of `artifact`, then of its compressed siblings when the settings ask for them
    (compressed here, in the worker that made the bytes: compressing takes about as long as making)."""
    data = artifact.make(source, settings)
    return [(artifact.path, data), *(compress(artifact.path, data) if settings.precompress else ())]


def _make_chunk(job: tuple[range, Settings]) -> list[tuple[str, bytes]]:
    indices, settings = job
    return [made for i in indices for made in _make_one(*_WORK[i], settings)]


def make_many(work: list[tuple[Artifact, Source]], settings: Settings, jobs: int = 0
              ) -> Iterator[tuple[str, bytes]]:
    """(path, bytes) of every artifact, given what it is made from, loaded (`loaded`), each followed
    by its compressed siblings when ``settings.precompress``."""
    jobs = jobs or os.cpu_count() or 1
    if jobs < 2 or len(work) < PARALLEL_FROM:
        for artifact, spec in work:
            yield from _make_one(artifact, spec, settings)
        return
    _WORK[:] = work
    step = max(1, min(64, len(work) // (jobs * 8)))
    chunks = [(range(i, min(i + step, len(work))), settings) for i in range(0, len(work), step)]
    gc.freeze()  # the workers share the parent's records instead of copying what GC touches
    try:
        for chunk in in_order(_make_chunk, chunks, jobs):
            yield from chunk
    finally:
        gc.unfreeze()
        _WORK.clear()
