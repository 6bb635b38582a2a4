"""Pages for people, the OPML list and the embeds (issue 5), without a browser.

Judged from the outside: what a page must show is read from the site's own
feed files (JSON Feed items, Atom titles and alternate links) and from the
store's records, never from the templates.  Every HTML page is parsed with
html5lib in strict mode and must be inert: no script, no ``on*`` attribute,
no external resource but the stories' own pictures, CSS allowed by the
page's Content-Security-Policy.  Sites: the seeds, a hostile store written
here (markup and quotes in titles, excerpts, provider and topic names), a
few of ``../shared/hostile`` cases and the real corpus (both skipped when
absent).  The live server is checked through Flask's test client, and once
as a real process that feedparser subscribes to from the site's URL alone.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import feedparser
import html5lib
import pytest
from flask.testing import FlaskClient
from html5lib.html5parser import ParseError
from hypothesis import assume, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from lxml import etree
from werkzeug.test import TestResponse

from feeds.build import BuildReport, build_site
from feeds.layout import archive_of
from feeds.pages import EMBED_LIMIT, render_embed, render_index, render_page
from feeds.records import read_record
from feeds.settings import Settings
from feeds.web import create_app

from .nginx_server import free_port
from .stores import plan_records, read_store, record_fields, record_text
from .test_archive import expected_stories

# Every request is answered by Flask alone, then through the fast path in front of it (conftest).
pytestmark = pytest.mark.usefixtures("answered_by")

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "seeds"
# ../shared sits beside the repository; never assume the working directory.
SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
CORPUS = SHARED / "corpus" / "powerapps"
HOSTILE = SHARED / "hostile" / "cases"
HOSTILE_CASES = ("c29_mojibake_and_unicode", "c31_xss_markup_in_fields", "c32_dangerous_url_schemes",
                 "c38_topic_path_traversal", "c42_topic_slug_collision")
BASE_URL = "https://news.example.org/"
FORMATS = {"atom": ("atom", "application/atom+xml"), "rss": ("rss", "application/rss+xml"),
           "json": ("json", "application/feed+json")}
MEDIA = {".atom": "application/atom+xml", ".rss": "application/rss+xml", ".json": "application/feed+json",
         ".html": "text/html", ".opml": "text/x-opml", ".js": "text/javascript", ".ico": "image/x-icon",
         ".xml": "application/xml", ".xsl": "application/xml", ".txt": "text/plain"}
ATOM = "{http://www.w3.org/2005/Atom}"
START_SECONDS = 30

# Record text a page must show as text: markup the cleaner removes, and
# quotes and angle brackets it keeps (which would open attributes and tags).
EVIL_TITLE = ('<script>alert(1)</script>"><img src=x onerror=alert(1)> Evil title & "quoted" '
              "'single' 1 < 2 > 0 x=\" onmouseover=\"alert(1)")
EVIL_EXCERPT = ('<script>alert(2)</script>"><img src=x onerror=alert(2)> Evil excerpt & "quoted" '
                "1 < 2 > 0 \" onfocus=\"alert(2)")
EVIL_PROVIDER = '<script>alert(3)</script>"><img src=x onerror=alert(3)> Evil" onmouseover="alert(3)" x="'
EVIL_TOPIC = 'R&D "Labs" <b>bold</b> \' onclick=\'alert(4)'
MANY = 12  # records of one provider: more than an embed shows
# The kinds of feed, by their site path: the OPML list groups them so, and the index lists all but a
# topic's stories and top stories (its topic's page offers those).
GROUPS = {"all": re.compile(r"feed"), "stories": re.compile(r"stories|top"),
          "topics": re.compile(r"topics/[^/]+"), "topic stories": re.compile(r"topics/[^/]+/(stories|top)"),
          "providers": re.compile(r"providers/[^/]+")}


def group_of(stem: str) -> str:
    """The kind of the feed at `stem` (see GROUPS)."""
    (found,) = [name for name, pattern in GROUPS.items() if pattern.fullmatch(stem)]
    return found


# -- sites under test -------------------------------------------------------------------------


@dataclass
class Built:
    """A store built statically and served live (Flask test client) with the same settings."""

    name: str
    settings: Settings
    out: Path
    report: BuildReport
    client: FlaskClient = field(repr=False)

    def url(self, path: str = "") -> str:
        return self.settings.url(path)

    @cached_property
    def stems(self) -> list[str]:
        """Every feed the export holds (``feed``, ``topics/ai``, ...), from its Atom files (not those of
        its archive)."""
        return sorted(path[: -len(".atom")] for path in (p.relative_to(self.out).as_posix()
                                                         for p in self.out.rglob("*.atom"))
                      if archive_of(path) is None)

    @cached_property
    def files(self) -> list[str]:
        """Every file of the static export, relative to it."""
        return sorted(p.relative_to(self.out).as_posix() for p in self.out.rglob("*") if p.is_file())

    def static(self, path: str) -> bytes:
        return (self.out / path).read_bytes()

    def live(self, path: str, **query: Any) -> TestResponse:
        response = self.client.get("/" + path, query_string=query)
        return response

    def page_path(self, stem: str) -> str:
        """The site path of a feed's page (the index for the all-items feed)."""
        return "" if stem == "feed" else stem + "/"

    def page_file(self, stem: str) -> str:
        return self.page_path(stem) + "index.html"

    def json_feed(self, stem: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.static(stem + ".json"))
        return data

    def atom(self, stem: str) -> Any:
        return etree.fromstring(self.static(stem + ".atom"), etree.XMLParser(resolve_entities=False))

    def feed_urls(self, stem: str) -> dict[str, str]:
        return {fmt: self.url(stem + "." + ext) for fmt, (ext, _) in FORMATS.items()}

    @cached_property
    def record_images(self) -> set[str]:
        """Every picture a page may show: the stories' thumbnails and the providers' logos (from every
        JSON Feed document: the feeds' and their archives')."""
        found: set[str] = set()
        for path in self.out.rglob("*.json"):
            doc = json.loads(path.read_bytes())
            found.update(i["image"] for i in doc["items"] if i.get("image"))
            found.update(doc[k] for k in ("icon", "favicon") if doc.get(k))
        return found

    @cached_property
    def expected_counts(self) -> dict[str, int]:
        """Published records per record feed, and stories per story feed, counted from the store's records
        (read again, apart from the build)."""
        records = read_store(self.settings).records
        counts = {"feed": len(records)}
        for record in records:
            for slug in {t.slug for t in record.topics}:
                counts[f"topics/{slug}"] = counts.get(f"topics/{slug}", 0) + 1
            key = f"providers/{record.provider.key}"
            counts[key] = counts.get(key, 0) + 1
        stories = expected_stories(records, self.settings.top_heat)
        return {**counts, **{stem: len(ids) for stem, ids in stories.items()}}


