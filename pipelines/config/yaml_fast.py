"""The fast path of `yaml_reader`: a well-formed connection file read by libyaml's C parser.

ruamel.yaml scans in pure Python, about 25 ms of CPU for a 5-stream connection file; a fleet's code
location reads hundreds on every load. libyaml (PyYAML's C extension) parses the same text into
events with line marks in a fraction of that, and this module builds the plain values and the
line index from those events, resolving scalars with ruamel's own YAML 1.2 rules so a file means
exactly what it meant before (`yes` stays a string, `2024-01-01` a date).

Most plain scalars of a connection file (names, URLs, `${VAR}`s, booleans, whole numbers, days)
are typed here by the same rules without ruamel.yaml at all (`plain_scalar`), so a plain file is read
without importing it (~12 ms); any other plain scalar asks ruamel's resolver and constructor.

It only takes files with nothing unusual in them. Anything else (a syntax error, an anchor or alias,
an explicit tag or `%` directive, a duplicate or non-scalar key, a merge key, several documents,
a file over the size limits) returns None, and `yaml_reader` reads the file the thorough way, so
every error and its message come from one place.
"""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from ruamel.yaml import YAML

try:  # PyYAML ships with the C extension in its wheels; a build without it just takes the slow path
    from yaml import YAMLError  # type: ignore[import-untyped]
    from yaml._yaml import CParser  # type: ignore[import-untyped]
    from yaml.events import (  # type: ignore[import-untyped]
        AliasEvent,
        DocumentStartEvent,
        MappingEndEvent,
        MappingStartEvent,
        ScalarEvent,
        SequenceEndEvent,
        SequenceStartEvent,
        StreamEndEvent,
    )
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    CParser = None

Path_ = tuple[str | int, ...]
STR, NULL = "tag:yaml.org,2002:str", "tag:yaml.org,2002:null"

# ruamel.yaml.resolver picks the implicit resolvers of a plain scalar by its first character; in YAML
# 1.2 only these characters have any (bool: tTfF, null: nN~, int/float/timestamp: -+0-9 and `.`,
# merge: <, value: =). Any other first character makes a string.
TYPED_START: Final = frozenset("tTfFnN~-+0123456789.<=")
WORDS: Final[dict[str, bool | None]] = {
    **dict.fromkeys(("true", "True", "TRUE"), True), **dict.fromkeys(("false", "False", "FALSE"), False),
    **dict.fromkeys(("null", "Null", "NULL", "~", ""), None)}
"""Every plain scalar that resolves to a bool or null (YAML 1.2: `yes`, `on`, `n` are strings)."""
DECIMAL = re.compile(r"[-+]?[1-9][0-9]*")
"""Whole numbers ruamel's round-trip constructor builds as a plain int (0, 007 and 1_000 become its
ScalarInt, which remembers how they were written)."""
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DURATION = re.compile(r"(?!0[xXoObB])[0-9]+ ?[A-Za-z]+")
"""`30s`, `15 minutes`, `2h`: digits then letters is a string to every YAML 1.2 resolver (an int or a
float needs digits after its `e`, a hex/octal/binary int its `0x`/`0o`/`0b` prefix, excluded here)."""
UNKNOWN: Final = object()


def plain_scalar(value: str) -> Any:
    """What ruamel.yaml (YAML 1.2, round trip) builds from the plain scalar `value`, for the forms a
    connection file is mostly made of (durations included); UNKNOWN for the others (floats, 0x1F, 1_000, times…)."""
    if value in WORDS:
        return WORDS[value]
    first = value[0]
    if first not in TYPED_START or first in "tTfFnN":  # tTfFnN: only WORDS resolve to a bool or null
        return value
    if DECIMAL.fullmatch(value):
        return int(value)
    if DURATION.fullmatch(value):
        return value
    if DAY.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:  # 2024-02-30: ruamel's own error, from the slow path
            return UNKNOWN
    return UNKNOWN


