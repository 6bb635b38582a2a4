"""The pages and both embeds in a real browser: Debian's headless Chromium driven by Playwright.

The real server (`feeds serve`) runs on a store holding the seeds and a
record whose title holds ``<script>window.__pwned=1</script>``; a second
server, on another port and so another origin, serves
``tests/data/embed_demo.html``, which embeds the all-items feed as an iframe
and through ``embed.js``.  Nothing is downloaded: without ``/usr/bin/chromium``
or the playwright package the tests skip.  (``docs/screenshots.py`` makes the
README's pictures the same way; a test would assert nothing of them.)
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import threading
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from feeds.pages import EMBED_LIMIT

from .chromium import CHROMIUM, launch
from .stores import record_fields, record_text
from .test_pages import feeds_server, free_port, http_get

pytestmark = pytest.mark.tools

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "seeds"
DEMO = Path(__file__).resolve().parent / "data" / "embed_demo.html"
EVIL_TITLE = "<script>window.__pwned=1</script>Evil"
SCRIPT_LIMIT = 5  # data-limit of the demo page's script
OTHERS = 9  # more records, so that the feed holds more than either embed shows
TIMEOUT_MS = 10_000


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A plain-coloured PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


# Served for the stories' thumbnails: the pages are tested offline.
PIXEL = _png(96, 64, (190, 200, 215))


# -- servers ---------------------------------------------------------------------------------


@dataclass
class Demo:
    """The other origin: serves the demo page pointing at a feeds server."""

    feeds: str
    server: ThreadingHTTPServer = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"


@pytest.fixture(scope="module")
def demo_server() -> Iterator[Any]:
    """A factory of demo servers (one per feeds server); all are shut down afterwards."""
    started: list[ThreadingHTTPServer] = []

    def start(feeds: str) -> Demo:
        page = DEMO.read_text(encoding="utf-8").replace("__FEEDS__", feeds).encode("utf-8")

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path in ("/", "/index.html"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(page)))
                    self.end_headers()
                    self.wfile.write(page)
                else:
                    self.send_error(404)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="demo-http", daemon=True).start()
        started.append(server)
        return Demo(feeds, server)

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def feeds_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`feeds serve` over the seeds plus the newest record, whose title holds a script."""
    work = tmp_path_factory.mktemp("browser")
    records = work / "records"
    shutil.copytree(SEEDS, records)
    evil = record_fields(
        title=EVIL_TITLE, excerpt='<img src=x onerror="window.__pwned=2">An excerpt',
        publishedDateTime="2030-01-01T00:00:00Z", webUrl="https://evil.example.com/story",
        provider={"name": '<img src=x onerror="window.__pwned=3">Evil News', "domain": "evil.example.com"},
        topics=["AI"])
    (records / "evil.md").write_text(record_text(evil), encoding="utf-8")
    for i in range(OTHERS):  # enough headlines that both embeds must cut at their limit
        other = record_fields(title=f"Local story {i}", publishedDateTime=f"2024-05-{i + 1:02d}T09:00:00Z",
                              webUrl=f"https://local.example.com/{i}",
                              provider={"name": "Local Paper", "domain": "local.example.com"})
        (records / f"local-{i}.md").write_text(record_text(other), encoding="utf-8")
    with feeds_server(records, work / "server") as base:
        yield base


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


# -- the browser ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing")
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Watched:
    """A page and what went wrong on it: console errors, page errors, failed or foreign requests."""

    page: Any
    problems: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def assert_clean(self, local: tuple[str, ...], favicon: bool = False) -> None:
        """No problem, no request outside `local`; a missing favicon is judged only when `favicon`."""
        problems = [p for p in self.problems if favicon or not p.endswith("/favicon.ico)")]
        foreign = [u for u in self.requests if not u.startswith(local)]
        assert not problems, "\n".join(problems)
        assert not foreign, f"requests outside {local}: {foreign}"


# The browser's time zone and language: far from UTC (the newest record, at midnight UTC on
# 1 January, is still on 31 December there) and not English, so that a date written in the reader's
# zone or locale shows.
READER_ZONE, READER_LOCALE = "America/Los_Angeles", "de-DE"


@pytest.fixture
def watched(browser: Any) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1000, "height": 800}, timezone_id=READER_ZONE,
                                  locale=READER_LOCALE)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    seen = Watched(page)
    def console(message: Any) -> None:
        if message.type in ("error", "assert"):
            seen.problems.append(f"console {message.type}: {message.text} ({message.location.get('url')})")

    page.on("console", console)
    page.on("pageerror", lambda e: seen.problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: seen.problems.append(f"request failed: {r.url} {r.failure}"))
    page.on("request", lambda r: seen.requests.append(r.url))
    try:
        yield seen
    finally:
        context.close()


