"""Many live servers as one: two `feeds serve --workers 2` hosts behind one nginx upstream on 127.0.0.1.

Each host has its own catalog (its own cache folder, as separate machines
have), and serves either the same record folder (shared storage) or a copy of
its own kept with ``rsync -a`` (which keeps modification times).  Whichever
host a request reaches, it gets the same bytes, ETag and Last-Modified, so a
reader moving between hosts gets 304s, and after a change the new body from
every host, never an older one.  A host started after the change, with a
fresh catalog, answers the same.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import feedparser
import pytest

from feeds.live import network_filesystem

from .nginx_server import free_port, get, serving
from .test_live_server import SEEDS, Server, eventually, start_server, stop, write_record

pytestmark = pytest.mark.tools

PATHS = ["/feed.atom", "/feed.rss", "/feed.json", "/topics/ai.atom", "/providers/reuters.com.rss",
         "/stories.atom", "/", "/topics/ai/", "/feeds.opml", "/sitemap.xml", "/embed/topics/ai.html"]
ENCODINGS = ["identity", "gzip"]
VALIDATORS = ("etag", "last-modified")
BALANCER = """\
upstream feeds_hosts {{
{servers}
}}
server {{
    listen 127.0.0.1:{port};
    location / {{
        proxy_pass http://feeds_hosts;
        proxy_set_header Host $http_host;
        add_header X-Upstream $upstream_addr always;
    }}
}}
"""


@dataclass
class Hosts:
    """Two live hosts, the record folder each serves, and the nginx balancer in front of them."""

    servers: list[Server]
    folders: list[Path]
    balancer: int
    sync: Callable[[], None]  # carries a change of the first folder to the others

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.balancer}/"


def rsync(source: Path, target: Path) -> None:
    """`rsync -a --delete`: the copy keeps the files' and the folder's modification times."""
    if shutil.which("rsync") is None:
        pytest.skip("rsync is not installed (Debian: apt-get install rsync; .ci/run installs it)")
    subprocess.run(["rsync", "-a", "--delete", f"{source}/", f"{target}/"], check=True, timeout=60)


def start_host(tmp_path: Path, name: str, records: Path, base_url: str) -> Server:
    """A host with a catalog of its own (its own cache folder), linking to the balancer's address."""
    home = tmp_path / name
    home.mkdir()
    return start_server(home, records, name=name, base_url=base_url, workers=2)


@pytest.fixture(params=["shared folder", "a copy each"])
def hosts(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Hosts]:
    first = shutil.copytree(SEEDS, tmp_path / "records")
    if request.param == "shared folder":
        folders, sync = [first, first], lambda: None
    else:
        second = tmp_path / "copy" / "records"
        second.parent.mkdir()
        rsync(first, second)
        folders, sync = [first, second], lambda: rsync(first, second)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/"
    servers: list[Server] = []
    try:
        for number, folder in enumerate(folders):
            servers.append(start_host(tmp_path, f"host{number}", folder, base_url))
        conf = tmp_path / "balancer.conf"
        conf.write_text(BALANCER.format(port=port, servers="\n".join(
            f"    server 127.0.0.1:{server.port};" for server in servers)), encoding="utf-8")
        with serving(tmp_path, conf, port):
            yield Hosts(servers, folders, port, sync)
    finally:
        for server in servers:
            stop(server)


def answers(server: Server, path: str, encoding: str) -> tuple[int, bytes, tuple[str, ...]]:
    status, headers, body = get(server.port, path, Accept_Encoding=encoding)
    assert status == 200, (server.url, path, status, body[:300])
    return status, body, tuple(headers[name] for name in VALIDATORS)


def assert_alike(servers: list[Server]) -> None:
    """Every path, plain and gzipped, has the same bytes, ETag and Last-Modified on every host."""
    for path in PATHS:
        for encoding in ENCODINGS:
            first, *others = (answers(server, path, encoding) for server in servers)
            for server, other in zip(servers[1:], others, strict=True):
                assert other[1] == first[1], f"{path} ({encoding}): {server.url} sends other bytes"
                assert other[2] == first[2], f"{path} ({encoding}): validators {first[2]} and {other[2]}"


