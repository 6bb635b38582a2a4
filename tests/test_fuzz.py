"""Fuzzing the record reader and the renderers with hypothesis.

The reader gets arbitrary bytes, mutated seed files, arbitrary YAML documents
(recursive strategies of mappings, lists and scalars placed in every field,
nested fields included) and arbitrary text in every field, both dumped as
YAML and written raw after ``field:``.  Whatever it gets, it returns a
`ReadResult` and never raises: either a record whose every field keeps the
reader's contract (plain XML-safe text cut to the limits, http(s) links,
UTC dates within 1970-9999, path-safe slugs), or no record with an error
naming the problem (or, for a record that is not ``published: true``, no
record at all).  Every record the reader accepts is then rendered into every
file of its site (three feed formats, pages, embeds, OPML), each checked
mechanically like the hostile runner does: well-formed XML (lxml), valid JSON
and JSON Feed 1.1 (the schema in ../shared/validate, when present), no
active content, clean entry links, portable paths.

Examples per test: 300 by default (the whole module runs in well under a
minute); set ``FEEDS_FUZZ_EXAMPLES`` for a longer run, e.g.::

    FEEDS_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_fuzz.py

The default run is derandomized (the same examples every time, so a verdict is
stable); with ``FEEDS_FUZZ_EXAMPLES`` set, every run draws new examples.
Hypothesis keeps no example database here (``database=None``): nothing is
written into the working directory.
"""

from __future__ import annotations

import copy
import os
from datetime import UTC, timedelta, timezone
from typing import Any

import yaml
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from feeds.errors import Severity
from feeds.layout import MAX_KEY_CHARS
from feeds.records import ReadResult, Record, read_record
from feeds.settings import Settings
from feeds.site import site_artifacts
from feeds.text import _XML_ILLEGAL

from .feedcheck import BASE_URL, SEEDS, SITE_TITLE
from .stores import plan_records
from .test_hostile import LONGEST_HOST, PATH_COMPONENT, WIN_RESERVED, check_file, clean_link, http_abs

