"""The `rooftop` command line: the same engine as Dagster, driven from a terminal.

Every command turns a RooftopError into one clear (redacted) message and a non-zero exit code:
1 = a sync ran and failed, 2 = configuration error (fix the YAML or credentials), 3 = transient
(try again). `--debug` re-raises so the traceback shows.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from protocol.errors import ConfigError, RooftopError, SyncFailed, TransientError
from pipelines import collisions, logs, registry
from pipelines.cli.progress import ConsoleProgress
from pipelines.config import ConnectionConfig
from pipelines.connection import LoadedConnection
from pipelines.engine import run_sync
from pipelines.plan import plan_streams
from pipelines.properties import check_supported
from pipelines.redact import Redactor
from pipelines.workspace import Workspace, load_workspace

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Rooftop: ELT for property-technology data.")
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)
for _console in (out, err):
    if not _console.is_terminal and "COLUMNS" not in os.environ:
        _console.width = 160  # pipes and CI logs: Rich's 80-column default truncates every table


class Settings:
    workspace: Path = Path(".")
    debug: bool = False
    redactor: Redactor = Redactor()


settings = Settings()


@app.callback()
def _global(
    workspace: Annotated[Path, typer.Option("--workspace", "-w", envvar="ROOFTOP_WORKSPACE",
                                            help="Workspace directory (has connections/).")] = Path("."),
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log engine events.")] = False,
    log_format: Annotated[str, typer.Option("--log-format", help="text | json (JSON lines on stderr).")] = "text",
) -> None:
    settings.workspace = workspace
    settings.debug = debug
    fmt: Literal["text", "json"] = "json" if log_format == "json" else "text"
    level = logging.DEBUG if debug else logging.INFO if (verbose or fmt == "json") else logging.WARNING
    logs.configure(level, fmt, settings.redactor)


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except RooftopError as exc:
        if settings.debug:
            raise
        code = 1 if isinstance(exc, SyncFailed) else 3 if isinstance(exc, TransientError) else 2
        if isinstance(exc, SyncFailed) and exc.retryable:
            code = 3
        err.print(f"[red]error:[/] {escape(settings.redactor(str(exc)))}", markup=True, soft_wrap=True)
        raise typer.Exit(code) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:  # noqa: BLE001 - the CLI promises a message, not a traceback
        if settings.debug:
            raise
        err.print(f"[red]unexpected error:[/] {type(exc).__name__}: {escape(settings.redactor(str(exc)))}\n"
                  "(run with --debug for the traceback)", soft_wrap=True)
        raise typer.Exit(1) from None


def _workspace() -> Workspace:
    ws = load_workspace(settings.workspace)
    secrets = Redactor()
    for conn in ws.connections.values():
        secrets = secrets.merged(conn.redactor)
    settings.redactor.__dict__.update(secrets.__dict__)  # loggers hold this same object
    return ws


def _connection(name: str) -> LoadedConnection:
    return _workspace().get(name)


@app.command()
def connectors(name: Annotated[str | None, typer.Argument(help="Show one connector's config spec.")] = None) -> None:
    """List installed connectors, or show one connector's configuration spec."""
    with _errors():
        if name is None:
            table = Table(title="connectors", title_justify="left")
            for col in ("name", "kind", "implementation", "package"):
                table.add_column(col)
            for kind in ("source", "destination"):
                for info in registry.available(kind):
                    table.add_row(info.name, info.kind, info.target, info.distribution or "")
            out.print(table)
            return
        kinds = [k for k in ("source", "destination") if any(i.name == name for i in registry.available(k))]
        if not kinds:
            raise ConfigError(registry.unknown_connector_message("source", name))
        for kind in kinds:
            cls = registry.load(kind, name)  # type: ignore[arg-type]
            out.print(f"[bold]{name}[/] ({kind}) — {(cls.__doc__ or '').strip().splitlines()[0] if cls.__doc__ else ''}")
            out.print_json(json.dumps(cls.config_model.model_json_schema()))


