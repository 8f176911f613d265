"""Commands that move data and show where it stands: `sync` and `status`."""

from __future__ import annotations

import atexit
import gc
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pipelines.cli.app import (
    app,
    current_workspace,
    err,
    exit_code_of,
    handle_errors,
    out,
    parse_day,
    print_problems,
    settings,
)
from protocol.errors import ConfigError, RooftopError, SyncFailed

if TYPE_CHECKING:
    from pipelines.workspace.connection import LoadedConnection


@app.command()
def sync(
    names: Annotated[list[str] | None, typer.Argument(help="Connection name(s).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Sync every connection in the workspace.")] = False,
    stream: Annotated[list[str] | None, typer.Option("--stream", "-s", help="Only these streams.")] = None,
    full_refresh: Annotated[bool, typer.Option("--full-refresh", help="Ignore saved state once.")] = False,
    since: Annotated[str | None, typer.Option(help="Backsync: re-read incremental streams from this day "
                                                   "(YYYY-MM-DD); the saved cursor does not move back.")] = None,
) -> None:
    """Run a sync of CONN now, with live progress per stream."""
    from pipelines.cli.progress import ConsoleProgress
    from pipelines.engine import collisions
    from pipelines.engine.runner import run_sync
    from pipelines.ops.connection_settings import refuse_manual_sync
    # The process ends after this command: at exit its objects need no last collection pass
    # (~0.05-0.1 CPU s of a 200k-row sync's whole process, measured by bench/run_all.py's way).
    atexit.register(gc.freeze)
    with handle_errors():
        since_day = parse_day(since, "--since")
        if since_day is not None and full_refresh:
            raise ConfigError("--since and --full-refresh do not combine: --since re-reads from a day and merges, "
                              "--full-refresh re-reads everything")
        ws = current_workspace()
        if all_:
            # Every connection that may run syncs even if others are paused, schedule-only or broken;
            # each of those is named with its reason, and only a sync that ran and failed, or a broken
            # file, makes the exit code non-zero (docs/connection-yaml.md, `rooftop sync --all`).
            targets, skipped = runnable_connections(list(ws.connections.values()))
            for name, why in skipped:
                err.print(f"skipped {name}: {why}")
        elif names:
            targets, skipped = [ws.get(n) for n in names], []
            for conn in targets:
                refuse_manual_sync(conn)
        else:
            raise ConfigError("name a connection to sync, or pass --all")
        failed: dict[str, RooftopError] = {}
        for conn in targets:
            progress = ConsoleProgress(out, settings.redactor)
            try:
                run_sync(conn, streams=stream, full_refresh=full_refresh, since=since_day, observer=progress,
                         preflight=collisions.sync_preflight(list(ws.connections.values()), conn))
            except RooftopError as exc:  # a config or lock error before the streams start fails that one only
                failed[conn.name] = exc
            finally:
                progress.close()
        broken = ws.errors if all_ else []
        print_problems([("", e) for e in broken])
        if all_:
            err.print(_summary(len(targets) - len(failed), failed, skipped, len(broken)), soft_wrap=True)
        if len(failed) == 1:
            raise next(iter(failed.values()))
        if failed:
            raise SyncFailed("workspace", failed)
        if broken:
            raise ConfigError(f"{len(broken)} connection file(s) could not be loaded and were not synced "
                              "(listed above; `rooftop validate` checks them)")


def runnable_connections(conns: list[LoadedConnection]) -> tuple[list[LoadedConnection], list[tuple[str, str]]]:
    """The connections a manual sync may start, and (name, why not) for the others."""
    targets: list[LoadedConnection] = []
    skipped: list[tuple[str, str]] = []
    for conn in conns:
        if not conn.config.active:
            skipped.append((conn.name, "paused (active: false)"))
        elif not conn.config.allow_manual_syncs:
            skipped.append((conn.name, "manual syncs are disabled (allow_manual_syncs: false); it runs on its "
                                       "schedule only"))
        else:
            targets.append(conn)
    return targets, skipped


def _summary(succeeded: int, failed: dict[str, RooftopError], skipped: list[tuple[str, str]], broken: int) -> str:
    parts = [f"{succeeded} synced"]
    if failed:
        parts.append(f"{len(failed)} failed ({', '.join(failed)})")
    if skipped:
        parts.append(f"{len(skipped)} skipped ({', '.join(name for name, _why in skipped)})")
    if broken:
        parts.append(f"{broken} broken file(s)")
    return "sync --all: " + ", ".join(parts)


@app.command()
def status(names: Annotated[list[str] | None, typer.Argument(help="Connections (default: all).")] = None,
           limit: Annotated[int, typer.Option(help="Syncs to show per connection.")] = 5) -> None:
    """Show each stream's table, row count, saved cursor and last syncs.

    Without names, broken connection files are listed after the good connections and the exit code is 2,
    so a script notices that part of the workspace is not loaded."""
    with handle_errors():
        ws = current_workspace()
        conns = [ws.get(n) for n in names] if names else list(ws.connections.values())
        problems: list[tuple[str, RooftopError]] = [] if names else [("", e) for e in ws.errors]
        for conn in conns:
            try:
                _print_status(conn, limit)
            except RooftopError as exc:  # one unreachable warehouse must not hide the other connections
                problems.append((f"{conn.name}: ", exc))
        print_problems(problems)
        if problems:
            raise typer.Exit(exit_code_of(problems))


def _print_status(conn: LoadedConnection, limit: int) -> None:
    with conn.make_destination() as destination:
        state = destination.read_state(conn.name)
        history = destination.recent_syncs(conn.name, limit=1000)
        latest: dict[str, Any] = {}
        for rec in history:
            latest.setdefault(rec.stream, rec)
        from rich.table import Table  # ~15 ms of imports: only commands that print tables
        table = Table(title=f"{conn.name} → {conn.config.destination.connector}", title_justify="left")
        for col, justify in [("stream", "left"), ("table", "left"), ("rows", "right"), ("cursor", "left"),
                             ("last sync", "left"), ("status", "left"), ("finished", "left")]:
            table.add_column(col, justify=justify)  # type: ignore[arg-type]
        for name, rec in sorted(latest.items()):
            ns, tbl = rec.extra.get("namespace"), rec.extra.get("table")
            count = destination.table_stats(ns, tbl) if ns and tbl else None
            cursor = (state.get(name) or {}).get("cursor")
            table.add_row(name, f"{ns}.{tbl}" if ns else "", "" if count is None else f"{count:,}",
                          settings.redactor(str(cursor or "")), rec.sync_id, rec.status,
                          f"{rec.finished_at:%Y-%m-%d %H:%M:%S}" if rec.finished_at else "")
        out.print(table if latest else f"{conn.name}: never synced")
        syncs: dict[str, list[Any]] = {}
        for rec in history:
            syncs.setdefault(rec.sync_id, []).append(rec)
        for sync_id, recs in list(syncs.items())[:limit]:
            failed = [r for r in recs if r.status != "succeeded"]
            rows = sum(r.rows_written for r in recs)
            mark = "[green]ok[/]" if not failed else f"[red]{len(failed)} stream(s) not succeeded[/]"
            out.print(f"  {sync_id}: {len(recs)} stream(s), {rows:,} rows, {mark}")
            for r in failed:
                if r.error_message:
                    out.print(f"    {r.stream}: {r.status}: {settings.redactor(r.error_message)}", soft_wrap=True)
