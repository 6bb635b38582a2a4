"""Time one command as a subprocess: wall clock and peak memory.

Wall time is `time.perf_counter` around the child, from spawn to reap.
Peak memory is the larger of two figures, both in KiB:

- the child's own peak RSS: `/usr/bin/time -f '%e %M'` (Debian package
  `time`) when it is installed, else the `ru_maxrss` that `os.wait4` returns
  for that one child (the per-child form of `getrusage(RUSAGE_CHILDREN)`).
  Either is the peak of the *largest single process* of the tree;
- the sum of PSS (proportional set size: a page shared by k processes
  counts 1/k in each) over the child's whole process tree, sampled every
  SAMPLE_S seconds from /proc/PID/smaps_rollup, so a build that parses in
  worker processes is charged for all of them, and shared pages once.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

TIME_BIN = "/usr/bin/time"
SAMPLE_S = 0.2


@dataclass(frozen=True)
class Sample:
    """One measured command: wall seconds, both peaks (KiB), exit status and its output's tail."""

    wall_s: float
    own_peak_kb: int
    tree_peak_kb: int
    returncode: int
    output_tail: str

    @property
    def peak_kb(self) -> int:
        """The peak memory reported: the larger of the two figures."""
        return max(self.own_peak_kb, self.tree_peak_kb)

    @property
    def ok(self) -> bool:
        """Whether the command exited 0."""
        return self.returncode == 0


def has_gnu_time() -> bool:
    """Whether /usr/bin/time is GNU time (it takes -f and -o)."""
    return shutil.which(TIME_BIN) is not None


def _children() -> dict[int, list[int]]:
    """parent pid -> child pids, for every process visible in /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def _pss_kb(pid: int) -> int:
    """A process's proportional set size, 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def tree_pss_kb(root: int, include_root: bool) -> int:
    """Sum of PSS over the descendants of `root` (and root itself when asked)."""
    children = _children()
    total, todo = _pss_kb(root) if include_root else 0, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        total += _pss_kb(pid)
        todo.extend(children.get(pid, []))
    return total


class TreeSampler(threading.Thread):
    """Polls the PSS of a process tree until stopped; `peak_kb` is the largest sum seen."""

    def __init__(self, root: int, include_root: bool) -> None:
        super().__init__(daemon=True)
        self.root, self.include_root, self.peak_kb = root, include_root, 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        """Sample until `stop` is called."""
        while not self._stop_event.wait(SAMPLE_S):
            self.peak_kb = max(self.peak_kb, tree_pss_kb(self.root, self.include_root))

    def stop(self) -> int:
        """Stop sampling and return the peak."""
        self._stop_event.set()
        self.join()
        return self.peak_kb


def _time_file_peak(path: Path) -> int | None:
    """%M from GNU time's output file (its last line is '%e %M'), if readable."""
    try:
        last = path.read_text().strip().splitlines()[-1].split()
        return int(last[1])
    except (OSError, IndexError, ValueError):
        return None


def _tail(log: Path, lines: int = 5) -> str:
    """The last lines of a log file."""
    try:
        return "\n".join(log.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def run_measured(cmd: list[str], cwd: Path, env: dict[str, str], log: Path,
                 timeout_s: float) -> Sample:
    """Run cmd (stdout and stderr to `log`), killing its process group after timeout_s."""
    timefile = log.with_suffix(".time")
    use_time = has_gnu_time()
    full = [TIME_BIN, "-f", "%e %M", "-o", str(timefile), *cmd] if use_time else cmd
    with open(log, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(full, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        sampler = TreeSampler(proc.pid, include_root=not use_time)
        sampler.start()
        killer = threading.Timer(timeout_s, os.killpg, (proc.pid, signal.SIGKILL))
        killer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        killer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
    tree_peak = sampler.stop()
    own_peak = _time_file_peak(timefile) if use_time else usage.ru_maxrss
    return Sample(wall, own_peak or 0, tree_peak, proc.returncode, _tail(log))
