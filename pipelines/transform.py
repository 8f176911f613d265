"""Turn a source's raw record batch into the batch its table expects.

Per batch, vectorised with pyarrow.compute: select the planned columns, cast each to its catalog
type, apply enum maps, and add the meta columns. A value that cannot be cast does not fail the sync:
it becomes null and is described in that row's `_rooftop_meta` JSON (a data error, counted). Only a
column whose vectorised cast fails is looked at value by value, so clean data stays on the fast path.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from protocol.types import META_DELETED_AT, META_EXTRACTED_AT, META_META, META_SYNC_ID
from pipelines.plan import StreamPlan

CAST_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError)
MAX_VALUE_CHARS = 200

RowErrors = dict[int, list[dict[str, Any]]]


class BatchTransformer:
    """Applies one stream's plan to every batch of one sync."""

    def __init__(self, plan: StreamPlan, sync_id: str) -> None:
        self.plan = plan
        self.sync_id = sync_id
        self.table_schema = plan.table.schema
        self._enum_tables = {
            name: (pa.array(list(m.values.keys()), pa.string()), pa.array(list(m.values.values()), pa.string()))
            for name, m in plan.enum_maps.items()
        }

    def apply(self, batch: pa.RecordBatch, extracted_at: datetime) -> tuple[pa.RecordBatch, int]:
        """The transformed batch and the number of values that were nulled (data errors)."""
        n = batch.num_rows
        errors: RowErrors = defaultdict(list)
        columns: dict[str, pa.Array] = {}
        for target in self.plan.source_schema:
            index = batch.schema.get_field_index(target.name)
            raw = batch.column(index) if index >= 0 else pa.nulls(n, target.type)
            columns[target.name] = coerce(raw, target.type, target.name, errors)
        deleted = None
        if self.plan.tracks_deletes:
            deleted_field = self.plan.stream.deleted_field
            assert deleted_field is not None
            index = batch.schema.get_field_index(deleted_field)
            if index >= 0:
                deleted = coerce(batch.column(index), pa.timestamp("us", tz="UTC"), deleted_field, errors)
        for name, enum_map in self.plan.enum_maps.items():
            mapped = self._map_enum(name, columns[name], enum_map.default, errors)
            columns[enum_map.to or name] = mapped
        error_count = sum(len(v) for v in errors.values())
        columns[META_EXTRACTED_AT] = pa.repeat(pa.scalar(extracted_at, pa.timestamp("us", tz="UTC")), n)
        columns[META_SYNC_ID] = pa.repeat(pa.scalar(self.sync_id, pa.string()), n)
        columns[META_META] = _meta_column(errors, n)
        if META_DELETED_AT in self.table_schema.names:
            columns[META_DELETED_AT] = deleted if deleted is not None else pa.nulls(n, pa.timestamp("us", tz="UTC"))
        arrays = [columns[f.name] for f in self.table_schema]
        return pa.RecordBatch.from_arrays(arrays, schema=self.table_schema), error_count

    def _map_enum(self, name: str, values: pa.Array, default: str | None, errors: RowErrors) -> pa.Array:
        keys, mapped = self._enum_tables[name]
        as_text = values if pa.types.is_string(values.type) else pc.cast(values, pa.string())
        positions = pc.index_in(as_text, value_set=keys)
        result = pc.take(mapped, positions)
        unmapped = pc.and_(pc.is_null(positions), pc.is_valid(as_text))
        if not pc.any(unmapped).as_py():
            return result
        if default is not None:
            return pc.if_else(unmapped, pa.scalar(default, pa.string()), result)
        for row in pc.indices_nonzero(unmapped).to_pylist():
            errors[row].append({"field": name, "value": _short(as_text[row].as_py()),
                                "error": "value not in enum map and no default"})
        return result


def coerce(raw: pa.Array, target: pa.DataType, name: str, errors: RowErrors) -> pa.Array:
    """Cast `raw` to `target`; values that do not fit become null and are recorded in `errors`."""
    if raw.type == target:
        return raw
    try:
        return pc.cast(raw, target, safe=True)
    except CAST_ERRORS:
        pass
    out: list[Any] = []
    for row, value in enumerate(raw):
        if not value.is_valid:
            out.append(None)
            continue
        try:
            out.append(pc.cast(pa.array([value.as_py()], raw.type), target, safe=True)[0].as_py())
        except CAST_ERRORS as exc:
            out.append(None)
            errors[row].append({"field": name, "value": _short(value.as_py()),
                                "error": f"cannot cast to {target}: {str(exc).splitlines()[0][:120]}"})
    return pa.array(out, type=target)


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return value[:MAX_VALUE_CHARS] + "…"
    if isinstance(value, bytes | dict | list):
        return _short(orjson.dumps(value, default=str).decode())
    return value


def _meta_column(errors: RowErrors, n: int) -> pa.Array:
    if not errors:
        return pa.nulls(n, pa.string())
    values: list[str | None] = [None] * n
    for row, row_errors in errors.items():
        values[row] = orjson.dumps({"errors": row_errors}, default=str).decode()
    return pa.array(values, pa.string())
