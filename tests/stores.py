"""Record stores for tests: a minimal valid record, record files, and finished builds."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from feeds.build import BuildReport, build_site
from feeds.catalog import Catalog, Counts
from feeds.errors import Problem
from feeds.layout import ALL_STEM
from feeds.plan import FeedSpec, Plan, plan_site
from feeds.records import ReadResult, Record
from feeds.settings import Settings

from .feedcheck import BASE_URL, SITE_TITLE

# A valid, published record with every field a feed uses; tests override one field.
MINIMAL_RECORD: dict[str, Any] = {
    "title": "A minimal record",
    "publishedDateTime": "2021-03-04T05:06:07Z",
    "webUrl": "https://news.example.com/2021/03/minimal-record",
    "published": True,
    "provider": {"name": "Example News", "domain": "example.com"},
    "topics": ["Testing"],
}


class _Omit:
    """Marks a field to leave out of a written record."""

    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()


def record_text(fields: dict[str, Any], body: str = "") -> str:
    """The text of a record file: `fields` as YAML front matter, then `body`."""
    kept = {k: v for k, v in fields.items() if v is not OMIT}
    dumped = yaml.safe_dump(kept, allow_unicode=True, sort_keys=False, width=2**31 - 1)
    return f"---\n{dumped}---\n{body}"


def record_fields(**overrides: Any) -> dict[str, Any]:
    """The minimal published record with `overrides` (OMIT removes a field)."""
    return {**MINIMAL_RECORD, **overrides}


@dataclass
class RecordWriter:
    """Writes record files into one store folder."""

    folder: Path

    def __call__(self, name: str = "record.md", /, **fields: Any) -> Path:
        """A valid published record named `name`, with `fields` overriding the minimal one."""
        return self.text(name, record_text(record_fields(**fields)))

    def text(self, name: str, text: str) -> Path:
        """A record file holding exactly `text`."""
        return self.raw(name, text.encode("utf-8"))

    def raw(self, name: str, data: bytes) -> Path:
        """A record file holding exactly `data`."""
        path = self.folder / name
        path.write_bytes(data)
        return path


@dataclass(frozen=True)
class Site:
    """A finished build: its report, its settings and its output folder."""

    report: BuildReport
    settings: Settings
    out: Path


def build_into(records: Path, out: Path, **overrides: Any) -> Site:
    """Build `records` into `out` with the test base URL and site title (unless `overrides` name others)."""
    settings = Settings.make(records=str(records), out=str(out),
                             **{"base_url": BASE_URL, "site_title": SITE_TITLE, **overrides})
    return Site(build_site(settings), settings, out)




@dataclass(frozen=True)
class ReadStore:
    """A record folder read through a catalog in memory, as every build reads it."""

    records: tuple[Record, ...]  # published, newest first
    problems: tuple[Problem, ...]
    counts: Counts
    plan: Plan  # every feed, holding full records

    @property
    def files(self) -> int:
        return self.counts.files

    @property
    def unpublished(self) -> int:
        return self.counts.unpublished

    @property
    def duplicates(self) -> int:
        return self.counts.duplicates

    @property
    def skipped(self) -> int:
        return self.counts.skipped


def _loaded(catalog: Catalog, plan: Plan) -> Plan:
    def full(spec: FeedSpec) -> FeedSpec:
        return replace(spec, records=tuple(catalog.records(spec.records)),
                       members=tuple(catalog.records(spec.members)))

    return replace(plan, feeds=tuple(full(spec) for spec in plan.feeds))


def record_loads(monkeypatch: Any) -> list[int]:
    """How many full records each `Catalog.records` call loads from now on (`monkeypatch`: pytest's)."""
    loaded: list[int] = []
    real = Catalog.records

    def spy(catalog: Catalog, refs: Any) -> Any:
        found = real(catalog, refs)
        loaded.append(len(found))
        return found
    monkeypatch.setattr(Catalog, "records", spy)
    return loaded


def read_store(settings: Settings) -> ReadStore:
    """The records, problems, counts and plan of ``settings.records``."""
    with Catalog(None) as catalog:
        listing = catalog.update(Path(settings.records), settings).listing
        with catalog.reading():
            problems = catalog.problems(listing)
            records = tuple(catalog.records(catalog.newest(ALL_STEM, 10**9)))
            plan = _loaded(catalog, plan_site(catalog, settings))
            return ReadStore(records, problems, catalog.counts(problems), plan)


def plan_records(records: Iterable[Record], settings: Settings) -> Plan:
    """The plan (holding full records) of a store of these records, read from files named in order."""
    with Catalog(None) as catalog:
        catalog.insert(((f"{i:08}.md", ReadResult(r.source, r)) for i, r in enumerate(records)), settings)
        with catalog.reading():
            return _loaded(catalog, plan_site(catalog, settings))
