"""Records: one file's front matter, checked once at the door into a frozen `Record`.

After this module nobody sees a raw dict.  Every field has one coercion; a
field that cannot be used is dropped with a warning, a record that cannot be
published is refused with an error, and both name the file and the field.
The ``secured`` field is never read.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .errors import Problem, Severity
from .frontmatter import FrontMatterError, LongNumber, read_front_matter
from .markup import start_tags
from .settings import Settings
from .text import BadURL, clean_text, clean_url, normalise_host, normalise_path, portable, topic_slug

RECORD_SUFFIXES = (".md", ".txt")
MAX_NUMBER = 10**9  # quality and heat: as far as a live filter reaches
MAX_PIXELS = 100_000
_INTEGER_TEXT = re.compile(r"\s*-?\d+\s*")

# The player pages of the video hosts whose embeds are published: one video id, nothing else.
_YOUTUBE = re.compile(r"/embed/[A-Za-z0-9_-]+")
SAFE_EMBEDS = {
    "www.youtube.com": _YOUTUBE,
    "youtube.com": _YOUTUBE,
    "www.youtube-nocookie.com": _YOUTUBE,
    "player.vimeo.com": re.compile(r"/video/[0-9]+"),
    "www.dailymotion.com": re.compile(r"/embed/video/[A-Za-z0-9]+"),
}


@dataclass(frozen=True, slots=True)
class Image:
    """A picture of the story: the first is the entry's thumbnail."""

    url: str
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True, slots=True)
class Provider:
    """Who published the story; `key` is the lowercase host name its feed is keyed by."""

    name: str
    key: str
    logo: str | None = None

    @property
    def home(self) -> str:
        """The provider's home page, used as the Atom author URI."""
        return f"https://{self.key.lstrip('_')}/"


@dataclass(frozen=True, slots=True)
class Topic:
    """A topic as written (`name`) and the slug its feed is keyed by."""

    name: str
    slug: str


@dataclass(frozen=True, slots=True)
class Related:
    """Other coverage of the same story."""

    title: str
    url: str
    provider: str = ""
    published_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Headline:
    """What planning, filtering and indexes need of a record; `digest` changes with its file."""

    id: str
    source: str
    title: str
    link: str
    published_at: datetime
    provider: Provider
    topics: tuple[Topic, ...] = ()
    quality: int | None = None
    heat: int | None = None
    digest: str = ""
    updated_at: datetime | None = None  # a story's newest coverage (None: when it was published)

    @property
    def updated(self) -> datetime:
        """When the entry last changed: a story's newest coverage, a record's publication."""
        return self.published_at if self.updated_at is None else self.updated_at

    @property
    def sort_key(self) -> tuple[float, str]:
        """Newest first, ties broken by id."""
        return (-self.published_at.timestamp(), self.id)


@dataclass(frozen=True, slots=True)
class Record(Headline):
    """A published (or, with drafts, publishable) news record; `id` is permanent."""

    excerpt: str = ""
    original_url: str | None = None
    kind: str = "article"
    video_url: str | None = None
    published: bool = True
    images: tuple[Image, ...] = ()
    related: tuple[Related, ...] = ()
    coverage: tuple[Related, ...] = ()  # a story's other articles (see `feeds.catalog.stories`)


@dataclass(slots=True)
class ReadResult:
    """What reading one file gave: a record, or None with the reason in `problems`."""

    source: str
    record: Record | None = None
    problems: list[Problem] = field(default_factory=list)
    unpublished: bool = False
    again: bool = False  # the file could not be read this time (an OS error): read it again next time


