"""An incremental stream whose records never carry their cursor fails, instead of duplicating forever.

Some APIs filter on a date server-side but return no such field in the records (Buildium's
`lastupdatedfrom`). The cursor field is then in the catalog's schema but null in every record: the
source saves no cursor, and every sync reads, and `incremental_append` appends, the same records
again. `CursorCheck` watches one stream's read in the engine and stops it before its first commit,
so nothing of that stream is committed and its state does not move.

What counts as a cursor: a non-null value in the cursor column of any record, or a non-null
`cursor` in any checkpoint the source emits (a source that keeps a request-time watermark has
records without the field but checkpoints with a cursor: that is fine). Records with a null cursor
next to records with one are loaded as usual: the saved cursor comes from the others. A read of
zero records passes: an incremental sync with nothing new is normal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from protocol.errors import ConfigError

if TYPE_CHECKING:
    from pipelines.engine.plan import StreamPlan


class CursorCheck:
    def __init__(self, plan: StreamPlan) -> None:
        self.plan = plan
        self.field = plan.cursor_field if plan.sync_mode.incremental else None
        self.records = 0
        self.seen = self.field is None  # nothing to check for full refreshes

    def rows(self, batch: pa.RecordBatch) -> None:
        if self.seen or self.field is None:
            return
        self.records += batch.num_rows
        index = batch.schema.get_field_index(self.field)
        if index >= 0 and batch.column(index).null_count < batch.num_rows:
            self.seen = True

    def checkpoint(self, state: Mapping[str, Any]) -> None:
        if not self.seen and state.get("cursor") is not None:
            self.seen = True

    def before_commit(self) -> None:
        """Raise when records were read and none of them, nor any checkpoint, carried a cursor."""
        if self.seen or not self.records:
            return
        plan = self.plan
        raise ConfigError(
            f"stream {plan.name!r} ({plan.sync_mode.value}): none of the {self.records:,} records read has a value "
            f"in its cursor field {self.field!r}, so no cursor can be saved and every sync would read "
            f"{'and append ' if plan.sync_mode.value == 'incremental_append' else ''}the same records again; "
            "nothing of this stream was committed. Set cursor_field to a field the records carry, use a "
            "request-time watermark if the source offers one, or sync the stream with full_refresh_overwrite")
