"""The static edge: bring the catalog up to date, plan every feed, make the stale files, export.

One path for every build.  `Catalog.update` reads only the record files
that changed (all of them the first time); the planner then plans every feed
from catalog queries, which is cheap: a feed's plan is its newest refs, and a
file's fingerprint (the code, the output settings, the feed's fields and the
id and file digest of each entry it shows) comes from them alone.  A file is
made again only when its fingerprint differs from the one recorded for the
file on disk, or the file on disk is not the one last written; only then are
the full records it shows loaded.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Collection, Generator, Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import chain
from pathlib import Path
from typing import Any

from .archive import Page
from .catalog import Catalog, Changes, Counts, Listing, Output, Progress, Ref, with_catalog
from .catalog.db import stamp
from .catalog.scan import restat
from .compression import compress_files, sibling_digests, sibling_of
from .errors import ExportError, Problem, SettingsError
from .export import ExportResult, export_files, remove_stale
from .layout import ALL, ALL_STEM
from .pages import render_index, warm_templates
from .plan import FeedSpec, Pages, Plan, every_page, page_refs, plan_feed, plan_index, plan_site, summary_of
from .records import Headline, Record
from .settings import Settings
from .site import (
    MANAGED,
    Artifact,
    Source,
    archive_files,
    feed_artifacts,
    fingerprint,
    loaded,
    make_many,
    site_artifacts,
    stem_of,
)

NOTHING_PUBLISHED = " (nothing was published: every record was skipped or unpublished)"
# In what a build records as having made its output: switching precompression on or off is a change
# (siblings to write or to remove), although no file's own bytes change with it.
PRECOMPRESSED = "+precompressed"


@dataclass(frozen=True)
class BuildReport:
    """What a build read, published and wrote, and how long each phase took.

    `unchanged` says that no record file changed and no file was made.
    """

    counts: Counts
    problems: tuple[Problem, ...]
    export: ExportResult
    seconds: float
    plan: Plan | None = None
    unchanged: bool = False
    warnings: tuple[str, ...] = ()  # about the build itself (an unusable catalog), not about records
    phases: dict[str, float] = field(default_factory=dict)  # seconds, by phase, in order

    def summary(self) -> str:
        """The one-line summary the CLI ends with."""
        return (
            f"{self.counts.summary()}, {self.export.files} files, "
            f"{self.export.changed} changed; {self.seconds:.2f}s"
            f"{' (nothing changed since the last build)' if self.unchanged else ''}"
            f"{NOTHING_PUBLISHED if not self.counts.published else ''}"
        )


    def as_json(self) -> dict[str, Any]:
        """The summary as ``feeds build --json`` prints it, for CI: a stable object whose keys the
        README documents (new keys may be added; none is renamed or removed)."""
        c = self.counts
        return {"read": c.files, "published": c.published, "unpublished": c.unpublished,
                "duplicates": c.duplicates, "skipped": c.skipped, "feeds": c.feeds,
                "files": self.export.files, "changed": self.export.changed,
                "seconds": round(self.seconds, 3), "unchanged": self.unchanged,
                "problems": [{"file": p.file, "field": p.field, "message": p.message,
                              "severity": str(p.severity)} for p in self.problems],
                "warnings": list(self.warnings)}


def _intact(where: str, known: Output | None) -> bool:
    """True when the file at `where` is the one last written there (`known`), not one edited since
    (its change time moves even when size and modification time are put back)."""
    if known is None:
        return False
    try:
        info = os.stat(where, follow_symlinks=False)
    except OSError:
        return False
    return stamp(info) == known[1:]


class _Disk:
    """The output folder against what the last build wrote there; each file is looked at once."""

    def __init__(self, out: str, previous: dict[str, Output], trusted: bool = False) -> None:
        self.out, self.previous, self.trusted = out, previous, trusted
        self._prefix = os.path.join(out, "")
        self._intact: dict[str, bool] = {}

    def intact(self, path: str) -> bool:
        """True when `path` is the file last written there, untouched since (taken on trust, not
        looked at, by a watching build)."""
        if self.trusted:
            return path in self.previous
        found = self._intact.get(path)
        if found is None:
            found = self._intact[path] = _intact(self._prefix + path, self.previous.get(path))
        return found

    def current(self, path: str, digest: str) -> bool:
        """True when `path` is, untouched, the file last written there from `digest`."""
        known = self.previous.get(path)
        return known is not None and known.digest == digest and self.intact(path)


def _written(out: Path, result: ExportResult, digests: dict[str, str]) -> list[tuple[str, Output]]:
    """The outputs rows of the files an export wrote or found already written."""
    rows, root = [], str(out)
    for path in (*result.paths_written, *result.paths_same):
        try:
            info = os.stat(os.path.join(root, path))
        except FileNotFoundError:
            raise ExportError(f"{os.path.join(root, path)}: removed as soon as it was written (by another "
                              "program?); build again") from None
        rows.append((path, Output(digests[path], *stamp(info))))
    return rows


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


@dataclass
class Resident:
    """What a watching build keeps from one build to the next (see `Builder`)."""

    trusted: bool = False  # the output folder is as this builder left it (after its first build)
    listing: Listing | None = None  # the record folder as the last build found it ...
    listed: int = -1  # ... and the catalog's version it left
    pages: Pages | None = None  # every feed's archive pages (`every_page`) ...
    version: int = -1  # ... for this version of the catalog
    outputs: dict[str, Output] | None = None  # what the last build wrote (`Catalog.outputs`) ...
    built: tuple[int, str] | None = None  # ... as the site of this catalog version, by these settings

    _by_stem: dict[str, set[str]] | None = None  # the files of `outputs` by feed (siblings left out)
    # By feed: what its archive pages' files were last written from (see `unchanged_pages`) ...
    archives: dict[str, tuple[tuple[object, ...], tuple[Page, ...]]] = field(default_factory=dict)
    _planned: dict[str, tuple[tuple[object, ...], tuple[Page, ...]]] = field(default_factory=dict)  # ... and
    # what this build's are made from, kept once they are written
    _headlines: dict[Ref, Headline] = field(default_factory=dict)  # those the last index showed

    def headlines(self, catalog: Catalog) -> Callable[[Iterable[Ref]], list[Headline]]:
        """`catalog.headlines`, keeping those it gave last time (the index shows every feed's newest
        headline, and a change alters a few): a ref names the file's digest, so a kept one is current."""
        def found(refs: Iterable[Ref]) -> list[Headline]:
            wanted = list(refs)
            missing = [ref for ref in wanted if ref not in self._headlines]
            kept = {**self._headlines, **dict(zip(missing, catalog.headlines(missing), strict=True))}
            self._headlines = {ref: kept[ref] for ref in wanted}
            return [kept[ref] for ref in wanted]
        return found

    def previous(self, catalog: Catalog, out: str) -> dict[str, Output]:
        """What the last build wrote into `out`: as kept, when that build was this builder's."""
        self._planned.clear()
        if self.outputs is None or catalog.built(out) != self.built:
            self.outputs, self.built, self._by_stem = catalog.outputs(out), catalog.built(out), None
            self.archives.clear()
        return self.outputs

    def unchanged_pages(self, spec: FeedSpec, intact: Callable[[str], bool]
                        ) -> tuple[list[int] | None, list[str]]:
        """The positions of the archive pages of `spec` to fingerprint (None: all), and the files of
        the others, which are as last written (and `intact` on disk): a page whose own and whose
        neighbours' records (counted and hashed: `Page`) are those of a page last written, of a
        feed titled as then, makes the same files."""
        pages = spec.archive.pages if spec.archive is not None else ()
        made = (spec.title, spec.description, spec.name)
        self._planned[spec.stem] = (made, pages)
        last = self.archives.get(spec.stem)
        if last is None or last[0] != made:
            return None, []
        before = set(_neighbours(last[1]))
        make, same = [], []
        for at, around in enumerate(_neighbours(pages)):
            files = archive_files(spec.kind, spec.key, pages[at].key)
            if around in before and all(intact(path) for path in files):
                same.extend(files)
            else:
                make.append(at)
        return make, same

    def kept(self, stems: set[str], own: set[str]) -> list[str]:
        """The files last written that belong to none of the feeds `stems` nor to the site (`own`),
        compressed siblings left out: what `_planned` keeps, found without looking at every path."""
        assert self.outputs is not None
        if self._by_stem is None:
            self._by_stem = {}
            for path in self.outputs:
                if sibling_of(path) is None:
                    self._by_stem.setdefault(stem_of(path), set()).add(path)
        return [path for stem, paths in self._by_stem.items() if stem not in stems
                for path in paths if path not in own]

    def wrote(self, rows: list[tuple[str, Output]], gone: Iterable[str], built: tuple[int, str]) -> None:
        """What a build wrote (as it told the catalog)."""
        assert self.outputs is not None
        by_stem = self._by_stem if self._by_stem is not None else {}
        for path in gone:
            self.outputs.pop(path, None)
            by_stem.get(stem_of(path), set()).discard(path)
        for path, output in rows:
            if path not in self.outputs and sibling_of(path) is None:
                by_stem.setdefault(stem_of(path), set()).add(path)
            self.outputs[path] = output
        self.built, self.trusted = built, True
        self.settle()

    def settle(self) -> None:
        """Keep what the archive pages planned since `previous` are made from: their files are written."""
        self.archives.update(self._planned)
        self._planned.clear()


