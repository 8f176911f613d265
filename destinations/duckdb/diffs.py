"""Row-level diffs of a deduplicated merge, as one `INSERT … SELECT` into `_rooftop.diffs`.

`TableSpec.record_diffs` asks every merge to record which primary keys it inserted, updated (and
which columns changed) or soft-deleted (`protocol.bookkeeping.DIFFS`). The writer runs this statement in
its merge transaction, just before the merge's DELETE, so it still sees the stored rows the merge
is about to replace, and a rolled-back merge takes its diffs with it. It joins the same
deduplicated batch (`latest`) to the target with the writer's own key match and "latest cursor
wins" condition (both passed in), so the two cannot disagree. Per incoming row b and stored row t:

    no t           b a tombstone: nothing        else: inserted
    merge skips b  (t's cursor is newer): nothing
    b a tombstone  t live: deleted               t already deleted: nothing
    t deleted      inserted (b brings the key back)
    otherwise      updated, with the columns (not `_rooftop*`) whose values differ (IS DISTINCT
                   FROM, in table column order); nothing if none do

The merge deletes t and inserts b `BY NAME`, so a table column the batch lacks becomes NULL, and
a batch column of another type than the table's is cast to the table's: the comparison follows
both. A target that holds one key several times (rows from before the stream was deduplicated)
gets one diff per stored row the merge replaces.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from destinations.sql_naming import quote_ident, quote_literal
from protocol.bookkeeping import DIFFS
from protocol.types import META_DELETED_AT, TableSpec

META_PREFIX = "_rooftop"

_COLUMNS = ", ".join(quote_ident(f.name) for f in DIFFS.schema)


@dataclass(frozen=True)
class DiffStatement:
    sql: str
    params: Sequence[Any]
    """Bound at run time (connection, stream, sync id, time, key names): values stay out of SQL."""


class DiffRecorder:
    """Builds one writer's diff statements. Used by the writer's thread only, on its cursor.

    The column types of the target and of the batch are looked up once per writer (the target
    cannot change while its writer runs: only `prepare` alters tables) rather than per merge.
    """

    def __init__(self, spec: TableSpec, sync_id: str, target: str, diffs_table: str) -> None:
        self._spec = spec
        self._diffs_table = diffs_table
        self._sync_id = sync_id
        self._target = target
        self._target_types: dict[str, str] | None = None
        self._batch_types: tuple[pa.Schema, dict[str, str]] | None = None

    def statement(self, cur: duckdb.DuckDBPyConnection, schema: pa.Schema, *, latest: str,
                  keys_match: str, applies: str) -> DiffStatement:
        """The diff INSERT for merging `latest` (aliased b, columns `schema`) into the target
        (aliased t) ON `keys_match`; `applies` is the merge's "b replaces t" condition."""
        target_types = self._target_columns(cur)
        batch_types = self._batch_columns(cur, schema)
        # DuckDB matches names case-insensitively (BY NAME too): so does the comparison.
        batch = {name.lower(): name for name in batch_types}
        deleted = quote_ident(META_DELETED_AT)
        gone = f"b.{deleted} IS NOT NULL" if META_DELETED_AT in batch else "FALSE"
        was_gone = (f"t.{deleted} IS NOT NULL" if META_DELETED_AT in {n.lower() for n in target_types}
                    else "FALSE")

        tests: list[str] = []
        named: list[str] = []
        for name, target_type in target_types.items():  # table column order
            if name.lower().startswith(META_PREFIX):
                continue
            t_col = f"t.{quote_ident(name)}"
            own = batch.get(name.lower())
            if own is None:
                test = f"{t_col} IS NOT NULL"  # the merge's INSERT leaves it NULL
            elif batch_types[own] == target_type:
                test = f"{t_col} IS DISTINCT FROM b.{quote_ident(own)}"
            else:
                # The INSERT casts b's value to t's (older, other-typed) column: compare what it stores.
                test = f"{t_col} IS DISTINCT FROM CAST(b.{quote_ident(own)} AS {target_type})"
            tests.append(test)
            named.append(f"CASE WHEN {test} THEN {quote_literal(json.dumps(name))} END")
        changed = " OR ".join(tests) or "FALSE"
        # concat_ws skips NULLs: the JSON list of the names whose test held, in column order.
        fields = f"'[' || concat_ws(',', {', '.join(named)}) || ']'" if named else "'[]'"
        key = self._key_json()

        # rowid is NULL exactly when the LEFT JOIN found no stored row (keys themselves may be NULL).
        found = "t.rowid IS NOT NULL"
        sql = f"""INSERT INTO {self._diffs_table} ({_COLUMNS})
            SELECT CAST(? AS VARCHAR), CAST(? AS VARCHAR), CAST(? AS VARCHAR), CAST(? AS TIMESTAMPTZ),
                   CASE WHEN NOT ({found}) OR (NOT ({gone}) AND {was_gone}) THEN 'inserted'
                        WHEN {gone} THEN 'deleted' ELSE 'updated' END,
                   CAST(json_object({key}) AS VARCHAR),
                   CASE WHEN NOT ({found}) OR {gone} OR {was_gone} THEN '[]' ELSE {fields} END
            FROM {latest} AS b LEFT JOIN {self._target} AS t ON {keys_match}
            WHERE CASE WHEN NOT ({found}) THEN NOT ({gone})
                       WHEN ({applies}) IS NOT TRUE THEN FALSE
                       WHEN {gone} THEN NOT ({was_gone})
                       WHEN {was_gone} THEN TRUE
                       ELSE ({changed}) END"""
        return DiffStatement(sql, self._params())

    def inserted(self, cur: duckdb.DuckDBPyConnection, schema: pa.Schema, *, latest: str) -> DiffStatement:
        """The diffs of merging `latest` when none of its keys is stored: each row that is not a
        tombstone is "inserted" (what `statement` records when its join finds no stored row)."""
        gone = (f"b.{quote_ident(META_DELETED_AT)} IS NOT NULL"
                if META_DELETED_AT in {n.lower() for n in self._batch_columns(cur, schema)} else "FALSE")
        sql = f"""INSERT INTO {self._diffs_table} ({_COLUMNS})
            SELECT CAST(? AS VARCHAR), CAST(? AS VARCHAR), CAST(? AS VARCHAR), CAST(? AS TIMESTAMPTZ),
                   'inserted', CAST(json_object({self._key_json()}) AS VARCHAR), '[]'
            FROM {latest} AS b WHERE NOT ({gone})"""
        return DiffStatement(sql, self._params())

    def _key_json(self) -> str:
        """json_object arguments of the key: each name a bound parameter, each value b's."""
        return ", ".join(f"CAST(? AS VARCHAR), b.{quote_ident(k)}" for k in self._spec.primary_key)

    def _params(self) -> list[Any]:
        return [self._spec.connection, self._spec.stream, self._sync_id, datetime.now(UTC), *self._spec.primary_key]

    def _target_columns(self, cur: duckdb.DuckDBPyConnection) -> dict[str, str]:
        if self._target_types is None:
            self._target_types = _column_types(cur, f"SELECT * FROM {self._target}")
        return self._target_types

    def _batch_columns(self, cur: duckdb.DuckDBPyConnection, schema: pa.Schema) -> dict[str, str]:
        """The DuckDB types of a batch of `schema` (as DuckDB's Arrow scan maps them)."""
        if self._batch_types is None or not self._batch_types[0].equals(schema):
            view = f"_rooftop_shape_{uuid.uuid4().hex}"
            cur.register(view, schema.empty_table())
            self._batch_types = (schema, _column_types(cur, f"SELECT * FROM {view}"))
            # Only on success, as in the writer: after a failure DuckDB refuses it (the aborted
            # transaction), and closing the cursor releases the view anyway.
            cur.unregister(view)
        return self._batch_types[1]


def _column_types(cur: duckdb.DuckDBPyConnection, query: str) -> dict[str, str]:
    rows = cur.execute(f"SELECT column_name, column_type FROM (DESCRIBE {query})").fetchall()
    return {str(name): str(kind) for name, kind in rows}
