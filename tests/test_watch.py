"""The watching build (``feeds build --watch``): a `Builder` kept in memory, told which record files
changed, gives after every change what a clean build gives, byte for byte; the real watcher
(watchdog on inotify) names the right files; the command line keeps building until Ctrl-C.

`restat`, the listing a watching build makes from the files it is told of, is what `scan`
finds; the random edits of `test_incremental` (add, retitle, move, publish, unpublish,
delete, rename, duplicate links, tie times, break a file, touch) each give a clean build's
bytes, counts and problems, with archives cut small enough to split and shift.
"""

from __future__ import annotations

import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from watchdog.events import (
    DirDeletedEvent,
    DirModifiedEvent,
    DirMovedEvent,
    FileClosedNoWriteEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileOpenedEvent,
    FileSystemEvent,
)

from feeds.build import Builder, BuildReport
from feeds.catalog import Catalog, catalog_path, scan
from feeds.catalog.scan import restat
from feeds.errors import FeedsError
from feeds.settings import Settings
from feeds.watch import RESCAN_FROM, Changed, watch

from .stores import RecordWriter
from .test_incremental import _assert_as_the_files_say, _assert_clean, _edits, _record, _tree

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
WATCH_SEEDS = int(os.environ.get("FEEDS_RANDOM_EDIT_SEEDS", "6"))


def _identities(records: Path) -> dict[str, tuple[int, int, int, int]]:
    """Each name in the folder with what tells it changed (as an inotify watch sees the changes)."""
    found = {}
    for entry in os.scandir(records):
        info = entry.stat(follow_symlinks=False)
        found[entry.name] = (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)
    return found


def _changed(before: dict[str, tuple[int, int, int, int]], after: dict[str, tuple[int, int, int, int]]
             ) -> set[str]:
    return {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}


# -- restat: the listing of a watching build -----------------------------------------------
def test_restat_finds_what_a_scan_finds_after_every_kind_of_change(tmp_path: Path) -> None:
    records = tmp_path / "records"
    records.mkdir()
    write = RecordWriter(records)
    for n in range(30):
        write(f"{n:02d}.md", webUrl=f"https://e.example/{n}")
    outside = tmp_path / "outside.md"
    outside.write_text("---\ntitle: secret\n---\n")
    listing = scan(records)
    before = _identities(records)
    write("05.md", title="Edited")  # edited in place
    (records / "07.md").unlink()  # removed
    write("new.md", webUrl="https://e.example/new")  # added
    (records / "09.md").rename(records / "zz.md")  # renamed
    os.mkfifo(records / "fifo.md")  # skipped unopened, with a problem
    (records / "folder.txt").mkdir()
    (records / "escape.md").symlink_to(outside)
    (records / ".hidden.md").write_text("x")  # never a record
    (records / "notes.json").write_text("{}")
    write("12.md.tmp", title="A temporary file")
    changed = _changed(before, _identities(records))
    assert restat(records, listing, changed) == scan(records)
    # Told of a file that did not change, or of none: the same listing.
    again = scan(records)
    assert restat(records, again, {"00.md", "gone.md"}) == again
    assert restat(records, again, set()) is again


def test_restat_of_a_folder_that_is_gone_says_so_as_a_scan_does(tmp_path: Path) -> None:
    records = tmp_path / "records"
    records.mkdir()
    RecordWriter(records)("a.md")
    listing = scan(records)
    shutil.rmtree(records)
    with pytest.raises(FeedsError, match="no such record folder"):
        restat(records, listing, {"a.md"})


