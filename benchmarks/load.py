#!/usr/bin/env python3
"""Load benchmark: the live server (``feeds serve --workers 2``) against nginx serving the static export.

Not a test.  For each store (the seeds, the real corpus in ../shared, and a
generated corpus of --n records) it builds the static export, serves it with
nginx and serves the same store live with ``feeds serve --workers 2`` (granian; ``--live gunicorn``
for ``gunicorn -w 2 wsgi:app``), both on
127.0.0.1, and drives each with ``wrk`` for three cases on the store's largest
topic feed: a full 200, a full 200 gzipped (what feed readers ask for), and a
conditional poll answered 304.  It prints requests per second and latency
percentiles side by side, with live ÷ nginx as a ratio against the issue's goals, as a Markdown table.

Then, on the generated store, it measures the live server's start on a store
it has seen before (warm record cache) to its first feed, and its memory
(VmRSS and PSS of the server's master and workers) at that moment and after
every feed path was served once; with Hugo installed, Hugo's peak RSS building
the same corpus (through ../shared/bench/convert.py) for comparison.

    .venv/bin/python benchmarks/load.py                 # seeds, corpus, N = 10,000
    .venv/bin/python benchmarks/load.py --n 100000      # the benchmark corpus
    .venv/bin/python benchmarks/load.py --duration 4 --no-hugo --n 1000   # a quick look

Every process it starts listens on 127.0.0.1 only, runs under a time limit,
and is stopped (its own process group, by id) when the benchmark ends or fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / ".." / "shared"
CORPUS = SHARED / "corpus" / "powerapps"
GEN_CORPUS = REPO / "benchmarks" / "gen_corpus.py"  # the generator of the build benchmark (run.py)
CONVERT = SHARED / "bench" / "convert.py"
VENV_BIN = REPO / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable
START_TIMEOUT = 900.0  # a cold start of 100,000 records parses the store in every worker
FEED_TYPES = {"atom": "application/atom+xml", "rss": "application/rss+xml",
              "json": "application/feed+json", "html": "text/html", "opml": "text/x-opml",
              "js": "text/javascript"}


# -- processes -----------------------------------------------------------------------------


@dataclass
class Proc:
    """A process this benchmark started, in its own process group."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)  # our own group: the server and its workers
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=15)


@dataclass
class Procs:
    """Every process started, so that all are stopped whatever happens."""

    running: list[Proc] = field(default_factory=list)

    def start(self, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None,
              cwd: Path | None = None) -> Proc:
        with log.open("ab") as sink:
            popen = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env, cwd=cwd, start_new_session=True)
        proc = Proc(name, popen, log)
        self.running.append(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        proc.stop()
        if proc in self.running:
            self.running.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(self.running):
            proc.stop()
        self.running.clear()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def fetch(url: str, headers: dict[str, str] | None = None, timeout: float = 30
          ) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, _lower(response.headers.items()), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, _lower(exc.headers.items()), exc.read()


def _lower(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers by lower-case name: granian sends them in lower case, nginx and gunicorn capitalized."""
    return {name.lower(): value for name, value in headers}


def wait_for(url: str, proc: Proc, timeout: float = START_TIMEOUT) -> float:
    """Seconds until `url` answers 200 (counted by the caller's clock); fails with the log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}):\n{tail(proc.log)}")
        try:
            if fetch(url, timeout=timeout)[0] == 200:
                return time.monotonic()
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"{proc.name} did not answer {url} within {timeout:.0f}s:\n{tail(proc.log)}")


def tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-chars:]
    except OSError:
        return ""


def run(argv: list[str], timeout: float, env: dict[str, str] | None = None, cwd: Path | None = None
        ) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd,
                          check=False)
    if done.returncode != 0:
        output = done.stdout[-2000:] + done.stderr[-2000:]
        raise RuntimeError(f"{argv[0]} failed ({done.returncode}):\n{output}")
    return done


# -- the servers ---------------------------------------------------------------------------


def feeds_env(records: Path, base_url: str, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}
    env.update(FEEDS_RECORDS=str(records), FEEDS_BASE_URL=base_url, FEEDS_CACHE_DIR=str(cache))
    return env


