"""Publishing the static export to S3-compatible object storage: ``feeds publish s3://BUCKET/PREFIX``.

Each file `feeds build` wrote under the output folder becomes the object at its site path under the
prefix (``index.html``, ``topics/ai.atom``), with the headers the live server sends
(`feeds.objects`); only the objects whose bytes or headers changed are uploaded.

The manifest (`MANIFEST`, beside the objects; a dot name, which no server of the site serves)
lists the keys the publisher owns, each with the MD5 of its bytes and the headers it was sent
with, or null: claimed for an upload whose outcome is not known.  A publish

1. compares each file with the manifest; the bucket is asked (HEAD) only of keys it calls null,
   or, with no readable manifest, of every file that has an object (listed);
2. claims, null, every key it is about to upload;
3. uploads the new objects, then the replaced ones, each in `TIERS`: what pages use, closed
   archive pages, open ones, feeds, pages, then the index and lists; a tier's objects at once;
4. deletes the objects the manifest owns that the site no longer has (none without a manifest:
   an object not known to be ours is never deleted);
5. writes the manifest with every object's MD5.

A reader reaches a new object only through a link from an object already there.  New objects go
up before any replaced one, whose new bytes may link to them, and objects go only once nothing
links to them, so every link a reader follows leads to an object.  Killed at any point, the bucket
is such a site: before the claim it is as it was; after it every object is whole (a PUT replaces an
object at once), and each key an upload may have reached is owned and null, so the next publish
asks what it holds, uploads what differs and deletes what the site no longer has (deleting an
object already gone is no error).  No kill leaves an object the next publish does not own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path

from .bucket import Bucket, Headers, Stored, Target
from .objects import TIERS, SiteFile, md5, read, scan
from .settings import Settings
from .workers import Progress, each

MANIFEST = ".feeds-publish.json"
FORMAT = 1  # of the manifest; a publisher that cannot read one publishes as if there were none
THREADS = 16  # requests at once: each waits on the network, not on a core
LIST_PAGE = 1000  # keys a listing request gives
_MANIFEST_HEADERS = Headers("application/json", "no-store")


@dataclass(frozen=True)
class PublishReport:
    """What a publish did."""

    target: str
    files: int
    uploaded: tuple[str, ...]  # site paths, in the order they went up
    deleted: tuple[str, ...]
    settled: tuple[str, ...]  # uploaded by an interrupted publish, confirmed by this one
    seconds: float
    warnings: tuple[str, ...] = ()

    @property
    def changed(self) -> tuple[str, ...]:
        """The site paths whose objects' bytes changed since the last complete publish."""
        return self.uploaded + self.settled

    def summary(self) -> str:
        """One line: what went up, what went, what stayed."""
        return (f"published {self.files} files to {self.target}: uploaded {len(self.uploaded)}, "
                f"deleted {len(self.deleted)}, unchanged {self.files - len(self.uploaded)}; "
                f"{self.seconds:.2f}s")


def encode_manifest(objects: Mapping[str, Stored | None]) -> bytes:
    """The manifest's bytes: each owned key's MD5 and headers (a table: few sets of headers are
    shared by tens of thousands of keys), or null for a claimed key."""
    table: dict[Headers, int] = {}
    rows = {key: None if entry is None else [entry.md5, table.setdefault(entry.headers, len(table))]
            for key, entry in sorted(objects.items())}
    doc = {"feeds-publish": FORMAT, "headers": [list(h) for h in table], "objects": rows}
    return json.dumps(doc, separators=(",", ":")).encode("utf-8")


class Unreadable(ValueError):
    """The manifest is not one this publisher can read."""