# -- the builder: each rebuild told of the changed files gives a clean build ---------------
def _watched_edits(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    limit = rng.choice([3, 5, 50])
    records = tmp_path / "records"
    records.mkdir()
    for n in range(rng.randint(8, 30)):
        (records / f"{n:02d}.md").write_text(_record(rng, n))
    settings = Settings.make(records=str(records), out=str(tmp_path / "out"),
                             cache_dir=str(tmp_path / "cache"), limit=limit,
                             archive_size=rng.choice([1, 2, 4, 100]), jobs=1)
    path = catalog_path(settings)
    assert path is not None
    out = Path(settings.out)
    edits = _edits(rng, records, out, [1000])
    # The output folder is the builder's own while it watches: damage to it waits for a plain build.
    names = sorted(name for name in edits if name != "damage_output")
    with Catalog(path) as catalog:
        builder = Builder(settings, catalog)
        _assert_clean(tmp_path, settings, builder.build(), f"seed {seed}, first build")
        for step in range(12):
            before = _identities(records)
            done = [rng.choice(names) for _ in range(rng.choice([1, 1, 2, 3]))]
            for name in done:
                if any(p.is_file() for p in records.iterdir()) or name == "add":
                    edits[name]()
            where = f"seed {seed}, step {step}, after {done}"
            report = builder.build(_changed(before, _identities(records)))
            _assert_clean(tmp_path, settings, report, where)
            _assert_as_the_files_say(records, limit, report, where, out)
            if rng.random() < 0.5:  # as the watch does while it waits
                builder.warm()
        # Nothing changed: nothing is read or written.
        again = builder.build(set())
        assert again.unchanged and again.export.changed == 0


@pytest.mark.parametrize("seed", range(WATCH_SEEDS))
def test_a_builder_told_of_each_change_gives_clean_builds(tmp_path: Path, seed: int) -> None:
    _watched_edits(tmp_path, seed)


def test_a_builder_keeps_up_with_builds_by_other_processes(tmp_path: Path) -> None:
    """A plain build (another process) between two of the builder's: its kept state is not trusted."""
    from feeds.build import build_site

    records = tmp_path / "records"
    shutil.copytree(SEEDS, records)
    settings = Settings.make(records=str(records), out=str(tmp_path / "out"),
                             cache_dir=str(tmp_path / "cache"), limit=1, archive_size=1, jobs=1)
    path = catalog_path(settings)
    assert path is not None
    write = RecordWriter(records)
    with Catalog(path) as catalog:
        builder = Builder(settings, catalog)
        builder.build()
        write("zz_a.md", title="Added behind its back", webUrl="https://e.example/behind")
        build_site(settings)  # reads the new file, writes its feeds: the builder was not told
        write("zz_b.md", title="Added in front of it", webUrl="https://e.example/front")
        report = builder.build({"zz_b.md"})  # not told of zz_a.md: the catalog's version says to look
        _assert_clean(tmp_path, settings, report, "after a plain build in between")
        assert report.counts.files == 7


def test_a_builder_told_of_nothing_in_particular_lists_the_folder(tmp_path: Path) -> None:
    records = tmp_path / "records"
    shutil.copytree(SEEDS, records)
    settings = Settings.make(records=str(records), out=str(tmp_path / "out"), cache_dir="off", jobs=1)
    with Catalog(None) as catalog:
        builder = Builder(settings, catalog)
        builder.build()
        RecordWriter(records)("zz.md", title="Found by listing", webUrl="https://e.example/listed")
        assert builder.build(set()).unchanged, "told of no file, it looks at none"
        report = builder.build(None)
        assert report.counts.files == 6
        _assert_clean(tmp_path, settings, report, "listed again")


# -- which files a batch of events names ----------------------------------------------------
def _taken(root: str, *events: FileSystemEvent) -> set[str] | None:
    changed = Changed(root)
    for event in events:
        changed.on_any_event(event)
    stop = threading.Event()
    threading.Timer(1.0, stop.set).start()  # (a batch that names nothing waits for a change)
    return changed.take(stop)


def test_a_batch_names_the_files_changed_and_nothing_read(tmp_path: Path) -> None:
    root = str(tmp_path)
    assert _taken(root, FileOpenedEvent(f"{root}/a.md"), FileClosedNoWriteEvent(f"{root}/a.md"),
                  DirModifiedEvent(root)) == set(), "reading a record is no change"
    assert _taken(root, FileModifiedEvent(f"{root}/a.md"), DirModifiedEvent(root),
                  FileMovedEvent(f"{root}/.b.md.swp", f"{root}/b.md")) == {"a.md", ".b.md.swp", "b.md"}


@pytest.mark.parametrize("event", [
    DirDeletedEvent("{root}"),
    DirMovedEvent("{root}", "{root}-moved"),
    FileModifiedEvent("{root}/sub/a.md"),
    FileSystemEvent("{root}"),  # what watchdog reports when the system's queue of events overflowed
])
def test_a_batch_that_cannot_name_every_change_lists_the_folder_again(tmp_path: Path,
                                                                       event: FileSystemEvent) -> None:
    root = str(tmp_path)
    kind = type(event)
    made = kind(event.src_path.format(root=root), event.dest_path.format(root=root))
    if kind is FileSystemEvent:
        made.event_type = "events_lost"
    assert _taken(root, FileModifiedEvent(f"{root}/a.md"), made) is None


def test_a_batch_of_very_many_files_lists_the_folder_again(tmp_path: Path) -> None:
    root = str(tmp_path)
    assert _taken(root, *(FileModifiedEvent(f"{root}/{n}.md") for n in range(RESCAN_FROM))) is None


# -- the real watcher ---------------------------------------------------------------------
class Watching:
    """`watch` run in a thread on a copy of the seeds; each build's report is queued."""

    def __init__(self, tmp_path: Path) -> None:
        self.records = tmp_path / "records"
        shutil.copytree(SEEDS, self.records)
        self.settings = Settings.make(records=str(self.records), out=str(tmp_path / "out"),
                                      cache_dir=str(tmp_path / "cache"), limit=2, archive_size=1, jobs=1)
        self.reports: queue.Queue[BuildReport | FeedsError] = queue.Queue()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=watch, daemon=True, args=(
            self.settings, self.reports.put, self.reports.put, self.reports.put, self.stop))
        self.thread.start()
        self.next()

    def next(self) -> BuildReport:
        """The next build's report (failing on a build that failed, or none within 30 s)."""
        found = self.reports.get(timeout=30)
        assert isinstance(found, BuildReport), found
        return found

    def settled(self) -> BuildReport:
        """The report of the last build after a change, once no other follows within a second."""
        report = self.next()
        while True:
            try:
                report = self.reports.get(timeout=1.0)  # type: ignore[assignment]
            except queue.Empty:
                assert isinstance(report, BuildReport), report
                return report

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive(), "the watch did not stop"


