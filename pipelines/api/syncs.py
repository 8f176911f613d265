"""`/v1/syncs/{id}`: poll a sync, backsync or check started over HTTP (or any sync in the warehouse)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from pipelines.api.auth import require
from pipelines.api.connections import JobsDep, WorkspaceDep
from pipelines.api.errors import ApiError
from pipelines.engine.sync_history import sync_history

router = APIRouter(prefix="/v1/syncs", tags=["syncs"])


@router.get("/{sync_id}", dependencies=[Depends(require("read"))])
def get_sync(sync_id: str, runner: JobsDep, ws: WorkspaceDep) -> dict[str, Any]:
    """A job of this server (running / succeeded / failed; a Dagster run's status read from its instance,
    `queued` while it waits), else a sync recorded in the warehouse."""
    job = runner.get(sync_id)
    if job is not None:
        return job.as_json()
    for conn in ws.connections.values():
        for entry in sync_history(conn, 200, conn.redactor):
            if entry["sync_id"] == sync_id:
                return {"id": sync_id, "connection": conn.name, "kind": "sync", **entry}
    raise ApiError(404, f"no sync with id {sync_id!r}")
