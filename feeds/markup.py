"""HTML fragments read in one forward pass: their text, and their start tags with attributes.

Record text is full of markup, some of it broken on purpose.  Python's
`html.parser` goes back to re-read an unclosed tag every time it meets one,
so a megabyte of ``<a `` takes minutes.  This tokenizer follows the HTML
standard's tokenizer instead, which never goes back: a tag that is not
closed runs to the end of the input (and is dropped there), so does a
comment, a script runs to its end tag or the end of the input, and a ``<``
that cannot start a tag is text.  One regular expression, possessive
wherever it repeats, reads one token after the other, so the time is linear
in the input whatever it holds.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass

# Elements whose content is raw text up to their end tag (never markup): dropped with it.
RAW_TEXT = ("script", "style", "iframe", "noscript", "xmp", "noembed", "noframes")
# Elements whose content is markup that is not shown as text.
HIDDEN = frozenset({"template", "object"})
# Elements that separate the words on either side of them.
BREAKS = frozenset({"br", "p", "div", "li"})

_SPACE = r"\t\n\f\r "
# A tag's attributes: names, and values that may be quoted (and hold '>'); up to '>' or the end.
_ATTRIBUTES = (rf"(?:[{_SPACE}/]++|[^{_SPACE}/>][^{_SPACE}/=>]*+"
               rf"""(?:[{_SPACE}]*+=[{_SPACE}]*+(?:"[^"]*+"?+|'[^']*+'?+|[^{_SPACE}>]*+))?+)*+""")
_BREAK_NAMES = "|".join(sorted(BREAKS))
_TOKEN = re.compile(
    rf"""(?P<text>(?:[^<]++|<(?![A-Za-z!?]|/.))++)"""
    r"""|<!--(?:-?>|.*?(?:--!?>|\Z))"""
    rf"""|<(?P<raw>{"|".join(RAW_TEXT)})(?=[{_SPACE}/>]|\Z)(?P<raw_attributes>{_ATTRIBUTES})"""
    rf"""(?:(?P<raw_closed>>).*?(?=</(?P=raw)[{_SPACE}/>]|\Z)|\Z)"""
    rf"""|(?P<brk><(?:{_BREAK_NAMES})(?=[{_SPACE}/>]))(?P<brk_attributes>{_ATTRIBUTES})>"""
    rf"""|(?P<hide><(?:{"|".join(sorted(HIDDEN))})(?=[{_SPACE}/>]))(?P<hide_attributes>{_ATTRIBUTES})>"""
    rf"""|<(?P<start>[A-Za-z][^{_SPACE}/>]*+)(?P<attributes>{_ATTRIBUTES})(?P<closed>>?+)"""
    rf"""|(?P<brk_end></(?:{_BREAK_NAMES})(?=[{_SPACE}/>]){_ATTRIBUTES}>)"""
    rf"""|</(?P<end>[A-Za-z][^{_SPACE}/>]*+){_ATTRIBUTES}>?+"""
    r"""|<[!?/][^>]*+>?+""",
    re.S | re.I,
)
_ATTRIBUTE = re.compile(
    rf"""([^{_SPACE}/>][^{_SPACE}/=>]*+)"""
    rf"""(?:[{_SPACE}]*+=[{_SPACE}]*+(?:"([^"]*+)"?+|'([^']*+)'?+|([^{_SPACE}>]*+)))?+"""
)


@dataclass(frozen=True, slots=True)
class StartTag:
    """A start tag: its lowercase name and attributes (first of each name wins, entities decoded)."""

    name: str
    attributes: dict[str, str]


def _attributes(raw: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for match in _ATTRIBUTE.finditer(raw):
        name = match.group(1).lower()
        if name not in found:
            value = next((v for v in match.group(2, 3, 4) if v is not None), "")
            found[name] = html.unescape(value) if "&" in value else value
    return found


def text_of(fragment: str) -> str:
    """The text an HTML fragment shows: tags, comments and scripts gone, entities decoded.

    A tag cut off by the end of the fragment is dropped, as browsers do.
    """
    parts: list[str] = []
    hidden = 0
    for match in _TOKEN.finditer(fragment):
        kind = match.lastgroup
        if kind == "text":
            if not hidden:
                text = match.group("text")
                parts.append(html.unescape(text) if "&" in text else text)
        elif kind == "brk_attributes" or kind == "brk_end":  # a break tag
            if not hidden:
                parts.append(" ")
        elif kind == "hide_attributes":  # the start tag of a hidden element
            hidden += 1
        elif kind == "end" and hidden and match.group("end").lower() in HIDDEN:
            hidden -= 1
    return "".join(parts)


def start_tags(fragment: str, name: str = "") -> Iterator[StartTag]:
    """The start tags of an HTML fragment (only those called `name`, if given), in order.

    None inside comments or scripts, none cut off by the end of the fragment.
    """
    name = name.lower()
    for match in _TOKEN.finditer(fragment):
        kind = match.lastgroup
        if kind == "raw_closed":
            found, attributes = match.group("raw"), match.group("raw_attributes")
        elif kind == "brk_attributes" or kind == "hide_attributes":
            found, attributes = match.group(kind[:-11])[1:], match.group(kind)
        elif kind == "closed" and match.group("closed"):
            found, attributes = match.group("start"), match.group("attributes")
        else:
            continue
        found = found.lower()
        if not name or found == name:
            yield StartTag(found, _attributes(attributes))
