"""Finding a value inside a JSON column, for `record_exists(..., path=...)` of every destination.

Some records live inside another stream's rows: an Entrata customer is an element of its lease's
`customers` JSON (`{"customer": [{"id": 7, ...}, ...]}`), so write-back looks a customer id up at the
path `customer.id` of the leases table's `customers` column. The warehouses store such columns as
JSON text (DuckDB, Parquet) or json/jsonb (Postgres), each with its own JSON functions; reading the
few rows whose text contains the value and walking them here keeps the rule one rule everywhere:
keys name object members, a list along the way matches if any element does (a numeric key picks one
element), and the value found is compared as text, like a plain column.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any


def json_holds(text: str | None, path: tuple[str, ...], value: str) -> bool:
    """Whether the JSON document `text` has `value` (compared as text) at `path`."""
    if text is None:
        return False
    try:
        document = json.loads(text)
    except ValueError:
        return False
    return any(_as_text(found) == value for found in _walk(document, path))


def like_pattern(value: str) -> str:
    """A SQL LIKE pattern that every JSON text holding `value` matches (a cheap pre-filter; `%` where the
    value could be escaped in JSON text, which would hide it from a substring match)."""
    plain = value.replace("-", "").replace("_", "").replace(".", "")
    return f"%{value}%" if plain.isalnum() and plain.isascii() else "%"  # `_` only widens the match


def _walk(node: Any, path: tuple[str, ...]) -> Iterator[Any]:
    if isinstance(node, list):
        if path and path[0].isdigit():
            if int(path[0]) < len(node):
                yield from _walk(node[int(path[0])], path[1:])
            return
        for item in node:
            yield from _walk(item, path)
        return
    if not path:
        yield node
    elif isinstance(node, dict) and path[0] in node:
        yield from _walk(node[path[0]], path[1:])


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
