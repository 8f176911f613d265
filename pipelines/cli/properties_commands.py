"""`rooftop properties CONN`: list a connection's properties and enable or disable them.

Listing reads what the warehouse recorded (`_rooftop.properties`: every property seen, first-seen
time) and the YAML's decision for each; `--refresh` asks the source first, without syncing.
Enabling and disabling edit the `properties.include` / `exclude` lists of the connection file in
place (comments and key order kept), so the change is one reviewable diff in git and takes effect
at the next sync. Registered by `pipelines.cli`, which imports every command group.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from pipelines.cli.app import app, err, handle_errors, named_connection, out

if TYPE_CHECKING:
    from pipelines.engine.property_selection import KnownProperty
    from pipelines.workspace.connection import LoadedConnection


@app.command()
def properties(
    name: str,
    enable: Annotated[list[str] | None, typer.Option(help="Ids to sync (comma-separated, repeatable; "
                                                          "`pending` = every pending one).")] = None,
    disable: Annotated[list[str] | None, typer.Option(help="Ids never to sync (comma-separated, repeatable).")] = None,
    refresh: Annotated[bool, typer.Option(help="List the source's properties now (records new ones).")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List CONN's properties with status and first-seen time; --enable / --disable edit the YAML."""
    from pipelines.ops.properties import change_properties, load_properties, property_json
    with handle_errors():
        conn = named_connection(name)
        known = load_properties(conn, refresh)
        change = change_properties(conn, known, enable, disable)
        if change is not None:
            conn, known = change.connection, change.known
            err.print(f"{conn.file}: enabled {len(change.enabled)}, disabled {len(change.disabled)} "
                      "(takes effect at the next sync; commit the file to keep it)")
            if change.unseen:
                err.print(f"[yellow]note:[/] not seen at the source yet: {', '.join(change.unseen)}")
        if as_json:
            out.print_json(json.dumps([property_json(p) for p in known]))
            return
        _print(conn, known)


def _print(conn: LoadedConnection, known: list[KnownProperty]) -> None:
    selection = conn.config.properties
    policy = (f"new properties: {selection.new_properties}" if selection is not None
              else "no `properties:` block: every property is synced")
    if not known:
        out.print(f"{conn.name}: no properties seen yet ({policy}); run a sync or `rooftop properties "
                  f"{conn.name} --refresh`")
        return
    from rich.table import Table  # ~15 ms of imports: only commands that print tables
    table = Table(title=f"{conn.name}: {len(known)} properties ({policy})", title_justify="left")
    for col in ("id", "name", "status", "first seen (UTC)"):
        table.add_column(col)
    colour = {"enabled": "green", "disabled": "red", "pending": "yellow"}
    for p in known:
        seen = f"{p.first_seen_at:%Y-%m-%d %H:%M}" if p.first_seen_at else "not seen yet"
        table.add_row(p.property_id, p.name or "", f"[{colour[p.status]}]{p.status}[/]", seen)
    out.print(table)
    counts = {s: sum(p.status == s for p in known) for s in ("enabled", "disabled", "pending")}
    out.print(", ".join(f"{n} {s}" for s, n in counts.items()))
