"""Running the HTTP contract tests against both ways the live server answers.

The `answered_by` fixture (conftest.py) runs a test twice: once with Flask
answering every request (the fast path stepped aside), once through
`TwiceClient`, which asks every GET and HEAD three times and checks that the
three answers are the same: the first is made by Flask (and dates a new
representation), the second keeps Flask's answer, the third must come from the
fast path whenever Flask answered from a body.  So every request the contract
tests make is answered by both, and must be answered identically.  Requests
from threads a test starts are asked once: they race the test's writers.
"""

from __future__ import annotations

import threading
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from feeds.live import LiveSite
from feeds.web import FastPath

# Requests the fast path leaves to Flask by design (Flask works their answer out case by case).
UNUSUAL = ("HTTP_IF_MATCH", "HTTP_IF_UNMODIFIED_SINCE", "HTTP_RANGE", "HTTP_IF_RANGE",
           "HTTP_TRANSFER_ENCODING")


def _plain(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """True for a request the test client can make again as it is (a path and keywords)."""
    method = str(kwargs.get("method", "GET")).upper()
    return (bool(args) and isinstance(args[0], str) and method in ("GET", "HEAD")
            and not kwargs.get("follow_redirects") and "data" not in kwargs and "input_stream" not in kwargs)


def _answer(response: TestResponse) -> tuple[str, list[tuple[str, str]], bytes]:
    return response.status, response.headers.to_wsgi_list(), response.get_data()


def _from_a_kept_body(site: LiveSite, response: TestResponse) -> bool:
    """True when Flask answered `response` from a body the site keeps, to a request without the
    headers (or the body) that the fast path leaves to Flask."""
    environ = response.request.environ
    if any(name in environ for name in UNUSUAL) or environ.get("CONTENT_LENGTH") not in (None, "", "0"):
        return False
    etag = response.headers.get("ETag", "").strip('"')
    return response.status_code in (200, 304) and any(
        etag in (body.etag, body.gzip_etag) for body in list(site._bodies.values()))


class TwiceClient(FlaskClient):
    """A test client that checks every GET and HEAD is answered the same by Flask and the fast path."""

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        """Ask three times (see the module's docstring); the last answer is the test's."""
        fast = self.application.wsgi_app
        if (not isinstance(fast, FastPath) or not _plain(args, kwargs)
                or threading.current_thread() is not threading.main_thread()):
            # A test's own threads race its writers on purpose: their requests are asked once (and
            # the fast path answers whichever it has kept).
            return super().open(*args, **kwargs)
        site: LiveSite = self.application.extensions["feeds"]
        store = site._swaps, site._refreshes
        first = super().open(*args, **kwargs)
        second = super().open(*args, **kwargs)
        hits = fast.hits
        third = super().open(*args, **kwargs)
        if (site._swaps, site._refreshes) != store:
            return first  # the store changed meanwhile (a test's writer thread): the answers may differ
        where = f"{kwargs.get('method', 'GET')} {args[0]} {kwargs.get('query_string') or ''}"
        assert _answer(second) == _answer(first), f"{where}: a second answer differs from the first"
        assert _answer(third) == _answer(second), f"{where}: the fast path's answer differs from Flask's"
        if _from_a_kept_body(site, first) and site.stamp() is not None:
            assert fast.hits == hits + 1, f"{where}: the fast path did not answer a request Flask answered"
        return third