def build_static(records: Path, out: Path, base_url: str, cache: Path) -> None:
    """`feeds build --precompress` of `records` into `out`: a .gz (and .br) beside every file, which
    nginx's gzip_static sends as they are."""
    run([PYTHON, "-m", "feeds", "build", "--records", str(records), "--out", str(out),
         "--base-url", base_url, "--precompress"], timeout=1800, env=feeds_env(records, base_url, cache),
        cwd=out.parent)


NGINX_CONF = """\
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
{user}
events {{ worker_connections 4096; }}
http {{
    types {{
{types}
    }}
    default_type application/octet-stream;
    charset utf-8;
    charset_types {charset_types};
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    gzip_static on;
    etag on;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
{servers}
}}
"""
NGINX_SERVER = """\
    server {{
        listen 127.0.0.1:{port};
        root {root};
        add_header Cache-Control "public, max-age=300";
        add_header Vary Accept-Encoding;
    }}
"""


def start_nginx(procs: Procs, work: Path, sites: list[tuple[int, Path]], workers: int) -> Proc:
    """One nginx, one server block per (port, static export root)."""
    prefix = work / "nginx"
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    types = "\n".join(f"        {media} {ext};" for ext, media in FEED_TYPES.items())
    conf = NGINX_CONF.format(
        workers=workers, prefix=prefix, types=types,
        # root's workers would otherwise run as nobody, who cannot read a private temp folder
        user="user root;" if os.geteuid() == 0 else "",
        charset_types=" ".join(sorted(set(FEED_TYPES.values()))),
        servers="".join(NGINX_SERVER.format(port=port, root=root) for port, root in sites))
    (prefix / "nginx.conf").write_text(conf, encoding="utf-8")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    return procs.start("nginx", [nginx, "-c", str(prefix / "nginx.conf"), "-p", str(prefix),
                                 "-e", str(prefix / "error.log"), "-g", "daemon off;"],
                       work / "nginx.log")


LOAD = {"start": "?"}
GUNICORN_EXTRA: list[str] = []  # --gunicorn-args, e.g. "-k gthread --threads 8"


def gunicorn_exe() -> str:
    """gunicorn beside the Python running this (its venv), else the repository's venv's, else PATH's."""
    for candidate in (Path(sys.executable).parent / "gunicorn", VENV_BIN / "gunicorn"):
        if candidate.exists():
            return str(candidate)
    return shutil.which("gunicorn") or "gunicorn"


def gunicorn_argv(port: int, workers: int) -> list[str]:
    return [gunicorn_exe(), "-w", str(workers), "-b", f"127.0.0.1:{port}", *GUNICORN_EXTRA, "wsgi:app"]


def live_argv(kind: str, port: int, workers: int) -> tuple[list[str], Path | None]:
    """The command (and working folder) of a live server: "production" is ``feeds serve --workers N``
    (granian), "gunicorn" is ``gunicorn -w N wsgi:app``, "development" is plain ``feeds serve``."""
    if kind == "gunicorn":
        return gunicorn_argv(port, workers), REPO
    extra = ["--workers", str(workers)] if kind == "production" else []
    return [PYTHON, "-m", "feeds", "serve", "--port", str(port), *extra], None


def live_label(kind: str, workers: int) -> str:
    return {"production": f"feeds serve --workers {workers}", "gunicorn": f"gunicorn -w {workers}",
            "development": "feeds serve"}[kind]


def start_live(procs: Procs, work: Path, name: str, records: Path, port: int, cache: Path,
               kind: str, workers: int) -> Proc:
    env = feeds_env(records, f"http://127.0.0.1:{port}/", cache)
    argv, cwd = live_argv(kind, port, workers)
    return procs.start(f"{kind} {name}", argv, work / f"{kind}-{name}.log", env=env, cwd=cwd or work)


# -- wrk -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    rps: float
    p50: float  # milliseconds
    p90: float
    p99: float
    errors: str


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"wrk latency {text!r}")
    return float(match[1]) * _UNITS[match[2]]


