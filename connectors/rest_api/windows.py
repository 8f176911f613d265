"""Date-range windows: reading a stream one `[start, end)` window at a time, each window checkpointed.

Some APIs only answer for a bounded date range (Entrata's `fromDate`/`toDate`, at most a few months
at once), and reading years in one request would time out anyway. With `windows:` the stream is
walked from its start (the saved cursor minus lookback, else the stream's `start_date` at midnight
in the source's `timezone`, else `incremental.start`) up to the moment the sync started, `size` at a
time. Each window is sent as `start_param` / `end_param` and as `{window.start}` / `{window.end}`
placeholders, formatted with `format` (else `incremental.format`, else ISO 8601) in the source's
zone.

After each window an incremental read yields a checkpoint whose cursor is that window's end (ISO
UTC), so the state always names the end of the last window read completely: a sync that fails in
window 3 has windows 1 and 2 committed (as soon as the engine commits, see `commit_every_rows`) and
the next sync starts at window 3. Bounds are sent as they are: an API that reads both ends
inclusively reads the boundary instant again, never loses it (merged by `incremental_deduped`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import pyarrow as pa

from connectors.arrow import records_to_batch
from connectors.rest_api.config import StreamSpec, WindowsConfig
from connectors.rest_api.cursor_format import format_moment, parse_timestamp, utc_text
from protocol.errors import ConfigError
from protocol.types import ReadRequest, SourceItem, StateCheckpoint

Record = dict[str, Any]
Pages = Callable[[dict[str, Any], dict[str, Any]], Iterator[list[Record]]]
"""Reads the stream with these extra query parameters and these placeholder values."""
BATCH_ROWS = 2000


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    def values(self, config: WindowsConfig, fmt: str | None, tz: tzinfo) -> dict[str, str]:
        """The bounds as the API reads them: `{window.start}`, `{window.end}`."""
        fmt = config.format or fmt
        return {"window.start": format_moment(self.start, fmt, tz), "window.end": format_moment(self.end, fmt, tz)}

    def params(self, config: WindowsConfig, fmt: str | None, tz: tzinfo) -> dict[str, str]:
        values = self.values(config, fmt, tz)
        out = {}
        if config.start_param:
            out[config.start_param] = values["window.start"]
        if config.end_param:
            out[config.end_param] = values["window.end"]
        return out


def first_moment(spec: StreamSpec, request: ReadRequest, tz: tzinfo) -> datetime:
    """Where the walk starts (see the module doc); ConfigError when the stream gives no start."""
    inc = spec.incremental
    saved = (request.state or {}).get("cursor") if request.incremental else None
    if saved is not None:
        moment = parse_timestamp(saved, UTC, inc.format if inc else None)
        if moment is None:
            raise ConfigError(f"stream {spec.name!r}: the saved cursor {str(saved)[:40]!r} is not a time; windows "
                              "resume from a time (sync once with --full-refresh)")
        own = inc.lookback if inc is not None and inc.lookback is not None else 0.0
        return moment - timedelta(seconds=max(own, request.lookback_seconds or 0.0))
    if request.start_date is not None:
        day = request.start_date
        return datetime(day.year, day.month, day.day, tzinfo=tz)
    if inc is not None and inc.start is not None:
        moment = parse_timestamp(inc.start, tz, inc.format)
        if moment is not None:
            return moment
    raise ConfigError(f"stream {spec.name!r} is read in date windows and needs a first day: set `start_date` on "
                      "the stream in the connection file (or incremental.start in the source config)")


def walk(spec: StreamSpec, request: ReadRequest, tz: tzinfo, now: datetime) -> Iterator[Window]:
    """The windows of one read, oldest first, up to `now` (or the end of the stream's `end_date`)."""
    assert spec.windows is not None
    size = timedelta(seconds=spec.windows.size)
    # In the source's zone: Python adds a timedelta to an aware time on the wall clock, so 30 days
    # run midnight to midnight across a DST change (the bounds stay whole days).
    start = first_moment(spec, request, tz).astimezone(tz)
    stop = now
    if request.end_date is not None:
        day = request.end_date + timedelta(days=1)
        stop = min(stop, datetime(day.year, day.month, day.day, tzinfo=tz))
    while start < stop:
        end = min(start + size, stop)
        yield Window(start, end)
        start = end


def sample_window(spec: StreamSpec, tz: tzinfo, now: datetime) -> tuple[dict[str, str], dict[str, str]]:
    """(parameters, placeholder values) of the latest window, for sampling a schema; ({}, {}) without windows."""
    if spec.windows is None:
        return {}, {}
    # On the source's wall clock, as `walk` counts: across a DST change 30 days back is then the same
    # local hour, not an hour off (which near midnight was another day).
    end = now.astimezone(tz)
    window = Window(end - timedelta(seconds=spec.windows.size), end)
    fmt = spec.incremental.format if spec.incremental else None
    return window.params(spec.windows, fmt, tz), window.values(spec.windows, fmt, tz)


def read_windows(spec: StreamSpec, request: ReadRequest, pages: Pages, prepare: Callable[[list[Record]], None], *,
                 tz: tzinfo, now: datetime) -> Iterator[SourceItem]:
    """Read `spec` window by window: its batches, then (incremental) a checkpoint at the window's end.

    `prepare` sees every page before it is converted (schema widening).
    """
    assert spec.windows is not None
    schema: pa.Schema = request.stream.schema
    fmt = spec.incremental.format if spec.incremental else None
    for window in walk(spec, request, tz, now):
        values = window.values(spec.windows, fmt, tz)
        buffer: list[Record] = []
        for records in pages(window.params(spec.windows, fmt, tz), values):
            if not records:
                continue
            prepare(records)
            buffer.extend(records)
            if len(buffer) >= BATCH_ROWS:
                yield records_to_batch(buffer, schema)
                buffer = []
        if buffer:
            yield records_to_batch(buffer, schema)
        if request.incremental:
            yield StateCheckpoint({"cursor": utc_text(window.end)})
