"""A write after it was submitted: found by id, retried, and resolved after a crash.

`_rooftop.writes` is the write's record (append-only, the newest row is its state), so everything
here reads and appends rows there; nothing lives only in a process's memory.

Crash safety: a write is `running` from just before its request is sent until its outcome is
recorded. A process killed in between leaves it `running`, and nobody can know whether the source
applied it. `recover_interrupted` (the API runs it at start) marks such writes `needs_check`, never
re-sends them: a create sent twice makes two records. A person checks the source and retries if
the write did not land (`POST /v1/writes/{id}/retry`, `rooftop writes retry ID`). A write still
`queued` was never sent (the API stopped while it waited its turn, or the warehouse refused to
mark it `running`), so sending it is safe: `queued_writes` hands them back, and the API sends them
when it starts.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from pipelines.workspace.connection import LoadedConnection
from pipelines.workspace.loading import Workspace
from pipelines.writes.lookup import RecordNotFound, holders
from pipelines.writes.submit import (
    PendingWrite,
    WriteResult,
    append_write_rows,
    list_writes,
    resolve_target,
    write_rows,
)
from pipelines.writes.targets import accepts, plan_write
from protocol.errors import ConfigError, RooftopError
from protocol.unified import ID_SEPARATOR
from protocol.writes import WritableSource, WriteOperation

STATUSES = ("queued", "running", "succeeded", "failed", "needs_check")
RETRYABLE = ("failed", "needs_check")
INTERRUPTED = "the process stopped while this write was being sent: check the source, then retry if it did not land"
NOT_SENT = "queued before a stop, but it can no longer be sent as recorded: {}"


class WriteNotFound(LookupError):
    """No connection of the workspace has recorded a write with this id."""


class WriteConflict(Exception):
    """The request is valid but not in the write's current state (a retry of a running write), or
    names a record that several connections may hold."""


def writable_connection(conn: LoadedConnection) -> bool:
    """Whether the connection's system takes writes at all (else its warehouse holds none)."""
    return isinstance(_native(conn), WritableSource)


def find_write(workspace: Workspace, write_id: str) -> tuple[LoadedConnection, list[dict[str, Any]]]:
    """The connection that recorded `write_id` and its rows, oldest first; WriteNotFound if none did."""
    for conn in workspace.connections.values():
        if not writable_connection(conn):
            continue  # never written to: its warehouse has no writes
        rows = write_rows(conn, write_id)
        if rows:
            return conn, rows
    raise WriteNotFound(f"no write with id {write_id!r}")


