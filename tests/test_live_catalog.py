"""The live server serves from the catalog, and it gives a clean build's bytes.

A server started on a store it has seen before reads no record file; a change
is read once, by whichever process serving the store gets to it first, and
then served by every process sharing the catalog file; filters narrow a feed
as its full list of members says.  Random edits of every kind a bot or a
person makes are served byte for byte as a clean build writes them.  While a
writer keeps changing the folder, threads asking at once never get a 5xx, and
every body they get is one version of the store: the body a clean build of
that version writes.  A damaged catalog file is left for one in memory.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import feedparser
import pytest
from flask.testing import FlaskClient

import feeds.catalog.catalog
from feeds.build import build_site
from feeds.catalog import catalog_path
from feeds.catalog.db import transaction
from feeds.layout import memberships
from feeds.live import LiveSite
from feeds.records import record_id
from feeds.settings import Settings, replace
from feeds.web import create_app
from tests.stores import read_store, record_loads
from tests.test_incremental import _clean, _record, _tree
from tests.test_web import live_files

# Every request is answered by Flask alone, then through the fast path in front of it (conftest).
pytestmark = pytest.mark.usefixtures("answered_by")

ROOT = Path(__file__).resolve().parents[1]


def _run(threads: list[threading.Thread]) -> None:
    """Start `threads` and wait for them all (two minutes at most)."""
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"


def _edits(rng: random.Random, records: Path) -> dict[str, Callable[[], None]]:
    """Every kind of edit a bot or a person makes to a store, by name."""
    counter = [1000]

    def pick() -> Path:
        return rng.choice(sorted(p for p in records.iterdir() if p.is_file()))

    def rewrite(path: Path, text: str) -> None:
        if rng.random() < 0.5:  # as a bot does: a new file renamed over the old one
            temp = path.with_name(path.name + ".tmp")
            temp.write_text(text)
            os.replace(temp, path)
        else:  # in place, size and time change
            path.write_text(text)

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

    def unpublish_or_publish() -> None:
        path = pick()
        text = path.read_text()
        flip = (text.replace("published: true", "published: false") if "published: true" in text
                else text.replace("published: false", "published: true"))
        rewrite(path, flip)

    def delete() -> None:
        pick().unlink()

    def duplicate() -> None:
        first, second = pick(), pick()
        text = second.read_text()
        link = next((line for line in first.read_text().splitlines() if line.startswith("webUrl:")), None)
        if link:
            rewrite(second, "\n".join(link if line.startswith("webUrl:") else line
                                      for line in text.splitlines()) + "\n")

    def break_one() -> None:
        rewrite(pick(), "---\ntitle: [unclosed\n---\n")

    def touch() -> None:
        path = pick()
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

    return {f.__name__: f for f in (add, change, retitle, unpublish_or_publish, delete, duplicate,
                                    break_one, touch)}


def _store(tmp_path: Path, rng: random.Random, count: int, limit: int) -> Settings:
    records = tmp_path / "records"
    records.mkdir()
    for n in range(count):
        (records / f"{n:02d}.md").write_text(_record(rng, n))
    return Settings.make(records=str(records), out=str(tmp_path / "unused"),
                         cache_dir=str(tmp_path / "cache"), limit=limit, max_limit=100)


def _client(settings: Settings) -> FlaskClient:
    return create_app(settings, watch=False).test_client()


def _site(client: FlaskClient) -> LiveSite:
    site: LiveSite = client.application.extensions["feeds"]
    return site


def _served_equal_clean(client: FlaskClient, tmp_path: Path, settings: Settings, where: str) -> None:
    _clean(tmp_path, Path(settings.records), settings.limit)
    files = _tree(tmp_path / "clean")
    assert live_files(_site(client)) == set(files), where
    for path, data in files.items():
        response = client.get("/" + path)
        assert response.status_code == 200, f"{where}: /{path}"
        assert response.data == data, f"{where}: /{path} differs from a clean build's"
    store = read_store(replace(settings, cache_dir="off"))  # every published record, newest first
    stems = sorted({m.stem for record in store.records for m in memberships(record)})
    assert {f"{stem}.json" for stem in stems} <= set(files), where
    for stem in stems:  # filters narrow every member, not only the newest
        members = [r for r in store.records if stem in {m.stem for m in memberships(r)}]
        for quality, heat, limit in ((50, None, 3), (None, 70, None), (20, 20, 100)):
            query = "&".join(f"{k}={v}" for k, v in (("min_quality", quality), ("min_heat", heat),
                                                       ("limit", limit)) if v is not None)
            got = json.loads(client.get(f"/{stem}.json?{query}").data)
            wanted = [r.id for r in members
                      if (quality is None or (r.quality is not None and r.quality >= quality))
                      and (heat is None or (r.heat is not None and r.heat >= heat))][:limit or settings.limit]
            assert [item["id"] for item in got["items"]] == wanted, f"{where}: /{stem}.json?{query}"


@pytest.mark.parametrize("seed", range(6))
def test_live_bodies_equal_clean_builds_through_random_edits(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    settings = _store(tmp_path, rng, rng.randint(8, 30), rng.choice([3, 5, 50]))
    records = Path(settings.records)
    client = _client(settings)
    _served_equal_clean(client, tmp_path, settings, f"seed {seed}, start")
    edits = _edits(rng, records)
    names = sorted(edits)
    for step in range(10):
        done = [rng.choice(names) for _ in range(rng.choice([1, 1, 2, 3]))]
        for name in done:
            if any(p.is_file() for p in records.iterdir()) or name == "add":
                edits[name]()
        _site(client).refresh()
        _served_equal_clean(client, tmp_path, settings, f"seed {seed}, step {step}, after {done}")


def _reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the record files read from now on, by any catalog."""
    read: list[str] = []
    real = feeds.catalog.catalog.read_file

    def spy(entry: feeds.catalog.catalog.Entry, settings: Settings) -> object:
        read.append(entry.name)
        return real(entry, settings)
    monkeypatch.setattr(feeds.catalog.catalog, "read_file", spy)
    return read


