"""Work on every core: results in order, errors raised in the caller, and an early stop that ends.

The early stop is the case CI met: a full disk ends the export while render workers are still
sending pages of a few hundred KB, and multiprocessing.Pool's terminate() deadlocked there.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from feeds.workers import in_order

ROOT = Path(__file__).resolve().parent.parent


def _square(n: int) -> int:
    return n * n


def _fails_at_seven(n: int) -> int:
    if n == 7:
        raise ValueError(f"job {n} is a bug")
    return n


def test_results_come_in_the_order_of_the_jobs() -> None:
    assert list(in_order(_square, range(200), 4)) == [n * n for n in range(200)]


def test_an_error_in_a_worker_is_raised_in_the_caller() -> None:
    with pytest.raises(ValueError, match="job 7 is a bug"):
        list(in_order(_fails_at_seven, range(50), 3))


EARLY_STOPS = """
from feeds.workers import in_order

def page(n):
    return bytes(n % 251 for _ in range(300_000))

for attempt in range(40):
    made = in_order(page, range(300), 8)
    for n, data in enumerate(made):
        assert len(data) == 300_000
        if n == attempt % 6:
            break
    made.close()
print("stopped", attempt + 1)
"""


def test_a_consumer_that_stops_early_with_large_results_under_way_does_not_hang() -> None:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(EARLY_STOPS)], cwd=ROOT,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["stopped", "40"]


KILLED = """
import os, sys, time
from feeds.workers import in_order

def slow(n):
    time.sleep(0.2)
    return os.getpid()

for pid in in_order(slow, range(1000), 3):
    print(pid, flush=True)
"""


def test_the_workers_of_a_killed_caller_end() -> None:
    with subprocess.Popen([sys.executable, "-c", textwrap.dedent(KILLED)], cwd=ROOT,
                          stdout=subprocess.PIPE, text=True) as caller:
        assert caller.stdout is not None
        workers = {int(caller.stdout.readline()) for _ in range(12)}
        assert len(workers) == 3
        caller.kill()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers), "a worker outlived its killed caller"


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended; only its parent may reap it