def thumbnails_offline(page: Any, local: tuple[str, ...]) -> None:
    """Answer every request outside `local` with a small picture (the stories' thumbnails)."""
    def answer(route: Any) -> None:
        if route.request.url.startswith(local):
            route.continue_()
        else:
            route.fulfill(status=200, content_type="image/png", body=PIXEL)

    page.route("**/*", answer)


def list_texts(locator: Any) -> list[str]:
    return [" ".join(t.split()) for t in locator.all_inner_texts()]


# -- tests ----------------------------------------------------------------------------------------


def test_demo_page_on_another_origin_renders_both_embeds(watched: Watched, feeds_url: str,
                                                         demo_server: Any) -> None:
    demo = demo_server(feeds_url)
    assert demo.url.split(":")[2] != feeds_url.split(":")[2], "the demo must be another origin"
    items = get_json(feeds_url + "feed.json")["items"]
    assert len(items) > EMBED_LIMIT > SCRIPT_LIMIT
    assert items[0]["url"] == "https://evil.example.com/story", "the script-titled record is the newest"
    evil = items[0]["title"]
    assert "Evil" in evil
    page = watched.page
    page.goto(demo.url, wait_until="load")

    # the script: five headlines built from the JSON Feed, links to the articles
    script_items = page.locator("#x li")
    script_items.nth(min(SCRIPT_LIMIT, len(items)) - 1).wait_for()
    titles = [" ".join(t.split()) for t in page.locator("#x li > a").all_inner_texts()]
    assert titles == [" ".join(i["title"].split()) for i in items[:SCRIPT_LIMIT]]
    hrefs = [a.get_attribute("href") for a in page.locator("#x li > a").all()]
    assert hrefs == [i["url"] for i in items[:SCRIPT_LIMIT]]
    assert page.locator("#x li").count() == min(SCRIPT_LIMIT, len(items))

    # the iframe: the embed page, its headlines
    frame_element = page.locator("#frame")
    frame = page.frame_locator("#frame")
    frame.locator("li").nth(min(EMBED_LIMIT, len(items)) - 1).wait_for()
    frame_titles = [" ".join(t.split()) for t in frame.locator("li a").all_inner_texts()]
    assert frame_titles == [" ".join(i["title"].split()) for i in items[:EMBED_LIMIT]]
    assert frame_element.bounding_box()["height"] > 100

    # the script-titled record is text, and nothing of it ran or was inserted
    assert page.locator("#x li > a").first.inner_text() == evil
    assert frame.locator("li a").first.inner_text() == evil
    assert page.evaluate("typeof window.__pwned") == "undefined"
    embed = next(f for f in page.frames if "/embed/feed.html" in f.url)
    assert embed.evaluate("typeof window.__pwned") == "undefined"
    assert embed.evaluate("document.scripts.length") == 0
    assert page.evaluate("document.scripts.length") == 1  # the demo's own embed.js
    tags = set(page.evaluate("[...document.querySelectorAll('#x *')].map(e => e.tagName.toLowerCase())"))
    assert tags <= {"ul", "li", "a", "span", "time"}, tags
    frame_tags = set(embed.evaluate("[...document.body.querySelectorAll('*')].map(e => e.localName)"))
    assert "img" not in frame_tags and "script" not in frame_tags, frame_tags
    watched.assert_clean((demo.url, feeds_url))


def test_iframe_and_script_show_each_date_as_the_pages_do(watched: Watched, feeds_url: str,
                                                           demo_server: Any) -> None:
    """The day in UTC, "09 Nov 2020", in the iframe and from embed.js alike, whatever the reader's zone."""
    page = watched.page
    assert page.evaluate("new Date('2030-01-01T00:00:00Z').getDate()") == 31, "the reader is not west of UTC"
    items = get_json(feeds_url + "feed.json")["items"][:SCRIPT_LIMIT]
    demo = demo_server(feeds_url)
    page.goto(demo.url, wait_until="load")
    page.locator("#x li").nth(len(items) - 1).wait_for()
    frame = page.frame_locator("#frame")
    frame.locator("li").nth(len(items) - 1).wait_for()
    script_times = page.locator("#x li time")
    frame_times = frame.locator("li time")
    expected = [datetime.fromisoformat(i["date_published"]).astimezone(UTC).strftime("%d %b %Y")
                for i in items]
    assert expected[0] == "01 Jan 2030"
    assert list_texts(script_times)[: len(items)] == expected
    assert list_texts(frame_times)[: len(items)] == expected
    stamps = [i["date_published"] for i in items]
    assert [t.get_attribute("datetime") for t in script_times.all()] == stamps
    assert [t.get_attribute("datetime") for t in frame_times.all()][: len(items)] == stamps
    # the whole line after the headline: provider, separator and date
    assert list_texts(page.locator("#x li .feeds-embed-meta")) == list_texts(frame.locator("li .meta"))[
        : len(items)]
    watched.assert_clean((demo.url, feeds_url))