def decode_manifest(data: bytes) -> dict[str, Stored | None]:
    """The owned keys of a manifest's bytes; raises `Unreadable` for anything else."""
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise Unreadable(f"not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("feeds-publish") != FORMAT:
        raise Unreadable(f"not a manifest of format {FORMAT}")
    table, rows = doc.get("headers"), doc.get("objects")
    if not isinstance(table, list) or not all(
            isinstance(h, list) and len(h) == 3 and all(isinstance(v, str) for v in h) for h in table):
        raise Unreadable("its headers are not a table of three strings each")
    if not isinstance(rows, dict):
        raise Unreadable("its objects are not a mapping")
    objects: dict[str, Stored | None] = {}
    for key, row in rows.items():
        if not all(part and not part.startswith(".") for part in key.split("/")):
            raise Unreadable(f"{key!r} is not a site path")
        if row is None:
            objects[key] = None
        elif (isinstance(row, list) and len(row) == 2 and isinstance(row[0], str) and type(row[1]) is int
              and 0 <= row[1] < len(table)):
            objects[key] = Stored(row[0], Headers(*table[row[1]]))
        else:
            raise Unreadable(f"{key!r}: not an MD5 and a row of headers")
    return objects


@dataclass
class Publication:
    """What publishing the export will do, found by comparing it with the bucket; `perform` does it."""

    bucket: Bucket
    out: Path
    pool: ThreadPoolExecutor
    files: dict[str, SiteFile]
    owned: dict[str, Stored | None] | None  # the manifest's objects; None without a readable one
    uploads: list[SiteFile]  # in the order they go up
    new: set[str]  # the site paths of uploads with no object yet
    deletes: list[str]
    settled: list[str]  # claimed by an interrupted publish, found uploaded
    started: float
    warnings: list[str] = field(default_factory=list)

    def planned(self) -> Iterator[str]:
        """One line per operation, in the order `perform` does them."""
        for f in self.uploads:
            yield f"upload {f.path} ({'new' if f.path in self.new else 'changed'}; {TIERS[f.tier]})"
        for path in self.deletes:
            yield f"delete {path}"

    def summary(self) -> str:
        """One line: what `perform` would do."""
        return (f"dry run: would upload {len(self.uploads)} ({len(self.new)} new), delete "
                f"{len(self.deletes)}, leave {len(self.files) - len(self.uploads)} unchanged in "
                f"{self.bucket.target}; nothing was changed")

    def perform(self, progress: Progress | None = None) -> PublishReport:
        """Claim, upload, delete, then write the manifest (see the module's docstring);
        `progress` is told of each operation done."""
        owned = self.owned or {}
        final = {path: f.stored for path, f in self.files.items()}
        if self.uploads:
            self._write({**owned, **final, **{f.path: None for f in self.uploads}})
        for _, run in groupby(self.uploads, lambda f: (f.path not in self.new, f.tier)):
            batch = list(run)
            for f, sent in zip(batch, each(self.pool, self._upload, batch, progress), strict=True):
                final[f.path] = Stored(sent, f.headers)  # the bytes sent, should a build have changed them
        self.bucket.delete(self.deletes)
        if progress is not None and self.deletes:
            progress(len(self.deletes))
        if final != self.owned:
            self._write(final)
        return PublishReport(str(self.bucket.target), len(self.files), tuple(f.path for f in self.uploads),
                             tuple(self.deletes), tuple(self.settled), time.perf_counter() - self.started,
                             tuple(self.warnings))

    def _upload(self, f: SiteFile) -> str:
        data = read(self.out, f.source)
        digest = md5(data)
        self.bucket.put(f.path, data, f.headers, digest)
        return digest

    def _write(self, objects: Mapping[str, Stored | None]) -> None:
        data = encode_manifest(objects)
        self.bucket.put(MANIFEST, data, _MANIFEST_HEADERS, md5(data))


def prepare(bucket: Bucket, out: Path, settings: Settings, gzip: bool,
            pool: ThreadPoolExecutor) -> Publication:
    """Compare the export under `out` with the bucket: what to upload, in which order, and delete."""
    started = time.perf_counter()
    files = scan(out, settings, gzip, pool)
    warnings: list[str] = []
    owned = _manifest(bucket, warnings)
    if owned is None:  # every object that has a file's key is asked what it holds; none is deleted
        present = bucket.keys()
        asked = [path for path in files if path in present]
        foreign = present - files.keys() - {MANIFEST}
        if foreign:
            warnings.append(f"{len(foreign)} object(s) under {bucket.target} are not files of the site; with "
                            "no manifest to say they are the publisher's, they are left as they are")
    else:
        asked = [path for path in files if path in owned and owned[path] is None]
        # After a publish killed early, most claimed keys have no object: when listing them all takes
        # fewer rounds of requests than asking each, a listing tells which there is no use asking.
        if len(asked) * LIST_PAGE > len(owned) * THREADS:
            present = bucket.keys()
            asked = [path for path in asked if path in present]
    found = dict(zip(asked, each(pool, bucket.head, asked), strict=True))
    known = owned or {}
    uploads, new, settled = [], set(), []
    for path, f in files.items():
        now = known.get(path) or found.get(path)
        if now == f.stored:
            if owned is not None and path in found:
                settled.append(path)
            continue
        if now is None:
            new.add(path)
        uploads.append(f)
    uploads.sort(key=lambda f: (f.path not in new, f.tier, f.path))
    deletes = sorted(key for key in known if key not in files)
    return Publication(bucket, out, pool, files, owned, uploads, new, deletes, settled, started, warnings)


def _manifest(bucket: Bucket, warnings: list[str]) -> dict[str, Stored | None] | None:
    """The manifest's owned keys; None when there is none, or none this publisher can read."""
    data = bucket.get(MANIFEST)
    if data is None:
        return None
    try:
        return decode_manifest(data)
    except Unreadable as exc:
        warnings.append(f"{bucket.target}{MANIFEST} is unreadable ({exc}): every file is compared with "
                        "the bucket's objects, and none is deleted; the publish writes it anew")
        return None


@contextmanager
def publishing(target: Target, settings: Settings, endpoint_url: str | None = None,
               gzip: bool = False) -> Iterator[Publication]:
    """What publishing the export under ``settings.out`` to `target` will do (nothing done yet)."""
    bucket = Bucket(target, endpoint_url, THREADS)
    with ThreadPoolExecutor(THREADS, thread_name_prefix="feeds-publish") as pool:
        yield prepare(bucket, Path(settings.out), settings, gzip, pool)


def publish_site(target: Target, settings: Settings, endpoint_url: str | None = None,
                 gzip: bool = False) -> PublishReport:
    """Publish the export under ``settings.out`` to `target`: only what changed."""
    with publishing(target, settings, endpoint_url, gzip) as publication:
        return publication.perform()
