"""Live serving state: snapshots of the server's own memory of the store, refreshed when files change.

The live server keeps a memory of the record folder in the record cache
(`feeds.memory`), as a build does for its output folder, under a key of its
own output settings, with every member of the all-items feed (filters narrow
feeds by quality and heat).  Starting on a store it has seen before reads no
record: the folder's listing is compared with the memory's and only the
files that changed are read; the same step brings the memory up to date when
the folder changes while it serves (a watchdog/inotify observer marks it
dirty or, where none can run, a poll compares file identities at most once a
second).  Processes serving one store (gunicorn's workers) take turns at that
step under a file lock, so each change is read once.

A `Snapshot` is one generation of that memory: each feed's summary (all the
index and the OPML list need) and site paths.  A feed's members are loaded
the first time one of its files is asked for, and only if the cache still
holds them at that generation; its bodies are made from the full records of
its newest members, loaded from the cache and checked against the digests the
memory holds.  A request renders against one snapshot from start to end: a
record or feed that moved on under it is never mixed in (`Stale` sends the
request to the next snapshot).  Rendered bodies are cached by fingerprint, so
a change invalidates only the feeds it touches, and a request for a cached
body neither parses nor renders; the cache is bounded by `body_cache_bytes`.
When a representation's bytes change, the record cache dates the change
(`RecordCache.changed_at`): that date is its Last-Modified on every worker.
A cache file that fails while serving is left for one of this process's own.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import logging
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple, TypeVar, cast

from .build import advance, by_feed, config_of
from .cache import RecordCache, open_cache, unusable, unusable_warning
from .errors import Problem, StoreError
from .memory import KINDS_BY_NAME, Counts, Member, Memory, feed_spec
from .plan import ALL, EMBED_LIMIT, FeedSpec, Plan, plan_feeds
from .records import Headline, Record
from .settings import Settings
from .site import Artifact, feed_artifacts, narrowed_artifact, site_artifacts
from .store import Entry, load_store, scan

log = logging.getLogger("feeds.live")
POLL_SECONDS = 1.0
T = TypeVar("T")
STALE_ATTEMPTS = 4  # renders of one request before it settles for the path's last body


class Stale(Exception):
    """The store moved on after the snapshot serving a request was taken."""


@dataclass(frozen=True)
class Body:
    """One rendered representation, plain and gzipped, with their validators."""

    data: bytes
    gzipped: bytes
    etag: str
    gzip_etag: str
    last_modified: datetime
    media_type: str
    dated: int = 0  # the refresh at which `last_modified` was last checked with the record cache

    @property
    def size(self) -> int:
        """Bytes it holds in the body cache: plain and gzipped."""
        return len(self.data) + len(self.gzipped)


class Ref(NamedTuple):
    """A record a feed shows, as its memory knows it: enough to fingerprint it and load it."""

    id: str
    digest: str
    name: str


def _ref(member: Member) -> Ref:
    return Ref(member[1], member[7], member[2])


@dataclass(frozen=True)
class Feed:
    """One feed of a snapshot, loaded: its spec (holding `Ref`s), every member and its files."""

    spec: FeedSpec
    members: list[Member]
    files: dict[str, Artifact]


@dataclass
class Snapshot:
    """One generation of the live memory: every feed's summary and site paths."""

    generation: int
    counts: Counts
    kinds: dict[str, tuple[str, str]]  # stem -> (kind name, key)
    plan: Plan  # every feed from its summary: what the index and the OPML list need
    files: dict[str, str]  # every site path -> its feed's stem ("" for the site's own files)
    site: dict[str, Artifact]  # the site's own files
    problems: tuple[Problem, ...]
    feeds: dict[str, Feed] = field(default_factory=dict)  # loaded on first use

    @classmethod
    def of(cls, memory: Memory, settings: Settings, problems: tuple[Problem, ...]) -> Snapshot:
        """The snapshot of `memory` as it now stands."""
        plan = memory.plan(settings)
        site = {a.path: a for a in site_artifacts(plan, settings, set())}
        files = {path: stem for stem, paths in memory.paths.items() for path in paths}
        kinds = {stem: (summary[0], summary[1]) for stem, summary in memory.feeds.items()}
        return cls(memory.generation, memory.counts, kinds, plan, files, site, problems)