def thumbnails(feeds_url: str) -> tuple[str, ...]:
    """The pictures of the stories the front page leads with (requested, and answered offline)."""
    return tuple(item["image"] for item in get_json(feeds_url + "feed.json")["items"] if item.get("image"))


def test_index_page_lists_every_feed(watched: Watched, feeds_url: str) -> None:
    page = watched.page
    thumbnails_offline(page, (feeds_url,))
    page.goto(feeds_url, wait_until="load")
    outlines = re.findall(r'xmlUrl="([^"]+)\.atom"', urllib.request.urlopen(
        feeds_url + "feeds.opml", timeout=10).read().decode())
    assert len(outlines) >= 7
    # A topic's stories and top stories feeds are offered on the topic's page; every other feed on the index.
    on_topic_page = [url for url in outlines
                     if re.fullmatch(r"topics/[^/]+/(stories|top)", url[len(feeds_url):])]
    assert {feeds_url + "stories", feeds_url + "top"} <= set(outlines) and on_topic_page
    for stem_url in outlines:
        if stem_url in on_topic_page:
            continue
        stem = stem_url[len(feeds_url):]
        page_url = feeds_url if stem == "feed" else f"{stem_url}/"
        link = page.locator(f'a[href="{page_url}"]').first
        assert link.is_visible(), f"{stem}: no visible link to its page"
        for ext in (".atom", ".rss", ".json"):
            assert page.locator(f'a[href="{stem_url}{ext}"]').first.is_visible(), f"{stem}{ext}"
    assert page.locator(f'a[href="{feeds_url}feeds.opml"]').first.is_visible()
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.evaluate("document.scripts.length") == 0
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1000, f"the index scrolls sideways: {width}px"
    watched.assert_clean((feeds_url, *thumbnails(feeds_url)))
    for stem_url in on_topic_page:  # the index links each topic's page (checked above), which offers them
        topic_url = stem_url.rpartition("/")[0] + "/"
        assert topic_url[:-1] in outlines, f"{stem_url}: its topic {topic_url} is no feed"
        if page.url != topic_url:
            page.goto(topic_url, wait_until="load")
        assert page.locator(f'a[href="{stem_url}/"]').first.is_visible(), f"{stem_url}: no visible page link"
        for ext in (".atom", ".rss", ".json"):
            assert page.locator(f'a[href="{stem_url}{ext}"]').first.is_visible(), f"{stem_url}{ext}"
    assert not watched.problems, "\n".join(watched.problems)


def test_site_has_a_favicon_so_browsers_log_no_404(watched: Watched, feeds_url: str) -> None:
    """Browsers ask every page for an icon: /favicon.ico unless the page names one.

    Chromium logs the 404 of a missing /favicon.ico as a console error (and then
    remembers the failure for the session, so this checks the rule, not one fetch).
    """
    page = watched.page
    thumbnails_offline(page, (feeds_url,))
    page.goto(feeds_url, wait_until="load")
    declared = page.evaluate("[...document.querySelectorAll('link[rel~=icon]')].map(l => l.href)")
    if not declared:
        status, headers, _ = http_get(feeds_url + "favicon.ico")
        assert status == 200 and headers.get("Content-Type", "").startswith("image/"), (
            f"no <link rel=icon> and /favicon.ico answers {status}: every visit logs a 404 in the console")
    page.wait_for_timeout(200)  # a declared icon blocked by the page's CSP is a console error too
    watched.assert_clean((feeds_url, "data:", *thumbnails(feeds_url)), favicon=True)


@pytest.fixture
def phone(browser: Any, feeds_url: str) -> Iterator[Watched]:
    """A phone-sized page (360x740, touch) whose thumbnail requests get a local picture."""
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    seen = Watched(page)
    def console(message: Any) -> None:
        if message.type == "error":
            seen.problems.append(f"console: {message.text}")

    page.on("console", console)
    page.on("pageerror", lambda e: seen.problems.append(f"page error: {e}"))
    thumbnails_offline(page, (feeds_url,))
    try:
        yield seen
    finally:
        context.close()