def test_the_watcher_builds_again_after_each_change_in_the_folder(tmp_path: Path) -> None:
    watching = Watching(tmp_path)
    records, settings, out = watching.records, watching.settings, Path(watching.settings.out)
    try:
        first = sorted(records.iterdir())[0]
        first.write_text(first.read_text().replace('title: "', 'title: "Watched ', 1))  # in place
        report = watching.settled()
        assert "Watched" in (out / "feed.atom").read_text()
        _assert_clean(tmp_path, settings, report, "edited in place")

        temp = records / ".new.md.swp"  # an editor's save: a temporary file renamed over the record
        temp.write_text(first.read_text().replace("Watched", "Saved by an editor"))
        os.replace(temp, first)
        _assert_clean(tmp_path, settings, watching.settled(), "saved through a temporary file")
        assert "Saved by an editor" in (out / "feed.atom").read_text()

        RecordWriter(records)("zz_new.md", title="A new story", webUrl="https://e.example/new",
                              publishedDateTime="2030-01-01T00:00:00Z")
        _assert_clean(tmp_path, settings, watching.settled(), "added")
        (records / "zz_new.md").rename(records / "aa_renamed.md")
        _assert_clean(tmp_path, settings, watching.settled(), "renamed")
        (records / "aa_renamed.md").write_text("---\ntitle: [unclosed\n---\n")
        report = watching.settled()
        assert [p.file for p in report.problems if p.is_error] == ["aa_renamed.md"]
        _assert_clean(tmp_path, settings, report, "broken")
        (records / "aa_renamed.md").unlink()
        _assert_clean(tmp_path, settings, watching.settled(), "removed")
    finally:
        watching.close()
    assert _tree(out) == _tree(tmp_path / "clean")


