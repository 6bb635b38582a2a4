"""Hostile text is read in time linear in its size: 1 MB of any pattern, in any field, in seconds.

The records are those of `benchmarks/adversarial.py`, which times them; this
test only guards against a return of super-linear text handling, with a
bound generous enough for a slow, busy machine (the benchmark's worst on a
quiet one is well under a second).
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import pytest

from feeds.records import read_record
from feeds.settings import Settings

from .feedcheck import REPO

BOUND_SECONDS = 5.0
_SPEC = importlib.util.spec_from_file_location("adversarial", REPO / "benchmarks" / "adversarial.py")
assert _SPEC is not None and _SPEC.loader is not None
sys.path.insert(0, str(REPO / "benchmarks"))
try:
    adversarial = importlib.util.module_from_spec(_SPEC)
    _SPEC.loader.exec_module(adversarial)
finally:
    sys.path.remove(str(REPO / "benchmarks"))


@pytest.mark.parametrize("family", list(adversarial.FAMILIES))
def test_a_megabyte_of_hostile_text_in_any_field_is_read_in_seconds(family: str, tmp_path: Path) -> None:
    settings = Settings.make(records=str(tmp_path))
    for field in adversarial.FIELDS:
        data = adversarial.record(family, field)
        assert 900_000 < len(data) <= settings.max_record_bytes, (family, field, len(data))
        started = time.perf_counter()
        result = read_record("adversarial.md", data, settings)
        seconds = time.perf_counter() - started
        assert seconds < BOUND_SECONDS, f"{family} in {field}: {seconds:.2f} s for {len(data):,} bytes"
        assert result.record is not None or any(p.is_error for p in result.problems), (family, field)


def test_the_old_worst_cases_are_fast() -> None:
    """The cases reported against the old reader (14-29 s each) now take well under a second."""
    settings = Settings.make()
    base = "publishedDateTime: 2021-03-04T05:06:07Z\nwebUrl: https://n.example/a\npublished: true\n"
    cases = [f"title: '{'<a ' * 13_000}'\n{base}",
             f"title: T\ntype: video\nfeaturedContent: '{'<iframe ' * 25_000}'\n{base}",
             "title: T\nexcerpt: \"" + "<a b='" * 20_000 + f"\"\n{base}"]
    for case in cases:
        started = time.perf_counter()
        read_record("r.md", f"---\n{case}---\n".encode(), settings)
        assert time.perf_counter() - started < BOUND_SECONDS / 5, case[:40]
