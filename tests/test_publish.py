"""`feeds publish`: the static export in a bucket, against a real S3 API: moto's server on 127.0.0.1,
started once for the session.  boto3 reads back what the bucket holds, plain HTTP fetches it as a
reader would, and a proxy in front of moto (`Proxy`) logs each request that changed the bucket and
plays a network that goes down.

The credentials are the tests' own (the user's AWS settings and files are never read).  moto checks
them only once told to (``/moto-api/reset-auth``): `test_credentials_the_store_refuses_are_named`
turns that on, for IAM users made in moto.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

import boto3
import feedparser
import pytest
from click.testing import CliRunner, Result
from moto.server import ThreadedMotoServer

from feeds.bucket import Headers, Stored
from feeds.cli import main
from feeds.compression import packed, sibling_of
from feeds.objects import closed_pages
from feeds.publish import MANIFEST, decode_manifest, encode_manifest
from feeds.site import ARCHIVE_MAX_AGE
from feeds.web import create_app
from feeds.websub import topic_paths

from . import test_websub as websub
from .feedcheck import BASE_URL, REPO, SEEDS, site_files
from .stores import RecordWriter, Site, build_into
from .test_cli import shown
from .test_live_server import poll

hub = websub.hub  # the WebSub tests' hub, a process of its own on 127.0.0.1

SUMMARY = re.compile(r"^published (?P<files>\d+) files to (?P<target>\S+): uploaded (?P<uploaded>\d+), "
                     r"deleted (?P<deleted>\d+), unchanged (?P<unchanged>\d+); [0-9.]+s$", re.MULTILINE)
SMALL = {"limit": 2, "archive_size": 2, "jobs": 1}  # archive pages from three stories on; no forks
NEWEST = websub.NEWEST  # the newest seed (Business Insider, 2023)


# -- the S3 server, the bucket, the proxy ---------------------------------------------------------------


@pytest.fixture(scope="session")
def moto() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 (a free port) for the session; its URL."""
    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.ERROR)  # else a log line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    werkzeug.setLevel(level)


def use_own_aws(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests' own credentials and region; no AWS_* variable, file or instance role of the user's."""
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    empty = folder / "aws-empty"
    empty.write_text("", encoding="utf-8")
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(empty),
                       "AWS_SHARED_CREDENTIALS_FILE": str(empty),
                       "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(key, value)


@pytest.fixture(autouse=True)
def aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test with `use_own_aws`."""
    use_own_aws(tmp_path, monkeypatch)


class Object(NamedTuple):
    """An object as the bucket holds it."""

    body: bytes
    content_type: str
    cache_control: str
    encoding: str


@dataclass
class Bucket:
    """A fresh bucket of the moto server, anyone may GET its objects (as a public site's)."""

    name: str
    endpoint: str
    s3: Any = field(repr=False)

    def url(self, prefix: str) -> str:
        return f"s3://{self.name}/{prefix}"

    def keys(self, prefix: str = "") -> list[str]:
        return list(self.md5s(prefix))

    def md5s(self, prefix: str = "") -> dict[str, str]:
        """The MD5 of each object's bytes (its ETag: moto's own digest of what it holds), by key."""
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix)
        return {item["Key"]: item["ETag"].strip('"') for page in pages for item in page.get("Contents", ())}

    def objects(self, prefix: str) -> dict[str, Object]:
        """Every object under `prefix`, by its key after the prefix."""
        def get(key: str) -> Object:
            got = self.s3.get_object(Bucket=self.name, Key=key)
            return Object(got["Body"].read(), got.get("ContentType", ""), got.get("CacheControl", ""),
                          got.get("ContentEncoding", ""))

        keys = self.keys(prefix)
        with ThreadPoolExecutor(8) as pool:
            return {key[len(prefix):]: found for key, found in zip(keys, pool.map(get, keys), strict=True)}

    def put(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=self.name, Key=key, Body=body)

    def manifest(self, prefix: str) -> dict[str, Stored | None]:
        return decode_manifest(self.s3.get_object(Bucket=self.name, Key=prefix + MANIFEST)["Body"].read())

    def http(self, key: str) -> tuple[bytes, Message]:
        """A reader's GET of the object at `key`: its body and headers."""
        with urllib.request.urlopen(f"{self.endpoint}/{self.name}/{key}", timeout=10) as response:
            return response.read(), response.headers


