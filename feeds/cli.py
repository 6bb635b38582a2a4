"""The command line: parses arguments, calls the library, turns errors into one line."""

from __future__ import annotations

import ctypes
import ipaddress
import json
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from contextlib import suppress
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click

from .build import NOTHING_PUBLISHED, BuildReport, build_site
from .catalog import Catalog, Counts, survey, with_catalog
from .console import NORMAL, QUIET, VERBOSE, Voice, feed_table, settings_lines, toml_value, width
from .errors import FeedsError, Problem, SettingsError
from .inventory import list_feeds
from .nginx import check_server_block, write_server_block
from .records import RECORD_SUFFIXES
from .settings import OPTIONS, OPTIONS_BY_NAME, Settings, env_name, explain_settings, load_settings, replace
from .text import HOST_NAME
from .websub import Notifier, Outcome, topic_urls

# The settings a command-line option sets for one run, with what it takes; each option's help and
# default are the setting's own (`OPTIONS`), so they are declared once.
FLAGS = {
    "records": ("--records", "DIR"),
    "out": ("--out", "DIR"),
    "base_url": ("--base-url", "URL"),
    "limit": ("--limit", "N"),
    "archive_size": ("--archive-size", "N"),
    "drafts": ("--drafts/--no-drafts", None),
    "precompress": ("--precompress/--no-precompress", None),
}

F = TypeVar("F", bound=Callable[..., Any])


def _setting(name: str, help: str | None = None, default: str | None = None) -> Callable[[F], F]:
    """The option that sets the setting `name` over the settings file and FEEDS_* variables; its help
    is the setting's (or `help`, what it means to this command) and its default honestly what it is:
    the settings' value (`default` when the command makes another one)."""
    option = OPTIONS_BY_NAME[name]
    flag, metavar = FLAGS[name]
    shown = default or f"from settings, {toml_value(option.default)}"
    return click.option(flag, name, metavar=metavar, type=option.type if option.type is int else None,
                        default=None, help=f"{help or option.help} [default: {shown}]")


def _settings_file(func: F) -> F:
    return click.option("--settings", "settings_file", metavar="FILE", type=click.Path(dir_okay=False),
                        help="Settings file (TOML). [default: $FEEDS_SETTINGS, else ./feeds.toml when "
                             "present]")(func)


def _loudness(func: F) -> F:
    """--quiet and --verbose (see `Voice`): a command makes its voice of them with `_voice`."""
    func = click.option("--verbose", "-v", is_flag=True,
                        help="Also a line per file written or removed, uploaded or deleted, or per "
                             "record read.")(func)
    return click.option("--quiet", "-q", is_flag=True,
                        help="Errors only: no warnings, summary or progress bar.")(func)


def _voice(quiet: bool, verbose: bool, as_json: bool = False) -> Voice:
    if quiet and verbose:
        raise click.UsageError("--quiet and --verbose contradict each other: give one")
    return Voice(QUIET if quiet else VERBOSE if verbose else NORMAL, as_json)


def _load(settings_file: str | None = None, **cli: Any) -> Settings:
    return load_settings(settings_file, **cli)


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


@click.group(epilog="Settings come from, weakest first: their defaults, a settings file (feeds.toml), "
                    "FEEDS_<NAME> environment variables and the options above. `feeds settings` "
                    "shows each one, its value, where the value came from and what it is for.")
@click.version_option(package_name="feeds")
def main() -> None:
    """Publish a folder of news records as Atom, RSS and JSON feeds."""


