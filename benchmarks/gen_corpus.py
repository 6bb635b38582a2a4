#!/usr/bin/env python3
"""Deterministic synthetic record store in the seed format, for benchmarks.

Usage: gen_corpus.py --n 100000 [--seed 1] --out DIR [--jobs 2]

The records look like the seeds and the real corpus: about 60 topics and
2,000 providers drawn with Zipf-like popularity, 1 to 4 topics a record,
images on ~70%, ~80% published, 0 to 3 related stories, excerpts of 150 to
400 characters, some non-ASCII text (accents, curly quotes, CJK, emoji, a
little mojibake and HTML entities), a `secured` blob, and ~1% videos whose
player is a YouTube embed iframe in `featuredContent`.

Determinism: the topic and provider universe comes from --seed alone, and
record i is drawn from its own random stream seeded with (seed, i), so each
file's bytes depend on --seed, i and the file-name width (from --n), never on
--jobs or on the order in which workers finish.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import re
import sys
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from multiprocessing import Pool
from typing import NamedTuple

CHUNK = 1000  # records per worker task

TOPICS = """Artificial Intelligence|Machine Learning|Cybersecurity|Privacy|Cloud Computing|
Open Source|Semiconductors|Smartphones|Electric Vehicles|Climate|Renewable Energy|Space|Biotech|
Health Tech|Fintech|Cryptocurrency|Startups|Venture Capital|Regulation|Antitrust|Social Media|
Streaming|Gaming|Robotics|Drones|Autonomous Driving|Quantum Computing|Data Centers|Networking|5G|
Wearables|Augmented Reality|Virtual Reality|E-commerce|Logistics|Agritech|Education|Labor|
Elections|Misinformation|Surveillance|Facial Recognition|Computer Vision|Language Models|
Batteries|Nuclear Energy|Aviation|Automotive|Retail|Banking|Insurance|Media|Music|Smart Homes|
Developer Tools|Programming Languages|Databases|Web Browsers|Operating Systems|Économie numérique"""
TOPIC_NAMES = [t.strip() for t in TOPICS.split("|")]  # most popular first


def _words(text: str) -> list[str]:
    return text.split()



VOCAB = _words("""market growth users data model chip network cloud platform service startup
company government regulator court lawsuit deal funding round investors billion million
security breach privacy policy rules engineers researchers study report launch release
update version feature app device battery factory supply chain demand prices shares
quarter revenue profit loss layoffs hiring workers union strike city region country
europe asia africa america ministry agency officials critics experts analysts customers
patients doctors hospital school students teachers satellite rocket mission energy grid
solar wind carbon emissions vehicle fleet robot camera sensor dataset benchmark accuracy
speed scale cost risk bias fairness ethics transparency open closed public private global
local national new first largest fastest cheaper smarter faster better bigger safer""")
VERBS = _words("""launches unveils expands warns raises cuts plans tests delays wins loses
buys sells sues blocks approves bans opens closes doubles halves beats misses""")
JOINERS = _words("in for with after amid despite over under against across from into")
LOCAL = ["café", "Zürich", "São Paulo", "Montréal", "Kraków", "Malmö", "naïve",
         "Bogotá", "Düsseldorf", "Curaçao", "rôle", "Ørsted", "Škoda", "Łódź"]
CJK = ["東京", "人工知能", "半導体", "서울", "深圳", "ソニー", "北京"]
EMOJI = ["🚀", "🤖", "📱", "🔒", "⚡", "🌍", "📉"]
QUIRKS = ["“{}”", "{}’s", "{} —", "{}…", "â€œ{}", "{}â€™s", "{} &amp;#8217;", "{} &#8220;"]

SYLLABLES = _words("ar bel cor dan el fin gal hor is jun kel lor mar nor ost pel quin ros "
             "sal tor ul ver wes xan yor zel bra cla dre fro gla pri stra tre")
ACCENTS = "éüöñçàøå"
SUFFIXES = ["News", "Times", "Daily", "Post", "Journal", "Review", "Wire", "Insider",
            "Tech", "Today", "Observer", "Herald", "Gazette", "Digest", "Weekly", "Labs"]
TLDS = ["com"] * 6 + ["org", "net", "io", "co.uk", "de", "fr", "in", "com.au", "news"]
IMAGE_HOSTS = ["cdn.pixhost.example", "images.newsassets.net", "static.mediacdn.io",
               "d3k2xq0example.cloudfront.net"]
WORDS = VOCAB * 2 + VERBS + JOINERS  # nouns and adjectives twice as likely
EPOCH = datetime(2021, 1, 1, tzinfo=UTC)
SPAN_MINUTES = 3 * 365 * 24 * 60


class Provider(NamedTuple):
    """A news source: display name, host name, and whether it has a logo."""

    name: str
    domain: str
    logo: bool


@dataclass(frozen=True)
class Universe:
    """Topics and providers with cumulative Zipf weights, shared by every record."""

    topics: list[str]
    topic_cum: list[float]
    providers: list[Provider]
    provider_cum: list[float]


def zipf_cum(n: int, s: float) -> list[float]:
    """Cumulative weights of ranks 1..n under a Zipf law with exponent s."""
    return list(accumulate(1.0 / rank**s for rank in range(1, n + 1)))


def ascii_slug(text: str) -> str:
    """Lowercase ASCII words joined by hyphens (what the peers' slugs reduce to)."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def make_provider(rng: random.Random) -> Provider:
    """One invented provider; ~8% of names carry an accent, ~60% have a logo."""
    core = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3)))
    if rng.random() < 0.08:
        at = rng.randrange(1, len(core))
        core = core[:at] + rng.choice(ACCENTS) + core[at + 1:]
    suffix = rng.choice(SUFFIXES)
    name = f"{core.capitalize()} {suffix}"
    domain = f"{ascii_slug(core)}{suffix.lower()}.{rng.choice(TLDS)}"
    return Provider(name, domain, rng.random() < 0.6)


