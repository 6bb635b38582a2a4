"""Reading one record: every field of PRODUCT.md's table, checked once at the door."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feeds.errors import Problem, Severity
from feeds.records import Image, Provider, ReadResult, Record, Related, Topic, read_record
from feeds.settings import Settings, replace

from .feedcheck import DATA, SEEDS
from .stores import OMIT, record_fields, record_text

Read = Callable[..., ReadResult]


def problems_for(result: ReadResult, field: str) -> list[Problem]:
    """The problems of `result` that name `field`."""
    return [p for p in result.problems if p.field == field]


def published(result: ReadResult) -> Record:
    """The record of a result that must have been published, with its problems in the message."""
    assert result.record is not None, f"not published: {[str(p) for p in result.problems]}"
    return result.record


def skipped(result: ReadResult, field: str) -> Problem:
    """The one error that kept a record out, which must name `field`."""
    assert result.record is None, f"published, but should be skipped for {field}"
    errors = [p for p in result.problems if p.is_error]
    assert len(errors) == 1, f"expected one error, got {[str(p) for p in result.problems]}"
    assert errors[0].field == field, f"the error names {errors[0].field!r}, not {field!r}: {errors[0]}"
    assert errors[0].file == "record.md", f"the error must name the file: {errors[0]}"
    assert errors[0].message, "the error must say what is wrong"
    return errors[0]


# -- the seeds ------------------------------------------------------------------------


def test_seed_000_reads_into_a_full_record(settings: Settings) -> None:
    path = SEEDS / "000_5493749f3400b6dd.txt"
    result = read_record(path.name, path.read_bytes(), settings)
    record = published(result)
    assert result.problems == []
    assert record.title == "Face for sale: Leaks and lawsuits blight Russia facial recognition"
    assert record.published_at == datetime(2020, 11, 9, 15, 5, tzinfo=UTC)
    assert record.link.startswith("https://www.reuters.com/article/russia-privacy-lawsuit/")
    assert record.provider == Provider(
        "Reuters", "reuters.com",
        "https://smartableai.github.io/artificial-intelligence/assets/images/organizations/"
        "reuters.com-50x50.jpg")
    assert record.topics == (Topic("Computer Vision", "computer-vision"), Topic("AI", "ai"))
    assert record.images == ()
    assert (record.quality, record.heat, record.kind) == (69, 79, "article")
    assert [r.provider for r in record.related] == ["IOL News"]
    assert record.related[0].published_at == datetime(2020, 11, 9, 12, 15, tzinfo=UTC)


@pytest.mark.parametrize("name", ["001_632e9d232dd96937.txt", "003_fcfcc496f7f3d375.txt",
                                  "004_00413085105cbbc0.txt"])
def test_unpublished_seeds_are_not_read_into_records(settings: Settings, name: str) -> None:
    result = read_record(name, (SEEDS / name).read_bytes(), settings)
    assert result.record is None and result.unpublished
    assert not [p for p in result.problems if p.is_error]


# -- title ------------------------------------------------------------------------------


def test_title_is_required(read_fields: Read) -> None:
    skipped(read_fields(title=OMIT), "title")


@pytest.mark.parametrize("title", ["", "   ", "<b></b>", "\x00\x01"])
def test_a_title_empty_after_cleaning_skips_the_record(read_fields: Read, title: str) -> None:
    skipped(read_fields(title=title), "title")


@pytest.mark.parametrize("title", [["a", "list"], {"a": "mapping"}, True])
def test_a_title_of_the_wrong_type_names_the_field(read_fields: Read, title: object) -> None:
    problem = skipped(read_fields(title=title), "title")
    assert "text" in problem.message


def test_title_is_cleaned(read_fields: Read) -> None:
    record = published(read_fields(title="  â€œFace for saleâ€\x9d &amp;#8217; <b>now</b>  "))
    assert record.title == "“Face for sale” ’ now"


def test_a_long_title_is_cut_at_max_title_chars(read_fields: Read, settings: Settings) -> None:
    record = published(read_fields(replace(settings, max_title_chars=40), title="word " * 50))
    assert len(record.title) <= 40 and record.title.endswith("…")


# -- publishedDateTime --------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "moment"), [
    ("2020-11-09T15:05:00Z", datetime(2020, 11, 9, 15, 5, tzinfo=UTC)),
    ("2020-11-09T17:05:00+02:00", datetime(2020, 11, 9, 15, 5, tzinfo=UTC)),
    ("2020-11-09T10:05:00-05:00", datetime(2020, 11, 9, 15, 5, tzinfo=UTC)),
    ("2020-11-09T15:05:00.250Z", datetime(2020, 11, 9, 15, 5, 0, 250000, tzinfo=UTC)),
])
def test_dates_become_aware_utc(read_fields: Read, raw: str, moment: datetime) -> None:
    record = published(read_fields(publishedDateTime=raw))
    assert record.published_at == moment
    assert record.published_at.utcoffset() is not None and not record.published_at.utcoffset()


def test_unquoted_yaml_dates_read_the_same(read_text: Callable[[str], ReadResult]) -> None:
    text = record_text(record_fields(publishedDateTime=OMIT)).replace(
        "title:", "publishedDateTime: 2020-11-09T15:05:00Z\ntitle:")
    assert published(read_text(text)).published_at == datetime(2020, 11, 9, 15, 5, tzinfo=UTC)


@pytest.mark.parametrize("raw", ["2020-11-09T15:05:00", "2020-11-09 15:05:00", "2020-11-09"])
def test_a_naive_date_is_taken_as_utc_with_a_warning(read_fields: Read, raw: str) -> None:
    result = read_fields(publishedDateTime=raw)
    assert published(result).published_at == datetime(2020, 11, 9, 15 if ":" in raw else 0,
                                                       5 if ":" in raw else 0, tzinfo=UTC)
    warnings = problems_for(result, "publishedDateTime")
    assert len(warnings) == 1 and not warnings[0].is_error, [str(p) for p in result.problems]
    assert "UTC" in warnings[0].message


@pytest.mark.parametrize("raw", ["yesterday", "2020-13-01T00:00:00Z", "2020-02-30T00:00:00Z",
                                 "09/11/2020", "2020-11-09T25:00:00Z", "0000-01-01T00:00:00Z",
                                 "", "   "])
def test_a_bad_date_names_published_date_time(read_fields: Read, raw: str) -> None:
    skipped(read_fields(publishedDateTime=raw), "publishedDateTime")


@pytest.mark.parametrize("raw", [12345, ["2020-11-09T15:05:00Z"], {"date": "x"}, True])
def test_a_date_of_the_wrong_type_names_the_field(read_fields: Read, raw: object) -> None:
    skipped(read_fields(publishedDateTime=raw), "publishedDateTime")


def test_published_date_time_is_required(read_fields: Read) -> None:
    skipped(read_fields(publishedDateTime=OMIT), "publishedDateTime")


# -- webUrl / originalUrl / ampWebUrl / cdnAmpWebUrl ----------------------------------------


def test_web_url_is_the_link(read_fields: Read) -> None:
    record = published(read_fields(webUrl="https://a.example.com/x",
                                   originalUrl="https://b.example.com/y"))
    assert record.link == "https://a.example.com/x"
    assert record.original_url == "https://b.example.com/y"


def test_without_web_url_the_original_url_is_the_link(read_fields: Read) -> None:
    record = published(read_fields(webUrl=OMIT, originalUrl="https://youtube.com/watch?v=abc"))
    assert record.link == "https://youtube.com/watch?v=abc"


def test_a_record_without_any_http_link_is_skipped(read_fields: Read) -> None:
    skipped(read_fields(webUrl=OMIT), "webUrl")


@pytest.mark.parametrize("url", ["javascript:alert(1)", "JaVaScRiPt:alert(1)", "java\nscript:x",
                                 "data:text/html,x", "file:///etc/passwd", "//evil.example/x",
                                 "/relative", "vbscript:x"])
def test_a_web_url_that_is_not_absolute_http_skips_the_record(read_fields: Read, url: str) -> None:
    skipped(read_fields(webUrl=url), "webUrl")


@pytest.mark.parametrize("url", [["https://e.com"], {"href": "https://e.com"}, 42])
def test_a_web_url_of_the_wrong_type_names_the_field(read_fields: Read, url: object) -> None:
    skipped(read_fields(webUrl=url), "webUrl")


def test_a_bad_original_url_is_dropped_with_a_warning(read_fields: Read) -> None:
    result = read_fields(originalUrl="javascript:alert(1)")
    assert published(result).original_url is None
    assert [p.severity for p in problems_for(result, "originalUrl")] == [Severity.WARNING]


def test_entities_in_the_link_are_unescaped(read_fields: Read) -> None:
    record = published(read_fields(webUrl="https://www.courant.com/a?w=1024&#038;h=670"))
    assert record.link == "https://www.courant.com/a?w=1024&h=670"


def test_amp_urls_are_not_needed_and_never_checked(read_fields: Read) -> None:
    result = read_fields(ampWebUrl="javascript:alert(1)", cdnAmpWebUrl="not a url")
    record = published(result)
    assert result.problems == []
    assert "javascript" not in repr(record) and "not a url" not in repr(record)


# -- excerpt, category, type, quality, heat ------------------------------------------------


def test_excerpt_is_cleaned(read_fields: Read) -> None:
    record = published(read_fields(excerpt="The clause â€œidentification through facial ..."))
    assert record.excerpt == "The clause “identification through facial ..."


def test_a_long_excerpt_is_cut_at_max_excerpt_chars(read_fields: Read, settings: Settings) -> None:
    record = published(read_fields(replace(settings, max_excerpt_chars=30), excerpt="word " * 50))
    assert len(record.excerpt) <= 30 and record.excerpt.endswith("…")


def test_an_excerpt_of_the_wrong_type_is_dropped_with_a_warning(read_fields: Read) -> None:
    result = read_fields(excerpt=["not", "text"])
    assert published(result).excerpt == ""
    assert [p.severity for p in problems_for(result, "excerpt")] == [Severity.WARNING]


def test_a_missing_excerpt_is_fine(read_fields: Read) -> None:
    result = read_fields(excerpt=OMIT)
    assert published(result).excerpt == "" and result.problems == []


@pytest.mark.parametrize("category", ["news", "other", 3, None])
def test_category_never_stops_a_record(read_fields: Read, category: object) -> None:
    published(read_fields(category=category))


@pytest.mark.parametrize(("raw", "kind", "warned"), [
    ("article", "article", False), ("video", "video", False), (OMIT, "article", False),
    ("podcast", "article", True), (["video"], "article", True),
])
def test_type_is_article_or_video(read_fields: Read, raw: object, kind: str, warned: bool) -> None:
    result = read_fields(type=raw)
    assert published(result).kind == kind
    assert bool(problems_for(result, "type")) is warned


@pytest.mark.parametrize(("raw", "value"), [(69, 69), (137, 137), (0, 0), ("42", 42), (OMIT, None)])
def test_quality_is_an_integer_that_may_exceed_100(read_fields: Read, raw: object,
                                                    value: int | None) -> None:
    assert published(read_fields(quality=raw)).quality == value


@pytest.mark.parametrize(("raw", "value"), [(79, 79), (-1, -1), (OMIT, None)])
def test_heat_is_an_integer_and_minus_one_marks_a_secondary(read_fields: Read, raw: object,
                                                            value: int | None) -> None:
    assert published(read_fields(heat=raw)).heat == value


@pytest.mark.parametrize("field", ["quality", "heat"])
@pytest.mark.parametrize("raw", ["high", [1], {"a": 1}, True, 1.5])
def test_a_non_integer_ranking_is_ignored_with_a_warning(read_fields: Read, field: str,
                                                          raw: object) -> None:
    result = read_fields(**{field: raw})
    assert getattr(published(result), field) is None
    assert [p.severity for p in problems_for(result, field)] == [Severity.WARNING]


# -- published ------------------------------------------------------------------------------


@pytest.mark.parametrize("front_matter_value", ["true", "True", "TRUE"])
def test_only_a_real_true_publishes(read_text: Callable[[str], ReadResult],
                                    front_matter_value: str) -> None:
    text = record_text(record_fields(published=OMIT)) .replace(
        "---\ntitle:", f"---\npublished: {front_matter_value}\ntitle:", 1)
    assert published(read_text(text)).published is True


@pytest.mark.parametrize(("front_matter_value", "warned"), [
    (None, False),            # absent
    ("false", False),
    ("False", False),
    ('"false"', True),
    ('"true"', True),
    ("'true'", True),
    ("yes", True),
    ("Yes", True),
    ("on", True),
    ("y", True),
    ("1", True),
    ("0", True),
    ("[true]", True),
    ("{value: true}", True),
])
def test_anything_but_a_real_true_does_not_publish(read_text: Callable[[str], ReadResult],
                                                   front_matter_value: str | None,
                                                   warned: bool) -> None:
    text = record_text(record_fields(published=OMIT))
    if front_matter_value is not None:
        text = text.replace("---\ntitle:", f"---\npublished: {front_matter_value}\ntitle:", 1)
    result = read_text(text)
    assert result.record is None, f"published: {front_matter_value} must not publish"
    assert result.unpublished
    warnings = problems_for(result, "published")
    assert bool(warnings) is warned, (
        f"published: {front_matter_value}: odd values are warned about, false and absent are not;"
        f" got {[str(p) for p in result.problems]}")
    assert not [p for p in result.problems if p.is_error]


def test_drafts_reads_unpublished_records_for_preview(read_fields: Read, settings: Settings) -> None:
    record = published(read_fields(replace(settings, drafts=True), published=False))
    assert record.published is False


# -- provider ---------------------------------------------------------------------------------


def test_provider_is_name_domain_and_logo(read_fields: Read) -> None:
    record = published(read_fields(provider={
        "name": "Business Insider", "domain": "BusinessInsider.COM",
        "images": [{"url": "https://cdn.example/bi-50x50.jpg", "width": 50, "height": 50}]}))
    assert record.provider == Provider("Business Insider", "businessinsider.com",
                                       "https://cdn.example/bi-50x50.jpg")
    assert record.provider.home == "https://businessinsider.com/"


def test_a_provider_without_logo_has_none(read_fields: Read) -> None:
    provider = published(read_fields(provider={"name": "HRW", "domain": "hrw.org"})).provider
    assert provider.logo is None and provider.key == "hrw.org"


@pytest.mark.parametrize("provider", [OMIT, "Reuters", ["reuters.com"], {"name": "No domain"}])
def test_a_missing_or_odd_provider_falls_back_to_the_link_host(read_fields: Read,
                                                               provider: object) -> None:
    result = read_fields(provider=provider, webUrl="https://www.Reuters.com/article/x")
    assert published(result).provider.key == "www.reuters.com"
    assert any(p.field.startswith("provider") for p in result.problems), "a warning is due"


def test_a_provider_domain_given_as_a_url_is_reduced_to_its_host(read_fields: Read) -> None:
    record = published(read_fields(provider={"name": "R", "domain": "https://Reuters.com/news"}))
    assert record.provider.key == "reuters.com"


def test_provider_name_is_cleaned(read_fields: Read) -> None:
    record = published(read_fields(provider={"name": " AT&amp;T <b>News</b> ", "domain": "att.com"}))
    assert record.provider.name == "AT&T News"


# -- topics -------------------------------------------------------------------------------------


def test_topics_are_names_with_slugs(read_fields: Read) -> None:
    record = published(read_fields(topics=["Computer Vision", "AI"]))
    assert record.topics == (Topic("Computer Vision", "computer-vision"), Topic("AI", "ai"))


def test_a_single_topic_string_is_one_topic(read_fields: Read) -> None:
    assert published(read_fields(topics="Power Apps")).topics == (Topic("Power Apps", "power-apps"),)


def test_topics_sharing_a_slug_count_once(read_fields: Read) -> None:
    record = published(read_fields(topics=["Computer Vision", "computer vision", "COMPUTER-VISION"]))
    assert [t.slug for t in record.topics] == ["computer-vision"]


def test_odd_topics_are_dropped_naming_their_index(read_fields: Read) -> None:
    result = read_fields(topics=["Good", {"a": "mapping"}, "..", "", ["nested"]])
    assert [t.name for t in published(result).topics] == ["Good"]
    named = {p.field for p in result.problems}
    assert {"topics[1]", "topics[2]", "topics[3]", "topics[4]"} <= named, named


def test_topics_as_a_mapping_are_dropped_with_a_warning(read_fields: Read) -> None:
    result = read_fields(topics={"a": "b"})
    assert published(result).topics == ()
    assert problems_for(result, "topics")


def test_topics_are_capped_at_max_topics(read_fields: Read, settings: Settings) -> None:
    record = published(read_fields(replace(settings, max_topics=3),
                                   topics=[f"Topic {i}" for i in range(10)]))
    assert len(record.topics) == 3


# -- images -------------------------------------------------------------------------------------


def test_images_keep_url_width_and_height(read_fields: Read) -> None:
    record = published(read_fields(images=[
        {"url": "https://i.insider.com/64270e?width=1200&format=jpeg", "width": 1200,
         "height": 600, "isCached": True, "title": "A picture"},
        {"url": "https://i.example.com/second.jpg"},
    ]))
    assert record.images == (Image("https://i.insider.com/64270e?width=1200&format=jpeg", 1200, 600),
                             Image("https://i.example.com/second.jpg", None, None))


def test_a_bad_image_is_dropped_naming_its_index(read_fields: Read) -> None:
    result = read_fields(images=[{"url": "javascript:alert(1)", "width": 1, "height": 1},
                                 "not a mapping but a string",
                                 {"url": "https://i.example.com/ok.jpg", "width": "wide"}])
    assert published(result).images == (Image("https://i.example.com/ok.jpg", None, None),)
    assert {"images[0].url", "images[1].url"} <= {p.field for p in result.problems}


def test_records_without_images_are_fine(read_fields: Read) -> None:
    result = read_fields(images=OMIT)
    assert published(result).images == () and result.problems == []


# -- related ------------------------------------------------------------------------------------


def test_related_mini_records_are_read(read_fields: Read) -> None:
    record = published(read_fields(related=[
        {"title": "Other coverage", "excerpt": "ignored", "publishedDateTime": "2020-11-09T12:15:00Z",
         "webUrl": "https://other.example/story", "type": "article", "quality": 39,
         "provider": {"name": "IOL News", "domain": "iol.co.za"},
         "images": [{"url": "https://other.example/i.jpg", "width": 1, "height": 1}]},
        {"title": "Only an original URL", "originalUrl": "https://third.example/x"},
    ]))
    assert record.related == (
        Related("Other coverage", "https://other.example/story", "IOL News",
                datetime(2020, 11, 9, 12, 15, tzinfo=UTC)),
        Related("Only an original URL", "https://third.example/x", "", None),
    )


def test_unusable_related_items_are_dropped(read_fields: Read) -> None:
    record = published(read_fields(related=[
        "a string", {"title": "no link"}, {"webUrl": "https://x.example/no-title"},
        {"title": "bad link", "webUrl": "javascript:alert(1)"},
        {"title": "kept", "webUrl": "https://x.example/kept"},
        {"title": "duplicate", "webUrl": "https://x.example/kept"},
    ]))
    assert [r.title for r in record.related] == ["kept"]


def test_related_is_capped_at_max_related(read_fields: Read, settings: Settings) -> None:
    related = [{"title": f"r{i}", "webUrl": f"https://x.example/{i}"} for i in range(10)]
    record = published(read_fields(replace(settings, max_related=4), related=related))
    assert len(record.related) == 4


# -- video ---------------------------------------------------------------------------------------


def _read_data(name: str, settings: Settings) -> ReadResult:
    return read_record(name, (DATA / name).read_bytes(), settings)


def test_a_video_player_comes_from_a_known_safe_embed(settings: Settings) -> None:
    result = _read_data("video_youtube.md", settings)
    record = published(result)
    assert record.kind == "video"
    assert record.link == "https://youtube.com/watch?v=WJk-Y8LQlfE", "no webUrl: originalUrl"
    assert record.video_url == "https://www.youtube.com/embed/WJk-Y8LQlfE"
    assert "iframe" not in repr(record) and "onload" not in repr(record), "raw HTML is never kept"


def test_a_video_from_an_unknown_host_has_no_player(settings: Settings) -> None:
    result = _read_data("video_unsafe_embed.md", settings)
    record = published(result)
    assert record.video_url is None
    assert problems_for(result, "featuredContent"), "a warning names featuredContent"
    assert "evil" not in repr(record) and "script" not in repr(record)


@pytest.mark.parametrize("html", [
    '<iframe src="https://www.youtube.com/watch?v=abc"></iframe>',       # not /embed/
    '<iframe src="http://www.youtube.com/embed/abc"></iframe>',          # not https
    '<iframe src="https://www.youtube.com.evil.example/embed/abc"></iframe>',
    '<iframe src="javascript:alert(1)"></iframe>',
    '<iframe src="data:text/html,x"></iframe>',
    "<video src='https://www.youtube.com/embed/abc'></video>",
    "no html at all",
])
def test_a_video_player_from_anything_else_is_refused(read_fields: Read, html: str) -> None:
    result = read_fields(type="video", featuredContent=html)
    assert published(result).video_url is None, html


def test_protocol_relative_embeds_are_taken_as_https(read_fields: Read) -> None:
    result = read_fields(type="video", featuredContent='<iframe src="//www.youtube.com/embed/x1"></iframe>')
    assert published(result).video_url == "https://www.youtube.com/embed/x1"


def test_articles_never_get_a_player(read_fields: Read) -> None:
    result = read_fields(type="article",
                         featuredContent='<iframe src="https://www.youtube.com/embed/x1"></iframe>')
    assert published(result).video_url is None


# -- secured ------------------------------------------------------------------------------------


def test_secured_is_never_read_into_the_record(settings: Settings) -> None:
    assert "secured" not in {f.name for f in dataclasses.fields(Record)}
    path = SEEDS / "000_5493749f3400b6dd.txt"
    result = read_record(path.name, path.read_bytes(), settings)
    record = published(result)
    secret = "km8ddVhsLnbAcYFQIJ5xBpUGex6kTfjS4DdIUd37xNZz8ltFQ4B6kby0zM1CvMDPmg5ck7zdEkHuubN32dTvA1Te"
    assert secret in path.read_text(encoding="utf-8"), "the seed changed: update the secret"
    assert secret[:24] not in repr(record) and secret[:24] not in repr(result)


def test_secured_variants_never_reach_the_record(settings: Settings) -> None:
    result = _read_data("secured_variants.md", settings)
    record = published(result)
    assert "SECRET" not in repr(record), repr(record)
    assert "SECRET" not in repr(result.problems)


# -- file format ------------------------------------------------------------------------------------


def test_bom_and_crlf_are_tolerated(settings: Settings) -> None:
    text = record_text(record_fields(title="Windows record"))
    data = b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8")
    result = read_record("record.md", data, settings)
    assert published(result).title == "Windows record"
    assert result.problems == []


@pytest.mark.parametrize(("plain", "text"), [("08", "08"), ("09", "09"), ("1e3", "1e3"),
                                             ("2024", "2024")])
def test_plain_scalars_read_as_pyyaml_reads_them(read_text: Callable[[str], ReadResult],
                                                 plain: str, text: str) -> None:
    """The issue: records are YAML as PyYAML's safe loader reads it; `yaml.safe_dump`
    writes the string "08" unquoted, and reading it back must give "08", not 8."""
    source = record_text(record_fields(title=OMIT)).replace("---\n", f"---\ntitle: {plain}\n", 1)
    assert published(read_text(source)).title == text


def test_text_after_the_front_matter_is_ignored(read_text: Callable[[str], ReadResult]) -> None:
    text = record_text(record_fields(), body="title: not this\n---\nnor: this\n")
    assert published(read_text(text)).title == "A minimal record"


@pytest.mark.parametrize(("name", "field"), [
    ("malformed_yaml.md", "front matter"),
    ("not_a_mapping.md", "front matter"),
    ("no_front_matter.md", "front matter"),
    ("unclosed_front_matter.md", "front matter"),
    ("alias_bomb.md", "front matter"),
    ("empty.md", "file"),
])
def test_files_that_are_not_records_are_skipped_naming_the_problem(
        settings: Settings, name: str, field: str) -> None:
    result = _read_data(name, settings)
    assert result.record is None, f"{name} must not publish"
    errors = [p for p in result.problems if p.is_error]
    assert [(p.file, p.field) for p in errors] == [(name, field)], [str(p) for p in result.problems]


def test_a_python_tag_is_never_constructed(settings: Settings) -> None:
    marker = Path("/tmp/feeds-test-pwned")
    marker.unlink(missing_ok=True)
    result = _read_data("python_object_tag.md", settings)
    assert not marker.exists(), "a YAML tag ran a command"
    assert result.record is None, "a title that is a Python call is not a title"
    assert [p.file for p in result.problems if p.is_error] == ["python_object_tag.md"]


@pytest.mark.parametrize("data", [b"---\ntitle: \xff\xfe\n---\n", b"\x00\x01\x02binary", b"---\n\x00\n---\n"])
def test_bytes_that_are_not_utf8_text_are_skipped(settings: Settings, data: bytes) -> None:
    result = read_record("record.md", data, settings)
    assert result.record is None
    assert [p.field for p in result.problems if p.is_error] == ["file"]


@pytest.mark.parametrize("yaml_text", [
    "shared: &x {a: 1}\nagain: *x\n",
    "shared: &x [1, 2]\nagain: *x\n",
    "shared: &x some text\nagain: *x\n",
])
def test_yaml_aliases_are_refused(read_text: Callable[[str], ReadResult], yaml_text: str) -> None:
    text = record_text(record_fields()).replace("---\n", "---\n" + yaml_text, 1)
    result = read_text(text)
    assert result.record is None, f"aliases must be refused: {yaml_text!r}"
    assert [p.field for p in result.problems if p.is_error] == ["front matter"]


def test_too_deep_nesting_is_refused(read_fields: Read, settings: Settings) -> None:
    deep: object = "bottom"
    for _ in range(settings.max_yaml_depth + 2):
        deep = [deep]
    skipped(read_fields(extra=deep), "front matter")


def test_very_deep_nesting_cannot_crash_the_reader(read_text: Callable[[str], ReadResult]) -> None:
    text = record_text(record_fields()).replace("---\n", "---\nx: " + "[" * 5000 + "]" * 5000 + "\n", 1)
    result = read_text(text)
    assert result.record is None
    assert [p.field for p in result.problems if p.is_error] == ["front matter"]


# -- permanent ids -------------------------------------------------------------------------------


@pytest.mark.parametrize("change", [
    {"heat": -1}, {"quality": 5}, {"excerpt": "A different excerpt"}, {"title": "Retitled"},
    {"topics": ["Other"]},
])
def test_the_id_does_not_change_with_ranking_excerpt_or_title(read_fields: Read,
                                                               change: dict[str, object]) -> None:
    assert published(read_fields(**change)).id == published(read_fields()).id


def test_the_id_does_not_change_with_the_file_name(settings: Settings) -> None:
    data = record_text(record_fields()).encode("utf-8")
    first = published(read_record("a.md", data, settings))
    second = published(read_record("renamed-2024.txt", data, settings))
    assert first.id == second.id


def test_different_links_have_different_ids(read_fields: Read) -> None:
    ids = {published(read_fields(webUrl=f"https://e.example/{i}")).id for i in range(20)}
    assert len(ids) == 20


def test_records_are_frozen(read_fields: Read) -> None:
    record = published(read_fields())
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.title = "changed"  # type: ignore[misc]


# A player URL that leaves the host's embed path once a browser resolves it (issue 12, item 5).
@pytest.mark.parametrize("src", [
    "https://www.youtube.com/embed/../../redirect?q=https://evil.example/",
    "https://www.youtube.com/embed/%2e%2e/%2e%2e/redirect?q=x",
    "https://www.youtube.com/embed/%2E%2E/redirect",
    "https://www.youtube.com/embed/.%2e/redirect",
    "https://www.youtube.com/embed/abc/../../redirect",
    "https://www.youtube.com/embed/./../redirect",
    "https://www.youtube.com/embed/..\\..\\redirect",
    "https://www.youtube.com/embed/%2F..%2Fredirect",
    "https://www.youtube.com/embed/abc/extra",
    "https://www.youtube.com/embed/",
    "https://player.vimeo.com/video/../../evil",
    "https://player.vimeo.com/video/12/../../evil",
    "https://www.dailymotion.com/embed/video/../../../evil",
    "https://www.youtube.com:8443/embed/abc",
    "//www.youtube.com/embed/../redirect",
])
def test_a_player_url_that_leaves_the_embed_path_is_refused(read_fields: Read, src: str) -> None:
    result = read_fields(type="video", featuredContent=f'<iframe src="{src}"></iframe>')
    assert published(result).video_url is None, src
    assert problems_for(result, "featuredContent"), "a warning names featuredContent"


@pytest.mark.parametrize(("html", "player"), [
    ('<iframe width="560" src="https://www.youtube.com/embed/WJk-Y8LQlfE?rel=0" frameborder="0">'
     "</iframe>", "https://www.youtube.com/embed/WJk-Y8LQlfE?rel=0"),
    ("<IFRAME SRC='https://www.youtube.com/embed/./WJk-Y8LQlfE'></IFRAME>",
     "https://www.youtube.com/embed/WJk-Y8LQlfE"),
    ("<iframe src=https://player.vimeo.com/video/76979871></iframe>", "https://player.vimeo.com/video/76979871"),
    ('<iframe src="https://www.dailymotion.com/embed/video/x7tgad0"></iframe>',
     "https://www.dailymotion.com/embed/video/x7tgad0"),
    ('<!-- <iframe src="https://evil.example/"> --><iframe src="https://www.youtube.com/embed/a1"></iframe>',
     "https://www.youtube.com/embed/a1"),
])
def test_a_player_url_is_resolved_as_a_browser_would(read_fields: Read, html: str, player: str) -> None:
    assert published(read_fields(type="video", featuredContent=html)).video_url == player


def test_an_iframe_cut_off_by_the_end_has_no_player(read_fields: Read) -> None:
    result = read_fields(type="video", featuredContent='<iframe src="https://www.youtube.com/embed/a1"')
    assert published(result).video_url is None


# -- repeated keys (issue 12, item 4) --------------------------------------------------------------


@pytest.mark.parametrize(("yaml_text", "field", "lines"), [
    ("published: false\nexcerpt: e\npublished: true\n", "published", (5, 7)),
    ("published: true\ntitle: Second title\n", "title", (2, 6)),
    ("published: true\nprovider:\n  name: A\n  domain: a.example\n  name: B\n", "provider.name", (7, 9)),
    ("published: true\nprovider: {name: A, domain: a.example, name: B}\n", "provider.name", (6, 6)),
    ("published: true\nrelated:\n  - title: a\n    webUrl: https://r.example/\n    title: b\n",
     "related[0].title", (7, 9)),
    ("published: true\nimages:\n  - url: https://i.example/a.png\n    url: https://i.example/b.png\n",
     "images[0].url", (7, 8)),
    ("published: true\n'excerpt': one\n\"excerpt\": two\n", "excerpt", (6, 7)),
    ("published: true\nquality: 1\nquality: 1\n", "quality", (6, 7)),
])
def test_a_key_given_twice_at_any_level_refuses_the_record(
        read_text: Callable[[str], ReadResult], yaml_text: str, field: str, lines: tuple[int, int]) -> None:
    text = ("---\ntitle: T\npublishedDateTime: 2021-03-04T05:06:07Z\n"
            f"webUrl: https://news.example.com/a\n{yaml_text}---\n")
    error = skipped(read_text(text), field)
    assert f"lines {lines[0]} and {lines[1]}" in error.message, error


# -- numbers beyond any range (issue 12, item 3) ---------------------------------------------------

HUGE = "9" * 5000


@pytest.mark.parametrize(("yaml_text", "field"), [
    (f"quality: {HUGE}\n", "quality"),
    (f"heat: -{HUGE}\n", "heat"),
    (f"quality: '{HUGE}'\n", "quality"),
    ("quality: 10000000000\n", "quality"),
    ("heat: -1000000001\n", "heat"),
    (f"images:\n  - url: https://i.example/a.png\n    width: {HUGE}\n", "images[0].width"),
    ("images:\n  - url: https://i.example/a.png\n    height: 100000\n", "images[0].height"),
    (f"provider:\n  name: P\n  domain: p.example\n  images:\n    - url: https://i.example/l.png\n"
     f"      width: {HUGE}\n", "provider.images[0].width"),
])
def test_a_number_out_of_range_is_a_warning_of_its_field(
        read_text: Callable[[str], ReadResult], yaml_text: str, field: str) -> None:
    text = ("---\ntitle: T\npublishedDateTime: 2021-03-04T05:06:07Z\n"
            f"webUrl: https://news.example.com/a\npublished: true\n{yaml_text}---\n")
    result = read_text(text)
    published(result)
    assert any("out of range" in p.message for p in problems_for(result, field)), result.problems


@pytest.mark.parametrize("yaml_text", [
    f"title: {HUGE}\n", f"topics: [{HUGE}]\n", f"excerpt: {HUGE}\n",
    f"related:\n  - title: r\n    webUrl: https://r.example/\n    quality: {HUGE}\n",
    f"provider:\n  name: {HUGE}\n  domain: p.example\n", f"{HUGE}: key\n", f"extra: [{HUGE}, -{HUGE}]\n",
    f"title: 0x{'f' * 5000}\n", f"title: -0b{'1' * 20000}\n", f"title: {'1:' * 3000}1\n",
    f"topics: [0x{'f' * 5000}]\n", f"quality: 0x{'f' * 5000}\n", f"heat: {'1_' * 3000}1\n",
])
def test_a_long_number_anywhere_never_crashes_the_reader(
        read_text: Callable[[str], ReadResult], yaml_text: str) -> None:
    head = "" if yaml_text.startswith("title") else "title: T\n"
    text = (f"---\n{head}publishedDateTime: 2021-03-04T05:06:07Z\n"
            f"webUrl: https://news.example.com/a\npublished: true\n{yaml_text}---\n")
    result = read_text(text)
    if result.record is None:  # a 5,000-digit key is longer than YAML lets a key be
        assert [p.field for p in result.problems if p.is_error] == ["front matter"], result.problems


def test_a_long_number_as_a_title_is_kept_as_its_text(read_text: Callable[[str], ReadResult]) -> None:
    text = (f"---\ntitle: {HUGE}\npublishedDateTime: 2021-03-04T05:06:07Z\n"
            "webUrl: https://news.example.com/a\npublished: true\n---\n")
    assert published(read_text(text)).title.startswith("9999")


# -- YAML errors point at the line where the trouble starts (issue 12, item 14) ---------------------


@pytest.mark.parametrize(("yaml_text", "line", "words"), [
    ('title: "unclosed\npublishedDateTime: 2021-03-04T05:06:07Z\nwebUrl: https://n.example/a\n'
     "published: true\n", 2, "quote"),
    ("title: T\nexcerpt: 'unclosed\npublishedDateTime: 2021-03-04T05:06:07Z\nwebUrl: https://n.example/a\n",
     3, "quote"),
    ("title: T\ntopics: [a, b\npublishedDateTime: 2021-03-04T05:06:07Z\n", 3, "']'"),
    ("title: T\nprovider: {name: A\npublishedDateTime: 2021-03-04T05:06:07Z\n", 3, "'}'"),
    ("title: T\nthis line has no colon\npublishedDateTime: 2021-03-04T05:06:07Z\n", 3, "':'"),
    ("title: T\n\tpublished: true\n", 3, "tab"),
    ("title: Breaking: news\n", 2, "quotes"),
    ("title: T\nexcerpt: @handle\n", 3, "quotes"),
])
def test_a_yaml_error_names_the_line_where_it_starts(
        read_text: Callable[[str], ReadResult], yaml_text: str, line: int, words: str) -> None:
    error = skipped(read_text(f"---\n{yaml_text}---\n"), "front matter")
    assert f"at line {line}," in error.message, error
    assert words in error.message, error


@pytest.mark.parametrize("yaml_text", [
    "<<: {published: false, published: true}\n", "provider:\n  <<: {name: A, name: B}\n",
    "related:\n  - <<: {title: a, title: b}\n", "<<: {excerpt: merged}\n",
])
def test_a_merge_key_is_refused_it_would_hide_a_repeated_key(
        read_text: Callable[[str], ReadResult], yaml_text: str) -> None:
    text = ("---\ntitle: T\npublishedDateTime: 2021-03-04T05:06:07Z\nwebUrl: https://n.example/a\n"
            f"published: true\n{yaml_text}---\n")
    result = read_text(text)
    assert result.record is None
    assert any("merge key" in p.message for p in result.problems if p.is_error), result.problems


def test_a_key_named_like_a_report_line_is_escaped_in_the_error(
        read_text: Callable[[str], ReadResult]) -> None:
    key = '"x\\nerror: other.md: title: forged\\u001b[31m"'
    text = ("---\ntitle: T\npublishedDateTime: 2021-03-04T05:06:07Z\nwebUrl: https://n.example/a\n"
            f"published: true\n{key}: 1\n{key}: 2\n---\n")
    [error] = [p for p in read_text(text).problems if p.is_error]
    assert str(error).isprintable() and "\n" not in str(error), error
    assert error.field.startswith("x\\x0aerror"), error


def test_checking_keys_holds_no_copy_of_a_long_key_per_child(read_text: Callable[[str], ReadResult]) -> None:
    import tracemalloc
    text = ("---\ntitle: T\npublishedDateTime: 2021-03-04T05:06:07Z\nwebUrl: https://n.example/a\n"
            f"published: true\n? \"{'k' * 100_000}\"\n: [{', '.join(['1'] * 20_000)}]\n---\n")
    tracemalloc.start()
    try:
        result = read_text(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.record is not None
    assert peak < 100 * 1024 * 1024, f"{peak / 1e6:.0f} MB for a {len(text) / 1e3:.0f} KB record"
