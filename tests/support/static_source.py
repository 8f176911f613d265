"""A catalog-only source for tests of stream settings the sandbox catalog cannot exercise.

Referenced from connection files as `connector: "tests.support.static_source:StaticSource"`. Its
`events` stream has neither a primary key nor a default cursor.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from protocol.types import Catalog, CatalogStream, ReadRequest, SourceItem
from tests.support.no_setup import NoSetup


class StaticConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rows: int = 3


class StaticSource(NoSetup):
    name: ClassVar[str] = "static"
    config_model: ClassVar[type[BaseModel]] = StaticConfig

    def __init__(self, config: StaticConfig, *, root: Path, context: object = None) -> None:
        self.config = config

    def discover(self) -> Catalog:
        schema = pa.schema([("kind", pa.string()), ("at", pa.timestamp("us", tz="UTC"))])
        return Catalog(namespace="static", streams=(CatalogStream(name="events", schema=schema),))

    def read(self, request: ReadRequest) -> Iterator[SourceItem]:
        yield pa.RecordBatch.from_pylist([{"kind": f"k{i}", "at": None} for i in range(self.config.rows)],
                                         schema=pa.schema([("kind", pa.string()), ("at", pa.string())]))
