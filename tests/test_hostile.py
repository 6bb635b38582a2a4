"""Hostile records: every class of ../shared/hostile, and more variants of each, generated here.

Each test writes the five seed records (from this repository) and one or
more hostile record files into a fresh store under ``tmp_path``, builds it
with `build_site` (a few through the real command line) and checks the
invariants of ``../shared/hostile/hostile_check.py`` mechanically:

* no exception escapes, no hang (an alarm stops a build after 60 s);
* the good seeds 000 and 002 are still published; 001, 003, 004 are not;
* no `secured` value (not even 7 characters of one) and no unpublished
  record's title or link in any output file, output path, reported problem
  or the record catalog;
* every XML file well-formed (lxml, strict), every JSON file valid JSON (and
  JSON Feed 1.1 when the schema is in ../shared);
* no active content (script, iframe, ``on*=`` handlers, ``javascript:`` and
  other dangerous URLs) in any HTML-typed field (Atom ``type="html"``, RSS
  ``description``/``content:encoded``, JSON ``content_html``) nor in the
  HTML pages and embeds; RSS titles carry no markup;
* every entry link an absolute http(s) URL without white space or quotes;
  dates RFC 3339 (Atom, JSON) and RFC 822 (RSS); no entry twice in a feed;
* output paths made only of ``[a-z0-9._-]`` components, no ``..``, no
  Windows-reserved names; nothing written outside the output folder (the
  sandbox is compared before and after), no escape marker path created;
* a hostile record is published, or the problem reported names its file and
  (where it matters) the field.

At the end the real runner of ../shared/hostile runs once against
``python -m feeds build`` (skipped when ../shared is absent).
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import sqlite3
import stat
import string
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from lxml import etree

import feeds
from feeds.build import BuildReport, build_site
from feeds.catalog import catalog_path
from feeds.errors import Problem
from feeds.pages import EMBED_CSP, EMBED_CSS, PAGE_CSP, PAGE_CSS
from feeds.settings import Settings

from .feedcheck import BASE_URL, SEEDS, SITE_TITLE, jsonfeed_validator, readable_text

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
HOSTILE = SHARED / "hostile"
DEADLINE = 60

# -- what the seeds hold ------------------------------------------------------------------------


def _front(path: Path) -> dict[str, Any]:
    text = path.read_bytes().decode("utf-8-sig").replace("\r\n", "\n")
    data = yaml.safe_load(text.split("---\n", 2)[1])
    assert isinstance(data, dict), path
    return data


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


SEED_FIELDS = {p.name: _front(p) for p in sorted(SEEDS.iterdir())}
GOOD_SEEDS = {n: f for n, f in SEED_FIELDS.items() if f.get("published") is True}
UNPUBLISHED_SEEDS = {n: f for n, f in SEED_FIELDS.items() if f.get("published") is not True}
_PUBLISHED_TEXT = "\n".join((SEEDS / n).read_text(encoding="utf-8") for n in GOOD_SEEDS)


def _unpublished_seed_needles() -> list[str]:
    needles = []
    for fields in UNPUBLISHED_SEEDS.values():
        group = [fields.get("title"), fields.get("webUrl"), fields.get("originalUrl")]
        for rel in fields.get("related") or []:
            group += [rel.get("title"), rel.get("webUrl")]
        needles += [n for n in group if isinstance(n, str) and len(n) >= 15 and n not in _PUBLISHED_TEXT]
    return sorted(set(needles))


def _unpublished_only_providers() -> list[str]:
    names = []
    for fields in UNPUBLISHED_SEEDS.values():
        provider = fields.get("provider") or {}
        for value in (provider.get("domain"), provider.get("name")):
            if isinstance(value, str) and value.lower() not in _PUBLISHED_TEXT.lower():
                names.append(value)
    return sorted(set(names))


def _seed_secret_needles() -> list[str]:
    needles = []
    for fields in SEED_FIELDS.values():
        for value in _strings(fields.get("secured")):
            needles += [part for part in re.split(r"[+/=;\s]", value) if len(part) >= 16]
    return needles


UNPUBLISHED_NEEDLES = _unpublished_seed_needles()
UNPUBLISHED_PROVIDERS = _unpublished_only_providers()
SEED_SECRETS = _seed_secret_needles()
GOOD_NEEDLES = {n: [f["title"], f["webUrl"]] for n, f in GOOD_SEEDS.items()}


def test_the_seeds_give_the_expected_needles() -> None:
    """A guard against vacuous checks: the seeds are what hostile_check's manifest describes."""
    assert sorted(GOOD_SEEDS) == ["000_5493749f3400b6dd.txt", "002_b9aff47476a12d9b.txt"]
    assert len(UNPUBLISHED_SEEDS) == 3
    assert len(UNPUBLISHED_NEEDLES) >= 9
    assert {"hrw.org", "predictiveanalyticsworld.com"} <= set(UNPUBLISHED_PROVIDERS)
    assert len(SEED_SECRETS) >= 10


# -- hostile record files ---------------------------------------------------------------------------


def secret_of(token: str) -> str:
    """A random-looking base64 `secured` value, the same for the same token."""
    rng = random.Random(token)
    alphabet = string.ascii_letters + string.digits + "+/"
    return "".join(rng.choice(alphabet) for _ in range(72)) + "=="


def secret_windows(secret: str, size: int = 7) -> list[str]:
    """Every `size`-character piece of a secret: no part of it may show anywhere."""
    return [secret[i:i + size] for i in range(len(secret) - size + 1)]


def yq(text: str) -> str:
    """`text` as a YAML double-quoted scalar, every character outside printable ASCII escaped."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


_YAML_UNPRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def yraw(text: str) -> str:
    """`text` as a YAML double-quoted scalar, written raw (UTF-8) where YAML allows it."""
    body = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return '"' + _YAML_UNPRINTABLE.sub(lambda m: yq(m.group(0))[1:-1], body) + '"'


def record(token: str, *, drop: tuple[str, ...] = (), extra: str = "", **raw: str) -> str:
    """A valid published hostile record carrying `token`; `raw` replaces fields by raw YAML.

    A raw value starting with a newline is a block (``provider``, ``topics``...).
    """
    slug = token.lower()
    fields = {
        "category": "news",
        "title": f'"Hostile record {token}"',
        "excerpt": f'"Excerpt for {token}."',
        "publishedDateTime": "2021-06-01T10:00:00Z",
        "originalUrl": f'"https://hostile.example/{slug}"',
        "webUrl": f'"https://hostile.example/{slug}"',
        "type": "article",
        "quality": "50",
        "heat": "10",
        "published": "true",
        "provider": "\n  name: Hostile Example\n  domain: hostile.example",
        "topics": "\n  - Computer Vision\n  - AI",
        "secured": f'"{secret_of(token)}"',
    }
    fields.update(raw)
    lines = ["---"]
    for key, value in fields.items():
        if key in drop:
            continue
        lines.append(f"{key}:{value}" if value.startswith("\n") else f"{key}: {value}")
    if extra:
        lines.append(extra.rstrip("\n"))
    lines.append("---")
    return "\n".join(lines) + "\n"


Maker = Callable[[Path], None]


@dataclass
class H:
    """One hostile file of a case and what must become of it.

    expect: "published" (its token is in the output), "skipped" (not in the
    output; a problem names the file, and `field` when given), "absent" (not
    in the output, e.g. unpublished; a problem names `field` when given) or
    "any" (either; if not published, a problem names the file).
    """

    name: str
    content: str | bytes | Maker
    token: str | None = None
    expect: str = "any"
    field: str | None = None
    secrets: tuple[str, ...] = ()
    error: bool = True  # a "skipped" regular file is reported as an error, not a warning

    def write(self, records: Path) -> None:
        if callable(self.content):
            self.content(records)
        elif isinstance(self.content, bytes):
            (records / self.name).write_bytes(self.content)
        else:
            (records / self.name).write_bytes(self.content.encode("utf-8"))


def rec(name: str, token: str, expect: str = "any", field: str | None = None, **raw: Any) -> H:
    """A hostile record file from `record` (with its secret registered)."""
    return H(name, record(token, **raw), token, expect, field, (secret_of(token),))


def token_of(case_id: str) -> str:
    """A marker token for a case: distinctive, and no token is a prefix of another."""
    return "ZQX-" + re.sub(r"[^A-Za-z0-9]", "", case_id)[:40] + "-Q"


def groups(kinds: list[Any], size: int, prefix: str = "") -> list[Any]:
    """`kinds` in groups of `size`, one store per group (a build per variant would be too slow).

    Each variant is its own file with its own token, so every finding still names the variant.
    """
    found = []
    for start in range(0, len(kinds), size):
        chunk = kinds[start:start + size]
        label = (f"{prefix}{start}-{start + len(chunk) - 1}" if prefix
                 else f"{chunk[0]}..{chunk[-1]}" if len(chunk) > 1 else str(chunk[0]))
        found.append(pytest.param(chunk, id=label))
    return found


def fname(kind: str) -> str:
    """A record file name for a variant."""
    return "h_" + re.sub(r"[^a-z0-9_]", "_", kind.lower())[:60] + ".txt"


# -- building a sandboxed store ------------------------------------------------------------------


class Timeout(Exception):
    """A build ran past its deadline: a hang."""


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    def expire(signum: int, frame: object) -> None:
        raise Timeout(f"the build ran for more than {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def snapshot(root: Path, skip: Path | None = None) -> dict[str, str]:
    """lstat type and sha256 of every entry under `root` (not following links)."""
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if skip is not None and (path == skip or skip in path.parents):
                continue
            info = os.lstat(path)
            rel = path.relative_to(root).as_posix()
            if stat.S_ISLNK(info.st_mode):
                found[rel] = "link:" + os.readlink(path)
            elif stat.S_ISDIR(info.st_mode):
                found[rel] = "dir"
            elif stat.S_ISREG(info.st_mode) and info.st_size > 16 * 1024**2:  # sparse giants: not read
                found[rel] = f"file:{info.st_size}:{info.st_mtime_ns}"
            elif stat.S_ISREG(info.st_mode):
                found[rel] = "file:" + hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                found[rel] = f"special:{stat.S_IFMT(info.st_mode):o}"
    return found


@dataclass
class Sandbox:
    """A store deep inside a sandbox (so '../' escapes land inside it and are seen)."""

    root: Path
    base: Path
    records: Path
    out: Path
    cache: Path

    @classmethod
    def make(cls, tmp_path: Path) -> Sandbox:
        root = tmp_path / "sbx"
        base = root / "jail" / "d1" / "d2" / "d3" / "d4" / "d5" / "d6" / "d7" / "d8"
        records = base / "records"
        records.mkdir(parents=True)
        for seed in sorted(SEEDS.iterdir()):
            shutil.copyfile(seed, records / seed.name)
        return cls(root, base, records, base / "out", tmp_path / "cache")

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {"records": str(self.records), "out": str(self.out),
                                  "base_url": BASE_URL, "site_title": SITE_TITLE,
                                  "cache_dir": str(self.cache), "jobs": 1}
        values.update(overrides)
        return Settings.make(**values)


@dataclass
class Outcome:
    """Everything a build showed: files, paths, problems, the record catalog."""

    out: Path
    files: dict[str, bytes]
    problems: list[Problem]
    log: str
    cache_dump: str
    written_outside: list[str]
    seconds: float = 0.0
    report: BuildReport | None = None
    decoded: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.decoded = {rel: readable_text(rel, data) for rel, data in self.files.items()}
        self._all = "\x00".join(list(self.decoded.values()) + list(self.files))
        self._all_lower = self._all.lower()

    def shows(self, needle: str, ci: bool = False) -> bool:
        """True when `needle` is in any output file (as written or as a reader sees it) or path."""
        return (needle.lower() in self._all_lower) if ci else (needle in self._all)

    def where(self, needle: str, ci: bool = False) -> list[str]:
        n = needle.lower() if ci else needle
        hits = [rel for rel, text in self.decoded.items() if n in (text.lower() if ci else text)]
        hits += ["path:" + rel for rel in self.files if n in (rel.lower() if ci else rel)]
        return hits


def read_output(out: Path) -> dict[str, bytes]:
    files = {}
    if out.is_dir():
        for path in sorted(out.rglob("*")):
            if path.is_file() and not path.is_symlink():
                files[path.relative_to(out).as_posix()] = path.read_bytes()
    return files


def dump_cache(path: Path | None) -> str:
    """The SQLite record catalog as SQL text ('' when there is none: kept in memory)."""
    if path is None or not path.exists():
        return ""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return "\n".join(db.iterdump())
    finally:
        db.close()


def test_the_catalog_dump_is_the_catalog_the_build_read(tmp_path: Path) -> None:
    """A guard against a vacuous check: the catalog searched for secured values holds the store."""
    outcome = build_case(tmp_path, [])
    assert outcome.cache_dump, "the build left no catalog file to search"
    for name, (_title, link) in GOOD_NEEDLES.items():
        assert link in outcome.cache_dump, f"{name}: its link is not in the catalog"


def build_case(tmp_path: Path, hostile: list[H], **overrides: Any) -> Outcome:
    """Write the seeds and `hostile` into a sandbox, build it, and gather what it showed."""
    box = Sandbox.make(tmp_path)
    for item in hostile:
        item.write(box.records)
    settings = box.settings(**overrides)
    before = snapshot(box.root, skip=box.out)
    cwd = os.getcwd()
    os.chdir(box.base)  # anything written to the working directory lands in the sandbox, and is seen
    try:
        started = time.perf_counter()
        with deadline(DEADLINE):
            report = build_site(settings)
        seconds = time.perf_counter() - started
    finally:
        os.chdir(cwd)
    after = snapshot(box.root, skip=box.out)
    outside = sorted(rel for rel in set(before) | set(after) if before.get(rel) != after.get(rel))
    problems = list(report.problems)
    return Outcome(box.out, read_output(box.out), problems, "\n".join(map(str, problems)),
                   dump_cache(catalog_path(settings)), outside, seconds, report)


# -- the invariants --------------------------------------------------------------------------------

ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
XHTML = "{http://www.w3.org/1999/xhtml}"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
RFC822 = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
                    r" \d{4} \d{2}:\d{2}:\d{2} ([+-]\d{4}|GMT|UT|Z)$")
BAD_SCHEMES = ("javascript:", "vbscript:", "livescript:", "data:", "file:", "jar:", "mhtml:")
BAD_TAGS = {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "meta", "link",
            "form", "style", "svg", "math", "template", "portal"}
PAGE_TAGS = {"meta", "link", "style"}  # what a page's <head> may hold; checked one by one below
URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "poster", "background", "data", "lowsrc",
             "dynsrc", "srcset", "cite", "url", "xmlurl", "htmlurl"}
WIN_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$", re.I)
PATH_COMPONENT = re.compile(r"^[a-z0-9._-]+$")
LINK_JUNK = re.compile(r"[\s\"'<>`\\]")
# hostile_check's test of files that are not feeds (pages, scripts): no script-like text at all
RAW_SCRIPT = re.compile(r"<script[^>]*>\s*alert|on(error|load|mouseover)\s*=\s*alert|javascript:alert", re.I)


def norm_scheme(url: str) -> str:
    """What a browser takes as the scheme: entities decoded, C0 controls and spaces removed."""
    return re.sub(r"[\x00-\x20\x7f]+", "", html.unescape(html.unescape(url or ""))).lower()


def bad_url(url: str) -> bool:
    scheme = norm_scheme(url)
    if scheme.startswith("data:image/") and not scheme.startswith("data:image/svg"):
        return False
    return scheme.startswith(BAD_SCHEMES)


def http_abs(url: str) -> bool:
    return bool(re.match(r"^https?://[^/\s]", url or "", re.I))


def clean_link(url: str) -> bool:
    return http_abs(url) and not LINK_JUNK.search(url) and not bad_url(url)


class HtmlScan(HTMLParser):
    """Tags, attributes and <style> bodies of an HTML text, as a browser would tokenise them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))
        self._in_style = tag == "style"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


