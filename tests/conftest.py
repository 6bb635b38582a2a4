"""Fixtures for the whole suite: settings, record stores, builds and the command line.

* `settings`: test settings, records in ``tmp_path/records``, output in ``tmp_path/out``;
* `write_record`: writes a valid, published record there; a test overrides one field;
* `read_fields`: reads a record from fields without touching the disk;
* `build`: runs `build_site` (optionally on another store or with other settings);
* `seeds_dir`, `corpus_dir` (skips when ../shared is absent), `runner` (click's CliRunner);
* `seeds_site`: the seeds built once for the session, for read-only checks;
* `answered_by`: runs a live-server test with Flask answering alone, then through the fast path
  (`fastproof.TwiceClient`); a module opts in with ``pytestmark = pytest.mark.usefixtures("answered_by")``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from feeds.build import BuildReport, build_site
from feeds.records import ReadResult, read_record
from feeds.settings import Settings, replace
from feeds.web import FastPath

from .fastproof import TwiceClient
from .feedcheck import BASE_URL, CORPUS, SEEDS, SITE_TITLE
from .stores import RecordWriter, Site, build_into, record_fields, record_text

hypothesis_settings.register_profile(
    "feeds", max_examples=150, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "feeds"))


@pytest.fixture(scope="session", autouse=True)
def _private_cache_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep anything a build caches out of the developer's ~/.cache."""
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if old is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = old


@pytest.fixture(autouse=True)
def _no_catalog_fallback(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail a test in which the catalog fell back from a damaged row, unless it damaged one on
    purpose (marked ``damages_catalog``): in the normal suite a fallback hides a bug of ours."""
    yield
    if request.node.get_closest_marker("damages_catalog") is None:
        fallbacks = [r.getMessage() for r in caplog.records
                     if r.name.startswith("feeds") and r.getMessage().startswith("fallback")]
        assert not fallbacks, f"the catalog fell back: {fallbacks}"


@pytest.fixture(autouse=True)
def _no_outside_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep FEEDS_* variables of the developer's shell out of every test."""
    for key in list(os.environ):
        if key.startswith("FEEDS_"):
            monkeypatch.delenv(key)


@pytest.fixture
def records_dir(tmp_path: Path) -> Path:
    """An empty record store folder."""
    folder = tmp_path / "records"
    folder.mkdir()
    return folder


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    """Where the static export goes (not created: the build creates it)."""
    return tmp_path / "out"


@pytest.fixture
def settings(records_dir: Path, out_dir: Path) -> Settings:
    """Test settings: the tmp store, the tmp output folder, a fixed base URL."""
    return Settings.make(records=str(records_dir), out=str(out_dir), base_url=BASE_URL,
                         site_title=SITE_TITLE)


@pytest.fixture
def seeds_dir() -> Path:
    """The repository's five seed records."""
    assert SEEDS.is_dir(), f"{SEEDS} is missing"
    return SEEDS


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The 674-record corpus in ../shared, or a clean skip when it is absent."""
    if not CORPUS.is_dir():
        pytest.skip(f"{CORPUS} is absent")
    return CORPUS


@pytest.fixture
def write_record(records_dir: Path) -> RecordWriter:
    """A factory writing record files into the tmp store (see `RecordWriter`)."""
    return RecordWriter(records_dir)


@pytest.fixture
def read_fields(settings: Settings) -> Callable[..., ReadResult]:
    """Read a record made of the minimal fields with overrides, in memory."""

    def read(_settings: Settings | None = None, /, **fields: Any) -> ReadResult:
        text = record_text(record_fields(**fields))
        return read_record("record.md", text.encode("utf-8"), _settings or settings)

    return read


@pytest.fixture
def read_text(settings: Settings) -> Callable[[str], ReadResult]:
    """Read a record file's exact text, in memory."""

    def read(text: str) -> ReadResult:
        return read_record("record.md", text.encode("utf-8"), settings)

    return read


@pytest.fixture
def build(settings: Settings) -> Callable[..., BuildReport]:
    """Run `build_site` with the test settings, optionally on another store or with overrides."""

    def run(records: Path | None = None, **overrides: Any) -> BuildReport:
        if records is not None:
            overrides["records"] = str(records)
        return build_site(replace(settings, **overrides) if overrides else settings)

    return run


@pytest.fixture(scope="session")
def seeds_site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """The seeds, built once per session; tests only read it."""
    return build_into(SEEDS, tmp_path_factory.mktemp("seeds") / "out")


@pytest.fixture(scope="session")
def corpus_site(corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Site:
    """The real corpus, built once per session; tests only read it."""
    return build_into(corpus_dir, tmp_path_factory.mktemp("corpus") / "out")


@pytest.fixture
def runner() -> CliRunner:
    """click's test runner for the `feeds` command line."""
    return CliRunner()


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run the test from an empty working directory (so no ./feeds.toml is picked up)."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    yield work


@pytest.fixture(params=["flask", "fast path"])
def answered_by(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Who answers the live server's requests: Flask alone, or the fast path in front of it (every
    GET and HEAD then asked until the fast path answers it, and checked to be answered the same)."""
    if request.param == "flask":
        monkeypatch.setattr(FastPath, "__call__", lambda self, environ, start: self._app(environ, start))
    else:
        monkeypatch.setattr(Flask, "test_client_class", TwiceClient)
    return str(request.param)
