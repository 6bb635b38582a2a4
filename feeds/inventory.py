"""The inventory: every feed of a store, as `feeds list` shows it (to people, and to scripts as JSON).

It reads the catalog the way a build and the live server do (`survey`, then
the index's plan, `plan_index`): the feeds listed are those the site has, each
with the URLs its files are served at.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .catalog import Catalog, survey, with_catalog
from .plan import plan_index
from .render import FORMATS
from .settings import Settings


@dataclass(frozen=True)
class Listed:
    """One feed: what it is, how many entries it holds (records, or stories), its newest entry's date
    (a story's newest coverage; None for a feed that holds nothing yet) and its URLs by format, and
    ``page`` for its HTML page."""

    kind: str
    key: str
    stem: str
    title: str
    entries: int
    newest: datetime | None
    urls: dict[str, str]

    def as_json(self) -> dict[str, Any]:
        """The object ``feeds list --json`` prints for this feed (dates in RFC 3339)."""
        return {"kind": self.kind, "key": self.key, "stem": self.stem, "title": self.title,
                "entries": self.entries, "newest": None if self.newest is None else self.newest.isoformat(),
                "urls": self.urls}


def inventory(catalog: Catalog, settings: Settings) -> list[Listed]:
    """Every feed of the store in `catalog`, brought up to date first, in the index's order."""
    survey(catalog, settings)
    with catalog.reading():
        specs = plan_index(catalog, settings, pages=False).feeds
        # From its summary alone, a spec holds the ref of its newest entry: its headline has the date.
        newest = iter(catalog.headlines(spec.records[0] for spec in specs  # type: ignore[misc]
                                        if spec.records))
        dates = [next(newest).updated if spec.records else None for spec in specs]
    return [Listed(spec.kind.name, spec.key, spec.stem, spec.title, spec.total, date,
                   {**{name: settings.url(spec.stem + f.extension) for name, f in FORMATS.items()},
                    "page": settings.url(spec.page)})
            for spec, date in zip(specs, dates, strict=True)]


def list_feeds(settings: Settings) -> tuple[list[Listed], str | None]:
    """Every feed of the store `settings` name, and a warning when the catalog's file could not be
    used (then it was read into memory)."""
    return with_catalog(settings, lambda catalog: inventory(catalog, settings))
