"""Read a YAML file into plain Python values while remembering where every value came from.

Error messages must name the file and line of the offending key, and `${VAR}` references must be
filled from the environment before validation. ruamel.yaml keeps node positions; this module turns
its tree into plain dicts/lists plus a `Positions` index (field path → line) and does the
interpolation, so the rest of the code never touches ruamel types. A plain file (most of them)
takes a faster route to the same values and lines: libyaml's C parser (`yaml_fast.py`); anything
unusual, including every error, comes here.

It is also the gate for hostile files: one file in `connections/` must never hang or crash the
commands that read the others. So before ruamel builds anything, the raw bytes must be UTF-8 text
without control characters, and one streaming pass over the parser's events (bounded in size,
depth and node count) rejects anchors/aliases (a 300-byte alias bomb expands to millions of
nodes) and every tag that is not a core YAML type (`!!python/...`, custom `!tags`). Every
rejection names the file and line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.config.yaml_fast import read_events
from protocol.errors import ConnectionFileError

# ruamel.yaml (~12 ms of imports) only for the thorough path: a plain file is read without it.
if TYPE_CHECKING:
    from ruamel.yaml import YAML

Path_ = tuple[str | int, ...]
VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
LITERAL_VARS = frozenset({"SOURCE_NAMESPACE"})
"""Template variables filled by Rooftop itself at sync time, not from the environment."""
NOT_INTERPOLATED = frozenset({("namespace",)})
"""Keys that are templates of their own: validated, then rendered per sync."""

MAX_FILE_BYTES = 512 * 1024
MAX_NODES = 20_000
"""A large connection (100 streams × 30 fields) has a few thousand nodes; ruamel parses ~30k/s."""
MAX_DEPTH = 64
CORE_TAGS = frozenset({f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "seq", "map")}
                      | {"!"})
"""Explicit tags allowed: they only restate what an untagged value would be ("!" = non-specific)."""
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
"""Control characters (Unicode Cc) other than tab, LF and CR."""


def format_path(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass
class Positions:
    """1-based line of each key/item in the file, by field path."""

    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int | None:
        """The line of `path`, or of its closest ancestor that the file has."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None


@dataclass
class YamlDocument:
    file: str
    data: Any
    positions: Positions
    interpolated: dict[Path_, str] = field(default_factory=dict)
    """Field paths whose value came (wholly or partly) from a ${VAR}, with the variable names."""

    def from_variables(self, path: Path_) -> str:
        """" (from ${A}, ${B})" when the value at `path` came from the environment, else "": tells the
        user where to look without showing the value."""
        names = self.interpolated.get(path)
        return f" (from {', '.join('${' + n + '}' for n in names.split(', '))})" if names else ""


def read_yaml(path: Path, env: Mapping[str, str], display_name: str | None = None) -> YamlDocument:
    file = display_name or str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ConnectionFileError(f"the file is {size:,} bytes; connection files are limited to "
                                      f"{MAX_FILE_BYTES:,}", file=file)
        raw = path.read_bytes()
    except OSError as exc:
        raise ConnectionFileError(f"cannot read file: {exc.strerror}", file=file) from None
    return parse_yaml(decode_text(raw, file), file, env)