_BUILT: dict[str, Built] = {}


def _build(name: str, records: Path, work: Path) -> Built:
    settings = Settings.make(records=str(records), out=str(work / "out"), base_url=BASE_URL,
                             site_title="feeds", cache_dir=str(work / "cache"))
    report = build_site(settings)
    client = create_app(settings, watch=False).test_client()
    return Built(name, settings, work / "out", report, client)


def write_hostile_store(folder: Path) -> Path:
    """The seeds, a record with markup and quotes in every text field, and one provider of MANY."""
    shutil.copytree(SEEDS, folder)
    evil = record_fields(
        title=EVIL_TITLE, excerpt=EVIL_EXCERPT, publishedDateTime="2030-01-01T00:00:00Z",
        webUrl='https://evil.example.com/story?a=1&b="><script>alert(5)</script>',
        provider={"name": EVIL_PROVIDER, "domain": "evil.example.com",
                  "images": [{"url": 'https://evil.example.com/logo.png?"><script>alert(6)</script>'}]},
        topics=[EVIL_TOPIC, "AI"],
        images=[{"url": 'https://evil.example.com/thumb.jpg?x=" onerror="alert(7)', "width": 640,
                 "height": 360}],
    )
    (folder / "evil.md").write_text(record_text(evil), encoding="utf-8")
    for i in range(MANY):
        fields = record_fields(
            title=f"Many story number {i:02d}", publishedDateTime=f"2025-01-{i + 1:02d}T08:00:00Z",
            webUrl=f"https://many.example.com/story/{i:02d}",
            provider={"name": "Many News", "domain": "many.example.com"}, topics=["Many"])
        if i % 2:
            fields["excerpt"] = f"The excerpt of story {i:02d}, long enough not to look like a title."
            fields["images"] = [{"url": f"https://many.example.com/img/{i:02d}.jpg", "width": 200,
                                 "height": 100}]
        (folder / f"many-{i:02d}.md").write_text(record_text(fields), encoding="utf-8")
    return folder


