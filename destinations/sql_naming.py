"""Identifier quoting shared by the SQL destinations.

Stream, table, namespace and column names are user data (they come from APIs and YAML), so every
identifier that reaches SQL text goes through `quote_ident`: wrapped in double quotes with embedded
double quotes doubled, the SQL standard that DuckDB and Postgres both follow. Values never go into
SQL text at all; they are bound as parameters.
"""

from __future__ import annotations


def quote_ident(name: str) -> str:
    """Quote one identifier so that any string, including `x"; drop table y; --`, is just a name."""
    if not name:
        raise ValueError("an SQL identifier cannot be empty")
    if "\x00" in name:
        # No SQL engine accepts NUL inside an identifier; fail with a clear message instead of a
        # confusing parser error further down.
        raise ValueError(f"an SQL identifier cannot contain a NUL character: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def qualified(*parts: str) -> str:
    """`"schema"."table"` (or any dotted path), each part quoted."""
    return ".".join(quote_ident(p) for p in parts)


def quote_literal(value: str) -> str:
    """A single-quoted SQL string literal, for the few statements that take no parameters (SET)."""
    if "\x00" in value:
        raise ValueError(f"an SQL string literal cannot contain a NUL character: {value!r}")
    return "'" + value.replace("'", "''") + "'"
