"""Golden files: the fifteen seed feeds, byte for byte.

``tests/golden/seeds/`` holds the feed files (``feed.*``, ``topics/*``,
``providers/*``) that building ``seeds/`` with the test settings (base URL
``https://news.example.org/``, site title ``feeds``, every other setting at
its default) must write.  A test fails on any difference, so a
change to the output is always a decision.  When the change is intended,
regenerate the files on purpose and review the diff before committing it::

    FEEDS_REGENERATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py
    git diff --stat tests/golden/

Without that variable the golden files are only ever read.
"""

from __future__ import annotations

import difflib
import os
import shutil
from pathlib import Path

import pytest

from .feedcheck import GOLDEN, feed_files
from .stores import build_into

# Read at import: the suite's autouse fixture clears FEEDS_* variables before each test.
REGENERATE = os.environ.get("FEEDS_REGENERATE_GOLDEN") == "1"
SEEDS_GOLDEN = GOLDEN / "seeds"


def first_difference(path: str, expected: bytes, actual: bytes) -> str:
    """A short unified diff of one file, for the assertion message."""
    diff = difflib.unified_diff(expected.decode("utf-8", "replace").splitlines(),
                                actual.decode("utf-8", "replace").splitlines(),
                                f"golden/{path}", f"built/{path}", lineterm="", n=1)
    return "\n".join(list(diff)[:30])


def regenerate(built: dict[str, bytes]) -> None:
    """Replace the golden files with `built` (only with FEEDS_REGENERATE_GOLDEN=1)."""
    shutil.rmtree(SEEDS_GOLDEN, ignore_errors=True)
    for path, data in built.items():
        target = SEEDS_GOLDEN / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def test_the_seed_feeds_match_the_golden_files_byte_for_byte(seeds_dir: Path,
                                                             tmp_path: Path) -> None:
    built = feed_files(build_into(seeds_dir, tmp_path / "out").out)
    if REGENERATE:
        regenerate(built)
    if not SEEDS_GOLDEN.is_dir():
        pytest.fail(f"{SEEDS_GOLDEN} is missing; create it with FEEDS_REGENERATE_GOLDEN=1")
    golden = feed_files(SEEDS_GOLDEN)
    assert sorted(built) == sorted(golden), "the build writes other feeds than the golden set"
    assert len(golden) == 15
    for path in sorted(golden):
        assert built[path] == golden[path], (
            f"{path} differs from its golden file (regenerate on purpose, see the module "
            f"docstring):\n{first_difference(path, golden[path], built[path])}")
