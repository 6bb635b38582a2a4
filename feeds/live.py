"""The live edge: site files made on request from catalog queries, kept while they stay current.

A `LiveSite` updates the catalog when the record folder changes (a
watchdog/inotify observer marks it changed or, where none can run, a poll
compares file identities at most once a second; the next request brings the
catalog up to date, reading only the files that changed).  Processes serving
one store share its catalog file: one updates at a time (SQLite's write
lock), and each then finds nothing left to read.

A request reads inside one read transaction, so it sees one version of the
store: it plans the feed it asks for from catalog queries (cached per
version), fingerprints the file from that plan and, when no body of that
fingerprint is kept, loads the full records it shows; the bytes are made
outside every lock.  Bodies are kept by fingerprint, so a change makes again
only the files it touches; they are bounded by `body_cache_bytes`.  When a
representation's bytes change, the catalog dates the change by the store's
own date (`Catalog.changed_at`, `Catalog.dated`): that date is its
Last-Modified on every worker and every host holding the same files.  A
catalog file that fails while serving is left for one in memory.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import re
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from .catalog import (
    Catalog,
    Changes,
    Commits,
    Counts,
    Ref,
    busy,
    open_catalog,
    scan,
    survey,
    unusable,
    unusable_warning,
    with_catalog,
)
from .catalog.db import BUSY_SECONDS
from .errors import Problem, StoreError
from .layout import archive_page
from .plan import FeedSpec, Plan, page_refs, plan_feed, plan_index, summaries, summary_of
from .records import Record
from .render import FORMATS, feed_digest
from .settings import Settings
from .site import (
    SITE_FILES,
    Artifact,
    feed_artifacts,
    fingerprint,
    loaded,
    narrowed_artifact,
    site_artifacts,
    stem_of,
)
from .websub import Notifier

log = logging.getLogger("feeds.live")
POLL_SECONDS = 1.0
POLL_SHARE = 20  # a poll waits at least this many times as long as listing the folder took
# File systems that other machines change: inotify tells only of this machine's changes to them.
NETWORK_FILESYSTEMS = frozenset({"nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "glusterfs", "9p", "afs",
                                 "lustre", "gfs2", "ocfs2", "beegfs", "gpfs", "davfs"})
NETWORK_FUSE = frozenset({"sshfs", "glusterfs", "rclone", "s3fs", "gcsfuse", "cephfs", "juicefs"})
ANNOUNCE_QUIET = 0.1  # seconds after a change before it is read for the WebSub hubs
REFRESH_WAIT = 1.0  # seconds a request waits for another process's update before serving what is there
T = TypeVar("T")


@dataclass(frozen=True)
class Body:
    """One rendered representation, plain and gzipped, with their validators."""

    data: bytes
    gzipped: bytes
    etag: str
    gzip_etag: str
    last_modified: datetime
    media_type: str
    dated: int = 0  # the refresh at which `last_modified` was last checked with the catalog
    closed: bool = False  # an archive page new stories no longer reach: caches may keep it long

    @property
    def size(self) -> int:
        """Bytes it holds in the body cache: plain and gzipped."""
        return len(self.data) + len(self.gzipped)


Filters = tuple[int | None, int | None, int | None]  # limit, min_quality, min_heat
Stamp = tuple[int, int, bytes]  # catalogs swapped in, refreshes, the catalog file's `Commits`


def _etag(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def prepare(settings: Settings) -> tuple[Counts, str | None]:
    """Bring the catalog of `settings` up to date, and close it; what the store holds, and a warning
    when its file cannot be used.  Run before server workers start: a bad folder is then one error,
    not a worker dying at every start, and the workers find the store read (with every core)
    instead of racing to."""
    (_, counts), warning = with_catalog(settings, lambda catalog: survey(catalog, settings))
    return counts, warning


def server_name(settings: Settings) -> str:
    """The live server these settings make, as the catalog dates its representations."""
    return "live:" + fingerprint(settings)


class LiveSite:
    """The catalog of a record folder, and the bodies made from it."""

    def __init__(self, settings: Settings, watch: bool = True) -> None:
        self.settings = settings
        self._server = server_name(settings)
        self._bodies: OrderedDict[tuple[object, ...], Body] = OrderedDict()
        self._digests: dict[tuple[object, ...], str] = {}  # (path, filters) -> digest of its kept body
        self._cached_bytes = 0  # of every body in `_bodies`, plain and gzipped
        self._refreshes = 0  # how many times the folder was read again: kept bodies' dates are checked
        self._refreshing = False  # a thread is reading a change of the folder
        self._swaps = 0  # catalogs served from so far (one in memory replaces a failed file)
        self._commits: Commits | None = None
        self._problems: set[Problem] | None = None  # logged already (None: none looked at yet)
        self._problems_at = -1  # the catalog version they are of
        self._dirty = threading.Event()
        self._watch = watch
        self._watcher_pid = 0
        self._notifier = Notifier(settings.hubs)
        self._announced_at = -1  # the catalog version whose changes this process last looked at for WebSub
        # Locks are taken in this order only: the writer connection's, then the reader's.
        self._write_lock = threading.RLock()  # updates and dating representations
        self._read_lock = threading.RLock()  # requests' reads, the files of this version, the bodies
        self._writer, warning = open_catalog(settings)
        if warning:
            log.warning("%s", warning)
        self._use(self._writer)
        try:
            self._guarded(lambda: self._update(BUSY_SECONDS))
        except sqlite3.OperationalError as exc:
            if not busy(exc):
                raise
            log.warning("another process has been reading the store into %s for over a minute; serving "
                        "what it wrote so far until it is done", self._writer.path)
            self._dirty.set()

    def counts(self) -> Counts:
        """What the store holds, as last read (the summary `feeds serve` starts with)."""
        with self._reading() as reader:
            return reader.counts(self._problems or ())

    def _use(self, writer: Catalog) -> None:
        """Serve from `writer`'s catalog (with both locks held, or before serving): a file gets a
        second connection for requests, which read while the first one writes; one in memory is
        shared, and readers then take the writer's lock too."""
        self._writer = writer
        self._reader = writer if writer.path is None else Catalog(writer.path)
        # The one replaced is not closed: a request may be asking it still (it closes when freed).
        self._commits = None if writer.path is None else Commits(writer.path)
        self._swaps += 1
        self._version = -1
        self._files: dict[str, dict[str, Artifact]] = {}  # by stem ("" for the site's own), this version

    @contextmanager
    def _reading(self) -> Iterator[Catalog]:
        """The reader connection, in a read transaction: one version of the store."""
        while True:
            shared = self._reader is self._writer
            with ExitStack() as locks:
                if shared:
                    locks.enter_context(self._write_lock)
                locks.enter_context(self._read_lock)
                if (self._reader is self._writer) != shared:
                    continue  # the catalog was swapped for one in memory meanwhile
                reader = self._reader
                with reader.reading():
                    yield reader
                return

    # -- keeping up with the folder ----------------------------------------------
    def _update(self, wait: float) -> None:
        with self._write_lock:
            changes = self._writer.update(Path(self.settings.records), self.settings, wait=wait)
            if self._notifier.hubs and changes.after != self._announced_at:
                self._announce(changes)
            # Another worker (or a build) may have read the change first: then this one finds
            # nothing to read, but the catalog has moved on, and its new problems are logged here too.
            if changes.after == self._problems_at:
                return
            self._problems_at = changes.after
            with self._reading() as reader:
                problems = reader.problems(changes.listing)
        known = self._problems or set()
        for problem in problems:
            if problem not in known:  # each problem is logged once, when it appears
                (log.error if problem.is_error else log.warning)("%s", problem)
        self._problems = set(problems)

    def _announce(self, changes: Changes) -> None:
        """Ping the WebSub hubs with the subscription documents whose bytes changed (in the background).

        A feed's bytes follow its fingerprint (`feed_digest`: its newest `limit` records, its
        link to its newest archive page, its title and logo), and the catalog keeps the one last
        announced of each feed: a change that reaches only a feed's archive changes no fingerprint
        and pings nothing.  The worker that made the update looks at the feeds it touched; one
        that finds the catalog moved on by another process (another server's settings, a worker
        that died before it looked, a change read before the workers started) looks at every feed.
        The catalog claims what it finds, so each change is announced once.
        """
        writer = self._writer

        def fingerprints(since: int | None) -> dict[str, str | None]:
            stems = (changes.feeds if since is not None and since == changes.before
                     else [summary.stem for summary in summaries(writer)])
            found: dict[str, str | None] = {}
            for stem in stems:
                summary = summary_of(writer, stem)
                spec = None if summary is None else plan_feed(writer, summary, self.settings)
                found[stem] = None if spec is None else feed_digest(spec, self.settings)
            return found

        try:
            stems = writer.announce(self._server, fingerprints, REFRESH_WAIT)
        except sqlite3.OperationalError as exc:
            if not busy(exc):
                raise
            self._dirty.set()  # another process holds the catalog: looked at again on the next refresh
            return
        self._announced_at = changes.after
        self._notifier.publish(self.settings.url(stem + f.extension)
                               for stem in stems for f in FORMATS.values())

    def refresh(self) -> None:
        """Read what changed into the catalog.

        When the folder cannot be listed (removed, renamed, no permission) the
        catalog goes on serving the store as it was and the reason is logged.
        """
        with self._write_lock:
            self._dirty.clear()
            self._refreshes += 1
            self._refreshing = True
            try:
                self._guarded(lambda: self._update(REFRESH_WAIT))
            except StoreError as exc:
                log.error("%s; still serving the store as it was", exc)
            except sqlite3.OperationalError as exc:
                if not busy(exc):
                    raise
                self._dirty.set()  # another process is updating: read the change on a later request
            finally:
                self._refreshing = False

    def _guarded(self, work: Callable[[], T]) -> T:
        """`work`, done again on a catalog in memory if the catalog file fails under it (damaged,
        full disk, read-only): the file only saves work."""
        failed = self._writer
        try:
            return work()
        except sqlite3.DatabaseError as exc:
            if failed.path is None or not unusable(exc):
                raise
            with self._write_lock, self._read_lock:  # no request reads meanwhile
                if self._writer is failed:  # the first thread to find it swaps; the others just retry
                    log.warning("fallback: %s", unusable_warning(failed.path, exc))
                    memory = Catalog(None)
                    memory.update(Path(self.settings.records), self.settings)  # filled before it serves
                    if self._reader is not failed:
                        self._reader.close()
                    failed.close()
                    self._problems_at = -1
                    self._use(memory)
            return work()

    def _current(self) -> None:
        """Bring the catalog up to date if the folder changed, starting the watcher in this process."""
        if self._watch and self._watcher_pid != os.getpid():
            self._start_watcher()
        if self._dirty.is_set() or self._refreshing:
            # Another thread may be reading the change already: wait for it rather than serve the
            # store as it was before.
            with self._write_lock:
                if self._dirty.is_set():
                    self.refresh()

    def _start_watcher(self) -> None:
        # Started lazily, in the serving process: threads do not survive a fork.
        with self._write_lock:
            if self._watcher_pid == os.getpid():
                return
            self._watcher_pid = os.getpid()
            root = Path(self.settings.records)
            shared = network_filesystem(root)
            if shared is not None:
                log.info("%s is on %s, whose changes made on other machines inotify never tells of: "
                         "polling it", root, shared)
            if shared is not None or not _inotify(root, self._dirty):
                threading.Thread(target=self._poll, name="feeds-poll", daemon=True).start()
            if self._notifier.hubs:  # hubs are told of a change when it happens, not at the next request
                threading.Thread(target=self._announcing, name="feeds-websub-refresh", daemon=True).start()

    def _announcing(self) -> None:
        """Read each change of the folder soon after it happens, so that the hubs are pinged then."""
        while True:
            self._dirty.wait()
            time.sleep(ANNOUNCE_QUIET)  # an editor's save, a copy of many files: one update
            try:
                self._current()
            except Exception:  # the next request reads the change, and meets what went wrong
                log.exception("reading a change of the record folder for WebSub failed")
                time.sleep(POLL_SECONDS)

    def _poll(self) -> None:
        seen = _identities(Path(self.settings.records))
        took = 0.0
        while True:
            # A folder whose listing takes long (100,000 files over NFS) is listed less often.
            time.sleep(max(POLL_SECONDS, POLL_SHARE * took))
            started = time.monotonic()
            now = _identities(Path(self.settings.records))
            took = time.monotonic() - started
            if now != seen:
                seen = now
                self._dirty.set()

    def stamp(self) -> Stamp | None:
        """The state of the store as far as a request's answer goes: while it stays the same, the
        same request gets the same answer.  None while a change of the folder waits to be read
        (or before this process watches the folder): the next request reads it first.

        Another process's update of the catalog file is told by `Commits`; in memory, only this
        process's refreshes change the catalog, and each is counted.
        """
        if self._dirty.is_set() or self._refreshing or (self._watch and self._watcher_pid != os.getpid()):
            return None
        commits = self._commits
        try:
            return self._swaps, self._refreshes, b"" if commits is None else commits()
        except sqlite3.DatabaseError as exc:
            if not unusable(exc):
                raise
            return None  # the catalog file failed: the request goes the way that handles (and logs) it

    # -- files ---------------------------------------------------------------------
    def _artifact(self, path: str, filters: Filters) -> Artifact | None:
        """The site file at `path`, narrowed by `filters` (in a read transaction)."""
        version = self._reader.version()
        if version != self._version:
            self._files, self._version = {}, version
        if path in SITE_FILES:  # planned only when asked for: the sitemap counts every feed's pages
            site = self._files.get("")
            if site is None:
                plan = plan_index(self._reader, self.settings)
                site = self._files[""] = {a.path: a for a in site_artifacts(plan, self.settings, set())}
            return site.get(path)  # the site's own files take no filters (feed.xsl may be off)
        stem = stem_of(path)
        files = self._files.get(stem)
        if files is None:
            summary = summary_of(self._reader, stem)
            if summary is None:
                return None
            spec = plan_feed(self._reader, summary, self.settings)
            files = self._files[stem] = {a.path: a for a in feed_artifacts(spec, self.settings)}
        artifact = files.get(path)
        if artifact is None or filters == (None, None, None):
            return artifact
        narrowed = artifact.spec
        if narrowed is None or narrowed.archived is not None:
            return artifact  # an archive page holds what it holds: filters narrow a feed's newest
        limit, min_quality, min_heat = filters
        refs = self._reader.newest(stem, limit or self.settings.limit, min_quality, min_heat)
        narrowed = replace(narrowed, records=tuple(refs), archive=None)
        return narrowed_artifact(artifact, narrowed, self.settings)

    def find(self, path: str) -> bool:
        """True when the site has a file at `path`."""
        self._current()
        return self._guarded(lambda: self._find(path))

    def _find(self, path: str) -> bool:
        with self._reading():
            return self._artifact(path, (None, None, None)) is not None

    def numbered(self, path: str, number: int) -> str | None:
        """The site path of page `number` (1: the newest stories) of the feed whose first page is at
        `path` (``topics/ai/index.html``, ``index.html``); None when there is no such page."""
        self._current()
        return self._guarded(lambda: self._numbered(path, number))

    def _numbered(self, path: str, number: int) -> str | None:
        with self._reading():
            artifact = self._artifact(path, (None, None, None))
        source = None if artifact is None else artifact.source
        spec = source.feeds[0] if isinstance(source, Plan) and path == "index.html" else (
            source if isinstance(source, FeedSpec) and source.archived is None else None)
        if spec is None or number < 1:
            return None
        pages = spec.archive.pages if spec.archive is not None else ()  # oldest first
        if number == 1:
            return spec.page
        if number - 1 > len(pages):
            return None
        return archive_page(spec.kind, spec.key, pages[-(number - 1)].key)

    def _full(self, refs: tuple[Ref, ...]) -> tuple[Record, ...]:
        return tuple(self._reader.records(refs))

    def _archived(self, spec: FeedSpec) -> tuple[Ref, ...]:
        return page_refs(self._reader, spec, self.settings.archive_size)

    # -- bodies --------------------------------------------------------------------
    def render(self, path: str, limit: int | None = None, min_quality: int | None = None,
               min_heat: int | None = None) -> Body | None:
        """The body of a site path, narrowed by any filters; None when there is no such file."""
        if limit == self.settings.limit:
            limit = None  # the feed as it is, archive link and all
        self._current()
        return self._guarded(lambda: self._render(path, (limit, min_quality, min_heat)))

    def _render(self, path: str, filters: Filters) -> Body | None:
        variant = (path, filters)
        source: Any = None
        with self._reading():
            artifact = self._artifact(path, filters)
            if artifact is None:
                return None
            dated = self._reader.dated()  # of the version this request reads
            cached = self._bodies.get((*variant, artifact.digest))
            if cached is not None:
                self._bodies.move_to_end((*variant, artifact.digest))
            else:
                source = loaded(artifact.source, self._full, self._reader.headlines, self._archived)
        if cached is not None:
            return self._dated(cached, variant, artifact.digest, dated)
        data = artifact.make(source, self.settings)  # outside every lock: requests go on meanwhile
        packed = gzip.compress(data, compresslevel=6, mtime=0)
        etag = _etag(data)
        body = Body(data, packed, etag, _etag(packed), self._changed(path, filters, etag, dated),
                    artifact.media_type, self._refreshes, artifact.closed)
        self._keep(variant, artifact.digest, body)
        return body

    def _dated(self, cached: Body, variant: tuple[str, Filters], digest: str, dated: int) -> Body:
        """`cached`, its Last-Modified checked again if the store changed since it was dated: the
        store's date moved, or another worker may have served other bytes at this path meanwhile
        (and these again after them)."""
        refreshes = self._refreshes
        if cached.dated == refreshes:
            return cached
        body = replace(cached, last_modified=self._changed(*variant, cached.etag, dated), dated=refreshes)
        with self._read_lock:
            if (*variant, digest) in self._bodies:
                self._bodies[(*variant, digest)] = body
        return body

    def _changed(self, path: str, filters: Filters, etag: str, dated: int) -> datetime:
        """When the representation at `path` narrowed by `filters` last changed, its bytes now being
        `etag`'s, in a store `dated` (`Catalog.changed_at`): the same on every worker and host."""
        with self._write_lock:
            since = self._writer.changed_at(self._server, _variant(path, filters), etag, dated)
        return datetime.fromtimestamp(since, UTC)

    def _keep(self, variant: tuple[object, ...], digest: str, body: Body) -> None:
        """Keep `body` for the next requests, within `body_cache_bytes` (least recently used go)."""
        size = body.size
        with self._read_lock:
            # A new fingerprint for a path means its old body can no longer be asked for: drop it now
            # rather than let a store that changes all day fill the cache with dead bodies.
            old = self._digests.pop(variant, None)
            if old is not None and (dropped := self._bodies.pop((*variant, old), None)) is not None:
                self._cached_bytes -= dropped.size
            if size > self.settings.body_cache_bytes:
                return  # larger than the whole cache: made again when asked for
            self._digests[variant] = digest
            self._bodies[(*variant, digest)] = body
            self._cached_bytes += size
            while self._cached_bytes > self.settings.body_cache_bytes:
                (path, kept, dropped_digest), dropped = self._bodies.popitem(last=False)
                self._cached_bytes -= dropped.size
                if self._digests.get((path, kept)) == dropped_digest:
                    del self._digests[(path, kept)]