def make_universe(seed: int, providers: int = 2000) -> Universe:
    """The topic and provider universe, from the seed alone; names and hosts are unique."""
    rng = random.Random(f"universe:{seed}")
    found: list[Provider] = []
    slugs: set[str] = set()
    hosts: set[str] = set()
    while len(found) < providers:
        p = make_provider(rng)
        if ascii_slug(p.name) not in slugs and p.domain not in hosts:
            slugs.add(ascii_slug(p.name))
            hosts.add(p.domain)
            found.append(p)
    return Universe(TOPIC_NAMES, zipf_cum(len(TOPIC_NAMES), 0.9), found, zipf_cum(len(found), 1.0))


def q(text: str) -> str:
    """A YAML double-quoted scalar (the generated text holds no control characters)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def plain(text: str) -> str:
    """A plain YAML scalar when it is safe to leave unquoted, as in the seeds."""
    return text if re.fullmatch(r"[A-Za-zÀ-ɏ][\w .-]*", text) else q(text)


def phrase(rng: random.Random, words: int) -> str:
    """Words of news prose, with the odd non-ASCII word, quirk or emoji."""
    out = rng.choices(WORDS, k=words)
    roll = rng.random()  # rates tuned so that about a third of records hold non-ASCII text
    if roll < 0.02:
        out[rng.randrange(words)] = rng.choice(LOCAL)
    elif roll < 0.026:
        out[rng.randrange(words)] = rng.choice(CJK)
    elif roll < 0.03:
        out.append(rng.choice(EMOJI))
    if rng.random() < 0.025:
        at = rng.randrange(words)
        out[at] = rng.choice(QUIRKS).format(out[at])
    return " ".join(out)


def title(rng: random.Random) -> str:
    """A headline of 5 to 14 words, sometimes in Title Case."""
    text = phrase(rng, rng.randint(5, 14))
    return text.title() if rng.random() < 0.3 else text[0].upper() + text[1:]


def prose(rng: random.Random, low: int, high: int) -> str:
    """Sentences cut to a length in [low, high], half the time mid-word with '...'."""
    target = rng.randint(low + 25, high)  # room for the cut back to a word boundary
    text = ""
    while len(text) < target:
        sentence = phrase(rng, rng.randint(6, 16))
        text += sentence[0].upper() + sentence[1:] + ". "
    if rng.random() < 0.5:
        return text[:target - 3].rstrip() + "..."
    return text[:target].rsplit(" ", 1)[0]


def when(rng: random.Random, near: datetime | None = None) -> datetime:
    """A minute in the three years from 2021, or within four days of `near`."""
    if near is None:
        return EPOCH + timedelta(minutes=rng.randrange(SPAN_MINUTES))
    return near + timedelta(minutes=rng.randint(-5760, 5760))


def stamp(moment: datetime) -> str:
    """RFC 3339 in UTC, as the seeds write it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def article_url(rng: random.Random, domain: str, headline: str, moment: datetime, key: str) -> str:
    """A permanent article URL, unique through `key`; some carry a query string."""
    slug = ascii_slug(headline)[:70].strip("-") or "story"
    url = rng.choice((f"https://www.{domain}/{moment:%Y/%m/%d}/{slug}-{key}/",
                      f"https://{domain}/article/{slug}-id{key}",
                      f"https://www.{domain}/news/{slug}-{key}.html"))
    return url + ("?utm_source=feed&ref=rss" if rng.random() < 0.05 else "")


