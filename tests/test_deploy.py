"""A static tree ready for any web server or CDN: precompressed siblings and the nginx server block.

Precompression: ``X.gz`` and ``X.br`` beside every feed and page hold exactly
``X``'s bytes, are written with ``X`` and only then, and go when ``X`` goes or
precompression is turned off (nginx's ``gzip_static`` would otherwise send an
old body for a new file).  The nginx tests serve a built export with Debian's
nginx and check what a feed reader and a browser get over HTTP.
"""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import brotli
import pytest
from click.testing import CliRunner

from feeds.build import BuildReport
from feeds.cli import main
from feeds.compression import SUFFIXES, packed, sibling_of
from feeds.errors import ExportError
from feeds.nginx import server_block
from feeds.settings import Settings
from feeds.web import create_app

from .feedcheck import REPO, SEEDS, file_stats, site_files
from .nginx_server import BROTLI_MODULE, free_port, get, nginx_binary, serving
from .stores import RecordWriter, build_into

Build = Callable[..., BuildReport]


def _plain(files: dict[str, bytes]) -> dict[str, bytes]:
    return {path: data for path, data in files.items() if sibling_of(path) is None}


def _siblings(files: dict[str, bytes]) -> dict[str, bytes]:
    return {path: data for path, data in files.items() if sibling_of(path) is not None}


def _assert_siblings_match(out: Path) -> None:
    """Every file that compresses has a .gz and a .br holding exactly its bytes, and nothing else has."""
    files = site_files(out)
    expected = {path + suffix for path in _plain(files) if packed(path) for suffix in SUFFIXES}
    assert set(_siblings(files)) == expected
    for path in expected:
        parent = sibling_of(path)
        assert parent is not None
        unpack = gzip.decompress if path.endswith(".gz") else brotli.decompress
        assert unpack(files[path]) == files[parent], f"{path} is not {parent} compressed"


def _two_feeds(write_record: RecordWriter, title: str = "Beta") -> None:
    write_record("a.md", topics=["Alpha"], webUrl="https://e.example/a",
                 provider={"name": "A", "domain": "a.example"})
    write_record("b.md", topics=["Beta"], webUrl="https://e.example/b", title=title,
                 provider={"name": "B", "domain": "b.example"}, publishedDateTime="2020-01-01T00:00:00Z")


def test_precompress_writes_a_gz_and_a_br_that_unpack_to_each_file(seeds_dir: Path, build: Build,
                                                                    out_dir: Path) -> None:
    build(seeds_dir, precompress=True)
    _assert_siblings_match(out_dir)
    files = site_files(out_dir)
    assert {"feed.atom.gz", "feed.json.br", "index.html.gz", "feeds.opml.br", "embed.js.gz",
            "topics/ai/index.html.br", "embed/topics/ai.html.gz"} <= set(files)
    assert "favicon.ico.gz" not in files, "a 164-byte PNG icon only grows when compressed"
    assert files["feed.atom.gz"][4:8] == b"\0\0\0\0", "no time stamp in the gzip header"


def test_the_plain_files_are_the_same_with_and_without_precompress(seeds_dir: Path, tmp_path: Path) -> None:
    plain = build_into(seeds_dir, tmp_path / "plain")
    packed_site = build_into(seeds_dir, tmp_path / "packed", precompress=True)
    again = build_into(seeds_dir, tmp_path / "again", precompress=True)
    assert _plain(site_files(packed_site.out)) == site_files(plain.out)
    assert site_files(again.out) == site_files(packed_site.out), "siblings are reproducible"


def test_a_rebuild_with_nothing_changed_leaves_every_sibling_untouched(seeds_dir: Path, build: Build,
                                                                       out_dir: Path) -> None:
    build(seeds_dir, precompress=True)
    before = file_stats(out_dir)
    report = build(seeds_dir, precompress=True)
    assert report.unchanged and report.export.changed == 0, report.summary()
    assert file_stats(out_dir) == before, "inode and mtime of every file and sibling must stay"


def test_a_changed_record_compresses_again_exactly_the_files_that_changed(
        write_record: RecordWriter, build: Build, out_dir: Path) -> None:
    _two_feeds(write_record)
    build(precompress=True)
    before, old = file_stats(out_dir), site_files(out_dir)
    _two_feeds(write_record, title="Beta retitled")
    build(precompress=True)
    after, new = file_stats(out_dir), site_files(out_dir)
    changed = {path for path in _plain(new) if new[path] != old.get(path)}
    assert {"topics/beta.atom", "feed.atom", "index.html", "stories.atom",
            "topics/beta/stories.atom"} <= changed
    assert not {"topics/alpha.atom", "topics/alpha/stories.atom", "top.atom"} & changed
    rewritten = {path for path in _siblings(new) if after[path] != before.get(path)}
    assert rewritten == {path + suffix for path in changed if packed(path) for suffix in SUFFIXES}
    _assert_siblings_match(out_dir)


