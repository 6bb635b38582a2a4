"""What the command line prints, and where: a `Voice` per run (--quiet, --verbose, --json), the
problem report, the progress bar, and the tables of ``feeds settings`` and ``feeds list``.

Standard output carries what a command is run for (its summary, its table, or its JSON alone);
standard error carries errors and warnings, so that ``2>/dev/null`` and ``| jq`` both work.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import click

from .catalog import Progress
from .errors import Problem
from .inventory import Listed

QUIET, NORMAL, VERBOSE = 0, 1, 2


@dataclass(frozen=True)
class Voice:
    """How much a command says. Errors always go to standard error. Quiet: nothing else (no
    warnings, no summary, no progress bar). Normal: warnings, the summary and, on a terminal, a
    progress bar. Verbose: also a line per file written, uploaded or deleted, or per record read.
    With `json` the one JSON document is all standard output holds: every other line goes to
    standard error."""

    level: int = NORMAL
    json: bool = False

    def say(self, text: str) -> None:
        """A summary line."""
        if self.level >= NORMAL:
            click.echo(text, err=self.json)

    def detail(self, text: str) -> None:
        """A line about one file or record, for --verbose."""
        if self.level >= VERBOSE:
            click.echo(text, err=self.json)

    def warn(self, text: str) -> None:
        """A warning, on standard error."""
        if self.level >= NORMAL:
            click.echo(f"warning: {text}", err=True)

    def error(self, text: str) -> None:
        """An error, on standard error, at every level."""
        click.echo(f"error: {text}", err=True)

    def document(self, data: Any) -> None:
        """The JSON document of a --json run, on one line of standard output."""
        click.echo(json.dumps(data, ensure_ascii=False))

    def report(self, problems: Iterable[Problem]) -> tuple[int, int]:
        """Print problems to standard error, errors first (warnings unless quiet); return (errors,
        warnings)."""
        problems = list(problems)
        errors = [p for p in problems if p.is_error]
        warnings = [p for p in problems if not p.is_error]
        for problem in errors:
            self.error(str(problem))
        for problem in warnings:
            self.warn(str(problem))
        return len(errors), len(warnings)

    @contextmanager
    def progress(self, length: Callable[[], int], label: str) -> Iterator[Progress | None]:
        """A progress bar on a terminal (standard error) unless quiet, nothing elsewhere."""
        if self.level < NORMAL or not sys.stderr.isatty():
            yield None
            return
        with click.progressbar(length=length(), label=label, file=sys.stderr) as bar:
            yield bar.update


def width() -> int:
    """The columns of the terminal (COLUMNS, else the terminal's, else 80)."""
    return shutil.get_terminal_size().columns


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> Iterator[str]:
    """Lines of an aligned table; the last column is left as long as it is."""
    rows = [list(header), *(list(row) for row in rows)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    for row in rows:
        yield "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]).rstrip()


def feed_table(feeds: Iterable[Listed]) -> Iterator[str]:
    """The lines ``feeds list`` prints: kind, key, entries, newest entry's date and the Atom URL."""
    return table(("kind", "key", "entries", "newest", "url"),
                 ((f.kind, f.key or "-", str(f.entries),
                   f.newest.strftime("%Y-%m-%d %H:%M") if f.newest else "-", f.urls["atom"])
                  for f in feeds))


def settings_lines(rows: Iterable[dict[str, Any]], columns: int) -> Iterator[str]:
    """The lines ``feeds settings`` prints for `rows` (as ``feeds settings --json`` has them): each
    setting as TOML (``name = value``) with where its value came from, then its help, wrapped to
    `columns`."""
    for row in rows:
        yield f"{row['name']} = {toml_value(row['value'])}  ({_origin(row['source'])})"
        ways = ", ".join(filter(None, [row["env"], row["option"]]))
        yield click.wrap_text(f"{row['help']} Set by: the settings file, {ways}.", columns,
                              initial_indent="    ", subsequent_indent="    ")


def toml_value(value: Any) -> str:
    """`value` as a settings file writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(value)


def _origin(source: str) -> str:
    """Where a value came from, as ``feeds settings`` says it."""
    return source if source == "default" else f"from {source}"
