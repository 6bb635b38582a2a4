#!/usr/bin/env python3
"""Live server at N records: warm start, and how soon a changed record is served.

Not a test.  On the generated corpus of N records (``benchmarks/workload.py``),
it starts ``feeds serve`` on 127.0.0.1 once with an empty catalog (cold), stops it,
then `--runs` times on the kept catalog (warm), each time timing the start to the
first 200 on ``/feed.atom``.  In the last warm server it rewrites the newest
record's title `--runs` times and times each rewrite to the first ``/feed.atom``
that carries the new title (polled every 20 ms).  Prints medians (with the range)
as a Markdown table.

    .venv/bin/python benchmarks/live.py --n 100000 [--runs 3]

Every process it starts listens on 127.0.0.1 only and is stopped when it ends or fails.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import workload  # noqa: E402

POLL = 0.02
TIMEOUT = 900.0  # a cold start on a large store reads every record


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def fetch(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            body: bytes = response.read()
            return body
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


class Server:
    """One `feeds serve` process on a free port of 127.0.0.1."""

    def __init__(self, records: Path, cache: Path, log: Path) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}
        env.update(FEEDS_CACHE_DIR=str(cache))
        self.started = time.perf_counter()
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "feeds", "serve", "--records", str(records), "--port", str(self.port)],
            cwd=HERE.parent, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def feed(self) -> str:
        return f"http://127.0.0.1:{self.port}/feed.atom"

    def first_feed(self) -> float:
        """Seconds from the start to the first 200 on /feed.atom."""
        while time.perf_counter() - self.started < TIMEOUT:
            if self.process.poll() is not None:
                sys.exit(f"feeds serve exited with {self.process.returncode}; see {self.log.name}")
            if fetch(self.feed) is not None:
                return time.perf_counter() - self.started
            time.sleep(POLL)
        sys.exit(f"no feed within {TIMEOUT:.0f} s")

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)
        self.log.close()


def served_after(server: Server, edits: workload.Edits, name: str, tag: str) -> float:
    """Seconds from rewriting `name` with `tag` to a /feed.atom that shows it."""
    edits.rewrite(name, tag)
    started = time.perf_counter()
    while time.perf_counter() - started < 60:
        body = fetch(server.feed)
        if body is not None and tag.encode() in body:
            return time.perf_counter() - started
        time.sleep(POLL)
    sys.exit(f"{tag} not served within 60 s")


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="generated records (default 100,000)")
    parser.add_argument("--runs", type=int, default=3, help="warm starts and changes timed (default 3)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/feeds-bench"),
                        help="corpus and scratch folder")
    args = parser.parse_args()
    corpus = workload.ensure_corpus(args.work, args.n, 1, os.cpu_count() or 1)
    records = workload.ensure_private_copy(corpus)
    newest = workload.newest_published(records)[0]
    home = args.work / str(args.n) / "live"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    cache, log = home / "cache", home / "serve.log"
    cold = Server(records, cache, log)
    cold_s = cold.first_feed()
    cold.stop()
    warm: list[float] = []
    changes: list[float] = []
    with workload.editing(records) as edits:
        for run in range(args.runs):
            server = Server(records, cache, log)
            warm.append(server.first_feed())
            if run == args.runs - 1:
                for i in range(args.runs):
                    time.sleep(1.5)  # apart from the start and from each other
                    changes.append(served_after(server, edits, newest, f"Changed{i}:"))
            server.stop()
    load = os.getloadavg()
    print(f"| records | cold start s | warm start s (median, range) | change served after s |\n"
          f"|---:|---:|---:|---:|\n"
          f"| {args.n:,} | {cold_s:.1f} | {summary(warm)} | {summary(changes)} |\n\n"
          f"`feeds serve`, {args.runs} warm starts and {args.runs} changes; load average at the end "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}.")


if __name__ == "__main__":
    main()
