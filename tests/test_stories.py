"""Stories: records grouped by the pages they name, one entry per story, and top stories entered once.

Each rule of `feeds.catalog.stories` and each edge case (chains, a record
related to two stories, a story that grows, the same link twice, secondary
articles, URL spellings) on hand-made stores; feeds read back with lxml.
An incremental build after each change gives a clean build's bytes.
"""

from __future__ import annotations

import filecmp
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from lxml import etree

from feeds.build import build_site
from feeds.catalog.stories import page_key
from feeds.settings import Settings, replace

from .stores import RecordWriter, read_store

ATOM = "{http://www.w3.org/2005/Atom}"


def _related(url: str, title: str = "Elsewhere", provider: str = "Other") -> dict[str, Any]:
    return {"title": title, "webUrl": url, "publishedDateTime": "2021-03-01T00:00:00Z",
            "provider": {"name": provider, "domain": "other.example"}}


def _url(slug: str) -> str:
    return f"https://news.example.com/{slug}"


def _write(write: RecordWriter, slug: str, day: int, *, related: tuple[str, ...] = (), heat: int = 50,
           quality: int = 50, topics: tuple[str, ...] = ("Testing",), provider: str = "Example News",
           **fields: Any) -> Path:
    fields.setdefault("title", f"Story {slug}")
    return write(f"{slug}.md", webUrl=_url(slug),
                 publishedDateTime=f"2021-03-{day:02}T12:00:00Z", heat=heat, quality=quality,
                 topics=list(topics), provider={"name": provider, "domain": "example.com"},
                 related=[_related(url) for url in related], **fields)


def _entries(out: Path, feed: str = "stories") -> list[etree._Element]:
    return etree.parse(str(out / f"{feed}.atom")).getroot().findall(f"{ATOM}entry")


def _titles(out: Path, feed: str = "stories") -> list[str]:
    return [entry.findtext(f"{ATOM}title") or "" for entry in _entries(out, feed)]


def _also(entry: etree._Element) -> list[str]:
    """The links of an entry's other articles and related coverage (its rel="related" links)."""
    return [link.get("href") or "" for link in entry.findall(f"{ATOM}link") if link.get("rel") == "related"]


