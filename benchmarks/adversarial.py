"""How long one hostile record takes to read: a family of generated 1 MB records, every text field.

Each record is a valid, published record of the seed format whose one field
holds about 1 MB (the default `max_record_bytes`) of a pattern chosen to make
text handling go back over its input: unclosed tags and attributes, comments,
entity storms, iframes, long words, deep brackets, mojibake, and so on.  Each
record is read as `feeds build` reads it (from its file, through
`feeds.store.read_file`), `--runs` times; the table gives the median per
record, the worst first.  The target: the worst under 1 s.

    .venv/bin/python benchmarks/adversarial.py                 # table on stdout
    .venv/bin/python benchmarks/adversarial.py --write-docs  # and into docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from report import write_section  # noqa: E402

from feeds.catalog.scan import read_file, scan  # noqa: E402
from feeds.settings import Settings  # noqa: E402

START, END = "<!-- adversarial:start -->", "<!-- adversarial:end -->"
TARGET_SECONDS = 1.0
RECORD_BYTES = 1_000_000  # what the pattern fills; the record stays under the 1 MiB default limit

class Raw(str):
    """A value written into the YAML as it is (a number), not as a quoted string."""


# Each family: a unit repeated to fill the field (or a function of the size that builds the value).
FAMILIES: dict[str, str | Callable[[int], str]] = {
    "unclosed tags": "<a ",
    "tiny tags": "<b>",
    "break tags": "<p>",
    "one tag with many attributes": lambda n: "<iframe" + " a" * (n // 2) + ">",
    "unclosed attributes": "<a b='",
    "unquoted attributes": "<a b=c d=",
    "double-quoted attributes": '<a title="x',
    "unclosed comments": "<!-- ",
    "comment ends": "--!> -->",
    "bogus comments": "<! <? </",
    "lone brackets": "< <",
    "end tags": "</a </",
    "script tags": "<script>",
    "unclosed script": lambda n: "<script>" + "x" * n,
    "template nesting": "<template><object>",
    "iframes": "<iframe ",
    "iframe src": "<iframe src='https://www.youtube.com/embed/../",
    "entity storm": "&amp;",
    "numeric entities": "&#38;#38;",
    "entity fragments": "&#&x&amp",
    "ampersands": "& &",
    "long word": "a",
    "long word, non-ASCII": "é",
    "white space": " \t",
    "deep brackets": "[{(<",
    "open brackets": "[",
    "mojibake": "Ã©â€œ",
    "mojibake pairs": "Â\x80",
    "C1 controls": "\x85\x9f",
    "combining marks": "e\u0301\u0302",
    "illegal XML characters": "\x01\ufffe",
    "URL percent storm": "%",
    "URL entity storm": "&#038;",
    "dot segments": "/..",
    "long number": lambda n: Raw("9" * n),
    "long negative number": lambda n: Raw("-" + "9" * (n - 1)),
}
def _joined(prefix: str, value: str) -> str:
    """`value` after `prefix`, still `Raw` (unquoted) if it was."""
    return Raw(prefix + value) if isinstance(value, Raw) else prefix + value


# (field, how the value goes into the record's fields)
FIELDS: dict[str, Callable[[str], dict[str, object]]] = {
    "title": lambda v: {"title": v},
    "excerpt": lambda v: {"excerpt": v},
    "featuredContent": lambda v: {"type": "video", "featuredContent": v},
    "provider.name": lambda v: {"provider": {"name": v, "domain": "example.com"}},
    "provider.domain": lambda v: {"provider": {"name": "Example", "domain": v}},
    "topics": lambda v: {"topics": [v]},
    "related.title": lambda v: {"related": [{"title": v, "webUrl": "https://example.org/r"}]},
    "related.webUrl": lambda v: {"related": [{"title": "Related",
                                              "webUrl": _joined("https://example.org/", v)}]},
    "webUrl": lambda v: {"webUrl": _joined("https://example.com/", v)},
    "images.url": lambda v: {"images": [{"url": _joined("https://example.com/", v), "width": 1,
                                         "height": 1}]},
    "publishedDateTime": lambda v: {"publishedDateTime": _joined("2021-03-04T05:06:07Z", v)},
    "quality": lambda v: {"quality": v},
    "heat": lambda v: {"heat": v},
    "images.width": lambda v: {"images": [{"url": "https://example.com/i.png", "width": v, "height": 1}]},
}
BASE: dict[str, object] = {
    "title": "An adversarial record",
    "publishedDateTime": "2021-03-04T05:06:07Z",
    "webUrl": "https://example.com/adversarial",
    "published": True,
    "provider": {"name": "Example", "domain": "example.com"},
    "topics": ["Testing"],
}


def value_of(family: str, size: int) -> str:
    """The field value of `family`, about `size` characters long."""
    unit = FAMILIES[family]
    if callable(unit):
        return unit(size)
    return (unit * (size // len(unit) + 1))[:size]


def yaml_value(value: object) -> str:
    """`value` as YAML in flow style: strings as JSON (valid YAML), `Raw` as it is."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {yaml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(yaml_value(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def record(family: str, field: str, size: int = RECORD_BYTES) -> bytes:
    """A record whose `field` holds `family`'s pattern, its file under about `size` bytes.

    Fields are written as JSON (valid YAML): escapes can make a value longer
    than its characters, so the value is shortened until the file fits.
    """
    chars = size
    while True:
        fields = {**BASE, **FIELDS[field](value_of(family, chars))}
        data = ("---\n" + "".join(f"{k}: {yaml_value(v)}\n" for k, v in fields.items())
                + "---\n").encode("utf-8")
        if len(data) <= size + 4096:
            return data
        chars = chars * size // len(data) - 64


