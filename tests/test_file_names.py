"""A file name is bytes: one that is not UTF-8 is read like any other, everywhere (issue 12, item 1).

Names that are not valid UTF-8 (``bad\\xffname.md``), that hold control
characters or terminal escapes, or that look like another report line: the
cache stores them, builds and rebuilds read them, the live server and
gunicorn serve beside them, and every report shows them escaped on one line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

import feeds.catalog.catalog
from feeds.build import build_site
from feeds.catalog import Entry
from feeds.cli import main
from feeds.records import ReadResult
from feeds.settings import Settings, replace
from feeds.web import create_app

from .feedcheck import REPO, SEEDS, site_files
from .stores import record_fields, record_text
from .test_live_server import free_port

# (name as bytes, whether the file is a valid record)
NAMES = [
    (b"bad\xffname.md", True),
    (b"\xc3\x28latin.md", True),
    (b"caf\xe9.txt", True),
    (b"\xed\xa0\x80surrogate.md", True),
    (b"escape\x1b[31m.md", True),
    (b"line\nerror: forged.md", True),
    (b"broken\xfe.md", False),
]


def _write(records: Path, name: bytes, valid: bool, i: int) -> None:
    text = record_text(record_fields(title=f"Story from odd name {i}",
                                     webUrl=f"https://odd.example/{i}")) if valid else "not a record"
    with open(os.path.join(os.fsencode(records), name), "wb") as handle:
        handle.write(text.encode("utf-8"))


@pytest.fixture
def odd_store(tmp_path: Path) -> Path:
    """The seeds and one file under each odd name."""
    records = tmp_path / "records"
    shutil.copytree(SEEDS, records)
    for i, (name, valid) in enumerate(NAMES):
        _write(records, name, valid, i)
    return records


def _settings(tmp_path: Path, records: Path, **overrides: object) -> Settings:
    return Settings.make(records=str(records), out=str(tmp_path / "out"), cache_dir=str(tmp_path / "cache"),
                         base_url="https://feeds.example.org/", **overrides)


def _spy_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the record files the catalog reads from now on, in order."""
    read: list[str] = []
    real = feeds.catalog.catalog.read_file

    def spy(entry: Entry, settings: Settings) -> ReadResult:
        read.append(entry.name)
        return real(entry, settings)

    monkeypatch.setattr(feeds.catalog.catalog, "read_file", spy)
    return read


def test_odd_names_are_built_and_rebuilt_like_any_other(tmp_path: Path, odd_store: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(tmp_path, odd_store)
    read = _spy_reads(monkeypatch)
    first = build_site(settings)
    assert len(read) == len(NAMES) + 5, read
    published = 2 + sum(valid for _, valid in NAMES)
    assert (first.counts.published, first.counts.skipped) == (published, 1), first.summary()
    assert not first.warnings
    atom = (tmp_path / "out" / "feed.atom").read_text(encoding="utf-8")
    assert all(f"Story from odd name {i}" in atom for i, (_, valid) in enumerate(NAMES) if valid)
    again = build_site(settings)
    assert again.unchanged and again.counts == first.counts
    # An edit to an odd-named file is found, and only it is read again.
    _write(odd_store, b"bad\xffname.md", True, 99)
    read.clear()
    edited = build_site(settings)
    assert read == [os.fsdecode(b"bad\xffname.md")]
    assert "Story from odd name 99" in (tmp_path / "out" / "feed.atom").read_text(encoding="utf-8")
    os.unlink(os.path.join(os.fsencode(odd_store), b"bad\xffname.md"))
    removed = build_site(settings)
    assert removed.counts.published == published - 1 and edited.counts.published == published
    clean = build_site(replace(settings, out=str(tmp_path / "clean"), cache_dir="off"))
    assert clean.counts == removed.counts
    assert site_files(tmp_path / "out") == site_files(tmp_path / "clean")


def test_odd_names_are_shown_escaped_on_one_line(tmp_path: Path, odd_store: Path) -> None:
    report = build_site(_settings(tmp_path, odd_store))
    [error] = [p for p in report.problems if p.is_error]
    assert error.file == "broken\\xfe.md", error
    for problem in report.problems:
        assert problem.file.isascii() and problem.file.isprintable(), problem


def test_odd_names_are_escaped_when_read_back_from_the_cache(tmp_path: Path, odd_store: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A build into a new folder, or a live server, reads problems back from the catalog."""
    first = build_site(_settings(tmp_path, odd_store))
    read = _spy_reads(monkeypatch)
    again = build_site(replace(_settings(tmp_path, odd_store), out=str(tmp_path / "elsewhere")))
    assert read == [], "a build into a new folder reads no record file: the catalog knows them all"
    assert again.problems == first.problems and again.counts == first.counts
    for problem in again.problems:
        assert problem.file.isascii() and problem.file.isprintable(), problem
    assert "broken\\xfe.md" in {p.file for p in again.problems if p.is_error}


def test_check_and_build_print_odd_names_escaped(tmp_path: Path, odd_store: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FEEDS_CACHE_DIR", str(tmp_path / "cache"))
    runner = CliRunner()
    for command in (["check"], ["build", "--out", str(tmp_path / "site")]):
        result = runner.invoke(main, [*command, "--records", str(odd_store)])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        assert "Traceback" not in result.output
        assert "error: broken\\xfe.md: " in result.stderr, result.stderr
        assert all(line.isprintable() for line in result.stderr.splitlines()), result.stderr


def test_the_live_app_serves_beside_odd_names(tmp_path: Path, odd_store: Path) -> None:
    client = create_app(_settings(tmp_path, odd_store), watch=False).test_client()
    for path in ("/", "/feed.atom", "/feed.json", "/feeds.opml", "/topics/testing.rss"):
        response = client.get(path)
        assert response.status_code == 200, path
    _write(odd_store, b"new\xffone.md", True, 77)
    client.application.extensions["feeds"].refresh()
    assert b"Story from odd name 77" in client.get("/feed.atom").data


@pytest.mark.parametrize("damaged", [False, pytest.param(True, marks=pytest.mark.damages_catalog)])
def test_gunicorn_boots_and_serves_beside_odd_names(tmp_path: Path, odd_store: Path, damaged: bool) -> None:
    """gunicorn would not boot over such a store (and, issue 12 item 8, over a damaged cache)."""
    if shutil.which("gunicorn", path=os.path.dirname(sys.executable)) is None:
        pytest.skip("gunicorn (the serve extra) is not installed")
    cache = tmp_path / "cache"
    if damaged:
        build_site(_settings(tmp_path, odd_store))
        for path in cache.glob("records-*.sqlite3"):
            path.write_bytes(os.urandom(300) + path.read_bytes()[300:])
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}
    env.update(FEEDS_RECORDS=str(odd_store), FEEDS_CACHE_DIR=str(cache), PYTHONPATH=str(REPO),
               FEEDS_BASE_URL=f"http://127.0.0.1:{port}/")
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [os.path.join(os.path.dirname(sys.executable), "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}",
             "wsgi:app"], cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        status = _wait_for(f"http://127.0.0.1:{port}/feed.atom", process)
        assert status == 200, log.read_text(errors="replace")
        for path in ("", "feed.json", "topics/testing.atom"):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/{path}", timeout=10) as response:
                assert response.status == 200, path
    finally:
        process.terminate()
        process.wait(timeout=20)
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text
    assert ("cannot be used" in text) == damaged, text


def _wait_for(url: str, process: subprocess.Popen[bytes], seconds: float = 30) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return int(response.status)
        except OSError:
            time.sleep(0.2)
    return -1 if process.poll() is None else -(process.returncode or 1)
