"""`/v1/connections`: list, read, clone, update, archive, and start syncs, backsyncs and checks.

Each request loads the workspace afresh, so an edit made by the CLI or by hand is seen at once;
edits go through `pipelines.ops` (comment-preserving, validated before the file is replaced).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipelines.api.auth import require
from pipelines.api.errors import ApiError
from pipelines.api.jobs import JobRunner
from pipelines.config.models import RateLimit
from pipelines.config.schedules import next_fire_times, run_schedules, schedule_names
from pipelines.engine.sync_history import sync_history
from pipelines.ops.clone import clone_connection
from pipelines.ops.connection_settings import (
    NameTaken,
    archive_connection,
    create_connection,
    refuse_manual_sync,
    update_settings,
)
from pipelines.workspace.connection import LoadedConnection
from pipelines.workspace.loading import Workspace, load_workspace
from protocol.errors import RooftopError

router = APIRouter(prefix="/v1/connections", tags=["connections"])


class CloneRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="The new connection's name (lower-case letters, digits, underscores).")
    based_on: str = Field(description="The connection to clone: same connector and environment, "
                                      "credentials as placeholders.")
    namespace: str | None = None
    prefix: str | None = None


class UpdateRequest(BaseModel):
    """Only the keys present are changed; `null` removes a key (its default applies)."""

    model_config = ConfigDict(extra="forbid")
    active: bool | None = None
    schedule: str | dict[str, Any] | list[dict[str, Any]] | None = Field(
        default=None, description="As the YAML `schedule:` key (a list for several schedules).")
    rate_limit: RateLimit | None = None
    max_concurrency: int | None = Field(default=None, ge=1, le=64)
    new_properties: Literal["enabled", "pending"] | None = None


class BacksyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    since: date = Field(description="Re-read incremental streams from this day (YYYY-MM-DD).")


def workspace(request: Request) -> Workspace:
    return load_workspace(request.app.state.root)


WorkspaceDep = Annotated[Workspace, Depends(workspace)]


def connection(name: str, ws: WorkspaceDep) -> LoadedConnection:
    if name in ws.connections:
        return ws.connections[name]
    broken = [e for e in ws.errors if (e.file or "").rsplit("/", 1)[-1].split(".")[0] == name]
    if broken:
        raise broken[0]  # its file:line error, a 400: the caller can fix the file
    raise ApiError(404, f"no connection named {name!r}")


def jobs(request: Request) -> JobRunner:
    runner: JobRunner = request.app.state.jobs
    return runner


ConnectionDep = Annotated[LoadedConnection, Depends(connection)]
JobsDep = Annotated[JobRunner, Depends(jobs)]


def summary(conn: LoadedConnection) -> dict[str, Any]:
    config = conn.config
    return {"name": conn.name, "file": conn.file, "connector": config.source.connector,
            "destination": config.destination.connector, "environment": config.environment,
            "active": config.active, "schedule": _plain(config.schedule),
            "rate_limit": _plain(config.rate_limit), "max_concurrency": config.max_concurrency}


def detail(conn: LoadedConnection) -> dict[str, Any]:
    config = conn.config
    try:
        history = sync_history(conn, 1, conn.redactor)
        last_sync: dict[str, Any] | None = history[0] if history else None
    except RooftopError as exc:  # an unreachable warehouse must not hide the connection's settings
        last_sync = {"error": conn.redactor(str(exc))}
    return {**summary(conn), "description": config.description,
            "allow_manual_syncs": config.allow_manual_syncs, "namespace": config.namespace, "prefix": config.prefix,
            # SecretStr fields dump as '**********': credentials never leave the server.
            "source_config": conn.source_config.model_dump(mode="json"),
            "destination_config": conn.destination_config.model_dump(mode="json"),
            "properties": _plain(config.properties), "last_sync": last_sync}


def _plain(value: Any) -> Any:
    return value.model_dump(mode="json", exclude_defaults=False) if isinstance(value, BaseModel) else value


@router.get("", dependencies=[Depends(require("read"))])
def list_connections(ws: WorkspaceDep) -> dict[str, Any]:
    """Every connection of the workspace, and the files that do not load (with their error)."""
    return {"connections": [summary(c) for c in ws.connections.values()],
            "broken": [{"file": e.file, "error": str(e)} for e in ws.errors]}


NEW_CONNECTION_EXAMPLES = {
    "clone": {"summary": "Clone a connection", "value": {"name": "beta", "based_on": "acme", "namespace": "beta"}},
    "whole": {"summary": "A whole connection, as its YAML file", "value": {
        "name": "gamma", "environment": "sandbox",
        "source": {"connector": "sandbox", "config": {"base_url": "http://127.0.0.1:8700",
                                                      "api_key": "${GAMMA_API_KEY}"}},
        "destination": {"connector": "duckdb", "config": {"path": "warehouse.duckdb"}},
        "schedule": {"every": "1 hour", "timezone": "America/Chicago"}}},
}


@router.post("", status_code=201, dependencies=[Depends(require("admin"))])
def create_or_clone_connection(
    request: Request, ws: WorkspaceDep,
    body: Annotated[dict[str, Any], Body(openapi_examples=NEW_CONNECTION_EXAMPLES,
                                         description="`{name, based_on, namespace?, prefix?}` clones; "
                                                     "anything else is a whole connection file as JSON.")],
) -> dict[str, Any]:
    """Clone `based_on`, or create `connections/{name}.yaml` from a whole connection (validated like a file)."""
    if "based_on" not in body:
        try:
            created = create_connection(request.app.state.root, body)
        except NameTaken as exc:
            raise ApiError(409, str(exc)) from None
        return summary(created)
    try:
        clone = CloneRequest.model_validate(body)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    if clone.based_on not in ws.connections:
        raise ApiError(404, f"no connection named {clone.based_on!r} to base {clone.name!r} on")
    result = clone_connection(ws, clone.based_on, clone.name, namespace=clone.namespace, prefix=clone.prefix)
    return {"name": clone.name, "file": result.file, "copied": result.copied,
            "placeholders": [{"variable": p.variable, "field": p.field, "is_set": p.is_set}
                             for p in result.placeholders]}


@router.get("/{name}", dependencies=[Depends(require("read"))])
def get_connection(conn: ConnectionDep) -> dict[str, Any]:
    """One connection: settings (credentials masked) and its last sync."""
    return detail(conn)


@router.put("/{name}", dependencies=[Depends(require("write"))])
def update_connection(body: UpdateRequest, conn: ConnectionDep) -> dict[str, Any]:
    """Change active, schedule, rate_limit, max_concurrency or new_properties in the connection file."""
    changes = {key: _plain(getattr(body, key)) for key in body.model_fields_set}
    if not changes:
        raise ApiError(400, "nothing to change: send one of active, schedule, rate_limit, max_concurrency, "
                            "new_properties")
    return detail(update_settings(conn, changes))


@router.delete("/{name}", dependencies=[Depends(require("admin"))])
def delete_connection(conn: ConnectionDep) -> dict[str, Any]:
    """Archive the connection: its file moves to connections/.archived/; warehouse data stays."""
    target = archive_connection(conn)
    return {"name": conn.name, "archived_to": str(target.relative_to(conn.root))}


@router.post("/{name}/sync", status_code=202, dependencies=[Depends(require("write"))])
def start_sync(conn: ConnectionDep, runner: JobsDep) -> dict[str, Any]:
    """Start a sync in the background; poll `GET /v1/syncs/{id}`."""
    refuse_manual_sync(conn)
    return runner.start(conn.name, "sync").as_json()


@router.post("/{name}/backsync", status_code=202, dependencies=[Depends(require("write"))])
def start_backsync(body: BacksyncRequest, conn: ConnectionDep,
                   runner: JobsDep) -> dict[str, Any]:
    """Re-read incremental streams from `since` (the saved cursor does not move back)."""
    refuse_manual_sync(conn)
    return runner.start(conn.name, "backsync", since=body.since).as_json()


@router.post("/{name}/check", status_code=202, dependencies=[Depends(require("write"))])
def start_check(conn: ConnectionDep, runner: JobsDep) -> dict[str, Any]:
    """Check in the background that the source and the destination accept their credentials."""
    return runner.start(conn.name, "check").as_json()


@router.get("/{name}/syncs", dependencies=[Depends(require("read"))])
def list_syncs(conn: ConnectionDep, runner: JobsDep,
               limit: Annotated[int, Query(ge=1, le=500)] = 20) -> dict[str, Any]:
    """The connection's syncs from the warehouse, newest first, and its jobs started by this server."""
    return {"syncs": sync_history(conn, limit, conn.redactor),
            "jobs": [j.as_json() for j in runner.of_connection(conn.name)]}


@router.get("/{name}/schedule", dependencies=[Depends(require("read"))])
def get_schedule(conn: ConnectionDep,
                 count: Annotated[int, Query(ge=1, le=1000)] = 10) -> dict[str, Any]:
    """The schedule(s), one per Dagster schedule, and the next fire times across all of them."""
    compiled = run_schedules(conn.config.schedule)
    if not compiled:
        return {"name": conn.name, "schedule": "manual", "active": conn.config.active, "schedules": [], "next": []}
    schedules = [{"dagster_schedule": dagster_name, "schedule": each.source, "timezone": each.timezone,
                  "crons": list(each.crons)}
                 for dagster_name, each in zip(schedule_names(conn.name, compiled), compiled, strict=True)]
    # The first schedule's keys at the top, as before several schedules existed; `schedules` has them all.
    return {"name": conn.name, **{key: schedules[0][key] for key in ("schedule", "timezone", "crons")},
            "active": conn.config.active, "schedules": schedules,
            "next": [when.isoformat() for when in next_fire_times(compiled, count)] if conn.config.active else []}
