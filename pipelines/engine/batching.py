"""Pages coalesced into larger batches before they reach the destination's writer.

A source yields a batch per page (1,000–5,000 records for most APIs), and each `write` costs the
destination a statement, an Arrow scan set-up and, for `incremental_deduped`, a merge step, whatever
the batch's size: loading into DuckDB per page cost about a quarter of a full refresh's CPU.
`CoalescingWriter` holds transformed batches until about `BATCH_ROWS` rows are waiting and writes
them as one. The size was picked from a sweep with bench/sandbox_to_duckdb.py --batch-rows (200k
work orders into DuckDB, medians of 3; docs/rest_api.md, "Performance"): per-page writes cost 2.42
CPU s with 1,000-row pages and 1.70 with 5,000-row pages; from 10,000-20,000 rows on the cost is flat
(1.56-1.88 CPU s, within the noise) while peak RSS grows a little with the size.

Checkpoints keep their meaning: `commit` and `finish` write what is held first, so a state is
always committed together with every row it covers; `abort` drops what is held (it was never
written, so there is nothing to roll back for it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from protocol.types import StreamWriter

BATCH_ROWS = 20_000
"""Rows held before one write: the smallest size on the plateau of the sweep (see the module docstring)."""


class CoalescingWriter:
    """A `StreamWriter` that passes batches on to `writer` in groups of about `rows` rows."""

    def __init__(self, writer: StreamWriter, rows: int | None = None) -> None:
        self.writer = writer
        self.rows = BATCH_ROWS if rows is None else rows
        self._held: list[pa.RecordBatch] = []
        self._held_rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        self._held.append(batch)
        self._held_rows += batch.num_rows
        if self._held_rows >= self.rows:
            self.flush()

    def flush(self) -> None:
        """Write what is held, as one batch."""
        if not self._held:
            return
        held, self._held, self._held_rows = self._held, [], 0
        self.writer.write(held[0] if len(held) == 1 else pa.concat_batches(held))

    def commit(self, state: Mapping[str, Any] | None) -> None:
        self.flush()
        self.writer.commit(state)

    def finish(self, state: Mapping[str, Any] | None) -> int:
        self.flush()
        return self.writer.finish(state)

    def abort(self) -> None:
        self._held, self._held_rows = [], 0
        self.writer.abort()
