"""A source that yields many small pages, for the engine's gathering of pages into batches.

`events` yields `pages` pages of `page_rows` records (ids from 0), with a checkpoint after every
`checkpoint_every`-th page whose cursor is that page's last `updated_at`. Its raw types change with
`text_amount_every` (every n-th page carries `amount` as text, the others as a float, like a source
whose page readers differ); `bad_ids` get an amount that is no number; `fail_after` pages, it fails
like an unreachable API.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from protocol.errors import SourceUnavailable
from protocol.types import Catalog, CatalogStream, ReadRequest, SourceItem, StateCheckpoint
from tests.support.no_setup import NoSetup

EVENTS = pa.schema([("id", pa.int64()), ("amount", pa.decimal128(12, 2)),
                    ("updated_at", pa.timestamp("us", tz="UTC"))])
START = datetime(2024, 1, 1, tzinfo=UTC)


def updated_at(record_id: int) -> str:
    return (START + timedelta(seconds=record_id)).strftime("%Y-%m-%dT%H:%M:%SZ")


class PagedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pages: int = 10
    page_rows: int = 100
    text_amount_every: int = 0
    bad_ids: list[int] = []
    fail_after: int | None = None
    checkpoint_every: int = 1


class PagedSource(NoSetup):
    name: ClassVar[str] = "paged"
    config_model: ClassVar[type[BaseModel]] = PagedConfig

    def __init__(self, config: PagedConfig, *, root: Path, context: object = None) -> None:
        self.config = config

    def discover(self) -> Catalog:
        return Catalog(namespace="paged", streams=(
            CatalogStream(name="events", schema=EVENTS, primary_key=("id",), default_cursor="updated_at"),))

    def read(self, request: ReadRequest) -> Iterator[SourceItem]:
        c = self.config
        for page in range(c.pages):
            if c.fail_after is not None and page == c.fail_after:
                raise SourceUnavailable(f"paged API went away after {page} pages")
            ids = range(page * c.page_rows, (page + 1) * c.page_rows)
            text = bool(c.text_amount_every) and page % c.text_amount_every == 0
            amounts: list[Any] = [("lots" if i in c.bad_ids else f"{i}.25") if text else i + 0.25 for i in ids]
            if not text and any(i in c.bad_ids for i in ids):
                raise ValueError("bad_ids must fall on pages with text amounts")
            yield pa.RecordBatch.from_pydict(
                {"id": list(ids), "amount": amounts, "updated_at": [updated_at(i) for i in ids]},
                schema=pa.schema([("id", pa.int64()), ("amount", pa.string() if text else pa.float64()),
                                  ("updated_at", pa.string())]))
            if (page + 1) % c.checkpoint_every == 0:
                yield StateCheckpoint({"cursor": updated_at(ids[-1])})