def built(name: str, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """One site by name, built once per session."""
    if name in _BUILT:
        return _BUILT[name]
    work = tmp_path_factory.mktemp(name.replace("/", "-"))
    if name == "seeds":
        records = SEEDS
    elif name == "hostile":
        records = write_hostile_store(work / "records")
    elif name == "empty":  # nothing published: the all-items feed alone, with no entry
        records = work / "records"
        records.mkdir()
        (records / "draft.md").write_text(record_text(record_fields(published=False)), encoding="utf-8")
    elif name == "corpus":
        if not CORPUS.is_dir():
            pytest.skip(f"{CORPUS} is absent")
        records = CORPUS
    else:
        case = HOSTILE / name.removeprefix("case/") / "records"
        if not case.is_dir():
            pytest.skip(f"{case} is absent")
        records = work / "records"
        shutil.copytree(case, records)
    _BUILT[name] = _build(name, records, work)
    return _BUILT[name]


SITES = ["seeds", "hostile", "empty", pytest.param("corpus", marks=pytest.mark.corpus),
         *(pytest.param(f"case/{c}", marks=pytest.mark.corpus) for c in HOSTILE_CASES)]
CORE_SITES = ["seeds", "hostile", "empty", pytest.param("corpus", marks=pytest.mark.corpus)]


@pytest.fixture(params=SITES)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Built:
    return built(request.param, tmp_path_factory)


@pytest.fixture(params=CORE_SITES)
def core_site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Built:
    return built(request.param, tmp_path_factory)


@pytest.fixture
def seeds(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return built("seeds", tmp_path_factory)


@pytest.fixture
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return built("hostile", tmp_path_factory)


# -- reading HTML ---------------------------------------------------------------------------


def parse_html(data: bytes, where: str) -> Any:
    """The document as an ElementTree (no namespaces); any parse error fails the test."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        pytest.fail(f"{where}: not UTF-8: {exc}")
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    try:
        return parser.parse(text)
    except ParseError as exc:
        line = text.splitlines()[parser.errors[-1][0][0] - 1] if parser.errors else ""
        pytest.fail(f"{where}: html5lib strict: {exc} {parser.errors[-1:]}\n  {line[:300]}")


def text_of(element: Any) -> str:
    return " ".join("".join(element.itertext()).split())


def parents(root: Any) -> dict[Any, Any]:
    return {child: parent for parent in root.iter() for child in parent}


def container(element: Any, up: dict[Any, Any], tags: tuple[str, ...] = ("li", "article")) -> Any:
    """The nearest enclosing list item (or article) of `element`."""
    node = element
    while node is not None and node.tag not in tags:
        node = up.get(node)
    assert node is not None, f"<{element.tag}> {text_of(element)!r} is in no {'/'.join(tags)}"
    return node


def links(root: Any) -> list[Any]:
    return [a for a in root.iter("a") if a.get("href")]


def head_alternates(root: Any) -> dict[str, str]:
    """type -> href of the <link rel="alternate"> elements in <head>."""
    head = root.find("head")
    found: dict[str, str] = {}
    for link in head.iter("link"):
        if "alternate" in (link.get("rel") or "").lower().split():
            assert link.get("type") not in found, f"two alternates of type {link.get('type')}"
            found[link.get("type")] = link.get("href")
    return found


def csp_directives(policy: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            directives.setdefault(words[0].lower(), words[1:])
    return directives


def style_hash(css: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(css.encode()).digest()).decode() + "'"


FORBIDDEN_TAGS = {"script", "noscript", "iframe", "frame", "frameset", "object", "embed", "applet", "video",
                  "audio", "source", "track", "base", "form", "svg", "math", "portal", "template"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "poster", "background", "cite", "data", "srcset",
                  "xlink:href", "ping"}


def assert_inert(root: Any, where: str, images: set[str], *, allow_images: bool = True) -> None:
    """No script, handler, foreign resource or unhashed style; only records' pictures load."""
    problems: list[str] = []
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        if el.tag in FORBIDDEN_TAGS:
            problems.append(f"<{el.tag}> element {text_of(el)[:80]!r}")
        for name, value in el.attrib.items():
            if name.lower().startswith("on"):
                problems.append(f"<{el.tag} {name}={value!r}>")
            if name.lower() == "style":
                problems.append(f"<{el.tag} style=...> (blocked by the CSP, and not needed)")
            if name.lower() in URL_ATTRIBUTES and not re.match(r"https?://", value):
                problems.append(f"<{el.tag} {name}={value!r}>: not an absolute http(s) URL")
        if el.tag == "link" and (el.get("rel") or "").lower().split() != ["alternate"]:
            problems.append(f"<link rel={el.get('rel')!r} href={el.get('href')!r}>: a resource")
        if el.tag == "img":
            if not allow_images:
                problems.append(f"<img src={el.get('src')!r}>: no pictures here")
            elif el.get("src") not in images:
                problems.append(f"<img src={el.get('src')!r}>: not a story's picture")
            if el.get("srcset"):
                problems.append("<img srcset>")
        if el.tag == "meta" and (el.get("http-equiv") or "").lower() == "refresh":
            problems.append("<meta http-equiv=refresh>")
        if el.tag == "style":
            css = el.text or ""
            for bad in ("@import", "url(", "@font-face", "expression("):
                if bad in css.lower():
                    problems.append(f"<style> loads something: {bad}")
    assert not problems, f"{where}:\n  " + "\n  ".join(problems)


def assert_page_basics(root: Any, where: str) -> None:
    """A title, a language, a viewport, a charset, and a CSP that allows the page's own styles."""
    html = root if root.tag == "html" else root.find("html")
    assert html is not None and html.get("lang"), f"{where}: <html lang> missing"
    head = root.find("head")
    assert text_of(head.find("title")), f"{where}: empty <title>"
    metas = list(head.iter("meta"))
    assert any(m.get("charset", "").lower() == "utf-8" for m in metas), f"{where}: no <meta charset=utf-8>"
    viewport = [m.get("content", "") for m in metas if m.get("name") == "viewport"]
    assert viewport and "width=device-width" in viewport[0], f"{where}: no viewport meta: {viewport}"
    policies = [m.get("content", "") for m in metas
                if (m.get("http-equiv") or "").lower() == "content-security-policy"]
    if policies:  # a static host sends no header: the page carries its own policy
        assert_csp_allows_styles(csp_directives(policies[0]), root, where + " <meta> CSP")


def assert_csp_allows_styles(directives: dict[str, list[str]], root: Any, where: str) -> None:
    assert directives.get("default-src") == ["'none'"], f"{where}: default-src is not 'none': {directives}"
    assert "script-src" not in directives or directives["script-src"] == ["'none'"], (
        f"{where}: scripts allowed: {directives['script-src']}")
    styles = [el.text or "" for el in root.iter("style")]
    allowed = directives.get("style-src", directives["default-src"])
    for css in styles:
        assert style_hash(css) in allowed or "'unsafe-inline'" in allowed, (
            f"{where}: the page's <style> ({style_hash(css)}) is blocked by style-src {allowed}")
    for name, sources in directives.items():
        if name in ("img-src", "frame-ancestors"):
            continue
        loose = [s for s in sources if s in ("*", "http:", "https:", "data:", "'unsafe-inline'",
                                             "'unsafe-eval'") or "://" in s]
        assert not loose, f"{where}: {name} allows {loose}"


# -- the index --------------------------------------------------------------------------------


def feed_row(root: Any, site: Built, stem: str) -> Any:
    """The smallest element of the index holding the feed's page link and its three format links."""
    urls = {*site.feed_urls(stem).values(), site.url(site.page_path(stem))}
    candidates = [el for el in root.find("body").iter()
                  if isinstance(el.tag, str) and urls <= {a.get("href") for a in links(el)}]
    assert candidates, f"index: no element holds the page, Atom, RSS and JSON links of {stem}: {sorted(urls)}"
    return min(candidates, key=lambda el: sum(1 for _ in el.iter()))


def test_index_lists_every_feed_with_count_latest_headline_and_formats(site: Built) -> None:
    data = site.live("").data
    assert data == site.static("index.html")
    root = parse_html(data, f"{site.name}: /")
    linked = {a.get("href") for a in links(root)}
    stems_linked = {h[len(BASE_URL):-len(".atom")] for h in linked
                    if h.startswith(BASE_URL) and h.endswith(".atom")}
    listed = [stem for stem in site.stems if group_of(stem) != "topic stories"]
    assert {"feed", "stories", "top"} <= set(listed)
    assert stems_linked == set(listed), "index: the Atom feeds linked are not the feeds that exist"
    assert site.url("feeds.opml") in linked, "index: no link to /feeds.opml"
    assert site.settings.site_title in text_of(root.find("body")), "index: the site's title is not shown"
    for stem in set(site.stems) - set(listed):  # a topic's stories and top stories: on the topic's page
        topic = stem.rpartition("/")[0]
        assert site.url(site.page_path(topic)) in linked, f"index: no link to the page of {topic}"
        page = parse_html(site.static(site.page_file(topic)), f"{site.name}: /{site.page_path(topic)}")
        offered = {a.get("href") for a in links(page)}
        wanted = {*site.feed_urls(stem).values(), site.url(site.page_path(stem))}
        assert wanted <= offered, f"{topic}'s page does not offer {stem}: {sorted(wanted - offered)}"
    for stem in listed:
        row = feed_row(root, site, stem)
        if stem == "feed":  # every story: its links, count and, after them, the latest stories themselves
            row = next(el for el in root.iter("section") if "latest-stories" in (el.get("class") or ""))
            assert feed_row(root, site, stem) in row.iter()
        where = f"{site.name}: index row of {stem}"
        count = site.expected_counts[stem]
        shown = [text_of(el).strip("() ") for el in row.iter() if isinstance(el.tag, str)]
        said = re.search(rf"(?<![\d.,]){count} (stories|story|records?)\b", text_of(row))
        assert str(count) in shown or said, f"{where}: count {count} not shown: {text_of(row)!r}"
        items = site.json_feed(stem)["items"]
        if not items:
            assert count == 0
            continue
        latest = items[0]
        assert any(a.get("href") == latest["url"] and text_of(a) == " ".join(latest["title"].split())
                   for a in links(row)), f"{where}: latest headline {latest['title']!r} not linked"


def test_index_counts_of_the_seeds(seeds: Built) -> None:
    """The numbers the index of the seeds must show (two of five records are published)."""
    assert seeds.expected_counts == {"feed": 2, "topics/ai": 2, "topics/computer-vision": 2,
                                    "providers/businessinsider.com": 1, "providers/reuters.com": 1,
                                    # two stories of one record each, one of them top (heat 93 of 90)
                                    "stories": 2, "top": 1, "topics/ai/stories": 2, "topics/ai/top": 1,
                                    "topics/computer-vision/stories": 2, "topics/computer-vision/top": 1}


def test_index_autodiscovers_the_all_items_feed(core_site: Built) -> None:
    root = parse_html(core_site.static("index.html"), "index")
    assert head_alternates(root) == {
        "application/atom+xml": core_site.url("feed.atom"),
        "application/rss+xml": core_site.url("feed.rss"),
        "application/feed+json": core_site.url("feed.json"),
    }


# -- topic and provider pages ------------------------------------------------------------------


def test_every_feed_alternate_link_is_its_page(site: Built) -> None:
    """Atom link rel=alternate, RSS channel link and JSON home_page_url name the feed's page, which exists."""
    for stem in site.stems:
        page = site.url(site.page_path(stem))
        atom = [link.get("href") for link in site.atom(stem).findall(f"{ATOM}link")
                if link.get("rel", "alternate") == "alternate"]
        rss = etree.fromstring(site.static(stem + ".rss")).findtext("channel/link")
        home = site.json_feed(stem).get("home_page_url")
        assert (atom, rss, home) == ([page], page, page), f"{site.name}: {stem}: alternate links"
        assert (site.out / site.page_file(stem)).is_file(), f"{stem}: {site.page_file(stem)} not exported"
        response = site.live(site.page_path(stem))
        assert response.status_code == 200 and response.mimetype == "text/html", (stem, response.status)


def check_feed_page(site: Built, stem: str) -> None:
    where = f"{site.name}: /{site.page_path(stem)}"
    root = parse_html(site.static(site.page_file(stem)), where)
    urls = site.feed_urls(stem)
    assert head_alternates(root) == {media: urls[fmt] for fmt, (_, media) in FORMATS.items()}, (
        f"{where}: autodiscovery")
    body = root.find("body")
    copyable = {el.get("value") for el in body.iter("input") if el.get("readonly") is not None}
    copyable |= {text_of(el) for el in body.iter() if isinstance(el.tag, str) and el.tag != "input"}
    for fmt, url in urls.items():
        assert url in copyable, f"{where}: no copy-able {fmt} URL {url} (readonly input or text)"
    doc = site.json_feed(stem)
    assert doc["title"] in text_of(root.find("head").find("title")) or doc["title"].endswith(
        text_of(root.find("head").find("title"))), f"{where}: <title> does not name the feed"
    up = parents(root)
    shown: list[str] = []
    for item in doc["items"]:
        title = " ".join(item["title"].split())
        anchors = [a for a in links(body) if a.get("href") == item["url"] and text_of(a) == title]
        assert anchors, f"{where}: headline {title!r} not linked to {item['url']}"
        story = container(anchors[0], up)
        text = text_of(story)
        what = f"{where}: story {title!r}"
        provider = item["authors"][0]["name"]
        assert " ".join(provider.split()) in text, f"{what}: provider {provider!r} not shown in {text!r}"
        published = datetime.fromisoformat(item["date_published"])
        times = [datetime.fromisoformat(t.get("datetime")) for t in story.iter("time") if t.get("datetime")]
        assert published in times or item["date_published"][:10] in text, f"{what}: date not shown"
        if item.get("summary"):
            assert " ".join(item["summary"].split()) in text, f"{what}: excerpt not shown"
        pictures = [img.get("src") for img in story.iter("img")]
        if item.get("image"):
            assert item["image"] in pictures, f"{what}: thumbnail {item['image']} not shown: {pictures}"
        shown.append(item["url"])
    order = [a.get("href") for a in links(body) if a.get("href") in set(shown)]
    assert list(dict.fromkeys(order)) == shown, f"{where}: headlines not newest first"


def test_topic_and_provider_pages_show_latest_headlines(site: Built) -> None:
    for stem in [s for s in site.stems if s != "feed"]:
        check_feed_page(site, stem)


def test_pages_show_record_text_as_text(hostile: Built) -> None:
    """Markup and quotes from records come out as the very text the feeds carry."""
    evil = next(i for i in hostile.json_feed("feed")["items"] if "Evil title" in i["title"])
    assert '"quoted"' in evil["title"] and "1 < 2 > 0" in evil["title"], evil["title"]
    provider_stem = "providers/evil.example.com"
    provider = hostile.json_feed(provider_stem)["items"][0]["authors"][0]["name"]
    assert 'onmouseover="alert(3)"' in provider, provider
    for path in ["index.html", hostile.page_file(provider_stem), hostile.page_file("topics/ai"),
                 "embed/feed.html", f"embed/{provider_stem}.html"]:
        data = hostile.static(path)
        assert b"<script" not in data.lower(), f"{path}: a <script> tag"
        root = parse_html(data, path)
        texts = {text_of(a) for a in links(root)}
        assert evil["title"] in texts, f"{path}: the title is not shown as text"
        assert_inert(root, path, hostile.record_images, allow_images="embed/" not in path)
    page = parse_html(hostile.static(hostile.page_file(provider_stem)), provider_stem)
    assert provider in text_of(page.find("body").find(".//h1")), "provider page: name not shown as text"
    assert evil["summary"] in text_of(page.find("body")), "provider page: excerpt not shown as text"
    topic = next(s for s in hostile.stems if s.startswith("topics/r-d"))
    name = hostile.json_feed(topic)["title"]
    assert "<b>" not in name and '"Labs"' in name, name
    check_feed_page(hostile, topic)


def test_every_page_is_valid_inert_and_self_contained(site: Built) -> None:
    pages = [f for f in site.files if f.endswith(".html")]
    archive_pages = {f for f in pages if archive_of(f) is not None}
    assert bool(archive_pages) == (site.name == "corpus")  # the corpus is the store with more than `limit`
    expected = {"index.html", *(site.page_file(s) for s in site.stems if s != "feed"),
                *(f"embed/{s}.html" for s in site.stems), *archive_pages}
    assert set(pages) == expected, "the HTML files of the export"
    for path in pages:
        root = parse_html(site.static(path), f"{site.name}: {path}")
        assert_page_basics(root, f"{site.name}: {path}")
        assert_inert(root, f"{site.name}: {path}", site.record_images,
                     allow_images=not path.startswith("embed/"))


@hsettings(max_examples=40)
@given(title=st.text(alphabet=st.sampled_from('<>&"\'=/ ascriptimgonerror()xyz;#\u00e9\u2028'),
                     min_size=1, max_size=60),
       name=st.text(alphabet=st.sampled_from('<>&"\'=/ abscript'), min_size=1, max_size=30))
def test_any_record_text_renders_as_the_same_text(title: str, name: str) -> None:
    """Whatever text survives cleaning is what every page shows, in an inert, valid document."""
    settings = Settings.make(records="unused", out="unused", base_url=BASE_URL, cache_dir="off")
    fields = record_fields(title=title + " T", excerpt=name + " E",
                           provider={"name": name + " P", "domain": "x.example.com"})
    result = read_record("r.md", record_text(fields).encode(), settings)
    # A title that is only markup ("<a T": a tag left open) cleans to nothing and is refused.
    assume(result.record is not None or [p.field for p in result.problems] != ["title"])
    assert result.record is not None, result.problems
    record = result.record
    plan = plan_records((record,), settings)
    provider = next(s for s in plan.feeds if s.stem == "providers/x.example.com")
    for where, data in (("index", render_index(plan, settings)), ("page", render_page(provider, settings)),
                        ("embed", render_embed(provider, settings))):
        root = parse_html(data, where)
        assert_inert(root, where, set())
        assert any(text_of(a) == " ".join(record.title.split()) for a in links(root)), (
            where, record.title, data.decode())
    page = parse_html(render_page(provider, settings), "page")
    assert " ".join(record.provider.name.split()) in text_of(page.find("body")), record.provider.name


# -- OPML ----------------------------------------------------------------------------------------


def read_opml(data: bytes) -> Any:
    return etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))