def active_content(text: str, page: bool = False) -> list[str]:
    """Script-capable markup in an HTML text; a page may carry its own meta, link and style."""
    scan = HtmlScan()
    scan.feed(text or "")
    scan.close()
    bad = []
    for tag, attrs in scan.found:
        values = {(k or "").lower(): v or "" for k, v in attrs}
        if tag in BAD_TAGS and not (page and tag in PAGE_TAGS):
            bad.append(f"<{tag}>")
        if page and tag == "meta" and values.get("http-equiv", "content-security-policy").lower() != (
                "content-security-policy"):
            bad.append(f"<meta http-equiv={values['http-equiv']!r}>")
        if page and tag == "meta" and "http-equiv" in values and values.get("content") not in (
                PAGE_CSP, EMBED_CSP):
            bad.append("<meta http-equiv> with a content-security-policy feeds did not write")
        if page and tag == "link" and not clean_link(values.get("href", "")):
            bad.append(f"<link href={values.get('href', '')[:40]!r}>")
        for key, value in values.items():
            if key.startswith("on"):
                bad.append(f"{key}= on <{tag}>")
            if key in URL_ATTRS and value and bad_url(value):
                bad.append(f"{key}={value[:40]!r} on <{tag}>")
            if key == "style" and re.search(r"expression\(|javascript:|url\(", value, re.I):
                bad.append(f"style= on <{tag}>")
        if page and tag in ("a", "img") and not clean_link(values.get("href") or values.get("src") or ""):
            bad.append(f"<{tag}> pointing to {(values.get('href') or values.get('src') or '')[:40]!r}")
    if page:
        bad += [f"<style> feeds did not write: {s[:40]!r}" for s in scan.styles
                if s not in (PAGE_CSS, EMBED_CSS)]
    return bad


def has_markup(text: str) -> bool:
    scan = HtmlScan()
    scan.feed(text or "")
    scan.close()
    return bool(scan.found)


def _rfc3339(where: str, value: str | None, findings: list[str]) -> None:
    text = (value or "").strip()
    if not RFC3339.match(text):
        findings.append(f"{where}: not RFC 3339: {text[:40]!r}")
        return
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        findings.append(f"{where}: impossible date {text[:40]!r}")


def _rfc822(where: str, value: str | None, findings: list[str]) -> None:
    text = (value or "").strip()
    if not RFC822.match(text):
        findings.append(f"{where}: not RFC 822 with a 4-digit year: {text[:40]!r}")
        return
    try:
        parsedate_to_datetime(text)
    except (TypeError, ValueError):
        findings.append(f"{where}: unparseable RFC 822 date {text[:40]!r}")


def _local(tag: object) -> str:
    return tag.split("}", 1)[-1] if isinstance(tag, str) else ""


def _xml_urls(rel: str, root: etree._Element, findings: list[str]) -> None:
    """No dangerous URL in any URL-carrying attribute or element of an XML document."""
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        for key, value in el.attrib.items():
            if _local(key).lower() in URL_ATTRS and bad_url(value):
                findings.append(f"{rel}: dangerous URL in <{_local(el.tag)} {_local(key)}>: {value[:50]!r}")
        if _local(el.tag) in ("link", "url", "uri", "icon", "logo", "docs", "comments", "guid") and (
                el.text and bad_url(el.text)):
            findings.append(f"{rel}: dangerous URL in <{_local(el.tag)}>: {el.text[:50]!r}")


def check_atom(rel: str, root: etree._Element, findings: list[str]) -> list[str]:
    ids = []
    for el in [root, *root.findall(ATOM + "entry")]:
        what = "feed" if el is root else "entry"
        ident = (el.findtext(ATOM + "id") or "").strip()
        if not ident:
            findings.append(f"{rel}: atom {what} without an id")
        title = el.find(ATOM + "title")
        if title is None or not "".join(title.itertext()).strip():
            findings.append(f"{rel}: atom {what} without a title")
        _rfc3339(f"{rel}: atom {what} <updated>", el.findtext(ATOM + "updated"), findings)
        if el.find(ATOM + "published") is not None:
            _rfc3339(f"{rel}: atom {what} <published>", el.findtext(ATOM + "published"), findings)
        if what == "entry":
            ids.append(ident)
            alternates = [link.get("href") or "" for link in el.findall(ATOM + "link")
                          if link.get("rel", "alternate") == "alternate"]
            if not alternates:
                findings.append(f"{rel}: atom entry {ident} without a link")
            for href in alternates:
                if not clean_link(href):
                    findings.append(f"{rel}: atom entry link not a clean http(s) URL: {href[:60]!r}")
    for el in root.iter():
        if _local(el.tag) in ("title", "subtitle", "summary", "content", "rights"):
            kind = (el.get("type") or "text").lower()
            if kind == "html":
                findings += [f"{rel}: active content in atom {_local(el.tag)}: {b}"
                             for b in active_content(el.text or "")]
            elif kind == "xhtml":
                for sub in el.iter():
                    if _local(sub.tag).lower() in BAD_TAGS or any(
                            _local(k).lower().startswith("on") for k in sub.attrib):
                        findings.append(f"{rel}: active xhtml in atom {_local(el.tag)}")
    return ids


def check_rss(rel: str, root: etree._Element, findings: list[str]) -> list[str]:
    channel = root.find("channel")
    if channel is None:
        findings.append(f"{rel}: rss without a channel")
        return []
    for required in ("title", "link", "description"):
        if channel.find(required) is None:
            findings.append(f"{rel}: rss channel without <{required}>")
    for name in ("pubDate", "lastBuildDate"):
        if channel.find(name) is not None:
            _rfc822(f"{rel}: channel <{name}>", channel.findtext(name), findings)
    ids = []
    for item in channel.findall("item"):
        title = item.findtext("title") or ""
        if not title.strip():
            findings.append(f"{rel}: rss item without a title")
        if has_markup(title):
            findings.append(f"{rel}: rss title holds markup: {title[:60]!r}")
        link = item.findtext("link") or ""
        if not clean_link(link):
            findings.append(f"{rel}: rss item link not a clean http(s) URL: {link[:60]!r}")
        ids.append((item.findtext("guid") or link).strip())
        if item.find("pubDate") is not None:
            _rfc822(f"{rel}: item <pubDate>", item.findtext("pubDate"), findings)
        for name in ("description", CONTENT + "encoded"):
            for el in item.findall(name):
                findings += [f"{rel}: active content in rss {_local(name)}: {b}"
                             for b in active_content(el.text or "")]
    return ids


def _json_strict(data: bytes) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(data.decode("utf-8"), parse_constant=refuse)


def check_jsonfeed(rel: str, doc: Any, findings: list[str]) -> list[str]:
    if not isinstance(doc.get("title"), str) or not doc["title"].strip():
        findings.append(f"{rel}: JSON Feed without a title")
    for key in ("home_page_url", "feed_url", "icon", "favicon"):
        if isinstance(doc.get(key), str) and not clean_link(doc[key]):
            findings.append(f"{rel}: JSON Feed {key} not a clean http(s) URL: {doc[key][:60]!r}")
    items = doc.get("items")
    if not isinstance(items, list):
        findings.append(f"{rel}: JSON Feed without items")
        return []
    ids = []
    for item in items:
        if not isinstance(item, dict):
            findings.append(f"{rel}: JSON Feed item is not an object")
            continue
        ident = item.get("id")
        if not isinstance(ident, str) or not ident.strip():
            findings.append(f"{rel}: JSON Feed item without an id")
        ids.append(str(ident))
        if not clean_link(item.get("url") or ""):
            findings.append(f"{rel}: JSON Feed item url not a clean http(s) URL: {item.get('url')!r:.60}")
        for key in ("external_url", "image", "banner_image"):
            if isinstance(item.get(key), str) and bad_url(item[key]):
                findings.append(f"{rel}: dangerous JSON Feed item {key}: {item[key][:60]!r}")
        for author in item.get("authors") or []:
            if isinstance(author, dict) and isinstance(author.get("url"), str) and bad_url(author["url"]):
                findings.append(f"{rel}: dangerous JSON Feed author url {author['url'][:60]!r}")
        for key in ("date_published", "date_modified"):
            if key in item:
                _rfc3339(f"{rel}: {key}", item[key] if isinstance(item[key], str) else repr(item[key]),
                         findings)
        if "title" in item and (not isinstance(item["title"], str) or not item["title"].strip()):
            findings.append(f"{rel}: JSON Feed item with a blank title")
        if isinstance(item.get("content_html"), str):
            findings += [f"{rel}: active content in content_html: {b}"
                         for b in active_content(item["content_html"])]
    return ids


# The static files feeds ships (embed.js, favicon.ico): copied as they are, nothing of a record in them.
STATIC_FILES = {p.name: p.read_bytes() for p in (Path(feeds.__file__).parent / "static").iterdir()
                if p.is_file()}
_VALIDATOR: list[Any] = []


def _schema_errors(doc: Any) -> list[str]:
    if not _VALIDATOR:
        _VALIDATOR.append(jsonfeed_validator())
    validator = _VALIDATOR[0]
    if validator is None:
        return []
    return [f"{'/'.join(map(str, e.path))}: {e.message[:80]}" for e in validator.iter_errors(doc)]


def check_file(rel: str, data: bytes, findings: list[str]) -> None:
    """The mechanical checks of one output file, by what it is."""
    for comp in rel.split("/"):
        if comp in ("", ".", "..") or not PATH_COMPONENT.match(comp) or WIN_RESERVED.match(
                comp.rstrip(". ")) or comp.endswith("."):
            findings.append(f"output path component {comp!r} of {rel!r} is not portable")
    low = rel.lower()
    if low.endswith((".atom", ".rss", ".opml", ".xml")):
        if re.search(rb"<!doctype|<!entity", data, re.I):
            findings.append(f"{rel}: raw XML holds <!DOCTYPE or <!ENTITY")
        if re.search(rb"<script", data, re.I):
            findings.append(f"{rel}: raw XML holds a <script element")
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=False)
        try:
            root = etree.fromstring(data, parser)
        except etree.XMLSyntaxError as exc:
            findings.append(f"{rel}: XML not well-formed: {exc}")
            return
        _xml_urls(rel, root, findings)
        if root.tag == ATOM + "feed":
            ids = check_atom(rel, root, findings)
        elif root.tag == "rss":
            ids = check_rss(rel, root, findings)
        else:
            ids = []
            for outline in root.iter("outline"):
                for key in ("xmlUrl", "htmlUrl"):
                    if outline.get(key) is not None and not clean_link(outline.get(key) or ""):
                        findings.append(f"{rel}: OPML {key} not a clean http(s) URL")
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            findings.append(f"{rel}: the same entry twice: {duplicates[:2]}")
    elif low.endswith(".json"):
        try:
            doc = _json_strict(data)
        except (ValueError, UnicodeDecodeError) as exc:
            findings.append(f"{rel}: not valid JSON: {exc}")
            return
        if re.search(r"[\ud800-\udfff]", "".join(_strings(doc)) + "".join(
                k for k in (doc.keys() if isinstance(doc, dict) else []))):
            findings.append(f"{rel}: JSON holds lone surrogates")
        if isinstance(doc, dict) and str(doc.get("version", "")).startswith("https://jsonfeed.org/version/"):
            ids = check_jsonfeed(rel, doc, findings)
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            if duplicates:
                findings.append(f"{rel}: the same item twice: {duplicates[:2]}")
            findings += [f"{rel}: JSON Feed schema: {e}" for e in _schema_errors(doc)]
    elif low.endswith((".html", ".htm")):
        text = data.decode("utf-8")
        findings += [f"{rel}: {b}" for b in active_content(text, page=True)]
        if RAW_SCRIPT.search(text):
            findings.append(f"{rel}: record-supplied script or handler text copied raw into a page: "
                            f"{RAW_SCRIPT.search(text).group(0)!r}")  # type: ignore[union-attr]
    elif rel == "robots.txt":
        text = data.decode("utf-8")
        if any(line.split(":")[0] not in ("User-agent", "Disallow", "Sitemap", "")
               for line in text.splitlines()):
            findings.append(f"{rel}: a line that is not a robots.txt rule")
    elif "/" not in rel and rel in STATIC_FILES:
        if data != STATIC_FILES[rel]:
            findings.append(f"{rel}: not the static file feeds ships")
    else:
        findings.append(f"{rel}: a file of unknown kind in the output")


