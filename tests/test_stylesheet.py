"""Feeds in a browser: every Atom and RSS document names ``feed.xsl``, which turns it into a page.

The document tests read the built and served bytes; the stylesheet itself is
run with lxml's libxslt (the XSLT 1.0 engine Chromium and Safari embed), and
in real Chromium against the live server and the static export: each page is
screenshotted under the test's tmp dir, the screenshot read back with
tesseract and the rendered text checked for the feed's title and first entry.
Chromium shows ``application/atom+xml`` and ``application/rss+xml`` as plain
text, so a browser tab (``Sec-Fetch-Dest: document``) gets the feed as
``application/xml`` (`feeds.web`).  Without ``/usr/bin/chromium``, the
playwright package or tesseract the browser tests skip.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from lxml import etree

from feeds.build import build_site
from feeds.pages import STYLESHEET
from feeds.settings import Settings
from feeds.text import clean_text
from feeds.web import create_app
from feeds.xmlfeeds import stylesheet_href

from .chromium import CHROMIUM, launch
from .stores import build_into, record_fields, record_text
from .test_browser import TIMEOUT_MS
from .test_pages import feeds_server
from .test_web import copy_store, make_settings

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "seeds"
PI = "xml-stylesheet"
# Hostile record text: records keep it as plain text (tags dropped, entities unescaped), and what is left
# (<, &, quotes) must show as it is, never as markup.
EVIL_TITLE = "<script>window.__pwned=1</script>Tom & \"Jerry\" <3 a < b && c > 'd'"
EVIL_EXCERPT = "<b onmouseover=\"window.__pwned=2\">bold</b> H&M <3 \"q\" && 'r' > s"
EVIL_PROVIDER = "<img src=x onerror=\"window.__pwned=3\">Evil & Sons <3"
SHOWN_TITLE, SHOWN_EXCERPT, SHOWN_PROVIDER = (clean_text(raw) for raw in
                                              (EVIL_TITLE, EVIL_EXCERPT, EVIL_PROVIDER))
NEWEST = "Zebra crossings get smarter in Oslo"  # the newest story: first entry of every feed it is in


def _stylesheet_pi(data: bytes) -> Any:
    """The processing instruction before the root element of a feed document (None without)."""
    root = etree.fromstring(data)
    before = root.getprevious()
    return before if isinstance(before, etree._ProcessingInstruction) else None


def _stores(tmp_path: Path) -> Path:
    """The seeds plus a newest story and one with hostile text, in a topic of their own."""
    records = copy_store(SEEDS, tmp_path / "records")
    newest = record_fields(title=NEWEST, publishedDateTime="2031-01-02T09:00:00Z",
                           webUrl="https://city.example.com/zebra", excerpt="Lights that see people.",
                           provider={"name": "City News", "domain": "city.example.com"}, topics=["Streets"])
    evil = record_fields(title=EVIL_TITLE, excerpt=EVIL_EXCERPT, publishedDateTime="2031-01-01T09:00:00Z",
                         webUrl="https://evil.example.com/story",
                         provider={"name": EVIL_PROVIDER, "domain": "evil.example.com"}, topics=["Evil"])
    (records / "newest.md").write_text(record_text(newest), encoding="utf-8")
    (records / "evil.md").write_text(record_text(evil), encoding="utf-8")
    return records


# -- the documents ---------------------------------------------------------------------------------


def test_every_atom_and_rss_document_names_the_stylesheet_right_after_the_declaration(
        seeds_dir: Path, tmp_path: Path) -> None:
    site = build_into(seeds_dir, tmp_path / "out", limit=1, archive_size=1)
    documents = sorted(p for p in site.out.rglob("*") if p.suffix in (".atom", ".rss"))
    assert any("/archive/" in str(p) for p in documents), "the seeds make no archive documents"
    for path in documents:
        data = path.read_bytes()
        lines = data.split(b"\n", 2)
        assert lines[0] == b"<?xml version='1.0' encoding='UTF-8'?>", path
        stem = path.relative_to(site.out).with_suffix("").as_posix()
        assert lines[1] == f'<?xml-stylesheet type="text/xsl" href="{stylesheet_href(stem)}"?>'.encode(), path
        pi = _stylesheet_pi(data)
        assert pi is not None and pi.target == PI and pi.get("type") == "text/xsl", path
        # Relative, so it resolves to the site's own feed.xsl from any folder, on any host.
        assert (path.parent / pi.get("href")).resolve() == (site.out / "feed.xsl").resolve(), path
    assert (site.out / "feed.xsl").read_bytes() == STYLESHEET


def test_the_href_resolves_under_a_base_url_with_a_path() -> None:
    from urllib.parse import urljoin
    base = "https://example.com/news/"
    for stem in ("feed", "topics/ai", "providers/reuters.com", "topics/ai/archive/2019"):
        assert urljoin(base + stem + ".atom?limit=5", stylesheet_href(stem)) == base + "feed.xsl"


def test_the_setting_off_leaves_no_instruction_and_no_stylesheet_and_json_is_untouched(
        seeds_dir: Path, tmp_path: Path) -> None:
    styled = build_into(seeds_dir, tmp_path / "on")
    plain = build_into(seeds_dir, tmp_path / "off", stylesheet=False)
    assert not (plain.out / "feed.xsl").exists()
    for path in sorted(p for p in plain.out.rglob("*") if p.is_file()):
        relative = path.relative_to(plain.out)
        data = path.read_bytes()
        assert b"xml-stylesheet" not in data, relative
        if path.suffix in (".atom", ".rss"):
            assert _stylesheet_pi(data) is None
            # Exactly the instruction's line apart.
            href = stylesheet_href(relative.with_suffix("").as_posix())
            pi = f'<?xml-stylesheet type="text/xsl" href="{href}"?>\n'.encode()
            assert (styled.out / relative).read_bytes().replace(pi, b"") == data, relative
        elif path.suffix == ".json":
            assert (styled.out / relative).read_bytes() == data, relative


def test_turning_the_setting_off_removes_the_stylesheet_an_earlier_build_wrote(
        seeds_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_into(seeds_dir, out)
    assert (out / "feed.xsl").is_file()
    build_into(seeds_dir, out, stylesheet=False)
    assert not (out / "feed.xsl").exists()
    assert b"xml-stylesheet" not in (out / "feed.atom").read_bytes()


def test_the_stylesheet_never_disables_output_escaping_and_writes_no_script() -> None:
    stylesheet = etree.fromstring(STYLESHEET)
    assert not stylesheet.xpath("//@disable-output-escaping")
    assert not stylesheet.xpath("//script | //*[local-name() = 'script'] | //@*[starts-with(name(), 'on')]")


def test_the_hostile_text_keeps_characters_that_markup_would_read() -> None:
    for shown in (SHOWN_TITLE, SHOWN_EXCERPT, SHOWN_PROVIDER):
        assert "&" in shown and "<" in shown, shown
    assert '"' in SHOWN_TITLE and "'" in SHOWN_TITLE and ">" in SHOWN_EXCERPT


# -- served live ----------------------------------------------------------------------------------


def test_feed_xsl_is_served_live_as_xml_with_the_static_bytes(seeds_dir: Path, tmp_path: Path) -> None:
    site = build_into(seeds_dir, tmp_path / "out")
    app = create_app(make_settings(copy_store(SEEDS, tmp_path / "records"), tmp_path), watch=False)
    response = app.test_client().get("/feed.xsl")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/xml; charset=utf-8"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.data == (site.out / "feed.xsl").read_bytes() == STYLESHEET


def test_without_the_setting_feed_xsl_is_not_served(tmp_path: Path) -> None:
    app = create_app(make_settings(copy_store(SEEDS, tmp_path / "records"), tmp_path, stylesheet=False),
                     watch=False)
    client = app.test_client()
    assert client.get("/feed.xsl").status_code == 404
    response = client.get("/feed.atom", headers={"Sec-Fetch-Dest": "document"})
    assert response.headers["Content-Type"] == "application/atom+xml; charset=utf-8"


@pytest.mark.parametrize("path, own", [("/feed.atom", "application/atom+xml"),
                                       ("/topics/ai.rss", "application/rss+xml")])
def test_a_browser_tab_gets_the_feed_as_xml_and_a_reader_gets_its_own_type(
        tmp_path: Path, path: str, own: str) -> None:
    client = create_app(make_settings(copy_store(SEEDS, tmp_path / "records"), tmp_path),
                        watch=False).test_client()
    for _ in range(2):  # the second answers come from the fast path
        reader = client.get(path, headers={"Accept": "application/atom+xml, */*"})
        tab = client.get(path, headers={"Sec-Fetch-Dest": "document", "Accept": "text/html,*/*"})
        fetched = client.get(path, headers={"Sec-Fetch-Dest": "empty"})  # a script's fetch()
        assert reader.headers["Content-Type"] == fetched.headers["Content-Type"] == f"{own}; charset=utf-8"
        assert tab.headers["Content-Type"] == "application/xml; charset=utf-8"
        assert reader.data == tab.data == fetched.data
        for response in (reader, tab, fetched):
            assert "Sec-Fetch-Dest" in response.headers["Vary"], response.headers
    json = client.get("/feed.json", headers={"Sec-Fetch-Dest": "document"})
    assert json.headers["Content-Type"] == "application/feed+json; charset=utf-8"
    assert "Sec-Fetch-Dest" not in json.headers["Vary"]


# -- the stylesheet, run by libxslt -----------------------------------------------------------------


def _transform(document: bytes) -> Any:
    result = etree.XSLT(etree.fromstring(STYLESHEET))(etree.fromstring(document))
    return result.getroot()


@pytest.mark.parametrize("name", ["feed.atom", "feed.rss", "topics/evil.atom", "topics/evil.rss"])
def test_the_stylesheet_shows_title_subscription_address_and_entries_with_hostile_text_as_text(
        tmp_path: Path, name: str) -> None:
    site = build_into(_stores(tmp_path), tmp_path / "out")
    page = _transform((site.out / name).read_bytes())
    text = " ".join("".join(page.itertext()).split())
    title = "feeds: Evil" if "evil" in name else "feeds"
    assert page.findtext("head/title") == f"{title} (web feed)"
    assert page.findtext(".//h1") == title
    assert "This is a web feed" in text and "copy this address into your feed reader" in text
    assert page.findtext(".//code") == site.settings.url(name)
    entries = page.findall(".//li")
    assert len(entries) == (1 if "evil" in name else 4)
    evil = entries[0] if "evil" in name else entries[1]
    assert evil.findtext("h3/a") == SHOWN_TITLE  # as text: serialized, it is escaped again
    assert evil.find("h3/a").get("href") == "https://evil.example.com/story"
    assert "".join(evil.find("p[@class='meta']").itertext()).endswith(" · " + SHOWN_PROVIDER)
    assert evil.findtext("p[@class='summary']").strip() == SHOWN_EXCERPT  # RSS: unescaped once, exactly
    assert not page.xpath("//script | //img | //@*[starts-with(name(), 'on')]")
    serialized = etree.tostring(page, method="html", encoding="unicode")
    assert "Tom &amp; \"Jerry\" &lt;3 a &lt; b &amp;&amp; c &gt; 'd'" in serialized
    if "evil" not in name:
        assert entries[0].findtext("h3/a") == NEWEST


# -- in real Chromium -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    if shutil.which("tesseract") is None:
        pytest.skip("tesseract is missing (apt-get install tesseract-ocr)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing")
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright, xslt=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _stores(tmp_path_factory.mktemp("stylesheet"))


@pytest.fixture(scope="module")
def live_url(stores: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`feeds serve` over the stores, on 127.0.0.1."""
    with feeds_server(stores, tmp_path_factory.mktemp("live")) as base:
        yield base