def write_state(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A write as the API and CLI show it: its newest row, its submission time, ignored fields as a list."""
    newest = rows[-1]
    return {"write_id": newest["write_id"], "connection": newest["connection"], "status": newest["status"],
            "resource": newest["resource"], "operation": newest["operation"], "record_id": newest["record_id"],
            "attempts": newest["attempts"], "error": newest["error"],
            "ignored_fields": json.loads(newest["ignored_fields"] or "[]"),
            "submitted_at": _iso(rows[0]["recorded_at"]), "updated_at": _iso(newest["recorded_at"])}


def write_log(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every status change with the (already masked) request and response, parsed back to JSON."""
    return [{"recorded_at": _iso(row["recorded_at"]), "status": row["status"], "attempts": row["attempts"],
             "request": _json(row["request"]), "response": _json(row["response"]), "error": row["error"]}
            for row in rows]


def retry_write(conn: LoadedConnection, rows: list[dict[str, Any]]) -> PendingWrite:
    """Queue a `failed` or `needs_check` write again, under the same id, with the payload it was validated with."""
    newest = rows[-1]
    if newest["status"] not in RETRYABLE:
        raise WriteConflict(f"write {newest['write_id']} is {newest['status']}: only a failed or needs_check "
                            "write can be retried")
    pending = _pending(conn, newest)
    _append(conn, newest, "queued", None)
    return pending


def _pending(conn: LoadedConnection, newest: dict[str, Any]) -> PendingWrite:
    """The write of `newest` (its newest row) as `execute_write` sends it, planned again from its record."""
    request = _json(newest["request"])
    if not isinstance(request, dict) or not isinstance(request.get("payload"), dict):
        raise ConfigError(f"write {newest['write_id']}: its recorded request cannot be sent again")
    # Planned again from the payload as recorded (the caller's names), so a unified write is renamed
    # for the vendor the same way; the fields ignored the first time stay listed.
    plan = plan_write(conn, newest["resource"], WriteOperation(newest["operation"]), request["payload"])
    plan = replace(plan, write=replace(plan.write, ignored=tuple(json.loads(newest["ignored_fields"] or "[]"))))
    result = WriteResult(write_id=newest["write_id"], connection=conn.name, status="queued",
                         record_id=newest["record_id"], ignored_fields=list(plan.write.ignored))
    return PendingWrite(result, plan, request, attempts_before=int(newest["attempts"]))


def recover_interrupted(conn: LoadedConnection) -> list[str]:
    """Mark the writes a killed process left `running` as `needs_check`; their ids."""
    changed = []
    for row in list_writes(conn, "running"):
        _append(conn, row, "needs_check", INTERRUPTED)
        changed.append(row["write_id"])
    return changed


def queued_writes(conn: LoadedConnection) -> list[PendingWrite]:
    """The writes still `queued` (never sent), ready to send, oldest first; one that can no longer be
    planned (the connection's system stopped accepting it) is marked `failed` instead."""
    found = []
    for row in list_writes(conn, "queued"):
        try:
            found.append(_pending(conn, row))
        except RooftopError as exc:
            _append(conn, row, "failed", conn.redactor(NOT_SENT.format(exc)))
    return found


def writable_connections(workspace: Workspace, resource: str) -> list[str]:
    """The connections whose system accepts writes to `resource` (by its declaration), by name."""
    return [conn.name for conn in workspace.connections.values() if accepts(conn, resource)]


def resolve_record(workspace: Workspace, resource: str, record_id: str,
                   connection: str | None) -> tuple[LoadedConnection, str]:
    """The connection and vendor id an update goes to; a vendor id alone is looked up in the warehouses.

    Rooftop's id, or a vendor id with `connection`, is `resolve_target`'s. A vendor id alone is
    looked for in the landed table of every connection that accepts writes to `resource`
    (`lookup.holders`): one holder is the target, none is RecordNotFound, two or more a
    WriteConflict naming them (give `connection`, or Rooftop's id).
    """
    if connection is not None or record_id.count(ID_SEPARATOR) >= 2:
        conn, vendor_id = resolve_target(workspace, record_id, connection)
        assert vendor_id is not None
        return conn, vendor_id
    found = holders(workspace, resource, record_id)
    if not found:
        raise RecordNotFound(f"no connection that accepts writes to {resource} has a record with the id "
                             f"{record_id!r} in its warehouse (searched: "
                             f"{', '.join(writable_connections(workspace, resource))})")
    if len(found) > 1:
        raise WriteConflict(f"the id {record_id!r} of {resource} is a record of connections "
                            f"{', '.join(c.name for c in found)}: add ?connection=<name> (--connection), or use "
                            "Rooftop's id <system>:<connection>:<id>")
    return found[0], record_id


def _append(conn: LoadedConnection, row: dict[str, Any], status: str, error: str | None) -> None:
    fields = {k: row[k] for k in ("connection", "write_id", "resource", "operation", "record_id", "attempts",
                                  "ignored_fields", "request")}
    append_write_rows(conn, [{**fields, "recorded_at": datetime.now(UTC), "status": status, "response": None,
                              "error": error}])


def _native(conn: LoadedConnection) -> Any:
    try:
        source = conn.make_source()
    except RooftopError:
        return None
    return getattr(source, "native", source)


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