def wrk(url: str, headers: dict[str, str], args: argparse.Namespace) -> Result:
    argv = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency",
            "--timeout", "10s"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    out = run([*argv, url], timeout=args.duration + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    pct = {p: _ms(m) for p, m in re.findall(r"^\s+(50|90|99)%\s+(\S+)", out, re.M)}
    problems = [line.strip() for line in out.splitlines()
                if "Non-2xx" in line or "Socket errors" in line]
    return Result(rps, pct["50"], pct["90"], pct["99"], "; ".join(problems))


# -- one store: static against live ----------------------------------------------------------


@dataclass
class Row:
    store: str
    case: str
    path: str
    size: int
    nginx: Result  # the median run (by requests per second) of each server
    live: Result
    ratios: list[float] = field(default_factory=list)  # live ÷ nginx in each round


TARGETS = {"200": 0.5, "200 gzip": 0.5, "304": 0.33}  # live ÷ nginx, requests per second (issue #14)


def median_run(results: list[Result]) -> Result:
    return sorted(results, key=lambda r: r.rps)[len(results) // 2]


CASES: tuple[tuple[str, dict[str, str]], ...] = (
    ("200", {}), ("200 gzip", {"Accept-Encoding": "gzip"}), ("304", {}))


def largest_topic(out: Path) -> str:
    topics = sorted((out / "topics").glob("*.atom"), key=lambda p: (-p.stat().st_size, p.name))
    if not topics:
        raise RuntimeError(f"{out}: the build wrote no topic feed")
    return f"topics/{topics[0].name}"


def check_case(url: str, case: str, headers: dict[str, str]) -> dict[str, str]:
    """The headers wrk sends for `case` at `url`, after checking the server answers as expected."""
    status, got, _ = fetch(url, headers)
    assert status == 200, (url, status)
    if case == "304":
        headers = {"If-None-Match": got["etag"]}
        status, _, body = fetch(url, headers)
        assert status == 304 and not body, (url, status)
    if case == "200 gzip":
        assert got.get("content-encoding") == "gzip", (url, got)
    return headers


def compare_store(procs: Procs, work: Path, name: str, records: Path, args: argparse.Namespace) -> list[Row]:
    """Build `records`, serve it with nginx and the live server, and wrk both for every case."""
    live_port, static_port = free_port(), free_port()
    base_url = f"http://127.0.0.1:{live_port}/"  # the same base URL: the same bytes from both
    cache = work / f"cache-{name}"
    out = work / f"static-{name}"
    started = time.monotonic()
    build_static(records, out, base_url, cache)
    print(f"[{name}] static export built in {time.monotonic() - started:.1f}s", file=sys.stderr)
    path = largest_topic(out)
    nginx = start_nginx(procs, work / f"nginx-{name}", [(static_port, out)], args.workers)
    live = start_live(procs, work, name, records, live_port, cache, args.live, args.workers)
    try:
        nginx_url, live_url = f"http://127.0.0.1:{static_port}/{path}", base_url + path
        wait_for(nginx_url, nginx)
        wait_for(live_url, live)
        static_body, live_body = fetch(nginx_url)[2], fetch(live_url)[2]
        if static_body != live_body:
            raise RuntimeError(f"{name}: /{path} differs between nginx and {args.live}")
        rows: list[Row] = []
        for case, headers in CASES:
            results: dict[str, list[Result]] = {"live": [], "nginx": []}
            ratios = []
            for round_ in range(args.runs):
                # The live server first in one round, nginx first in the next: neither always runs on
                # a warmer machine.
                order = ("live", "nginx") if (round_ + len(rows)) % 2 == 0 else ("nginx", "live")
                for server in order:
                    url = live_url if server == "live" else nginx_url
                    results[server].append(wrk(url, check_case(url, case, dict(headers)), args))
                    print(f"[{name}] {case} {server}: {results[server][-1].rps:,.0f} req/s", file=sys.stderr)
                ratios.append(results["live"][-1].rps / results["nginx"][-1].rps)
            rows.append(Row(name, case, "/" + path, len(live_body), median_run(results["nginx"]),
                            median_run(results["live"]), ratios))
        return rows
    finally:
        procs.stop(live)
        procs.stop(nginx)


# -- start-up and memory on a large store --------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo.extend(int(c) for c in (task / "children").read_text().split())
    return pids


def memory_mb(pid: int) -> tuple[float, float, int]:
    """(sum of VmRSS, sum of PSS) in MB over `pid` and its descendants, and how many processes."""
    rss = pss = 0
    pids = process_tree(pid)
    for current in pids:
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{current}/status").read_text()
            rss += int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)[1])  # type: ignore[index]
        with contextlib.suppress(OSError):
            rollup = Path(f"/proc/{current}/smaps_rollup").read_text()
            pss += int(re.search(r"^Pss:\s+(\d+) kB", rollup, re.M)[1])  # type: ignore[index]
    return rss / 1024, pss / 1024, len(pids)


