"""The catalog: the record folder as an indexed database that the static and the live edge query.

`Catalog.update` lists the folder and reads only the files whose identity
(size, modification and change times, inode) changed since the catalog last
saw them (on every core when there are many: a cold store is the same update
with every file changed), writes their rows in one transaction and says which
feeds changed.  It holds, per file, its identity, state and problems; per
published record, what planning needs as columns and the rest as a payload;
per feed, every member in date order and a summary.  Whatever the size of the
store, nothing here holds all of it in Python.

The same article in two files (same link) is published once, from the first
file by name; the others are kept, *hidden*, and shown again when it goes.
"""

from __future__ import annotations

import gc
import hashlib
import json
import mmap
import os
import sqlite3
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import date
from itertools import groupby, pairwise
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple, TypeVar

from ..errors import Problem, printable, skipped
from ..layout import ALL_STEM, KINDS, PROVIDER, TOPIC, TOPIC_TOP, Kind, feed_of, memberships
from ..layout import stem as layout_stem
from ..records import Headline, ReadResult, Record
from ..settings import Settings
from ..workers import in_order
from .db import (
    BUSY_SECONDS,
    INDEX_NAMES,
    INDEXES,
    PUBLISHED,
    UNPUBLISHED,
    UNREADABLE,
    DamagedRow,
    Output,
    busy,
    connect,
    decode,
    decode_head,
    decode_listing,
    decode_problems,
    decoding,
    encode_head,
    encode_listing,
    encode_payload,
    encode_problems,
    key,
    log,
    transaction,
    waiting,
)
from .scan import Entry, Listing, read_file, scan
from .stories import Groups, Story, compose, page_keys, with_digest

Progress = Callable[[int], None]
Known = tuple[str, int, int, int, int]  # a file the catalog saw: its name, size, times and inode
H = TypeVar("H", Headline, Record)  # what is decoded of a record: its headline or all of it
T = TypeVar("T")
PARALLEL_FROM = 2_000  # below this many changed files, starting processes costs more than it saves
CHUNK = 500
LISTING_PART = 1_024  # files in one row of the listing: an edit rewrites its row, not the folder's
BULK_SUMMARIES = 256  # from this many feeds to summarise, one pass over every member beats a query each
DATING_WAIT = 1.0  # seconds a request waits to date a change while another process updates
MAX_REPRESENTATIONS = 10_000  # filtered representations whose change time is kept, per live server
_RANK = {kind.name: rank for rank, kind in enumerate(KINDS)}


class Member(NamedTuple):
    """A published record's place in one feed, as a worker made it."""

    stem: str
    name: str  # the feed's name as the record writes it
    logo: str | None


class Row(NamedTuple):
    """A published record as the catalog keeps it: planning's columns and the encoded rest."""

    id: str
    link: str
    at: float  # minus the publication time: ascending is newest first
    digest: str
    quality: int | None
    heat: int | None
    head: str
    payload: str
    members: tuple[Member, ...]
    day: int  # days since 1970-01-01 (UTC) of the publication time: archives are cut by date
    hash: int  # 62 bits of the id and digest: summed, they fingerprint an archive page in one query
    pages: tuple[str, ...]  # the pages it names, which join it to the other records of its story


class Parsed(NamedTuple):
    """What reading one file gave, encoded for the catalog where it was read (a worker)."""

    name: str
    again: bool  # the file could not be read this time: read it again next time
    state: int
    problems: str | None
    row: Row | None


class Part(NamedTuple):
    """One row of the catalog's listing: a run of the files it last saw, in name order."""

    number: int
    known: list[Known]


class Moved(NamedTuple):
    """A part of the listing the folder no longer matches, and the entries now in its range."""

    part: int
    entries: list[Entry]


class Ref(NamedTuple):
    """A record a feed holds: enough to fingerprint its files and to load it."""

    id: str
    digest: str
    rec: int  # the records table's row; for a story, the stories table's row, negated


@dataclass
class _Restory:
    """What an update changed that stories are made of: the pages the records taken out, added or
    hidden named, those records, and the stories they were in (rows of the stories table)."""

    pages: set[str] = field(default_factory=set)
    recs: set[int] = field(default_factory=set)
    old: set[int] = field(default_factory=set)


class Day(NamedTuple):
    """A feed's archived members published on one day (UTC): how many, and their hashes summed."""

    day: int  # days since 1970-01-01
    members: int
    high: int  # the sum of the members' hashes' upper 31 bits
    low: int  # and of their lower 31 bits


class Summary(NamedTuple):
    """A feed as the index and the OPML list see it."""

    stem: str
    kind: Kind
    key: str
    name: str
    total: int
    logo: str | None
    newest: Ref | None


@dataclass(frozen=True)
class Changes:
    """What an update found: the folder's listing, how many files it read and dropped, and the
    feeds whose members changed."""

    listing: Listing
    read: int
    removed: int
    feeds: frozenset[str]
    before: int = 0  # the catalog's version before the update
    after: int = 0  # and after it
    phases: dict[str, float] = field(default_factory=dict)  # seconds: scan, read, catalog writes

    @property
    def any(self) -> bool:
        """True when a file was read or dropped."""
        return bool(self.read or self.removed)


class Built(NamedTuple):
    """The site a build left in an output folder: of which catalog version, made how."""

    version: int
    fingerprint: str


@dataclass(frozen=True)
class Counts:
    """What a store holds, as the summary line tells it."""

    files: int
    published: int
    unpublished: int
    duplicates: int
    skipped: int
    feeds: int

    def summary(self) -> str:
        """What the store holds, as the summary lines of `feeds build` and `feeds serve` begin."""
        return (f"read {self.files} records: {self.published} published, {self.unpublished} unpublished, "
                f"{self.duplicates} duplicates, {self.skipped} skipped; {self.feeds} feeds")


_DAYS = range(date.min.toordinal() - date(1970, 1, 1).toordinal(),
              date.max.toordinal() - date(1970, 1, 1).toordinal() + 1)  # the days a record's date can be on


def _day(value: object) -> int:
    """A day number read from the catalog (decode inside `decoding`)."""
    if type(value) is not int or value not in _DAYS:
        raise ValueError(f"{value!r} is not a day a record can be published on")
    return value


