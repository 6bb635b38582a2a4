"""What the last build into a folder knew, and how a few changed files bring it up to date.

Planning looks at every record: at 100,000 records a full build takes
seconds even when one file changed.  So after each build the cache keeps,
for its output folder, a `Memory`:

* the listing: every record file's identity (size, modification and change times, inode);
* each feed's members: (newest-first key, id, file name, name as written,
  logo, quality, heat, digest) of every record it holds, kept per feed so
  that a change loads only its feeds; of the all-items feed, which every
  change touches, only the newest `RESERVE` (its total is the count of
  published records) unless the memory keeps all (the live server's, which
  narrows feeds by quality and heat);
* each feed's summary (kind, key, display name, total, logo, newest
  headline): all the index and the OPML list need of a feed that did not change;
* each file's problems, in the order a full build reports them;
* the counts, each feed's site paths and the configuration (code and output
  settings) it was built with;
* a generation, later at each save than any before it in the cache, which
  the members saved with it carry: a reader holding one generation knows whether a feed's kept members
  are still those it saw (`feeds.live`).

The next build compares the folder with the listing.  When a few files
changed and none of them shares its link with another file (the duplicate
rule needs the whole store), `Memory.update` plans again only the feeds those
files were or are now in, from their kept members, and loads the full
records of just those feeds' newest entries.  Every other feed is known to be
current.  The result is a full build's, byte for byte (tests/test_memory.py).
"""

from __future__ import annotations

import bisect
import json
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .cache import UNPUBLISHED, RecordCache, head_tuple, headline
from .errors import Problem, Severity, skipped
from .plan import (
    ALL,
    EMBED_LIMIT,
    KINDS,
    PROVIDER,
    FeedSpec,
    Kind,
    Plan,
    display_name,
    feed_keys,
    make_spec,
    stem,
)
from .records import Headline, ReadResult, Record
from .settings import Settings
from .store import Entry, Store

# (-published timestamp, id, file name, name as written, logo, quality, heat, digest): sorts
# newest first, ties broken by id, then by file name as the store is read.
Member = tuple[float, str, str, str, str | None, int | None, int | None, str]
Summary = tuple[str, str, str, int, str | None, tuple[Any, ...] | None]  # kind, key, name, total, logo, head
KINDS_BY_NAME = {kind.name: kind for kind in KINDS}
IDS = 4  # integers of one file's identity in the listing: size, mtime_ns, ctime_ns, inode
RESERVE = 2_000  # all-items members kept beyond those shown; when changes use them up, a full build
_ORDER = {kind.name: i for i, kind in enumerate(KINDS)}


def member(record: Headline, name: str, written: str) -> Member:
    """What a feed keeps of one record it holds."""
    return (-record.published_at.timestamp(), record.id, name, written, record.provider.logo,
            record.quality, record.heat, record.digest)


def _feeds_of(record: Headline | None) -> list[tuple[Kind, str, str]]:
    if record is None:
        return []
    return [(ALL, "", ""), *feed_keys(record)]


@dataclass
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


