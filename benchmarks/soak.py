#!/usr/bin/env python3
"""Soak: the live server under many polling clients while its record folder changes.

Not a benchmark: a bounded test run (default 3 minutes).  It copies a store
(the seeds and the real corpus in ../shared, or the seeds and a generated
store of --n records) into a temporary folder, starts the production server
``feeds serve --workers 2`` (granian) on 127.0.0.1 (with --servers also
``gunicorn -w 2 wsgi:app`` and the development server ``feeds serve``), and
runs --clients polling clients (threads in --procs processes, spread over the
servers) against it while a mutator rewrites, adds, deletes and unpublishes its
own records and drops broken ones into the folder.  Every response is checked,
and so is the memory (PSS) of each process of each server: the master and
every worker, none of which may be replaced during the run; see
benchmarks/SOAK.md for the rules.  It exits 1 when any check failed.

    .venv/bin/python benchmarks/soak.py                    # 3 minutes
    .venv/bin/python benchmarks/soak.py --duration 30      # a quick look
    .venv/bin/python benchmarks/soak.py --servers production,gunicorn,development
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import gzip
import hashlib
import http.client
import json
import multiprocessing
import os
import random
import re
import shlex
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import (
    CORPUS,
    GEN_CORPUS,
    PYTHON,
    REPO,
    Proc,
    Procs,
    feeds_env,
    free_port,
    gunicorn_argv,
    loadavg,
    machine,
    process_tree,
    run,
    tail,
    wait_for,
)

SOAK_KEYS = 30           # soak records soak_00.txt .. soak_29.txt, each with its own topic and provider
LAG = 2.5                # seconds a snapshot may trail the folder (inotify delivery, the 1 s poll fallback)
BROKEN_LOG_AFTER = 2.0   # a broken file that lived this long must have been logged
TITLE = re.compile(r"Soak record (\d+) g (\d+)\b")
EXCERPT = re.compile(r"Soak excerpt (\d+) g (\d+)\b")
IMAGE = re.compile(r"img\.soak\.example/(\d+)/(\d+)\.jpg")
SECRETS = ("SOAKSECRET", "NEVER-PUBLISHED")
FEED_EXT = (".atom", ".rss", ".json")
WARM_UP = 60.0           # seconds before memory is taken as the reference (the body caches fill)
MEMORY_GROWTH, MEMORY_SLACK_MB = 1.1, 10.0  # the end may exceed the reference by 10% + 10 MB (noise)


# -- the mutator ---------------------------------------------------------------------------


def soak_record(key: int, gen: int, published: bool = True) -> str:
    """Record `key` at generation `gen`: title, excerpt, image and parity topic all carry `gen`."""
    return f"""---
