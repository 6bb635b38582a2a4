"""The real server (`feeds serve`, and `feeds serve --workers 2` on granian) on 127.0.0.1, with
real clients.

A subprocess serves a private copy of the seeds (every test runs against the
development server and the production command); feedparser subscribes to it
with its ETag/modified arguments, record files are added, edited, deleted and
broken under the running server, a second server process shares its catalog
file, and newsboat (through ``../shared/validate/reader-check``) polls it
conditionally.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import feedparser
import pytest
import yaml

from .nginx_server import free_port

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "seeds"
# ../shared sits beside the repository; never assume the working directory.
READER_CHECK = Path(__file__).resolve().parents[1] / ".." / "shared" / "validate" / "reader-check"
START_SECONDS = 30
CHANGE_SECONDS = 10


@dataclass
class Server:
    """A running `feeds serve` process and where it keeps things."""

    process: subprocess.Popen[bytes]
    port: int
    records: Path
    log: Path
    workers: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def get(self, path: str, headers: dict[str, str] | None = None,
            method: str = "GET") -> tuple[int, Message, bytes]:
        """(status, headers, body) of one request; HTTP errors are answers, not exceptions.  Header
        names are looked up whatever their case (granian sends them in lower case)."""
        request = urllib.request.Request(self.url + path.lstrip("/"), headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.headers, exc.read()

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def start_server(tmp_path: Path, records: Path, name: str = "server", base_url: str | None = None,
                 workers: int | None = None, session: bool = False,
                 settings: dict[str, str] | None = None) -> Server:
    """`python -m feeds serve` (with `workers`: ``--workers N``) on a free port, answering
    /feed.atom, or a failure with its log (``tmp_path/name-N.log``); every server started in
    `tmp_path` shares its catalog folder.  Its links use `base_url` (default: its own address);
    `settings` are more (``{"hub": URL}``, given as FEEDS_HUB)."""
    work = tmp_path / "cwd"  # no feeds.toml from the developer's working directory
    work.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}
    env.update(FEEDS_CACHE_DIR=str(tmp_path / "cache"), PYTHONUNBUFFERED="1",
               PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""))
    env.update({f"FEEDS_{key.upper()}": value for key, value in (settings or {}).items()})
    for attempt in range(3):
        port = free_port()
        log = tmp_path / f"{name}-{attempt}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "feeds", "serve", "--records", str(records), "--port", str(port),
                 "--base-url", base_url or f"http://127.0.0.1:{port}/",
                 *(["--workers", str(workers)] if workers else [])],
                cwd=work, env=env, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=session)  # a process group of its own, as a terminal gives it
        server = Server(process, port, records, log, workers)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if server.get("/feed.atom")[0] == 200:
                    return server
            except OSError:
                pass
            time.sleep(0.1)
        stop(server)
        if "already in use" not in server.log_text():
            pytest.fail(f"feeds serve did not answer within {START_SECONDS}s:\n{server.log_text()}")
    pytest.fail("feeds serve found no free port in three attempts")


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)


@pytest.fixture(params=[None, 2], ids=["development", "production"])
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    """The real server over a private copy of the seeds, as `feeds serve` and as
    `feeds serve --workers 2`; always stopped afterwards."""
    records = tmp_path / "records"
    shutil.copytree(SEEDS, records)
    running = start_server(tmp_path, records, workers=request.param)
    try:
        yield running
    finally:
        stop(running)


def write_record(folder: Path, name: str, **fields: Any) -> Path:
    """A valid, published record newer than every seed."""
    data: dict[str, Any] = {
        "title": "Dropped into a running server",
        "excerpt": "A record written while the server runs.",
        "publishedDateTime": "2030-01-02T03:04:05Z",
        "webUrl": f"https://news.example.com/live/{name}",
        "published": True,
        "provider": {"name": "Live News", "domain": "live.example.com"},
        "topics": ["AI", "Live Topic"],
    }
    data.update(fields)
    path = folder / name
    path.write_text("---\n" + yaml.safe_dump(data, sort_keys=False) + "---\n", encoding="utf-8")
    return path


def titles(server: Server, path: str) -> list[str] | None:
    """Entry titles of a feed as feedparser reads them; None while it is a 404."""
    status, _, body = server.get(path)
    if status == 404:
        return None
    assert status == 200, (path, status, body[:200])
    parsed = feedparser.parse(body)
    assert not parsed.bozo, (path, parsed.bozo_exception)
    return [entry.title for entry in parsed.entries]


def first_title(server: Server) -> str | None:
    """The newest entry's title in /feed.atom."""
    found = titles(server, "/feed.atom")
    return found[0] if found else None


