"""WebSub: the `hub` setting's links in every format, and a real hub told of exactly the feeds that
changed, by `feeds build`, by the watching build and by the live server.

The hub is `tests/websub_hub.py`, a process of its own on 127.0.0.1; a subscriber
callback server here records what the hub delivers.  A static build's feeds are
served to the hub by a plain static file server, as a static host would.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from feeds.errors import SettingsError
from feeds.settings import Settings
from feeds.websub import Notifier, topic_paths

from .stores import build_into
from .test_live_server import SEEDS, poll, start_server, stop

REPO = Path(__file__).resolve().parents[1]
ATOM = "{http://www.w3.org/2005/Atom}"
# Every feed of the seeds: the records' feeds, then the stories' (the newest seed, heat 93, is a top story).
NEWEST_STORY = ["stories", "top", "topics/ai/stories", "topics/computer-vision/stories", "topics/ai/top",
                "topics/computer-vision/top"]
STEMS = ["feed", "topics/ai", "topics/computer-vision", "providers/businessinsider.com",
         "providers/reuters.com", *NEWEST_STORY]
EXTENSIONS = [".atom", ".rss", ".json"]
NEWEST = "002_b9aff47476a12d9b.txt"  # Business Insider, 2023: the newest published seed
OLDER = "000_5493749f3400b6dd.txt"  # Reuters, 2020: the other one
WAIT = 20.0


def docs(*stems: str) -> set[str]:
    """The site paths of the subscription documents of `stems`, every format."""
    return {stem + ext for stem in stems for ext in EXTENSIONS}


def eventually(check: Callable[[], bool], what: str, seconds: float = WAIT) -> None:
    if not poll(check, seconds, 0.05):
        pytest.fail(f"{what}: not within {seconds}s")


def retitle(path: Path, title: str) -> None:
    """Give the record at `path` a new title (its id stays)."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(f'title: "{title}"\n' if line.startswith("title:") else line for line in lines),
                    encoding="utf-8")


# -- the hub, the subscriber and a static host ------------------------------------------------------


