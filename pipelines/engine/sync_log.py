"""The structured log of one sync, captured as it happens for `_rooftop.sync_logs` (`rooftop logs`).

A sync's records come from several threads (one per stream) and several loggers (`rooftop.engine`,
`rooftop.http`, connectors' own), while other work in the same process logs too: a second sync,
an in-process sandbox server answering the requests. What belongs to a sync is decided by a
context variable, not by thread or logger: `SyncLogCapture` sets it, and the engine runs each
stream through `capture.wrap(fn)`, which carries the caller's context into the worker thread. A
record logged outside that context is not this sync's, whichever thread logs it.

Capturing needs DEBUG records (each HTTP request is one) that the console does not show; see
`pipelines.engine.log_handlers.hold_debug`. What is stored is redacted with the connection's secrets, and bounded:
a runaway sync keeps its first and last records and says how many were dropped in between.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections import Counter, deque
from collections.abc import Callable
from types import TracebackType
from typing import Any, NamedTuple, ParamSpec, Self, TypeVar

import orjson
import pyarrow as pa

from pipelines.config.redact import Redactor
from pipelines.engine.log_handlers import extra_fields, hold_debug, release_debug
from protocol.bookkeeping import SYNC_LOGS

P = ParamSpec("P")
R = TypeVar("R")

COUNTED = ("http_request", "http_retry", "rate_limit_wait", "http_error")
"""Events `counts()` reports for the sync history."""
TAIL_ROWS = 1000
"""Rows kept from the end of a truncated log: how the sync ended matters most after how it started."""
_COLUMNS = ("event", "stream")
"""Extra fields stored in their own columns rather than in `data`."""

_current: contextvars.ContextVar[SyncLogCapture | None] = contextvars.ContextVar("rooftop_sync_log", default=None)


class _Row(NamedTuple):
    seq: int
    at_us: int
    level: str
    event: str | None
    stream: str | None
    message: str
    data: str | None


class _Dispatch(logging.Handler):
    """The one handler on the `rooftop` logger that hands each record to the capture of its context."""

    def handle(self, record: logging.LogRecord) -> bool:
        # Without the handler-wide lock: every stream of every sync passes here, and each capture
        # locks only its own buffers.
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        capture = _current.get()
        if capture is not None:
            capture.add(record)


_DISPATCH = _Dispatch(logging.NOTSET)
_FORMATTER = logging.Formatter()


class SyncLogCapture:
    """`with SyncLogCapture(conn, sync_id, redactor) as capture:` records that sync's log.

    Only records logged in this context are captured: in the `with` block's thread, and in threads
    that run their work through `capture.wrap(fn)` / `capture.run_in_context(fn, ...)`.
    """

    def __init__(self, connection: str, sync_id: str, redactor: Redactor, max_rows: int = 50_000) -> None:
        if max_rows < 2:
            raise ValueError(f"max_rows must be at least 2, got {max_rows}")
        self.connection = connection
        self.sync_id = sync_id
        self.redactor = redactor
        self.max_rows = max_rows
        # Small limits (tests) keep half at each end; the real one keeps the last TAIL_ROWS.
        tail = min(TAIL_ROWS, max_rows // 2)
        self._head_size = max_rows - tail
        self._head: list[_Row] = []
        self._tail: deque[_Row] = deque(maxlen=tail)
        self._dropped = 0
        self._first_dropped: _Row | None = None
        self._seq = 0
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._open = False
        self._token: contextvars.Token[SyncLogCapture | None] | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        if self._token is not None:
            raise RuntimeError("a SyncLogCapture can be entered only once")
        hold_debug(_DISPATCH)
        self._open = True
        self._token = _current.set(self)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # Closed first: a worker still holding this context (a stream that outlived the sync
        # because its pool was abandoned) must not add to a log that may already be stored.
        self._open = False
        if self._token is not None:
            _current.reset(self._token)
        release_debug(_DISPATCH)

    def wrap(self, fn: Callable[P, R]) -> Callable[P, R]:
        """`fn`, to be called in any thread, logging on behalf of this sync (with the caller's context).

        Each call runs in its own copy of the context taken now: concurrent calls (a thread pool's
        workers) may not share one `contextvars.Context`.
        """
        parent = contextvars.copy_context()

        def in_context(*args: P.args, **kwargs: P.kwargs) -> R:
            return parent.copy().run(lambda: self._call(fn, *args, **kwargs))

        return in_context

    def run_in_context(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        return self.wrap(fn)(*args, **kwargs)

    def _call(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        _current.set(self)  # in case `wrap` was called outside the `with` block
        return fn(*args, **kwargs)

    # --- recording -------------------------------------------------------------------------------

    def add(self, record: logging.LogRecord) -> None:
        if not self._open:
            return
        row = self._row(record)
        with self._lock:
            self._seq += 1
            row = row._replace(seq=self._seq)
            if row.event in COUNTED:
                self._counts[row.event] += 1
            if len(self._head) < self._head_size:
                self._head.append(row)
                return
            if len(self._tail) == self._tail.maxlen:
                evicted = self._tail[0]
                self._dropped += 1
                if self._first_dropped is None:
                    self._first_dropped = evicted
            self._tail.append(row)

    @staticmethod
    def _row(record: logging.LogRecord) -> _Row:
        """The record as stored, rendered now (its arguments may change later); redacted on `rows()`."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError, KeyError):  # a bad format string must not lose the record
            message = f"{record.msg!r} % {record.args!r}"
        extra = extra_fields(record)
        event, stream = (extra.pop(name, None) for name in _COLUMNS)
        if record.exc_info:
            extra["exception"] = record.exc_text or _FORMATTER.formatException(record.exc_info)
        if record.stack_info:
            extra["stack"] = record.stack_info
        return _Row(0, int(record.created * 1_000_000), record.levelname,
                    None if event is None else str(event), None if stream is None else str(stream),
                    message, _json(extra) if extra else None)

    # --- results ---------------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """How many `http_request`, `http_retry`, `rate_limit_wait` and `http_error` events the sync logged.

        Counted over every record, truncated ones included.
        """
        with self._lock:
            return {event: self._counts[event] for event in COUNTED}

    def rows(self) -> pa.Table:
        """The captured log in `protocol.bookkeeping.SYNC_LOGS.schema`, secrets masked, `seq` increasing."""
        with self._lock:
            rows = [*self._head, *self._truncation(), *self._tail]
        redact = self.redactor
        columns: dict[str, list[Any]] = {
            "connection": [self.connection] * len(rows),
            "sync_id": [self.sync_id] * len(rows),
            "seq": [r.seq for r in rows],
            "at": [r.at_us for r in rows],
            "level": [r.level for r in rows],
            "event": [r.event for r in rows],
            "stream": [r.stream for r in rows],
            "message": [redact(r.message) for r in rows],
            "data": [None if r.data is None else redact(r.data) for r in rows],
        }
        schema = SYNC_LOGS.schema
        return pa.Table.from_arrays([pa.array(columns[f.name], type=f.type) for f in schema], schema=schema)

    def _truncation(self) -> list[_Row]:
        """The `log_truncated` row standing for the dropped records, in the place of the first of them."""
        first = self._first_dropped
        if first is None:
            return []
        data = {"dropped": self._dropped, "kept_first": len(self._head), "kept_last": len(self._tail)}
        return [_Row(first.seq, first.at_us, "WARNING", "log_truncated", None,
                     f"{self._dropped} log records dropped: this sync logged more than {self.max_rows}",
                     _json(data))]


def _json(fields: dict[str, Any]) -> str:
    try:
        return orjson.dumps(fields, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:  # e.g. a nested value orjson cannot walk: keep the fields as text
        return orjson.dumps({k: str(v) for k, v in fields.items()}).decode()