class Builder:
    """Builds the site again each time it is told which record files changed (``feeds build
    --watch``), on one open catalog.

    Between builds it keeps what a build otherwise finds again: the folder's listing (a
    rebuild looks only at the files it is told of, not at 100,000), every feed's archive
    pages (only the feeds a change touched are cut again), and what it wrote (the output
    folder is trusted to hold it: it is not looked through for files edited or added there;
    a build without ``--watch`` puts those right).  It makes what `build_site` makes.
    """

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.settings, self.catalog = settings, catalog
        self.resident = Resident()

    def build(self, changed: Collection[str] | None = None, progress: Progress | None = None) -> BuildReport:
        """Bring the site up to date with the record files named `changed` (file names in the record
        folder), or with every record file, listed again, for None (the first build does)."""
        return _build(self.settings, self.catalog, time.perf_counter(), progress, self.resident, changed)

    def links_changed(self) -> set[str]:
        """The record files that are links (and those skipped) whose targets changed since the last
        build: what no event in the record folder tells (a target in a subfolder, one made later)."""
        listing = self.resident.listing
        if listing is None or not listing.unplain:
            return set()
        fresh = restat(Path(self.settings.records), listing, listing.unplain)
        return set(listing.unplain) if fresh != listing else set()

    def warm(self) -> None:
        """Make, and let go, the index as the next build would: the templates are compiled, every
        feed's headline and the files by feed are kept, every feed's archive pages and what the
        all-items feed's are made from, so the first change is built as fast as the next ones (a
        watching build does this while it waits)."""
        resident, settings, catalog = self.resident, self.settings, self.catalog
        if resident.outputs is None or not resident.trusted:
            return  # nothing built yet
        resident.kept(set(), set())
        warm_templates()
        with catalog.reading():
            version = catalog.version()
            if resident.pages is None or resident.version != version:
                resident.pages, resident.version = every_page(catalog, settings), version
            if catalog.built(os.path.realpath(settings.out)) == resident.built and (
                    ALL_STEM not in resident.archives):  # what is on disk is this catalog's site
                summary = summary_of(catalog, ALL_STEM)
                assert summary is not None
                resident.unchanged_pages(plan_feed(catalog, summary, settings), resident.outputs.__contains__)
                resident.settle()
            plan = plan_index(catalog, settings, pages=False)
            front = loaded(plan, lambda refs: tuple(self.catalog.records(refs)),
                           resident.headlines(self.catalog), lambda spec: ())
            assert isinstance(front, Plan)
            render_index(front, settings)


