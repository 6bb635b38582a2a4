"""Reading the record folder: which files are read, deduplication, ordering, and what is reported.

Every store is read as a build reads it, through a catalog (in memory: `read_store`).
"""

from __future__ import annotations

import os
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from feeds.catalog import scan
from feeds.errors import StoreError
from feeds.settings import Settings, replace

from .feedcheck import DATA
from .stores import ReadStore, RecordWriter, read_store


def load_with_timeout(settings: Settings, seconds: float = 20) -> ReadStore:
    """`read_store`, failing (not hanging) if reading blocks, e.g. on a FIFO."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["store"] = read_store(settings)
        except BaseException as exc:  # handed to the test thread below
            outcome["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"reading the store blocked for {seconds}s"
    if "error" in outcome:
        raise outcome["error"]
    store: ReadStore = outcome["store"]
    return store


def sources(store: ReadStore) -> list[str]:
    """The file names of the published records, in store order."""
    return [r.source for r in store.records]


def messages(store: ReadStore) -> list[str]:
    """Every problem of a store as the CLI prints it."""
    return [str(p) for p in store.problems]


def test_the_seeds_publish_records_000_and_002(seeds_dir: Path, settings: Settings) -> None:
    store = read_store(replace(settings, records=str(seeds_dir)))
    assert sources(store) == ["002_b9aff47476a12d9b.txt", "000_5493749f3400b6dd.txt"]
    assert (store.files, store.unpublished, store.skipped) == (5, 3, 0)
    assert store.problems == ()


def test_only_md_and_txt_files_directly_in_the_folder_are_read(write_record: RecordWriter,
                                                               settings: Settings) -> None:
    write_record("a.md", webUrl="https://e.example/a")
    write_record("b.TXT", webUrl="https://e.example/b")
    write_record("c.json", webUrl="https://e.example/c")
    write_record("d.md.bak", webUrl="https://e.example/d")
    write_record(".hidden.md", webUrl="https://e.example/hidden")
    (Path(settings.records) / "sub").mkdir()
    RecordWriter(Path(settings.records) / "sub")("nested.md", webUrl="https://e.example/nested")
    store = read_store(settings)
    assert sorted(sources(store)) == ["a.md", "b.TXT"]
    assert store.files == 2


def test_non_regular_files_are_skipped_without_being_opened(
        write_record: RecordWriter, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    records = Path(settings.records)
    write_record("good.md")
    os.mkfifo(records / "fifo.md")
    (records / "folder.txt").mkdir()
    opened: list[str] = []
    real_open = os.open

    def spy(path: Any, *args: Any, **kwargs: Any) -> int:
        opened.append(os.fspath(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    store = load_with_timeout(settings)
    monkeypatch.undo()
    assert sources(store) == ["good.md"]
    assert not [p for p in opened if p.endswith(("fifo.md", "folder.txt"))], opened
    by_file = {p.file: p for p in store.problems}
    assert set(by_file) == {"fifo.md", "folder.txt"}, messages(store)
    assert all(p.field == "file" for p in by_file.values())
    assert "folder" in by_file["folder.txt"].message
    assert "regular file" in by_file["fifo.md"].message


def test_a_link_out_of_the_store_is_skipped(write_record: RecordWriter, settings: Settings,
                                           tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    RecordWriter(outside)("secret.md", title="Outside the store", webUrl="https://e.example/out")
    write_record("good.md")
    (Path(settings.records) / "escape.md").symlink_to(outside / "secret.md")
    (Path(settings.records) / "abs.md").symlink_to("/etc/passwd")
    store = read_store(settings)
    assert sources(store) == ["good.md"]
    assert {p.file for p in store.problems} == {"escape.md", "abs.md"}, messages(store)
    assert all("outside" in p.message for p in store.problems), messages(store)


def test_a_broken_link_is_skipped(write_record: RecordWriter, settings: Settings) -> None:
    write_record("good.md")
    (Path(settings.records) / "dangling.md").symlink_to(Path(settings.records) / "missing.md")
    store = read_store(settings)
    assert sources(store) == ["good.md"]
    assert [p.file for p in store.problems] == ["dangling.md"], messages(store)


def test_a_link_inside_the_store_is_read(write_record: RecordWriter, settings: Settings) -> None:
    records = Path(settings.records)
    (records / "archive").mkdir()
    RecordWriter(records / "archive")("kept.md", title="Linked in", webUrl="https://e.example/kept")
    (records / "link.md").symlink_to(records / "archive" / "kept.md")
    assert [r.title for r in read_store(settings).records] == ["Linked in"]


def test_the_same_link_in_two_files_is_published_once(write_record: RecordWriter,
                                                      settings: Settings) -> None:
    write_record("a-first.md", title="First copy", webUrl="https://e.example/same")
    write_record("b-second.md", title="Second copy", webUrl="https://e.example/same")
    write_record("c-other.md", title="Other", webUrl="https://e.example/other")
    store = read_store(settings)
    assert sorted(r.title for r in store.records) == ["First copy", "Other"]
    warnings = [p for p in store.problems if "a-first.md" in str(p) and "b-second.md" in str(p)]
    assert len(warnings) == 1, f"one warning must name both files: {messages(store)}"
    assert not warnings[0].is_error


def test_links_that_differ_only_in_escaping_are_the_same_article(write_record: RecordWriter,
                                                                 settings: Settings) -> None:
    write_record("a.md", webUrl="https://e.example/a?x=1&y=2")
    write_record("b.md", webUrl="https://e.example/a?x=1&#038;y=2")
    assert len(read_store(settings).records) == 1


def test_records_are_newest_first_ties_broken_by_id(write_record: RecordWriter,
                                                    settings: Settings) -> None:
    write_record("1.md", publishedDateTime="2020-01-01T00:00:00Z", webUrl="https://e.example/old")
    write_record("2.md", publishedDateTime="2022-01-01T00:00:00Z", webUrl="https://e.example/tie-a")
    write_record("3.md", publishedDateTime="2021-12-31T23:00:00-01:00",
                 webUrl="https://e.example/tie-b")
    write_record("4.md", publishedDateTime="2021-06-01T00:00:00Z", webUrl="https://e.example/mid")
    records = read_store(settings).records
    dates = [r.published_at for r in records]
    assert dates == sorted(dates, reverse=True), "newest first"
    ties = [r for r in records if r.published_at == datetime(2022, 1, 1, tzinfo=UTC)]
    assert len(ties) == 2
    assert [r.id for r in ties] == sorted(r.id for r in ties), "ties are broken by id"
    assert [r.source for r in records][2:] == ["4.md", "1.md"]


def test_the_order_does_not_depend_on_file_names(write_record: RecordWriter,
                                                 settings: Settings, tmp_path: Path) -> None:
    write_record("a.md", publishedDateTime="2020-01-01T00:00:00Z", webUrl="https://e.example/1")
    write_record("b.md", publishedDateTime="2020-01-01T00:00:00Z", webUrl="https://e.example/2")
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    shutil.copy(Path(settings.records) / "a.md", renamed / "z.md")
    shutil.copy(Path(settings.records) / "b.md", renamed / "y.md")
    first = [r.id for r in read_store(settings).records]
    second = [r.id for r in read_store(replace(settings, records=str(renamed))).records]
    assert first == second


def test_a_bad_record_is_skipped_and_the_rest_published(write_record: RecordWriter,
                                                        settings: Settings) -> None:
    write_record("good.md")
    for name in ("malformed_yaml.md", "not_a_mapping.md", "empty.md", "alias_bomb.md"):
        shutil.copy(DATA / name, Path(settings.records) / name)
    write_record("no-title.md", title=None, webUrl="https://e.example/no-title")
    store = read_store(settings)
    assert sources(store) == ["good.md"]
    assert store.skipped == 5, messages(store)
    skipped_files = {p.file for p in store.problems if p.is_error}
    assert skipped_files == {"malformed_yaml.md", "not_a_mapping.md", "empty.md",
                             "alias_bomb.md", "no-title.md"}


def test_a_file_larger_than_max_record_bytes_is_skipped(write_record: RecordWriter,
                                                        settings: Settings) -> None:
    write_record("big.md", excerpt="x" * 5000)
    write_record("small.md", webUrl="https://e.example/small")
    store = read_store(replace(settings, max_record_bytes=1000))
    assert sources(store) == ["small.md"]
    assert [(p.file, p.field) for p in store.problems if p.is_error] == [("big.md", "file")]


def test_a_file_name_cannot_break_or_forge_a_report_line(settings: Settings) -> None:
    """A problem names its file on one printable line: no newline, no terminal escape."""
    name = "bad\udcffname\x1b[31m\nerror: forged.md"
    path = os.path.join(os.fsencode(settings.records), os.fsencode(name))
    with open(path, "wb") as handle:
        handle.write(b"not a record")
    store = read_store(settings)
    assert len(store.problems) == 1
    assert store.problems[0].file.isprintable() and store.problems[0].file.isascii(), (
        store.problems[0].file)


def test_a_missing_record_folder_is_a_store_error(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no such record folder"):
        read_store(replace(settings, records=str(tmp_path / "nowhere")))


def test_a_file_given_as_record_folder_is_a_store_error(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "file.md").write_text("x")
    with pytest.raises(StoreError, match="not a folder"):
        read_store(replace(settings, records=str(tmp_path / "file.md")))


def test_an_empty_store_has_no_records(settings: Settings) -> None:
    store = read_store(settings)
    assert (store.records, store.problems, store.files) == ((), (), 0)


def test_a_file_removed_between_listing_and_looking_is_simply_gone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "kept.md").write_text("---\ntitle: y\n---\n")
    listed = os.listdir
    # A bot deletes gone.md after the folder was listed, before it is looked at.
    monkeypatch.setattr(os, "listdir", lambda where: [*listed(where), "gone.md"])
    listing = scan(tmp_path)
    assert [e.name for e in listing.entries] == ["kept.md"] and listing.problems == []