@dataclass
class Hub:
    process: subprocess.Popen[str]
    url: str

    def log(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "log", timeout=5) as response:
            found: dict[str, Any] = json.load(response)
            return found

    def published(self) -> list[str]:
        """The topic URLs publishers pinged, in order (repeats kept)."""
        return [entry["topic"] for entry in self.log()["publishes"]]

    def settled(self) -> bool:
        """True when every publish taken was fetched and delivered."""
        return all("done" in entry for entry in self.log()["publishes"])

    def subscribe(self, callback: str, topic: str, secret: str = "") -> None:
        form = {"hub.mode": "subscribe", "hub.callback": callback, "hub.topic": topic}
        if secret:
            form["hub.secret"] = secret
        request = urllib.request.Request(self.url, data=urllib.parse.urlencode(form).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 202


@pytest.fixture
def hub() -> Iterator[Hub]:
    """`tests/websub_hub.py` running on 127.0.0.1 (an ephemeral port)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "tests.websub_hub"], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening on "), line
        yield Hub(process, f"http://127.0.0.1:{int(line.split()[-1])}/")
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


@dataclass
class Delivery:
    topic: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Subscriber:
    """A WebSub subscriber: callback ``/cb/N`` stands for the Nth topic subscribed to."""

    url: str
    topics: list[str] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)
    received: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def subscribe(self, hub: Hub, topic: str, secret: str = "") -> None:
        self.topics.append(topic)
        if secret:
            self.secrets[topic] = secret
        hub.subscribe(f"{self.url}cb/{len(self.topics) - 1}", topic, secret)

    def subscribe_all(self, hub: Hub, topics: list[str]) -> None:
        """Subscribe to every topic (the first with a secret) and wait for the hub to verify each."""
        for at, topic in enumerate(topics):
            self.subscribe(hub, topic, "s3cret" if at == 0 else "")
        eventually(lambda: len(hub.log()["subscriptions"]) == len(topics), "every subscription verified")

    def topics_received(self) -> set[str]:
        with self.lock:
            return {delivery.topic for delivery in self.received}

    def last(self, topic: str) -> Delivery:
        with self.lock:
            return [delivery for delivery in self.received if delivery.topic == topic][-1]


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    """A callback server on 127.0.0.1 that answers the hub's challenges and keeps what it delivers."""
    found = Subscriber("")

    class Callback(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # the hub verifies the intent: echo its challenge
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            challenge = query.get("hub.challenge", [""])[0].encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(challenge)))
            self.end_headers()
            self.wfile.write(challenge)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            topic = found.topics[int(self.path.rsplit("/", 1)[1])]
            with found.lock:
                found.received.append(Delivery(topic, dict(self.headers.items()), body))
            self.send_response(204)
            self.end_headers()

    with _serving(Callback) as url:
        found.url = url
        yield found


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _serving:
    """An HTTP server on 127.0.0.1 in a thread of this process, for a `with` block; gives its URL."""

    def __init__(self, handler: Callable[..., BaseHTTPRequestHandler]) -> None:
        self.server = _Server(("127.0.0.1", 0), handler)

    def __enter__(self) -> str:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def feeds_env(hub: str, cache: Path) -> dict[str, str]:
    """The environment of a `feeds` process with `hub` set (and none of the developer's settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}
    env.update(FEEDS_HUB=hub, FEEDS_CACHE_DIR=str(cache), PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    return env


def run_build(records: Path, out: Path, base_url: str, hub: str,
              cache: Path) -> subprocess.CompletedProcess[str]:
    """`feeds build` in a process of its own, with `hub` set."""
    command = [sys.executable, "-m", "feeds", "build", "--records", str(records), "--out", str(out),
               "--base-url", base_url]
    return subprocess.run(command, cwd=records.parent, env=feeds_env(hub, cache), capture_output=True,
                          text=True, timeout=120, check=False)


# -- (1) the links ------------------------------------------------------------------------------------


HUBS = "https://hub.example.org/ http://127.0.0.1:9/websub"


def test_every_subscription_document_names_its_hubs_and_itself(tmp_path: Path) -> None:
    site = build_into(SEEDS, tmp_path / "out", hub=HUBS, limit=1, archive_size=1)
    settings, hubs = site.settings, HUBS.split()
    for stem in STEMS:
        atom = etree.parse(str(site.out / f"{stem}.atom")).getroot()
        links = {(link.get("rel"), link.get("href")) for link in atom.findall(f"{ATOM}link")}
        assert {("hub", h) for h in hubs} <= links
        assert ("self", settings.url(f"{stem}.atom")) in links
        channel = etree.parse(str(site.out / f"{stem}.rss")).getroot().find("channel")
        assert channel is not None
        rss_links = {(link.get("rel"), link.get("href")) for link in channel.findall(f"{ATOM}link")}
        assert {("hub", h) for h in hubs} <= rss_links
        assert ("self", settings.url(f"{stem}.rss")) in rss_links
        # feedgen writes the channel <link> from the link added last: it must stay the HTML page.
        assert channel.findtext("link") == settings.url("" if stem == "feed" else stem + "/")
        doc = json.loads((site.out / f"{stem}.json").read_bytes())
        assert doc["hubs"] == [{"type": "WebSub", "url": h} for h in hubs]
        assert doc["feed_url"] == settings.url(f"{stem}.json")
    archives = sorted(path for path in site.out.glob("**/archive/*") if path.suffix in EXTENSIONS)
    assert archives, "limit 1 leaves the older seed to an archive"
    for path in archives:  # an archive document never changes: no hub to be told of it
        assert not any(h.encode() in path.read_bytes() for h in hubs), path


def test_setting_a_hub_changes_the_subscription_documents_only(tmp_path: Path) -> None:
    build_into(SEEDS, tmp_path / "out", limit=1, archive_size=1)
    site = build_into(SEEDS, tmp_path / "out", hub=HUBS, limit=1, archive_size=1)
    written = set(site.report.export.paths_written)
    assert written == docs(*STEMS)
    assert topic_paths(written) == sorted(written)
    assert topic_paths(["topics/ai/archive/2020.atom", "archive/2020.json", "index.html", "feed.atom.gz",
                        "topics/ai/index.html", "feed.rss"]) == ["feed.rss"]


def test_a_hub_that_is_not_a_url_is_refused() -> None:
    with pytest.raises(SettingsError, match="hub"):
        Settings.make(hub="https://hub.example.org/ hub.example.org")


# -- (2) a static build ---------------------------------------------------------------------------------


def test_a_build_tells_the_hub_of_exactly_the_feeds_whose_bytes_changed(
        tmp_path: Path, hub: Hub, subscriber: Subscriber) -> None:
    records, out = tmp_path / "records", tmp_path / "out"
    shutil.copytree(SEEDS, records)
    out.mkdir()
    with _serving(partial(_Quiet, directory=str(out))) as host:  # a static host for the hub to fetch from
        first = run_build(records, out, host, hub.url, tmp_path / "cache")
        assert first.returncode == 0, first.stderr
        everything = len(docs(*STEMS))
        assert f"websub: notified {hub.url} of {everything} changed feed(s)" in first.stdout, first.stdout
        assert sorted(hub.published()) == sorted(host + path for path in docs(*STEMS))
        eventually(hub.settled, "the first build's pings handled")

        subscriber.subscribe_all(hub, [host + path for path in sorted(docs(*STEMS))])
        again = run_build(records, out, host, hub.url, tmp_path / "cache")
        assert "websub: no feed changed; no hub notified" in again.stdout, again.stdout

        retitle(records / NEWEST, "A headline changed for WebSub")
        second = run_build(records, out, host, hub.url, tmp_path / "cache")
        assert second.returncode == 0, second.stderr
        changed = docs("feed", "topics/ai", "topics/computer-vision", "providers/businessinsider.com",
                       *NEWEST_STORY)
        assert f"websub: notified {hub.url} of {len(changed)} changed feed(s)" in second.stdout
        eventually(hub.settled, "the second build's pings handled")
        assert subscriber.topics_received() == {host + path for path in changed}
        for path in changed:
            delivery = subscriber.last(host + path)
            assert delivery.body == (out / path).read_bytes()
            assert b"A headline changed for WebSub" in delivery.body
        signed = subscriber.topics[0]
        if signed in subscriber.topics_received():
            delivery = subscriber.last(signed)
            expected = hmac.new(b"s3cret", delivery.body, hashlib.sha256).hexdigest()
            assert delivery.headers["X-Hub-Signature"] == f"sha256={expected}"


# -- (3) the live server ------------------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [None, 2], ids=["development", "production"])
def test_the_live_server_tells_the_hub_of_the_feeds_a_change_reached(
        tmp_path: Path, hub: Hub, subscriber: Subscriber, workers: int | None) -> None:
    records = tmp_path / "records"
    shutil.copytree(SEEDS, records)
    # Each feed shows its newest story only: the Reuters one is in the archive of every feed but its own.
    server = start_server(tmp_path, records, workers=workers, settings={"hub": hub.url, "limit": "1"})
    try:
        for _ in range(2 * (workers or 1)):  # each worker that answers watches the folder from then on
            assert server.get("/feed.json")[0] == 200
        subscriber.subscribe_all(hub, [server.url + path for path in sorted(docs(*STEMS))])
        time.sleep(0.5)
        assert hub.published() == [], "nothing changed since the server started"

        retitle(records / OLDER, "An archived story changed")
        reuters = docs("providers/reuters.com")
        eventually(lambda: subscriber.topics_received() == {server.url + path for path in reuters},
                   f"the hub told of {sorted(reuters)}")
        for path in reuters:
            assert b"An archived story changed" in subscriber.last(server.url + path).body
            assert subscriber.last(server.url + path).body == server.get(path)[2]

        retitle(records / NEWEST, "The newest story changed")
        changed = docs("feed", "topics/ai", "topics/computer-vision", "providers/businessinsider.com",
                       *NEWEST_STORY)
        eventually(lambda: subscriber.topics_received() == {server.url + path for path in reuters | changed},
                   f"the hub told of {sorted(changed)}")
        for path in changed:
            delivery = subscriber.last(server.url + path)
            assert b"The newest story changed" in delivery.body
            assert delivery.body == server.get(path)[2], "the bytes served live"
        time.sleep(1.0)
        published = hub.published()
        assert sorted(published) == sorted(server.url + path for path in reuters | changed), (
            "each change pinged once, by one worker")
    finally:
        stop(server)
    assert "Traceback" not in server.log_text(), server.log_text()


# -- (4) a hub that is down or hangs -------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_hub_that_is_down_fails_no_build(tmp_path: Path) -> None:
    records = tmp_path / "records"
    shutil.copytree(SEEDS, records)
    down = f"http://127.0.0.1:{_closed_port()}/"
    started = time.monotonic()
    result = run_build(records, tmp_path / "out", "https://news.example.org/", down, tmp_path / "cache")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 20
    assert f"warning: websub: hub {down} failed: " in result.stderr, result.stderr
    assert f"{len(docs(*STEMS))} feed(s) not notified" in result.stderr
    assert "feeds written to" in result.stdout


def test_a_hub_that_hangs_is_given_up_within_the_bound() -> None:
    with socket.socket() as hang:  # listens, never answers
        hang.bind(("127.0.0.1", 0))
        hang.listen(64)
        url = f"http://127.0.0.1:{hang.getsockname()[1]}/"
        told = []
        notifier = Notifier([url], told.append, timeout=0.3, attempts=3, backoff=0.1, bound=1.5)
        started = time.monotonic()
        notifier.publish(["https://news.example.org/feed.atom", "https://news.example.org/feed.rss"])
        assert notifier.wait(5)
        assert time.monotonic() - started < 3
    [outcome] = told
    assert outcome.hub == url and not outcome.notified and len(outcome.failed) == 2
    assert "timed out" in outcome.error, outcome.error


def test_a_hub_that_refuses_one_feed_is_still_told_of_the_others() -> None:
    statuses = {"https://news.example.org/feed.atom": 400}
    sent: list[str] = []

    def post(hub: str, body: bytes, timeout: float) -> int:
        topic = urllib.parse.parse_qs(body.decode())["hub.url"][0]
        sent.append(topic)
        assert urllib.parse.parse_qs(body.decode()) == {"hub.mode": ["publish"], "hub.url": [topic],
                                                        "hub.topic": [topic]}
        return statuses.get(topic, 202)

    notifier = Notifier(["https://hub.example.org/"], post=post)
    notifier.publish(["https://news.example.org/feed.atom", "https://news.example.org/feed.rss"])
    assert notifier.wait(5)
    [outcome] = notifier.outcomes
    assert outcome.notified == ("https://news.example.org/feed.rss",)
    assert outcome.failed == ("https://news.example.org/feed.atom",) and "HTTP 400" in outcome.error
    assert sent == [*statuses, "https://news.example.org/feed.rss"]  # a 4xx is not tried again


def test_a_hub_that_fails_for_a_moment_is_tried_again() -> None:
    answers = iter([503, 202])
    notifier = Notifier(["https://hub.example.org/"], post=lambda hub, body, timeout: next(answers),
                        backoff=0.01)
    notifier.publish(["https://news.example.org/feed.atom"])
    assert notifier.wait(5)
    assert notifier.outcomes[0].notified == ("https://news.example.org/feed.atom",)


# -- (5) the watching build ------------------------------------------------------------------------------


def test_the_watching_build_tells_the_hub_after_each_rebuild(
        tmp_path: Path, hub: Hub, subscriber: Subscriber) -> None:
    records, out = tmp_path / "records", tmp_path / "out"
    shutil.copytree(SEEDS, records)
    out.mkdir()
    log = tmp_path / "watch.log"
    with _serving(partial(_Quiet, directory=str(out))) as host, log.open("w") as sink:
        command = [sys.executable, "-m", "feeds", "build", "--watch", "--records", str(records),
                   "--out", str(out), "--base-url", host]
        process = subprocess.Popen(command, cwd=tmp_path, env=feeds_env(hub.url, tmp_path / "cache"),
                                   stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            eventually(lambda: "websub: notified" in log.read_text(), "the first build's pings")
            eventually(hub.settled, "the first build's pings handled")
            subscriber.subscribe_all(hub, [host + path for path in sorted(docs(*STEMS))])
            retitle(records / OLDER, "Rebuilt while watching")
            # Its story too (heat 79: in no top stories feed).
            changed = docs("feed", "topics/ai", "topics/computer-vision", "providers/reuters.com",
                           "stories", "topics/ai/stories", "topics/computer-vision/stories")
            eventually(lambda: subscriber.topics_received() == {host + path for path in changed},
                       f"the hub told of {sorted(changed)}; log:\n{log.read_text()}")
            for path in changed:
                assert subscriber.last(host + path).body == (out / path).read_bytes()
        finally:
            process.terminate()
            process.wait(timeout=20)
    assert log.read_text().count("websub: notified") == 2, log.read_text()