title: "Soak record {key} g {gen}"
excerpt: "Soak excerpt {key} g {gen}: the same generation as the title, or the body mixed two readings."
publishedDateTime: 2099-01-01T{key // 60:02d}:{key % 60:02d}:00Z
webUrl: "https://soak.example/story/{key}"
type: article
quality: {gen % 100}
heat: {(gen * 7) % 100}
published: {"true" if published else "false"}
provider:
  name: "Soak Provider {key}"
  domain: soak{key}.example
topics: [Soak, "Soak {key}", "Soak Parity {gen % 2}"]
images:
  - {{url: "https://img.soak.example/{key}/{gen}.jpg", width: 640, height: 360}}
secured: "SOAKSECRET-{key}-{gen}-{'x' * 40}"
---
"""


NEVER = [  # never published: none of these titles may appear in any body
    'title: "NEVER-PUBLISHED {n} false"\npublished: false\n',
    'title: "NEVER-PUBLISHED {n} string"\npublished: "true"\n',
    'title: "NEVER-PUBLISHED {n} yes"\npublished: yes\n',
    'title: "NEVER-PUBLISHED {n} missing"\n',
]
BROKEN: list[Callable[[], bytes]] = [  # skipped, with a problem in the server log naming the file
    lambda: b'---\ntitle: "Broken [unclosed\nexcerpt: : :\n  - bad\n---\n',
    lambda: b"---\nexcerpt: no title here\npublishedDateTime: 2099-02-01T00:00:00Z\n"
            b"webUrl: https://soak.example/broken\npublished: true\n---\n",
    lambda: os.urandom(700),
    lambda: b'---\ntitle: "Soak broken: no closing fence"\npublished: true\n',
]


@dataclass
class Ledger:
    """Every state of the soak records the folder passed through: (time, {key: generation})."""

    times: list[float] = field(default_factory=list)
    states: list[dict[int, int]] = field(default_factory=list)

    def add(self, state: dict[int, int]) -> None:
        self.times.append(time.monotonic())
        self.states.append(dict(state))

    def window(self, t0: float, t1: float) -> list[dict[int, int]]:
        """States possibly served to a request sent at t0 and answered by t1."""
        first = max(bisect.bisect_right(self.times, t0 - LAG) - 1, 0)
        last = bisect.bisect_right(self.times, t1)
        return self.states[first:last]


class Mutator(threading.Thread):
    """Changes the record folder every `interval` seconds, as bots do, and keeps the ledger."""

    def __init__(self, folder: Path, interval: float, seed: int) -> None:
        super().__init__(name="mutator", daemon=True)
        self.folder, self.interval, self.rng = folder, interval, random.Random(seed)
        self.gen = {k: 0 for k in range(SOAK_KEYS * 2 // 3)}   # key -> generation on disk
        self.published = dict.fromkeys(self.gen, True)
        self.ledger = Ledger()
        self.ops: Counter[str] = Counter()
        self.broken: dict[str, tuple[float, float | None]] = {}  # name -> (written, removed)
        self.stop = threading.Event()
        for key in self.gen:
            self._path(key).write_text(soak_record(key, 0), encoding="utf-8")
        self.ledger.add(self.state())

    def _path(self, key: int) -> Path:
        return self.folder / f"soak_{key:02d}.txt"

    def state(self) -> dict[int, int]:
        return {k: g for k, g in self.gen.items() if self.published[k]}

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            self.step()
        self.ledger.add(self.state())

    def step(self) -> None:
        rng = self.rng
        op = rng.choices(["atomic", "in-place", "add", "delete", "unpublish", "never", "broken", "unbreak"],
                         [35, 25, 8, 8, 6, 6, 6, 6])[0]
        present = sorted(self.gen)
        if op in ("atomic", "in-place", "unpublish", "delete") and not present:
            op = "add"
        if op == "add":
            absent = [k for k in range(SOAK_KEYS) if k not in self.gen]
            if not absent:
                return
            key = rng.choice(absent)
            self.gen[key], self.published[key] = 0, True
            self._atomic(key, soak_record(key, 0))
        elif op == "delete":
            key = rng.choice(present)
            self.ledger.add({k: g for k, g in self.state().items() if k != key})
            self._path(key).unlink()
            del self.gen[key], self.published[key]
        elif op in ("atomic", "in-place", "unpublish"):
            key = rng.choice(present)
            self.gen[key] += 1
            self.published[key] = op != "unpublish" or not self.published[key]
            text = soak_record(key, self.gen[key], self.published[key])
            if op == "in-place":
                self._in_place(key, text)
            else:
                self._atomic(key, text)
        elif op == "never":
            name = f"never_{rng.randrange(8)}.md"
            (self.folder / name).write_text("---\n" + rng.choice(NEVER).format(n=name) +
                                            "publishedDateTime: 2099-03-01T00:00:00Z\n"
                                            "webUrl: https://soak.example/never\n"
                                            "secured: SOAKSECRET-never\n---\n",
                                            encoding="utf-8")
        elif op == "broken":
            name = f"broken_{len(self.broken):03d}.txt"
            (self.folder / name).write_bytes(rng.choice(BROKEN)())
            self.broken[name] = (time.monotonic(), None)
        elif op == "unbreak":
            alive = [n for n, (t, gone) in self.broken.items()
                     if gone is None and time.monotonic() - t > BROKEN_LOG_AFTER]
            if alive:
                name = rng.choice(alive)
                (self.folder / name).unlink()
                self.broken[name] = (self.broken[name][0], time.monotonic())
        self.ops[op] += 1

    def _atomic(self, key: int, text: str) -> None:
        temp = self.folder / f".soak-{key}.partial"
        temp.write_text(text, encoding="utf-8")
        # Entered before the rename: a server may show the new state from the rename on, and answer
        # before this thread (sharing the GIL with the checks) would get to enter it after.
        self.ledger.add(self.state())
        os.replace(temp, self._path(key))

    def _in_place(self, key: int, text: str) -> None:
        # Truncate and write in two parts: a reader may see an empty or half file, which is broken, so
        # the record may be missing from a feed meanwhile, but never shown with a mixed generation.
        self.ledger.add({k: g for k, g in self.state().items() if k != key})
        with self._path(key).open("w", encoding="utf-8") as sink:
            half = len(text) // 2
            sink.write(text[:half])
            sink.flush()
            time.sleep(0.005)
            self.ledger.add(self.state())  # before the last half: the file is whole once it is written
            sink.write(text[half:])


# -- the clients ---------------------------------------------------------------------------


@dataclass
class Seen:
    """One 200 body's soak records, for the ledger check in the parent."""

    path: str
    t0: float
    t1: float
    records: dict[int, int]
    port: int = 0  # of the server that answered


@dataclass
class Tally:
    """What clients saw: statuses, latencies (s), failures, and the bodies for the ledger check."""

    statuses: Counter[str] = field(default_factory=Counter)
    latency: dict[str, list[float]] = field(default_factory=lambda: {"200": [], "304": [], "other": []})
    failures: list[str] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    not_found: list[Seen] = field(default_factory=list)

    def merge(self, other: Tally) -> None:
        self.statuses.update(other.statuses)
        for key, values in other.latency.items():
            self.latency.setdefault(key, []).extend(values)
        self.failures += other.failures
        self.seen += other.seen
        self.not_found += other.not_found


def soak_paths() -> list[str]:
    stems = ["feed", "topics/soak", "topics/soak-parity-0", "topics/soak-parity-1",
             *(f"topics/soak-{k}" for k in range(SOAK_KEYS)),
             *(f"providers/soak{k}.example" for k in range(SOAK_KEYS))]
    return [*(s + ext for s in stems for ext in FEED_EXT), *(page_of(s) for s in stems),
            *(f"embed/{s}.html" for s in stems)]


def page_of(stem: str) -> str:
    return "" if stem == "feed" else stem + "/"


def site_paths(port: int) -> list[str]:
    """Every feed, page and embed of the corpus, from /feeds.opml."""
    status, _, body = request(port, "feeds.opml", {})
    assert status == 200, status
    base = f"http://127.0.0.1:{port}/"
    stems = {url[len(base):-len(".atom")] for url in re.findall(r'xmlUrl="([^"]+)"', body.decode())}
    stems = {s for s in stems if "soak" not in s}
    return sorted({*(s + ext for s in stems for ext in FEED_EXT), *(page_of(s) for s in stems),
                   *(f"embed/{s}.html" for s in stems), "feeds.opml", "embed.js"})


def request(port: int, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", "/" + path, headers=headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


Member = Callable[[int, int], bool]  # (key, generation) -> is the record in this feed?


def soak_feed(path: str) -> Member | None:
    """Which soak records belong in a soak feed, page or embed; None for every other path.

    These are the paths that may answer 404: when no published soak record belongs to them.
    """
    m = re.match(r"(?:embed/)?(?:topics/soak(?:-parity-(\d)|-(\d+))?(?=[./])|providers/soak(\d+)\.example)",
                 path)
    if not m:
        return None
    parity = int(m[1]) if m[1] else None
    only = int(m[2] or m[3]) if (m[2] or m[3]) else None

    def member(key: int, gen: int) -> bool:
        return (parity is None or gen % 2 == parity) and (only is None or key == only)
    return member


def EVERY(key: int, gen: int) -> bool:
    return True


def NONE(key: int, gen: int) -> bool:
    return False


def members(state: dict[int, int], member: Member) -> dict[int, int]:
    return {k: g for k, g in state.items() if member(k, g)}


def check_body(path: str, headers: dict[str, str], raw: bytes, feedparse: bool
               ) -> tuple[list[str], dict[int, int]]:
    """Problems with one 200 response, and the soak records (key -> generation) its body shows."""
    problems = []
    if headers.get("content-length") != str(len(raw)):
        problems.append(f"Content-Length {headers.get('content-length')} for {len(raw)} bytes")
    etag = headers.get("etag", "")
    if etag != f'"{hashlib.blake2b(raw, digest_size=12).hexdigest()}"':
        problems.append(f"ETag {etag} is not the strong hash of the bytes sent")
    if "Accept-Encoding" not in headers.get("vary", ""):
        problems.append("no Vary: Accept-Encoding")
    data = raw
    if headers.get("content-encoding") == "gzip":
        try:
            data = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            return [*problems, f"gzip body does not decompress: {exc}"], {}
    text = data.decode("utf-8", errors="strict")
    for secret in SECRETS:
        if secret in text:
            problems.append(f"{secret} appears in the body")
    kind = path.rsplit(".", 1)[-1] if "." in path.rsplit("/", 1)[-1] else "html"
    try:
        if kind in ("atom", "rss", "opml"):
            from lxml import etree
            etree.fromstring(data)
        elif kind == "json":
            json.loads(data)
            if headers.get("access-control-allow-origin") != "*":
                problems.append("JSON Feed without Access-Control-Allow-Origin: *")
        elif kind == "html":
            from lxml import html
            html.document_fromstring(data)
            if not text.rstrip().endswith("</html>"):
                problems.append("HTML page does not end with </html>")
    except ValueError as exc:  # lxml's XMLSyntaxError and json's JSONDecodeError are ValueErrors
        problems.append(f"not well-formed {kind}: {exc}")
    if feedparse and kind in ("atom", "rss"):
        import feedparser
        parsed = feedparser.parse(data)
        if parsed.bozo:
            problems.append(f"feedparser bozo: {parsed.bozo_exception}")
    records: dict[int, int] = {}
    for pattern in (TITLE, EXCERPT, IMAGE):
        for key, gen in pattern.findall(text):
            if records.setdefault(int(key), int(gen)) != int(gen):
                problems.append(f"soak record {key} shows generations {records[int(key)]} and {gen}")
    if kind in ("atom", "rss", "json"):
        order = list(dict.fromkeys(int(k) for k, _ in TITLE.findall(text)))
        if order != sorted(order, reverse=True):
            problems.append(f"soak entries out of date order: {order}")
        member = soak_feed(path)
        if member and members(records, member) != records:
            problems.append(f"the feed holds records that do not belong in it: {records}")
    return problems, records


def flood_query(rng: random.Random) -> str:
    """A query string no reader asked for before: each makes a body the server may not keep forever."""
    return f"?limit=500&min_heat=-{rng.randrange(10**6, 10**9)}"


def client(port: int, paths: list[str], deadline: float, seed: int, feedparse_share: float,
           out: Tally, lock: threading.Lock, flood: float = 0.0) -> None:
    """One polling reader: random paths, gzip or not, and conditional re-polls; every answer checked.

    A `flood` share of its requests asks for a feed with filters never asked for before.
    """
    rng = random.Random(seed)
    mine = Tally()
    statuses, latency, failures, seen, not_found = (mine.statuses, mine.latency, mine.failures, mine.seen,
                                                    mine.not_found)
    soak = soak_paths()
    while time.monotonic() < deadline:
        path = rng.choice(soak) if rng.random() < 0.5 else rng.choice(paths)
        query = flood_query(rng) if rng.random() < flood and path.endswith(FEED_EXT) else ""
        headers = {"Accept-Encoding": "gzip"} if rng.random() < 0.5 else {}
        conditional = None
        for attempt in range(2):
            t0 = time.monotonic()
            try:
                status, got, raw = request(port, path + query, {**headers, **(conditional or {})})
            except (OSError, http.client.HTTPException) as exc:
                failures.append(f"{path}: {type(exc).__name__}: {exc}")
                break
            t1 = time.monotonic()
            label = f"{status}" + (" conditional" if conditional else "") + (" flood" if query else "")
            statuses[label] += 1
            latency[str(status) if status in (200, 304) else "other"].append(t1 - t0)
            problems: list[str] = []
            if status == 200:
                problems, records = check_body(path, got, raw, rng.random() < feedparse_share)
                if not query:  # a filtered body shows some of a feed's records: not held to the ledger
                    seen.append(Seen(path, t0, t1, records, port))
                if conditional and got.get("etag") == conditional.get("If-None-Match"):
                    problems.append("200 to If-None-Match with the same ETag")
            elif status == 304:
                if conditional is None:
                    problems.append("304 to an unconditional request")
                elif raw:
                    problems.append("304 with a body")
                elif "If-None-Match" in conditional and got.get("etag") != conditional["If-None-Match"]:
                    problems.append(f"304 with ETag {got.get('etag')} for {conditional['If-None-Match']}")
            elif status == 404 and soak_feed(path):
                not_found.append(Seen(path, t0, t1, {}, port))
            else:
                problems.append(f"status {status}: {raw[:200]!r}")
            failures += [f"{path} ({headers or 'identity'}, {conditional or 'unconditional'}): {p}"
                         for p in problems]
            if status != 200 or attempt or rng.random() < 0.4:
                break
            # a reader's next poll: the ETag, the Last-Modified date, or both
            choice = rng.randrange(3)
            conditional = {}
            if choice != 1:
                conditional["If-None-Match"] = got["etag"]
            if choice != 0:
                conditional["If-Modified-Since"] = got["last-modified"]
    with lock:
        out.merge(mine)


def client_process(port: int, paths: list[str], deadline: float, threads: int, seed: int,
                   feedparse_share: float, queue: multiprocessing.Queue,  # type: ignore[type-arg]
                   flood: float) -> None:
    os.setpgrp()  # its own process group, like every process this script starts
    out = Tally()
    lock = threading.Lock()
    workers = [threading.Thread(target=client, args=(port, paths, deadline, seed * 100 + i, feedparse_share,
                                                     out, lock, flood)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    queue.put((port, out))


# -- the checks against the ledger ---------------------------------------------------------


def ledger_problems(ledger: Ledger, seen: list[Seen], not_found: list[Seen]) -> list[str]:
    """Each soak record a body shows is one the folder held (at that generation) around the request."""
    problems = []
    for s in seen:
        window = ledger.window(s.t0, s.t1)
        for key, gen in s.records.items():
            if all(state.get(key) != gen for state in window):
                problems.append(f"port {s.port} /{s.path}: record {key} at generation {gen}, which the "
                                f"folder never held (published) within {LAG}s of the request: "
                                f"{sorted({st.get(key, -1) for st in window})}")
        member = soak_feed(s.path) or (EVERY if s.path.startswith("feed.") else NONE)
        if not s.path.endswith(FEED_EXT):  # pages and embeds show a few records, not all
            continue
        for key in range(SOAK_KEYS):
            # missing is right only if some state of the window did not have it in this feed
            if key not in s.records and all(key in members(st, member) for st in window):
                problems.append(f"port {s.port} /{s.path}: record {key} missing, "
                                "though in the feed throughout")
    for s in not_found:
        belongs = soak_feed(s.path)
        window = ledger.window(s.t0, s.t1)
        if belongs is not None and all(members(st, belongs) for st in window):
            problems.append(f"port {s.port} /{s.path}: 404 while records belonged in it throughout")
    return problems


def final_problems(port: int, mutator: Mutator) -> list[str]:
    """After the mutator stops: every soak feed shows exactly the folder's last state."""
    problems = []
    final = mutator.state()
    for path in soak_paths():
        status, headers, raw = request(port, path, {})
        member = soak_feed(path) or EVERY
        expected = members(final, member)
        should_exist = bool(expected) or soak_feed(path) is None
        if status != (200 if should_exist else 404):
            problems.append(f"final /{path}: {status}, expected {200 if should_exist else 404}")
            continue
        if status != 200:
            continue
        body_problems, records = check_body(path, headers, raw, True)
        problems += [f"final /{path}: {p}" for p in body_problems]
        if path.endswith(FEED_EXT) and records != expected:
            problems.append(f"final /{path}: shows {records}, the folder holds {expected}")
    return problems


# -- the servers and their processes -------------------------------------------------------

KINDS = ("production", "gunicorn", "development")
Sample = tuple[float, float, float]  # (seconds since the load began, RSS MB, PSS MB)
SETTLE = 30.0  # seconds a server's workers may take to all be there after its first answer
CRASH = re.compile(  # log lines that mean a request or a worker failed: each fails the run
    r"Traceback|Fatal Python error|\[ERROR\] (?:Exception|Error handling request)|WORKER TIMEOUT|"
    r"Worker \(pid:\d+\) (?:was sent|exited)|Unexpected exit from worker|Respawning worker|crash loop|"
    r"Killing (?:old )?worker|panicked at")


def server_argv(kind: str, port: int, workers: int) -> tuple[list[str], str]:
    """The command of a server, and the kind of folder it runs in ("work" or "repository")."""
    if kind == "gunicorn":  # wsgi.py is at the repository's top
        return gunicorn_argv(port, workers), "repository"
    extra = ["--workers", str(workers)] if kind == "production" else []
    return [PYTHON, "-m", "feeds", "serve", *extra, "--port", str(port)], "work"


def children(pid: int) -> list[int]:
    """The direct children of `pid`, from every thread's children file (as load.py's process_tree)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return sorted(set(found))


def process_memory(pid: int) -> tuple[float, float] | None:
    """(VmRSS, PSS) of one process in MB; None when it is gone (or a zombie)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    rss = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    pss = re.search(r"^Pss:\s+(\d+) kB", rollup, re.M)
    if not (rss and pss):
        return None
    return int(rss[1]) / 1024, int(pss[1]) / 1024


@dataclass
class Process:
    """One process of a server: its master, a worker, or the development server's only process."""

    label: str
    pid: int
    seen: float                 # seconds since the load began when first seen (0: there before it)
    gone: float | None = None   # when first found gone
    samples: list[Sample] = field(default_factory=list)


@dataclass
class Server:
    """A server this script started: its command, and every process of it seen, with memory samples.

    Its workers are the master's children, known from its start; one gone or new later (granian
    and gunicorn start a new worker when one dies) is an event, and every event fails the run.
    """

    kind: str
    argv: list[str]
    folder: str                 # where it runs: "work" or "repository"
    port: int
    proc: Proc
    workers: int                # expected worker processes (0: the process serves alone)
    processes: dict[int, Process] = field(default_factory=dict)
    totals: list[Sample] = field(default_factory=list)  # summed over the master and its descendants
    events: list[str] = field(default_factory=list)
    looked: float = 0.0
    clients: int = 0

    @property
    def pid(self) -> int:
        return self.proc.popen.pid

    def command(self) -> str:
        return shlex.join(self.argv)

    def worker_list(self) -> list[Process]:
        return [p for p in self.processes.values() if p.pid != self.pid]

    def register(self, now: Callable[[], float]) -> None:
        """Its processes once it answers: the master and, when they are all there, its workers."""
        deadline = time.monotonic() + SETTLE
        found = children(self.pid)
        while len(found) < self.workers and time.monotonic() < deadline:
            time.sleep(0.2)
            found = children(self.pid)
        t = now()
        self.processes[self.pid] = Process("master" if self.workers else "process", self.pid, t)
        for i, pid in enumerate(found, 1):
            self.processes[pid] = Process(f"worker {i}", pid, t)
        if len(found) != self.workers:
            self.events.append(f"{len(found)} worker processes after the start ({found}), "
                               f"expected {self.workers}")
        self.looked = t

    def look(self, t: float) -> None:
        """Compare its processes with what they were: a worker replaced, gone or added is an event."""
        if self.proc.popen.poll() is not None:
            master = self.processes[self.pid]
            if master.gone is None:
                master.gone = t
                self.events.append(f"the master (pid {self.pid}) exited with code "
                                   f"{self.proc.popen.returncode} by {t:.0f} s")
            return
        current = children(self.pid)
        gone = [p for p in self.worker_list() if p.gone is None and p.pid not in current]
        new = [pid for pid in current if pid not in self.processes]
        when = f"between {self.looked:.0f} s and {t:.0f} s"
        for old in gone:
            old.gone = t
        for i, pid in enumerate(new):
            label = f"worker {len(self.worker_list()) + 1}"
            self.processes[pid] = Process(label, pid, t)
            if i < len(gone):
                self.events.append(f"{gone[i].label} was replaced: pid {gone[i].pid} died and pid {pid} "
                                   f"({label} here) took its place, {when}")
            else:
                self.events.append(f"a new worker process appeared, pid {pid} ({label} here), {when}")
        for old in gone[len(new):]:
            self.events.append(f"{old.label} (pid {old.pid}) exited {when} and was not replaced")
        self.looked = t

    def sample(self, t: float) -> None:
        """RSS and PSS of each of its processes now, and their sum over its whole tree."""
        self.look(t)
        if self.proc.popen.poll() is not None:
            return
        rss_sum = pss_sum = 0.0
        for pid in process_tree(self.pid):
            got = process_memory(pid)
            if got is None:
                continue
            rss_sum, pss_sum = rss_sum + got[0], pss_sum + got[1]
            if pid in self.processes and self.processes[pid].gone is None:
                self.processes[pid].samples.append((t, *got))
        self.totals.append((t, rss_sum, pss_sum))

    def progress(self) -> str:
        """The last sample, for the progress line: each process's PSS and their sum."""
        each = "+".join(f"{p.samples[-1][2]:.0f}" for p in self.processes.values()
                        if p.samples and p.gone is None)
        total = self.totals[-1] if self.totals else (0.0, 0.0, 0.0)
        return f"{self.kind} PSS {each} = {total[2]:.0f} MB (RSS {total[1]:.0f})"


# -- main ----------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] * 1000


def make_store(work: Path, args: argparse.Namespace) -> tuple[Path, str]:
    records = work / "records"
    shutil.copytree(REPO / "seeds", records)
    if CORPUS.is_dir() and not args.n:
        for path in CORPUS.iterdir():
            shutil.copy2(path, records / path.name)
        return records, f"the seeds and the real corpus ({CORPUS.name})"
    generated = work / "generated"
    run([PYTHON, str(GEN_CORPUS), "--n", str(args.n or 2000), "--seed", "1", "--out", str(generated)],
        timeout=600)
    for path in generated.iterdir():
        shutil.copy2(path, records / path.name)
    return records, f"the seeds and {args.n or 2000:,} generated records"


def server_kinds(text: str, serve: bool) -> list[str]:
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(f"--servers: {', '.join(unknown) or 'none'}: "
                                         f"not among {', '.join(KINDS)}")
    if serve and "development" not in kinds:
        kinds.append("development")
    return list(dict.fromkeys(kinds))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=180, help="seconds of load (default 180)")
    parser.add_argument("--clients", type=int, default=24, help="concurrent polling clients")
    parser.add_argument("--procs", type=int, default=3, help="client processes the clients are spread over")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between changes")
    parser.add_argument("--n", type=int, help="generated records instead of the real corpus")
    parser.add_argument("--servers", default="production",
                        help="the servers polled, comma-separated, the client processes spread over them: "
                             "production (`feeds serve --workers W`, granian), gunicorn (`gunicorn -w W "
                             "wsgi:app`), development (`feeds serve`); default production")
    parser.add_argument("--serve", action="store_true",
                        help="also run the development server `feeds serve` (as --servers ...,development)")
    parser.add_argument("--workers", type=int, default=2,
                        help="worker processes of the production and gunicorn servers (default 2)")
    parser.add_argument("--feedparser-share", type=float, default=0.25, help="share of feeds parsed")
    parser.add_argument("--flood", type=float, default=0.2,
                        help="share of feed requests with filters never asked for before (default 0.2)")
    parser.add_argument("--body-cache-mb", type=int, default=16,
                        help="the servers' body_cache_bytes, in MiB (default 16: full within the warm-up, "
                             "so memory after it must stay flat)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one, removed)")
    args = parser.parse_args()
    try:
        args.kinds = server_kinds(args.servers, args.serve)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    if args.procs < len(args.kinds):
        parser.error(f"--procs {args.procs}: fewer client processes than servers ({len(args.kinds)})")

    work = args.work or Path(tempfile.mkdtemp(prefix="feeds-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    procs = Procs()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    failures: list[str] = []
    clients: list[multiprocessing.process.BaseProcess] = []
    servers: list[Server] = []
    began = time.monotonic()  # reset when the load begins; samples are timed from then

    def now() -> float:
        return time.monotonic() - began

    try:
        records, store = make_store(work, args)
        mutator = Mutator(records, args.interval, args.seed)
        for kind in args.kinds:
            port = free_port()
            env = feeds_env(records, f"http://127.0.0.1:{port}/", work / f"cache-{port}")
            env["FEEDS_BODY_CACHE_BYTES"] = str(args.body_cache_mb * 1024 * 1024)
            env["PYTHONFAULTHANDLER"] = "1"  # a worker killed by a signal (SIGSEGV, SIGBUS) logs where
            argv, folder = server_argv(kind, port, args.workers)
            proc = procs.start(kind, argv, work / f"{kind}.log", env=env,
                               cwd=REPO if folder == "repository" else work)
            wait_for(f"http://127.0.0.1:{port}/feed.atom", proc)
            server = Server(kind, argv, folder, port, proc, 0 if kind == "development" else args.workers)
            server.register(now)
            servers.append(server)
            print(f"soak: {kind} on port {port}: {server.command()} (pids: master {server.pid}, workers "
                  f"{[p.pid for p in server.worker_list()]})", file=sys.stderr)
        paths = site_paths(servers[0].port)
        print(f"soak: {store}, {len(paths):,} site paths + {len(soak_paths())} soak paths, "
              f"{args.clients} clients, {args.duration:.0f}s", file=sys.stderr)
        began = time.monotonic()
        deadline = began + args.duration
        for server in servers:  # the processes there before the load count from its start
            for process in server.processes.values():
                process.seen = min(process.seen, 0.0)
            server.looked = 0.0
        mutator.start()
        queue: multiprocessing.Queue = multiprocessing.get_context("fork").Queue()  # type: ignore[type-arg]
        per = max(args.clients // args.procs, 1)
        for i in range(args.procs):
            server = servers[i % len(servers)]
            server.clients += per
            p = multiprocessing.get_context("fork").Process(
                target=client_process, args=(server.port, paths, deadline, per, args.seed * 10 + i,
                                             args.feedparser_share, queue, args.flood), daemon=True)
            p.start()
            clients.append(p)
        next_sample = 0.0
        while time.monotonic() < deadline:
            t = now()
            if t >= next_sample:  # memory every 10 s; the workers' pids every second
                for server in servers:
                    server.sample(t)
                print(f"soak: {t:5.0f}s " + "; ".join(s.progress() for s in servers)
                      + f"; {sum(mutator.ops.values())} changes; load {loadavg()}", file=sys.stderr)
                next_sample = t + 10
            else:
                for server in servers:
                    server.look(t)
            time.sleep(min(1.0, max(deadline - time.monotonic(), 0.1)))
        results: list[tuple[int, Tally]] = [queue.get(timeout=120) for _ in clients]
        for client_proc in clients:
            client_proc.join(timeout=30)
        mutator.stop.set()
        mutator.join(timeout=10)
        time.sleep(LAG)
        for server in servers:
            failures += [f"{server.kind}: {p}" for p in final_problems(server.port, mutator)]
            server.sample(now())
        logs = {server.kind: tail(server.proc.log, 10_000_000) for server in servers}
    finally:
        for client_proc in clients:
            if client_proc.is_alive() and client_proc.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(client_proc.pid, signal.SIGKILL)
        procs.stop_all()
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)

    names = {server.port: server.kind for server in servers}
    tally, per_server = Tally(), {server.kind: Tally() for server in servers}
    for port, result in results:
        result.failures = [f"{names[port]}: {f}" for f in result.failures]
        tally.merge(result)
        per_server[names[port]].merge(result)
    failures += tally.failures
    by_name = {f"port {port}": f"{name}:" for port, name in names.items()}
    failures += [re.sub(r"^port \d+", lambda m: by_name.get(m[0], m[0]), problem)
                 for problem in ledger_problems(mutator.ledger, tally.seen, tally.not_found)]
    for name, log in logs.items():
        crashes = [line for line in log.splitlines() if CRASH.search(line)]
        if crashes:
            first = CRASH.search(log)
            start = log.rfind("\n", 0, max(first.start() - 500, 0)) + 1 if first else 0
            failures.append(f"{name}: its log shows a crash or a failed request ({len(crashes)} lines: "
                            f"{' | '.join(crashes[:6])}):\n{log[start:][:3000]}")
        for broken, (written, removed) in mutator.broken.items():
            if ((removed or time.monotonic()) - written > BROKEN_LOG_AFTER) and broken not in log:
                failures.append(f"{name}: broken record {broken} was never logged")
    failures += process_problems(servers, logs)
    failures += memory_problems(servers)
    report(args, store, servers, per_server, tally, mutator, failures)
    return 1 if failures else 0


def warm_sample(samples: list[Sample]) -> Sample | None:
    """The first memory sample after the warm-up (every path rendered once or so); None when the run
    (or the process) ended before: its caches were still filling, so there is no reference."""
    return next((s for s in samples if s[0] >= WARM_UP), None)


def trend(samples: list[Sample]) -> float:
    """Least-squares slope of PSS, MB per minute."""
    if len(samples) < 3:
        return 0.0
    return statistics.linear_regression([s[0] for s in samples], [s[2] for s in samples]).slope * 60


def after_warm_up(samples: list[Sample]) -> list[Sample]:
    """The samples from the warm-up's end on (all of them when there is none after it)."""
    warm = warm_sample(samples)
    return [s for s in samples if s[0] >= warm[0]] if warm else samples


def process_problems(servers: list[Server], logs: dict[str, str]) -> list[str]:
    """A worker that died, was replaced or appeared: a crash must be loud, even when a new one serves.
    Seen in the process tree every second, and in the log (each start of a worker is logged)."""
    problems = [f"{server.kind}: {event}" for server in servers for event in server.events]
    for server in servers:
        if not server.workers:
            continue
        started = re.findall(r"Spawning worker-\d+ with PID: \d+|Booting worker with pid: \d+",
                             logs.get(server.kind, ""))
        if len(started) > server.workers:
            problems.append(f"{server.kind}: {len(started)} worker starts in the log for {server.workers} "
                            f"workers: {'; '.join(started)}")
    return problems


def memory_problems(servers: list[Server]) -> list[str]:
    """Memory at the end beyond the warm-up figure plus noise is a leak, or a cache without bound:
    for the sum over a server's processes, and for each of them (a worker's leak hides in no sum).
    A run shorter than the warm-up has no reference, and is not checked (its report says so)."""
    problems = []
    for server in servers:
        checks = [(f"{server.kind}: all its processes together", server.totals),
                  *((f"{server.kind}: {p.label} (pid {p.pid})", p.samples)
                    for p in server.processes.values())]
        for name, samples in checks:
            warm = warm_sample(samples)
            if warm is None:
                continue
            pss, end = warm[2], samples[-1][2]
            if end > pss * MEMORY_GROWTH + MEMORY_SLACK_MB:
                problems.append(f"{name}: PSS grew from {pss:.0f} MB after the warm-up to {end:.0f} MB")
    return problems


def memory_lines(server: Server) -> list[str]:
    """A server's memory: the sum over its processes every ~10 s, then each process's PSS in a table."""
    samples = server.totals
    shape = f"master + {server.workers} workers" if server.workers else "one process"
    lines = ["", f"Memory of {server.kind} ({shape}), MB, every ~10 s: "
             + ", ".join(f"{t:.0f}s {rss:.0f}/{pss:.0f}" for t, rss, pss in samples) + " (RSS/PSS, summed)"]
    if not samples:
        return lines
    warm = warm_sample(samples)
    if warm:
        lines.append(f"From {warm[0]:.0f} s to the end: RSS {warm[1]:.0f} → {samples[-1][1]:.0f} MB, "
                     f"PSS {warm[2]:.0f} → {samples[-1][2]:.0f} MB; PSS trend after the warm-up "
                     f"{trend(after_warm_up(samples)):+.1f} MB/min.")
    else:
        lines.append(f"**Memory not checked**: the run ended before the {WARM_UP:.0f} s warm-up, while "
                     f"the caches were filling, so there is no reference (PSS {samples[0][2]:.0f} → "
                     f"{samples[-1][2]:.0f} MB from the start; trend {trend(samples):+.1f} MB/min).")
    lines += ["", "| process | pid | PSS at start | PSS after the warm-up | PSS at the end | PSS trend "
              "after the warm-up | RSS at the end | limit at the end |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for p in server.processes.values():
        label = p.label + (f" (gone by {p.gone:.0f} s)" if p.gone is not None else "")
        label += f" (new at {p.seen:.0f} s)" if p.seen > 0 else ""
        if not p.samples:
            lines.append(f"| {label} | {p.pid} | – | – | – | – | – | – |")
            continue
        w, end = warm_sample(p.samples), p.samples[-1]
        lines.append(f"| {label} | {p.pid} | {p.samples[0][2]:.0f} | "
                     + (f"{w[2]:.0f} ({w[0]:.0f} s)" if w else "– (none)")
                     + f" | {end[2]:.0f} ({end[0]:.0f} s) | "
                     + f"{trend(after_warm_up(p.samples)):+.1f} MB/min" + ("" if w else " (whole run)")
                     + f" | {end[1]:.0f} | "
                     + (f"{w[2] * MEMORY_GROWTH + MEMORY_SLACK_MB:.0f}" if w else "–") + " |")
    return lines


def report(args: argparse.Namespace, store: str, servers: list[Server], per_server: dict[str, Tally],
           tally: Tally, mutator: Mutator, failures: list[str]) -> None:
    statuses, latency = tally.statuses, tally.latency
    total = sum(statuses.values())
    lines = [f"### Soak: {args.duration:.0f} s, {args.clients} clients, a change every {args.interval} s, "
             f"{args.flood:.0%} of feed requests with filters never asked for before, "
             f"body_cache_bytes {args.body_cache_mb} MiB", "",
             f"Store: {store}. Changes to the folder: {sum(mutator.ops.values()):,} "
             f"({', '.join(f'{k} {v}' for k, v in sorted(mutator.ops.items()))}); "
             f"{len(mutator.broken)} broken records dropped.", "",
             "Servers, on 127.0.0.1, each with `FEEDS_RECORDS` (the copied store), `FEEDS_BASE_URL` "
             "(`http://127.0.0.1:PORT/`), `FEEDS_CACHE_DIR` (its own), `FEEDS_BODY_CACHE_BYTES` "
             f"({args.body_cache_mb * 1024 * 1024}) and `PYTHONFAULTHANDLER=1` (a crash logs where):"]
    for server in servers:
        mine = per_server[server.kind]
        count = sum(mine.statuses.values())
        lines.append(f"- **{server.kind}**: `{server.command()}` (in the {server.folder} folder), "
                     f"{server.clients} clients: {count:,} requests, "
                     f"{sum(f.startswith(server.kind + ':') for f in failures)} failures")
    lines += ["", f"Requests: {total:,} ({total / args.duration:,.0f}/s): "
              + ", ".join(f"{k}: {v:,}" for k, v in sorted(statuses.items()))
              + f"; {len(tally.seen):,} bodies checked. **Failures: {len(failures)}**", "",
              "| status | requests | p50 ms | p99 ms |", "| --- | ---: | ---: | ---: |"]
    for k, v in sorted(latency.items()):
        if v:
            lines.append(f"| {k} | {len(v):,} | {percentile(v, 50):.1f} | {percentile(v, 99):.1f} |")
    for server in servers:
        lines += memory_lines(server)
    lines += ["", *machine(), f"- load average at end: {loadavg()}"]
    if failures:
        lines += ["", "Failures (first 30):", *(f"- {f}" for f in failures[:30])]
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
