"""Every setting is documented in the README and by `feeds settings`, with its default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from feeds.cli import main
from feeds.errors import SettingsError
from feeds.settings import OPTIONS, load_settings

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.name)
def test_every_setting_is_in_the_readme_table_with_its_default(option: object) -> None:
    text = README.read_text(encoding="utf-8")
    row = f"| `{option.name}` | `{option.default!r}` |"  # type: ignore[attr-defined]
    assert row in text, f"README lacks the row for {option.name}: regenerate the settings table"


def test_environment_overrides_file_and_command_line_overrides_environment(tmp_path: Path) -> None:
    file = tmp_path / "feeds.toml"
    file.write_text('limit = 7\nsite_title = "From file"\n', encoding="utf-8")
    env = {"FEEDS_LIMIT": "9"}
    assert load_settings(file, environ={}).limit == 7
    assert load_settings(file, environ=env).limit == 9
    assert load_settings(file, environ=env, limit=3).limit == 3
    assert load_settings(file, environ=env).site_title == "From file"


@pytest.mark.parametrize("text", ['limit = "many"', "limit = 0", 'unknown = 1', 'base_url = "ftp://x/"',
                                  "not toml ["])
def test_bad_settings_files_are_refused_with_the_setting_named(tmp_path: Path, text: str) -> None:
    file = tmp_path / "feeds.toml"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings(file, environ={})
    assert str(file) in str(caught.value) or text.split()[0] in str(caught.value)


def test_feeds_settings_documents_what_the_readme_does(runner: CliRunner, in_tmp: Path) -> None:
    """`feeds settings` (which replaced the settings paragraph of `feeds --help`) and the README's
    table are made from the same Option table: same names, defaults and help."""
    result = runner.invoke(main, ["settings", "--json"])
    assert result.exit_code == 0, result.output
    text = README.read_text(encoding="utf-8")
    for row in json.loads(result.stdout):
        assert f"| `{row['name']}` | `{row['default']!r}` | {row['help']} |" in text, row
    assert [row["name"] for row in json.loads(result.stdout)] == [option.name for option in OPTIONS]
