"""The record store: a folder of record files, read into published `Record`s.

Only regular files named ``*.md`` or ``*.txt`` directly in the folder are
read; anything else that carries those names (a FIFO, a device, a folder, a
link leading out of the store) is skipped without being opened.  The same
article in two files (same link) is published once.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import Problem, Severity, StoreError
from .records import RECORD_SUFFIXES, ReadResult, Record, read_record
from .settings import Settings

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Store:
    """The published records of a folder, newest first, and what was wrong with the rest."""

    records: tuple[Record, ...]
    problems: tuple[Problem, ...]
    files: int = 0
    unpublished: int = 0
    duplicates: int = 0

    @property
    def skipped(self) -> int:
        """How many record files could not be published because of an error."""
        return len({p.file for p in self.problems if p.is_error})


@dataclass(frozen=True, slots=True)
class Entry:
    """One candidate record file: its name in the store and its path."""

    name: str
    path: Path


def scan(root: Path) -> tuple[list[Entry], list[Problem]]:
    """The record files of `root`, sorted by name, and the entries skipped unopened."""
    try:
        listing = sorted(os.scandir(root), key=lambda e: e.name)
    except FileNotFoundError:
        raise StoreError(f"{root}: no such record folder; pass --records DIR") from None
    except NotADirectoryError:
        raise StoreError(f"{root}: not a folder; pass the folder that holds the records") from None
    except OSError as exc:
        raise StoreError(f"{root}: cannot list the record folder ({exc.strerror})") from None
    real_root = os.path.realpath(root)
    entries: list[Entry] = []
    problems: list[Problem] = []
    for item in listing:
        name = item.name
        if name.startswith(".") or not name.lower().endswith(RECORD_SUFFIXES):
            continue
        reason = _not_a_record_file(item, real_root)
        if reason:
            problems.append(Problem(_printable(name), "file", reason + "; skipped"))
        else:
            entries.append(Entry(name, Path(item.path)))
    return entries, problems


def _not_a_record_file(item: os.DirEntry[str], real_root: str) -> str | None:
    try:
        mode = item.stat(follow_symlinks=False).st_mode
        if stat.S_ISLNK(mode):
            target = os.path.realpath(item.path)
            if os.path.commonpath([target, real_root]) != real_root:
                return "is a link leading outside the record folder"
            mode = os.stat(target).st_mode
    except (OSError, ValueError):
        return "cannot be examined (broken link or no permission)"
    if stat.S_ISDIR(mode):
        return "is a folder, not a record file"
    if not stat.S_ISREG(mode):
        return "is not a regular file (FIFO, socket or device)"
    return None


def _printable(name: str) -> str:
    """A file name safe to print on one log line."""
    return name.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")


def read_file(entry: Entry, settings: Settings) -> ReadResult:
    """Read and parse one record file, refusing what is too large or not a file."""
    source = _printable(entry.name)
    try:
        data = read_bytes(entry.path, settings.max_record_bytes)
    except _TooLarge:
        return _failed(source, f"is larger than {settings.max_record_bytes} bytes "
                               "(max_record_bytes); skipped")
    except OSError as exc:
        return _failed(source, f"cannot be read ({exc.strerror or exc})")
    return read_record(source, data, settings)


class _TooLarge(Exception):
    pass


def read_bytes(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, never blocking on a FIFO."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(0, "not a regular file")
        if info.st_size > limit:
            raise _TooLarge
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise _TooLarge
        return data
    finally:
        os.close(fd)


def _failed(source: str, message: str) -> ReadResult:
    return ReadResult(source, problems=[Problem(source, "file", message, Severity.ERROR)])


def collect(results: Iterable[ReadResult], problems: list[Problem], files: int) -> Store:
    """Assemble read results into a `Store`: dedupe by link, sort newest first."""
    by_link: dict[str, Record] = {}
    unpublished = duplicates = 0
    for result in results:
        problems.extend(result.problems)
        unpublished += result.unpublished
        record = result.record
        if record is None:
            continue
        first = by_link.get(record.link)
        if first is None:
            by_link[record.link] = record
        else:
            duplicates += 1
            problems.append(Problem(record.source, "webUrl",
                                    f"same link as {first.source}; the article is published once, "
                                    f"from {first.source}"))
    records = sorted(by_link.values(), key=lambda r: r.sort_key)
    return Store(tuple(records), tuple(problems), files, unpublished, duplicates)


def load_store(settings: Settings, progress: Progress | None = None) -> Store:
    """Read every record file of ``settings.records`` into a `Store`."""
    entries, problems = scan(Path(settings.records))
    results = []
    for entry in entries:
        results.append(read_file(entry, settings))
        if progress:
            progress(1)
    return collect(results, problems, len(entries))
