"""The watching build (``feeds build --watch``): the site built, then built again each time a
record file changes, by one `Builder` kept in memory with its catalog open.

The folder is watched by the operating system (inotify, FSEvents, kqueue: the
`watchdog` library, as the live server does), which names the files that changed,
so a rebuild looks at those files only.  Changes that come together (a copy of many
files, an editor's save through a temporary file) make one rebuild.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable
from functools import partial

from watchdog.events import (
    EVENT_TYPE_CLOSED_NO_WRITE,
    EVENT_TYPE_EVENTS_LOST,
    EVENT_TYPE_MODIFIED,
    EVENT_TYPE_OPENED,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from .build import Builder, BuildReport, check_folders
from .catalog import Catalog, with_catalog
from .errors import FeedsError, StoreError
from .settings import Settings

QUIET = 0.02  # seconds: a rebuild starts once the folder has been quiet this long ...
MOST = 1.0  # ... or this long after the first change, however busy it stays
RESCAN_FROM = 5_000  # so many changed files at once: the whole folder is listed again


class Changed(FileSystemEventHandler):
    """The names of the files changed in one folder since they were last taken (`take`)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._names: set[str] | None = set()  # None: the folder itself changed, or too much of it
        self._first = 0.0  # when the first change not yet taken came
        self._last = 0.0  # and the latest
        self._lock = threading.Condition()

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in (EVENT_TYPE_OPENED, EVENT_TYPE_CLOSED_NO_WRITE):
            return  # read, not changed (a build reads every record it loads)
        with self._lock:
            if event.event_type == EVENT_TYPE_EVENTS_LOST:  # the system's queue overflowed
                self._names = None
            for path in (event.src_path, event.dest_path):
                if path:
                    self._add(os.fsdecode(path), event.event_type)
            now = time.monotonic()
            self._first = self._first or now
            self._last = now
            self._lock.notify()

    def _add(self, path: str, kind: str) -> None:
        folder, name = os.path.split(path)
        if self._names is None or (path == self.root and kind == EVENT_TYPE_MODIFIED):
            return  # (what changed in the folder is told file by file too)
        if folder != self.root:  # the folder itself: moved, removed, its permissions changed
            self._names = None
        else:
            self._names.add(name)
            if len(self._names) >= RESCAN_FROM:  # listing the folder costs less than so many looks
                self._names = None

    def take(self, stop: threading.Event, poll: Callable[[], set[str] | None] = set) -> set[str] | None:
        """Wait for changes, then until the folder is quiet (`QUIET`, at most `MOST` after the first
        change); the names of the files changed (None: list the whole folder again).  While
        nothing happens, `poll` is asked twice a second for changes no event tells of (the names,
        or None for the whole folder).  Returns an empty set when `stop` is set."""
        with self._lock:
            while not self._first or not self._settled():
                if stop.is_set():
                    return set()
                if not self._first:
                    polled = poll()
                    if polled is None or polled:
                        self._names = None if polled is None or self._names is None else self._names | polled
                        break
                self._lock.wait(QUIET if self._first else 0.5)
            names, self._names, self._first = self._names, set(), 0.0
            return names

    def follow(self, root: str) -> None:
        """Take the names of the changes in the folder `root` from now on."""
        with self._lock:
            self.root, self._names = root, None

    def _settled(self) -> bool:
        now = time.monotonic()
        return now - self._last >= QUIET or now - self._first >= MOST


def watch(settings: Settings, built: Callable[[BuildReport], None], failed: Callable[[FeedsError], None],
          warned: Callable[[str], None], stop: threading.Event | None = None) -> None:
    """Build the site, then again after each change to the record folder, until `stop` is set (or
    Ctrl-C).  Each build's report goes to `built`; a build that fails (an output folder that
    cannot be written) goes to `failed`, and the next change tries again.  `warned` is told
    when the catalog file cannot be used (then the catalog is in memory)."""
    check_folders(settings)
    seen = _folder(settings.records)
    if seen is None:
        raise StoreError(f"{settings.records}: no such record folder; pass --records DIR")
    stop = stop or threading.Event()
    changed = Changed(seen[0])
    observer = Observer()
    observer.daemon = True
    try:
        observer.schedule(changed, seen[0], recursive=False)
        observer.start()  # before the first build lists the folder: no change in between is missed
    except OSError as exc:
        raise StoreError(f"{seen[0]}: cannot watch the record folder ({exc.strerror or exc}); "
                         "build without --watch") from None

    def work(catalog: Catalog) -> None:
        nonlocal seen
        builder = Builder(settings, catalog)
        names: set[str] | None = None  # the first build lists the folder
        while not stop.is_set():
            try:
                built(builder.build(names))
                builder.warm()
            except FeedsError as exc:
                failed(exc)
            names = changed.take(stop, partial(_unseen, builder, settings.records, seen))
            now = _folder(settings.records)
            if now != seen:  # moved away, removed, made anew, or a link to it turned elsewhere
                seen, names = now, None
                observer.unschedule_all()  # (a watch follows the folder it was set on, not its name)
                if now is not None:
                    changed.follow(now[0])
                    try:
                        observer.schedule(changed, now[0], recursive=False)
                    except OSError as exc:
                        failed(StoreError(f"{now[0]}: cannot watch the record folder "
                                          f"({exc.strerror or exc})"))

    try:
        with_catalog(settings, work, warned)
    finally:
        observer.stop()
        observer.join()


def _unseen(builder: Builder, records: str, seen: tuple[str, int, int] | None) -> set[str] | None:
    """What changed that no event tells of: the folder itself replaced (None: list it again), or
    the files the record files that are links lead to (their names)."""
    if _folder(records) != seen:
        return None
    try:
        return builder.links_changed()
    except StoreError:  # the folder went since: listed again, the build says what became of it
        return None


def _folder(records: str) -> tuple[str, int, int] | None:
    """What the record folder is now: its real path, device and inode (None while there is none)."""
    real = os.path.realpath(records)
    try:
        info = os.stat(real)
    except OSError:
        return None
    return (real, info.st_dev, info.st_ino) if stat.S_ISDIR(info.st_mode) else None
