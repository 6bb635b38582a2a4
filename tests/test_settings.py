"""Settings: declared once with defaults and help, layered file < environment < command line,
and documented in the README (a test fails on an undocumented one)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from feeds.errors import SettingsError
from feeds.records import read_record
from feeds.settings import OPTIONS, Option, Settings, load_settings

from .feedcheck import REPO

README = REPO / "README.md"


def readme() -> str:
    """The README's text; the issue requires one."""
    assert README.is_file(), "README.md is missing"
    return README.read_text(encoding="utf-8")


@pytest.mark.parametrize("option", OPTIONS, ids=[o.name for o in OPTIONS])
def test_every_setting_is_in_the_readme_with_its_default(option: Option) -> None:
    name, default = option.name, option.default
    rows = [line for line in readme().splitlines() if line.startswith(f"| `{name}` |")]
    assert rows, f"README.md does not document the setting {name}"
    assert f"`{default!r}`" in rows[0], f"README.md gives another default for {name}: {rows[0]}"


def test_the_readme_record_example_is_a_published_record() -> None:
    blocks = re.findall(r"```yaml\n(---\n.*?\n---\n)```", readme(), re.DOTALL)
    assert blocks, "README.md has no record example"
    result = read_record("README.md", blocks[0].encode("utf-8"), Settings.make())
    assert result.record is not None, [str(p) for p in result.problems]
    assert [p for p in result.problems if p.is_error] == []
    assert "secured" not in repr(result.record)


def test_defaults() -> None:
    settings = Settings.make()
    assert (settings.site_title, settings.limit, settings.records, settings.out, settings.drafts) == (
        "feeds", 50, "seeds", "public", False)
    assert settings.base_url.endswith("/")


def test_the_base_url_always_ends_with_a_slash() -> None:
    settings = Settings.make(base_url="https://news.example.org/sub")
    assert settings.base_url == "https://news.example.org/sub/"
    assert settings.url("topics/ai.atom") == "https://news.example.org/sub/topics/ai.atom"


@pytest.mark.parametrize(("name", "value"), [
    ("base_url", "ftp://example.org/"), ("base_url", "/relative/"), ("base_url", "https://x.org/?q=1"),
    ("limit", 0), ("limit", "many"), ("limit", True), ("site_title", "  "), ("drafts", "perhaps"),
    ("colour", "blue"),
])
def test_bad_settings_are_refused_naming_the_setting(name: str, value: object) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.make(**{name: value})


def test_file_then_environment_then_command_line(tmp_path: Path) -> None:
    path = tmp_path / "feeds.toml"
    path.write_text('site_title = "From file"\nlimit = 7\nout = "file-out"\nlanguage = "de"\n',
                    encoding="utf-8")
    settings = load_settings(path, environ={"FEEDS_LIMIT": "8", "FEEDS_OUT": "env-out"},
                             out="cli-out", limit=None)
    assert (settings.site_title, settings.language) == ("From file", "de")
    assert settings.limit == 8, "the environment beats the file"
    assert settings.out == "cli-out", "the command line beats the environment"


def test_the_settings_file_is_found_in_the_working_directory(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "feeds.toml").write_text('site_title = "Here"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert load_settings(environ={}).site_title == "Here"


def test_a_named_settings_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"missing\.toml"):
        load_settings(tmp_path / "missing.toml", environ={})