@app.command()
def validate(
    names: Annotated[list[str] | None, typer.Argument(help="Connections to check (default: all).")] = None,
    offline: Annotated[bool, typer.Option(help="Skip checks that need the source's catalog.")] = False,
) -> None:
    """Validate connection files: YAML, keys, connectors, and streams against each source's catalog."""
    with _errors():
        ws = _workspace()
        problems: list[tuple[str, RooftopError]] = [("", e) for e in ws.errors]
        for conn in ws.connections.values():
            if names and conn.name not in names:
                continue
            try:
                if not offline:
                    with conn.make_source() as source:
                        catalog = source.discover()
                        plan_streams(conn, catalog, conn.make_destination().default_namespace)
                        check_supported(conn, catalog)
                out.print(f"[green]✓[/] {conn.name} ({conn.file})")
            except ConfigError as exc:
                problems.append(("", exc))
            except RooftopError as exc:  # e.g. the source is down: say so, and go on checking the others
                problems.append((f"{conn.name} ({conn.file}): could not check against the source: ", exc))
        problems += [("", e) for e in collisions.workspace_problems(list(ws.connections.values()), offline=offline,
                                                                    names=names)]
        _print_problems(problems)
        if problems:
            raise typer.Exit(_exit_code(problems))


@app.command()
def check(name: str) -> None:
    """Check that the source and the destination of CONN accept their credentials."""
    with _errors():
        conn = _connection(name)
        with conn.make_source() as source:
            source.check()
        out.print(f"[green]✓[/] source {conn.config.source.connector}: reachable, credentials accepted")
        destination = conn.make_destination()
        destination.check()
        out.print(f"[green]✓[/] destination {conn.config.destination.connector}: writable")


