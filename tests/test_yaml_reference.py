"""yaml-rs is only a faster way to PyYAML's reading: PyYAML stays the reference."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

import feeds.records
from feeds.records import read_record
from feeds.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / ".." / "shared" / "corpus" / "powerapps"
SETTINGS = Settings.make(cache_dir="off")


def _both(name: str, data: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    fast = read_record(name, data, SETTINGS)
    with monkeypatch.context() as patch:
        patch.setattr(feeds.records, "yaml_rs", None)
        reference = read_record(name, data, SETTINGS)
    return (fast.record, fast.problems, fast.unpublished), (
        reference.record, reference.problems, reference.unpublished)


def test_every_seed_and_corpus_record_reads_the_same_with_both_parsers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    files = sorted((ROOT / "seeds").iterdir())
    if CORPUS.is_dir():
        files += sorted(CORPUS.iterdir())
    for path in files:
        fast, reference = _both(path.name, path.read_bytes(), monkeypatch)
        assert fast == reference, path.name


SCALARS = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"[-+]?(0[0-9oxb]?[0-9_]*|[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?)", fullmatch=True),
    st.sampled_from(["yes", "no", "on", "off", "~", "null", "true", "False", "1:20", ".inf", "0x1F"]),
)


@hypothesis_settings(max_examples=300, deadline=None)
@given(title=SCALARS, excerpt=SCALARS, quality=SCALARS, topic=SCALARS, published=SCALARS)
def test_plain_scalars_read_the_same_with_both_parsers(
        title: str, excerpt: str, quality: str, topic: str, published: str) -> None:
    # Written unquoted where YAML allows it, so the two YAML versions get to type them.
    lines = [f"title: {title}" if _plain(title) else f"title: {yaml.safe_dump(title).strip()}",
             f"excerpt: {excerpt}" if _plain(excerpt) else "excerpt: x",
             f"quality: {quality}" if _plain(quality) else "quality: 1",
             f"published: {published}" if _plain(published) else "published: true",
             "publishedDateTime: 2021-03-04T05:06:07Z",
             "webUrl: https://example.org/a",
             f"topics: [{topic}]" if _plain(topic) and not set(",]") & set(topic) else "topics: []"]
    data = ("---\n" + "\n".join(lines) + "\n---\n").encode("utf-8")
    with pytest.MonkeyPatch.context() as patch:
        fast, reference = _both("r.md", data, patch)
    assert fast == reference


def _plain(text: str) -> bool:
    try:
        return yaml.safe_load(f"k: {text}") is not None and "\n" not in text and text.strip() == text
    except yaml.YAMLError:
        return False