def test_feed_page_renders_on_a_phone(phone: Watched, feeds_url: str) -> None:
    page = phone.page
    page.goto(feeds_url + "topics/ai/", wait_until="load")
    items = get_json(feeds_url + "topics/ai.json")["items"]
    for item in items:
        assert page.locator(f'a[href="{item["url"]}"]').first.is_visible(), item["title"]
    loaded = page.evaluate("[...document.images].filter(i => i.complete && i.naturalWidth > 0).length")
    assert loaded == sum(1 for i in items if i.get("image")), "thumbnails"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the topic page scrolls sideways on a phone: {width}px"
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert not [p for p in phone.problems if "favicon.ico" not in p], phone.problems


@pytest.mark.parametrize("path", ["", "topics/ai/"])
def test_pages_keep_to_their_column_on_a_phone(phone: Watched, feeds_url: str, path: str) -> None:
    """Nothing sticks out past the body's content box (a 100%-wide input with padding would)."""
    page = phone.page
    page.goto(feeds_url + path, wait_until="load")
    outside = page.evaluate("""() => {
        const body = document.body.getBoundingClientRect();
        const style = getComputedStyle(document.body);
        const right = body.right - parseFloat(style.paddingRight) + 0.5;
        return [...document.body.querySelectorAll('*')]
            .map(e => [e, e.getBoundingClientRect()])
            .filter(([e, r]) => r.width > 0 && r.right > right)
            .map(([e, r]) => `<${e.localName} class="${e.className}"> ends at ${r.right.toFixed(1)}px,`
                              + ` the column at ${right.toFixed(1)}px`);
    }""")
    assert not outside, "\n".join(outside)


# -- pictures that fail ------------------------------------------------------------------------
SHOWN = "https://pictures.example.org/"  # answered with PIXEL by the test's route


