"""Pages for people: the index with autodiscovery, a page per feed, embeds and the OPML list.

Server-rendered with Jinja (autoescaped: every record value is escaped), no
JavaScript needed to read them, no external resources but the stories' own
thumbnails.  Styles are inline and allowed by hash in a Content-Security-Policy
that the pages carry themselves (for static hosts) and the live server also
sends as a header.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from markupsafe import Markup, escape

from .archive import day_date
from .layout import ALL, PROVIDER, STORIES, TOP, TOPIC, TOPIC_STORIES, TOPIC_TOP, stem
from .plan import EMBED_LIMIT, EPOCH, FeedSpec, Plan
from .records import Headline
from .render import FORMATS
from .settings import Settings

if TYPE_CHECKING:
    from jinja2 import Environment

PAGE_CSS = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:0 auto;padding:1rem;color:#222;"
    "background:#fff}a{color:#0645ad}h1{font-size:1.6rem;margin:.2rem 0}h2{font-size:1.1rem;"
    "margin:.2rem 0}ul,ol{padding-left:1.2rem}li{margin:.6rem 0}.feeds{list-style:none;padding:0}"
    ".count{color:#555;font-size:.9rem}.count:before{content:'('}.count:after{content:')'}"
    ".formats,.meta,.latest{font-size:.9rem;color:#555}.formats a{color:#555}.stories{padding:0;"
    "list-style:none}.stories li{overflow:hidden;border-bottom:1px solid #eee;padding-bottom:.6rem}"
    # A picture takes the size of what it holds, within a box (its width and height attributes serve
    # only where these styles do not apply): one that fails to load (alt="") then holds nothing and
    # takes no room, where a fixed size would leave an empty box.  CSS cannot select a failed image
    # and the CSP allows no script to hide it; the cost is that no room is kept for one still loading.
    ".thumb,.logo{width:auto;height:auto;max-width:96px;max-height:64px;border-radius:4px}"
    ".thumb{float:right;margin:0 0 .4rem .8rem}.logo{vertical-align:middle;max-height:32px}"
    ".subscribe label{display:block;font-size:.9rem}"
    ".subscribe input{width:100%;box-sizing:border-box;font:inherit;padding:.2rem}"
    ".pager{display:flex;justify-content:space-between;margin:1rem 0}.pager a[rel=next]{margin-left:auto}"
    "@media(prefers-color-scheme:dark){body{background:#111;color:#ddd}a{color:#8ab4f8}}"
)
EMBED_CSS = (
    "body{font:14px/1.4 system-ui,sans-serif;margin:0;padding:.5rem;color:#222;background:#fff}"
    "ul{list-style:none;margin:0;padding:0}li{margin:0 0 .5rem}a{color:#0645ad}"
    ".meta{color:#666;font-size:.8rem}"
)


def _hash(css: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(css.encode()).digest()).decode() + "'"


PAGE_CSP = (f"default-src 'none'; img-src https: http:; style-src {_hash(PAGE_CSS)}; "
            "base-uri 'none'; form-action 'none'")
EMBED_CSP = f"default-src 'none'; style-src {_hash(EMBED_CSS)}; base-uri 'none'; form-action 'none'"
# What the live server and the nginx block answer a path the site does not have.
NOT_FOUND = "Not found. Every feed is listed at / and in /feeds.opml.\n"
EMBED_JS = resources.files("feeds").joinpath("static/embed.js").read_bytes()
FAVICON = resources.files("feeds").joinpath("static/favicon.ico").read_bytes()
STYLESHEET = resources.files("feeds").joinpath("static/feed.xsl").read_bytes()  # named by Atom and RSS

# Record text is escaped, so it is inert; handler- and scheme-like words are also
# broken up (`onerror&#61;`, `javascript&#58;`) so no scanner mistakes them for code.
_ACTIVE = re.compile(r"(?i)\b(on[a-z]+)(\s*)=|\b((?:java|vb|live)script)(\s*):")


def _defuse(value: Any) -> Any:
    if isinstance(value, str) and not isinstance(value, Markup):
        if "=" not in value and "script" not in value.lower():  # nothing `_ACTIVE` could match
            return escape(value)  # (escaping writes neither of them)
        return Markup(_ACTIVE.sub(lambda m: f"{m[1]}{m[2]}&#61;" if m[1] else f"{m[3]}{m[4]}&#58;",
                                  str(escape(value))))
    return value


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day(moment: datetime) -> str:
    """The date a page or embed shows ("09 Nov 2020"): the day in UTC, in English whatever the locale.

    A static page cannot know its reader's time zone, and embed.js writes the very same text (its
    own copy of this rule), so that a headline has one date in the pages, the iframe and the script.
    """
    moment = moment.astimezone(UTC)
    return f"{moment.day:02d} {MONTHS[moment.month - 1]} {moment.year}"


@functools.cache
def _env() -> Environment:
    """The templates' environment, made when the first page is (jinja2 takes a tenth of a second
    to load, which a build with nothing to make need not pay)."""
    from jinja2 import Environment, PackageLoader, select_autoescape
    env = Environment(
        finalize=_defuse,
        loader=PackageLoader("feeds", "templates"),
        autoescape=select_autoescape(["html", "opml"]),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["day"] = day
    return env


def warm_templates() -> None:
    """Compile every template now (a watching build does, before its first change comes)."""
    env = _env()
    for name in env.list_templates():
        env.get_template(name)


def _render(template: str, settings: Settings, **context: Any) -> bytes:
    text = _env().get_template(template).render(
        settings=settings, url=settings.url, formats=list(FORMATS.values()), **context)
    return text.encode("utf-8")


def _groups(plan: Plan) -> dict[str, Any]:
    return {
        "all": plan.feeds[0],
        "story_feeds": [s for s in plan.feeds if s.kind is STORIES or s.kind is TOP],
        "topics": [s for s in plan.feeds if s.kind is TOPIC],
        "topic_stories": [s for s in plan.feeds if s.kind is TOPIC_STORIES or s.kind is TOPIC_TOP],
        "providers": [s for s in plan.feeds if s.kind is PROVIDER],
    }


def siblings(spec: FeedSpec) -> list[tuple[str, str]]:
    """The feeds a feed's page also offers, (label, stem): a topic's stories and top stories, and
    back from those to the topic's feed.  Each exists whenever the topic does."""
    if spec.kind is TOPIC:
        return [("One entry per story", stem(TOPIC_STORIES, spec.key)),
                ("Top stories", stem(TOPIC_TOP, spec.key))]
    if spec.kind is TOPIC_STORIES or spec.kind is TOPIC_TOP:
        return [("Every article", stem(TOPIC, spec.key))]
    return []


