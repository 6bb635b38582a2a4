"""One exception tree for feeds; the CLI and the web app translate it at their edge.

    FeedsError
    ├── SettingsError   a setting is missing, mistyped or out of range
    ├── StoreError      the record folder itself cannot be read
    ├── ExportError     the output folder cannot be written
    ├── CacheBusy       another process held the record cache for longer than we wait
    ├── ServeError      the live server cannot listen where it was told to
    └── PublishError    the static export cannot be published to the bucket

Problems with single records are not exceptions: a bad record is skipped and
reported as a `Problem` (file, field, message) so that the rest of the store
is still published.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class FeedsError(Exception):
    """Base class of every error feeds raises on purpose."""


class SettingsError(FeedsError):
    """A setting is missing, mistyped or out of range."""


class StoreError(FeedsError):
    """The record folder cannot be read at all."""


class ExportError(FeedsError):
    """The output folder cannot be written; the previous output is left intact."""


class CacheBusy(FeedsError):
    """Another process held the record cache for longer than a build waits for it."""


class ServeError(FeedsError):
    """The live server cannot listen on the address and port it was given."""


class PublishError(FeedsError):
    """The export cannot be published to the bucket (none there, credentials refused, no network);
    what the bucket held stays a consistent site, and the next publish completes it."""


class Severity(StrEnum):
    """How bad a record problem is: an error skips the record, a warning does not."""

    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with one record, named by file and field, with the fix."""

    file: str
    field: str
    message: str
    severity: Severity = Severity.WARNING

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}"

    @property
    def is_error(self) -> bool:
        """True when the problem kept the record out of every feed."""
        return self.severity is Severity.ERROR


def printable(name: str, limit: int = 200) -> str:
    """A name (a file name, a record's key) safe to print on one report line: ASCII, every control
    character escaped, bytes that are not UTF-8 shown as ``\\xff``, cut to `limit` characters."""
    text = name.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace")
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def skipped(problems: Iterable[Problem]) -> int:
    """How many record files these problems kept from being published (those with an error)."""
    return len({p.file for p in problems if p.is_error})