_CHECKED: dict[tuple[str, bytes], list[str]] = {}


def checked(rel: str, data: bytes) -> list[str]:
    """`check_file`'s findings, remembered: most files of a case are the same as in the last one."""
    key = (rel, hashlib.blake2b(data, digest_size=16).digest())
    if key not in _CHECKED:
        found: list[str] = []
        check_file(rel, data, found)
        _CHECKED[key] = found
    return list(_CHECKED[key])


def secrets_in(outcome: Outcome, needles: list[str], windows: list[str]) -> list[str]:
    found = []
    blobs = {"output": outcome._all, "problems": outcome.log, "cache": outcome.cache_dump}
    for where, blob in blobs.items():
        for needle in needles + windows:
            if needle in blob:
                found.append(f"secured value {needle[:10]}... in {where}"
                             + (f" {outcome.where(needle)[:3]}" if where == "output" else ""))
                break
    return found


def invariants(outcome: Outcome, hostile: list[H], absent_paths: tuple[Path, ...] = ()) -> list[str]:
    """Every finding of the mechanical checks; an empty list is a pass."""
    findings: list[str] = []
    if outcome.written_outside:
        findings.append(f"written outside the output folder: {outcome.written_outside[:5]}")
    for path in absent_paths:
        if os.path.lexists(path):
            findings.append(f"escape marker path exists: {path}")
    if not any(rel.endswith(".atom") for rel in outcome.files):
        findings.append("no Atom feed was written")
    for rel, data in outcome.files.items():
        findings += checked(rel, data)
    for name, needles in GOOD_NEEDLES.items():
        if not any(outcome.shows(n) for n in needles):
            findings.append(f"good seed {name} is not published")
    for needle in UNPUBLISHED_NEEDLES:
        if outcome.shows(needle):
            findings.append(f"unpublished seed text leaked: {needle[:40]!r} in {outcome.where(needle)[:3]}")
    for needle in UNPUBLISHED_PROVIDERS:
        if outcome.shows(needle, ci=True):
            findings.append(f"provider known only from unpublished seeds shows: {needle!r}")
    windows = [w for item in hostile for s in item.secrets for w in secret_windows(s)]
    findings += secrets_in(outcome, SEED_SECRETS, windows)
    for item in hostile:
        named = [p for p in outcome.problems if p.file == item.name]
        present = item.token is not None and outcome.shows(item.token, ci=True)
        if item.expect == "published" and not present:
            findings.append(f"{item.name}: not published; problems: {[str(p) for p in named][:3]}")
        if item.expect in ("skipped", "absent") and present:
            findings.append(f"{item.name}: published, expected {item.expect}: "
                            f"{outcome.where(item.token or '', ci=True)[:3]}")
        if item.expect == "skipped" or (item.expect == "any" and not present):
            if not named:
                findings.append(f"{item.name}: left out without a problem naming the file")
            elif item.expect == "skipped" and item.error and not any(p.is_error for p in named):
                findings.append(f"{item.name}: skipped, but reported only as warnings: "
                                f"{[str(p) for p in named]}")
        if item.field and item.expect in ("skipped", "absent") and not any(
                p.field.startswith(item.field) for p in named):
            findings.append(f"{item.name}: no problem names the field {item.field!r}: "
                            f"{[str(p) for p in named][:3]}")
    return findings


def run(tmp_path: Path, hostile: list[H], absent_paths: tuple[Path, ...] = (), **overrides: Any) -> Outcome:
    """Build the case and assert every invariant holds."""
    outcome = build_case(tmp_path, hostile, **overrides)
    findings = invariants(outcome, hostile, absent_paths)
    assert findings == [], "\n".join(findings[:25])
    return outcome


def json_items(outcome: Outcome, path: str = "feed.json") -> list[dict[str, Any]]:
    doc = json.loads(outcome.files[path])
    return list(doc["items"])


def item_with(outcome: Outcome, token: str, path: str = "feed.json") -> dict[str, Any]:
    found = [i for i in json_items(outcome, path) if token.lower() in json.dumps(i).lower()]
    assert len(found) == 1, f"{token}: {len(found)} items in {path}"
    return found[0]


# == malformed YAML =================================================================================

MALFORMED: dict[str, Callable[[str], str]] = {
    "unclosed_double_quote": lambda t: record(t, title=f'"Unclosed {t}'),
    "unclosed_single_quote": lambda t: record(t, title=f"'Unclosed {t}"),
    "unclosed_flow_sequence": lambda t: record(t, topics=f"[AI, {t}"),
    "unclosed_flow_mapping": lambda t: record(t, provider=f"{{name: {t}, domain: x.example"),
    "unclosed_quote_in_block": lambda t: record(t, extra='  bad_indent: [1, 2\nnext: {unclosed'),
    "tab_indentation": lambda t: record(t, provider="\n\tname: Tab Indented\n\tdomain: hostile.example"),
    "tab_before_list_item": lambda t: record(t, topics="\n\t- AI"),
    "bad_indentation": lambda t: record(t, provider="\n    name: Deep\n  domain: hostile.example"),
    "mapping_in_plain_scalar": lambda t: record(t, title=f"Colon: {t}: here"),
    "second_document_inside": lambda t: record(t, extra="--- # a second document\nother: 1"),
    "document_with_directive": lambda t: record(t, extra="%YAML 1.1\n--- x"),
    "unknown_escape": lambda t: record(t, title=f'"Bad \\q escape {t}"'),
    "unhashable_key": lambda t: record(t, extra="? [a, b]\n: value"),
    "unknown_local_tag": lambda t: record(t, title=f'!custom "Tagged {t}"'),
    "binary_tag_title": lambda t: record(t, title="!!binary aGVsbG8="),
    "timestamp_tag_title": lambda t: record(t, title="!!timestamp 2020-01-01"),
    "float_tag_published": lambda t: record(t, published="!!float 1"),
    "no_closing_dashes": lambda t: record(t).rstrip("-\n") + "\n",
    "no_opening_dashes": lambda t: record(t)[4:],
    "opening_dashes_late": lambda t: "\n\n" + record(t),
    "front_matter_is_a_list": lambda t: f"---\n- {t}\n- https://hostile.example/{t.lower()}\n---\n",
    "front_matter_is_a_scalar": lambda t: f"---\njust text {t}\n---\n",
    "front_matter_is_null": lambda t: "---\n~\n---\n",
    "front_matter_empty": lambda t: "---\n---\n",
    "key_without_value_block": lambda t: record(t, extra="- stray list item"),
    "stray_closing_bracket": lambda t: record(t, title=f"[x]] {t}"),
    "anchor_to_missing_alias": lambda t: record(t, title="*nothere"),
}


@pytest.mark.parametrize("kinds", groups(sorted(MALFORMED), 7))
def test_malformed_yaml_is_skipped_naming_the_file(tmp_path: Path, kinds: list[str]) -> None:
    skipped_by_field = {"binary_tag_title": "title", "timestamp_tag_title": "title",
                        "float_tag_published": "published"}
    hostile = []
    for kind in kinds:
        token = token_of(kind)
        field_name: str | None = skipped_by_field.get(kind, "front matter")
        expect = {"float_tag_published": "absent", "opening_dashes_late": "any"}.get(kind, "skipped")
        if kind in ("front_matter_is_null", "front_matter_empty", "front_matter_is_a_list",
                    "front_matter_is_a_scalar", "no_opening_dashes", "opening_dashes_late"):
            field_name = None  # "front matter" or "file": the problem names the file
        hostile.append(H(fname(kind), MALFORMED[kind](token), token, expect, field_name, (secret_of(token),)))
    run(tmp_path, hostile)


def test_a_python_object_tag_is_never_constructed(tmp_path: Path) -> None:
    marker = Path(f"/tmp/feeds_hostile_pwned_{uuid.uuid4().hex}")
    token = token_of("pytag")
    payloads = [
        f'!!python/object/apply:os.system ["touch {marker}"]',
        f'!!python/object/apply:subprocess.call [["touch", "{marker}"]]',
        f'!!python/object/new:os.system ["touch {marker}"]',
        '!!python/name:os.system',
    ]
    hostile = [rec(f"h_pytag_{i}.txt", f"{token}{i}", "skipped", "front matter", title=payload)
               for i, payload in enumerate(payloads)]
    run(tmp_path, hostile, absent_paths=(marker,))


DUPLICATE_KEYS: dict[str, tuple[str, str]] = {
    # the last `published` says false: whatever the policy (last wins or refusal), not published
    "published_true_then_false": ("absent", "published: true\npublished: false"),
    "published_false_then_true": ("any", "published: false\npublished: true"),
    "title_twice": ("any", 'title: "First {t}"\ntitle: "Second {t}"'),
    "secured_twice": ("any", 'secured: "{s}"\nsecured: "{s2}"'),
    "web_url_twice": ("any", 'webUrl: "https://hostile.example/a-{tl}"\n'
                             'webUrl: "https://hostile.example/{tl}"'),
    "provider_twice": ("any", "provider:\n  name: One\nprovider:\n  name: Two {t}\n"
                              "  domain: hostile.example"),
    "nested_key_twice": ("any", "provider:\n  name: One {t}\n  name: Two {t}\n  domain: hostile.example"),
}


def test_duplicate_keys(tmp_path: Path) -> None:
    hostile = []
    for kind, (expect, lines) in sorted(DUPLICATE_KEYS.items()):
        token = token_of(kind)
        second = secret_of(token + "-2")
        text = lines.format(t=token, tl=token.lower(), s=secret_of(token), s2=second)
        drop = tuple({line.split(":")[0] for line in text.splitlines() if not line.startswith(" ")})
        hostile.append(H(fname(kind), record(token, drop=drop, extra=text), token, expect, None,
                         (secret_of(token), second)))
    run(tmp_path, hostile)


# == empty, blank and BOM-only files ================================================================

EMPTY: dict[str, bytes] = {
    "zero_bytes": b"",
    "spaces_and_tabs": b"   \n\t \n  ",
    "newlines": b"\n\n\n",
    "crlf_only": b"\r\n\r\n",
    "bom_only": b"\xef\xbb\xbf",
    "bom_and_newline": b"\xef\xbb\xbf\n\n",
    "bom_and_whitespace": b"\xef\xbb\xbf \t\r\n",
    "dashes_only": b"---\n",
    "two_dashes_lines": b"---\n---\n",
    "bom_dashes": b"\xef\xbb\xbf---\n---\n",
    "nbsp_only": "\u00a0\u2003\u3000".encode(),
    "zero_width_only": "\u200b\u200c\u200d\u2060".encode(),
}


@pytest.mark.parametrize("kinds", groups(sorted(EMPTY), 6))
def test_empty_files_are_skipped_naming_the_file(tmp_path: Path, kinds: list[str]) -> None:
    run(tmp_path, [H(fname(kind), EMPTY[kind], None, "skipped") for kind in kinds])


# == binary, invalid UTF-8 and other encodings =========================================================


def _binary(seed: int) -> bytes:
    rng = random.Random(seed)
    data = bytearray(rng.getrandbits(8) for _ in range(4096))
    data[10:14] = b"\x00\xff\x00\xfe"
    return bytes(data)


def _with_title_bytes(token: str, raw: bytes) -> bytes:
    text = record(token, title="@@TITLE@@").encode("utf-8")
    return text.replace(b"@@TITLE@@", b'"Bad ' + raw + b" " + token.encode() + b'"')


ENCODINGS: dict[str, tuple[str, Callable[[str], bytes]]] = {
    "random_bytes": ("skipped", lambda t: _binary(1)),
    "random_bytes_after_dashes": ("skipped", lambda t: b"---\n" + _binary(2) + b"\n---\n"),
    "all_nul": ("skipped", lambda t: b"\x00" * 4096),
    "nul_in_title": ("skipped", lambda t: _with_title_bytes(t, b"x\x00y")),
    "ff_fe_in_title": ("skipped", lambda t: _with_title_bytes(t, b"\xff\xfe")),
    "overlong_slash_2_bytes": ("skipped", lambda t: _with_title_bytes(t, b"\xc0\xaf")),
    "overlong_slash_3_bytes": ("skipped", lambda t: _with_title_bytes(t, b"\xe0\x80\xaf")),
    "overlong_nul": ("skipped", lambda t: _with_title_bytes(t, b"\xc0\x80")),
    "cesu_surrogate_pair": ("skipped", lambda t: _with_title_bytes(t, b"\xed\xa0\xbd\xed\xb8\x80")),
    "lone_high_surrogate": ("skipped", lambda t: _with_title_bytes(t, b"\xed\xa0\x80")),
    "lone_low_surrogate": ("skipped", lambda t: _with_title_bytes(t, b"\xed\xbf\xbf")),
    "truncated_sequence": ("skipped", lambda t: _with_title_bytes(t, b"\xe2\x82")),
    "beyond_u10ffff": ("skipped", lambda t: _with_title_bytes(t, b"\xf4\x90\x80\x80")),
    "five_byte_sequence": ("skipped", lambda t: _with_title_bytes(t, b"\xf8\x88\x80\x80\x80")),
    "latin1": ("skipped", lambda t: _with_title_bytes(t, "café".encode("latin-1"))),
    "cp1252_quotes": ("skipped", lambda t: _with_title_bytes(t, b"\x93quoted\x94")),
    "invalid_in_secured_only": ("skipped", lambda t: record(t).encode().replace(
        secret_of(t).encode(), secret_of(t)[:30].encode() + b"\xff" + secret_of(t)[30:].encode())),
    "invalid_after_front_matter": ("any", lambda t: record(t).encode() + b"body \xff\xfe\x00"),
    "utf16_le_bom": ("any", lambda t: b"\xff\xfe" + record(t).encode("utf-16-le")),
    "utf16_be_bom": ("any", lambda t: b"\xfe\xff" + record(t).encode("utf-16-be")),
    "utf16_le_no_bom": ("any", lambda t: record(t).encode("utf-16-le")),
    "utf32_le_bom": ("any", lambda t: b"\xff\xfe\x00\x00" + record(t).encode("utf-32-le")),
    "utf7": ("any", lambda t: record(t, title=f'"+ADw-script+AD4-alert(1)+ADw-/script+AD4- {t}"').encode()),
    "gzip_bytes": ("skipped", lambda t: __import__("gzip").compress(record(t).encode(), mtime=0)),
}