class _Unusual(Exception):
    """The file needs the thorough reader (it may well be valid)."""


def read_events(text: str, max_nodes: int, max_depth: int) -> tuple[Any, dict[Path_, int]] | None:
    """(value, 1-based line of each key/item path) of a plain one-document file; None to take the slow path."""
    if CParser is None:
        return None
    parser = CParser(text)
    try:
        return _Builder(parser, max_nodes, max_depth).document()
    except (_Unusual, YAMLError):
        return None
    finally:
        parser.dispose()


class _Builder:
    def __init__(self, parser: Any, max_nodes: int, max_depth: int) -> None:
        self.parser = parser
        self.lines: dict[Path_, int] = {}
        self.nodes_left = max_nodes
        self.depth_left = max_depth
        self._yaml: YAML | None = None

    def document(self) -> tuple[Any, dict[Path_, int]]:
        parser = self.parser
        parser.get_event()  # StreamStart
        if isinstance(parser.peek_event(), StreamEndEvent):
            return None, self.lines
        start = parser.get_event()
        if not isinstance(start, DocumentStartEvent) or start.version is not None or start.tags:
            raise _Unusual
        value = self.node(parser.get_event(), ())
        parser.get_event()  # DocumentEnd
        if not isinstance(parser.get_event(), StreamEndEvent):
            raise _Unusual  # a second document: ruamel says "expected a single document"
        return value, self.lines

    def node(self, event: Any, path: Path_) -> Any:
        if isinstance(event, AliasEvent) or event.anchor is not None or event.tag is not None:
            raise _Unusual
        self.nodes_left -= 1
        if self.nodes_left < 0:
            raise _Unusual
        if isinstance(event, ScalarEvent):
            return self.scalar(event)
        self.depth_left -= 1
        if self.depth_left < 0:
            raise _Unusual
        get = self.parser.get_event
        if isinstance(event, SequenceStartEvent):
            items: list[Any] = []
            while not isinstance(item := get(), SequenceEndEvent):
                child = (*path, len(items))
                self.lines[child] = item.start_mark.line + 1
                items.append(self.node(item, child))
            self.depth_left += 1
            return items
        if not isinstance(event, MappingStartEvent):  # pragma: no cover - libyaml emits nothing else here
            raise _Unusual
        out: dict[Any, Any] = {}
        while not isinstance(key_event := get(), MappingEndEvent):
            if not isinstance(key_event, ScalarEvent) or key_event.anchor is not None or key_event.tag is not None:
                raise _Unusual
            key = self.scalar(key_event, is_key=True)
            if key in out:
                raise _Unusual  # ruamel's DuplicateKeyError names both lines
            child = (*path, str(key))
            self.lines[child] = key_event.start_mark.line + 1
            out[key] = self.node(get(), child)
        self.depth_left += 1
        return out

    def scalar(self, event: Any, is_key: bool = False) -> Any:
        value: str = event.value
        if not event.implicit[0]:  # quoted or block: a string, as ruamel's resolver says too
            return value
        known = plain_scalar(value)
        if known is not UNKNOWN:
            return known
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError as RuamelError
        from ruamel.yaml.nodes import ScalarNode

        yaml = self._yaml = self._yaml or YAML(typ="rt")
        tag = yaml.resolver.resolve(ScalarNode, value, event.implicit)
        name = str(tag)
        if name == STR:
            return value
        if name == NULL:
            return None
        if name.endswith((":merge", ":value")):  # `<<` and `=`: ruamel builds a TaggedScalar, which the
            raise _Unusual  # thorough reader refuses by name
        try:
            built = yaml.constructor.construct_object(ScalarNode(tag, value, style=event.style or None))
        except (RuamelError, ValueError):  # 2024-02-30: ruamel's own error, raised where the thorough reader does
            raise _Unusual from None
        finally:
            yaml.constructor.constructed_objects.clear()
        return built
