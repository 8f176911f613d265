"""Fully qualified names in the warehouse file: `"catalog"."schema"."table"`, never two parts.

DuckDB names the catalog of an opened file after the file's stem, and reads a two-part name `a.b`
as catalog `a` or as schema `a`: when a schema has the file's name (`wh/cust0001.duckdb` with
`namespace: cust0001`, the natural one-file-per-customer layout, or a file called `_rooftop.duckdb`)
every two-part name is ambiguous and every statement fails. So every table and schema name Rooftop
puts into DuckDB SQL carries the catalog too, whatever the file and namespaces are called.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from destinations.sql_naming import qualified
from protocol.types import META_SCHEMA


@dataclass(frozen=True)
class Names:
    """Quoted names inside one attached database (`catalog`: its name, e.g. the file's stem)."""

    catalog: str

    @classmethod
    def of(cls, cur: duckdb.DuckDBPyConnection) -> Names:
        row = cur.execute("SELECT current_database()").fetchone()
        assert row is not None
        return cls(str(row[0]))

    def schema(self, schema: str) -> str:
        return qualified(self.catalog, schema)

    def table(self, schema: str, table: str) -> str:
        return qualified(self.catalog, schema, table)

    def meta(self, table: str) -> str:
        """A table of the `_rooftop` schema."""
        return self.table(META_SCHEMA, table)