def new_bucket(moto: str) -> Bucket:
    """A new bucket (credentials in place: `use_own_aws`)."""
    s3 = boto3.client("s3", endpoint_url=moto)
    name = f"feeds-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    anyone = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
              "Resource": f"arn:aws:s3:::{name}/*"}
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [anyone]}))
    return Bucket(name, moto, s3)


@pytest.fixture
def bucket(moto: str, aws: None) -> Bucket:
    """A bucket of the test's own."""
    return new_bucket(moto)


class Proxy:
    """An HTTP proxy on 127.0.0.1 in front of moto: `log` holds each request moto answered, in the
    order it answered them (method, key, body); once `down_when` holds for a request, the network
    is down (every request gets its connection closed, unanswered) until `heal`."""

    def __init__(self, upstream: str, bucket: str) -> None:
        self.upstream = urlsplit(upstream)
        self.bucket = bucket
        self.log: list[tuple[str, str, bytes]] = []
        self.down_when: Callable[[str, str], bool] | None = None
        self.down = False
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def forward(self) -> None:
                proxy.forward(self)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        key = unquote(urlsplit(handler.path).path).removeprefix(f"/{self.bucket}/")
        with self.lock:
            if self.down_when is not None and self.down_when(handler.command, key):
                self.down = True
            if self.down:
                handler.close_connection = True
                return
        hop = ("connection", "expect", "keep-alive", "transfer-encoding")
        connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=30)
        connection.request(handler.command, handler.path, body,
                           {k: v for k, v in handler.headers.items() if k.lower() not in hop})
        response = connection.getresponse()
        data = response.read()
        connection.close()
        with self.lock:
            self.log.append((handler.command, key, body))
        handler.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in (*hop, "content-length", "server", "date"):
                handler.send_header(name, value)
        handler.send_header("Content-Length", response.getheader("Content-Length", str(len(data))))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(data)

    def changes(self) -> list[tuple[str, str, bytes]]:
        """The requests that changed the bucket (PUT, and POST ?delete), in order."""
        with self.lock:
            return [entry for entry in self.log if entry[0] in ("PUT", "POST", "DELETE")]

    def heal(self) -> None:
        with self.lock:
            self.down_when, self.down = None, False

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(moto: str, bucket: Bucket) -> Iterator[Proxy]:
    found = Proxy(moto, bucket.name)
    yield found
    found.close()


# -- sites and publishes ------------------------------------------------------------------------------------


def stock(folder: Path) -> Path:
    """The seeds and two older AI stories (2014 and 2015), the older also alone in a topic of its own
    ("Vanishing"), in `folder`: with SMALL, the feeds they are in have a closed archive page and an
    open one."""
    shutil.copytree(SEEDS, folder)
    writer = RecordWriter(folder)
    for n in range(2):
        writer(f"story-{n}.md", title=f"Story {n}", webUrl=f"https://example.com/{n}",
               publishedDateTime=f"{2014 + n}-05-06T07:08:09Z",
               topics=["AI", *(["Vanishing"] if n == 0 else [])])
    return folder


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A store of `stock`."""
    return stock(tmp_path / "records")


def build(store: Path, out: Path, **overrides: Any) -> Site:
    return build_into(store, out, **{**SMALL, **overrides})


def objects_of(out: Path) -> dict[str, bytes]:
    """What the bucket should hold of the export under `out`: every file but siblings and dot files."""
    return {path: data for path, data in site_files(out).items()
            if sibling_of(path) is None and not any(part.startswith(".") for part in path.split("/"))}


def publish(runner: CliRunner, bucket: Bucket, prefix: str, out: Path, *extra: str,
            endpoint: str | None = None) -> Result:
    return runner.invoke(main, ["publish", bucket.url(prefix), "--out", str(out),
                                "--endpoint-url", endpoint or bucket.endpoint, *extra])


def published(result: Result) -> dict[str, int]:
    """The counts of a successful publish's summary line."""
    assert result.exit_code == 0, shown(result)
    match = SUMMARY.search(result.stdout)
    assert match, f"no summary line:\n{shown(result)}"
    return {k: int(v) for k, v in match.groupdict().items() if k != "target"}


def failed(result: Result, *words: str) -> None:
    """A publish that ended with exit status 1 and one line naming `words`, no traceback."""
    assert result.exit_code == 1, shown(result)
    assert all(word in result.stderr for word in words), shown(result)
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit), shown(result)