def test_opml_lists_exactly_the_feeds_grouped_by_kind(site: Built) -> None:
    response = site.live("feeds.opml")
    assert response.status_code == 200 and response.mimetype == "text/x-opml"
    assert response.data == site.static("feeds.opml")
    opml = read_opml(response.data)
    assert opml.tag == "opml" and opml.get("version") == "2.0"
    head = opml.find("head")
    assert head is not None and head.findtext("title"), "OPML: <head><title>"
    if head.find("dateModified") is not None:  # RFC 822, as OPML 2.0 says
        assert email.utils.parsedate_to_datetime(head.findtext("dateModified"))
    body = opml.find("body")
    outlines = list(body.iter("outline"))
    assert all(o.get("text") for o in outlines), "OPML 2.0: every outline has a text attribute"
    feeds = [o for o in outlines if o.get("xmlUrl")]
    urls = [o.get("xmlUrl") for o in feeds]
    assert sorted(urls) == sorted(site.url(s + ".atom") for s in site.stems), "OPML: not exactly the feeds"
    by_kind: dict[str, set[Any]] = {}
    for outline in feeds:
        stem = outline.get("xmlUrl")[len(BASE_URL):-len(".atom")]
        where = f"{site.name}: OPML outline of {stem}"
        assert outline.get("type") == "rss", f"{where}: type={outline.get('type')!r}"
        atom = site.atom(stem)
        title = atom.findtext(f"{ATOM}title")
        assert outline.get("title") == title and outline.get("text") == title, f"{where}: title"
        alternate = next(link.get("href") for link in atom.findall(f"{ATOM}link")
                         if link.get("rel", "alternate") == "alternate")
        assert outline.get("htmlUrl") == alternate == site.url(site.page_path(stem)), f"{where}: htmlUrl"
        by_kind.setdefault(group_of(stem), set()).add(outline.getparent())
    assert by_kind.pop("all") == {body}, "OPML: the all-items feed belongs at the top"
    assert {"stories"} <= set(by_kind), "OPML: the stories and top stories feeds are not listed"
    outer: list[Any] = []
    for kind, groups in by_kind.items():
        assert len(groups) == 1 and body not in groups, f"OPML: {kind} feeds are not one group"
        group = groups.pop()
        assert group.getparent() is body and not group.get("xmlUrl")
        assert all(group_of(o.get("xmlUrl", "")[len(BASE_URL):-len(".atom")]) == kind for o in group), (
            f"OPML: the {kind} group holds other feeds")
        outer.append(group)
    assert len(outer) == len({id(group) for group in outer}), "OPML: two kinds share a group"


