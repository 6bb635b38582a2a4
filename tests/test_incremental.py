"""A build through the catalog gives, byte for byte, what a clean build gives, and does no more work
than the change asks.

A clean build is one with ``cache_dir = off`` into a fresh folder.  Every
other build here keeps its catalog file and output folder from one build to
the next, and after each change (scripted, or random edits of every kind a
bot or a person makes: add, retitle, move between topics, publish,
unpublish, delete, rename, duplicate a link and take the first file of a
shared link away, tie or move publication times, break a file, damage an
output, touch) its output folder, counts and problems are compared with a
clean build's.  The catalog's own work is checked too: a build with nothing
changed reads no record file and writes no file; one changed file is the only
one read, and only the files of the feeds it was or is in (and the index and
the OPML list) are made again.  Damaged catalog rows give a warning naming
the file and the same bytes.
"""

from __future__ import annotations

import json
import marshal
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import feeds.catalog.catalog as catalog_module
from feeds.build import BuildReport, build_site
from feeds.catalog import Catalog, DamagedRow, catalog_path
from feeds.catalog.stories import STORY_NAMESPACE
from feeds.layout import ALL_STEM, archive_of
from feeds.records import ReadResult
from feeds.settings import Settings, replace

from .stores import read_store

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"


# -- helpers ---------------------------------------------------------------------
def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _stamps(root: Path) -> dict[str, tuple[int, int, int]]:
    return {p.relative_to(root).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns, p.stat().st_ctime_ns)
            for p in root.rglob("*") if p.is_file()}


def _text(title: str, link: str, when: str, topics: str = "[AI]", published: str = "true",
          provider: str = "{name: Example, domain: example.org}") -> str:
    return (f'---\ntitle: "{title}"\npublishedDateTime: {when}\nwebUrl: "{link}"\n'
            f"published: {published}\nprovider: {provider}\n"
            f"topics: {topics}\nsecured: \"SECRET-{title}\"\n---\n")


def _clean(tmp_path: Path, records: Path, limit: int) -> BuildReport:
    """A clean build of `records` (no catalog file, a fresh folder) into tmp_path/clean (the live
    server's tests compare with it, as they take `_record`, `_edits` and `_tree` from here)."""
    out = tmp_path / "clean"
    shutil.rmtree(out, ignore_errors=True)
    return build_site(Settings.make(records=str(records), out=str(out), cache_dir="off", limit=limit))


def _assert_clean(tmp_path: Path, settings: Settings, report: BuildReport, where: str = "") -> BuildReport:
    """`report`'s build (into ``settings.out``) gave a clean build's bytes, counts and problems."""
    out = tmp_path / "clean"
    shutil.rmtree(out, ignore_errors=True)
    clean = build_site(replace(settings, out=str(out), cache_dir="off"))
    where = f"{where}: {report.summary()}"
    assert _tree(Path(settings.out)) == _tree(out), where
    assert report.counts == clean.counts, where
    assert report.problems == clean.problems, where
    return clean


def _settings(tmp_path: Path, records: Path, out: str = "out", **overrides: object) -> Settings:
    return Settings.make(records=str(records), out=str(tmp_path / out), cache_dir=str(tmp_path / "cache"),
                         **overrides)


def _stem_of(path: str) -> str:
    """The feed a site path belongs to (``embed/topics/ai.html`` → ``topics/ai``), or the path."""
    if path in ("index.html", "feeds.opml", "sitemap.xml", "robots.txt", "embed.js", "favicon.ico"):
        return path
    archived = archive_of(path)
    if archived is not None:
        return archived[0]
    if path.endswith("/index.html"):
        return path.removesuffix("/index.html")
    return path.removeprefix("embed/").rsplit(".", 1)[0]


def _made(report: BuildReport) -> set[str]:
    """The files a build made afresh (whether their bytes changed or not)."""
    return {*report.export.paths_written, *report.export.paths_same}


