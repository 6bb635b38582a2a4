"""The command line: parses arguments, calls the library, turns errors into one line."""

from __future__ import annotations

import ctypes
import ipaddress
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from .build import BuildReport, build_site
from .catalog import Catalog, Counts, Progress, with_catalog
from .errors import FeedsError, Problem, SettingsError
from .nginx import check_server_block, write_server_block
from .records import RECORD_SUFFIXES
from .settings import OPTIONS_BY_NAME, Settings, describe, load_settings, replace
from .text import HOST_NAME
from .websub import Notifier, Outcome, topic_urls

SETTINGS_HELP = "\n".join(f"  {name} (default {default}): {text}" for name, default, text in describe())


def _settings_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options every command shares; each overrides the settings file."""
    options = [
        click.option("--settings", "settings_file", type=click.Path(dir_okay=False),
                     help="Settings file (TOML); default ./feeds.toml when present."),
        click.option("--records", help="Folder of record files."),
        click.option("--base-url", help="Absolute URL the feeds are published under."),
        click.option("--limit", type=int, help="Most entries per feed."),
        click.option("--archive-size", type=int,
                     help="Most entries per archive page of older stories; 0 = no archives."),
        click.option("--drafts/--no-drafts", default=None,
                     help="Include unpublished records (preview only)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _load(**cli: Any) -> Settings:
    settings_file = cli.pop("settings_file", None)
    return load_settings(settings_file, **cli)


def _report(problems: Iterable[Problem]) -> tuple[int, int]:
    """Print problems to stderr, errors first; return (errors, warnings)."""
    problems = list(problems)
    errors = [p for p in problems if p.is_error]
    warnings = [p for p in problems if not p.is_error]
    for label, group in (("error", errors), ("warning", warnings)):
        for problem in group:
            click.echo(f"{label}: {problem}", err=True)
    return len(errors), len(warnings)


@contextmanager
def _progress(length: Callable[[], int], label: str) -> Iterator[Progress | None]:
    """A progress bar on a terminal (standard error), nothing elsewhere."""
    if not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=length(), label=label, file=sys.stderr) as bar:
        yield bar.update


def _count(folder: str) -> int:
    try:
        return sum(1 for p in Path(folder).iterdir() if p.suffix.lower() in RECORD_SUFFIXES)
    except OSError:
        return 0


class _Host(click.ParamType):  # type: ignore[type-arg]
    """An interface to listen on: an IPv4 or IPv6 address, or a host name."""

    name = "host"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip()
        try:
            return str(ipaddress.ip_address(text.strip("[]")))
        except ValueError:
            pass
        if not HOST_NAME.fullmatch(text.lower()):
            self.fail(f"{value!r} is not an IP address or a host name (like 127.0.0.1, ::1 or localhost)",
                      param, ctx)
        try:
            socket.getaddrinfo(text, None)
        except (OSError, UnicodeError):
            self.fail(f"{value!r} does not resolve to an address of this machine; give an IP address",
                      param, ctx)
        return text


HOST = _Host()


def _url_host(host: str) -> str:
    """`host` as it stands in a URL: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


@click.group(epilog="Settings:\n\n" + SETTINGS_HELP)
@click.version_option(package_name="feeds")
def main() -> None:
    """Publish a folder of news records as Atom, RSS and JSON feeds."""


@main.command()
@_settings_options
@click.option("--out", help="Folder to write the static site to.")
@click.option("--precompress/--no-precompress", default=None,
              help="Also write X.gz and X.br beside every feed and page (for nginx gzip_static).")
@click.option("--strict", is_flag=True, help="Exit 1 when any record is skipped (the site is still written).")
@click.option("--timings", is_flag=True, help="Also print the seconds each phase of the build took.")
@click.option("--watch", is_flag=True,
              help="Keep running: build again each time a record file changes (Ctrl-C stops).")
