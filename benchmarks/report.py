"""Turn measured samples into Markdown: the machine, a table of medians, the targets."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import statistics
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from measure import Sample

START, END = "<!-- bench:start -->", "<!-- bench:end -->"
STEPS = {
    "cold": "cold build (empty out and cache)",
    "unchanged": "rebuild, nothing changed",
    "one_changed": "rebuild, 1 record changed",
    "hundred_changed": "rebuild, 100 records changed",
    "one_deleted": "rebuild, 1 record deleted",
}
# `feeds build --watch`: from writing the newest record to the end of the rebuild that follows
# (its summary line), the builder resident with its catalog open and the folder watched.
WATCHING = {"watch_one_changed": "watching (`build --watch`), 1 record changed: write → rebuilt"}
PEERS = {"hugo": "Hugo, full build", "pelican": "Pelican, full build"}
# (label, feeds row or "peak" for the largest peak of the five builds, limit over Hugo)
TARGETS = (
    ("cold build time", "cold", 1.0),
    ("no-change rebuild time", "unchanged", 0.03),
    ("newest-record-changed rebuild time", "one_changed", 0.03),
    ("newest-record-changed rebuild time, watching", "watch_one_changed", 0.03),
    ("peak memory, largest of the five builds", "peak", 0.3),
)
MILLION_TIME = 12.0  # 1,000,000 records: cold time at most this many times the 100,000 one
MILLION_PEAK_MIB = 2048.0
PHASE = re.compile(r"phases: (.*)")


@dataclass
class Results:
    """Every sample by (N, row), and notes (skips, failed checks) to print under the table."""

    samples: dict[tuple[int, str], list[Sample]] = field(default_factory=lambda: defaultdict(list))
    notes: list[str] = field(default_factory=list)
    passed: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))

    def median(self, n: int, row: str) -> tuple[float, float] | None:
        """(median wall s, median peak MiB) over the successful samples, or None."""
        ok = [s for s in self.samples.get((n, row), []) if s.ok]
        if not ok:
            return None
        return statistics.median(s.wall_s for s in ok), statistics.median(s.peak_kb for s in ok) / 1024

    def peak(self, n: int) -> float | None:
        """The largest median peak MiB of feeds' five builds."""
        peaks = [m[1] for row in (*STEPS, *WATCHING) if (m := self.median(n, row))]
        return max(peaks) if peaks else None


def _changed(samples: list[Sample]) -> str:
    """How many files the last successful build says it changed (from its summary line)."""
    for s in reversed(samples):
        found = re.search(r"(\d[\d,]*) changed", s.output_tail)
        if s.ok and found:
            return f"{int(found.group(1).replace(',', '')):,}"
    return "–"


def _secs(s: float) -> str:
    return f"{s:.2f}" if s < 100 else f"{s:,.0f}"


def _ratio(ours: float | None, theirs: float | None) -> str:
    return f"{ours / theirs:.3f}×" if ours is not None and theirs else "–"


def _row(res: Results, n: int, row: str, label: str) -> str:
    """One table row: medians, files changed, ratios over the peers."""
    samples = res.samples.get((n, row), [])
    mine = res.median(n, row)
    if mine is None:
        why = f"failed (exit {samples[-1].returncode})" if samples else "not run"
        return f"| {n:,} | {label} | {why} | | | | | |"
    hugo, pelican = res.median(n, "hugo"), res.median(n, "pelican")
    if row in PEERS:
        return f"| {n:,} | {label} | {_secs(mine[0])} | {mine[1]:,.0f} | | | | |"
    return (f"| {n:,} | {label} | {_secs(mine[0])} | {mine[1]:,.0f} | {_changed(samples)} "
            f"| {_ratio(mine[0], hugo and hugo[0])} | {_ratio(mine[0], pelican and pelican[0])} "
            f"| {_ratio(mine[1], hugo and hugo[1])} |")