def record_id(link: str) -> str:
    """The permanent id of the article at `link`, the same in every feed and format."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, link)}"


class _Reject(Exception):
    """Raised inside the reader when a record cannot be published."""

    def __init__(self, fieldname: str, message: str) -> None:
        super().__init__(message)
        self.field = fieldname
        self.message = message


class _Reader:
    """Reads one record's fields; collects warnings, raises `_Reject` on errors."""

    def __init__(self, source: str, settings: Settings) -> None:
        self.source = source
        self.settings = settings
        self.problems: list[Problem] = []

    def warn(self, fieldname: str, message: str) -> None:
        self.problems.append(Problem(self.source, fieldname, message))

    # -- scalar fields -------------------------------------------------------
    def text(self, raw: Any, fieldname: str, max_chars: int, required: bool = False) -> str:
        if raw is None:
            if required:
                raise _Reject(fieldname, "is missing; every record needs one")
            return ""
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            message = f"must be text, not a {_kind(raw)}"
            if required:
                raise _Reject(fieldname, message)
            self.warn(fieldname, message + "; dropped")
            return ""
        value = clean_text(str(raw), max_chars)
        if required and not value:
            raise _Reject(fieldname, "is empty after cleaning; give the record a title")
        return value

    def url(self, raw: Any, fieldname: str, required: bool = False) -> str | None:
        if raw is None or raw == "":
            return None
        if not isinstance(raw, str):
            problem = f"must be a URL string, not a {_kind(raw)}"
        else:
            try:
                return clean_url(raw)
            except BadURL as exc:
                problem = str(exc)
        if required:
            raise _Reject(fieldname, problem)
        self.warn(fieldname, problem + "; dropped")
        return None

    def integer(self, raw: Any, fieldname: str) -> int | None:
        if raw is None:
            return None
        value: int | None = None
        too_long = isinstance(raw, LongNumber)
        if isinstance(raw, int) and not isinstance(raw, bool):
            value = raw
        elif isinstance(raw, str) and not too_long and _INTEGER_TEXT.fullmatch(raw):
            too_long = len(raw.strip()) > 19  # int() refuses past 4,300 digits
            value = None if too_long else int(raw)
        elif isinstance(raw, float) and raw.is_integer() and abs(raw) < 1e18:
            value = int(raw)
        if value is None and not too_long:
            self.warn(fieldname, f"must be a whole number, not a {_kind(raw)}; ignored")
            return None
        if value is None or not -MAX_NUMBER <= value <= MAX_NUMBER:
            self.warn(fieldname, f"is out of range (-{MAX_NUMBER:,} to {MAX_NUMBER:,}); ignored")
            return None
        return value

    def dimension(self, raw: Any, fieldname: str) -> int | None:
        """An image's width or height in pixels; zero, negative or absent is unknown."""
        if isinstance(raw, LongNumber) or (type(raw) is int and raw >= MAX_PIXELS):
            self.warn(fieldname, f"is out of range (1 to {MAX_PIXELS - 1:,} pixels); ignored")
            return None
        return raw if type(raw) is int and raw > 0 else None

    def when(self, raw: Any, fieldname: str, required: bool = False) -> datetime | None:
        try:
            return self._when(raw, fieldname)
        except _Reject as exc:
            if required:
                raise
            self.warn(fieldname, exc.message + "; ignored")
            return None

    def _when(self, raw: Any, fieldname: str) -> datetime:
        if raw is None or raw == "":
            raise _Reject(fieldname, "is missing; use an RFC 3339 date-time like 2020-11-09T15:05:00Z")
        if isinstance(raw, datetime):
            moment = raw
        elif isinstance(raw, date):
            moment = datetime(raw.year, raw.month, raw.day)
        elif isinstance(raw, str):
            moment = _parse_datetime(raw.strip(), fieldname)
        else:
            raise _Reject(fieldname, f"must be an RFC 3339 date-time, not a {_kind(raw)}")
        if moment.tzinfo is None:
            self.warn(fieldname, "has no time zone; taken as UTC (add Z or +00:00)")
            moment = moment.replace(tzinfo=UTC)
        try:
            moment = moment.astimezone(UTC)
        except (OverflowError, ValueError):
            raise _Reject(fieldname, "is out of range") from None
        if not 1970 <= moment.year <= 9999:
            raise _Reject(fieldname, "must fall between the years 1970 and 9999")
        return moment

    # -- structured fields -----------------------------------------------------
    def provider(self, raw: Any, link: str) -> Provider:
        try:
            link_host = normalise_host(urlsplit(link).hostname or "")
        except BadURL as exc:
            raise _Reject("webUrl", f"the link's {exc}") from None
        if raw is None:
            self.warn("provider", "is missing; the link's host is used instead")
            return Provider(link_host, portable(link_host))
        if not isinstance(raw, dict):
            self.warn("provider", f"must be a mapping (name, domain, images), not a {_kind(raw)}; "
                                  "the link's host is used instead")
            return Provider(link_host, portable(link_host))
        domain = raw.get("domain")
        key = link_host
        if isinstance(domain, str) and domain.strip():
            host = domain.strip()
            if "://" in host:
                host = host.split("://", 1)[1]
            try:
                key = normalise_host(host.split("/")[0].split(":")[0])
            except BadURL as exc:
                self.warn("provider.domain", f"{exc}; the link's host is used instead")
        else:
            self.warn("provider.domain", "is missing; the link's host is used instead")
        name = self.text(raw.get("name"), "provider.name", 200) or key
        images = self.images(raw.get("images"), "provider.images")
        return Provider(name, portable(key), images[0].url if images else None)

    def images(self, raw: Any, fieldname: str) -> tuple[Image, ...]:
        found: list[Image] = []
        for i, item in enumerate(self.items(raw, fieldname)):
            where = f"{fieldname}[{i}]"
            if isinstance(item, str):
                item = {"url": item}
            if not isinstance(item, dict):
                self.warn(where, f"must be a mapping with url, width, height, not a {_kind(item)}; dropped")
                continue
            url = self.url(item.get("url"), f"{where}.url")
            if url:
                found.append(Image(url, self.dimension(item.get("width"), f"{where}.width"),
                                   self.dimension(item.get("height"), f"{where}.height")))
        return tuple(found)

    def items(self, raw: Any, fieldname: str) -> list[Any]:
        if raw is None:
            return []
        if isinstance(raw, list):
            return raw
        self.warn(fieldname, f"must be a list, not a {_kind(raw)}; dropped")
        return []

    def topics(self, raw: Any) -> tuple[Topic, ...]:
        if isinstance(raw, str):
            raw = [raw]
        found: dict[str, Topic] = {}
        limit = self.settings.max_topic_chars
        for i, item in enumerate(self.items(raw, "topics")):
            where = f"topics[{i}]"
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                self.warn(where, f"must be text, not a {_kind(item)}; dropped")
                continue
            name = clean_text(str(item))
            if len(name) > limit:
                self.warn(where, f"is longer than {limit} characters (max_topic_chars); dropped")
                continue
            slug = topic_slug(name, limit)
            if not slug:
                self.warn(where, "has no letters or digits to name a feed by; dropped")
                continue
            found.setdefault(slug, Topic(name, slug))
        topics = tuple(found.values())
        if len(topics) > self.settings.max_topics:
            self.warn("topics", f"more than {self.settings.max_topics} topics (max_topics); "
                                "the rest are dropped")
            topics = topics[: self.settings.max_topics]
        return topics

    def related(self, raw: Any) -> tuple[Related, ...]:
        found: list[Related] = []
        seen: set[str] = set()
        for i, item in enumerate(self.items(raw, "related")):
            where = f"related[{i}]"
            if not isinstance(item, dict):
                self.warn(where, f"must be a mapping, not a {_kind(item)}; dropped")
                continue
            url = self.url(item.get("webUrl"), f"{where}.webUrl") or self.url(
                item.get("originalUrl"), f"{where}.originalUrl")
            title = self.text(item.get("title"), f"{where}.title", self.settings.max_title_chars)
            if not (url and title) or url in seen:
                continue
            seen.add(url)
            provider = item.get("provider")
            name = self.text(provider.get("name"), f"{where}.provider.name", 200) if isinstance(
                provider, dict) else ""
            found.append(Related(title, url, name, self.when(item.get("publishedDateTime"),
                                                             f"{where}.publishedDateTime")))
        if len(found) > self.settings.max_related:
            found = found[: self.settings.max_related]
        return tuple(found)

    def video(self, raw: Any) -> str | None:
        if not isinstance(raw, str):
            return None
        src = next((tag.attributes["src"] for tag in start_tags(raw, "iframe") if "src" in tag.attributes),
                   None)
        if src is None:
            self.warn("featuredContent", "holds no <iframe src=...>; no player is published")
            return None
        try:
            return player_url(src)
        except BadURL as exc:
            self.warn("featuredContent", f"the player URL: {exc}; no player is published")
            return None


