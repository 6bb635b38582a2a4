"""The live server: a thin Flask app that serves the static export's paths from a `LiveSite`.

Views look a feed up, render it (or take its cached body) and return it with
the headers feed readers expect: the format's media type, a strong ETag per
representation, Last-Modified from the newest entry, Cache-Control, gzip
when asked for, 304 for conditional requests, CORS on JSON Feed.  Every
absolute URL comes from the configured base URL, never from the request.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, request

from .live import Body, LiveSite
from .render import FORMATS
from .settings import Settings, load_settings

bp = Blueprint("feeds", __name__)
_BY_EXTENSION = {f.extension.lstrip("."): name for name, f in FORMATS.items()}
NOT_FOUND = "Not found. The feeds are listed at /feeds.opml; every story is at /feed.atom.\n"


def _site() -> LiveSite:
    site: LiveSite = current_app.extensions["feeds"]
    return site


def _text(message: str, status: int, **headers: str) -> Response:
    return Response(message, status=status, mimetype="text/plain", headers=headers)


class BadQuery(ValueError):
    """A query parameter a feed cannot be narrowed by; the message is the reply."""


def _int_arg(name: str, low: int, high: int) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    text = raw.strip()
    if not (text.lstrip("-").isdigit() and len(text) <= 12) or not low <= int(text) <= high:
        raise BadQuery(f"{name} must be a whole number from {low} to {high}")
    return int(text)


def _filters(settings: Settings) -> tuple[int, int | None, int | None]:
    limit = _int_arg("limit", 1, settings.max_limit)
    big = 10**9
    return (settings.limit if limit is None else limit,
            _int_arg("min_quality", -big, big), _int_arg("min_heat", -big, big))


def _respond(body: Body, fmt: str, settings: Settings) -> Response:
    packed = request.accept_encodings["gzip"] > 0 and len(body.gzipped) < len(body.data)
    response = Response(body.gzipped if packed else body.data,
                        content_type=f"{body.media_type}; charset=utf-8")
    if packed:
        response.headers["Content-Encoding"] = "gzip"
    response.set_etag(body.gzip_etag if packed else body.etag)
    response.last_modified = body.last_modified
    response.cache_control.public = True
    response.cache_control.max_age = settings.max_age
    response.vary.add("Accept-Encoding")
    if fmt == "json":
        response.headers["Access-Control-Allow-Origin"] = "*"
    response.make_conditional(request)
    del response.headers["Date"]  # the WSGI server sends its own; two confuse caches
    return response


@bp.get("/<path:path>", provide_automatic_options=False)
def feed(path: str) -> Response:
    """A feed at its static-export path, in the format its extension names."""
    stem, _, extension = path.rpartition(".")
    fmt = _BY_EXTENSION.get(extension)
    if fmt is None or not stem:
        return _text(NOT_FOUND, 404)
    site = _site()
    try:
        limit, min_quality, min_heat = _filters(site.settings)
    except BadQuery as exc:
        return _text(f"{exc}\n", 400)
    body = site.render(stem, fmt, limit, min_quality, min_heat)
    if body is None:
        return _text(NOT_FOUND, 404)
    return _respond(body, fmt, site.settings)


def _headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
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
