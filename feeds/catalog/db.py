"""The catalog's SQLite file: where it lives, its schema and format, opening it, and the row codec.

One catalog file per record folder and reading settings, under ``cache_dir``
(``off``, or drafts, whose unpublished text must never reach a disk: the same
catalog in ``:memory:``).  SQLite's write-ahead log lets readers go on while
one writer updates, and makes the file safe for a process killed at any moment.
A file of another format, or written by other code, is emptied and filled again.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import marshal
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from .. import __version__
from ..errors import Problem, Severity
from ..records import Headline, Image, Provider, Record, Related, Topic
from ..settings import Settings

# Every fallback to a catalog in memory is logged here (at INFO: the edges tell the user once, as a
# warning of their own); the test suite fails a test in which one happens unexpectedly.
log = logging.getLogger("feeds.catalog")
log.setLevel(logging.INFO)
FORMAT = 11
BUSY_SECONDS = 60.0  # how long to wait for another process that holds the write lock
UNREADABLE, UNPUBLISHED, PUBLISHED = 0, 1, 2
_READING_SETTINGS = ("drafts", "max_record_bytes", "max_title_chars", "max_excerpt_chars",
                     "max_topic_chars", "max_topics", "max_related", "max_yaml_depth", "top_heat")
_TABLES = ("meta", "listing", "files", "records", "members", "feeds", "outputs", "builds", "representations",
           "pages", "stories", "story_of", "announced", "days")
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS listing (part INTEGER PRIMARY KEY, entries BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS files (name BLOB PRIMARY KEY, state INTEGER NOT NULL, problems TEXT);
CREATE TABLE IF NOT EXISTS records (
    rec INTEGER PRIMARY KEY, name BLOB NOT NULL, id TEXT NOT NULL, link TEXT NOT NULL,
    at REAL NOT NULL, shown INTEGER NOT NULL, feeds TEXT NOT NULL, head TEXT NOT NULL, payload TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS members (
    feed TEXT NOT NULL, at REAL NOT NULL, id TEXT NOT NULL, rec INTEGER NOT NULL, shown INTEGER NOT NULL,
    digest TEXT NOT NULL, name TEXT NOT NULL, logo TEXT, quality INTEGER, heat INTEGER,
    day INTEGER NOT NULL, hash INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS pages (key TEXT NOT NULL, rec INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS days (
    feed TEXT NOT NULL, day INTEGER NOT NULL, members INTEGER NOT NULL, high INTEGER NOT NULL,
    low INTEGER NOT NULL, PRIMARY KEY (feed, day)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stories (
    row INTEGER PRIMARY KEY, story TEXT NOT NULL, digest TEXT NOT NULL, head TEXT NOT NULL,
    payload TEXT NOT NULL, places TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS story_of (rec INTEGER PRIMARY KEY, row INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS feeds (
    stem TEXT PRIMARY KEY, rank INTEGER NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL,
    total INTEGER NOT NULL, logo TEXT, newest INTEGER NOT NULL, newest_id TEXT NOT NULL,
    newest_digest TEXT NOT NULL);
{INDEXES}
CREATE TABLE IF NOT EXISTS outputs (
    out BLOB NOT NULL, path TEXT NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL, PRIMARY KEY (out, path));
CREATE TABLE IF NOT EXISTS builds (out BLOB PRIMARY KEY, version INTEGER NOT NULL, fingerprint TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS representations (
    server TEXT NOT NULL, variant TEXT NOT NULL, etag TEXT NOT NULL, since INTEGER NOT NULL,
    PRIMARY KEY (server, variant));
CREATE TABLE IF NOT EXISTS announced (
    server TEXT NOT NULL, stem TEXT NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (server, stem));
"""
# Indexes of the tables that a cold store fills in bulk: made after the rows, a sort each, rather
# than kept up to date row by row (half the time at 100,000 records).
INDEXES = """
CREATE UNIQUE INDEX IF NOT EXISTS records_name ON records (name);
CREATE INDEX IF NOT EXISTS records_link ON records (link, name);
CREATE INDEX IF NOT EXISTS members_feed ON members (
    feed, shown, at, id, rec, digest, quality, heat, day, hash);
CREATE INDEX IF NOT EXISTS files_problems ON files (name) WHERE problems IS NOT NULL;
CREATE INDEX IF NOT EXISTS files_state ON files (state);
CREATE INDEX IF NOT EXISTS records_hidden ON records (name) WHERE shown = 0;
CREATE INDEX IF NOT EXISTS pages_key ON pages (key, rec);
CREATE INDEX IF NOT EXISTS pages_rec ON pages (rec);
CREATE UNIQUE INDEX IF NOT EXISTS stories_story ON stories (story);
CREATE INDEX IF NOT EXISTS story_of_row ON story_of (row);
"""
SCHEMA = SCHEMA.replace("{INDEXES}", INDEXES)
INDEX_NAMES = ("records_name", "records_link", "members_feed", "files_problems", "files_state",
               "records_hidden", "pages_key", "pages_rec", "stories_story", "story_of_row")


