"""The live server serves from a memory of its own, and it gives a clean build's bytes.

A server started on a store it has seen before reads no record file; a change
is read once, by whichever process serving the store gets to it first; a
process that has not noticed a change yet never mixes the old feed with the
new records; filters narrow a feed as its full list of members says.  Random
edits of every kind (as in tests/test_memory.py) are served byte for byte as a
clean build writes them.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from flask.testing import FlaskClient

import feeds.live
import feeds.store
from feeds.build import build_site
from feeds.cache import cache_path
from feeds.live import LiveSite
from feeds.settings import Settings
from feeds.web import create_app
from tests.test_memory import _clean, _edits, _record, _tree


def _store(tmp_path: Path, rng: random.Random, count: int, limit: int) -> Settings:
    records = tmp_path / "records"
    records.mkdir()
    for n in range(count):
        (records / f"{n:02d}.md").write_text(_record(rng, n))
    return Settings.make(records=str(records), out=str(tmp_path / "unused"),
                         cache_dir=str(tmp_path / "cache"), limit=limit, max_limit=100)


def _client(settings: Settings) -> FlaskClient:
    return create_app(settings, watch=False).test_client()


def _served_equal_clean(client: FlaskClient, tmp_path: Path, settings: Settings, where: str) -> None:
    clean = _clean(tmp_path, Path(settings.records), settings.limit)
    files = _tree(tmp_path / "clean")
    site: LiveSite = client.application.extensions["feeds"]
    assert set(site.snapshot.files) == set(files), where
    for path, data in files.items():
        response = client.get("/" + path)
        assert response.status_code == 200, f"{where}: /{path}"
        assert response.data == data, f"{where}: /{path} differs from a clean build's"
    assert clean.plan is not None
    for spec in clean.plan.feeds:  # filters narrow every member, not only the newest
        for quality, heat, limit in ((50, None, 3), (None, 70, None), (20, 20, 100)):
            query = "&".join(f"{k}={v}" for k, v in (("min_quality", quality), ("min_heat", heat),
                                                       ("limit", limit)) if v is not None)
            got = json.loads(client.get(f"/{spec.stem}.json?{query}").data)
            wanted = [r.id for r in spec.members
                      if (quality is None or (r.quality is not None and r.quality >= quality))
                      and (heat is None or (r.heat is not None and r.heat >= heat))][:limit or settings.limit]
            assert [item["id"] for item in got["items"]] == wanted, f"{where}: /{spec.stem}.json?{query}"


@pytest.mark.parametrize("seed", range(6))
def test_live_bodies_equal_clean_builds_through_random_edits(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    settings = _store(tmp_path, rng, rng.randint(8, 30), rng.choice([3, 5, 50]))
    records = Path(settings.records)
    client = _client(settings)
    site: LiveSite = client.application.extensions["feeds"]
    _served_equal_clean(client, tmp_path, settings, f"seed {seed}, start")
    edits = _edits(rng, records, tmp_path / "nothing", [1000])
    names = sorted(name for name in edits if name != "damage_output")
    for step in range(10):
        done = [rng.choice(names) for _ in range(rng.choice([1, 1, 2, 3]))]
        for name in done:
            if any(p.is_file() for p in records.iterdir()) or name == "add":
                edits[name]()
        site.refresh()
        _served_equal_clean(client, tmp_path, settings, f"seed {seed}, step {step}, after {done}")


def _reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    read: list[str] = []
    real = feeds.store.read_file

    def spy(entry: feeds.store.Entry, settings: Settings) -> object:
        read.append(entry.name)
        return real(entry, settings)
    monkeypatch.setattr(feeds.store, "read_file", spy)
    return read


def test_a_server_started_on_a_store_it_has_seen_reads_no_record(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _store(tmp_path, random.Random(1), 25, 5)
    first = _client(settings).get("/feed.atom").data
    read = _reads(monkeypatch)
    monkeypatch.setattr(feeds.live, "load_store", lambda *a, **k: pytest.fail("the whole store was read"))
    client = _client(settings)
    assert client.get("/feed.atom").data == first
    assert read == []
    victim = Path(settings.records) / "07.md"
    victim.write_text(victim.read_text().replace('title: "', 'title: "Changed ', 1))
    _client(settings)
    assert read == ["07.md"], "a restart after one change reads that file alone"


def test_a_change_is_read_once_for_every_process_serving_the_store(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers over one store and cache: the second finds the change already in the memory."""
    settings = _store(tmp_path, random.Random(2), 20, 5)
    one, two = _client(settings), _client(settings)
    for client in (one, two):
        client.get("/feed.atom")
    read = _reads(monkeypatch)
    victim = Path(settings.records) / "03.md"
    victim.write_text(victim.read_text().replace('title: "', 'title: "Changed ', 1))
    one.application.extensions["feeds"].refresh()
    two.application.extensions["feeds"].refresh()
    assert read == ["03.md"]
    _served_equal_clean(one, tmp_path, settings, "first worker")
    _served_equal_clean(two, tmp_path, settings, "second worker")


