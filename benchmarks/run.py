#!/usr/bin/env python3
"""Benchmark `feeds build` against Hugo and Pelican on the same generated corpus.

    .venv/bin/python benchmarks/run.py --sizes 10000,100000 [--runs 3] [--million]
        [--peers hugo,pelican] [--write-docs]

For each N: generate the corpus once (cached under --work), then per run a
cold build, a rebuild with nothing changed, after 1 record changed, after 100
changed and after 1 deleted (edits undone afterwards), then a clean build by
each peer. Prints a Markdown table of medians and the issue's targets.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import peers
import report
import workload
from measure import Sample, has_gnu_time, run_measured

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@dataclass(frozen=True)
class Size:
    """Everything one N needs: its folders and the peers that run at this size."""

    n: int
    home: Path
    corpus: Path
    records: Path
    converted: Path | None
    peers: list[peers.Peer]

    def log(self, name: str, run: int) -> Path:
        """The log file of one build."""
        path = self.home / "logs" / f"{name}.{run}.log"
        path.parent.mkdir(exist_ok=True)
        return path


def parse_args() -> argparse.Namespace:
    """The command line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000", help="comma-separated N (default 10000,100000)")
    ap.add_argument("--runs", type=int, default=3, help="runs per N; medians are reported (default 3)")
    ap.add_argument("--million", action="store_true", help="also run N = 1,000,000")
    ap.add_argument("--million-runs", type=int, default=1,
                    help="runs at N = 1,000,000 (default 1: a cold build there takes minutes)")
    ap.add_argument("--peers", default="hugo,pelican", help="peers to compare with ('' for none)")
    ap.add_argument("--pelican-max", type=int, default=10_000,
                    help="largest N Pelican runs at (default 10000: it takes over 20 min at 100,000)")
    ap.add_argument("--hugo-max", type=int, default=100_000,
                    help="largest N Hugo runs at (default 100000: ~2.3 GB there, so ~20 GB at 1M)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/feeds-bench"), help="cache and scratch folder")
    ap.add_argument("--seed", type=int, default=1, help="corpus seed (default 1)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="corpus generator processes")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds before a build is killed")
    ap.add_argument("--shared", type=Path, default=SHARED, help="the ../shared folder (bench/, validate/)")
    ap.add_argument("--validate", action="store_true",
                    help="run validate-feeds --skip w3c on feeds' output after the first run (slow)")
    ap.add_argument("--write-docs", action="store_true",
                    help="write the table between the bench markers of docs/benchmarks.md")
    args = ap.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",") if s] + ([1_000_000] if args.million else [])
    args.peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    return args


def available_peers(args: argparse.Namespace, res: report.Results) -> list[peers.Peer]:
    """The requested peers that are installed (or installable), with a note for each missing one."""
    found: list[peers.Peer] = []
    for name in args.peers:
        peer = peers.make_peer(name, args.work)
        if peer is None:
            res.notes.append(f"{name}: not available here, not compared")
        else:
            found.append(peer)
    return found


def peers_at(n: int, all_peers: list[peers.Peer], args: argparse.Namespace,
             res: report.Results) -> list[peers.Peer]:
    """The peers that run at this N; a note for each left out by --hugo-max / --pelican-max."""
    limits = {"hugo": args.hugo_max, "pelican": args.pelican_max}
    chosen = [p for p in all_peers if n <= limits[p.name]]
    for p in all_peers:
        if p not in chosen:
            res.notes.append(f"N = {n:,}: {p.name} not run (above --{p.name}-max {limits[p.name]:,})")
    return chosen


