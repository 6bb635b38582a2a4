"""Nothing private gets out: no `secured` value, no unpublished record, anywhere.

"Anywhere" is every output file (read as a reader would, escapes undone),
every output path, and the stdout and stderr of `feeds build` and `feeds check`;
and, in the tests at the end, every channel there is: static files and their
paths, the live server's HTTP bodies and headers for every path of the site
(folders, redirects, 404s, filtered feeds, refused methods included), its log
records while a broken record appears, the CLI's output, and the SQLite record
cache.  The needles come from the record files themselves: the seeds, the
corpus (when ../shared is present), tests/data/secured_variants.md and a store
of hostile records generated from the classes of tests/test_hostile.py.
"""

from __future__ import annotations

import contextlib
import gzip
import html
import logging
import re
import shutil
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask

from feeds.build import build_site
from feeds.catalog import catalog_path
from feeds.cli import main
from feeds.settings import Settings, replace
from feeds.text import BadURL, clean_text, clean_url
from feeds.web import create_app

from .feedcheck import BASE_URL, DATA, SEEDS, SITE_TITLE, front_matter, readable_text, site_files
from .stores import RecordWriter


def run(runner: CliRunner, *args: str) -> Result:
    """Run the CLI, which may exit 1 (check, for skipped records) but never crash."""
    result = runner.invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def everything_published(runner: CliRunner, records: Path, out: Path, *options: str) -> str:
    """All that a build of `records` shows anyone: files, paths, and the CLI's output."""
    build = run(runner, "build", "--records", str(records), "--out", str(out), *options)
    assert build.exit_code == 0, build.output
    check = run(runner, "check", "--records", str(records))
    parts = [build.stdout, build.stderr, check.stdout, check.stderr]
    for path in sorted(out.rglob("*")):
        parts.append(path.relative_to(out).as_posix())
        if path.is_file():
            parts.append(readable_text(path.name, path.read_bytes()))
    return "\n".join(parts)