def decode_text(raw: bytes, file: str) -> str:
    """The file as text: UTF-8, a BOM allowed; otherwise an error naming the line of the first bad byte."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, column = _line_column(raw[:exc.start].decode("utf-8", errors="replace"))
        raise ConnectionFileError(f"the file is not UTF-8 text: byte 0x{raw[exc.start]:02x} at column {column} "
                                  "(save it as UTF-8)", file=file, line=line) from None
    return text


def _line_column(before: str) -> tuple[int, int]:
    """1-based line and column of the character that follows `before`."""
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


def parse_yaml(text: str, file: str, env: Mapping[str, str]) -> YamlDocument:
    control = CONTROL.search(text)
    if control is not None:
        line, column = _line_column(text[:control.start()])
        raise ConnectionFileError(f"control character U+{ord(control.group()):04X} at column {column}: connection "
                                  "files must be plain text", file=file, line=line)
    fast = read_events(text, MAX_NODES, MAX_DEPTH)
    if fast is not None:  # a plain file, read by libyaml (yaml_fast.py); the same values and lines
        tree, lines = fast
        if tree is None:
            raise ConnectionFileError("the file is empty; a connection needs at least name and source", file=file)
        if not isinstance(tree, dict):
            raise ConnectionFileError("a connection file must be a mapping of keys (name:, source:, …)",
                                      file=file, line=1)
        doc = YamlDocument(file=file, data=None, positions=Positions(lines))
        doc.data = _fill(tree, (), doc, env)
        return doc
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.error import MarkedYAMLError

    yaml = YAML(typ="rt")
    try:
        _check_events(yaml, text, file)
        tree = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where: int | None = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConnectionFileError(f"invalid YAML: {problem}", file=file, line=where) from None
    if tree is None:
        raise ConnectionFileError("the file is empty; a connection needs at least name and source", file=file)
    if not isinstance(tree, CommentedMap):
        raise ConnectionFileError("a connection file must be a mapping of keys (name:, source:, …)", file=file, line=1)
    doc = YamlDocument(file=file, data=None, positions=Positions())
    doc.data = _convert(tree, (), doc, env)
    return doc


def _check_events(yaml: YAML, text: str, file: str) -> None:
    """Reject what would make loading explode or build objects, before anything is built.

    Streams the parser's events, so a hostile file costs at most MAX_NODES events of work.
    """
    from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, NodeEvent, ScalarEvent

    nodes = depth = 0
    for event in yaml.parse(text):
        if isinstance(event, CollectionEndEvent):
            depth -= 1
        if not isinstance(event, NodeEvent):
            continue
        line = event.start_mark.line + 1 if event.start_mark is not None else None
        if isinstance(event, AliasEvent) or event.anchor is not None:
            raise ConnectionFileError("anchors and aliases are not supported in connection files (&name, *name, "
                                      "<<: *name); write the values out (`rooftop clone` copies a connection's "
                                      "settings)", file=file, line=line)
        tag = getattr(event, "tag", None)
        if tag is not None and tag not in CORE_TAGS:
            shown = tag.replace("tag:yaml.org,2002:", "!!")
            shown = shown if len(shown) <= 60 else shown[:60] + "…"
            raise ConnectionFileError(f"YAML tag {shown} is not supported in connection files: only plain "
                                      "strings, numbers, booleans, lists and mappings", file=file, line=line)
        if isinstance(event, ScalarEvent) and event.implicit[0] and event.value[:1].isdigit():
            _check_timestamp(yaml, event, file, line)
        nodes += 1
        if nodes > MAX_NODES:
            raise ConnectionFileError(f"more than {MAX_NODES:,} values: too large for a connection file",
                                      file=file, line=line)
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise ConnectionFileError(f"nested more than {MAX_DEPTH} levels deep", file=file, line=line)


def _check_timestamp(yaml: YAML, event: Any, file: str, line: int | None) -> None:
    """A plain scalar YAML reads as a date or time must be one (2024-02-30 made ruamel raise a bare
    ValueError while building the document, with no file or line)."""
    from ruamel.yaml.nodes import ScalarNode

    tag = yaml.resolver.resolve(ScalarNode, event.value, event.implicit)
    if not str(tag).endswith(":timestamp"):
        return
    try:
        yaml.constructor.construct_object(ScalarNode(tag, event.value))
    except (ValueError, OverflowError) as exc:
        raise ConnectionFileError(f"{event.value!r} is not a valid date or time ({exc}); quote it to keep it as "
                                  "text", file=file, line=line) from None


PLAIN_SCALARS = (bool, int, float, date, type(None))
"""What ruamel builds for untagged scalars besides strings (timestamps become dates)."""


def _convert(node: Any, path: Path_, doc: YamlDocument, env: Mapping[str, str]) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar

    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key in node:
            child = (*path, str(key))
            doc.positions.lines[child] = _line(node.lc.key(key), doc.positions.line_of(path))
            if not isinstance(key, (str, *PLAIN_SCALARS)):
                raise ConnectionFileError("a key must be a plain string, not a list or mapping", file=doc.file,
                                          line=doc.positions.lines[child], field=format_path(path) or None)
            _refuse_nul(str(key), child, doc)
            out[key] = _convert(node[key], child, doc, env)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, item in enumerate(node):
            doc.positions.lines[(*path, index)] = _line(node.lc.item(index), doc.positions.line_of(path))
            items.append(_convert(item, (*path, index), doc, env))
        return items
    if isinstance(node, TaggedScalar) and str(node.tag) == "tag:yaml.org,2002:str":
        node = str(node.value)  # ruamel keeps `!!str 5` as a TaggedScalar; it is just the string "5"
    if isinstance(node, str):
        value = str(node) if path in NOT_INTERPOLATED else _interpolate(str(node), path, doc, env)
        _refuse_nul(value, path, doc)
        return value
    if isinstance(node, PLAIN_SCALARS):
        return node
    # _check_events lets only core tags through, so this is a ruamel type we did not expect: refuse it.
    raise ConnectionFileError(f"unsupported YAML value ({type(node).__name__}): only plain strings, numbers, "
                              "booleans, lists and mappings", file=doc.file, line=doc.positions.line_of(path),
                              field=format_path(path) or None)


def _fill(value: Any, path: Path_, doc: YamlDocument, env: Mapping[str, str]) -> Any:
    """`_convert` for the plain values of the fast path: interpolate ${VAR}s, refuse NULs."""
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            child = (*path, str(key))
            _refuse_nul(str(key), child, doc)
            out[key] = _fill(item, child, doc, env)
        return out
    if isinstance(value, list):
        return [_fill(item, (*path, index), doc, env) for index, item in enumerate(value)]
    if isinstance(value, str):
        value = value if path in NOT_INTERPOLATED else _interpolate(value, path, doc, env)
        _refuse_nul(value, path, doc)
    return value


def _line(position: Any, fallback: int | None) -> int:
    """1-based line of a ruamel `lc` position (None for nodes it built itself)."""
    return position[0] + 1 if position else (fallback or 1)


def _refuse_nul(value: str, path: Path_, doc: YamlDocument) -> None:
    """A NUL (`"\\0"` in a quoted string, or from a ${VAR}) is accepted by no API, database or file name."""
    if "\0" in value:
        raise ConnectionFileError(f"contains a NUL character{doc.from_variables(path)}; no system accepts it "
                                  "in a setting",
                                  file=doc.file, line=doc.positions.line_of(path), field=format_path(path) or None)


def _interpolate(value: str, path: Path_, doc: YamlDocument, env: Mapping[str, str]) -> str:
    names: list[str] = []

    def fill(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in LITERAL_VARS:
            return match.group(0)
        names.append(name)
        if name in env and env[name] != "":
            return env[name]
        if default is not None:
            return default
        raise ConnectionFileError(
            f"${{{name}}} is not set: define it in the environment or in the workspace's .env file",
            file=doc.file, line=doc.positions.line_of(path), field=format_path(path))

    result = VAR.sub(fill, value)
    if names:
        doc.interpolated[path] = ", ".join(names)
    return result
