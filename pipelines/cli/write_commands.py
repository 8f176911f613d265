"""Write-back from a terminal: `rooftop write RESOURCE [ID] --data JSON|@file`, `rooftop writes`,
`rooftop writes retry ID`, `rooftop write-job CONN JOB` (a warehouse-driven write job, run now).

The same engine call as the HTTP API (`pipelines.writes.submit_write`): validated against the target
system before anything is sent, recorded in `_rooftop.writes`, the record re-read afterwards.
Registered by `pipelines.cli`, which imports every command group.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from pipelines.cli.app import app, current_workspace, err, handle_errors, named_connection, out
from protocol.errors import ConfigError


def _payload(data: str) -> Any:
    """`--data`: inline JSON, or `@path` to a JSON file."""
    where = "--data"
    text = data
    if data.startswith("@"):
        path = Path(data[1:])
        where = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"--data: cannot read {path}: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: line {exc.lineno}: not JSON: {exc.msg}") from None


@app.command()
def write(
    resource: str,
    record_id: Annotated[str | None, typer.Argument(
        metavar="[ID]", help="Rooftop's id <system>:<connection>:<id>, or a vendor id (looked up in the "
                             "warehouses, or with --connection); omit to create.")] = None,
    data: Annotated[str, typer.Option("--data", help="The fields as JSON, or @file.json.")] = "",
    ignore_unknown_fields: Annotated[bool, typer.Option(
        "--ignore-unknown-fields", help="Strip fields the target system does not accept.")] = False,
    connection: Annotated[str | None, typer.Option("--connection", "-c", help="The target connection.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Update record ID of RESOURCE (or create one) in its source system, then refresh it in the warehouse."""
    from pipelines.writes import RecordNotFound, WriteConflict, resolve_record, resolve_target, submit_write
    with handle_errors():
        if not data:
            raise ConfigError("--data is required: the fields to write, as JSON or @file.json")
        workspace = current_workspace()
        if record_id is None:
            conn, vendor_id = resolve_target(workspace, None, connection)
        else:
            try:  # a bare vendor id is looked up in the warehouses of the connections that take the resource
                conn, vendor_id = resolve_record(workspace, resource, record_id, connection)
            except (WriteConflict, RecordNotFound) as exc:
                raise ConfigError(str(exc)) from None
        result = submit_write(conn, resource, vendor_id, _payload(data), ignore_unknown_fields)
        if as_json:
            out.print_json(json.dumps(result.__dict__, default=str))
            return
        out.print(f"✓ write {result.write_id} {result.status}: {escape(resource)} {result.record_id} "
                  f"on {escape(conn.name)}")
        if result.ignored_fields:
            out.print(f"  ignored (not accepted by the target system): {', '.join(result.ignored_fields)}")
        if result.refreshed_sync_id:
            out.print(f"  re-read into the warehouse by sync {result.refreshed_sync_id}")
        if result.refresh_error:
            # The write happened at the source: not an error exit (a retry would send it twice), but the
            # warehouse does not show it yet, and the user must not think it does.
            err.print(f"[yellow]warning:[/] {escape(result.refresh_error)}; the next sync of "
                      f"{escape(resource)} will bring the change", soft_wrap=True)


writes_app = typer.Typer(help="The write-back jobs recorded in `_rooftop.writes`; `retry ID` sends one again.")
app.add_typer(writes_app, name="writes")


@writes_app.callback(invoke_without_command=True)
def writes(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(
        "--status", help="Only writes in this state (queued, running, succeeded, failed, needs_check).")]
    = None,
    connection: Annotated[str | None, typer.Option("--connection", "-c", help="Only this connection.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The write-back jobs recorded in `_rooftop.writes`, each in its newest state."""
    from pipelines.writes import STATUSES, list_writes
    if ctx.invoked_subcommand is not None:
        return
    with handle_errors():
        if status is not None and status not in STATUSES:
            raise ConfigError(f"--status {status!r}: use one of {', '.join(STATUSES)}")
        conns = [named_connection(connection)] if connection else list(current_workspace().connections.values())
        rows = [row for conn in conns for row in list_writes(conn, status)]
        if as_json:
            out.print_json(json.dumps(rows, default=str))
            return
        from rich.table import Table  # ~15 ms of imports: only commands that print tables
        table = Table("write", "connection", "status", "resource", "operation", "record", "attempts", "error")
        for row in rows:
            table.add_row(row["write_id"], escape(row["connection"]), row["status"], escape(row["resource"]),
                          row["operation"], escape(str(row["record_id"] or "")), str(row["attempts"]),
                          escape(row["error"] or ""))
        out.print(table)


@writes_app.command("retry")
def retry(write_id: Annotated[str, typer.Argument(metavar="ID", help="The write's id (w-...).")]) -> None:
    """Send a failed or needs_check write again (same id, same payload), in this terminal."""
    from pipelines.writes import WriteConflict, WriteNotFound, execute_write, find_write, retry_write
    with handle_errors():
        try:
            conn, rows = find_write(current_workspace(), write_id)
            pending = retry_write(conn, rows)
        except (WriteNotFound, WriteConflict) as exc:
            raise ConfigError(str(exc)) from None
        result = execute_write(conn, pending)
        out.print(f"✓ write {result.write_id} {result.status}: {escape(pending.write.resource)} {result.record_id} "
                  f"on {escape(conn.name)}")


@app.command("write-job")
def write_job(
    connection: Annotated[str, typer.Argument(metavar="CONN", help="The connection that declares the job.")],
    job: Annotated[str, typer.Argument(metavar="JOB", help="The job's name (its `writes:` entry).")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Run one warehouse-driven write job now (docs/write-back.md); exit 1 if any row failed."""
    from pipelines.writes.warehouse_jobs import run_write_job
    with handle_errors():
        run = run_write_job(named_connection(connection), job)
        if as_json:
            out.print_json(json.dumps({**run.counts(), "errors": run.errors,
                                       "refreshed_sync_id": run.refreshed_sync_id}))
        else:
            counts = run.counts()
            out.print(f"{'✓' if not run.failed else '✗'} write job {escape(job)} on {escape(connection)}: "
                      + ", ".join(f"{value} {name.replace('_', ' ')}" for name, value in counts.items()))
            for error in run.errors:
                out.print(f"  {escape(error)}")
    if run.failed:
        raise typer.Exit(1)
