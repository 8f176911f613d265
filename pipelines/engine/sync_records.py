"""What the warehouse recorded about syncs, read back: one sync's structured log and a connection's diffs.

`rooftop logs` / `rooftop diffs` and the HTTP API (`GET /v1/syncs/{id}/logs`, `.../diffs`) read
through here, so both front-ends find, order, filter and mask the same records.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from pipelines.workspace.connection import LoadedConnection
from protocol.bookkeeping import DIFFS, SYNC_LOGS
from protocol.errors import ConfigError

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


class SyncLogNotFound(ConfigError):
    """No connection's warehouse holds a log of that sync id (the API answers 404)."""


def find_sync_log(sync_id: str, candidates: Iterable[LoadedConnection],
                  where: str = "any connection of this workspace") -> tuple[LoadedConnection, list[dict[str, Any]]]:
    """The connection whose warehouse holds `sync_id`'s log, and the log's rows in order."""
    for conn in candidates:
        with conn.make_destination() as destination:
            rows = destination.read_bookkeeping(SYNC_LOGS, conn.name, where={"sync_id": sync_id}).to_pylist()
        if rows:
            return conn, sorted(rows, key=lambda r: r["seq"])
    raise SyncLogNotFound(f"no log of sync {sync_id!r} in the warehouse of {where} (see `rooftop history CONN`; "
                          "logs older than the connection's retention.history are pruned)")


def filter_log(rows: list[dict[str, Any]], level: str, stream: str | None) -> list[dict[str, Any]]:
    """The rows at `level` or above (debug | info | warning | error), of `stream` if given."""
    if level not in LEVELS:
        raise ConfigError(f"level {level!r}: use one of {', '.join(LEVELS)}")
    return [r for r in rows if LEVELS.get(r["level"].lower(), 0) >= LEVELS[level]
            and (stream is None or r["stream"] == stream)]


def log_record_json(row: dict[str, Any], redact: Callable[[str], str]) -> dict[str, Any]:
    """One log row as JSON-ready data, masked: `data` (an HTTP error's request and response) parsed."""
    masked: dict[str, Any] = json.loads(redact(json.dumps(
        {**row, "at": row["at"].isoformat(), "data": json.loads(row["data"]) if row["data"] else None},
        default=str)))
    return masked


def read_diffs(conn: LoadedConnection, stream: str | None = None, sync_id: str | None = None) -> list[dict[str, Any]]:
    """Every retained diff entry of the connection, newest first: sync, stream, change, key, fields."""
    where = {k: v for k, v in (("stream", stream), ("sync_id", sync_id)) if v is not None}
    with conn.make_destination() as destination:
        rows = destination.read_bookkeeping(DIFFS, conn.name, where=where or None).to_pylist()
    rows.sort(key=lambda r: (r["recorded_at"], r["stream"], r["key"]), reverse=True)
    return [{"sync_id": r["sync_id"], "stream": r["stream"], "change": r["change"],
             "key": json.loads(r["key"]), "fields": json.loads(r["fields"]),
             "recorded_at": r["recorded_at"].isoformat()} for r in rows]


def count_diffs(entries: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, int]]:
    """(sync, stream) → inserted / updated / deleted counts, in the entries' order."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for e in entries:
        per = counts.setdefault((e["sync_id"], e["stream"]), {"inserted": 0, "updated": 0, "deleted": 0})
        per[e["change"]] = per.get(e["change"], 0) + 1
    return counts