def poll(check: Callable[[], bool], seconds: float, interval: float = 0.1) -> bool:
    """Ask `check` every `interval` seconds until it holds (True) or `seconds` have passed (False)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return False


def eventually(check: Callable[[], bool], what: str, server: Server, seconds: float = CHANGE_SECONDS) -> None:
    """Poll `check` until it holds; fail naming `what` and the server's log otherwise."""
    if not poll(check, seconds):
        pytest.fail(f"{what} not served within {seconds}s; server log:\n{server.log_text()[-3000:]}")


# -- conditional polling ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["feed.atom", "feed.rss", "topics/ai.atom", "providers/reuters.com.rss"])
def test_feedparser_second_poll_gets_304(server: Server, path: str) -> None:
    url = server.url + path
    first = feedparser.parse(url)
    assert first.status == 200 and not first.bozo, first.get("bozo_exception")
    assert first.entries and first.etag and first.modified
    second = feedparser.parse(url, etag=first.etag, modified=first.modified)
    assert second.status == 304, "a conditional poll with ETag and Last-Modified must get 304"
    assert not second.entries
    assert feedparser.parse(url, etag=first.etag).status == 304
    assert feedparser.parse(url, modified=first.modified).status == 304


def test_headers_over_the_wire(server: Server) -> None:
    status, headers, body = server.get("/topics/ai.json", {"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["Content-Type"] == "application/feed+json; charset=utf-8"
    assert headers["Content-Encoding"] == "gzip" and gzip.decompress(body).startswith(b"{")
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "Accept-Encoding" in headers["Vary"]
    assert headers["Cache-Control"] == "public, max-age=300"
    _, plain_headers, plain = server.get("/topics/ai.json")
    assert plain_headers["ETag"] != headers["ETag"] and gzip.decompress(body) == plain
    head_status, head_headers, head_body = server.get("/topics/ai.json", method="HEAD")
    assert head_status == 200 and head_body == b""
    assert head_headers["Content-Length"] == str(len(plain)) and head_headers["ETag"] == plain_headers["ETag"]
    with urllib.request.urlopen(server.url + "feed.atom", timeout=10) as response:
        assert len(response.headers.get_all("Date") or []) == 1, "exactly one Date header"


def raw_request(server: Server, request: bytes) -> int:
    """Send raw bytes as a request; the status code answered (0 if the server just closed)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                return 0
            answer += chunk
    parts = answer.split(b"\r\n", 1)[0].split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


@pytest.mark.parametrize("target", [
    b"/feed.atom?limit=\xff", b"/feed.atom?\x80", b"/\xff\xfe.atom", b"/%ff%fe.atom?min_heat=%ff",
    b"/../../etc/passwd", b"/%2e%2e/%2e%2e/feed.atom", b"//feed.atom", b"/feed.atom%00",
    b"/" + b"a" * 10_000 + b".atom", b"/topics\\ai.atom", b"/feed.atom?limit=--5",
])
def test_odd_raw_requests_over_the_wire_never_5xx(server: Server, target: bytes) -> None:
    request = b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    status = raw_request(server, request)
    assert status < 500, (target[:80], status)
    assert server.get("/feed.atom")[0] == 200, "the server must keep serving"


# -- changes under a running server ----------------------------------------------------------


def test_record_changes_are_served_without_restart(server: Server) -> None:
    before = titles(server, "/feed.atom")
    assert before and titles(server, "/topics/live-topic.atom") is None

    dropped = write_record(server.records, "zz-dropped.md")
    eventually(lambda: "Dropped into a running server" in (titles(server, "/feed.atom") or []),
               "a dropped record in /feed.atom", server)
    assert titles(server, "/feed.atom") == ["Dropped into a running server", *before]
    assert "Dropped into a running server" in (titles(server, "/topics/ai.atom") or [])
    assert titles(server, "/topics/live-topic.atom") == ["Dropped into a running server"]
    assert titles(server, "/providers/live.example.com.atom") == ["Dropped into a running server"]

    write_record(server.records, "zz-dropped.md", title="Edited while serving")
    eventually(lambda: first_title(server) == "Edited while serving",
               "an edited record's new title", server)
    assert "Dropped into a running server" not in (titles(server, "/feed.atom") or [])
    assert titles(server, "/topics/live-topic.atom") == ["Edited while serving"]

    dropped.unlink()
    eventually(lambda: titles(server, "/feed.atom") == before, "a deleted record gone", server)
    assert titles(server, "/topics/live-topic.atom") is None, "a topic without records has no feed"

    broken = server.records / "zz-broken.md"
    broken.write_text("---\ntitle: [unclosed\npublishedDateTime: 2031-01-01T00:00:00Z\n---\n",
                      encoding="utf-8")
    eventually(lambda: titles(server, "/feed.atom") is not None and "zz-broken.md" in server.log_text(),
               "a log line naming the broken record", server)
    assert titles(server, "/feed.atom") == before, "the rest keeps being served"
    assert server.process.poll() is None

    write_record(server.records, "zz-after-broken.md", title="Still fresh after a broken file")
    eventually(lambda: first_title(server) == "Still fresh after a broken file",
               "a record added after a broken one", server)


def test_conditional_poll_sees_a_change(server: Server) -> None:
    first = feedparser.parse(server.url + "feed.atom")
    assert feedparser.parse(server.url + "feed.atom", etag=first.etag, modified=first.modified).status == 304
    write_record(server.records, "zz-new.md", title="News for a polling reader")

    def changed() -> bool:
        again = feedparser.parse(server.url + "feed.atom", etag=first.etag, modified=first.modified)
        return bool(again.status == 200 and again.entries[0].title == "News for a polling reader")

    eventually(changed, "a 200 with the new entry for a reader holding the old ETag", server)


def test_two_servers_share_one_catalog_file(server: Server, tmp_path: Path) -> None:
    """Two processes serving one store (as workers do) share its catalog file: each serves a change
    without a restart, and both give a representation the same validators."""
    other = start_server(tmp_path, server.records, name="other", base_url=server.url, workers=server.workers)
    try:
        caches = sorted(p.name for p in (tmp_path / "cache").glob("records-*.sqlite3"))
        assert len(caches) == 1, caches
        write_record(server.records, "zz-shared.md", title="Seen by both workers")
        for running in (server, other):
            eventually(lambda running=running: first_title(running) == "Seen by both workers",
                       "a change in the second worker", running)
        for path in ("feed.atom", "topics/ai.rss", "feed.json?min_quality=0"):
            _, first, body = server.get(path)
            _, second, again = other.get(path)
            assert body == again, path
            assert (first["ETag"], first["Last-Modified"]) == (second["ETag"], second["Last-Modified"]), path
            status, _, _ = other.get(path, {"If-None-Match": first["ETag"],
                                            "If-Modified-Since": first["Last-Modified"]})
            assert status == 304, path
        assert other.process.poll() is None and server.process.poll() is None
        for running in (server, other):
            assert "Traceback" not in running.log_text(), running.log_text()[-3000:]
    finally:
        stop(other)


# -- a real feed reader ----------------------------------------------------------------------


def test_newsboat_polls_conditionally(server: Server) -> None:
    if shutil.which("newsboat") is None:
        pytest.skip("newsboat is not installed")
    if not READER_CHECK.is_file():
        pytest.skip(f"{READER_CHECK} is absent")
    paths = ("feed.atom", "topics/ai.atom", "feed.rss", "stories.atom", "top.rss", "topics/ai/stories.atom",
             "topics/computer-vision/top.rss")
    urls = [server.url + path for path in paths]
    done = subprocess.run([sys.executable, str(READER_CHECK), "--require-conditional", *urls],
                          capture_output=True, text=True, timeout=300, check=False)
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    assert "7 passed, 0 failed" in report, report


# -- the production command ------------------------------------------------------------------


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL", "Ctrl-C", "SIGTERM then Ctrl-C", "SIGINT twice"]
                         + ["Ctrl-C again"] * 4)
def test_production_workers_end_with_their_server(tmp_path: Path, how: str) -> None:
    """Stopped (SIGTERM, or Ctrl-C: SIGINT to the whole process group) or killed (SIGKILL),
    `feeds serve --workers 2` ends within seconds and leaves no worker serving."""
    records = tmp_path / "records"
    shutil.copytree(SEEDS, records)
    running = start_server(tmp_path, records, name="stop", workers=2, session=True)
    try:
        children = subprocess.run(["pgrep", "-P", str(running.process.pid)], capture_output=True, text=True,
                                  check=False)
        workers = [int(pid) for pid in children.stdout.split()]
        assert len(workers) >= 2, (workers, running.log_text())
        for _ in range(20):
            assert running.get("/feed.atom")[0] == 200
        if how == "SIGTERM then Ctrl-C":  # a supervisor's stop, then an impatient operator
            running.process.send_signal(signal.SIGTERM)
            os.killpg(running.process.pid, signal.SIGINT)
        elif how == "SIGINT twice":
            running.process.send_signal(signal.SIGINT)
            running.process.send_signal(signal.SIGINT)
        elif how.startswith("Ctrl-C"):
            os.killpg(running.process.pid, signal.SIGINT)
        else:
            running.process.send_signal(getattr(signal, how))
        running.process.wait(timeout=15)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (_listening(running.port) or any(map(_alive, workers))):
            time.sleep(0.1)
        assert not _listening(running.port), f"a worker still serves after {how}"
        assert not any(_alive(pid) for pid in workers), f"a worker outlived its server ({how})"
        assert "Traceback" not in running.log_text(), running.log_text()
    finally:  # whatever failed, nothing of it keeps running
        with contextlib.suppress(ProcessLookupError):
            os.killpg(running.process.pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone but for its exit status, which only its parent (init, now) collects.
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
        return stat.read().rpartition(")")[2].split()[0] != "Z"


def test_production_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = ["serve", "--records", str(SEEDS), "--workers", "2", "--port", str(port)]
        done = subprocess.run([sys.executable, "-m", "feeds", *command], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60, check=False,
                              env={**os.environ, "FEEDS_CACHE_DIR": "off", "PYTHONPATH": str(REPO)})
    assert done.returncode == 1
    assert done.stderr.strip() == (f"Error: 127.0.0.1:{port}: cannot listen there (Address already in use); "
                                   "choose another --port or --host"), done.stderr


def test_a_stop_signal_landing_inside_the_handlers_lock_does_not_hang() -> None:
    # A second stop signal can land while the first one's handler holds the lock of the Event it
    # sets, on the same thread (seen: a master stuck in three nested handlers after SIGINT twice).
    # granian's own handler then waits for that lock forever; ours takes none.
    from feeds.production import _server_class

    server = _server_class()("feeds.web:create_app")
    returned = threading.Event()

    def signal_inside_the_lock() -> None:
        with server.main_loop_interrupt._cond:  # held, as by a handler interrupted inside Event.set
            server.signal_handler_interrupt(signal.SIGINT, None)
            server.signal_handler_interrupt(signal.SIGTERM, None)
        returned.set()

    threading.Thread(target=signal_inside_the_lock, daemon=True).start()
    assert returned.wait(5), "the stop signal's handler waited for a lock its own thread held"
    assert server.main_loop_interrupt.wait(5) and server.interrupt_signal
