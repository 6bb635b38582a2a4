"""Archives (RFC 5005) and paged pages: every published record reachable, exactly once, by links.

The walk starts at each subscription document, follows ``prev-archive``
(``next_url`` in JSON Feed) to the oldest archive document, and checks every
document it meets (``fh:archive``, ``current``, the links back); the ids it
collects must be the feed's published records, newest first.  The same walk
runs over the HTML pages ("Older" links).  Archives must be stable: a new
story rewrites the subscription document and one archive page, a back-dated
one only the page its date falls in.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from lxml import etree

from feeds import build
from feeds.archive import KEY, cut
from feeds.catalog import Day
from feeds.catalog.stories import page_key, story_id
from feeds.layout import memberships
from feeds.records import Record
from feeds.settings import Settings
from feeds.web import ARCHIVE_MAX_AGE, create_app

from .feedcheck import (
    BASE_URL,
    CORPUS,
    NS,
    SEEDS,
    SHARED,
    feedparser_problems,
    jing_errors,
    jsonfeed_validator,
    parse_xml,
    site_files,
)
from .stores import RecordWriter, build_into, read_store, record_loads

HISTORY = "http://purl.org/syndication/history/1.0"
ATOM = NS["atom"]
Fetch = Callable[[str], bytes]
Dated = tuple[RecordWriter, Path]
Q2 = "2020-04-01_2020-06-30"  # the second quarter of 2020
DATED = {"limit": 10, "archive_size": 40}


def _from_folder(out: Path) -> Fetch:
    def fetch(url: str) -> bytes:
        assert url.startswith(BASE_URL), url
        return (out / url[len(BASE_URL):]).read_bytes()
    return fetch


def _links(root: etree._Element, fmt: str) -> dict[str, list[str]]:
    """rel -> hrefs of a feed document's own links (Atom's, or RSS's atom:link)."""
    parent = root if fmt == "atom" else root.find("channel")
    assert parent is not None
    found: dict[str, list[str]] = {}
    for link in parent.findall(f"{{{ATOM}}}link"):
        found.setdefault(link.get("rel", "alternate"), []).append(link.get("href", ""))
    return found


def _ids(root: etree._Element, fmt: str) -> list[str]:
    if fmt == "atom":
        return [e.findtext(f"{{{ATOM}}}id") or "" for e in root.findall(f"{{{ATOM}}}entry")]
    return [i.findtext("guid") or "" for i in root.iter("item")]


def walk(fetch: Fetch, stem: str, fmt: str) -> tuple[list[str], list[str]]:
    """The ids met walking from the subscription document of `stem` through its archive, in order,
    and the URLs of the archive documents; every document's links checked on the way."""
    current = f"{BASE_URL}{stem}.{fmt}"
    url: str | None = current
    ids: list[str] = []
    pages: list[str] = []
    newer: str | None = None  # the document the walk came from (None: the subscription document)
    while url is not None:
        assert url not in pages, f"{url}: the archive links go round in a circle"
        data = fetch(url)
        if fmt == "json":
            doc = json.loads(data)
            ids += [item["id"] for item in doc["items"]]
            assert doc["feed_url"] == current
            following = doc.get("next_url")
        else:
            root = parse_xml(data)
            links = _links(root, fmt)
            ids += _ids(root, fmt)
            archive = (root if fmt == "atom" else root.find("channel")).find(f"{{{HISTORY}}}archive")  # type: ignore[union-attr]
            assert links["self"] == [url]
            if newer is None:
                assert archive is None, f"{url}: the subscription document says it is an archive"
                assert "current" not in links and "next-archive" not in links
            else:
                assert archive is not None, f"{url}: an archive document without fh:archive"
                assert links["current"] == [current]
                # The newest archive page leads on to the subscription document by `current` alone.
                assert links.get("next-archive", [current]) == [newer], url
            following = links.get("prev-archive", [None])[0]
            assert len(links.get("prev-archive", [])) <= 1
        if newer is not None:
            pages.append(url)
        newer, url = url, following
    return ids, pages