def test_a_copy_of_many_files_is_one_rebuild(tmp_path: Path) -> None:
    watching = Watching(tmp_path)
    try:
        write = RecordWriter(watching.records)
        for n in range(200):
            write(f"bulk{n:03d}.md", webUrl=f"https://e.example/bulk/{n}")
        report = watching.next()
        rebuilds = 1
        while True:
            try:
                report = watching.reports.get(timeout=1.0)  # type: ignore[assignment]
                rebuilds += 1
            except queue.Empty:
                break
        assert rebuilds <= 2, f"{rebuilds} rebuilds for one copy"
        _assert_clean(tmp_path, watching.settings, report, "after a copy")
    finally:
        watching.close()


# -- the command line ---------------------------------------------------------------------
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_build_watch_builds_until_ctrl_c_or_sigterm(tmp_path: Path, stop: signal.Signals) -> None:
    records = tmp_path / "records"
    shutil.copytree(SEEDS, records)
    out = tmp_path / "out"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")},
           "FEEDS_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "feeds", "build", "--watch", "--timings", "--records",
                             str(records), "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=tmp_path)
    assert proc.stdout is not None

    def line_starting(prefix: str) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            assert line, f"the watch ended: {proc.stderr.read()}"  # type: ignore[union-attr]
            if line.startswith(prefix):
                return line
        raise AssertionError(f"no line starting {prefix!r}")

    try:
        assert "5 records" in line_starting("read ")
        assert line_starting("phases: ")
        assert f"watching {os.path.realpath(records)}/" in line_starting("feeds written to ")
        RecordWriter(records)("zz.md", title="Typed while it watched", webUrl="https://e.example/typed",
                              publishedDateTime="2030-01-01T00:00:00Z")
        assert "6 records" in line_starting("read ")
        assert line_starting("phases: ")
        assert "Typed while it watched" in (out / "feed.atom").read_text()
    finally:
        proc.send_signal(stop)
        rest, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped watching" in rest
    assert "Traceback" not in err