@pytest.mark.tools
def test_opml_imports_into_newsboat(site: Built, tmp_path: Path) -> None:
    newsboat = shutil.which("newsboat")
    if newsboat is None:
        pytest.skip("newsboat is not installed")
    opml = tmp_path / "feeds.opml"
    opml.write_bytes(site.live("feeds.opml").data)
    urls, home = tmp_path / "urls", tmp_path / "home"
    urls.touch()
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_DATA_HOME": str(home / ".local")}
    done = subprocess.run([newsboat, "-u", str(urls), "-c", str(tmp_path / "cache.db"),
                           "-C", str(tmp_path / "config"), "-i", str(opml)],
                          env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    imported = [line.split()[0] for line in urls.read_text().splitlines() if line.strip()]
    assert sorted(imported) == sorted(site.url(s + ".atom") for s in site.stems), (
        f"newsboat imported {imported}")


# -- static and live: the same bytes -----------------------------------------------------------------


def test_static_and_live_files_are_byte_identical(core_site: Built) -> None:
    site = core_site
    assert {"index.html", "feeds.opml", "embed.js"} <= set(site.files)
    for path in site.files:
        paths = [path]
        if path.endswith("index.html"):
            paths.append(path[: -len("index.html")])  # the folder URL people use
        for served in paths:
            response = site.live(served)
            assert response.status_code == 200, (served, response.status)
            assert response.data == site.static(path), f"{site.name}: /{served} differs from {path}"
            suffix = Path(path).suffix
            assert response.mimetype == MEDIA[suffix], (served, response.mimetype)


# -- embeds --------------------------------------------------------------------------------------


def embed_titles(root: Any) -> list[tuple[str, str]]:
    return [(a.get("href"), text_of(a)) for a in links(root.find("body"))
            if not a.get("href").startswith(BASE_URL)]


def test_embed_of_every_feed_is_compact_and_self_contained(site: Built) -> None:
    for stem in site.stems:
        path = f"embed/{stem}.html"
        where = f"{site.name}: /{path}"
        response = site.live(path)
        assert response.status_code == 200 and response.mimetype == "text/html", where
        assert response.data == site.static(path), f"{where}: live and static differ"
        root = parse_html(response.data, where)
        assert_page_basics(root, where)
        assert_inert(root, where, set(), allow_images=False)
        items = site.json_feed(stem)["items"]
        expected = [(i["url"], " ".join(i["title"].split())) for i in items[:EMBED_LIMIT]]
        assert embed_titles(root) == expected, f"{where}: headlines"
        text = text_of(root.find("body"))
        for item in items[:EMBED_LIMIT]:
            summary = " ".join((item.get("summary") or "").split())
            if len(summary) < 40 or any(summary in title for _, title in expected):
                continue
            assert summary not in text, f"{where}: shows excerpts, not only headlines"
        assert len(response.data) < 4096 + 600 * len(expected), f"{where}: {len(response.data)} bytes"
        header = response.headers.get("Content-Security-Policy")
        assert header, f"{where}: no Content-Security-Policy header"
        directives = csp_directives(header)
        assert_csp_allows_styles(directives, root, f"{where} CSP header")
        assert directives.get("img-src", ["'none'"]) == ["'none'"], f"{where}: img-src {directives}"
        ancestors = directives.get("frame-ancestors")
        assert ancestors != ["'none'"] and "X-Frame-Options" not in response.headers, (
            f"{where}: other sites cannot frame the embed")


def test_embed_footer_names_the_site_and_the_feed_as_its_page_does(site: Built) -> None:
    """"More from " and the words the feed's page heads itself with: the line above its heading (the
    site › the kind of feed) and the heading; for every story, the index's heading.  Each name links
    to its page, in a new tab: the pages may not be framed."""
    index = parse_html(site.static("index.html"), "index")
    for stem in site.stems:
        where = f"{site.name}: /embed/{stem}.html"
        footer = list(parse_html(site.static(f"embed/{stem}.html"), where).find("body"))[-1]
        if stem == "feed":
            named, linked = text_of(index.find("body/header/h1")), [site.url()]
        else:
            header = parse_html(site.static(site.page_file(stem)), stem).find("body/header")
            named = f"{text_of(header.find('p'))} › {text_of(header.find('h1'))}"
            linked = [site.url(), site.url(site.page_path(stem))]
        assert text_of(footer) == f"More from {named}", f"{where}: footer"
        assert [a.get("href") for a in links(footer)] == linked, f"{where}: footer links"
        assert {a.get("target") for a in links(footer)} == {"_blank"}, f"{where}: a link opens in the frame"


def test_pages_forbid_framing_and_allow_only_their_styles(core_site: Built) -> None:
    for path in ["", *(core_site.page_path(s) for s in core_site.stems if s != "feed")]:
        response = core_site.live(path)
        directives = csp_directives(response.headers["Content-Security-Policy"])
        root = parse_html(response.data, path)
        assert_csp_allows_styles(directives, root, f"/{path} CSP header")
        assert directives.get("frame-ancestors") == ["'none'"], f"/{path}: {directives}"
        assert response.headers.get("X-Content-Type-Options") == "nosniff"


@pytest.mark.parametrize("limit", [1, 3, EMBED_LIMIT, MANY])
def test_embed_limit_is_respected(hostile: Built, limit: int) -> None:
    stem = "providers/many.example.com"
    items = hostile.json_feed(stem)["items"]
    assert len(items) == MANY
    response = hostile.live(f"embed/{stem}.html", limit=limit)
    assert response.status_code == 200
    root = parse_html(response.data, f"embed?limit={limit}")
    assert embed_titles(root) == [(i["url"], i["title"]) for i in items[:limit]]
    assert hostile.live(f"embed/{stem}.html", limit="zero").status_code == 400


def test_embed_js_is_javascript_building_text_only(core_site: Built) -> None:
    response = core_site.live("embed.js")
    assert response.status_code == 200
    assert response.mimetype in ("text/javascript", "application/javascript")
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.data == core_site.static("embed.js")
    source = re.sub(r"/\*.*?\*/|^\s*//.*$", "", response.data.decode("utf-8"), flags=re.S | re.M)  # code only
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "Function("):
        assert sink not in source, f"embed.js uses {sink}"
    feed = core_site.live("feed.json")
    assert feed.headers.get("Access-Control-Allow-Origin") == "*", "embed.js cannot read the JSON Feed"