def test_a_feed_that_goes_takes_its_siblings_with_it(write_record: RecordWriter, build: Build,
                                                     out_dir: Path) -> None:
    write_record("a.md", topics=["Old Topic"])
    build(precompress=True)
    for stem in ("old-topic", "old-topic/stories", "old-topic/top"):  # the topic's feed and its story feeds
        assert (out_dir / "topics" / f"{stem}.atom.br").is_file(), stem
    write_record("a.md", topics=["New Topic"])
    build(precompress=True)
    assert not [path for path in site_files(out_dir) if "old-topic" in path]
    _assert_siblings_match(out_dir)


def test_turning_precompress_off_removes_the_siblings_and_on_again_adds_them(
        seeds_dir: Path, build: Build, out_dir: Path) -> None:
    build(seeds_dir, precompress=True)
    off = build(seeds_dir)
    assert not _siblings(site_files(out_dir)), "gzip_static would send an old body for a new file"
    assert not off.unchanged and off.export.removed == off.export.changed > 0, off.summary()
    plain = file_stats(out_dir)
    on = build(seeds_dir, precompress=True)
    assert not on.unchanged, on.summary()
    _assert_siblings_match(out_dir)
    assert {path: file_stats(out_dir)[path] for path in plain} == plain, "the files themselves stay"


def test_siblings_left_by_someone_else_are_replaced_or_removed(seeds_dir: Path, build: Build,
                                                               out_dir: Path) -> None:
    """A hand-made `feed.atom.gz` (gzip -k, an old deploy script) would be sent for the new feed."""
    build(seeds_dir)
    (out_dir / "feed.atom.gz").write_bytes(gzip.compress(b"an old feed"))
    (out_dir / "favicon.ico.gz").write_bytes(gzip.compress(b"an old icon"))
    (out_dir / "humans.txt.gz").write_bytes(b"not the site's")
    build(seeds_dir)
    files = site_files(out_dir)
    assert "feed.atom.gz" not in files and "favicon.ico.gz" not in files
    assert files["humans.txt.gz"] == b"not the site's", "only the site's own siblings are managed"
    (out_dir / "feed.atom.gz").write_bytes(gzip.compress(b"an old feed"))
    build(seeds_dir, precompress=True)
    _assert_siblings_match(out_dir)


@pytest.mark.parametrize("damage", ["remove", "edit in place", "replace"])
def test_a_damaged_sibling_is_made_again_from_its_file(seeds_dir: Path, build: Build, out_dir: Path,
                                                       damage: str) -> None:
    build(seeds_dir, precompress=True)
    victim = out_dir / "topics" / "ai.rss.gz"
    if damage == "remove":
        victim.unlink()
    elif damage == "edit in place":
        with open(victim, "r+b") as handle:
            handle.seek(12)
            handle.write(b"\xff")
    else:
        victim.write_bytes(gzip.compress(b"an old feed"))
    before = file_stats(out_dir)
    report = build(seeds_dir, precompress=True)
    _assert_siblings_match(out_dir)
    moved = {path for path, stats in file_stats(out_dir).items() if before.get(path) != stats}
    assert moved == {"topics/ai.rss.gz"}, report.summary()


def test_a_failed_build_leaves_files_and_siblings_as_they_were(seeds_dir: Path, build: Build,
                                                               out_dir: Path) -> None:
    """A sibling that cannot be put in place (a folder holds its name) fails the whole batch."""
    build(seeds_dir, precompress=True)
    obstacle = out_dir / "topics" / "computer-vision.rss.br"
    obstacle.unlink()
    obstacle.mkdir()
    before = site_files(out_dir)
    with pytest.raises(ExportError):
        build(seeds_dir, precompress=True, site_title="Renamed site")  # every file changes
    assert site_files(out_dir) == before
    shutil.rmtree(obstacle)
    build(seeds_dir, precompress=True, site_title="Renamed site")
    _assert_siblings_match(out_dir)


