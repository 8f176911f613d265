"""One write to a source system, from the caller's payload to the refreshed warehouse row.

Steps, each visible in `_rooftop.writes` (append-only: one row per status change, the newest row is
the write's state):

1. validate the payload against what *that* connection's system accepts (`protocol.writes`), before
   anything is sent or recorded: a refused field is a ConfigError naming it and the system;
2. `queued`, then `running`, then send through the connector's `send_write`, i.e. under the
   connection's own HTTP client: its rate limit, retries, deadline and status table apply;
3. `succeeded` (with the source's answer) or `failed` (with the error; the exception propagates);
4. after success, re-read: Rooftop is not the source of truth, so the warehouse row changes only
   when the source says so. The honest simple way is a targeted incremental sync of that one
   stream (the connectors have no single-record read yet); it picks up the written record because
   its `updated_at` moved past the stream's cursor.

Requests and responses are stored masked by the connection's redactor; credentials travel only in
headers, which are never recorded.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from pipelines.engine.runner import run_sync
from pipelines.workspace.connection import LoadedConnection
from pipelines.workspace.loading import Workspace
from pipelines.writes.targets import WritePlan, plan_write, writable
from protocol.bookkeeping import WRITES
from protocol.errors import ConfigError, RooftopError
from protocol.types import Source
from protocol.unified import ID_SEPARATOR
from protocol.writes import ValidatedWrite, WriteOperation, WriteResponse


@dataclass
class WriteResult:
    write_id: str
    connection: str
    status: str
    record_id: str | None
    ignored_fields: list[str] = field(default_factory=list)
    response: Any = None
    refreshed_sync_id: str | None = None
    """The targeted sync that re-read the record into the warehouse (None: the stream is not synced)."""
    refresh_error: str | None = None
    """Why the re-read failed, when the write was sent but the warehouse could not be refreshed."""


def resolve_target(workspace: Workspace, record_id: str | None,
                   connection: str | None) -> tuple[LoadedConnection, str | None]:
    """The connection and the vendor id a write goes to.

    A Rooftop id `<source_system>:<connection>:<vendor id>` names its connection; a vendor's own id
    (or a create, without id) needs `connection`.
    """
    if record_id is not None and record_id.count(ID_SEPARATOR) >= 2:
        system, named, vendor_id = record_id.split(ID_SEPARATOR, 2)
        if connection is not None and connection != named:
            raise ConfigError(f"the id {record_id!r} belongs to connection {named!r}, not {connection!r}")
        conn = workspace.get(named)
        if conn.config.source.connector != system:
            raise ConfigError(f"the id {record_id!r} names the system {system!r}, but connection {named!r} "
                              f"uses {conn.config.source.connector!r}")
        return conn, vendor_id
    if connection is None:
        what = f"the vendor id {record_id!r}" if record_id is not None else "a create"
        raise ConfigError(f"{what} needs a connection (--connection / ?connection=): vendor ids are not "
                          "unique across connections; or give Rooftop's id <system>:<connection>:<id>")
    return workspace.get(connection), record_id


@dataclass
class PendingWrite:
    """A validated write recorded as `queued`: what `execute_write` sends (now, or in a worker)."""

    result: WriteResult
    plan: WritePlan
    request: dict[str, Any]
    attempts_before: int = 0
    """HTTP attempts of earlier tries of this write (a retry adds to them)."""

    @property
    def write(self) -> ValidatedWrite:
        """The write as the caller named it (resource, fields, ignored fields)."""
        return self.plan.write


def prepare_write(conn: LoadedConnection, resource: str, record_id: str | None, payload: Any,
                  ignore_unknown_fields: bool = False) -> PendingWrite:
    """Validate against the connection's system and record the write as `queued`; nothing is sent.

    Raises ConfigError (naming the field and the system) for a payload the system refuses.
    """
    operation = WriteOperation.CREATE if record_id is None else WriteOperation.UPDATE
    plan = plan_write(conn, resource, operation, payload, ignore_unknown_fields)
    write = plan.write
    result = WriteResult(write_id=f"w-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}",
                         connection=conn.name, status="queued", record_id=record_id,
                         ignored_fields=list(write.ignored))
    request = {"method": "PUT" if record_id is not None else "POST", "resource": resource,
               "record_id": record_id, "payload": write.payload}
    if plan.sent != write:
        request["sent_as"] = {"resource": plan.sent.resource, "payload": plan.sent.payload}
    pending = PendingWrite(result, plan, request)
    _record(conn, pending, attempts=0)
    return pending


def execute_write(conn: LoadedConnection, pending: PendingWrite, *, refresh: bool = True) -> WriteResult:
    """Send a queued write: `running`, the send, the re-read, then `succeeded` or `failed`.

    `succeeded` is recorded once the record has been re-read, so a caller polling the write sees the
    warehouse already refreshed; a re-read that fails leaves the write `succeeded` (it was sent) with
    the re-read's error. A failed send is recorded and its error (AuthError, ConfigError,
    SourceUnavailable) raised.
    """
    result = pending.result
    result.status = "running"
    try:
        _record(conn, pending, attempts=pending.attempts_before)
    except Exception as exc:  # whatever the warehouse raised: nothing is sent unrecorded
        result.status = "queued"
        raise UnrecordedWrite(conn.redactor(f"write {result.write_id} was not sent: marking it running in the "
                                            f"warehouse failed ({_reason(exc)}); it stays queued"), None) from exc
    source = conn.make_source()
    sender = writable(source, conn)
    attempts = 0
    try:
        with source:
            before = _requests(source)
            try:
                answer: WriteResponse = sender.send_write(pending.plan.sent, result.record_id)
            finally:
                attempts = _requests(source) - before
    except RooftopError as exc:
        result.status = "failed"
        _record_outcome(conn, pending, attempts=pending.attempts_before + attempts, error=str(exc))
        raise
    result.record_id, result.response = answer.record_id, answer.body
    refresh_error: str | None = None
    streams = synced_streams(conn, pending.plan.refresh)
    if refresh and streams:
        try:
            result.refreshed_sync_id = run_sync(conn, streams=streams).sync_id
        except RooftopError as exc:
            refresh_error = f"sent, but the re-read into the warehouse failed: {exc}"
            result.refresh_error = conn.redactor(refresh_error)
    result.status = "succeeded"
    _record_outcome(conn, pending, attempts=pending.attempts_before + attempts, error=refresh_error,
                    response={"status": answer.status, "body": answer.body,
                              "refreshed_sync_id": result.refreshed_sync_id})
    return result


class UnrecordedWrite(RooftopError):
    """The warehouse refused a write's status change. `row` is the outcome still to append (the write
    was sent); None when the write was not sent (it stays `queued`, sent again when the API starts)."""

    def __init__(self, message: str, row: dict[str, Any] | None) -> None:
        super().__init__(message)
        self.row = row


def _record_outcome(conn: LoadedConnection, pending: PendingWrite, *, attempts: int,
                    response: dict[str, Any] | None = None, error: str | None = None) -> None:
    row = status_row(conn, pending, attempts=attempts, response=response, error=error)
    try:
        append_write_rows(conn, [row])
    except Exception as exc:  # whatever the warehouse raised, the outcome must not be lost
        raise UnrecordedWrite(conn.redactor(
            f"write {pending.result.write_id} was sent and {pending.result.status}, but recording that in the "
            f"warehouse failed ({_reason(exc)}); until it is recorded the write shows as running"), row) from exc


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def submit_write(conn: LoadedConnection, resource: str, record_id: str | None, payload: Any,
                 ignore_unknown_fields: bool = False, *, refresh: bool = True) -> WriteResult:
    """Validate, record, send and (after success) re-read one write in the caller's thread."""
    return execute_write(conn, prepare_write(conn, resource, record_id, payload, ignore_unknown_fields),
                         refresh=refresh)


