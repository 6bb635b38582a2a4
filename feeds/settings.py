"""Settings: declared once, as data, with their defaults and help text.

Sources, weakest first: the defaults below, the settings file (``feeds.toml``
in the working directory, or the file named by ``--settings`` or
``FEEDS_SETTINGS``), environment variables ``FEEDS_<NAME>``, and the command
line.  One frozen `Settings` object is passed explicitly to every stage.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import SettingsError

SETTINGS_FILE = "feeds.toml"


@dataclass(frozen=True)
class Option:
    """One setting: its name, type, default and what it is for."""

    name: str
    type: type
    default: Any
    help: str
    minimum: int | None = None


OPTIONS: tuple[Option, ...] = (
    Option("site_title", str, "feeds", "Site title; every feed title starts with it."),
    Option("base_url", str, "http://127.0.0.1:5000/",
           "Absolute http(s) URL the feeds are published under; every link is built from it."),
    Option("language", str, "en", "Language of the feeds (RSS <language>, Atom xml:lang)."),
    Option("limit", int, 50, "Most entries in one feed (newest first).", minimum=1),
    Option("archive_size", int, 100,
           "Most entries in one archive document or page of older stories (RFC 5005); 0 = no archives.",
           minimum=0),
    Option("records", str, "seeds", "Folder of record files (*.md, *.txt)."),
    Option("out", str, "public", "Folder the static export is written to."),
    Option("stylesheet", bool, True,
           "Atom and RSS name /feed.xsl (written with the site), so a browser shows a feed as a page; "
           "off = no stylesheet."),
    Option("drafts", bool, False, "Also publish records that are not `published: true` (preview only)."),
    Option("precompress", bool, False,
           "Also write X.gz and X.br beside every feed and page, for servers that send them as they are."),
    Option("cache_dir", str, "",
           "Folder of the record cache; empty = $XDG_CACHE_HOME/feeds (~/.cache/feeds); 'off' = no cache."),
    Option("jobs", int, 0, "Processes that parse a cold store; 0 = one per CPU core.", minimum=0),
    Option("max_age", int, 300, "Seconds readers and proxies may cache a live response (Cache-Control).",
           minimum=0),
    Option("max_limit", int, 500, "Largest ?limit= a live request may ask for.", minimum=1),
    Option("body_cache_bytes", int, 64 * 1024 * 1024,
           "Bytes of rendered bodies each live server process keeps (least recently used go first).",
           minimum=0),
    Option("max_record_bytes", int, 1_048_576, "Largest record file read; larger ones are skipped.",
           minimum=1),
    Option("max_title_chars", int, 500, "Longest title kept; longer ones are cut at a word.",
           minimum=10),
    Option("max_excerpt_chars", int, 2_000, "Longest excerpt kept; longer ones are cut at a word.",
           minimum=10),
    Option("max_topic_chars", int, 80, "Longest topic name kept; longer ones are dropped.",
           minimum=2),
    Option("max_topics", int, 20, "Most topics kept per record.", minimum=1),
    Option("max_related", int, 20, "Most related-coverage items kept per record.", minimum=0),
    Option("max_yaml_depth", int, 8, "Deepest nesting of YAML lists and mappings accepted.",
           minimum=2),
    Option("top_heat", int, 90,
           "Heat at which a story enters the top stories feeds (/top.atom, /topics/<slug>/top.atom).",
           minimum=0),
    Option("hub", str, "",
           "WebSub hub URL(s), space-separated: feeds link to them (rel=\"hub\") and a build or the live "
           "server pings them with the feeds that changed; empty = no WebSub."),
)

OPTIONS_BY_NAME = {o.name: o for o in OPTIONS}
_BY_NAME = OPTIONS_BY_NAME


@dataclass(frozen=True)
class Settings:
    """Every setting of a run; build with `load_settings` or `Settings.make`."""

    site_title: str
    base_url: str
    language: str
    limit: int
    archive_size: int
    records: str
    out: str
    stylesheet: bool
    drafts: bool
    precompress: bool
    cache_dir: str
    jobs: int
    max_age: int
    max_limit: int
    body_cache_bytes: int
    max_record_bytes: int
    max_title_chars: int
    max_excerpt_chars: int
    max_topic_chars: int
    max_topics: int
    max_related: int
    max_yaml_depth: int
    top_heat: int
    hub: str

    @classmethod
    def make(cls, **overrides: Any) -> Settings:
        """Defaults with `overrides` applied and checked."""
        values = {o.name: o.default for o in OPTIONS}
        for name, raw in overrides.items():
            values[name] = _coerce(_option(name), raw, "argument")
        return cls(**_checked(values))

    def url(self, path: str) -> str:
        """The absolute URL of a site path such as ``topics/ai.atom``."""
        return self.base_url + path.lstrip("/")

    @property
    def hubs(self) -> tuple[str, ...]:
        """The WebSub hubs the feeds name (the `hub` setting, split); empty for none."""
        return tuple(self.hub.split())


def _option(name: str, source: str = "") -> Option:
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(sorted(_BY_NAME))
        where = f"{source}: " if source else ""
        raise SettingsError(f"{where}unknown setting {name!r}; known settings: {known}") from None


def _coerce(option: Option, raw: Any, source: str) -> Any:
    """Turn a raw value (TOML, environment or CLI) into the option's type."""
    where = f"{option.name} (from {source})"
    if option.type is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
        raise SettingsError(f"{where}: expected true or false, got {raw!r}")
    if option.type is int:
        if isinstance(raw, bool):
            raise SettingsError(f"{where}: expected a whole number, got {raw!r}")
        try:
            value = int(str(raw).strip()) if not isinstance(raw, int) else raw
        except ValueError:
            raise SettingsError(f"{where}: expected a whole number, got {raw!r}") from None
        if option.minimum is not None and value < option.minimum:
            raise SettingsError(f"{where}: must be at least {option.minimum}, got {value}")
        return value
    if not isinstance(raw, str):
        raise SettingsError(f"{where}: expected text, got {raw!r}")
    return raw


