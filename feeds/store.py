"""The record store: a folder of record files, read into published `Record`s.

Only regular files named ``*.md`` or ``*.txt`` directly in the folder are
read; anything else that carries those names (a FIFO, a device, a folder, a
link leading out of the store) is skipped without being opened.  The same
article in two files (same link) is published once.
"""

from __future__ import annotations

import multiprocessing
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from .cache import UNPUBLISHED, Encoded, Identity, RecordCache, encode_result
from .errors import Problem, Severity, StoreError, printable, skipped
from .records import RECORD_SUFFIXES, Headline, ReadResult, Record, read_record
from .settings import Settings

Progress = Callable[[int], None]
PARALLEL_FROM = 2_000  # below this, starting processes costs more than it saves
CHUNK = 500


@dataclass(frozen=True)
class Store:
    """The published records of a folder, newest first, and what was wrong with the rest.

    `records` holds full `Record`s for files read in this run and `Headline`s
    for files the cache already knew; `full` turns either into full records.
    """

    records: tuple[Headline, ...]
    problems: tuple[Problem, ...]
    files: int = 0
    unpublished: int = 0
    duplicates: int = 0
    cache: RecordCache | None = None
    # The file name of each record held, by id: a record's `source` is its name made
    # printable, which is not the cache's key for a name outside ASCII.
    names: dict[int, str] = field(default_factory=dict, repr=False, compare=False)
    # The problems of each file that has some, by file name, in the order of `problems`.
    file_problems: dict[str, list[Problem]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def skipped(self) -> int:
        """How many record files could not be published because of an error."""
        return skipped(self.problems)

    def full(self, headlines: Iterable[Headline]) -> tuple[Record, ...]:
        """The full records of `headlines`, loading from the cache those not in memory."""
        headlines = tuple(headlines)
        missing = [self.names[id(h)] for h in headlines if not isinstance(h, Record)]
        loaded: dict[str, Record] = {}
        if missing:
            if self.cache is None:
                raise StoreError("the record cache was closed before the records were rendered")
            loaded = self.cache.records(missing)
        return tuple(h if isinstance(h, Record) else loaded[self.names[id(h)]] for h in headlines)


class Entry(NamedTuple):
    """One candidate record file: its name in the store and what tells it changed.

    A plain tuple, made by the 100,000: a store's listing compares with the
    last one kept (`feeds.memory`) in one C-level comparison.
    """

    name: str
    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int

    @property
    def identity(self) -> Identity:
        """Size, modification and change times and inode, as the cache keeps them."""
        return Identity(self.size, self.mtime_ns, self.ctime_ns, self.ino)


def scan(root: Path) -> tuple[list[Entry], list[Problem]]:
    """The record files of `root`, sorted by name, and the entries skipped unopened."""
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        raise StoreError(f"{root}: no such record folder; pass --records DIR") from None
    except NotADirectoryError:
        raise StoreError(f"{root}: not a folder; pass the folder that holds the records") from None
    except OSError as exc:
        raise StoreError(f"{root}: cannot list the record folder ({exc.strerror})") from None
    real_root = os.path.realpath(root)
    entries: list[Entry] = []
    problems: list[Problem] = []
    new, is_file, stat_at = tuple.__new__, stat.S_ISREG, os.stat
    try:
        for name in sorted(os.listdir(fd)):
            if name.startswith(".") or not name.lower().endswith(RECORD_SUFFIXES):
                continue
            try:
                info = stat_at(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue  # gone since the listing: as if it had never been there
            except (OSError, ValueError):
                problems.append(Problem(printable(name), "file",
                                        "cannot be examined (no permission); skipped"))
                continue
            if not is_file(info.st_mode):  # a link, a folder, a FIFO: looked at more closely
                found = _record_file(os.path.join(root, name), info, real_root)
                if isinstance(found, str):
                    problems.append(Problem(printable(name), "file", found + "; skipped"))
                    continue
                info = found
            entries.append(new(Entry, (name, info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)))
    except OSError as exc:
        raise StoreError(f"{root}: cannot list the record folder ({exc.strerror})") from None
    finally:
        os.close(fd)
    return entries, problems


def _record_file(path: str, info: os.stat_result, real_root: str) -> os.stat_result | str:
    """The stat of a record file that is not a plain file, or why it is not one (never opened)."""
    try:
        if stat.S_ISLNK(info.st_mode):
            target = os.path.realpath(path)
            if os.path.commonpath([target, real_root]) != real_root:
                return "is a link leading outside the record folder"
            info = os.stat(target)
    except (OSError, ValueError):
        return "cannot be examined (broken link or no permission)"
    if stat.S_ISDIR(info.st_mode):
        return "is a folder, not a record file"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file (FIFO, socket or device)"
    return info


def read_file(entry: Entry, settings: Settings) -> ReadResult:
    """Read and parse one record file, refusing what is too large or not a file."""
    source = printable(entry.name)
    try:
        data = read_bytes(os.path.join(settings.records, entry.name), settings.max_record_bytes)
    except _TooLarge:
        return _failed(source, f"is larger than {settings.max_record_bytes} bytes "
                               "(max_record_bytes); skipped")
    except OSError as exc:
        return _failed(source, f"cannot be read ({exc.strerror or exc})")
    return read_record(source, data, settings)


class _TooLarge(Exception):
    pass


def read_bytes(path: str | Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, never blocking on a FIFO."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(0, "not a regular file")
        if info.st_size > limit:
            raise _TooLarge
        # Ask for what fstat promises plus one byte, then read on to the end (a file may grow
        # while read), never past `limit` + 1: a limit-sized buffer per file costs more than
        # reading the file.
        chunks: list[bytes] = []
        total, want = 0, min(info.st_size, limit) + 1
        while want > 0:
            chunk = os.read(fd, want)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            want = min(1 << 16, limit + 1 - total)
        data = b"".join(chunks) if len(chunks) != 1 else chunks[0]
        if len(data) > limit:
            raise _TooLarge
        return data
    finally:
        os.close(fd)


def _failed(source: str, message: str) -> ReadResult:
    return ReadResult(source, problems=[Problem(source, "file", message, Severity.ERROR)])


@dataclass(frozen=True, slots=True)
class _Known:
    """One file's outcome, fresh from reading or remembered by the cache."""

    name: str
    problems: tuple[Problem, ...] | list[Problem]
    unpublished: bool
    headline: Headline | None


def collect(outcomes: Iterable[_Known], problems: list[Problem], files: int,
            cache: RecordCache | None = None) -> Store:
    """Assemble outcomes (in file-name order) into a `Store`: dedupe by link, newest first."""
    by_link: dict[str, Headline] = {}
    names: dict[int, str] = {}
    file_problems: dict[str, list[Problem]] = {}
    unpublished = duplicates = 0
    for outcome in outcomes:
        own = list(outcome.problems)
        unpublished += outcome.unpublished
        record = outcome.headline
        if record is not None:
            first = by_link.get(record.link)
            if first is None:
                by_link[record.link] = record
                names[id(record)] = outcome.name
            else:
                duplicates += 1
                own.append(Problem(record.source, "webUrl",
                                   f"same link as {first.source}; the article is published once, "
                                   f"from {first.source}"))
        if own:
            problems.extend(own)
            file_problems[outcome.name] = own
    records = sorted(by_link.values(), key=lambda r: r.sort_key)
    return Store(tuple(records), tuple(problems), files, unpublished, duplicates, cache, names,
                 file_problems)


Read = tuple[ReadResult, Encoded | None]


def _read(entry: Entry, settings: Settings, encoded: bool) -> Read:
    result = read_file(entry, settings)
    return result, encode_result(result) if encoded else None


def _read_chunk(job: tuple[list[Entry], Settings, bool]) -> list[Read]:
    entries, settings, encoded = job
    return [_read(entry, settings, encoded) for entry in entries]


def read_files(entries: list[Entry], settings: Settings, progress: Progress | None = None,
               encoded: bool = False) -> list[Read]:
    """Read `entries` in order, on every core when there are many of them.

    With `encoded`, each result comes with what the cache keeps of it, made in
    the worker that read the file rather than in the one process that writes the cache.
    """
    jobs = settings.jobs or os.cpu_count() or 1
    if jobs < 2 or len(entries) < PARALLEL_FROM:
        results = []
        for entry in entries:
            results.append(_read(entry, settings, encoded))
            if progress:
                progress(1)
        return results
    chunks = [(entries[i:i + CHUNK], settings, encoded) for i in range(0, len(entries), CHUNK)]
    results = []
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        for chunk in pool.imap(_read_chunk, chunks):
            results.extend(chunk)
            if progress:
                progress(len(chunk))
    return results


def load_store(settings: Settings, progress: Progress | None = None,
               cache: RecordCache | None = None,
               scanned: tuple[list[Entry], list[Problem]] | None = None) -> Store:
    """Read the record files of ``settings.records`` (only the changed ones, given a cache).

    `scanned` is what `scan` just gave for the folder, when the caller already has it.
    """
    entries, problems = scanned if scanned is not None else scan(Path(settings.records))
    problems = list(problems)
    known = cache.files() if cache else {}
    stale = [e for e in entries if (k := known.get(e.name)) is None or k.identity != e[1:]]
    if progress and len(stale) < len(entries):
        progress(len(entries) - len(stale))
    read = read_files(stale, settings, progress, encoded=cache is not None)
    fresh = {e.name: result for e, (result, _) in zip(stale, read, strict=True)}
    rows = [(e.name, e.identity, row) for e, (_, row) in zip(stale, read, strict=True) if row is not None]
    del read
    if cache is not None:
        names = {e.name for e in entries}
        with cache.transaction():
            cache.remember(rows)
            cache.forget(name for name in known if name not in names)
            cache.save_snapshot()
    del rows  # what the cache keeps of each file is not held on to while planning and rendering
    outcomes = []
    for entry in entries:
        result = fresh.get(entry.name)
        if result is not None:
            outcomes.append(_Known(entry.name, result.problems, result.unpublished, result.record))
        else:
            k = known[entry.name]
            outcomes.append(_Known(entry.name, k.problems, k.state == UNPUBLISHED, k.headline))
    return collect(outcomes, problems, len(entries), cache)
