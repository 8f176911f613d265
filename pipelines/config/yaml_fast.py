"""The fast path of `yaml_reader`: a well-formed connection file read by libyaml's C parser.

ruamel.yaml scans in pure Python, about 25 ms of CPU for a 5-stream connection file; a fleet's code
location reads hundreds on every load. libyaml (PyYAML's C extension) parses the same text into
events with line marks in a fraction of that, and this module builds the plain values and the
line index from those events, resolving scalars with ruamel's own YAML 1.2 rules so a file means
exactly what it meant before (`yes` stays a string, `2024-01-01` a date).

It only takes files with nothing unusual in them. Anything else (a syntax error, an anchor or alias,
an explicit tag or `%` directive, a duplicate or non-scalar key, a merge key, several documents,
a file over the size limits) returns None, and `yaml_reader` reads the file the thorough way, so
every error and its message come from one place.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.nodes import ScalarNode

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
        yaml = self._yaml = self._yaml or YAML(typ="rt")
        tag = yaml.resolver.resolve(ScalarNode, value, event.implicit)
        name = str(tag)
        if name == STR:
            return value
        if name == NULL:
            return None
        if is_key and name.endswith((":merge", ":value")):
            raise _Unusual
        built = yaml.constructor.construct_object(ScalarNode(tag, value, style=event.style or None))
        yaml.constructor.constructed_objects.clear()
        return built
