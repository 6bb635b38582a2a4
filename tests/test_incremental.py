"""Incremental builds through the record cache give the same bytes as a clean build."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from feeds.build import build_site
from feeds.cache import BUCKETS, cache_path
from feeds.settings import Settings, replace

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _stamps(root: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(root).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file()}


def _record(title: str, link: str, when: str, topics: str = "[AI]", published: str = "true") -> str:
    return (f'---\ntitle: "{title}"\npublishedDateTime: {when}\nwebUrl: "{link}"\n'
            f"published: {published}\nprovider: {{name: Example, domain: example.org}}\n"
            f"topics: {topics}\nsecured: \"SECRET-{title}\"\n---\n")


@pytest.fixture
def store(tmp_path: Path) -> Path:
    records = tmp_path / "records"
    shutil.copytree(SEEDS, records)
    return records


def _settings(tmp_path: Path, records: Path, out: str, cache: str) -> Settings:
    return Settings.make(records=str(records), out=str(tmp_path / out), cache_dir=str(tmp_path / cache))


def _clean_build(tmp_path: Path, records: Path) -> dict[str, bytes]:
    clean = Settings.make(records=str(records), out=str(tmp_path / "clean"), cache_dir="off")
    shutil.rmtree(clean.out, ignore_errors=True)
    build_site(clean)
    return _tree(Path(clean.out))


def test_incremental_build_equals_clean_build_through_changes(tmp_path: Path, store: Path) -> None:
    settings = _settings(tmp_path, store, "out", "cache")
    build_site(settings)
    out = Path(settings.out)
    changes = [
        lambda: (store / "new1.md").write_text(_record("Brand new", "https://example.org/1",
                                                        "2030-01-01T00:00:00Z", "[AI, Quantum]")),
        lambda: (store / "new1.md").write_text(_record("Retitled", "https://example.org/1",
                                                        "2030-01-01T00:00:00Z", "[Quantum]")),
        lambda: (store / "000_5493749f3400b6dd.txt").unlink(),
        lambda: (store / "new2.md").write_text(_record("Hidden", "https://example.org/2",
                                                        "2031-01-01T00:00:00Z", published="false")),
        lambda: (store / "new1.md").unlink(),
    ]
    for change in changes:
        change()
        report = build_site(settings)
        assert _tree(out) == _clean_build(tmp_path, store), report.summary()
    assert not (out / "topics" / "quantum.atom").exists(), "a feed with no record left must go"


def test_rebuild_with_nothing_changed_renders_and_writes_nothing(tmp_path: Path, store: Path) -> None:
    settings = _settings(tmp_path, store, "out", "cache")
    build_site(settings)
    before = _stamps(Path(settings.out))
    report = build_site(settings)
    assert report.export.changed == 0
    assert _stamps(Path(settings.out)) == before


def test_one_changed_record_rewrites_only_its_feeds(tmp_path: Path, store: Path) -> None:
    (store / "extra.md").write_text(_record("Solo", "https://solo.example/1", "2010-01-01T00:00:00Z",
                                            "[Lonely Topic]"))
    settings = _settings(tmp_path, store, "out", "cache")
    build_site(settings)
    (store / "extra.md").write_text(_record("Solo again", "https://solo.example/1",
                                            "2010-01-01T00:00:00Z", "[Lonely Topic]"))
    report = build_site(settings)
    changed = set(report.export.paths_written)
    # The record is too old for any feed but its own topic and provider feeds... and the
    # all-items feed, which holds every record of this small store; their pages, embeds
    # and the index (which shows each feed's latest headline) follow.
    stems = ("feed", "topics/lonely-topic", "providers/example.org")
    expected = {f"{stem}.{ext}" for stem in stems for ext in ("atom", "rss", "json")}
    expected |= {f"embed/{stem}.html" for stem in stems} | {"index.html"}
    expected |= {"topics/lonely-topic/index.html", "providers/example.org/index.html"}
    assert changed == expected


def test_a_file_edited_behind_the_builds_back_is_rewritten(tmp_path: Path, store: Path) -> None:
    settings = _settings(tmp_path, store, "out", "cache")
    build_site(settings)
    target = Path(settings.out) / "feed.atom"
    good = target.read_bytes()
    target.write_bytes(b"tampered")
    build_site(settings)
    assert target.read_bytes() == good


def test_cache_never_holds_secured_or_unpublished_text(tmp_path: Path, store: Path) -> None:
    settings = _settings(tmp_path, store, "out", "cache")
    build_site(settings)
    path = cache_path(settings)
    assert path is not None and path.exists()
    with sqlite3.connect(path) as db:
        dump = "\n".join(db.iterdump())
    for seed in SEEDS.iterdir():
        text = seed.read_text(encoding="utf-8")
        secured = next(line for line in text.splitlines() if line.startswith("secured:"))
        assert secured[12:60] not in dump
        if "published: false" in text:
            title = next(line for line in text.splitlines() if line.startswith("title:"))
            assert title[8:-1] not in dump, f"unpublished {seed.name} reached the cache"


def test_cache_of_another_format_is_rebuilt(tmp_path: Path, store: Path) -> None:
    settings = _settings(tmp_path, store, "out", "cache")
    build_site(settings)
    path = cache_path(settings)
    assert path is not None
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value='0' WHERE key='format'")
        db.execute("UPDATE files SET head='garbage'")
    shutil.rmtree(settings.out)
    report = build_site(settings)
    assert len(report.store.records) == 2
    assert _tree(Path(settings.out)) == _clean_build(tmp_path, store)


def test_parallel_parse_equals_serial_parse(
    tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import feeds.store

    for i in range(60):
        (store / f"gen{i:03}.md").write_text(_record(f"Story {i}", f"https://example.org/s{i}",
                                                      f"2021-01-{1 + i % 28:02}T00:00:00Z", "[AI, Robots]"))
    monkeypatch.setattr(feeds.store, "PARALLEL_FROM", 10)
    monkeypatch.setattr(feeds.store, "CHUNK", 7)
    parallel = Settings.make(records=str(store), out=str(tmp_path / "par"), cache_dir="off", jobs=2)
    build_site(parallel)
    assert _tree(Path(parallel.out)) == _clean_build(tmp_path, store)


def test_a_build_with_nothing_changed_reads_nothing_and_keeps_every_file(
        tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (store / "broken.md").write_text("---\ntitle: [unclosed\n---\n")
    settings = _settings(tmp_path, store, "out", "cache")
    first = build_site(settings)
    out = Path(settings.out)
    before, stamps = _tree(out), _stamps(out)

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("an unchanged build read the store")
    monkeypatch.setattr("feeds.build.load_store", no_reading)
    again = build_site(settings)
    assert again.unchanged and again.export.changed == 0
    assert again.counts == first.counts and again.problems == first.problems
    assert "nothing changed" in again.summary()
    assert _tree(out) == before and _stamps(out) == stamps


@pytest.mark.parametrize("change", ["record touched", "record added", "setting", "output edited",
                                    "output removed", "stray file", "other out"])
def test_the_unchanged_shortcut_is_never_taken_when_something_changed(
        tmp_path: Path, store: Path, change: str) -> None:
    settings = _settings(tmp_path, store, "out", "cache")
    build_site(settings)
    out = Path(settings.out)
    victim = sorted(store.iterdir())[0]
    if change == "record touched":
        os.utime(victim, ns=(victim.stat().st_atime_ns, victim.stat().st_mtime_ns + 1_000_000_000))
    elif change == "record added":
        (store / "new.md").write_text(_record("Added", "https://example.org/n", "2030-01-01T00:00:00Z"))
    elif change == "setting":
        settings = replace(settings, site_title="Another title")
    elif change == "output edited":
        (out / "topics" / "ai.atom").write_bytes(b"<not the feed/>")
    elif change == "output removed":
        (out / "feed.json").unlink()
    elif change == "stray file":
        (out / "topics" / "stray.atom").write_bytes(b"left over")
    elif change == "other out":
        settings = _settings(tmp_path, store, "out2", "cache")
    report = build_site(settings)
    if change == "stray file":
        # Nothing to re-read, but the stray is removed as any build removes it.
        assert not (out / "topics" / "stray.atom").exists()
        assert report.export.paths_removed == ("topics/stray.atom",)
    else:
        assert not report.unchanged
    clean = replace(settings, out=str(tmp_path / "clean"), cache_dir="off")
    build_site(clean)
    assert _tree(Path(settings.out)) == _tree(Path(clean.out))


@pytest.mark.parametrize("damage", ["UPDATE snapshot SET blob = x'00ff'", "DELETE FROM snapshot",
                                    "UPDATE snapshot SET blob = x'e9'",
                                    # marshal of {'000_x.md': (1, 2)}: a dict of the wrong shape
                                    "UPDATE snapshot SET blob = "
                                    "x'7bfa083030305f782e6d64a902e901000000e90200000030'"])
def test_a_damaged_or_missing_snapshot_is_rebuilt_from_the_files_table(
        tmp_path: Path, store: Path, damage: str) -> None:
    settings = _settings(tmp_path, store, "out", "cache")
    build_site(settings)
    path = cache_path(settings)
    assert path is not None
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM snapshot").fetchone() == (BUCKETS,)
        db.execute(damage)
    (store / "new.md").write_text(_record("After damage", "https://example.org/d", "2030-01-01T00:00:00Z"))
    report = build_site(settings)  # from memory: the one changed file's bucket is found damaged
    assert report.counts.published == 3
    assert _tree(Path(settings.out)) == _clean_build(tmp_path, store)
    other = replace(settings, out=str(tmp_path / "other"))  # a full read of the store
    assert build_site(other).counts == report.counts
    assert _tree(Path(other.out)) == _tree(Path(settings.out))
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM snapshot").fetchone() == (BUCKETS,)
    assert build_site(settings).unchanged


def test_a_cached_record_whose_file_name_is_not_ascii_is_rendered_again(
        tmp_path: Path, store: Path) -> None:
    """Its printable name is not its file name: the cache is asked by file name."""
    (store / "é-ünï.md").write_text(_record("Named in Unicode", "https://example.org/u",
                                            "2030-01-01T00:00:00Z"))
    (store / "plain.md").write_text(_record("Plain", "https://example.org/p", "2029-01-01T00:00:00Z"))
    settings = _settings(tmp_path, store, "out", "cache")
    build_site(settings)
    (store / "plain.md").write_text(_record("Plain, retitled", "https://example.org/p",
                                            "2029-01-01T00:00:00Z"))
    build_site(settings)  # the Unicode-named record comes from the cache, in the same feeds
    tree = _tree(Path(settings.out))
    assert b"Named in Unicode" in tree["feed.atom"] and b"Plain, retitled" in tree["feed.atom"]
    assert tree == _clean_build(tmp_path, store)


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
    settings = _settings(tmp_path, store, "out", "cache")
    build_site(settings)
    assert "Face for sale" in (tmp_path / "out" / "feed.atom").read_text(encoding="utf-8")
    _rewrite_keeping_times(store / "000_5493749f3400b6dd.txt", b"published: true\n", b"published: fals\n")
    report = build_site(settings)
    assert not report.unchanged, report.summary()
    assert "Face for sale" not in (tmp_path / "out" / "feed.atom").read_text(encoding="utf-8")
    clean = build_site(replace(settings, out=str(tmp_path / "clean"), cache_dir="off"))
    assert clean.counts == report.counts and _tree(tmp_path / "out") == _tree(tmp_path / "clean")


def test_an_output_damaged_with_its_size_and_time_kept_is_rewritten(tmp_path: Path, store: Path) -> None:
    settings = _settings(tmp_path, store, "out", "cache")
    build_site(settings)
    target = tmp_path / "out" / "feed.atom"
    good = target.read_bytes()
    _rewrite_keeping_times(target, b"<feed", b"<FEED")
    report = build_site(settings)
    assert target.read_bytes() == good, "the damaged file must be written again"
    assert "feed.atom" in report.export.paths_written


def test_the_live_server_finds_an_edit_with_its_old_modification_time(tmp_path: Path, store: Path) -> None:
    from feeds.web import create_app
    client = create_app(_settings(tmp_path, store, "out", "cache"), watch=False).test_client()
    assert b"Face for sale" in client.get("/feed.atom").data
    _rewrite_keeping_times(store / "000_5493749f3400b6dd.txt", b"published: true\n", b"published: fals\n")
    client.application.extensions["feeds"].refresh()
    assert b"Face for sale" not in client.get("/feed.atom").data


@pytest.mark.parametrize("where", [
    "quality: {n}", "heat: -{n}", "images: [{{url: 'https://i.example/a.png', width: {n}}}]",
    "provider: {{name: P, domain: p.example, images: [{{url: 'https://i.example/l.png', height: {n}}}]}}",
    "related: [{{title: R, webUrl: 'https://r.example/', quality: {n}}}]", "title: {n}",
])
def test_a_number_beyond_any_range_never_crashes_a_cached_build(tmp_path: Path, store: Path,
                                                                where: str) -> None:
    # Issue 12, item 3: a 5,000-digit quality crashed the cache encoder and the whole build.
    text = (f"---\ntitle: Long numbers\npublishedDateTime: 2024-01-01T00:00:00Z\n"
            f"webUrl: https://n.example/a\npublished: true\n{where.format(n='9' * 5000)}\n---\n")
    if where.startswith("title"):
        text = text.replace("title: Long numbers\n", "")
    (store / "long.md").write_text(text, encoding="utf-8")
    settings = _settings(tmp_path, store, "out", "cache")
    first = build_site(settings)
    assert first.counts.published == 3 and first.counts.skipped == 0, first.problems
    assert build_site(settings).unchanged


def test_an_edited_template_or_upgraded_code_makes_its_files_again(tmp_path: Path, store: Path) -> None:
    """The fingerprint of every output holds the package's code and templates (an edited
    templates/feed.html left the built pages stale until the cache was deleted)."""
    import subprocess
    import sys
    package = tmp_path / "pkg"
    shutil.copytree(Path(__file__).resolve().parents[1] / "feeds", package / "feeds",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(package), "FEEDS_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "feeds", "build", "--records", str(store), "--out", str(tmp_path / "out")]

    def build() -> str:
        done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    build()
    page = tmp_path / "out" / "topics" / "ai" / "index.html"
    atom = (tmp_path / "out" / "feed.atom").read_bytes()
    assert "nothing changed" in build()
    template = package / "feeds" / "templates" / "feed.html"
    template.write_text(template.read_text(encoding="utf-8").replace("</main>", "<!-- edited --></main>"),
                        encoding="utf-8")
    summary = build()
    assert "<!-- edited -->" in page.read_text(encoding="utf-8"), summary
    assert (tmp_path / "out" / "feed.atom").read_bytes() == atom, "files the template does not make stay"