class _Export(SimpleHTTPRequestHandler):
    """The static export as a static host serves it, with the live server's one rule for browser tabs
    (`feeds.web`): an Atom or RSS file opened in a tab is sent as application/xml."""

    extensions_map: ClassVar[dict[str, str]] = {
        **SimpleHTTPRequestHandler.extensions_map, ".atom": "application/atom+xml",
        ".rss": "application/rss+xml", ".xsl": "application/xml", ".json": "application/feed+json"}

    def guess_type(self, path: Any) -> str:
        media = super().guess_type(path)
        if self.headers.get("Sec-Fetch-Dest") == "document" and str(path).endswith((".atom", ".rss")):
            return "application/xml"
        return media

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def static_url(stores: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The static export of the stores (built for the URL it is served at) over plain HTTP."""
    work = tmp_path_factory.mktemp("static")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Export, directory=str(work / "out")))
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    build_site(Settings.make(records=str(stores), out=str(work / "out"), base_url=base,
                             cache_dir=str(work / "cache")))
    threading.Thread(target=server.serve_forever, name="static-http", daemon=True).start()
    yield base
    server.shutdown()
    server.server_close()


def _ocr(png: Path) -> str:
    done = subprocess.run(["tesseract", str(png), "stdout"], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    return " ".join(done.stdout.split())


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]{4,}", text.lower())


def _open(chromium: Any, url: str, shot: Path) -> tuple[str, str, Any]:
    """(rendered text, OCR of the screenshot, page) of `url` opened in a tab."""
    context = chromium.new_context(viewport={"width": 1000, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    response = page.goto(url)
    assert response is not None and response.status == 200
    page.wait_for_selector("h1")
    page.screenshot(path=str(shot), full_page=False)
    text = page.evaluate("document.body.innerText")
    assert not errors, errors
    return text, _ocr(shot), page


@pytest.mark.tools
@pytest.mark.parametrize("server", ["live", "static"])
@pytest.mark.parametrize("path, title", [("feed.atom", "feeds"), ("feed.rss", "feeds"),
                                         ("topics/streets.atom", "feeds: Streets"),
                                         ("topics/streets.rss", "feeds: Streets")])
def test_chromium_shows_a_feed_as_a_page_with_its_title_and_first_entry(
        chromium: Any, request: pytest.FixtureRequest, tmp_path: Path, server: str, path: str,
        title: str) -> None:
    base = request.getfixturevalue(f"{server}_url")
    shot = tmp_path / f"{server}-{path.replace('/', '-')}.png"
    text, ocr, page = _open(chromium, base + path, shot)
    assert page.title() == f"{title} (web feed)"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert lines[0] == title
    assert "This is a web feed" in text and base + path in text
    assert page.locator("li h3 a").first.inner_text() == NEWEST
    assert page.locator("li h3 a").first.get_attribute("href") == "https://city.example.com/zebra"
    # The screenshot shows them too: every word of the title and of the first entry, read back by OCR.
    read = set(_words(ocr))
    for wanted in (title, NEWEST):
        missing = [w for w in _words(wanted) if w not in read]
        assert not missing, f"OCR of {shot} lacks {missing} of {wanted!r}: {ocr[:400]}"


@pytest.mark.tools
@pytest.mark.parametrize("server", ["live", "static"])
def test_chromium_shows_hostile_record_text_literally_and_runs_none_of_it(
        chromium: Any, request: pytest.FixtureRequest, tmp_path: Path, server: str) -> None:
    base = request.getfixturevalue(f"{server}_url")
    text, _ocr_text, page = _open(chromium, base + "topics/evil.atom", tmp_path / f"{server}-evil.png")
    assert page.evaluate("window.__pwned") is None
    assert page.locator("li h3 a").first.inner_text() == SHOWN_TITLE
    assert SHOWN_EXCERPT in text and SHOWN_PROVIDER in text
    assert page.locator("script, img, [onmouseover], [onerror]").count() == 0


@pytest.mark.parametrize("extension", [".atom", ".rss"])
def test_an_entry_s_date_reads_as_the_pages_show_it(seeds_dir: Path, tmp_path: Path, extension: str) -> None:
    # It read 2023-04-02 (Atom) and "Sun, 02 Apr 2023" (RSS) where the pages read 02 Apr 2023.
    out = tmp_path / "out"
    build_site(Settings.make(records=str(seeds_dir), out=str(out), cache_dir="off"))
    shown = etree.XSLT(etree.fromstring(STYLESHEET))(etree.parse(str(out / f"feed{extension}")))
    dates = [re.match(r"[^·]*", " ".join(p.itertext())).group(0).strip()
             for p in shown.getroot().iter("p") if p.get("class") == "meta"]
    page = (out / "index.html").read_text(encoding="utf-8")
    assert dates and all(re.fullmatch(r"\d\d [A-Z][a-z]{2} \d{4}", d) for d in dates), dates
    assert all(f">{d}</time>" in page for d in dates), (dates, "not as the front page shows them")
