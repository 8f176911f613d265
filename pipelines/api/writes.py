"""Write-back over HTTP: `POST /v1/{resource}`, `PUT /v1/{resource}/{id}` and `/v1/writes`.

A thin layer over `pipelines.writes`: a write is validated against the target system and recorded
`queued` before the 202 (a refused field is a 400 naming it and the system, and nothing is sent),
then sent by the `WriteWorker` under the connection's HTTP client (its rate limit and retries).
Callers poll `GET /v1/writes/{id}`. At start the router resolves writes a killed process left
`running` (`needs_check`, never re-sent) and sends those it left `queued` (never sent, so safe to
send). Included last by `app.py`: its `/v1/{resource}` paths would otherwise shadow the fixed ones.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Query, Request

from pipelines.api.auth import require
from pipelines.api.connections import WorkspaceDep, connection
from pipelines.api.errors import ApiError
from pipelines.workspace.connection import LoadedConnection
from pipelines.workspace.loading import Workspace, load_workspace
from pipelines.writes import (
    STATUSES,
    PendingWrite,
    RecordNotFound,
    WriteConflict,
    WriteNotFound,
    WriteWorker,
    find_write,
    list_writes,
    prepare_write,
    queued_writes,
    recover_interrupted,
    resolve_record,
    resolve_target,
    retry_write,
    writable_connection,
    write_log,
    write_state,
)
from protocol.unified import ID_SEPARATOR

SHUTDOWN_WAIT_SECONDS = 30.0
log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    worker = WriteWorker()
    app.state.write_worker = worker
    for conn in load_workspace(app.state.root).connections.values():
        if not writable_connection(conn):
            continue  # never written to: its warehouse holds no writes
        try:
            changed = recover_interrupted(conn)
            queued = queued_writes(conn)
        except Exception as exc:  # noqa: BLE001 - an unreachable warehouse must not keep the API down
            log.warning("writes of %s not checked for interruptions: %s", conn.name,
                        conn.redactor(f"{type(exc).__name__}: {exc}"))
            continue
        if changed:
            log.warning("writes of %s interrupted while sending, marked needs_check: %s", conn.name,
                        ", ".join(changed))
        if queued:  # never sent: safe to send now, in the order they were submitted
            log.warning("writes of %s queued before a stop, sent now: %s", conn.name,
                        ", ".join(p.result.write_id for p in queued))
        for pending in queued:
            worker.start(conn, pending)
    yield
    worker.join(SHUTDOWN_WAIT_SECONDS)


router = APIRouter(prefix="/v1", tags=["writes"], lifespan=lifespan)
Payload = Annotated[dict[str, Any], Body(description="The record's fields, as the target system names them.")]
IgnoreUnknown = Annotated[bool, Query(description="Strip fields the target system does not accept, and list them.")]


def _queue(request: Request, conn: LoadedConnection, pending: PendingWrite) -> dict[str, Any]:
    worker: WriteWorker = request.app.state.write_worker
    worker.start(conn, pending)
    result = pending.result
    return {"write_id": result.write_id, "status": "queued", "connection": conn.name,
            "resource": pending.write.resource, "operation": pending.write.operation.value,
            "record_id": result.record_id, "ignored_fields": result.ignored_fields}


def _found(ws: Workspace, write_id: str) -> tuple[LoadedConnection, list[dict[str, Any]]]:
    try:
        return find_write(ws, write_id)
    except WriteNotFound as exc:
        raise ApiError(404, str(exc)) from None


@router.get("/writes", dependencies=[Depends(require("read"))])
def list_all_writes(ws: WorkspaceDep, connection_name: Annotated[str | None, Query(alias="connection")] = None,
                    status: Annotated[str | None, Query(description=f"One of {', '.join(STATUSES)}.")] = None,
                    since: Annotated[datetime | None, Query(description="Submitted at or after (ISO 8601).")]
                    = None) -> dict[str, Any]:
    """Writes in their newest state, oldest first."""
    if status is not None and status not in STATUSES:
        raise ApiError(400, f"status {status!r}: use one of {', '.join(STATUSES)}")
    conns = [connection(connection_name, ws)] if connection_name else list(ws.connections.values())
    found = []
    for conn in conns:
        for row in list_writes(conn, status):
            state = write_state([row])
            state["submitted_at"] = row["submitted_at"].isoformat()
            if since is None or row["submitted_at"] >= _aware(since):
                found.append(state)
    return {"writes": found}


@router.get("/writes/{write_id}", dependencies=[Depends(require("read"))])
def get_write(write_id: str, ws: WorkspaceDep) -> dict[str, Any]:
    """queued / running / succeeded / failed / needs_check, attempts, error."""
    return write_state(_found(ws, write_id)[1])


@router.get("/writes/{write_id}/log", dependencies=[Depends(require("read"))])
def get_write_log(write_id: str, ws: WorkspaceDep) -> dict[str, Any]:
    """Each status change with the request sent and the source's response (secrets masked)."""
    rows = _found(ws, write_id)[1]
    return {**write_state(rows), "log": write_log(rows)}