def assert_conditional_polls_get_304(hosts: Hosts, path: str, validators: dict[str, str]) -> None:
    """A reader polling through the balancer with `validators` (ETag and Last-Modified together, and
    Last-Modified alone) gets 304 from every host."""
    reached = set()
    etag, since = validators["etag"], validators["last-modified"]
    for conditions in ({"If_None_Match": etag, "If_Modified_Since": since}, {"If_Modified_Since": since}):
        for _ in range(2 * len(hosts.servers)):  # round robin: each host answers at least twice
            status, headers, body = get(hosts.balancer, path, **conditions)
            assert status == 304, (path, conditions, headers.get("x-upstream"), status, body[:200])
            reached.add(headers["x-upstream"])
    assert reached == {f"127.0.0.1:{server.port}" for server in hosts.servers}, reached


def newest_title(server: Server) -> str:
    parsed = feedparser.parse(get(server.port, "/feed.atom")[2])
    assert not parsed.bozo, parsed.bozo_exception
    return str(parsed.entries[0].title)


def test_every_host_answers_alike_and_a_reader_moving_between_them_gets_304(hosts: Hosts) -> None:
    assert_alike(hosts.servers)
    for path in PATHS:
        status, headers, _ = get(hosts.balancer, path)
        assert status == 200, (path, status)
        assert_conditional_polls_get_304(hosts, path, headers)


def test_after_a_change_every_host_sends_the_new_body_alike_and_a_new_host_too(
        hosts: Hosts, tmp_path: Path) -> None:
    before = {path: get(hosts.balancer, path) for path in PATHS}
    folder = hosts.folders[0]
    write_record(folder, "zz-new.md", title="Carried to every host")
    (folder / sorted(p.name for p in folder.iterdir() if p.suffix == ".txt")[-1]).unlink()
    hosts.sync()
    for server in hosts.servers:
        eventually(lambda server=server: newest_title(server) == "Carried to every host",
                   "the new record", server)
    assert_alike(hosts.servers)
    changed = {path for path, (_, _, old_body) in before.items() if get(hosts.balancer, path)[2] != old_body}
    assert {"/feed.atom", "/feed.json", "/topics/ai.atom", "/feeds.opml"} <= changed, changed
    for path, (_, old, old_body) in before.items():
        for _ in hosts.servers if path in changed else ():
            # A reader holding the old body gets the new one from every host.
            status, headers, body = get(hosts.balancer, path, If_None_Match=old["etag"],
                                        If_Modified_Since=old["last-modified"])
            assert status == 200 and body != old_body, (path, headers.get("x-upstream"), status)
            status, headers, body = get(hosts.balancer, path, If_Modified_Since=old["last-modified"])
            assert status == 200 and body != old_body, f"{path}: a 304 for a changed body (If-Modified-Since)"
        assert_conditional_polls_get_304(hosts, path, get(hosts.balancer, path)[1])
    # A host that joins now, with a catalog of its own and none of the others' history, answers the same.
    late = start_host(tmp_path, "late", hosts.folders[-1], hosts.base_url)
    try:
        assert_alike([hosts.servers[0], late])
    finally:
        stop(late)


MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:35 / /srv/news rw,relatime shared:20 - nfs4 filer:/export/news rw,vers=4.2
41 40 8:2 / /srv/news/local rw,relatime shared:21 - xfs /dev/sdb1 rw
42 22 0:36 / /mnt/my\\040share rw,relatime shared:22 - cifs //nas/share rw
43 22 0:37 / /mnt/remote rw,relatime shared:23 - fuse.sshfs host:/data rw
44 22 0:38 / /mnt/overlay rw,relatime shared:24 - overlay overlay rw
"""


@pytest.mark.parametrize(("folder", "expected"), [
    ("/srv/news/records", "nfs4"), ("/srv/news", "nfs4"), ("/srv/news/local/records", None),
    ("/srv/newsroom", None), ("/mnt/my share/records", "cifs"), ("/mnt/remote/x", "fuse.sshfs"),
    ("/mnt/overlay/records", None), ("/home/records", None)])
def test_a_folder_on_a_network_file_system_is_told_apart(folder: str, expected: str | None) -> None:
    # inotify never tells of a change another machine makes to an NFS folder: such a folder is polled.
    assert network_filesystem(Path(folder), MOUNTINFO) == expected


def test_a_local_folder_is_watched_not_polled(tmp_path: Path) -> None:
    assert network_filesystem(tmp_path) is None  # this machine's own mount table
