"""A JSON page's bytes straight into an Arrow RecordBatch, without a Python object per record.

`orjson.loads` + `RecordBatch.from_pylist` build and throw away a dict per record and an object per
value; Arrow's C++ JSON reader (`pyarrow.json.read_json`) parses the bytes into typed columns. It
wants newline-delimited objects, so a page (`{"data": [...], "next_cursor": "…"}`) is read as *one
row* whose records field is declared `list<struct<…>>` in the stream's raw types
(`connectors.arrow.raw_schema`); the batch is that list's child array.

The fast path must give exactly what the Python path (`pages.extract_records` + `records_to_batch`)
gives, or refuse the page (`read` returns None) and let the Python path read it:

- **Values.** With an explicit type Arrow raises on every value the Python path would have to
  rescue (a string in a number column, 2.0 or 1.5 in an integer column, an integer beyond 64
  bits, an object where a list is declared…): such a page goes the Python path, whose per-value
  handling (text column, then null + `_rooftop_meta` in the engine) is unchanged. A null records
  list (missing or null: `empty_records` decides), or a null item, is refused too.
- **The envelope.** The paginator and the error check need a few body paths (`next_cursor`,
  `meta.total`, `error`…: `Expect.body_paths`). Their JSON types are learnt from the pages the Python
  path read (string, bool or 64-bit integer leaves only) and declared, so Arrow reads them exactly;
  the rest of the envelope is ignored. A path whose type is not known yet (or changed: an `error`
  never seen) is declared with Arrow's null type: present and not null, it fails the read and the
  page goes the Python path, which also teaches the type. (Searching the bytes for the key instead
  cost ~6 % of a sync: three scans of every page.) A declared path that is absent
  reads as null, which the paginator and the `truthy`/`not_null` error rules treat alike; streams
  whose error rule compares values (`equals`, `not_equals`) keep the Python path.
- **New fields** (streams with an inferred schema): read with `unexpected_field_behavior="infer"`,
  so a record field the schema does not have shows up as an extra column; while the source has not
  seen it yet the page goes the Python path, which widens the schema as before.

`PAGE_PATHS` counts pages per path for the whole process (the benchmark prints it); each stream's
counts are logged with its `http_stats`.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.json as pajson

from connectors.arrow import raw_schema
from connectors.rest_api.config import RestApiConfig, StreamSpec
from connectors.rest_api.cursor import CursorPlan
from connectors.rest_api.pages import Convert, Expect, Record, body_paths, check_error, python_page

_INT64 = (-(1 << 63), (1 << 63) - 1)
_WRAP_KEY = "records"
"""Field a top-level records list is wrapped in, so that the page is one JSON object."""


class PagePathCounts:
    """Pages read by Arrow's JSON reader (`fast`) and by the Python path (`slow`), thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.fast = 0
        self.slow = 0

    @property
    def pages(self) -> int:
        return self.fast + self.slow

    def add(self, fast: bool) -> None:
        with self._lock:
            if fast:
                self.fast += 1
            else:
                self.slow += 1


PAGE_PATHS = PagePathCounts()
"""Every rest_api page of this process, by path."""


def _leaf_type(value: Any) -> pa.DataType | None:
    """The Arrow type that reads this JSON value back exactly (None: none does, or unknown yet)."""
    if isinstance(value, bool):
        return pa.bool_()
    if isinstance(value, int):
        return pa.int64() if _INT64[0] <= value <= _INT64[1] else None
    if isinstance(value, str):
        return pa.string()
    return None  # null tells nothing; floats would read 5 back as 5.0; objects and lists are not declared


def _key_in_bytes(key: str) -> bytes | None:
    """`"key"` as JSON writes it, if that spelling is the only one (plain printable ASCII)."""
    if not key or not key.isascii() or not key.isprintable() or any(c in key for c in '"\\/'):
        return None
    return b'"' + key.encode() + b'"'