def render_index(plan: Plan, settings: Settings) -> bytes:
    """The home page: every feed with its count, latest headline and formats."""
    return _render("index.html", settings, css=PAGE_CSS, csp=PAGE_CSP,
                   feed_row=lambda spec: _feed_row(spec, settings.url), **_groups(plan))


def _feed_row(spec: FeedSpec, url: Callable[[str], str]) -> Markup:
    """One feed in the index: its page, count, formats and latest headline."""
    if not spec.records:
        return _row(spec.stem, spec.page, spec.name, spec.total, None, None, url)
    latest = spec.records[0]
    if not isinstance(latest, Headline):
        raise TypeError(f"{spec.stem}: its row is made once its headlines were loaded")
    return _row(spec.stem, spec.page, spec.name, spec.total, latest.link, latest.title, url)


@functools.lru_cache(maxsize=1 << 14)
def _row(stem: str, page: str, name: str, total: int, link: str | None, title: str | None,
         url: Callable[[str], str]) -> Markup:
    """An index row, every value passed through the templates' own filter.  Made here, not in a
    template macro: the index of 100,000 records lists 2,000 feeds, and a macro call for each
    took a tenth of a second of a rebuild.  Kept: a watching build makes the index again for
    each change, and a change alters a few rows."""
    formats = " · ".join(f'<a href="{_defuse(url(stem + f.extension))}" type="{_defuse(f.media_type)}">'
                         f'{_defuse(f.label)}</a>' for f in FORMATS.values())
    row = (f'<a class="name" href="{_defuse(url(page))}">{_defuse(name)}</a> '
           f'<span class="count">{total}</span>\n<span class="formats">{formats}</span>\n')
    if link is not None:
        row += f'<br><span class="latest">Latest: <a href="{_defuse(link)}">{_defuse(title)}</a></span>'
    return Markup(row)


