"""The static export as the objects of a bucket: each file's key (its site path), the MD5 of the
bytes the object holds, the headers it is sent with, and the tier it is uploaded in.

The headers are the live server's: the media type with its charset (`content_types`), and
``Cache-Control`` (``max_age``, or `ARCHIVE_MAX_AGE` for a closed archive page, found from the
pages' keys).  Compressed siblings and dot files are no objects of their own: a bucket cannot
choose ``X.gz`` by ``Accept-Encoding``.  With ``gzip``, ``X`` holds its gzip sibling's bytes, with
``Content-Encoding: gzip``, for a CDN that unpacks them for the clients that do not take gzip.

Tiers order the uploads so that an object goes up after those it links to: what pages use,
closed archive pages, open ones, feeds, pages and embeds, then the index and the lists of
everything.  (Where two link to each other, the one readers come through goes last: a feed's
page links to the feed and the feed to its page, and people reach the page.)
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .archive import KEY, first
from .bucket import Headers, Stored
from .compression import GZIP, packed, sibling_of
from .errors import PublishError, printable
from .layout import archive_of
from .render import FORMATS
from .settings import Settings
from .site import ARCHIVE_MAX_AGE, content_types
from .workers import each

ROOTS = ("index.html", "feeds.opml", "sitemap.xml", "robots.txt")  # the site's own files that list the rest
TIERS = ("assets", "closed archive pages", "open archive pages", "feeds", "pages and embeds",
         "index and lists")
_FEEDS = tuple(f.extension for f in FORMATS.values())
_TYPES = content_types()


@dataclass(frozen=True)
class SiteFile:
    """One file of the export as the object it becomes."""

    path: str  # its site path: the object's key under the prefix
    source: str  # the file the object's bytes come from: the path, or its gzip sibling
    md5: str
    headers: Headers
    tier: int  # index in TIERS

    @property
    def stored(self) -> Stored:
        """What the bucket holds once the file is uploaded."""
        return Stored(self.md5, self.headers)


def site_paths(out: Path) -> list[str]:
    """The site path of each file of the export under `out`: every regular file but compressed
    siblings and dot names (a build's temporary files), never through a link."""
    found: list[str] = []

    def walk(folder: str, prefix: str) -> None:
        for entry in os.scandir(folder):
            path = prefix + entry.name
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                walk(entry.path, path + "/")
            elif entry.is_file(follow_symlinks=False) and sibling_of(path) is None:
                found.append(path)

    try:
        walk(str(out), "")
    except OSError as exc:
        raise PublishError(f"{exc.filename}: cannot read the output folder ({exc.strerror})") from None
    for path in found:
        if not _keyable(path):
            raise PublishError(f"{out}/{printable(path)}: an object key must be printable UTF-8; remove or "
                               "rename the file")
    return sorted(found)


def _keyable(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # a name that is not UTF-8, read with surrogate escapes
        return False
    return path.isprintable()


def closed_pages(paths: Iterable[str]) -> set[str]:
    """The archive pages among site `paths` with a newer page of the same feed and format: those
    new stories no longer reach (`Artifact.closed`), found from their keys, which say where each
    page starts."""
    newest: dict[tuple[str, str], tuple[tuple[str, int], str]] = {}
    pages = set()
    for path in paths:
        found = archive_of(path)
        if found is None or not KEY.fullmatch(found[1]):
            continue
        pages.add(path)
        feed = (found[0], path.rpartition(".")[2])
        start = (first(found[1]), path)
        if feed not in newest or start > newest[feed]:
            newest[feed] = start
    return pages - {path for _, path in newest.values()}


def tier(path: str, closed: set[str]) -> int:
    """The tier (index in `TIERS`) the object at site `path` goes up in (`closed`: the closed archive
    pages)."""
    if path in ROOTS:
        return 5
    if path in closed:
        return 1
    if archive_of(path) is not None:
        return 2
    if path.endswith(_FEEDS):
        return 3
    return 4 if path.endswith(".html") else 0


def headers(path: str, closed: set[str], settings: Settings, encoding: str = "") -> Headers:
    """The headers of the object at site `path`, as the live server sends the file."""
    extension = path.rpartition("/")[2].rpartition(".")[2]
    max_age = ARCHIVE_MAX_AGE if path in closed else settings.max_age
    return Headers(_TYPES.get(extension, "application/octet-stream"), f"public, max-age={max_age}", encoding)


def md5(data: bytes) -> str:
    """The MD5 of `data`, in hex: S3's ETag of a plain upload, and what its Content-MD5 checks."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def read(out: Path, path: str) -> bytes:
    """The bytes of the file at site `path` under `out`."""
    try:
        return (out / path).read_bytes()
    except OSError as exc:
        raise PublishError(f"{out / path}: cannot read it ({exc.strerror}); if a build is writing the "
                           "folder, publish once it has ended") from None


def scan(out: Path, settings: Settings, gzip: bool, pool: ThreadPoolExecutor) -> dict[str, SiteFile]:
    """Every file of the export under `out` as the object it becomes, by site path."""
    if not (out / ROOTS[0]).is_file():
        raise PublishError(f"{out}: no site was built there (no {ROOTS[0]}); run `feeds build --out {out}` "
                           "first")
    paths = site_paths(out)
    closed = closed_pages(paths)

    def made(path: str) -> SiteFile:
        source = path + GZIP if gzip and packed(path) else path
        if source != path and not (out / source).is_file():
            raise PublishError(f"{out / source}: missing; --gzip uploads the .gz files `feeds build "
                               "--precompress` writes: build with --precompress first")
        encoding = "gzip" if source != path else ""
        return SiteFile(path, source, md5(read(out, source)), headers(path, closed, settings, encoding),
                        tier(path, closed))

    return {f.path: f for f in each(pool, made, paths)}
