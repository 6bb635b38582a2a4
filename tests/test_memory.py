"""A build that starts from the last build's memory gives a full, clean build's bytes and report.

Random edits of every kind a bot or a person makes (retitle, redate, retopic,
respell, change provider or logo, publish, unpublish, delete, add, break,
duplicate a link, damage an output file) are applied one after another; after
each, the build into a kept folder is compared with a clean build of the same
store with no cache at all: every file's bytes, the counts and the problems.
"""

from __future__ import annotations

import dataclasses
import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from feeds.build import BuildReport, build_site
from feeds.settings import Settings

TOPICS = ["AI", "ai", "Quantum", "Robots", "Space", "Computer Vision", "Ethics"]
PROVIDERS = [("Example", "example.org"), ("EXAMPLE News", "example.org"), ("Other", "other.net"),
             ("Third", "third.io"), ("Fourth", "fourth.com")]
LOGO = "https://example.org/logo-{}.png"


def _record(rng: random.Random, n: int, link: int | None = None) -> str:
    name, domain = rng.choice(PROVIDERS)
    topics = rng.sample(TOPICS, rng.randint(1, 3))
    logo = ""
    if rng.random() < 0.5:
        logo = (f'  images:\n    - url: "{LOGO.format(rng.randint(1, 3))}"\n'
                "      width: 50\n      height: 50\n")
    day = rng.randint(1, 28)
    hour = rng.choice([0, 12])  # equal times are common: ties are broken by id, then file name
    published = "true" if rng.random() < 0.85 else "false"
    return (f'---\ntitle: "Story {n} {rng.randint(0, 9999)}"\n'
            f"excerpt: \"About story {n}.\"\n"
            f"publishedDateTime: 2030-01-{day:02d}T{hour:02d}:00:00Z\n"
            f'webUrl: "https://{domain}/story/{n if link is None else link}"\n'
            f"quality: {rng.randint(0, 100)}\nheat: {rng.randint(0, 100)}\n"
            f"published: {published}\n"
            f"provider:\n  name: {name}\n  domain: {domain}\n{logo}"
            f"topics: [{', '.join(topics)}]\n---\n")


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _built_store(tmp_path: Path, rng: random.Random, count: int, limit: int) -> tuple[Path, Settings]:
    """A store of `count` random records, built once into tmp_path/out with a cache."""
    records = tmp_path / "records"
    records.mkdir()
    for n in range(count):
        (records / f"{n:02d}.md").write_text(_record(rng, n))
    settings = Settings.make(records=str(records), out=str(tmp_path / "out"),
                             cache_dir=str(tmp_path / "cache"), limit=limit)
    build_site(settings)
    return records, settings


def _clean(tmp_path: Path, records: Path, limit: int) -> BuildReport:
    out = tmp_path / "clean"
    shutil.rmtree(out, ignore_errors=True)
    return build_site(Settings.make(records=str(records), out=str(out), cache_dir="off", limit=limit))


def _edits(rng: random.Random, records: Path, out: Path, counter: list[int]) -> dict[str, Callable[[], None]]:
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
        text = path.read_text()
        rewrite(path, text.replace('title: "', 'title: "Re: ', 1))

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

    def undo_duplicate() -> None:
        change()

    def break_one() -> None:
        rewrite(pick(), "---\ntitle: [unclosed\n---\n")

    def damage_output() -> None:
        files = sorted(p for p in out.rglob("*") if p.is_file())
        if files:
            victim = rng.choice(files)
            if rng.random() < 0.5:
                victim.unlink()
            else:
                victim.write_bytes(b"damaged")

    def touch() -> None:
        path = pick()
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

    return {f.__name__: f for f in (add, change, retitle, unpublish_or_publish, delete, duplicate,
                                    undo_duplicate, break_one, damage_output, touch)}


@pytest.mark.parametrize("seed", range(int(os.environ.get("FEEDS_MEMORY_SEEDS", "12"))))
def test_builds_from_memory_equal_clean_builds_through_random_edits(tmp_path: Path, seed: int) -> None:
    _random_edits(tmp_path, seed)