@pytest.mark.parametrize("kinds", groups(sorted(ENCODINGS), 8))
def test_binary_and_invalid_utf8(tmp_path: Path, kinds: list[str]) -> None:
    hostile = []
    for kind in kinds:
        token = token_of(kind)
        expect, make = ENCODINGS[kind]
        hostile.append(H(fname(kind), make(token), token, expect, None, (secret_of(token),)))
    run(tmp_path, hostile)


# == BOM and line endings =============================================================================

LINE_ENDINGS: dict[str, Callable[[str], bytes]] = {
    "bom_lf": lambda text: b"\xef\xbb\xbf" + text.encode(),
    "bom_crlf": lambda text: b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode(),
    "crlf": lambda text: text.replace("\n", "\r\n").encode(),
    "cr_only": lambda text: text.replace("\n", "\r").encode(),
    "bom_cr_only": lambda text: b"\xef\xbb\xbf" + text.replace("\n", "\r").encode(),
    "mixed": lambda text: "".join(line + ("\r\n" if i % 2 else "\n")
                                  for i, line in enumerate(text.splitlines())).encode(),
    "double_bom": lambda text: b"\xef\xbb\xbf\xef\xbb\xbf" + text.encode(),
    "trailing_space_on_dashes": lambda text: text.replace("---\n", "---  \n").encode(),
    "trailing_tab_on_dashes_crlf": lambda text: text.replace("---\n", "---\t\r\n").replace("\n", "\r\n")
    .replace("\r\r\n", "\r\n").encode(),
    "no_final_newline": lambda text: text.rstrip("\n").encode(),
}


@pytest.mark.parametrize("kinds", groups(sorted(LINE_ENDINGS), 5))
def test_bom_and_line_endings_publish_cleanly(tmp_path: Path, kinds: list[str]) -> None:
    hostile = []
    for kind in kinds:
        token = token_of(kind)
        text = record(token, excerpt=f'"Line one {token}"')
        hostile.append(H(fname(kind), LINE_ENDINGS[kind](text), token, "published", None,
                         (secret_of(token),)))
    outcome = run(tmp_path, hostile)
    for item in hostile:
        assert item.token is not None
        seen = item_with(outcome, item.token)
        assert seen["title"] == f"Hostile record {item.token}", item.name
        assert seen["summary"] == f"Line one {item.token}", item.name
        assert "\r" not in json.dumps(seen), item.name
    for rel, text_seen in outcome.decoded.items():
        assert "\ufeff" not in text_seen, f"a BOM leaked into {rel}"


# == YAML alias bombs =================================================================================

