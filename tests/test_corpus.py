"""The real corpus (../shared/corpus/powerapps, 674 records): built and judged whole.

Skipped cleanly when ../shared is absent.  The expected counts are computed
from the record files themselves (and match PRODUCT.md: 428 published, 3 of
them repeating another's link, 12 videos, 15 providers with published records).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from feeds.records import read_record

from .feedcheck import (
    VALIDATE,
    check_feed,
    entries,
    every_feed,
    feed_file,
    feedparser_problems,
    front_matter,
    jing_errors,
    jsonfeed_validator,
)
from .stores import Site, read_store

pytestmark = pytest.mark.corpus

PUBLISHED_TRUE = re.compile(r"^published:[ \t]*true[ \t]*\r?$", re.MULTILINE)


@pytest.fixture(scope="module")
def published(corpus_dir: Path) -> dict[str, dict[str, Any]]:
    """The front matter of every corpus file that says `published: true`, by file name."""
    return {path.name: front_matter(path) for path in sorted(corpus_dir.iterdir())
            if PUBLISHED_TRUE.search(path.read_text(encoding="utf-8-sig"))}


def test_the_corpus_publishes_425_records_after_dedupe(published: dict[str, dict[str, Any]],
                                                       corpus_site: Site) -> None:
    links = Counter(str(fields.get("webUrl") or fields.get("originalUrl")) for fields in
                    published.values())
    assert (len(published), len(links)) == (428, 425), "the corpus changed: update PRODUCT.md"
    report = corpus_site.report
    counts = report.counts
    assert counts.files == 674
    assert counts.published == 425
    assert counts.unpublished == 674 - 428
    assert counts.duplicates == 3
    assert counts.skipped == 0, [str(p) for p in report.problems if p.is_error]
    store = read_store(corpus_site.settings)  # the records themselves, read again apart from the build
    assert (store.counts, store.problems) == (counts, report.problems)
    assert len(store.records) == 425
    duplicated = {link for link, n in links.items() if n > 1}
    assert {r.link for r in store.records} >= duplicated, "each duplicated article still appears once"
    duplicate_warnings = [p for p in report.problems if "same link" in p.message]
    assert len(duplicate_warnings) == 3, [str(p) for p in report.problems]
    for problem in duplicate_warnings:
        named = [name for name in published if name in str(problem)]
        assert len(named) == 2, f"the warning must name both files: {problem}"


def test_the_corpus_has_a_feed_for_each_of_its_15_providers(
        published: dict[str, dict[str, Any]], corpus_site: Site) -> None:
    expected = {str(fields["provider"]["domain"]).strip().lower() for fields in published.values()}
    providers = {spec.key for spec in corpus_site.report.plan.feeds if spec.kind.name == "provider"}
    assert len(expected) == 15
    assert providers == expected
    for key in providers:
        for ext in (".atom", ".rss", ".json"):
            assert (corpus_site.out / "providers" / f"{key}{ext}").is_file()


def test_every_published_corpus_video_has_its_youtube_player(corpus_dir: Path,
                                                             published: dict[str, dict[str, Any]],
                                                             corpus_site: Site) -> None:
    videos = sorted(name for name, fields in published.items() if fields.get("type") == "video")
    assert len(videos) == 12
    links = set()
    for name in videos:
        record = read_record(name, (corpus_dir / name).read_bytes(), corpus_site.settings).record
        assert record is not None and record.kind == "video", name
        assert record.video_url and record.video_url.startswith("https://www.youtube.com/embed/"), (
            name)
        links.add(record.link)
    feeds = corpus_site.report.plan.feeds
    in_feeds = {r.source for spec in feeds if not spec.kind.stories
                for r in entries(spec, corpus_site.settings) if r.video_url}
    assert in_feeds and in_feeds <= set(videos), "the videos in the feeds carry their players"
    # A story's entry names no file: a story led by a video is known by its link, and carries the player.
    led = [r for spec in feeds if spec.kind.stories for r in entries(spec, corpus_site.settings)
           if r.video_url or r.link in links]
    assert led and all(r.video_url and r.link in links for r in led), (
        "the stories led by a video carry its player")


def test_every_corpus_feed_matches_its_plan(corpus_site: Site) -> None:
    for spec, fmt in every_feed(corpus_site.report.plan.feeds):
        data = (corpus_site.out / feed_file(spec, fmt)).read_bytes()
        check_feed(spec, fmt, data, corpus_site.settings)


def test_every_corpus_feed_parses_with_feedparser(corpus_site: Site) -> None:
    problems: list[str] = []
    files = sorted(p for p in corpus_site.out.rglob("*") if p.suffix in (".atom", ".rss"))  # archives too
    assert len([p for p in files if "archive" not in p.parts]) == 2 * len(corpus_site.report.plan.feeds)
    for path in files:
        problems += feedparser_problems(str(path.relative_to(corpus_site.out)), path.read_bytes())
    assert problems == []


def test_every_corpus_json_feed_is_valid_json_feed_1_1(corpus_site: Site) -> None:
    validator = jsonfeed_validator()
    if validator is None:
        pytest.skip("../shared/validate/jsonfeed-1.1.schema.json is absent")
    for path in sorted(corpus_site.out.rglob("*.json")):
        errors = [e.message for e in validator.iter_errors(json.loads(path.read_bytes()))]
        assert errors == [], f"{path.relative_to(corpus_site.out)}: {errors[:3]}"


@pytest.mark.tools
def test_every_corpus_atom_feed_passes_relax_ng(corpus_site: Site) -> None:
    errors = jing_errors(sorted(corpus_site.out.rglob("*.atom")))
    if errors is None:
        pytest.skip("jing or ../shared/validate/atom.rnc is absent")
    assert errors == "", errors[:3000]


def _feed_documents(out: Path) -> list[str]:
    """Every feed and archive document of an export: the files validate-feeds would take from the
    folder, but the sitemap (XML, and no feed)."""
    return [str(p) for p in sorted(out.rglob("*")) if p.suffix in (".atom", ".rss", ".json", ".xml")
            and p.name != "sitemap.xml"]


def test_validate_feeds_passes_on_the_corpus(corpus_site: Site) -> None:
    """../shared/validate/validate-feeds, minus W3C (needs its code) and RELAX NG (run above)."""
    script = VALIDATE / "validate-feeds"
    if not script.is_file():
        pytest.skip(f"{script} is absent")
    done = subprocess.run([sys.executable, str(script), "--skip", "w3c", "--skip", "rng",
                           *_feed_documents(corpus_site.out)], capture_output=True, text=True, timeout=600,
                          check=False)
    last = done.stdout.strip().splitlines()[-1:] if done.stdout.strip() else []
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
    assert last and last[0].endswith(" 0 failed"), done.stdout[-500:]


def test_validate_feeds_passes_on_the_seeds(seeds_site: Site) -> None:
    """validate-feeds minus W3C and RELAX NG (test_validity runs jing on the seeds)."""
    script = VALIDATE / "validate-feeds"
    if not script.is_file():
        pytest.skip(f"{script} is absent")
    done = subprocess.run([sys.executable, str(script), "--skip", "w3c", "--skip", "rng",
                           *_feed_documents(seeds_site.out)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
    # 11 feeds (all items, 2 topics, 2 providers, stories, top, each topic's stories and top) x 3 formats
    assert done.stdout.strip().endswith("33 passed, 0 failed"), done.stdout[-500:]