@pytest.mark.parametrize("seed", range(100, 106))
def test_the_all_items_reserve_running_out_gives_clean_builds(
        tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """With one all-items member kept beyond those shown, edits use the reserve up quickly."""
    monkeypatch.setattr("feeds.memory.RESERVE", 1)
    _random_edits(tmp_path, seed)


@pytest.mark.parametrize("seed", range(200, 206))
def test_builds_into_two_folders_from_one_store_stay_equal_to_clean_builds(tmp_path: Path, seed: int) -> None:
    """Both folders' builds share the store's cache: each reads files the other has read afresh."""
    _random_edits(tmp_path, seed, second_out=True)


def _random_edits(tmp_path: Path, seed: int, second_out: bool = False) -> None:
    rng = random.Random(seed)
    limit = rng.choice([3, 5, 50])  # below, at and above what an embed shows (10)
    records, settings = _built_store(tmp_path, rng, rng.randint(8, 40), limit)
    out = Path(settings.out)
    other = dataclasses.replace(settings, out=str(tmp_path / "other"))
    if second_out:
        build_site(other)
    counter = [1000]
    edits = _edits(rng, records, out, counter)
    names = sorted(edits)
    for step in range(25):
        done = [rng.choice(names) for _ in range(rng.choice([1, 1, 1, 2, 3]))]
        for name in done:
            if any(p.is_file() for p in records.iterdir()) or name == "add":
                edits[name]()
        if second_out and rng.random() < 0.6:  # the other folder is built first, now and then
            build_site(other)
        report = build_site(settings)
        clean = _clean(tmp_path, records, limit)
        where = f"seed {seed}, step {step}, after {done}: {report.summary()}"
        assert _tree(out) == _tree(tmp_path / "clean"), where
        assert report.counts == clean.counts, where
        assert report.problems == clean.problems, where
    again = build_site(settings)
    assert again.unchanged and again.export.changed == 0


def test_a_build_from_memory_reads_only_the_changed_file_and_renders_only_its_feeds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    records, settings = _built_store(tmp_path, random.Random(7), 30, 50)
    victim = records / "05.md"
    victim.write_text(victim.read_text().replace('title: "', 'title: "Changed ', 1))

    read: list[str] = []
    real = __import__("feeds.store", fromlist=["read_file"]).read_file

    def spy(entry: object, settings: Settings) -> object:
        read.append(entry.name)  # type: ignore[attr-defined]
        return real(entry, settings)
    monkeypatch.setattr("feeds.store.read_file", spy)
    monkeypatch.setattr("feeds.build.load_store", lambda *a, **k: pytest.fail("the whole store was read"))
    report = build_site(settings)
    assert read == ["05.md"]
    assert report.store is None and not report.unchanged
    monkeypatch.undo()
    clean = _clean(tmp_path, records, settings.limit)
    assert clean.plan is not None
    its_feeds = {s.stem for s in clean.plan.feeds if any(r.source == "05.md" for r in s.members)}
    assert len(its_feeds) >= 3 and len(clean.plan.feeds) > len(its_feeds)
    written = {_stem_of(path) for path in report.export.paths_written}
    assert "feed" in written and written <= its_feeds | {"index.html", "feeds.opml"}, written


def _stem_of(path: str) -> str:
    """The feed a site path belongs to (``embed/topics/ai.html`` → ``topics/ai``), or the path."""
    if path in ("index.html", "feeds.opml"):
        return path
    if path.endswith("/index.html"):
        return path.removesuffix("/index.html")
    return path.removeprefix("embed/").rsplit(".", 1)[0]


def test_a_listing_keeps_identities_too_large_for_64_bits() -> None:
    from feeds.memory import _kept_listing, _listing, _read_listing
    from feeds.store import Entry
    entries = [Entry("a.md", 10, -5, -5, 2**64 - 1), Entry("b.md", 11, 1_795_000_000_000_000_000, 1, 7)]
    listing = _listing(entries)
    assert _read_listing(_kept_listing(listing)) == listing
    small = _listing(entries[1:])
    assert _read_listing(_kept_listing(small)) == small


@pytest.mark.parametrize("damage", ["UPDATE builds SET listing = x'00'", "UPDATE builds SET manifest = '{'",
                                    "UPDATE builds SET feeds = x'e9'", "DELETE FROM members",
                                    "UPDATE members SET blob = x'00ff'"])
def test_a_damaged_memory_gives_a_full_build(tmp_path: Path, damage: str) -> None:
    import sqlite3

    from feeds.cache import cache_path
    rng = random.Random(3)
    records, settings = _built_store(tmp_path, rng, 12, 5)
    path = cache_path(settings)
    assert path is not None
    with sqlite3.connect(path) as db:
        db.execute(damage)
    (records / "03.md").write_text(_record(rng, 99))
    report = build_site(settings)
    clean = _clean(tmp_path, records, 5)
    assert _tree(tmp_path / "out") == _tree(tmp_path / "clean")
    assert report.counts == clean.counts and report.problems == clean.problems
    assert build_site(settings).unchanged