def _md5(data: bytes | None) -> str:
    return hashlib.md5(data or b"").hexdigest()


def retitle(store: Path, name: str, title: str) -> None:
    websub.retitle(store / name, title)


def plain(objects: dict[str, Object]) -> dict[str, bytes]:
    return {key: obj.body for key, obj in objects.items() if key != MANIFEST}


# -- what a publish uploads ---------------------------------------------------------------------------


def test_a_first_publish_uploads_every_file_with_the_live_servers_headers(
        runner: CliRunner, bucket: Bucket, store: Path, tmp_path: Path, in_tmp: Path) -> None:
    site = build(store, tmp_path / "out", precompress=True)
    files = objects_of(site.out)
    assert any(path.endswith(".gz") for path in site_files(site.out)), "siblings to leave out"
    assert published(publish(runner, bucket, "news", site.out)) == {
        "files": len(files), "uploaded": len(files), "deleted": 0, "unchanged": 0}
    held = bucket.objects("news/")
    assert held.keys() == files.keys() | {MANIFEST}
    live = create_app(site.settings, watch=False).test_client()
    for path, data in files.items():
        answer = live.get("/" + path)
        assert answer.status_code == 200, path
        assert held[path] == Object(data, answer.content_type, answer.headers["Cache-Control"], ""), path
    archived = {path for path in files if "/archive/" in f"/{path}"}
    long = {path for path in files if held[path].cache_control == f"public, max-age={ARCHIVE_MAX_AGE}"}
    assert long == closed_pages(files) and set() < long < archived, "closed pages long, the newest short"
    md5s = {path: _md5(data) for path, data in files.items()}
    assert {path: entry and entry.md5 for path, entry in bucket.manifest("news/").items()} == md5s
    for path in ("feed.atom", "topics/ai.rss", "archive/2015.atom", "topics/ai.json"):
        body, headers = bucket.http(f"news/{path}")  # as a reader gets it
        assert body == files[path] and headers["Content-Type"] == held[path].content_type
        if path.endswith(".json"):
            assert json.loads(body)["items"], path
        else:
            parsed = feedparser.parse(body)
            assert not parsed.bozo and parsed.entries, path


def test_a_second_publish_uploads_nothing_and_asks_no_object(
        runner: CliRunner, bucket: Bucket, proxy: Proxy, store: Path, tmp_path: Path, in_tmp: Path) -> None:
    site = build(store, tmp_path / "out")
    published(publish(runner, bucket, "news", site.out))
    files = len(objects_of(site.out))
    assert published(publish(runner, bucket, "news", site.out, endpoint=proxy.url)) == {
        "files": files, "uploaded": 0, "deleted": 0, "unchanged": files}
    assert [(method, key) for method, key, _ in proxy.log] == [("GET", f"news/{MANIFEST}")]


def test_after_one_record_changes_only_the_objects_whose_bytes_changed_go_up(
        runner: CliRunner, bucket: Bucket, proxy: Proxy, store: Path, tmp_path: Path, in_tmp: Path) -> None:
    out = tmp_path / "out"
    published(publish(runner, bucket, "news", build(store, out).out))
    retitle(store, NEWEST, "A headline changed for the bucket")
    written = {path for path in build(store, out).report.export.paths_written if sibling_of(path) is None}
    assert "feed.atom" in written and len(written) < len(objects_of(out)) / 2

    dry = publish(runner, bucket, "news", out, "--dry-run", endpoint=proxy.url)
    assert dry.exit_code == 0, shown(dry)
    listed = re.findall(r"^upload (\S+) \(changed; [a-z ]+\)$", dry.stdout, re.MULTILINE)
    assert sorted(listed) == sorted(written), shown(dry)
    assert f"would upload {len(written)} (0 new), delete 0" in dry.stdout and not proxy.changes()

    assert published(publish(runner, bucket, "news", out, endpoint=proxy.url))["uploaded"] == len(written)
    assert sorted(key for _, key, _ in proxy.changes()) == sorted(
        [f"news/{path}" for path in written] + [f"news/{MANIFEST}"] * 2), "claimed, uploaded, confirmed"
    assert plain(bucket.objects("news/")) == objects_of(out)


