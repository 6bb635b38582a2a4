"""The build: store → plan → render → export, timed, as one call for the CLI and tests."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from .export import ExportResult, export_files
from .plan import Plan, plan_feeds
from .render import MANAGED, render_site
from .settings import Settings
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


def build_site(settings: Settings, progress: Progress | None = None) -> BuildReport:
    """Read the store, plan every feed, render it and export it to ``settings.out``."""
    started = time.perf_counter()
    store = load_store(settings, progress)
    plan = plan_feeds(store, settings)
    result = export_files(Path(settings.out), render_site(plan, settings), MANAGED)
    return BuildReport(store, plan, result, time.perf_counter() - started)