def prepare(n: int, args: argparse.Namespace, all_peers: list[peers.Peer], res: report.Results) -> Size:
    """Generate (once), copy and convert the corpus for N."""
    t0 = time.perf_counter()
    corpus = workload.ensure_corpus(args.work, n, args.seed, args.jobs)
    records = workload.ensure_private_copy(corpus)
    chosen = peers_at(n, all_peers, args, res)
    converted = peers.ensure_converted(corpus, args.shared / "bench") if chosen else None
    workload.newest_published(records)
    print(f"N={n:,}: corpus ready in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return Size(n, corpus.parent, corpus, records, converted, chosen)


def feeds_build(size: Size, out: Path, cache: Path, name: str, run: int, timeout: float) -> Sample:
    """One `feeds build` subprocess with its own cache folder and no inherited FEEDS_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}
    env["FEEDS_CACHE_DIR"] = str(cache)
    cmd = [sys.executable, "-m", "feeds", "build", "--timings", "--records", str(size.records),
           "--out", str(out)]
    os.sync()
    return run_measured(cmd, size.home, env, size.log(name, run), timeout)


def make_change(step: str, edits: workload.Edits, newest: list[str]) -> None:
    """The change a rebuild step measures (none before the cold build and the no-change rebuild)."""
    if step == "one_changed":
        edits.rewrite(newest[0], "Updated:")
    elif step == "hundred_changed":
        for name in newest[:100]:
            edits.rewrite(name, "Revised:")
    elif step == "one_deleted":
        edits.delete(newest[0])


def feeds_run(size: Size, run: int, args: argparse.Namespace, res: report.Results) -> None:
    """Cold build, then the four rebuilds, each recorded under its step name, then the watching
    build's rebuild after one change."""
    out, cache = size.home / "feeds-out", size.home / f"cache-{run}"
    for folder in (out, cache):
        shutil.rmtree(folder, ignore_errors=True)
    cache.mkdir()
    newest = workload.newest_published(size.records)
    with workload.editing(size.records) as edits:
        for step in report.STEPS:
            make_change(step, edits, newest)
            record(res, size, step, run, feeds_build(size, out, cache, step, run, args.timeout))
            if step == "cold" and run == 1 and size.converted:
                check(res, size.n, "feeds cold build", peers.check_feeds_output(out, size.converted))
        if args.validate and run == 1:
            validate(res, size.n, out, args.shared)
    record(res, size, "watch_one_changed", run, feeds_watch(size, out, cache, newest[0], run, args.timeout))
    shutil.rmtree(cache, ignore_errors=True)


def feeds_watch(size: Size, out: Path, cache: Path, name: str, run: int, timeout: float) -> Sample:
    """`feeds build --watch` started on the site the rebuilds left; once its first build is done
    and it watches, the newest record is rewritten: the wall time is from that write to the
    summary line of the rebuild it set off.  The peak is the watching process's (VmHWM)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}
    env["FEEDS_CACHE_DIR"] = str(cache)
    log = size.log("watch_one_changed", run)
    cmd = [sys.executable, "-u", "-m", "feeds", "build", "--watch", "--timings", "--records",
           str(size.records), "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=size.home, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    assert proc.stdout is not None
    lines: list[str] = []
    killer = threading.Timer(timeout, os.killpg, (proc.pid, signal.SIGKILL))
    killer.start()

    def until(prefix: str) -> str:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if line.startswith(prefix):
                return line
        raise RuntimeError("the watching build ended: " + "".join(lines[-5:]))

    try:
        until("feeds written to")  # its first build, and it watches
        time.sleep(2)  # quiet, as between two edits by a person
        with workload.editing(size.records) as edits:
            started = time.perf_counter()
            edits.rewrite(name, "Watched:")
            until("read ")
            wall = time.perf_counter() - started
            until("phases: ")
        # (the undo is a change too: let its rebuild finish before the watch stops)
        until("phases: ")
        peak = _peak_kb(proc.pid)
        returncode = 0
    except RuntimeError:
        wall, peak, returncode = 0.0, 0, proc.poll() or 1
    finally:
        killer.cancel()
        os.killpg(proc.pid, signal.SIGTERM)  # (a background job without job control ignores SIGINT)
        proc.wait(timeout=60)
        log.write_text("".join(lines))
    return Sample(wall, peak, peak, returncode, "".join(lines[-4:]))


def _peak_kb(pid: int) -> int:
    """The resident high-water mark of a live process (KiB), 0 where /proc does not say."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    found = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(found.group(1)) if found else 0


def peers_run(size: Size, run: int, args: argparse.Namespace, res: report.Results) -> None:
    """One clean build of each peer, its output checked with count_feeds.py."""
    if size.converted is None:
        return
    for peer in size.peers:
        sample = peers.build_peer(peer, size.converted, size.log(peer.name, run), args.timeout)
        record(res, size, peer.name, run, sample)
        if sample.ok:
            check(res, size.n, f"{peer.name} run {run}", peers.check_peer(peer, size.converted,
                                                                           args.shared / "bench"))


def record(res: report.Results, size: Size, row: str, run: int, sample: Sample) -> None:
    """Keep a sample, echo it, and append it to work/results.jsonl."""
    res.samples[(size.n, row)].append(sample)
    status = "ok" if sample.ok else f"FAILED exit {sample.returncode}:\n{sample.output_tail}"
    print(f"N={size.n:,} run {run} {row}: {sample.wall_s:.2f} s, {sample.peak_kb / 1024:,.0f} MiB, "
          f"{status}", file=sys.stderr)
    line = {"time": time.time(), "N": size.n, "run": run, "row": row, "wall_s": sample.wall_s,
            "peak_kb": sample.peak_kb, "own_peak_kb": sample.own_peak_kb,
            "tree_pss_peak_kb": sample.tree_peak_kb, "rc": sample.returncode}
    with open(size.home.parent / "results.jsonl", "a") as f:
        f.write(json.dumps(line) + "\n")


def check(res: report.Results, n: int, what: str, problems: list[str]) -> None:
    """Note an output check: passed, or failed with what the output lacks."""
    if not problems:
        res.passed[n].append(what)
    else:
        res.notes.append(f"N = {n:,}: {what}: output check failed: {'; '.join(problems)}")
        print(res.notes[-1], file=sys.stderr)


def validate(res: report.Results, n: int, out: Path, shared: Path) -> None:
    """validate-feeds --skip w3c over feeds' output (after the last rebuild of the run)."""
    proc = subprocess.run([sys.executable, str(shared / "validate" / "validate-feeds"), "--skip", "w3c",
                           str(out)], capture_output=True, text=True)
    last = (proc.stdout.strip().splitlines() or ["no output"])[-1]
    res.notes.append(f"N = {n:,}: validate-feeds --skip w3c after the rebuilds: {last}")
    print(res.notes[-1], file=sys.stderr)


def about(all_peers: list[peers.Peer]) -> str:
    """The machine and tool versions."""
    versions = [peers.version(p) for p in all_peers]
    if not has_gnu_time():
        versions.append("no /usr/bin/time: own peak RSS from os.wait4")
    return report.machine(REPO, versions, os.getloadavg())


def main() -> None:
    """Run every size, print the section, and write it where asked."""
    args = parse_args()
    if importlib.util.find_spec("feeds") is None:
        sys.exit(f"run.py: {sys.executable} cannot import feeds; run it with the project's venv "
                 "(.venv/bin/python benchmarks/run.py)")
    args.work.mkdir(parents=True, exist_ok=True)
    res = report.Results()
    all_peers = available_peers(args, res)
    machine = about(all_peers)
    for n in args.sizes:
        size = prepare(n, args, all_peers, res)
        for run in range(1, (args.million_runs if n >= 1_000_000 else args.runs) + 1):
            feeds_run(size, run, args, res)
            peers_run(size, run, args, res)
    load = os.getloadavg()
    machine += f"\n- load average when it ended: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    text = report.section(res, args.sizes, args.runs, machine, args.million_runs)
    print(text)
    if args.write_docs:
        written = report.write_section(REPO / "docs" / "benchmarks.md", text,
                                       REPO / "benchmarks" / "RESULTS.md")
        print(f"wrote {written}", file=sys.stderr)


if __name__ == "__main__":
    main()
