"""A source's pages gathered into larger batches before the engine transforms and writes them.

A source yields a batch per page (1,000–5,000 records for most APIs). Each step after it costs a
fixed amount per batch whatever its size: the engine's transform makes some twenty pyarrow calls
(casts, storage checks, meta columns), and a destination `write` costs a statement, an Arrow scan
set-up and, for `incremental_deduped`, a merge step. Loading into DuckDB per page cost about a
quarter of a full refresh's CPU; transforming per page, about 0.4 ms of every 1,000-row page.
`PageGatherer` holds the raw pages until about `BATCH_ROWS` rows wait and releases them as one
batch, which the engine then transforms, checks and writes once.

The size was picked from a sweep with bench/sandbox_to_duckdb.py --batch-rows (200k work orders
into DuckDB, medians of 3; docs/rest_api.md, "Performance"): per-page writes cost 2.42 CPU s with
1,000-row pages and 1.70 with 5,000-row pages; from 10,000-20,000 rows on the cost is flat
(1.56-1.88 CPU s, within the noise) while peak RSS grows a little with the size.

Pages of different schemas are never mixed: a page whose raw types differ from those held (a page
the source read another way, a schema widened mid-read) releases what is held first. Checkpoints keep
their meaning because the engine takes what is held before any commit (`pipelines.engine.runner`).
"""

from __future__ import annotations

import pyarrow as pa

BATCH_ROWS = 20_000
"""Rows gathered before one transform and write: the smallest size on the plateau of the sweep."""


class PageGatherer:
    """Holds raw pages of one schema until about `rows` rows wait (default `BATCH_ROWS`, at most
    `commit_every`: a destination that commits more often than that would otherwise commit late)."""

    def __init__(self, rows: int | None = None, *, commit_every: int | None = None) -> None:
        size = BATCH_ROWS if rows is None else rows
        self.rows = min(size, commit_every) if commit_every else size
        self._held: list[pa.RecordBatch] = []
        self.held_rows = 0

    def add(self, page: pa.RecordBatch) -> list[pa.RecordBatch]:
        """Hold `page`; return the batches to load now, in order (none, one, or two at a schema change)."""
        ready: list[pa.RecordBatch] = []
        if self._held and not page.schema.equals(self._held[0].schema):
            ready.append(self._release())
        self._held.append(page)
        self.held_rows += page.num_rows
        if self.held_rows >= self.rows:
            ready.append(self._release())
        return ready

    def take(self) -> pa.RecordBatch | None:
        """What is held, as one batch (None: nothing)."""
        return self._release() if self._held else None

    def _release(self) -> pa.RecordBatch:
        held, self._held, self.held_rows = self._held, [], 0
        return held[0] if len(held) == 1 else pa.concat_batches(held)