def _etag(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=12).hexdigest()


class LiveSite:
    """The current snapshot of a record folder and the bodies rendered from it."""

    def __init__(self, settings: Settings, watch: bool = True) -> None:
        self.settings = settings
        self._lock = threading.RLock()  # the cache database, snapshot swaps and loaded feeds
        self._bodies: OrderedDict[tuple[object, ...], Body] = OrderedDict()
        self._digests: dict[tuple[object, ...], str] = {}  # (path, filters) -> digest of its cached body
        self._config = config_of(settings)
        self._key = "live:" + self._config
        self._cached_bytes = 0  # of every body in `_bodies`, plain and gzipped
        self._refreshes = 0  # how many times the folder was read again: kept bodies' dates are checked
        self._refreshing = False  # a thread is reading a change of the folder
        cache, warning = open_cache(settings)
        if warning:
            log.warning("%s", warning)
        # With the cache off (or unusable) the memory lives in a database of this process's own.
        self._cache: RecordCache = cache or RecordCache.private()
        self._private = cache is None
        self._turns = None if cache is None else cache.path.with_name(cache.path.name + ".live-lock")
        self._forget = False  # the kept memory is unusable: the next snapshot starts from the store
        self._dirty = threading.Event()
        self._watch = watch
        self._watcher_pid = 0
        self.snapshot = self._guarded(self._take)

    # -- snapshots -------------------------------------------------------------
    @contextmanager
    def _turn(self) -> Iterator[None]:
        """This process's turn at the live memory (processes serving one store take turns)."""
        with self._lock:
            if self._turns is None:
                yield
                return
            with open(self._turns, "a+b") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                yield

    def _take(self, before: Snapshot | None = None) -> Snapshot:
        with self._turn():
            # The folder is listed in this process's turn: a listing taken before another process's
            # turn could be older than the memory that turn kept, and would take it back in time.
            scanned = scan(Path(self.settings.records))
            advanced = None
            if not self._forget:
                advanced = advance(self._cache, self._key, self.settings, scanned, self._config,
                                   keep_all=True)
            if advanced is None:
                memory = self._from_store(scanned)
            else:
                memory = advanced.memory
                if advanced.plan is not None:
                    members, gone = advanced.members or {}, advanced.gone or []
                    files = site_artifacts(advanced.plan, self.settings, set(members)) if members else []
                    memory.forget_paths(gone, by_feed(files))
                    with self._cache.transaction():
                        memory.save(self._cache, self._key, members, gone)
            self._forget = False
            problems = memory.report_problems(scanned[1])
            snapshot = Snapshot.of(memory, self.settings, problems)
            if before is not None:
                self._keep_loaded(before, snapshot)
        known = set(before.problems) if before else set()
        for problem in problems:
            if problem not in known:  # each problem is logged once, when it appears
                (log.error if problem.is_error else log.warning)("%s", problem)
        return snapshot

    def _keep_loaded(self, before: Snapshot, snapshot: Snapshot) -> None:
        """The feeds `before` had loaded, in `snapshot` (in this process's turn).

        A feed whose members were kept at `before`'s generation or earlier is the
        same feed: it is taken as it is.  The others are loaded again now, while no
        other process can move the memory on: the feeds readers ask for are never
        found to be of a later generation than the snapshot serving them.
        """
        if not before.feeds:
            return
        generations = self._cache.generations(self._key)
        for stem, loaded in before.feeds.items():
            generation = generations.get(stem)
            if generation is None or stem not in snapshot.kinds:
                continue
            if generation <= before.generation:
                snapshot.feeds[stem] = loaded
            else:
                with suppress(Stale):  # else loaded on the next request, from the store if need be
                    self.feed(snapshot, stem)

    def _from_store(self, scanned: tuple[list[Entry], list[Problem]]) -> Memory:
        """The memory of the whole store, read afresh (only files the cache lacks are parsed)."""
        store = load_store(self.settings, None, self._cache, scanned)
        plan = plan_feeds(store, self.settings)
        paths = by_feed(site_artifacts(plan, self.settings))
        memory, members = Memory.of_build(self._config, Counts.of(store, plan), paths, scanned[0], store,
                                          plan, self.settings, keep_all=True)
        with self._cache.transaction():
            memory.save(self._cache, self._key, members, everything=True)
        return memory

    def refresh(self) -> Snapshot:
        """Read what changed and swap in the new snapshot.

        When the folder cannot be listed (removed, renamed, no permission) the
        last snapshot goes on being served and the reason is logged.
        """
        with self._lock:
            self._dirty.clear()
            self._refreshes += 1
            self._refreshing = True
            try:
                self.snapshot = self._guarded(lambda: self._take(self.snapshot))
            except StoreError as exc:
                log.error("%s; still serving the store as it was", exc)
            finally:
                self._refreshing = False
            return self.snapshot

    def _guarded(self, work: Callable[[], T]) -> T:
        """`work`, done again on a cache of this process's own if the cache file fails under it
        (damaged, full disk, read-only): the cache only saves work."""
        failed, private = self._cache, self._private
        try:
            return work()
        except sqlite3.DatabaseError as exc:
            if private or not unusable(exc):
                raise
            with self._lock:
                if self._cache is failed:  # the first thread to find it swaps; the others just retry
                    log.warning("%s", unusable_warning(failed.path, exc))
                    failed.close()
                    self._cache, self._private, self._turns = RecordCache.private(), True, None
                    self._forget = True
                    self.snapshot = self._take()
            return work()

    def current(self) -> Snapshot:
        """The snapshot to serve from, starting the watcher in this process if needed."""
        if self._watch and self._watcher_pid != os.getpid():
            self._start_watcher()
        if self._dirty.is_set() or self._refreshing:
            # Another thread may be reading the change already: wait for its snapshot rather than
            # serve the one before it.
            with self._lock:
                return self.refresh() if self._dirty.is_set() else self.snapshot
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

    # -- feeds -----------------------------------------------------------------
    def feed(self, snapshot: Snapshot, stem: str) -> Feed:
        """The feed at `stem` as `snapshot` knows it; `Stale` if the cache holds a later generation."""
        with self._lock:
            loaded = snapshot.feeds.get(stem)
            if loaded is not None:
                return loaded
            kept = self._cache.feed_members(self._key, stem)
            if kept is None or not isinstance(kept[0], list):
                self._forget = True  # kept unreadably: start again from the store
                raise Stale
            members, generation = kept
            if generation > snapshot.generation:
                raise Stale
            kind_name, key = snapshot.kinds[stem]
            kind = KINDS_BY_NAME[kind_name]
            total = snapshot.counts.published if kind is ALL else len(members)
            newest = [_ref(m) for m in members[:max(self.settings.limit, EMBED_LIMIT)]]
            spec = feed_spec(kind, key, members, cast(Sequence[Headline], newest), self.settings, total)
            loaded = Feed(spec, members, {a.path: a for a in feed_artifacts(spec, self.settings)})
            snapshot.feeds[stem] = loaded
            return loaded

    def full(self, snapshot: Snapshot, refs: tuple[Headline, ...]) -> tuple[Record, ...]:
        """The full records of `refs`, as `snapshot` knows them; `Stale` if a file moved on."""
        names = [cast(Ref, ref).name for ref in refs]
        with self._lock:
            loaded = self._cache.records(names)
        records = tuple(loaded.get(name) for name in names)
        if any(r is None or r.digest != ref.digest for r, ref in zip(records, refs, strict=True)):
            raise Stale
        return cast(tuple[Record, ...], records)

    def artifact(self, snapshot: Snapshot, path: str, limit: int | None = None,
                 min_quality: int | None = None, min_heat: int | None = None) -> Artifact | None:
        """The site file at `path` in `snapshot`, narrowed by any filters; None when there is none."""
        stem = snapshot.files.get(path)
        if stem is None:
            return None
        if stem == "":
            return snapshot.site.get(path)  # the site's own files take no filters
        loaded = self.feed(snapshot, stem)
        artifact = loaded.files.get(path)
        if artifact is None or artifact.spec is None or (limit, min_quality, min_heat) == (None, None, None):
            return artifact
        chosen = [m for m in loaded.members
                  if (min_quality is None or (m[5] is not None and m[5] >= min_quality))
                  and (min_heat is None or (m[6] is not None and m[6] >= min_heat))]
        refs = tuple(_ref(m) for m in chosen[:limit or self.settings.limit])
        return narrowed_artifact(artifact, replace(artifact.spec, records=cast(tuple[Headline, ...], refs)),
                                 self.settings)

    def find(self, path: str) -> bool:
        """True when the current snapshot has a file at `path`."""
        return path in self.current().files

    # -- bodies ----------------------------------------------------------------
    def body(self, snapshot: Snapshot, artifact: Artifact, filters: tuple[object, ...] = ()) -> Body:
        """The bytes of `artifact` (narrowed by `filters`), made once per fingerprint, plain and gzipped."""
        variant = (artifact.path, filters)
        key = (*variant, artifact.digest)
        with self._lock:
            cached = self._bodies.get(key)
            if cached is not None:
                self._bodies.move_to_end(key)
                if cached.dated == self._refreshes:
                    return cached
                # The store changed since this body was dated: another worker may have served other
                # bytes at this path meanwhile (and these again after them), and dated that change.
                body = replace(cached, last_modified=self._changed(artifact.path, filters, cached.etag),
                               dated=self._refreshes)
                self._bodies[key] = body
                return body
        spec = artifact.spec
        if spec is not None:
            spec = spec.with_records(self.full(snapshot, spec.records))
        data = artifact.make(spec, self.settings)
        packed = gzip.compress(data, compresslevel=6, mtime=0)
        etag = _etag(data)
        with self._lock:
            body = Body(data, packed, etag, _etag(packed), self._changed(artifact.path, filters, etag),
                        artifact.media_type, self._refreshes)
        self._keep(variant, artifact.digest, body)
        return body

    def _changed(self, path: str, filters: tuple[object, ...], etag: str) -> datetime:
        """When the representation at `path` narrowed by `filters` last changed, its bytes now being
        `etag`'s (called in the lock).

        The record cache dates each change when it is first served, so every worker and every
        restart agree.  That date is later than any entry's but a future-dated one, and a
        Last-Modified in the future would hide every later change from a reader who polls with it.
        """
        since = self._cache.changed_at(self._key, _variant(path, filters), etag, int(time.time()))
        return datetime.fromtimestamp(since, UTC)

    def _keep(self, variant: tuple[object, ...], digest: str, body: Body) -> None:
        """Keep `body` for the next requests, within `body_cache_bytes` (least recently used go)."""
        size = body.size
        with self._lock:
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

    def render(self, path: str, limit: int | None = None, min_quality: int | None = None,
               min_heat: int | None = None) -> Body | None:
        """The body of a site path, narrowed by any filters; None when there is no such file.

        When the store moves on under every attempt, the path's last body, which was consistent
        when it was made; `Stale` if there is none.
        """
        return self._guarded(lambda: self._render(path, limit, min_quality, min_heat))

    def _render(self, path: str, limit: int | None, min_quality: int | None,
                min_heat: int | None) -> Body | None:
        filters = (limit, min_quality, min_heat)
        for _ in range(STALE_ATTEMPTS):
            snapshot = self.current()
            try:
                artifact = self.artifact(snapshot, path, limit, min_quality, min_heat)
                if artifact is None:
                    return None
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


def _variant(path: str, filters: tuple[object, ...]) -> str:
    """A representation's name: its path and the filters that narrowed it (``feed.atom?limit=5``)."""
    query = "&".join(f"{name}={value}" for name, value in zip(("limit", "min_quality", "min_heat"), filters,
                                                               strict=True) if value is not None)
    return f"{path}?{query}" if query else path


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
