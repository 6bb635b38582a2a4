"""Crashes and faults: a killed build, a full disk and a read-only output folder tear no file."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"


def _records(folder: Path, count: int, stamp: str, excerpt_chars: int = 300) -> Path:
    """The seeds plus `count` published records whose text depends on `stamp`."""
    shutil.copytree(SEEDS, folder)
    for i in range(count):
        (folder / f"gen{i:04}.md").write_text(
            "---\n"
            f'title: "Story {i} {stamp}"\n'
            f'excerpt: "{(stamp + " words ") * (excerpt_chars // (len(stamp) + 7))}"\n'
            f"publishedDateTime: 2022-{1 + i % 12:02}-{1 + i % 28:02}T{i % 24:02}:00:00Z\n"
            f'webUrl: "https://example.org/{i}"\n'
            "published: true\n"
            f"provider: {{name: Provider {i % 7}, domain: p{i % 7}.example.org}}\n"
            f"topics: [Topic {i % 5}, Topic {i % 3}]\n"
            "---\n", encoding="utf-8")
    return folder


def _command(records: Path, out: Path, *flags: str) -> list[str]:
    return [sys.executable, "-m", "feeds", "build", "--records", str(records), "--out", str(out), *flags]


def _build(records: Path, out: Path, cache: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FEEDS_CACHE_DIR": str(cache)}
    return subprocess.run(_command(records, out, *flags), env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def _start(records: Path, out: Path, cache: Path, *flags: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FEEDS_CACHE_DIR": str(cache)}
    return subprocess.Popen(_command(records, out, *flags), env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _visible(tree: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in tree.items() if not Path(k).name.startswith(".feeds-tmp-")}


def _kill_at_random(tmp_path: Path, old_records: Path, new_records: Path, seed: int, *options: str
                    ) -> dict[str, dict[str, bytes]]:
    """The clean builds of both stores (by name), after 16 builds into one folder killed at random
    moments, each leaving every file there the old or the new one, then a build to the end."""
    references = {}
    for name, records in (("old", old_records), ("new", new_records)):
        done = _build(records, tmp_path / f"ref-{name}", tmp_path / f"cache-{name}", *options)
        assert done.returncode == 0, done.stderr
        references[name] = _tree(tmp_path / f"ref-{name}")
    out, cache = tmp_path / "out", tmp_path / "cache"
    shutil.copytree(tmp_path / "ref-old", out)
    started = time.monotonic()
    timing = _build(new_records, tmp_path / "timing", tmp_path / "cache-timing", *options)
    assert timing.returncode == 0, timing.stderr
    duration = time.monotonic() - started
    rng = random.Random(seed)
    for attempt in range(16):
        # Alternate the target so every kill interrupts real work.
        process = _start(new_records if attempt % 2 == 0 else old_records, out, cache, *options)
        time.sleep(rng.uniform(0.05, duration))
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        for path, data in _visible(_tree(out)).items():
            versions = [ref[path] for ref in references.values() if path in ref]
            assert data in versions, f"kill {attempt}: {path} is neither the old nor the new file"
    final = _build(new_records, out, cache, *options)
    assert final.returncode == 0, final.stderr
    references["final"] = _tree(out)
    return references


def test_a_build_killed_at_any_moment_leaves_every_file_old_or_new(tmp_path: Path) -> None:
    old_records = _records(tmp_path / "old", 400, "old")
    new_records = _records(tmp_path / "new", 400, "new")
    (new_records / "gen0000.md").unlink()  # a provider page and some entries go away too
    trees = _kill_at_random(tmp_path, old_records, new_records, 20261123)
    assert trees["final"] == trees["new"], "after the kills, a full build must give the clean bytes"


def test_a_precompressed_build_killed_at_any_moment_leaves_every_sibling_old_or_new(tmp_path: Path) -> None:
    """The .gz and .br go into the same batch as their files: a kill leaves each one a complete old or
    new sibling (never half-written), and the next build makes every sibling its file's again."""
    old_records = _records(tmp_path / "old", 300, "old")
    new_records = _records(tmp_path / "new", 300, "new")
    trees = _kill_at_random(tmp_path, old_records, new_records, 20261204, "--precompress")
    assert "feed.atom.gz" in trees["new"] and "topics/topic-1.rss.br" in trees["new"]
    assert trees["final"] == trees["new"], "after the kills, every file and sibling is the clean build's"


