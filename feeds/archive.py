"""Archives (RFC 5005): a feed's records beyond its newest `limit`, cut by date into stable pages.

A feed's subscription document holds its newest `limit` records; every older
one is in exactly one archive page.  Pages are cut by date, not by position,
so that a page changes only when one of its own records does: the archived
records of a year make one page when they fit in `archive_size`; a year that
holds more is cut in halves, a half in quarters, a quarter in months, a month
in halves, those in runs of about a week, those in days, and a day that
holds more than a page into parts of `archive_size` records, oldest first.
Only the pieces that hold records are pages.

A new story then moves one record out of the subscription document into the
newest page; a back-dated one changes only the page its date falls in.  A
page that grows past the size is cut at the next level, into two or three
pages (a run of days into up to eight), never more.

The cut depends on nothing but how many archived records each day holds,
so a page's key names the same records in the static export and the live
server, in every build.
"""

from __future__ import annotations

import functools
import re
from calendar import monthrange
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from itertools import groupby

from .catalog import Day

_EPOCH = date(1970, 1, 1).toordinal()
_DAY = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
# A year, a month, a day, a part of a day, or a run of days from its first to its last.
KEY = re.compile(rf"[0-9]{{4}}(?:-[0-9]{{2}})?|{_DAY}(?:-p[1-9][0-9]{{0,8}}|_{_DAY})?")
# Month runs of each level between a year and a month: halves, then quarters.
_MONTH_RUNS = (6, 3)
# Day runs of each level between a month and a day: halves, then about a week.
_DAY_RUNS = ((1, 16), (1, 9, 16, 24))


@dataclass(frozen=True)
class Page:
    """One archive page of a feed: the days it spans and how many records it holds."""

    key: str  # '2019', '2019-03', '2019-03-14', '2019-07-01_2019-12-31' or '2019-03-14-p2'
    first_day: int  # days since 1970-01-01 (UTC)
    last_day: int
    count: int
    part: int = 0  # 1, 2, … for a part of one day holding more than a page; 0 for whole days
    sums: tuple[int, int] = (0, 0)  # its records' hashes, summed (parts: filled in by the planner)

    @property
    def label(self) -> str:
        """The page as people read it: '2019', 'March 2019', '1 July to 31 December 2019',
        '14 March 2019 (part 2)'."""
        return label(self.key, self.part)


def label(key: str, part: int = 0) -> str:
    """A page key as people read it."""
    if "_" in key:
        first, last = (date.fromisoformat(k) for k in key.split("_"))
        return f"{_day(first)} to {_day(last)}"
    if part:
        return f"{_day(date.fromisoformat(key[:10]))} (part {part})"
    if len(key) == 4:
        return key
    if len(key) == 7:
        month = date.fromisoformat(key + "-01")
        return f"{month:%B} {month.year:04d}"
    return _day(date.fromisoformat(key))


def first(key: str) -> tuple[str, int]:
    """Where the page of `key` starts: its first day (ISO) and part (0 for whole days).  A feed's
    pages never overlap, so this orders them, oldest first, from their keys alone."""
    start = key.partition("_")[0]
    day, _, part = start.partition("-p")
    return (day + "-01-01")[:10], int(part or 0)


def _day(found: date) -> str:
    return f"{found.day} {found:%B} {found.year:04d}"


def day_date(day: int) -> date:
    """The date of a day number (days since 1970-01-01)."""
    return date.fromordinal(_EPOCH + day)


def _run(first: date, last: date) -> str:
    return f"{first.isoformat()}_{last.isoformat()}"


@functools.lru_cache(maxsize=65_536)  # every feed's days are among the store's few thousand
def _keys(day: int) -> tuple[str, ...]:
    """The key of each piece of the calendar the day falls in, from its year down to itself."""
    found = day_date(day)
    year = found.year
    keys = [f"{year:04d}"]
    for size in _MONTH_RUNS:
        first = (found.month - 1) // size * size + 1
        last = date(year, first + size - 1, 1)
        keys.append(_run(date(year, first, 1), last.replace(day=monthrange(year, last.month)[1])))
    keys.append(f"{year:04d}-{found.month:02d}")
    days = monthrange(year, found.month)[1]
    for starts in _DAY_RUNS:
        start = max(s for s in starts if s <= found.day)
        end = min([s - 1 for s in starts if s > found.day] or [days])
        keys.append(_run(found.replace(day=start), found.replace(day=end)))
    keys.append(found.isoformat())
    return tuple(keys)


def cut(days: Iterable[Day], size: int) -> list[Page]:
    """The archive pages of a feed whose archived records fall on `days` (oldest first)."""
    keyed = [(_keys(d.day), d) for d in days]
    levels = len(keyed[0][0]) if keyed else 0
    pages: list[Page] = []

    def split(group: list[tuple[tuple[str, ...], Day]], level: int) -> None:
        for key, run in groupby(group, lambda item: item[0][level]):
            members = list(run)
            count = sum(d.members for _, d in members)
            first, last = members[0][1].day, members[-1][1].day
            if count <= size:
                pages.append(Page(key, first, last, count, 0, (sum(d.high for _, d in members),
                                                               sum(d.low for _, d in members))))
            elif level + 1 < levels:
                split(members, level + 1)
            else:  # one day holding more than a page: parts of `size`, oldest first
                for part, start in enumerate(range(0, count, size), 1):
                    pages.append(Page(f"{key}-p{part}", first, last, min(size, count - start), part))

    split(keyed, 0)
    return pages


def archived_counts(newest_first: Iterable[tuple[int, int]], limit: int) -> Iterator[Day]:
    """The days of a feed's archived records, oldest first, from how many records each of its days
    holds (`newest_first`: (day, count)): the newest `limit` records are the subscription document's."""
    left = limit
    kept = []
    for day, count in newest_first:
        if left >= count:
            left -= count
            continue
        kept.append(Day(day, count - left, 0, 0))
        left = 0
    return reversed(kept)
