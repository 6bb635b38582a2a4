"""Debian's nginx, started by a test on 127.0.0.1 with a server block of its own and stopped after it:
serving a static export (`tests.test_deploy`) or balancing live servers (`tests.test_hosts`)."""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

NGINX_MAIN = """\
{modules}
worker_processes 1;
pid {prefix}/nginx.pid;
{user}
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {conf};
}}
"""
BROTLI_MODULE = Path("/usr/lib/nginx/modules/ngx_http_brotli_static_module.so")


def nginx_binary() -> str:
    """nginx's path; the test is skipped where it is not installed."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if found is None:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx; .ci/run installs it)")
    return found


def get(port: int, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """(status, headers by lower-case name, body) of one GET to 127.0.0.1:`port`; header arguments
    are spelt with ``_`` for ``-`` (``Accept_Encoding``)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={k.replace("_", "-"): v for k, v in headers.items()})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 a moment ago, for a server a test starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serving(work: Path, conf: Path, port: int, brotli_static: bool = False) -> Iterator[int]:
    """Debian's nginx serving `conf` (a server block) on 127.0.0.1:`port`, stopped by its pid after."""
    nginx = nginx_binary()
    prefix = work / "nginx"
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    if brotli_static:
        conf.write_text(conf.read_text().replace("# brotli_static on;", "brotli_static on;"))
    main_conf = prefix / "nginx.conf"
    main_conf.write_text(NGINX_MAIN.format(
        prefix=prefix, conf=conf,
        modules=f"load_module {BROTLI_MODULE};" if brotli_static else "",
        # root's workers would otherwise run as nobody, who cannot read pytest's private tmp folder
        user="user root;" if os.geteuid() == 0 else ""), encoding="utf-8")
    argv = [nginx, "-c", str(main_conf), "-p", str(prefix), "-e", str(prefix / "error.log")]
    checked = subprocess.run([*argv, "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0 and "[warn]" not in checked.stderr, checked.stderr
    process = subprocess.Popen([*argv, "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            assert process.poll() is None, (prefix / "error.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "nginx did not start listening"
                time.sleep(0.02)
        yield port
    finally:
        process.terminate()
        process.wait(10)
