"""Static export: site files written under one folder, atomically, only when changed.

Every changed file is first written to a temporary name beside its target;
only when all of them are written are they renamed into place, so a failed
build (full disk, no permission, killed) leaves every file either complete
and old or complete and new.  Files the site no longer has are removed, but
only files of the kinds feeds writes, and never outside the output folder.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import ExportError

TEMP_PREFIX = ".feeds-tmp-"


@dataclass(frozen=True)
class ExportResult:
    """What an export did: how many site files, and which were written or removed."""

    files: int
    paths_written: tuple[str, ...] = ()
    paths_removed: tuple[str, ...] = ()
    paths_same: tuple[str, ...] = ()  # made afresh, found already there byte for byte

    @property
    def written(self) -> int:
        """Files created or replaced."""
        return len(self.paths_written)

    @property
    def removed(self) -> int:
        """Stale files removed."""
        return len(self.paths_removed)

    @property
    def changed(self) -> int:
        """Files created, replaced or removed."""
        return self.written + self.removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _inside(root: str, relpath: str) -> str:
    """The path of `relpath` under `root`, refusing anything that would leave it."""
    parts = relpath.split("/")
    if relpath.startswith("/") or any(p in ("", ".", "..") or "\\" in p or "\x00" in p for p in parts):
        raise ExportError(f"{relpath!r}: refusing a path that is not a plain relative path")
    return os.path.join(root, relpath)


def _same(path: str, info: os.stat_result, data: bytes) -> bool:
    """True when the regular file at `path` (of `info`) holds `data`."""
    if not stat.S_ISREG(info.st_mode) or info.st_size != len(data):
        return False
    try:
        with open(path, "rb") as handle:
            return handle.read() == data
    except OSError:
        return False


def _prepare_dir(real_out: str, directory: str, prepared: set[str]) -> None:
    """Create `directory` (under the output folder, whose real path is `real_out`), refusing links
    that lead elsewhere.  Each folder is looked at once, and a folder made here needs no more."""
    if directory in prepared:
        return
    parent = os.path.dirname(directory)
    if parent not in prepared:
        _prepare_dir(real_out, parent, prepared)
    try:
        os.mkdir(directory)
    except FileExistsError:
        if os.path.islink(directory):
            real = os.path.realpath(directory)
            if os.path.commonpath([real, real_out]) != real_out:
                raise ExportError(f"{directory}: leads outside the output folder; remove the link") from None
        if not os.path.isdir(directory):
            raise NotADirectoryError(20, "a file stands where a folder goes", directory) from None
    prepared.add(directory)


def _write_temp(target: str, data: bytes, mode: int) -> str:
    head, name = os.path.split(target)
    temp = os.path.join(head, f"{TEMP_PREFIX}{name}.{os.getpid()}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except BaseException:
        os.close(fd)
        os.unlink(temp)
        raise
    os.close(fd)
    return temp


def export_files(out: Path, files: Iterable[tuple[str, bytes | None]], managed: Iterable[str],
                 gone: Iterable[str] | None = None) -> ExportResult:
    """Write `files` (site path, bytes) under `out`; remove other `managed` files there.

    Bytes of None keep a file the caller knows to be current as it is.
    `managed` holds glob patterns (``topics/*.atom``) of the files feeds owns:
    only those are ever removed.  Given `gone`, the site paths of the files the site no
    longer has (a watching build knows what it wrote), only those are removed, and the
    folders are not looked through for others.
    """
    mode = 0o666 & ~_umask()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"{out}: cannot create the output folder ({exc.strerror})") from None
    root = str(out)
    real_out = os.path.realpath(out)
    wanted: set[str] = set()
    prepared: set[str] = {root}
    pending: list[tuple[str, str]] = []
    written: list[str] = []
    same: list[str] = []
    count = 0
    try:
        for relpath, data in files:
            count += 1
            where = _inside(root, relpath)
            if where in wanted:
                raise ExportError(f"{relpath}: the site has two files at this path")
            wanted.add(where)
            if data is None:
                continue
            try:
                info = os.lstat(where)
            except FileNotFoundError:
                pass
            else:
                if _same(where, info, data):
                    same.append(relpath)
                    continue
                if stat.S_ISDIR(info.st_mode):
                    # Found now, before any file is renamed, so nothing changes.
                    raise IsADirectoryError(21, "a folder stands where a file goes", where)
            _prepare_dir(real_out, os.path.dirname(where), prepared)
            pending.append((_write_temp(where, data, mode), where))
            written.append(relpath)
        for temp, target in pending:
            os.replace(temp, target)
    except BaseException as exc:
        for temp, _ in pending:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
        if not isinstance(exc, OSError):
            raise
        failed = exc.filename or out
        raise ExportError(f"{failed}: cannot write the output ({exc.strerror}); "
                          "the previous output is left as it was") from None
    removed = remove_stale(out, wanted, managed) if gone is None else _remove(out, gone, managed)
    return ExportResult(count, tuple(written), tuple(removed), tuple(same))


def remove_stale(out: Path, wanted: set[str], managed: Iterable[str]) -> list[str]:
    """Remove files matching `managed` that the site no longer has (`wanted` holds the paths of
    those it has, under `out`), never through a link; their site paths."""
    removed: list[str] = []
    real_out = os.path.realpath(out)
    by_folder: dict[str, list[str]] = {}
    for pattern in managed:
        folder, _, name = pattern.rpartition("/")
        by_folder.setdefault(folder, []).append(name)
    for folder, names in by_folder.items():
        for directory, real in _folders(out, real_out, folder.split("/") if folder else []):
            if not _ours(real, real_out):
                continue
            for item in _entries(directory):
                stale = item.name.startswith(TEMP_PREFIX) or item.path not in wanted
                if stale and any(fnmatch.fnmatchcase(item.name, n) for n in names) and (
                        item.is_file(follow_symlinks=False) or item.is_symlink()):
                    _unlink(item.path)
                    removed.append(Path(item.path).relative_to(out).as_posix())
    _prune_all(out, removed)
    return removed


def _remove(out: Path, paths: Iterable[str], managed: Iterable[str]) -> list[str]:
    """Remove the files at these site paths that match `managed` (never a folder, never through a
    link); the site paths of those removed."""
    patterns = list(managed)
    real_out = os.path.realpath(out)
    removed = []
    for relpath in paths:
        if not any(fnmatch.fnmatchcase(relpath, pattern) for pattern in patterns):
            continue
        where = _inside(str(out), relpath)
        try:
            if not _ours(os.path.realpath(os.path.dirname(where)), real_out) or (
                    stat.S_ISDIR(os.lstat(where).st_mode)):
                continue
        except FileNotFoundError:
            continue
        if _unlink(where, missing_ok=True):
            removed.append(relpath)
    _prune_all(out, removed)
    return removed


def _ours(real: str, real_out: str) -> bool:
    """False for a folder (by its real path) that a link leads to from elsewhere: not ours to empty."""
    return real == real_out or real.startswith(real_out + os.sep)


def _unlink(where: str, missing_ok: bool = False) -> bool:
    """Remove a file the site no longer has; False when it is already gone (and `missing_ok`)."""
    try:
        os.unlink(where)
    except OSError as exc:
        if missing_ok and isinstance(exc, FileNotFoundError):
            return False
        raise ExportError(f"{where}: cannot remove a file the site no longer has ({exc.strerror})") from None
    return True


def _prune_all(out: Path, removed: list[str]) -> None:
    """Remove the folders the removal of these files (site paths) left empty, deepest first."""
    for path in sorted(removed, key=len, reverse=True):
        _prune(out, Path(path).parent)


def _prune(out: Path, folder: Path) -> None:
    """Remove `folder` (a site path) and the folders above it inside `out` while they are empty: a
    folder left empty would answer 403, not 404, on a static host."""
    while folder.parts:
        try:
            os.rmdir(out / folder)
        except FileNotFoundError:
            pass
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EBUSY):
                return  # it still holds something (its own, or someone else's), or is not a plain folder
            raise ExportError(f"{out / folder}: cannot remove a folder the site no longer has "
                              f"({exc.strerror})") from None
        folder = folder.parent


def _entries(directory: str) -> list[os.DirEntry[str]]:
    try:
        return list(os.scandir(directory))
    except OSError:
        return []


def _folders(out: Path, real_out: str, parts: list[str]) -> list[tuple[str, str]]:
    """The folders under `out` that a pattern's folder part (which may hold '*') names,
    each with its real path (resolved only where a link leads elsewhere)."""
    found = [(str(out), real_out)]
    for part in parts:
        found = [(e.path, os.path.realpath(e.path) if e.is_symlink() else os.path.join(real, e.name))
                 for d, real in found for e in _entries(d)
                 if e.is_dir(follow_symlinks=True) and fnmatch.fnmatchcase(e.name, part)]
    return found
