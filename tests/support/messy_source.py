"""A source with dirty values and a stream that breaks mid-read, for engine tests.

`readings` carries values that cannot be cast to their declared types; `flaky` yields one good batch
and then fails like an unreachable API, so tests can check that other streams still land and that
the failed stream's table is left as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from protocol.errors import SourceUnavailable
from protocol.types import (
    Catalog,
    CatalogStream,
    ReadRequest,
    SourceItem,
    StateCheckpoint,
)
from tests.support.no_setup import NoSetup

READINGS = pa.schema([("id", pa.int64()), ("amount", pa.decimal128(12, 2)), ("day", pa.date32()),
                      ("at", pa.timestamp("us", tz="UTC")), ("status", pa.string())])
FLAKY = pa.schema([("id", pa.int64()), ("updated_at", pa.timestamp("us", tz="UTC"))])

DIRTY_ROWS = [
    {"id": 1, "amount": 10.5, "day": "2024-02-28", "at": "2024-02-28T10:00:00Z", "status": "Current"},
    {"id": 2, "amount": "N/A", "day": "2024-02-30", "at": "yesterday", "status": "Notice"},
    {"id": 3, "amount": 7, "day": None, "at": "2024-03-01T00:00:00+02:00", "status": "Weird"},
]


class MessyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    flaky_rows_before_failure: int = 5


class MessySource(NoSetup):
    name: ClassVar[str] = "messy"
    config_model: ClassVar[type[BaseModel]] = MessyConfig

    def __init__(self, config: MessyConfig, *, root: Path, context: object = None) -> None:
        self.config = config

    def discover(self) -> Catalog:
        return Catalog(namespace="messy", streams=(
            CatalogStream(name="readings", schema=READINGS, primary_key=("id",)),
            CatalogStream(name="flaky", schema=FLAKY, primary_key=("id",), default_cursor="updated_at"),
        ))

    def read(self, request: ReadRequest) -> Iterator[SourceItem]:
        if request.stream.name == "readings":
            # JSON-like raw types, as an HTTP source would produce them: the engine does the casting.
            raw = pa.schema([("id", pa.int64()), ("amount", pa.string()), ("day", pa.string()),
                             ("at", pa.string()), ("status", pa.string())])
            rows = [{**r, "amount": None if r["amount"] is None else str(r["amount"])} for r in DIRTY_ROWS]
            yield pa.RecordBatch.from_pylist(rows, schema=raw)
            return
        n = self.config.flaky_rows_before_failure
        yield pa.RecordBatch.from_pylist(
            [{"id": i, "updated_at": f"2024-01-01T00:00:{i:02d}Z"} for i in range(n)],
            schema=pa.schema([("id", pa.int64()), ("updated_at", pa.string())]))
        yield StateCheckpoint({"cursor": f"2024-01-01T00:00:{n - 1:02d}Z"})
        raise SourceUnavailable("flaky API went away after the first page")
