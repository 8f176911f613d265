"""The operator's read-outs over HTTP: a sync's log, a connection's diffs, properties, enum maps, rate limits.

Each one reads through the same code as its CLI command (`rooftop logs`, `diffs`, `properties`), in
`pipelines.engine.sync_records` and `pipelines.ops.properties`, so the two front-ends cannot drift.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from connectors.unified.source import declared_mapping
from pipelines.api.auth import require
from pipelines.api.connections import ConnectionDep, WorkspaceDep, summary
from pipelines.api.errors import ApiError
from pipelines.engine.property_selection import KnownProperty
from pipelines.engine.sync_history import sync_history
from pipelines.engine.sync_records import (
    SyncLogNotFound,
    count_diffs,
    filter_log,
    find_sync_log,
    log_record_json,
    read_diffs,
)
from pipelines.ops.properties import change_properties, load_properties, property_json
from pipelines.workspace.connection import LoadedConnection

router = APIRouter(tags=["operations"])

RATE_LIMIT_EVENTS = ("rate_limit_budget_spent", "rate_limit_wait")
"""What the sync log records when the source's headers (or our own limiter) held requests back."""


class PropertiesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enable: list[str | int] = Field(default_factory=list, description="Ids to sync; `pending` = every pending one.")
    disable: list[str | int] = Field(default_factory=list, description="Ids never to sync.")


@router.get("/v1/syncs/{sync_id}/logs", dependencies=[Depends(require("read"))])
def get_sync_log(sync_id: str, ws: WorkspaceDep, level: str = "debug", stream: str | None = None) -> dict[str, Any]:
    """The structured log of one sync (requests, retries, waits, failures with the masked request/response)."""
    try:
        conn, rows = find_sync_log(sync_id, ws.connections.values())
    except SyncLogNotFound as exc:
        raise ApiError(404, str(exc)) from exc
    return {"sync_id": sync_id, "connection": conn.name,
            "records": [log_record_json(r, conn.redactor) for r in filter_log(rows, level, stream)]}


@router.get("/v1/connections/{name}/diffs", dependencies=[Depends(require("read"))])
def get_diffs(conn: ConnectionDep, stream: str | None = None, sync: str | None = None,
              limit: Annotated[int, Query(ge=1, le=10_000)] = 200) -> dict[str, Any]:
    """Which primary keys each sync inserted, updated (with the changed fields) or deleted, newest first."""
    entries = read_diffs(conn, stream, sync)
    return {"name": conn.name, "total": len(entries),
            "counts": [{"sync_id": sync_id, "stream": stream_name, **per}
                       for (sync_id, stream_name), per in count_diffs(entries).items()],
            "diffs": entries[:limit]}


def _properties_json(conn: LoadedConnection, known: list[KnownProperty]) -> dict[str, Any]:
    selection = conn.config.properties
    return {"name": conn.name, "new_properties": selection.new_properties if selection is not None else None,
            "properties": [property_json(p) for p in known]}


@router.get("/v1/connections/{name}/properties", dependencies=[Depends(require("read"))])
def get_properties(conn: ConnectionDep, refresh: bool = False) -> dict[str, Any]:
    """Every property seen (status, first-seen time); `?refresh=true` asks the source first, without syncing."""
    return _properties_json(conn, load_properties(conn, refresh))


@router.put("/v1/connections/{name}/properties", dependencies=[Depends(require("write"))])
def put_properties(body: PropertiesRequest, conn: ConnectionDep) -> dict[str, Any]:
    """Enable / disable properties in the connection file (takes effect at the next sync)."""
    change = change_properties(conn, load_properties(conn), [str(i) for i in body.enable],
                               [str(i) for i in body.disable])
    if change is None:
        raise ApiError(400, "nothing to change: send enable and/or disable, lists of property ids")
    return {**_properties_json(change.connection, change.known), "enabled": change.enabled,
            "disabled": change.disabled, "unseen": change.unseen}


@router.get("/v1/connections/{name}/enum-maps", dependencies=[Depends(require("read"))])
def get_enum_maps(conn: ConnectionDep) -> dict[str, Any]:
    """The connection's enum maps per stream; for `model: unified`, the vendor's default normalizations too."""
    own = {sc.name: {field: m.model_dump(mode="json") for field, m in sc.enum_maps.items()}
           for sc in conn.config.streams or [] if sc.enum_maps}
    vendor: dict[str, Any] | None = None
    if conn.config.model == "unified":
        mapping = declared_mapping(conn.source_class)
        vendor = {table: {field: {"values": dict(enum.values), "default": enum.default}
                          for field, enum in tm.enums.items()}
                  for table, tm in (mapping.tables.items() if mapping is not None else ()) if tm.enums}
    return {"name": conn.name, "model": conn.config.model, "enum_maps": own, "vendor_defaults": vendor}


@router.get("/v1/connections/{name}/rate-limits", dependencies=[Depends(require("read"))])
def get_rate_limits(conn: ConnectionDep) -> dict[str, Any]:
    """The configured `rate_limit`; of the latest sync, what the source last reported and the rate-limit events."""
    history = sync_history(conn, 1, conn.redactor)
    last: dict[str, Any] | None = None
    if history:
        sync_id = history[0]["sync_id"]
        try:
            _, rows = find_sync_log(sync_id, [conn])
        except SyncLogNotFound:
            rows = []
        events = [log_record_json(r, conn.redactor) for r in rows if r["event"] in RATE_LIMIT_EVENTS]
        last = {"sync_id": sync_id, "requests": history[0]["requests"], "retries": history[0]["retries"],
                "source_reported": _last_reported(rows, conn),
                "events": [{"at": e["at"], "event": e["event"], "stream": e["stream"], "message": e["message"],
                            **(e["data"] or {})} for e in events]}
    return {"name": conn.name, "rate_limit": summary(conn)["rate_limit"],
            "max_concurrency": conn.config.max_concurrency, "last_sync": last}


def _last_reported(rows: list[dict[str, Any]], conn: LoadedConnection) -> dict[str, Any] | None:
    """The last `http_request` whose response carried the source's rate-limit headers (remaining, reset)."""
    for row in reversed(rows):
        # A substring test on the stored JSON skips parsing the (many) requests that carried no such header.
        if row["event"] != "http_request" or "rate_limit_remaining" not in (row["data"] or ""):
            continue
        record = log_record_json(row, conn.redactor)
        data = record["data"]
        return {"at": record["at"], "stream": record["stream"], "remaining": data["rate_limit_remaining"],
                "reset": data.get("rate_limit_reset"), "reset_at": data.get("rate_limit_reset_at")}
    return None