def build_site(settings: Settings, progress: Progress | None = None) -> BuildReport:
    """Bring the catalog up to date, plan every feed, make what changed and export it to ``settings.out``.

    The catalog file only saves work: when it cannot be used (damaged, on a full
    disk, read-only), the build goes on with a catalog in memory, gives the same
    bytes, and says so in the report's `warnings`.
    """
    check_folders(settings)
    started = time.perf_counter()
    report, warning = with_catalog(settings, lambda catalog: _build(settings, catalog, started, progress))
    return replace(report, warnings=(warning,)) if warning else report


class _Clock:
    """Seconds spent in each phase of one build."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self._last = time.perf_counter()

    def restart(self) -> None:
        self._last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.phases[phase] = self.phases.get(phase, 0.0) + now - self._last
        self._last = now

    def timed(self, phase: str, items: Iterator[Any]) -> Iterator[Any]:
        """`items`, the time spent making each counted to `phase` (the rest to the consumer's)."""
        while True:
            self.lap("write")
            try:
                item = next(items)
            except StopIteration:
                self.lap(phase)
                return
            self.lap(phase)
            yield item


def _build(settings: Settings, catalog: Catalog, started: float, progress: Progress | None,
           resident: Resident | None = None, changed: Collection[str] | None = None) -> BuildReport:
    clock = _Clock()
    root = Path(settings.records)
    lister = None
    if resident is not None and resident.listing is not None and changed is not None and (
            catalog.version() == resident.listed):  # (else another process updated it: list it all)
        listing = resident.listing
        lister = lambda: restat(root, listing, changed)  # noqa: E731
    changes = catalog.update(root, settings, progress, lister=lister)
    if resident is not None:
        resident.listing, resident.listed = changes.listing, changes.after
    clock.phases.update(changes.phases)  # scan, read and parse, catalog writes
    clock.restart()
    # What the update left (the folder's listing: 100,000 tuples) lives to the end: the collector
    # need not walk it each time it looks for garbage among what planning and pages make.
    gc.freeze()
    try:
        return _plan_and_write(settings, catalog, started, changes, clock, resident)
    finally:
        gc.unfreeze()


def _plan_and_write(settings: Settings, catalog: Catalog, started: float, changes: Changes, clock: _Clock,
                    resident: Resident | None) -> BuildReport:
    out = Path(settings.out)
    real_out = os.path.realpath(out)
    made_by = fingerprint(settings) + (PRECOMPRESSED if settings.precompress else "")
    digests: dict[str, str] = {}
    current: list[str] = []
    pending: list[Artifact] = []  # the files to make
    # One version of the catalog from planning to the last record loaded for the last file made.
    with catalog.reading():
        previous = catalog.outputs(real_out) if resident is None else resident.previous(catalog, real_out)
        # A watching build looks at the output folder in its first build, then takes it on trust.
        trusted = resident is not None and resident.trusted
        if not changes.any and _as_left(catalog, real_out, previous, changes.before, made_by, trusted):
            plan = plan_index(catalog, settings, pages=False)
            problems = catalog.problems(changes.listing)
            counts = catalog.counts(problems)
            clock.lap("plan")
            # Joined by hand: os.path.join is a Python function, and this runs for every file.
            prefix = os.path.join(out, "")
            stray = [] if trusted else remove_stale(out, {prefix + path for path in previous}, MANAGED)
            if resident is not None:
                resident.trusted = True
            clock.lap("write")
            return BuildReport(counts, problems, ExportResult(len(previous), paths_removed=tuple(stray)),
                               time.perf_counter() - started, plan, unchanged=True, phases=clock.phases)
        disk = _Disk(real_out, previous, trusted)
        plan, artifacts, kept = _planned(catalog, settings, changes, disk, made_by, resident)
        current.extend(kept)
        for artifact in artifacts:
            digests[artifact.path] = artifact.digest
            if disk.current(artifact.path, artifact.digest):
                current.append(artifact.path)
            else:
                pending.append(artifact)
        del artifacts
        problems = catalog.problems(changes.listing)
        counts = catalog.counts(problems)
        digests.update((path, previous[path].digest) for path in kept)
        repack = _siblings(current, pending, digests, disk) if settings.precompress else []
        clock.lap("plan")
        headlines = catalog.headlines if resident is None else resident.headlines(catalog)
        making = _made(pending, catalog, settings, headlines)
        compressing = compress_files(real_out, repack, settings.jobs)
        made = clock.timed("render", chain(making, compressing))
        if resident is not None:  # until this export is written and known, the folder is looked at again
            resident.trusted = False
        try:
            if not trusted:
                result = export_files(out, chain(((path, None) for path in current), made), MANAGED)
            else:  # what the site no longer has is known: the folder is not looked through
                result = export_files(out, made, MANAGED, gone=previous.keys() - digests.keys())
                result = replace(result, files=result.files + len(current))
        finally:  # an export that failed stops the worker processes here, not wherever the collector runs
            making.close()
            compressing.close()
    rows = _written(out, result, digests)
    catalog.wrote(real_out, rows, result.paths_removed, changes.after, made_by)
    if resident is not None:
        resident.wrote(rows, result.paths_removed, (changes.after, made_by))
    clock.lap("write")
    unchanged = not changes.any and not pending and not repack and not result.removed
    return BuildReport(counts, problems, result, time.perf_counter() - started, plan, unchanged,
                       phases=clock.phases)


BATCH_RECORDS = 50_000  # full records held at once while making files: memory stays flat as the store grows


def _made(pending: list[Artifact], catalog: Catalog, settings: Settings,
          headlines: Callable[[Iterable[Ref]], list[Headline]]) -> Generator[tuple[str, bytes], None, None]:
    """(path, bytes) of every pending file (and its compressed siblings), made in batches: each loads
    the records its files show (a record shown by several is loaded once), at most about
    `BATCH_RECORDS` of them, and they are let go before the next batch is loaded."""
    loaded_records: dict[Ref, Record] = {}

    def full(refs: tuple[Ref, ...]) -> tuple[Record, ...]:
        missing = [ref for ref in refs if ref not in loaded_records]
        found = catalog.records(missing)
        loaded_records.update(zip(missing, found, strict=True))
        return tuple(loaded_records[ref] for ref in refs)

    def archived(spec: FeedSpec) -> tuple[Ref, ...]:
        return page_refs(catalog, spec, settings.archive_size)

    # A feed's three formats and its page are made from one spec, the index and OPML from one plan:
    # each is loaded once (by identity: `pending` keeps every one alive meanwhile).
    sources: dict[int, Source] = {}
    batch: list[tuple[Artifact, Source]] = []
    for artifact in pending:
        source = sources.get(id(artifact.source))
        if source is None:
            if len(loaded_records) >= BATCH_RECORDS:
                yield from make_many(batch, settings, settings.jobs)
                batch, sources = [], {}
                loaded_records.clear()
            source = sources[id(artifact.source)] = loaded(artifact.source, full, headlines, archived)
        batch.append((artifact, source))
    yield from make_many(batch, settings, settings.jobs)


def _as_left(catalog: Catalog, out: str, previous: dict[str, Output], version: int, made_by: str,
             trusted: bool) -> bool:
    """True when `out` holds, untouched, the site the last build made of this catalog `version` with
    this code and settings: a plan would make every file as it is, and nothing is stale (`trusted`:
    a watching build takes its own output to be as it left it)."""
    prefix = os.path.join(out, "")  # joined by hand: os.path.join costs more than the stat here
    return catalog.built(out) == (version, made_by) and (trusted or all(
        _intact(prefix + path, known) for path, known in previous.items()))


def _siblings(current: list[str], pending: list[Artifact], digests: dict[str, str], disk: _Disk
              ) -> list[str]:
    """The files kept as they are whose compressed siblings must be made again from the file on disk.

    The siblings of a file being made are made with it; those of a kept file that are, untouched,
    the ones written from its bytes join `current`.  `digests` gains every sibling's.
    """
    for artifact in pending:
        digests.update(sibling_digests(artifact.path, artifact.digest))
    repack = []
    for path in list(current):
        fresh = sibling_digests(path, digests[path])
        digests.update(fresh)
        if all(disk.current(sibling, digest) for sibling, digest in fresh.items()):
            current.extend(fresh)
        else:
            repack.append(path)
    return repack


def _planned(catalog: Catalog, settings: Settings, changes: Changes, disk: _Disk, made_by: str,
             resident: Resident | None) -> tuple[Plan, list[Artifact], list[str]]:
    """The plan, the files to fingerprint, and the files known to be current without it.

    When the last build into `out` left the site of the catalog's version before this update,
    made by the same code and settings, only the feeds the update touched (and those whose
    files on disk are not the ones written) are planned in full: every other feed's files are
    still what a plan would make.  Otherwise every feed is planned, and each file's fingerprint
    says whether it is current.  A watching build (`resident`) cuts again only the archive
    pages of the feeds the update touched, and trusts its own files to be as it wrote them.
    """
    last = catalog.built(disk.out)
    version = catalog.version()
    known = resident.pages if resident is not None and resident.version == changes.before else None
    if last is None or last != (changes.before, made_by):
        plan = plan_site(catalog, settings)
        _keep(resident, plan, version)
        if resident is not None:
            resident.archives.clear()
            for spec in plan.feeds:
                resident.unchanged_pages(spec, disk.intact)
        return plan, site_artifacts(plan, settings), []
    plan = plan_index(catalog, settings, known=known, touched=changes.feeds)
    _keep(resident, plan, version)
    site = site_artifacts(plan, settings, set())
    own = {artifact.path for artifact in site}
    stems = set(changes.feeds)
    # A compressed sibling follows the file it stands beside (see `_siblings`), never on its own.
    if resident is None or not disk.trusted:  # (a trusted disk is a watching build's)
        others = [path for path in disk.previous if path not in own and sibling_of(path) is None]
        stems.update(stem_of(path) for path in others if not disk.intact(path))
        kept = [path for path in others if stem_of(path) not in stems]
    else:
        kept = resident.kept(stems, own)
    artifacts = list(site)
    for spec in plan.feeds:
        if spec.stem in stems:
            if spec.kind is not ALL:  # (the plan holds the all-items feed in full: the index shows it)
                summary = summary_of(catalog, spec.stem)
                assert summary is not None  # the plan was made from it, in this read transaction
                spec = plan_feed(catalog, summary, settings)
            if resident is None:
                artifacts.extend(feed_artifacts(spec, settings))
            else:
                make, same = resident.unchanged_pages(spec, disk.intact)
                kept.extend(same)
                artifacts.extend(feed_artifacts(spec, settings, spec.pages(make)))
    return plan, artifacts, kept


def _neighbours(pages: tuple[Page, ...]) -> list[tuple[Page | None, Page, Page | None]]:
    """Each archive page with the pages before and after it (what its files are made from)."""
    return [(pages[at - 1] if at else None, page, pages[at + 1] if at + 1 < len(pages) else None)
            for at, page in enumerate(pages)]


def _keep(resident: Resident | None, plan: Plan, version: int) -> None:
    """Keep the archive pages of every feed (`plan`, made of the catalog at `version`) for the next
    build of a watching builder."""
    if resident is not None:
        resident.pages, resident.version = plan.every_page, version
