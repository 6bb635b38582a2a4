"""Rendering: what each entry and feed holds, and the feedgen 1.0.0 pitfalls render.py handles.

Each pitfall in feeds/render.py's docstring has a test here that fails if it returns:
related links losing rel/type/title, dates from the clock, prepended (reversed)
entries, media:group and string-less media attributes, RSS <author> for a name,
and a generator naming python-feedgen and its version.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import html5lib
import pytest
from lxml import etree

from feeds.plan import Plan
from feeds.render import render_feed, render_site
from feeds.settings import Settings, replace

from .feedcheck import (
    DATA,
    NS,
    every_feed,
    feed_file,
    parse_rfc822,
    parse_rfc3339,
    parse_xml,
    rfc822,
    tag,
    text_of,
)
from .stores import RecordWriter, Site, read_store

ATOM = {"a": NS["atom"], "media": NS["media"]}


def plan_of(settings: Settings) -> Plan:
    """The plan of the store `settings` points at, its records loaded."""
    return read_store(settings).plan


def rendered(settings: Settings) -> dict[str, bytes]:
    """Every feed file of the store, rendered in memory, by site path."""
    return dict(render_site(plan_of(settings), settings))


def atom_entries(data: bytes) -> list[etree._Element]:
    """The entries of an Atom feed."""
    return list(parse_xml(data).iterfind("a:entry", ATOM))


def rss_items(data: bytes) -> list[etree._Element]:
    """The items of an RSS feed."""
    return list(parse_xml(data).iterfind("channel/item"))


def json_items(data: bytes) -> list[dict[str, Any]]:
    """The items of a JSON feed."""
    items: list[dict[str, Any]] = json.loads(data)["items"]
    return items


def html_elements(fragment: str) -> Iterator[Any]:
    """Every element of an HTML fragment, parsed the way a browser would."""
    root = html5lib.parseFragment(fragment, treebuilder="etree", namespaceHTMLElements=False)
    yield from root.iter()


def contents(files: dict[str, bytes], stem: str = "feed") -> list[str]:
    """The HTML content of every entry of a feed, in all three formats."""
    atom = [text_of(e.find("a:content", ATOM)) for e in atom_entries(files[f"{stem}.atom"])]
    rss = [text_of(i.find("content:encoded", NS)) for i in rss_items(files[f"{stem}.rss"])]
    js = [i["content_html"] for i in json_items(files[f"{stem}.json"])]
    return atom + rss + js


# -- feedgen pitfall: Atom entry links keep only href (python-feedgen issue 135) -------------


def test_atom_related_links_keep_rel_type_and_title(write_record: RecordWriter,
                                                   settings: Settings) -> None:
    write_record(related=[
        {"title": "First & other coverage", "webUrl": "https://one.example/story"},
        {"title": "Second", "webUrl": "https://two.example/story"},
    ])
    entry = atom_entries(rendered(settings)["feed.atom"])[0]
    links = [dict(link.attrib) for link in entry.findall("a:link", ATOM)]
    assert {"href": "https://one.example/story", "rel": "related", "type": "text/html",
            "title": "First & other coverage"} in links, links
    assert {"href": "https://two.example/story", "rel": "related", "type": "text/html",
            "title": "Second"} in links, links
    alternate = [link for link in links if link.get("rel", "alternate") == "alternate"]
    assert [link["href"] for link in alternate] == ["https://news.example.com/2021/03/minimal-record"]


# -- feedgen pitfall: updated defaults to now ---------------------------------------------------


def test_feed_and_entry_dates_come_from_records_never_the_clock(write_record: RecordWriter,
                                                                settings: Settings) -> None:
    write_record("old.md", publishedDateTime="2001-02-03T04:05:06Z", webUrl="https://e.example/old")
    write_record("new.md", publishedDateTime="2002-03-04T05:06:07+02:00",
                 webUrl="https://e.example/new")
    files = rendered(settings)
    newest = datetime(2002, 3, 4, 3, 6, 7, tzinfo=UTC)
    dates = {newest, datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)}
    atom = parse_xml(files["feed.atom"])
    assert parse_rfc3339(text_of(atom.find("a:updated", ATOM))) == newest
    for element in atom.iterfind(".//a:entry/*", ATOM):
        if tag(element) in ("updated", "published"):
            assert parse_rfc3339(text_of(element)) in dates, etree.tostring(element)
    channel = parse_xml(files["feed.rss"]).find("channel")
    assert channel is not None
    assert parse_rfc822(text_of(channel.find("lastBuildDate"))) == newest
    assert {parse_rfc822(text_of(d)) for d in channel.iterfind("item/pubDate")} == dates
    for item in json_items(files["feed.json"]):
        assert parse_rfc3339(item["date_published"]) in dates
        assert parse_rfc3339(item["date_modified"]) in dates
    this_year = str(datetime.now(UTC).year)
    for path, data in files.items():
        assert this_year not in re.sub(r"urn:uuid:[0-9a-f-]+", "", data.decode()), (
            f"{path} holds the current year: a date came from the clock")


def test_an_empty_feed_does_not_take_the_clock_either(settings: Settings) -> None:
    files = rendered(settings)
    updated = parse_rfc3339(text_of(parse_xml(files["feed.atom"]).find("a:updated", ATOM)))
    assert updated.year < 2000, f"an empty feed's updated must not be now: {updated}"


def test_rendering_twice_gives_the_same_bytes(seeds_dir: Path, settings: Settings) -> None:
    settings = replace(settings, records=str(seeds_dir))
    assert rendered(settings) == rendered(settings)


# -- feedgen pitfall: add_entry() prepends --------------------------------------------------------


def test_entries_are_newest_first_in_every_format(write_record: RecordWriter,
                                                  settings: Settings) -> None:
    dates = ["2020-05-01T00:00:00Z", "2021-01-01T00:00:00Z", "2019-07-01T00:00:00Z",
             "2021-01-01T00:00:00Z", "2020-12-31T23:59:59Z"]
    for i, date in enumerate(dates):
        write_record(f"{i}.md", title=f"Record {i}", publishedDateTime=date,
                     webUrl=f"https://e.example/{i}")
    records = read_store(settings).records
    expected = [r.title for r in sorted(records, key=lambda r: (-r.published_at.timestamp(), r.id))]
    assert expected[2:] == ["Record 4", "Record 0", "Record 2"]
    files = rendered(settings)
    assert [text_of(e.find("a:title", ATOM)) for e in atom_entries(files["feed.atom"])] == expected
    assert [text_of(i.find("title")) for i in rss_items(files["feed.rss"])] == expected
    assert [i["title"] for i in json_items(files["feed.json"])] == expected


def test_limit_keeps_the_newest_entries(write_record: RecordWriter, settings: Settings) -> None:
    for day in range(1, 6):
        write_record(f"{day}.md", title=f"Day {day}", publishedDateTime=f"2021-01-0{day}T00:00:00Z",
                     webUrl=f"https://e.example/{day}")
    files = rendered(replace(settings, limit=2))
    assert [text_of(e.find("a:title", ATOM)) for e in atom_entries(files["feed.atom"])] == [
        "Day 5", "Day 4"]
    assert len(rss_items(files["topics/testing.rss"])) == 2
    assert len(json_items(files["providers/example.com.json"])) == 2


# -- feedgen pitfall: the media extension wraps items in media:group -------------------------------


def test_media_thumbnail_and_content_are_bare_children_with_size(write_record: RecordWriter,
                                                                 settings: Settings) -> None:
    write_record(images=[{"url": "https://i.example/pic.jpg?w=1&h=2", "width": 1200, "height": 600},
                         {"url": "https://i.example/second.jpg", "width": 10, "height": 10}])
    files = rendered(settings)
    atom_entry = atom_entries(files["feed.atom"])[0]
    rss_item = rss_items(files["feed.rss"])[0]
    for where, entry in (("atom", atom_entry), ("rss", rss_item)):
        assert entry.find(".//media:group", NS) is None, f"{where}: media:group"
        thumbnails = entry.findall("media:thumbnail", NS)
        media = entry.findall("media:content", NS)
        assert [dict(t.attrib) for t in thumbnails] == [
            {"url": "https://i.example/pic.jpg?w=1&h=2", "width": "1200", "height": "600"}], where
        assert [dict(m.attrib) for m in media] == [
            {"url": "https://i.example/pic.jpg?w=1&h=2", "medium": "image", "width": "1200",
             "height": "600"}], where
    assert json_items(files["feed.json"])[0]["image"] == "https://i.example/pic.jpg?w=1&h=2"


def test_an_image_without_a_size_has_no_width_or_height(write_record: RecordWriter,
                                                        settings: Settings) -> None:
    write_record(images=[{"url": "https://i.example/pic.jpg"}])
    entry = atom_entries(rendered(settings)["feed.atom"])[0]
    thumbnail = entry.find("media:thumbnail", NS)
    assert thumbnail is not None and dict(thumbnail.attrib) == {"url": "https://i.example/pic.jpg"}


def test_a_record_without_images_has_no_media(write_record: RecordWriter, settings: Settings) -> None:
    write_record()
    files = rendered(settings)
    for data in (files["feed.atom"], files["feed.rss"]):
        assert b"media:thumbnail" not in data and b"media:content" not in data
    assert "image" not in json_items(files["feed.json"])[0]


# -- feedgen pitfall: RSS <author> needs an e-mail address ----------------------------------------


def test_rss_names_the_provider_in_dc_creator_never_author(write_record: RecordWriter,
                                                           settings: Settings) -> None:
    write_record(provider={"name": "Business Insider", "domain": "businessinsider.com"})
    item = rss_items(rendered(settings)["feed.rss"])[0]
    assert item.find("author") is None
    assert [text_of(c) for c in item.findall("dc:creator", NS)] == ["Business Insider"]


def test_atom_entries_always_have_an_author(write_record: RecordWriter, settings: Settings) -> None:
    write_record(provider=None, webUrl="https://www.example.net/x")
    author = atom_entries(rendered(settings)["feed.atom"])[0].find("a:author", ATOM)
    assert author is not None
    assert text_of(author.find("a:name", ATOM)) == "www.example.net"
    assert text_of(author.find("a:uri", ATOM)) == "https://www.example.net/"


# -- feedgen pitfall: generator carries feedgen's version ------------------------------------------


def test_generator_is_fixed_and_names_no_version(seeds_site: Site) -> None:
    atom = parse_xml((seeds_site.out / "feed.atom").read_bytes())
    rss = parse_xml((seeds_site.out / "feed.rss").read_bytes())
    for generator in (atom.find("a:generator", ATOM), rss.find("channel/generator")):
        assert generator is not None
        assert dict(generator.attrib) == {}, "no version or uri attribute"
        assert text_of(generator) == "feeds"
        assert "feedgen" not in text_of(generator).lower()


# -- RSS specifics ------------------------------------------------------------------------------------


def test_rss_guid_is_the_record_id_and_not_a_permalink(seeds_site: Site) -> None:
    records = {r.id for r in read_store(seeds_site.settings).records}
    assert len(records) == 2
    for item in rss_items((seeds_site.out / "feed.rss").read_bytes()):
        guid = item.find("guid")
        assert guid is not None and guid.get("isPermaLink") == "false"
        assert text_of(guid) in records


def test_rss_dates_are_rfc822_with_a_four_digit_year(write_record: RecordWriter,
                                                     settings: Settings) -> None:
    write_record(publishedDateTime="2009-06-07T08:09:10+05:30")
    channel = parse_xml(rendered(settings)["feed.rss"]).find("channel")
    assert channel is not None
    pub_date = text_of(channel.find("item/pubDate"))
    assert pub_date == "Sun, 07 Jun 2009 02:39:10 +0000", pub_date
    assert text_of(channel.find("lastBuildDate")) == pub_date
    assert rfc822(datetime(2009, 6, 7, 2, 39, 10, tzinfo=UTC)) == pub_date


# -- links and titles ---------------------------------------------------------------------------------


def test_every_url_is_absolute_from_the_base_url(seeds_dir: Path, settings: Settings) -> None:
    settings = replace(settings, records=str(seeds_dir), base_url="https://cdn.example.net/news")
    files = rendered(settings)
    atom = parse_xml(files["topics/computer-vision.atom"])
    links = {link.get("rel"): link.get("href") for link in atom.findall("a:link", ATOM)}
    assert links == {"self": "https://cdn.example.net/news/topics/computer-vision.atom",
                     "alternate": "https://cdn.example.net/news/topics/computer-vision/"}
    assert text_of(atom.find("a:id", ATOM)) == "https://cdn.example.net/news/topics/computer-vision.atom"
    doc = json.loads(files["providers/reuters.com.json"])
    assert doc["feed_url"] == "https://cdn.example.net/news/providers/reuters.com.json"
    assert doc["home_page_url"] == "https://cdn.example.net/news/providers/reuters.com/"
    for path, data in files.items():
        if path.endswith(".json"):
            continue
        for element in parse_xml(data).iter():
            for name in ("href", "url", "uri"):
                value = element.get(name)
                assert value is None or re.match(r"^https?://[^/]", value), f"{path}: {value!r}"


def test_the_language_setting_reaches_every_format(seeds_dir: Path, settings: Settings) -> None:
    files = rendered(replace(settings, records=str(seeds_dir), language="fr"))
    assert parse_xml(files["feed.atom"]).get("{http://www.w3.org/XML/1998/namespace}lang") == "fr"
    assert text_of(parse_xml(files["feed.rss"]).find("channel/language")) == "fr"
    assert json.loads(files["feed.json"])["language"] == "fr"


# -- content: plain text escaped where a format wants HTML ----------------------------------------------


def test_text_with_ampersands_and_brackets_survives_every_format(write_record: RecordWriter,
                                                                 settings: Settings) -> None:
    title = "H&M <3 AT&T: \"quotes\" & 'apostrophes'"
    excerpt = "Fish & chips < 5 € > 3 &c."
    write_record(title=title, excerpt=excerpt,
                 provider={"name": "Smith & Sons", "domain": "smith.example"},
                 topics=["R&D"])
    files = rendered(settings)
    entry = atom_entries(files["feed.atom"])[0]
    assert text_of(entry.find("a:title", ATOM)) == title
    assert text_of(entry.find("a:summary", ATOM)) == excerpt
    assert text_of(entry.find("a:author/a:name", ATOM)) == "Smith & Sons"
    item = rss_items(files["feed.rss"])[0]
    assert text_of(item.find("title")) == title
    assert html.unescape(text_of(item.find("description"))) == excerpt
    assert text_of(item.find("dc:creator", NS)) == "Smith & Sons"
    js = json_items(files["feed.json"])[0]
    assert (js["title"], js["summary"], js["authors"][0]["name"]) == (title, excerpt, "Smith & Sons")
    for content in contents(files):
        texts = [e.text or "" for e in html_elements(content)] + [
            e.tail or "" for e in html_elements(content)]
        assert excerpt in texts, f"the excerpt must be HTML-escaped in the content: {content}"
    assert "topics/r-d.atom" in files


def test_entry_content_holds_image_excerpt_and_related_coverage(write_record: RecordWriter,
                                                                settings: Settings) -> None:
    write_record(excerpt="The excerpt.",
                 images=[{"url": "https://i.example/pic.jpg?a=1&b=2", "width": 640, "height": 480}],
                 related=[{"title": "Other take", "webUrl": "https://other.example/take?x=1&y=2",
                           "provider": {"name": "Other Paper"}}])
    for content in contents(rendered(settings)):
        elements = list(html_elements(content))
        images = [e.attrib for e in elements if e.tag == "img"]
        assert images == [{"src": "https://i.example/pic.jpg?a=1&b=2", "alt": "", "width": "640",
                           "height": "480"}], content
        paragraphs = [e.text for e in elements if e.tag == "p"]
        assert "The excerpt." in paragraphs, content
        anchors = {e.get("href"): "".join(e.itertext()) for e in elements if e.tag == "a"}
        assert anchors["https://other.example/take?x=1&y=2"] == "Other take", content
        assert anchors["https://news.example.com/2021/03/minimal-record"], content
        items = ["".join(e.itertext()) for e in elements if e.tag == "li"]
        assert items == ["Other take (Other Paper)"], content
        assert "Related coverage" in "".join("".join(e.itertext()) for e in elements if e.tag == "p")


def test_markup_in_records_never_becomes_markup_in_feeds(write_record: RecordWriter,
                                                         settings: Settings) -> None:
    write_record(
        title='<script>alert("t")</script>Breaking "news"',
        excerpt='<img src=x onerror="alert(1)">An <b>excerpt</b> &lt;script&gt;alert(2)&lt;/script&gt;',
        provider={"name": '<b onmouseover="alert(3)">Prov</b>', "domain": "prov.example"},
        related=[{"title": '"><script>alert(4)</script>Related', "webUrl": "https://r.example/x"},
                 {"title": "Bad link", "webUrl": "javascript:alert(5)"}],
        images=[{"url": 'https://i.example/a.jpg" onerror="alert(6)'}],
        topics=['<script>alert(7)</script>Topic'],
    )
    files = rendered(settings)
    for content in contents(files):
        for element in html_elements(content):
            assert element.tag in ("DOCUMENT_FRAGMENT", "p", "a", "img", "ul", "li"), (
                f"unexpected <{element.tag}> in {content}")
            for name, value in element.attrib.items():
                assert not name.lower().startswith("on"), f"event handler {name} in {content}"
                assert not value.strip().lower().startswith("javascript"), content
    for path, data in files.items():
        readable = html.unescape(html.unescape(data.decode()))
        assert "javascript:" not in readable.lower(), path
        assert "<script" not in readable.lower(), path
        assert "alert(5)" not in readable, path


# -- videos ------------------------------------------------------------------------------------------------


def test_a_video_has_a_safe_player_and_a_link_never_an_iframe(settings: Settings) -> None:
    (Path(settings.records) / "video.md").write_bytes((DATA / "video_youtube.md").read_bytes())
    files = rendered(settings)
    embed = "https://www.youtube.com/embed/WJk-Y8LQlfE"
    atom_entry = atom_entries(files["feed.atom"])[0]
    rss_item = rss_items(files["feed.rss"])[0]
    for entry in (atom_entry, rss_item):
        players = entry.findall("media:player", NS)
        assert [dict(p.attrib) for p in players] == [{"url": embed}]
    for content in contents(files):
        anchors = [e.get("href") for e in html_elements(content) if e.tag == "a"]
        assert embed in anchors, f"the content links to the player: {content}"
    for path, data in files.items():
        readable = html.unescape(html.unescape(data.decode())).lower()
        assert "<iframe" not in readable and "onload" not in readable, path


def test_a_video_without_a_safe_embed_has_no_player(settings: Settings) -> None:
    (Path(settings.records) / "video.md").write_bytes((DATA / "video_unsafe_embed.md").read_bytes())
    files = rendered(settings)
    for path, data in files.items():
        assert b"media:player" not in data, path
        assert b"evil.example" not in data and b"<script" not in data, path


# -- ids ----------------------------------------------------------------------------------------------------


def _ids_by_title(site: Site, stories: bool) -> dict[str, set[str]]:
    """The ids each entry title has in every format of the record feeds (all, topics, providers), or of
    the story feeds (stories, top, and each topic's)."""
    ids: dict[str, set[str]] = {}
    for spec, fmt in every_feed(site.report.plan.feeds):
        if spec.kind.stories != stories:
            continue
        data = (site.out / feed_file(spec, fmt)).read_bytes()
        if fmt == "atom":
            found = [(text_of(e.find("a:title", ATOM)), text_of(e.find("a:id", ATOM)))
                     for e in atom_entries(data)]
        elif fmt == "rss":
            found = [(text_of(i.find("title")), text_of(i.find("guid"))) for i in rss_items(data)]
        else:
            found = [(i["title"], i["id"]) for i in json_items(data)]
        for title, ident in found:
            ids.setdefault(title, set()).add(ident)
    return ids


def test_a_record_has_one_id_in_every_feed_and_format(seeds_site: Site) -> None:
    ids = _ids_by_title(seeds_site, stories=False)
    assert len(ids) == 2
    assert all(len(v) == 1 for v in ids.values()), ids
    assert len({next(iter(v)) for v in ids.values()}) == 2, "two records, two ids"


def test_a_story_has_one_id_in_every_story_feed_and_format_and_not_its_record_s(seeds_site: Site) -> None:
    """The seeds' two records are two stories (they name no page in common), each in the stories feed
    and its topics'; the hotter also in the top feeds.  A reader merging entries by id shows each story
    once, and never takes it for the record it is made from."""
    ids = _ids_by_title(seeds_site, stories=True)
    records = _ids_by_title(seeds_site, stories=False)
    assert set(ids) == set(records), "a story of one article is titled as its article"
    assert all(len(v) == 1 for v in ids.values()), ids
    story_ids = {next(iter(v)) for v in ids.values()}
    assert len(story_ids) == 2, "two stories, two ids"
    assert all(ident.startswith("urn:uuid:") for ident in story_ids), story_ids
    assert not story_ids & {next(iter(v)) for v in records.values()}, "a story's id is not a record's"


@pytest.mark.parametrize("stem", ["feed", "topics/ai", "providers/reuters.com", "stories", "topics/ai/top"])
def test_json_feed_has_the_same_content_as_atom(seeds_site: Site, stem: str) -> None:
    atom = atom_entries((seeds_site.out / f"{stem}.atom").read_bytes())
    items = json_items((seeds_site.out / f"{stem}.json").read_bytes())
    assert len(atom) == len(items)
    for entry, item in zip(atom, items, strict=True):
        link = next(lk.get("href") for lk in entry.findall("a:link", ATOM)
                    if lk.get("rel", "alternate") == "alternate")
        assert item["id"] == text_of(entry.find("a:id", ATOM))
        assert item["url"] == link
        assert item["title"] == text_of(entry.find("a:title", ATOM))
        assert item.get("summary", "") == text_of(entry.find("a:summary", ATOM))
        assert item["content_html"] == text_of(entry.find("a:content", ATOM))
        assert parse_rfc3339(item["date_published"]) == parse_rfc3339(
            text_of(entry.find("a:published", ATOM)))
        assert parse_rfc3339(item["date_modified"]) == parse_rfc3339(
            text_of(entry.find("a:updated", ATOM)))
        assert item["authors"] == [{"name": text_of(entry.find("a:author/a:name", ATOM)),
                                    "url": text_of(entry.find("a:author/a:uri", ATOM))}]
        assert item.get("tags", []) == [c.get("term") for c in entry.findall("a:category", ATOM)]


def test_provider_feeds_carry_the_logo_in_every_format(seeds_site: Site) -> None:
    logo = ("https://everyday-cc.github.io/ai/assets/images/organizations/"
            "businessinsider.com-50x50.jpg")
    out = seeds_site.out / "providers"
    atom = parse_xml((out / "businessinsider.com.atom").read_bytes())
    assert text_of(atom.find("a:logo", ATOM)) == logo
    rss = parse_xml((out / "businessinsider.com.rss").read_bytes())
    assert text_of(rss.find("channel/image/url")) == logo
    assert json.loads((out / "businessinsider.com.json").read_bytes())["icon"] == logo
    assert parse_xml((seeds_site.out / "feed.atom").read_bytes()).find("a:logo", ATOM) is None


def test_render_feed_returns_utf8_with_an_xml_declaration(seeds_dir: Path,
                                                          settings: Settings) -> None:
    settings = replace(settings, records=str(seeds_dir))
    spec = plan_of(settings).feeds[0]
    for fmt in ("atom", "rss"):
        data = render_feed(spec, fmt, settings)
        assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>"), data[:60]
        data.decode("utf-8")
    assert json.loads(render_feed(spec, "json", settings))["items"]
