"""The record cache: parsed records and written outputs, kept between runs in SQLite.

A file is re-read only when its identity (size, modification time, inode)
changed.  For each file the cache keeps its state, its problems and, for
published records only, the record itself: a light *headline* (what planning
needs) apart from the full payload (what rendering needs), so an unchanged
store is planned without decoding a single full record.  Unpublished records
are kept as a bare state: their text never reaches the cache, and `secured`
is never read into a record in the first place.

Beside the files table, the *snapshot* keeps what `files` returns (every
file's identity, state, problems and headline) as `marshal` blobs, one per
bucket of file names, written in the same transaction as the rows they sum
up: an unchanged store of 100,000 records is known again from 64 reads
instead of 100,000 JSON rows, and one changed file rewrites one bucket.

For each output folder, the cache also keeps what the last build into it
knew (its *memory*: the folder listing, every feed's members and summary,
each file's problems) so that the next build can bring it up to date from
the files that changed alone (see `feeds.memory`).

One cache file per record folder and reading settings, under ``cache_dir``.
SQLite's write-ahead log makes it safe for two processes at once and for a
process killed at any moment; a cache of another format version is rebuilt.
"""

from __future__ import annotations

import functools
import hashlib
import json
import marshal
import os
import sqlite3
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from . import __version__
from .errors import Problem, Severity, printable
from .records import Headline, Image, Provider, ReadResult, Record, Related, Topic
from .settings import Settings

FORMAT = 5
BUCKETS = 64  # snapshot blobs; one changed file rewrites one
UNREADABLE, UNPUBLISHED, PUBLISHED = 0, 1, 2
_READING_SETTINGS = ("drafts", "max_record_bytes", "max_title_chars", "max_excerpt_chars",
                     "max_topic_chars", "max_topics", "max_related", "max_yaml_depth")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    name BLOB PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
    ino INTEGER NOT NULL, state INTEGER NOT NULL, problems TEXT NOT NULL, head TEXT, payload TEXT, link TEXT);
