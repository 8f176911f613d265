"""Compare each stream's live source schema with its table in the destination; apply the policy.

Sources like `sql` and `files` describe the schema they find today, so a column can appear, change
type or vanish between two syncs. Before anything is written, every planned stream whose table
exists is compared with `destination.describe_table` and the connection's `schema_changes` decides:

    propagate  new columns are added; a type the column cannot hold widens it along
               int → bigint → double → varchar (and date → timestamp)
    ignore     the table never changes: new columns are left out, values are cast to the
               existing types
    fail       any change stops the whole sync before it writes, listing every change

Whatever the policy, a value that does not fit its column (an incompatible type change: say a
timestamp arriving for an integer column) is nulled and recorded in `_rooftop_meta`; a column the
source dropped stays in the table (null from then on); and a stream whose cursor or primary key
disappeared from the source stops with a clear message, since syncing it on would silently turn an
incremental table into something else.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa

from pipelines.engine.plan import StreamPlan
from protocol.errors import ConfigError
from protocol.types import META_COLUMNS, SyncRecord

log = logging.getLogger("rooftop.engine")

Kind = Literal["new column", "widened", "incompatible type", "removed column", "cursor removed",
               "primary key removed"]
BREAKING: tuple[Kind, ...] = ("cursor removed", "primary key removed")


@dataclass(frozen=True)
class SchemaChange:
    stream: str
    column: str
    kind: Kind
    detail: str

    def __str__(self) -> str:
        return f"{self.stream}.{self.column}: {self.kind} ({self.detail})"


class SchemaChangeError(ConfigError):
    """The source's schema changed in a way the connection does not accept; names every change."""

    def __init__(self, connection: str, changes: Iterable[SchemaChange], reason: str) -> None:
        self.changes = list(changes)
        lines = "\n  ".join(str(c) for c in self.changes)
        super().__init__(f"{reason} for {connection!r}:\n  {lines}")


def reconcile(plans: list[StreamPlan], destination: Any, policy: str, connection: str,
              history: list[SyncRecord]) -> tuple[list[StreamPlan], dict[str, SchemaChangeError]]:
    """Plans adjusted to the existing tables, and the streams that must stop (breaking changes).

    Raises SchemaChangeError under `fail` when any stream's schema changed.
    """
    describe = getattr(destination, "describe_table", None)
    previous = _previous_keys(history)
    adjusted: list[StreamPlan] = []
    changes: dict[str, list[SchemaChange]] = {}
    for plan in plans:
        existing = describe(plan.table.namespace, plan.table.table) if describe else None
        new_plan, found = _reconcile_one(plan, existing, policy, previous.get(plan.name))
        adjusted.append(new_plan)
        if found:
            changes[plan.name] = found
    everything = [c for found in changes.values() for c in found]
    if policy == "fail" and everything:
        raise SchemaChangeError(connection, everything, "schema_changes: fail, and the source schema changed; "
                                "nothing was written")
    blocked: dict[str, SchemaChangeError] = {}
    for stream, found in changes.items():
        breaking = [c for c in found if c.kind in BREAKING]
        if breaking:
            blocked[stream] = SchemaChangeError(
                connection, breaking, f"stream {stream!r} stopped: the source dropped a column the "
                "table depends on; restore it, or set cursor_field/primary_key and --full-refresh")
        for change in found:
            log.warning("schema change %s", change,
                        extra={"event": "schema_change", "stream": stream, "column": change.column,
                               "kind": change.kind})
    return adjusted, blocked


def _previous_keys(history: list[SyncRecord]) -> dict[str, Mapping[str, Any]]:
    """The cursor and key each stream's last successful sync used (newest record first)."""
    found: dict[str, Mapping[str, Any]] = {}
    for record in history:
        if record.status == "succeeded" and record.stream not in found:
            found[record.stream] = record.extra
    return found


def _reconcile_one(plan: StreamPlan, existing: pa.Schema | None, policy: str,
                   previous: Mapping[str, Any] | None) -> tuple[StreamPlan, list[SchemaChange]]:
    changes = _breaking(plan, previous)
    if existing is None:
        return plan, changes
    table = {f.name: f.type for f in existing if f.name not in META_COLUMNS}
    source_columns = set(plan.source_schema.names)
    keep = {*plan.primary_key, *([plan.cursor_field] if plan.cursor_field else [])}
    fields: list[pa.Field] = []
    widen: list[str] = []
    dropped: set[str] = set()
    for f in plan.table.schema:
        if f.name in META_COLUMNS:
            fields.append(f)
            continue
        if f.name not in table:
            if f.name in source_columns:
                changes.append(SchemaChange(plan.name, f.name, "new column", f"{_show(f.type)}; "
                                            + ("left out (ignore)" if policy == "ignore" and f.name not in keep
                                               else "added")))
                if policy == "ignore" and f.name not in keep:
                    dropped.add(f.name)
                    continue
            fields.append(f)  # enum-map targets are configured, not source changes: always added
            continue
        have = table[f.name]
        if holds(have, f.type):
            # Nested values bound for a text column stay nested: the destination stores them as JSON.
            fields.append(f if _is_text(have) and _nested(f.type) else f.with_type(have))
            continue
        wider = supertype(have, f.type)
        if wider is None:
            changes.append(SchemaChange(plan.name, f.name, "incompatible type",
                                        f"{_show(have)} → {_show(f.type)}; values that do not fit are "
                                        "nulled and recorded in _rooftop_meta"))
            fields.append(f.with_type(have))
        elif policy == "ignore":
            changes.append(SchemaChange(plan.name, f.name, "widened", f"{_show(have)} → {_show(f.type)}; "
                                        "kept as is (ignore): values that do not fit are nulled"))
            fields.append(f.with_type(have))
        else:
            changes.append(SchemaChange(plan.name, f.name, "widened", f"{_show(have)} → {_show(wider)}"))
            fields.append(f.with_type(wider))
            widen.append(f.name)
    planned = {f.name for f in plan.table.schema}
    for name, t in table.items():
        if name not in planned and name not in plan.stream.schema.names:
            changes.append(SchemaChange(plan.name, name, "removed column",
                                        f"{_show(t)}; kept, null in new rows"))
    schema = pa.schema(fields)
    types = {f.name: f.type for f in fields}
    source_schema = pa.schema([f.with_type(types[f.name]) for f in plan.source_schema if f.name not in dropped])
    spec = dataclasses.replace(plan.table, schema=schema, widen=tuple(widen))
    return dataclasses.replace(plan, table=spec, source_schema=source_schema), changes