def stories_of(records: Sequence[Record]) -> list[list[Record]]:
    """The records grouped into stories, by the README's rule: two records naming the same page (their
    link, original URL or a related item's URL) are one story, and so are records joined through others."""
    parent = list(range(len(records)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    named: dict[str, int] = {}  # page -> the first record naming it
    for i, record in enumerate(records):
        for url in (record.link, record.original_url or "", *(item.url for item in record.related)):
            key = page_key(url) if url else None
            if key is not None:
                parent[find(i)] = find(named.setdefault(key, i))
    groups: dict[int, list[Record]] = {}
    for i, record in enumerate(records):
        groups.setdefault(find(i), []).append(record)
    return list(groups.values())


def expected_stories(records: Sequence[Record], top_heat: int) -> dict[str, list[str]]:
    """The ids of every story feed's stories, newest first (the stories feeds by their newest coverage,
    the top feeds by when the first member reaching `top_heat` came), from the records themselves."""
    feeds: dict[str, list[tuple[float, str]]] = {"stories": [], "top": []}
    for members in stories_of(records):
        ident = story_id(min(members, key=lambda r: (r.published_at, r.id)))
        newest = max(r.published_at for r in members).timestamp()
        hot = [r.published_at.timestamp() for r in members if r.heat is not None and r.heat >= top_heat]
        slugs = {topic.slug for r in members for topic in r.topics}
        places = [("stories", newest), *((f"topics/{slug}/stories", newest) for slug in slugs)]
        if hot:
            places += [("top", min(hot)), *((f"topics/{slug}/top", min(hot)) for slug in slugs)]
        for stem, at in places:
            feeds.setdefault(stem, []).append((-at, ident))
    for slug in {topic.slug for r in records for topic in r.topics}:  # a topic's top feed, empty or not
        feeds.setdefault(f"topics/{slug}/top", [])
    return {stem: [ident for _, ident in sorted(held)] for stem, held in feeds.items()}


def expected(records: Path, **overrides: object) -> dict[str, list[str]]:
    """The ids of every feed's published records, and of every story feed's stories, newest first, from
    the records themselves."""
    settings = Settings.make(records=str(records), base_url=BASE_URL, cache_dir="off", **overrides)
    store = read_store(settings)
    feeds: dict[str, list[str]] = {}
    for record in store.records:
        for membership in memberships(record):
            feeds.setdefault(membership.stem, []).append(record.id)
    feeds.setdefault("feed", [])
    return {**feeds, **expected_stories(store.records, settings.top_heat)}


def walk_every_feed(fetch: Fetch, feeds: dict[str, list[str]]) -> int:
    """Walk every feed in every format; the number of archive documents met."""
    documents = 0
    for stem, ids in feeds.items():
        for fmt in ("atom", "rss", "json"):
            found, pages = walk(fetch, stem, fmt)
            assert found == ids, f"{stem}.{fmt}: the walk met {len(found)} entries, the feed has {len(ids)}"
            documents += len(pages)
    return documents


# -- the walk, over every feed of the seeds, the corpus and a generated store ------------------
def test_the_walk_reaches_every_seed_record_once(tmp_path: Path) -> None:
    site = build_into(SEEDS, tmp_path / "out", limit=1, archive_size=1)
    feeds = expected(SEEDS, limit=1, archive_size=1)
    assert walk_every_feed(_from_folder(site.out), feeds) > 0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus/powerapps is absent")
    return CORPUS


@pytest.mark.parametrize("sizes", [{}, {"limit": 10, "archive_size": 20}, {"limit": 3, "archive_size": 2}],
                         ids=["defaults", "small", "tiny"])
def test_the_walk_reaches_every_corpus_record_once(corpus: Path, tmp_path: Path,
                                                   sizes: dict[str, int]) -> None:
    site = build_into(corpus, tmp_path / "out", **sizes)
    feeds = expected(corpus, **sizes)
    assert sorted(feeds) == sorted(spec.stem for spec in site.report.plan.feeds)
    stories = feeds["stories"]  # the corpus cites no related coverage: each record is a story of its own
    assert len(set(stories)) == len(stories) == len(feeds["feed"])
    assert feeds["top"] and len(feeds["top"]) < len(stories)
    assert walk_every_feed(_from_folder(site.out), feeds) > 0


def test_the_walk_reaches_every_record_of_a_generated_10000_record_store(tmp_path: Path) -> None:
    generator = SHARED / "bench" / "gen_corpus.py"
    if not generator.is_file():
        pytest.skip("../shared/bench/gen_corpus.py is absent")
    records = tmp_path / "records"
    subprocess.run([sys.executable, str(generator), "--n", "10000", "--seed", "5", "--out", str(records)],
                   check=True, capture_output=True, timeout=600)
    site = build_into(records, tmp_path / "out")
    feeds = expected(records)
    assert sum(len(ids) for stem, ids in feeds.items() if stem == "feed") > 5000
    assert walk_every_feed(_from_folder(site.out), feeds) > 100


def test_the_walk_reaches_every_story_once_as_stories_grow_and_join(tmp_path: Path) -> None:
    """Stories of several members, across archive pages: each record cites the one before it but every
    fifth begins a story (eight chains of five), topics alternate, some members are hot.  Then coverage
    of the oldest story comes (it goes back to the top of the stories feeds, out of its archive page),
    and a record joins two stories."""
    (tmp_path / "records").mkdir()
    store = RecordWriter(tmp_path / "records")
    start = datetime(2021, 1, 1, 12, tzinfo=UTC)
    sizes = {"limit": 3, "archive_size": 2}

    def cites(*numbers: int) -> list[dict[str, str]]:
        return [{"title": f"Story number {n}", "webUrl": f"https://example.com/news/{n}"} for n in numbers]

    for n in range(40):
        _story(store, n, start + timedelta(days=n), topics=["AI" if n % 2 else "Robots"],
               heat=95 if n % 7 == 3 else 50, related=cites(n - 1) if n % 5 else [])
    out = tmp_path / "out"
    build_into(store.folder, out, **sizes)
    feeds = expected(store.folder, **sizes)
    assert len(feeds["stories"]) == 8 and 0 < len(feeds["top"]) < 8
    assert walk_every_feed(_from_folder(out), feeds) > 0
    _story(store, 100, start + timedelta(days=60), topics=["Late"], related=cites(2))
    _story(store, 101, start + timedelta(days=61), related=cites(12, 17))
    build_into(store.folder, out, **sizes)
    grown = expected(store.folder, **sizes)
    assert len(grown["stories"]) == 7 and grown["stories"][1] == feeds["stories"][-1], (
        "the oldest story came back second, under its id")
    assert grown["topics/late/stories"] == [feeds["stories"][-1]]
    assert walk_every_feed(_from_folder(out), grown) > 0


def test_the_live_server_serves_the_archive_at_the_same_paths_with_the_same_bytes(corpus: Path,
                                                                                     tmp_path: Path) -> None:
    sizes = {"limit": 10, "archive_size": 20}
    site = build_into(corpus, tmp_path / "out", **sizes)
    client = create_app(site.settings, watch=False).test_client()
    files = site_files(site.out)
    archive = [path for path in files if "archive/" in path and not path.endswith("index.html")]
    assert len(archive) > 200
    for path in archive:
        got = client.get("/" + path)
        assert got.status_code == 200 and got.data == files[path], path

    def fetch(url: str) -> bytes:
        got = client.get(url[len(BASE_URL) - 1:])
        assert got.status_code == 200, url
        return got.data

    assert walk_every_feed(fetch, expected(corpus, **sizes)) > 0


# -- what every archive document is --------------------------------------------------------------
@pytest.fixture(scope="module")
def small_corpus(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("small") / "out"
    build_into(corpus, out, limit=10, archive_size=20)
    return out


def test_every_archive_document_passes_the_validators(small_corpus: Path) -> None:
    files = sorted(p for p in small_corpus.rglob("*")
                   if "archive" in p.parts and p.suffix in (".atom", ".rss"))
    assert len(files) > 200
    problems = [problem for path in files
                for problem in feedparser_problems(str(path.relative_to(small_corpus)), path.read_bytes())]
    assert problems == []
    validator = jsonfeed_validator()
    if validator is not None:
        for path in sorted(small_corpus.glob("**/archive/*.json")):
            doc = json.loads(path.read_bytes())
            assert [e.message for e in validator.iter_errors(doc)] == [], path
            assert doc.get("next_url") != doc["feed_url"]


@pytest.mark.tools
def test_every_archive_atom_document_passes_relax_ng(small_corpus: Path) -> None:
    errors = jing_errors(sorted(small_corpus.glob("**/archive/*.atom")))
    if errors is None:
        pytest.skip("jing or ../shared/validate/atom.rnc is absent")
    assert errors == "", errors[:3000]


def test_validate_feeds_passes_on_every_archive_document(small_corpus: Path) -> None:
    script = SHARED / "validate" / "validate-feeds"
    if not script.is_file():
        pytest.skip(f"{script} is absent")
    files = [str(p) for p in sorted(small_corpus.glob("**/archive/*"))
             if p.suffix in (".atom", ".rss", ".json")]
    done = subprocess.run([sys.executable, str(script), "--skip", "w3c", "--skip", "rng", *files],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
    assert done.stdout.strip().endswith(f"{len(files)} passed, 0 failed"), done.stdout[-500:]


def test_archive_pages_are_cut_by_date_and_named_by_it(small_corpus: Path) -> None:
    names = {p.stem for p in small_corpus.glob("**/archive/*.atom")}
    assert names and all(KEY.fullmatch(name) for name in names)
    assert {len(name) for name in names} >= {4, 7, 21}  # years, months and runs of days all occur


# -- stability ---------------------------------------------------------------------------------
def _story(store: RecordWriter, n: int, when: datetime, **fields: object) -> None:
    store(f"story-{n:04d}.md", **{"title": f"Story number {n}", "webUrl": f"https://example.com/news/{n}",
                                  "publishedDateTime": when.isoformat().replace("+00:00", "Z"),
                                  "topics": ["AI"], **fields})


def _archive_changes(before: dict[str, bytes], after: dict[str, bytes]) -> dict[str, set[str]]:
    """Archive files written, added or removed, grouped by archive folder: {folder: {page keys}}."""
    changed: dict[str, set[str]] = {}
    for path in before.keys() | after.keys():
        if "archive/" in path and before.get(path) != after.get(path):
            folder, _, name = path.rpartition("archive/")
            changed.setdefault(folder + "archive/", set()).add(name.split("/")[0].split(".")[0])
    return changed


@pytest.fixture
def dated(tmp_path: Path) -> tuple[RecordWriter, Path]:
    """120 stories, one a day from 2020-01-01: with limit 10 and archive_size 40, the first three
    months of 2020 are a page each, and the 19 April days archived one for the second quarter."""
    (tmp_path / "records").mkdir()
    store = RecordWriter(tmp_path / "records")
    start = datetime(2020, 1, 1, 12, tzinfo=UTC)
    for n in range(120):
        _story(store, n, start + timedelta(days=n))
    return store, tmp_path / "out"


def test_a_new_story_rewrites_the_subscription_documents_and_one_archive_page(dated: Dated) -> None:
    store, out = dated
    build_into(store.folder, out, **DATED)
    before = site_files(out)
    assert {p for p in before if p.startswith("archive/") and p.endswith(".atom")} == {
        "archive/2020-01.atom", "archive/2020-02.atom", "archive/2020-03.atom", f"archive/{Q2}.atom"}
    _story(store, 500, datetime(2020, 6, 1, tzinfo=UTC))
    report = build_into(store.folder, out, **DATED).report
    after = site_files(out)
    # The story that left the subscription documents went into the newest page (the quarter's): nothing else.
    # Each record is a story of its own (they cite nothing), none top (no heat): the stories feeds move
    # as the record feeds do, the top feeds stay empty.
    assert _archive_changes(before, after) == {"archive/": {Q2}, "topics/ai/archive/": {Q2},
                                               "providers/example.com/archive/": {Q2},
                                               "stories/archive/": {Q2}, "topics/ai/stories/archive/": {Q2}}
    written = set(report.export.paths_written)
    moved = {f"{stem}.{fmt}" for stem in ("feed", "stories", "topics/ai/stories")
             for fmt in ("atom", "rss", "json")}
    assert moved | {f"archive/{Q2}.atom", f"archive/{Q2}.html", f"stories/archive/{Q2}.atom"} <= written
    assert {path.rpartition("archive/")[2].split(".")[0] for path in written if "archive/" in path} == {Q2}
    assert not any(path.startswith(("top.", "topics/ai/top.")) for path in written)


def test_a_back_dated_story_rewrites_only_the_page_its_date_falls_in(dated: Dated) -> None:
    store, out = dated
    build_into(store.folder, out, **DATED)
    before = site_files(out)
    _story(store, 501, datetime(2020, 2, 10, 3, tzinfo=UTC))
    build_into(store.folder, out, **DATED)
    after = site_files(out)
    assert _archive_changes(before, after) == {"archive/": {"2020-02"}, "topics/ai/archive/": {"2020-02"},
                                               "providers/example.com/archive/": {"2020-02"},
                                               "stories/archive/": {"2020-02"},
                                               "topics/ai/stories/archive/": {"2020-02"}}
    for stem in ("feed", "stories", "topics/ai/stories"):  # the newest ten are as they were
        assert after[f"{stem}.atom"] == before[f"{stem}.atom"], stem


def test_a_page_grown_past_the_size_is_cut_into_the_next_level(dated: Dated) -> None:
    store, out = dated
    build_into(store.folder, out, **DATED)
    before = site_files(out)
    for n in range(12):  # February gets 41 stories: it is cut in its halves, and nothing else changes
        _story(store, 600 + n, datetime(2020, 2, 14, n, tzinfo=UTC))
    build_into(store.folder, out, **DATED)
    names = sorted(p.stem for p in (out / "archive").glob("*.atom"))
    assert names == ["2020-01", "2020-02-01_2020-02-15", "2020-02-16_2020-02-29", "2020-03", Q2]
    changed = _archive_changes(before, site_files(out))["archive/"]
    assert changed == {"2020-01", "2020-02", "2020-02-01_2020-02-15", "2020-02-16_2020-02-29", "2020-03"}
    assert not (out / "archive" / "2020-02.html").exists()
    feeds = expected(store.folder, **DATED)
    walk_every_feed(_from_folder(out), feeds)


def test_a_day_holding_more_than_a_page_is_cut_into_parts(tmp_path: Path) -> None:
    (tmp_path / "records").mkdir()
    store = RecordWriter(tmp_path / "records")
    for n in range(30):
        _story(store, n, datetime(2021, 5, 5, 10, n, tzinfo=UTC))
    build_into(store.folder, tmp_path / "out", limit=5, archive_size=10)
    names = sorted(p.stem for p in (tmp_path / "out" / "archive").glob("*.atom"))
    assert names == ["2021-05-05-p1", "2021-05-05-p2", "2021-05-05-p3"]
    walk_every_feed(_from_folder(tmp_path / "out"), expected(store.folder, limit=5, archive_size=10))


def test_the_cut_takes_the_coarsest_date_that_fits() -> None:
    def day(y: int, m: int, d: int) -> int:
        return (datetime(y, m, d, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)).days

    days = [Day(day(2019, 3, 1), 3, 0, 0), Day(day(2020, 1, 1), 4, 0, 0), Day(day(2020, 2, 2), 2, 0, 0),
            Day(day(2020, 2, 3), 7, 1, 1)]
    assert [(p.key, p.count, p.part) for p in cut(days, 8)] == [
        ("2019", 3, 0), ("2020-01", 4, 0), ("2020-02-02", 2, 0), ("2020-02-03", 7, 0)]
    assert [(p.key, p.count) for p in cut(days, 5)] == [
        ("2019", 3), ("2020-01", 4), ("2020-02-02", 2), ("2020-02-03-p1", 5), ("2020-02-03-p2", 2)]
    assert [p.label for p in cut(days, 5)] == ["2019", "January 2020", "2 February 2020",
                                               "3 February 2020 (part 1)", "3 February 2020 (part 2)"]
    assert cut(days, 100)[0].key == "2019" and cut(days, 100)[1].sums == (1, 1)


def test_archives_can_be_switched_off(dated: Dated) -> None:
    store, out = dated
    build_into(store.folder, out, limit=10, archive_size=0)
    assert not (out / "archive").exists()
    assert b"prev-archive" not in (out / "feed.atom").read_bytes()


def test_an_incremental_build_gives_the_archive_of_a_clean_one(dated: Dated,
                                                                tmp_path: Path) -> None:
    store, out = dated
    build_into(store.folder, out, **DATED)
    clean = tmp_path / "clean"

    def step(change: Callable[[], object]) -> None:
        change()
        build_into(store.folder, out, **DATED)
        shutil.rmtree(clean, ignore_errors=True)
        build_into(store.folder, clean, **DATED, cache_dir="off")
        assert site_files(out) == site_files(clean)

    step(lambda: _story(store, 700, datetime(2020, 3, 3, tzinfo=UTC)))  # back-dated
    step(lambda: (store.folder / "story-0005.md").unlink())  # an archived story deleted
    # an archived story retitled: same page, same count, other bytes
    step(lambda: _story(store, 40, datetime(2020, 2, 10, 12, tzinfo=UTC), title="Story forty, retitled"))
    # ten stories of 2021 fill the subscription documents; an eleventh pushes the first of them into a
    # new newest page (2021), and the quarter before it, as it was, gains its next-archive link
    step(lambda: [_story(store, 800 + n, datetime(2021, 1, 1 + n, tzinfo=UTC)) for n in range(10)])
    assert not (out / "archive" / "2021.atom").exists()
    step(lambda: _story(store, 810, datetime(2021, 1, 11, tzinfo=UTC)))
    assert (out / "archive" / "2021.atom").is_file()
    step(lambda: [(store.folder / f"story-{800 + n:04d}.md").unlink() for n in range(11)])  # and gone again


# -- pages for people -----------------------------------------------------------------------------
class _Page(HTMLParser):
    """A page's story links and its pager's rel=prev / rel=next links."""

    def __init__(self) -> None:
        super().__init__()
        self.stories: list[str] = []
        self.rel: dict[str, str] = {}
        self._in_story = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "ol" and found.get("class") == "stories":
            self._in_story = 1
        if tag == "a" and found.get("rel") in ("prev", "next"):
            self.rel.setdefault(found["rel"] or "", found.get("href") or "")
        if tag == "a" and self._in_story and found.get("href"):
            self.stories.append(found["href"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "ol":
            self._in_story = 0


def _page(fetch: Fetch, url: str) -> _Page:
    parser = _Page()
    parser.feed(fetch(url + "index.html" if url.endswith("/") else url).decode())
    return parser


def test_the_older_links_page_through_every_story_and_back(corpus: Path, tmp_path: Path) -> None:
    site = build_into(corpus, tmp_path / "out", limit=10, archive_size=20)
    fetch = _from_folder(site.out)
    store = read_store(Settings.make(records=str(corpus), base_url=BASE_URL, cache_dir="off"))
    links = {r.link for r in store.records}
    for folder, stem in (("", "feed"), ("topics/power-apps/", "topics/power-apps")):
        url: str | None = BASE_URL + folder
        seen: list[str] = []
        visited: list[str] = []
        while url:
            page = _page(fetch, url)
            visited.append(url)
            seen += page.stories
            url = page.rel.get("next")
        wanted = [r.link for r in store.records if stem == "feed" or any(
            m.stem == stem for m in memberships(r))]
        assert seen == wanted and set(seen) <= links, folder
        assert len(visited) > 3
        for newer, older in itertools.pairwise(visited):  # and back, by each page's rel=prev
            assert _page(fetch, older).rel["prev"] == newer, older


def test_the_front_page_leads_with_the_latest_stories(corpus: Path, tmp_path: Path) -> None:
    site = build_into(corpus, tmp_path / "out")
    html = (site.out / "index.html").read_text()
    store = read_store(Settings.make(records=str(corpus), base_url=BASE_URL, cache_dir="off"))
    latest = html.index("Latest stories")
    assert latest < html.index("<h2>Topics</h2>") < html.index("<h2>Providers</h2>")
    newest = store.records[:50]
    positions = [html.index(f'href="{r.link.replace("&", "&amp;")}"', latest) for r in newest]
    assert positions == sorted(positions) and positions[-1] < html.index("<h2>Topics</h2>")
    assert 'rel="alternate" type="application/atom+xml"' in html  # autodiscovery stays
    assert 'rel="next" href="https://news.example.org/archive/' in html


def test_sitemap_lists_every_html_page_and_robots_points_to_it(small_corpus: Path) -> None:
    root = etree.fromstring((small_corpus / "sitemap.xml").read_bytes())
    sm = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
    assert root.tag == f"{sm}urlset"
    listed = [u.findtext(f"{sm}loc") for u in root.iter(f"{sm}url")]
    pages = sorted(BASE_URL + p.relative_to(small_corpus).as_posix().removesuffix("index.html")
                   for p in small_corpus.rglob("*.html") if "embed" not in p.parts)
    assert sum("/archive/" in page for page in pages) > 50
    assert sorted(listed) == pages and len(listed) == len(set(listed))
    assert {"stories/", "top/", "topics/power-apps/stories/", "topics/power-apps/top/"} <= {
        page[len(BASE_URL):] for page in pages}
    # A page's lastmod is the day of its newest story; a feed holding none (a topic with no top story
    # yet) has a page without one.
    undated = set()
    for url in root.iter(f"{sm}url"):
        lastmod = url.findtext(f"{sm}lastmod")
        if lastmod is None:
            undated.add(url.findtext(f"{sm}loc"))
        else:
            assert len(lastmod) == 10, lastmod
    empty = {BASE_URL + path.relative_to(small_corpus).as_posix().removesuffix(".json") + "/"
             for path in small_corpus.rglob("*.json")
             if "archive" not in path.parts and not json.loads(path.read_bytes())["items"]}
    assert empty and undated == empty and all(url.endswith("/top/") for url in empty), undated
    robots = (small_corpus / "robots.txt").read_text()
    assert "Sitemap: https://news.example.org/sitemap.xml" in robots and "Disallow: /embed/" in robots


# -- live --------------------------------------------------------------------------------------------
def test_live_archive_caching_and_unknown_pages(dated: Dated) -> None:
    store, out = dated
    settings = Settings.make(records=str(store.folder), out=str(out), base_url=BASE_URL, **DATED)
    client = create_app(settings, watch=False).test_client()
    closed = client.get("/archive/2020-01.atom")
    newest = client.get(f"/archive/{Q2}.atom")
    assert closed.status_code == newest.status_code == 200
    assert closed.cache_control.max_age == ARCHIVE_MAX_AGE
    assert newest.cache_control.max_age == settings.max_age == client.get("/feed.atom").cache_control.max_age
    assert client.get("/archive/2020-01.html").cache_control.max_age == ARCHIVE_MAX_AGE
    for unknown in ("/archive/1999.atom", "/archive/2020-13.html", "/topics/ai/archive/2020-01-02.rss",
                    "/archive/2020-01/", "/archive/2020-01/index.html", "/archive/", "/topics/ai/archive/",
                    "/archive/2020-04.atom", "/archive/2020-04-01_2020-06-31.json",
                    "/archive/2020-01-p1.atom",
                    "/archive/../feed.atom", "/topics/nope/archive/2020-01.atom", "/archive/2020-01.atom.gz",
                    "/?page=99", "/topics/ai/?page=0", "/topics/ai/?page=-1"):
        got = client.get(unknown)
        assert got.status_code == 404, unknown
    assert client.get("/topics/ai/?page=x").status_code == 400
    second = client.get("/topics/ai/?page=2")
    assert second.status_code == 302 and second.location == BASE_URL + f"topics/ai/archive/{Q2}.html"
    assert client.get("/?page=5").location == BASE_URL + "archive/2020-01.html"
    assert client.get("/?page=1").location == BASE_URL


def test_a_filtered_feed_links_no_archive(dated: Dated) -> None:
    store, out = dated
    settings = Settings.make(records=str(store.folder), out=str(out), base_url=BASE_URL, **DATED)
    client = create_app(settings, watch=False).test_client()
    assert b"prev-archive" in client.get("/feed.atom").data
    assert b"prev-archive" not in client.get("/feed.atom?limit=5").data
    assert "next_url" not in client.get("/feed.json?min_quality=1").json
    assert client.get("/archive/2020-01.atom?limit=1").data == client.get("/archive/2020-01.atom").data


def test_removing_the_archive_folder_restores_it(dated: Dated) -> None:
    store, out = dated
    build_into(store.folder, out, **DATED)
    before = site_files(out)
    shutil.rmtree(out / "archive")
    os.remove(out / "topics" / "ai" / "archive" / "2020-02.rss")
    build_into(store.folder, out, **DATED)
    assert site_files(out) == before


def test_files_made_in_small_batches_are_the_same(dated: Dated, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A build holds at most about BATCH_RECORDS full records at once; the bytes do not depend on it."""
    store, out = dated
    build_into(store.folder, out, **DATED, cache_dir="off")
    monkeypatch.setattr(build, "BATCH_RECORDS", 7)
    loads = record_loads(monkeypatch)
    small = tmp_path / "small"
    build_into(store.folder, small, **DATED, cache_dir="off")
    assert site_files(small) == site_files(out)
    assert max(loads) <= 40 and sum(loads) > 120  # a page at a time, some records loaded again
