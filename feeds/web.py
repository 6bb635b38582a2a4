"""The live server: a thin Flask app that serves the static export's paths from a `LiveSite`,
behind a fast path that answers again, without Flask, what Flask has answered.

Views look a feed up, render it (or take its cached body) and return it with
the headers feed readers expect: the format's media type, a strong ETag per
representation, Last-Modified (when the representation last changed), Cache-Control, gzip
when asked for, 304 for conditional requests, CORS on JSON Feed.  Every
absolute URL comes from the configured base URL, never from the request.

Most requests are polls for a body already made.  `FastPath` keeps, for each
request path and query Flask answered from a body, the headers Werkzeug made
for it (plain and gzipped, 200 and 304), and answers the same request again
from them while the store is as it was (`LiveSite.stamp`).  Whatever it has
not seen, or cannot answer exactly as Flask would (a Range, If-Match or
If-Unmodified-Since, a request body, another method), goes to Flask.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Blueprint, Flask, Response, current_app, redirect, request
from werkzeug.datastructures import Accept
from werkzeug.http import is_resource_modified, parse_accept_header
from werkzeug.wrappers import Response as BaseResponse

from .live import Body, LiveSite, Stamp
from .pages import EMBED_CSP, NOT_FOUND, PAGE_CSP
from .records import MAX_NUMBER
from .settings import Settings, load_settings
from .site import ARCHIVE_MAX_AGE, FOR_PEOPLE, STYLED

bp = Blueprint("feeds", __name__)
FAST_KEY = "feeds.fast"  # in the WSGI environ: the fast path and its stamp, for the view to keep its answer


def _navigated(environ: dict[str, Any]) -> bool:
    """True for a browser tab opening the URL (not a reader, a script or an embed)."""
    return environ.get("HTTP_SEC_FETCH_DEST") == "document"


def _site() -> LiveSite:
    site: LiveSite = current_app.extensions["feeds"]
    return site


def _text(message: str, status: int, **headers: str) -> Response:
    return Response(message, status=status, mimetype="text/plain", headers=headers)


_INTEGER = re.compile(r"-?[0-9]{1,12}")  # ASCII digits only: int() also takes '²' and '٣'


class BadQuery(ValueError):
    """A query parameter a feed cannot be narrowed by; the message is the reply."""


def _int_arg(name: str, low: int, high: int) -> int | None:
    try:
        raw = request.args.get(name)
    except UnicodeDecodeError:  # Werkzeug decodes the query strictly
        raise BadQuery("the query string is not UTF-8; percent-encode it") from None
    if raw is None:
        return None
    text = raw.strip()
    if not _INTEGER.fullmatch(text) or not low <= int(text) <= high:
        raise BadQuery(f"{name} must be a whole number from {low} to {high}")
    return int(text)


def _filters(settings: Settings) -> tuple[int | None, int | None, int | None]:
    return (_int_arg("limit", 1, settings.max_limit), _int_arg("min_quality", -MAX_NUMBER, MAX_NUMBER),
            _int_arg("min_heat", -MAX_NUMBER, MAX_NUMBER))


def _packs(body: Body) -> bool:
    """True when gzip makes `body` smaller, so a client that accepts it gets it."""
    return len(body.gzipped) < len(body.data)


def _response(body: Body, path: str, settings: Settings, packed: bool, navigated: bool = False) -> Response:
    """The 200 answer of `body` at `path`, gzipped or not, before the request's conditions; to a
    browser tab (`navigated`), a styled feed is XML."""
    styled = settings.stylesheet and path.endswith(STYLED)
    media_type = FOR_PEOPLE if styled and navigated else body.media_type
    response = Response(body.gzipped if packed else body.data, content_type=media_type)
    if packed:
        response.headers["Content-Encoding"] = "gzip"
    response.set_etag(body.gzip_etag if packed else body.etag)
    response.last_modified = body.last_modified
    response.cache_control.public = True
    response.cache_control.max_age = ARCHIVE_MAX_AGE if body.closed else settings.max_age
    response.vary.add("Accept-Encoding")
    if styled:
        response.vary.add("Sec-Fetch-Dest")
    if path.endswith(".json"):
        response.headers["Access-Control-Allow-Origin"] = "*"
    if body.media_type.startswith("text/html"):
        embed = path.startswith("embed/")
        response.headers["Content-Security-Policy"] = (
            EMBED_CSP if embed else PAGE_CSP + "; frame-ancestors 'none'")
        if not embed:
            response.headers["X-Frame-Options"] = "DENY"
    return response


def _respond(body: Body, path: str, settings: Settings) -> Response:
    packed = request.accept_encodings["gzip"] > 0 and _packs(body)
    response = _response(body, path, settings, packed, _navigated(request.environ))
    response.make_conditional(request)
    del response.headers["Date"]  # the WSGI server sends its own; two confuse caches
    return response


@bp.get("/", defaults={"path": ""}, provide_automatic_options=False)
@bp.get("/<path:path>", provide_automatic_options=False)
def site_file(path: str) -> BaseResponse:
    """Any file of the static export at its path; a folder path serves its index.html."""
    site = _site()
    if path == "" or path.endswith("/"):
        path += "index.html"
    elif "." not in path.rpartition("/")[2] and site.find(path + "/index.html"):
        return redirect(site.settings.url(path + "/"), 308)
    try:
        limit, min_quality, min_heat = _filters(site.settings)
        number = _int_arg("page", -MAX_NUMBER, MAX_NUMBER) if path.endswith("index.html") else None
    except BadQuery as exc:
        return _text(f"{exc}\n", 400)
    if number is not None:  # ?page=N of a feed's page: where that page of its stories is, while it is
        found = site.numbered(path, number)
        if found is None:
            return _text(NOT_FOUND, 404)
        return redirect(site.settings.url(found), 302)
    body = site.render(path, limit, min_quality, min_heat)
    if body is None:
        return _text(NOT_FOUND, 404)
    fast: tuple[FastPath, Stamp] | None = request.environ.get(FAST_KEY)
    if fast is not None:
        fast[0].keep(request.environ, fast[1], body, path)
    return _respond(body, path, site.settings)


def _headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


# -- the fast path ----------------------------------------------------------------------
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Headers = list[tuple[str, str]]
_MEMO_SIZE = 4096  # distinct header values (and header pairs) remembered


def _unusual(environ: dict[str, Any]) -> bool:
    """True for a request with a body or a header whose answer Flask works out case by case."""
    return (environ.get("CONTENT_LENGTH") not in (None, "", "0") or "HTTP_IF_MATCH" in environ
            or "HTTP_IF_UNMODIFIED_SINCE" in environ or "HTTP_RANGE" in environ or "HTTP_IF_RANGE" in environ
            or "HTTP_TRANSFER_ENCODING" in environ)


@dataclass(frozen=True)
class _Answer:
    """One representation as Flask sends it: status lines and header lists for a 200 and a 304."""

    ok: tuple[str, Headers]
    not_modified: tuple[str, Headers]
    etag: str | None  # the ETag and Last-Modified header values the request's conditions are held against
    last_modified: str | None


@dataclass(frozen=True)
class _Kept:
    """What the fast path answers a request path and query with, while the store is at `stamp`."""

    stamp: Stamp
    body: weakref.ref[Body]  # the body cache decides how long a body lives, not the fast path
    plain: _Answer
    packed: _Answer | None  # None when gzip does not make the body smaller


def _answer(body: Body, path: str, settings: Settings, packed: bool, environ: dict[str, Any],
            shared: Callable[[Headers], Headers]) -> _Answer:
    """Flask's own answer for `body`, found the way Flask makes it (`_response`, `_headers`); its
    header lists are made of the `shared` header pairs."""
    response = _headers(_response(body, path, settings, packed, _navigated(environ)))
    ok = (response.status, shared(response.get_wsgi_headers(environ).to_wsgi_list()))
    response.status_code = 304
    not_modified = (response.status, shared(response.get_wsgi_headers(environ).to_wsgi_list()))
    return _Answer(ok, not_modified, response.headers.get("ETag"), response.headers.get("Last-Modified"))


class FastPath:
    """WSGI middleware: answers again what Flask answered from a kept body, without Flask."""

    def __init__(self, app: WSGIApp, site: LiveSite, size: int = 4096) -> None:
        self._app = app
        self._site = site
        self._size = size
        self._kept: dict[tuple[str, str, bool], _Kept] = {}  # (path, query, a browser tab's)
        self._lock = threading.Lock()
        self._gzip: dict[str | None, bool] = {}  # Accept-Encoding -> gzip accepted
        self._modified: dict[tuple[str | None, str | None, str | None, str | None], bool] = {}
        self._pairs: dict[tuple[str, str], tuple[str, str]] = {}  # one object for each header pair
        self.hits = 0  # requests answered here (the tests check the fast path is taken)

    def keep(self, environ: dict[str, Any], stamp: Stamp, body: Body, path: str) -> None:
        """Keep the answers Flask gives for `body` to this request's path and query."""
        settings = self._site.settings
        key = (environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""), _navigated(environ))
        with self._lock:  # the shared pairs too
            plain = _answer(body, path, settings, False, environ, self._shared)
            packed = _answer(body, path, settings, True, environ, self._shared) if _packs(body) else None
            kept = _Kept(stamp, weakref.ref(body), plain, packed)
            self._kept.pop(key, None)
            while len(self._kept) >= self._size:  # the oldest go first
                del self._kept[next(iter(self._kept))]
            self._kept[key] = kept

    def _shared(self, headers: Headers) -> Headers:
        """`headers` made of one object per distinct pair: most pairs are the same in every answer
        (media types, Cache-Control, the security headers), and thousands of answers are kept."""
        return [self._pairs.get(pair) or _remember(self._pairs, pair, pair) for pair in headers]

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if method != "GET" and method != "HEAD":
            return self._app(environ, start_response)
        stamp = self._site.stamp()
        kept = self._kept.get((environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""),
                               environ.get("HTTP_SEC_FETCH_DEST") == "document"))
        body = None
        if kept is not None and stamp is not None and kept.stamp == stamp and not _unusual(environ):
            body = kept.body()
        if kept is None or body is None:
            environ[FAST_KEY] = None if stamp is None else (self, stamp)
            return self._app(environ, start_response)
        answer = kept.plain
        if kept.packed is not None and self._accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING")):
            answer = kept.packed
        modified = self._is_modified(environ, answer)
        status, headers = answer.ok if modified else answer.not_modified
        self.hits += 1
        start_response(status, list(headers))  # a copy: servers may add to the list
        if not modified or method == "HEAD":
            return []
        return [body.data if answer is kept.plain else body.gzipped]

    def _accepts_gzip(self, header: str | None) -> bool:
        accepted = self._gzip.get(header)
        if accepted is None:
            accepted = _remember(self._gzip, header, parse_accept_header(header, Accept)["gzip"] > 0)
        return accepted

    def _is_modified(self, environ: dict[str, Any], answer: _Answer) -> bool:
        none_match = environ.get("HTTP_IF_NONE_MATCH")
        since = environ.get("HTTP_IF_MODIFIED_SINCE")
        if none_match is None and since is None:
            return True
        key = (none_match, since, answer.etag, answer.last_modified)
        modified = self._modified.get(key)
        if modified is None:
            found = is_resource_modified(environ, answer.etag, last_modified=answer.last_modified)
            modified = _remember(self._modified, key, found)
        return modified


