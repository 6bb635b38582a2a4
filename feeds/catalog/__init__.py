"""The catalog: the record folder as an SQLite database under both edges (see `catalog.catalog`).

`open_catalog` gives the catalog for a record folder and its reading settings:
a file under ``cache_dir``, or one in memory (``cache_dir = off``, drafts, or
a file that cannot be used, with a warning that names it and the fix).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..errors import CacheBusy, Problem
from ..settings import Settings
from .catalog import Catalog, Changes, Commits, Counts, Day, Progress, Ref, Summary, member_hash
from .db import DamagedRow, Output, busy, catalog_path, log, unusable, unusable_warning
from .scan import Entry, Listing, scan


def open_catalog(settings: Settings) -> tuple[Catalog, str | None]:
    """The catalog for these settings, and a warning when its file cannot be used (then in memory)."""
    path = catalog_path(settings)
    try:
        return Catalog(path), None
    except (OSError, sqlite3.DatabaseError) as exc:
        if path is None or (isinstance(exc, sqlite3.DatabaseError) and not unusable(exc)):
            raise
        warning = unusable_warning(path, exc)
        log.info("fallback: %s", warning)
        return Catalog(None), warning


T = TypeVar("T")


def _busy(path: Path | None, exc: BaseException) -> CacheBusy:
    return CacheBusy(f"{path}: another process held the record cache for over a minute ({exc}); "
                     "try again when it is done, or set cache_dir=off")


def with_catalog(settings: Settings, work: Callable[[Catalog], T],
                 warned: Callable[[str], None] | None = None) -> tuple[T, str | None]:
    """`work` done on the catalog for these settings, and a warning when its file could not be used
    (also given to `warned` as soon as it is known, for work that runs on and on).

    The file only saves work: when it fails (damaged, full disk, read-only), `work`
    is done again on a catalog in memory, which gives the same result.
    """
    try:
        catalog, warning = open_catalog(settings)
    except sqlite3.OperationalError as exc:
        if busy(exc):
            raise _busy(catalog_path(settings), exc) from None
        raise
    if warning and warned:
        warned(warning)
    try:
        try:
            return work(catalog), warning
        except sqlite3.DatabaseError as exc:
            if busy(exc):
                raise _busy(catalog.path, exc) from None
            if catalog.path is None or not unusable(exc):
                raise
            warning = unusable_warning(catalog.path, exc)
            log.info("fallback: %s", warning)
            catalog.close()
            catalog = Catalog(None)
            if warned:
                warned(warning)
            return work(catalog), warning
    finally:
        catalog.close()


def survey(catalog: Catalog, settings: Settings) -> tuple[tuple[Problem, ...], Counts]:
    """Bring `catalog` up to date with the record folder; what is wrong with its files, and what it
    holds (what `feeds check` reports and `feeds serve` starts by saying)."""
    listing = catalog.update(Path(settings.records), settings).listing
    with catalog.reading():
        problems = catalog.problems(listing)
        return problems, catalog.counts(problems)


__all__ = ["Catalog", "Changes", "Commits", "Counts", "DamagedRow", "Day", "Entry", "Listing", "Output",
           "Progress", "Ref", "Summary", "busy", "catalog_path", "member_hash", "open_catalog", "scan",
           "survey", "unusable", "unusable_warning", "with_catalog"]
