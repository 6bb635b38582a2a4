"""The record folder: which files are record files, what tells each changed, and reading one.

Only regular files named ``*.md`` or ``*.txt`` directly in the folder are
read; anything else that carries those names (a FIFO, a device, a folder, a
link leading out of the store) is skipped without being opened.
"""

from __future__ import annotations

import os
import stat
from bisect import bisect_left, insort
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from ..errors import Problem, Severity, StoreError, printable
from ..records import RECORD_SUFFIXES, ReadResult, read_record
from ..settings import Settings


class Entry(NamedTuple):
    """One candidate record file: its name in the store and what tells it changed without reading
    it (its identity: size, modification and change times, inode).

    The change time is in it because no tool can set it back: an edit whose modification time
    was restored (``cp -p``, ``tar``, ``rsync -t``) still shows.  A plain tuple, made by the 100,000.
    """

    name: str
    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int


class Listing(NamedTuple):
    """A record folder as `scan` found it: its record files, sorted by name, and those skipped
    unopened (each with its problem); and the names of those that are not plain files (links,
    and whatever was skipped), sorted: `restat` looks at them again each time."""

    entries: list[Entry]
    problems: list[Problem]
    unplain: tuple[str, ...] = ()


def scan(root: Path) -> Listing:
    """The record files of `root`, sorted by name, and the entries skipped unopened."""
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        raise StoreError(f"{root}: no such record folder; pass --records DIR") from None
    except NotADirectoryError:
        raise StoreError(f"{root}: not a folder; pass the folder that holds the records") from None
    except OSError as exc:
        raise StoreError(f"{root}: cannot list the record folder ({exc.strerror})") from None
    try:
        return _examined_all(fd, root, sorted(name for name in os.listdir(fd) if _is_record_name(name)))
    except OSError as exc:
        raise StoreError(f"{root}: cannot list the record folder ({exc.strerror})") from None
    finally:
        os.close(fd)


def restat(root: Path, listing: Listing, names: Iterable[str]) -> Listing:
    """`listing` (what `scan` found in `root`) with the files `names` looked at again: what `scan`
    would find now when only those files changed since (a watching build is told which).

    The rest of the folder is not listed: 100,000 `stat` calls are most of a rebuild's time.  What
    is not a plain file is looked at again every time: a link changes with a file it was not told
    of (its target, which may lie in a subfolder or appear later), and every problem of the
    listing is about one of them."""
    names = {name for name in names if _is_record_name(name)}
    if not names:
        return listing
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return scan(root)  # the folder itself is gone or replaced: scan says how
    try:
        # In the folder's order, as `scan` gives problems; every problem is of one of these.
        fresh = _examined_all(fd, root, sorted(names.union(listing.unplain)))
    finally:
        os.close(fd)
    entries = list(listing.entries)  # sorted by name: each file is found by bisection
    for name in names.union(listing.unplain):
        at = bisect_left(entries, (name,))
        if at < len(entries) and entries[at].name == name:
            del entries[at]
    for entry in fresh.entries:
        insort(entries, entry)
    return Listing(entries, fresh.problems, fresh.unplain)


def _is_record_name(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(RECORD_SUFFIXES)


def _examined_all(fd: int, root: Path, names: list[str]) -> Listing:
    """The listing of the files `names` (sorted) in the folder open as `fd`."""
    real_root = os.path.realpath(root)
    entries: list[Entry] = []
    problems: list[Problem] = []
    unplain: list[str] = []
    for name in names:
        found, plain = _examined(fd, root, real_root, name)
        if isinstance(found, Entry):
            entries.append(found)
        elif found is not None:
            problems.append(found)
        if not plain:
            unplain.append(name)
    return Listing(entries, problems, tuple(unplain))


def _examined(fd: int, root: Path, real_root: str, name: str) -> tuple[Entry | Problem | None, bool]:
    """The entry of the record file `name` in the folder open as `fd`, the problem that skips it
    unopened, or None when it is gone; and whether it is a plain file (or gone)."""
    try:
        info = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return None, True  # gone since the listing: as if it had never been there
    except (OSError, ValueError):
        return Problem(printable(name), "file", "cannot be examined (no permission); skipped"), False
    if not stat.S_ISREG(info.st_mode):  # a link, a folder, a FIFO: looked at more closely
        found = _record_file(os.path.join(root, name), info, real_root)
        if isinstance(found, str):
            return Problem(printable(name), "file", found + "; skipped"), False
        return tuple.__new__(Entry, (name, found.st_size, found.st_mtime_ns, found.st_ctime_ns,
                                     found.st_ino)), False
    return tuple.__new__(Entry, (name, info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)), True


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
        failed = _failed(source, f"cannot be read ({exc.strerror or exc})")
        failed.again = True
        return failed
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