# -- a real server and a feed reader that only knows the site's URL ------------------------------------


def http_get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


@contextmanager
def feeds_server(records: Path, work: Path, **settings: str) -> Iterator[str]:
    """`python -m feeds serve` on 127.0.0.1 and a free port, with these `settings` (FEEDS_<NAME>);
    yields its base URL, stops it after."""
    work.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}
    env.update({f"FEEDS_{name.upper()}": value for name, value in settings.items()})
    env.update(FEEDS_CACHE_DIR=str(work / "cache"), PYTHONUNBUFFERED="1",
               PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""))
    log = work / "server.log"
    for _attempt in range(3):
        port = free_port()
        base = f"http://127.0.0.1:{port}/"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "feeds", "serve", "--records", str(records), "--port", str(port),
                 "--base-url", base], cwd=work, env=env, stdout=sink, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + START_SECONDS
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    if http_get(base + "feed.atom")[0] == 200:
                        break
                except OSError:
                    time.sleep(0.05)
            else:
                if "already in use" in log.read_text(errors="replace"):
                    continue
                pytest.fail(f"feeds serve did not answer:\n{log.read_text(errors='replace')}")
            yield base
            return
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
    pytest.fail("feeds serve found no free port in three attempts")


def discover(page_url: str) -> dict[str, str]:
    """What feedparser finds at a web page: type -> href of its alternate links."""
    page = feedparser.parse(page_url)
    assert page.get("status") == 200, page.get("status")
    return {link["type"]: link["href"] for link in page.feed.get("links", [])
            if link.get("rel") == "alternate" and link.get("type") in MEDIA.values()}


def test_feedparser_finds_the_feeds_from_the_site_url(tmp_path: Path) -> None:
    records = write_hostile_store(tmp_path / "records")
    with feeds_server(records, tmp_path / "server") as base:
        found = discover(base)
        assert found == {"application/atom+xml": base + "feed.atom", "application/rss+xml": base + "feed.rss",
                         "application/feed+json": base + "feed.json"}
        atom = feedparser.parse(found["application/atom+xml"])
        assert not atom.bozo, atom.get("bozo_exception")
        rss = feedparser.parse(found["application/rss+xml"])
        assert not rss.bozo, rss.get("bozo_exception")
        assert [e.link for e in atom.entries] == [e.link for e in rss.entries]
        assert len(atom.entries) == 2 + 1 + MANY
        assert atom.feed.link == base  # and back: the feed's page is the site
        topic = discover(base + "providers/many.example.com/")
        parsed = feedparser.parse(topic["application/atom+xml"])
        assert not parsed.bozo and len(parsed.entries) == MANY
        assert parsed.feed.link == base + "providers/many.example.com/"
        status, headers, _ = http_get(base + "embed/feed.html")
        assert status == 200 and "default-src 'none'" in headers.get("Content-Security-Policy", "")
