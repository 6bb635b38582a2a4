"""An nginx server block that serves the static export as the live server serves the same paths.

The same media types with ``charset=utf-8``, ``Cache-Control``, ``Vary:
Accept-Encoding``, CORS on JSON Feed, the live server's security headers and
its 404 text; precompressed siblings sent as they are (``gzip_static``), and
conditional requests answered from nginx's own ``ETag`` and ``Last-Modified``.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from .errors import ExportError, SettingsError
from .pages import EMBED_CSP, NOT_FOUND, PAGE_CSP
from .settings import Settings
from .site import FOR_PEOPLE, STYLED, content_types

PAGE_HEADERS = {"Content-Security-Policy": PAGE_CSP + "; frame-ancestors 'none'", "X-Frame-Options": "DENY"}
EMBED_HEADERS = {"Content-Security-Policy": EMBED_CSP}  # an embed is made to be framed
EVERY_RESPONSE = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def media_types() -> dict[str, str]:
    """The media type of each file extension of the site, as the live server sends it (no charset)."""
    return {ext: media.partition(";")[0] for ext, media in content_types().items()}


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}  # all nginx reads in "..."


def quoted(text: str, what: str) -> str:
    """`text` as one double-quoted nginx string; refuses what nginx would read as more than text."""
    if "$" in text:
        # nginx expands $name in root, add_header and return, and has no escape for a literal $.
        raise SettingsError(f"{what}: {text!r} holds '$', which nginx reads as a variable; "
                            "choose a folder or name without it")
    if any((ord(c) < 32 or ord(c) == 127) and c not in _ESCAPES for c in text):
        raise SettingsError(f"{what}: {text!r} holds a control character; choose a name without it")
    return '"' + "".join(_ESCAPES.get(c, c) for c in text) + '"'


def _headers(headers: dict[str, str], always: bool = False) -> list[str]:
    flag = " always" if always else ""
    return [f"add_header {name} {quoted(value, name)}{flag};" for name, value in headers.items()]


def _location(match: str, settings: Settings, extra: dict[str, str]) -> list[str]:
    """A location that sends every header of the site plus `extra`: nginx drops all of a server's
    add_header lines in a location that has one of its own, so each location says them all."""
    cache = {"Cache-Control": f"public, max-age={settings.max_age}", "Vary": "Accept-Encoding"}
    lines = [*_headers(cache | extra), *_headers(EVERY_RESPONSE, always=True)]
    return [f"location {match} {{", *(f"    {line}" for line in lines), "}"]


def _listen(settings: Settings) -> tuple[str, str, list[str]]:
    """`listen`, `server_name` and notes, from the base URL (placeholders the reader adapts)."""
    parts = urlsplit(settings.base_url)
    if parts.path not in ("", "/"):
        raise SettingsError(f"base_url: {settings.base_url} has a path; the nginx server block serves the "
                            "site at the root of its host: use a base URL without a path, or write the "
                            "block by hand (alias)")
    notes = []
    if parts.scheme == "https":
        notes = ["# HTTPS: add `listen 443 ssl;` with your ssl_certificate and ssl_certificate_key,",
                 "# and redirect port 80 to it."]
    return str(parts.port or 80), quoted(parts.hostname or "_", "base_url host"), notes


def _styled(settings: Settings) -> list[str]:
    """Atom and RSS as the live server sends them (`feeds.web`): to a browser tab (Sec-Fetch-Dest:
    document) as application/xml, so that it runs their stylesheet; to everyone else as their own type."""
    if not settings.stylesheet:
        return []
    vary = {"Vary": "Accept-Encoding, Sec-Fetch-Dest"}
    return [
        f"location ~ \\.({'|'.join(ext.lstrip('.') for ext in STYLED)})$ {{",
        "    error_page 418 = @for_people;  # nginx's way to send a request on to a named location",
        "    error_page 404 @not_found;  # a location with an error_page of its own inherits none",
        '    if ($http_sec_fetch_dest = "document") {',
        "        return 418;",
        "    }",
        *_location("", settings, vary)[1:-1],
        "}",
        "location @for_people {",
        "    types { }",
        f"    default_type {FOR_PEOPLE.partition(';')[0]};",
        *_location("", settings, vary)[1:-1],
        "}",
    ]


def server_block(settings: Settings) -> str:
    """The nginx ``server { }`` block serving ``settings.out`` at the base URL's host."""
    root = quoted(os.path.realpath(settings.out), "out")
    port, name, notes = _listen(settings)
    types = media_types()
    # text/html is always in both lists (naming it again draws a warning).
    # (text/plain is left out: robots.txt is tiny, and the 404 text must go as the live server sends it)
    texts = sorted({media for ext, media in types.items() if ext not in ("ico", "html", "txt")})
    charset = sorted({*texts, "text/plain"})  # text/plain: the 404
    lines = [
        f"# nginx server block for the feeds static export in {root}, written by `feeds build --nginx-conf`.",
        "# Include it inside nginx's http { } block (Debian: /etc/nginx/sites-enabled/).",
        "# listen and server_name come from base_url: change them to your own.",
        *notes,
        "server {",
        f"    listen {port};",
        f"    server_name {name};",
        f"    root {root};",
        "    index index.html;",
        "    absolute_redirect off;",
        "    types {",
        *(f"        {media} {ext};" for ext, media in types.items()),
        "    }",
        "    default_type application/octet-stream;",
        "    charset utf-8;",
        f"    charset_types {' '.join(charset)};",
        "    etag on;",
        "    # X.gz and X.br are written by `feeds build --precompress`; nginx sends X.gz as it is.",
        "    gzip_static on;",
        "    # X.br needs a module nginx lacks: on Debian, apt-get install libnginx-mod-http-brotli-static",
        "    # (loaded from /etc/nginx/modules-enabled), then uncomment:",
        "    # brotli_static on;",
        "    # A file without a .gz (a build without --precompress) is compressed on the fly.",
        "    gzip on;",
        f"    gzip_types {' '.join(texts)};",
        "    error_page 404 @not_found;",
        "    location @not_found {",
        *(f"        {line}" for line in _headers(EVERY_RESPONSE, always=True)),
        "        types { }  # else the text is typed by the path's extension (/missing.atom)",
        "        default_type text/plain;",
        f"        return 404 {quoted(NOT_FOUND, 'the 404 text')};",
        "    }",
        "    # The live server has no such paths: compressed siblings and temporary files of a build.",
        '    location ~ "(/\\.|\\.gz$|\\.br$)" {',
        "        return 404;",
        "    }",
        *(f"    {line}" for line in _location("/", settings, {})),
        *(f"    {line}" for line in _location("~ \\.json$", settings, {"Access-Control-Allow-Origin": "*"})),
        *(f"    {line}" for line in _styled(settings)),
        *(f"    {line}" for line in _location("~ ^/embed/.*\\.html$", settings, EMBED_HEADERS)),
        *(f"    {line}" for line in _location("~ \\.html$", settings, PAGE_HEADERS)),
        "}",
    ]
    return "\n".join(lines) + "\n"


def check_server_block(path: Path, settings: Settings) -> None:
    """Refuse, before anything is built, a server block that could not be written as asked."""
    out = os.path.realpath(settings.out)
    if os.path.commonpath([out, os.path.realpath(path)]) == out:
        raise SettingsError(f"nginx-conf: {path} is inside the output folder {out}; it would be published "
                            "with the site: write it elsewhere (e.g. /etc/nginx/sites-available/feeds)")
    server_block(settings)


def write_server_block(path: Path, settings: Settings) -> None:
    """Write `server_block` to `path` (atomically: a temporary file beside it, then renamed)."""
    check_server_block(path, settings)
    target = os.path.realpath(path)
    temp = f"{target}.feeds-tmp.{os.getpid()}"
    try:
        Path(temp).write_text(server_block(settings), encoding="utf-8")
        os.replace(temp, target)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise ExportError(f"{path}: cannot write the nginx server block ({exc.strerror})") from None