@pytest.fixture
def store(tmp_path: Path) -> Path:
    records = tmp_path / "records"
    shutil.copytree(SEEDS, records)
    return records


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the record files the catalog reads (in this process), in order."""
    real = catalog_module.read_file
    names: list[str] = []

    def spy(entry: catalog_module.Entry, settings: Settings) -> object:
        names.append(entry.name)
        return real(entry, settings)

    monkeypatch.setattr(catalog_module, "read_file", spy)
    return names


# -- scripted changes ------------------------------------------------------------
def test_incremental_build_equals_clean_build_through_changes(tmp_path: Path, store: Path) -> None:
    settings = _settings(tmp_path, store)
    build_site(settings)
    out = Path(settings.out)
    changes: list[tuple[str, Callable[[], object]]] = [
        ("add", lambda: (store / "new1.md").write_text(
            _text("Brand new", "https://example.org/1", "2030-01-01T00:00:00Z", "[AI, Quantum]"))),
        ("retitle and move topic", lambda: (store / "new1.md").write_text(
            _text("Retitled", "https://example.org/1", "2030-01-01T00:00:00Z", "[Quantum]"))),
        ("rename", lambda: (store / "new1.md").rename(store / "renamed.md")),
        ("move provider", lambda: (store / "renamed.md").write_text(
            _text("Retitled", "https://example.org/1", "2030-01-01T00:00:00Z", "[Quantum]",
                  provider="{name: Other, domain: other.net}"))),
        ("newest to oldest", lambda: (store / "renamed.md").write_text(
            _text("Retitled", "https://example.org/1", "1999-01-01T00:00:00Z", "[Quantum, AI]"))),
        ("delete a seed", lambda: (store / "000_5493749f3400b6dd.txt").unlink()),
        ("add unpublished", lambda: (store / "new2.md").write_text(
            _text("Hidden", "https://example.org/2", "2031-01-01T00:00:00Z", published="false"))),
        ("publish", lambda: (store / "new2.md").write_text(
            _text("Hidden", "https://example.org/2", "2031-01-01T00:00:00Z"))),
        ("unpublish", lambda: (store / "new2.md").write_text(
            _text("Hidden", "https://example.org/2", "2031-01-01T00:00:00Z", published="false"))),
        ("break", lambda: (store / "renamed.md").write_text("---\ntitle: [unclosed\n---\n")),
        ("delete the last of a topic", lambda: (store / "renamed.md").unlink()),
    ]
    for where, change in changes:
        change()
        _assert_clean(tmp_path, settings, build_site(settings), where)
    assert not (out / "topics" / "quantum.atom").exists(), "a feed with no record left must go"
    assert not (out / "providers" / "other.net.atom").exists()


def test_the_next_file_of_a_shared_link_shows_when_the_first_goes(tmp_path: Path, store: Path) -> None:
    """The same link in several files is published once, from the first file by name; deleting,
    renaming, unpublishing, breaking or relinking that one shows the next, as a clean build does."""
    link = "https://shared.example/story"
    for name, title, topics in (("b.md", "From b", "[Alpha]"), ("c.md", "From c", "[Beta]"),
                                ("d.md", "From d", "[Gamma]")):
        (store / name).write_text(_text(title, link, "2030-02-01T00:00:00Z", topics))
    settings = _settings(tmp_path, store)
    atom = Path(settings.out) / "feed.atom"

    def shown() -> list[str]:
        text = atom.read_text(encoding="utf-8")
        return [t for t in ("From a", "From b", "From c", "From d") if t in text]

    # (b.md renamed z.md still says "From b")
    steps: list[tuple[str, Callable[[], object], list[str], int]] = [  # shown, and how many hidden
        ("first build", lambda: None, ["From b"], 2),
        ("a new first file", lambda: (store / "a.md").write_text(
            _text("From a", link, "2030-02-02T00:00:00Z", "[Delta]")), ["From a"], 3),
        ("the first deleted", lambda: (store / "a.md").unlink(), ["From b"], 2),
        ("the first renamed last", lambda: (store / "b.md").rename(store / "z.md"), ["From c"], 2),
        ("the first unpublished", lambda: (store / "c.md").write_text(
            _text("From c", link, "2030-02-01T00:00:00Z", "[Beta]", published="false")), ["From d"], 1),
        ("the first broken", lambda: (store / "d.md").write_text("---\ntitle: [\n---\n"), ["From b"], 0),
        ("another file relinked", lambda: (store / "c.md").write_text(
            _text("From c", "https://shared.example/other", "2030-02-01T00:00:00Z", "[Beta]")),
         ["From b", "From c"], 0),
        ("linked again before the first", lambda: (store / "c.md").write_text(
            _text("From c", link, "2030-02-01T00:00:00Z", "[Beta]")), ["From c"], 1),
        ("the hidden one renamed first", lambda: (store / "z.md").rename(store / "0.md"), ["From b"], 1),
    ]
    for where, change, expected, hidden in steps:
        change()
        report = _assert_clean(tmp_path, settings, build_site(settings), where)
        assert shown() == expected, where
        assert report.counts.duplicates == hidden, where
        assert len([p for p in report.problems if "same link as" in p.message]) == hidden, where


def test_records_published_at_the_same_instant_keep_one_order(tmp_path: Path, store: Path) -> None:
    """Ties are broken by id, whatever the files' names, the order they were read in or the
    time zone the time is written in."""
    from feeds.records import record_id
    when, same, later = "2030-03-01T12:00:00Z", "2030-03-01T14:00:00+02:00", "2030-03-01T12:00:01Z"
    links = {f"t{n}.md": f"https://tie.example/{n}" for n in range(6)}
    for n, (name, link) in enumerate(links.items()):
        (store / name).write_text(_text(f"Tie {n}", link, same if n % 2 else when, "[Ties]"))
    settings = _settings(tmp_path, store, limit=3)
    _assert_clean(tmp_path, settings, build_site(settings), "start")

    def rename(old: str, new: str) -> None:
        (store / old).rename(store / new)
        links[new] = links.pop(old)

    def add(name: str, link: str, at: str) -> None:
        (store / name).write_text(_text(name, link, at, "[Ties]"))
        links[name] = link

    def delete(name: str) -> None:
        (store / name).unlink()
        del links[name]

    steps: list[tuple[str, Callable[[], object], str | None]] = [  # the one newer than the tie
        ("retitle one", lambda: (store / "t2.md").write_text(
            _text("Tie 2 again", links["t2.md"], when, "[Ties]")), None),
        ("rename one", lambda: rename("t0.md", "zz.md"), None),
        ("a new one at the same time", lambda: add("aa.md", "https://tie.example/new", same), None),
        ("one a second later", lambda: add("t3.md", links["t3.md"], later), links["t3.md"]),
        ("back to the tie", lambda: add("t3.md", links["t3.md"], same), None),
        ("one deleted", lambda: delete("t1.md"), None),
    ]
    for where, change, newer in steps:
        change()
        report = _assert_clean(tmp_path, settings, build_site(settings), where)
        assert report.plan is not None
        tied = sorted(record_id(link) for link in links.values() if link != newer)
        expected = ([record_id(newer)] if newer else []) + tied
        assert [ref.id for ref in report.plan.by_stem["topics/ties"].records] == expected[:3], where


def test_a_record_moved_from_newest_to_oldest_leaves_the_feeds_it_led(tmp_path: Path, store: Path) -> None:
    for n in range(6):
        (store / f"m{n}.md").write_text(_text(f"Moving {n}", f"https://move.example/{n}",
                                              f"2030-04-0{n + 1}T00:00:00Z", "[Movers]"))
    settings = _settings(tmp_path, store, limit=3)
    build_site(settings)
    feed = Path(settings.out) / "topics" / "movers.atom"
    assert "Moving 5" in feed.read_text(encoding="utf-8")
    (store / "m5.md").write_text(_text("Moving 5", "https://move.example/5", "1990-01-01T00:00:00Z",
                                       "[Movers]"))
    _assert_clean(tmp_path, settings, build_site(settings), "to oldest")
    text = feed.read_text(encoding="utf-8")
    assert "Moving 5" not in text and "Moving 2" in text
    (store / "m5.md").write_text(_text("Moving 5", "https://move.example/5", "2030-04-06T00:00:00Z",
                                       "[Movers]"))
    _assert_clean(tmp_path, settings, build_site(settings), "back to newest")
    text = feed.read_text(encoding="utf-8")
    assert "Moving 5" in text and "Moving 2" not in text


# -- what a build reads and writes -------------------------------------------------
def test_a_rebuild_with_nothing_changed_reads_no_record_and_writes_no_file(
        tmp_path: Path, store: Path, reads: list[str]) -> None:
    (store / "broken.md").write_text("---\ntitle: [unclosed\n---\n")
    settings = _settings(tmp_path, store)
    first = build_site(settings)
    assert sorted(reads) == sorted(p.name for p in store.iterdir())
    out = Path(settings.out)
    before, stamps = _tree(out), _stamps(out)
    path = catalog_path(settings)
    with Catalog(path) as catalog:
        version = catalog.version()
    reads.clear()
    again = build_site(settings)
    assert reads == [], "an unchanged build read the store"
    with Catalog(path) as catalog:
        assert catalog.version() == version > 0
    assert again.unchanged and "nothing changed" in again.summary()
    assert _made(again) == set() and again.export.paths_removed == ()
    assert again.counts == first.counts and again.problems == first.problems
    assert any(p.file == "broken.md" for p in again.problems)
    assert _tree(out) == before and _stamps(out) == stamps


def _story(n: int, topics: str, domain: str) -> str:
    return _text(f"Story {n}", f"https://{domain}/story/{n}", f"2030-05-{n + 1:02d}T00:00:00Z", topics,
                 provider=f"{{name: {domain.split('.')[0].title()}, domain: {domain}}}")


CHANGES = ("retitle", "move topic", "move provider", "unpublish", "break", "to oldest", "delete", "rename",
           "touch")


def _change(change: str, path: Path) -> str | None:
    """Make `change` to the record file at `path`; the name of the file a build must read, if any."""
    text = path.read_text()
    edited = {"retitle": text.replace("Story 5", "Story five"),
              "move topic": text.replace("[Alpha, Beta]", "[Gamma, Brand New]"),
              "move provider": text.replace("two.example", "three.example"),
              "unpublish": text.replace("published: true", "published: false"),
              "break": "---\ntitle: [unclosed\n---\n",
              "to oldest": text.replace("2030-05-06", "1990-01-01")}.get(change)
    if edited is not None:
        assert edited != text
        path.write_text(edited)
        return path.name
    if change == "delete":
        path.unlink()
        return None
    if change == "rename":
        return path.rename(path.with_name("zz-renamed.md")).name
    assert change == "touch"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    return path.name


@pytest.mark.parametrize("change", CHANGES)
def test_one_changed_file_is_the_only_one_read_and_only_its_feeds_are_made(
        tmp_path: Path, change: str, reads: list[str]) -> None:
    records = tmp_path / "records"
    records.mkdir()
    layout = [("[Alpha, Beta]", "one.example"), ("[Gamma]", "two.example"), ("[Delta, Alpha]", "one.example"),
              ("[Epsilon]", "three.example"), ("[Zeta]", "four.example"), ("[Alpha, Beta]", "two.example")]
    for n in range(12):
        (records / f"{n:02d}.md").write_text(_story(n, *layout[n % len(layout)]))
    settings = _settings(tmp_path, records)
    build_site(settings)
    out = Path(settings.out)
    before, stamps = _tree(out), _stamps(out)

    def stems(name: str) -> set[str]:  # the feeds the file's record (or its story) is shown in, as planned
        plan = read_store(settings).plan
        links = {r.link for spec in plan.feeds for r in spec.members if r.source == name}
        return {spec.stem for spec in plan.feeds for r in spec.members
                if r.source == name or (spec.kind.stories and r.link in links)}

    was = stems("05.md")
    assert was == {"feed", "topics/alpha", "topics/beta", "providers/two.example",
                   "stories", "topics/alpha/stories", "topics/beta/stories"}, "its story (of one) too"
    with Catalog(None) as memory:  # what an update says changed, on a catalog of its own
        memory.update(records, settings)
        read = _change(change, records / "05.md")
        is_now = stems(read) if read else set()
        changes = memory.update(records, settings)
    # A topic's top stories feed is looked at with the topic: it exists as long as the topic does.
    tops = {f"{stem}/top" for stem in was | is_now if stem.count("/") == 1 and stem.startswith("topics/")}
    # A story made again as it was (the same bytes under another name) is in no feed changed.
    same_story = change in ("touch", "rename")
    assert changes.feeds == {s for s in was | is_now | tops if not (same_story and s.endswith("stories"))}, \
        change
    assert (changes.read, changes.removed) == (read is not None, change in ("delete", "rename")), change
    reads.clear()
    report = build_site(settings)
    assert reads == ([read] if read else []), change
    _assert_clean(tmp_path, settings, report, change)
    made = {_stem_of(path) for path in _made(report)}
    allowed = was | is_now | tops | {"index.html", "feeds.opml", "sitemap.xml"}
    assert made <= allowed, f"{change}: made {made - allowed}"
    assert {_stem_of(path) for path in report.export.paths_removed} <= allowed
    if change in ("touch", "rename"):  # the same bytes under a name: nothing to make
        assert made == set() and is_now == was
    else:
        assert "feed" in made and "topics/epsilon" not in made
    after = _stamps(out)
    for path, stamp in stamps.items():  # a file not written again is the same file, untouched
        if path not in report.export.paths_written and path not in report.export.paths_removed:
            assert after[path] == stamp and before[path] == (out / path).read_bytes(), path
    assert set(report.export.paths_written) == {p for p, data in _tree(out).items() if before.get(p) != data}


def test_a_change_no_file_shows_is_read_and_nothing_is_made(tmp_path: Path, reads: list[str]) -> None:
    """The oldest of twelve records, in feeds of three entries whose embeds show ten and no archive,
    is in no file."""
    records = tmp_path / "records"
    records.mkdir()
    for n in range(12):
        (records / f"{n:02d}.md").write_text(_story(n, "[Alpha]", "one.example"))
    settings = _settings(tmp_path, records, limit=3, archive_size=0)
    build_site(settings)
    oldest = records / "00.md"
    oldest.write_text(oldest.read_text().replace("Story 0", "Story zero"))
    reads.clear()
    report = build_site(settings)
    assert reads == ["00.md"] and _made(report) == set() and not report.unchanged
    _assert_clean(tmp_path, settings, report)
    oldest.write_text(oldest.read_text().replace("2030-05-01", "2030-06-01"))  # now the newest
    report = build_site(settings)
    assert {_stem_of(path) for path in report.export.paths_written} == {
        "feed", "topics/alpha", "providers/one.example", "stories", "topics/alpha/stories", "index.html",
        "feeds.opml", "sitemap.xml"}
    _assert_clean(tmp_path, settings, report)


def test_a_store_emptied_and_filled_again_gives_clean_builds(tmp_path: Path, store: Path) -> None:
    settings = _settings(tmp_path, store)
    build_site(settings)
    for path in store.iterdir():
        path.unlink()
    report = build_site(settings)
    _assert_clean(tmp_path, settings, report, "empty")
    assert report.counts.files == 0 and sorted(_tree(Path(settings.out))) == [
        "embed.js", "embed/feed.html", "embed/stories.html", "embed/top.html", "favicon.ico", "feed.atom",
        "feed.json", "feed.rss", "feed.xsl", "feeds.opml", "index.html", "robots.txt", "sitemap.xml",
        "stories.atom", "stories.json", "stories.rss", "stories/index.html", "top.atom", "top.json",
        "top.rss", "top/index.html"], "the site's own feeds, empty"
    (store / "one.md").write_text(_text("Only one", "https://example.org/one", "2030-01-01T00:00:00Z"))
    _assert_clean(tmp_path, settings, build_site(settings), "one record")


def test_settings_changed_back_and_forth_give_clean_builds(tmp_path: Path, store: Path) -> None:
    """Output settings are in every file's fingerprint; reading settings have a catalog of their own;
    drafts have one in memory.  Each build into the one folder finds what the one before left."""
    (store / "long.md").write_text(_text("A title long enough to be cut at a word by a small limit",
                                         "https://example.org/long", "2030-01-01T00:00:00Z"))
    base = _settings(tmp_path, store)
    for where, overrides in [("base", {}), ("limit", {"limit": 1}), ("base", {}),
                             ("title and language", {"site_title": "Other", "language": "de"}),
                             ("base url", {"base_url": "https://feeds.example/sub/"}),
                             ("drafts", {"drafts": True}), ("base", {}),
                             ("max_title_chars", {"max_title_chars": 20}), ("base", {}),
                             ("max_title_chars", {"max_title_chars": 20})]:
        settings = replace(base, **overrides)
        report = build_site(settings)
        _assert_clean(tmp_path, settings, report, where)
        assert report.warnings == ()
    assert report.counts.published == 3 and build_site(settings).unchanged


def test_a_file_edited_behind_the_builds_back_is_rewritten(tmp_path: Path, store: Path) -> None:
    settings = _settings(tmp_path, store)
    build_site(settings)
    target = Path(settings.out) / "feed.atom"
    good = target.read_bytes()
    target.write_bytes(b"tampered")
    report = build_site(settings)
    assert target.read_bytes() == good and report.export.paths_written == ("feed.atom",)


@pytest.mark.parametrize("change", ["record touched", "record added", "setting", "output edited",
                                    "output removed", "stray file", "other out"])
def test_the_unchanged_shortcut_is_never_taken_when_something_changed(
        tmp_path: Path, store: Path, change: str) -> None:
    settings = _settings(tmp_path, store)
    build_site(settings)
    out = Path(settings.out)
    victim = sorted(store.iterdir())[0]
    if change == "record touched":
        os.utime(victim, ns=(victim.stat().st_atime_ns, victim.stat().st_mtime_ns + 1_000_000_000))
    elif change == "record added":
        (store / "new.md").write_text(_text("Added", "https://example.org/n", "2030-01-01T00:00:00Z"))
    elif change == "setting":
        settings = replace(settings, site_title="Another title")
    elif change == "output edited":
        (out / "topics" / "ai.atom").write_bytes(b"<not the feed/>")
    elif change == "output removed":
        (out / "feed.json").unlink()
    elif change == "stray file":
        (out / "topics" / "stray.atom").write_bytes(b"left over")
    elif change == "other out":
        settings = _settings(tmp_path, store, "out2")
    report = build_site(settings)
    if change == "stray file":
        # Nothing to re-read, but the stray is removed as any build removes it.
        assert not (out / "topics" / "stray.atom").exists()
        assert report.export.paths_removed == ("topics/stray.atom",)
    else:
        assert not report.unchanged
    _assert_clean(tmp_path, settings, report, change)


def _rewrite_keeping_times(path: Path, old: bytes, new: bytes) -> None:
    """Rewrite `path` in place, same size, and put its times back (as cp -p, tar and rsync -t do)."""
    info = path.stat()
    data = path.read_bytes()
    assert old in data and len(old) == len(new)
    with path.open("r+b") as handle:
        handle.write(data.replace(old, new))
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (info.st_size, info.st_mtime_ns)


def test_an_edit_with_its_old_modification_time_restored_is_found(tmp_path: Path, store: Path) -> None:
    # Issue 12, item 6: a retracted story stayed in every feed ("nothing changed since the last build").
    settings = _settings(tmp_path, store)
    build_site(settings)
    assert "Face for sale" in (tmp_path / "out" / "feed.atom").read_text(encoding="utf-8")
    _rewrite_keeping_times(store / "000_5493749f3400b6dd.txt", b"published: true\n", b"published: fals\n")
    report = build_site(settings)
    assert not report.unchanged, report.summary()
    assert "Face for sale" not in (tmp_path / "out" / "feed.atom").read_text(encoding="utf-8")
    _assert_clean(tmp_path, settings, report)


def test_an_output_damaged_with_its_size_and_time_kept_is_rewritten(tmp_path: Path, store: Path) -> None:
    settings = _settings(tmp_path, store)
    build_site(settings)
    target = tmp_path / "out" / "feed.atom"
    good = target.read_bytes()
    _rewrite_keeping_times(target, b"<feed", b"<FEED")
    report = build_site(settings)
    assert target.read_bytes() == good, "the damaged file must be written again"
    assert "feed.atom" in report.export.paths_written


def test_the_live_server_finds_an_edit_with_its_old_modification_time(tmp_path: Path, store: Path) -> None:
    from feeds.web import create_app
    client = create_app(_settings(tmp_path, store), watch=False).test_client()
    assert b"Face for sale" in client.get("/feed.atom").data
    _rewrite_keeping_times(store / "000_5493749f3400b6dd.txt", b"published: true\n", b"published: fals\n")
    client.application.extensions["feeds"].refresh()
    assert b"Face for sale" not in client.get("/feed.atom").data


def test_a_record_whose_file_name_is_not_ascii_is_rendered_again(tmp_path: Path, store: Path) -> None:
    """Its printable name is not its file name: the catalog keeps it by file name."""
    (store / "é-ünï.md").write_text(_text("Named in Unicode", "https://example.org/u",
                                          "2030-01-01T00:00:00Z"))
    (store / "plain.md").write_text(_text("Plain", "https://example.org/p", "2029-01-01T00:00:00Z"))
    settings = _settings(tmp_path, store)
    build_site(settings)
    (store / "plain.md").write_text(_text("Plain, retitled", "https://example.org/p", "2029-01-01T00:00:00Z"))
    report = build_site(settings)  # the Unicode-named record comes from the catalog, in the same feeds
    tree = _tree(Path(settings.out))
    assert b"Named in Unicode" in tree["feed.atom"] and b"Plain, retitled" in tree["feed.atom"]
    _assert_clean(tmp_path, settings, report)


@pytest.mark.parametrize("where", [
    "quality: {n}", "heat: -{n}", "images: [{{url: 'https://i.example/a.png', width: {n}}}]",
    "provider: {{name: P, domain: p.example, images: [{{url: 'https://i.example/l.png', height: {n}}}]}}",
    "related: [{{title: R, webUrl: 'https://r.example/', quality: {n}}}]", "title: {n}",
])
def test_a_number_beyond_any_range_never_crashes_a_build_with_a_catalog(tmp_path: Path, store: Path,
                                                                        where: str) -> None:
    # Issue 12, item 3: a 5,000-digit quality crashed the cache encoder and the whole build.
    text = (f"---\ntitle: Long numbers\npublishedDateTime: 2024-01-01T00:00:00Z\n"
            f"webUrl: https://n.example/a\npublished: true\n{where.format(n='9' * 5000)}\n---\n")
    if where.startswith("title"):
        text = text.replace("title: Long numbers\n", "")
    (store / "long.md").write_text(text, encoding="utf-8")
    settings = _settings(tmp_path, store)
    first = build_site(settings)
    assert first.counts.published == 3 and first.counts.skipped == 0, first.problems
    assert build_site(settings).unchanged
    shutil.rmtree(settings.out)  # every file made again from the records the catalog kept
    _assert_clean(tmp_path, settings, build_site(settings), where)


# -- the parallel read --------------------------------------------------------------
def test_the_parallel_read_gives_the_serial_reads_bytes(
        tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(60):
        (store / f"gen{i:03}.md").write_text(_text(f"Story {i}", f"https://example.org/s{i}",
                                                   f"2021-01-{1 + i % 28:02}T00:00:00Z", "[AI, Robots]"))
    (store / "gen900.md").write_text("---\ntitle: [unclosed\n---\n")
    (store / "gen901.md").write_bytes(b"---\ntitle: \xff\xfe\n---\n")
    (store / "gen902.md").write_text(_text("Again", "https://example.org/s3", "2021-02-01T00:00:00Z"))
    serial = replace(_settings(tmp_path, store), jobs=1)  # below PARALLEL_FROM, or one job: serial
    log = tmp_path / "reads.log"
    real = catalog_module.read_file

    def logged(entry: catalog_module.Entry, settings: Settings) -> object:
        with log.open("a") as handle:
            handle.write(f"{os.getpid()} {entry.name}\n")
        return real(entry, settings)

    monkeypatch.setattr(catalog_module, "read_file", logged)
    monkeypatch.setattr(catalog_module, "PARALLEL_FROM", 10)
    monkeypatch.setattr(catalog_module, "CHUNK", 7)
    parallel = replace(serial, jobs=2)
    for where in ("cold", "many changed"):
        if where == "many changed":
            for i in range(0, 60, 3):
                path = store / f"gen{i:03}.md"
                path.write_text(path.read_text().replace("Story", "Tale").replace("AI, ", ""))
            (store / "gen001.md").unlink()
        log.unlink(missing_ok=True)
        report = build_site(parallel)
        lines = [line.split(" ", 1) for line in log.read_text().splitlines()]
        assert {pid for pid, _ in lines} - {str(os.getpid())}, f"{where}: no worker read a file"
        changed = [f"gen{i:03}.md" for i in range(0, 60, 3)]
        assert sorted(name for _, name in lines) == (
            sorted(p.name for p in store.iterdir()) if where == "cold" else changed), where
        clean = replace(serial, out=str(tmp_path / "clean"), cache_dir="off")
        shutil.rmtree(clean.out, ignore_errors=True)
        log.unlink()
        expected = build_site(clean)
        assert {line.split(" ")[0] for line in log.read_text().splitlines()} == {str(os.getpid())}
        assert _tree(Path(parallel.out)) == _tree(Path(clean.out)), where
        assert report.counts == expected.counts and report.problems == expected.problems, where


# -- the catalog file ------------------------------------------------------------------
def test_the_catalog_never_holds_secured_or_unpublished_text(tmp_path: Path, store: Path) -> None:
    settings = _settings(tmp_path, store)
    build_site(settings)
    path = catalog_path(settings)
    assert path is not None and path.exists()
    with sqlite3.connect(path) as db:
        dump = "\n".join(db.iterdump())
    raw = b"".join(p.read_bytes() for p in path.parent.iterdir() if p.is_file())
    assert "Face for sale" in dump  # a published title is there: the dump is of the right file
    for seed in SEEDS.iterdir():
        text = seed.read_text(encoding="utf-8")
        secured = next(line for line in text.splitlines() if line.startswith("secured:"))
        assert secured[12:60] not in dump and secured[12:60].encode() not in raw
        if "published: false" in text:
            title = next(line for line in text.splitlines() if line.startswith("title:"))
            assert title[8:-1] not in dump, f"unpublished {seed.name} reached the catalog"
            assert title[8:-1].encode() not in raw


def test_a_catalog_of_another_format_is_read_again(tmp_path: Path, store: Path, reads: list[str]) -> None:
    settings = _settings(tmp_path, store)
    build_site(settings)
    path = catalog_path(settings)
    assert path is not None
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value='0' WHERE key='format'")
        db.execute("UPDATE records SET head='garbage', payload='garbage'")
    shutil.rmtree(settings.out)
    reads.clear()
    report = build_site(settings)
    assert sorted(reads) == sorted(p.name for p in store.iterdir()), "every file is read again"
    assert report.counts.published == 2 and report.warnings == ()
    _assert_clean(tmp_path, settings, report)
    reads.clear()
    assert build_site(settings).unchanged and reads == []


def test_a_file_row_of_another_identity_reads_that_file_again(tmp_path: Path, store: Path,
                                                              reads: list[str]) -> None:
    settings = _settings(tmp_path, store)
    build_site(settings)
    path = catalog_path(settings)
    assert path is not None
    victim = sorted(store.iterdir())[2].name
    with sqlite3.connect(path) as db:
        (raw,) = db.execute("SELECT entries FROM listing").fetchone()
        listing = [(name, size + 1, *rest) if name == victim else (name, size, *rest)
                   for name, size, *rest in marshal.loads(raw)]
        db.execute("UPDATE listing SET entries = ?", (marshal.dumps(listing),))
    reads.clear()
    report = build_site(settings)
    assert reads == [victim] and report.warnings == ()
    _assert_clean(tmp_path, settings, report)


DAMAGES = {
    "payload not JSON": ("UPDATE records SET payload = 'x'", "records"),
    "head not JSON": ("UPDATE records SET head = '{'", "records"),
    "head of the wrong shape": ("UPDATE records SET head = '[1, 2]'", "records"),
    "payload of the wrong shape": ("UPDATE records SET payload = '[1]'", "records"),
    "head with a bad date": ("UPDATE records SET head = replace(head, '\"2020-', '\"not a date ')",
                             "records"),
    "provider of the wrong type": ("UPDATE records SET head = "
                                   "replace(head, '[\"Reuters\"', '[[\"Reuters\"]')", "records"),
    "member of another record": ("UPDATE members SET digest = 'x'", "records"),
    "feed's day out of every calendar": ("UPDATE days SET day = 99999999 WHERE feed = 'feed' AND day = "
                                         "(SELECT max(day) FROM days WHERE feed = 'feed')", "days"),
    "feed's day not a number": ("UPDATE days SET day = 'x' WHERE feed = 'feed' AND day = "
                                "(SELECT max(day) FROM days WHERE feed = 'feed')", "days"),
    "record row gone": ("DELETE FROM records WHERE shown = 1", "records"),
    "problems not JSON": ("UPDATE files SET problems = '[' WHERE problems IS NOT NULL", "files"),
    "problems of the wrong shape": ("UPDATE files SET problems = '[[1]]' WHERE problems IS NOT NULL",
                                    "files"),
    "problem of no severity": ("UPDATE files SET problems = '[[\"f\", \"m\", \"grave\"]]' "
                               "WHERE problems IS NOT NULL", "files"),
    "listing not marshal": ("UPDATE listing SET entries = X'00ff'", "listing"),
    "listing cut short": ("UPDATE listing SET entries = substr(entries, 1, length(entries) / 2)", "listing"),
    "listing not a list": (f"UPDATE listing SET entries = X'{marshal.dumps({}).hex()}'", "listing"),
    "listing of lists": ("UPDATE listing SET entries = "
                         f"X'{marshal.dumps([[n, 1, 2, 3, 4] for n in 'abcdef']).hex()}'", "listing"),
    "listing of one file less": ("UPDATE listing SET entries = "
                                 f"X'{marshal.dumps([('a.md', 1, 2, 3, 4)]).hex()}'", "listing"),
    "listing row gone": ("DELETE FROM listing", "listing"),
    # one name twice and another missing: as many entries as files, so only the names tell
    "listing naming a file twice": ("UPDATE listing SET entries = X'{twice}'", "listing"),
}


@pytest.mark.damages_catalog
@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_catalog_row_gives_a_warning_and_the_same_bytes(
        tmp_path: Path, store: Path, damage: str, caplog: pytest.LogCaptureFixture) -> None:
    (store / "broken.md").write_text("---\ntitle: [unclosed\n---\n")  # a file with problems
    settings = _settings(tmp_path, store)
    build_site(settings)
    path = catalog_path(settings)
    assert path is not None
    statement, table = DAMAGES[damage]
    with sqlite3.connect(path) as db:
        listing = marshal.loads(db.execute("SELECT entries FROM listing").fetchone()[0])
        twice = marshal.dumps([listing[0], listing[0], *listing[2:]]).hex()
        assert db.execute(statement.replace("{twice}", twice)).rowcount > 0, "nothing was damaged"
    (store / "new.md").write_text(_text("After damage", "https://example.org/d", "2030-01-01T00:00:00Z"))
    shutil.rmtree(settings.out)  # every file is made, so every record is loaded from the catalog
    report = build_site(settings)
    assert len(report.warnings) == 1 and str(path) in report.warnings[0], report.warnings
    assert "going on without it" in report.warnings[0]
    fallbacks = [r.getMessage() for r in caplog.records if r.getMessage().startswith("fallback")]
    assert fallbacks and all(f"catalog's {table} table" in f for f in fallbacks), fallbacks
    assert report.counts.published == 3
    _assert_clean(tmp_path, settings, report, damage)
    path.unlink()  # as the warning says: the next build makes a new one
    caplog.clear()
    again = build_site(settings)
    assert again.warnings == () and not [r for r in caplog.records if "fallback" in r.getMessage()]
    _assert_clean(tmp_path, settings, again, f"{damage}, catalog deleted")


# A file edited in place leaves the listing as long as the folder: each entry is checked against the
# file it faces, and a listing that only looks the right length is still found damaged.
IN_PLACE = {
    "listing of lists": lambda listing: [list(entry) for entry in listing],
    "listing naming a file twice": lambda listing: [listing[0], listing[0], *listing[2:]],
    "listing of short entries": lambda listing: [entry[:4] for entry in listing],
}


def _edit_and_expect_a_listing_warning(tmp_path: Path, settings: Settings, victim: Path, path: Path,
                                       caplog: pytest.LogCaptureFixture, damage: str) -> None:
    """Edit `victim` in place and build: one warning naming the catalog, listing fallbacks only,
    a clean build's bytes; then the catalog is deleted, as the warning says."""
    victim.write_text(victim.read_text() + "\n")
    report = build_site(settings)
    assert len(report.warnings) == 1 and str(path) in report.warnings[0], report.warnings
    fallbacks = [r.getMessage() for r in caplog.records if r.getMessage().startswith("fallback")]
    assert fallbacks and all("catalog's listing table" in f for f in fallbacks), fallbacks
    _assert_clean(tmp_path, settings, report, damage)
    path.unlink()


