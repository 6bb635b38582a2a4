"""Live serving state: immutable snapshots of the store, refreshed when its files change.

A `Snapshot` is one consistent reading of the record folder (store and
plan).  `LiveSite` holds the current one and swaps in a new one, built with
the incremental machinery of the build (only changed files are re-read),
when the folder changes: a watchdog (inotify) observer marks it dirty, or,
where none can run, a poll compares file identities at most once a second.
Rendered bodies are cached by feed fingerprint, so a change invalidates only
the feeds it touches, and a request for a cached body neither parses nor
renders.  A request renders against one snapshot from start to end: a record
whose file changed under it is never mixed in (`Stale` sends the request to
the next snapshot).
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path

from .cache import RecordCache, open_cache
from .plan import Plan, plan_feeds
from .records import Headline, Record
from .settings import Settings
from .site import Artifact, narrowed_artifact, site_artifacts
from .store import Entry, Store, load_store, scan

log = logging.getLogger("feeds.live")
POLL_SECONDS = 1.0
BODY_CACHE_ENTRIES = 2048
STALE_ATTEMPTS = 4  # renders of one request before it settles for the path's last body


class Stale(Exception):
    """A record changed on disk after the snapshot serving a request was taken."""


@dataclass(frozen=True)
class Body:
    """One rendered representation, plain and gzipped, with their validators."""

    data: bytes
    gzipped: bytes
    etag: str
    gzip_etag: str
    last_modified: datetime
    media_type: str


@dataclass(frozen=True)
class Snapshot:
    """One consistent reading of the record folder."""

    store: Store
    plan: Plan
    settings: Settings

    @cached_property
    def files(self) -> dict[str, Artifact]:
        """Every file of the site by its path, as the static export would write it."""
        return {a.path: a for a in site_artifacts(self.plan, self.settings)}


def _etag(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=12).hexdigest()


class LiveSite:
    """The current snapshot of a record folder and the bodies rendered from it."""

    def __init__(self, settings: Settings, watch: bool = True) -> None:
        self.settings = settings
        self._lock = threading.RLock()  # the cache database and snapshot swaps
        self._bodies: OrderedDict[tuple[object, ...], Body] = OrderedDict()
        self._digests: dict[tuple[object, ...], str] = {}  # (path, filters) -> digest of its cached body
        self._cache: RecordCache | None = open_cache(settings)
        self._dirty = threading.Event()
        self._watch = watch
        self._watcher_pid = 0
        self.snapshot = self._take()

    # -- snapshots -------------------------------------------------------------
    def _take(self, before: Snapshot | None = None) -> Snapshot:
        with self._lock:
            store = load_store(self.settings, None, self._cache)
        known = set(before.store.problems) if before else set()
        for problem in store.problems:
            if problem not in known:  # each problem is logged once, when it appears
                (log.error if problem.is_error else log.warning)("%s", problem)
        return Snapshot(store, plan_feeds(store, self.settings), self.settings)

    def refresh(self) -> Snapshot:
        """Re-read what changed and swap in the new snapshot."""
        with self._lock:
            self._dirty.clear()
            self.snapshot = self._take(self.snapshot)
            return self.snapshot

    def current(self) -> Snapshot:
        """The snapshot to serve from, starting the watcher in this process if needed."""
        if self._watch and self._watcher_pid != os.getpid():
            self._start_watcher()
        if self._dirty.is_set():
            return self.refresh()
        return self.snapshot

    def _start_watcher(self) -> None:
        # Started lazily, in the serving process: threads do not survive a fork.
        with self._lock:
            if self._watcher_pid == os.getpid():
                return
            self._watcher_pid = os.getpid()
            if not _inotify(Path(self.settings.records), self._dirty):
                threading.Thread(target=self._poll, name="feeds-poll", daemon=True).start()

    def _poll(self) -> None:
        seen = _identities(Path(self.settings.records))
        while True:
            time.sleep(POLL_SECONDS)
            now = _identities(Path(self.settings.records))
            if now != seen:
                seen = now
                self._dirty.set()

    # -- bodies ----------------------------------------------------------------
    def full(self, snapshot: Snapshot, headlines: tuple[Headline, ...]) -> tuple[Record, ...]:
        """Full records of `headlines` as `snapshot` saw them; `Stale` if a file moved on."""
        with self._lock:
            try:
                records = snapshot.store.full(headlines)
            except KeyError:
                raise Stale from None
        if any(r.digest != h.digest for r, h in zip(records, headlines, strict=True)):
            raise Stale
        return records

    def body(self, snapshot: Snapshot, artifact: Artifact, filters: tuple[object, ...] = ()) -> Body:
        """The bytes of `artifact` (narrowed by `filters`), made once per fingerprint, plain and gzipped."""
        variant = (artifact.path, filters)
        key = (*variant, artifact.digest)
        with self._lock:
            cached = self._bodies.get(key)
            if cached is not None:
                self._bodies.move_to_end(key)
                return cached
        spec = artifact.spec
        if spec is not None:
            spec = spec.with_records(self.full(snapshot, spec.records))
        data = artifact.make(spec, self.settings)
        packed = gzip.compress(data, compresslevel=6, mtime=0)
        newest = (artifact.spec or snapshot.plan.feeds[0]).updated
        body = Body(data, packed, _etag(data), _etag(packed), newest, artifact.media_type)
        with self._lock:
            # A new fingerprint for a path means its old body can no longer be asked for: drop it now
            # rather than let a store that changes all day fill the cache with dead bodies.
            old = self._digests.get(variant)
            if old is not None and old != artifact.digest:
                self._bodies.pop((*variant, old), None)
            self._digests[variant] = artifact.digest
            self._bodies[key] = body
            while len(self._bodies) > BODY_CACHE_ENTRIES:
                (path, kept, digest), _ = self._bodies.popitem(last=False)
                if self._digests.get((path, kept)) == digest:
                    del self._digests[(path, kept)]
        return body

    def find(self, path: str) -> Artifact | None:
        """The site file at `path` in the current snapshot, if there is one."""
        return self.current().files.get(path)

    def render(self, path: str, limit: int | None = None, min_quality: int | None = None,
               min_heat: int | None = None) -> Body | None:
        """The body of a site path, narrowed by any filters; None when there is no such file.

        When the folder changes under every attempt, the path's last body, which was consistent
        when it was made; `Stale` if there is none.
        """
        filters = (limit, min_quality, min_heat)
        for _ in range(STALE_ATTEMPTS):
            snapshot = self.current()
            artifact = snapshot.files.get(path)
            if artifact is None:
                return None
            if filters != (None, None, None):
                artifact = narrowed_artifact(artifact, self.settings, limit or self.settings.limit,
                                             min_quality, min_heat)
            try:
                return self.body(snapshot, artifact, filters)
            except Stale:
                self.refresh()
        with self._lock:
            digest = self._digests.get((path, filters))
            last = self._bodies.get((path, filters, digest)) if digest is not None else None
        if last is None:
            raise Stale
        log.info("%s: the record folder changed under %d renders; served its last body", path, STALE_ATTEMPTS)
        return last


def _identities(root: Path) -> list[Entry]:
    """The folder's record files with their identities (a list of tuples: compared in C)."""
    try:
        entries, _ = scan(root)
    except Exception:  # a vanished folder is a change like any other
        return []
    return entries


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