LOL = "\n".join(
    ['lol0: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"lol{i}: &{chr(97 + i)} [{','.join(['*' + chr(96 + i)] * 9)}]" for i in range(1, 9)]
)  # 9 levels of 9: 387 million leaves once expanded


def _bomb_in(fieldname: str) -> Callable[[str], str]:
    return lambda t: record(t, drop=(fieldname,), extra=f"{LOL}\n{fieldname}: *i")


BOMBS: dict[str, Callable[[str], str]] = {
    **{f"in_{f}": _bomb_in(f) for f in ("title", "excerpt", "topics", "provider", "images", "related",
                                        "publishedDateTime", "webUrl", "originalUrl", "published",
                                        "secured", "quality", "type", "category", "unknown")},
    "nested_in_related_item": lambda t: record(t, drop=("related",), extra=f"{LOL}\nrelated:\n  - title: *i\n"
                                                                            "    webUrl: https://r.example/"),
    "nested_in_provider_images": lambda t: record(t, drop=("provider",),
                                                  extra=f"{LOL}\nprovider:\n  name: X\n  images: *i"),
    "nested_deep_under_unknown": lambda t: record(t, extra=f"{LOL}\nmeta:\n  a:\n    b:\n      c: *i"),
    "as_mapping_key": lambda t: record(t, extra=f"{LOL}\n? *i\n: value"),
    "merge_key": lambda t: record(t, extra="base: &b {x: 1, y: 2}\nderived:\n  <<: *b\n  z: 3"),
    "scalar_alias_title_to_excerpt": lambda t: record(t, title=f'&t "Scalar alias {t}"', excerpt="*t"),
    "scalar_alias_secured_to_title": lambda t: record(t, secured=f'&s "{secret_of(t)}"', drop=("title",),
                                                      extra="title: *s"),
    "scalar_alias_in_topics": lambda t: record(t, topics="\n  - &x AI\n  - *x"),
    "recursive_sequence": lambda t: record(t, extra="loop: &l [*l]"),
    "recursive_mapping": lambda t: record(t, extra="loop: &m {self: *m}"),
    "anchor_after_tab": lambda t: record(t, title=f'\t&t "Tab anchor {t}"', excerpt="\t*t"),
    "anchor_in_flow": lambda t: record(t, topics="[&x AI, *x, *x]"),
    "block_bomb": lambda t: record(t, extra="a: &a\n  - x\n  - x\nb: &b\n  - *a\n  - *a\n"
                                            "c: &c\n  - *b\n  - *b\ntopics: *c"),
}


@pytest.mark.parametrize("kinds", groups(sorted(BOMBS), 7))
def test_yaml_aliases_are_refused_before_anything_walks_them(tmp_path: Path, kinds: list[str]) -> None:
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    hostile = [H(fname(kind), BOMBS[kind](token_of(kind)), token_of(kind), "skipped", "front matter",
                 (secret_of(token_of(kind)),)) for kind in kinds]
    outcome = run(tmp_path, hostile)
    growth_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert outcome.seconds < 10, f"{outcome.seconds:.1f} s for {len(kinds)} alias bombs"
    assert growth_mib < 256, f"peak memory grew by {growth_mib:.0f} MiB"
    assert sum(len(d) for d in outcome.files.values()) < 5_000_000, "alias expansion written out"


# == wrong types for every field ======================================================================

# (field, raw YAML, expect, the field a problem must name); WTM marks a value that must never be
# stringified into the output ("['WTM...']" published as a title is a failure).
WRONG_TYPES: list[tuple[str, str, str, str]] = [
    ("title", '["List title WTM", "second"]', "skipped", "title"),
    ("title", "{text: WTM mapping}", "skipped", "title"),
    ("title", "true", "skipped", "title"),
    ("title", "~", "skipped", "title"),
    ("title", '""', "skipped", "title"),
    ("title", "", "skipped", "title"),
    ("title", "[]", "skipped", "title"),
    ("title", "12345", "any", ""),
    ("title", "1.5e300", "any", ""),
    ("title", ".nan", "any", ""),
    ("title", "2020-01-01", "any", ""),
    ("excerpt", "[WTM, list]", "published", "excerpt"),
    ("excerpt", "{a: WTM}", "published", "excerpt"),
    ("excerpt", "false", "published", "excerpt"),
    ("topics", "{WTM: 1, other: 2}", "published", "topics"),
    ("topics", "42", "published", "topics"),
    ("topics", "true", "published", "topics"),
    ("topics", "[{name: WTM}, [WTM, nested], null, true]", "published", "topics"),
    ("provider", '"Provider WTM as string"', "published", "provider"),
    ("provider", "[WTM, list]", "published", "provider"),
    ("provider", "42", "published", "provider"),
    ("provider", "{name: [WTM, list], domain: hostile.example}", "published", "provider.name"),
    ("provider", "{name: X, domain: [WTM, x]}", "published", "provider.domain"),
    ("provider", "{name: X, domain: hostile.example, images: WTM}", "published", "provider.images"),
    ("images", '"https://img.example/WTM.jpg"', "published", "images"),
    ("images", "{url: https://img.example/WTM.jpg}", "published", "images"),
    ("images", "[42, [https://img.example/WTM.jpg], null]", "published", "images[0]"),
    ("images", "[{url: [https://img.example/WTM.jpg]}]", "published", "images[0].url"),
    ("images", "[{url: 'https://img.example/a.jpg', width: WTM, height: [1]}]", "published", ""),
    ("related", "{title: WTM, webUrl: 'https://r.example/'}", "published", "related"),
    ("related", '"WTM related as string"', "published", "related"),
    ("related", "[WTM, 42]", "published", "related[0]"),
    ("related", "[{title: [WTM, x], webUrl: 'https://r.example/'}]", "published", "related[0].title"),
    ("related", "[{title: ok, webUrl: {u: WTM}}]", "published", "related[0].webUrl"),
    ("related", "[{title: ok, webUrl: 'https://r.example/', provider: WTM}]", "published", ""),
    ("related", "[{title: ok, webUrl: 'https://r.example/', publishedDateTime: [WTM]}]", "published",
     "related[0].publishedDateTime"),
    ("publishedDateTime", "[2021-06-01T10:00:00Z]", "skipped", "publishedDateTime"),
    ("publishedDateTime", "{at: WTM}", "skipped", "publishedDateTime"),
    ("publishedDateTime", "true", "skipped", "publishedDateTime"),
    ("publishedDateTime", "~", "skipped", "publishedDateTime"),
    ("publishedDateTime", "1622541600", "skipped", "publishedDateTime"),
    ("webUrl", "[https://hostile.example/WTM]", "skipped", "webUrl"),
    ("webUrl", "{u: https://hostile.example/WTM}", "skipped", "webUrl"),
    ("webUrl", "42", "skipped", "webUrl"),
    ("webUrl", "true", "skipped", "webUrl"),
    ("originalUrl", "[https://hostile.example/WTM]", "published", "originalUrl"),
    ("type", "[WTM]", "published", "type"),
    ("type", "{WTM: 1}", "published", "type"),
    ("quality", "[WTM]", "published", "quality"),
    ("quality", '"WTM high"', "published", "quality"),
    ("heat", "{WTM: 1}", "published", "heat"),
    ("heat", "1e400", "published", "heat"),
    ("category", "[WTM]", "published", ""),
    ("featuredContent", "[WTM]", "published", ""),
]


@pytest.mark.parametrize("indices", groups(list(range(len(WRONG_TYPES))), 8, "wrong"))
def test_wrong_types_for_every_field(tmp_path: Path, indices: list[int]) -> None:
    hostile, checks = [], []
    for i in indices:
        fieldname, raw, expect, named = WRONG_TYPES[i]
        token = token_of(f"wrong{i}")
        marker = "wtm" + token.lower().replace("-", "")
        value = raw.replace("WTM", marker)
        text = record(token, drop=(fieldname,), extra=f"{fieldname}: {value}" if value else f"{fieldname}:")
        name = f"h_wrong_{i}_{fieldname.lower()}.txt"
        hostile.append(H(name, text, token, expect, named if expect == "skipped" else None,
                         (secret_of(token),)))
        checks.append((name, fieldname, raw, expect, named, marker))
    outcome = run(tmp_path, hostile)
    for name, fieldname, raw, expect, named, marker in checks:
        if named and expect != "skipped":
            assert any(p.file == name and p.field.startswith(named) for p in outcome.problems), (
                f"{name}: no warning names {named!r}: {[str(p) for p in outcome.problems if p.file == name]}")
        if raw.startswith(("[", "{")):  # a list or mapping is never turned into text
            assert not outcome.shows(marker, ci=True), (
                f"{name}: a {fieldname} of the wrong type was stringified into "
                f"{outcome.where(marker, ci=True)[:3]}")


# == published as every value but a real true ===========================================================

NOT_TRUE = ['"true"', "'true'", '"True"', '"TRUE"', "yes", "Yes", "YES", "y", "Y", "on", "On", "ON", "1",
            '"1"', "1.0", "0x1", "null", "~", "", '""', "[true]", "{x: true}", "!!str true", '"false"',
            "false", "False", "no", "off", "n", "0", "-1", '"tru e"', '" true"', '"true "', "tRuE",
            '"\\ttrue"', "yes please", "[]", "{}", "!!binary dHJ1ZQ==", "ｔｒｕｅ", "true\u200b"]


@pytest.mark.parametrize("indices", groups(list(range(len(NOT_TRUE))), 7, "flag"))
def test_only_a_real_true_publishes(tmp_path: Path, indices: list[int]) -> None:
    hostile = []
    for i in indices:
        flag = NOT_TRUE[i]
        token = token_of(f"pub{i}")
        unique = f"Zyxwv{i} Classified"
        text = record(token, published=flag, topics=f"\n  - {unique} Program",
                      provider=f"\n  name: {unique}\n  domain: zyxwv{i}.example")
        flagged = flag not in ("", "~", "null", "false", "False")  # not a boolean and not empty: say so
        hostile.append(H(f"h_not_true_{i}.txt", text, token, "absent", "published" if flagged else None,
                         (secret_of(token),)))
    outcome = run(tmp_path, hostile)
    assert not outcome.shows("zyxwv", ci=True), f"{outcome.where('zyxwv', ci=True)[:3]}"


def test_a_missing_published_key_does_not_publish(tmp_path: Path) -> None:
    token = token_of("nopub")
    run(tmp_path, [H("h_no_published.txt", record(token, drop=("published",)), token, "absent")])


def test_a_real_true_publishes(tmp_path: Path) -> None:
    flags = ["true", "True", "TRUE", "!!bool true", "true # comment"]
    run(tmp_path, [rec(f"h_true_{i}.txt", token_of(f"true{i}"), "published", published=flag)
                   for i, flag in enumerate(flags)])


# == dates ============================================================================================

DATES: list[tuple[str, str]] = [
    ('"last Tuesday"', "skipped"),
    ("2020-13-45T99:99:99Z", "skipped"),
    ("2020-02-30T00:00:00Z", "skipped"),
    ("2021-02-29T00:00:00Z", "skipped"),
    ("2020-11-09T15:05:00+25:00", "skipped"),
    ("2020-11-09T15:05:00-24:00", "skipped"),
    ("2020-11-09T15:05:00+23:60", "any"),
    ("0000-01-01T00:00:00Z", "skipped"),
    ("0001-01-01T00:00:00Z", "any"),
    ("0001-01-01T00:00:00+14:00", "any"),
    ("9999-12-31T23:59:59-23:59", "any"),
    ("9999-12-31T23:59:59Z", "any"),
    ("9999-12-31T23:59:59+14:00", "any"),
    ("10000-01-01T00:00:00Z", "skipped"),
    ("1969-12-31T23:59:59Z", "any"),
    ("1970-01-01T00:00:00Z", "any"),
    ("2016-12-31T23:59:60Z", "any"),
    ("2020-01-01T24:00:00Z", "any"),
    ("2020-01-01T23:59:59.999999999999Z", "any"),
    ("2020-02-29T00:00:00Z", "published"),
    ("2020-01-01", "any"),
    ("2020-01-01T00:00", "any"),
    ("2020-01-01T00:00:00", "any"),
    ("2020-01-01 00:00:00", "any"),
    ("2020-01-01t00:00:00z", "any"),
    ("2020-01-01T00:00:00+0000", "any"),
    ("2020-01-01T00:00:00-00:00", "any"),
    ('"２０２０-０１-０１T00:00:00Z"', "any"),
    ('"٢٠٢٠-٠١-٠١T00:00:00Z"', "any"),
    ('"2020-01-01T00:00:00Z\\n"', "any"),
    ('"+2020-01-01T00:00:00Z"', "any"),
    ('"2020-W01-1"', "any"),
    ("1622541600", "skipped"),
    ("-1", "skipped"),
    (".nan", "skipped"),
    (".inf", "skipped"),
    ('"' + "9" * 100_000 + '"', "skipped"),
    ('"2020-01-01T00:00:00' + "0" * 100_000 + 'Z"', "any"),
    ('"2020-01-01T00:00:00.' + "1" * 100_000 + 'Z"', "any"),
    ("Mon, 09 Nov 2020 15:05:00 GMT", "any"),
]


@pytest.mark.parametrize("indices", groups(list(range(len(DATES))), 8, "date"))
def test_dates_unparseable_impossible_or_out_of_range(tmp_path: Path, indices: list[int]) -> None:
    hostile = []
    for i in indices:
        raw, expect = DATES[i]
        hostile += [
            rec(f"h_date_{i}.txt", token_of(f"date{i}"), expect,
                "publishedDateTime" if expect == "skipped" else None, publishedDateTime=raw),
            # the same in a related item: never fatal for the record itself
            rec(f"h_related_date_{i}.txt", token_of(f"rdate{i}"), "published",
                related="\n  - title: Related coverage\n    webUrl: https://r.example/related-date\n"
                        f"    publishedDateTime: {raw}"),
        ]
    run(tmp_path, hostile)


# == XML-illegal characters and non-characters ===========================================================

ILLEGAL = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x0e", "\x1b[31m", "\x1f", "\x7f", "\x80", "\x85", "\x9f",
           "\ufdd0", "\ufffe", "\uffff", "\U0001fffe", "\U0010ffff", "\U000e0001"]
ALL_ILLEGAL = "".join(ILLEGAL)

TEXT_FIELDS: dict[str, Callable[[str, str], dict[str, Any]]] = {
    "title": lambda t, v: {"title": yq(f"Title {v} {t}")},
    "excerpt": lambda t, v: {"excerpt": yq(f"Excerpt {v} {t}")},
    "provider.name": lambda t, v: {"provider": f"\n  name: {yq('Prov' + v + 'ider')}\n"
                                               "  domain: hostile.example"},
    "provider.domain": lambda t, v: {"provider": f"\n  name: P\n  domain: {yq('host' + v + 'ile.example')}"},
    "topics": lambda t, v: {"topics": f"\n  - {yq('Topic ' + v + ' name')}\n  - {yq(v)}\n  - AI"},
    "related.title": lambda t, v: {"related": f"\n  - title: {yq('Related ' + v + ' title')}\n"
                                              "    webUrl: https://related.example/x\n"
                                              f"    provider:\n      name: {yq('RP' + v)}"},
    "related.webUrl": lambda t, v: {"related": "\n  - title: Related\n"
                                               f"    webUrl: {yq('https://related.example/' + v + 'x')}"},
    "webUrl": lambda t, v: {"webUrl": yq(f"https://hostile.example/{t.lower()}/{v}x")},
    "originalUrl": lambda t, v: {"originalUrl": yq(f"https://hostile.example/{v}o")},
    "images.url": lambda t, v: {"images": f"\n  - url: {yq('https://img.example/' + v + '.jpg')}"},
    "provider.images.url": lambda t, v: {
        "provider": "\n  name: P\n  domain: hostile.example\n  images:\n"
                    f"    - url: {yq('https://img.example/l' + v + '.png')}"},
    "type": lambda t, v: {"type": yq("video" + v)},
}


@pytest.mark.parametrize("fieldnames", groups(sorted(TEXT_FIELDS), 6))
def test_xml_illegal_characters_in_every_field(tmp_path: Path, fieldnames: list[str]) -> None:
    run(tmp_path, [rec(fname(f), token_of(f"ctl{f}"), "any",
                       **TEXT_FIELDS[f](token_of(f"ctl{f}"), ALL_ILLEGAL)) for f in fieldnames])


@pytest.mark.parametrize("chars", groups(ILLEGAL, 6, "chars"))
def test_each_xml_illegal_character_in_title_excerpt_and_link(tmp_path: Path, chars: list[str]) -> None:
    hostile = []
    for char in chars:
        token = token_of(f"ch{ord(char[0]):x}")
        hostile.append(rec(f"h_ctl_{ord(char[0]):x}.txt", token, "any", title=yq(f"Title {char} {token}"),
                           excerpt=yq(f"Ex{char}cerpt"),
                           webUrl=yq(f"https://hostile.example/{token.lower()}{char}")))
    outcome = run(tmp_path, hostile)
    for char in chars:
        if char in ("\x85", "\U000e0001", "\x1b[31m"):  # XML 1.0 allows these (the escape is cut)
            continue
        for rel, text in outcome.decoded.items():
            if rel.endswith((".atom", ".rss", ".json", ".html", ".opml")):
                assert char not in text, f"{char!r} kept in {rel}"


RAW_CONTROL = ["\x01", "\x07", "\x0c", "\x1b", "\x7f", "\x85", "\u2028", "\ufeff", "\ufffe"]


def test_raw_control_characters_in_the_file(tmp_path: Path) -> None:
    hostile = []
    for char in RAW_CONTROL:
        token = token_of(f"raw{ord(char):x}")
        text = record(token, title='"Raw ' + char + f' title {token}"', excerpt=f"Plain {char} excerpt")
        hostile.append(H(f"h_raw_{ord(char):x}.txt", text, token, "any", None, (secret_of(token),)))
    run(tmp_path, hostile)


# == mojibake and exotic Unicode ======================================================================

EXOTIC = {
    "rtl_override": "\u202egnp.exe \u202dtext",
    "bidi_isolates": "\u2066isolated\u2069 \u2067rtl\u2069 \u2068fs\u2069",
    "zero_width": "zero\u200bwidth\u200c\u200djoin\u2060er",
    "bom_inside": "in\ufeffside",
    "combining": "e\u0301 Z" + "\u0336\u0337\u0338" * 30 + "algo",
    "emoji_zwj": "👩‍💻 👨‍👩‍👧‍👦 🏳️‍🌈 🇺🇦 👍🏽",
    "line_separators": "LS\u2028PS\u2029NEL\x85end",
    "mojibake": "â€œquotedâ€\x9d and Ã©tÃ©",
    "cjk_arabic_devanagari": "人工智能 الذكاء الاصطناعي कृत्रिम बुद्धिमत्ता",
    "fullwidth_and_math": "ＦＵＬＬ 𝐁𝐎𝐋𝐃 ﬁ ẞ",
    "tag_and_variation": "A\U000e0041\U000e007f ❤\ufe0f \ufe00",
    "private_and_unassigned": "\ue000\uf8ff\U000f0000 \u0378\u03a2",
    "hangul_filler": "\u3164\u115f\u1160",
    "homoglyphs": "аррӏе.com раураӏ",
}


@pytest.mark.parametrize("kinds", groups(sorted(EXOTIC), 7))
def test_mojibake_and_exotic_unicode(tmp_path: Path, kinds: list[str]) -> None:
    hostile = []
    for kind in kinds:
        token = token_of(kind)
        value = EXOTIC[kind]
        text = record(token, title=yraw(f"{value} {token}"), excerpt=yraw(f"{value} excerpt"),
                      provider=f"\n  name: {yraw(value + ' News')}\n  domain: {yraw(value + '.example')}",
                      topics=f"\n  - {yraw(value)}\n  - {yraw(value + ' topic')}\n  - AI",
                      related=f"\n  - title: {yraw(value + ' related')}\n    webUrl: "
                              f"{yraw('https://r.example/' + value)}")
        hostile.append(H(fname(kind), text, token, "published", None, (secret_of(token),)))
    outcome = run(tmp_path, hostile)
    for kind in kinds:
        title = item_with(outcome, token_of(kind))["title"]
        if kind == "emoji_zwj":
            assert "👩‍💻" in title and "🇺🇦" in title, title
        if kind == "cjk_arabic_devanagari":
            assert all(word in title for word in ("人工智能", "الذكاء", "बुद्धिमत्ता")), title
        if kind == "mojibake":
            assert "â€" not in title and "Ã©" not in title, f"mojibake kept: {title!r}"
    for rel, seen in outcome.decoded.items():
        for double in ("Ã¢â‚¬", "ðŸ‘", "äººå·¥"):
            assert double not in seen, f"double-encoded text in {rel}"


# == markup and script in every text field ===============================================================

XSS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(2)>",
    "<svg/onload=alert(3)>",
    '<iframe src="javascript:alert(4)"></iframe>',
    '"><script>alert(5)</script>',
    "'><img src=x onerror=alert(6)>",
    "&lt;script&gt;alert(7)&lt;/script&gt;",
    "&amp;lt;script&amp;gt;alert(8)&amp;lt;/script&amp;gt;",
    "&#60;script&#62;alert(9)&#60;/script&#62;",
    '<a href="javascript:alert(10)">x</a>',
    '<a href="&#106;avascript:alert(11)">x</a>',
    "<scr<script>ipt>alert(12)</scr</script>ipt>",
    "<style>@import 'http://evil.example/x.css';</style>",
    '<base href="http://evil.example/">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(13)">',
    '<form action="javascript:alert(14)"><input type=submit></form>',
    "]]><script>alert(15)</script><![CDATA[",
    '<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>&xxe;',
    '<?xml-stylesheet href="javascript:alert(16)"?>',
    '<object data="javascript:alert(17)"></object>',
    '<embed src="javascript:alert(18)">',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(19)>",
    '<noscript><p title="</noscript><img src=x onerror=alert(20)>">',
    "<!--<script>alert(21)//-->",
    "<x onclick=alert(22)>click",
    "{{ config }}{% for x in range(9) %}x{% endfor %}${7*7}",
    "<<script>script>alert(24)<</script>/script>",
    "<img src=`x`onerror=alert(25)>",
    "<svg><script>alert&#40;26&#41;</script>",
    "&lt;img src=x onerror=alert(27)&gt;",
    "<a href='jav&#x09;ascript:alert(28)'>x</a>",
    '<div style="background:url(javascript:alert(29))">x</div>',
    "\u003cscript\u003ealert(30)\u003c/script\u003e",
]

XSS_FIELDS: dict[str, Callable[[str, str], dict[str, Any]]] = {
    "title": lambda t, v: {"title": yraw(f"{v} Title {t}")},
    "excerpt": lambda t, v: {"excerpt": yraw(f"{v} Excerpt {t}")},
    "provider.name": lambda t, v: {"provider": f"\n  name: {yraw(v + ' Provider')}\n"
                                               "  domain: hostile.example"},
    "provider.domain": lambda t, v: {"provider": f"\n  name: P\n  domain: {yraw(v)}"},
    "topics": lambda t, v: {"topics": f"\n  - {yraw(v)}\n  - {yraw('Topic ' + v)}\n  - AI"},
    "related": lambda t, v: {"related": f"\n  - title: {yraw(v + ' related')}\n"
                                        f"    webUrl: https://related.example/x\n"
                                        f"    provider:\n      name: {yraw(v + ' RP')}"},
    "images": lambda t, v: {"images": f"\n  - url: https://img.example/a.jpg\n    title: {yraw(v)}\n"
                                      f"    alt: {yraw(v)}\n    caption: {yraw(v)}"},
    "type_and_category": lambda t, v: {"type": yraw(v), "category": yraw(v)},
}


@pytest.mark.parametrize("fieldnames", groups(sorted(XSS_FIELDS), 4))
def test_markup_in_every_text_field_stays_inert(tmp_path: Path, fieldnames: list[str]) -> None:
    run(tmp_path, [rec(fname(f), token_of(f"xss{f}"), "any",
                       **XSS_FIELDS[f](token_of(f"xss{f}"), " ".join(XSS))) for f in fieldnames])


@pytest.mark.parametrize("indices", groups(list(range(len(XSS))), 7, "xss"))
def test_each_markup_payload_in_all_text_fields(tmp_path: Path, indices: list[int]) -> None:
    hostile = []
    for i in indices:
        token = token_of(f"xssp{i}")
        raw: dict[str, Any] = {}
        for name in ("title", "excerpt", "provider.name", "topics", "related"):
            raw.update(XSS_FIELDS[name](token, XSS[i]))
        hostile.append(rec(f"h_xss_{i}.txt", token, "any", **raw))
    run(tmp_path, hostile)


# == dangerous URL schemes in every URL field =============================================================

