"""WebSub publishing: tell each hub which feeds changed (``hub.mode=publish``), in the background.

A `Notifier` keeps one thread per process that posts, for each changed feed URL
and each hub, ``hub.mode=publish`` with ``hub.url`` and ``hub.topic`` (hubs
differ in which they read) form-encoded.  Each request has a timeout, a request
that fails for a reason that may pass (no connection, a timeout, a 5xx or 429)
is tried again after a growing pause, and a whole round has a time bound.  A
hub that cannot be reached is logged and given up for the round (its other
feeds are not tried one by one), and nothing is ever raised into a build or a
request: WebSub only speeds up what readers would find on their next poll.

The hub fetches the feed from its URL after the ping, so a static build pings
once its export is written, and the live server once its catalog holds the change.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlencode

from . import __version__
from .layout import archive_of
from .render import FORMATS
from .settings import Settings

log = logging.getLogger("feeds.websub")
TIMEOUT = 5.0  # seconds for one request to a hub
ATTEMPTS = 3  # tries of one request whose failure may pass
BACKOFF = 0.5  # seconds before the second try, doubled before each next one
BOUND = 30.0  # seconds a round of pings may take in all; what is left then is given up and logged
KEPT = 64  # outcomes a notifier keeps (a server runs for months)
USER_AGENT = f"feeds/{__version__} (WebSub publisher)"
_FEED_EXTENSIONS = tuple(f.extension for f in FORMATS.values())


def topic_paths(paths: Iterable[str]) -> list[str]:
    """The subscription documents among site `paths` (``feed.atom``, ``topics/ai.json``): not
    archive documents (they never change once closed, and name no hub), pages or compressed
    siblings."""
    return sorted(path for path in paths if path.endswith(_FEED_EXTENSIONS) and archive_of(path) is None)


@dataclass(frozen=True)
class Outcome:
    """One round of pings to one hub: the feed URLs it took, and those it did not, with why."""

    hub: str
    notified: tuple[str, ...]
    failed: tuple[str, ...] = ()
    error: str = ""

    def __str__(self) -> str:
        if not self.failed:
            return f"notified {self.hub} of {len(self.notified)} changed feed(s)"
        done = f" ({len(self.notified)} notified)" if self.notified else ""
        return f"hub {self.hub} failed: {self.error}; {len(self.failed)} feed(s) not notified{done}"


class _Unreachable(Exception):
    """The hub cannot be reached at all: no use trying its other feeds in this round."""


class _Refused(Exception):
    """The hub refused this one feed (a 4xx): no use trying it again."""


Post = Callable[[str, bytes, float], int]  # (hub, form body, timeout) -> HTTP status; raises OSError


def post_form(hub: str, body: bytes, timeout: float) -> int:
    """POST `body` (form-encoded) to `hub`; its status (urllib raises for >= 400: returned here)."""
    request = urllib.request.Request(hub, data=body, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded", "User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(65536)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


class Notifier:
    """Pings `hubs` with the feed URLs `publish` is given, from a background thread.

    URLs given while a round runs are pinged in the next one (each once, however often it
    was given).  `reported` is told each hub's `Outcome` of each round (from the thread).
    """

    def __init__(self, hubs: Iterable[str], reported: Callable[[Outcome], None] | None = None, *,
                 timeout: float = TIMEOUT, attempts: int = ATTEMPTS, backoff: float = BACKOFF,
                 bound: float = BOUND, post: Post = post_form) -> None:
        self.hubs = tuple(hubs)
        self.reported = reported
        self.timeout, self.attempts, self.backoff, self.bound = timeout, attempts, backoff, bound
        self._post = post
        self._pending: dict[str, None] = {}  # feed URLs to ping, in the order given
        self._busy = False
        self._pid = 0
        self._lock = threading.Condition()
        self.outcomes: deque[Outcome] = deque(maxlen=KEPT)  # of the latest rounds, newest last

    def publish(self, urls: Iterable[str]) -> None:
        """Ping every hub with `urls` soon, in the background; returns at once."""
        with self._lock:
            self._pending.update(dict.fromkeys(urls))
            if not self._pending or not self.hubs:
                self._pending.clear()
                return
            if self._pid != os.getpid():  # threads do not survive a fork: one per process
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="feeds-websub", daemon=True).start()
            self._lock.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every URL given so far was pinged (or given up); False if `timeout` passed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._pending or self._busy:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._lock.wait(left)
            return True

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._pending:
                    self._lock.wait()
                urls, self._pending, self._busy = list(self._pending), {}, True
            try:
                self._round(urls)
            except Exception:  # (no thread to start, say): the thread lives on for the next round
                log.exception("WebSub: pinging the hubs failed")
            finally:
                with self._lock:
                    self._busy = False
                    self._lock.notify_all()

    def _round(self, urls: list[str]) -> None:
        deadline = time.monotonic() + self.bound
        threads = [threading.Thread(target=self._hub_round, args=(hub, urls, deadline), daemon=True)
                   for hub in self.hubs]  # one hub that hangs must not hold up the others
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _hub_round(self, hub: str, urls: list[str], deadline: float) -> None:
        try:
            self._tell(hub, urls, deadline)
        except Exception:  # (a thread's exception would only be printed): logged, and the round goes on
            log.exception("WebSub: pinging %s failed", hub)

    def _tell(self, hub: str, urls: list[str], deadline: float) -> None:
        notified: list[str] = []
        failed: list[str] = []
        error = ""
        for at, url in enumerate(urls):
            try:
                self._ping(hub, url, deadline)
                notified.append(url)
            except _Refused as exc:
                failed.append(url)
                error = str(exc)
            except _Unreachable as exc:
                failed.extend(urls[at:])
                error = str(exc)
                break
        outcome = Outcome(hub, tuple(notified), tuple(failed), error)
        (log.warning if failed else log.info)("WebSub: %s", outcome)
        with self._lock:
            self.outcomes.append(outcome)
        if self.reported is not None:
            self.reported(outcome)

    def _ping(self, hub: str, url: str, deadline: float) -> None:
        body = urlencode({"hub.mode": "publish", "hub.url": url, "hub.topic": url}).encode()
        pause = self.backoff
        for attempt in range(1, self.attempts + 1):
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Unreachable(f"out of time after {self.bound:g}s")
            try:
                status = self._post(hub, body, min(self.timeout, left))
            except (OSError, ValueError) as exc:  # refused, timed out, no such host, a bad URL
                problem = f"{type(exc).__name__}: {getattr(exc, 'reason', None) or exc}"
            else:
                if 200 <= status < 300:
                    return
                problem = f"HTTP {status} for {url}"
                if 400 <= status < 500 and status != 429:
                    raise _Refused(problem)
            if attempt == self.attempts or time.monotonic() + pause >= deadline:
                raise _Unreachable(f"{problem} (tried {attempt} time(s))")
            time.sleep(pause)
            pause *= 2
        raise AssertionError("unreachable")  # the loop returns or raises


def topic_urls(settings: Settings, paths: Iterable[str]) -> list[str]:
    """The absolute URLs of the subscription documents among site `paths`."""
    return [settings.url(path) for path in topic_paths(paths)]
