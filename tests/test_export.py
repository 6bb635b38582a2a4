"""Static export: atomic writes, only when bytes change, stale feeds removed, nothing outside --out."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from feeds.build import BuildReport
from feeds.errors import ExportError
from feeds.export import TEMP_PREFIX, export_files
from feeds.render import MANAGED
from feeds.settings import Settings

from .feedcheck import file_stats, site_files
from .stores import RecordWriter, build_into

Build = Callable[..., BuildReport]

SEED_FILES = sorted(
    f"{stem}{ext}"
    for stem in ("feed", "topics/ai", "topics/computer-vision", "providers/reuters.com",
                 "providers/businessinsider.com", "stories", "top", "topics/ai/stories", "topics/ai/top",
                 "topics/computer-vision/stories", "topics/computer-vision/top")
    for ext in (".atom", ".rss", ".json")
)
# A subscription document of any feed: a record feed (all items, a topic, a provider) or a story feed
# (stories, top stories, and each topic's).
FEED_PATH = re.compile(r"(feed|stories|top|topics/[^/]+(/stories|/top)?|providers/[^/]+)\.(atom|rss|json)")


def feed_files(out: Path) -> dict[str, bytes]:
    """The subscription documents under `out`, by site path."""
    return {path: data for path, data in site_files(out).items() if FEED_PATH.fullmatch(path)}


def tree(root: Path) -> dict[str, bytes | str]:
    """Everything under `root`: file bytes, or the target of a link, by relative path."""
    found: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            found[rel] = f"-> {os.readlink(path)}"
        elif path.is_file():
            found[rel] = path.read_bytes()
    return found


def test_the_seeds_export_thirty_three_feed_files(seeds_dir: Path, build: Build, out_dir: Path) -> None:
    report = build(seeds_dir)
    assert sorted(feed_files(out_dir)) == SEED_FILES
    files = site_files(out_dir)
    assert (report.export.files, report.export.written, report.export.removed) == (
        len(files), len(files), 0), "the report counts what the export did"


def test_files_are_written_to_a_temporary_name_and_renamed_into_place(
        seeds_dir: Path, build: Build, out_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    renames: list[tuple[Path, Path, bytes]] = []
    real_replace = os.replace

    def spy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        renames.append((Path(src), Path(dst), Path(src).read_bytes()))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    build(seeds_dir)
    monkeypatch.undo()
    renamed = sorted(dst.relative_to(out_dir).as_posix() for _, dst, _ in renames)
    assert renamed == sorted(site_files(out_dir)), "every file is put in place by a rename"
    assert set(SEED_FILES) <= set(renamed)
    for src, dst, data in renames:
        assert src.parent == dst.parent, f"{src} must sit beside {dst} to rename atomically"
        assert src.name != dst.name
        assert data == dst.read_bytes(), f"{src} was renamed before it was complete"
    assert not [p for p in site_files(out_dir) if ".feeds-tmp" in p], "a temporary file is left"


def test_a_second_build_rewrites_nothing(seeds_dir: Path, build: Build, out_dir: Path) -> None:
    build(seeds_dir)
    before = file_stats(out_dir)
    report = build(seeds_dir)
    assert file_stats(out_dir) == before, "inode and mtime of every file must stay"
    assert (report.export.written, report.export.removed, report.export.changed) == (0, 0, 0)


def test_only_changed_files_are_replaced(write_record: RecordWriter, build: Build,
                                         out_dir: Path) -> None:
    write_record("a.md", topics=["Alpha"], webUrl="https://e.example/a",
                 provider={"name": "A", "domain": "a.example"})
    write_record("b.md", topics=["Beta"], webUrl="https://e.example/b",
                 provider={"name": "B", "domain": "b.example"},
                 publishedDateTime="2020-01-01T00:00:00Z")
    build()
    before = file_stats(out_dir)
    write_record("b.md", topics=["Beta"], webUrl="https://e.example/b",
                 provider={"name": "B", "domain": "b.example"},
                 publishedDateTime="2020-01-01T00:00:00Z", title="Beta retitled")
    report = build()
    after = file_stats(out_dir)
    changed = sorted(path for path in before if before[path] != after[path] and FEED_PATH.fullmatch(path))
    # b's feeds, and its story's (a story of its own, not top: the top feeds stay as they were, empty)
    assert changed == sorted(f"{stem}{ext}" for stem in ("feed", "topics/beta", "providers/b.example",
                                                         "stories", "topics/beta/stories")
                             for ext in (".atom", ".rss", ".json"))
    assert report.export.written >= len(changed)
    for path in changed:
        assert before[path][0] != after[path][0], f"{path} was rewritten in place, not renamed"


def test_feeds_that_no_longer_exist_are_removed(write_record: RecordWriter, build: Build,
                                                out_dir: Path) -> None:
    write_record("a.md", topics=["Old Topic"])
    build()
    topic_feeds = [f"{stem}{ext}" for stem in ("topics/{}", "topics/{}/stories", "topics/{}/top")
                   for ext in (".atom", ".rss", ".json")]
    assert {path.format("old-topic") for path in topic_feeds} <= set(site_files(out_dir))
    write_record("a.md", topics=["New Topic"])
    report = build()
    files = site_files(out_dir)
    assert not [p for p in files if "old-topic" in p], sorted(files)
    assert {path.format("new-topic") for path in topic_feeds} <= set(files)
    assert report.export.removed >= len(topic_feeds)


def test_unpublishing_a_record_removes_its_only_feeds(write_record: RecordWriter, build: Build,
                                                      out_dir: Path) -> None:
    write_record("keep.md", webUrl="https://e.example/keep")
    write_record("gone.md", webUrl="https://gone.example/x", topics=["Gone"],
                 provider={"name": "Gone", "domain": "gone.example"})
    build()
    assert {"providers/gone.example.atom", "topics/gone.atom", "topics/gone/stories.atom",
            "topics/gone/top.atom"} <= set(site_files(out_dir))
    write_record("gone.md", webUrl="https://gone.example/x", topics=["Gone"],
                 provider={"name": "Gone", "domain": "gone.example"}, published=False)
    build()
    assert not [p for p in site_files(out_dir) if "gone" in p]


def test_other_files_in_the_output_folder_are_kept(seeds_dir: Path, build: Build,
                                                   out_dir: Path) -> None:
    keep = {"CNAME": b"news.example.org", "humans.txt": b"Team: us",
            "topics/README.txt": b"notes", "assets/feed.atom": b"not ours",
            "providers/logo.png": b"\x89PNG", "about/contact.html": b"<p>hi</p>"}
    for rel, data in keep.items():
        (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (out_dir / rel).write_bytes(data)
    build(seeds_dir)
    files = site_files(out_dir)
    for rel, data in keep.items():
        assert files.get(rel) == data, f"{rel} is not the export's to touch"


def test_nothing_outside_the_output_folder_is_touched(seeds_dir: Path, build: Build,
                                                      tmp_path: Path, out_dir: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "topics").mkdir(parents=True)
    for rel in ("feed.atom", "stale.atom", "topics/ai.atom", "topics/old.rss"):
        (outside / rel).write_bytes(b"outside " + rel.encode())
    (tmp_path / "feed.rss").write_bytes(b"beside out")
    before_outside = tree(outside)
    before_beside = (tmp_path / "feed.rss").read_bytes()
    build(seeds_dir)
    build(seeds_dir)
    assert tree(outside) == before_outside
    assert (tmp_path / "feed.rss").read_bytes() == before_beside
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feed.rss", "out", "outside", "records"]


def test_a_link_in_the_output_folder_is_replaced_not_followed(seeds_dir: Path, build: Build,
                                                              tmp_path: Path, out_dir: Path) -> None:
    victim = tmp_path / "victim.atom"
    victim.write_bytes(b"precious")
    out_dir.mkdir()
    (out_dir / "feed.atom").symlink_to(victim)
    build(seeds_dir)
    assert victim.read_bytes() == b"precious"
    assert not (out_dir / "feed.atom").is_symlink()


def test_a_stale_link_in_the_output_folder_is_removed_not_followed(
        seeds_dir: Path, build: Build, tmp_path: Path, out_dir: Path) -> None:
    victim = tmp_path / "victim.atom"
    victim.write_bytes(b"precious")
    (out_dir / "topics").mkdir(parents=True)
    (out_dir / "topics" / "stale.atom").symlink_to(victim)
    build(seeds_dir)
    assert victim.read_bytes() == b"precious"


def test_a_linked_feed_folder_leading_outside_is_never_written_through(
        write_record: RecordWriter, build: Build, tmp_path: Path, out_dir: Path) -> None:
    """out/topics is a link to a folder elsewhere: the export may refuse, never write or delete there."""
    outside = tmp_path / "shared-folder"
    outside.mkdir()
    (outside / "precious.atom").write_bytes(b"precious")
    (outside / "testing.atom").write_bytes(b"also precious")
    out_dir.mkdir()
    (out_dir / "topics").symlink_to(outside, target_is_directory=True)
    write_record()
    with contextlib.suppress(ExportError):  # refusing is fine; touching outside is not
        build()
    assert tree(outside) == {"precious.atom": b"precious", "testing.atom": b"also precious"}


def test_a_linked_feed_folder_without_feeds_is_not_emptied(
        write_record: RecordWriter, build: Build, tmp_path: Path, out_dir: Path) -> None:
    """No topic feed to write, but out/topics links elsewhere: its *.atom files are not stale feeds."""
    outside = tmp_path / "shared-folder"
    outside.mkdir()
    (outside / "precious.atom").write_bytes(b"precious")
    out_dir.mkdir()
    (out_dir / "topics").symlink_to(outside, target_is_directory=True)
    write_record(topics=[])
    with contextlib.suppress(ExportError):  # refusing is fine; touching outside is not
        build()
    assert tree(outside) == {"precious.atom": b"precious"}, "a file outside --out was removed"


def test_two_builds_give_identical_bytes(seeds_dir: Path, tmp_path: Path) -> None:
    first = build_into(seeds_dir, tmp_path / "one")
    second = build_into(seeds_dir, tmp_path / "two")
    assert site_files(first.out) == site_files(second.out)
    assert len(feed_files(first.out)) == len(SEED_FILES)


def test_a_build_failing_on_a_full_disk_leaves_the_previous_output_intact(
        seeds_dir: Path, build: Build, out_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build(seeds_dir)
    before, stats = tree(out_dir), file_stats(out_dir)
    real_write = os.write
    writes = 0

    def disk_full(fd: int, data: bytes) -> int:
        nonlocal writes
        if TEMP_PREFIX in os.readlink(f"/proc/self/fd/{fd}"):  # a file of the output, being written
            writes += 1
            if writes == 7:
                raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", disk_full)
    with pytest.raises(ExportError, match="No space left"):
        build(seeds_dir, site_title="Renamed site")  # every feed changes
    monkeypatch.undo()
    assert writes == 7, "the export writes through os.write: update this test"
    assert tree(out_dir) == before, "the previous output must be left exactly as it was"
    assert file_stats(out_dir) == stats


def test_a_build_failing_midway_leaves_the_previous_output_intact(seeds_dir: Path, build: Build,
                                                                  out_dir: Path) -> None:
    """Here the last feed cannot be put in place (a folder holds its name): no feed may change."""
    build(seeds_dir)
    obstacle = out_dir / "topics" / "computer-vision.rss"
    obstacle.unlink()
    obstacle.mkdir()
    before = tree(out_dir)
    with pytest.raises(ExportError):
        build(seeds_dir, site_title="Renamed site")  # every feed changes
    changed = sorted(k for k, v in tree(out_dir).items() if before.get(k) != v)
    assert not changed, f"a failed build replaced {changed}"


def test_a_file_where_a_folder_goes_fails_the_build_and_changes_nothing(tmp_path: Path) -> None:
    """A plain file named like a feed folder (out/topics): the export says which path, and no file
    is replaced or left half-written."""
    out = tmp_path / "out"
    export_files(out, [("feed.atom", b"old atom")], MANAGED)
    (out / "topics").write_bytes(b"not a folder")
    before = tree(out)
    with pytest.raises(ExportError, match="topics"):
        export_files(out, [("feed.atom", b"new atom"), ("topics/ai.atom", b"topic")], MANAGED)
    assert tree(out) == before


@pytest.mark.parametrize("interruption", [RuntimeError("render failed"), KeyboardInterrupt()])
def test_an_interrupted_export_leaves_no_temporary_files(tmp_path: Path,
                                                         interruption: BaseException) -> None:
    """Whatever stops the export midway (a render error, Ctrl-C), old files stay and no temp lingers."""
    out = tmp_path / "out"
    export_files(out, [("feed.atom", b"old atom"), ("feed.rss", b"old rss")], MANAGED)
    before = tree(out)

    def files() -> Iterator[tuple[str, bytes]]:
        yield "feed.atom", b"new atom"
        yield "feed.rss", b"new rss"
        raise interruption

    with pytest.raises(type(interruption)):
        export_files(out, files(), MANAGED)
    assert tree(out) == before, f"left behind: {sorted(set(tree(out)) - set(before))}"


@pytest.mark.parametrize("relpath", ["../escape.atom", "/tmp/abs.atom", "topics/../../x.atom",
                                     "a/./b.atom", "topics\\..\\x.atom", "", "a//b.atom"])
def test_export_refuses_paths_that_leave_the_output_folder(tmp_path: Path, relpath: str) -> None:
    out = tmp_path / "deep" / "out"
    with pytest.raises(ExportError):
        export_files(out, [(relpath, b"x")], MANAGED)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep"]
    assert not list((tmp_path / "deep").rglob("*.atom"))


def test_an_output_path_that_is_a_file_is_an_export_error(seeds_dir: Path, build: Build,
                                                          tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"a file")
    with pytest.raises(ExportError):
        build(seeds_dir, out=str(blocker))
    assert blocker.read_bytes() == b"a file"


def test_written_files_follow_the_umask(seeds_dir: Path, build: Build, out_dir: Path) -> None:
    old = os.umask(0o022)
    try:
        build(seeds_dir)
    finally:
        os.umask(old)
    modes = {oct((out_dir / rel).stat().st_mode & 0o777) for rel in SEED_FILES}
    assert modes == {"0o644"}, "feeds are published files: readable by the web server"


def test_temporary_files_of_a_killed_build_are_cleaned_up(seeds_dir: Path, build: Build,
                                                          out_dir: Path) -> None:
    (out_dir / "topics").mkdir(parents=True)
    (out_dir / ".feeds-tmp-feed.atom.12345").write_bytes(b"half")
    (out_dir / "topics" / ".feeds-tmp-ai.atom.12345").write_bytes(b"half")
    build(seeds_dir)
    assert sorted(feed_files(out_dir)) == SEED_FILES
    assert not [p for p in site_files(out_dir) if ".feeds-tmp" in p]


def test_the_build_settings_decide_the_output_folder(seeds_dir: Path, tmp_path: Path) -> None:
    site = build_into(seeds_dir, tmp_path / "a" / "b" / "c")
    assert sorted(feed_files(site.out)) == SEED_FILES
    assert Settings.make().out == "public"