URLS: list[tuple[str, bool]] = [  # (YAML scalar, is it a publishable http(s) URL once cleaned?)
    ("javascript:alert(1)", False),
    ("JaVaScRiPt:alert(1)", False),
    ('"java\\nscript:alert(1)"', False),
    ('"java\\tscript:alert(1)"', False),
    ('"java\\x00script:alert(1)"', False),
    ('"&#106;avascript:alert(1)"', False),
    ('"&#x6A;avascript:alert(1)"', False),
    ('"&#0000106avascript:alert(1)"', False),
    ('"javascript&colon;alert(1)"', False),
    ('"&amp;#106;avascript:alert(1)"', False),
    ('"%6Aavascript:alert(1)"', False),
    ('"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="', False),
    ('"data:image/svg+xml,<svg onload=alert(1)>"', False),
    ("vbscript:msgbox(1)", False),
    ("file:///etc/passwd", False),
    ('"//evil.example/x"', False),
    ('"///evil.example/x"', False),
    ("/relative/path", False),
    ("relative/path", False),
    ('" javascript:alert(1)"', False),
    ('"\\x01javascript:alert(1)"', False),
    ('"\\u00a0javascript:alert(1)"', False),
    ('"\\u2028javascript:alert(1)"', False),
    ('"http:\\\\\\\\evil.example\\\\x"', False),
    ("ftp://evil.example/x", False),
    ("mailto:x@evil.example", False),
    ("jar:http://evil.example!/x", False),
    ('"http://"', False),
    ('"https:///path"', False),
    ('"https://[::1]:99999/"', False),
    ('"https://evil.example/\\"><script>alert(1)</script>"', True),
    ('"https://evil.example/ with spaces\\tand tabs"', True),
    ('"  https://evil.example/leading-space"', True),
    ('"https://user:pass@evil.example/"', True),
    ('"https://ex\\u0430mple.com/homoglyph"', True),
    ('"https://evil.example/\\u202eexe.gpj"', True),
    ("HTTPS://EVIL.EXAMPLE/Upper", True),
    ('"https://' + "b" * 64 + '.example/label-longer-than-63"', False),
]

URL_FIELDS = ("originalUrl", "ampWebUrl", "cdnAmpWebUrl", "images", "provider.images", "related.webUrl",
              "related.originalUrl", "provider.domain", "featuredContent")


def _urls_everywhere(token: str, url: str) -> dict[str, str]:
    return {
        "originalUrl": url, "ampWebUrl": url, "cdnAmpWebUrl": url,
        "images": f"\n  - url: {url}\n    width: 1\n    height: 1\n  - {url}",
        "provider": f"\n  name: P\n  domain: {url}\n  images:\n    - url: {url}",
        "related": f"\n  - title: Related {token}\n    webUrl: {url}\n    originalUrl: {url}",
        "type": "video",
        "featuredContent": yraw(f'<iframe src="{yaml.safe_load(url) if url else url}"></iframe>'),
    }


@pytest.mark.parametrize("indices", groups(list(range(len(URLS))), 8, "url"))
def test_dangerous_url_schemes_in_the_link(tmp_path: Path, indices: list[int]) -> None:
    hostile = []
    for i in indices:
        url, good = URLS[i]
        token = token_of(f"link{i}")
        hostile.append(rec(f"h_url_{i}.txt", token, "any" if good else "skipped", None if good else "webUrl",
                           webUrl=url, drop=("originalUrl",), title=f'"Link {token}"'))
    run(tmp_path, hostile)


@pytest.mark.parametrize("indices", groups(list(range(len(URLS))), 8, "url"))
def test_dangerous_url_schemes_in_every_other_url_field(tmp_path: Path, indices: list[int]) -> None:
    hostile = [rec(f"h_url_{i}.txt", token_of(f"sec{i}"), "published", **_urls_everywhere(token_of(f"sec{i}"),
                                                                                         URLS[i][0]))
               for i in indices]
    outcome = run(tmp_path, hostile)
    for i in indices:
        if not URLS[i][1]:
            fields = ("originalUrl", "images", "provider", "related", "featuredContent")
            assert any(p.file == f"h_url_{i}.txt" and p.field.startswith(fields) for p in outcome.problems), (
                f"h_url_{i}.txt: no warning names a dropped URL field")


def test_a_link_host_longer_than_253_characters_skips_the_record_without_stopping_the_build(
        tmp_path: Path) -> None:
    """Each label is fine (1 character), the host is not (405 characters): a bad link, not a crash."""
    token = token_of("longhost")
    host = "a." * 200 + "com"
    hostile = [rec("h_long_host.txt", token, "skipped", "webUrl", webUrl=f'"https://{host}/{token.lower()}"',
                   drop=("originalUrl",)),
               rec("h_long_host_original.txt", token_of("longhostorig"), "skipped", None, drop=("webUrl",),
                   originalUrl=f'"https://{host}/x"')]
    run(tmp_path, hostile)


LONGEST_HOST = "c" * 63 + "." + "d" * 63 + "." + "e" * 63 + "." + "f" * 61  # 253 characters: a valid name


def test_a_provider_domain_of_253_characters_does_not_stop_the_build(tmp_path: Path) -> None:
    """A valid domain name can be 253 characters long; its feed file name then is not a valid file name."""
    assert len(LONGEST_HOST) == 253
    hostile = [rec("h_long_domain.txt", token_of("longdomain"), "any",
                   provider=f"\n  name: Long\n  domain: {LONGEST_HOST}"),
               rec("h_long_link_host.txt", token_of("longlinkhost"), "any", drop=("provider", "originalUrl"),
                   webUrl=f'"https://{LONGEST_HOST}/x"')]
    run(tmp_path, hostile)


def test_a_link_with_a_port_out_of_range_is_not_published(tmp_path: Path) -> None:
    """Port 99999 is no port (urllib refuses it; feeds refuses it when the host is upper case)."""
    hostile = [rec("h_port.txt", token_of("port"), "skipped", "webUrl", drop=("originalUrl",),
                   webUrl='"https://evil.example:99999/port-out-of-range"'),
               rec("h_port_upper.txt", token_of("portupper"), "skipped", "webUrl", drop=("originalUrl",),
                   webUrl='"https://EVIL.example:99999/port-out-of-range"')]
    run(tmp_path, hostile)


SCRIPT_LIKE_TEXT = {
    "title": lambda t: {"title": f'"javascript:alert(1) {t}"'},
    "excerpt": lambda t: {"excerpt": '"Say javascript:alert(document.cookie) to me"'},
    "handler_text": lambda t: {"title": f'"x onerror=alert(1) {t}"'},
    "topic": lambda t: {"topics": '\n  - "javascript:alert(1)"'},
    "provider_name": lambda t: {"provider": '\n  name: "javascript:alert(1)"\n  domain: hostile.example'},
    "related_title": lambda t: {"related": '\n  - title: "javascript:alert(1)"\n'
                                           "    webUrl: https://r.example/x"},
    "entity_encoded": lambda t: {"title": f'"&lt;script&gt;alert(1)&lt;/script&gt; {t}"'},
}


@pytest.mark.parametrize("kind", sorted(SCRIPT_LIKE_TEXT))
def test_script_like_text_is_not_copied_raw_into_pages(tmp_path: Path, kind: str) -> None:
    """hostile_check fails any page whose raw text matches javascript:alert, onerror=alert or
    <script>alert, even as inert text: record text must not reach a page looking like that."""
    token = token_of(f"scripttext{kind}")
    run(tmp_path, [rec("h_script_text.txt", token, "any", **SCRIPT_LIKE_TEXT[kind](token))])


# == topics and provider domains as paths ===============================================================

ESCAPE_NAME = f"feeds_hostile_escape_{uuid.uuid4().hex}"
TOPICS = [
    "../../etc", "../" * 16 + "tmp/" + ESCAPE_NAME, "/tmp/" + ESCAPE_NAME, "..", ".", "a/../../b",
    "..\\..\\win", "%2e%2e%2f%2e%2e%2fetc", "..%2F..%2Fetc", "topics/../../../x", "foo/bar", "foo\\bar",
    "\\x00evil", "evil\\x00.atom", "con", "nul", "aux", "com1", "lpt1", "CON", "con.txt", "nul.atom",
    "com¹", "lpt9 ", "prn.", "AUX.", " con ", "x" * 10_000, "word " * 200, "!!!", "—", "😀", "   ",
    "...", "\\u200b", "\\u202e", "_", "-", ".hidden", "~", "~root", "index", "feed", "embed", ".feeds-tmp-x",
    "C:\\Windows\\System32", "file:///etc/passwd", "%00", "．．／．．／etc", "‥/‥/etc", "a" * 80,
    "a" * 81, "中文主题", "Ελληνικά", "ǅǈǋ", "İstanbul", "ß", "ﬁle",
]


@pytest.mark.parametrize("indices", groups(list(range(len(TOPICS))), 12, "topic"))
def test_topics_never_leave_the_output_folder(tmp_path: Path, indices: list[int]) -> None:
    hostile = []
    for i in indices:
        topic = TOPICS[i]
        quoted = '"' + topic.replace('"', '\\"') + '"' if "\\x" in topic or "\\u" in topic else yraw(topic)
        hostile.append(rec(f"h_topic_{i}.txt", token_of(f"topic{i}"), "published",
                           topics=f"\n  - {quoted}\n  - AI"))
    run(tmp_path, hostile, absent_paths=(Path("/tmp") / ESCAPE_NAME,))


DOMAINS = ["con", "nul.example", "aux.com", "com1.example", "lpt1", "CON.", "prn.example.", "com¹.example",
           "../../etc", "/tmp/" + ESCAPE_NAME, "evil.example/../../x", "EXAMPLE.COM.", "a" * 300,
           "xn--", "example.com:8080", "[::1]", "javascript:alert(1)",
           "https://javascript:alert(1)@x.example", "..", ".", "-", "exa mple.com", "münchen.example",
           "\\u202eevil.example", "a..b", "_dmarc.example"]


@pytest.mark.parametrize("indices", groups(list(range(len(DOMAINS))), 9, "domain"))
def test_provider_domains_never_leave_the_output_folder(tmp_path: Path, indices: list[int]) -> None:
    hostile = []
    for i in indices:
        domain = DOMAINS[i]
        quoted = '"' + domain + '"' if "\\u" in domain else yraw(domain)
        hostile.append(rec(f"h_domain_{i}.txt", token_of(f"domain{i}"), "published",
                           provider=f"\n  name: Reserved\n  domain: {quoted}"))
    run(tmp_path, hostile, absent_paths=(Path("/tmp") / ESCAPE_NAME,))


def test_reserved_link_hosts_without_a_provider(tmp_path: Path) -> None:
    hosts = ["con", "nul", "aux.example", "com1", "lpt9.example", "CON.example"]
    run(tmp_path, [rec(f"h_host_{i}.txt", token_of(f"host{i}"), "published", drop=("provider", "originalUrl"),
                       webUrl=f"https://{host}/{token_of(f'host{i}').lower()}")
                   for i, host in enumerate(hosts)])


# == slug collisions and duplicates ======================================================================


def test_colliding_topic_slugs_merge_into_one_feed(tmp_path: Path) -> None:
    names = ["Zeta Topic", "zeta topic", "ZETA-TOPIC", "zeta_topic", "Zeta.Topic", "  zeta   topic ",
             "Zeta\u00a0Topic", "ZETA—TOPIC"]
    hostile = [rec(f"h_collide_{i}.txt", f"ZQX-collide{i}-Q", "published", topics=f"\n  - {yraw(name)}")
               for i, name in enumerate(names)]
    hostile += [rec("h_collide_ai1.txt", "ZQX-collideai1-Q", "published", topics="\n  - ai"),
                rec("h_collide_ai2.txt", "ZQX-collideai2-Q", "published", topics="\n  - A.I.")]
    outcome = run(tmp_path, hostile)
    # A topic's feed (topics/<slug>.atom) and its stories feed (topics/<slug>/stories.atom) hold every record.
    for feed in (re.compile(r"topics/[^/]+\.atom"), re.compile(r"topics/[^/]+/stories\.atom")):
        zeta = [rel for rel, text in outcome.decoded.items()
                if feed.fullmatch(rel) and "zqx-collide0-q" in text.lower()]
        assert len(zeta) == 1, zeta
        for i in range(len(names)):
            assert f"zqx-collide{i}-q" in outcome.decoded[zeta[0]].lower(), (
                f"record {i} missing from {zeta[0]}")
    ai = outcome.decoded["topics/ai.atom"].lower()
    assert "zqx-collideai1-q" in ai, "ai not merged with the seeds' AI"
    assert any("zqx-collideai2-q" in text.lower() for rel, text in outcome.decoded.items()
               if rel.startswith("topics/") and rel.endswith(".atom")), "A.I. is in no topic feed"


def test_colliding_provider_domains_merge_into_one_feed(tmp_path: Path) -> None:
    domains = ["Collide.Example", "collide.example.", "COLLIDE.EXAMPLE", "https://collide.example/path",
               "collide.example:443"]
    hostile = [rec(f"h_pcollide_{i}.txt", f"ZQX-pcollide{i}-Q", "published",
                   provider=f"\n  name: Collide {i}\n  domain: {yraw(d)}") for i, d in enumerate(domains)]
    outcome = run(tmp_path, hostile)
    feed = outcome.decoded["providers/collide.example.atom"].lower()
    assert all(f"zqx-pcollide{i}-q" in feed for i in range(len(domains)))


def test_one_record_with_colliding_topics_lists_each_once(tmp_path: Path) -> None:
    token = token_of("selfcollide")
    outcome = run(tmp_path, [rec("h_self.txt", token, "published",
                                 topics="\n  - AI\n  - ai\n  - A.I.\n  - ' ai '\n  - Zeta\n  - zeta")])
    tags = [t.lower().strip() for t in item_with(outcome, token)["tags"]]
    assert tags.count("ai") == 1 and tags.count("zeta") == 1 and len(tags) == len(set(tags)), tags