def test_a_topic_that_goes_takes_its_objects_and_leaves_everyone_elses(
        runner: CliRunner, bucket: Bucket, store: Path, tmp_path: Path, in_tmp: Path) -> None:
    out = tmp_path / "out"
    published(publish(runner, bucket, "news", build(store, out).out))
    foreign = {"news/notes.txt", "news/topics/vanishing-notes.html", "news/topics/vanishing/extra.html",
               "elsewhere/topics/vanishing.atom", "news-other/feed.atom"}
    for key in foreign:
        bucket.put(key, f"not the publisher's: {key}".encode())
    (store / "story-0.md").unlink()
    removed = {path for path in build(store, out).report.export.paths_removed if sibling_of(path) is None}
    assert {"topics/vanishing.atom", "topics/vanishing/index.html", "embed/topics/vanishing.html"} <= removed
    assert published(publish(runner, bucket, "news", out))["deleted"] == len(removed)
    held = bucket.objects("")
    assert {key for key in held if key.startswith("news/")} == (
        {f"news/{path}" for path in objects_of(out)} | {f"news/{MANIFEST}"} | {k for k in foreign if
                                                                             k.startswith("news/")})
    for key in foreign:
        assert held[key].body == f"not the publisher's: {key}".encode()
    assert set(bucket.manifest("news/")) == set(objects_of(out))


def test_a_dry_run_lists_every_upload_and_changes_nothing(
        runner: CliRunner, bucket: Bucket, store: Path, tmp_path: Path, in_tmp: Path) -> None:
    site = build(store, tmp_path / "out")
    result = publish(runner, bucket, "news", site.out, "--dry-run")
    assert result.exit_code == 0, shown(result)
    files = objects_of(site.out)
    assert sorted(re.findall(r"^upload (\S+) \(new; ", result.stdout, re.MULTILINE)) == sorted(files)
    assert f"would upload {len(files)} ({len(files)} new), delete 0, leave 0 unchanged" in result.stdout
    assert bucket.keys() == []


def test_verbose_names_each_object_uploaded_and_quiet_prints_nothing(
        runner: CliRunner, bucket: Bucket, store: Path, tmp_path: Path, in_tmp: Path) -> None:
    site = build(store, tmp_path / "out")
    result = publish(runner, bucket, "news", site.out, "--verbose")
    files = objects_of(site.out)
    assert published(result)["uploaded"] == len(files)
    uploaded = re.findall(r"^uploaded (\S+)$", result.stdout, re.MULTILINE)
    assert sorted(uploaded) == sorted(files), shown(result)
    retitle(store, NEWEST, "A headline changed for a quiet publish")
    build(store, site.out)
    quiet = publish(runner, bucket, "news", site.out, "-q")
    assert quiet.exit_code == 0 and quiet.output == "", shown(quiet)
    assert published(publish(runner, bucket, "news", site.out))["uploaded"] == 0, "the quiet one did it"


# -- order, interruptions ------------------------------------------------------------------------------


LINK = re.compile(re.escape(BASE_URL) + r"([^\"'<>\s?#&]*)")


def links(data: bytes) -> set[str]:
    """The site paths an object links to (``topics/ai/`` is ``topics/ai/index.html``)."""
    found = set()
    for match in LINK.finditer(data.decode("utf-8", "replace")):
        path = match.group(1)
        found.add(path + "index.html" if path == "" or path.endswith("/") else path)
    return found


def unreachable(held: dict[str, bytes], known: set[str]) -> set[str]:
    """The links a reader can follow from the objects of keys they `known` to objects that are not
    there (a reader reaches a new object only through links)."""
    seen = {key for key in known if key in held}
    todo = list(seen)
    missing = set()
    while todo:
        for target in links(held[todo.pop()]):
            if target not in held:
                missing.add(target)
            elif target not in seen:
                seen.add(target)
                todo.append(target)
    return missing


def _changed_store(store: Path) -> None:
    """Change a record, take a topic away and bring a new one: objects new, replaced and gone."""
    retitle(store, NEWEST, "The newest story, retitled")
    (store / "story-0.md").unlink()
    RecordWriter(store)("brand-new.md", title="A new topic arrives", webUrl="https://example.com/new",
                        publishedDateTime="2024-01-02T03:04:05Z", topics=["Brand New"])