def player_url(src: str) -> str:
    """The video player at `src`, resolved as a browser would; BadURL unless it is a known-safe embed."""
    src = src.strip()
    url = clean_url("https:" + src if src.startswith("//") else src)
    parts = urlsplit(url)
    path = normalise_path(parts.path)
    pattern = SAFE_EMBEDS.get(parts.netloc) if parts.scheme == "https" else None
    if pattern is None or not pattern.fullmatch(path):
        raise BadURL("not a known-safe embed URL (a video's player page on "
                     f"{', '.join(sorted(SAFE_EMBEDS))})")
    return urlunsplit(("https", parts.netloc, path, parts.query, parts.fragment))


def _kind(value: Any) -> str:
    return {dict: "mapping", list: "list", str: "string", bool: "boolean", int: "number",
            float: "number"}.get(type(value), type(value).__name__)


_RFC3339ISH = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
                         r"(?:[Zz]|[+-]\d{2}:?\d{2})?)?$")


def _parse_datetime(text: str, fieldname: str) -> datetime:
    if not _RFC3339ISH.match(text):
        raise _Reject(fieldname, "is not an RFC 3339 date-time; write it like 2020-11-09T15:05:00Z")
    try:
        return datetime.fromisoformat(text.replace("z", "Z").replace("t", "T"))
    except ValueError as exc:
        raise _Reject(fieldname, f"is not a real date and time ({exc}); "
                                 "write it like 2020-11-09T15:05:00Z") from None


