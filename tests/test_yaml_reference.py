"""yaml-rs is only a faster way to PyYAML's reading: PyYAML stays the reference."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

import feeds.frontmatter
from feeds.records import read_record
from feeds.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / ".." / "shared" / "corpus" / "powerapps"
SETTINGS = Settings.make(cache_dir="off")


def _both(name: str, data: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    fast = read_record(name, data, SETTINGS)
    with monkeypatch.context() as patch:
        patch.setattr(feeds.frontmatter, "yaml_rs", None)
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
# Plain scalars the two YAML versions type apart, and times whose ':00' must not count as one.
APART = ["1:20", "1:05", "=", "<<", "08", "010", "-017", "+010", "0o17", "0b11", "+0x1F", "0x_1F", "1_000",
         "1__0",
         "1e3", ".5", "0_7", "12:30:00", "2021-03-04T05:06:07Z", "10: 05",
         "!!binary aGk=", "!!str 010", "!!int 7", "!!float 1", "!custom x", "!!null", "!!bool yes"]


@pytest.mark.parametrize("value", APART)
@pytest.mark.parametrize("field", ["title", "quality", "heat", "excerpt", "published"])
def test_values_typed_apart_read_the_same_with_both_parsers(field: str, value: str) -> None:
    fields = {"title": "T", "published": "true", "publishedDateTime": "2021-11-14T15:16:17Z",
              "webUrl": "https://example.org/a", field: value}
    for text in (f"{field}: {value}", f"{field}: [{value}]", f"{field}:\n  - {value}"):
        lines = [f"{k}: {v}" for k, v in fields.items() if k != field] + [text]
        data = ("---\n" + "\n".join(lines) + "\n---\n").encode("utf-8")
        with pytest.MonkeyPatch.context() as patch:
            fast, reference = _both("r.md", data, patch)
        assert fast == reference, text
    # The whole front matter as one flow mapping with JSON-like keys, where ':' may touch the value.
    others = ",".join(f'"{k}":"{v}"' for k, v in fields.items() if k != field)
    for text in (f'{{{others},"{field}":{value}}}', f'{{{others}, "{field}": [ {value} ]}}'):
        data = ("---\n" + text + "\n---\n").encode("utf-8")
        with pytest.MonkeyPatch.context() as patch:
            fast, reference = _both("r.md", data, patch)
        assert fast == reference, text


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
    fast, reference = _read_both(lines)
    assert fast == reference


def _read_both(lines: list[str]) -> tuple[Any, Any]:
    """The front matter `lines` read with yaml-rs and with PyYAML alone."""
    data = ("---\n" + "\n".join(lines) + "\n---\n").encode("utf-8")
    with pytest.MonkeyPatch.context() as patch:
        return _both("r.md", data, patch)


def _plain(text: str) -> bool:
    try:
        return yaml.safe_load(f"k: {text}") is not None and "\n" not in text and text.strip() == text
    except yaml.YAMLError:
        return False


def test_ordinary_records_take_the_fast_parser() -> None:
    # The fast path is the point of yaml-rs: seeds and the real corpus, times and all, use it.
    files = sorted((ROOT / "seeds").iterdir())
    if CORPUS.is_dir():
        files += sorted(CORPUS.iterdir())[:200]
    fast = 0
    for path in files:
        text = path.read_text("utf-8").split("\n---", 1)[0].removeprefix("---\n")
        fast += feeds.frontmatter.fast_yaml(text, SETTINGS.max_yaml_depth) is not None
    assert fast >= 0.9 * len(files)


YAMLISH = st.text(alphabet=st.sampled_from(list("ab01_89:- \n\t[]{},&*!%|>@`'\"#?.eE+xo<=~\\é")), max_size=60)
LINES = st.lists(st.tuples(st.sampled_from(["title", "quality", "heat", "excerpt", "topics", "images",
                                            "published", "provider", "x"]), YAMLISH), max_size=6)


@hypothesis_settings(max_examples=int(os.environ.get("FEEDS_FUZZ_EXAMPLES", "400")), deadline=None)
@given(lines=LINES, indent=st.booleans())
def test_any_front_matter_reads_the_same_with_both_parsers(lines: list[tuple[str, str]],
                                                           indent: bool) -> None:
    # Differential fuzzing: whatever the text, the fast parser may only ever agree with PyYAML.
    body = ["title: T", "published: true", "publishedDateTime: 2021-11-14T15:16:17Z",
            "webUrl: https://example.org/a"]
    body += [f"{key}:{'  ' if indent else ' '}{value}" for key, value in lines]
    fast, reference = _read_both(body)
    if reference[0] is None and fast[0] is None:
        # Both refuse the record; what each names as the fault may differ (yaml-rs reads some
        # broken YAML as a mapping that then fails a field check), but both name one.
        assert any(p.is_error for p in fast[1]) == any(p.is_error for p in reference[1])
        assert fast[2] == reference[2]
    else:
        assert fast == reference


@pytest.mark.parametrize("form", ["? quality\n: 017", "? quality\n:  017", "{quality: 017}", "'quality':017",
                                  '"quality": -010', "images:\n  - {url: 'https://x.org/a', width: 0640}"])
def test_numbers_with_a_leading_zero_in_any_key_form_read_the_same(form: str) -> None:
    # YAML 1.1 reads 017 as octal (15), 1.2 as 17: written in any form a key may take, PyYAML decides.
    fast, reference = _read_both(["title: T", "published: true", "publishedDateTime: 2021-11-14T15:16:17Z",
                                  "webUrl: https://example.org/a", form])
    assert fast == reference


@pytest.mark.parametrize("digits", [101, 5000, 30_000])
@pytest.mark.parametrize("where", ["quality: {}", "excerpt: {}", "excerpt: 'a{}'", "x: [{}]"])
def test_long_runs_of_digits_read_the_same(digits: int, where: str) -> None:
    # Past 100 digits a number is kept as its text (PyYAML's reading); a long text is looked at again.
    padding = "excerpt2: '" + "word " * 5000 + "'"
    for lines in ([where.format("7" * digits)], [padding, where.format("7" * digits)]):
        fast, reference = _read_both(["title: T", "published: true",
                                      "publishedDateTime: 2021-11-14T15:16:17Z",
                                      "webUrl: https://example.org/a", *lines])
        assert fast == reference


# Found by a review: each read differently by yaml-rs and PyYAML, so each must go to PyYAML.
READ_APART = [
    "quality: _1", "heat: -_5", "quality: +_3", "quality: _5_2",
    "images:\n  - url: https://example.org/a.png\n    width: _640",
    "title: a\x01b", "title: a\x7fb", "title: a\x9fb", 'title: "a\ufffeb"',
    "title: a\u2028b", "title: a\x85b", 'title: "a\x85b"', "title: a \u2029 b", "\ufeffexcerpt: x",
    "topics: [?news]", "excerpt: [:x]", "excerpt: [a:]", "excerpt: {a: ?x}", 'excerpt: {"k"\n  : 5}',
]
WHOLE_FLOW = ['{{{others}, "quality" :010}}', '{{{others}, "quality" :-010}}', "{{{others}, 'heat' :0o17}}",
              '{{{others}, ? "quality" :010}}', '{{{others}, "excerpt" :&a x}}',
              '{{{others}, "excerpt" :!custom x}}', '{{{others}, "excerpt" :!!binary aGk=}}',
              "{{{others}, quality:}}"]


@pytest.mark.parametrize("line", READ_APART)
def test_text_the_two_parsers_read_apart_reads_as_pyyaml_reads_it(line: str) -> None:
    fast, reference = _read_both(["title: T", "published: true", "publishedDateTime: 2021-11-14T15:16:17Z",
                                  "webUrl: https://example.org/a", line])
    assert fast == reference


@pytest.mark.parametrize("form", WHOLE_FLOW)
def test_flow_mappings_the_two_parsers_read_apart_read_as_pyyaml_reads_them(form: str) -> None:
    others = '"title":"T","published":true,"publishedDateTime":"2021-11-14T15:16:17Z","webUrl":"https://e.org/a"'
    data = ("---\n" + form.format(others=others) + "\n---\n").encode("utf-8")
    with pytest.MonkeyPatch.context() as patch:
        fast, reference = _both("r.md", data, patch)
    assert fast == reference
