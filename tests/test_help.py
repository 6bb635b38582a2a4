"""`--help` explains itself (issue 18): it fits the terminal, and the README's synopsis is what it says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from feeds.cli import main

from .feedcheck import REPO
from .test_cli import shown

README = Path(__file__).resolve().parents[1] / "README.md"
COMMANDS = sorted(main.commands)  # type: ignore[attr-defined]
# An option in a synopsis or a help page: its flag, and what it takes (a metavar in capitals) if anything.
OPTION = re.compile(r"(--[a-z][a-z-]*)(?: ([A-Z][A-Z/:_]*))?")


def synopsis() -> dict[str, str]:
    """The README's synopsis, by command: the text of its line and the lines continuing it."""
    section = README.read_text(encoding="utf-8").split("## Command line", 1)[1]
    block = section.split("```text\n", 1)[1].split("```", 1)[0]
    found: dict[str, str] = {}
    command = ""
    for line in block.splitlines():
        if line.startswith("feeds "):
            command = line.split()[1]
            found[command] = line
        else:
            assert line.startswith(" "), f"neither a command nor its continuation: {line}"
            found[command] += line
    return found


def help_of(runner: CliRunner, command: str, columns: int = 80) -> str:
    """`feeds COMMAND --help` as a terminal `columns` wide shows it."""
    result = runner.invoke(main, [command, "--help"], terminal_width=columns, max_content_width=columns)
    assert result.exit_code == 0, shown(result)
    return result.stdout


def options_of(command: click.Command) -> dict[str, str | None]:
    """Every option of `command` but --help, by flag (both of an on/off pair), and its metavar."""
    found: dict[str, str | None] = {}
    for param in command.params:
        if isinstance(param, click.Option):
            metavar = None if param.is_flag else param.metavar
            for flag in [*param.opts, *param.secondary_opts]:
                if flag.startswith("--"):
                    found[flag] = metavar
    return found


def test_the_readme_synopsis_names_every_command() -> None:
    assert sorted(synopsis()) == COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_of_the_readme_synopsis_is_in_help_with_what_it_takes(runner: CliRunner,
                                                                        command: str) -> None:
    text = " ".join(help_of(runner, command, 200).split())
    written = dict(OPTION.findall(synopsis()[command]))
    for flag, metavar in written.items():
        assert f"{flag} {metavar}".strip() in text, f"feeds {command} --help lacks {flag} {metavar}:\n{text}"
    offered = options_of(main.commands[command])  # type: ignore[attr-defined]
    assert written == {flag: metavar or "" for flag, metavar in offered.items()}, (
        f"the README's synopsis of feeds {command} and its options differ")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_says_what_it_takes_and_its_default(command: str) -> None:
    for param in main.commands[command].params:  # type: ignore[attr-defined]
        if not isinstance(param, click.Option) or (param.is_flag and not param.secondary_opts):
            continue  # a flag takes nothing and is off unless given
        assert param.is_flag or param.metavar, f"feeds {command} {param.opts[0]}: what does it take?"
        assert param.show_default or "[default: " in (param.help or ""), (
            f"feeds {command} {param.opts[0]}: what is its default?")


@pytest.mark.parametrize("columns", [60, 80, 120])
@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_no_help_line_is_longer_than_the_terminal(runner: CliRunner, command: str, columns: int) -> None:
    args = [command, "--help"] if command else ["--help"]
    result = runner.invoke(main, args, terminal_width=columns, max_content_width=columns)
    assert result.exit_code == 0, shown(result)
    long = [line for line in result.stdout.splitlines() if len(line) > columns]
    assert not long, f"feeds {command} --help at {columns} columns:\n" + "\n".join(long)


def test_help_follows_the_columns_variable(tmp_path: Path) -> None:
    """In a real process (click's test runner fixes the width at 80): COLUMNS narrows the help."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}
    done = subprocess.run([sys.executable, "-m", "feeds", "build", "--help"], cwd=tmp_path,
                          env={**env, "PYTHONPATH": str(REPO), "COLUMNS": "60"}, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert max(len(line) for line in done.stdout.splitlines()) <= 60, done.stdout


def test_the_group_help_no_longer_wraps_the_settings_into_a_paragraph(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0, shown(result)
    text = " ".join(result.stdout.split())
    assert "`feeds settings` shows each one" in text and "max_yaml_depth" not in text, shown(result)