def default_dir() -> Path:
    """``$XDG_CACHE_HOME/feeds``, or ``~/.cache/feeds``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "feeds"


def catalog_path(settings: Settings) -> Path | None:
    """The catalog file for these records and reading settings; None for one in memory
    (``cache_dir = off``, or drafts)."""
    if settings.cache_dir.strip().lower() == "off" or settings.drafts:
        return None
    folder = Path(settings.cache_dir) if settings.cache_dir.strip() else default_dir()
    key = json.dumps([os.path.realpath(settings.records), FORMAT, reader_digest(),
                      [getattr(settings, name) for name in _READING_SETTINGS]])
    return folder / f"records-{hashlib.sha256(key.encode()).hexdigest()[:20]}.sqlite3"


_LOW, _HIGH = -(2**63), 2**63


def int64(value: int) -> int:
    """`value` as a signed 64-bit integer, as SQLite keeps it: a time past 2262 or an inode above
    2**63 wraps around, and still differs from any other value a file could have."""
    return value if _LOW <= value < _HIGH else (value - _LOW) % 2**64 + _LOW


def stamp(info: os.stat_result) -> tuple[int, int, int]:
    """An output file's size, modification and change times, as the catalog keeps them."""
    return info.st_size, int64(info.st_mtime_ns), int64(info.st_ctime_ns)


@functools.cache
def reader_digest() -> str:
    """Changes with the code that reads records into the catalog: a catalog written by other code
    (another version, another checkout sharing ``cache_dir``) is another file."""
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.blake2b(__version__.encode(), digest_size=16)
    for path in sorted([*package.glob("*.py"), *package.glob("catalog/*.py")]):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def key(name: str) -> bytes:
    """A file or folder name as the catalog keeps it: its bytes (a name need not be UTF-8)."""
    return os.fsencode(name)