def read_record(source: str, data: bytes, settings: Settings) -> ReadResult:
    """Read one record file's bytes into a `Record`, or say why it cannot be published."""
    reader = _Reader(source, settings)
    result = ReadResult(source, problems=reader.problems)
    try:
        fields = read_front_matter(data, settings.max_yaml_depth)
        if not _is_published(fields, reader) and not settings.drafts:
            result.unpublished = True
            return result
        result.record = _build(fields, reader, hashlib.blake2b(data, digest_size=12).hexdigest())
    except (_Reject, FrontMatterError) as exc:
        reader.problems.append(Problem(source, exc.field, exc.message, Severity.ERROR))
    except RecursionError:
        reader.problems.append(Problem(source, "front matter", "nests too deeply", Severity.ERROR))
    return result


def _is_published(fields: dict[str, Any], reader: _Reader) -> bool:
    flag = fields.get("published")
    if flag is True:
        return True
    if flag is not None and flag is not False:
        # The value itself is not echoed: it could hold anything, a secret included.
        reader.warn("published", f"must be true or false, not a {_kind(flag)}; "
                                 "the record is not published")
    return False


def _build(fields: dict[str, Any], reader: _Reader, digest: str) -> Record:
    settings = reader.settings
    title = reader.text(fields.get("title"), "title", settings.max_title_chars, required=True)
    published_at = reader.when(fields.get("publishedDateTime"), "publishedDateTime", required=True)
    assert published_at is not None
    original = reader.url(fields.get("originalUrl"), "originalUrl")
    if fields.get("webUrl") not in (None, ""):
        link = reader.url(fields.get("webUrl"), "webUrl", required=True)
    elif original:
        link = original
    else:
        raise _Reject("webUrl", "is missing and so is originalUrl; a record needs an http(s) link")
    assert link is not None
    kind = fields.get("type", "article")
    if kind not in ("article", "video"):
        reader.warn("type", "must be 'article' or 'video'; taken as article")
        kind = "article"
    return Record(
        id=record_id(link),
        source=reader.source,
        title=title,
        link=link,
        published_at=published_at,
        provider=reader.provider(fields.get("provider"), link),
        excerpt=reader.text(fields.get("excerpt"), "excerpt", settings.max_excerpt_chars),
        original_url=original,
        kind=kind,
        video_url=reader.video(fields.get("featuredContent")) if kind == "video" else None,
        quality=reader.integer(fields.get("quality"), "quality"),
        heat=reader.integer(fields.get("heat"), "heat"),
        published=fields.get("published") is True,
        topics=reader.topics(fields.get("topics")),
        images=reader.images(fields.get("images"), "images"),
        related=reader.related(fields.get("related")),
        digest=digest,
    )

