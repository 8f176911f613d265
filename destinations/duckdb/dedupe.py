"""incremental_deduped's merge: staged rows upserted into the target by primary key, latest cursor wins.

Kept apart from the writer (writer.py), which decides when a merge runs. A commit merges all its
staged rows at once, as Postgres's MERGE of its temp table does: one table per staged file (one per
schema; nearly always one per commit), each costing one existence check against the whole target
and, on a first load, one INSERT. Merging each written batch on its own (the engine writes ~20,000
rows at a time) joined every batch against the whole, growing target: O(rows² / batch) over a first
load, and a key read in two batches of one commit got a diff per batch.

Within a table every row carries its arrival order (`ORDER_COLUMN`), so among equal cursors the
last row read wins; a later table (the next commit, or the next schema) is merged once the earlier
one is stored, where "the incoming row wins unless the stored cursor is newer" keeps that rule.

Memory: DuckDB keeps every Arrow object a statement scanned alive until the transaction ends, so a
merge holds its commit's staged rows whether it registers them per batch or as one table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from destinations.duckdb.diffs import DiffRecorder
from destinations.sql_naming import quote_ident
from protocol.types import TableSpec

ORDER_COLUMN = "_rooftop_batch_order"
"""Arrival order of the rows merged together, so that among equal cursors the last one read wins."""

Statement = tuple[str, Sequence[Any] | None]
"""SQL text and its bound parameters (None: none)."""


def keys_match(primary_key: Sequence[str], a: str, b: str) -> str:
    """SQL: rows aliased `a` and `b` have the same key. IS NOT DISTINCT FROM: a NULL key matches a
    NULL key, as PARTITION BY groups them."""
    return " AND ".join(f"{a}.{quote_ident(k)} IS NOT DISTINCT FROM {b}.{quote_ident(k)}"
                        for k in primary_key)


def with_view(cur: duckdb.DuckDBPyConnection, view: str,
              data: pa.RecordBatch | pa.Table | pa.RecordBatchReader,
              statements: Sequence[Statement] | Callable[[], Sequence[Statement]]) -> None:
    """Run `statements` with `data` visible as `view` on `cur` (a callable decides them once the
    view exists)."""
    cur.register(view, data)
    for statement, params in statements() if callable(statements) else statements:
        cur.execute(statement, params)
    # Drop our reference at once so the data's memory can go. Only on success: after a failed
    # statement the transaction is aborted and DuckDB refuses the unregister; the visit's cursor
    # is closed (and the view with it) anyway.
    cur.unregister(view)


def _arrival_order(rows: int) -> pa.Array:
    # 1..rows in C++ (pa.array(range(rows)) built it from Python ints: ~0.1 CPU s per million).
    return pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), rows))


class DedupedMerge:
    """Upserts tables into one writer's target. Used by the writer's thread only, on its cursor."""

    def __init__(self, spec: TableSpec, target: str, view: str, diffs: DiffRecorder | None) -> None:
        self._spec = spec
        self._target = target
        self._view = view
        self._diffs = diffs

    def merge(self, cur: duckdb.DuckDBPyConnection, staged: pa.Table) -> None:
        """Merge `staged` (arrival order) by primary key; the greatest cursor wins, also against stored rows.

        1. Dedupe `staged` per key, keeping the greatest cursor (ties: the last row read).
        2. Delete stored rows of those keys whose cursor is <= the incoming one (or either is
           NULL: without a cursor we cannot tell, and the fresher read wins).
        3. Insert incoming rows whose key is no longer stored; a key still present holds a newer
           version, which an older re-read must not overwrite.
        """
        target, view = self._target, self._view
        ordered = staged.append_column(ORDER_COLUMN, _arrival_order(staged.num_rows))
        order = quote_ident(ORDER_COLUMN)
        primary_key = self._spec.primary_key
        keys = ", ".join(quote_ident(k) for k in primary_key)
        cursor_field = self._spec.cursor_field
        if cursor_field:
            c = quote_ident(cursor_field)
            ranking = f"{c} DESC NULLS LAST, {order} DESC"
            applies = f"(t.{c} <= b.{c} OR t.{c} IS NULL OR b.{c} IS NULL)"
            older = f"AND {applies}"
        else:
            ranking, applies, older = f"{order} DESC", "TRUE", ""
        latest = (f"(SELECT * FROM {view} QUALIFY row_number() OVER "
                  f"(PARTITION BY {keys} ORDER BY {ranking}) = 1)")
        match = keys_match(primary_key, "t", "b")
        if len(primary_key) == 1:
            # One NULL key at most (NULLs group as one key), all others distinct: cheaper than row().
            unique_keys = f"count(DISTINCT {keys}) = count({keys}) AND count(*) - count({keys}) <= 1"
        else:
            unique_keys = f"count(DISTINCT row({keys})) = count(*)"

        def statements() -> list[Statement]:
            stored, unique = cur.execute(
                f"SELECT EXISTS (SELECT 1 FROM {target} AS t JOIN {view} AS b ON {match}), "
                f"(SELECT {unique_keys} FROM {view})").fetchall()[0]
            if not stored:
                # No key of `staged` is stored (a first load, new records): steps 2 and 3 come
                # down to inserting the deduplicated rows, and its diffs to "inserted", with no
                # join against the whole table; and with no key twice in them, step 1 keeps
                # every row.
                rows = f"(SELECT * FROM {view})" if unique else latest
                diff = [] if self._diffs is None else [self._diffs.inserted(cur, ordered.schema, latest=rows)]
                return [*((d.sql, d.params) for d in diff),
                        (f"INSERT INTO {target} BY NAME SELECT * EXCLUDE ({order}) FROM {rows}", None)]
            merge: list[Statement] = []
            if self._diffs is not None:
                # Before the DELETE, in its transaction: the diff needs the rows the merge replaces,
                # and rolls back with it.
                diff_ = self._diffs.statement(cur, ordered.schema, latest=latest, keys_match=match,
                                              applies=applies)
                merge.append((diff_.sql, diff_.params))
            return [*merge,
                    (f"DELETE FROM {target} AS t USING {latest} AS b WHERE {match} {older}", None),
                    (f"""INSERT INTO {target} BY NAME SELECT * EXCLUDE ({order}) FROM {latest} AS b
                         WHERE NOT EXISTS (SELECT 1 FROM {target} AS t WHERE {match})""", None)]

        with_view(cur, view, ordered, statements)