def results_table(res: Results, sizes: list[int]) -> str:
    """Medians per N and build, with feeds' time and memory over the peers'."""
    lines = ["| N | build | wall s | peak MiB | files changed | time ÷ Hugo | time ÷ Pelican "
             "| peak ÷ Hugo |", "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for n in sizes:
        lines += [_row(res, n, row, label) for row, label in {**STEPS, **WATCHING, **PEERS}.items()]
    return "\n".join(lines)


def _target_rows(res: Results, n: int) -> list[str]:
    """The issue's targets for one N, as ratios over Hugo."""
    hugo = res.median(n, "hugo")
    rows = []
    for label, row, limit in TARGETS:
        ours = res.peak(n) if row == "peak" else (m[0] if (m := res.median(n, row)) else None)
        theirs = (hugo[1] if row == "peak" else hugo[0]) if hugo else None
        met = "–" if ours is None or not theirs else ("met" if ours / theirs <= limit else "**not met**")
        rows.append(f"| {n:,} | {label} | {_ratio(ours, theirs)} | ≤ {limit}× | {met} |")
    return rows


def _growth_rows(res: Results, small: int, large: int) -> list[str]:
    """The million-record targets: cold time over the `small` one, and peak memory."""
    a, b = res.median(small, "cold"), res.median(large, "cold")
    peak = res.peak(large)
    rows = []
    if a and b:
        met = "met" if b[0] / a[0] <= MILLION_TIME else "**not met**"
        rows.append(f"| {large:,} | cold build time ÷ the {small:,} one | {b[0] / a[0]:.2f}× "
                    f"| ≤ {MILLION_TIME:g}× | {met} |")
    if peak is not None:
        met = "met" if peak <= MILLION_PEAK_MIB else "**not met**"
        rows.append(f"| {large:,} | peak memory, largest of the five builds | {peak:,.0f} MiB "
                    f"| ≤ {MILLION_PEAK_MIB:,.0f} MiB | {met} |")
    return rows


def phases(samples: list[Sample]) -> dict[str, float]:
    """The median seconds of each phase over these builds (from their `--timings` line)."""
    found: dict[str, list[float]] = defaultdict(list)
    for sample in samples:
        line = PHASE.search(sample.output_tail)
        if sample.ok and line:
            for part in line.group(1).split(", "):
                name, _, secs = part.rpartition(" ")
                found[name].append(float(secs.rstrip("s")))
    return {name: statistics.median(values) for name, values in found.items()}


def phases_table(res: Results, sizes: list[int]) -> str:
    """Where a cold build's time goes, phase by phase (medians)."""
    names = ("scan", "read", "catalog", "plan", "render", "write")
    lines = ["| N | build | " + " | ".join(names) + " |", "|---:|---|" + "---:|" * len(names)]
    for n in sizes:
        for row in ("cold", "unchanged", "one_changed", "watch_one_changed"):
            found = phases(res.samples.get((n, row), []))
            if found:
                lines.append(f"| {n:,} | {({**STEPS, **WATCHING})[row]} | " + " | ".join(
                    f"{found.get(name, 0.0):.2f}" for name in names) + " |")
    return "\n".join(lines)


def targets_table(res: Results, sizes: list[int]) -> str:
    """Met / not met for each target at each N (the issue sets them at 100,000)."""
    lines = ["| N | target | feeds ÷ Hugo | goal | |", "|---:|---|---:|---:|---|"]
    for n in sizes:
        lines += _target_rows(res, n)
    if 100_000 in sizes and 1_000_000 in sizes:
        lines += _growth_rows(res, 100_000, 1_000_000)
    return "\n".join(lines)


def _meminfo_gib() -> str:
    try:
        kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
    except (OSError, IndexError, ValueError):
        return "?"
    return f"{kb / 1024**2:.1f} GiB"


def _cpu_model() -> str:
    try:
        line = Path("/proc/cpuinfo").read_text().split("model name", 1)[1].split("\n", 1)[0]
        return line.split(":", 1)[1].strip()
    except (OSError, IndexError):
        return platform.processor() or "?"


def _revision(repo: Path) -> str:
    out = subprocess.run(["git", "-C", str(repo), "describe", "--always", "--dirty"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "?"


def machine(repo: Path, peer_versions: list[str], load: tuple[float, float, float]) -> str:
    """Where and when this ran, as a Markdown list."""
    return "\n".join([
        f"- started {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, feeds at `{_revision(repo)}`",
        f"- {os.cpu_count()} cores ({_cpu_model()}), {_meminfo_gib()} RAM, {platform.platform()}",
        "- " + "; ".join([f"Python {platform.python_version()}", *peer_versions]),
        f"- load average when the run started: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
    ])


def section(res: Results, sizes: list[int], runs: int, about: str, million_runs: int = 1) -> str:
    """The whole benchmark section."""
    passed = [f"N = {n:,}: output holds the expected feeds and entries: {', '.join(what)}"
              for n, what in res.passed.items()]
    notes = "\n".join(f"- {note}" for note in [*res.notes, *passed])
    return (f"### Benchmark\n\n{about}\n\nMedians of {runs} run(s) "
            f"({f'{million_runs} at 1,000,000; ' if 1_000_000 in sizes else ''}"
            f"wall seconds and peak memory "
            f"(MiB) of each build as a subprocess); `benchmarks/README.md` says what each row means.\n\n"
            f"{results_table(res, sizes)}\n\nTargets (the issue sets them at 100,000 records):\n\n"
            f"{targets_table(res, sizes)}\n\nWhere the time goes (median seconds per phase: listing the "
            f"folder, reading and parsing the changed files, writing the catalog, planning, making the "
            f"files, writing them):\n\n{phases_table(res, sizes)}\n"
            + (f"\nNotes:\n\n{notes}\n" if notes else ""))


def write_section(doc: Path, text: str, fallback: Path, start: str = START, end: str = END) -> Path:
    """Replace the text between the markers `start` and `end` in `doc` (docs/benchmarks.md, where every
    measurement is kept; the README is a user's guide); without them, write `fallback`."""
    content = doc.read_text(encoding="utf-8") if doc.exists() else ""
    if start in content and end in content.split(start, 1)[1]:
        head, rest = content.split(start, 1)
        doc.write_text(f"{head}{start}\n{text}\n{end}{rest.split(end, 1)[1]}", encoding="utf-8")
        return doc
    print(f"warning: no {start} ... {end} markers in {doc}; writing {fallback} instead")
    fallback.write_text(f"# Benchmark results\n\n{start}\n{text}\n{end}\n", encoding="utf-8")
    return fallback