EXAMPLES = int(os.environ.get("FEEDS_FUZZ_EXAMPLES", "300"))
FUZZ = hypothesis_settings(
    # the default run is the same every time (a stable verdict); a long run explores afresh
    max_examples=EXAMPLES, deadline=None, database=None, derandomize="FEEDS_FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
SETTINGS = Settings.make(base_url=BASE_URL, site_title=SITE_TITLE, records="unused", out="unused")
TIGHT = Settings.make(base_url=BASE_URL, site_title=SITE_TITLE, records="unused", out="unused",
                      max_title_chars=15, max_excerpt_chars=20, max_topic_chars=6, max_topics=2,
                      max_related=1, max_yaml_depth=3)
SEED_BYTES = [p.read_bytes() for p in sorted(SEEDS.iterdir())]

BASE: dict[str, Any] = {
    "title": "A fuzzed record",
    "excerpt": "What happened.",
    "publishedDateTime": "2021-03-04T05:06:07Z",
    "webUrl": "https://news.example.com/fuzzed",
    "originalUrl": "https://news.example.com/original",
    "type": "article",
    "quality": 50,
    "heat": 10,
    "published": True,
    "provider": {"name": "Example News", "domain": "example.com",
                 "images": [{"url": "https://news.example.com/logo.png", "width": 50, "height": 50}]},
    "topics": ["Testing", "AI"],
    "images": [{"url": "https://news.example.com/a.jpg", "width": 640, "height": 480}],
    "related": [{"title": "Other coverage", "webUrl": "https://other.example.net/story",
                 "provider": {"name": "Other", "domain": "other.example.net"},
                 "publishedDateTime": "2021-03-04T01:00:00Z"}],
    "secured": "c2VjcmV0LXZhbHVlLW5ldmVyLXNob3du",
}
# Every place a value can go: top-level fields and the fields nested in provider, images, related.
PLACES = [
    ("title",), ("excerpt",), ("publishedDateTime",), ("webUrl",), ("originalUrl",), ("type",),
    ("quality",), ("heat",), ("published",), ("provider",), ("topics",), ("images",), ("related",),
    ("secured",), ("category",), ("featuredContent",), ("ampWebUrl",), ("unknown",),
    ("provider", "name"), ("provider", "domain"), ("provider", "images"), ("provider", "images", 0, "url"),
    ("provider", "images", 0, "width"), ("topics", 0), ("topics", 1), ("images", 0), ("images", 0, "url"),
    ("images", 0, "height"), ("related", 0), ("related", 0, "title"), ("related", 0, "webUrl"),
    ("related", 0, "provider"), ("related", 0, "provider", "name"), ("related", 0, "publishedDateTime"),
]
SECRET = BASE["secured"]

# -- strategies ----------------------------------------------------------------------------------

ANY_CHAR = st.characters(exclude_categories=["Cs"])  # UTF-8 (and so YAML) cannot hold surrogates
ANY_TEXT = st.text(ANY_CHAR, max_size=60)
TRICKY_TEXT = st.one_of(
    ANY_TEXT,
    st.sampled_from(["", " ", "true", "false", "yes", "no", "null", "~", "1", "0x1", "1e3", ".nan", "-.inf",
                     "2020-02-30T00:00:00Z", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00",
                     "javascript:alert(1)", "//evil.example/", "&#106;avascript:alert(1)", "data:text/html,x",
                     "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "]]>", "&amp;lt;b&amp;gt;",
                     "../../etc", "con", "nul.example", "\u202e", "\ufeff", "\x00", "\ufffe", "\U0010ffff",
                     "https://news.example.com/\"><script>", "https://exa mple.com/", "http://[::1]:99999/",
                     "a" * 5000, "word " * 1000, "https://" + "a." * 200 + "com/", LONGEST_HOST,
                     f"https://{LONGEST_HOST}/x", "https://evil.example:99999/"]),
    st.builds(lambda a, b: a + b, st.sampled_from(["https://", "http://", "HTTPS://", " https://", ""]),
              ANY_TEXT),
)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), TRICKY_TEXT, st.dates(), st.datetimes(),
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=14)),
                                            timezone(-timedelta(hours=23, minutes=59))])),
    st.binary(max_size=20),
)
KEYS = st.one_of(st.sampled_from(["title", "url", "webUrl", "name", "domain", "secured", "published"]),
                 st.text(ANY_CHAR, max_size=8), st.integers(-5, 5), st.booleans(), st.none())
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(KEYS, children, max_size=4)),
    max_leaves=12,
)


def place(doc: dict[str, Any], where: tuple[Any, ...], value: Any) -> None:
    """Put `value` at path `where` inside `doc`, making the containers on the way fit the path."""
    node: Any = doc
    for i, step in enumerate(where):
        if isinstance(node, list) and not isinstance(step, int):
            node.append(value)  # a list cannot hold a named field: the value joins the list
            return
        if isinstance(node, list):
            while len(node) <= step:
                node.append(None)
        if i == len(where) - 1:
            node[step] = value
            return
        following = where[i + 1]
        child = node[step] if isinstance(node, list) else node.get(step)
        if not isinstance(child, (dict, list)) or isinstance(child, list) != isinstance(following, int):
            child = [] if isinstance(following, int) else {}
            node[step] = child
        node = child


def fresh_base() -> dict[str, Any]:
    return copy.deepcopy(BASE)


@st.composite
def yaml_documents(draw: st.DrawFn) -> bytes:
    """The base record with arbitrary YAML values placed anywhere, dumped by PyYAML."""
    doc = fresh_base()
    for where in draw(st.lists(st.sampled_from(PLACES), min_size=1, max_size=5)):
        place(doc, where, draw(VALUES))
    if draw(st.booleans()):
        doc.pop(draw(st.sampled_from(sorted(doc))), None)
    text = yaml.safe_dump(doc, allow_unicode=draw(st.booleans()), sort_keys=False,
                          default_flow_style=draw(st.sampled_from([False, True, None])))
    return ("---\n" + text + "---\n").encode("utf-8")