@dataclass
class Memory:
    """What the last build into one output folder knew (see the module docstring)."""

    config: str
    counts: Counts
    paths: dict[str, list[str]]  # each feed's site paths by stem; the site's own under ""
    listing: tuple[list[str], Sequence[int]]  # see `_listing`
    feeds: dict[str, Summary]
    problems: dict[str, list[tuple[str, str, str, str]]]
    generation: int = 0
    keep_all: bool = False  # every member of the all-items feed, not just the newest (not kept itself)

    # -- keeping -------------------------------------------------------------
    @classmethod
    def load(cls, cache: RecordCache, out: str) -> Memory | None:
        """What the cache kept for `out`, or None (never built, or kept unreadably)."""
        kept = cache.memory(out)
        if kept is None:
            return None
        manifest, kept_listing, feeds, problems = kept
        listing = _read_listing(kept_listing)
        if listing is None or not (isinstance(feeds, dict) and isinstance(problems, dict)):
            return None
        try:
            raw = json.loads(manifest)
            memory = cls(raw["config"], Counts(**raw["counts"]), raw["paths"], listing, feeds, problems,
                         raw["generation"])
        except (ValueError, TypeError, KeyError):
            return None
        return memory if isinstance(memory.paths, dict) and isinstance(memory.generation, int) else None

    def save(self, cache: RecordCache, out: str, members: dict[str, list[Member]],
             gone: Iterable[str] = (), everything: bool = False) -> None:
        """Keep this memory and these feeds' members (inside a cache transaction), a generation on."""
        self.generation = cache.next_generation()
        manifest = json.dumps({"config": self.config, "counts": asdict(self.counts), "paths": self.paths,
                               "generation": self.generation}, ensure_ascii=False)
        cache.remember_build(out, manifest, _kept_listing(self.listing), self.feeds, self.problems)
        cache.save_members(out, members, self.generation, gone, everything)

    @classmethod
    def of_build(cls, config: str, counts: Counts, paths: dict[str, list[str]], entries: list[Entry],
                 store: Store, plan: Plan, settings: Settings, keep_all: bool = False
                 ) -> tuple[Memory, dict[str, list[Member]]]:
        """The memory of a full build, and every feed's members."""
        listing = _listing(entries)
        problems = {name: [_problem_row(p) for p in found] for name, found in store.file_problems.items()}
        members: dict[str, list[Member]] = {spec.stem: [] for spec in plan.feeds}
        for r in store.records:  # newest first, as every feed holds them
            for kind, key, written in _feeds_of(r):
                members[stem(kind, key)].append(member(r, store.names[id(r)], written))
        memory = cls(config, counts, paths, listing, {spec.stem: _summary(spec) for spec in plan.feeds},
                     problems, keep_all=keep_all)
        del members["feed"][memory.kept(settings):]
        return memory, members

    def kept(self, settings: Settings) -> int:
        """How many of the all-items feed's members are kept."""
        return (1 << 62) if self.keep_all else max(settings.limit, EMBED_LIMIT) + RESERVE

    # -- comparing -----------------------------------------------------------
    def changes(self, entries: list[Entry]) -> tuple[list[Entry], list[str], dict[str, tuple[int, ...]]]:
        """The entries whose file is new or changed since, the names of files gone since, and
        the identity this memory knew for each of those names it held.

        The listing kept becomes that of `entries`.
        """
        old_names, old_ids = self.listing
        self.listing = names, ids = _listing(entries)
        if names == old_names:  # the same files: find the identities that differ
            if ids == old_ids:
                return [], [], {}
            changed = [entries[i] for i in _differing(ids, old_ids, 0, len(entries))]
            index = {e.name: i for i, e in enumerate(entries)} if changed else {}
            return changed, [], {e.name: tuple(old_ids[IDS * index[e.name]:IDS * index[e.name] + IDS])
                                 for e in changed}
        known = {name: tuple(old_ids[IDS * i:IDS * i + IDS]) for i, name in enumerate(old_names)}
        changed = [e for e in entries if known.get(e.name) != e[1:]]
        present = set(names)
        removed = [name for name in old_names if name not in present]
        held = {e.name: known[e.name] for e in changed if e.name in known}
        held.update((name, known[name]) for name in removed)
        return changed, removed, held

    def report_problems(self, scanned: list[Problem]) -> tuple[Problem, ...]:
        """Every problem, in the order a full build gives them: the scan's, then file by file.

        The count of files skipped follows from them.
        """
        found = list(scanned)
        for name in sorted(self.problems):
            found.extend(Problem(f, field, m, Severity(sev)) for f, field, m, sev in self.problems[name])
        self.counts.skipped = skipped(found)
        return tuple(found)

    def plan(self, settings: Settings, specs: dict[str, FeedSpec] | None = None) -> Plan:
        """Every feed, in plan order: those in `specs` as given, the rest from their summaries.

        A feed made from its summary holds only its newest record: enough for the
        index and the OPML list, not for rendering its own files.
        """
        specs = specs or {}
        ordered = sorted(self.feeds.items(), key=lambda item: (_ORDER[item[1][0]], item[1][1]))
        feeds = []
        for key, (kind, feed_key, name, total, logo, head) in ordered:
            spec = specs.get(key)
            if spec is None:
                newest = (headline(head),) if head else ()
                spec = make_spec(KINDS_BY_NAME[kind], feed_key, name, newest, settings, total, logo)
            feeds.append(spec)
        return Plan(tuple(feeds))

    def forget_paths(self, gone: Iterable[str], fresh: dict[str, list[str]]) -> None:
        """The feeds `gone` have no files any more; those in `fresh` have these."""
        for key in gone:
            self.paths.pop(key, None)
        self.paths.update(fresh)

    # -- updating ------------------------------------------------------------
    def update(self, cache: RecordCache, out: str, settings: Settings, entries: list[Entry],
               fresh: dict[str, ReadResult], before: dict[str, tuple[int, Headline | None]],
               removed: list[str], damaged: set[str]
               ) -> tuple[Plan, dict[str, list[Member]], list[str]] | None:
        """Bring this memory up to date with the files read afresh and those removed.

        `before` holds the state and headline the last build knew of those it held; `damaged`
        the site paths whose files on disk are not the ones last written.  Gives the
        new plan (the feeds to render in full, the rest from summaries), the new
        members of the feeds planned again and the feeds that are gone; None
        when the kept members are unreadable (a full build then follows).
        """
        previous_total = self.counts.published
        gone_from: dict[str, set[str]] = {}
        joined: dict[str, list[Member]] = {}
        kinds: dict[str, tuple[Kind, str]] = {}
        for name in [*fresh, *removed]:
            state, old = before.get(name, (None, None))
            result = fresh.get(name)
            new = result.record if result else None
            self.counts.unpublished += (result is not None and result.unpublished) - (state == UNPUBLISHED)
            self.counts.published += (new is not None) - (old is not None)
            for kind, key, _ in _feeds_of(old):
                kinds[stem(kind, key)] = (kind, key)
                gone_from.setdefault(stem(kind, key), set()).add(name)
            for kind, key, written in _feeds_of(new):
                kinds[stem(kind, key)] = (kind, key)
                joined.setdefault(stem(kind, key), []).append(member(new, name, written))  # type: ignore[arg-type]
            if result is not None and result.problems:
                self.problems[name] = [_problem_row(p) for p in result.problems]
            else:
                self.problems.pop(name, None)
        self.counts.files = len(entries)
        for key, paths in self.paths.items():  # the feeds of damaged files are rendered again
            if not damaged.isdisjoint(paths):
                summary = self.feeds.get(key)
                kinds[key if summary else "feed"] = ((KINDS_BY_NAME[summary[0]], summary[1]) if summary
                                                     else (ALL, ""))
        if kinds:  # the site's own files (the index, the OPML list) are looked at again with any feed
            kinds["feed"] = (ALL, "")
        kept = cache.members(out, kinds)
        if any(key in self.feeds and key not in kept for key in kinds):
            return None
        members: dict[str, list[Member]] = {}
        gone = []
        for key in kinds:
            rows = kept.get(key, [])
            # All of the feed's members, or (the all-items feed) only its newest: then a record
            # older than the last one kept stays out, as records past the reserve always do.
            whole = key != "feed" or len(rows) == previous_total
            if key in gone_from:
                rows = [m for m in rows if m[2] not in gone_from[key]]
            for row in joined.get(key, ()):
                if whole or (rows and row < rows[-1]):
                    bisect.insort(rows, row)
            if key == "feed":
                if not whole and len(rows) < max(settings.limit, EMBED_LIMIT):
                    return None  # the reserve is used up: the full build fills it again
                del rows[self.kept(settings):]
            if rows or key == "feed":  # the all-items feed is there even when empty
                members[key] = rows
            else:
                gone.append(key)
                self.feeds.pop(key, None)
        specs = self._specs(cache, settings, members, kinds, fresh)
        self.counts.feeds = len(self.feeds)
        return self.plan(settings, specs), members, gone

    def _specs(self, cache: RecordCache, settings: Settings, members: dict[str, list[Member]],
               kinds: dict[str, tuple[Kind, str]], fresh: dict[str, ReadResult]) -> dict[str, FeedSpec]:
        """The feeds planned again, holding the full records of their newest members."""
        held = max(settings.limit, EMBED_LIMIT)
        wanted = {m[2] for rows in members.values() for m in rows[:held]}
        records: dict[str, Record] = {}
        for name in wanted:
            result = fresh.get(name)
            if result is not None and result.record is not None:
                records[name] = result.record
        records.update(cache.records(wanted - records.keys()))
        specs = {}
        for key, rows in members.items():
            kind, feed_key = kinds[key]
            total = self.counts.published if kind is ALL else len(rows)
            spec = feed_spec(kind, feed_key, rows, [records[m[2]] for m in rows[:held]], settings, total)
            specs[key] = spec
            self.feeds[key] = _summary(spec)
        return specs