@dataclass
class _BodyPath:
    parts: tuple[str, ...]
    type: pa.DataType | None = None
    conflict: bool = False
    """Seen with two types (or through a non-object): never declared."""

    def learn(self, body: Any) -> None:
        node = body
        for part in self.parts:
            if node is None:
                return  # absent or null on the way: nothing to learn
            if not isinstance(node, dict):
                self.conflict = True
                return
            node = node.get(part)
        if node is None:
            return
        kind = _leaf_type(node)
        if kind is None or (self.type is not None and kind != self.type):
            self.conflict = True
        self.type = kind


class ArrowPageReader:
    """Reads the pages of one stream's read (shared by its series); see the module docstring."""

    def __init__(self, schema: pa.Schema, records: str, body_paths: Iterable[str], *,
                 known_fields: Collection[str] | None = None) -> None:
        """`records`: the records' dot path (`$`: the body is the list). `known_fields`: for a stream
        with an inferred schema, the fields the source knows (it may know more than `schema`)."""
        self.schema = schema
        self.raw = raw_schema(schema)
        self._record_type = pa.list_(pa.struct(list(self.raw)))
        self._top_level = records in ("$", ".", "")
        self._records = (_WRAP_KEY,) if self._top_level else tuple(records.split("."))
        self._paths = [_BodyPath(tuple(p.split("."))) for p in dict.fromkeys(body_paths)]
        self.known_fields = known_fields
        self.fast = self.slow = 0
        self.usable = (all(_key_in_bytes(p.parts[0]) for p in self._paths)
                       and not (self._top_level and self._paths)
                       and all(p.parts[0] != self._records[0] for p in self._paths))
        """False: every page goes the Python path (a body path shares the records' top-level key,
        or is a key the bytes check cannot find)."""
        self._options: tuple[pajson.ParseOptions, list[str]] | None = None

    # --- learning from the Python path -------------------------------------------------------------

    def learn(self, body: Any) -> None:
        """Types of the body paths, from a page the Python path parsed."""
        for path in self._paths:
            path.learn(body)
        self._options = None

    def known(self, fields: Collection[str]) -> None:
        """The source's fields now (after a widening): extra columns among them are dropped silently."""
        self.known_fields = fields

    def _parse_options(self) -> tuple[pajson.ParseOptions, list[str]]:
        """The explicit schema (records + body paths) and the top-level keys Arrow cannot declare.

        A path whose type is not known yet (or changed) is declared with Arrow's null type: absent
        or null reads as null, and any other value fails the read, so the page goes the Python path
        (which learns the type). Only a path that runs through another's leaf (`next` and
        `next.url`) cannot be declared: its top-level key is looked for in the bytes instead.
        """
        if self._options is not None:
            return self._options
        declared: dict[str, Any] = {}
        unreadable: list[str] = []
        for path in self._paths:  # distinct paths (`dict.fromkeys` in __init__)
            node: Any = declared
            for part in path.parts[:-1]:
                node = node.setdefault(part, {}) if isinstance(node, dict) else None
            if not isinstance(node, dict) or path.parts[-1] in node:
                unreadable.append(path.parts[0])  # through, or at, another path's leaf
                continue
            node[path.parts[-1]] = pa.null() if path.conflict or path.type is None else path.type
        for head in unreadable:
            declared.pop(head, None)  # a key with a path Arrow cannot declare is not read by Arrow at all
        node = declared
        for part in self._records[:-1]:
            node = node.setdefault(part, {})
        node[self._records[-1]] = self._record_type
        schema = pa.schema([pa.field(k, _struct(v)) for k, v in declared.items()])
        behaviour = "ignore" if self.known_fields is None else "infer"
        options = pajson.ParseOptions(explicit_schema=schema, newlines_in_values=True,
                                      unexpected_field_behavior=behaviour)
        self._options = (options, list(dict.fromkeys(unreadable)))
        return self._options

    # --- the fast path -------------------------------------------------------------------------------

    def read(self, content: bytes) -> tuple[pa.RecordBatch, dict[str, Any]] | None:
        """The page's records in raw types and its declared body paths, or None: the Python path."""
        if not self.usable:
            return None
        options, unreadable = self._parse_options()
        if any(_key_in_bytes(key) in content for key in unreadable):  # type: ignore[operator]
            return None
        if self._top_level:
            content = b'{"' + _WRAP_KEY.encode() + b'":' + content + b"}"
        try:
            table = pajson.read_json(pa.py_buffer(content), parse_options=options, read_options=pajson.ReadOptions(
                use_threads=False, block_size=max(len(content) + 1, 1 << 16)))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            return None  # a value Arrow cannot take as declared: the Python path decides what it is
        if table.num_rows != 1:
            return None  # empty, or several documents: the Python path reports it
        column: Any = table.column(self._records[0]).chunk(0)
        for part in self._records[1:]:
            if column.null_count:
                return None
            column = column.field(part)
        if column.null_count or not pa.types.is_list(column.type):
            return None  # missing or null records: `empty_records` decides, on the Python path
        items = column.values
        if items.null_count:
            return None  # a null item is not an object: the Python path says so
        batch = self._batch(items)
        if batch is None:
            return None
        declared = [n for n in options.explicit_schema.names if n != self._records[0]]
        return batch, table.select(declared).to_pylist()[0] if declared else {}

    def _batch(self, items: pa.StructArray) -> pa.RecordBatch | None:
        names = {f.name for f in items.type}
        extra = names - set(self.raw.names)
        if extra and (self.known_fields is None or not extra <= set(self.known_fields)):
            return None  # fields the source has not seen: the Python path widens the schema
        columns = []
        for field in self.raw:
            column = items.field(field.name) if field.name in names else pa.nulls(len(items), field.type)
            if column.type != field.type:
                return None  # nested fields beyond the schema were inferred: the Python path drops them
            columns.append(column)
        return pa.RecordBatch.from_arrays(columns, schema=self.raw)

    def count(self, fast: bool) -> None:
        if fast:
            self.fast += 1
        else:
            self.slow += 1
        PAGE_PATHS.add(fast)