def time_reads(folder: Path, runs: int) -> list[tuple[str, float, str]]:
    """(file name, median seconds, outcome) of reading every record in `folder`."""
    settings = Settings.make(records=str(folder))
    entries, _ = scan(folder)
    results = []
    for entry in entries:
        seconds = []
        outcome = ""
        for _ in range(runs):
            started = time.perf_counter()
            result = read_file(entry, settings)
            seconds.append(time.perf_counter() - started)
            errors = [p for p in result.problems if p.is_error]
            outcome = f"skipped: {errors[0].field}" if errors else "published"
        results.append((entry.name, statistics.median(seconds), outcome))
    return results


def table(results: list[tuple[str, float, str]], labels: dict[str, tuple[str, str]], runs: int) -> str:
    """The Markdown report: the machine, the worst records, and the worst per family."""
    results = sorted(results, key=lambda r: -r[1])
    worst = results[0]
    load = os.getloadavg()
    lines = [
        "### Adversarial records",
        "",
        f"- {len(results)} records of about 1 MB ({len(FAMILIES)} patterns x {len(FIELDS)} fields), "
        f"each read {runs} times from its file; median seconds per record",
        f"- {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"feeds at `{_commit()}`, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        f"- worst: **{worst[1]:.3f} s** ({labels[worst[0]][0]} in `{labels[worst[0]][1]}`); "
        f"target under {TARGET_SECONDS:.0f} s: **{'met' if worst[1] < TARGET_SECONDS else 'not met'}**",
        "",
        "| pattern | worst field | seconds | outcome | all fields, median |",
        "| --- | --- | ---: | --- | ---: |",
    ]
    by_family: dict[str, list[tuple[str, float, str]]] = {}
    for name, seconds, outcome in results:
        by_family.setdefault(labels[name][0], []).append((labels[name][1], seconds, outcome))
    for family, rows in sorted(by_family.items(), key=lambda item: -item[1][0][1]):
        field, seconds, outcome = rows[0]
        median = statistics.median(r[1] for r in rows)
        lines.append(f"| {family} | `{field}` | {seconds:.3f} | {outcome} | {median:.3f} |")
    return "\n".join(lines)


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="reads of each record; the table gives medians")
    ap.add_argument("--size", type=int, default=RECORD_BYTES, help="bytes of each record")
    ap.add_argument("--only", default="", help="comma-separated patterns to run (default: all)")
    ap.add_argument("--write-docs", action="store_true",
                    help=f"write the table between {START} and {END} in docs/benchmarks.md")
    args = ap.parse_args()
    families = [f for f in FAMILIES if not args.only or f in args.only.split(",")]
    with tempfile.TemporaryDirectory(prefix="feeds-adversarial-") as tmp:
        folder = Path(tmp)
        labels: dict[str, tuple[str, str]] = {}
        for i, family in enumerate(families):
            for j, field in enumerate(FIELDS):
                name = f"r{i:02d}-{j:02d}.md"
                (folder / name).write_bytes(record(family, field, args.size))
                labels[name] = (family, field)
        results = time_reads(folder, args.runs)
    text = table(results, labels, args.runs)
    print(text)
    if args.write_docs:
        written = write_section(REPO / "docs" / "benchmarks.md", text, REPO / "benchmarks" / "ADVERSARIAL.md",
                                START, END)
        print(f"wrote {written}")


if __name__ == "__main__":
    main()
