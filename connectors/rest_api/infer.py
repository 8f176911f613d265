"""Schemas of REST streams that declare none: inferred from sample records, widened, and remembered.

`discover` infers each such stream's schema from its first page(s). Types merge as more values are
seen (int + float = float64; anything that disagrees, or a timestamp next to a non-timestamp,
becomes string; objects become structs whose fields are unioned; a field only ever null becomes
string). The result is the catalog, and **the catalog is what the engine types against**: a value
read later that does not fit a column's catalog type is nulled and recorded in `_rooftop_meta`,
exactly as with a declared type; a column's type never changes under an existing table.

Fields that first appear after discovery ("widening") cannot join the running sync (its tables
were planned already), so the source adds them to its schema, logs a `schema_widened` warning and
saves the schema (`SchemaCache`: in a sync, the warehouse's `_rooftop.schemas`, so whichever
machine runs the connection next finds it; without a warehouse, `<workspace>/.rooftop/schemas/
<connection>.json`); the next `discover` reads it, so the next sync adds the new columns
(schema_changes: propagate). For an incremental stream, the values the earlier sync saw in those
fields are only loaded by a `--full-refresh`. Declare a `schema` to avoid all of this.

The saved schemas are also the cache that keeps discovery from costing requests: each entry carries the
fingerprint of the stream's configuration it was inferred from (`fingerprint`: path, parameters,
records path, parent, base URL…). A `discover` uses an entry whose fingerprint matches as it is,
without reading a page; a stale one (the stream's config changed since, or an entry written before
fingerprints) is inferred again from the API, starting from the saved types.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from protocol.schema_store import SchemaEntry, SchemaStore

log = logging.getLogger("rooftop.rest_api")

_TS_TZ = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d{1,9})?)?(Z|[+-]\d\d:?\d\d)")
_TS_NAIVE = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d{1,9})?)?")
_DATE = re.compile(r"\d{4}-\d\d-\d\d")
TIMESTAMP_UTC = pa.timestamp("us", tz="UTC")
_INT64 = (-(1 << 63), (1 << 63) - 1)


def infer_type(value: Any) -> pa.DataType:
    """The Arrow type of one JSON value (pa.null() for null)."""
    if value is None:
        return pa.null()
    if isinstance(value, bool):
        return pa.bool_()
    if isinstance(value, int):
        return pa.int64() if _INT64[0] <= value <= _INT64[1] else pa.string()
    if isinstance(value, float):
        return pa.float64()
    if isinstance(value, str):
        if _TS_TZ.fullmatch(value):
            return TIMESTAMP_UTC
        if _TS_NAIVE.fullmatch(value):
            return pa.timestamp("us")
        return pa.date32() if _DATE.fullmatch(value) else pa.string()
    if isinstance(value, dict):
        return pa.struct([pa.field(str(k), infer_type(v)) for k, v in value.items()]) if value else pa.string()
    if isinstance(value, list):
        element: pa.DataType = pa.null()
        for item in value:
            element = merge_types(element, infer_type(item))
        return pa.list_(element)
    return pa.string()


def merge_types(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """The narrowest type holding values of both (string when nothing narrower does)."""
    if a == b or pa.types.is_null(b):
        return a
    if pa.types.is_null(a):
        return b
    numbers = {pa.int64(), pa.float64()}
    if a in numbers and b in numbers:
        return pa.float64()
    if pa.types.is_struct(a) and pa.types.is_struct(b):
        fields = {f.name: f.type for f in a}
        for f in b:
            fields[f.name] = merge_types(fields[f.name], f.type) if f.name in fields else f.type
        return pa.struct([pa.field(name, t) for name, t in fields.items()])
    if pa.types.is_list(a) and pa.types.is_list(b):
        return pa.list_(merge_types(a.value_type, b.value_type))
    return pa.string()


def finish_type(t: pa.DataType) -> pa.DataType:
    """Replace types still unknown (only nulls seen) by string, so every column can be created."""
    if pa.types.is_null(t):
        return pa.string()
    if pa.types.is_list(t):
        return pa.list_(finish_type(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, finish_type(f.type)) for f in t])
    return t


class InferredSchema:
    """One stream's schema as seen so far; thread-safe, fields in order of first appearance."""

    def __init__(self, known: pa.Schema | None = None) -> None:
        self._lock = threading.Lock()
        self._types: dict[str, pa.DataType] = {f.name: f.type for f in (known or pa.schema([]))}
        self._frozen: set[str] = set(self._types)
        """Fields whose type is already in a catalog: never retyped (the table has that type)."""

    def observe(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Merge the types of sample records (discovery): types may still widen."""
        with self._lock:
            for record in records:
                for name, value in record.items():
                    if name in self._frozen:
                        continue
                    seen = self._types.get(name)
                    kind = infer_type(value)
                    self._types[name] = kind if seen is None else merge_types(seen, kind)

    def new_fields(self, records: Sequence[Mapping[str, Any]]) -> list[str]:
        """Add fields of `records` not in the schema yet (reading); return their names."""
        with self._lock:
            keys: set[str] = set().union(*records) if records else set()
            added = [name for name in keys - self._types.keys()]
            if not added:
                return []
            added.sort(key=lambda name: next(i for i, r in enumerate(records) if name in r))
            for name in added:
                kind: pa.DataType = pa.null()
                for record in records:
                    kind = merge_types(kind, infer_type(record.get(name)))
                self._types[name] = kind
            return added

    def ensure(self, name: str, kind: pa.DataType) -> None:
        """Give `name` this type if the sample did not show it, or only showed nulls."""
        with self._lock:
            if name not in self._frozen and pa.types.is_null(self._types.get(name, pa.null())):
                self._types[name] = kind

    def freeze(self) -> pa.Schema:
        """The schema to publish in the catalog; from now on these fields keep their types."""
        with self._lock:
            self._frozen = set(self._types)
            return pa.schema([pa.field(name, finish_type(t)) for name, t in self._types.items()])


def fingerprint(parts: Mapping[str, Any]) -> str:
    """A short, stable hash of the settings a stream's schema was inferred from."""
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()[:16]


@dataclass(frozen=True)
class StoredSchema:
    schema: pa.Schema
    fingerprint: str | None
    """Of the stream config it was inferred from (None: saved before fingerprints: stale)."""


def encode_schema(schema: pa.Schema) -> dict[str, Any]:
    """A schema as saved: Arrow IPC (exact), plus a readable field list for people."""
    return {"fields": {f.name: str(f.type) for f in schema},
            "arrow": base64.b64encode(schema.serialize().to_pybytes()).decode()}


def decode_schema(entry: Mapping[str, Any]) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(entry["arrow"])))


