"""Which part of a stream one sync reads: date windows, backsyncs and property selection.

A connection narrows what it reads with per-stream `start_date`/`end_date`, a connection-wide
`initial_window` (first sync of an incremental stream), `lookback`, a backsync's `--since` and the
selected properties. Each is passed to the source in the `ReadRequest`, which applies what it can
at the request (cheapest: the API never sends the rest); `RowFilter` then enforces the same window
and selection on whatever still arrives, so a connector that ignores a filter cannot land rows the
connection excluded.

A backsync re-reads from a date but must not move the saved cursor backwards, or the next
incremental sync would read everything after `--since` again (or worse, skip nothing but trust a
cursor that is older than the data). `StateGuard` keeps the saved checkpoint until the backsync's
own checkpoints have caught up with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.config.models import ConnectionConfig
from pipelines.engine.plan import StreamPlan


@dataclass(frozen=True)
class ReadWindow:
    """What one stream of one sync asks the source for."""

    state: Mapping[str, Any] | None
    """The checkpoint to resume from (None: read from `start`)."""
    start: date | None
    end: date | None
    lookback_seconds: float | None
    date_field: str | None
    """The column `start`/`end` apply to (the cursor field)."""
    backsync: bool = False


def read_window(plan: StreamPlan, config: ConnectionConfig, saved: Mapping[str, Any] | None,
                since: date | None, today: date | None = None) -> ReadWindow:
    """The window of one stream, from its YAML, the saved state and a backsync's `--since`."""
    sc = plan.config
    incremental = plan.sync_mode.incremental
    state = saved if incremental else None
    start = sc.start_date
    backsync = False
    if since is not None and incremental:
        # Overwrite and snapshot streams re-read everything anyway; narrowing them to `--since`
        # would drop the older rows at the swap.
        state, backsync = None, True
        start = max(start, since) if start else since
    elif incremental and state is None and config.initial_window:
        today = today or datetime.now(UTC).date()
        first = today - timedelta(seconds=config.initial_window)
        start = max(start, first) if start else first
    lookback = sc.lookback or config.lookback
    return ReadWindow(state=state, start=start, end=sc.end_date,
                      lookback_seconds=lookback if lookback else None,
                      date_field=plan.cursor_field or plan.stream.default_cursor, backsync=backsync)


class StateGuard:
    """Passes checkpoints through, except that a backsync never commits a cursor older than the saved one."""

    def __init__(self, saved: Mapping[str, Any] | None, active: bool) -> None:
        self.saved = saved
        self.active = active and saved is not None and saved.get("cursor") is not None
        self.caught_up = not self.active

    def __call__(self, state: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        if self.caught_up or state is None:
            return state
        assert self.saved is not None
        if cursor_at_least(state.get("cursor"), self.saved.get("cursor")):
            self.caught_up = True
            return state
        return self.saved


def cursor_at_least(value: Any, reference: Any) -> bool:
    """value >= reference for cursor values as sources store them (numbers, ISO timestamps, text)."""
    if value is None:
        return False
    a, b = _comparable(value), _comparable(reference)
    if type(a) is not type(b):
        a, b = str(value), str(reference)
    return bool(a >= b)


def _comparable(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return str(value)


class RowFilter:
    """Drops the rows of a transformed batch outside the stream's date window or property selection."""

    def __init__(self, plan: StreamPlan, window: ReadWindow, properties: frozenset[str] | None,
                 property_field: str | None) -> None:
        names = plan.table.schema.names
        self.date_field = window.date_field if window.date_field in names else None
        self.start = window.start if self.date_field else None
        self.end = window.end if self.date_field else None
        self.property_field = property_field if properties is not None and property_field in names else None
        self.allowed = pa.array(sorted(properties or ()), pa.string())
        self.active = self.start is not None or self.end is not None or self.property_field is not None

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if not self.active or batch.num_rows == 0:
            return batch
        keep: pa.Array | None = None
        if self.date_field is not None:
            day = _as_date(batch.column(self.date_field))
            if day is not None:
                if self.start is not None:
                    keep = _and(keep, pc.or_kleene(pc.is_null(day), pc.greater_equal(day, pa.scalar(self.start))))
                if self.end is not None:
                    keep = _and(keep, pc.or_kleene(pc.is_null(day), pc.less_equal(day, pa.scalar(self.end))))
        if self.property_field is not None:
            ids = pc.cast(batch.column(self.property_field), pa.string())
            keep = _and(keep, pc.is_in(ids, value_set=self.allowed))
        if keep is None:
            return batch
        return batch.filter(keep)


def _and(a: pa.Array | None, b: pa.Array) -> pa.Array:
    return b if a is None else pc.and_(a, b)


def _as_date(column: pa.Array) -> pa.Array | None:
    """The column as date32 (timestamps by their UTC day), or None for types a date can't come from."""
    kind = column.type
    if pa.types.is_date(kind):
        return pc.cast(column, pa.date32())
    if pa.types.is_timestamp(kind):
        # Dropping the zone keeps the stored UTC instant, so the day is the UTC day.
        return pc.cast(pc.cast(column, pa.timestamp(kind.unit)), pa.date32())
    return None