def _same_as_clean(settings: Settings, tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    build_site(replace(settings, out=str(clean), cache_dir="off"))
    compared = filecmp.dircmp(settings.out, clean)
    differ: list[str] = []

    def walk(cmp: filecmp.dircmp[str], prefix: str = "") -> None:
        differ.extend(prefix + name for name in cmp.left_only + cmp.right_only + cmp.diff_files)
        _, mismatch, errors = filecmp.cmpfiles(cmp.left, cmp.right, cmp.common_files, shallow=False)
        differ.extend(prefix + name for name in mismatch + errors)
        for name, sub in cmp.subdirs.items():
            walk(sub, f"{prefix}{name}/")

    walk(compared)
    assert not differ, f"differs from a clean build: {sorted(set(differ))[:10]}"


# -- the rule ----------------------------------------------------------------------------------
def test_a_record_linked_from_another_s_related_coverage_is_one_story(
        write_record: RecordWriter, settings: Settings) -> None:
    _write(write_record, "a", 1, quality=40)
    _write(write_record, "b", 2, related=(_url("a"),), quality=80)
    build_site(settings)
    out = Path(settings.out)
    (entry,) = _entries(out)
    assert entry.findtext(f"{ATOM}title") == "Story b", "links to its best article (highest quality)"
    links = [link.get("href") for link in entry.findall(f"{ATOM}link") if link.get("rel") is None]
    assert links == [_url("b")]
    assert entry.findtext(f"{ATOM}published") == "2021-03-01T12:00:00+00:00", "published with its first"
    assert entry.findtext(f"{ATOM}updated") == "2021-03-02T12:00:00+00:00", "updated with its newest"
    assert _also(entry) == [_url("a")]
    content = entry.findtext(f"{ATOM}content") or ""
    assert "Also covered by:" in content and "Story a" in content and "Example News" in content
    assert len(_entries(out, "feed")) == 2, "the all-items feed keeps every article"


def test_quality_then_heat_then_the_earliest_picks_the_best_article(
        write_record: RecordWriter, settings: Settings) -> None:
    _write(write_record, "a", 1, quality=60, heat=10)
    _write(write_record, "b", 2, related=(_url("a"),), quality=60, heat=70)
    _write(write_record, "c", 3, related=(_url("a"),), quality=60, heat=70)
    build_site(settings)
    assert _titles(Path(settings.out)) == ["Story b"]


def test_records_citing_the_same_coverage_are_one_story(
        write_record: RecordWriter, settings: Settings) -> None:
    _write(write_record, "a", 1, related=("https://elsewhere.example/x",))
    _write(write_record, "b", 2, related=("https://elsewhere.example/x",))
    _write(write_record, "c", 3)
    build_site(settings)
    entries = _entries(Path(settings.out))
    assert len(entries) == 2
    assert _also(entries[1]) == [_url("b"), "https://elsewhere.example/x"], \
        "the other member first, then the coverage none of them is"


def test_a_chain_of_links_is_one_story(write_record: RecordWriter, settings: Settings) -> None:
    _write(write_record, "a", 1)
    _write(write_record, "b", 2, related=(_url("a"),))
    _write(write_record, "c", 3, related=(_url("b"),))
    _write(write_record, "d", 4, related=(_url("c"),))
    build_site(settings)
    (entry,) = _entries(Path(settings.out))
    lead = entry.findtext(f"{ATOM}title")
    assert sorted(_also(entry)) == sorted(_url(s) for s in "abcd" if f"Story {s}" != lead)


def test_a_record_related_to_two_stories_joins_them_under_the_older_one_s_id(
        write_record: RecordWriter, settings: Settings, tmp_path: Path) -> None:
    _write(write_record, "a", 1)
    _write(write_record, "a2", 2, related=(_url("a"),))
    _write(write_record, "b", 3)
    _write(write_record, "b2", 4, related=(_url("b"),))
    build_site(settings)
    out = Path(settings.out)
    ids = {entry.findtext(f"{ATOM}title"): entry.findtext(f"{ATOM}id") for entry in _entries(out)}
    assert sorted(ids) == ["Story a", "Story b"]
    first = ids["Story a"]
    _write(write_record, "bridge", 5, related=(_url("a2"), _url("b2")))
    build_site(settings)
    (entry,) = _entries(out)
    assert entry.findtext(f"{ATOM}id") == first, "the merged story keeps the id of the one begun first"
    assert len(_also(entry)) == 4
    _same_as_clean(settings, tmp_path)


def test_a_story_keeps_its_id_as_it_grows_and_its_updated_moves(
        write_record: RecordWriter, settings: Settings, tmp_path: Path) -> None:
    _write(write_record, "a", 1, quality=90)
    build_site(settings)
    out = Path(settings.out)
    (before,) = _entries(out)
    _write(write_record, "b", 5, related=(_url("a"),))
    _write(write_record, "c", 6, related=(_url("a"),))
    build_site(settings)
    (after,) = _entries(out)
    assert after.findtext(f"{ATOM}id") == before.findtext(f"{ATOM}id")
    assert after.findtext(f"{ATOM}published") == before.findtext(f"{ATOM}published")
    assert before.findtext(f"{ATOM}updated") == "2021-03-01T12:00:00+00:00"
    assert after.findtext(f"{ATOM}updated") == "2021-03-06T12:00:00+00:00"
    assert etree.parse(str(out / "stories.atom")).getroot().findtext(f"{ATOM}updated") == \
        "2021-03-06T12:00:00+00:00", "the feed is updated when its newest coverage came"
    _same_as_clean(settings, tmp_path)
    (Path(settings.records) / "b.md").unlink()
    (Path(settings.records) / "c.md").unlink()
    build_site(settings)
    (shrunk,) = _entries(out)
    assert shrunk.findtext(f"{ATOM}id") == before.findtext(f"{ATOM}id")
    assert etree.tostring(shrunk) == etree.tostring(before), "back to what it was"


def test_a_story_s_id_is_not_its_articles_and_is_the_same_everywhere(
        write_record: RecordWriter, settings: Settings) -> None:
    _write(write_record, "a", 1, heat=95)
    build_site(settings)
    out = Path(settings.out)
    record_id = _entries(out, "feed")[0].findtext(f"{ATOM}id")
    story_ids = {feed: _entries(out, feed)[0].findtext(f"{ATOM}id")
                 for feed in ("stories", "top", "topics/testing/stories", "topics/testing/top")}
    assert len(set(story_ids.values())) == 1 and record_id not in story_ids.values()
    assert json.loads((out / "stories.json").read_text())["items"][0]["id"] == story_ids["stories"]


def test_a_secondary_article_joins_its_story_and_never_makes_it_top(
        write_record: RecordWriter, settings: Settings) -> None:
    _write(write_record, "primary", 1, heat=60, quality=70)
    _write(write_record, "secondary", 2, heat=-1, quality=95, related=(_url("primary"),))
    _write(write_record, "alone", 3, heat=-1)
    build_site(replace(settings, top_heat=0))
    out = Path(settings.out)
    assert sorted(_titles(out)) == ["Story alone", "Story secondary"], "one story each; a lone secondary too"
    assert _titles(out, "top") == ["Story secondary"], "heat 60 reaches 0; the story's heat is its primary's"
    build_site(replace(settings, top_heat=61))
    assert _titles(out, "top") == []


def test_the_same_article_in_two_files_is_one_member(write_record: RecordWriter, settings: Settings) -> None:
    _write(write_record, "a", 1)
    write_record("copy.md", title="Story a again", webUrl=_url("a"), publishedDateTime="2021-03-01T12:00:00Z")
    build_site(settings)
    (entry,) = _entries(Path(settings.out))
    assert _also(entry) == [] and "Also covered by" not in (entry.findtext(f"{ATOM}content") or "")


@pytest.mark.parametrize(("a", "b", "same"), [
    ("https://news.example.com/x", "http://news.example.com/x", True),
    ("https://news.example.com/x", "https://www.news.example.com/x/", True),
    ("https://news.example.com/x", "https://news.example.com:443/x#comments", True),
    ("https://news.example.com/x?id=1", "https://news.example.com/x?id=2", False),
    ("https://news.example.com/x", "https://news.example.com/X", False),
    ("https://news.example.com:8080/x", "https://news.example.com/x", False),
])
def test_urls_name_the_same_page_when_they_differ_only_in_spelling(a: str, b: str, same: bool) -> None:
    assert (page_key(a) == page_key(b)) is same


def test_a_home_page_names_no_article_and_joins_nothing(
        write_record: RecordWriter, settings: Settings) -> None:
    assert page_key("https://www.example.com/") is None and page_key("https://example.com") is None
    _write(write_record, "a", 1, related=("https://www.reuters.com/",))
    _write(write_record, "b", 2, related=("https://reuters.com",))
    build_site(settings)
    assert len(_entries(Path(settings.out))) == 2


# -- top stories ------------------------------------------------------------------------------
def test_top_stories_enter_once_when_a_member_reaches_the_heat_and_keep_their_place(
        write_record: RecordWriter, settings: Settings, tmp_path: Path) -> None:
    settings = replace(settings, top_heat=80)
    _write(write_record, "old", 1, heat=85)
    _write(write_record, "cold", 2, heat=10)
    _write(write_record, "new", 3, heat=90)
    build_site(settings)
    out = Path(settings.out)
    assert _titles(out, "top") == ["Story new", "Story old"]
    # Later, hotter coverage of the old story: it is updated in place, not re-announced on top.
    _write(write_record, "follow-up", 9, heat=99, quality=99, related=(_url("old"),))
    # The cold story heats up through a new article: it enters at that article's time.
    _write(write_record, "heated", 8, heat=81, related=(_url("cold"),))
    build_site(settings)
    titles = _titles(out, "top")
    assert titles == ["Story heated", "Story new", "Story follow-up"], titles
    top = {e.findtext(f"{ATOM}title"): e for e in _entries(out, "top")}
    assert top["Story follow-up"].findtext(f"{ATOM}updated") == "2021-03-09T12:00:00+00:00"
    assert top["Story follow-up"].findtext(f"{ATOM}published") == "2021-03-01T12:00:00+00:00"
    assert _titles(out)[0] == "Story follow-up", "the stories feed orders by the newest coverage"
    _same_as_clean(settings, tmp_path)


# -- per topic ---------------------------------------------------------------------------------
def test_a_story_is_in_the_stories_feed_of_every_member_s_topic(
        write_record: RecordWriter, settings: Settings) -> None:
    _write(write_record, "a", 1, topics=("AI",), heat=95)
    _write(write_record, "b", 2, topics=("Robots",), related=(_url("a"),))
    _write(write_record, "c", 3, topics=("Robots",))
    build_site(settings)
    out = Path(settings.out)
    assert len(_entries(out, "topics/ai/stories")) == 1
    assert len(_entries(out, "topics/robots/stories")) == 2
    assert len(_entries(out, "topics/robots/top")) == 1 and len(_entries(out, "topics/ai/top")) == 1
    categories = [c.get("term") for c in _entries(out, "topics/ai/stories")[0].findall(f"{ATOM}category")]
    assert categories == ["AI", "Robots"]


def test_a_topic_s_top_stories_feed_exists_before_its_first_top_story(
        write_record: RecordWriter, settings: Settings) -> None:
    _write(write_record, "a", 1, topics=("Quiet",), heat=1)
    build_site(settings)
    out = Path(settings.out)
    assert _entries(out, "topics/quiet/top") == []
    assert (out / "topics/quiet/top/index.html").is_file()
    page = (out / "topics/quiet/index.html").read_text()
    assert "topics/quiet/top.atom" in page and "topics/quiet/stories.atom" in page
    opml = (out / "feeds.opml").read_text()
    for feed in ("stories.atom", "top.atom", "topics/quiet/stories.atom", "topics/quiet/top.atom"):
        assert f"/{feed}\"" in opml, feed


def test_an_empty_store_has_empty_stories_and_top_feeds(settings: Settings) -> None:
    build_site(settings)
    out = Path(settings.out)
    assert _entries(out) == [] and _entries(out, "top") == []
    assert json.loads((out / "top.json").read_text())["items"] == []


def test_a_topic_that_goes_takes_its_story_feeds_with_it(
        write_record: RecordWriter, settings: Settings, tmp_path: Path) -> None:
    path = _write(write_record, "a", 1, topics=("Gone",), heat=99)
    _write(write_record, "b", 2)
    build_site(settings)
    out = Path(settings.out)
    assert (out / "topics/gone/top.atom").is_file()
    path.unlink()
    build_site(settings)
    assert not (out / "topics/gone").exists() and not (out / "topics/gone.atom").exists()
    _same_as_clean(settings, tmp_path)


def test_text_in_a_story_stays_escaped(write_record: RecordWriter, settings: Settings) -> None:
    _write(write_record, "a", 1)
    write_record("b.md", title='Tom & Jerry: 1 < 2, "quoted" <script>alert(1)</script>', webUrl=_url("b"),
                 publishedDateTime="2021-03-02T12:00:00Z", quality=99, related=[_related(_url("a"))])
    _write(write_record, "c", 3, title="Tom & Jerry, again", related=(_url("a"),))
    build_site(settings)
    out = Path(settings.out)
    (entry,) = _entries(out)
    assert (entry.findtext(f"{ATOM}title") or "").startswith('Tom & Jerry: 1 < 2, "quoted"')
    content = entry.findtext(f"{ATOM}content") or ""
    assert "Tom &amp; Jerry, again" in content and "<script" not in content
    page = (out / "stories/index.html").read_text()
    assert "Tom &amp; Jerry: 1 &lt; 2" in page and "<script>alert" not in page


# -- the real corpus -----------------------------------------------------------------------------
@pytest.mark.corpus
def test_the_corpus_forms_one_story_per_published_article(corpus_dir: Path) -> None:
    """The corpus's records cite nothing (none has `related`) and share no page but the three links
    given twice: each published article is a story of its own, and the top stories are those whose
    article reached `top_heat`.  Counted here from the files, apart from the catalog."""
    articles: dict[str, tuple[str, int | None]] = {}  # link: the first file's name, its heat
    for path in sorted(corpus_dir.iterdir(), key=lambda p: os.fsencode(p.name)):
        text = path.read_text(encoding="utf-8-sig", errors="replace")
        try:
            fields = yaml.safe_load(text.split("---", 2)[1])
        except yaml.YAMLError:
            continue
        if not isinstance(fields, dict) or fields.get("published") is not True:
            continue
        assert not fields.get("related"), path.name
        link = fields.get("webUrl") or fields.get("originalUrl")
        if isinstance(link, str) and fields.get("title") and link not in articles:
            articles[link] = (path.name, fields.get("heat"))
    settings = Settings.make(records=str(corpus_dir), cache_dir="off")
    plan = read_store(settings).plan
    assert plan.by_stem["feed"].total == len(articles) == 425
    assert plan.by_stem["stories"].total == 425
    hot = sum(1 for _, heat in articles.values() if isinstance(heat, int) and heat >= settings.top_heat)
    assert plan.by_stem["top"].total == hot == 92
