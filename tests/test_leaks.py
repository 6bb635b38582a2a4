"""Nothing private gets out: no `secured` value, no unpublished record, anywhere.

"Anywhere" is every output file (read as a reader would, escapes undone),
every output path, and the stdout and stderr of `feeds build` and `feeds check`.
The needles come from the record files themselves: the seeds, the corpus
(when ../shared is present) and tests/data/secured_variants.md.
"""

from __future__ import annotations

import contextlib
import html
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from feeds.cli import main
from feeds.text import BadURL, clean_text, clean_url

from .feedcheck import DATA, front_matter, readable_text
from .stores import RecordWriter


def run(runner: CliRunner, *args: str) -> Result:
    """Run the CLI, which may exit 1 (check, for skipped records) but never crash."""
    result = runner.invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def everything_published(runner: CliRunner, records: Path, out: Path, *options: str) -> str:
    """All that a build of `records` shows anyone: files, paths, and the CLI's output."""
    build = run(runner, "build", "--records", str(records), "--out", str(out), *options)
    assert build.exit_code == 0, build.output
    check = run(runner, "check", "--records", str(records))
    parts = [build.stdout, build.stderr, check.stdout, check.stderr]
    for path in sorted(out.rglob("*")):
        parts.append(path.relative_to(out).as_posix())
        if path.is_file():
            parts.append(readable_text(path.name, path.read_bytes()))
    return "\n".join(parts)


def strings(value: Any) -> Iterator[str]:
    """Every string inside a YAML value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def secured_needles(files: Iterable[Path]) -> list[str]:
    """Pieces of every `secured` value in `files`: its start, middle and end."""
    needles = []
    for path in files:
        for value in strings(front_matter(path).get("secured")):
            for line in value.split():
                if len(line) >= 24:
                    middle = len(line) // 2
                    needles += [line[:24], line[middle:middle + 24], line[-24:]]
    return needles


def leaked(needles: Iterable[str], haystack: str) -> list[str]:
    """The needles found in the haystack."""
    return [needle for needle in needles if needle in haystack]


def unpublished_needles(files: Iterable[Path]) -> tuple[list[str], int]:
    """Titles and links of unpublished records that no published record also carries.

    Returns the needles and how many records gave some (a guard against a vacuous test).
    """
    published_text: list[str] = []
    unpublished: list[dict[str, Any]] = []
    for path in files:
        fields = front_matter(path)
        if fields.get("published") is True:
            raw = path.read_text(encoding="utf-8-sig")
            published_text += [raw, html.unescape(raw), html.unescape(html.unescape(raw))]
        else:
            unpublished.append(fields)
    shared = "\n".join(published_text)
    needles: list[str] = []
    records = 0
    for fields in unpublished:
        group: list[str] = []
        title, link = fields.get("title"), fields.get("webUrl") or fields.get("originalUrl")
        if isinstance(title, str) and len(title.strip()) >= 15:
            group += [title.strip(), html.unescape(title).strip(), clean_text(title)]
        if isinstance(link, str):
            group.append(link)
            with contextlib.suppress(BadURL):
                group.append(clean_url(link))
        if group and not any(needle in shared for needle in group):
            needles += sorted(set(group))
            records += 1
    return needles, records


# -- secured ------------------------------------------------------------------------------------


def test_no_secured_value_of_the_seeds_reaches_any_output(runner: CliRunner, seeds_dir: Path,
                                                          tmp_path: Path) -> None:
    needles = secured_needles(sorted(seeds_dir.iterdir()))
    assert len(needles) == 15
    assert leaked(needles, everything_published(runner, seeds_dir, tmp_path / "out")) == []
    # Even a preview of drafts, which shows unpublished records, never shows `secured`.
    drafts = everything_published(runner, seeds_dir, tmp_path / "drafts", "--drafts")
    assert leaked(needles, drafts) == []


def test_secured_in_odd_places_never_reaches_any_output(runner: CliRunner, seeds_dir: Path,
                                                        records_dir: Path, tmp_path: Path) -> None:
    for path in seeds_dir.iterdir():
        shutil.copy(path, records_dir / path.name)
    shutil.copy(DATA / "secured_variants.md", records_dir / "secured_variants.md")
    haystack = everything_published(runner, records_dir, tmp_path / "out")
    assert "Secrets in every corner" in haystack, "the record itself is published"
    assert "SECRET" not in haystack, [line for line in haystack.splitlines() if "SECRET" in line][:5]


def test_no_secured_value_of_the_corpus_reaches_any_output(runner: CliRunner, corpus_dir: Path,
                                                           tmp_path: Path) -> None:
    needles = secured_needles(sorted(corpus_dir.iterdir()))
    assert len(needles) == 3 * 674
    haystack = everything_published(runner, corpus_dir, tmp_path / "out")
    assert leaked(needles, haystack) == []


# -- unpublished records ---------------------------------------------------------------------------


def test_no_unpublished_seed_reaches_any_output(runner: CliRunner, seeds_dir: Path,
                                                tmp_path: Path) -> None:
    needles, records = unpublished_needles(sorted(seeds_dir.iterdir()))
    assert records == 3, "seeds 001, 003 and 004 are unpublished"
    haystack = everything_published(runner, seeds_dir, tmp_path / "out")
    assert leaked(needles, haystack) == []
    for absent in ("hrw.org", "predictiveanalyticsworld.com", "Human Rights Watch"):
        assert absent not in haystack, f"{absent} only has unpublished records"


def test_no_unpublished_corpus_record_reaches_any_output(runner: CliRunner, corpus_dir: Path,
                                                         tmp_path: Path) -> None:
    needles, records = unpublished_needles(sorted(corpus_dir.iterdir()))
    assert records > 200, f"only {records} unpublished records give needles"
    haystack = everything_published(runner, corpus_dir, tmp_path / "out")
    assert leaked(needles, haystack) == []


@pytest.mark.parametrize("flag", ["false", "'true'", "yes", "1", "null"])
def test_an_unpublished_records_own_topic_and_provider_are_never_mentioned(
        runner: CliRunner, write_record: RecordWriter, records_dir: Path, tmp_path: Path,
        flag: str) -> None:
    write_record("public.md")
    secret = write_record("zyxwv.md", title="Zyxwv classified programme revealed",
                          topics=["Zyxwv Classified Program"], webUrl="https://zyxwv.example/x",
                          provider={"name": "Zyxwv Agency", "domain": "zyxwv-classified.example"},
                          excerpt="Qwmnb excerpt text", published=None)
    secret.write_text(secret.read_text().replace("published: null", f"published: {flag}"))
    haystack = everything_published(runner, records_dir, tmp_path / "out")
    assert "A minimal record" in haystack
    for word in ("Zyxwv", "zyxwv", "Qwmnb"):
        assert word not in haystack.replace("zyxwv.md", ""), f"{word} leaked (published: {flag})"


def test_the_text_after_the_front_matter_never_reaches_any_output(
        runner: CliRunner, records_dir: Path, tmp_path: Path) -> None:
    shutil.copy(DATA / "secured_variants.md", records_dir / "secured_variants.md")
    haystack = everything_published(runner, records_dir, tmp_path / "out")
    assert "SECRET-BODY" not in haystack and "body is ignored" not in haystack
