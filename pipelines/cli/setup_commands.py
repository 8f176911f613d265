"""Commands that look before anything moves: `connectors`, `validate`, `check`, `discover`, `schema`."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from pipelines.cli.app import (
    app,
    current_workspace,
    exit_code_of,
    handle_errors,
    named_connection,
    out,
    print_problems,
)
from pipelines.workspace import registry
from protocol.errors import ConfigError, RooftopError

if TYPE_CHECKING:
    from protocol.types import Destination, Source


@app.command()
def connectors(name: Annotated[str | None, typer.Argument(help="Show one connector's config spec.")] = None) -> None:
    """List installed connectors, or show one connector's configuration spec."""
    with handle_errors():
        if name is None:
            from rich.table import Table  # ~15 ms of imports: only commands that print tables
            table = Table(title="connectors", title_justify="left")
            for col in ("name", "kind", "implementation", "package"):
                table.add_column(col)
            for kind in ("source", "destination"):
                for info in registry.available(kind):
                    table.add_row(info.name, info.kind, info.target, info.distribution or "")
            out.print(table)
            return
        loaders: dict[registry.Kind, Callable[[str], type[Source] | type[Destination]]] = {
            "source": registry.load_source, "destination": registry.load_destination}
        kinds = [k for k in loaders if any(i.name == name for i in registry.available(k))]
        if not kinds:
            raise ConfigError(registry.unknown_connector_message("source", name))
        for kind in kinds:
            cls = loaders[kind](name)
            summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
            out.print(f"[bold]{name}[/] ({kind}) — {summary}")
            out.print_json(json.dumps(cls.config_model.model_json_schema()))


@app.command()
def validate(
    names: Annotated[list[str] | None, typer.Argument(help="Connections to check (default: all).")] = None,
    offline: Annotated[bool, typer.Option(help="Skip checks that need the source's catalog.")] = False,
) -> None:
    """Validate connection files: YAML, keys, connectors, and streams against each source's catalog."""
    from pipelines.engine import collisions
    with handle_errors():
        ws = current_workspace()
        problems: list[tuple[str, RooftopError]] = [("", e) for e in ws.errors]
        for conn in ws.connections.values():
            if names and conn.name not in names:
                continue
            try:
                if not offline:
                    from pipelines.engine.plan import plan_streams  # pyarrow: only with the catalog
                    from pipelines.engine.property_selection import check_supported

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
        print_problems(problems)
        if problems:
            raise typer.Exit(exit_code_of(problems))


@app.command()
def check(name: str) -> None:
    """Check that the source and the destination of CONN accept their credentials."""
    with handle_errors():
        conn = named_connection(name)
        with conn.make_source() as source:
            source.check()
        out.print(f"[green]✓[/] source {conn.config.source.connector}: reachable, credentials accepted")
        destination = conn.make_destination()
        destination.check()
        out.print(f"[green]✓[/] destination {conn.config.destination.connector}: writable")


@app.command()
def discover(name: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show the source catalog of CONN: streams, keys, cursors, fields and types."""
    with handle_errors():
        conn = named_connection(name)
        with conn.make_source() as source:
            catalog = source.discover()
        if as_json:
            out.print_json(json.dumps({"namespace": catalog.namespace, "streams": [
                {"name": s.name, "primary_key": list(s.primary_key), "default_cursor": s.default_cursor,
                 "sync_modes": [m.value for m in s.supported_sync_modes],
                 "fields": {f.name: str(f.type) for f in s.schema}} for s in catalog.streams]}))
            return
        from rich.table import Table  # ~15 ms of imports: only commands that print tables
        table = Table(title=f"{conn.name}: {conn.config.source.connector} catalog (namespace {catalog.namespace})",
                      title_justify="left")
        for col in ("stream", "primary key", "cursor", "fields"):
            table.add_column(col)
        for s in catalog.streams:
            table.add_row(s.name, ", ".join(s.primary_key), s.default_cursor or "",
                          ", ".join(f"{f.name}:{f.type}" for f in s.schema))
        out.print(table)


@app.command()
def schema() -> None:
    """Print the JSON Schema of connection files (for editor autocompletion)."""
    from pipelines.config.models import ConnectionConfig
    out.print_json(json.dumps(ConnectionConfig.model_json_schema()))
