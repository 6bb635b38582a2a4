"""Cleaning of the messy text and URLs real records carry.

Text fields end up plain text: mojibake repaired (ftfy), HTML entities
unescaped until the text stops changing, markup removed, characters XML 1.0
forbids dropped, white space folded.  Each format escapes the result again
where it wants HTML.  URLs end up absolute http(s), entity-free and
percent-encoded, or are refused.
"""

from __future__ import annotations

import functools
import html
import re
from urllib.parse import quote, urlsplit, urlunsplit

from slugify import slugify

from .markup import text_of

# Characters XML 1.0 forbids, plus C1 controls, DEL, lone surrogates and
# non-characters, which validators reject even where XML allows them.
_XML_ILLEGAL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff"
    "\U0001fffe\U0001ffff\U0002fffe\U0002ffff\U0003fffe\U0003ffff\U0004fffe\U0004ffff"
    "\U0005fffe\U0005ffff\U0006fffe\U0006ffff\U0007fffe\U0007ffff\U0008fffe\U0008ffff"
    "\U0009fffe\U0009ffff\U000afffe\U000affff\U000bfffe\U000bffff\U000cfffe\U000cffff"
    "\U000dfffe\U000dffff\U000efffe\U000effff\U000ffffe\U000fffff\U0010fffe\U0010ffff]"
)
# UTF-8 read as cp1252 or Latin-1 leaves a lead byte (Â-ô) before a
# continuation byte shown as a Latin-1 or cp1252 character: only text with
# such a pair goes through ftfy, which is slow.
_CP1252_CONTINUATION = "\x80-\xbf\u20ac\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039" \
    "\u0152\u017d\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u017e\u0178"
_MOJIBAKE = re.compile(f"[\xc2-\xf4][{_CP1252_CONTINUATION}]")
_LOOKS_LIKE_MARKUP = re.compile(r"<[A-Za-z/!?]")
_SPACE = re.compile(r"\s+")
_MAX_UNESCAPE_ROUNDS = 5


def strip_markup(text: str) -> str:
    """The text of an HTML fragment; text without markup comes back unchanged."""
    if not _LOOKS_LIKE_MARKUP.search(text):
        return text
    return text_of(text)


def unescape(text: str) -> str:
    """HTML entities decoded until the text stops changing (``&amp;#8217;`` → ``’``)."""
    for _ in range(_MAX_UNESCAPE_ROUNDS):
        if "&" not in text:
            break
        decoded = html.unescape(text)
        if decoded == text:
            break
        text = decoded
    return text


def remove_illegal(text: str) -> str:
    """`text` without the characters an XML 1.0 document may not hold."""
    return _XML_ILLEGAL.sub("", text)


# Text that is already clean: printable ASCII, single spaces, no entity or tag.
_PLAIN = re.compile(r"(?:[!-%'-;=?-~]+(?: [!-%'-;=?-~]+)*)?")


def clean_text(text: str, max_chars: int | None = None) -> str:
    """Plain, XML-safe, single-line text; cut at a word boundary past `max_chars`."""
    if (max_chars is None or len(text) <= max_chars) and _PLAIN.fullmatch(text):
        return text
    if "\x1b" in text:
        from ftfy.fixes import remove_terminal_escapes  # imported when needed: ftfy loads slowly
        text = remove_terminal_escapes(text)
    if _MOJIBAKE.search(text):
        import ftfy
        text = ftfy.fix_encoding(text)
    text = strip_markup(unescape(text))
    text = _SPACE.sub(" ", remove_illegal(text)).strip()
    if max_chars is not None and len(text) > max_chars:
        text = shorten(text, max_chars)
    return text


def shorten(text: str, max_chars: int) -> str:
    """`text` cut to at most `max_chars` characters at a word, ending with an ellipsis."""
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 1]
    space = cut.rfind(" ")
    if space > max_chars // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"


_URL_SAFE = {
    "path": "/:@!$&()*+,;=-._~%",
    "query": "/?:@!$&()*+,;=-._~%",
    "fragment": "/?:@!$&()*+,;=-._~%#",
}
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?$")  # lowercase ASCII
_STRIP_IN_URL = re.compile("[\t\n\r]")
_EDGE_JUNK = re.compile("^[\x00-\x20\x7f]+|[\x00-\x20\x7f]+$")  # C0 controls and spaces
MAX_URL_CHARS = 4096


