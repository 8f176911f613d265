"""A connection's syncs, one entry per sync: what `rooftop history` prints and the HTTP API serves.

Read from the destination's `_rooftop` schema, so a sync started from the CLI, Dagster or the API
looks the same. Errors pass through `redact` (the caller's redactor: it knows every secret in play).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pipelines.workspace.connection import LoadedConnection
from protocol.bookkeeping import SYNC_LOGS
from protocol.types import SyncRecord


def sync_history(conn: LoadedConnection, limit: int, redact: Callable[[str], str]) -> list[dict[str, Any]]:
    """One entry per sync, newest first: status, timing, rows, retries and errors over its streams."""
    with conn.make_destination() as destination:
        records = destination.recent_syncs(conn.name, limit=max(200, limit * 50))
        finished = {r["sync_id"]: json.loads(r["data"] or "{}") for r in
                    destination.read_bookkeeping(SYNC_LOGS, conn.name, where={"event": "sync_finished"}).to_pylist()}
    by_sync: dict[str, list[SyncRecord]] = {}
    for record in records:
        by_sync.setdefault(record.sync_id, []).append(record)
    history = []
    for sync_id, recs in list(by_sync.items())[:limit]:
        statuses = {r.status for r in recs}
        status = ("succeeded" if statuses == {"succeeded"} else "running" if "running" in statuses
                  else "interrupted" if "interrupted" in statuses
                  else "failed" if "succeeded" not in statuses else "partial")
        started = min(r.started_at for r in recs)
        ends = [r.finished_at for r in recs if r.finished_at is not None]
        summary = finished.get(sync_id, {})
        history.append({
            "sync_id": sync_id, "status": status, "started_at": started.isoformat(),
            "duration_seconds": round((max(ends) - started).total_seconds(), 3) if ends else None,
            "streams": len(recs), "rows": sum(r.rows_written for r in recs),
            "retries": summary.get("retries"), "requests": summary.get("requests"),
            "coercion_errors": sum(r.error_count for r in recs),
            "errors": [f"{r.stream}: {redact(r.error_message)}" for r in recs if r.error_message],
        })
    return history