K = TypeVar("K")
V = TypeVar("V")


def _remember(memo: dict[K, V], key: K, value: V) -> V:
    """`value`, kept in `memo` under `key`; a memo grown to `_MEMO_SIZE` starts again (a client
    sending a new header value each time only refills it)."""
    if len(memo) >= _MEMO_SIZE:
        memo.clear()
    memo[key] = value
    return value


def create_app(settings: Settings | None = None, test_config: dict[str, Any] | None = None,
               watch: bool = True) -> Flask:
    """The WSGI app serving `settings` (default: settings file and FEEDS_* variables), the fast path
    in front of Flask."""
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=16 * 1024, DEBUG=False, PROPAGATE_EXCEPTIONS=False)
    app.config.update(test_config or {})
    app.url_map.strict_slashes = False
    site = app.extensions["feeds"] = LiveSite(settings or load_settings(), watch=watch)
    app.register_blueprint(bp)
    app.after_request(_headers)
    app.register_error_handler(404, lambda e: _text(NOT_FOUND, 404))
    app.register_error_handler(405, lambda e: _text("Only GET and HEAD are allowed.\n", 405,
                                                    Allow="GET, HEAD"))
    app.register_error_handler(413, lambda e: _text("Request body too large.\n", 413))
    app.register_error_handler(400, lambda e: _text("Bad request.\n", 400))
    app.wsgi_app = FastPath(app.wsgi_app, site)  # type: ignore[method-assign]
    return app
