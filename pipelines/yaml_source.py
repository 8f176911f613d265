"""Read a YAML file into plain Python values while remembering where every value came from.

Error messages must name the file and line of the offending key, and `${VAR}` references must be
filled from the environment before validation. ruamel.yaml keeps node positions; this module turns
its tree into plain dicts/lists plus a `Positions` index (field path → line) and does the
interpolation, so the rest of the code never touches ruamel types.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from protocol.errors import ConnectionFileError

Path_ = tuple[str | int, ...]
VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
LITERAL_VARS = frozenset({"SOURCE_NAMESPACE"})
"""Template variables filled by Rooftop itself at sync time, not from the environment."""
NOT_INTERPOLATED = frozenset({("namespace",)})
"""Keys that are templates of their own: validated, then rendered per sync."""


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


def read_yaml(path: Path, env: Mapping[str, str], display_name: str | None = None) -> YamlDocument:
    file = display_name or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConnectionFileError(f"cannot read file: {exc.strerror}", file=file) from None
    return parse_yaml(text, file, env)


def parse_yaml(text: str, file: str, env: Mapping[str, str]) -> YamlDocument:
    yaml = YAML(typ="rt")
    try:
        tree = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConnectionFileError(f"invalid YAML: {problem}", file=file, line=line) from None
    if tree is None:
        raise ConnectionFileError("the file is empty; a connection needs at least name and source", file=file)
    if not isinstance(tree, CommentedMap):
        raise ConnectionFileError("a connection file must be a mapping of keys (name:, source:, …)", file=file, line=1)
    doc = YamlDocument(file=file, data=None, positions=Positions())
    doc.data = _convert(tree, (), doc, env)
    return doc


def _convert(node: Any, path: Path_, doc: YamlDocument, env: Mapping[str, str]) -> Any:
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key in node:
            line, _col = node.lc.key(key)
            child = (*path, str(key))
            doc.positions.lines[child] = line + 1
            out[key] = _convert(node[key], child, doc, env)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, item in enumerate(node):
            line, _col = node.lc.item(index)
            doc.positions.lines[(*path, index)] = line + 1
            items.append(_convert(item, (*path, index), doc, env))
        return items
    if isinstance(node, str):
        if path in NOT_INTERPOLATED:
            return str(node)
        return _interpolate(str(node), path, doc, env)
    return node


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