@main.command()
@_settings_file
@_setting("records")
@_setting("out")
@_setting("base_url")
@_setting("limit")
@_setting("archive_size")
@_setting("drafts")
@_setting("precompress")
@click.option("--nginx-conf", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write an nginx server block serving --out to this file. [default: none]")
@click.option("--strict", is_flag=True, help="Exit 1 when any record is skipped (the site is still written).")
@click.option("--watch", is_flag=True,
              help="Keep running: build again each time a record file changes (Ctrl-C stops).")
@click.option("--timings", is_flag=True, help="Also print the seconds each phase of the build took.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the summary as one JSON object on standard output, and nothing else there.")
@_loudness
def build(strict: bool, timings: bool, watch: bool, nginx_conf: Path | None, as_json: bool, quiet: bool,
          verbose: bool, **cli: Any) -> None:
    """Write every feed of the record store under --out."""
    voice = _voice(quiet, verbose, as_json)
    if watch and strict:
        raise click.UsageError("--strict ends a build with exit status 1 when a record is skipped, and a "
                               "watch does not end: use `feeds check` beside it, or drop one of them")
    try:
        settings = _load(**cli)
        if nginx_conf:
            check_server_block(nginx_conf, settings)  # refused before anything is built
        if watch:
            _watch(settings, timings, nginx_conf, voice)
            return
        with voice.progress(lambda: _count(settings.records), "reading records") as progress:
            report = build_site(settings, progress)
        if nginx_conf:
            write_server_block(nginx_conf, settings)
    except FeedsError as exc:
        raise click.ClickException(str(exc)) from None
    _built(report, timings, voice)
    out = os.path.realpath(settings.out)
    voice.say(f"feeds written to {out}/ (start with {os.path.join(out, 'feed.atom')})")
    _notify(settings, report.export.paths_written, voice)
    if nginx_conf:
        voice.say(f"nginx server block written to {nginx_conf} (set its listen and server_name)")
    if strict and report.counts.skipped:
        voice.error(f"{report.counts.skipped} record(s) skipped (--strict); fix them and build again")
        sys.exit(1)


def _built(report: BuildReport, timings: bool, voice: Voice) -> None:
    """A build's warnings and problems (on stderr), the files it wrote and removed (verbose), its
    summary or JSON document and, with `timings`, its phases."""
    for warning in report.warnings:
        voice.warn(warning)
    voice.report(report.problems)
    for path in report.export.paths_written:
        voice.detail(f"wrote {path}")
    for path in report.export.paths_removed:
        voice.detail(f"removed {path}")
    if voice.json:
        voice.document(report.as_json())
    else:
        voice.say(report.summary())
    if timings:
        voice.say("phases: " + ", ".join(f"{phase} {secs:.2f}s" for phase, secs in report.phases.items()))


def _telling(voice: Voice) -> Callable[[Outcome], None]:
    """What a hub's round of WebSub pings is reported with: what it was told, or why it was not."""
    def told(outcome: Outcome) -> None:
        if outcome.failed:
            voice.warn(f"websub: {outcome}")
        else:
            voice.say(f"websub: {outcome}")
    return told


def _notify(settings: Settings, changed: Iterable[str], voice: Voice,
            notifier: Notifier | None = None) -> None:
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
        voice.say("websub: no feed changed; no hub notified")
        return
    notifier = Notifier(settings.hubs, _telling(voice))
    notifier.publish(urls)
    if not notifier.wait(notifier.bound + notifier.timeout):  # (the round ends by itself within its bound)
        voice.warn("websub: the hubs did not answer in time; exiting without them")


def _watch(settings: Settings, timings: bool, nginx_conf: Path | None, voice: Voice) -> None:
    """Build, then build again after each change to the record folder, until Ctrl-C."""
    from .watch import watch  # the file watcher is only needed here

    if nginx_conf:
        write_server_block(nginx_conf, settings)
        voice.say(f"nginx server block written to {nginx_conf} (set its listen and server_name)")
    out = os.path.realpath(settings.out)
    first = True
    notifier = Notifier(settings.hubs, _telling(voice))

    def built(report: BuildReport) -> None:
        nonlocal first
        _built(report, timings, voice)
        _notify(settings, report.export.paths_written, voice, notifier)
        if first:
            voice.say(f"feeds written to {out}/; watching {os.path.realpath(settings.records)}/ "
                      "for changes (Ctrl-C stops)")
            first = False

    def failed(exc: FeedsError) -> None:
        voice.error(f"{exc} (the next change to a record builds again)")

    # SIGTERM (a service manager stopping it) lets the build under way finish; Ctrl-C stops at once
    # (an export is written whole or not at all).
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    with suppress(KeyboardInterrupt):
        watch(settings, built, failed, voice.warn, stop)
        notifier.wait(notifier.bound)  # the last rebuild's pings (Ctrl-C again stops at once)
    voice.say("stopped watching")


@main.command(short_help="List the record store's problems; exit 1 if a record is skipped.")
@_settings_file
@_setting("records")
@_setting("drafts")  # drafts are checked as a drafts build would publish them
@_loudness
def check(quiet: bool, verbose: bool, **cli: Any) -> None:
    """List every problem in the record store; exit 1 when a record would be skipped."""
    voice = _voice(quiet, verbose)
    try:
        settings = _load(**cli)

        def examine(catalog: Catalog) -> tuple[tuple[Problem, ...], Counts, list[tuple[str, str]]]:
            problems, counts = survey(catalog, settings)
            return problems, counts, catalog.fates() if verbose else []

        (problems, counts, fates), warning = with_catalog(settings, examine)
    except FeedsError as exc:
        raise click.ClickException(str(exc)) from None
    if warning:
        voice.warn(warning)
    for name, fate in fates:
        voice.detail(f"{fate}: {name}")
    errors, warnings = voice.report(problems)
    voice.say(f"checked {counts.files} records: {counts.published} publishable, "
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


@main.command(short_help="Upload the site under --out to an S3 bucket.")
@click.argument("target", metavar="s3://BUCKET/PREFIX")
@_settings_file
@_setting("out", help="Folder `feeds build` wrote the site to.")
@_setting("base_url", help="URL the site is served under: the feed URLs WebSub hubs are told of.")
@click.option("--endpoint-url", metavar="URL", callback=_endpoint,
              help="URL of an S3-compatible store other than AWS S3 (MinIO, Cloudflare R2, Backblaze "
                   "B2, …). [default: AWS S3]")
@click.option("--gzip", "gzipped", is_flag=True,
              help="Upload each file's .gz (from `feeds build --precompress`) as the file, with "
                   "Content-Encoding: gzip, for a CDN that unpacks it for clients without gzip.")
@click.option("--dry-run", is_flag=True, help="List what would be uploaded and deleted; change nothing.")
@_loudness
def publish(target: str, endpoint_url: str | None, gzipped: bool, dry_run: bool, quiet: bool, verbose: bool,
            **cli: Any) -> None:
    """Upload the site under --out to a bucket: the files that changed, then delete what it no longer has.

    Credentials and region are AWS's usual ones (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY,
    AWS_PROFILE, ~/.aws/config, an instance role; AWS_DEFAULT_REGION).
    """
    voice = _voice(quiet, verbose)
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
                voice.warn(warning)
            if dry_run:  # what it would do is what a dry run is asked for: listed unless quiet
                for line in publication.planned():
                    voice.say(line)
                voice.say(publication.summary())
                return
            with voice.progress(lambda: len(publication.uploads) + len(publication.deletes),
                                "publishing") as progress:
                report = publication.perform(progress)
    except FeedsError as exc:
        raise click.ClickException(str(exc)) from None
    for path in report.uploaded:
        voice.detail(f"uploaded {path}")
    for path in report.deleted:
        voice.detail(f"deleted {path}")
    voice.say(report.summary())
    _notify(settings, report.changed, voice)


def _few_arenas() -> None:
    """Two malloc arenas for the development server's thread per request (glibc gives each new
    thread one of up to 8 per core, and a server that starts thousands of threads grows on
    their fragments: +12 MB a minute under the soak)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return  # not glibc: its allocator has no such arenas
    libc.mallopt(-8, 2)  # M_ARENA_MAX


@main.command(short_help="Serve every feed live; record changes are picked up.")
@_settings_file
@_setting("records")
@_setting("base_url", default="from settings, else http://HOST:PORT/")
@_setting("limit")
@_setting("archive_size")
@_setting("drafts")
@click.option("--host", metavar="HOST", default="127.0.0.1", show_default=True, type=HOST,
              help="Interface to listen on (an IP address or host name).")
@click.option("--port", metavar="PORT", default=5000, show_default=True, type=click.IntRange(1, 65535),
              help="Port to listen on (1-65535).")
@click.option("--workers", metavar="N", type=click.IntRange(1, 256),
              help="Serve in production: this many worker processes of granian, a production HTTP "
                   "server (one or two per CPU core). [default: none: the development server]")
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
            counts, warning = prepare(settings)
            if warning:
                click.echo(f"warning: {warning}", err=True)
        else:
            app = create_app(settings)
            counts = app.extensions["feeds"].counts()
    except FeedsError as exc:
        raise click.ClickException(str(exc)) from None
    _few_arenas()
    click.echo(counts.summary() + (NOTHING_PUBLISHED if not counts.published else ""))
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


@main.command(name="settings", short_help="Show every setting, its value and where it came from.")
@_settings_file
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects, one per setting.")
def show_settings(settings_file: str | None, as_json: bool) -> None:
    """Show every setting: its value, where the value came from, and what it is for."""
    try:
        settings, sources = explain_settings(settings_file)
    except FeedsError as exc:
        raise click.ClickException(str(exc)) from None
    rows = [{"name": o.name, "value": getattr(settings, o.name), "default": o.default,
             "source": sources[o.name], "env": env_name(o),
             "option": FLAGS[o.name][0] if o.name in FLAGS else None, "help": o.help} for o in OPTIONS]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for line in settings_lines(rows, width()):
        click.echo(line)


@main.command(name="list", short_help="List every feed: kind, key, entries, newest, URL.")
@_settings_file
@_setting("records")
@_setting("base_url")
@_setting("drafts")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects, one per feed.")
def list_command(as_json: bool, **cli: Any) -> None:
    """List every feed: its kind, key, entries, newest entry's date and URL."""
    try:
        feeds, warning = list_feeds(_load(**cli))
    except FeedsError as exc:
        raise click.ClickException(str(exc)) from None
    if warning:
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        click.echo(json.dumps([feed.as_json() for feed in feeds], ensure_ascii=False, indent=2))
        return
    for line in feed_table(feeds):
        click.echo(line)
