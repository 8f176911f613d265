"""Placeholders in request templates: `{name}` or `{name.path}` in a path, a parameter, a body or raw text.

One renderer serves every part of a request, so a value means the same wherever it is placed:

- the parent record: `{parent.id}`, `{<alias>.id}`, `{property.id}` (a missing or null field is an
  error: a child series without its key would read the wrong records);
- the saved cursor `{cursor}`, the date window `{window.start}` / `{window.end}` (fed by the
  incremental and window planners, already formatted);
- the paginator's current position: `{page}`, `{page_size}`, `{offset}`, `{limit}`, `{page_cursor}`.

A placeholder that is a whole string keeps its value's JSON type (`"{page}"` → 3), so a JSON body
says `"pageNo": "{page}"` and the API receives a number; inside a longer string the value is
written as text. A value that is not there yet (`{cursor}` on a first sync, `{page_cursor}` on a
first page) leaves out the whole parameter, form field or JSON member that holds it, so a first
sync sends no filter at all; in a list it becomes null, in raw text empty text. Anything else in braces that is not
`{identifier}` or `{identifier.path}` (JSON text in a raw body, say) is left as it is; `{{name}}`
writes a literal `{name}`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from connectors.http.paginators import dig

PLACEHOLDER = re.compile(r"\{\{(?P<escaped>[A-Za-z_][A-Za-z0-9_]*(?:\.[^{}\s]+)?)\}\}"
                         r"|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:\.(?P<path>[^{}\s]+))?\}")
"""`{name}` or `{name.dot.path}`; `{{name}}` writes a literal `{name}`. Other braces are plain text."""

PAGING_NAMES = frozenset({"page", "page_size", "offset", "limit", "page_cursor"})
"""The paginator's values (see `connectors.http.paginators.Paginator.placeholders`)."""
RUN_NAMES = frozenset({"cursor", "window"})
"""Values of the sync run, fed by the incremental and window planners."""
RECORD_NAMES = frozenset({"parent", "property"})
"""Records whose fields a placeholder reads; a child stream's alias joins them."""

Encode = Callable[[str], str]


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()
"""What `render_text` returns for a string holding a placeholder whose value is null: leave it out."""


class TemplateError(ValueError):
    """A placeholder names a value that is not there; the caller adds which stream and where."""


def names_in(template: Any) -> set[str]:
    """Every placeholder in a template (strings, nested lists and objects), as `name` or `name.path`."""
    found: set[str] = set()
    for text in _strings(template):
        for match in PLACEHOLDER.finditer(text):
            if match["name"]:
                found.add(match["name"] + (f".{match['path']}" if match["path"] else ""))
    return found


def _strings(template: Any) -> Iterable[str]:
    if isinstance(template, str):
        yield template
    elif isinstance(template, Mapping):
        for key, value in template.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(template, list | tuple):
        for item in template:
            yield from _strings(item)


def check_names(template: Any, known: Iterable[str], where: str) -> None:
    """Raise TemplateError for a placeholder whose root name is not one of `known` (checked when loading YAML)."""
    allowed = set(known)
    for name in sorted(names_in(template)):
        root = name.partition(".")[0]
        if root not in allowed:
            raise TemplateError(f"placeholder {{{name}}} in {where} names no value; known here: "
                                + ", ".join(f"{{{n}}}" for n in sorted(allowed)))


def lookup(values: Mapping[str, Any], root: str, path: str | None) -> Any:
    """The value of `{root.path}`; TemplateError if it is not there (a null record field included)."""
    if path is not None and f"{root}.{path}" in values:  # flat keys ("window.start") work too
        return values[f"{root}.{path}"]
    if root not in values:
        raise TemplateError(f"{{{root}{'.' + path if path else ''}}} has no value here")
    value = values[root]
    if path is None:
        return value
    if value is None:
        return None  # e.g. {window.start} with no window: null, like {cursor} without one
    found = dig(value, path)
    if found is None:
        raise TemplateError(f"the {root} record has no value for {{{root}.{path}}}")
    return found


def as_text(value: Any) -> str:
    """A value written into a longer string: JSON's spelling for booleans, empty text for null."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render_text(text: str, values: Mapping[str, Any], encode: Encode | None = None, *,
                omit_nulls: bool = True) -> Any:
    """`text` with its placeholders filled in; a whole-string placeholder returns the value itself.

    A null value makes the result OMIT (see the module doc), or with `omit_nulls=False` empty text.
    """
    if "{" not in text:
        return text
    whole = PLACEHOLDER.fullmatch(text)
    if whole is not None and whole["name"]:
        value = lookup(values, whole["name"], whole["path"])
        if value is None:
            return OMIT if omit_nulls else ""
        return value if encode is None else encode(as_text(value))
    missing = False

    def fill(match: re.Match[str]) -> str:
        nonlocal missing
        if match["name"] is None:
            return "{" + match["escaped"] + "}"
        value = lookup(values, match["name"], match["path"])
        missing = missing or value is None
        return encode(as_text(value)) if encode is not None else as_text(value)

    filled = PLACEHOLDER.sub(fill, text)
    return OMIT if missing and omit_nulls else filled


def render_raw(text: str, values: Mapping[str, Any], encode: Encode | None = None) -> str:
    """Raw text (a body, an object key) with its placeholders filled in; a null value is empty text."""
    return as_text(render_text(text, values, encode, omit_nulls=False))


def render(template: Any, values: Mapping[str, Any], encode: Encode | None = None) -> Any:
    """A copy of a JSON-like template (objects, lists, strings, scalars) with every placeholder filled in.

    Object keys are rendered as text. `encode` escapes each value written into text (URL-encoding
    in a path, XML-escaping in an XML body).
    """
    if isinstance(template, str):
        return render_text(template, values, encode)
    if isinstance(template, Mapping):
        rendered = {}
        for key, value in template.items():
            item = render(value, values, encode)
            if item is not OMIT:
                rendered[as_text(render_raw(key, values, encode)) if isinstance(key, str) else key] = item
        return rendered
    if isinstance(template, list | tuple):
        return [None if item is OMIT else item for item in (render(i, values, encode) for i in template)]
    return template


def set_path(body: Any, path: str, value: Any) -> Any:
    """A copy of a JSON object with `value` at the dot path `path`, creating the objects on the way."""
    head, _, rest = path.partition(".")
    node = dict(body) if isinstance(body, Mapping) else {}
    node[head] = set_path(node.get(head), rest, value) if rest else value
    return node


def paging_placeholders(config: Any) -> dict[str, str]:
    """The paginator's placeholders and the parameter each one reads: {"page": "pageNo", ...}."""
    names = {"offset": "offset_param", "limit": "limit_param", "page": "page_param",
             "page_size": "page_size_param", "page_cursor": "cursor_param"}
    return {name: getattr(config, attribute) for name, attribute in names.items() if hasattr(config, attribute)}