def strings(value: Any) -> Iterator[str]:
    """Every string inside a YAML value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def secured_needles(files: Iterable[Path]) -> list[str]:
    """Pieces of every `secured` value in `files`: its start, middle and end."""
    needles = []
    for path in files:
        for value in strings(front_matter(path).get("secured")):
            for line in value.split():
                if len(line) >= 24:
                    middle = len(line) // 2
                    needles += [line[:24], line[middle:middle + 24], line[-24:]]
    return needles


def leaked(needles: Iterable[str], haystack: str) -> list[str]:
    """The needles found in the haystack."""
    return [needle for needle in needles if needle in haystack]


def unpublished_needles(files: Iterable[Path]) -> tuple[list[str], int]:
    """Titles and links of unpublished records that no published record also carries.

    Returns the needles and how many records gave some (a guard against a vacuous test).
    """
    published_text: list[str] = []
    unpublished: list[dict[str, Any]] = []
    for path in files:
        fields = front_matter(path)
        if fields.get("published") is True:
            raw = path.read_text(encoding="utf-8-sig")
            published_text += [raw, html.unescape(raw), html.unescape(html.unescape(raw))]
        else:
            unpublished.append(fields)
    shared = "\n".join(published_text)
    needles: list[str] = []
    records = 0
    for fields in unpublished:
        group: list[str] = []
        title, link = fields.get("title"), fields.get("webUrl") or fields.get("originalUrl")
        if isinstance(title, str) and len(title.strip()) >= 15:
            group += [title.strip(), html.unescape(title).strip(), clean_text(title)]
        if isinstance(link, str):
            group.append(link)
            with contextlib.suppress(BadURL):
                group.append(clean_url(link))
        if group and not any(needle in shared for needle in group):
            needles += sorted(set(group))
            records += 1
    return needles, records


# -- secured ------------------------------------------------------------------------------------


def test_no_secured_value_of_the_seeds_reaches_any_output(runner: CliRunner, seeds_dir: Path,
                                                          tmp_path: Path) -> None:
    needles = secured_needles(sorted(seeds_dir.iterdir()))
    assert len(needles) == 15
    assert leaked(needles, everything_published(runner, seeds_dir, tmp_path / "out")) == []
    # Even a preview of drafts, which shows unpublished records, never shows `secured`.
    drafts = everything_published(runner, seeds_dir, tmp_path / "drafts", "--drafts")
    assert leaked(needles, drafts) == []


def test_secured_in_odd_places_never_reaches_any_output(runner: CliRunner, seeds_dir: Path,
                                                        records_dir: Path, tmp_path: Path) -> None:
    for path in seeds_dir.iterdir():
        shutil.copy(path, records_dir / path.name)
    shutil.copy(DATA / "secured_variants.md", records_dir / "secured_variants.md")
    haystack = everything_published(runner, records_dir, tmp_path / "out")
    assert "Secrets in every corner" in haystack, "the record itself is published"
    assert "SECRET" not in haystack, [line for line in haystack.splitlines() if "SECRET" in line][:5]


def test_no_secured_value_of_the_corpus_reaches_any_output(runner: CliRunner, corpus_dir: Path,
                                                           tmp_path: Path) -> None:
    needles = secured_needles(sorted(corpus_dir.iterdir()))
    assert len(needles) == 3 * 674
    haystack = everything_published(runner, corpus_dir, tmp_path / "out")
    assert leaked(needles, haystack) == []


# -- unpublished records ---------------------------------------------------------------------------


def test_no_unpublished_seed_reaches_any_output(runner: CliRunner, seeds_dir: Path,
                                                tmp_path: Path) -> None:
    needles, records = unpublished_needles(sorted(seeds_dir.iterdir()))
    assert records == 3, "seeds 001, 003 and 004 are unpublished"
    haystack = everything_published(runner, seeds_dir, tmp_path / "out")
    assert leaked(needles, haystack) == []
    for absent in ("hrw.org", "predictiveanalyticsworld.com", "Human Rights Watch"):
        assert absent not in haystack, f"{absent} only has unpublished records"


def test_no_unpublished_corpus_record_reaches_any_output(runner: CliRunner, corpus_dir: Path,
                                                         tmp_path: Path) -> None:
    needles, records = unpublished_needles(sorted(corpus_dir.iterdir()))
    assert records > 200, f"only {records} unpublished records give needles"
    haystack = everything_published(runner, corpus_dir, tmp_path / "out")
    assert leaked(needles, haystack) == []


@pytest.mark.parametrize("flag", ["false", "'true'", "yes", "1", "null"])
def test_an_unpublished_records_own_topic_and_provider_are_never_mentioned(
        runner: CliRunner, write_record: RecordWriter, records_dir: Path, tmp_path: Path,
        flag: str) -> None:
    write_record("public.md")
    secret = write_record("zyxwv.md", title="Zyxwv classified programme revealed",
                          topics=["Zyxwv Classified Program"], webUrl="https://zyxwv.example/x",
                          provider={"name": "Zyxwv Agency", "domain": "zyxwv-classified.example"},
                          excerpt="Qwmnb excerpt text", published=None)
    secret.write_text(secret.read_text().replace("published: null", f"published: {flag}"))
    haystack = everything_published(runner, records_dir, tmp_path / "out")
    assert "A minimal record" in haystack
    for word in ("Zyxwv", "zyxwv", "Qwmnb"):
        assert word not in haystack.replace("zyxwv.md", ""), f"{word} leaked (published: {flag})"


def test_the_text_after_the_front_matter_never_reaches_any_output(
        runner: CliRunner, records_dir: Path, tmp_path: Path) -> None:
    shutil.copy(DATA / "secured_variants.md", records_dir / "secured_variants.md")
    haystack = everything_published(runner, records_dir, tmp_path / "out")
    assert "SECRET-BODY" not in haystack and "body is ignored" not in haystack


# == every output channel ===========================================================================
#
# The tests above read the static files, their paths and the CLI's output.  The tests below read
# every channel a build or the live server has: static files and their paths, every live HTTP
# response (bodies, gzipped bodies undone, and headers; every path the build wrote, folders,
# redirects, 404s, filtered feeds, refused methods), the server's log records, the CLI's stdout
# and stderr of `build` and `check`, and the SQLite catalog dumped as SQL and read as bytes.

LIVE_FILTERS = ("?limit=1", "?min_quality=0&min_heat=-1", "?min_quality=1000000", "?limit=abc", "?limit=0")
ODD_PATHS = ("/nope", "/topics/nope.atom", "/providers/nope.json", "/../../etc/passwd",
             "/%2e%2e/%2e%2e/etc/passwd", "/topics/..%2f..%2fseeds", "/feed.atom/..", "/index.html%00",
             "/.feeds-tmp-feed.atom", "/topics/", "/providers/", "/embed/", "/feed", "/favicon.ico",
             "/robots.txt", "/.git/config", "/records/", "/seeds/001_632e9d232dd96937.txt")


def _head_lines(response: Any) -> str:
    return f"{response.status}\n" + "\n".join(f"{k}: {v}" for k, v in response.headers.items())


def http_channels(app: Flask, paths: Iterable[str]) -> dict[str, str]:
    """Every response of the live app to `paths` (GET, gzip GET, HEAD), bodies as readers see them."""
    client = app.test_client()
    seen: dict[str, str] = {}
    for path in paths:
        for label, method, headers in (("get", "GET", {}), ("gzip", "GET", {"Accept-Encoding": "gzip"}),
                                       ("head", "HEAD", {})):
            response = client.open(path, method=method, headers=headers)
            assert response.status_code < 500, f"{method} {path}: {response.status}"
            body = response.get_data()
            if response.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            name = path.split("?")[0]
            seen[f"http {label} {path} body"] = readable_text(name, body)
            seen[f"http {label} {path} headers"] = _head_lines(response)
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"):
        response = client.open("/feed.atom", method=method, data=b"x" * 100)
        assert response.status_code < 500, f"{method}: {response.status}"
        seen[f"http {method} /feed.atom"] = _head_lines(response) + "\n" + response.get_data(as_text=True)
    return seen


def live_paths(files: Iterable[str], extra: Iterable[str] = ()) -> list[str]:
    """Every path the static build wrote, its folder (with and without the slash), filters and odd paths.

    Filters go on the all-items feed and pages, and on the first two topic and provider feeds and
    pages (each filtered response is rendered afresh; one per kind of file is what matters).
    """
    paths = ["/"]
    filtered: dict[str, int] = {}
    for rel in sorted(files):
        paths.append("/" + rel)
        if rel.endswith("/index.html"):
            folder = "/" + rel[: -len("index.html")]
            paths += [folder, folder.rstrip("/")]
        kind = rel.split("/")[0] + "." + rel.rsplit(".", 1)[-1]
        if rel.endswith((".atom", ".rss", ".json", ".html")) and filtered.get(kind, 0) < 2:
            filtered[kind] = filtered.get(kind, 0) + 1
            paths += ["/" + rel + query for query in LIVE_FILTERS]
    return paths + list(ODD_PATHS) + list(extra)


def every_channel(runner: CliRunner, records: Path, work: Path, caplog: pytest.LogCaptureFixture,
                  extra_paths: Iterable[str] = (), change: Callable[[Path], None] | None = None
                  ) -> dict[str, str]:
    """Everything a build and the live server show of `records`, by channel name."""
    out, cache = work / "out", work / "cache"
    env = {"FEEDS_CACHE_DIR": str(cache)}
    build = runner.invoke(main, ["build", "--records", str(records), "--out", str(out),
                                 "--base-url", BASE_URL], env=env)
    assert build.exception is None and build.exit_code == 0, build.output
    check = runner.invoke(main, ["check", "--records", str(records)], env=env)
    assert check.exception is None or isinstance(check.exception, SystemExit), check.output
    channels = {"cli build stdout": build.stdout, "cli build stderr": build.stderr,
                "cli check stdout": check.stdout, "cli check stderr": check.stderr}
    files = site_files(out)
    assert files, "the build wrote nothing"
    channels["static paths"] = "\n".join(files)
    channels.update({f"static {rel}": readable_text(rel, data) for rel, data in files.items()})
    settings = Settings.make(records=str(records), out=str(out), base_url=BASE_URL, site_title=SITE_TITLE,
                             cache_dir=str(cache))
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="feeds.live"):
        app = create_app(settings, watch=False)
        channels.update(http_channels(app, live_paths(files, extra_paths)))
        if change is not None:  # a broken record appears while serving: skipped and logged
            change(records)
            app.extensions["feeds"].refresh()
            channels.update({f"after change {k}": v for k, v in http_channels(
                app, live_paths([r for r in files if "/" not in r], extra_paths)).items()})
        channels["server log"] = caplog.text + "\n" + "\n".join(
            f"{r.name} {r.levelname} {r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    path = catalog_path(settings)
    assert path is not None and path.is_file(), "no record cache was written"
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        channels["sqlite cache"] = "\n".join(db.iterdump())
    finally:
        db.close()
    # and the catalog's files as bytes: freed pages and the write-ahead log keep what rows once held
    for file in sorted(path.parent.glob(path.name + "*")):
        runs = dict.fromkeys(_TEXT_RUN.findall(file.read_bytes()))  # a page is logged many times
        channels[f"sqlite file {file.name}"] = b"\n".join(runs).decode("utf-8", "replace")
    return channels


_TOKEN = re.compile(r"[A-Za-z0-9+/=;]+")
_TEXT_RUN = re.compile(rb"[^\x00-\x08\x0e-\x1f]{4,}")  # what of a binary file could hold text


def _in_tokens(texts: Iterable[str], needles: list[str]) -> set[str]:
    """Which `needles` (made only of base64 characters and ';') occur in `texts`.

    Such a needle can only occur inside a maximal run of those characters, so the runs are
    collected once and cut into pieces of each needle length: thousands of needles over
    megabytes of text in a fraction of a second, with the same answer as `in`.
    """
    runs: set[str] = set()
    for text in texts:
        runs.update(_TOKEN.findall(text))
    found: set[str] = set()
    for size in {len(n) for n in needles}:
        pieces = {run[i:i + size] for run in runs if len(run) >= size for i in range(len(run) - size + 1)}
        found.update(n for n in needles if len(n) == size and n in pieces)
    return found


def leaks_in(channels: dict[str, str], needles: Iterable[str], ci: bool = False) -> list[str]:
    """The needles found in any channel, each with (up to three of) the channels showing it."""
    unique: dict[str, None] = {}
    for text in channels.values():
        unique.setdefault(text.lower() if ci else text, None)
    needles = [n.lower() if ci else n for n in needles if n]
    tokenlike = {n for n in needles if _TOKEN.fullmatch(n)}
    hits = _in_tokens(unique, list(tokenlike))
    haystack = "\x00".join(unique)
    found = []
    for needle in needles:
        if needle in hits or (needle not in tokenlike and needle in haystack):
            where = [name for name, text in channels.items() if needle in (text.lower() if ci else text)]
            found.append(f"{needle[:40]!r} in {where[:3]}")
    return found


def assert_channels_used(channels: dict[str, str]) -> None:
    """A guard against a vacuous sweep: every kind of channel was read and holds something."""
    for prefix in ("cli build stdout", "cli check stdout", "static ", "http get ", "http gzip ", "http head ",
                   "server log", "sqlite cache", "sqlite file "):
        assert any(name.startswith(prefix) and text for name, text in channels.items()), f"{prefix} is empty"
    assert "INSERT INTO" in channels["sqlite cache"], "the cache holds no rows"


UNPUBLISHED_ONLY = ("hrw.org", "predictiveanalyticsworld.com", "Human Rights Watch",
                    "Predictive Analytics World")


def _broken_secret_record(records: Path) -> None:
    """A record that breaks while the server runs, holding a secured value and an unpublished title."""
    (records / "zz_broken_live.md").write_text(
        "---\ntitle: \"Broken while serving Qxvbn\"\nsecured: \"LIVESECRET-9fK2mQ7xW3pL8vN4zR6t\"\n"
        "webUrl: \"https://broken.example/qxvbn\"\npublished: true\nprovider: {name: [unclosed\n---\n")
    (records / "zz_unpublished_live.md").write_text(
        "---\ntitle: \"Unpublished while serving Wqzpt\"\npublishedDateTime: 2021-01-01T00:00:00Z\n"
        "webUrl: \"https://unpublished.example/wqzpt\"\npublished: false\n"
        "secured: \"LIVESECRET-2hG7kL1pQ9sD4fJ6wE8r\"\n---\n")


LIVE_NEEDLES = ("LIVESECRET", "9fK2mQ7xW3pL8vN4zR6t", "2hG7kL1pQ9sD4fJ6wE8r", "Qxvbn", "qxvbn", "Wqzpt",
                "wqzpt")


def test_every_channel_of_the_seeds_keeps_secured_and_unpublished_private(
        runner: CliRunner, seeds_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    records = tmp_path / "records"
    shutil.copytree(seeds_dir, records)
    files = sorted(records.iterdir())
    secrets = secured_needles(files)
    unpublished, count = unpublished_needles(files)
    assert len(secrets) == 15 and count == 3
    channels = every_channel(runner, records, tmp_path / "work", caplog,
                             extra_paths=("/providers/hrw.org.atom", "/providers/hrw.org/",
                                          "/providers/predictiveanalyticsworld.com.json"),
                             change=_broken_secret_record)
    assert_channels_used(channels)
    assert "zz_broken_live.md" in channels["server log"], "the broken record was not logged"
    assert leaks_in(channels, secrets + list(LIVE_NEEDLES)) == []
    assert leaks_in(channels, unpublished) == []
    assert leaks_in({k: v for k, v in channels.items() if not k.startswith(("cli ", "server log"))},
                    UNPUBLISHED_ONLY, ci=True) == []


def test_every_channel_of_the_corpus_keeps_secured_and_unpublished_private(
        runner: CliRunner, corpus_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    records = tmp_path / "records"
    shutil.copytree(corpus_dir, records)  # a private copy, so that a record can break while serving
    files = sorted(records.iterdir())
    secrets = secured_needles(files)
    unpublished, count = unpublished_needles(files)
    assert len(secrets) == 3 * 674 and count > 200
    channels = every_channel(runner, records, tmp_path / "work", caplog, change=_broken_secret_record)
    assert_channels_used(channels)
    assert "zz_broken_live.md" in channels["server log"], "the broken record was not logged"
    assert leaks_in(channels, LIVE_NEEDLES) == []
    assert leaks_in(channels, secrets) == []
    assert leaks_in(channels, unpublished) == []


def hostile_store(records: Path) -> tuple[list[str], list[str]]:
    """Seeds and hostile records of every class in `records`: (secured needles, unpublished tokens)."""
    from .test_hostile import (
        BOMBS,
        ENCODINGS,
        MALFORMED,
        NON_REGULAR,
        NOT_TRUE,
        SECURED,
        XSS,
        XSS_FIELDS,
        H,
        fname,
        record,
        secret_of,
        secret_windows,
        token_of,
    )

    shutil.copytree(SEEDS, records)
    hostile: list[H] = []
    for kind in sorted(SECURED):
        token = token_of(f"leak{kind}")
        secret = secret_of(token + "-variant")
        text = record(token, **SECURED[kind](token, secret))
        expect = "absent" if kind in ("in_unpublished_record", "in_drafts_like_record") else "any"
        hostile.append(H(fname("sec_" + kind), text, token, expect, None,
                         (secret_of(token), secret, secret[::-1])))
    for i, flag in enumerate(NOT_TRUE):
        token = token_of(f"leakflag{i}")
        hostile.append(H(f"h_flag_{i}.txt", record(token, published=flag, topics=f"\n  - Zyxwv{i} Program"),
                         token, "absent", None, (secret_of(token),)))
    for kind in ("unclosed_double_quote", "tab_indentation", "unknown_escape", "no_closing_dashes"):
        token = token_of(f"leakbad{kind}")
        hostile.append(H(fname("bad_" + kind), MALFORMED[kind](token), token, "skipped", None,
                         (secret_of(token),)))
    for kind in ("in_secured", "in_title", "scalar_alias_secured_to_title", "recursive_mapping"):
        token = token_of(f"leakbomb{kind}")
        hostile.append(H(fname("bomb_" + kind), BOMBS[kind](token), token, "skipped", None,
                         (secret_of(token),)))
    for kind in ("invalid_in_secured_only", "nul_in_title", "ff_fe_in_title"):
        token = token_of(f"leakenc{kind}")
        hostile.append(H(fname("enc_" + kind), ENCODINGS[kind][1](token), token, "skipped", None,
                         (secret_of(token),)))
    token = token_of("leakpublished")
    secret = secret_of(token + "-variant")  # `secured` nested under a `published` that is not a boolean
    hostile.append(H("h_secured_published.txt", record(token, published=f'{{secured: "{secret}"}}'), token,
                     "absent", None, (secret_of(token), secret)))
    token = token_of("leakxss")
    raw: dict[str, Any] = {}
    for name in ("title", "excerpt", "provider.name", "topics", "related"):
        raw.update(XSS_FIELDS[name](token, " ".join(XSS[:12])))
    hostile.append(H("h_xss.txt", record(token, **raw), token, "any", None, (secret_of(token),)))
    for kind in ("fifo", "directory", "link_outside", "symlink_loop", "dangling"):
        hostile.append(NON_REGULAR[kind](token_of(f"leaknr{kind}")))
    for item in hostile:
        item.write(records)
    windows = [w for item in hostile for s in item.secrets for w in secret_windows(s)]
    hidden = [item.token for item in hostile if item.token and item.expect in ("absent", "skipped")]
    return windows, hidden


def test_every_channel_of_a_hostile_store_keeps_secured_and_unpublished_private(
        runner: CliRunner, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    records = tmp_path / "records"
    windows, hidden = hostile_store(records)
    seeds = sorted(SEEDS.iterdir())
    unpublished, _ = unpublished_needles(seeds)
    assert len(windows) > 1000 and len(hidden) > 40
    channels = every_channel(runner, records, tmp_path / "work", caplog,
                             extra_paths=("/topics/zyxwv0-program.atom", "/topics/zyxwv1-program/",
                                          "/providers/hostile.example.json"),
                             change=_broken_secret_record)
    assert_channels_used(channels)
    assert "zz_broken_live.md" in channels["server log"], "the broken record was not logged"
    assert any(name in channels["server log"] for name in ("h_bad_unclosed_double_quote.txt", "h_fifo.txt"))
    assert leaks_in(channels, secured_needles(seeds) + list(LIVE_NEEDLES)) == []
    assert leaks_in(channels, unpublished) == []
    assert leaks_in(channels, hidden, ci=True) == [], "an unpublished or skipped record shows"
    assert leaks_in({k: v for k, v in channels.items() if not k.startswith(("cli ", "server log"))},
                    ["zyxwv", *UNPUBLISHED_ONLY], ci=True) == []
    # last, as it names the partial leak precisely: not even 7 characters of a secured value
    assert leaks_in(channels, windows) == []


def test_a_drafts_build_or_server_keeps_no_unpublished_text_in_the_cache(tmp_path: Path) -> None:
    """--drafts publishes unpublished records for a preview; the cache (which outlives the
    preview) must still never hold their text (issue 12, item 11)."""
    records = tmp_path / "records"
    records.mkdir()
    RecordWriter(records)("draft.md", published=False, title="Embargoed scoop ZQX-DRAFT-TITLE",
                          excerpt="ZQX-DRAFT-EXCERPT")
    RecordWriter(records)("live.md", title="A published story", webUrl="https://news.example.com/live")
    cache = tmp_path / "cache"
    settings = Settings.make(records=str(records), out=str(tmp_path / "out"), base_url=BASE_URL,
                             cache_dir=str(cache), drafts=True)
    build_site(replace(settings, drafts=False, out=str(tmp_path / "site")))  # the cache, as production has it
    files = [p for p in cache.rglob("*") if p.is_file()]
    assert files, "a build without drafts keeps a cache"
    report = build_site(settings)
    assert report.counts.published == 2 and not report.warnings
    assert "ZQX-DRAFT-TITLE" in (tmp_path / "out" / "feed.atom").read_text(encoding="utf-8")
    app = create_app(settings, watch=False)
    assert b"ZQX-DRAFT-TITLE" in app.test_client().get("/feed.atom").data
    for path in cache.rglob("*"):
        if path.is_file():
            assert b"ZQX-DRAFT" not in path.read_bytes(), f"{path} holds an unpublished record's text"