def _struct(node: Any) -> pa.DataType:
    if isinstance(node, dict):
        return pa.struct([pa.field(k, _struct(v)) for k, v in node.items()])
    assert isinstance(node, pa.DataType)
    return node


def arrow_reader(config: RestApiConfig, spec: StreamSpec, schema: pa.Schema, plan: CursorPlan,
                 inferred: bool) -> ArrowPageReader | None:
    """A reader for a top-level stream's pages, or None where only the Python path is exact: XML,
    single_record, unwrap, records found by guessing, an error rule that compares values, records
    changed or filtered in Python (cursor `format`, a client-side cursor window), or a tracked cursor
    that is missing from `schema` or a float (5 would be saved as 5.0). The caller rules out child
    streams, property filters and the source `timezone`. `inferred`: the schema was inferred (new
    fields may appear)."""
    expect = Expect.of(config, spec)
    if expect.xml or expect.single or expect.unwrap is not None or expect.records is None:
        return None
    if expect.errors.paths and expect.errors.when not in ("truthy", "not_null"):
        return None
    inc = spec.incremental
    if (inc is not None and inc.format is not None) or plan.since is not None or plan.end is not None:
        return None
    if plan.track:
        cursor = schema.field(plan.cursor_field) if plan.cursor_field in schema.names else None
        if cursor is None or pa.types.is_floating(cursor.type) or pa.types.is_decimal(cursor.type):
            return None
    reader = ArrowPageReader(schema, expect.records, body_paths(config, spec),
                             known_fields=schema.names if inferred else None)
    return reader if reader.usable else None


def arrow_page(reader: ArrowPageReader) -> Convert[list[Record] | pa.RecordBatch]:
    """A page converter for `pages.walk`: Arrow's reader, else the Python path (which teaches the reader)."""

    def convert(response: httpx.Response, expect: Expect, what: str) -> tuple[list[Record] | pa.RecordBatch, Any,
                                                                              int]:
        page = reader.read(response.content)
        if page is None:
            records, body, count = python_page(response, expect, what)
            reader.learn(body)
            reader.count(fast=False)
            return records, body, count
        batch, envelope = page
        check_error(envelope, expect.errors, what)
        reader.count(fast=True)
        return batch, envelope, batch.num_rows

    return convert
