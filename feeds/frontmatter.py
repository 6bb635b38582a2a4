"""Front matter: a record file's bytes split at its ``---`` lines and read as safe YAML.

yaml-rs reads most records (about six times faster); PyYAML reads those the
two could read apart (YAML 1.1 and 1.2 type some scalars differently), and
every record that is not valid, since its errors point at the line.  Both
refuse what a record may not hold: anchors and aliases, a key given twice at
any level, nesting past `max_yaml_depth`, a number too long to be one.  A
refusal is a `FrontMatterError` naming the field (or ``front matter``), the
line and the fix.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from typing import Any

import yaml

from .errors import printable

try:  # libyaml-compatible results about six times faster; PyYAML stays the reference
    import yaml_rs
except ImportError:  # pragma: no cover - the dependency is declared, but stay usable without
    yaml_rs = None  # type: ignore[assignment]

FRONT_MATTER = "front matter"
FIRST_LINE = 2  # YAML line 0 is the file's line 2, after the opening '---'
MAX_NUMBER_DIGITS = 100  # a longer number is nothing a record means: it is kept as its text


class FrontMatterError(Exception):
    """A record's front matter cannot be read; `field` and `message` say where and why."""

    def __init__(self, fieldname: str, message: str) -> None:
        super().__init__(message)
        self.field = fieldname
        self.message = message


class LongNumber(str):
    """The text of a number too long to be one (PyYAML's reading; never a Python int)."""

    __slots__ = ()


def read_front_matter(data: bytes, max_depth: int) -> dict[str, Any]:
    """The YAML mapping at the top of a record file's bytes."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FrontMatterError("file", f"not UTF-8 text (bad byte at offset {exc.start}); "
                                       "save the file as UTF-8") from None
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        raise FrontMatterError("file", "holds NUL bytes; it is not a text record")
    if not text.strip():
        raise FrontMatterError("file", "is empty; a record starts with a '---' line of YAML front matter")
    first_end = text.find("\n")
    if (text if first_end < 0 else text[:first_end]).rstrip() != "---":
        raise FrontMatterError(FRONT_MATTER, "the file must start with a '---' line")
    closing = _CLOSING.search(text, first_end + 1) if first_end >= 0 else None
    if closing is None:
        raise FrontMatterError(FRONT_MATTER, "no closing '---' line after the YAML")
    return parse_yaml(text[first_end + 1:max(first_end + 1, closing.start() - 1)], max_depth)


# The line that closes the front matter: '---' or '...', then only white space (as str.rstrip
# sees it: the pattern's \s is the same Unicode white space).
_CLOSING = re.compile(r"^(?:---|\.\.\.)[^\S\n]*$", re.M)


def parse_yaml(text: str, max_depth: int) -> dict[str, Any]:
    """The mapping `text` holds, read by yaml-rs or, where it could differ or fails, PyYAML."""
    if _too_deep(text):
        raise FrontMatterError(FRONT_MATTER, f"nests deeper than {PARSER_DEPTH} levels; "
                                             "records are flat mappings with short lists")
    data = fast_yaml(text, max_depth)
    if data is None:
        data = pyyaml(text)
        if not isinstance(data, dict):
            raise FrontMatterError(FRONT_MATTER, "must be a mapping of field: value lines")
        check_shape(data, max_depth)
    elif not isinstance(data, dict):
        raise FrontMatterError(FRONT_MATTER, "must be a mapping of field: value lines")
    return data


# -- PyYAML -----------------------------------------------------------------------

# YAML 1.2 booleans only (so `published: yes` stays the string "yes"), and no
# implicit timestamps (dates are parsed by the record reader, where a bad one names its field).
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class RecordLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """PyYAML's safe (C) loader with YAML 1.2 booleans, dates left as text, long numbers as text."""

    def construct_yaml_int(self, node: yaml.ScalarNode) -> Any:
        if len(node.value) > MAX_NUMBER_DIGITS:
            return LongNumber(node.value)  # int() refuses past 4,300 digits, and nothing needs them
        return super().construct_yaml_int(node)


RecordLoader.add_constructor("tag:yaml.org,2002:int", RecordLoader.construct_yaml_int)
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


