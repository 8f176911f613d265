"""What happened, after the fact: `rooftop history CONN`, `rooftop logs SYNC_ID`, `rooftop diffs CONN`.

All three read the destination's `_rooftop` schema (the sync history, the structured log of each
sync and the row-level diffs of deduplicated streams), so they answer the same for a sync started
from the CLI or from Dagster. Registered by `pipelines.cli`, which imports every command group.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer
from rich.markup import escape

from pipelines.cli.app import (
    app,
    current_workspace,
    handle_errors,
    named_connection,
    out,
    settings,
)
from protocol.errors import ConfigError


@app.command()
def history(name: str, limit: Annotated[int, typer.Option(help="Syncs to show.")] = 20,
            as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List CONN's syncs: status, duration, rows, requests, retries and errors."""
    from pipelines.engine.sync_history import sync_history
    with handle_errors():
        rows = sync_history(named_connection(name), limit, settings.redactor)
        if as_json:
            out.print_json(json.dumps(rows))
            return
        if not rows:
            out.print(f"{name}: never synced")
            return
        from rich.table import Table  # ~15 ms of imports: only commands that print tables
        table = Table(title=f"{name}: last {len(rows)} sync(s)", title_justify="left")
        for col, justify in [("sync", "left"), ("started (UTC)", "left"), ("status", "left"), ("duration", "right"),
                             ("streams", "right"), ("rows", "right"), ("requests", "right"), ("retries", "right"),
                             ("errors", "left")]:
            table.add_column(col, justify=justify)  # type: ignore[arg-type]
        colour = {"succeeded": "green", "failed": "red", "partial": "yellow", "interrupted": "yellow"}
        for r in rows:
            status = r["status"]
            table.add_row(r["sync_id"], r["started_at"][:19].replace("T", " "),
                          f"[{colour.get(status, 'white')}]{status}[/]",
                          "" if r["duration_seconds"] is None else f"{r['duration_seconds']:.1f}s",
                          str(r["streams"]), f"{r['rows']:,}", _opt(r["requests"]), _opt(r["retries"]),
                          escape("; ".join(r["errors"])[:200]))
        out.print(table)


def _opt(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


@app.command()
def logs(sync_id: str,
         connection: Annotated[str | None, typer.Option("--connection", "-c", help="Look only here.")] = None,
         level: Annotated[str, typer.Option(help="debug | info | warning | error")] = "debug",
         stream: Annotated[str | None, typer.Option("--stream", "-s")] = None,
         as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False) -> None:
    """Show the structured log of one sync: requests, retries, rate-limit waits, progress, failures."""
    from pipelines.engine.sync_records import LEVELS, filter_log, find_sync_log, log_record_json
    with handle_errors():
        if level not in LEVELS:
            raise ConfigError(f"--level {level!r}: use one of {', '.join(LEVELS)}")
        ws = current_workspace()
        conn, rows = find_sync_log(sync_id, [ws.get(connection)] if connection else ws.connections.values(),
                                   f"connection {connection!r}" if connection else "any connection of this workspace")
        rows = filter_log(rows, level, stream)
        redact = conn.redactor.merged(settings.redactor)
        if as_json:
            for r in rows:
                out.print(json.dumps(log_record_json(r, redact)), soft_wrap=True, markup=False)
            return
        out.print(f"sync {sync_id} of {conn.name}: {len(rows)} record(s)")
        for r in rows:
            when: datetime = r["at"]
            tag = f" {r['stream']}" if r["stream"] else ""
            event = f" [{r['event']}]" if r["event"] else ""
            out.print(f"{when:%H:%M:%S.%f}"[:-3] + f" {r['level']:<7}{tag}{event} {redact(r['message'])}",
                      markup=False, soft_wrap=True)
            if r["event"] == "http_error" and r["data"]:
                out.print(redact(json.dumps(json.loads(r["data"]), indent=2)), markup=False, soft_wrap=True)


@app.command()
def diffs(name: str, stream: Annotated[str | None, typer.Option("--stream", "-s")] = None,
          sync: Annotated[str | None, typer.Option("--sync", help="One sync id (default: all retained).")] = None,
          limit: Annotated[int, typer.Option(help="Rows to list (the counts cover all).")] = 200,
          as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show which primary keys each sync inserted, updated (with the changed fields) or deleted."""
    from pipelines.engine.sync_records import count_diffs, read_diffs
    with handle_errors():
        where = {k: v for k, v in (("stream", stream), ("sync_id", sync)) if v is not None}
        entries = read_diffs(named_connection(name), stream, sync)
        if as_json:
            out.print_json(json.dumps(entries))
            return
        if not entries:
            out.print(f"{name}: no diffs recorded" + (f" for {where}" if where else "")
                      + " (diffs are kept for incremental_deduped streams)")
            return
        counts = count_diffs(entries)
        from rich.table import Table  # ~15 ms of imports: only commands that print tables
        summary = Table(title=f"{name}: changes per sync and stream", title_justify="left")
        for col in ("sync", "stream", "inserted", "updated", "deleted"):
            summary.add_column(col, justify="left" if col in ("sync", "stream") else "right")
        for (sync_id, stream_name), per in counts.items():
            summary.add_row(sync_id, stream_name, *(f"{per[c]:,}" for c in ("inserted", "updated", "deleted")))
        out.print(summary)
        detail = Table(title=f"first {min(limit, len(entries))} of {len(entries)} change(s)", title_justify="left")
        for col in ("sync", "stream", "change", "key", "fields"):
            detail.add_column(col)
        for e in entries[:limit]:
            key = ", ".join(f"{k}={v}" for k, v in e["key"].items())
            detail.add_row(e["sync_id"], e["stream"], e["change"], escape(key), escape(", ".join(e["fields"])))
        out.print(detail)