@dataclass
class Startup:
    server: str
    cold_s: float
    warm_s: list[float]
    topic_s: float
    rss_first: float
    pss_first: float
    processes: int
    all_paths: int
    all_s: float
    rss_all: float
    pss_all: float


def feed_paths(base_url: str) -> list[str]:
    """Every feed path of the live site, from its OPML (atom) and the other formats beside each."""
    status, _, body = fetch(base_url + "feeds.opml")
    assert status == 200, status
    atoms = [url[len(base_url):] for url in re.findall(r'xmlUrl="([^"]+)"', body.decode("utf-8"))]
    return [atom[: -len(".atom")] + ext for atom in atoms for ext in (".atom", ".rss", ".json")]


def measure_startup(procs: Procs, work: Path, records: Path, label: str, server: str,
                    args: argparse.Namespace) -> Startup:
    """Cold start (empty record cache), then warm starts on the same cache: to first feed and memory."""
    cache = work / f"cache-start-{label}-{server}"
    shutil.rmtree(cache, ignore_errors=True)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/"
    env = feeds_env(records, base_url, cache)
    argv, where = live_argv(server, port, args.workers)
    cwd = where or work
    times = []
    for attempt in range(1 + args.starts):
        began = time.monotonic()
        proc = procs.start(f"{server} {label}", argv, work / f"start-{label}-{server}.log", env=env, cwd=cwd)
        try:
            times.append(wait_for(base_url + "feed.atom", proc) - began)
            if attempt < args.starts:
                continue
            topic_began = time.monotonic()
            topic = next(p for p in feed_paths(base_url) if p.startswith("topics/"))
            status = fetch(base_url + topic)[0]
            topic_s = time.monotonic() - topic_began
            assert status == 200, (topic, status)
            time.sleep(0.5)  # let every worker finish loading before reading memory
            rss_first, pss_first, count = memory_mb(proc.popen.pid)
            paths = feed_paths(base_url)
            all_began = time.monotonic()
            for path in paths:
                status = fetch(base_url + path, {"Accept-Encoding": "gzip"})[0]
                assert status == 200, (path, status)
            all_s = time.monotonic() - all_began
            rss_all, pss_all, _ = memory_mb(proc.popen.pid)
        finally:
            procs.stop(proc)
    return Startup(server, times[0], times[1:], topic_s, rss_first, pss_first, count, len(paths), all_s,
                   rss_all, pss_all)


def hugo_peak_rss(work: Path, records: Path) -> tuple[float, float] | None:
    """(peak RSS MB, wall s) of Hugo building the same corpus, or None without Hugo or convert.py."""
    hugo = shutil.which("hugo")
    if hugo is None or not CONVERT.is_file() or not Path("/usr/bin/time").exists():
        return None
    peers = work / "peers"
    shutil.rmtree(peers, ignore_errors=True)
    peers.mkdir()
    run([PYTHON, str(CONVERT), "--corpus", str(records), "--out", str(peers)], timeout=1800)
    timing = peers / "hugo-time.txt"
    run(["/usr/bin/time", "-v", "-o", str(timing), hugo, "--source", ".", "--destination", "public"],
        timeout=1800, cwd=peers / "hugo")
    text = timing.read_text()
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)[1]) / 1024  # type: ignore[index]
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text)[1]  # type: ignore[index]
    seconds = 0.0
    for part in wall.split(":"):
        seconds = seconds * 60 + float(part)
    return rss, seconds


# -- report --------------------------------------------------------------------------------