class SchemaCache:
    """Inferred schemas of one connection, kept where any machine running it finds them.

    A connection's source gets a `SchemaStore` (protocol.schema_store, `SourceContext.schema_store`):
    the schemas live in the warehouse, `_rooftop.schemas`. Without one (a source used on its own)
    they live in `<workspace>/.rooftop/schemas/<connection>.json`, as before the warehouse kept them.
    With a store, that file is still read as a migration: a stream the warehouse has no entry for
    takes the file's, which is then saved to the warehouse (the warehouse wins once it has one).
    """

    def __init__(self, root: Path, connection: str, store: SchemaStore | None = None) -> None:
        self.connection = connection or "rest_api"
        self.path = root / ".rooftop" / "schemas" / f"{self.connection}.json"
        self.store = store
        self._lock = threading.Lock()

    @property
    def where(self) -> str:
        """Where saved schemas go, for messages."""
        return str(self.store) if self.store is not None else str(self.path)

    def load(self) -> dict[str, StoredSchema]:
        if self.store is None:
            return self._decode(self._read_file(), str(self.path))
        found = self.store.load(self.connection)
        decoded = self._decode({stream: {**_json(e.schema), "fingerprint": e.fingerprint}
                                for stream, e in found.items()}, self.where)
        legacy = {stream: entry for stream, entry in self._read_file().items() if stream not in found}
        migrated = self._decode(legacy, str(self.path))
        if migrated:
            self.store.save(self.connection, [SchemaEntry(stream, _text(encode_schema(stored.schema)),
                                                          stored.fingerprint)
                                              for stream, stored in migrated.items()])
        return {**migrated, **decoded}

    def save(self, stream: str, schema: pa.Schema, fingerprint: str | None = None) -> None:
        """Store one stream's schema and its fingerprint."""
        if self.store is not None:
            self.store.save(self.connection, [SchemaEntry(stream, _text(encode_schema(schema)), fingerprint)])
            return
        with self._lock:
            current = self._read_file(quiet=True)
            current[stream] = {**encode_schema(schema), "fingerprint": fingerprint}
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.path.with_suffix(".tmp")
                tmp.write_bytes(orjson.dumps(current, option=orjson.OPT_INDENT_2))
                tmp.replace(self.path)
            except OSError as exc:
                log.warning("cannot save the widened schema of %s to %s: %s (the next sync infers it again)",
                            stream, self.path, exc)

    def _read_file(self, quiet: bool = False) -> dict[str, Any]:
        try:
            data = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, orjson.JSONDecodeError) as exc:
            log.warning("%s the saved schemas in %s: %s", "rewriting unreadable" if quiet else "ignoring",
                        self.path, exc)
            return {}
        return data if isinstance(data, dict) else {}

    @staticmethod
    def _decode(entries: Mapping[str, Any], where: str) -> dict[str, StoredSchema]:
        out: dict[str, StoredSchema] = {}
        for stream, entry in entries.items():
            try:
                found = entry.get("fingerprint")
                out[stream] = StoredSchema(decode_schema(entry), found if isinstance(found, str) else None)
            except (AttributeError, KeyError, TypeError, ValueError, pa.ArrowInvalid) as exc:
                log.warning("ignoring the saved schema of %s in %s: %s", stream, where, exc)
        return out


def _text(entry: Mapping[str, Any]) -> str:
    return orjson.dumps(entry).decode()


def _json(text: str) -> dict[str, Any]:
    """A stored entry's JSON ({} when it is not an object: then it is ignored with a warning)."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}