@dataclass(frozen=True)
class Versions:
    """The export of `stock` before and after `_changed_store`, and the bucket after a clean publish
    of the second."""

    before: Path
    after: Path
    clean: dict[str, Object]


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory, moto: str) -> Versions:
    work = tmp_path_factory.mktemp("versions")
    store = stock(work / "records")
    before = build(store, work / "before").out
    _changed_store(store)
    after = build(store, work / "after").out
    with pytest.MonkeyPatch.context() as monkeypatch:
        use_own_aws(work, monkeypatch)
        clean = new_bucket(moto)
        published(publish(CliRunner(), clean, "clean", after))
        return Versions(before, after, clean.objects("clean/"))


def _replayed(before: dict[str, bytes], after: dict[str, bytes],
              changes: list[tuple[str, str, bytes]], prefix: str) -> Iterator[dict[str, bytes]]:
    """The bucket's site objects after each change of `changes`, from `before`, to `after`'s bytes."""
    held = dict(before)
    for method, key, body in changes:
        if method == "PUT" and key != prefix + MANIFEST:
            held[key[len(prefix):]] = after[key[len(prefix):]]
        elif method == "POST":
            for gone in re.findall(rb"<Key>([^<]*)</Key>", body):
                held.pop(gone.decode()[len(prefix):], None)
        yield held


def test_at_every_step_of_a_publish_every_link_a_reader_can_follow_leads_to_an_object(
        runner: CliRunner, bucket: Bucket, proxy: Proxy, versions: Versions, in_tmp: Path) -> None:
    published(publish(runner, bucket, "news", versions.before))
    before, after = objects_of(versions.before), objects_of(versions.after)
    counts = published(publish(runner, bucket, "news", versions.after, endpoint=proxy.url))
    assert counts["deleted"] and counts["uploaded"] > len(after.keys() - before.keys()) > 0
    for step, held in enumerate(_replayed(before, after, proxy.changes(), "news/")):
        assert not unreachable(held, set(before)), f"after step {step}"
    assert held == after
    # The check can fail: the same changes in the order of their keys leave links to nowhere.
    alphabetical = sorted(proxy.changes(), key=lambda change: change[1])
    assert any(unreachable(held, set(before)) for held in _replayed(before, after, alphabetical, "news/"))


def test_a_first_publish_puts_up_what_is_linked_to_before_what_links_to_it(
        runner: CliRunner, bucket: Bucket, proxy: Proxy, store: Path, tmp_path: Path, in_tmp: Path) -> None:
    site = build(store, tmp_path / "out")
    published(publish(runner, bucket, "news", site.out, endpoint=proxy.url))
    order = [key.removeprefix("news/") for _, key, _ in proxy.changes()]
    assert order[0] == order[-1] == MANIFEST and order.count(MANIFEST) == 2
    at = {path: order.index(path) for path in objects_of(site.out)}
    closed = closed_pages(at)
    archived = {path for path in at if "/archive/" in f"/{path}"}
    feeds = {path for path in at if path.endswith((".atom", ".rss", ".json")) and path not in archived}
    pages = {path for path in at if path.endswith(".html") and path not in archived | {"index.html"}}
    lists = {"index.html", "feeds.opml", "sitemap.xml", "robots.txt"}
    assets = at.keys() - archived - feeds - pages - lists
    for earlier, later in ((assets, closed), (closed, archived - closed), (archived, feeds), (feeds, pages),
                           (pages, lists)):
        assert max(at[path] for path in earlier) < min(at[path] for path in later)


def _consistent(bucket: Bucket, prefix: str, before: dict[str, bytes], after: dict[str, bytes]) -> None:
    """What an interrupted publish leaves: each object whole (its bytes before or after), each one
    owned by the manifest, and no link a reader can follow leading nowhere."""
    held = {key[len(prefix):]: md5 for key, md5 in bucket.md5s(prefix).items() if key != prefix + MANIFEST}
    for key, md5 in held.items():
        assert md5 in {_md5(data) for data in (before.get(key), after.get(key)) if data is not None}, key
    assert set(held) <= set(bucket.manifest(prefix)), "an object the publisher does not know it owns"
    assert not unreachable({key: after[key] if held[key] == _md5(after.get(key)) else before[key]
                            for key in held}, set(before))