def connect(path: Path | None) -> sqlite3.Connection:
    """An open catalog (in memory for None), emptied first when it is of another format or code."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(":memory:" if path is None else path, timeout=BUSY_SECONDS,
                         isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA cache_size=-16384")  # 16 MiB of pages per connection, however large the store
        db.text_factory = _text  # text that is not UTF-8 is a damaged row (decoded inside `decoding`)
        if _format_of(db) != _format():
            with transaction(db):  # the format is checked before the schema: another may have other columns
                if _format_of(db) != _format():
                    for table in _TABLES:
                        db.execute(f"DROP TABLE IF EXISTS {table}")
                    for statement in filter(str.strip, SCHEMA.split(";")):
                        db.execute(statement)
                    db.execute("INSERT INTO meta VALUES ('format', ?)", (_format(),))
                    db.execute("INSERT INTO meta VALUES ('version', '0')")
    except BaseException:
        db.close()
        raise
    return db


def _text(raw: bytes) -> str:
    return raw.decode("utf-8")  # strictly: a UnicodeDecodeError is a ValueError, caught by `decoding`


def _format_of(db: sqlite3.Connection) -> str | None:
    """The format the catalog file says it is in (None for a new file)."""
    with decoding("the catalog's meta table"):
        try:
            row = db.execute("SELECT value FROM meta WHERE key='format'").fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
            return None
        return row[0] if row else None


def _format() -> str:
    return f"{FORMAT} {__version__} {reader_digest()}"


@contextmanager
def transaction(db: sqlite3.Connection, write: bool = True) -> Iterator[None]:
    """A transaction: a write one taken at once (writers queue instead of failing), or a read one
    that sees one version of the catalog from its first query to its end."""
    db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


@contextmanager
def waiting(db: sqlite3.Connection, seconds: float) -> Iterator[None]:
    """Wait up to `seconds` (rather than `BUSY_SECONDS`) for another process's write lock."""
    db.execute(f"PRAGMA busy_timeout={int(seconds * 1000)}")
    try:
        yield
    finally:
        db.execute(f"PRAGMA busy_timeout={int(BUSY_SECONDS * 1000)}")


# -- the row codec --------------------------------------------------------------
class DamagedRow(sqlite3.DatabaseError):
    """A row of the catalog that does not decode into what was written to it."""


@contextmanager
def decoding(what: str) -> Iterator[None]:
    """Rows read from `what` that do not decode are a damaged catalog, not a crash: logged, and
    raised as `DamagedRow` (the edges then go on without the file)."""
    try:
        yield
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        log.info("fallback: %s holds a damaged row (%s: %s)", what, type(exc).__name__, exc)
        raise DamagedRow(f"{what} holds a damaged row ({type(exc).__name__}: {exc})") from exc


@functools.lru_cache(maxsize=16384)
def _provider(name: str, key: str, logo: str | None) -> Provider:
    return Provider(name, key, logo)  # shared: thousands of records name the same provider


@functools.lru_cache(maxsize=16384)
def _topic(name: str, slug: str) -> Topic:
    return Topic(name, slug)


def encode_head(h: Headline) -> str:
    """What planning and pages need of a record, as JSON."""
    p = h.provider
    return json.dumps([h.id, h.source, h.title, h.link, h.published_at.isoformat(), [p.name, p.key, p.logo],
                       [[t.name, t.slug] for t in h.topics], h.quality, h.heat, h.digest,
                       h.updated_at.isoformat() if h.updated_at else None], ensure_ascii=False)


def _related(items: tuple[Related, ...]) -> list[list[str | None]]:
    return [[r.title, r.url, r.provider, r.published_at.isoformat() if r.published_at else None]
            for r in items]


def _unrelated(items: list[list[str | None]]) -> tuple[Related, ...]:
    return tuple(Related(r[0], r[1], r[2],  # type: ignore[arg-type]
                         datetime.fromisoformat(r[3]) if r[3] else None) for r in items)


def encode_payload(record: Record) -> str:
    """The rest of a record, as JSON."""
    return json.dumps([record.excerpt, record.original_url, record.kind, record.video_url, record.published,
                       [[i.url, i.width, i.height] for i in record.images], _related(record.related),
                       _related(record.coverage)], ensure_ascii=False)


def _head_fields(head: str) -> dict[str, Any]:
    """The fields of a record's head (raises on a damaged row: decode inside `decoding`)."""
    (id_, source, title, link, published_at, provider, topics, quality, heat, digest,
     updated_at) = json.loads(head)
    return {"id": id_, "source": source, "title": title, "link": link,
            "published_at": datetime.fromisoformat(published_at), "provider": _provider(*provider),
            "topics": tuple([_topic(*t) for t in topics]), "quality": quality, "heat": heat, "digest": digest,
            "updated_at": datetime.fromisoformat(updated_at) if updated_at else None}


def decode_head(head: str) -> Headline:
    """The headline of a record kept in the catalog (raises on a damaged row: decode inside `decoding`)."""
    return Headline(**_head_fields(head))