def pyyaml(text: str) -> Any:
    """PyYAML's reading of `text`, refusing aliases and repeated keys; errors name the line."""
    try:
        if "&" in text or "*" in text:
            _refuse_aliases(text)
        loader = RecordLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _refuse_repeated_keys(loader, node)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        raise FrontMatterError(FRONT_MATTER, _explain(exc)) from None
    except FrontMatterError:
        raise
    except Exception as exc:  # any loader failure is this record's, never the build's
        raise FrontMatterError(FRONT_MATTER, f"not valid YAML ({type(exc).__name__})") from None


def _refuse_aliases(text: str) -> None:
    """Refuse anchors and aliases, scalar ones included, before anything is built from them."""
    for event in yaml.parse(text, Loader=RecordLoader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise FrontMatterError(FRONT_MATTER, "uses YAML anchors/aliases (&name / *name), which "
                                                 "records may not; write the values out")


_SPECIAL_KEYS = {"tag:yaml.org,2002:merge": "a merge key ('<<')",
                 "tag:yaml.org,2002:value": "a value key ('=')"}
# Where a node stands: its parent's place, and its key or index there (the path is spelled out only
# for an error: built for every node, a long key would be copied once per child).
_Place = tuple["_Place | None", object]


def _refuse_repeated_keys(loader: RecordLoader, root: yaml.Node) -> None:
    """Refuse a mapping, at any depth, that gives one key twice: YAML forbids it, and PyYAML
    would silently keep the last value (``published: false`` ... ``published: true``).
    Merge keys are refused too: they would hide a repeated key."""
    queue: deque[tuple[yaml.Node, _Place | None]] = deque([(root, None)])  # document order, outer first
    while queue:
        node, place = queue.popleft()
        if isinstance(node, yaml.SequenceNode):
            queue.extend((child, (place, i)) for i, child in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Node] = {}
            for key_node, value_node in node.value:
                if key_node.tag in _SPECIAL_KEYS:
                    raise FrontMatterError(_path(place), f"uses {_SPECIAL_KEYS[key_node.tag]} at line "
                                           f"{key_node.start_mark.line + FIRST_LINE}, which records may not; "
                                           "write the values out")
                key = loader.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:  # a list or mapping as a key: the constructor refuses it
                    continue
                if first is not key_node:
                    one, two = first.start_mark.line + FIRST_LINE, key_node.start_mark.line + FIRST_LINE
                    raise FrontMatterError(_path((place, key)), f"is given twice (lines {one} and {two}); "
                                           "YAML allows a key once: keep the one you mean, remove the other")
                queue.append((value_node, (place, key)))


def _path(place: _Place | None) -> str:
    """A node's place as a field name (``related[0].title``), each key escaped and cut short."""
    parts: list[str] = []
    while place is not None:
        place, step = place
        parts.append(f"[{step}]" if isinstance(step, int) and not isinstance(step, bool)
                     else "." + printable(str(step), 60))
    return "".join(reversed(parts)).lstrip(".") or FRONT_MATTER


# What a PyYAML (libyaml) error means to someone editing a record: (words in its context or
# problem, where the trouble starts, what to do).
_EXPLAINED = (
    ("quoted scalar", "context", "a quoted value starts here and its closing quote is missing; close it"),
    ("flow sequence", "context", "a '[' list starts here and is not closed; end it with ']' "
                                 "(and separate its items with ',')"),
    ("flow mapping", "context", "a '{' mapping starts here and is not closed; end it with '}' "
                                "(and separate its items with ',')"),
    ("simple key", "context", "this line has no ':' after its key; write it as 'key: value'"),
    ("tab character", "problem", "this line is indented with a tab; indent with spaces"),
    ("mapping values are not allowed", "problem", "a value holds ': '; put the whole value in quotes"),
    ("cannot start any token", "problem", "a value starts with a character YAML reserves "
                                          "('@', '`', '%', a tab); put the value in quotes"),
    ("expected key", "problem", "this line does not fit the lines above it: check its indentation, "
                                "and quote a value that goes on after a closing quote"),
    ("block end", "problem", "this line does not fit the lines above it: check its indentation"),
)


def _explain(exc: yaml.MarkedYAMLError) -> str:
    """Where `exc` starts (as a line of the record file) and what to do about it."""
    said = f"{exc.context or ''} {exc.problem or ''}"
    mark, advice = exc.problem_mark, f"{exc.problem}; quote values that hold ':' or '#', indent with spaces"
    for words, where, meaning in _EXPLAINED:
        if words in said:
            if where == "context" and exc.context_mark:
                mark = exc.context_mark
            advice = meaning
            break
    at = f" at line {mark.line + FIRST_LINE}, column {mark.column + 1}" if mark else ""
    return f"not valid YAML{at}: {advice}"


# -- yaml-rs ------------------------------------------------------------------------

# Any alias makes yaml-rs refuse, so PyYAML reads the record and refuses it with a message.
_NO_ALIASES = yaml_rs.AliasLimits(max_total_replayed_events=0) if yaml_rs else None
# Where yaml-rs (YAML 1.2) and PyYAML (YAML 1.1) could read the text apart, PyYAML reads it.
# What `_same_as_pyyaml` cannot see in the values yaml-rs gives is looked for in the text:
# * anchors (refused), tags ('!!binary', '!!python/...'), directives, block scalars, the
#   indicators PyYAML reserves ('@', '`'), and flow collections ('[', '{'), whose corners
#   ('[?x]', '[:x]', a key split over lines) the two read apart; records rarely use them;
# * numbers with a leading zero ('08', '017', '0o17', '0x1F', '0_7') or an underscore ('_1',
#   '-_5'): YAML 1.1 reads octal where 1.2 reads decimal, and text where 1.2 reads a number.
#   (Other numbers yaml-rs types are refused by `_same_as_pyyaml` unless they are plain decimal
#   integers of a number field, which both read alike; text it keeps that PyYAML would type,
#   '1_000' or '1:20', is found there too.)
# * characters YAML 1.1 does not allow or reads as line breaks (controls, U+0085, U+2028,
#   U+2029, a byte-order mark inside the text): `str.isprintable` is stricter than YAML, so the
#   one common exception, the no-break space, is let through by hand.
# Indicators and numbers only count where a node starts: at a line's start, after ': ', '- ' or
# '? ', after a flow bracket or comma, or right after the ':' of a quoted key; so the '00' of
# '20:38:00Z' or the '&' of 'AT &amp; T' do not count.  Each candidate character is found with
# str.find, which is several times faster than a regular expression over the whole text, and
# only its few occurrences are looked at.
_INDICATORS = "&*!%|>@`[{"
_AFTER_ZERO = frozenset("0123456789_bBoOxX")


def _starts_node(text: str, at: int) -> bool:
    """True when a YAML node could start at `text[at]` (see above)."""
    before = at
    while before and text[before - 1] == " ":
        before -= 1
    if not before:
        return True
    mark = text[before - 1]
    return (mark in "\n[{," or (before < at and mark in ":?-")
            or (mark == ":" and before >= 2 and text[before - 2] in "\"'"))


def _typed_apart(text: str) -> bool:
    """True when some node of `text` starts the way the two YAML versions could read apart."""
    # A tab too is refused here: PyYAML refuses it where YAML 1.2 lets it pass as white space.
    if not text.replace("\n", " ").replace("\xa0", " ").isprintable():
        return True
    return (any(_found(text, mark, _starts_node) for mark in _INDICATORS)
            or _found(text, "0", _leading_zero) or _found(text, "_", _starts_number))


def _found(text: str, mark: str, starts: Callable[[str, int], bool]) -> bool:
    """True when `starts` holds at some occurrence of `mark` in `text`."""
    at = text.find(mark)
    while at >= 0:
        if starts(text, at):
            return True
        at = text.find(mark, at + 1)
    return False


def _leading_zero(text: str, at: int) -> bool:
    """True when the '0' at `text[at]` leads a number ('017', '0o17', '0_7') where a node starts."""
    return text[at + 1:at + 2] in _AFTER_ZERO and _starts_number(text, at)


def _starts_number(text: str, at: int) -> bool:
    """True when a node could start at `text[at]`, or at the sign just before it."""
    return _starts_node(text, at - 1 if at and text[at - 1] in "+-" else at)


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


# yaml-rs makes a Python int of n digits in time growing as n squared (a megabyte of digits takes
# seconds); up to this many characters of text, no run of digits is long enough to matter, and
# `_same_as_pyyaml` sends every long number to PyYAML.
_LONG_TEXT = 20_000
_LONG_DIGITS = re.compile(f"(?<![0-9])[0-9]{{{MAX_NUMBER_DIGITS + 1}}}")  # each run looked at once
_NUMBER_FIELDS = frozenset({"quality", "heat", "width", "height"})
_LONG_INT = 10**18


def _same_as_pyyaml(data: Any, max_depth: int) -> bool:
    """True when no value is typed in a way PyYAML's reading could differ from, and no container
    nests `max_depth` deep (PyYAML then reads it, so that the error is the one it gives).

    yaml-rs refuses aliases, so no container is met twice: `check_shape` has nothing more to find.
    """
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    first = _APART_FIRST
    while stack:
        node, key, depth = stack.pop()
        kind = type(node)
        if kind is str:
            if node and node[0] in first and _pyyaml_types_apart(node):
                return False
        elif kind is dict:
            if depth >= max_depth:
                return False
            depth += 1
            for k, v in node.items():
                if type(k) is not str or (k and k[0] in first and _pyyaml_types_apart(k)):
                    return False
                stack.append((v, k, depth))
        elif kind is list:
            if depth >= max_depth:
                return False
            depth += 1
            stack.extend((v, key, depth) for v in node)
        elif kind is float:
            return False
        elif kind is int and (key not in _NUMBER_FIELDS or not -_LONG_INT < node < _LONG_INT):
            return False  # a number where text is expected, or a long one: let PyYAML decide
    return True


def fast_yaml(text: str, max_depth: int) -> Any:
    """yaml-rs's reading of `text` when it is PyYAML's RecordLoader's too, else None.

    Dates stay text, as with PyYAML.  Anything yaml-rs refuses (aliases and
    repeated keys included), anything the two YAML versions could type apart,
    and anything nesting `max_depth` deep returns None: PyYAML then reads it,
    and its errors point at the line.
    """
    if yaml_rs is None or _typed_apart(text) or (len(text) > _LONG_TEXT and _LONG_DIGITS.search(text)):
        return None  # (yaml-rs takes seconds to make a Python int of a megabyte of digits)
    try:
        data = yaml_rs.loads(text, parse_datetime=False, alias_limits=_NO_ALIASES,
                             duplicate_key_policy=yaml_rs.DuplicateKeyPolicy.Error)
    except Exception:  # any refusal: let PyYAML read it and explain
        return None
    return data if _same_as_pyyaml(data, max_depth) else None


PARSER_DEPTH = 64  # past this, YAML parsers recurse until the C stack overflows
_OPENERS = re.compile(r"[\[\]{}]")
_DEEP_BLOCK = re.compile(rf"(?:-[ \t]+){{{PARSER_DEPTH}}}")


def _too_deep(text: str) -> bool:
    """True when flow brackets or one-line block sequences nest past PARSER_DEPTH."""
    if text.count("- ") + text.count("-\t") >= PARSER_DEPTH and _DEEP_BLOCK.search(text):
        return True
    if text.count("[") + text.count("{") < PARSER_DEPTH:
        return False
    depth = 0
    for match in _OPENERS.finditer(text):
        depth += 1 if match.group() in "[{" else -1
        if depth > PARSER_DEPTH:
            return True
    return False


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
            raise FrontMatterError(FRONT_MATTER, "uses YAML anchors/aliases (&name / *name), which "
                                          "records may not; write the values out")
        seen.add(id(node))
        if depth >= max_depth:
            raise FrontMatterError(FRONT_MATTER, f"nests deeper than {max_depth} levels (max_yaml_depth)")
        for child in node.values() if isinstance(node, dict) else node:
            if type(child) is dict or type(child) is list:
                stack.append((child, depth + 1))