def _retitle(path: Path) -> None:
    path.write_text(path.read_text().replace('title: "', 'title: "Changed ', 1))


def test_a_server_started_on_a_store_it_has_seen_reads_no_record(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _store(tmp_path, random.Random(1), 25, 5)
    first = _client(settings).get("/feed.atom").data
    read, loaded = _reads(monkeypatch), record_loads(monkeypatch)
    client = _client(settings)
    assert client.get("/feed.atom").data == first
    assert read == []
    assert sum(loaded) <= settings.limit, "a warm start loads only the records of the feed asked for"
    _retitle(Path(settings.records) / "07.md")
    _client(settings)
    assert read == ["07.md"], "a restart after one change reads that file alone"


def test_a_change_is_read_once_for_every_process_serving_the_store(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers over one store and catalog file: the second finds the change already read."""
    settings = _store(tmp_path, random.Random(2), 20, 5)
    one, two = _client(settings), _client(settings)
    for client in (one, two):
        client.get("/feed.atom")
    read = _reads(monkeypatch)
    _retitle(Path(settings.records) / "03.md")
    _site(one).refresh()
    _site(two).refresh()
    assert read == ["03.md"]
    _served_equal_clean(one, tmp_path, settings, "first worker")
    _served_equal_clean(two, tmp_path, settings, "second worker")


def test_a_worker_that_has_not_noticed_a_change_serves_the_catalogs_version_whole(tmp_path: Path) -> None:
    """A change another worker read into the shared catalog is served at once and everywhere: a feed
    the worker had kept a body of, one it never made, and the index agree on one version."""
    settings = _store(tmp_path, random.Random(3), 20, 50)
    behind, ahead = _client(settings), _client(settings)
    old = behind.get("/feed.json").data
    _retitle(Path(settings.records) / "04.md")
    _site(ahead).refresh()  # the other worker reads the change into the catalog file
    new = behind.get("/feed.json").data
    assert new != old and b"Changed " in new
    assert new == ahead.get("/feed.json").data
    _served_equal_clean(behind, tmp_path, settings, "the worker that did not read the change")


@pytest.mark.damages_catalog
@pytest.mark.parametrize("damage", ["UPDATE records SET payload = '{'", "UPDATE records SET head = x'00ff'",
                                    "UPDATE files SET problems = '[[' WHERE problems IS NULL",
                                    "UPDATE members SET digest = 'damaged'"])
def test_a_damaged_catalog_is_left_for_one_in_memory(tmp_path: Path, damage: str,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    settings = _store(tmp_path, random.Random(4), 15, 5)
    _client(settings).get("/feed.atom")
    path = catalog_path(settings)
    assert path is not None
    with sqlite3.connect(path) as db:
        assert db.execute(damage).rowcount > 0
    client = _client(settings)
    _served_equal_clean(client, tmp_path, settings, damage)
    assert _site(client)._writer.path is None, "the damaged file is still used"
    warnings = [r.getMessage() for r in caplog.records if "cannot be used" in r.getMessage()]
    assert len(warnings) == 1 and str(path) in warnings[0], warnings


def test_a_build_and_a_live_server_share_one_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A build and a live server over one store and cache folder: whichever comes first reads a
    change, and the other gives its bytes without reading it again."""
    settings = _store(tmp_path, random.Random(5), 15, 5)
    client = _client(settings)
    build = replace(settings, out=str(tmp_path / "built"))
    build_site(build)
    read = _reads(monkeypatch)
    _retitle(Path(settings.records) / "02.md")
    build_site(build)  # the build reads the change first
    assert read == ["02.md"]
    _site(client).refresh()
    assert read == ["02.md"], "the live server read again a change the build had read"
    _served_equal_clean(client, tmp_path, settings, "after a build read the change")
    assert _tree(tmp_path / "built") == _tree(tmp_path / "clean")
    read.clear()  # (a clean build reads every file)
    _retitle(Path(settings.records) / "05.md")
    _site(client).refresh()  # and the other way round
    assert read == ["05.md"]
    assert build_site(build).counts.files == 15 and read == ["05.md"]
    _served_equal_clean(client, tmp_path, settings, "after the live server read the change")
    assert _tree(tmp_path / "built") == _tree(tmp_path / "clean")


def test_a_record_folder_that_goes_away_leaves_the_last_store_served(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = _store(tmp_path, random.Random(6), 12, 5)
    client = _client(settings)
    before = client.get("/feed.atom").data
    Path(settings.records).rename(tmp_path / "moved")
    _site(client).refresh()
    assert "no such record folder" in caplog.text
    assert client.get("/feed.atom").data == before
    assert client.get("/topics/ai.json").status_code in (200, 404)  # never a 500
    assert client.get("/").status_code == 200


def test_a_worker_lists_the_folder_in_its_own_turn(tmp_path: Path) -> None:
    """Found by benchmarks/soak.py: a listing taken while another worker held the turn was older
    than what that worker wrote, and took the store back in time (a feed went missing for a while).
    The listing is taken inside the catalog's write transaction."""
    settings = _store(tmp_path, random.Random(8), 10, 5)
    one, two = LiveSite(settings, watch=False), LiveSite(settings, watch=False)
    waiting = threading.Thread(target=two.refresh)
    late = _record(random.Random(9), 77).replace("published: false", "published: true")
    with transaction(one._writer.db):  # the first worker's turn
        waiting.start()
        time.sleep(0.3)  # the second worker is waiting for its turn
        (Path(settings.records) / "late.md").write_text(late)
    waiting.join(timeout=30)
    assert not waiting.is_alive()
    link = re.search(r'webUrl: "(.*)"', late)
    title = re.search(r'title: "(.*)"', late)
    assert link is not None and title is not None
    body = two.render("feed.json", limit=100)  # (a refresh that found the turn taken reads it now)
    assert body is not None and title[1].encode() in body.data
    with two._reader.reading():
        assert record_id(link[1]) in {ref.id for ref in two._reader.newest("feed", 1000)}


# -- a folder changing under threads that ask at once ------------------------------------------------

FILES = 12
TOPICS = ("Tango", "Uniform", "Victor")
_TITLE = re.compile(r"story (\d+) version (\d+)")


def _quality(i: int, k: int) -> int:
    return (13 * i + 7 * k) % 100


def _versioned(i: int, k: int) -> str:
    """File `i` as version `k` of the store wrote it: its link (so its id), title, date, quality,
    topic and provider all follow from (i, k)."""
    return (f'---\ntitle: "story {i} version {k}"\n'
            f"publishedDateTime: 2030-01-{(7 * i + 3 * k) % 28 + 1:02d}T{(i + 5 * k) % 24:02d}:00:00Z\n"
            f'webUrl: "https://example.org/story/{i}/{k}"\n'
            f"quality: {_quality(i, k)}\nheat: {(5 * i + 11 * k) % 100}\npublished: true\n"
            f"provider:\n  name: Provider {(i + k) % 2}\n  domain: p{(i + k) % 2}.example\n"
            f"topics: [{TOPICS[(i + k) % 3]}]\n---\n")


def _versions(entries: list[tuple[str, str, str]]) -> dict[int, int]:
    """The (file, version) of each entry (title, link, id) of one body, checked to agree."""
    found: dict[int, int] = {}
    for title, link, id_ in entries:
        match = _TITLE.fullmatch(title)
        assert match, title
        i, k = int(match[1]), int(match[2])
        assert link == f"https://example.org/story/{i}/{k}", (title, link)
        assert id_ == record_id(link), (title, id_)
        assert i not in found, f"file {i} shows twice: versions {found[i]} and {k} in one body"
        found[i] = k
    return found


def _json_entries(data: bytes) -> list[tuple[str, str, str]]:
    return [(item["title"], item["url"], item["id"]) for item in json.loads(data)["items"]]


def _atom_entries(data: bytes) -> list[tuple[str, str, str]]:
    parsed = feedparser.parse(data)
    assert not parsed.bozo, parsed.bozo_exception
    return [(e.title, e.link, e.id) for e in parsed.entries]


HAMMERED = ("/feed.json", "/feed.atom", "/topics/tango.json", "/providers/p0.example.json",
            "/feed.json?min_quality=50&limit=20", "/", "/feeds.opml", "/embed/feed.html")


def _check_body(path: str, data: bytes) -> dict[int, int] | None:
    """Check one body served while the store changed; the store version it shows, when it shows
    every file."""
    if path == "/feed.atom":
        found = _versions(_atom_entries(data))
    elif path.endswith(".json") or ".json?" in path:
        items = json.loads(data)["items"]
        found = _versions(_json_entries(data))
        for item, (i, k) in zip(items, found.items(), strict=True):
            if path.startswith("/topics/"):
                assert TOPICS[(i + k) % 3] == "Tango" and item["tags"] == ["Tango"], (path, item)
            if path.startswith("/providers/"):
                assert (i + k) % 2 == 0, (path, item)
            if "min_quality" in path:
                assert _quality(i, k) >= 50, (path, item)
    else:
        return None
    return found if path in ("/feed.json", "/feed.atom") else None


@pytest.mark.parametrize("cache", ["file", "off"])
def test_threads_asking_while_the_folder_changes_each_get_one_version(tmp_path: Path, cache: str) -> None:
    """A writer replaces record files one after another (each one a new version of the store) and
    refreshes, or marks the folder changed as the watcher does; threads ask at once, of this worker
    and (on a catalog file) of a second worker that never reads the folder itself.  No answer is a
    5xx, an ETag always names the same bytes, every body shows each record as one file version
    wrote it, and every all-items feed is the one a clean build of the version it shows writes."""
    records, staging = tmp_path / "records", tmp_path / "staging"
    records.mkdir()
    staging.mkdir()
    for i in range(FILES):
        (records / f"s{i:02d}.md").write_text(_versioned(i, 0))
    settings = Settings.make(records=str(records), out=str(tmp_path / "unused"), limit=20,
                             cache_dir="off" if cache == "off" else str(tmp_path / "cache"))
    apps = [create_app(settings, watch=False)]
    if cache == "file":
        apps.append(create_app(settings, watch=False))  # a second worker on the same catalog file
    site: LiveSite = apps[0].extensions["feeds"]
    done = threading.Event()
    failures: list[str] = []
    served: list[tuple[str, int, str, bytes]] = []

    def write() -> None:
        rng = random.Random(7)
        try:
            for k in range(1, 61):
                i = rng.randrange(FILES)
                staged = staging / f"s{i:02d}.md"
                staged.write_text(_versioned(i, k))
                os.replace(staged, records / staged.name)  # as a bot does: never half a file
                if k % 2:
                    site.refresh()
                else:
                    site._dirty.set()  # the next request reads the change, as after the watcher's event
                time.sleep(0.01)
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(f"writer: {exc!r}")
        finally:
            done.set()

    def ask(app_index: int, seed: int) -> None:
        client = apps[app_index].test_client()
        rng = random.Random(seed)
        try:
            while not done.is_set():
                path = rng.choice(HAMMERED)
                response = client.get(path)
                served.append((path, response.status_code, response.headers.get("ETag", ""), response.data))
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(f"reader {seed}: {exc!r}")

    threads = [threading.Thread(target=write)]
    threads += [threading.Thread(target=ask, args=(n % len(apps), n)) for n in range(4)]
    _run(threads)
    assert not failures, failures
    assert len(served) > 50, f"only {len(served)} requests were made"
    bad = [(path, status, data[:200]) for path, status, _, data in served if status >= 500]
    assert not bad, bad
    missing = [(path, status) for path, status, _, _ in served
               if status != 200 and not path.startswith(("/topics", "/providers"))]
    assert not missing, missing

    by_etag: dict[str, bytes] = {}
    versions: dict[tuple[tuple[int, int], ...], list[tuple[str, bytes]]] = {}
    for path, status, etag, data in served:
        if status != 200:
            continue
        assert by_etag.setdefault(f"{path} {etag}", data) == data, f"{path}: one ETag for two bodies"
        found = _check_body(path, data)
        if found is not None:
            assert sorted(found) == list(range(FILES)), f"{path}: a file is missing or shows twice"
            versions.setdefault(tuple(sorted(found.items())), []).append((path, data))
    assert len(versions) > 1, "no request saw a change"
    clean = tmp_path / "clean-records"
    for state, bodies in versions.items():  # every version a body shows, as a clean build writes it
        shutil.rmtree(clean, ignore_errors=True)
        clean.mkdir()
        for i, k in state:
            (clean / f"s{i:02d}.md").write_text(_versioned(i, k))
        out = tmp_path / "clean-out"
        shutil.rmtree(out, ignore_errors=True)
        build_site(replace(settings, records=str(clean), out=str(out), cache_dir="off"))
        for path, data in {path: data for path, data in bodies}.items():
            assert data == (out / path.lstrip("/")).read_bytes(), f"{path} of {state} is not a clean build's"
    for app in apps:  # and once the writer stops, every worker serves the last version
        client = app.test_client()
        app.extensions["feeds"].refresh()
        _served_equal_clean(client, tmp_path, settings, "after the writer stopped")


def test_threads_asking_while_every_kind_of_edit_lands_never_get_a_5xx(tmp_path: Path) -> None:
    """Random edits of every kind (half-written files, broken ones, deletions, duplicate links)
    under threads asking for every kind of path: never a 5xx, and the last version served whole."""
    rng = random.Random(11)
    settings = _store(tmp_path, rng, 20, 5)
    records = Path(settings.records)
    app = create_app(settings, watch=False)
    site: LiveSite = app.extensions["feeds"]
    edits = _edits(rng, records)
    names = sorted(edits)
    paths = ("/feed.json", "/feed.atom", "/feed.rss?min_heat=30", "/topics/ai.json", "/topics/quantum/",
             "/providers/example.org.atom?limit=2", "/providers/other.net/", "/embed/topics/robots.html",
             "/", "/feeds.opml", "/topics/space.rss?min_quality=40&min_heat=10")
    done = threading.Event()
    failures: list[str] = []
    statuses: list[tuple[str, int]] = []

    def write() -> None:
        try:
            for step in range(40):
                if any(p.is_file() for p in records.iterdir()):
                    edits[rng.choice(names)]()
                else:
                    edits["add"]()
                if step % 2:
                    site.refresh()
                else:
                    site._dirty.set()
                time.sleep(0.01)
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(f"writer: {exc!r}")
        finally:
            done.set()

    def ask(seed: int) -> None:
        client = app.test_client()
        pick = random.Random(seed)
        try:
            while not done.is_set():
                path = pick.choice(paths)
                response = client.get(path, headers={"Accept-Encoding": pick.choice(["gzip", ""])})
                statuses.append((path, response.status_code))
                if response.status_code == 200 and ".json" in path:
                    body = response.data
                    if response.headers.get("Content-Encoding") == "gzip":
                        body = gzip.decompress(body)
                    ids = [item["id"] for item in json.loads(body)["items"]]
                    if len(ids) != len(set(ids)):
                        failures.append(f"{path}: an entry twice in one body")
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(f"reader {seed}: {exc!r}")

    threads = [threading.Thread(target=write), *(threading.Thread(target=ask, args=(n,)) for n in range(3))]
    _run(threads)
    assert not failures, failures
    assert len(statuses) > 30, f"only {len(statuses)} requests were made"
    assert not [(p, s) for p, s in statuses if s >= 500]
    assert {s for _, s in statuses} <= {200, 308, 404}, sorted({s for _, s in statuses})
    site.refresh()
    _served_equal_clean(app.test_client(), tmp_path, settings, "after the edits stopped")


def serve_while_the_catalog_file_fails(work: Path) -> None:
    """Damage the catalog file's rows under a worker that serves threads at once, and check that it
    leaves the file for a catalog in memory with no 5xx meanwhile (run in a process of its own: a
    failing server may crash it)."""
    warnings: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            warnings.append(record.getMessage())

    logging.getLogger("feeds.live").addHandler(Collect(logging.WARNING))
    settings = _store(work, random.Random(12), 20, 5)
    app = create_app(settings, watch=False)
    site: LiveSite = app.extensions["feeds"]
    paths = ("/feed.json", "/feed.atom?limit=3", "/topics/ai.json", "/", "/feeds.opml",
             "/providers/example.org.atom", "/embed/feed.html")
    started, done = threading.Barrier(5), threading.Event()
    failures: list[str] = []
    statuses: list[tuple[str, int]] = []

    def ask(seed: int) -> None:
        client = app.test_client()
        pick = random.Random(seed)
        started.wait()
        try:
            while not done.is_set():
                path = pick.choice(paths)
                statuses.append((path, client.get(path).status_code))
        except Exception as exc:
            failures.append(f"reader {seed}: {exc!r}")

    threads = [threading.Thread(target=ask, args=(n,), daemon=True) for n in range(4)]
    for thread in threads:
        thread.start()
    started.wait()
    time.sleep(0.3)
    path = catalog_path(settings)
    assert path is not None
    damage = sqlite3.connect(path)  # every record row, so that each feed made again finds one
    with damage:
        damage.execute("UPDATE records SET payload = '{'")
    damage.close()
    _retitle(Path(settings.records) / "03.md")
    site.refresh()  # a new version: the threads make its feeds, and load damaged rows at once
    time.sleep(0.5)
    done.set()
    for thread in threads:
        thread.join(20)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    assert not failures, failures
    assert len(statuses) > 20, f"only {len(statuses)} requests were made"
    bad = sorted({(path, status) for path, status in statuses if status != 200})
    assert not bad, f"answers while the catalog file failed: {bad}"
    assert site._writer.path is None, "the damaged file is still used"
    assert sum("cannot be used" in w for w in warnings) == 1, warnings
    _served_equal_clean(app.test_client(), work, settings, "after the catalog file failed")


@pytest.mark.damages_catalog
def test_threads_asking_while_the_catalog_file_fails_get_no_5xx(tmp_path: Path) -> None:
    """The catalog file's rows are damaged under a worker that serves threads at once: the worker
    leaves it for a catalog in memory, and no request meanwhile gets a 5xx (nor does the process
    crash)."""
    code = ("import faulthandler, sys; from pathlib import Path; "
            "from tests.test_live_catalog import serve_while_the_catalog_file_fails as run; "
            "faulthandler.dump_traceback_later(60, exit=True); "  # a hang: every thread's stack
            "run(Path(sys.argv[1]))")
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"the serving process failed ({done.returncode}):\n{done.stderr[-4000:]}"