def machine() -> list[str]:
    def first(cmd: list[str]) -> str:
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
            return (done.stdout + done.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"

    cpu = "?"
    with contextlib.suppress(OSError):
        cpu = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)[1]  # type: ignore[index]
    mem = "?"
    with contextlib.suppress(OSError):
        kb = int(re.search(r"^MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text(), re.M)[1])  # type: ignore[index]
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    return [
        f"- machine: {cpu}, {os.cpu_count()} CPUs, {mem} RAM, Linux {platform.release()}",
        f"- Python {platform.python_version()}; {first([PYTHON, '-m', 'granian', '--version'])}; "
        f"{first([gunicorn_exe(), '--version'])}; "
        f"{first(['nginx', '-v'])}; {first(['wrk', '-v'])}",
    ]


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine skews every number here."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def wait_quiet(limit: float, seconds: float) -> None:
    """Wait (up to `seconds`) until the 1-minute load average is under `limit`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            if float(Path("/proc/loadavg").read_text().split()[0]) < limit:
                return
        time.sleep(5)
    print(f"the machine is busy (load {loadavg()}): numbers will be low and noisy", file=sys.stderr)


def fmt_result(r: Result) -> str:
    return f"{r.rps:,.0f} | {r.p50:.2f} / {r.p90:.2f} / {r.p99:.2f}"


def report(rows: list[Row], startups: list[tuple[int, Startup]], hugo: dict[int, tuple[float, float]],
           args: argparse.Namespace) -> str:
    extra = f" (gunicorn {args.gunicorn_args})" if args.gunicorn_args and args.live == "gunicorn" else ""
    live = live_label(args.live, args.workers)
    lines = [f"### Serving: `{live}` (live) against nginx (static export)", "",
             f"`wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency`, nginx with "
             f"{args.workers} worker processes{extra}, wrk on the same machine; {args.runs} rounds per "
             "case, the servers' order alternating; the median round of each server (by req/s) with its "
             "latency in ms; the ratio is the median of the rounds' ratios.", "",
             "| store | feed | case | nginx req/s | nginx p50 / p90 / p99 | live req/s "
             "| live p50 / p90 / p99 | live ÷ nginx (range) | goal | |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for row in rows:
        ratio = statistics.median(row.ratios)
        goal = TARGETS[row.case]
        lines.append(f"| {row.store} | `{row.path}` ({row.size / 1024:.0f} KB) | {row.case} | "
                     f"{fmt_result(row.nginx)} | {fmt_result(row.live)} | "
                     f"{ratio:.2f} ({min(row.ratios):.2f}–{max(row.ratios):.2f}) | ≥ {goal} | "
                     f"{'met' if ratio >= goal else '**not met**'} |")
    problems = [f"- {row.store} {row.case} {name}: {r.errors}" for row in rows
                for name, r in (("nginx", row.nginx), (live, row.live)) if r.errors]
    if problems:
        lines += ["", "wrk reported:", *problems]
    if startups:
        lines += ["", "### Start-up and memory", "",
                  "Start: seconds from starting the server to the first 200 on `/feed.atom`; *cold* with an "
                  "empty record cache, *warm* on a store it has seen before (median of the warm starts). "
                  "Memory: VmRSS summed over the server's processes (PSS, which counts shared pages once, "
                  "in brackets), at the first feed and after every feed path was served once.", "",
                  "| records | server | processes | cold start s | warm start s | then a topic feed s "
                  "| MB at first feed | every feed path once | MB after |",
                  "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for n, s in startups:
            warm = statistics.median(s.warm_s)
            lines.append(f"| {n:,} | {live_label(s.server, args.workers)} | {s.processes} | {s.cold_s:.2f} "
                         f"| {warm:.2f} "
                         f"({min(s.warm_s):.2f}–{max(s.warm_s):.2f}) | {s.topic_s:.3f} "
                         f"| {s.rss_first:,.0f} ({s.pss_first:,.0f}) "
                         f"| {s.all_paths:,} paths, {s.all_s:.1f} s "
                         f"| {s.rss_all:,.0f} ({s.pss_all:,.0f}) |")
        for n, (rss, wall) in sorted(hugo.items()):
            lines.append(f"\nHugo building the same {n:,} records: peak RSS {rss:,.0f} MB ({wall:.1f} s); "
                         f"half of it is {rss / 2:,.0f} MB.")
    lines += ["", *machine(), f"- load average (1/5/15 min) at start: {LOAD['start']}; at end: {loadavg()}"]
    return "\n".join(lines)


# -- main ----------------------------------------------------------------------------------


def stores(work: Path, args: argparse.Namespace) -> Iterator[tuple[str, Path]]:
    seeds = work / "records-seeds"
    shutil.copytree(REPO / "seeds", seeds)
    yield "seeds", seeds
    if CORPUS.is_dir():
        corpus = work / "records-corpus"
        shutil.copytree(CORPUS, corpus)
        yield "corpus", corpus
    else:
        print(f"{CORPUS} is absent: the corpus rows are left out", file=sys.stderr)


def generated(work: Path, n: int, root: Path | None) -> Path:
    """The generated store of `n` records: run.py's `ROOT/N/corpus` when it exists (only read), else made."""
    if root is not None and (root / str(n) / "corpus").is_dir():
        print(f"[{n}] reusing {root / str(n) / 'corpus'}", file=sys.stderr)
        return root / str(n) / "corpus"
    folder = work / f"records-{n}"
    if not folder.is_dir():
        began = time.monotonic()
        run([PYTHON, str(GEN_CORPUS), "--n", str(n), "--seed", "1", "--out", str(folder)], timeout=3600)
        print(f"[{n}] generated in {time.monotonic() - began:.1f}s", file=sys.stderr)
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, action="append",
                        help="generated store size for start-up and memory (repeatable; default 10000)")
    parser.add_argument("--load-n", action="store_true",
                        help="also run the nginx/live comparison on the generated stores")
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="live server workers, nginx worker processes")
    parser.add_argument("--live", choices=("production", "gunicorn"), default="production",
                        help="live server: `feeds serve --workers N` (default) or `gunicorn -w N wsgi:app`")
    parser.add_argument("--runs", type=int, default=3, help="rounds of each case (medians are reported)")
    parser.add_argument("--gunicorn-args", default="",
                        help="extra gunicorn options, e.g. '-k gthread --threads 8' (default: sync workers)")
    parser.add_argument("--starts", type=int, default=3, help="warm starts measured per store")
    parser.add_argument("--no-hugo", action="store_true", help="skip Hugo's build of the generated store")
    parser.add_argument("--no-load", action="store_true", help="skip the wrk comparison")
    parser.add_argument("--wait-quiet", type=float, default=600,
                        help="seconds to wait for a 1-minute load average under 0.5 before starting")
    parser.add_argument("--corpus-root", type=Path, default=Path("/tmp/feeds-bench"),
                        help="reuse ROOT/N/corpus made by run.py (same generator, --seed 1) when it is there")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one, removed)")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()
    sizes = args.n or [10_000]
    GUNICORN_EXTRA[:] = args.gunicorn_args.split()
    for tool in ("wrk", "nginx"):
        if not args.no_load and shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            parser.error(f"{tool} is not installed (apt-get install {tool})")

    wait_quiet(0.5, args.wait_quiet)
    LOAD["start"] = loadavg()
    work = args.work or Path(tempfile.mkdtemp(prefix="feeds-load-"))
    work.mkdir(parents=True, exist_ok=True)
    procs = Procs()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rows: list[Row] = []
    startups: list[tuple[int, Startup]] = []
    hugo: dict[int, tuple[float, float]] = {}
    try:
        if not args.no_load:
            for name, records in stores(work, args):
                rows += compare_store(procs, work, name, records, args)
        for n in sizes:
            records = generated(work, n, args.corpus_root)
            if args.load_n and not args.no_load:
                rows += compare_store(procs, work, f"N={n:,}", records, args)
            for server in (args.live, "development"):
                startups.append((n, measure_startup(procs, work, records, str(n), server, args)))
                print(f"[{n}] {server}: warm start {startups[-1][1].warm_s}", file=sys.stderr)
            if not args.no_hugo:
                peak = hugo_peak_rss(work, records)
                if peak:
                    hugo[n] = peak
    finally:
        procs.stop_all()
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    table = report(rows, startups, hugo, args)
    print(table)
    if args.json:
        args.json.write_text(json.dumps({"rows": [row.__dict__ | {"nginx": row.nginx.__dict__,
                                                                  "live": row.live.__dict__} for row in rows],
                                         "startups": [{"n": n, **s.__dict__} for n, s in startups],
                                         "hugo": hugo}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