def image(rng: random.Random, indent: str) -> str:
    """One `images` list item; a few URLs carry an escaped `&#038;` as real data does."""
    width = rng.choice((640, 800, 1024, 1200, 1280, 2048))
    path = f"{rng.randint(2019, 2023)}/{rng.randint(1, 12):02d}/{rng.getrandbits(96):024x}.jpg"
    query = "?w=1024&#038;h=670" if rng.random() < 0.05 else ""
    return (f"{indent}- url: {q(f'https://{rng.choice(IMAGE_HOSTS)}/{path}{query}')}\n"
            f"{indent}  width: {width}\n{indent}  height: {int(width * rng.uniform(0.45, 0.8))}\n"
            f"{indent}  isCached: true\n")


def provider_block(p: Provider, indent: str) -> str:
    """A `provider` mapping; the logo list only for providers that have one."""
    text = f"{indent}provider:\n{indent}  name: {plain(p.name)}\n{indent}  domain: {p.domain}\n"
    if p.logo:
        text += (f"{indent}  images:\n{indent}    - url: "
                 f"\"https://assets.example.org/organizations/{p.domain}-50x50.jpg\"\n"
                 f"{indent}      width: 50\n{indent}      height: 50\n")
    return text


def pick_provider(rng: random.Random, u: Universe) -> Provider:
    """A provider by Zipf popularity."""
    return rng.choices(u.providers, cum_weights=u.provider_cum)[0]


def pick_topics(rng: random.Random, u: Universe) -> list[str]:
    """1 to 4 distinct topics by Zipf popularity."""
    wanted = rng.choices((1, 2, 3, 4), weights=(35, 35, 20, 10))[0]
    chosen: list[str] = []
    while len(chosen) < wanted:
        topic = rng.choices(u.topics, cum_weights=u.topic_cum)[0]
        if topic not in chosen:
            chosen.append(topic)
    return chosen


def related(rng: random.Random, u: Universe, near: datetime) -> str:
    """The `related` list: 0 to 3 mini-records of other coverage."""
    count = rng.choices((0, 1, 2, 3), weights=(30, 35, 20, 15))[0]
    items = []
    for _ in range(count):
        p, headline, moment = pick_provider(rng, u), title(rng), when(rng, near)
        url = article_url(rng, p.domain, headline, moment, f"{rng.getrandbits(32):08x}")
        item = (f"  - title: {q(headline)}\n    excerpt: {q(prose(rng, 80, 240))}\n"
                f"    publishedDateTime: {stamp(moment)}\n    webUrl: {q(url)}\n"
                f"    type: article\n{provider_block(p, '    ')}    quality: {rng.randint(0, 100)}\n")
        if rng.random() < 0.6:
            item += "    images:\n" + image(rng, "      ")
        items.append(item)
    return "\nrelated:\n" + "".join(items) if items else ""