@st.composite
def text_in_fields(draw: st.DrawFn) -> bytes:
    """The base record with arbitrary text in some fields, dumped by PyYAML or written raw."""
    doc = fresh_base()
    chosen = draw(st.lists(st.sampled_from(PLACES), min_size=1, max_size=6))
    for where in chosen:
        place(doc, where, draw(TRICKY_TEXT))
    if not draw(st.booleans()):
        return ("---\n" + yaml.safe_dump(doc, allow_unicode=True, width=2**31 - 1) + "---\n").encode("utf-8")
    # raw: top-level text fields written as they are after "field: " (any YAML may come out of it)
    lines = ["---"]
    for key, value in doc.items():
        if isinstance(value, str) and (key,) in chosen:
            lines.append(f"{key}: {value}")
        else:
            lines.append(yaml.safe_dump({key: value}, allow_unicode=True, width=2**31 - 1).rstrip("\n"))
    lines.append("---")
    return "\n".join(lines).encode("utf-8", "surrogatepass")


@st.composite
def mutated_seeds(draw: st.DrawFn) -> bytes:
    """A seed file with random bytes flipped, inserted, deleted or repeated."""
    data = bytearray(draw(st.sampled_from(SEED_BYTES)))
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["flip", "insert", "delete", "repeat", "token"]))
        if action == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del data[at:at + draw(st.integers(1, 40))]
        elif action == "repeat":
            data[at:at] = data[at:at + draw(st.integers(1, 200))] * draw(st.integers(1, 4))
        else:
            data[at:at] = draw(st.sampled_from([b"&a ", b"*a", b"\t", b"\r", b"\xef\xbb\xbf", b"\x00",
                                                b"---\n", b": ", b"- ", b"[", b"{", b"'", b'"', b"\\", b"#",
                                                b"!!binary ",
                                                b"!!python/object:os.system ", b"\n  secured: x\n", b"\xff"]))
    return bytes(data)


ANY_BYTES = st.one_of(
    st.binary(max_size=3000),
    st.builds(lambda b: b"---\n" + b + b"\n---\n", st.binary(max_size=2000)),
    st.builds(lambda t: ("---\n" + t + "\n---\n").encode("utf-8"), st.text(ANY_CHAR, max_size=800)),
)

# -- the properties --------------------------------------------------------------------------------


def read(data: bytes, settings: Settings = SETTINGS) -> ReadResult:
    """The reader must return, never raise."""
    result = read_record("fuzz.md", data, settings)
    assert isinstance(result, ReadResult)
    errors = [p for p in result.problems if p.severity is Severity.ERROR]
    for problem in result.problems:
        assert problem.file == "fuzz.md" and problem.field and problem.message, problem
        assert "\n" not in str(problem), f"a problem must be one line: {problem!s:.200}"
        assert SECRET not in str(problem), problem
    if result.record is None:
        assert errors or result.unpublished, f"no record and no error: {result.problems}"
    else:
        assert not errors, errors
        check_record(result.record, settings)
    return result


def clean(text: str, limit: int | None = None) -> None:
    assert isinstance(text, str)
    assert not _XML_ILLEGAL.search(text), f"XML-illegal character kept: {text!r:.80}"
    assert "\n" not in text and "\r" not in text, f"text kept a line break: {text!r:.80}"
    if limit is not None:
        assert len(text) <= limit, f"{len(text)} > {limit}"


def check_record(record: Record, settings: Settings) -> None:
    """The reader's contract for what it accepts."""
    clean(record.title, settings.max_title_chars)
    assert record.title.strip(), "an empty title"
    clean(record.excerpt, settings.max_excerpt_chars)
    clean(record.provider.name)
    assert clean_link(record.link), record.link
    for url in [record.original_url, record.video_url, record.provider.logo,
                *(i.url for i in record.images), *(r.url for r in record.related)]:
        if url is not None:
            assert clean_link(url), url
    assert http_abs(record.provider.home), record.provider.home
    offset = record.published_at.utcoffset()
    assert offset is not None and offset.total_seconds() == 0, record.published_at
    assert 1970 <= record.published_at.year <= 9999
    assert len(record.topics) <= settings.max_topics
    assert len(record.related) <= settings.max_related
    for key in [record.provider.key, *(t.slug for t in record.topics)]:
        assert PATH_COMPONENT.match(key) and not WIN_RESERVED.match(key.rstrip(". ")), key
        assert key not in (".", ".."), key
        if key == record.provider.key and len(key) > MAX_KEY_CHARS:
            continue  # no file system holds the name: the plan gives this provider no feed
        # a feed file is named after the key, and written first under a longer temporary name
        assert len(f".feeds-tmp-{key}.atom.{2**22}".encode()) <= 255, (
            f"a {len(key)}-character key cannot name a file: {key[:40]}...")
    for topic in record.topics:
        clean(topic.name, settings.max_topic_chars)
    for related in record.related:
        clean(related.title, settings.max_title_chars)
        clean(related.provider)
    for image in record.images:
        for size in (image.width, image.height):
            assert size is None or (isinstance(size, int) and size > 0)
    assert record.published is True or settings.drafts