def test_duplicate_records_are_published_once(tmp_path: Path) -> None:
    seed = GOOD_SEEDS["000_5493749f3400b6dd.txt"]
    hostile = [
        rec("h_dup_a.txt", "ZQX-dupa-Q", "published", webUrl='"https://hostile.example/dup"'),
        rec("h_dup_b.txt", "ZQX-dupb-Q", "any", webUrl='"https://hostile.example/dup"'),
        rec("h_dup_of_000.txt", "ZQX-dup000-Q", "any", webUrl=yraw(seed["webUrl"])),
        rec("0000_sorts_first.txt", "ZQX-dupfirst-Q", "any", webUrl=yraw(seed["webUrl"])),
        rec("h_dup_upper.txt", "ZQX-dupupper-Q", "any",
            webUrl=yraw(seed["webUrl"].replace("https://www.reuters.com", "HTTPS://WWW.REUTERS.COM"))),
        rec("h_dup_entity.txt", "ZQX-dupentity-Q", "any", webUrl='"https://hostile.example/d&#117;p"'),
        rec("h_dup_orig.txt", "ZQX-duporig-Q", "any", drop=("webUrl",),
            originalUrl='"https://hostile.example/dup"'),
    ]
    outcome = run(tmp_path, hostile)
    ids = [i["id"] for i in json_items(outcome)]
    assert len(ids) == len(set(ids))
    links = [i["url"] for i in json_items(outcome)]
    assert links.count("https://hostile.example/dup") == 1
    assert sum(1 for p in outcome.problems if p.field == "webUrl" and "same link" in p.message) >= 4


# == `secured` in every variant ==========================================================================

SECURED: dict[str, Callable[[str, str], dict[str, Any]]] = {
    "double_quoted": lambda t, s: {"secured": f'"{s}"'},
    "single_quoted": lambda t, s: {"secured": f"'{s}'"},
    "plain": lambda t, s: {"secured": s},
    "block_literal": lambda t, s: {"secured": f"|\n  {s[:30]}\n  {s[30:]}"},
    "block_folded": lambda t, s: {"secured": f">-\n  {s[:30]}\n  {s[30:]}"},
    "block_indent_indicator": lambda t, s: {"secured": f"|2-\n   {s}"},
    "multiline_plain": lambda t, s: {"secured": f"{s[:30]}\n  {s[30:]}"},
    "mapping": lambda t, s: {"secured": f"\n  blob: \"{s}\"\n  alg: aes"},
    "list": lambda t, s: {"secured": f"\n  - \"{s}\"\n  - other"},
    "nested_mappings": lambda t, s: {"secured": f"\n  a:\n    b:\n      - c: \"{s}\""},
    "under_provider": lambda t, s: {"provider": "\n  name: P\n  domain: hostile.example\n"
                                                f"  secured: \"{s}\""},
    "under_provider_image": lambda t, s: {
        "provider": "\n  name: P\n  domain: hostile.example\n  images:\n"
                    f"    - url: https://img.example/l.png\n      secured: \"{s}\""},
    "under_related": lambda t, s: {"related": f"\n  - title: Related {t}\n    webUrl: https://r.example/x\n"
                                              f"    secured: \"{s}\""},
    "under_related_provider": lambda t, s: {
        "related": f"\n  - title: Related {t}\n    webUrl: https://r.example/x\n"
                   f"    provider:\n      name: RP\n      secured: \"{s}\""},
    "under_images": lambda t, s: {"images": f"\n  - url: https://img.example/a.jpg\n    secured: \"{s}\""},
    "under_topic_item": lambda t, s: {"topics": f"\n  - AI\n  - name: Secret\n    secured: \"{s}\""},
    "under_unknown_field": lambda t, s: {"meta": f"\n  secured: \"{s}\""},
    "under_title": lambda t, s: {"title": f"{{secured: \"{s}\"}}"},
    "under_excerpt": lambda t, s: {"excerpt": f"{{secured: \"{s}\"}}"},
    "under_type": lambda t, s: {"type": f"{{secured: \"{s}\"}}"},
    "under_quality": lambda t, s: {"quality": f"{{secured: \"{s}\"}}"},
    "under_web_url": lambda t, s: {"webUrl": f"{{secured: \"{s}\"}}"},
    "under_date": lambda t, s: {"publishedDateTime": f"{{secured: \"{s}\"}}"},
    "quoted_key": lambda t, s: {"secured": "x", "\"secured\"": f'"{s}"'},
    "escaped_value": lambda t, s: {"secured": '"' + "".join(f"\\x{ord(c):02x}" for c in s) + '"'},
    "entity_value": lambda t, s: {"secured": f'"&#83;{s}"'},
    "huge": lambda t, s: {"secured": f'"{s * 2000}"'},
    "with_bad_date": lambda t, s: {"secured": f'"{s}"', "publishedDateTime": "2020-02-30T00:00:00Z"},
    "with_yaml_error_after": lambda t, s: {"secured": f'"{s}" trailing junk'},
    "with_yaml_error_inside": lambda t, s: {"secured": f'"{s[:30]}\\q{s[30:]}"'},
    "unclosed": lambda t, s: {"secured": f'"{s}'},
    "in_unpublished_record": lambda t, s: {"secured": f'"{s}"', "published": "false"},
    "in_drafts_like_record": lambda t, s: {"secured": f'"{s}"', "published": '"draft"'},
    "capitalised_keys": lambda t, s: {"Secured": f'"{s}"', "SECURED": f'"{s[::-1]}"'},
    "after_the_front_matter": lambda t, s: {},
}


@pytest.mark.parametrize("kinds", groups(sorted(SECURED), 8))
def test_secured_in_every_variant_never_shows(tmp_path: Path, kinds: list[str]) -> None:
    hostile = []
    for kind in kinds:
        token = token_of(f"sec{kind}")
        secret = secret_of(token + "-variant")
        text = record(token, **SECURED[kind](token, secret))
        if kind == "after_the_front_matter":
            text += f"secured: {secret}\nThe body: {secret}\n"
        secrets = (secret_of(token), secret, secret[::-1])
        expect = "absent" if kind in ("in_unpublished_record", "in_drafts_like_record") else "any"
        hostile.append(H(fname(kind), text, token, expect, None, secrets))
    run(tmp_path, hostile)


@pytest.mark.parametrize("value", ['{{secured: "{s}"}}', '[{{secured: "{s}"}}]', '{{x: {{secured: "{s}"}}}}'])
def test_secured_nested_under_published_never_shows_in_a_warning(tmp_path: Path, value: str) -> None:
    """`published` that is not a boolean is warned about; the warning must not quote what it holds."""
    token = token_of("secpublished")
    secret = secret_of(token + "-variant")
    text = record(token, published=value.format(s=secret))
    run(tmp_path, [H("h_secured_published.txt", text, token, "absent", "published",
                     (secret_of(token), secret))])


# == an unpublished record as the only user of a topic or provider =========================================


def test_an_unpublished_records_topic_and_provider_never_show(tmp_path: Path) -> None:
    hostile = []
    for i, flag in enumerate(["false", '"true"', "yes", "null", "1", "[true]"]):
        token = token_of(f"unpub{i}")
        text = record(token, published=flag, title=f'"Zyxwv classified programme {token}"',
                      topics="\n  - Zyxwv Classified Program\n  - AI",
                      provider="\n  name: Zyxwv Agency\n  domain: zyxwv-classified.example\n  images:\n"
                               "    - url: https://zyxwv-logos.example/l.png",
                      images="\n  - url: https://zyxwv-images.example/a.jpg",
                      related="\n  - title: Zyxwv related coverage\n    webUrl: https://zyxwv-related.example/x\n"
                              "    provider:\n      name: Zyxwv Related Press")
        hostile.append(H(f"h_unpub_unique_{i}.txt", text, token, "absent", None, (secret_of(token),)))
    outcome = run(tmp_path, hostile)
    assert not outcome.shows("zyxwv", ci=True), outcome.where("zyxwv", ci=True)[:5]


# == files that are not regular files ========================================================================


def _fifo(name: str) -> Maker:
    return lambda records: os.mkfifo(records / name)


def _folder(name: str, token: str) -> Maker:
    def make(records: Path) -> None:
        (records / name).mkdir()
        (records / name / "inner.md").write_text(record(token))
    return make


def _outside_link(name: str, token: str) -> Maker:
    def make(records: Path) -> None:
        outside = records.parent / "outside"
        outside.mkdir(exist_ok=True)
        (outside / f"{name}.target").write_text(record(token))
        (records / name).symlink_to(outside / f"{name}.target")
    return make


def _relative_outside_link(name: str, token: str) -> Maker:
    def make(records: Path) -> None:
        outside = records.parent / "outside"
        outside.mkdir(exist_ok=True)
        (outside / "rel.md").write_text(record(token))
        (records / name).symlink_to(Path("..") / "outside" / "rel.md")
    return make


def _link(name: str, target: str) -> Maker:
    return lambda records: (records / name).symlink_to(target)


def _loop(name: str) -> Maker:
    def make(records: Path) -> None:
        (records / name).symlink_to(f"{name}.other.md")
        (records / f"{name}.other.md").symlink_to(name)
    return make


def _link_to_inside_fifo(name: str) -> Maker:
    def make(records: Path) -> None:
        os.mkfifo(records / "inner_fifo.pipe")
        (records / name).symlink_to("inner_fifo.pipe")
    return make


def _socket(name: str) -> Maker:
    def make(records: Path) -> None:
        cwd = os.getcwd()
        os.chdir(records)  # AF_UNIX paths are short; bind relative to the store
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(name)
            sock.close()
        finally:
            os.chdir(cwd)
    return make


def _outside_dir_link(name: str) -> Maker:
    def make(records: Path) -> None:
        outside = records.parent / "outside_dir"
        outside.mkdir()
        (records / name).symlink_to(outside, target_is_directory=True)
    return make


NON_REGULAR: dict[str, Callable[[str], H]] = {
    "fifo": lambda t: H("h_fifo.txt", _fifo("h_fifo.txt"), None, "skipped", "file", error=False),
    "fifo_md": lambda t: H("h_fifo.md", _fifo("h_fifo.md"), None, "skipped", "file", error=False),
    "directory": lambda t: H("x.md", _folder("x.md", t), t, "skipped", "file", (secret_of(t),), error=False),
    "link_outside": lambda t: H("h_out.md", _outside_link("h_out.md", t), t, "skipped", "file",
                                (secret_of(t),), error=False),
    "relative_link_outside": lambda t: H("h_rel.md", _relative_outside_link("h_rel.md", t), t, "skipped",
                                         "file", (secret_of(t),), error=False),
    "link_to_etc_passwd": lambda t: H("h_passwd.md", _link("h_passwd.md", "/etc/passwd"), None, "skipped",
                                      "file", error=False),
    "link_to_dev_zero": lambda t: H("h_zero.md", _link("h_zero.md", "/dev/zero"), None, "skipped", "file",
                                    error=False),
    "link_to_dev_urandom": lambda t: H("h_rand.txt", _link("h_rand.txt", "/dev/urandom"), None, "skipped",
                                       "file", error=False),
    "link_to_proc": lambda t: H("h_proc.md", _link("h_proc.md", "/proc/self/environ"), None, "skipped",
                                "file", error=False),
    "symlink_loop": lambda t: H("h_loop.md", _loop("h_loop.md"), None, "skipped", "file", error=False),
    "self_loop": lambda t: H("h_self.md", _link("h_self.md", "h_self.md"), None, "skipped", "file",
                             error=False),
    "dangling": lambda t: H("h_dangle.md", _link("h_dangle.md", "missing.md"), None, "skipped", "file",
                            error=False),
    "link_to_inside_fifo": lambda t: H("h_lfifo.md", _link_to_inside_fifo("h_lfifo.md"), None, "skipped",
                                       "file", error=False),
    "link_to_outside_dir": lambda t: H("h_odir.md", _outside_dir_link("h_odir.md"), None, "skipped", "file",
                                       error=False),
    "link_to_store_itself": lambda t: H("h_store.md", _link("h_store.md", "."), None, "skipped", "file",
                                        error=False),
    "unix_socket": lambda t: H("h_sock.md", _socket("h_sock.md"), None, "skipped", "file", error=False),
}


@pytest.mark.parametrize("kinds", groups(sorted(NON_REGULAR), 8))
def test_files_that_are_not_regular_files_are_skipped_unopened(tmp_path: Path, kinds: list[str]) -> None:
    run(tmp_path, [NON_REGULAR[kind](token_of(kind)) for kind in kinds])


def test_a_link_inside_the_store_is_read_once(tmp_path: Path) -> None:
    token = token_of("insidelink")
    hostile = [rec("h_target.md", token, "published"),
               H("h_alias.md", _link("h_alias.md", "h_target.md"), token, "any")]
    outcome = run(tmp_path, hostile)
    assert len([i for i in json_items(outcome) if token.lower() in json.dumps(i).lower()]) == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_file_is_skipped_naming_it(tmp_path: Path) -> None:
    token = token_of("unreadable")

    def make(records: Path) -> None:
        (records / "h_noread.md").write_text(record(token))
        (records / "h_noread.md").chmod(0)

    run(tmp_path, [H("h_noread.md", make, token, "skipped", "file", (secret_of(token),))])


# == limits: size, length, count, depth ==================================================================


def test_a_file_over_max_record_bytes_is_skipped_unread(tmp_path: Path) -> None:
    over, exact = token_of("over"), token_of("exact")
    limit = 4096

    def padded(token: str, size: int) -> str:
        text = record(token)
        return text + "x" * (size - len(text.encode()))

    hostile = [H("h_over.txt", padded(over, limit + 1), over, "skipped", "file", (secret_of(over),)),
               H("h_exact.txt", padded(exact, limit), exact, "published", None, (secret_of(exact),))]
    run(tmp_path, hostile, max_record_bytes=limit)


def test_a_huge_sparse_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    token = token_of("sparse")

    def make(records: Path) -> None:
        with open(records / "h_huge.txt", "wb") as handle:
            handle.write(record(token).encode())
            handle.truncate(3 * 1024**3)

    outcome = run(tmp_path, [H("h_huge.txt", make, token, "skipped", "file", (secret_of(token),))])
    assert outcome.seconds < 10