def video_fields(rng: random.Random) -> tuple[str, str, str]:
    """(watch URL, featuredContent iframe, thumbnail image) of a YouTube video."""
    vid = base64.urlsafe_b64encode(rng.randbytes(8)).decode()[:11]
    iframe = (f'<iframe width="800" height="500" frameborder="0" src="https://www.youtube.com/embed/{vid}" '
              'allow="accelerometer; autoplay; encrypted-media; gyroscope; picture-in-picture" '
              "allowfullscreen></iframe>")
    thumb = (f"  - url: \"https://i.ytimg.com/vi/{vid}/maxresdefault.jpg\"\n"
             "    width: 1280\n    height: 720\n    isCached: true\n")
    return f"https://www.youtube.com/watch?v={vid}", iframe, thumb


def secured(rng: random.Random) -> str:
    """An opaque blob shaped like the seeds' (ciphertext;iv)."""
    blob = base64.b64encode(rng.randbytes(rng.randint(180, 340))).decode()
    return f"{blob};{base64.b64encode(rng.randbytes(16)).decode()}"


def record(seed: int, i: int, u: Universe) -> tuple[str, str]:
    """Record i as (file stem id, file text)."""
    rng = random.Random(seed * 10_000_019 + i)
    key = f"{rng.getrandbits(64):016x}"
    p, topics, headline, moment = pick_provider(rng, u), pick_topics(rng, u), title(rng), when(rng)
    is_video = rng.random() < 0.01
    url = article_url(rng, p.domain, headline, moment, key)
    images = "\nimages:\n" + image(rng, "  ") if rng.random() < 0.7 else ""
    head = ["---\ncategory: news\n", f"title: {q(headline)}\n", f"excerpt: {q(prose(rng, 150, 400))}\n",
            f"publishedDateTime: {stamp(moment)}\n"]
    extra = ""
    if is_video:
        url, iframe, thumb = video_fields(rng)
        images, extra = "\nimages:\n" + thumb, f"\nfeaturedContent: {q(iframe)}\n"
    head += [f"originalUrl: {q(url)}\n", f"webUrl: {q(url)}\n"]
    if not is_video and rng.random() < 0.35:
        amp = url.replace("https://www.", "https://", 1).replace("https://", "https://amp.", 1)
        head.append(f"ampWebUrl: {q(amp)}\ncdnAmpWebUrl: {q('https://cdn.ampproject.org/c/s/' + amp[8:])}\n")
    published = "true" if rng.random() < 0.8 else "false"
    head.append(f"type: {'video' if is_video else 'article'}\nquality: {rng.randint(0, 160)}\n"
                f"heat: {-1 if rng.random() < 0.2 else rng.randint(0, 140)}\npublished: {published}\n")
    body = (extra + "\n" + provider_block(p, "") + "\ntopics:\n"
            + "".join(f"  - {plain(t)}\n" for t in topics) + images + related(rng, u, moment)
            + f"\nsecured: {q(secured(rng))}\n---\n")
    return key, "".join(head) + body


_UNIVERSE: Universe | None = None


def write_chunk(task: tuple[int, int, int, int, str]) -> int:
    """Write records [low, high) into `out`; return how many."""
    global _UNIVERSE
    seed, low, high, width, out = task
    if _UNIVERSE is None:
        _UNIVERSE = make_universe(seed)
    for i in range(low, high):
        key, text = record(seed, i, _UNIVERSE)
        with open(os.path.join(out, f"{i:0{width}d}_{key}.txt"), "w", encoding="utf-8") as f:
            f.write(text)
    return high - low


def generate(n: int, seed: int, out: str, jobs: int) -> int:
    """Write n records into `out` (created; must hold no records yet); return how many."""
    os.makedirs(out, exist_ok=True)
    if any(name.endswith((".txt", ".md")) for name in os.listdir(out)):
        raise SystemExit(f"gen_corpus: {out} already holds records; give an empty folder")
    width = max(3, len(str(n - 1)))
    tasks = [(seed, low, min(low + CHUNK, n), width, out) for low in range(0, n, CHUNK)]
    if jobs <= 1 or len(tasks) <= 1:
        return sum(map(write_chunk, tasks))
    with Pool(jobs) as pool:
        return sum(pool.imap_unordered(write_chunk, tasks))


def main() -> None:
    """Parse the command line and write the corpus."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, required=True, help="number of records")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--out", required=True, help="folder to write (empty or absent)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    args = ap.parse_args()
    done = generate(args.n, args.seed, args.out, args.jobs)
    print(f"gen_corpus: wrote {done} records to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