def feed_spec(kind: Kind, key: str, rows: list[Member], newest: Sequence[Headline], settings: Settings,
              total: int) -> FeedSpec:
    """The feed of `kind` and `key` with these members, holding `newest` (of its first members)."""
    name = settings.site_title if kind is ALL else display_name(m[3] for m in rows)
    logo = next((m[4] for m in rows if m[4]), None) if kind is PROVIDER else None
    return make_spec(kind, key, name, tuple(newest), settings, total, logo)


def _summary(spec: FeedSpec) -> Summary:
    newest = head_tuple(spec.records[0]) if spec.records else None
    return (spec.kind.name, spec.key, spec.name, spec.total, spec.logo, newest)


def _problem_row(problem: Problem) -> tuple[str, str, str, str]:
    return (problem.file, problem.field, problem.message, problem.severity.value)


def _listing(entries: list[Entry]) -> tuple[list[str], Sequence[int]]:
    """Every entry's name, and its size, mtime, ctime and inode one after another (as 64-bit
    integers, quick to keep and compare, unless one does not fit)."""
    ids = [n for e in entries for n in (e.size, e.mtime_ns, e.ctime_ns, e.ino)]
    try:
        return [e.name for e in entries], array("q", ids)
    except OverflowError:
        return [e.name for e in entries], ids


def _differing(ids: Sequence[int], old: Sequence[int], start: int, end: int) -> Iterator[int]:
    """The entries in [start, end) whose identities differ, halving ranges that differ (few do)."""
    if ids[IDS * start:IDS * end] == old[IDS * start:IDS * end]:
        return
    if end - start <= 16:
        yield from (i for i in range(start, end) if ids[IDS * i:IDS * i + IDS] != old[IDS * i:IDS * i + IDS])
        return
    middle = (start + end) // 2
    yield from _differing(ids, old, start, middle)
    yield from _differing(ids, old, middle, end)


def _kept_listing(listing: tuple[list[str], Sequence[int]]) -> tuple[list[str], Any]:
    names, ids = listing
    return names, ids.tobytes() if isinstance(ids, array) else list(ids)


def _read_listing(kept: Any) -> tuple[list[str], Sequence[int]] | None:
    if not (isinstance(kept, tuple) and len(kept) == 2 and isinstance(kept[0], list)):
        return None
    names, ids = kept
    if isinstance(ids, bytes):
        ids = array("q", ids) if len(ids) % 8 == 0 else None
    return (names, ids) if isinstance(ids, (list, array)) and len(ids) == IDS * len(names) else None