NAMESPACE = r"""
set -u
mount -t tmpfs -o size={size}k tmpfs "$OUT" || exit 90
"$PY" -m feeds build --records "$OLD" --out "$OUT" >/dev/null 2>&1 || exit 91
cp -a "$OUT" "$WORK/before"
{between}
"$PY" -m feeds build --records "$NEW" --out "$OUT" >"$WORK/stdout" 2>"$WORK/stderr"
echo $? >"$WORK/rc"
cp -a "$OUT" "$WORK/after"
"""


def _in_namespace(tmp_path: Path, size_kb: int, between: str) -> tuple[int, str, Path]:
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux) to mount a private tmpfs")
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "out").mkdir()
    env = {**os.environ, "OUT": str(tmp_path / "out"), "OLD": str(tmp_path / "old"),
           "NEW": str(tmp_path / "new"), "WORK": str(work), "PY": sys.executable,
           "FEEDS_CACHE_DIR": str(tmp_path / "cache")}
    script = NAMESPACE.format(size=size_kb, between=between)
    done = subprocess.run(["unshare", "-rm", "bash", "-c", script], env=env, cwd=ROOT,
                          capture_output=True, timeout=300)
    if done.returncode == 90:
        pytest.skip("this machine does not allow a private tmpfs mount")
    assert done.returncode == 0, done.stderr.decode()
    return int((work / "rc").read_text()), (work / "stderr").read_text(), work


def test_a_full_disk_ends_the_build_with_one_line_and_the_old_output_intact(tmp_path: Path) -> None:
    _records(tmp_path / "old", 0, "old")
    _records(tmp_path / "new", 300, "new", excerpt_chars=1800)
    rc, stderr, work = _in_namespace(tmp_path, 512, "")
    assert rc != 0
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "No space left on device" in stderr and "previous output" in stderr, stderr
    assert "Traceback" not in stderr
    assert _visible(_tree(work / "after")) == _tree(work / "before")


def test_a_read_only_output_folder_ends_the_build_with_one_line(tmp_path: Path) -> None:
    _records(tmp_path / "old", 0, "old")
    _records(tmp_path / "new", 20, "new")
    rc, stderr, work = _in_namespace(tmp_path, 4096, 'mount -o remount,ro "$OUT"')
    assert rc != 0
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "Read-only file system" in stderr, stderr
    assert _tree(work / "after") == _tree(work / "before")


# -- an unusable record cache: one warning, the same bytes (issue 12, item 8) -------------------------


def _clean(records: Path, tmp_path: Path) -> dict[str, bytes]:
    env = {**os.environ, "FEEDS_CACHE_DIR": "off"}
    done = subprocess.run(_command(records, tmp_path / "clean"), env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return _tree(tmp_path / "clean")


def _one_cache_warning(stderr: str, cache: Path) -> None:
    warnings = [line for line in stderr.splitlines() if "record cache cannot be used" in line]
    assert len(warnings) == 1, stderr
    assert str(cache) in warnings[0] and "going on without it" in warnings[0], warnings[0]
    assert "Traceback" not in stderr, stderr


def _damage(path: Path, where: str, rng: random.Random) -> None:
    data = bytearray(path.read_bytes())
    if where == "all":
        path.write_bytes(os.urandom(len(data)))
        return
    start = 0 if where == "header" else rng.randrange(100, len(data) - 300)
    data[start:start + 300] = os.urandom(300)
    path.write_bytes(bytes(data))


@pytest.mark.damages_catalog
@pytest.mark.parametrize("where", ["header", "middle", "all", "truncated", "a folder"])
def test_a_damaged_cache_gives_one_warning_and_the_same_bytes(tmp_path: Path, where: str) -> None:
    records = _records(tmp_path / "records", 60, "v1")
    cache = tmp_path / "cache"
    assert _build(records, tmp_path / "out", cache).returncode == 0
    [path] = cache.glob("records-*.sqlite3")
    rng = random.Random(where)
    if where == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
    elif where == "a folder":
        path.unlink()
        path.mkdir()
    else:
        _damage(path, where, rng)
    for name in ("gen0003.md", "gen0004.md"):  # so the build must read, and write to the cache
        (records / name).write_text((records / name).read_text().replace("v1", "v2"))
    done = _build(records, tmp_path / "out", cache)
    assert done.returncode == 0, done.stderr
    if where in ("header", "all", "a folder", "truncated"):
        _one_cache_warning(done.stderr, cache)
    assert "Traceback" not in done.stderr
    assert _tree(tmp_path / "out") == _clean(records, tmp_path)


CACHE_NAMESPACE = r"""
set -u
mount -t tmpfs -o size={size}k tmpfs "$CACHE" || exit 90
{before}
"$PY" -m feeds build --records "$RECORDS" --out "$OUT" >"$WORK/stdout" 2>"$WORK/stderr"
echo $? >"$WORK/rc"
"""


def _cache_in_namespace(tmp_path: Path, records: Path, size_kb: int, before: str) -> tuple[int, str]:
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux) to mount a private tmpfs")
    work, cache = tmp_path / "work", tmp_path / "cache"
    work.mkdir()
    cache.mkdir()
    env = {**os.environ, "CACHE": str(cache), "RECORDS": str(records), "OUT": str(tmp_path / "out"),
           "WORK": str(work), "PY": sys.executable, "FEEDS_CACHE_DIR": str(cache)}
    script = CACHE_NAMESPACE.format(size=size_kb, before=before)
    done = subprocess.run(["unshare", "-rm", "bash", "-c", script], env=env, cwd=ROOT, capture_output=True,
                          timeout=300)
    if done.returncode == 90:
        pytest.skip("this machine does not allow a private tmpfs mount")
    assert done.returncode == 0, done.stderr.decode()
    return int((work / "rc").read_text()), (work / "stderr").read_text()


