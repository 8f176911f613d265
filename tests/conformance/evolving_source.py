"""A source whose streams, schemas and rows come from a JSON file the test rewrites between syncs.

Referenced from connection files as `connector: "tests.conformance.evolving_source:EvolvingSource"`
with `config: {spec: spec.json}`. The file holds `{"namespace": …, "streams": [{"name", "columns":
[[name, type]], "primary_key", "cursor", "rows": [...]}]}`; types are `int32`, `int64`, `float32`, `float64`,
`string`, `timestamp` (UTC), `date`, `decimal(p,s)`; an optional `"deleted_field"` marks
tombstones. Rows are read in cursor order (>= the saved
cursor when incremental), `batch_rows` at a time, each batch followed by a checkpoint, like a
well-behaved database source. So a test changes a "live" schema by rewriting one file, and a
killed sync subprocess sees exactly what the test process wrote.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from connectors.arrow import records_to_batch
from protocol.types import (
    Catalog,
    CatalogStream,
    ReadRequest,
    SourceItem,
    StateCheckpoint,
)
from tests.support.no_setup import NoSetup

TYPES = {"int32": pa.int32(), "int64": pa.int64(), "float32": pa.float32(), "float64": pa.float64(),
         "string": pa.string(),
         "timestamp": pa.timestamp("us", tz="UTC"), "date": pa.date32(), "bool": pa.bool_()}


def arrow_type(name: str) -> pa.DataType:
    match = re.match(r"decimal\((\d+),(\d+)\)", name)
    return pa.decimal128(int(match[1]), int(match[2])) if match else TYPES[name]


class EvolvingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    spec: str
    batch_rows: int = 1000


class EvolvingSource(NoSetup):
    name: ClassVar[str] = "evolving"
    config_model: ClassVar[type[BaseModel]] = EvolvingConfig

    def __init__(self, config: EvolvingConfig, *, root: Path, context: object = None) -> None:
        self.config = config
        self.spec: dict[str, Any] = json.loads((root / config.spec).read_text())

    def discover(self) -> Catalog:
        streams = tuple(
            CatalogStream(name=s["name"], schema=pa.schema([(n, arrow_type(t)) for n, t in s["columns"]]),
                          primary_key=tuple(s.get("primary_key", ())), default_cursor=s.get("cursor"),
                          deleted_field=s.get("deleted_field"))
            for s in self.spec["streams"])
        return Catalog(namespace=self.spec.get("namespace", "evolving"), streams=streams)

    def read(self, request: ReadRequest) -> Iterator[SourceItem]:
        stream = next(s for s in self.spec["streams"] if s["name"] == request.stream.name)
        rows = list(stream["rows"])
        cursor = request.cursor_field
        if cursor:
            saved = (request.state or {}).get("cursor") if request.incremental else None
            rows = [r for r in rows if saved is None or (r.get(cursor) is not None and r[cursor] >= saved)]
            rows.sort(key=lambda r: (r.get(cursor) is None, r.get(cursor) or 0))
        size = self.config.batch_rows
        for start in range(0, len(rows), size):
            chunk = rows[start:start + size]
            yield records_to_batch(chunk, request.stream.schema)
            if cursor:
                values = [r[cursor] for r in chunk if r.get(cursor) is not None]
                if values:
                    yield StateCheckpoint({"cursor": max(values), **stream.get("extra_state", {})})
