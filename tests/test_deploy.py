"""A static tree ready for any web server or CDN: precompressed siblings and the nginx server block.

Precompression: ``X.gz`` and ``X.br`` beside every feed and page hold exactly
``X``'s bytes, are written with ``X`` and only then, and go when ``X`` goes or
precompression is turned off (nginx's ``gzip_static`` would otherwise send an
old body for a new file).  The nginx tests serve a built export with Debian's
nginx and check what a feed reader and a browser get over HTTP.
"""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Callable
from pathlib import Path

import brotli
import pytest

from feeds.build import BuildReport
from feeds.compression import SUFFIXES, packed, sibling_of
from feeds.errors import ExportError

from .feedcheck import file_stats, site_files
from .stores import RecordWriter, build_into

Build = Callable[..., BuildReport]


def _plain(files: dict[str, bytes]) -> dict[str, bytes]:
    return {path: data for path, data in files.items() if sibling_of(path) is None}


def _siblings(files: dict[str, bytes]) -> dict[str, bytes]:
    return {path: data for path, data in files.items() if sibling_of(path) is not None}


def _assert_siblings_match(out: Path) -> None:
    """Every file that compresses has a .gz and a .br holding exactly its bytes, and nothing else has."""
    files = site_files(out)
    expected = {path + suffix for path in _plain(files) if packed(path) for suffix in SUFFIXES}
    assert set(_siblings(files)) == expected
    for path in expected:
        parent = sibling_of(path)
        assert parent is not None
        unpack = gzip.decompress if path.endswith(".gz") else brotli.decompress
        assert unpack(files[path]) == files[parent], f"{path} is not {parent} compressed"


def _two_feeds(write_record: RecordWriter, title: str = "Beta") -> None:
    write_record("a.md", topics=["Alpha"], webUrl="https://e.example/a",
                 provider={"name": "A", "domain": "a.example"})
    write_record("b.md", topics=["Beta"], webUrl="https://e.example/b", title=title,
                 provider={"name": "B", "domain": "b.example"}, publishedDateTime="2020-01-01T00:00:00Z")


def test_precompress_writes_a_gz_and_a_br_that_unpack_to_each_file(seeds_dir: Path, build: Build,
                                                                    out_dir: Path) -> None:
    build(seeds_dir, precompress=True)
    _assert_siblings_match(out_dir)
    files = site_files(out_dir)
    assert {"feed.atom.gz", "feed.json.br", "index.html.gz", "feeds.opml.br", "embed.js.gz",
            "topics/ai/index.html.br", "embed/topics/ai.html.gz"} <= set(files)
    assert "favicon.ico.gz" not in files, "a 164-byte PNG icon only grows when compressed"
    assert files["feed.atom.gz"][4:8] == b"\0\0\0\0", "no time stamp in the gzip header"


def test_the_plain_files_are_the_same_with_and_without_precompress(seeds_dir: Path, tmp_path: Path) -> None:
    plain = build_into(seeds_dir, tmp_path / "plain")
    packed_site = build_into(seeds_dir, tmp_path / "packed", precompress=True)
    again = build_into(seeds_dir, tmp_path / "again", precompress=True)
    assert _plain(site_files(packed_site.out)) == site_files(plain.out)
    assert site_files(again.out) == site_files(packed_site.out), "siblings are reproducible"


def test_a_rebuild_with_nothing_changed_leaves_every_sibling_untouched(seeds_dir: Path, build: Build,
                                                                       out_dir: Path) -> None:
    build(seeds_dir, precompress=True)
    before = file_stats(out_dir)
    report = build(seeds_dir, precompress=True)
    assert report.unchanged and report.export.changed == 0, report.summary()
    assert file_stats(out_dir) == before, "inode and mtime of every file and sibling must stay"


def test_a_changed_record_compresses_again_exactly_the_files_that_changed(
        write_record: RecordWriter, build: Build, out_dir: Path) -> None:
    _two_feeds(write_record)
    build(precompress=True)
    before, old = file_stats(out_dir), site_files(out_dir)
    _two_feeds(write_record, title="Beta retitled")
    build(precompress=True)
    after, new = file_stats(out_dir), site_files(out_dir)
    changed = {path for path in _plain(new) if new[path] != old.get(path)}
    assert {"topics/beta.atom", "feed.atom", "index.html"} <= changed
    assert "topics/alpha.atom" not in changed
    rewritten = {path for path in _siblings(new) if after[path] != before.get(path)}
    assert rewritten == {path + suffix for path in changed if packed(path) for suffix in SUFFIXES}
    _assert_siblings_match(out_dir)