@pytest.fixture(scope="module")
def pictures(feeds_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """`feeds serve` over three stories about Pictures: one whose thumbnail (and provider's logo) is on a
    port nobody listens on, one whose thumbnail the other feeds server answers with a 404, one shown.
    Yields the URLs by name, and the server's base URL as "base"."""
    work = tmp_path_factory.mktemp("pictures")
    records = work / "records"
    records.mkdir()
    refused = f"http://127.0.0.1:{free_port()}/"  # free a moment ago: nothing listens there
    urls = {"refused thumb": refused + "thumb.jpg", "refused logo": refused + "logo.png",
            "missing thumb": feeds_url + "no-such-picture.jpg", "shown thumb": SHOWN + "thumb.png"}
    for i, name in enumerate(("refused", "missing", "shown")):
        logos = [{"url": urls["refused logo"]}] if name == "refused" else []
        story = record_fields(title=f"A {name} picture", publishedDateTime=f"2024-06-0{i + 1}T09:00:00Z",
                              webUrl=f"https://{name}.example.com/story", topics=["Pictures"],
                              images=[{"url": urls[f"{name} thumb"], "width": 640, "height": 360}],
                              provider={"name": f"{name.title()} Daily", "domain": f"{name}.example.com",
                                        "images": logos})
        (records / f"{name}.md").write_text(record_text(story), encoding="utf-8")
    with feeds_server(records, work / "server") as base:
        yield {**urls, "base": base}


@pytest.mark.parametrize("path, failing, loaded", [
    ("", {"refused thumb", "missing thumb"}, {"shown thumb"}),
    ("topics/pictures/", {"refused thumb", "missing thumb"}, {"shown thumb"}),
    ("providers/refused.example.com/", {"refused thumb", "refused logo"}, set())])
def test_a_picture_that_fails_to_load_takes_no_room(watched: Watched, pictures: dict[str, str], path: str,
                                                    failing: set[str], loaded: set[str]) -> None:
    """No broken-image box: a thumbnail or logo that failed has no size; one that loaded has its own."""
    page = watched.page
    page.route(SHOWN + "**", lambda route: route.fulfill(status=200, content_type="image/png", body=PIXEL))
    page.goto(pictures["base"] + path, wait_until="load")
    page.wait_for_function("() => [...document.images].every(i => i.complete)")
    images = page.evaluate("[...document.images].map(i => [i.src, i.naturalWidth, i.offsetWidth,"
                           " i.offsetHeight])")
    failed = {src: (width, height) for src, natural, width, height in images if natural == 0}
    shown = {src: (width, height) for src, natural, width, height in images if natural > 0}
    assert set(failed) == {pictures[n] for n in failing}, f"{path}: {images}"
    assert set(shown) == {pictures[n] for n in loaded}, f"{path}: {images}"
    assert all(size == (0, 0) for size in failed.values()), f"{path}: a failed picture takes room: {failed}"
    assert all(w > 0 and h > 0 for w, h in shown.values()), f"{path}: a loaded picture is hidden: {shown}"
    unexpected = [p for p in watched.problems if not any(pictures[name] in p for name in failing)]
    assert not unexpected, "\n".join(unexpected)


# -- paging through every story ---------------------------------------------------------------
# Stories, three a month from January 2024, with limit 5 and archive_size 8: the 25 archived make
# a page for each month of the first half, and one for July to September (the second half).
PAGED = 30


@pytest.fixture(scope="module")
def paged_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("paged")
    records = work / "records"
    records.mkdir()
    for i in range(PAGED):
        story = record_fields(title=f"Paged story {i:02d}", webUrl=f"https://paged.example.com/{i}",
                              publishedDateTime=f"2024-{1 + i // 3:02d}-{10 + i % 3}T09:00:00Z",
                              topics=["Paging"],
                              provider={"name": "Paged Times", "domain": "paged.example.com"})
        (records / f"paged-{i:02d}.md").write_text(record_text(story), encoding="utf-8")
    with feeds_server(records, work / "server", limit="5", archive_size="8") as base:
        yield base


def _titles(page: Any) -> list[str]:
    return [" ".join(t.split()) for t in page.locator("ol.stories h2 a").all_inner_texts()]


@pytest.mark.parametrize("start", ["", "topics/paging/"])
def test_paging_forward_through_every_story_and_back(watched: Watched, paged_url: str, start: str) -> None:
    """Older → from a feed's page (and the front page) to its oldest archive page, then ← Newer back."""
    page = watched.page
    page.goto(paged_url + start, wait_until="load")
    seen, visited = _titles(page), [page.url]
    while page.locator("a[rel=next]").count():
        page.locator("a[rel=next]").first.click()
        page.wait_for_load_state("load")
        assert page.url != visited[-1]
        visited.append(page.url)
        seen += _titles(page)
    assert seen == [f"Paged story {i:02d}" for i in reversed(range(PAGED))]
    assert len(visited) == 1 + 7  # the feed's page, then the seven pages of its archive
    assert visited[-1].endswith("/archive/2024-01.html"), visited[-1]
    for back in reversed(visited[:-1]):  # and back, one page at a time
        page.locator("a[rel=prev]").first.click()
        page.wait_for_load_state("load")
        assert page.url == back
    assert page.locator("a[rel=prev]").count() == 0
    watched.assert_clean((paged_url,))


def test_an_archive_link_from_a_feed_page_leads_to_its_page_and_documents(watched: Watched,
                                                                          paged_url: str) -> None:
    page = watched.page
    page.goto(paged_url + "providers/paged.example.com/", wait_until="load")
    page.get_by_role("link", name="Older →").first.click()
    page.wait_for_load_state("load")
    # The feed shows stories 29 to 25; 24 to 18 (July to September) are the newest archive page.
    assert page.url == paged_url + "providers/paged.example.com/archive/2024-07-01_2024-12-31.html"
    assert page.locator("h1").inner_text().endswith("1 July 2024 to 31 December 2024")
    assert _titles(page) == [f"Paged story {i}" for i in range(24, 17, -1)]
    feeds = page.evaluate("[...document.querySelectorAll('link[rel=alternate]')].map(l => l.href)")
    assert paged_url + "providers/paged.example.com.atom" in feeds  # people subscribe to the feed itself
    response = page.goto(paged_url + "providers/paged.example.com/archive/2024-07-01_2024-12-31.atom")
    assert response is not None and response.status == 200
    # A tab gets the document as XML, so that it runs feed.xsl (readers get application/atom+xml).
    assert response.headers["content-type"].startswith("application/xml")
    assert page.locator("h1").inner_text().endswith("(archive: 1 July 2024 to 31 December 2024)")  # feed.xsl
    with urllib.request.urlopen(response.url, timeout=10) as reader:  # as a feed reader gets it
        assert reader.headers["Content-Type"].startswith("application/atom+xml")
        assert b"fh:archive" in reader.read()
    watched.assert_clean((paged_url,))
    missing = page.goto(paged_url + "topics/paging/archive/1999.html")
    assert missing is not None and missing.status == 404