def _nth(method: str, n: int, key: str | None = None) -> Callable[[str, str], bool]:
    """True from the `n`th request of `method` (to `key`, when given) on."""
    seen = 0

    def hit(asked: str, at: str) -> bool:
        nonlocal seen
        if asked == method and (key is None or at == key):
            seen += 1
        return seen >= n
    return hit


# Where the network goes down in a publish of `versions` (before the claim is written, nothing changed).
FAILURES = {
    "half-way through the uploads": _nth("PUT", 60),  # (the 23 new objects are up: among replaced ones)
    "at the deletions": _nth("POST", 1),
    "at the last manifest": _nth("PUT", 2, f"news/{MANIFEST}"),
}


@pytest.mark.parametrize("where", FAILURES)
def test_a_publish_the_network_interrupts_leaves_a_site_the_next_one_completes(
        runner: CliRunner, bucket: Bucket, proxy: Proxy, versions: Versions, in_tmp: Path,
        where: str) -> None:
    published(publish(runner, bucket, "news", versions.before))
    proxy.down_when = FAILURES[where]
    failed(publish(runner, bucket, "news", versions.after, endpoint=proxy.url), f"bucket {bucket.name!r}",
           "cannot reach", "--endpoint-url")
    _consistent(bucket, "news/", objects_of(versions.before), objects_of(versions.after))
    proxy.heal()
    published(publish(runner, bucket, "news", versions.after, endpoint=proxy.url))
    assert bucket.objects("news/") == versions.clean