def test_a_worker_that_has_not_noticed_a_change_does_not_mix_old_and_new(tmp_path: Path) -> None:
    settings = _store(tmp_path, random.Random(3), 20, 50)
    behind, ahead = _client(settings), _client(settings)
    old = behind.get("/feed.json").data
    victim = Path(settings.records) / "04.md"
    victim.write_text(victim.read_text().replace('title: "', 'title: "Changed ', 1))
    ahead.application.extensions["feeds"].refresh()  # the other worker's memory and the cache move on
    site: LiveSite = behind.application.extensions["feeds"]
    generation = site.snapshot.generation
    assert behind.get("/feed.json").data == old, "what it had loaded is the old store, consistently"
    # A feed it had not loaded yet is kept at a later generation: it takes the next snapshot.
    ahead_site: LiveSite = ahead.application.extensions["feeds"]
    stems = [stem for stem in ahead_site.snapshot.kinds if stem != "feed"
             and any(m[2] == "04.md" for m in ahead_site.feed(ahead_site.snapshot, stem).members)]
    new = behind.get(f"/{stems[0]}.json").data
    assert site.snapshot.generation > generation
    assert new == ahead.get(f"/{stems[0]}.json").data
    assert behind.get("/feed.json").data == ahead.get("/feed.json").data != old
    assert b"Changed " in behind.get("/feed.json").data


@pytest.mark.parametrize("damage", ["UPDATE members SET blob = x'00ff'", "DELETE FROM members",
                                    "UPDATE builds SET manifest = '{'"])
def test_a_damaged_live_memory_is_made_again_from_the_store(tmp_path: Path, damage: str) -> None:
    settings = _store(tmp_path, random.Random(4), 15, 5)
    _client(settings)
    path = cache_path(settings)
    assert path is not None
    with sqlite3.connect(path) as db:
        db.execute(damage)
    client = _client(settings)
    _served_equal_clean(client, tmp_path, settings, damage)


def test_the_live_memory_is_apart_from_a_build_into_a_folder(tmp_path: Path) -> None:
    """A build and a live server over one store and cache each keep their own memory."""
    settings = _store(tmp_path, random.Random(5), 15, 5)
    client = _client(settings)
    build = Settings.make(**{**settings.__dict__, "out": str(tmp_path / "built")})
    build_site(build)
    victim = Path(settings.records) / "02.md"
    victim.write_text(victim.read_text().replace('title: "', 'title: "Changed ', 1))
    build_site(build)  # the build reads the change first
    client.application.extensions["feeds"].refresh()
    _served_equal_clean(client, tmp_path, settings, "after a build read the change")
    assert _tree(tmp_path / "built") == _tree(tmp_path / "clean")


def test_a_record_folder_that_goes_away_leaves_the_last_store_served(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = _store(tmp_path, random.Random(6), 12, 5)
    client = _client(settings)
    before = client.get("/feed.atom").data
    Path(settings.records).rename(tmp_path / "moved")
    client.application.extensions["feeds"].refresh()
    assert "no such record folder" in caplog.text
    assert client.get("/feed.atom").data == before
    assert client.get("/topics/ai.json").status_code in (200, 404)  # never a 500
    assert client.get("/").status_code == 200


def test_a_worker_lists_the_folder_in_its_own_turn(tmp_path: Path) -> None:
    """Found by benchmarks/soak.py: a listing taken while another worker held the turn was older
    than the memory that worker kept, and took it back in time (a feed went missing for a while)."""
    settings = _store(tmp_path, random.Random(8), 10, 5)
    one, two = LiveSite(settings, watch=False), LiveSite(settings, watch=False)
    waiting = threading.Thread(target=two.refresh)
    with one._turn():
        waiting.start()
        time.sleep(0.3)  # the second worker is waiting for its turn
        (Path(settings.records) / "late.md").write_text(_record(random.Random(9), 77))
    waiting.join(timeout=30)
    assert not waiting.is_alive()
    assert any(m[2] == "late.md" for m in two.feed(two.snapshot, "feed").members)
