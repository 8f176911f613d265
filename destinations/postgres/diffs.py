"""Row-level diffs of a deduplicated merge, as one `INSERT … SELECT` into `_rooftop.diffs`.

`TableSpec.record_diffs` asks every merge to record which primary keys it inserted, updated (and
which columns changed) or soft-deleted (`protocol.bookkeeping.DIFFS`). The writer runs this statement in
its merge transaction, just before the MERGE, so it still sees the stored rows the MERGE is about
to replace, and a rolled-back merge takes its diffs with it. It joins the same deduplicated input
to the target with the same key match and the same "latest cursor wins" condition as the MERGE
(both built by the writer and passed in), so the two cannot disagree. Per incoming row b and the
stored row t it matches:

    no t           b a tombstone: nothing        else: inserted
    MERGE skips b  (t's cursor is newer): nothing
    b a tombstone  t live: deleted               t already deleted: nothing
    t deleted      inserted (b brings the key back)
    otherwise      updated, with the columns (not `_rooftop*`) whose values differ (IS DISTINCT
                   FROM, in table column order); nothing if none do

A target that holds one key several times (rows from before the stream was deduplicated) gets one
diff per stored row the MERGE rewrites, as it is each of them that changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from destinations.sql_naming import qualified, quote_ident
from protocol.bookkeeping import DIFFS
from protocol.types import META_DELETED_AT, META_SCHEMA, TableSpec

META_PREFIX = "_rooftop"


@dataclass(frozen=True)
class DiffStatement:
    """The statement and its parameters (column names are bound, never spliced in as literals)."""

    sql: sa.TextClause
    params: Mapping[str, Any]


def diff_statement(spec: TableSpec, sync_id: str, *, target: str, latest: str, on: str, applies: str,
                   columns: list[str], other_columns: tuple[str, ...], own_types: Mapping[str, str],
                   target_types: Mapping[str, str]) -> DiffStatement:
    """The diff INSERT for one merge of `latest` (aliased b) into `target` (aliased t) ON `on`.

    `applies` is the MERGE's WHEN MATCHED condition (TRUE when it has none); `columns` the ones the
    MERGE sets from b, `other_columns` the ones it sets to NULL (the spec no longer has them).
    `own_types` / `target_types` are the PostgreSQL types of b's and t's columns.
    """
    params: dict[str, Any] = {"connection": spec.connection, "stream": spec.stream, "sync_id": sync_id}
    deleted = quote_ident(META_DELETED_AT)
    # Without the deleted column nothing is a tombstone (incoming) or soft-deleted (stored). A table
    # that has it while the spec does not: the MERGE sets it to NULL, so a deleted row comes back.
    gone = f"b.{deleted} IS NOT NULL" if META_DELETED_AT in columns else "FALSE"
    was_gone = f"t.{deleted} IS NOT NULL" if META_DELETED_AT in (target_types or columns) else "FALSE"

    key_parts = []
    for i, key in enumerate(spec.primary_key):
        params[f"k{i}"] = key
        key_parts.append(f"CAST(:k{i} AS text), b.{quote_ident(key)}")
    differs: list[str] = []
    named: list[str] = []
    for name in [*target_types] or columns:  # table column order
        if name.startswith(META_PREFIX) or (name not in columns and name not in other_columns):
            continue
        c = quote_ident(name)
        if name in columns:
            new = f"b.{c}"
            if target_types.get(name, own_types[name]) != own_types[name]:
                # The MERGE assigns b's value to t's (older, other-typed) column: compare what it stores.
                new = f"CAST(b.{c} AS {target_types[name]})"
            test = f"t.{c} IS DISTINCT FROM {new}"
        else:
            test = f"t.{c} IS NOT NULL"  # the MERGE sets it to NULL
        params[f"f{len(differs)}"] = name
        named.append(f"CASE WHEN {test} THEN CAST(:f{len(differs)} AS text) END")
        differs.append(test)
    changed = " OR ".join(differs) or "FALSE"
    fields = f"to_json(array_remove(ARRAY[{', '.join(named)}], NULL))::text" if named else "'[]'"

    found = "t.ctid IS NOT NULL"  # a LEFT JOIN's system column is NULL exactly when nothing matched
    columns_out = ", ".join(quote_ident(f.name) for f in DIFFS.schema)
    sql = f"""INSERT INTO {qualified(META_SCHEMA, DIFFS.name)} ({columns_out})
        SELECT CAST(:connection AS text), CAST(:stream AS text), CAST(:sync_id AS text), now(),
               CASE WHEN NOT ({found}) OR NOT ({gone}) AND {was_gone} THEN 'inserted'
                    WHEN {gone} THEN 'deleted' ELSE 'updated' END,
               json_build_object({', '.join(key_parts)})::text,
               CASE WHEN NOT ({found}) OR {gone} OR {was_gone} THEN '[]' ELSE {fields} END
        FROM {latest} AS b LEFT JOIN {target} AS t ON {on}
        WHERE CASE WHEN NOT ({found}) THEN NOT ({gone})
                   WHEN ({applies}) IS NOT TRUE THEN FALSE
                   WHEN {gone} THEN NOT ({was_gone})
                   WHEN {was_gone} THEN TRUE
                   ELSE ({changed}) END"""
    return DiffStatement(sa.text(sql), params)
