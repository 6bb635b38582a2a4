"""The live server: a thin Flask app that serves the static export's paths from a `LiveSite`.

Views look a feed up, render it (or take its cached body) and return it with
the headers feed readers expect: the format's media type, a strong ETag per
representation, Last-Modified (when the representation last changed), Cache-Control, gzip
when asked for, 304 for conditional requests, CORS on JSON Feed.  Every
absolute URL comes from the configured base URL, never from the request.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Flask, Response, current_app, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from .live import Body, LiveSite
from .pages import EMBED_CSP, PAGE_CSP
from .records import MAX_NUMBER
from .settings import Settings, load_settings

bp = Blueprint("feeds", __name__)
NOT_FOUND = "Not found. Every feed is listed at / and in /feeds.opml.\n"


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


def _respond(body: Body, path: str, settings: Settings) -> Response:
    packed = request.accept_encodings["gzip"] > 0 and len(body.gzipped) < len(body.data)
    response = Response(body.gzipped if packed else body.data, content_type=body.media_type)
    if packed:
        response.headers["Content-Encoding"] = "gzip"
    response.set_etag(body.gzip_etag if packed else body.etag)
    response.last_modified = body.last_modified
    response.cache_control.public = True
    response.cache_control.max_age = settings.max_age
    response.vary.add("Accept-Encoding")
    if path.endswith(".json"):
        response.headers["Access-Control-Allow-Origin"] = "*"
    if body.media_type.startswith("text/html"):
        embed = path.startswith("embed/")
        response.headers["Content-Security-Policy"] = (
            EMBED_CSP if embed else PAGE_CSP + "; frame-ancestors 'none'")
        if not embed:
            response.headers["X-Frame-Options"] = "DENY"
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
    except BadQuery as exc:
        return _text(f"{exc}\n", 400)
    body = site.render(path, limit, min_quality, min_heat)
    if body is None:
        return _text(NOT_FOUND, 404)
    return _respond(body, path, site.settings)


def _headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def create_app(settings: Settings | None = None, test_config: dict[str, Any] | None = None,
               watch: bool = True) -> Flask:
    """The WSGI app serving `settings` (default: settings file and FEEDS_* variables)."""
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=16 * 1024, DEBUG=False, PROPAGATE_EXCEPTIONS=False)
    app.config.update(test_config or {})
    app.url_map.strict_slashes = False
    app.extensions["feeds"] = LiveSite(settings or load_settings(), watch=watch)
    app.register_blueprint(bp)
    app.after_request(_headers)
    app.register_error_handler(404, lambda e: _text(NOT_FOUND, 404))
    app.register_error_handler(405, lambda e: _text("Only GET and HEAD are allowed.\n", 405,
                                                    Allow="GET, HEAD"))
    app.register_error_handler(413, lambda e: _text("Request body too large.\n", 413))
    app.register_error_handler(400, lambda e: _text("Bad request.\n", 400))
    return app
