"""Turn pydantic validation errors into messages a data engineer can act on.

pydantic reports `loc` tuples that include union tags and a terse message. Users need the file, the
line, the field path as they wrote it, the valid values, and a "did you mean" for typos, without
ever echoing a value that might be a credential.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_core import ErrorDetails

from pipelines.config.yaml_reader import Path_, YamlDocument, format_path
from protocol.errors import ConnectionFileError

MAX_PROBLEMS = 5


def data_path(data: Any, loc: tuple[str | int, ...]) -> Path_:
    """Map a pydantic `loc` onto the document: drop union tags and model names the data lacks."""
    path: list[str | int] = []
    node = data
    for part in loc:
        in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if isinstance(node, dict) and part in node or in_list:
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and not _is_tag(part):
            path.append(part)  # a missing or unknown key: still part of what the user must fix
            node = None
    return tuple(path)


def _is_tag(part: str) -> bool:
    return part.startswith(("literal[", "function-")) or part[:1].isupper() or "-schedule" in part


def _annotations_at(model: type[BaseModel], path: Path_) -> list[Any]:
    """The annotations that may describe the value at `path` (relative to `model`)."""
    candidates: list[Any] = [model]
    for part in path:
        nxt: list[Any] = []
        for ann in candidates:
            for option in _options(ann):
                if typing.get_origin(option) is list and isinstance(part, str):
                    option = typing.get_args(option)[0]  # one mapping where a list is accepted (`notify: {...}`)
                if isinstance(option, type) and issubclass(option, BaseModel) and isinstance(part, str):
                    info = option.model_fields.get(part)
                    if info is not None:
                        nxt.append(info.annotation)
                elif typing.get_origin(option) is list and isinstance(part, int):
                    nxt.extend(typing.get_args(option)[:1])
                elif typing.get_origin(option) is dict and isinstance(part, str):
                    nxt.extend(typing.get_args(option)[1:2])
        candidates = nxt
    return candidates


def is_secret(model: type[BaseModel], path: Path_) -> bool:
    """Whether `path` holds a secret (a SecretStr field): its value must never be echoed."""
    return any(option is SecretStr for ann in _annotations_at(model, path) for option in _options(ann))


def allowed_keys(model: type[BaseModel], path: Path_) -> list[str]:
    """The keys a mapping at `path` (relative to `model`) accepts, for "did you mean"."""
    candidates = _annotations_at(model, path)
    keys: list[str] = []
    for ann in candidates:
        for option in _options(ann):
            if isinstance(option, type) and issubclass(option, BaseModel):
                keys.extend(k for k in option.model_fields if k not in keys)
    return keys


def _options(ann: Any) -> list[Any]:
    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        return _options(typing.get_args(ann)[0])
    if origin in (typing.Union, types.UnionType):
        return [o for arg in typing.get_args(ann) for o in _options(arg)]
    return [ann]


def describe(error: ErrorDetails, model: type[BaseModel], doc_path: Path_, echo_input: bool) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(doc_path[-1]) if doc_path else "?"
        valid = allowed_keys(model, doc_path[:-1])
        hint = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
        did_you_mean = f"; did you mean {hint[0]!r}?" if hint else ""
        listing = f" (valid keys: {', '.join(valid)})" if valid else ""
        return f"unknown key {key!r}{did_you_mean}{listing}"
    if kind == "missing":
        return "this required key is missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind in ("literal_error", "enum"):
        expected = error.get("ctx", {}).get("expected", "")
        message = f"must be one of {expected}"
    value = error.get("input")
    if (echo_input and isinstance(value, str | int | float | bool) and len(str(value)) <= 80
            and not is_secret(model, doc_path)):
        message += f" (got {value!r})"
    return message


def raise_validation_error(exc: ValidationError, model: type[BaseModel], doc: YamlDocument,
                           prefix: Path_ = (), echo_input: bool = True) -> typing.NoReturn:
    """Raise one ConnectionFileError located at the first problem and listing all of them."""
    problems: list[tuple[Path_, int | None, str]] = []
    seen: set[tuple[Path_, str]] = set()
    for error in exc.errors(include_url=False):
        sub_data = doc.data
        for part in prefix:
            # `source:` without `config:` validates `{}`: the prefix need not exist in the file.
            sub_data = sub_data.get(part, {}) if isinstance(sub_data, dict) else None
        rel = data_path(sub_data, tuple(error["loc"]))
        full = (*prefix, *rel)
        text = describe(error, model, rel, echo_input)
        if (full, text) in seen:
            continue
        seen.add((full, text))
        problems.append((full, doc.positions.line_of(full), text))
    problems.sort(key=lambda p: (p[1] or 0))
    first_path, first_line, first_text = problems[0]
    message = first_text
    if len(problems) > 1:
        more = [f"  {doc.file}:{line}: {format_path(path)}: {text}"
                for path, line, text in problems[1:MAX_PROBLEMS]]
        extra = len(problems) - MAX_PROBLEMS
        message += f"\n{len(problems) - 1} more problem(s):\n" + "\n".join(more)
        if extra > 0:
            message += f"\n  … and {extra} more"
    raise ConnectionFileError(message, file=doc.file, line=first_line,
                              field=format_path(first_path) or None)
