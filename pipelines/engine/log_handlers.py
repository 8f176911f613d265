"""Logging setup shared by the CLI and tests: human text or one JSON object per line.

JSON lines carry the `event` fields the engine attaches (sync_started, commit_started,
checkpoint_committed, …) so other programs, including our crash tests, can follow a sync as it
happens. Every handler masks the workspace's secrets, in the message and in the event's fields.

While a sync's structured log is being captured (`pipelines.engine.sync_log`), the `rooftop` logger must
create DEBUG records (every HTTP request is one) although the console shows only WARNING and up.
`hold_debug` does that without changing what anyone sees: the logger goes down to DEBUG and each
handler that was there goes *up* to the level the logger had, so the console's threshold moves
from the logger to the handler. `configure` cooperates with a hold in progress.
"""

from __future__ import annotations

import logging
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from pipelines.config.redact import RedactingFilter, Redactor

ROOT = "rooftop"
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a caller attached with `extra=` (everything that is not a standard LogRecord attribute)."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update(extra_fields(record))
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(payload, default=str).decode()


class RedactingFormatter(logging.Formatter):
    """Masks secrets in the whole formatted line: event fields and tracebacks, not only the message.

    Without `tracebacks` the record's exception is left out: the console promises one clear line
    per error unless `--debug`. The record itself keeps it for every other handler (the sync log,
    Dagster's event log), so it is formatted from a copy.
    """

    def __init__(self, inner: logging.Formatter, redactor: Redactor, tracebacks: bool = True) -> None:
        super().__init__()
        self.inner = inner
        self.redactor = redactor
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        if not self.tracebacks and (record.exc_info or record.exc_text or record.stack_info):
            record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None,
                                            "stack_info": None})
        return self.redactor(self.inner.format(record))


class FlushingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the *current* sys.stderr and flushes every line.

    A watcher must see an event before the work that follows it; and resolving stderr per record
    keeps the handler valid when the program (or a test runner) swaps stderr after configuring.
    """

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)
        self.flush()


def configure(level: int, fmt: Literal["text", "json"], redactor: Redactor) -> None:
    """Log `level` and up from the `rooftop` loggers to stderr, as text or JSON lines; tracebacks
    only at DEBUG (the CLI's `--debug`)."""
    handler = FlushingHandler(sys.stderr)
    handler.addFilter(RedactingFilter(redactor))
    inner = JsonFormatter() if fmt == "json" else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(RedactingFormatter(inner, redactor, tracebacks=level <= logging.DEBUG))
    # The threshold is on the handler too: a capture lowering the logger to DEBUG leaves it alone.
    handler.setLevel(level)
    with _hold.lock:
        root = logging.getLogger(ROOT)
        for old in list(root.handlers):
            if not _hold.own(old):
                root.removeHandler(old)
        root.addHandler(handler)
        if _hold.count:
            _hold.reconfigured(root, level)
        else:
            root.setLevel(level)
            root.propagate = False


# --- holding the logger at DEBUG ----------------------------------------------------------------


class _Propagate(logging.Handler):
    """Hands `rooftop` records at or above the old threshold to the ancestors' handlers.

    While the logger is at DEBUG, letting it propagate would show DEBUG records on handlers of the
    root logger (the application's, a test runner's). Propagation is switched off during a hold and
    done here instead, for the records that would have passed before, as `Logger.callHandlers` does.
    """

    def __init__(self, logger: logging.Logger, threshold: int) -> None:
        super().__init__(threshold)
        self.logger = logger

    def emit(self, record: logging.LogRecord) -> None:
        found = 0
        parent = self.logger.parent
        while parent is not None:
            for handler in parent.handlers:
                found += 1
                if record.levelno >= handler.level:
                    handler.handle(record)
            if not parent.propagate:
                break
            parent = parent.parent
        if not found and logging.lastResort is not None and record.levelno >= logging.lastResort.level:
            logging.lastResort.handle(record)


@dataclass
class _Hold:
    lock: threading.Lock = field(default_factory=threading.Lock)
    count: int = 0
    holders: dict[logging.Handler, int] = field(default_factory=dict)
    """Handlers added by `hold_debug` and how many holds each has; `configure` keeps them."""
    stand_in: _Propagate | None = None
    level: int = logging.NOTSET
    propagate: bool = True
    handler_levels: dict[logging.Handler, int] = field(default_factory=dict)

    def own(self, handler: logging.Handler) -> bool:
        return handler in self.holders or handler is self.stand_in

    def start(self, root: logging.Logger) -> None:
        self.level, self.propagate = root.level, root.propagate
        threshold = root.getEffectiveLevel()
        self.handler_levels = {h: h.level for h in root.handlers}
        for handler in root.handlers:
            handler.setLevel(max(handler.level, threshold))
        if root.propagate:
            self.stand_in = _Propagate(root, threshold)
            root.addHandler(self.stand_in)
            root.propagate = False
        root.setLevel(logging.DEBUG)

    def stop(self, root: logging.Logger) -> None:
        for handler, level in self.handler_levels.items():
            handler.setLevel(level)
        self._drop_stand_in(root)
        root.setLevel(self.level)
        root.propagate = self.propagate
        self.handler_levels = {}

    def reconfigured(self, root: logging.Logger, level: int) -> None:
        """`configure` ran during a hold: what to restore at the end is now its setup."""
        self.level, self.propagate = level, False
        self.handler_levels = {h: h.level for h in root.handlers if not self.own(h)}
        self._drop_stand_in(root)

    def _drop_stand_in(self, root: logging.Logger) -> None:
        if self.stand_in is not None:
            root.removeHandler(self.stand_in)
            self.stand_in = None


_hold = _Hold()


def hold_debug(handler: logging.Handler) -> None:
    """Add `handler` to the `rooftop` logger and let it receive DEBUG records; other output is unchanged.

    Holds nest and may overlap across threads; the logger's own setup comes back when the last
    one is released. Pair every call with `release_debug(handler)`.
    """
    with _hold.lock:
        root = logging.getLogger(ROOT)
        if _hold.count == 0:
            _hold.start(root)
        _hold.count += 1
        if handler not in _hold.holders:
            root.addHandler(handler)
        _hold.holders[handler] = _hold.holders.get(handler, 0) + 1


def release_debug(handler: logging.Handler) -> None:
    """End one `hold_debug(handler)`; `handler` leaves the logger with its last hold."""
    with _hold.lock:
        if _hold.holders.get(handler, 0) == 0:
            raise RuntimeError("release_debug without a matching hold_debug")
        root = logging.getLogger(ROOT)
        _hold.holders[handler] -= 1
        if _hold.holders[handler] == 0:
            del _hold.holders[handler]
            root.removeHandler(handler)
        _hold.count -= 1
        if _hold.count == 0:
            _hold.stop(root)
