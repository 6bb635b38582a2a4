"""The build: store → plan → render → export, incremental through the record cache.

A feed is rendered only when its fingerprint (settings, feed fields, and the
id and file digest of every entry) differs from the one recorded for the
file on disk, or the file on disk is not the one last written.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import closing, nullcontext
from dataclasses import dataclass
from pathlib import Path

from .cache import RecordCache, open_cache
from .export import ExportResult, export_files
from .plan import FeedSpec, Plan, plan_feeds
from .settings import Settings
from .site import MANAGED, Artifact, make_many, site_artifacts
from .store import Progress, Store, load_store


@dataclass(frozen=True)
class BuildReport:
    """What a build read, published and wrote, and how long it took."""

    store: Store
    plan: Plan
    export: ExportResult
    seconds: float

    def summary(self) -> str:
        """The one-line summary the CLI ends with."""
        store = self.store
        return (
            f"read {store.files} records: {len(store.records)} published, "
            f"{store.unpublished} unpublished, {store.duplicates} duplicates, "
            f"{store.skipped} skipped; "
            f"{len(self.plan.feeds)} feeds, {self.export.files} files, "
            f"{self.export.changed} changed; {self.seconds:.2f}s"
        )


def _current(out: Path, path: str, previous: tuple[str, int, int] | None, digest: str) -> bool:
    """True when `path` under `out` is the file last written for this `digest`."""
    if previous is None or previous[0] != digest:
        return False
    try:
        info = os.stat(out / path)
    except OSError:
        return False
    return (info.st_size, info.st_mtime_ns) == previous[1:]


def _site_files(plan: Plan, store: Store, settings: Settings, previous: dict[str, tuple[str, int, int]],
                digests: dict[str, str]) -> Iterator[tuple[str, bytes | None]]:
    """Every file of the site: None for those already current, fresh bytes for the rest."""
    out = Path(settings.out)
    stale: list[Artifact] = []
    for artifact in site_artifacts(plan, settings):
        digests[artifact.path] = artifact.digest
        if _current(out, artifact.path, previous.get(artifact.path), artifact.digest):
            yield artifact.path, None
        else:
            stale.append(artifact)
    full: dict[int, FeedSpec] = {}  # each feed's records are loaded once for all its files
    work: list[tuple[Artifact, FeedSpec | None]] = []
    for artifact in stale:
        spec = artifact.spec
        if spec is not None:
            key = id(spec)
            if key not in full:
                full[key] = spec.with_records(store.full(spec.records))
            spec = full[key]
        work.append((artifact, spec))
    yield from make_many(work, settings, settings.jobs)


def _remember(cache: RecordCache, out: Path, result: ExportResult, digests: dict[str, str]) -> None:
    rows = []
    for path in result.paths_written:
        info = os.stat(out / path)
        rows.append((path, digests[path], info.st_size, info.st_mtime_ns))
    with cache.transaction():
        cache.wrote(os.path.realpath(out), rows, result.paths_removed)


def build_site(settings: Settings, progress: Progress | None = None) -> BuildReport:
    """Read the store, plan every feed, render what changed and export it to ``settings.out``."""
    started = time.perf_counter()
    out = Path(settings.out)
    cache = open_cache(settings)
    with closing(cache) if cache else nullcontext():
        store = load_store(settings, progress, cache)
        plan = plan_feeds(store, settings)
        previous = cache.outputs(os.path.realpath(out)) if cache else {}
        digests: dict[str, str] = {}
        result = export_files(out, _site_files(plan, store, settings, previous, digests), MANAGED)
        if cache:
            _remember(cache, out, result, digests)
    return BuildReport(store, plan, result, time.perf_counter() - started)