CREATE INDEX IF NOT EXISTS files_link ON files (link);
CREATE TABLE IF NOT EXISTS snapshot (id INTEGER PRIMARY KEY, blob BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS builds (out BLOB PRIMARY KEY, manifest TEXT NOT NULL, listing BLOB NOT NULL,
    feeds BLOB NOT NULL, problems BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS members (out BLOB NOT NULL, stem TEXT NOT NULL, blob BLOB NOT NULL,
    generation INTEGER NOT NULL, PRIMARY KEY (out, stem));
CREATE TABLE IF NOT EXISTS outputs (
    out BLOB NOT NULL, path TEXT NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL, PRIMARY KEY (out, path));
CREATE TABLE IF NOT EXISTS representations (
    server TEXT NOT NULL, variant TEXT NOT NULL, etag TEXT NOT NULL, since INTEGER NOT NULL,
    PRIMARY KEY (server, variant));
"""
BUSY_SECONDS = 60.0  # how long to wait for another process that holds the cache file
MAX_REPRESENTATIONS = 10_000  # filtered representations whose change time is kept, per live server


class Identity(NamedTuple):
    """What tells a file changed without reading it (a tuple: cheap to make by the 100,000).

    The change time is in it because no tool can set it back: an edit whose
    modification time was restored (``cp -p``, ``tar``, ``rsync -t``) still shows.
    """

    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int

    @classmethod
    def of(cls, stat: os.stat_result) -> Identity:
        """The identity of a file from its stat."""
        return cls(stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)


def key(name: str) -> bytes:
    """A file or folder name as the cache keeps it: its bytes (a name need not be UTF-8)."""
    return os.fsencode(name)


def _name(raw: bytes | str) -> str:
    return os.fsdecode(raw)


class Output(NamedTuple):
    """A file a build wrote: the fingerprint of what it holds, and how to tell it is still that file."""

    digest: str
    size: int
    mtime_ns: int
    ctime_ns: int


@dataclass(frozen=True, slots=True)
class Cached:
    """One file as the cache remembers it."""

    identity: Identity
    state: int
    problems: tuple[Problem, ...]
    headline: Headline | None


def default_dir() -> Path:
    """``$XDG_CACHE_HOME/feeds``, or ``~/.cache/feeds``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "feeds"


def cache_path(settings: Settings) -> Path | None:
    """The cache file for these records and reading settings, or None when caching is off."""
    if settings.cache_dir.strip().lower() == "off":
        return None
    folder = Path(settings.cache_dir) if settings.cache_dir.strip() else default_dir()
    key = json.dumps([os.path.realpath(settings.records), FORMAT, __version__,
                      [getattr(settings, name) for name in _READING_SETTINGS]])
    return folder / f"records-{hashlib.sha256(key.encode()).hexdigest()[:20]}.sqlite3"


# -- the record codec ---------------------------------------------------------
@functools.lru_cache(maxsize=16384)
def _provider(name: str, key: str, logo: str | None) -> Provider:
    return Provider(name, key, logo)  # shared: thousands of records name the same provider


@functools.lru_cache(maxsize=16384)
def _topic(name: str, slug: str) -> Topic:
    return Topic(name, slug)


def head_tuple(h: Headline) -> tuple[Any, ...]:
    p = h.provider
    return (h.id, h.source, h.title, h.link, h.published_at.isoformat(), (p.name, p.key, p.logo),
            tuple((t.name, t.slug) for t in h.topics), h.quality, h.heat, h.digest)


def headline(raw: tuple[Any, ...] | list[Any]) -> Headline:
    return Headline(raw[0], raw[1], raw[2], raw[3], datetime.fromisoformat(raw[4]), _provider(*raw[5]),
                    tuple([_topic(*t) for t in raw[6]]), raw[7], raw[8], raw[9])


def _headline_fields(raw: list[Any]) -> dict[str, Any]:
    return {
        "id": raw[0], "source": raw[1], "title": raw[2], "link": raw[3],
        "published_at": datetime.fromisoformat(raw[4]), "provider": _provider(*raw[5]),
        "topics": tuple([_topic(*t) for t in raw[6]]), "quality": raw[7], "heat": raw[8],
        "digest": raw[9],
    }


def encode(record: Record) -> tuple[str, str]:
    """The (headline, payload) JSON of a record."""
    rest = [record.excerpt, record.original_url, record.kind, record.video_url, record.published,
            [[i.url, i.width, i.height] for i in record.images],
            [[r.title, r.url, r.provider, r.published_at.isoformat() if r.published_at else None]
             for r in record.related]]
    return json.dumps(head_tuple(record), ensure_ascii=False), json.dumps(rest, ensure_ascii=False)


# What the cache keeps of one file: state, problems, headline and payload JSON, headline tuple.
Encoded = tuple[int, str, str | None, str | None, tuple[Any, ...] | None]


def encode_result(result: ReadResult) -> Encoded:
    """What the cache keeps of reading one file (made where the file was read: a worker)."""
    record = result.record
    state = PUBLISHED if record else UNPUBLISHED if result.unpublished else UNREADABLE
    head, payload = encode(record) if record else (None, None)
    return (state, _problems_json(result.problems), head, payload,
            head_tuple(record) if record else None)


def decode(head: str, payload: str) -> Record:
    """The full record kept in the cache."""
    rest = json.loads(payload)
    return Record(
        **_headline_fields(json.loads(head)),
        excerpt=rest[0], original_url=rest[1], kind=rest[2], video_url=rest[3], published=rest[4],
        images=tuple(Image(*i) for i in rest[5]),
        related=tuple(Related(r[0], r[1], r[2], datetime.fromisoformat(r[3]) if r[3] else None)
                      for r in rest[6]),
    )


def _problems_json(problems: Iterable[Problem]) -> str:
    return json.dumps([[p.field, p.message, p.severity.value] for p in problems], ensure_ascii=False)


def _problems(source: str, raw: str) -> tuple[Problem, ...]:
    return tuple(Problem(source, f, m, Severity(s)) for f, m, s in json.loads(raw))


class RecordCache:
    """An open cache file; use as a context manager, or call `close`."""

    def __init__(self, path: Path) -> None:
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # The snapshot buckets read so far (all of them once `files` ran), those to write back,
        # and whether one could not be read (then the files table is the truth).
        self._buckets: dict[int, dict[str, tuple[Any, ...]]] = {}
        self._dirty: set[int] = set()
        self._broken = False
        # Shared by a live server's threads, which take turns under the LiveSite lock.
        self.db = sqlite3.connect(path, timeout=BUSY_SECONDS, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        row = self.db.execute("SELECT value FROM meta WHERE key='format'").fetchone()
        if row is None or row[0] != str(FORMAT):
            self._reset()

    @classmethod
    def private(cls) -> RecordCache:
        """A cache in this process's memory alone, gone with it (for a live server with caching off)."""
        return cls(Path(":memory:"))

    def _reset(self) -> None:
        with self.transaction():  # the tables of another format may have other columns
            for table in ("files", "outputs", "meta", "snapshot", "builds", "members", "representations"):
                self.db.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in filter(str.strip, _SCHEMA.split(";")):
                self.db.execute(statement)
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('format', ?)", (str(FORMAT),))

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def __enter__(self) -> RecordCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transaction(self) -> Any:
        """A write transaction, taken at once so two writers queue instead of failing."""
        return _Transaction(self.db)

    # -- records -------------------------------------------------------------
    def files(self) -> dict[str, Cached]:
        """Every file the cache knows, by name."""
        buckets = self._snapshot()
        if buckets is not None:
            try:
                return self._known(buckets)
            except (ValueError, TypeError, IndexError, KeyError):
                pass  # a snapshot of another shape: the files table is the truth
        buckets = {b: {} for b in range(BUCKETS)}
        with _decoding("the files table"):
            for raw, size, mtime, ctime, ino, state, problems, head in self.db.execute(
                    "SELECT name, size, mtime_ns, ctime_ns, ino, state, problems, head FROM files"):
                head_tuple = tuple(json.loads(head)) if head else None
                name = _name(raw)
                buckets[_bucket(name)][name] = (size, mtime, ctime, ino, state, problems, head_tuple)
            self._dirty = set(buckets)
            self._broken = False
            return self._known(buckets)

    def _known(self, buckets: dict[int, dict[str, tuple[Any, ...]]]) -> dict[str, Cached]:
        found = {}
        for raw in buckets.values():
            for name, (size, mtime, ctime, ino, state, problems, head) in raw.items():
                found[name] = Cached(Identity(size, mtime, ctime, ino), state,
                                     _problems(printable(name), problems) if problems != "[]" else (),
                                     headline(head) if head else None)
        self._buckets = buckets
        return found

    def _snapshot(self) -> dict[int, dict[str, tuple[Any, ...]]] | None:
        """Every bucket of the snapshot, or None when one is missing or unreadable."""
        buckets = {}
        for bucket, blob in self.db.execute("SELECT id, blob FROM snapshot"):
            raw = _loads(blob)
            if not isinstance(raw, dict):
                return None
            buckets[bucket] = raw
        return buckets if set(buckets) == set(range(BUCKETS)) else None

    def _bucket_of(self, name: str) -> dict[str, tuple[Any, ...]] | None:
        """The snapshot bucket that holds `name`, read on first use; None when it is broken."""
        bucket = _bucket(name)
        raw = self._buckets.get(bucket)
        if raw is None and not self._broken:
            row = self.db.execute("SELECT blob FROM snapshot WHERE id=?", (bucket,)).fetchone()
            loaded = _loads(row[0]) if row else None
            if isinstance(loaded, dict):
                raw = self._buckets[bucket] = loaded
            else:
                self._broken = True
        self._dirty.add(bucket)
        return None if self._broken else raw

    def remember(self, items: Iterable[tuple[str, Identity, Encoded]]) -> None:
        """Store what reading these files gave, as `encode_result` put it."""
        rows = []
        for name, ident, (state, problems, head, payload, head_tuple) in items:
            rows.append((key(name), *ident, state, problems, head, payload,
                         head_tuple[3] if head_tuple else None))
            raw = self._bucket_of(name)
            if raw is not None:
                raw[name] = (*ident, state, problems, head_tuple)
        self.db.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?,?,?)", rows)

    def forget(self, names: Iterable[str]) -> None:
        """Drop files that left the store."""
        gone = [(n,) for n in names]
        for (name,) in gone:
            raw = self._bucket_of(name)
            if raw is not None:
                raw.pop(name, None)
        self.db.executemany("DELETE FROM files WHERE name=?", [(key(n),) for (n,) in gone])

    def save_snapshot(self) -> None:
        """Write the snapshot buckets that `remember` and `forget` changed.

        Call it inside the transaction that wrote those rows.
        """
        if self._broken:  # the next `files` rebuilds it from the table
            self.db.execute("DELETE FROM snapshot")
        else:
            self.db.executemany("INSERT OR REPLACE INTO snapshot VALUES (?, ?)",
                                [(b, marshal.dumps(self._buckets[b])) for b in sorted(self._dirty)])
        self._dirty.clear()
        self._buckets = {}  # not held while the build goes on; read again when needed

    def states(self, names: Iterable[str]) -> dict[str, tuple[int, Headline | None, Identity]]:
        """The state, headline and identity of these files as the cache holds them now."""
        found = {}
        wanted = [key(n) for n in names]
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ",".join("?" * len(chunk))
            with _decoding("the files table"):
                for name, state, head, *identity in self.db.execute(
                        f"SELECT name, state, head, size, mtime_ns, ctime_ns, ino FROM files "
                        f"WHERE name IN ({marks})", chunk):
                    found[_name(name)] = (state, headline(json.loads(head)) if head else None,
                                          Identity(*identity))
        return found

    def shares_link(self, link: str, name: str) -> bool:
        """True when a file other than `name` holds a published record of `link`."""
        return self.db.execute("SELECT 1 FROM files WHERE link=? AND name!=? LIMIT 1",
                               (link, key(name))).fetchone() is not None

    def records(self, names: Iterable[str]) -> dict[str, Record]:
        """The full records of these files, by file name."""
        wanted = [key(n) for n in names]
        found = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ",".join("?" * len(chunk))
            with _decoding("the files table"):
                for name, head, payload in self.db.execute(
                        f"SELECT name, head, payload FROM files WHERE name IN ({marks}) "
                        "AND payload IS NOT NULL", chunk):
                    found[_name(name)] = decode(head, payload)
        return found

    # -- what the last build into a folder knew --------------------------------
    def memory(self, out: str) -> tuple[str, Any, Any, Any] | None:
        """The manifest (JSON) and the listing, feeds and problems kept for `out`, or None."""
        row = self.db.execute("SELECT manifest, listing, feeds, problems FROM builds WHERE out=?",
                              (key(out),)).fetchone()
        if row is None:
            return None
        manifest, *blobs = row
        return manifest, *[_loads(blob) for blob in blobs]

    def remember_build(self, out: str, manifest: str, listing: Any, feeds: Any, problems: Any) -> None:
        """Keep what a build into `out` knew (call `save_members` in the same transaction)."""
        self.db.execute("INSERT OR REPLACE INTO builds VALUES (?,?,?,?,?)",
                        (key(out), manifest, marshal.dumps(listing), marshal.dumps(feeds),
                         marshal.dumps(problems)))

    def members(self, out: str, stems: Iterable[str]) -> dict[str, Any]:
        """The members kept for these feeds of `out` (a feed kept unreadable is left out)."""
        found = {}
        for stem in stems:
            row = self.db.execute("SELECT blob FROM members WHERE out=? AND stem=?",
                                  (key(out), stem)).fetchone()
            if row is not None and (members := _loads(row[0])) is not None:
                found[stem] = members
        return found

    def feed_members(self, out: str, stem: str) -> tuple[Any, int] | None:
        """The members kept for one feed of `out` and the generation they were saved at, or None."""
        row = self.db.execute("SELECT blob, generation FROM members WHERE out=? AND stem=?",
                              (key(out), stem)).fetchone()
        if row is None or (members := _loads(row[0])) is None:
            return None
        return members, row[1]

    def generations(self, out: str) -> dict[str, int]:
        """The generation of every feed's members kept for `out`, by stem."""
        return dict(self.db.execute("SELECT stem, generation FROM members WHERE out=?", (key(out),)))

    def next_generation(self) -> int:
        """A generation later than any this cache gave before (inside a write transaction)."""
        row = self.db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        generation = (int(row[0]) if row and str(row[0]).isdigit() else 0) + 1
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('generation', ?)", (str(generation),))
        return generation

    def save_members(self, out: str, members: dict[str, Any], generation: int, gone: Iterable[str] = (),
                     everything: bool = False) -> None:
        """Keep the members of these feeds of `out` at `generation`, and drop the `gone` ones (or,
        with `everything`, all others)."""
        folder = key(out)
        if everything:
            self.db.execute("DELETE FROM members WHERE out=?", (folder,))
        self.db.executemany("DELETE FROM members WHERE out=? AND stem=?", [(folder, s) for s in gone])
        self.db.executemany("INSERT OR REPLACE INTO members VALUES (?,?,?,?)",
                            [(folder, stem, marshal.dumps(rows), generation)
                             for stem, rows in members.items()])

    # -- what the live server served ---------------------------------------------
    def changed_at(self, server: str, variant: str, etag: str, now: int) -> int:
        """When (Unix seconds) the representation `variant` of a live `server` last changed, its
        bytes now being those of `etag`; kept here, so every worker and every restart agree.

        A change is dated `now`, and at least a second after the change before it, so a
        reader polling with If-Modified-Since alone never misses one.  Only the newest
        `MAX_REPRESENTATIONS` filtered ones are kept: one forgotten is dated anew when next
        served, later than it really changed, which costs a reader one full response.
        """
        query = "SELECT etag, since FROM representations WHERE server=? AND variant=?"
        row = self.db.execute(query, (server, variant)).fetchone()
        if row is not None and row[0] == etag:
            return int(row[1])
        with self.transaction():
            row = self.db.execute(query, (server, variant)).fetchone()
            if row is not None and row[0] == etag:
                return int(row[1])
            since = now if row is None else max(now, int(row[1]) + 1)
            self.db.execute("INSERT OR REPLACE INTO representations VALUES (?,?,?,?)",
                            (server, variant, etag, since))
            if row is None and "?" in variant:
                self._forget_representations(server, now)
        return since

    def _forget_representations(self, server: str, now: int) -> None:
        # Only dates over a minute old go: one dated anew is then surely later than it, even if
        # changes came faster than one a second and ran its date ahead of the clock.
        (count,) = self.db.execute("SELECT count(*) FROM representations WHERE server=? "
                                   "AND variant LIKE '%?%'", (server,)).fetchone()
        if count > MAX_REPRESENTATIONS:
            self.db.execute("DELETE FROM representations WHERE rowid IN (SELECT rowid FROM representations "
                            "WHERE server=? AND variant LIKE '%?%' AND since < ? ORDER BY since LIMIT ?)",
                            (server, now - 60, count - MAX_REPRESENTATIONS // 2))

    # -- outputs -------------------------------------------------------------
    def outputs(self, out: str) -> dict[str, Output]:
        """What was last written under `out`, by site path."""
        rows = self.db.execute("SELECT path, digest, size, mtime_ns, ctime_ns FROM outputs WHERE out=?",
                               (key(out),))
        return {path: Output(*output) for path, *output in rows}

    def wrote(self, out: str, rows: Iterable[tuple[str, Output]], gone: Iterable[str]) -> None:
        """Remember what is now under `out` (path and what was written there), and what left."""
        folder = key(out)
        self.db.executemany("INSERT OR REPLACE INTO outputs VALUES (?,?,?,?,?,?)",
                            [(folder, path, *output) for path, output in rows])
        self.db.executemany("DELETE FROM outputs WHERE out=? AND path=?", [(folder, p) for p in gone])


def _bucket(name: str) -> int:
    return zlib.crc32(name.encode("utf-8", "surrogateescape")) % BUCKETS


def _loads(blob: bytes) -> Any:
    """A marshal blob, or None when it cannot be read."""
    try:
        return marshal.loads(blob)
    except (ValueError, EOFError, TypeError):
        return None


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *rest: object) -> None:
        self.db.execute("ROLLBACK" if kind else "COMMIT")


def open_cache(settings: Settings) -> tuple[RecordCache | None, str | None]:
    """The cache for these settings, and a warning when it cannot be used.

    None when caching is off, with drafts (whose unpublished text the cache
    must never hold), or when the file cannot be opened (then with the warning).
    """
    path = cache_path(settings)
    if path is None or settings.drafts:
        return None, None
    try:
        return RecordCache(path), None
    except (OSError, sqlite3.DatabaseError) as exc:
        if isinstance(exc, sqlite3.DatabaseError) and not unusable(exc):
            raise
        return None, unusable_warning(path, exc)


class DamagedRow(sqlite3.DatabaseError):
    """A row of the cache that does not decode into what was written to it."""


@contextmanager
def _decoding(what: str) -> Iterator[None]:
    """Rows read from `what` that do not decode are a damaged cache, not a crash."""
    try:
        yield
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise DamagedRow(f"{what} holds a damaged row ({type(exc).__name__}: {exc})") from exc


_BUSY = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED: another process holds the file; waiting longer may do


def busy(exc: BaseException) -> bool:
    """True when `exc` says another process held the cache file for longer than we waited."""
    return isinstance(exc, sqlite3.OperationalError) and getattr(exc, "sqlite_errorcode", None) in _BUSY


def unusable(exc: BaseException) -> bool:
    """True when `exc` comes from a cache file that cannot be used (damaged, full disk,
    read-only, gone); False for anything else: our own mistakes in SQL, a busy file."""
    return (isinstance(exc, sqlite3.DatabaseError) and not busy(exc)
            and not isinstance(exc, sqlite3.ProgrammingError | sqlite3.InterfaceError))


def _writable(path: Path) -> bool:
    return os.access(path.parent, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))


def unusable_warning(path: Path, exc: BaseException) -> str:
    """One line naming the cache file, what is wrong with it and the fix."""
    text = str(exc) or type(exc).__name__
    if "readonly" in text or getattr(exc, "errno", None) in (1, 13, 30) or not _writable(path):
        fix = "make its folder writable, or set cache_dir to a writable folder ('off' for no cache)"
    elif "full" in text or getattr(exc, "errno", None) == 28:
        fix = "free disk space, or set cache_dir to a folder on another disk ('off' for no cache)"
    else:
        fix = "delete it; the next build makes a new one"
    return f"{path}: the record cache cannot be used ({text}); going on without it: {fix}"