def test_an_incremental_precompressed_build_gives_a_clean_builds_bytes(
        write_record: RecordWriter, build: Build, out_dir: Path, records_dir: Path, tmp_path: Path) -> None:
    _two_feeds(write_record)
    build(precompress=True)
    for step in range(4):
        if step == 0:
            _two_feeds(write_record, title="Beta retitled")
        elif step == 1:  # c cites a: a's story grows, and c's heat makes it a top story
            write_record("c.md", topics=["Gamma", "Alpha"], webUrl="https://e.example/c", heat=95,
                         related=[{"title": "A", "webUrl": "https://e.example/a"}])
        elif step == 2:  # the story's first article goes: the story is c's alone
            (records_dir / "a.md").unlink()
        else:
            write_record("c.md", topics=["Gamma"], webUrl="https://e.example/c", published=False)
        build(precompress=True)
        clean = build_into(records_dir, tmp_path / f"clean{step}", precompress=True, cache_dir="off")
        assert site_files(out_dir) == site_files(clean.out), f"step {step}"



# -- nginx serving the export --------------------------------------------------------------------

# A folder name nginx's syntax must quote: spaces, quotes, a backslash, braces, a semicolon, a '#'.
AWKWARD = 'out "q" it\'s \\ {x}; #y'


def _build_with_conf(runner: CliRunner, records: Path, out: Path, conf: Path, port: int,
                     *flags: str) -> None:
    args = ["build", "--records", str(records), "--out", str(out), "--base-url",
            f"http://127.0.0.1:{port}/", "--nginx-conf", str(conf), *flags]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, f"{result.stdout}\n{result.stderr}\n{result.exception!r}"
    text = conf.read_text(encoding="utf-8")
    # The block listens on every interface, as a server does; a test listens on loopback only.
    assert f"    listen {port};\n" in text, text
    conf.write_text(text.replace(f"    listen {port};\n", f"    listen 127.0.0.1:{port};\n"),
                    encoding="utf-8")


@dataclass(frozen=True)
class Served:
    """The seeds, built with --precompress into a folder with an awkward name, served by nginx."""

    port: int
    out: Path
    settings: Settings


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    nginx_binary()
    work = tmp_path_factory.mktemp("nginx")
    out, conf, port = work / AWKWARD, work / "feeds.conf", free_port()
    _build_with_conf(CliRunner(), SEEDS, out, conf, port, "--precompress")
    settings = Settings.make(records=str(SEEDS), out=str(out), base_url=f"http://127.0.0.1:{port}/",
                             cache_dir=str(work / "cache"))
    with serving(work, conf, port):
        yield Served(port, out, settings)


SERVED_PATHS = ["/feed.atom", "/feed.rss", "/feed.json", "/topics/ai.json", "/providers/reuters.com.rss",
                "/", "/topics/ai/", "/embed/topics/ai.html", "/feeds.opml", "/embed.js", "/favicon.ico"]
SAME_HEADERS = ("content-type", "cache-control", "vary", "access-control-allow-origin",
                "content-security-policy", "x-frame-options", "x-content-type-options", "referrer-policy")


@pytest.mark.tools
@pytest.mark.parametrize("path", SERVED_PATHS)
def test_nginx_sends_the_live_servers_headers_and_bytes(served: Served, path: str) -> None:
    live = create_app(served.settings, watch=False).test_client().get(path)
    status, headers, body = get(served.port, path)
    assert (status, live.status_code) == (200, 200)
    assert body == live.data, f"{path}: nginx and the live server send different bytes"
    assert {h: headers.get(h) for h in SAME_HEADERS} == {h: live.headers.get(h) for h in SAME_HEADERS}
    assert "etag" in headers and "last-modified" in headers
    assert "content-encoding" not in headers, "a client that does not accept gzip gets the plain file"


@pytest.mark.tools
@pytest.mark.parametrize("path", ["/feed.atom", "/providers/reuters.com.rss", "/feed.json"])
def test_nginx_sends_a_browser_tab_what_the_live_server_sends_it(served: Served, path: str) -> None:
    """A tab opening a feed gets Atom and RSS as application/xml, so it runs feed.xsl (feeds.web)."""
    tab = {"Sec-Fetch-Dest": "document"}
    live = create_app(served.settings, watch=False).test_client().get(path, headers=tab)
    status, headers, body = get(served.port, path, Sec_Fetch_Dest="document")
    assert (status, body) == (200, live.data)
    assert {h: headers.get(h) for h in SAME_HEADERS} == {h: live.headers.get(h) for h in SAME_HEADERS}


@pytest.mark.tools
@pytest.mark.parametrize("path", ["/feed.atom", "/topics/computer-vision.rss", "/feed.json", "/topics/ai/",
                                  "/feeds.opml", "/embed.js"])
