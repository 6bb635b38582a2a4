"""The build: store → plan → render → export, incremental through the record cache.

A feed is rendered only when its fingerprint (settings, feed fields, and the
id and file digest of every entry) differs from the one recorded for the
file on disk, or the file on disk is not the one last written.

Before any of that, a build whose record folder listing (every file's name,
size, modification time and inode), settings and code are those of the last
build into the same folder, and whose output files are all still the ones
that build wrote, has nothing to do: it reports what the last build found
without reading, planning or fingerprinting anything.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import closing, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

from . import __version__
from .cache import RecordCache, open_cache
from .errors import Problem, Severity
from .export import ExportResult, export_files
from .plan import FeedSpec, Plan, plan_feeds
from .settings import Settings
from .site import MANAGED, Artifact, make_many, site_artifacts
from .store import Entry, Progress, Store, load_store, scan

_NOT_OUTPUT = ("jobs", "cache_dir")  # settings that change how a build runs, not what it writes


@dataclass(frozen=True)
class Counts:
    """What a store held, as the summary line tells it."""

    files: int
    published: int
    unpublished: int
    duplicates: int
    skipped: int
    feeds: int

    @classmethod
    def of(cls, store: Store, plan: Plan) -> Counts:
        """The counts of a store just read and planned."""
        return cls(store.files, len(store.records), store.unpublished, store.duplicates,
                   store.skipped, len(plan.feeds))


@dataclass(frozen=True)
class BuildReport:
    """What a build read, published and wrote, and how long it took.

    `store` and `plan` are None when nothing had changed since the last build
    into the same folder: `counts` and `problems` are then that build's.
    """

    counts: Counts
    problems: tuple[Problem, ...]
    export: ExportResult
    seconds: float
    store: Store | None = None
    plan: Plan | None = None

    @property
    def unchanged(self) -> bool:
        """True when the last build's output was still current and nothing was read."""
        return self.store is None

    def summary(self) -> str:
        """The one-line summary the CLI ends with."""
        c = self.counts
        return (
            f"read {c.files} records: {c.published} published, "
            f"{c.unpublished} unpublished, {c.duplicates} duplicates, "
            f"{c.skipped} skipped; "
            f"{c.feeds} feeds, {self.export.files} files, "
            f"{self.export.changed} changed; {self.seconds:.2f}s"
            f"{' (nothing changed since the last build)' if self.unchanged else ''}"
        )


@functools.cache
def _code_digest() -> str:
    """Changes with any file of the package: its code, templates and static files."""
    digest = hashlib.blake2b(__version__.encode(), digest_size=16)
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*")):
        if path.is_file() and path.suffix not in (".pyc", ".pyo"):
            digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _state(settings: Settings, entries: list[Entry], problems: list[Problem]) -> str:
    """A fingerprint of everything a build's output follows from, files read only by listing."""
    digest = hashlib.blake2b(digest_size=16)
    wanted = {k: v for k, v in asdict(settings).items() if k not in _NOT_OUTPUT}
    digest.update(repr((_code_digest(), sorted(wanted.items()))).encode())
    digest.update("\n".join(f"{e.name}\0{e.identity.size}\0{e.identity.mtime_ns}\0{e.identity.ino}"
                             for e in entries).encode("utf-8", "surrogateescape"))
    digest.update(repr(problems).encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _manifest_key(out: Path) -> str:
    return "build " + os.path.realpath(out)


def _reuse(cache: RecordCache, out: Path, state: str, started: float) -> BuildReport | None:
    """The last build's report when its output is current for `state`, else None."""
    raw = cache.meta(_manifest_key(out))
    if raw is None:
        return None
    manifest = json.loads(raw)
    if manifest.get("state") != state:
        return None
    previous = cache.outputs(os.path.realpath(out))
    paths: list[str] = manifest["paths"]
    for path in paths:
        known = previous.get(path)
        try:
            info = os.stat(out / path)
        except OSError:
            return None
        if known is None or (info.st_size, info.st_mtime_ns) != known[1:]:
            return None
    # As any build would: strays matching the site's file patterns are removed.
    result = export_files(out, ((path, None) for path in paths), MANAGED)
    if result.removed:
        with cache.transaction():
            cache.wrote(os.path.realpath(out), [], result.paths_removed)
    problems = tuple(Problem(f, field, m, Severity(sev)) for f, field, m, sev in manifest["problems"])
    return BuildReport(Counts(**manifest["counts"]), problems, result, time.perf_counter() - started)


def _save_manifest(cache: RecordCache, out: Path, state: str, counts: Counts,
                   problems: tuple[Problem, ...], paths: list[str]) -> None:
    manifest = {"state": state, "counts": asdict(counts), "paths": paths,
                "problems": [[p.file, p.field, p.message, p.severity.value] for p in problems]}
    cache.set_meta(_manifest_key(out), json.dumps(manifest, ensure_ascii=False))


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


def _remember(cache: RecordCache, out: Path, result: ExportResult, digests: dict[str, str],
              state: str, counts: Counts, problems: tuple[Problem, ...]) -> None:
    rows = []
    for path in (*result.paths_written, *result.paths_same):
        info = os.stat(out / path)
        rows.append((path, digests[path], info.st_size, info.st_mtime_ns))
    with cache.transaction():
        cache.wrote(os.path.realpath(out), rows, result.paths_removed)
        _save_manifest(cache, out, state, counts, problems, list(digests))


def build_site(settings: Settings, progress: Progress | None = None) -> BuildReport:
    """Read the store, plan every feed, render what changed and export it to ``settings.out``."""
    started = time.perf_counter()
    out = Path(settings.out)
    cache = open_cache(settings)
    with closing(cache) if cache else nullcontext():
        scanned = scan(Path(settings.records))
        state = _state(settings, *scanned)
        if cache and (report := _reuse(cache, out, state, started)) is not None:
            if progress:
                progress(len(scanned[0]))
            return report
        store = load_store(settings, progress, cache, scanned)
        plan = plan_feeds(store, settings)
        previous = cache.outputs(os.path.realpath(out)) if cache else {}
        digests: dict[str, str] = {}
        result = export_files(out, _site_files(plan, store, settings, previous, digests), MANAGED)
        counts = Counts.of(store, plan)
        if cache:
            _remember(cache, out, result, digests, state, counts, store.problems)
    return BuildReport(counts, store.problems, result, time.perf_counter() - started, store, plan)