def render_page(spec: FeedSpec, settings: Settings) -> bytes:
    """The HTML page of one feed: its latest headlines and subscribe links."""
    return _render("feed.html", settings, css=PAGE_CSS, csp=PAGE_CSP, spec=spec,
                   records=spec.entries(), siblings=siblings(spec))


def render_embed(spec: FeedSpec, settings: Settings) -> bytes:
    """A compact, self-contained headline list of one feed, meant for an iframe."""
    return _render("embed.html", settings, css=EMBED_CSS, csp=EMBED_CSP, spec=spec,
                   records=spec.entries())


def render_opml(plan: Plan, settings: Settings) -> bytes:
    """An OPML 2.0 subscription list of every feed, grouped by kind."""
    newest = plan.feeds[0].updated if plan.feeds else EPOCH
    return _render("feeds.opml", settings, updated=newest.strftime("%a, %d %b %Y %H:%M:%S GMT"),
                   outline=lambda spec: _outline(spec.title, spec.stem, spec.page, settings.url),
                   **_groups(plan))


@functools.lru_cache(maxsize=1 << 14)
def _outline(title: str, stem: str, page: str, url: Callable[[str], str]) -> Markup:
    """One feed's line in the OPML list (made and kept as the index's rows are: see `_row`)."""
    return Markup(f'<outline text="{_defuse(title)}" title="{_defuse(title)}" type="rss" '
                  f'xmlUrl="{_defuse(url(stem + ".atom"))}" htmlUrl="{_defuse(url(page))}"/>')


SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"


def render_sitemap(pages: list[tuple[str, int | None]], settings: Settings) -> bytes:
    """The sitemap (sitemaps.org 0.9) of every HTML page: (site path, day of its newest story)."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', f'<urlset xmlns="{SITEMAP_NS}">']
    lines.extend(f"<url><loc>{escape(settings.url(path))}</loc>"
                 + ("" if day is None else f"<lastmod>{day_date(day).isoformat()}</lastmod>") + "</url>"
                 for path, day in pages)
    lines.append("</urlset>\n")
    return "\n".join(lines).encode("utf-8")


def render_robots(settings: Settings) -> bytes:
    """robots.txt: every page may be crawled but the embeds (made for other sites' frames), and
    where the sitemap is.  Crawlers read it only at the root of a host: under a base URL with a
    path, serve it (or its lines) from the root."""
    folder = urlsplit(settings.base_url).path or "/"
    return (f"User-agent: *\nDisallow: {folder}embed/\n\nSitemap: {settings.url('sitemap.xml')}\n").encode()


def page_path(spec: FeedSpec) -> str:
    """The file of a feed's HTML page in the static export (an archive page's is a file of its own)."""
    return spec.page if spec.archived is not None else spec.page + "index.html"


def embed_path(spec: FeedSpec) -> str:
    """The file of a feed's embeddable headline list."""
    return f"embed/{spec.stem}.html"


__all__ = [
    "ALL",
    "EMBED_CSP",
    "EMBED_JS",
    "EMBED_LIMIT",
    "FAVICON",
    "PAGE_CSP",
    "STYLESHEET",
    "embed_path",
    "page_path",
    "render_embed",
    "render_index",
    "render_opml",
    "render_page",
    "render_robots",
    "render_sitemap",
]
