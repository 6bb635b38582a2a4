"""A small WebSub hub (W3C WebSub 5.1, 6 and 7) for the tests: ``python -m tests.websub_hub``.

It listens on 127.0.0.1 on an ephemeral port, prints ``listening on PORT`` and serves:

* ``POST /`` ``hub.mode=subscribe|unsubscribe`` with ``hub.callback``, ``hub.topic``
  and an optional ``hub.secret``: answers 202, then verifies the intent with a GET to
  the callback carrying ``hub.challenge``, which must come back as the body;
* ``POST /`` ``hub.mode=publish`` with ``hub.url`` (or ``hub.topic``; repeated for
  several): answers 202, then fetches each topic URL and POSTs its bytes to each
  verified subscriber, with the topic's ``Content-Type``, ``Link`` headers naming the
  hub and the topic, and ``X-Hub-Signature: sha256=...`` when a secret was given;
* ``GET /log``: JSON of its verified subscriptions (``[callback, topic]``) and of every
  publish it took (``topic``) with, once its work is done, ``done`` (``fetched``,
  ``delivered`` to how many), for the tests to wait on.

Nothing of the project is imported: the hub is a stranger to the publisher.  PyPI
holds no maintained WebSub hub that runs on its own (Flask-WebSub's needs Celery
and a broker), so this one is ours.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

TIMEOUT = 5.0


@dataclass(frozen=True)
class Subscription:
    callback: str
    topic: str
    secret: str


class Hub:
    """Subscriptions and the log of publishes, shared by the request threads."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.lock = threading.Lock()
        self.subscriptions: dict[tuple[str, str], Subscription] = {}
        self.log: list[dict[str, object]] = []

    def verify(self, mode: str, sub: Subscription) -> None:
        challenge = secrets.token_hex(8)
        query = urlencode({"hub.mode": mode, "hub.topic": sub.topic, "hub.challenge": challenge,
                           "hub.lease_seconds": "3600"})
        parts = urlsplit(sub.callback)
        url = urlunsplit(parts._replace(query=f"{parts.query}&{query}" if parts.query else query))
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
                ok = 200 <= response.status < 300 and response.read().decode() == challenge
        except (OSError, ValueError):
            ok = False
        if not ok:
            return
        with self.lock:
            if mode == "subscribe":
                self.subscriptions[(sub.callback, sub.topic)] = sub
            else:
                self.subscriptions.pop((sub.callback, sub.topic), None)

    def publish(self, topic: str, entry: dict[str, object]) -> None:
        try:
            with urllib.request.urlopen(topic, timeout=TIMEOUT) as response:
                body = response.read()
                media_type = response.headers.get("Content-Type", "application/octet-stream")
        except (OSError, ValueError) as exc:
            self._done(entry, {"fetched": False, "error": str(exc), "delivered": 0})
            return
        with self.lock:
            subs = [s for s in self.subscriptions.values() if s.topic == topic]
        delivered = 0
        for sub in subs:
            headers = {"Content-Type": media_type,
                       "Link": f'<{self.url}>; rel="hub", <{topic}>; rel="self"'}
            if sub.secret:
                signature = hmac.new(sub.secret.encode(), body, hashlib.sha256).hexdigest()
                headers["X-Hub-Signature"] = f"sha256={signature}"
            request = urllib.request.Request(sub.callback, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT):
                    delivered += 1
            except (OSError, ValueError):
                pass
        self._done(entry, {"fetched": True, "delivered": delivered})

    def _done(self, entry: dict[str, object], done: dict[str, object]) -> None:
        with self.lock:
            entry["done"] = done


def handler(hub: Hub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet: the tests read /log
            pass

        def _answer(self, status: int, body: bytes = b"", media_type: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", media_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path != "/log":
                self._answer(404, b"not found")
                return
            with hub.lock:
                data = json.dumps({"subscriptions": sorted(hub.subscriptions), "publishes": hub.log}).encode()
            self._answer(200, data, "application/json")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
            mode = form.get("hub.mode", [""])[0]
            if mode in ("subscribe", "unsubscribe"):
                callback, topic = form.get("hub.callback", [""])[0], form.get("hub.topic", [""])[0]
                if not callback.startswith("http") or not topic.startswith("http"):
                    self._answer(400, b"hub.callback and hub.topic must be http(s) URLs")
                    return
                sub = Subscription(callback, topic, form.get("hub.secret", [""])[0])
                self._answer(202)
                threading.Thread(target=hub.verify, args=(mode, sub), daemon=True).start()
            elif mode == "publish":
                topics = list(dict.fromkeys(form.get("hub.url", []) + form.get("hub.topic", [])))
                if not topics or not all(t.startswith("http") for t in topics):
                    self._answer(400, b"hub.url must name the topic's http(s) URL")
                    return
                entries: list[dict[str, object]] = [{"topic": topic} for topic in topics]
                with hub.lock:
                    hub.log.extend(entries)
                self._answer(202)
                for topic, entry in zip(topics, entries, strict=True):
                    threading.Thread(target=hub.publish, args=(topic, entry), daemon=True).start()
            else:
                self._answer(400, b"hub.mode must be subscribe, unsubscribe or publish")

    return Handler


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    hub = Hub(f"http://127.0.0.1:{port}/")
    server.RequestHandlerClass = handler(hub)
    server.daemon_threads = True
    print(f"listening on {port}", flush=True)
    sys.stdout.close()
    server.serve_forever()


if __name__ == "__main__":
    main()