def _requests(source: Source) -> int:
    """HTTP requests sent so far by the source's client (0 if it does not say, or is closed)."""
    native = getattr(source, "native", source)
    try:
        stats = getattr(native, "http_stats", None)
    except RuntimeError:  # outside `with source:`
        return 0
    return int(stats.get("requests", 0)) if isinstance(stats, dict) else 0


def synced_streams(conn: LoadedConnection, streams: tuple[str, ...]) -> list[str]:
    """Those of `streams` the connection syncs (all of them when it lists no streams)."""
    listed = conn.config.streams
    return [s for s in streams if listed is None or any(c.name == s for c in listed)]


def _record(conn: LoadedConnection, pending: PendingWrite, *, attempts: int,
            response: dict[str, Any] | None = None, error: str | None = None) -> None:
    """Append the write's new status to `_rooftop.writes`: one short transaction of its own."""
    append_write_rows(conn, [status_row(conn, pending, attempts=attempts, response=response, error=error)])


def status_row(conn: LoadedConnection, pending: PendingWrite, *, attempts: int,
               response: dict[str, Any] | None = None, error: str | None = None) -> dict[str, Any]:
    """The `_rooftop.writes` row of the write's current status (`pending.result.status`), masked."""
    mask = conn.redactor
    result, write = pending.result, pending.write
    row = {"connection": conn.name, "write_id": result.write_id, "recorded_at": datetime.now(UTC),
           "status": result.status, "resource": write.resource, "operation": write.operation.value,
           "record_id": result.record_id, "attempts": attempts,
           "ignored_fields": json.dumps(list(write.ignored)),
           "request": mask(json.dumps(pending.request, default=str)),
           "response": None if response is None else mask(json.dumps(response, default=str)),
           "error": None if error is None else mask(error)}
    return row


def append_write_rows(conn: LoadedConnection, rows: list[dict[str, Any]]) -> None:
    with conn.make_destination() as destination:
        destination.append_bookkeeping(WRITES, pa.Table.from_pylist(rows))


def list_writes(conn: LoadedConnection, status: str | None = None) -> list[dict[str, Any]]:
    """Each write of `conn` in its newest state (plus `submitted_at`, its first row's time), oldest first;
    only those in `status` if given."""
    latest: dict[str, dict[str, Any]] = {}
    for row in write_rows(conn):  # ordered by recorded_at: the last row of a write is its state
        submitted = latest.get(row["write_id"], row)["submitted_at" if row["write_id"] in latest else "recorded_at"]
        latest[row["write_id"]] = {**row, "submitted_at": submitted}
    return [row for row in latest.values() if status is None or row["status"] == status]


def write_rows(conn: LoadedConnection, write_id: str | None = None) -> list[dict[str, Any]]:
    """The rows of `_rooftop.writes` for `conn` (one write's only, if given), oldest first."""
    where = None if write_id is None else {"write_id": write_id}
    with conn.make_destination() as destination:
        rows: list[dict[str, Any]] = destination.read_bookkeeping(WRITES, conn.name, where).to_pylist()
    return rows