def test_a_publish_killed_half_way_is_completed_by_the_next_as_a_clean_one(
        runner: CliRunner, bucket: Bucket, tmp_path: Path, in_tmp: Path) -> None:
    records = tmp_path / "records"
    records.mkdir()
    writer = RecordWriter(records)
    for n in range(8):  # some 150 files
        writer(f"r{n:03d}.md", title=f"Story {n}", webUrl=f"https://example.com/{n}",
               topics=[f"Topic {n % 6}"], publishedDateTime=f"{2010 + n % 12}-{1 + n % 12:02d}-10T10:00:00Z",
               provider={"name": f"Provider {n % 5}", "domain": f"p{n % 5}.example.com"})
    out = build(records, tmp_path / "out").out
    files = objects_of(out)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "feeds", "publish", bucket.url("killed"), "--out", str(out),
               "--endpoint-url", bucket.endpoint]
    process = subprocess.Popen(command, cwd=in_tmp, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    try:
        assert poll(lambda: len(bucket.keys("killed/")) > 20 or process.poll() is not None, 60, 0.02)
        assert process.poll() is None, "the publish ended before the kill: give it more files"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
        assert process.stderr is not None
        process.stderr.close()
    held = plain(bucket.objects("killed/"))
    assert 20 < len(held) < len(files), "killed half-way"
    manifest = bucket.manifest("killed/")
    assert set(held) <= set(manifest) == set(files), "every object owned before it went up"
    for key, data in held.items():
        assert data == files[key], key
    counts = published(publish(runner, bucket, "killed", out))
    # (moto may finish a PUT the publish sent just before it was killed, after the listing above)
    assert counts["uploaded"] <= len(files) - len(held), "the objects already up are not sent again"
    published(publish(runner, bucket, "clean", out))
    assert bucket.objects("killed/") == bucket.objects("clean/")


# -- without a manifest ---------------------------------------------------------------------------------


def test_without_its_manifest_a_publish_compares_with_the_objects_and_deletes_none(
        runner: CliRunner, bucket: Bucket, proxy: Proxy, store: Path, tmp_path: Path, in_tmp: Path) -> None:
    out = tmp_path / "out"
    published(publish(runner, bucket, "news", build(store, out).out))
    bucket.put("news/notes.txt", b"someone else's")
    bucket.s3.delete_object(Bucket=bucket.name, Key=f"news/{MANIFEST}")
    files = objects_of(out)
    result = publish(runner, bucket, "news", out, endpoint=proxy.url)
    assert published(result) == {"files": len(files), "uploaded": 0, "deleted": 0, "unchanged": len(files)}
    assert "warning: 1 object(s) under" in result.stderr and "left as they are" in result.stderr
    assert [key for _, key, _ in proxy.changes()] == [f"news/{MANIFEST}"], "the manifest written anew"
    assert sum(method == "HEAD" for method, _, _ in proxy.log) == len(files)

    (store / "story-0.md").unlink()
    build(store, out)
    bucket.put(f"news/{MANIFEST}", b"{not json")
    result = publish(runner, bucket, "news", out)
    assert published(result)["deleted"] == 0 and "is unreadable (not JSON" in result.stderr
    held = bucket.objects("news/")
    assert "topics/vanishing.atom" in held and held["notes.txt"].body == b"someone else's"
    assert set(bucket.manifest("news/")) == set(objects_of(out))


def test_the_manifest_reads_back_what_was_written_and_refuses_what_is_not_a_site_path() -> None:
    objects: dict[str, Stored | None] = {
        "feed.atom": Stored("0" * 32, Headers("application/atom+xml; charset=utf-8", "public, max-age=300")),
        "feed.json": None, "topics/ai.json": Stored("1" * 32, Headers("x", "y", "gzip"))}
    assert decode_manifest(encode_manifest(objects)) == objects
    doc = json.loads(encode_manifest(objects))
    assert len(doc["headers"]) == 2
    doc["objects"][MANIFEST] = None  # deleting it would lose every claim
    with pytest.raises(ValueError, match="not a site path"):
        decode_manifest(json.dumps(doc).encode())


# -- gzip, WebSub ------------------------------------------------------------------------------------------


def test_gzip_uploads_the_precompressed_bytes_with_their_encoding(
        runner: CliRunner, bucket: Bucket, store: Path, tmp_path: Path, in_tmp: Path) -> None:
    site = build(store, tmp_path / "out", precompress=True)
    files = objects_of(site.out)
    published(publish(runner, bucket, "news", site.out, "--gzip"))
    held = bucket.objects("news/")
    for path, data in files.items():
        if packed(path):
            assert held[path].encoding == "gzip" and held[path].body == (site.out / f"{path}.gz").read_bytes()
            assert gzip.decompress(held[path].body) == data
        else:
            assert held[path].encoding == "" and held[path].body == data, path
    body, headers = bucket.http("news/feed.atom")
    assert headers["Content-Encoding"] == "gzip" and gzip.decompress(body) == files["feed.atom"]
    # Turned off again, every object holds its plain bytes.
    counts = published(publish(runner, bucket, "news", site.out))
    assert counts["uploaded"] == sum(map(packed, files))
    assert plain(bucket.objects("news/")) == files

    unpacked = build(store, tmp_path / "plain").out
    failed(publish(runner, bucket, "plain", unpacked, "--gzip"), ".gz: missing", "--precompress")


def test_after_a_publish_the_hub_is_told_of_the_feeds_whose_objects_changed(
        runner: CliRunner, bucket: Bucket, hub: websub.Hub, store: Path, tmp_path: Path, in_tmp: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    base = f"{bucket.endpoint}/{bucket.name}/site/"  # the bucket serves the site: the hub fetches it there
    monkeypatch.setenv("FEEDS_HUB", hub.url)
    monkeypatch.setenv("FEEDS_BASE_URL", base)
    out = tmp_path / "out"
    files = objects_of(build(store, out, hub=hub.url, base_url=base).out)
    first = publish(runner, bucket, "site", out)
    published(first)
    feeds = topic_paths(files)
    assert f"websub: notified {hub.url} of {len(feeds)} changed feed(s)" in first.stdout, shown(first)
    assert sorted(hub.published()) == [base + path for path in feeds]
    websub.eventually(hub.settled, "the pings handled")
    assert all(entry["done"]["fetched"] for entry in hub.log()["publishes"]), "fetched from the bucket"

    again = publish(runner, bucket, "site", out)
    assert "websub: no feed changed; no hub notified" in again.stdout, shown(again)
    retitle(store, NEWEST, "A headline changed for WebSub")
    written = build(store, out, hub=hub.url, base_url=base).report.export.paths_written
    published(publish(runner, bucket, "site", out))
    assert sorted(hub.published()[len(feeds):]) == [base + path for path in topic_paths(written)]


# -- errors -------------------------------------------------------------------------------------------------


@pytest.fixture
def seeds_out(tmp_path: Path) -> Path:
    return build(SEEDS, tmp_path / "out").out


def test_a_missing_bucket_is_named_with_the_fix(runner: CliRunner, moto: str, seeds_out: Path,
                                                  in_tmp: Path) -> None:
    result = runner.invoke(main, ["publish", "s3://no-such-bucket-here/news", "--out", str(seeds_out),
                                  "--endpoint-url", moto])
    failed(result, "bucket 'no-such-bucket-here'", "does not exist", "aws s3 mb s3://no-such-bucket-here")


@contextmanager
def iam_checks(moto: str) -> Iterator[None]:
    """moto checks every request's signature and the IAM policies of its user, until the end."""
    def reset(count: bytes) -> None:
        request = urllib.request.Request(f"{moto}/moto-api/reset-auth", data=count,
                                         headers={"Content-Type": "text/plain"})  # (a form's body is lost)
        with urllib.request.urlopen(request, timeout=10):
            pass
    reset(b"0")
    try:
        yield
    finally:
        reset(b"inf")


def test_credentials_the_store_refuses_are_named(runner: CliRunner, bucket: Bucket, seeds_out: Path,
                                                 in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    iam = boto3.client("iam", endpoint_url=bucket.endpoint)
    keys = {}
    for user, actions in (("publisher", ["s3:*"]), ("reader", ["s3:GetObject"])):
        iam.create_user(UserName=f"{user}-{bucket.name}")  # (moto keeps its users for the session)
        iam.put_user_policy(UserName=f"{user}-{bucket.name}", PolicyName="site", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
        key = iam.create_access_key(UserName=f"{user}-{bucket.name}")["AccessKey"]
        keys[user] = (key["AccessKeyId"], key["SecretAccessKey"])

    def run(key_id: str, secret: str) -> Result:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        return publish(runner, bucket, "news", seeds_out)

    with iam_checks(bucket.endpoint):
        failed(run("AKIANOSUCHKEY0000000", "x" * 40), f"bucket {bucket.name!r}", "credentials were refused",
               "InvalidAccessKeyId", "AWS_ACCESS_KEY_ID")
        failed(run(keys["publisher"][0], "wrong" * 8), "credentials were refused", "SignatureDoesNotMatch")
        failed(run(*keys["reader"]), f"bucket {bucket.name!r}", "access denied", "s3:PutObject",
               f"arn:aws:s3:::{bucket.name}/news/*")
        published(run(*keys["publisher"]))


def test_no_credentials_at_all_are_named_with_the_fix(runner: CliRunner, bucket: Bucket, seeds_out: Path,
                                                      in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    failed(publish(runner, bucket, "news", seeds_out), "no credentials", "aws configure")


def test_an_endpoint_that_cannot_be_reached_is_named(runner: CliRunner, seeds_out: Path,
                                                     in_tmp: Path) -> None:
    endpoint = f"http://127.0.0.1:{websub._closed_port()}"
    result = runner.invoke(main, ["publish", "s3://news-bucket/", "--out", str(seeds_out),
                                  "--endpoint-url", endpoint])
    failed(result, "bucket 'news-bucket'", f"cannot reach {endpoint}", "--endpoint-url")


@pytest.mark.parametrize("folder", ["missing", "empty"])
def test_a_folder_no_build_wrote_is_refused_with_the_fix(runner: CliRunner, bucket: Bucket, tmp_path: Path,
                                                         in_tmp: Path, folder: str) -> None:
    out = tmp_path / folder
    if folder == "empty":
        out.mkdir()
    failed(publish(runner, bucket, "news", out), str(out), f"run `feeds build --out {out}` first")
    assert bucket.keys() == []


@pytest.mark.parametrize("url", ["news-bucket", "https://news-bucket/", "s3://", "s3://Bad_Bucket!/",
                                 "s3://news-bucket/a//b", "s3://news-bucket/../up", "s3://ab/"])
def test_a_bad_bucket_url_is_a_usage_error(runner: CliRunner, seeds_out: Path, in_tmp: Path,
                                           url: str) -> None:
    result = runner.invoke(main, ["publish", url, "--out", str(seeds_out)])
    assert result.exit_code == 2 and "s3://BUCKET/PREFIX" in result.stderr, shown(result)


def test_a_bad_endpoint_url_is_a_usage_error(runner: CliRunner, seeds_out: Path, in_tmp: Path) -> None:
    result = runner.invoke(main, ["publish", "s3://news-bucket/", "--out", str(seeds_out),
                                  "--endpoint-url", "127.0.0.1:9000"])
    assert result.exit_code == 2 and "--endpoint-url" in result.stderr, shown(result)
