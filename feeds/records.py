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
from urllib.parse import urlsplit

import yaml

try:  # libyaml-compatible results about six times faster; PyYAML stays the reference
    import yaml_rs
except ImportError:  # pragma: no cover - the dependency is declared, but stay usable without
    yaml_rs = None  # type: ignore[assignment]

from .errors import Problem, Severity
from .settings import Settings
from .text import BadURL, clean_text, clean_url, normalise_host, portable, topic_slug

RECORD_SUFFIXES = (".md", ".txt")

# YAML 1.2 booleans only (so `published: yes` stays the string "yes"), and no
# implicit timestamps (dates are parsed below, where a bad one names its field).
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class RecordLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """PyYAML's safe (C) loader with YAML 1.2 booleans and dates left as text."""


RecordLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers
            if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}
RecordLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)

SAFE_EMBED_HOSTS = {
    "www.youtube.com": "/embed/",
    "youtube.com": "/embed/",
    "www.youtube-nocookie.com": "/embed/",
    "player.vimeo.com": "/video/",
    "www.dailymotion.com": "/embed/video/",
}
_IFRAME_SRC = re.compile(r"""<iframe\b[^>]*?\ssrc\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I)


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


@dataclass(slots=True)
class ReadResult:
    """What reading one file gave: a record, or None with the reason in `problems`."""

    source: str
    record: Record | None = None
    problems: list[Problem] = field(default_factory=list)
    unpublished: bool = False


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

    # -- front matter -------------------------------------------------------
    def front_matter(self, data: bytes) -> dict[str, Any]:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _Reject("file", f"not UTF-8 text (bad byte at offset {exc.start}); "
                                  "save the file as UTF-8") from None
        text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
        if "\x00" in text:
            raise _Reject("file", "holds NUL bytes; it is not a text record")
        if not text.strip():
            raise _Reject("file", "is empty; a record starts with a '---' line of YAML front matter")
        lines = text.split("\n")
        if lines[0].rstrip() != "---":
            raise _Reject("front matter", "the file must start with a '---' line")
        try:
            end = next(i for i, line in enumerate(lines[1:], 1) if line.rstrip() in ("---", "..."))
        except StopIteration:
            raise _Reject("front matter", "no closing '---' line after the YAML") from None
        return self.parse_yaml("\n".join(lines[1:end]))

    def parse_yaml(self, text: str) -> dict[str, Any]:
        if _too_deep(text):
            raise _Reject("front matter", f"nests deeper than {PARSER_DEPTH} levels; "
                                          "records are flat mappings with short lists")
        data = fast_yaml(text)
        if data is None:
            data = self.pyyaml(text)
        if not isinstance(data, dict):
            raise _Reject("front matter", "must be a mapping of field: value lines")
        check_shape(data, self.settings.max_yaml_depth)
        return data

    def pyyaml(self, text: str) -> Any:
        """PyYAML's reading of `text`, whose errors say where the YAML goes wrong."""
        try:
            if "&" in text or "*" in text:
                _refuse_aliases(text)
            return yaml.load(text, Loader=RecordLoader)
        except _Reject:
            raise
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            where = f" at line {mark.line + 2}, column {mark.column + 1}" if mark else ""
            raise _Reject("front matter", f"not valid YAML{where}: {exc.problem}; "
                                          "quote values that hold ':' or '#', indent with spaces") from None
        except Exception as exc:  # any loader failure is this record's, never the build's
            raise _Reject("front matter", f"not valid YAML ({type(exc).__name__})") from None

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
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and re.fullmatch(r"\s*-?\d{1,18}\s*", raw):
            return int(raw)
        if isinstance(raw, float) and raw.is_integer() and abs(raw) < 1e18:
            return int(raw)
        self.warn(fieldname, f"must be a whole number, not a {_kind(raw)}; ignored")
        return None

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
                found.append(Image(url, _dimension(item.get("width")), _dimension(item.get("height"))))
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
        match = _IFRAME_SRC.search(raw)
        if not match:
            self.warn("featuredContent", "holds no <iframe src=...>; no player is published")
            return None
        src = match.group(1) if match.group(1) is not None else match.group(2)
        src = "https:" + src if src.startswith("//") else src
        try:
            url = clean_url(src)
        except BadURL as exc:
            self.warn("featuredContent", f"the player URL: {exc}; no player is published")
            return None
        parts = url.split("/", 3)
        prefix = SAFE_EMBED_HOSTS.get(parts[2]) if url.startswith("https://") else None
        if prefix is None or not ("/" + (parts[3] if len(parts) > 3 else "")).startswith(prefix):
            self.warn("featuredContent", "the player is not a known-safe embed URL "
                                         f"({', '.join(sorted(SAFE_EMBED_HOSTS))}); not published")
            return None
        return url


# Any alias makes yaml-rs refuse, so PyYAML reads the record and refuses it with a message.
_NO_ALIASES = yaml_rs.AliasLimits(max_total_replayed_events=0) if yaml_rs else None
# Where yaml-rs (YAML 1.2) and PyYAML (YAML 1.1) could read the text apart, PyYAML reads it:
# * numbers: leading zeros ('08', '017'), 0o/0b/0x prefixes, digit separators ('_1'),
#   exponents without a dot;
# * anchors and aliases (refused), tags ('!!binary', '!!python/...'), directives, and the
#   indicators that PyYAML refuses in flow ('[>]') or that are reserved ('@', '`'), and
#   PyYAML's value and merge keys ('=', '<<'), which it refuses even under a repeated key;
# Both can only start a node: at a line's start, after ': ', '- ' or '? ', after a flow bracket
# or comma, or right after the ':' of a quoted key; so the '00' of '20:38:00Z' or the '&' of
# 'AT &amp; T' do not count.
_TOKEN = r"(?:[-+]?(?:0[0-9_bBoOxX]|_|[0-9][0-9_]*_|[0-9.]*[eE][-+]?[0-9])|[&*!%|>@`=<])"
_NODE_START = re.compile(  # one character class first, so the engine skips ahead fast
    r"""[\n\[{,:?\-"'](?:(?<=[\n\[{,])[ \t]*|(?<=[:?\-])[ \t]+|(?<=["']):[ \t]*)""" + _TOKEN)


def _typed_apart(text: str) -> bool:
    """True when some node of `text` starts the way the two YAML versions could read apart."""
    if "\t" in text:  # PyYAML refuses tabs where YAML 1.2 lets them pass as white space
        return True
    return _NODE_START.search("\n" + text) is not None


# Text yaml-rs keeps as a string that PyYAML, had it been written plain, would type apart
# ('1:20' is 80 in YAML 1.1, '=' and '<<' are special there): PyYAML reads those records.
_APART_TAGS = frozenset({"tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
                         "tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"})
_APART_FIRST = frozenset("-+.0123456789<=")  # how PyYAML's int, float, merge and value forms start


def _pyyaml_types_apart(text: str) -> bool:
    """True when PyYAML would type `text`, written plain, as something YAML 1.2 keeps as text."""
    if not text or text[0] not in _APART_FIRST:
        return False
    return any(tag in _APART_TAGS and regexp.match(text)
               for tag, regexp in RecordLoader.yaml_implicit_resolvers.get(text[0], ()))


_NUMBER_FIELDS = frozenset({"quality", "heat", "width", "height"})


def _same_as_pyyaml(data: Any) -> bool:
    """True when no value is typed in a way PyYAML's reading could differ from."""
    stack: list[tuple[Any, str]] = [(data, "")]
    first = _APART_FIRST
    while stack:
        node, key = stack.pop()
        kind = type(node)
        if kind is dict:
            for k, v in node.items():
                if type(k) is not str or (k and k[0] in first and _pyyaml_types_apart(k)):
                    return False
                stack.append((v, k))
        elif kind is list:
            stack.extend((v, key) for v in node)
        elif kind is str:
            if node and node[0] in first and _pyyaml_types_apart(node):
                return False
        elif kind is float:
            return False
        elif kind is int and key not in _NUMBER_FIELDS:
            return False  # a number where text is expected: let PyYAML decide
    return True


def fast_yaml(text: str) -> Any:
    """yaml-rs's reading of `text` when it is PyYAML's RecordLoader's too, else None.

    Dates stay text and duplicate keys keep the last value, as with PyYAML.
    Anything yaml-rs refuses (aliases included), and anything the two YAML
    versions could type apart, returns None: PyYAML then reads it, and its
    errors point at the line.
    """
    if yaml_rs is None or _typed_apart(text):
        return None
    try:
        data = yaml_rs.loads(text, parse_datetime=False, alias_limits=_NO_ALIASES,
                             duplicate_key_policy=yaml_rs.DuplicateKeyPolicy.LastWins)
    except Exception:  # any refusal: let PyYAML read it and explain
        return None
    return data if _same_as_pyyaml(data) else None


PARSER_DEPTH = 64  # past this, YAML parsers recurse until the C stack overflows
_OPENERS = re.compile(r"[\[\]{}]")
_DEEP_BLOCK = re.compile(rf"(?:-[ \t]+){{{PARSER_DEPTH}}}")


def _too_deep(text: str) -> bool:
    """True when flow brackets or one-line block sequences nest past PARSER_DEPTH."""
    if text.count("-") >= PARSER_DEPTH and _DEEP_BLOCK.search(text):
        return True
    if text.count("[") + text.count("{") < PARSER_DEPTH:
        return False
    depth = 0
    for match in _OPENERS.finditer(text):
        depth += 1 if match.group() in "[{" else -1
        if depth > PARSER_DEPTH:
            return True
    return False


def _refuse_aliases(text: str) -> None:
    """Refuse anchors and aliases, scalar ones included, before anything is built from them."""
    for event in yaml.parse(text, Loader=RecordLoader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _Reject("front matter", "uses YAML anchors/aliases (&name / *name), which "
                                          "records may not; write the values out")


def _kind(value: Any) -> str:
    return {dict: "mapping", list: "list", str: "string", bool: "boolean", int: "number",
            float: "number"}.get(type(value), type(value).__name__)


def _dimension(raw: Any) -> int | None:
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 < raw < 100_000:
        return raw
    return None


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


def check_shape(data: Any, max_depth: int) -> None:
    """Refuse YAML whose nesting is deeper than `max_depth` or that reuses a node (aliases).

    Walking an aliased value can cost billions of steps (billion laughs), so a
    container met twice is refused before anything else looks at it.
    """
    seen: set[int] = set()
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        if id(node) in seen:
            raise _Reject("front matter", "uses YAML anchors/aliases (&name / *name), which "
                                          "records may not; write the values out")
        seen.add(id(node))
        if depth >= max_depth:
            raise _Reject("front matter", f"nests deeper than {max_depth} levels (max_yaml_depth)")
        for child in node.values() if isinstance(node, dict) else node:
            if type(child) is dict or type(child) is list:
                stack.append((child, depth + 1))


def read_record(source: str, data: bytes, settings: Settings) -> ReadResult:
    """Read one record file's bytes into a `Record`, or say why it cannot be published."""
    reader = _Reader(source, settings)
    result = ReadResult(source, problems=reader.problems)
    try:
        fields = reader.front_matter(data)
        if not _is_published(fields, reader) and not settings.drafts:
            result.unpublished = True
            return result
        result.record = _build(fields, reader, hashlib.blake2b(data, digest_size=12).hexdigest())
    except _Reject as exc:
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