def test_build_watch_refuses_strict(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "feeds", "build", "--watch", "--strict", "--records",
                             str(SEEDS), "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 2 and "--strict" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_build_watch_of_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "feeds", "build", "--watch", "--records",
                             str(tmp_path / "missing"), "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 1
    assert "missing" in result.stderr and "Traceback" not in result.stderr, result.stderr


# -- what no event names, and builds that fail part-way (found by a red-team pass) ----------
def _builder_store(tmp_path: Path, **overrides: object) -> tuple[Settings, Path, RecordWriter]:
    records = tmp_path / "records"
    records.mkdir()
    settings = Settings.make(records=str(records), out=str(tmp_path / "out"),
                             cache_dir=str(tmp_path / "cache"), jobs=1, **overrides)  # type: ignore[arg-type]
    return settings, records, RecordWriter(records)


def test_record_files_that_are_links_follow_their_targets(tmp_path: Path) -> None:
    """A link is looked at again with every change, and when its target changes where no event
    tells (a subfolder) the watch asks for it (`links_changed`)."""
    settings, records, write = _builder_store(tmp_path, limit=5, archive_size=2)
    write("b.md", title="Original", webUrl="https://e.example/b")
    (records / "a.md").symlink_to("b.md")
    (records / "sub").mkdir()
    RecordWriter(records / "sub")("x.md", title="In a subfolder", webUrl="https://e.example/x")
    (records / "c.md").symlink_to("sub/x.md")
    (records / "d.md").symlink_to("later.md")  # dangling until later.md is made
    path = catalog_path(settings)
    assert path is not None
    with Catalog(path) as catalog:
        builder = Builder(settings, catalog)
        _assert_clean(tmp_path, settings, builder.build(), "first build")
        assert builder.links_changed() == set()
        write("b.md", title="Edited through its link", webUrl="https://e.example/b2")
        _assert_clean(tmp_path, settings, builder.build({"b.md"}), "the target of a.md edited")
        RecordWriter(records / "sub")("x.md", title="Edited in the subfolder", webUrl="https://e.example/x")
        unseen = builder.links_changed()
        assert "c.md" in unseen
        _assert_clean(tmp_path, settings, builder.build(unseen), "the target of c.md edited")
        write("later.md", title="Made later", webUrl="https://e.example/later")
        report = builder.build({"later.md"})
        assert "d.md" not in {p.file for p in report.problems}
        _assert_clean(tmp_path, settings, report, "the target of d.md made")


def test_names_that_print_alike_keep_their_own_problems(tmp_path: Path) -> None:
    _, records, write = _builder_store(tmp_path)
    long = "x" * 230
    write(f"{long}-record.md", webUrl="https://e.example/long")
    (records / f"{long}-folder.md").mkdir()  # skipped with a problem, printed cut at 200 characters
    listing = scan(records)
    write(f"{long}-record.md", title="Edited", webUrl="https://e.example/long")
    assert restat(records, listing, {f"{long}-record.md"}) == scan(records)


def test_an_export_that_fails_part_way_is_not_trusted_after(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Files renamed into place, then a stale one cannot be removed: the next build looks at the
    output folder again, as a plain build does."""
    import feeds.export

    settings, _, write = _builder_store(tmp_path, limit=2, archive_size=1)
    write("1.md", title="Story 1", webUrl="https://e.example/1", publishedDateTime="2030-01-02T00:00:00Z",
          topics=["Keep"])
    write("2.md", title="Story 2", webUrl="https://e.example/2", publishedDateTime="2030-01-03T00:00:00Z",
          topics=["Keep", "Gone"])
    path = catalog_path(settings)
    assert path is not None
    with Catalog(path) as catalog:
        builder = Builder(settings, catalog)
        builder.build()
        write("2.md", title="Story 2 retitled", webUrl="https://e.example/2",
              publishedDateTime="2030-01-03T00:00:00Z", topics=["Keep"])

        def refuse(*args: object) -> list[str]:
            raise FeedsError("cannot remove a file the site no longer has (Operation not permitted)")

        monkeypatch.setattr(feeds.export, "_remove", refuse)
        with pytest.raises(FeedsError):
            builder.build({"2.md"})
        monkeypatch.undo()
        assert not builder.resident.trusted
        write("2.md", title="Story 2", webUrl="https://e.example/2", publishedDateTime="2030-01-03T00:00:00Z",
              topics=["Keep", "Gone"])  # put back as it was
        _assert_clean(tmp_path, settings, builder.build({"2.md"}), "after the failed export, reverted")


def test_the_watcher_follows_a_record_folder_replaced_under_it(tmp_path: Path) -> None:
    watching = Watching(tmp_path)
    records, settings, out = watching.records, watching.settings, Path(watching.settings.out)
    try:
        fresh = tmp_path / "fresh"
        fresh.mkdir()
        RecordWriter(fresh)("only.md", title="The one record of the new folder", webUrl="https://e.example/one",
                            publishedDateTime="2030-01-01T00:00:00Z")
        records.rename(tmp_path / "old")  # moved away, a new folder moved in: no event tells
        fresh.rename(records)
        report = watching.settled()
        assert report.counts.files == 1
        _assert_clean(tmp_path, settings, report, "the folder replaced")
        RecordWriter(records)("second.md", title="Added to the new folder", webUrl="https://e.example/two",
                              publishedDateTime="2030-01-02T00:00:00Z")
        _assert_clean(tmp_path, settings, watching.settled(), "added to the new folder")
        assert "Added to the new folder" in (out / "feed.atom").read_text()
        shutil.rmtree(records)  # removed and made again
        records.mkdir()
        RecordWriter(records)("third.md", title="In the folder made again", webUrl="https://e.example/3",
                              publishedDateTime="2030-01-03T00:00:00Z")
        report = watching.settled()
        _assert_clean(tmp_path, settings, report, "the folder made again")
        assert report.counts.files == 1
    finally:
        watching.close()