@pytest.mark.parametrize("limits", [{}, {"max_title_chars": 20, "max_excerpt_chars": 30}])
def test_long_titles_and_excerpts_are_cut_to_the_limits(tmp_path: Path, limits: dict[str, Any]) -> None:
    hostile = []
    shapes = {"words": "word ", "one_word": "w", "entities": "&amp;&#233;", "markup": "<b>bold</b> "}
    for shape, unit in shapes.items():
        token = token_of(f"long{shape}")
        title = f"{token} " + unit * 5_000
        excerpt = f"{token} " + unit * 20_000
        text = record(token, title=yraw(title), excerpt=yraw(excerpt),
                      related=f"\n  - title: {yraw(title)}\n    webUrl: https://r.example/{shape}",
                      provider=f"\n  name: {yraw('P' * 50_000)}\n  domain: hostile.example")
        hostile.append(H(fname(shape), text, token, "published", None, (secret_of(token),)))
    outcome = run(tmp_path, hostile, **limits)
    settings = Settings.make(**limits)
    for item in hostile:
        assert item.token is not None
        seen = item_with(outcome, item.token)
        assert len(seen["title"]) <= settings.max_title_chars, (item.name, len(seen["title"]))
        assert len(seen["summary"]) <= settings.max_excerpt_chars, (item.name, len(seen["summary"]))
        assert len(seen["authors"][0]["name"]) <= 1000
    atom = etree.fromstring(outcome.files["feed.atom"])
    for link in atom.iter(ATOM + "link"):
        if link.get("rel") == "related":
            assert len(link.get("title") or "") <= settings.max_title_chars
    assert sum(len(d) for d in outcome.files.values()) < 5_000_000


def test_topic_names_over_the_limit_are_dropped(tmp_path: Path) -> None:
    token = token_of("longtopic")
    kept, dropped = "k" * 79 + "K", "d" * 80 + "D"
    outcome = run(tmp_path, [rec("h_topics.txt", token, "published",
                                 topics=f"\n  - {kept}\n  - {dropped}\n  - {'word ' * 5000}")])
    tags = item_with(outcome, token)["tags"]
    assert tags == [kept], tags
    assert any(p.field.startswith("topics[1]") for p in outcome.problems)


@pytest.mark.parametrize("limits", [{}, {"max_topics": 3, "max_related": 2}, {"max_related": 0}])
def test_too_many_topics_and_related_items_are_capped(tmp_path: Path, limits: dict[str, Any]) -> None:
    token = token_of(f"many{len(limits)}{limits.get('max_related', 9)}")
    topics = "".join(f"\n  - Many Topic {i}" for i in range(1000))
    related = "".join(f"\n  - title: Related {i}\n    webUrl: https://r{i}.example/" for i in range(500))
    images = "".join(f"\n  - url: https://img.example/{i}.jpg" for i in range(2000))
    outcome = run(tmp_path, [rec("h_many.txt", token, "published", topics=topics, related=related,
                                 images=images)], **limits)
    settings = Settings.make(**limits)
    assert len(item_with(outcome, token)["tags"]) == settings.max_topics
    topic_feeds = {rel.removesuffix(".atom") for rel in outcome.files
                   if re.fullmatch(r"topics/[^/]+\.atom", rel)}
    assert len(topic_feeds) <= settings.max_topics + 2  # the seeds' two topics
    for leaf in ("stories", "top"):  # and no more story feeds: one of each for every topic
        assert {rel.removesuffix(f"/{leaf}.atom") for rel in outcome.files
                if re.fullmatch(rf"topics/[^/]+/{leaf}\.atom", rel)} == topic_feeds, leaf
    for feed in ("feed.atom", "stories.atom"):  # the record's entry, and its story's (a story of one)
        atom = etree.fromstring(outcome.files[feed])
        found = [entry for entry in atom.iter(ATOM + "entry")
                 if token.lower() in etree.tostring(entry).decode().lower()]
        assert len(found) == 1, feed
        related_links = [e for e in found[0].iter(ATOM + "link") if e.get("rel") == "related"]
        assert len(related_links) == settings.max_related, feed
        categories = found[0].findall(ATOM + "category")
        assert len(categories) == settings.max_topics, feed
    assert any(p.field == "topics" and "max_topics" in p.message for p in outcome.problems)


def _nest(kind: str, depth: int) -> str:
    if kind == "list":
        return "[" * depth + "x" + "]" * depth
    if kind == "mapping":
        return "{a: " * depth + "x" + "}" * depth
    lines = []  # block style
    for level in range(depth):
        lines.append("  " * (level + 1) + "k:")
    return "\n" + "\n".join(lines) + " x"


@pytest.mark.parametrize("max_depth", [8, 5])  # the seeds nest 4 deep
def test_nesting_deeper_than_max_yaml_depth_is_refused(tmp_path: Path, max_depth: int) -> None:
    """Root mapping = level 1: max_depth - 1 nested containers below it are accepted, one more is not."""
    hostile = []
    for kind in ("list", "mapping", "block"):
        accepted, refused = token_of(f"ok{kind}"), token_of(f"deep{kind}")
        hostile += [
            H(f"h_ok_{kind}.txt", record(accepted, topics="\n  - AI", drop=("provider",),
                                         extra=f"meta: {_nest(kind, max_depth - 1)}"),
              accepted, "published", None, (secret_of(accepted),)),
            H(f"h_deep_{kind}.txt", record(refused, drop=("provider",), topics="\n  - AI",
                                           extra=f"meta: {_nest(kind, max_depth)}"),
              refused, "skipped", "front matter", (secret_of(refused),)),
        ]
    run(tmp_path, hostile, max_yaml_depth=max_depth)


def test_very_deep_nesting_is_refused_in_process(tmp_path: Path) -> None:
    hostile = []
    for depth in (50, 1000, 10_000):
        tokens = [token_of(f"nest{depth}{k}") for k in ("l", "m", "u", "r")]
        hostile += [
            H(f"h_nest_list_{depth}.txt", record(tokens[0], extra=f"meta: {_nest('list', depth)}"), tokens[0],
              "skipped", "front matter", (secret_of(tokens[0]),)),
            H(f"h_nest_map_{depth}.txt", record(tokens[1], extra=f"meta: {_nest('mapping', depth)}"),
              tokens[1], "skipped", "front matter", (secret_of(tokens[1]),)),
            H(f"h_nest_unclosed_{depth}.txt", record(tokens[2], extra="meta: " + "[" * depth), tokens[2],
              "skipped", "front matter", (secret_of(tokens[2]),)),
            H(f"h_nest_related_{depth}.txt",
              record(tokens[3], related=f"\n  - title: x\n    webUrl: https://r.example/\n"
                                        f"    provider: {_nest('list', depth)}"),
              tokens[3], "skipped", "front matter", (secret_of(tokens[3]),)),
        ]
    run(tmp_path, hostile)


# == the command line, as the hostile runner calls it ===================================================


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))


def cli(tmp_path: Path, *args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    """`python -m feeds ARGS` in a fresh process: 2 GiB address space, stdin closed, a timeout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    work = tmp_path / "cwd"
    work.mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-m", "feeds", *args], cwd=work, env=env, capture_output=True,
                          text=True, errors="replace", timeout=timeout, stdin=subprocess.DEVNULL,
                          preexec_fn=_limit_memory, check=False)


def _crash_free(done: subprocess.CompletedProcess[str]) -> None:
    both = done.stdout + done.stderr
    assert done.returncode >= 0, f"killed by signal {-done.returncode} (a crash): {both[-2000:]}"
    for marker in ("Traceback (most recent call last)", "Segmentation fault", "Fatal Python error",
                   "MemoryError"):
        assert marker not in both, both[-3000:]


def broken_store() -> list[H]:
    """One skipped file of each class, with the field its problem must name."""
    def made(name: str, kind: str, field_name: str, make: Callable[[str], str | bytes]) -> H:
        token = token_of(f"cli{kind}")
        return H(name, make(token), token, "skipped", field_name, (secret_of(token),))

    return [
        made("h_yaml_unclosed.txt", "unclosed", "front matter", MALFORMED["unclosed_double_quote"]),
        made("h_yaml_tabs.txt", "tabs", "front matter", MALFORMED["tab_indentation"]),
        made("h_binary.txt", "binary", "file", lambda t: _binary(3)),
        made("h_invalid_utf8.txt", "utf8", "file", lambda t: _with_title_bytes(t, b"\xff")),
        made("h_bomb.txt", "bomb", "front matter", BOMBS["in_excerpt"]),
        made("h_title_list.txt", "title", "title", lambda t: record(t, title="[a, b]")),
        made("h_date.txt", "date", "publishedDateTime",
             lambda t: record(t, publishedDateTime="2020-02-30T00:00:00Z")),
        made("h_js.txt", "js", "webUrl", lambda t: record(t, webUrl="javascript:alert(1)")),
        made("h_big.txt", "big", "file", lambda t: record(t) + "x" * 1_100_000),
        made("h_deep.txt", "deep", "front matter", lambda t: record(t, extra="meta: " + _nest("list", 20))),
        made("h_empty.txt", "empty", "file", lambda t: b""),
        H("h_fifo.txt", _fifo("h_fifo.txt"), None, "skipped", "file", error=False),
        H("h_dir.txt", _folder("h_dir.txt", token_of("clidir")), token_of("clidir"), "skipped", "file",
          (secret_of(token_of("clidir")),), error=False),
    ]


CLI_PROBLEM = re.compile(r"^(error|warning): (.+?): (.+?): (.*)$")


def cli_problems(stderr: str) -> list[Problem]:
    """The problems the command line printed, as `Problem`s."""
    from feeds.errors import Severity

    found = []
    for line in stderr.splitlines():
        match = CLI_PROBLEM.match(line)
        if match:
            found.append(Problem(match[2], match[3], match[4], Severity(match[1])))
    return found


def test_the_cli_build_skips_every_broken_record_naming_file_and_field(tmp_path: Path) -> None:
    box = Sandbox.make(tmp_path)
    hostile = broken_store()
    for item in hostile:
        item.write(box.records)
    before = snapshot(box.root, skip=box.out)
    done = cli(tmp_path, "build", "--records", str(box.records), "--out", str(box.out))
    _crash_free(done)
    assert done.returncode == 0, done.stderr[-2000:]
    written_outside = sorted(k for k, v in snapshot(box.root, skip=box.out).items() if before.get(k) != v)
    for line in done.stderr.splitlines():
        assert CLI_PROBLEM.match(line), f"not a problem line: {line[:200]}"
        assert len(line) < 400, f"not a one-line message: {line[:200]}..."
    assert re.match(r"read \d+ records: 2 published, 3 unpublished, 0 duplicates, \d+ skipped", done.stdout)
    problems = cli_problems(done.stderr)
    outcome = Outcome(box.out, read_output(box.out), problems, done.stdout + done.stderr, "", written_outside)
    assert invariants(outcome, hostile) == []


def test_the_cli_check_lists_every_broken_record_and_exits_1(tmp_path: Path) -> None:
    box = Sandbox.make(tmp_path)
    hostile = broken_store()
    for item in hostile:
        item.write(box.records)
    before = snapshot(box.root)
    done = cli(tmp_path, "check", "--records", str(box.records))
    _crash_free(done)
    assert done.returncode == 1, done.stdout + done.stderr
    problems = cli_problems(done.stderr)
    for item in hostile:
        assert any(p.file == item.name and p.field == item.field for p in problems), (
            f"{item.name}: {item.field} not named by feeds check")
    assert snapshot(box.root) == before, "feeds check wrote into the sandbox"
    windows = [w for item in hostile for s in item.secrets for w in secret_windows(s)]
    assert not [w for w in windows + SEED_SECRETS if w in done.stdout + done.stderr]


def test_the_cli_survives_an_alias_bomb_in_every_field_within_memory_limits(tmp_path: Path) -> None:
    box = Sandbox.make(tmp_path)
    for kind in sorted(BOMBS):
        (box.records / f"h_bomb_{kind}.txt").write_text(BOMBS[kind](token_of(kind)))
    started = time.perf_counter()
    done = cli(tmp_path, "build", "--records", str(box.records), "--out", str(box.out), timeout=60)
    _crash_free(done)
    assert done.returncode == 0, done.stderr[-2000:]
    assert time.perf_counter() - started < 30
    for kind in sorted(BOMBS):
        assert f"h_bomb_{kind}.txt" in done.stderr


@pytest.mark.parametrize("depth", [30_000, 100_000])
def test_the_cli_survives_very_deep_flow_nesting(tmp_path: Path, depth: int) -> None:
    """A 60-200 KB record of nested brackets: well under max_record_bytes, refused by max_yaml_depth."""
    box = Sandbox.make(tmp_path)
    token = token_of(f"flow{depth}")
    (box.records / "h_deep_flow.txt").write_text(record(token, extra="meta: " + "[" * depth + "]" * depth))
    done = cli(tmp_path, "build", "--records", str(box.records), "--out", str(box.out))
    _crash_free(done)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "h_deep_flow.txt: front matter:" in done.stderr


# == the real runner of ../shared/hostile ==================================================================


def test_the_shared_hostile_runner_passes_every_case() -> None:
    runner = HOSTILE / "run_hostile.sh"
    if not runner.is_file():
        pytest.skip(f"{runner} is absent")
    build = f"{sys.executable} -m feeds build --records {{records}} --out {{out}}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}
    env.update(BUILD=build, CWD_CHECK="0")
    done = subprocess.run(["bash", str(runner)], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=900, stdin=subprocess.DEVNULL, check=False)
    lines = done.stdout.strip().splitlines()
    last = lines[-1] if lines else ""
    match = re.match(r"^(\d+) passed, 0 failed", last)
    assert match and int(match.group(1)) > 0, done.stdout[-4000:] + done.stderr[-2000:]
    logs = re.search(r"logs: (/tmp/hostile_run\.\w+)", last)
    if logs:
        shutil.rmtree(logs.group(1), ignore_errors=True)
