"""Logging setup shared by the CLI and tests: human text or one JSON object per line.

JSON lines carry the `event` fields the engine attaches (sync_started, commit_started,
checkpoint_committed, …) so other programs, including our crash tests, can follow a sync as it
happens. Every handler masks the workspace's secrets.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from pipelines.redact import RedactingFilter, Redactor

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(payload, default=str).decode()


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
    root = logging.getLogger("rooftop")
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = FlushingHandler(sys.stderr)
    handler.addFilter(RedactingFilter(redactor))
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