def day_of(at: float) -> int:
    """The day (since 1970-01-01, UTC) of a member's `at` (minus its time), as `Row.day` has it."""
    return int((-at) // 86400)


def _on_days(first: int, last: int) -> tuple[int, int]:
    """The bounds of `at` (above the first, up to the second) of the members published on the days
    `first` to `last`: exactly those whose `day_of` is in that range (Python's float floor division
    is exact, and so is SQLite's comparison of a REAL with an INTEGER)."""
    return -(last + 1) * 86400, -first * 86400


def member_hash(record_id: str, digest: str) -> int:
    """62 bits of a record's id and digest: the sums of its two 31-bit halves over up to 2**31
    members stay within SQLite's integers, and fingerprint which records (as written) they are."""
    raw = hashlib.blake2b(f"{record_id}\0{digest}".encode(), digest_size=8).digest()
    return int.from_bytes(raw, "big") >> 2


def parse(entry: Entry, settings: Settings) -> Parsed:
    """Read one record file and encode what the catalog keeps of it."""
    return encoded(entry.name, read_file(entry, settings))


UNREAD = (-1, 0, 0, 0)  # the identity kept for a file that was not read: no file has it, so it is read again


def encoded(name: str, result: ReadResult) -> Parsed:
    """What the catalog keeps of reading the file `name`."""
    record = result.record
    state = PUBLISHED if record else UNPUBLISHED if result.unpublished else UNREADABLE
    row = None
    if record is not None:
        row = Row(record.id, record.link, -record.published_at.timestamp(), record.digest, record.quality,
                  record.heat, encode_head(record), encode_payload(record),
                  tuple(Member(m.stem, m.name, m.logo) for m in memberships(record)),
                  int(record.published_at.timestamp() // 86400), member_hash(record.id, record.digest),
                  page_keys(record))
    return Parsed(name, result.again, state, encode_problems(result.problems), row)


def _parse_chunk(job: tuple[list[Entry], Settings]) -> list[Parsed]:
    entries, settings = job
    return [parse(entry, settings) for entry in entries]


def read_files(entries: list[Entry], settings: Settings, progress: Progress | None = None
               ) -> Iterator[list[Parsed]]:
    """`entries` read in order, in batches, on every core when there are many of them."""
    jobs = settings.jobs or os.cpu_count() or 1
    chunks = [(entries[i:i + CHUNK], settings) for i in range(0, len(entries), CHUNK)]
    if jobs < 2 or len(entries) < PARALLEL_FROM:
        for chunk in chunks:
            parsed = _parse_chunk(chunk)
            if progress:
                progress(len(parsed))
            yield parsed
        return
    for parsed in in_order(_parse_chunk, chunks, jobs):
        if progress:
            progress(len(parsed))
        yield parsed


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No garbage collection inside: it would walk every object made so far, again and again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _by_name(known: list[Known]) -> dict[str, Known]:
    """The listing's entries by file name (decode inside `decoding`: `known` comes from the catalog)."""
    was: dict[str, Known] = {}
    for entry in known:
        if type(entry) is not tuple or len(entry) != 5 or type(entry[0]) is not str:
            raise ValueError("the listing holds an entry that is not a file's name and identity")
        if entry[0] in was:  # with another name missing, the count would still match the files table
            raise ValueError("the listing names a file twice")
        was[entry[0]] = entry
    return was


def _first_name(known: list[Known]) -> str:
    """The name a part of the listing starts at (decode inside `decoding`)."""
    if not known or type(known[0]) is not tuple or not known[0] or type(known[0][0]) is not str:
        raise ValueError("a part of the listing is empty or does not start with a file's name")
    return known[0][0]


def _compared(entries: list[Entry], parts: list[Part]) -> tuple[list[Entry], list[bytes], list[Moved] | None]:
    """The entries whose identity is not the one known, the names of the known files no longer
    listed, and the parts of the listing that changed, each with the entries that now fall in it
    (None: no listing yet).  A part holds the names from its first one to the next part's first:
    the folder's entries are cut at those names, and each piece compared with its part (decode
    inside `decoding`: `parts` come from the catalog)."""
    if not parts:
        return list(entries), [], None
    cuts = [0, *(bisect_left(entries, (part.known[0][0],)) for part in parts[1:]), len(entries)]
    stale: list[Entry] = []
    gone: list[bytes] = []
    moved: list[Moved] = []
    for part, (start, end) in zip(parts, pairwise(cuts), strict=True):
        now = entries[start:end]
        if now != part.known:
            changed, dropped = _changed(now, part.known)
            stale += changed
            gone += dropped
            moved.append(Moved(part.number, now))
    return stale, gone, moved


def _changed(entries: list[Entry], known: list[Known]) -> tuple[list[Entry], list[bytes]]:
    """The entries whose identity is not the one known (new files included), and the names of the
    known files no longer listed (decode inside `decoding`: `known` comes from the catalog)."""
    was = _by_name(known)
    stale = [entry for entry in entries if was.pop(entry.name, None) != entry]
    return stale, [key(name) for name in was]


def _feed(stem: str) -> tuple[Kind, str]:
    found = feed_of(stem)
    if found is None:
        raise ValueError(f"{stem!r} is not the stem of a feed")
    return found


# A feeds row, as `_summary` takes it.
_SUMMARY = "stem, key, name, total, logo, newest, newest_id, newest_digest"


def _summary(stem: str, feed_key: str, name: str, total: int, logo: str | None, rec: int, newest_id: str,
             digest: str) -> Summary:
    return Summary(stem, _feed(stem)[0], feed_key, name, total, logo, Ref(newest_id, digest, rec))


def _chunks(items: list[T]) -> Iterator[list[T]]:
    """`items` in runs short enough for one query's parameters."""
    for start in range(0, len(items), 500):
        yield items[start:start + 500]


def _marks(items: list[T]) -> str:
    """The placeholders of an ``IN (...)`` list of `items`."""
    return ",".join("?" * len(items))


def _join(groups: Groups, rows: Iterable[tuple[str, int]]) -> None:
    """Join in `groups` the records of each page, from (page, record) rows ordered by page."""
    for _, named in groupby(rows, key=lambda row: row[0]):
        first, *rest = [rec for _, rec in named]
        groups.find(first)
        for rec in rest:
            groups.join(first, rec)


def _encoded_story(story: Story) -> tuple[str, str, Record]:
    """The head and payload the catalog keeps of a story's entry, and the entry holding their digest."""
    payload = encode_payload(story.entry)
    entry = with_digest(story.entry, encode_head(story.entry) + payload)
    return encode_head(entry), payload, entry


def _places(story: Story) -> str:
    """A story's places in feeds as the catalog keeps them: (feed, at), at as in the members table."""
    return json.dumps([[place.stem, -place.at.timestamp()] for place in story.places])


def signal_path(path: Path) -> Path:
    """The small file beside a catalog file that every update changing the catalog rewrites."""
    return path.with_name(path.name + ".changed")


def _signal(path: Path) -> None:
    """Tell every process serving the catalog at `path` that an update changed it."""
    try:
        fd = os.open(signal_path(path), os.O_WRONLY | os.O_CREAT, 0o666)
        try:
            os.pwrite(fd, os.urandom(8), 0)
        finally:
            os.close(fd)
    except OSError as exc:  # the servers' watchers see the folder's change: they only learn it later
        log.warning("%s: cannot tell live servers of a change (%s)", signal_path(path), exc.strerror)


class Commits:
    """Tells whether another process changed the catalog file, cheaply: a live server's fast path
    asks before every answer whether the store moved since the answer was kept.

    Every update that changes a catalog file then writes 8 new random bytes into the small file
    beside it (`signal_path`), which this maps: reading it costs a tenth of a microsecond.
    SQLite's own files are never opened here: closing a handle to one would drop the locks
    SQLite holds on it for this process.  Where the file cannot be made or mapped, it asks
    ``PRAGMA data_version`` (about 5 µs), which sees every commit.
    """

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()  # the fallback's connection is asked by every request thread
        self._index: mmap.mmap | None = None
        self._db: sqlite3.Connection | None = None
        try:
            fd = os.open(signal_path(path), os.O_RDWR | os.O_CREAT, 0o666)
            try:
                if os.fstat(fd).st_size < 8:
                    os.pwrite(fd, os.urandom(8), 0)  # new bytes: a reader may see a change, never miss one
                self._index = mmap.mmap(fd, 8, access=mmap.ACCESS_READ)
            finally:
                os.close(fd)
        except (OSError, ValueError) as exc:
            log.warning("%s: cannot map it (%s); live answers ask the catalog", signal_path(path), exc)
            self._db = sqlite3.connect(path, timeout=BUSY_SECONDS, isolation_level=None,
                                       check_same_thread=False)

    def __call__(self) -> bytes:
        """A value that differs after every change of the catalog by another process."""
        if self._index is not None:
            return self._index[:8]
        assert self._db is not None
        with self._lock:
            (value,) = self._db.execute("PRAGMA data_version").fetchone()
        return str(value).encode()


def _since(row: tuple[str, int] | None, etag: str, dated: int) -> int:
    """The date of bytes `etag` in a store `dated`, the representation's row being `row`."""
    if row is None:
        return dated
    since = int(row[1])
    return max(since, dated) if row[0] == etag else max(since + 1, dated)


class Catalog:
    """An open catalog (in memory for a `path` of None); use as a context manager, or `close`."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.db = connect(path)
        self._dated: set[tuple[str, int]] = set()  # (feed, day) whose members a write changed

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reading(self) -> AbstractContextManager[None]:
        """A read transaction: every query in it sees one version of the catalog."""
        return transaction(self.db, write=False)

    def version(self) -> int:
        """A number that grows with every update that changed a file's row."""
        with decoding("the catalog's meta table"):
            (value,) = self.db.execute("SELECT value FROM meta WHERE key='version'").fetchone()
            return int(value)

    # -- updating --------------------------------------------------------------
    def update(self, root: Path, settings: Settings, progress: Progress | None = None,
               wait: float = BUSY_SECONDS, lister: Callable[[], Listing] | None = None) -> Changes:
        """List `root` (by `lister` when given: a watching build knows which files changed) and
        bring the catalog up to date with the files that changed.

        The folder is listed inside the write transaction: a process that lists it
        while another one updates would otherwise write back the older listing.  Another
        process's update is waited for up to `wait` seconds (then SQLite says it is busy).
        """
        started = time.perf_counter()
        with waiting(self.db, wait), transaction(self.db):
            version = self.version()
            with _collector_paused():  # 200,000 tuples that live on: nothing for it to free
                listing = scan(root) if lister is None else lister()
                scanned = time.perf_counter()
                empty, parts = self._listing()
                with decoding("the catalog's listing table"):
                    stale, gone, moved = _compared(listing.entries, parts)
            if progress and len(stale) < len(listing.entries):
                progress(len(listing.entries) - len(stale))
            touched: set[str] = set()
            links: set[str] = set()
            restory = _Restory()
            if not empty:  # a file read before is taken out first (a new one has nothing to take out)
                self._drop([*(key(entry.name) for entry in stale), *gone], touched, links, restory)
            self.db.executemany("DELETE FROM files WHERE name=?", [(name,) for name in gone])
            writing = time.perf_counter() - scanned
            # A catalog that knew no file (a cold store) is filled in bulk: its indexes are made after.
            unread: set[str] = set()
            writing += self._write(read_files(stale, settings, progress), touched, links, unread,
                                   bool(stale or gone), settings, restory,
                                   bulk=empty and len(stale) >= PARALLEL_FROM)
            if stale or gone:
                started_listing = time.perf_counter()
                self._keep_listing(listing.entries, unread, moved)
                writing += time.perf_counter() - started_listing
            self._date_store(root, listing.entries)
        if (stale or gone) and self.path is not None:
            _signal(self.path)  # after the commit: a server told of it finds the change there
        ended = time.perf_counter()
        phases = {"scan": scanned - started, "read": ended - scanned - writing, "catalog": writing}
        after = version + 1 if stale or gone else version
        return Changes(listing, len(stale), len(gone), frozenset(touched), version, after, phases)

    def _date_store(self, root: Path, entries: list[Entry]) -> None:
        """Keep when the store last changed (`dated`), as it stands now."""
        now = time.time_ns()
        mtimes = [os.stat(root).st_mtime_ns, max(map(itemgetter(2), entries), default=0)]
        if mtimes[1] > now:  # a file dated ahead of the clock: its change is dated by `changed_at`
            mtimes[1] = max((mtime for mtime in map(itemgetter(2), entries) if mtime <= now), default=0)
        (newest,) = self.db.execute("SELECT max(at) FROM members WHERE feed=? AND shown=1 AND at <= ?",
                                    (ALL_STEM, now / 1e9)).fetchone()
        dated = max(int(newest or 0), *(mtime // 1_000_000_000 for mtime in mtimes if mtime <= now))
        if dated != self.dated():
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('dated', ?)", (str(dated),))

    def dated(self) -> int:
        """When the store last changed (Unix seconds), the same on every host that holds the same
        files: the newest of the record folder's and its record files' modification times (a
        file added, edited or removed moves one of them; shared storage, `rsync -a` and `cp -a`
        keep them) and of the records' dates, none later than the clock.

        Every live representation is dated by it (`changed_at`), not by when a process first
        served it: a host started later, or one that read two changes at once, would date the
        same bytes otherwise, and a reader moving between hosts would download them again.
        """
        row = self.db.execute("SELECT value FROM meta WHERE key='dated'").fetchone()
        with decoding("the catalog's meta table"):
            return 0 if row is None else int(row[0])

    def _listing(self) -> tuple[bool, list[Part]]:
        """Whether the catalog knows no file yet, and the listing it last saw (name, size,
        modification and change times, inode, sorted by name) in its parts, in order."""
        (files,) = self.db.execute("SELECT count(*) FROM files").fetchone()
        rows = self.db.execute("SELECT part, entries FROM listing ORDER BY part").fetchall()
        if not rows and not files:
            return True, []
        with decoding("the catalog's listing table"):
            if not rows:
                raise ValueError(f"no listing of the {files} files the catalog holds")
            parts = [Part(number, decode_listing(raw)) for number, raw in rows]
            named = sum(len(part.known) for part in parts)
            if named != files:
                raise ValueError(f"the listing names {named} files, the catalog holds {files}")
            firsts = [_first_name(part.known) for part in parts]
            if any(before >= after for before, after in pairwise(firsts)):
                raise ValueError("the listing's parts are out of order")
        return not files, parts  # a folder that was empty: its first files are filled in bulk too

    def _keep_listing(self, entries: list[Entry], unread: set[str], moved: list[Moved] | None) -> None:
        """Keep `entries` as the listing the catalog last saw, the files in `unread` to be read
        again: only the parts that `moved` names are written, unless the listing is cut anew."""
        def kept(some: list[Entry]) -> list[Known]:
            return [(entry.name, *UNREAD) if entry.name in unread else entry for entry in some]

        with _collector_paused():  # 100,000 tuples made and dropped: nothing for it to free
            if moved is None or any(len(m.entries) > 2 * LISTING_PART for m in moved):
                self._relist(kept(entries))
                return
            for m in moved:
                if m.entries:
                    self.db.execute("UPDATE listing SET entries=? WHERE part=?",
                                    (encode_listing(kept(m.entries)), m.part))
                else:
                    self.db.execute("DELETE FROM listing WHERE part=?", (m.part,))

    def _relist(self, known: list[Known]) -> None:
        """Keep `known` (sorted by name) as the whole listing, cut into parts anew."""
        self.db.execute("DELETE FROM listing")
        self.db.executemany("INSERT INTO listing VALUES (?, ?)",
                            [(number, encode_listing(known[start:start + LISTING_PART]))
                             for number, start in enumerate(range(0, len(known), LISTING_PART))])

    def insert(self, results: Iterable[tuple[str, ReadResult]], settings: Settings) -> frozenset[str]:
        """Write records already read (by file name), as `update` writes those it reads; the feeds
        whose members changed.  For a store made in memory (tests, an embedding program): should
        the catalog then be updated from a folder, these files count as changed."""
        touched: set[str] = set()
        links: set[str] = set()
        with transaction(self.db):
            _, parts = self._listing()
            with decoding("the catalog's listing table"):
                was = _by_name([entry for part in parts for entry in part.known])
            batch = [encoded(name, result) for name, result in results]
            restory = _Restory()
            self._drop([key(parsed.name) for parsed in batch], touched, links, restory)
            self._write(iter([batch]), touched, links, set(), True, settings, restory)
            was.update((parsed.name, (parsed.name, *UNREAD)) for parsed in batch)
            self._relist(sorted(was.values()))
        return frozenset(touched)

    def _write(self, batches: Iterator[list[Parsed]], touched: set[str], links: set[str], unread: set[str],
               changed: bool, settings: Settings, restory: _Restory, bulk: bool = False) -> float:
        """Write these files' rows (inside a write transaction); the seconds spent writing.  The
        names of the files that could not be read go to `unread`.

        In `bulk`, the indexes are dropped first and made again once every row is in.
        """
        started = time.perf_counter()
        (last,) = self.db.execute("SELECT coalesce(max(rec), 0) FROM records").fetchone()
        if bulk:
            for name in INDEX_NAMES:
                self.db.execute(f"DROP INDEX IF EXISTS {name}")
        writing = time.perf_counter() - started
        for batch in batches:  # read while the rows of the batch before are written
            started = time.perf_counter()
            last = self._add(batch, last, touched, None if bulk else links, unread, restory)
            writing += time.perf_counter() - started
        started = time.perf_counter()
        if bulk:
            for statement in filter(str.strip, INDEXES.split(";")):
                self.db.execute(statement)
        self._settle(None if bulk else links, touched, restory)
        self._restory(restory, touched, settings, everything=bulk)
        # A topic's top stories feed exists as long as the topic does, empty or not (`plan.summaries`).
        touched.update([layout_stem(TOPIC_TOP, feed[1]) for feed in map(feed_of, touched)
                        if feed and feed[0] is TOPIC])
        self._redate(everything=bulk)
        self._summarise(touched)
        if changed:
            self.db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='version'")
        return writing + time.perf_counter() - started

    def _drop(self, names: list[bytes], touched: set[str], links: set[str], restory: _Restory) -> None:
        """Take the records of these files out of their feeds, their stories and the catalog."""
        for name in names:
            row = self.db.execute("SELECT rec, link, at, id, shown, feeds FROM records WHERE name=?",
                                  (name,)).fetchone()
            if row is None:
                continue
            rec, link, at, id_, shown, stems = row
            for stem in stems.split("\n"):
                self.db.execute("DELETE FROM members WHERE feed=? AND shown=? AND at=? AND id=? AND rec=?",
                                (stem, shown, at, id_, rec))
                self._dated.add((stem, day_of(at)))
                if shown:
                    touched.add(stem)
            links.add(link)
            self._unstory(rec, restory)
            self.db.execute("DELETE FROM pages WHERE rec=?", (rec,))
            self.db.execute("DELETE FROM records WHERE rec=?", (rec,))

    def _add(self, batch: list[Parsed], last: int, touched: set[str], links: set[str] | None,
             unread: set[str], restory: _Restory) -> int:
        """Write what reading these files gave; a new record is shown until `_settle` says otherwise."""
        files, records, members, pages = [], [], [], []
        for parsed in batch:
            files.append((key(parsed.name), parsed.state, parsed.problems))
            if parsed.again:
                unread.add(parsed.name)
            row = parsed.row
            if row is None:
                continue
            last += 1
            records.append((last, key(parsed.name), row.id, row.link, row.at, 1,
                            "\n".join(m.stem for m in row.members), row.head, row.payload))
            for m in row.members:
                members.append((m.stem, row.at, row.id, last, 1, row.digest, m.name, m.logo, row.quality,
                                row.heat, row.day, row.hash))
                if links is not None:  # (in bulk, every feed's days are counted afresh)
                    self._dated.add((m.stem, row.day))
                touched.add(m.stem)
            pages += [(page, last) for page in row.pages]
            if links is not None:  # (in bulk, every story is made afresh: nothing to note)
                links.add(row.link)
                restory.pages.update(row.pages)
                restory.recs.add(last)
        self.db.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?)", files)
        self.db.executemany("INSERT INTO records VALUES (?,?,?,?,?,?,?,?,?)", records)
        self.db.executemany("INSERT INTO members VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", members)
        self.db.executemany("INSERT INTO pages VALUES (?,?)", pages)
        return last

    def _settle(self, links: set[str] | None, touched: set[str], restory: _Restory) -> None:
        """Show, of the records of each of these links (of every link for None), only the first file's."""
        if links is not None and not links:
            return
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS touched_links (link TEXT PRIMARY KEY)")
        self.db.execute("DELETE FROM temp.touched_links")
        if links is not None:
            self.db.executemany("INSERT OR IGNORE INTO temp.touched_links VALUES (?)", ((k,) for k in links))
        among = "" if links is None else " WHERE link IN (SELECT link FROM temp.touched_links)"
        flips = self.db.execute(
            "SELECT r.rec, r.at, r.id, r.feeds, r.name = w.first FROM records r JOIN ("
            f"  SELECT link, min(name) AS first FROM records{among}"
            "  GROUP BY link HAVING count(*) > 1 OR min(shown) = 0) w ON r.link = w.link "
            "WHERE r.shown != (r.name = w.first)").fetchall()
        for rec, at, id_, stems, show in flips:
            self._unstory(rec, restory)  # shown, it joins a story; hidden, it leaves its story
            self.db.execute("UPDATE records SET shown=? WHERE rec=?", (show, rec))
            for stem in stems.split("\n"):
                self.db.execute("UPDATE members SET shown=? WHERE feed=? AND shown=? AND at=? AND id=? "
                                "AND rec=?", (show, stem, 1 - show, at, id_, rec))
                self._dated.add((stem, day_of(at)))
                touched.add(stem)
        self.db.execute("DELETE FROM temp.touched_links")

    def _unstory(self, rec: int, restory: _Restory) -> None:
        """Note that the record `rec` leaves or joins the stories: the pages it names, and its story."""
        restory.recs.add(rec)
        restory.pages.update(page for (page,) in self.db.execute("SELECT key FROM pages WHERE rec=?", (rec,)))
        found = self.db.execute("SELECT row FROM story_of WHERE rec=?", (rec,)).fetchone()
        if found is not None:
            restory.old.add(found[0])
            self.db.execute("DELETE FROM story_of WHERE rec=?", (rec,))

    def _restory(self, restory: _Restory, touched: set[str], settings: Settings, everything: bool) -> None:
        """Make again the stories of the groups of records that `restory` reaches (every story, when
        `everything`), and put them in their feeds; a story made as it was is left as it is."""
        groups = Groups()
        if everything:
            for (rec,) in self.db.execute("SELECT rec FROM records WHERE shown=1"):
                groups.find(rec)
            _join(groups, self.db.execute("SELECT p.key, p.rec FROM pages p JOIN records r ON r.rec = p.rec "
                                          "WHERE r.shown = 1 ORDER BY p.key"))
        else:
            self._reach(groups, restory)
        found = groups.groups()
        old = set() if everything else set(restory.old)
        for chunk in _chunks([rec for group in found for rec in group]):
            old.update(row for (row,) in self.db.execute(
                f"SELECT row FROM story_of WHERE rec IN ({_marks(chunk)})", chunk))
        was = {story: (row, digest, places) for row, story, digest, places in self._rows(old)}
        kept: set[int] = set()
        for group, members in self._members(found):
            story = compose(members, settings.top_heat, settings.max_topics, settings.max_related)
            head, payload, entry = _encoded_story(story)
            places = _places(story)
            before = was.get(entry.id)
            if before is not None and before[1:] == (entry.digest, places):
                row = before[0]  # the same story, in the same places: its feeds need nothing
            else:  # (its row may be one an old story left: that one is gone, and not to be dropped again)
                row = self._add_story(story, entry, head, payload, places, touched)
            kept.add(row)
            self.db.executemany("INSERT OR REPLACE INTO story_of VALUES (?,?)", [(rec, row) for rec in group])
        for row, story_id, _, places in self._rows(old - kept):
            self._drop_story(row, story_id, places, touched)

    def _reach(self, groups: Groups, restory: _Restory) -> None:
        """Put in `groups` every shown record that the pages and records `restory` names reach,
        through the pages they name, joined by them."""
        pending = set(restory.pages)
        seen = set(pending)
        fresh: set[int] = set()
        for chunk in _chunks(sorted(restory.recs)):
            fresh.update(rec for (rec,) in self.db.execute(
                f"SELECT rec FROM records WHERE shown=1 AND rec IN ({_marks(chunk)})", chunk))
        while pending or fresh:
            for rec in fresh:
                groups.find(rec)
            if fresh:
                for chunk in _chunks(sorted(fresh)):
                    for (page,) in self.db.execute(
                            f"SELECT key FROM pages WHERE rec IN ({_marks(chunk)})", chunk):
                        if page not in seen:
                            seen.add(page)
                            pending.add(page)
            known = set(groups.parent)
            fresh = set()
            for pages in _chunks(sorted(pending)):
                rows = self.db.execute(
                    "SELECT p.key, p.rec FROM pages p JOIN records r ON r.rec = p.rec WHERE r.shown = 1 "
                    f"AND p.key IN ({_marks(pages)}) ORDER BY p.key", pages).fetchall()
                _join(groups, rows)
                fresh.update(rec for _, rec in rows if rec not in known)
            pending = set()

    def _members(self, groups: list[list[int]]) -> Iterator[tuple[list[int], list[Record]]]:
        """Each group with its records, read a few hundred records to a query."""
        batch: list[list[int]] = []
        for group in groups:
            batch.append(group)
            if sum(map(len, batch)) >= CHUNK or group is groups[-1]:
                found: dict[int, Record] = {}
                with decoding("the catalog's records table"):
                    for chunk in _chunks([rec for members in batch for rec in members]):
                        query = f"SELECT rec, head, payload FROM records WHERE rec IN ({_marks(chunk)})"
                        rows = self.db.execute(query, chunk)
                        found.update((rec, decode(head, payload)) for rec, head, payload in rows)
                yield from ((members, [found[rec] for rec in members]) for members in batch)
                batch = []

    def _rows(self, rows: set[int]) -> list[tuple[int, str, str, str]]:
        found: list[tuple[int, str, str, str]] = []
        for chunk in _chunks(sorted(rows)):
            found += self.db.execute("SELECT row, story, digest, places FROM stories "
                                     f"WHERE row IN ({_marks(chunk)})", chunk).fetchall()
        return found

    def _add_story(self, story: Story, entry: Record, head: str, payload: str, places: str,
                   touched: set[str]) -> int:
        """Write a story and its places in feeds (replacing the story of the same id); its row."""
        was = self.db.execute("SELECT row, places FROM stories WHERE story=?", (entry.id,)).fetchone()
        if was is not None:
            self._drop_story(was[0], entry.id, was[1], touched)
        row = self.db.execute("INSERT INTO stories (story, digest, head, payload, places) VALUES (?,?,?,?,?)",
                              (entry.id, entry.digest, head, payload, places)).lastrowid
        assert row is not None
        hashed = member_hash(entry.id, entry.digest)
        placed = [(place, -place.at.timestamp()) for place in story.places]
        self.db.executemany("INSERT INTO members VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", [
            (place.stem, at, entry.id, -row, 1, entry.digest, place.name, None, story.quality, story.heat,
             day_of(at), hashed) for place, at in placed])
        touched.update(place.stem for place in story.places)
        self._dated.update((place.stem, day_of(at)) for place, at in placed)
        return row

    def _drop_story(self, row: int, story_id: str, places: str, touched: set[str]) -> None:
        with decoding("the catalog's stories table"):
            where = [(feed, at) for feed, at in json.loads(places)]
        for feed, at in where:
            self.db.execute("DELETE FROM members WHERE feed=? AND shown=1 AND at=? AND id=? AND rec=?",
                            (feed, at, story_id, -row))
            touched.add(feed)
            self._dated.add((feed, day_of(at)))
        self.db.execute("DELETE FROM stories WHERE row=?", (row,))

    def _redate(self, everything: bool) -> None:
        """Count again the members of each feed on each day a write changed (every day, when
        `everything`): the days table answers `days`, `every_day` and `archived_days` without a
        pass over a feed's members."""
        dated, self._dated = sorted(self._dated), set()
        if everything:
            self.db.execute("DELETE FROM days")
            self.db.execute("INSERT INTO days SELECT feed, day, count(*), sum(hash >> 31), "
                            "sum(hash & 2147483647) FROM members WHERE shown=1 GROUP BY feed, day")
            return
        for feed, day in dated:
            members, high, low = self.db.execute(
                "SELECT count(*), coalesce(sum(hash >> 31), 0), coalesce(sum(hash & 2147483647), 0) "
                "FROM members WHERE feed=? AND shown=1 AND at > ? AND at <= ?",
                (feed, *_on_days(day, day))).fetchone()
            if members:
                self.db.execute("INSERT OR REPLACE INTO days VALUES (?,?,?,?,?)",
                                (feed, day, members, high, low))
            else:
                self.db.execute("DELETE FROM days WHERE feed=? AND day=?", (feed, day))

    def _summarise(self, stems: Iterable[str]) -> None:
        """Bring the summaries of these feeds up to date with their members."""
        stems = set(stems)
        every = self._every_name_and_logo() if len(stems) >= BULK_SUMMARIES else None
        for stem in sorted(stems):
            newest = self.db.execute("SELECT rec, id, digest FROM members WHERE feed=? AND shown=1 "
                                     "ORDER BY at, id LIMIT 1", (stem,)).fetchone()
            if newest is None:
                self.db.execute("DELETE FROM feeds WHERE stem=?", (stem,))
                continue
            kind, feed_key = _feed(stem)
            total, name, logo = every[stem] if every is not None else self._name_and_logo(stem, kind)
            self.db.execute("INSERT OR REPLACE INTO feeds VALUES (?,?,?,?,?,?,?,?,?)",
                            (stem, _RANK[kind.name], feed_key, name if kind.folder else "", total,
                             logo if kind is PROVIDER else None, *newest))

    def _name_and_logo(self, stem: str, kind: Kind) -> tuple[int, str, str | None]:
        """How many records the feed shows, the name most of them give it (the first by code point
        among the most given), and the logo of its newest member that has one (for a provider)."""
        (total,) = self.db.execute("SELECT count(*) FROM members WHERE feed=? AND shown=1",
                                   (stem,)).fetchone()
        name = logo = None
        if kind.folder:
            (name,) = self.db.execute("SELECT name FROM members WHERE feed=? AND shown=1 GROUP BY name "
                                      "ORDER BY count(*) DESC, name LIMIT 1", (stem,)).fetchone()
        if kind is PROVIDER:
            found = self.db.execute("SELECT logo FROM members WHERE feed=? AND shown=1 AND logo != '' "
                                    "ORDER BY at, id LIMIT 1", (stem,)).fetchone()
            logo = found[0] if found else None
        return total, name or "", logo

    def _every_name_and_logo(self) -> dict[str, tuple[int, str, str | None]]:
        """`_name_and_logo` of every feed, from one pass over the members (for a cold store, where
        a query per feed would look up every member's row for its name and logo)."""
        totals: dict[str, int] = {}
        best: dict[str, tuple[int, str]] = {}  # the most given name's count, and the name
        for stem, name, count in self.db.execute(
                "SELECT feed, name, count(*) FROM members WHERE shown=1 GROUP BY feed, name"):
            totals[stem] = totals.get(stem, 0) + count
            was = best.get(stem)
            if was is None or count > was[0] or (count == was[0] and name < was[1]):
                best[stem] = (count, name)
        logos: dict[str, tuple[float, str, str]] = {}  # the newest member with a logo: at, id, logo
        for stem, at, id_, logo in self.db.execute(
                "SELECT feed, at, id, logo FROM members WHERE shown=1 AND logo != ''"):
            if stem not in logos or (at, id_) < logos[stem][:2]:
                logos[stem] = (at, id_, logo)
        return {stem: (total, best[stem][1], logos[stem][2] if stem in logos else None)
                for stem, total in totals.items()}

    # -- queries ---------------------------------------------------------------
    def feeds(self) -> list[Summary]:
        """Every feed that holds a record, all-items first, then topics and providers by key."""
        with decoding("the catalog's feeds table"):
            rows = self.db.execute(f"SELECT {_SUMMARY} FROM feeds ORDER BY rank, key")
            return [_summary(*row) for row in rows]

    def summary(self, stem: str) -> Summary | None:
        """The summary of the feed at `stem`, if it holds a record."""
        row = self.db.execute(f"SELECT {_SUMMARY} FROM feeds WHERE stem=?", (stem,)).fetchone()
        if row is None:
            return None
        with decoding("the catalog's feeds table"):
            return _summary(*row)

    def newest(self, stem: str, limit: int, min_quality: int | None = None,
               min_heat: int | None = None) -> list[Ref]:
        """The newest `limit` records of a feed, of at least these quality and heat."""
        query = "SELECT id, digest, rec FROM members WHERE feed=? AND shown=1"
        args: list[object] = [stem]
        if min_quality is not None:
            query += " AND quality >= ?"
            args.append(min_quality)
        if min_heat is not None:
            query += " AND heat >= ?"
            args.append(min_heat)
        args.append(limit)
        with decoding("the catalog's members table"):
            return [Ref(*row) for row in self.db.execute(query + " ORDER BY at, id LIMIT ?", args)]

    def first_archived(self, stem: str, limit: int) -> tuple[float, str] | None:
        """The (at, id) of the newest member of a feed beyond its newest `limit`, which its archive
        documents hold from; None when it holds no more than `limit`."""
        row = self.db.execute("SELECT at, id FROM members WHERE feed=? AND shown=1 ORDER BY at, id "
                              "LIMIT 1 OFFSET ?", (stem, limit)).fetchone()
        return None if row is None else (row[0], row[1])

    def archived_days(self, stem: str, start: tuple[float, str]) -> list[Day]:
        """The days of a feed's members from `start` on (older ones, by `first_archived`), oldest first:
        the days before `start`'s from the days table, and `start`'s own day counted from its members."""
        first = day_of(start[0])
        with decoding("the catalog's days table"):
            found = [Day(_day(day), *sums) for day, *sums in self.db.execute(
                "SELECT day, members, high, low FROM days WHERE feed=? AND day < ? ORDER BY day",
                (stem, first))]
            members, high, low = self.db.execute(
                "SELECT count(*), coalesce(sum(hash >> 31), 0), coalesce(sum(hash & 2147483647), 0) "
                "FROM members WHERE feed=? AND shown=1 AND (at, id) >= (?, ?) AND at <= ?",
                (stem, *start, _on_days(first, first)[1])).fetchone()
        return [*found, Day(first, members, high, low)] if members else found

    def archived(self, stem: str, start: tuple[float, str], first_day: int, last_day: int) -> list[Ref]:
        """A feed's members from `start` on (by `first_archived`) published from `first_day` to
        `last_day`, newest first."""
        query = ("SELECT id, digest, rec FROM members WHERE feed=? AND shown=1 AND (at, id) >= (?, ?) "
                 "AND at > ? AND at <= ? ORDER BY at, id")
        args = (stem, *start, *_on_days(first_day, last_day))
        with decoding("the catalog's members table"):
            return [Ref(*row) for row in self.db.execute(query, args)]

    def every_day(self) -> Iterator[tuple[str, int, int]]:
        """(feed, day, members) of every feed and every day it has members on, by feed, newest day
        first: what the pages of every feed's archive are cut from."""
        with decoding("the catalog's days table"):
            for feed, day, count in self.db.execute("SELECT feed, day, members FROM days "
                                                    "ORDER BY feed, day DESC"):
                yield feed, _day(day), count

    def days(self, stem: str) -> list[tuple[int, int]]:
        """(day, members) of every day the feed at `stem` has members on, newest first."""
        with decoding("the catalog's days table"):
            return [(_day(day), count) for day, count in self.db.execute(
                "SELECT day, members FROM days WHERE feed=? ORDER BY day DESC", (stem,))]

    def records(self, refs: Iterable[Ref]) -> list[Record]:
        """The full records of `refs`, in their order."""
        return self._decoded(refs, "head, payload", decode)

    def headlines(self, refs: Iterable[Ref]) -> list[Headline]:
        """The headlines of `refs` (what an index shows of a record), in their order."""
        return self._decoded(refs, "head", decode_head)

    def _decoded(self, refs: Iterable[Ref], columns: str, make: Callable[..., H]) -> list[H]:
        refs = list(refs)
        wanted = sorted({ref.rec for ref in refs})
        found: dict[int, H] = {}
        with decoding("the catalog's records table"):
            for chunk in _chunks([rec for rec in wanted if rec > 0]):
                query = f"SELECT rec, {columns} FROM records WHERE rec IN ({_marks(chunk)})"
                for rec, *row in self.db.execute(query, chunk):
                    found[rec] = make(*row)
            for chunk in _chunks([-rec for rec in wanted if rec < 0]):  # stories
                query = f"SELECT row, {columns} FROM stories WHERE row IN ({_marks(chunk)})"
                for row, *data in self.db.execute(query, chunk):
                    found[-row] = make(*data)
        records = []
        for ref in refs:
            record = found.get(ref.rec)
            if record is None or record.digest != ref.digest:  # a members row without its record
                message = f"the catalog's records table lacks the record {ref.rec} a feed names"
                log.info("fallback: %s", message)
                raise DamagedRow(message)
            records.append(record)
        return records

    def problems(self, listing: Listing) -> tuple[Problem, ...]:
        """What was wrong with the folder's files: the listing's, then file by file in name order
        (a file's own problems, then whether it repeats another file's link)."""
        found = list(listing.problems)
        # Both from partial indexes: their cost grows with the files that have problems, not the store.
        with decoding("the catalog's files table"):
            own = dict(self.db.execute("SELECT name, problems FROM files WHERE problems IS NOT NULL"))
            hidden = dict(self.db.execute(
                "SELECT r.name, (SELECT w.name FROM records w WHERE w.link = r.link AND w.shown = 1) "
                "FROM records r WHERE r.shown = 0"))
            for name in sorted(own.keys() | hidden.keys()):
                source = printable(os.fsdecode(name))
                found.extend(decode_problems(source, own.get(name)))
                first = hidden.get(name)
                if first is not None:
                    shown = printable(os.fsdecode(first))
                    found.append(Problem(source, "webUrl", f"same link as {shown}; the article is "
                                                           f"published once, from {shown}"))
        return tuple(found)

    def fates(self) -> list[tuple[str, str]]:
        """Every record file read, by name (printable), and what became of it: ``published``,
        ``unpublished``, ``duplicate`` (another file has its link) or ``skipped`` (`feeds check -v`)."""
        rows = self.db.execute("SELECT f.name, f.state, r.shown FROM files f LEFT JOIN records r "
                               "ON r.name = f.name ORDER BY f.name")
        return [(printable(os.fsdecode(name)),
                 "skipped" if state == UNREADABLE else "unpublished" if state == UNPUBLISHED
                 else "duplicate" if shown == 0 else "published")
                for name, state, shown in rows]

    def counts(self, problems: Iterable[Problem]) -> Counts:
        """The store's counts; `problems` are those `problems` gave."""
        one = self.db.execute
        (files,) = one("SELECT count(*) FROM files").fetchone()
        (unpublished,) = one("SELECT count(*) FROM files WHERE state=?", (UNPUBLISHED,)).fetchone()
        (published,) = one("SELECT count(*) FROM members WHERE feed=? AND shown=1", (ALL_STEM,)).fetchone()
        (duplicates,) = one("SELECT count(*) FROM records WHERE shown=0").fetchone()
        (feeds,) = one("SELECT count(*) FROM feeds WHERE stem != ?", (ALL_STEM,)).fetchone()
        return Counts(files, published, unpublished, duplicates, skipped(problems), feeds + 1)

    # -- what a build wrote ------------------------------------------------------
    def outputs(self, out: str) -> dict[str, Output]:
        """What was last written under `out`, by site path."""
        with decoding("the catalog's outputs table"):
            rows = self.db.execute("SELECT path, digest, size, mtime_ns, ctime_ns FROM outputs WHERE out=?",
                                   (key(out),))
            return {path: Output(*output) for path, *output in rows}

    def wrote(self, out: str, rows: Iterable[tuple[str, Output]], gone: Iterable[str], version: int,
              fingerprint: str) -> None:
        """Remember what is now under `out` (path and what was written there), what left, and that
        it holds the site of this catalog `version` made by code and settings of `fingerprint`."""
        folder = key(out)
        with transaction(self.db):
            self.db.executemany("INSERT OR REPLACE INTO outputs VALUES (?,?,?,?,?,?)",
                                [(folder, path, *output) for path, output in rows])
            self.db.executemany("DELETE FROM outputs WHERE out=? AND path=?", [(folder, p) for p in gone])
            self.db.execute("INSERT OR REPLACE INTO builds VALUES (?,?,?)", (folder, version, fingerprint))

    def built(self, out: str) -> Built | None:
        """What the last build into `out` made: the catalog version and the fingerprint."""
        row = self.db.execute("SELECT version, fingerprint FROM builds WHERE out=?", (key(out),)).fetchone()
        return Built(*row) if row else None

    # -- what a live server served -------------------------------------------------
    def changed_at(self, server: str, variant: str, etag: str, dated: int) -> int:
        """When (Unix seconds) the representation `variant` of a live `server` last changed, its
        bytes now being those of `etag`, the store being `dated` (`Catalog.dated`).

        That is `dated` itself, which every host holding the same files finds: a host that
        started later, or read two changes as one, gives the same bytes the same date.  Only
        when the bytes change while `dated` does not move past the date they had (two edits in
        one second, a file's time set back) is the change dated a second after the one before,
        so that a reader polling with If-Modified-Since alone never misses one.  The bytes last
        dated are kept here, so every worker and every restart agree on that second.  Only the
        newest `MAX_REPRESENTATIONS` filtered ones are kept.
        """
        query = "SELECT etag, since FROM representations WHERE server=? AND variant=?"
        row = self.db.execute(query, (server, variant)).fetchone()
        if row is not None and row[0] == etag:
            return _since(row, etag, dated)
        try:
            return self._date(server, variant, etag, dated, query)
        except sqlite3.OperationalError as exc:
            if not busy(exc):
                raise
            return _since(row, etag, dated)  # another process is updating: kept when next asked for

    def _date(self, server: str, variant: str, etag: str, dated: int, query: str) -> int:
        with waiting(self.db, DATING_WAIT), transaction(self.db):
            row = self.db.execute(query, (server, variant)).fetchone()
            since = _since(row, etag, dated)
            if row is None or row[0] != etag:
                self.db.execute("INSERT OR REPLACE INTO representations VALUES (?,?,?,?)",
                                (server, variant, etag, since))
            if row is None and "?" in variant:
                self._forget_representations(server, dated)
        return since

    def _forget_representations(self, server: str, dated: int) -> None:
        # Only those dated no later than the store go: one dated anew gets the date it had, or a
        # later one (not those a second ahead of it, whose change would be dated no later).
        (count,) = self.db.execute("SELECT count(*) FROM representations WHERE server=? "
                                   "AND variant LIKE '%?%'", (server,)).fetchone()
        if count > MAX_REPRESENTATIONS:
            self.db.execute("DELETE FROM representations WHERE rowid IN (SELECT rowid FROM representations "
                            "WHERE server=? AND variant LIKE '%?%' AND since <= ? ORDER BY since LIMIT ?)",
                            (server, dated, count - MAX_REPRESENTATIONS // 2))

    # -- WebSub ------------------------------------------------------------------
    def announce(self, server: str, fingerprints: Callable[[int | None], dict[str, str | None]],
                 wait: float) -> list[str]:
        """The feeds a live `server` is to announce to its WebSub hubs: those `fingerprints` gives
        (fingerprint by stem; None for a feed gone) whose fingerprint is not the one last announced.
        They are claimed in one write transaction, so that of the workers and hosts sharing this
        catalog only the first to look after a change announces it.

        `fingerprints` runs in that transaction, told the catalog version last announced (None:
        none yet; then what is served now is only taken as the start, and nothing is announced).
        """
        mark = "SELECT digest FROM announced WHERE server=? AND stem=''"
        row = self.db.execute(mark, (server,)).fetchone()
        if row is not None and row[0] == str(self.version()):
            return []  # announced already: found without the write lock
        with waiting(self.db, wait), transaction(self.db):
            version = self.version()
            row = self.db.execute(mark, (server,)).fetchone()
            since = None if row is None else int(row[0])
            if since == version:
                return []
            known = dict(self.db.execute("SELECT stem, digest FROM announced WHERE server=?", (server,)))
            found = fingerprints(since)
            changed = [stem for stem, digest in found.items()
                       if digest is not None and known.get(stem) != digest]
            self.db.executemany("DELETE FROM announced WHERE server=? AND stem=?",
                                [(server, stem) for stem, digest in found.items() if digest is None])
            self.db.executemany("INSERT OR REPLACE INTO announced VALUES (?,?,?)",
                                [(server, stem, found[stem]) for stem in changed])
            self.db.execute("INSERT OR REPLACE INTO announced VALUES (?,'',?)", (server, str(version)))
        return [] if since is None else changed