def _variant(path: str, filters: Filters) -> str:
    """A representation's name: its path and the filters that narrowed it (``feed.atom?limit=5``)."""
    query = "&".join(f"{name}={value}" for name, value in zip(("limit", "min_quality", "min_heat"), filters,
                                                               strict=True) if value is not None)
    return f"{path}?{query}" if query else path


def _identities(root: Path) -> tuple[int, list[Any]]:
    """The folder's modification time (a removal, `rsync -a` setting it: the store's date moves) and
    its record files with their identities (a list of tuples: compared in C)."""
    try:
        return os.stat(root).st_mtime_ns, scan(root).entries
    except (StoreError, OSError):  # a vanished folder is a change like any other
        return 0, []


def network_filesystem(root: Path, mountinfo: str | None = None) -> str | None:
    """The type of the network file system holding `root` (``nfs4``), whose changes made on other
    machines raise no inotify event here; None for a local one.  From the kernel's mount table
    (`mountinfo`: the text of /proc/self/mountinfo), the mount point nearest the folder's real path."""
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None  # not Linux: nothing to tell by
    real = os.path.realpath(root)
    nearest, kind = "", ""
    for line in mountinfo.splitlines():
        fields, dash, after = line.partition(" - ")
        mount = fields.split()
        if not dash or len(mount) < 5 or not after:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), mount[4])  # \040 is a space
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(nearest):
            nearest, kind = point, after.split()[0]
    networked = kind in NETWORK_FILESYSTEMS or (kind.startswith("fuse.") and kind[5:] in NETWORK_FUSE)
    return kind if networked else None


def _inotify(root: Path, dirty: threading.Event) -> bool:
    """Watch `root` with watchdog; False when no observer can run here."""
    try:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer
    except ImportError:
        return False

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event: object) -> None:
            dirty.set()

    try:
        observer = Observer()
        observer.daemon = True
        observer.schedule(Handler(), str(root), recursive=False)
        observer.start()
    except Exception:  # inotify limits, unsupported file systems: poll instead
        return False
    return True