@app.command()
def discover(name: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show the source catalog of CONN: streams, keys, cursors, fields and types."""
    with _errors():
        conn = _connection(name)
        with conn.make_source() as source:
            catalog = source.discover()
        if as_json:
            out.print_json(json.dumps({"namespace": catalog.namespace, "streams": [
                {"name": s.name, "primary_key": list(s.primary_key), "default_cursor": s.default_cursor,
                 "sync_modes": [m.value for m in s.supported_sync_modes],
                 "fields": {f.name: str(f.type) for f in s.schema}} for s in catalog.streams]}))
            return
        table = Table(title=f"{conn.name}: {conn.config.source.connector} catalog (namespace {catalog.namespace})",
                      title_justify="left")
        for col in ("stream", "primary key", "cursor", "fields"):
            table.add_column(col)
        for s in catalog.streams:
            table.add_row(s.name, ", ".join(s.primary_key), s.default_cursor or "",
                          ", ".join(f"{f.name}:{f.type}" for f in s.schema))
        out.print(table)


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
    with _errors():
        since_day = _parse_day(since, "--since")
        if since_day is not None and full_refresh:
            raise ConfigError("--since and --full-refresh do not combine: --since re-reads from a day and merges, "
                              "--full-refresh re-reads everything")
        ws = _workspace()
        if all_:
            # Every good connection syncs even if other files are broken; those are reported at the end.
            targets = [c for c in ws.connections.values() if c.config.active and c.config.allow_manual_syncs]
            for conn in ws.connections.values():
                if conn.config.active and not conn.config.allow_manual_syncs:
                    err.print(f"skipped {conn.name}: manual syncs are disabled (allow_manual_syncs: false)")
        elif names:
            targets = [ws.get(n) for n in names]
        else:
            raise ConfigError("name a connection to sync, or pass --all")
        for conn in targets:
            if not conn.config.active:
                raise conn.error(f"connection {conn.name!r} is paused (active: false); set active: true to sync it",
                                 ("active",))
            if not conn.config.allow_manual_syncs:
                raise conn.error(f"manual syncs of {conn.name!r} are disabled (allow_manual_syncs: false); "
                                 "it runs on its schedule only", ("allow_manual_syncs",))
        failed: list[RooftopError] = []
        for conn in targets:
            progress = ConsoleProgress(out, settings.redactor)
            try:
                run_sync(conn, streams=stream, full_refresh=full_refresh, since=since_day, observer=progress,
                         preflight=collisions.sync_preflight(list(ws.connections.values()), conn))
            except SyncFailed as exc:
                failed.append(exc)
            finally:
                progress.close()
        broken = ws.errors if all_ else []
        _print_problems([("", e) for e in broken])
        if len(failed) == 1:
            raise failed[0]
        if failed:
            raise SyncFailed("workspace", {e.connection: e for e in failed if isinstance(e, SyncFailed)})
        if broken:
            raise ConfigError(f"{len(broken)} connection file(s) could not be loaded and were not synced "
                              "(listed above; `rooftop validate` checks them)")


def _parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{option} {value!r} is not a date: write YYYY-MM-DD, e.g. 2024-01-31") from None


@app.command()
def status(names: Annotated[list[str] | None, typer.Argument(help="Connections (default: all).")] = None,
           limit: Annotated[int, typer.Option(help="Syncs to show per connection.")] = 5) -> None:
    """Show each stream's table, row count, saved cursor and last syncs.

    Without names, broken connection files are listed after the good connections and the exit code is 2,
    so a script notices that part of the workspace is not loaded."""
    with _errors():
        ws = _workspace()
        conns = [ws.get(n) for n in names] if names else list(ws.connections.values())
        problems: list[tuple[str, RooftopError]] = [] if names else [("", e) for e in ws.errors]
        for conn in conns:
            try:
                _print_status(conn, limit)
            except RooftopError as exc:  # one unreachable warehouse must not hide the other connections
                problems.append((f"{conn.name}: ", exc))
        _print_problems(problems)
        if problems:
            raise typer.Exit(_exit_code(problems))


def _print_problems(problems: list[tuple[str, RooftopError]]) -> None:
    """One `✗` line per (label, error): broken files, or connections that could not be checked."""
    for label, problem in problems:
        err.print(f"[red]✗[/] {escape(settings.redactor(label + str(problem)))}", soft_wrap=True)


def _exit_code(problems: list[tuple[str, RooftopError]]) -> int:
    """2 if any problem is a configuration error, 3 if all are transient, else 1."""
    if any(isinstance(p, ConfigError) for _label, p in problems):
        return 2
    return 3 if all(isinstance(p, TransientError) for _label, p in problems) else 1


def _print_status(conn: LoadedConnection, limit: int) -> None:
    with conn.make_destination() as destination:
        state = destination.read_state(conn.name)
        history = destination.recent_syncs(conn.name, limit=1000)
        latest: dict[str, Any] = {}
        for rec in history:
            latest.setdefault(rec.stream, rec)
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


@app.command()
def schema() -> None:
    """Print the JSON Schema of connection files (for editor autocompletion)."""
    out.print_json(json.dumps(ConnectionConfig.model_json_schema()))


@app.command()
def sandbox(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0 = any free port).")] = 8765,
    seed: int = 42,
    scale: Annotated[int, typer.Option(help="Number of properties; other streams scale with it.")] = 10,
    count: Annotated[list[str] | None, typer.Option(help="Override a stream's size: stream=N.")] = None,
    api_key: Annotated[str, typer.Option(envvar="SANDBOX_API_KEY", help="Key clients must send.")] = "rooftop-sandbox",
    rate_limit: Annotated[int | None, typer.Option(
        help="Answer 429 + Retry-After above N requests/minute per key (0 = the 150/min PMS model).")] = None,
    error_rate: Annotated[float, typer.Option(help="Share of requests answered 500/502/503.")] = 0.0,
    drop_rate: Annotated[float, typer.Option(help="Share of connections dropped without an answer.")] = 0.0,
    slow_ms: Annotated[int, typer.Option(help="Delay every response by this many milliseconds.")] = 0,
) -> None:
    """Serve the built-in property-management sandbox API on 127.0.0.1."""
    from connectors.sandbox.server import serve

    with _errors():
        counts: dict[str, int] = {}
        for item in count or []:
            stream_name, _, value = item.partition("=")
            if not value.isdigit():
                raise ConfigError(f"--count {item!r}: expected stream=N, e.g. work_orders=2000000")
            counts[stream_name] = int(value)
        serve(host="127.0.0.1", port=port, seed=seed, scale=scale, counts=counts, api_key=api_key,
              rate_limit_per_minute=rate_limit, error_rate=error_rate, drop_rate=drop_rate, slow_ms=slow_ms)


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()



from pipelines.cli import ops as _ops  # noqa: E402,F401 - registers `schedule` and `ui`
from pipelines.cli import history as _history  # noqa: E402,F401 - registers history, logs, diffs
from pipelines.cli import properties as _properties  # noqa: E402,F401 - registers properties
from pipelines.cli import clone as _clone  # noqa: E402,F401 - registers clone
