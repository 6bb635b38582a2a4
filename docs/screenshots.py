"""Make the pictures of the pages that the README shows (``docs/screenshots/*.png``) from the seeds.

    PYTHONPATH=. .venv/bin/python docs/screenshots.py            # writes docs/screenshots/
    PYTHONPATH=. .venv/bin/python docs/screenshots.py --out DIR  # elsewhere, to compare

It lives in ``docs/`` beside what it makes: it measures nothing (so not in
``benchmarks/``) and asserts nothing (so not a test: ``tests/test_browser.py``
checks the same pages).  Run it again whenever the pages, the embeds or
``feed.xsl`` change, and commit the pictures with the change.

The live server serves the seeds (``seeds/``; the same bytes as the static
build) on 127.0.0.1; a second server, on another port, serves
``tests/data/embed_demo.html``, a site's page that embeds the all-items feed
as an iframe and through ``embed.js``.  The browser reaches them as
``https://news.example.org/`` and ``https://gazette.example.com/`` (two
origins, as a real embedding is; the addresses stay the same from one run to
the next).  Debian's Chromium (``/usr/bin/chromium``, through Playwright;
nothing is downloaded) opens them at 1000x800 and saves:

    index.png   the front page
    topic.png   a topic's page (topics/ai/)
    embed.png   the host page: the iframe embed beside the script embed
    feed.png    the Atom feed opened in a tab, as feed.xsl shows it

The stories' thumbnails are other sites' pictures: each is answered with the
same grey placeholder, so the pictures are the same offline and from one run
to the next.  Anything else going wrong on a page (a console error, a failed
request) stops the script before it saves a picture of a broken page.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from feeds.settings import Settings  # noqa: E402
from feeds.web import create_app  # noqa: E402
from tests.chromium import CHROMIUM, launch  # noqa: E402

SEEDS = REPO / "seeds"
DEMO = REPO / "tests" / "data" / "embed_demo.html"
OUT = REPO / "docs" / "screenshots"
# The addresses the pictures show (the README's example site, and a site embedding its feeds): the
# browser's requests to them are answered by the local servers, so that a picture does not change
# with the port a run happens to get.
SITE, HOST = "https://news.example.org/", "https://gazette.example.com/"
VIEWPORT = {"width": 1000, "height": 800}
PLACEHOLDER = (b'<svg xmlns="http://www.w3.org/2000/svg" width="96" height="64">'
               b'<rect width="96" height="64" fill="#bec8d7"/></svg>')
WSGI = Callable[[dict[str, Any], Any], Iterable[bytes]]


@contextmanager
def serving(app: WSGI) -> Iterator[str]:
    """`app` served on 127.0.0.1 and a free port, in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{server.port}/"
    thread = threading.Thread(target=server.serve_forever, name=base, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def seeds_site(work: Path) -> WSGI:
    """The live server's app over the seeds, as the tests build them (site title "feeds")."""
    settings = Settings.make(records=str(SEEDS), base_url=SITE, site_title="feeds", cache_dir=str(work))
    app: WSGI = create_app(settings, watch=False)
    return app


def demo_page() -> WSGI:
    """The host page's app: the demo page, embedding the feeds of `SITE`, at its root."""
    page = DEMO.read_text(encoding="utf-8").replace("__FEEDS__", SITE).encode("utf-8")

    def app(environ: dict[str, Any], start: Any) -> Iterable[bytes]:
        if environ["PATH_INFO"] != "/":
            start("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not found\n"]
        start("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(page)))])
        return [page]

    return app


def take(browser: Any, hosts: dict[str, str], url: str, shot: Path, ready: Callable[[Any], None]) -> None:
    """Open `url`, wait until `ready` says it is drawn, and save the viewport to `shot`; fail on any
    error.  `hosts` maps the public base URLs the pictures show to the local servers answering them;
    every other request (the thumbnails) gets the placeholder."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    problems: list[str] = []

    def console(message: Any) -> None:
        if message.type == "error":
            problems.append(f"console: {message.text}")

    page.on("console", console)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} {r.failure}"))

    def answer(route: Any) -> None:
        asked = route.request.url
        public = next((base for base in hosts if asked.startswith(base)), None)
        if public is None:
            route.fulfill(status=200, content_type="image/svg+xml", body=PLACEHOLDER)
        else:
            route.fulfill(response=route.fetch(url=hosts[public] + asked[len(public):]))

    page.route("**/*", answer)
    try:
        response = page.goto(url, wait_until="load")
        if response is None or response.status != 200:
            problems.append(f"{url} answered {response and response.status}")
        ready(page)
        page.wait_for_function("() => [...document.images].every(i => i.complete)")
        if problems:
            raise SystemExit(f"{url}:\n  " + "\n  ".join(problems))
        page.screenshot(path=str(shot))
    finally:
        context.close()
    print(f"{shot}  ({url})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write the pictures ({OUT})")
    out = parser.parse_args().out
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work, serving(seeds_site(Path(work))) as feeds, \
            serving(demo_page()) as demo, sync_playwright() as playwright:
        hosts = {SITE: feeds, HOST: demo}
        browser = launch(playwright, xslt=True)  # XSLT: the feed in a tab
        try:
            def drawn(page: Any) -> None:
                page.locator("h1").first.wait_for()

            def embedded(page: Any) -> None:
                page.locator("#x li").first.wait_for()
                page.frame_locator("#frame").locator("li").first.wait_for()

            take(browser, hosts, SITE, out / "index.png", drawn)
            take(browser, hosts, SITE + "topics/ai/", out / "topic.png", drawn)
            take(browser, hosts, HOST, out / "embed.png", embedded)
            take(browser, hosts, SITE + "feed.atom", out / "feed.png", drawn)
        finally:
            browser.close()


if __name__ == "__main__":
    main()
