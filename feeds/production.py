"""The production server: granian's worker processes, each serving its own app (`web.create_app`)."""

from __future__ import annotations

import _thread
import functools
import os
import socket
from typing import Any

from flask import Flask

from .errors import ServeError
from .settings import Settings
from .web import create_app
from .workers import end_with

# Request threads per production worker: polls go on while a few threads make large bodies.  (More
# than two a core and granian warns that they contend for the interpreter.)
THREADS = max(2, min(8, 2 * (os.cpu_count() or 1) + 1))
WORKER_STOP_SECONDS = 5  # a worker that has not stopped this long after SIGTERM is killed


def serve_production(settings: Settings, host: str, port: int, workers: int) -> None:
    """Serve `settings` with granian, a production HTTP server, in `workers` processes; each makes
    its own app (its own catalog connections) once started.  Returns when the server is stopped."""
    from granian.constants import Interfaces

    try:  # granian reports a port in use with a panic's backtrace: say it in one line first
        socket.create_server((host, port)).close()
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ServeError(f"{host}:{port}: cannot listen there ({reason}); choose another --port "
                         "or --host") from None
    server = _server_class()(
        "feeds.web:create_app", address=host, port=port, interface=Interfaces.WSGI, workers=workers,
        blocking_threads=THREADS, backpressure=THREADS * 16, respawn_failed_workers=True, websockets=False,
        # granian's workers can hang in their shutdown when a Ctrl-C reaches them as well as the
        # server's SIGTERM: without a limit, the server waits for them forever.
        workers_kill_timeout=WORKER_STOP_SECONDS)
    server.serve(target_loader=functools.partial(_worker_app, settings, os.getpid()), wrap_loader=False)


def _server_class() -> type[Any]:
    """granian's server, its stop signal handled without taking a lock."""
    from granian.server import Server

    class FeedsServer(Server):  # type: ignore[misc, valid-type]
        def signal_handler_interrupt(self, *args: object, **kwargs: object) -> None:
            # granian's own handler sets an Event, which takes a lock: a second signal (SIGTERM then
            # Ctrl-C, or a Ctrl-C that a supervisor forwards again) landing while the first handler
            # holds it, on the same thread, waited for it forever.  The Event is set from a thread.
            if getattr(self, "interrupt_signal", False):
                return
            self.interrupt_signal = True
            _thread.start_new_thread(self.main_loop_interrupt.set, ())

    return FeedsServer


def _worker_app(settings: Settings, server: int) -> Flask:
    """In a production worker: its app.  It ends should the `server` process be killed (granian's
    workers would go on serving the port with no one to stop them)."""
    end_with(server)
    return create_app(settings)