class BadURL(ValueError):
    """A URL that cannot be published; the message says why."""


def _quote_part(part: str, kind: str) -> str:
    return quote(_BAD_PERCENT.sub("%25", part), safe=_URL_SAFE[kind])


def normalise_host(host: str) -> str:
    """The lowercase ASCII (IDNA) form of a host name; BadURL when it is not one."""
    host = host.strip().lower().rstrip(".")
    if len(host) > 253:  # checked first: IDNA-encoding a megabyte takes seconds
        raise BadURL("the host name is longer than 253 characters")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise BadURL("the host name is not a valid internationalised domain name") from None
    if not HOST_NAME.match(host):
        raise BadURL("the host name is not a valid domain name")
    return host


# A URL already in its published form: lowercase host, nothing to escape.
_CLEAN_URL = re.compile(
    rf"^https?://{_LABEL}(?:\.{_LABEL})*"  # no port: the slow path checks its range
    r"(?:/[A-Za-z0-9._~!$&()*+,;=:@/-]*)?(?:\?[A-Za-z0-9._~!$&()*+,;=:@/?-]*)?"
    r"(?:#[A-Za-z0-9._~!$&()*+,;=:@/?-]*)?$"
)
# Only entities closed by ';' are decoded in URLs: '&copy=2' is a parameter.
_URL_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def _unescape_url(url: str) -> str:
    for _ in range(_MAX_UNESCAPE_ROUNDS):
        decoded = _URL_ENTITY.sub(lambda m: html.unescape(m.group(0)), url)
        if decoded == url:
            break
        url = decoded
    return url


def clean_url(value: str) -> str:
    """An absolute, entity-free, percent-encoded http(s) URL; BadURL says why not."""
    if len(value) <= MAX_URL_CHARS and ("&" not in value or ";" not in value) and _CLEAN_URL.match(value):
        return value
    if len(value) > 16 * MAX_URL_CHARS:  # no entities could bring it under the limit: not worth decoding
        raise BadURL(f"longer than {MAX_URL_CHARS} characters")
    url = _unescape_url(value)
    url = _EDGE_JUNK.sub("", _STRIP_IN_URL.sub("", url))
    if len(url) > MAX_URL_CHARS:
        raise BadURL(f"longer than {MAX_URL_CHARS} characters")
    url = remove_illegal(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise BadURL("not a well-formed URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        what = f"{scheme}: URLs are" if scheme else "a URL without http(s):// is"
        raise BadURL(f"{what} not allowed; use an absolute http(s) URL")
    host = normalise_host(parts.hostname or "")
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((
        scheme,
        netloc,
        _quote_part(parts.path, "path"),
        _quote_part(parts.query, "query"),
        _quote_part(parts.fragment, "fragment"),
    ))


_ENCODED_UNRESERVED = re.compile(r"%(2[dDeE]|3[0-9]|[46][1-9a-fA-F]|[57][0-9aA]|5[fF]|7[eE])")


def normalise_path(path: str) -> str:
    """A URL path as a server resolves it (RFC 3986, 6.2.2): unreserved characters
    percent-decoded (``%2e`` is ``.``), then dot segments removed (``/a/../b`` is ``/b``)."""
    path = _ENCODED_UNRESERVED.sub(lambda m: chr(int(m.group(1), 16)), path)
    output: list[str] = []
    segments = path.split("/")
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == "..":
            if len(output) > 1:
                output.pop()
            if last:
                output.append("")
        elif segment == ".":
            if last:
                output.append("")
        else:
            output.append(segment)
    return "/".join(output) if output and output != [""] else "/"


# Windows cannot hold files with these names, whatever their extension.
_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\.|$)")


def portable(component: str) -> str:
    """A path component that every file system and static host can hold."""
    return f"_{component}" if _RESERVED.match(component) else component


@functools.lru_cache(maxsize=65536)
def topic_slug(name: str, max_chars: int = 80) -> str:
    """The lowercase ASCII slug of a topic name (``Computer Vision`` → ``computer-vision``)."""
    slug = slugify(name, max_length=max_chars, word_boundary=True)
    return portable(slug) if slug else ""
