"""The fast path in front of Flask: what it keeps, when it stops answering, what it holds.

That it answers every request exactly as Flask does is proven by the HTTP
contract tests, which run with both (`answered_by` in conftest.py); these
tests cover what only the fast path has: its validity across workers, its
bounds, and that polls really are answered by it.
"""

from __future__ import annotations

import gc
import mmap
import os
from pathlib import Path

import pytest
from flask import Flask

from feeds.catalog import Catalog, Commits
from feeds.live import LiveSite
from feeds.web import FastPath, create_app

from .test_web import SEEDS, copy_store, make_settings, write_record


def _fast(app: Flask) -> FastPath:
    fast = app.wsgi_app
    assert isinstance(fast, FastPath)
    return fast


def test_polls_are_answered_by_the_fast_path(tmp_path: Path) -> None:
    app = create_app(make_settings(copy_store(SEEDS, tmp_path / "records"), tmp_path), watch=False)
    client, fast = app.test_client(), _fast(app)
    etag = client.get("/feed.atom", headers={"Accept-Encoding": "gzip"}).headers["ETag"]  # Flask's
    assert fast.hits == 0
    for _ in range(100):
        response = client.get("/feed.atom", headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
        assert response.status_code == 304 and response.data == b""
    assert fast.hits == 100


def test_a_change_read_by_another_worker_is_served_at_once(tmp_path: Path) -> None:
    # Two workers share the catalog file: one reads a change, the other's kept answers go with it
    # even before its own watcher notices the folder changed.
    records = copy_store(SEEDS, tmp_path / "records")
    settings = make_settings(records, tmp_path)
    one, two = create_app(settings, watch=False), create_app(settings, watch=False)
    client = one.test_client()
    for _ in range(3):
        before = client.get("/feed.atom")
    assert _fast(one).hits == 2
    write_record(records, "zz-new.md", title="Read by the other worker",
                 publishedDateTime="2030-01-01T00:00:00Z")
    site: LiveSite = two.extensions["feeds"]
    site.refresh()
    after = client.get("/feed.atom")
    assert b"Read by the other worker" in after.data and after.headers["ETag"] != before.headers["ETag"]
    assert _fast(one).hits == 2, "the fast path answered from a catalog another worker had changed"


def test_a_waiting_change_goes_to_flask_first(tmp_path: Path) -> None:
    records = copy_store(SEEDS, tmp_path / "records")
    app = create_app(make_settings(records, tmp_path), watch=False)
    client, fast, site = app.test_client(), _fast(app), app.extensions["feeds"]
    for _ in range(3):
        client.get("/feed.json")
    write_record(records, "zz-new.md", title="Waiting to be read", publishedDateTime="2030-01-01T00:00:00Z")
    site._dirty.set()  # what the watcher does when the folder changes
    hits = fast.hits
    assert b"Waiting to be read" in client.get("/feed.json").data
    assert fast.hits == hits


def test_the_fast_path_holds_no_body_the_body_cache_let_go(tmp_path: Path) -> None:
    records = copy_store(SEEDS, tmp_path / "records")
    app = create_app(make_settings(records, tmp_path, body_cache_bytes=40_000), watch=False)
    client, fast, site = app.test_client(), _fast(app), app.extensions["feeds"]
    for limit in range(1, 40):
        for _ in range(2):
            client.get(f"/feed.atom?limit={limit % 5 + 1}&x={limit}")
    gc.collect()
    alive = {id(body): body for kept in fast._kept.values() if (body := kept.body()) is not None}
    assert len(fast._kept) == 39
    assert sum(body.size for body in alive.values()) <= site._cached_bytes <= 40_000


def test_the_kept_answers_are_bounded(tmp_path: Path) -> None:
    app = create_app(make_settings(copy_store(SEEDS, tmp_path / "records"), tmp_path), watch=False)
    client = app.test_client()
    app.wsgi_app = fast = FastPath(_fast(app)._app, app.extensions["feeds"], size=16)  # type: ignore[method-assign]
    for n in range(100):
        for _ in range(2):
            assert client.get(f"/feed.rss?utm={n}").status_code == 200
    assert len(fast._kept) == 16
    assert ("/feed.rss", "utm=99", False) in fast._kept and ("/feed.rss", "utm=0", False) not in fast._kept
    # Thousands of answers are kept: a header pair that is the same in each is held once.
    pairs = [pair for kept in fast._kept.values() for pair in kept.plain.ok[1] if pair[0] == "Cache-Control"]
    assert len(pairs) == 16 and len({id(pair) for pair in pairs}) == 1


@pytest.mark.parametrize("mapped", [True, False], ids=["signal file", "data_version"])
def test_commits_tell_every_update_by_another_process(tmp_path: Path, mapped: bool,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    if not mapped:
        monkeypatch.setattr(mmap, "mmap", lambda *args, **kwargs: (_ for _ in ()).throw(OSError(19, "no")))
    records = copy_store(SEEDS, tmp_path / "records")
    settings = make_settings(records, tmp_path)
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    catalog.update(records, settings)
    commits = Commits(tmp_path / "catalog.sqlite3")
    assert (commits._index is not None) == mapped
    seen = {commits()}
    for n in range(5):
        catalog.update(records, settings)  # nothing changed in the folder
        assert commits() in seen, "a value changed with no change"
        write_record(records, f"zz-{n}.md", title=f"change {n}")
        catalog.update(records, settings)
        assert commits() not in seen, f"change {n} went unnoticed"
        seen.add(commits())


def _locks_on(path: Path) -> list[str]:
    """This process's POSIX locks on `path` (/proc/locks names files by device and inode)."""
    inode = os.stat(path).st_ino
    return [line.split(None, 1)[1] for line in Path("/proc/locks").read_text().splitlines()
            if f" {os.getpid()} " in line and line.split()[5].endswith(f":{inode}")]


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux's /proc/locks")
def test_asking_for_commits_leaves_sqlite_its_locks(tmp_path: Path) -> None:
    # Closing any handle to a file drops every POSIX lock the process holds on it. A handle of ours to
    # the catalog's -shm file once let a second worker reset the WAL index under a writer (SIGBUS).
    records = copy_store(SEEDS, tmp_path / "records")
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    catalog.update(records, make_settings(records, tmp_path))
    shm = tmp_path / "catalog.sqlite3-shm"
    before = _locks_on(shm)
    assert before, "SQLite holds no lock on its -shm file: nothing to check"
    commits = Commits(tmp_path / "catalog.sqlite3")
    commits()
    assert _locks_on(shm) == before