@click.option("--nginx-conf", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write an nginx server block serving --out to this file.")
def build(strict: bool, timings: bool, watch: bool, nginx_conf: Path | None, **cli: Any) -> None:
    """Write every feed of the record store under --out."""
    if watch and strict:
        raise click.UsageError("--strict ends a build with exit status 1 when a record is skipped, and a "
                               "watch does not end: use `feeds check` beside it, or drop one of them")
    try:
        settings = _load(**cli)
        if nginx_conf:
            check_server_block(nginx_conf, settings)  # refused before anything is built
        if watch:
            _watch(settings, timings, nginx_conf)
            return
        with _progress(lambda: _count(settings.records), "reading records") as progress:
            report = build_site(settings, progress)
        if nginx_conf:
            write_server_block(nginx_conf, settings)
    except FeedsError as exc:
        raise click.ClickException(str(exc)) from None
    _built(report, timings)
    out = os.path.realpath(settings.out)
    click.echo(f"feeds written to {out}/ (start with {os.path.join(out, 'feed.atom')})")
    _notify(settings, report.export.paths_written)
    if nginx_conf:
        click.echo(f"nginx server block written to {nginx_conf} (set its listen and server_name)")
    if strict and report.counts.skipped:
        click.echo(f"error: {report.counts.skipped} record(s) skipped (--strict); fix them and build again",
                   err=True)
        sys.exit(1)


def _built(report: BuildReport, timings: bool) -> None:
    """A build's warnings and problems (on stderr), its summary and, with `timings`, its phases."""
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    _report(report.problems)
    click.echo(report.summary())
    if timings:
        click.echo("phases: " + ", ".join(f"{phase} {secs:.2f}s" for phase, secs in report.phases.items()))


def _told(outcome: Outcome) -> None:
    """One line for one hub's round of WebSub pings: what it was told, or why it was not."""
    if outcome.failed:
        click.echo(f"warning: websub: {outcome}", err=True)
    else:
        click.echo(f"websub: {outcome}")


def _notify(settings: Settings, changed: Iterable[str], notifier: Notifier | None = None) -> None:
    """Ping the WebSub hubs with the feeds among the site paths whose bytes changed (a build's files
    written, a publish's objects uploaded): in the background for a watching build (`notifier`),
    else waited for (within the notifier's time bound) before exiting."""
    if not settings.hubs:
        return
    urls = topic_urls(settings, changed)
    if notifier is not None:
        notifier.publish(urls)
        return
    if not urls:
        click.echo("websub: no feed changed; no hub notified")
        return
    notifier = Notifier(settings.hubs, _told)
    notifier.publish(urls)
    if not notifier.wait(notifier.bound + notifier.timeout):  # (the round ends by itself within its bound)
        click.echo("warning: websub: the hubs did not answer in time; exiting without them", err=True)


def _watch(settings: Settings, timings: bool, nginx_conf: Path | None) -> None:
    """Build, then build again after each change to the record folder, until Ctrl-C."""
    from .watch import watch  # the file watcher is only needed here

    if nginx_conf:
        write_server_block(nginx_conf, settings)
        click.echo(f"nginx server block written to {nginx_conf} (set its listen and server_name)")
    out = os.path.realpath(settings.out)
    first = True
    notifier = Notifier(settings.hubs, _told)

    def built(report: BuildReport) -> None:
        nonlocal first
        _built(report, timings)
        _notify(settings, report.export.paths_written, notifier)
        if first:
            click.echo(f"feeds written to {out}/; watching {os.path.realpath(settings.records)}/ "
                       "for changes (Ctrl-C stops)")
            first = False

    def failed(exc: FeedsError) -> None:
        click.echo(f"error: {exc} (the next change to a record builds again)", err=True)

    # SIGTERM (a service manager stopping it) lets the build under way finish; Ctrl-C stops at once
    # (an export is written whole or not at all).
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    with suppress(KeyboardInterrupt):
        watch(settings, built, failed, lambda warning: click.echo(f"warning: {warning}", err=True), stop)
        notifier.wait(notifier.bound)  # the last rebuild's pings (Ctrl-C again stops at once)
    click.echo("stopped watching")


@main.command()
@_settings_options
def check(**cli: Any) -> None:
    """List every problem in the record store; exit 1 when a record would be skipped."""
    try:
        settings = _load(**cli)

        def examine(catalog: Catalog) -> tuple[tuple[Problem, ...], Counts]:
            listing = catalog.update(Path(settings.records), settings).listing
            with catalog.reading():
                problems = catalog.problems(listing)
                return problems, catalog.counts(problems)

        (problems, counts), warning = with_catalog(settings, examine)
    except FeedsError as exc:
        raise click.ClickException(str(exc)) from None
    if warning:
        click.echo(f"warning: {warning}", err=True)
    errors, warnings = _report(problems)
    click.echo(f"checked {counts.files} records: {counts.published} publishable, "
               f"{counts.unpublished} unpublished, {counts.duplicates} duplicates, "
               f"{counts.skipped} skipped; "
               f"{errors} errors, {warnings} warnings")
    sys.exit(1 if counts.skipped else 0)


def _endpoint(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    parts = urlsplit(value or "")
    if value is not None and (parts.scheme not in ("http", "https") or not parts.hostname):
        raise click.BadParameter(f"{value!r} is not an http(s) URL (like https://s3.example.net or "
                                 "http://127.0.0.1:9000)")
    return value


@main.command()
@_settings_options
@click.argument("target", metavar="s3://BUCKET/PREFIX")
@click.option("--out", help="Folder `feeds build` wrote the site to.")
@click.option("--endpoint-url", callback=_endpoint,
              help="URL of an S3-compatible store other than AWS S3 (MinIO, Cloudflare R2, Backblaze B2, …).")
@click.option("--gzip", "gzipped", is_flag=True,
              help="Upload each file's .gz (from `feeds build --precompress`) as the file, with "
                   "Content-Encoding: gzip, for a CDN that unpacks it for clients without gzip.")
@click.option("--dry-run", is_flag=True, help="List what would be uploaded and deleted; change nothing.")
def publish(target: str, endpoint_url: str | None, gzipped: bool, dry_run: bool, **cli: Any) -> None:
    """Upload the site under --out to a bucket: the files that changed, then delete what it no longer has.

    Credentials and region are AWS's usual ones (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY,
    AWS_PROFILE, ~/.aws/config, an instance role; AWS_DEFAULT_REGION).
    """
    try:  # boto3 is only needed here
        from .bucket import parse_target
        from .publish import publishing
    except ModuleNotFoundError as exc:
        if exc.name not in ("boto3", "botocore"):
            raise
        raise click.ClickException("feeds publish needs boto3: pip install 'feeds[s3]'") from None
    try:
        where = parse_target(target)
    except SettingsError as exc:
        raise click.BadParameter(str(exc), param_hint="'s3://BUCKET/PREFIX'") from None
    try:
        settings = _load(**cli)
        with publishing(where, settings, endpoint_url, gzipped) as publication:
            for warning in publication.warnings:
                click.echo(f"warning: {warning}", err=True)
            if dry_run:
                for line in publication.planned():
                    click.echo(line)
                click.echo(publication.summary())
                return
            with _progress(lambda: len(publication.uploads) + len(publication.deletes),
                           "publishing") as progress:
                report = publication.perform(progress)
    except FeedsError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(report.summary())
    _notify(settings, report.changed)


def _few_arenas() -> None:
    """Two malloc arenas for the development server's thread per request (glibc gives each new
    thread one of up to 8 per core, and a server that starts thousands of threads grows on
    their fragments: +12 MB a minute under the soak)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return  # not glibc: its allocator has no such arenas
    libc.mallopt(-8, 2)  # M_ARENA_MAX


@main.command()
@_settings_options
@click.option("--host", default="127.0.0.1", show_default=True, type=HOST,
              help="Interface to listen on (an IP address or host name).")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535),
              help="Port to listen on (1-65535).")
@click.option("--workers", type=click.IntRange(1, 256),
              help="Serve in production: this many worker processes of granian, a production HTTP "
                   "server (one or two per CPU core). Without it, the simple development server.")
def serve(host: str, port: int, workers: int | None, **cli: Any) -> None:
    """Serve every feed live, picking up record changes without a restart."""
    from .live import prepare
    from .production import serve_production
    from .web import create_app  # Flask and granian are only needed here

    try:
        settings = _load(**cli)
        if settings.base_url == OPTIONS_BY_NAME["base_url"].default and port != 5000:
            settings = replace(settings, base_url=f"http://{_url_host(host)}:{port}/")
        app = None
        if workers:  # the workers make their own apps, from a catalog read here first
            _, warning = prepare(settings)
            if warning:
                click.echo(f"warning: {warning}", err=True)
        else:
            app = create_app(settings)
    except FeedsError as exc:
        raise click.ClickException(str(exc)) from None
    _few_arenas()
    kind = f"{workers} granian worker(s)" if workers else "the development server"
    click.echo(f"serving {settings.records}/ at http://{_url_host(host)}:{port}/feed.atom with {kind} "
               f"(links use {settings.base_url}); Ctrl-C stops")
    if app is None:
        try:
            serve_production(settings, host, port, workers or 1)
        except FeedsError as exc:
            raise click.ClickException(str(exc)) from None
    else:
        app.run(host=host, port=port, threaded=True, use_reloader=False, debug=False)