@pytest.mark.parametrize("damage", sorted(IN_PLACE))
def test_a_damaged_listing_is_found_when_a_file_is_edited_in_place(
        tmp_path: Path, store: Path, damage: str, caplog: pytest.LogCaptureFixture) -> None:
    settings = _settings(tmp_path, store)
    build_site(settings)
    path = catalog_path(settings)
    assert path is not None
    with sqlite3.connect(path) as db:
        listing = marshal.loads(db.execute("SELECT entries FROM listing").fetchone()[0])
        db.execute("UPDATE listing SET entries = ?", (marshal.dumps(IN_PLACE[damage](listing)),))
    _edit_and_expect_a_listing_warning(tmp_path, settings, sorted(store.iterdir())[-1], path, caplog, damage)


def test_an_in_place_edit_rereads_only_that_file(tmp_path: Path, store: Path) -> None:
    settings = _settings(tmp_path, store)
    build_site(settings)
    victim = sorted(store.iterdir())[2]
    victim.write_text(victim.read_text() + "\n")
    with Catalog(catalog_path(settings)) as catalog:
        changes = catalog.update(store, settings)
    assert (changes.read, changes.removed) == (1, 0)
    report = build_site(settings)
    _assert_clean(tmp_path, settings, report, "in place")


# -- the listing in parts ------------------------------------------------------------------------------
def _parts(path: Path) -> list[list[tuple[object, ...]]]:
    with sqlite3.connect(path) as db:
        return [marshal.loads(raw) for (raw,) in db.execute("SELECT entries FROM listing ORDER BY part")]


