"""The build: store → plan → render → export, incremental through the record cache.

A feed is rendered only when its fingerprint (settings, feed fields, and the
id and file digest of every entry) differs from the one recorded for the
file on disk, or the file on disk is not the one last written.

Before any of that, a build into a folder built before with the same code
and output settings starts from what that build knew (`feeds.memory`): when
few record files changed, only those are read and only the feeds they were
or are now in are planned and rendered again; when none changed and every
output file is still the one written, nothing is read, planned or rendered.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from itertools import chain
from pathlib import Path

from .cache import Output, RecordCache, busy, open_cache, unusable, unusable_warning
from .errors import CacheBusy, Problem, SettingsError
from .export import ExportResult, export_files
from .memory import Counts, Member, Memory
from .plan import FeedSpec, Plan, plan_feeds
from .records import Headline, ReadResult, Record
from .render import code_digest
from .settings import Settings
from .site import MANAGED, Artifact, make_many, site_artifacts
from .store import Entry, Progress, Store, load_store, read_files, scan

# Settings that change how a build runs (or how a live server keeps bodies), not what it writes.
_NOT_OUTPUT = ("jobs", "cache_dir", "body_cache_bytes")
NOTHING_PUBLISHED = " (nothing was published: every record was skipped or unpublished)"
FEW_FILES = 1_000  # up to this many changed files (or a tenth of the store) a build starts from memory


@dataclass(frozen=True)
class BuildReport:
    """What a build read, published and wrote, and how long it took.

    `store` is None when the build started from what the last build into the
    same folder knew; `plan` then holds in full only the feeds planned again.
    `unchanged` says that nothing was read, planned or rendered.
    """

    counts: Counts
    problems: tuple[Problem, ...]
    export: ExportResult
    seconds: float
    store: Store | None = None
    plan: Plan | None = None
    unchanged: bool = False
    warnings: tuple[str, ...] = ()  # about the build itself (an unusable cache), not about records

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
            f"{NOTHING_PUBLISHED if not c.published else ''}"
        )


def config_of(settings: Settings) -> str:
    """A fingerprint of the code and of every setting that shapes the output."""
    wanted = {k: v for k, v in asdict(settings).items() if k not in _NOT_OUTPUT}
    return hashlib.blake2b(repr((code_digest(), sorted(wanted.items()))).encode(),
                           digest_size=16).hexdigest()


def _intact(out: Path | str, path: str, known: Output | None) -> bool:
    """True when `path` under `out` is the file last written there (`known`), not one edited since
    (its change time moves even when size and modification time are put back)."""
    if known is None:
        return False
    try:
        info = os.stat(os.path.join(out, path), follow_symlinks=False)
    except OSError:
        return False
    return (info.st_size, info.st_mtime_ns, info.st_ctime_ns) == known[1:]


def _current(out: Path, path: str, previous: Output | None, digest: str) -> bool:
    """True when `path` under `out` is the file last written for this `digest`."""
    return previous is not None and previous.digest == digest and _intact(out, path, previous)


Full = Callable[[tuple[Headline, ...]], tuple[Record, ...]]


def _site_files(artifacts: list[Artifact], full: Full, settings: Settings,
                previous: dict[str, Output], digests: dict[str, str]
                ) -> Iterator[tuple[str, bytes | None]]:
    """The files of `artifacts`: None for those already current, fresh bytes for the rest.

    `digests` receives every path with its fingerprint.
    """
    out = Path(settings.out)
    stale: list[Artifact] = []
    for artifact in artifacts:
        digests[artifact.path] = artifact.digest
        if _current(out, artifact.path, previous.get(artifact.path), artifact.digest):
            yield artifact.path, None
        else:
            stale.append(artifact)
    loaded: dict[int, FeedSpec] = {}  # each feed's records are loaded once for all its files
    work: list[tuple[Artifact, FeedSpec | None]] = []
    for artifact in stale:
        spec = artifact.spec
        if spec is not None:
            key = id(spec)
            if key not in loaded:
                loaded[key] = spec.with_records(full(spec.records))
            spec = loaded[key]
        work.append((artifact, spec))
    yield from make_many(work, settings, settings.jobs)


def by_feed(artifacts: list[Artifact]) -> dict[str, list[str]]:
    """The site paths of each feed (by stem; the site's own files under "")."""
    paths: dict[str, list[str]] = {}
    for artifact in artifacts:
        paths.setdefault(artifact.spec.stem if artifact.spec else "", []).append(artifact.path)
    return paths


def _written(out: Path, result: ExportResult, digests: dict[str, str]) -> list[tuple[str, Output]]:
    """The outputs rows of the files an export wrote or found already written."""
    rows = []
    for path in (*result.paths_written, *result.paths_same):
        info = os.stat(out / path)
        rows.append((path, Output(digests[path], info.st_size, info.st_mtime_ns, info.st_ctime_ns)))
    return rows


def _before(cache: RecordCache, held: dict[str, tuple[int, ...]]
            ) -> dict[str, tuple[int, Headline | None]] | None:
    """What the memory's build knew of the files it held that changed: state and headline.

    The cache holds one row per file for every build from the same store: a
    build into another folder may have read a file afresh since.  Its row is
    what this memory knew only when it is of the identity this memory listed;
    None when one is not (the full build then decides).
    """
    rows = cache.states(held)
    if any(rows.get(name, (0, None, None))[2] != identity for name, identity in held.items()):
        return None
    return {name: (state, head) for name, (state, head, _) in rows.items()}


@dataclass
class Advanced:
    """A memory brought up to date with the record folder (`advance`).

    `plan`, `members` and `gone` are `Memory.update`'s; all None when no file
    changed (and nothing was damaged): the memory is then as it was kept.
    """

    memory: Memory
    problems: list[Problem]  # the scan's
    plan: Plan | None = None
    members: dict[str, list[Member]] | None = None
    gone: list[str] | None = None


def advance(cache: RecordCache, key: str, settings: Settings, scanned: tuple[list[Entry], list[Problem]],
            config: str, progress: Progress | None = None, keep_all: bool = False,
            damage: Callable[[Memory], set[str]] = lambda memory: set()) -> Advanced | None:
    """The memory kept under `key`, brought up to date with the files that changed since.

    Only the changed files are read (and remembered in the cache).  None when
    it cannot be: no such memory, its code or output settings differ, too
    many files changed, the cache's rows are not those the memory knew, a
    changed file shares its link with another, or the kept members are
    unreadable; the full build decides then.  `damage` gives the site paths
    whose files must be made again although no record of theirs changed.
    """
    memory = Memory.load(cache, key)
    entries, scan_problems = scanned
    if memory is None or memory.config != config:
        return None
    memory.keep_all = keep_all
    changed, removed, held = memory.changes(entries)
    if len(changed) + len(removed) > max(FEW_FILES, len(entries) // 10):
        return None
    before = _before(cache, held)
    if before is None:
        return None
    if progress:
        progress(len(entries) - len(changed))
    read = read_files(changed, settings, progress, encoded=True)
    fresh: dict[str, ReadResult] = {e.name: outcome for e, (outcome, _) in zip(changed, read, strict=True)}
    if changed or removed:
        with cache.transaction():
            cache.remember((e.name, e.identity, row) for e, (_, row) in zip(changed, read, strict=True)
                           if row is not None)
            cache.forget(removed)
            cache.save_snapshot()
    links = {(h.link, name) for name, (_, h) in before.items() if h is not None}
    links |= {(r.record.link, name) for name, r in fresh.items() if r.record is not None}
    if any(cache.shares_link(link, name) for link, name in links):
        return None  # the duplicate rule needs the whole store
    damaged = damage(memory)
    if not (changed or removed or damaged):
        return Advanced(memory, scan_problems)
    try:
        updated = memory.update(cache, key, settings, entries, fresh, before, removed, damaged)
    except (TypeError, ValueError, IndexError, KeyError):
        updated = None  # members kept in another shape (a damaged cache): the full build decides
    if updated is None:
        return None
    return Advanced(memory, scan_problems, *updated)


def _update(cache: RecordCache, settings: Settings, scanned: tuple[list[Entry], list[Problem]],
            config: str, started: float, progress: Progress | None) -> BuildReport | None:
    """The build, started from what the last build into the same folder knew; None when it cannot."""
    out = Path(settings.out)
    real_out = os.path.realpath(out)
    outputs: dict[str, Output] = {}

    def damage(memory: Memory) -> set[str]:  # edited, removed, never written
        outputs.update(cache.outputs(real_out))
        return {p for paths in memory.paths.values() for p in paths
                if not _intact(real_out, p, outputs.get(p))}

    advanced = advance(cache, real_out, settings, scanned, config, progress, damage=damage)
    if advanced is None:
        return None
    memory = advanced.memory
    if advanced.plan is None:  # nothing to read, plan or render
        result = export_files(out, ((p, None) for paths in memory.paths.values() for p in paths),
                              MANAGED)  # strays still go
        if result.removed:
            with cache.transaction():
                cache.wrote(real_out, [], result.paths_removed)
        problems = memory.report_problems(advanced.problems)
        return BuildReport(replace(memory.counts), problems, result, time.perf_counter() - started,
                           unchanged=True)
    plan, members, gone = advanced.plan, advanced.members or {}, advanced.gone or []
    # Only the feeds planned again (and the site's own files, when there are any) are looked at.
    artifacts = site_artifacts(plan, settings, set(members)) if members else []
    kept = [p for stem, paths in memory.paths.items() if stem not in members and stem not in gone
            and (stem or not members) for p in paths]
    digests: dict[str, str] = {}
    files = _site_files(artifacts, lambda records: records, settings, outputs, digests)  # type: ignore[arg-type,return-value]
    result = export_files(out, chain(files, ((p, None) for p in kept)), MANAGED)
    memory.forget_paths(gone, by_feed(artifacts))
    problems = memory.report_problems(advanced.problems)
    with cache.transaction():
        cache.wrote(real_out, _written(out, result, digests), result.paths_removed)
        memory.save(cache, real_out, members, gone)
    return BuildReport(replace(memory.counts), problems, result, time.perf_counter() - started,
                       None, plan)


def check_folders(settings: Settings) -> None:
    """Refuse an output folder that is the record folder or inside or above it: the record files,
    unpublished ones and their `secured` values included, would be deployed with the site."""
    records, out = os.path.realpath(settings.records), os.path.realpath(settings.out)
    if out == records:
        where = "is the record folder"
    elif os.path.commonpath([out, records]) == records:
        where = f"is inside the record folder {records}"
    elif os.path.commonpath([out, records]) == out:
        where = f"holds the record folder {records}"
    else:
        return
    raise SettingsError(f"out: {out} {where}; the record files (unpublished text and secured values "
                        "included) would be published with the feeds: choose a folder apart from it")


def build_site(settings: Settings, progress: Progress | None = None) -> BuildReport:
    """Read the store, plan every feed, render what changed and export it to ``settings.out``.

    The record cache only saves work: when it cannot be used (damaged, on a
    full disk, read-only), the build goes on without it, gives the same bytes,
    and says so in the report's `warnings`.
    """
    check_folders(settings)
    started = time.perf_counter()
    cache, warning = open_cache(settings)
    try:
        report = _build(settings, cache, started, progress)
    except sqlite3.DatabaseError as exc:
        if cache is not None and busy(exc):
            raise CacheBusy(f"{cache.path}: another process held the record cache for over a minute "
                            f"({exc}); build again when it is done, or set cache_dir=off") from None
        if cache is None or not unusable(exc):
            raise
        warning = unusable_warning(cache.path, exc)
        cache.close()
        cache = None
        report = _build(settings, None, started, progress)
    finally:
        if cache is not None:
            cache.close()
    return replace(report, warnings=(warning,)) if warning else report


def _build(settings: Settings, cache: RecordCache | None, started: float, progress: Progress | None
           ) -> BuildReport:
    out = Path(settings.out)
    scanned = scan(Path(settings.records))
    config = config_of(settings)
    if cache and (report := _update(cache, settings, scanned, config, started, progress)):
        return report
    store = load_store(settings, progress, cache, scanned)
    plan = plan_feeds(store, settings)
    real_out = os.path.realpath(out)
    previous = cache.outputs(real_out) if cache else {}
    digests: dict[str, str] = {}
    artifacts = site_artifacts(plan, settings)
    result = export_files(out, _site_files(artifacts, store.full, settings, previous, digests), MANAGED)
    counts = Counts.of(store, plan)
    if cache:
        memory, members = Memory.of_build(config, counts, by_feed(artifacts), scanned[0], store, plan,
                                          settings)
        with cache.transaction():
            cache.wrote(real_out, _written(out, result, digests), result.paths_removed)
            memory.save(cache, real_out, members, everything=True)
    return BuildReport(counts, store.problems, result, time.perf_counter() - started, store, plan)