def _breaking(plan: StreamPlan, previous: Mapping[str, Any] | None) -> list[SchemaChange]:
    """The cursor or key of the last successful sync is gone from the source's catalog."""
    if not previous:
        return []
    columns = set(plan.stream.schema.names)
    found = []
    cursor = previous.get("cursor_field")
    if cursor and cursor not in columns and plan.config.cursor_field is None:
        found.append(SchemaChange(plan.name, cursor, "cursor removed",
                                  f"the last sync ran {previous.get('sync_mode')} on this cursor"))
    for key in previous.get("primary_key") or []:
        if key not in columns and plan.config.primary_key is None:
            found.append(SchemaChange(plan.name, key, "primary key removed",
                                      f"the last sync used primary key {list(previous['primary_key'])}"))
    return found


# -- types ----------------------------------------------------------------------------------------

def normal(t: pa.DataType) -> pa.DataType:
    """Representation details that do not change what a column holds, removed."""
    if pa.types.is_dictionary(t):
        return normal(t.value_type)
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t):
        return pa.binary()
    if pa.types.is_large_list(t) or pa.types.is_list(t):
        return pa.list_(normal(t.value_type))
    if pa.types.is_timestamp(t) and t.tz:
        return pa.timestamp(t.unit, tz="UTC")
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, normal(f.type)) for f in t])
    return t


def holds(table: pa.DataType, source: pa.DataType) -> bool:
    """Whether a column of type `table` takes every value of type `source` without a change."""
    t, s = normal(table), normal(source)
    if t == s or pa.types.is_null(s) or _is_text(t):
        return True
    if pa.types.is_integer(t) and pa.types.is_integer(s):
        (tmin, tmax), (smin, smax) = _int_range(t), _int_range(s)
        return tmin <= smin and smax <= tmax
    if pa.types.is_floating(t) and (_numeric(s)):
        return bool(t.bit_width == 64 or (not pa.types.is_decimal(s) and s.bit_width <= 16) or s == pa.float32())
    if pa.types.is_decimal(t) and pa.types.is_decimal(s):
        return bool(t.scale >= s.scale and t.precision - t.scale >= s.precision - s.scale)
    if pa.types.is_decimal(t) and pa.types.is_integer(s):
        return bool(t.precision - t.scale >= _int_digits(s))
    if pa.types.is_timestamp(t):
        return (pa.types.is_timestamp(s) and bool(t.tz) == bool(s.tz)) or pa.types.is_date(s)
    for same_family in (pa.types.is_date, pa.types.is_time, pa.types.is_duration, pa.types.is_binary):
        if same_family(t) and same_family(s):
            return True
    return False


def supertype(table: pa.DataType, source: pa.DataType) -> pa.DataType | None:
    """The type to widen `table` to so it holds `source` (int → bigint → double → varchar), or
    None when the change is incompatible (the column keeps its type; misfits are nulled)."""
    t, s = normal(table), normal(source)
    if _numeric(t) and _numeric(s):
        if pa.types.is_integer(t) and pa.types.is_integer(s):
            (tmin, tmax), (smin, smax) = _int_range(t), _int_range(s)
            for candidate in (pa.int16(), pa.int32(), pa.int64()):
                low, high = _int_range(candidate)
                if low <= min(tmin, smin) and max(tmax, smax) <= high:
                    return candidate
            return pa.float64()
        if pa.types.is_decimal(t) and pa.types.is_decimal(s):
            scale = max(t.scale, s.scale)
            precision = max(t.precision - t.scale, s.precision - s.scale) + scale
            return pa.decimal128(precision, scale) if precision <= 38 else pa.float64()
        return pa.float64()
    if pa.types.is_date(t) and pa.types.is_timestamp(s):
        return s
    if _is_text(s) and not _nested(t):
        return pa.string()
    return None


def _numeric(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


def _int_range(t: pa.DataType) -> tuple[int, int]:
    bits = t.bit_width
    if pa.types.is_signed_integer(t):
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2 ** bits - 1


def _int_digits(t: pa.DataType) -> int:
    """Decimal digits an integer type needs (int8: 3 … uint64: 20)."""
    low, high = _int_range(t)
    return len(str(max(-low, high)))


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _nested(t: pa.DataType) -> bool:
    return bool(pa.types.is_struct(t) or pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_map(t))


def _show(t: pa.DataType) -> str:
    return str(normal(t))