def test_a_cache_on_a_full_disk_gives_one_warning_and_the_same_bytes(tmp_path: Path) -> None:
    records = _records(tmp_path / "records", 300, "full", excerpt_chars=1800)
    rc, stderr = _cache_in_namespace(tmp_path, records, 96, "")
    assert rc == 0, stderr
    _one_cache_warning(stderr, tmp_path / "cache")
    assert "free disk space" in stderr, stderr
    assert _tree(tmp_path / "out") == _clean(records, tmp_path)


def test_a_read_only_cache_gives_one_warning_and_the_same_bytes(tmp_path: Path) -> None:
    records = _records(tmp_path / "records", 40, "before1")
    edit = ('"$PY" -m feeds build --records "$RECORDS" --out "$OUT.first" >/dev/null 2>&1 || exit 91\n'
            'sed -i s/before1/after22/ "$RECORDS/gen0001.md"\n'
            'mount -o remount,ro "$CACHE"')
    rc, stderr = _cache_in_namespace(tmp_path, records, 4096, edit)
    assert rc == 0, stderr
    _one_cache_warning(stderr, tmp_path / "cache")
    assert "writable" in stderr, stderr
    assert _tree(tmp_path / "out") == _clean(records, tmp_path)


def test_an_error_of_our_own_during_a_build_is_not_taken_for_a_bad_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the cache file's own failures send a build on without it; anything else is raised."""
    import feeds.build
    from feeds.build import build_site
    from feeds.settings import Settings
    records = _records(tmp_path / "records", 3, "own")
    settings = Settings.make(records=str(records), out=str(tmp_path / "out"), cache_dir=str(tmp_path / "c"))

    def broken(*args: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(feeds.build, "_written", broken)
    with pytest.raises(OSError, match="Input/output"):
        build_site(settings)


def test_a_cache_held_by_another_process_ends_the_build_with_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    from click.testing import CliRunner

    import feeds.catalog.db
    from feeds.build import build_site
    from feeds.cli import main
    from feeds.errors import CacheBusy
    from feeds.settings import Settings
    records = _records(tmp_path / "records", 3, "busy")
    cache = tmp_path / "c"
    settings = Settings.make(records=str(records), out=str(tmp_path / "out"), cache_dir=str(cache))
    build_site(settings)
    before = _tree(tmp_path / "out")
    (records / "gen0001.md").write_text((records / "gen0001.md").read_text().replace("busy", "held"))
    [path] = cache.glob("records-*.sqlite3")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    monkeypatch.setattr(feeds.catalog.db, "BUSY_SECONDS", 0.2)
    monkeypatch.setenv("FEEDS_CACHE_DIR", str(cache))
    try:
        with pytest.raises(CacheBusy, match="another process held the record cache"):
            build_site(settings)
        result = CliRunner().invoke(main, ["build", "--records", str(records),
                                           "--out", str(tmp_path / "out")])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.exit_code == 1, result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: ") and "another process held the record cache" in line, line
    assert "Traceback" not in result.output
    assert _tree(tmp_path / "out") == before, "a build that could not read the store changes no file"
    assert path.stat().st_size > 0, "a busy cache is never left behind as if it were damaged"
    again = build_site(settings)  # once it is free, the same file serves again, the edit read
    assert again.warnings == () and again.counts.files == 8
    assert "Story 1 held" in (tmp_path / "out" / "feed.atom").read_text(encoding="utf-8")