def render_site(record: Record, settings: Settings = SETTINGS) -> None:
    """Every file of the one-record site, each checked like the hostile runner checks outputs.

    The record goes through the catalog (written, read back), as every build's records do.
    """
    plan = plan_records((record,), settings)
    assert plan.feeds[0].records == (record,), "the catalog gives the record back as read"
    # the all-items feed, one topic feed and the provider feed stand for the rest (same record)
    wanted = {id(plan.feeds[0]), id(plan.feeds[-1])}
    topics = [s for s in plan.feeds if s.kind.name == "topic"]
    if topics:
        wanted.add(id(topics[0]))
    for artifact in site_artifacts(plan, settings):
        if (artifact.spec is not None and id(artifact.spec) not in wanted
                and not artifact.path.startswith("embed/")):
            continue
        data = artifact.make(artifact.source, settings)
        findings: list[str] = []
        check_file(artifact.path, data, findings)
        assert findings == [], "\n".join(findings[:10])
        assert SECRET.encode() not in data, artifact.path


@FUZZ
@given(ANY_BYTES)
def test_arbitrary_bytes_never_escape_the_reader(data: bytes) -> None:
    result = read(data)
    if result.record is not None:
        render_site(result.record)


@FUZZ
@given(mutated_seeds())
def test_mutated_seed_files_never_escape_the_reader(data: bytes) -> None:
    result = read(data)
    if result.record is not None:
        render_site(result.record)


@FUZZ
@given(yaml_documents())
def test_any_yaml_value_in_any_field_reads_and_renders(data: bytes) -> None:
    result = read(data)
    if result.record is not None:
        render_site(result.record)


@FUZZ
@given(text_in_fields())
def test_any_text_in_any_field_reads_and_renders(data: bytes) -> None:
    result = read(data)
    if result.record is not None:
        render_site(result.record)


@FUZZ
@given(st.one_of(yaml_documents(), text_in_fields(), mutated_seeds()))
def test_tight_limits_hold_for_any_record(data: bytes) -> None:
    result = read(data, TIGHT)
    if result.record is not None:
        render_site(result.record, TIGHT)


def test_the_fuzz_strategies_reach_both_outcomes() -> None:
    """A guard against a vacuous fuzz: the documents are sometimes published and sometimes refused."""
    seen = {"record": 0, "error": 0}

    @hypothesis_settings(max_examples=200, deadline=None, database=None,
                         suppress_health_check=[HealthCheck.too_slow])
    @given(st.one_of(yaml_documents(), text_in_fields()))
    def count(data: bytes) -> None:
        result = read(data)
        seen["record" if result.record is not None else "error"] += 1

    count()
    assert seen["record"] >= 10 and seen["error"] >= 10, seen


def test_place_puts_values_where_asked() -> None:
    doc = fresh_base()
    place(doc, ("related", 0, "provider", "name"), "X")
    place(doc, ("images", 3, "url"), "Y")
    place(doc, ("provider", "images", 0, "url"), ["Z"])
    assert doc["related"][0]["provider"]["name"] == "X"
    assert doc["images"][3]["url"] == "Y" and len(doc["images"]) == 4
    assert doc["provider"]["images"][0]["url"] == ["Z"]
    place(doc, ("topics", "name"), "W")  # a name below a list: the list becomes a mapping
    assert doc["topics"] == {"name": "W"}
    place(doc, ("images", "url"), "V")
    assert doc["images"] == {"url": "V"}