def _raw_parts(path: Path) -> dict[int, bytes]:
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT part, entries FROM listing"))


def test_the_listing_in_parts_follows_every_edit_addition_and_removal(
        tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog_module, "LISTING_PART", 4)
    rng = random.Random(13)
    for n in range(30):
        (store / f"m{n:03d}.md").write_text(_text(f"Story {n}", f"https://example.org/{n}",
                                                  f"2030-01-{1 + n % 28:02d}T00:00:00Z"))
    settings = _settings(tmp_path, store)
    build_site(settings)
    path = catalog_path(settings)
    assert path is not None and len(_parts(path)) > 5
    for round_ in range(25):
        names = sorted(p.name for p in store.iterdir())
        edited = rng.sample(names, rng.randint(0, 3))
        deleted = rng.sample([n for n in names if n not in edited], rng.randint(0, 3))
        added = [f"{rng.choice('0amnz')}{round_:02d}{i}.md" for i in range(rng.randint(0, 6))]
        for name in edited:
            (store / name).write_text((store / name).read_text() + "\n")
        for name in deleted:
            (store / name).unlink()
        for i, name in enumerate(added):
            (store / name).write_text(_text(f"Added {round_} {i}", f"https://example.org/a{round_}-{i}",
                                            "2030-02-01T00:00:00Z"))
        with Catalog(path) as catalog:
            changes = catalog.update(store, settings)
        where = f"round {round_}: edited {edited}, deleted {deleted}, added {added}"
        assert (changes.read, changes.removed) == (len(edited) + len(added), len(deleted)), where
        parts = _parts(path)
        assert [tuple(e) for part in parts for e in part] == [
            (e.name, e.size, e.mtime_ns, e.ctime_ns, e.ino) for e in changes.listing.entries], where
        assert all(0 < len(part) <= 8 for part in parts), where
    for entry in _parts(path)[2]:  # a part whose every file is gone
        (store / str(entry[0])).unlink()
    with Catalog(path) as catalog:
        emptied = catalog.update(store, settings)
    assert emptied.read == 0 and emptied.removed > 0
    assert [tuple(e) for part in _parts(path) for e in part] == [tuple(e) for e in emptied.listing.entries]
    victim = sorted(store.iterdir())[len(list(store.iterdir())) // 2]
    victim.write_text(victim.read_text() + "\n")
    before = _raw_parts(path)
    with Catalog(path) as catalog:
        assert catalog.update(store, settings).read == 1
    after = _raw_parts(path)
    assert after.keys() == before.keys()
    assert sum(before[number] != raw for number, raw in after.items()) == 1, "one edit rewrites one part"
    report = build_site(settings)
    _assert_clean(tmp_path, settings, report, "after the rounds")


PART_DAMAGES = {
    "parts out of order": "UPDATE listing SET part = 100 - part",
    "an empty part": f"UPDATE listing SET entries = X'{marshal.dumps([]).hex()}' WHERE part = 1",
    "a part gone": "DELETE FROM listing WHERE part = 1",
}


@pytest.mark.parametrize("damage", sorted(PART_DAMAGES))
def test_a_damaged_part_of_the_listing_gives_a_warning_and_the_same_bytes(
        tmp_path: Path, store: Path, damage: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(catalog_module, "LISTING_PART", 2)
    settings = _settings(tmp_path, store)
    build_site(settings)
    path = catalog_path(settings)
    assert path is not None and len(_parts(path)) >= 3
    with sqlite3.connect(path) as db:
        assert db.execute(PART_DAMAGES[damage]).rowcount > 0
    _edit_and_expect_a_listing_warning(tmp_path, settings, sorted(store.iterdir())[0], path, caplog, damage)


# -- identities beyond 64 bits ------------------------------------------------------------
BEYOND = 2**63 + 10**18  # nanoseconds: a time in 2292, which ext4, XFS and btrfs keep


def _dated_beyond_2262(path: Path, ns: int = BEYOND) -> None:
    os.utime(path, ns=(ns, ns))
    if path.stat().st_mtime_ns != ns:
        pytest.skip("this file system does not keep times after 2262")


def test_a_record_file_dated_beyond_2262_is_kept_and_compared(tmp_path: Path, store: Path,
                                                              reads: list[str]) -> None:
    """A modification time over 2**63 ns: the catalog keeps it, and tells it from another one."""
    victim = store / "001_632e9d232dd96937.txt"
    _dated_beyond_2262(victim)
    settings = _settings(tmp_path, store)
    report = build_site(settings)
    assert report.warnings == ()
    _assert_clean(tmp_path, settings, report)
    reads.clear()
    assert build_site(settings).unchanged and reads == []
    _dated_beyond_2262(victim, BEYOND + 1)
    build_site(settings)
    assert reads == [victim.name]


def test_an_output_file_dated_beyond_2262_is_kept_track_of(tmp_path: Path, store: Path) -> None:
    settings = _settings(tmp_path, store)
    build_site(settings)
    target = Path(settings.out) / "feed.atom"
    _dated_beyond_2262(target)  # same bytes, another time: made again, found the same and kept
    report = build_site(settings)
    assert report.warnings == () and "feed.atom" in report.export.paths_same
    assert build_site(settings).unchanged
    _assert_clean(tmp_path, settings, report)


def test_the_catalog_keeps_inodes_too_large_for_64_bits(tmp_path: Path, store: Path, reads: list[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """st_ino is unsigned 64 bits (overlayfs, NFS and FUSE give inodes with the top bit set); no test
    file system here makes one, so the listing is given them."""
    real = catalog_module.scan
    top = [2**64 - 1]

    def listing(root: Path) -> catalog_module.Listing:
        found = real(root)
        return found._replace(entries=[e._replace(ino=top[0] - i) for i, e in enumerate(found.entries)])

    monkeypatch.setattr(catalog_module, "scan", listing)
    settings = _settings(tmp_path, store)
    path = catalog_path(settings)
    with Catalog(path) as catalog:
        assert catalog.update(store, settings).read == 5
    reads.clear()
    with Catalog(path) as catalog:
        assert catalog.update(store, settings).read == 0 and reads == []
        top[0] -= 1  # every inode changed
        assert catalog.update(store, settings).read == 5


# -- edited templates and upgraded code --------------------------------------------------
def test_an_edited_template_or_upgraded_code_makes_its_files_again(tmp_path: Path, store: Path) -> None:
    """The fingerprint of every output holds the package's code and templates (an edited
    templates/feed.html left the built pages stale until the cache was deleted)."""
    package = tmp_path / "pkg"
    shutil.copytree(ROOT / "feeds", package / "feeds", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(package), "FEEDS_CACHE_DIR": str(tmp_path / "cache")}

    def build(out: str, cache: str | None = None) -> str:
        command = [sys.executable, "-m", "feeds", "build", "--records", str(store),
                   "--out", str(tmp_path / out)]
        done = subprocess.run(command, env={**env, "FEEDS_CACHE_DIR": cache or env["FEEDS_CACHE_DIR"]},
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def clean() -> dict[str, bytes]:
        shutil.rmtree(tmp_path / "clean", ignore_errors=True)
        build("clean", "off")
        return _tree(tmp_path / "clean")

    def edit(name: str, old: str, new: str) -> None:
        template = package / "feeds" / "templates" / name
        text = template.read_text(encoding="utf-8")
        assert old in text
        template.write_text(text.replace(old, new, 1), encoding="utf-8")

    build("out")
    out = tmp_path / "out"
    page = out / "topics" / "ai" / "index.html"
    atom = (out / "feed.atom").read_bytes()
    assert "nothing changed" in build("out")
    edit("feed.html", "</main>", "<!-- edited --></main>")
    summary = build("out")
    assert "<!-- edited -->" in page.read_text(encoding="utf-8"), summary
    assert (out / "feed.atom").read_bytes() == atom, "files the template does not make stay"
    assert _tree(out) == clean()
    # Two more templates and a record edited together.
    edit("embed.html", "<", "<!-- embed edited -->\n<")
    edit("index.html", "</h1>", "</h1><!-- index edited -->")
    (store / "new.md").write_text(_text("Added with a template", "https://example.org/t",
                                        "2030-01-01T00:00:00Z"))
    build("out")
    assert b"<!-- embed edited -->" in (out / "embed" / "topics" / "ai.html").read_bytes()
    assert b"<!-- index edited -->" in (out / "index.html").read_bytes()
    assert _tree(out) == clean()
    assert "nothing changed" in build("out")


# -- random edits ---------------------------------------------------------------------------
TOPICS = ["AI", "ai", "Quantum", "Robots", "Space", "Computer Vision", "Ethics"]
PROVIDERS = [("Example", "example.org"), ("EXAMPLE News", "example.org"), ("Other", "other.net"),
             ("Third", "third.io"), ("Fourth", "fourth.com")]
LOGO = "https://example.org/logo-{}.png"
RANDOM_SEEDS = int(os.environ.get("FEEDS_RANDOM_EDIT_SEEDS", "6"))  # more for a longer run
RANDOM_STEPS = 12


def _record(rng: random.Random, n: int, link: int | None = None) -> str:
    """A random record: provider, topics, logo, time (equal times are common), quality and heat."""
    name, domain = rng.choice(PROVIDERS)
    topics = rng.sample(TOPICS, rng.randint(1, 3))
    logo = ""
    if rng.random() < 0.5:
        logo = (f'  images:\n    - url: "{LOGO.format(rng.randint(1, 3))}"\n'
                "      width: 50\n      height: 50\n")
    day = rng.randint(1, 28)
    hour = rng.choice([0, 12])  # equal times are common: ties are broken by id
    published = "true" if rng.random() < 0.85 else "false"
    return (f'---\ntitle: "Story {n} {rng.randint(0, 9999)}"\n'
            f"excerpt: \"About story {n}.\"\n"
            f"publishedDateTime: 2030-01-{day:02d}T{hour:02d}:00:00Z\n"
            f'webUrl: "https://{domain}/story/{n if link is None else link}"\n'
            f"quality: {rng.randint(0, 100)}\nheat: {rng.randint(0, 100)}\n"
            f"published: {published}\n"
            f"provider:\n  name: {name}\n  domain: {domain}\n{logo}"
            f"topics: [{', '.join(topics)}]\n---\n")


def _field(path: Path, name: str) -> str | None:
    found = re.search(rf"(?m)^{name}: \"?([^\"\n]*)\"?$", path.read_text())
    return found.group(1) if found else None


def _edits(rng: random.Random, records: Path, out: Path, counter: list[int]) -> dict[str, Callable[[], None]]:
    """Every kind of edit, by name; each picks its file(s) with `rng`."""
    def files() -> list[Path]:
        return sorted(p for p in records.iterdir() if p.is_file())

    def pick() -> Path:
        return rng.choice(files())

    def rewrite(path: Path, text: str) -> None:
        if rng.random() < 0.5:  # as a bot does: a new file renamed over the old one
            temp = path.with_name(path.name + ".tmp")
            temp.write_text(text)
            os.replace(temp, path)
        else:  # in place, size and time change
            path.write_text(text)

    def set_field(path: Path, name: str, value: str) -> None:
        rewrite(path, re.sub(rf"(?m)^{name}: .*$", f"{name}: {value}", path.read_text()))

    def dated() -> list[tuple[datetime, Path]]:
        found = [(_field(path, "publishedDateTime"), path) for path in files()]
        return [(datetime.fromisoformat(when), path) for when, path in found if when]

    def add() -> None:
        counter[0] += 1
        (records / f"{rng.randint(0, 99):02d}_new{counter[0]}.md").write_text(_record(rng, counter[0]))

    def change() -> None:
        path = pick()
        counter[0] += 1
        rewrite(path, _record(rng, counter[0], link=counter[0]))

    def retitle() -> None:
        path = pick()
        rewrite(path, path.read_text().replace('title: "', 'title: "Re: ', 1))

    def move_topics() -> None:
        set_field(pick(), "topics", f"[{', '.join(rng.sample(TOPICS, rng.randint(1, 3)))}]")

    def unpublish_or_publish() -> None:
        path = pick()
        text = path.read_text()
        flip = (text.replace("published: true", "published: false") if "published: true" in text
                else text.replace("published: false", "published: true"))
        rewrite(path, flip)

    def delete() -> None:
        pick().unlink()

    def rename() -> None:
        counter[0] += 1
        path = pick()
        path.rename(records / f"{rng.randint(0, 99):02d}_moved{counter[0]}.md")

    def duplicate() -> None:
        first, second = pick(), pick()
        link = _field(first, "webUrl")
        if link:
            set_field(second, "webUrl", f'"{link}"')

    def undo_duplicate() -> None:
        change()

    def first_of_a_link_goes() -> None:
        """The file a shared link is published from is deleted or renamed after the others."""
        by_link: dict[str, list[Path]] = {}
        for path in files():
            link = _field(path, "webUrl")
            if link:
                by_link.setdefault(link, []).append(path)
        shared = [paths for paths in by_link.values() if len(paths) > 1]
        if not shared:
            duplicate()
            return
        first = min(rng.choice(shared), key=lambda p: os.fsencode(p.name))
        if rng.random() < 0.5:
            first.unlink()
        else:
            first.rename(records / f"zz_{first.name}")

    def newest_to_oldest() -> None:
        times = dated()
        if times:
            newest = max(times, key=lambda t: (t[0], t[1].name))[1]
            oldest = min(when for when, _ in times)
            set_field(newest, "publishedDateTime", (oldest - timedelta(hours=1)).isoformat())

    def tie() -> None:
        """One record at another's time, now and then written in another time zone."""
        times = dated()
        if len(times) > 1:
            (when, _), (_, path) = rng.sample(times, 2)
            if rng.random() < 0.5:
                when = when.astimezone(timezone(timedelta(hours=2)))
            set_field(path, "publishedDateTime", when.isoformat())

    def break_one() -> None:
        rewrite(pick(), "---\ntitle: [unclosed\n---\n")

    def damage_output() -> None:
        found = sorted(p for p in out.rglob("*") if p.is_file())
        if found:
            victim = rng.choice(found)
            if rng.random() < 0.5:
                victim.unlink()
            else:
                victim.write_bytes(b"damaged")

    def relate() -> None:
        """A record cites other records' links, or a page other records cite: stories join and
        chains grow (and split again when a citation goes)."""
        path = pick()
        links = [_field(other, "webUrl") or "" for other in rng.sample(files(), min(2, len(files())))]
        links += rng.sample([f"https://elsewhere.example/{n}" for n in range(3)], rng.randint(0, 1))
        items = "".join(f'  - title: "Cited {n}"\n    webUrl: "{link}"\n'
                        for n, link in enumerate(links) if link)
        text = re.sub(r"(?m)^related:\n(?:  .*\n)*", "", path.read_text())
        end = text.rindex("---\n")
        rewrite(path, f"{text[:end]}related:\n{items}{text[end:]}" if items else text)

    def unrelate() -> None:
        path = pick()
        rewrite(path, re.sub(r"(?m)^related:\n(?:  .*\n)*", "", path.read_text()))

    def heat() -> None:
        """Secondary articles (-1), cold ones, and ones that reach the top stories' heat."""
        set_field(pick(), "heat", str(rng.choice([-1, 5, 50, 90, 100])))

    def touch() -> None:
        path = pick()
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

    return {f.__name__: f for f in (add, change, retitle, move_topics, unpublish_or_publish, delete, rename,
                                    duplicate, undo_duplicate, first_of_a_link_goes, newest_to_oldest, tie,
                                    break_one, damage_output, touch, relate, unrelate, heat)}


def _assert_as_the_files_say(records: Path, limit: int, report: BuildReport, where: str, out: Path) -> None:
    """The counts and the all-items feed's order as the files say, worked out apart from the catalog
    (so a mistake shared by clean and incremental builds shows too): of the published files of one
    link, the first by name is shown; newest first, ties by id."""
    from feeds.records import record_id

    def story_id(first: str) -> str:
        return f"urn:uuid:{uuid.uuid5(STORY_NAMESPACE, record_id(first))}"

    shown: dict[str, tuple[bytes, datetime]] = {}
    published = unpublished = 0
    for path in records.iterdir():
        text = path.read_text()
        unpublished += "published: false" in text
        link, when = _field(path, "webUrl"), _field(path, "publishedDateTime")
        if "published: true" not in text or not link or not when:
            continue
        published += 1
        name = os.fsencode(path.name)
        if link not in shown or name < shown[link][0]:
            shown[link] = (name, datetime.fromisoformat(when))
    newest = sorted(shown, key=lambda link: (-shown[link][1].timestamp(), record_id(link)))
    # The order the build's all-items feed shows (its plan holds only the feeds it planned again).
    shown_ids = [item["id"] for item in json.loads((out / "feed.json").read_text())["items"]]
    assert shown_ids == [record_id(ln) for ln in newest][:limit], where
    # The stories: records joined by the pages they name (these stores spell each URL one way).
    cites = {link: re.findall(r'(?m)^    webUrl: "([^"]*)"$', (records / os.fsdecode(name)).read_text())
             for link, (name, _) in shown.items()}
    group = {link: link for link in shown}

    def root(link: str) -> str:
        while group[link] != link:
            link = group[link]
        return link

    by_page: dict[str, str] = {}
    for link in shown:
        for page in (link, *cites[link]):
            other = by_page.setdefault(page, link)
            group[root(link)] = root(other)
    stories: dict[str, list[str]] = {}
    for link in shown:
        stories.setdefault(root(link), []).append(link)
    expected = sorted((-max(shown[ln][1] for ln in members).timestamp(),  # the newest coverage first
                       story_id(min(members, key=lambda ln: (shown[ln][1], record_id(ln)))))
                      for members in stories.values())
    story_ids = [item["id"] for item in json.loads((out / "stories.json").read_text())["items"]]
    assert story_ids == [sid for _, sid in expected][:limit], where
    counts = report.counts
    assert (counts.published, counts.duplicates, counts.unpublished) == (
        len(shown), published - len(shown), unpublished), where


def _random_edits(tmp_path: Path, seed: int, reads: list[str], second_out: bool = False) -> None:
    rng = random.Random(seed)
    limit = rng.choice([3, 5, 50])  # below, at and above what an embed shows (10)
    records = tmp_path / "records"
    records.mkdir()
    for n in range(rng.randint(8, 30)):
        (records / f"{n:02d}.md").write_text(_record(rng, n))
    # One process: what is compared is the catalog's state, and forking for each build costs more
    # than these small sites take to render.
    settings = _settings(tmp_path, records, limit=limit, jobs=1)
    build_site(settings)
    out = Path(settings.out)
    other = replace(settings, out=str(tmp_path / "other"))
    if second_out:
        build_site(other)
    edits = _edits(rng, records, out, [1000])
    names = sorted(edits)
    for step in range(RANDOM_STEPS):
        done = [rng.choice(names) for _ in range(rng.choice([1, 1, 1, 2, 3]))]
        for name in done:
            if any(p.is_file() for p in records.iterdir()) or name == "add":
                edits[name]()
        if second_out and rng.random() < 0.6:  # the other folder is built first, now and then
            build_site(other)
        where = f"seed {seed}, step {step}, after {done}"
        report = build_site(settings)
        _assert_clean(tmp_path, settings, report, where)
        _assert_as_the_files_say(records, limit, report, where, Path(settings.out))
    if second_out:
        _assert_clean(tmp_path, other, build_site(other), f"seed {seed}, the other folder")
    reads.clear()
    again = build_site(settings)
    assert again.unchanged and _made(again) == set() and reads == []


@pytest.mark.parametrize("seed", range(RANDOM_SEEDS))
def test_builds_through_the_catalog_equal_clean_builds_through_random_edits(
        tmp_path: Path, seed: int, reads: list[str]) -> None:
    _random_edits(tmp_path, seed, reads)


@pytest.mark.parametrize("seed", range(200, 202))
def test_builds_into_two_folders_from_one_catalog_stay_equal_to_clean_builds(
        tmp_path: Path, seed: int, reads: list[str]) -> None:
    """Both folders' builds share the store's catalog: each finds files the other has read."""
    _random_edits(tmp_path, seed, reads, second_out=True)


def test_records_inserted_by_name_are_read_again_from_a_folder_that_has_them(
        tmp_path: Path, store: Path, reads: list[str]) -> None:
    """`Catalog.insert` (a store made in memory) keeps no identity: an update then reads those files
    again, drops the names the folder lacks, and gives what a catalog of the folder alone gives."""
    settings = _settings(tmp_path, store)
    first = sorted(p.name for p in store.iterdir())[0]
    with Catalog(None) as catalog:
        stand_in = read_store(replace(settings, records=str(store))).records[0]
        catalog.insert([(first, ReadResult(first, stand_in)), ("gone.md", ReadResult("gone.md", stand_in))],
                       settings)
        reads.clear()
        catalog.update(store, settings)
        assert first in reads, "an inserted file is read again from the folder"
        with catalog.reading():
            names = {r.source for r in catalog.records(catalog.newest(ALL_STEM, 10**9))}
    assert names == {r.source for r in read_store(settings).records}


def test_a_folder_emptied_and_filled_again_is_filled_in_bulk_like_a_cold_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first records of a folder emptied since the last build fill the catalog as a cold
    store's do (indexes made after the rows), and give the bytes of a clean build."""
    records = tmp_path / "records"
    shutil.copytree(SEEDS, records)
    settings = _settings(tmp_path, records)
    build_site(settings)
    for path in records.iterdir():
        path.unlink()
    build_site(settings)
    monkeypatch.setattr(catalog_module, "PARALLEL_FROM", 2)
    bulks: list[bool] = []
    real = catalog_module.Catalog._write

    def spy(self: Catalog, *args: object, bulk: bool = False, **kwargs: object) -> float:
        bulks.append(bulk)
        return real(self, *args, bulk=bulk, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(catalog_module.Catalog, "_write", spy)
    for path in sorted(SEEDS.iterdir()):
        shutil.copy(path, records / path.name)
    report = build_site(settings)
    assert bulks == [True]
    _assert_clean(tmp_path, settings, report)


@pytest.mark.damages_catalog
def test_inserting_into_a_catalog_with_a_damaged_listing_is_a_damaged_row() -> None:
    with Catalog(None) as catalog:
        catalog.insert([(name, ReadResult(name, unpublished=True)) for name in ("a.md", "b.md", "c.md")],
                       Settings.make())
        catalog.db.execute("UPDATE listing SET entries = ?", (marshal.dumps([1, 2, 3]),))
        with pytest.raises(DamagedRow, match="listing"):
            catalog.insert([("d.md", ReadResult("d.md", unpublished=True))], Settings.make())