def test_nginx_sends_the_precompressed_sibling_to_a_gzip_client(served: Served, path: str) -> None:
    file = served.out / (path.lstrip("/") + ("index.html" if path.endswith("/") else ""))
    status, headers, body = get(served.port, path, Accept_Encoding="gzip, deflate")
    vary = "Accept-Encoding, Sec-Fetch-Dest" if path.endswith((".atom", ".rss")) else "Accept-Encoding"
    assert (status, headers.get("content-encoding"), headers.get("vary")) == (200, "gzip", vary)
    assert body == file.with_name(file.name + ".gz").read_bytes(), "sent as written, not compressed again"
    assert gzip.decompress(body) == file.read_bytes()


@pytest.mark.tools
@pytest.mark.parametrize("encoding", ["", "gzip"])
def test_nginx_answers_conditional_requests_with_304(served: Served, encoding: str) -> None:
    status, headers, body = get(served.port, "/topics/ai.atom", Accept_Encoding=encoding)
    assert status == 200 and body
    for condition in ({"If_None_Match": headers["etag"]}, {"If_Modified_Since": headers["last-modified"]}):
        again, again_headers, again_body = get(served.port, "/topics/ai.atom", Accept_Encoding=encoding,
                                                **condition)
        assert (again, again_body) == (304, b""), condition
        assert again_headers["cache-control"] == headers["cache-control"]
    changed, _, _ = get(served.port, "/topics/ai.atom", Accept_Encoding=encoding, If_None_Match='"other"')
    assert changed == 200


@pytest.mark.tools
@pytest.mark.parametrize("path", ["/missing.atom", "/topics/nope/", "/feed.atom.gz", "/feed.json.br",
                                  "/.feeds-tmp-feed.atom.123"])
def test_nginx_answers_404_with_the_live_servers_text(served: Served, path: str) -> None:
    live = create_app(served.settings, watch=False).test_client().get(path)
    status, headers, body = get(served.port, path, Accept_Encoding="gzip")
    assert (status, live.status_code) == (404, 404)
    assert (body, headers["content-type"]) == (live.data, live.headers["content-type"])
    assert headers["x-content-type-options"] == "nosniff" and "cache-control" not in headers


@pytest.mark.tools
def test_nginx_redirects_a_folder_without_its_slash(served: Served) -> None:
    status, headers, _ = get(served.port, "/topics/ai")
    assert (status, headers["location"]) == (301, "/topics/ai/")


@pytest.mark.tools
def test_a_build_without_precompress_is_never_served_an_old_sibling(tmp_path: Path, runner: CliRunner,
                                                                     records_dir: Path) -> None:
    """The bug gzip_static makes of a stale .gz: a gzip client would get the feed as it was."""
    shutil.copytree(SEEDS, records_dir, dirs_exist_ok=True)
    out, conf, port = tmp_path / "site", tmp_path / "feeds.conf", free_port()
    _build_with_conf(runner, records_dir, out, conf, port, "--precompress")
    record = records_dir / "000_5493749f3400b6dd.txt"
    record.write_text(record.read_text(encoding="utf-8").replace("Face for sale", "Faces for sale"))
    _build_with_conf(runner, records_dir, out, conf, port)
    with serving(tmp_path, conf, port):
        status, headers, body = get(port, "/feed.atom", Accept_Encoding="gzip")
    assert (status, headers.get("content-encoding")) == (200, "gzip"), "compressed on the fly instead"
    assert gzip.decompress(body) == (out / "feed.atom").read_bytes()
    assert b"Faces for sale" in gzip.decompress(body)


@pytest.mark.tools
def test_the_commented_brotli_line_works_with_debians_module(tmp_path: Path, runner: CliRunner) -> None:
    if not BROTLI_MODULE.exists():
        pytest.skip(f"{BROTLI_MODULE} is absent (Debian: apt-get install libnginx-mod-http-brotli-static)")
    out, conf, port = tmp_path / "site", tmp_path / "feeds.conf", free_port()
    _build_with_conf(runner, SEEDS, out, conf, port, "--precompress")
    with serving(tmp_path, conf, port, brotli_static=True):
        status, headers, body = get(port, "/feed.rss", Accept_Encoding="br, gzip")
    assert (status, headers.get("content-encoding")) == (200, "br")
    assert body == (out / "feed.rss.br").read_bytes()
    assert brotli.decompress(body) == (out / "feed.rss").read_bytes()


def test_the_deploy_guide_shows_the_block_feeds_writes() -> None:
    """docs/deploy.md quotes the block for its example; regenerate it there when the block changes."""
    block = server_block(Settings.make(out="/srv/news/public", base_url="https://news.example.org/"))
    assert f"```nginx\n{block}```" in (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