def _checked(values: dict[str, Any]) -> dict[str, Any]:
    base = str(values["base_url"]).strip()
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise SettingsError(
            f"base_url: {base!r} is not an absolute http(s) URL; "
            "set it like https://news.example.org/ (no query or fragment)"
        )
    values["base_url"] = base if base.endswith("/") else base + "/"
    for hub in str(values["hub"]).split():
        parts = urlsplit(hub)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
            raise SettingsError(f"hub: {hub!r} is not an absolute http(s) URL; set it like "
                                "https://hub.example.org/ (several hubs: separated by spaces)")
    if not str(values["site_title"]).strip():
        raise SettingsError("site_title: must not be empty")
    for name, what in (("records", "the folder of record files"), ("out", "the folder to write the site to")):
        if not str(values[name]).strip():
            raise SettingsError(f"{name}: is empty; name {what} (--{name} DIR)")
    return values


def read_settings_file(path: Path) -> dict[str, Any]:
    """The settings in a TOML file: top-level keys or a ``[feeds]`` table."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read the settings file ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: not a valid TOML settings file ({exc})") from None
    table = data.get("feeds", data)
    if not isinstance(table, dict):
        raise SettingsError(f"{path}: [feeds] must be a table of settings")
    for name in table:
        _option(name, str(path))
    return table


def load_settings(
    settings_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    **cli: Any,
) -> Settings:
    """Defaults, then the settings file, then FEEDS_* variables, then `cli` (None = unset)."""
    return explain_settings(settings_file, environ, **cli)[0]


def explain_settings(
    settings_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    **cli: Any,
) -> tuple[Settings, dict[str, str]]:
    """The settings `load_settings` gives, and where each one's value came from: ``default``, the
    settings file's path, a ``FEEDS_*`` variable or ``command line`` (for ``feeds settings``)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {o.name: o.default for o in OPTIONS}
    sources = dict.fromkeys(values, "default")
    chosen = settings_file or env.get("FEEDS_SETTINGS")
    path = Path(chosen) if chosen else Path(SETTINGS_FILE)
    if chosen or path.is_file():
        for name, raw in read_settings_file(path).items():
            values[name], sources[name] = _coerce(_option(name), raw, str(path)), str(path)
    for option in OPTIONS:
        key = env_name(option)
        if key in env:
            values[option.name], sources[option.name] = _coerce(option, env[key], key), key
    for name, raw in cli.items():
        if raw is not None:
            values[name], sources[name] = _coerce(_option(name), raw, "command line"), "command line"
    return Settings(**_checked(values)), sources


def env_name(option: Option) -> str:
    """The environment variable that sets `option`: ``FEEDS_<NAME>``."""
    return "FEEDS_" + option.name.upper()


def replace(settings: Settings, **changes: Any) -> Settings:
    """A copy of `settings` with `changes` applied and checked."""
    values = dataclasses.asdict(settings)
    for name, raw in changes.items():
        values[name] = _coerce(_option(name), raw, "argument")
    return Settings(**_checked(values))