def test_a_feed_that_goes_takes_its_siblings_with_it(write_record: RecordWriter, build: Build,
                                                     out_dir: Path) -> None:
    write_record("a.md", topics=["Old Topic"])
    build(precompress=True)
    assert (out_dir / "topics" / "old-topic.atom.br").is_file()
    write_record("a.md", topics=["New Topic"])
    build(precompress=True)
    assert not [path for path in site_files(out_dir) if "old-topic" in path]
    _assert_siblings_match(out_dir)


def test_turning_precompress_off_removes_the_siblings_and_on_again_adds_them(
        seeds_dir: Path, build: Build, out_dir: Path) -> None:
    build(seeds_dir, precompress=True)
    off = build(seeds_dir)
    assert not _siblings(site_files(out_dir)), "gzip_static would send an old body for a new file"
    assert not off.unchanged and off.export.removed == off.export.changed > 0, off.summary()
    plain = file_stats(out_dir)
    on = build(seeds_dir, precompress=True)
    assert not on.unchanged, on.summary()
    _assert_siblings_match(out_dir)
    assert {path: file_stats(out_dir)[path] for path in plain} == plain, "the files themselves stay"


def test_siblings_left_by_someone_else_are_replaced_or_removed(seeds_dir: Path, build: Build,
                                                               out_dir: Path) -> None:
    """A hand-made `feed.atom.gz` (gzip -k, an old deploy script) would be sent for the new feed."""
    build(seeds_dir)
    (out_dir / "feed.atom.gz").write_bytes(gzip.compress(b"an old feed"))
    (out_dir / "favicon.ico.gz").write_bytes(gzip.compress(b"an old icon"))
    (out_dir / "robots.txt.gz").write_bytes(b"not the site's")
    build(seeds_dir)
    files = site_files(out_dir)
    assert "feed.atom.gz" not in files and "favicon.ico.gz" not in files
    assert files["robots.txt.gz"] == b"not the site's", "only the site's own siblings are managed"
    (out_dir / "feed.atom.gz").write_bytes(gzip.compress(b"an old feed"))
    build(seeds_dir, precompress=True)
    _assert_siblings_match(out_dir)


@pytest.mark.parametrize("damage", ["remove", "edit in place", "replace"])
def test_a_damaged_sibling_is_made_again_from_its_file(seeds_dir: Path, build: Build, out_dir: Path,
                                                       damage: str) -> None:
    build(seeds_dir, precompress=True)
    victim = out_dir / "topics" / "ai.rss.gz"
    if damage == "remove":
        victim.unlink()
    elif damage == "edit in place":
        with open(victim, "r+b") as handle:
            handle.seek(12)
            handle.write(b"\xff")
    else:
        victim.write_bytes(gzip.compress(b"an old feed"))
    before = file_stats(out_dir)
    report = build(seeds_dir, precompress=True)
    _assert_siblings_match(out_dir)
    moved = {path for path, stats in file_stats(out_dir).items() if before.get(path) != stats}
    assert moved == {"topics/ai.rss.gz"}, report.summary()


def test_a_failed_build_leaves_files_and_siblings_as_they_were(seeds_dir: Path, build: Build,
                                                               out_dir: Path) -> None:
    """A sibling that cannot be put in place (a folder holds its name) fails the whole batch."""
    build(seeds_dir, precompress=True)
    obstacle = out_dir / "topics" / "computer-vision.rss.br"
    obstacle.unlink()
    obstacle.mkdir()
    before = site_files(out_dir)
    with pytest.raises(ExportError):
        build(seeds_dir, precompress=True, site_title="Renamed site")  # every file changes
    assert site_files(out_dir) == before
    shutil.rmtree(obstacle)
    build(seeds_dir, precompress=True, site_title="Renamed site")
    _assert_siblings_match(out_dir)


def test_an_incremental_precompressed_build_gives_a_clean_builds_bytes(
        write_record: RecordWriter, build: Build, out_dir: Path, records_dir: Path, tmp_path: Path) -> None:
    _two_feeds(write_record)
    build(precompress=True)
    for step in range(4):
        if step == 0:
            _two_feeds(write_record, title="Beta retitled")
        elif step == 1:
            write_record("c.md", topics=["Gamma", "Alpha"], webUrl="https://e.example/c")
        elif step == 2:
            (records_dir / "a.md").unlink()
        else:
            write_record("c.md", topics=["Gamma"], webUrl="https://e.example/c", published=False)
        build(precompress=True)
        clean = build_into(records_dir, tmp_path / f"clean{step}", precompress=True, cache_dir="off")
        assert site_files(out_dir) == site_files(clean.out), f"step {step}"