def decode(head: str, payload: str) -> Record:
    """The full record kept in the catalog (raises on a damaged row: decode inside `decoding`)."""
    fields = _head_fields(head)
    (excerpt, original_url, kind, video_url, published, images, related, coverage) = json.loads(payload)
    return Record(
        **fields, excerpt=excerpt, original_url=original_url, kind=kind,
        video_url=video_url, published=published, images=tuple(Image(*i) for i in images),
        related=_unrelated(related), coverage=_unrelated(coverage),
    )


def encode_listing(entries: Iterable[tuple[str, int, int, int, int]]) -> bytes:
    """The folder's record files with their identities, as one value: read and compared in
    milliseconds where 100,000 rows take a quarter of a second.  Marshal's format 2 keeps no
    table of the objects written, which halves the time to write it."""
    return marshal.dumps([tuple(entry) for entry in entries], 2)  # plain tuples: marshal takes no subclass


def decode_listing(raw: bytes) -> list[tuple[str, int, int, int, int]]:
    """The listing `encode_listing` wrote (raises on a damaged row: decode inside `decoding`).

    Each entry's shape is checked where it is used (`catalog._by_name`): a listing equal to the
    folder's needs no check."""
    try:
        listing = marshal.loads(raw)
    except EOFError as exc:  # a value cut short: marshal says so with an EOFError, not a ValueError
        raise ValueError(f"the listing is cut short ({exc})") from None
    if type(listing) is not list:
        raise ValueError("the listing is not a list")
    return listing


def encode_problems(problems: list[Problem]) -> str | None:
    """A file's problems as JSON (None for none)."""
    if not problems:
        return None
    return json.dumps([[p.field, p.message, p.severity.value] for p in problems], ensure_ascii=False)


def decode_problems(source: str, raw: str | None) -> list[Problem]:
    """A file's problems (raises on a damaged row: decode inside `decoding`)."""
    return [Problem(source, f, m, Severity(s)) for f, m, s in json.loads(raw)] if raw else []


# -- when the file cannot be used -------------------------------------------------
_BUSY = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED: another process holds the file; waiting longer may do


def busy(exc: BaseException) -> bool:
    """True when `exc` says another process held the catalog for longer than we waited."""
    return isinstance(exc, sqlite3.OperationalError) and getattr(exc, "sqlite_errorcode", None) in _BUSY


# SQLITE_PERM, READONLY, IOERR, CORRUPT, FULL, CANTOPEN, NOTADB: the file, not our SQL, is at fault.
_UNUSABLE = (3, 8, 10, 11, 13, 14, 26)


def unusable(exc: BaseException) -> bool:
    """True when `exc` comes from a catalog file that cannot be used (damaged, full disk,
    read-only, gone); False for anything else: our own mistakes in SQL, a busy file."""
    if isinstance(exc, DamagedRow):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.DatabaseError) and code is not None and code & 0xFF in _UNUSABLE


def _writable(path: Path) -> bool:
    return os.access(path.parent, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))


def unusable_warning(path: Path, exc: BaseException) -> str:
    """One line naming the catalog file, what is wrong with it and the fix."""
    text = str(exc) or type(exc).__name__
    if "readonly" in text or getattr(exc, "errno", None) in (1, 13, 30) or not _writable(path):
        fix = "make its folder writable, or set cache_dir to a writable folder ('off' for no cache)"
    elif "full" in text or getattr(exc, "errno", None) == 28:
        fix = "free disk space, or set cache_dir to a folder on another disk ('off' for no cache)"
    else:
        fix = "delete it; the next build makes a new one"
    return f"{path}: the record cache cannot be used ({text}); going on without it: {fix}"


class Output(NamedTuple):
    """A file a build wrote: the fingerprint of what it holds, and how to tell it is still that file."""

    digest: str
    size: int
    mtime_ns: int
    ctime_ns: int
