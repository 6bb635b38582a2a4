"""Every emitted feed parsed back: feedparser, lxml structure, JSON Feed schema, RELAX NG (jing).

Two sites are judged: the seeds as published, and a "variety" site (the seeds
as drafts plus the record files of tests/data that publish: a video, mojibake,
secrets in odd places) so that every kind of entry is validated.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .feedcheck import (
    DATA,
    check_feed,
    every_feed,
    feed_file,
    feedparser_problems,
    jing_errors,
    jsonfeed_validator,
)
from .stores import Site, build_into

SEED_STEMS = ["feed", "topics/ai", "topics/computer-vision", "providers/reuters.com",
              "providers/businessinsider.com",
              # one entry per story: the site's, and each topic's
              "stories", "top", "topics/ai/stories", "topics/ai/top", "topics/computer-vision/stories",
              "topics/computer-vision/top"]
VARIETY_FILES = ["video_youtube.md", "video_unsafe_embed.md", "mojibake.md", "secured_variants.md"]


@pytest.fixture(scope="module")
def variety_site(seeds_site: Site, tmp_path_factory: pytest.TempPathFactory) -> Site:
    """The seeds as drafts plus the publishable data records, built once."""
    records = tmp_path_factory.mktemp("variety")
    for path in sorted(Path(seeds_site.settings.records).iterdir()):
        shutil.copy(path, records / path.name)
    for name in VARIETY_FILES:
        shutil.copy(DATA / name, records / name)
    site = build_into(records, tmp_path_factory.mktemp("variety-out") / "out", drafts=True)
    assert site.report.counts.published == 5 + len(VARIETY_FILES), [
        str(p) for p in site.report.problems]
    return site


def sites(seeds_site: Site, variety_site: Site) -> list[Site]:
    """Both judged sites."""
    return [seeds_site, variety_site]


@pytest.mark.parametrize("stem", SEED_STEMS)
@pytest.mark.parametrize("fmt", ["atom", "rss", "json"])
def test_every_seed_feed_matches_its_plan_structurally(seeds_site: Site, stem: str, fmt: str) -> None:
    plan = {spec.stem: spec for spec in seeds_site.report.plan.feeds}
    assert set(plan) == set(SEED_STEMS)
    data = (seeds_site.out / f"{stem}.{fmt}").read_bytes()
    check_feed(plan[stem], fmt, data, seeds_site.settings)


def test_every_variety_feed_matches_its_plan_structurally(variety_site: Site) -> None:
    for spec, fmt in every_feed(variety_site.report.plan.feeds):
        check_feed(spec, fmt, (variety_site.out / feed_file(spec, fmt)).read_bytes(),
                   variety_site.settings)


@pytest.mark.parametrize("stem", SEED_STEMS)
@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_every_seed_feed_parses_with_feedparser(seeds_site: Site, stem: str, fmt: str) -> None:
    name = f"{stem}.{fmt}"
    assert feedparser_problems(name, (seeds_site.out / name).read_bytes()) == []


def test_every_variety_feed_parses_with_feedparser(variety_site: Site) -> None:
    problems = []
    for path in sorted(variety_site.out.rglob("*")):
        if path.suffix in (".atom", ".rss"):
            problems += feedparser_problems(path.name, path.read_bytes())
    assert problems == []


def test_json_feeds_are_valid_json_feed_1_1(seeds_site: Site, variety_site: Site) -> None:
    validator = jsonfeed_validator()
    if validator is None:
        pytest.skip("../shared/validate/jsonfeed-1.1.schema.json is absent")
    for site in sites(seeds_site, variety_site):
        for path in sorted(site.out.rglob("*.json")):
            doc = json.loads(path.read_bytes())
            errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                      for e in validator.iter_errors(doc)]
            assert errors == [], f"{path.relative_to(site.out)}: {errors}"
            ids = [item["id"] for item in doc["items"]]
            assert len(ids) == len(set(ids)), f"{path}: duplicate item ids"


@pytest.mark.tools
def test_atom_feeds_pass_rfc_4287_relax_ng(seeds_site: Site, variety_site: Site) -> None:
    files = [p for site in sites(seeds_site, variety_site) for p in sorted(site.out.rglob("*.atom"))]
    errors = jing_errors(files)
    if errors is None:
        pytest.skip("jing or ../shared/validate/atom.rnc is absent")
    assert errors == "", errors