@router.post("/writes/{write_id}/retry", status_code=202, dependencies=[Depends(require("write"))])
def retry(write_id: str, ws: WorkspaceDep, request: Request) -> dict[str, Any]:
    """Send a failed or needs_check write again (same id, same payload); 409 in any other state."""
    conn, rows = _found(ws, write_id)
    try:
        return _queue(request, conn, retry_write(conn, rows))
    except WriteConflict as exc:
        raise ApiError(409, str(exc)) from None


@router.post("/{resource}", status_code=202, dependencies=[Depends(require("write"))])
def create_record(resource: str, payload: Payload, ws: WorkspaceDep, request: Request,
                  connection_name: Annotated[str | None, Query(alias="connection")] = None,
                  ignore_unknown_fields: IgnoreUnknown = False) -> dict[str, Any]:
    """Create a record in the target connection's system (`?connection=` or `"connection"` in the body)."""
    fields = dict(payload)
    in_body = fields.pop("connection", None)
    if in_body is not None and not isinstance(in_body, str):
        raise ApiError(400, "connection: must be a connection's name")
    if in_body and connection_name and in_body != connection_name:
        raise ApiError(400, f"connection {in_body!r} in the body and {connection_name!r} in the query differ")
    target = connection_name or in_body
    if target is None:
        raise ApiError(400, "a create needs the target connection: ?connection=<name> or \"connection\" in the body")
    conn, _ = resolve_target(ws, None, connection(target, ws).name)
    return _queue(request, conn, prepare_write(conn, resource, None, fields, ignore_unknown_fields))


@router.put("/{resource}/{record_id}", status_code=202, dependencies=[Depends(require("write"))])
def update_record(resource: str, record_id: str, payload: Payload, ws: WorkspaceDep, request: Request,
                  connection_name: Annotated[str | None, Query(alias="connection")] = None,
                  ignore_unknown_fields: IgnoreUnknown = False) -> dict[str, Any]:
    """Update a record: Rooftop's id `<system>:<connection>:<id>`, or a vendor id: with `?connection=`, or
    alone (looked up in the warehouses: 404 if no connection holds it, 409 naming them if several do)."""
    named = record_id.split(ID_SEPARATOR)[1] if record_id.count(ID_SEPARATOR) >= 2 else None
    for name in (connection_name, named):
        if name is not None:
            connection(name, ws)  # 404 for an unknown one
    try:
        conn, vendor_id = resolve_record(ws, resource, record_id, connection_name)
    except WriteConflict as exc:
        raise ApiError(409, str(exc)) from None
    except RecordNotFound as exc:
        raise ApiError(404, str(exc)) from None
    return _queue(request, conn, prepare_write(conn, resource, vendor_id, payload, ignore_unknown_fields))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.astimezone()
