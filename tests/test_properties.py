"""Property-based tests (hypothesis): no text a record holds can break a feed.

Records are written the way a person or a tool would write them, through
``yaml.safe_dump`` of a mapping, so any text YAML can carry is fair game
(control characters, non-characters, BOMs, line separators; not surrogates,
which UTF-8 YAML cannot hold).  Each record then either publishes, and every
feed it lands in is well-formed XML or valid JSON that gives the record's
text back exactly, or is skipped cleanly with an error naming a field.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from feeds.records import ReadResult, read_record
from feeds.render import FORMATS, feed_path, render_feed
from feeds.settings import Settings
from feeds.text import BadURL, clean_text, clean_url, topic_slug

from .feedcheck import BASE_URL, check_feed, parse_xml
from .stores import plan_records, record_fields, record_text

SETTINGS = Settings.make(base_url=BASE_URL, records="unused", out="unused")

# Any character UTF-8 text (and so YAML) can hold.
ANY_CHAR = st.characters(exclude_categories=["Cs"])
ANY_TEXT = st.text(ANY_CHAR, max_size=120)
# Text whose exact words must come back: printable ASCII but markup and entity starters,
# and a few non-Latin-1 letters and punctuation that never look like mojibake.
PLAIN_CHAR = st.one_of(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="&<>"),
    st.sampled_from(list("αβγΩЖ東京日本😀–—“”‘’…€")),
)
PLAIN_TEXT = st.text(PLAIN_CHAR, min_size=1, max_size=80).filter(lambda s: s.strip() != "")
XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def read(fields: dict[str, Any]) -> ReadResult:
    """Read a record written with yaml.safe_dump from `fields`."""
    return read_record("record.md", record_text(fields).encode("utf-8"), SETTINGS)


def render_everything(result: ReadResult) -> dict[str, bytes]:
    """Every feed of a one-record store, in every format, each checked against its plan.

    The record goes through the catalog (written, read back), as every build's records do.
    """
    assert result.record is not None
    plan = plan_records((result.record,), SETTINGS)
    assert plan.feeds[0].records == (result.record,), "the catalog gives the record back as read"
    files = {}
    for spec in plan.feeds:
        for fmt in FORMATS:
            data = render_feed(spec, fmt, SETTINGS)
            if fmt == "json":
                json.loads(data.decode("utf-8"))
            else:
                parse_xml(data)  # well-formed, or lxml raises
            check_feed(spec, fmt, data, SETTINGS)  # and the text comes back exactly
            files[feed_path(spec, fmt)] = data
    return files


def hostile_fields(title: str, excerpt: str, provider: str, topics: list[str],
                   related: str) -> dict[str, Any]:
    """The minimal record with generated text in every free-text field."""
    return record_fields(
        title=title, excerpt=excerpt, topics=topics,
        provider={"name": provider, "domain": "example.com"},
        related=[{"title": related, "webUrl": "https://related.example/story"}],
        images=[{"url": "https://img.example/a.jpg", "width": 10, "height": 10}],
    )


@given(title=ANY_TEXT, excerpt=ANY_TEXT, provider=ANY_TEXT,
       topics=st.lists(ANY_TEXT, max_size=4), related=ANY_TEXT)
@hypothesis_settings(max_examples=150)
def test_any_text_publishes_into_well_formed_feeds_or_is_skipped_cleanly(
        title: str, excerpt: str, provider: str, topics: list[str], related: str) -> None:
    result = read(hostile_fields(title, excerpt, provider, topics, related))
    if result.record is None:
        errors = [p for p in result.problems if p.is_error]
        assert [(p.file, p.field) for p in errors] == [("record.md", "title")], result.problems
        assert clean_text(title) == "", "only a title with nothing left in it may skip the record"
        return
    record = result.record
    for text in (record.title, record.excerpt, record.provider.name,
                 *(t.name for t in record.topics), *(r.title for r in record.related)):
        assert not XML_ILLEGAL.search(text), repr(text)
        assert text == text.strip() and "\n" not in text, repr(text)
    files = render_everything(result)
    slugs = {t.slug for t in record.topics}
    assert {p for p in files if p.startswith("topics/")} == {
        f"topics/{slug}{feed}{ext}" for slug in slugs for feed in ("", "/stories", "/top")
        for ext in (".atom", ".rss", ".json")}, "each topic: its feed, its stories and its top stories"


@given(title=PLAIN_TEXT, excerpt=PLAIN_TEXT, provider=PLAIN_TEXT, related=PLAIN_TEXT)
@example(title="08", excerpt="1e3", provider="007", related="A & B").via("found by hypothesis")
@hypothesis_settings(max_examples=100)
def test_plain_text_comes_back_word_for_word(title: str, excerpt: str, provider: str,
                                             related: str) -> None:
    result = read(hostile_fields(title, excerpt, provider, [], related))
    assert result.record is not None, result.problems
    record = result.record
    assert record.title == " ".join(title.split())
    assert record.excerpt == " ".join(excerpt.split())
    assert record.provider.name == " ".join(provider.split())
    assert [r.title for r in record.related] == [" ".join(related.split())]
    render_everything(result)  # and each format gives these texts back exactly


@given(st.binary(max_size=300))
@hypothesis_settings(max_examples=150)
def test_any_bytes_are_read_without_crashing(data: bytes) -> None:
    result = read_record("record.md", data, SETTINGS)
    assert result.record is None or result.record.title


@given(st.text(ANY_CHAR, max_size=300))
@hypothesis_settings(max_examples=150)
def test_any_front_matter_text_is_read_without_crashing(text: str) -> None:
    result = read_record("record.md", f"---\n{text}\n---\n".encode(), SETTINGS)
    if result.record is not None:
        render_everything(result)


URI_CHARS = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+$")


@given(st.one_of(
    ANY_TEXT,
    st.builds(lambda scheme, rest: scheme + rest,
              st.sampled_from(["http://", "https://", "HTTPS://", "javascript:", "//", "data:"]),
              ANY_TEXT),
    st.builds(lambda host, path: f"https://{host}/{path}",
              st.from_regex(r"[a-z0-9]{1,10}(\.[a-z]{2,5}){1,2}", fullmatch=True), ANY_TEXT),
))
@hypothesis_settings(max_examples=200)
def test_clean_url_gives_an_absolute_http_uri_or_refuses(raw: str) -> None:
    try:
        url = clean_url(raw)
    except BadURL:
        return
    assert re.match(r"^https?://[a-z0-9.-]+(:\d+)?(/|$|\?|#)", url), url
    assert URI_CHARS.match(url), f"{raw!r} -> {url!r} holds characters a URI may not"
    assert clean_url(url) == url, "cleaning is idempotent"


@given(ANY_TEXT)
@hypothesis_settings(max_examples=200)
def test_topic_slugs_are_always_safe_file_names(name: str) -> None:
    slug = topic_slug(name)
    assert re.fullmatch(r"[a-z0-9_-]*", slug), f"{name!r} -> {slug!r}"
    assert slug not in (".", "..") and not re.match(r"(con|prn|aux|nul|com\d|lpt\d)$", slug)
    assert len(slug) <= 80
