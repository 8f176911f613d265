"""`rooftop properties CONN`: list a connection's properties and enable or disable them.

Listing reads what the warehouse recorded (`_rooftop.properties`: every property seen, first-seen
time) and the YAML's decision for each; `--refresh` asks the source first, without syncing.
Enabling and disabling edit the `properties.include` / `exclude` lists of the connection file in
place (comments and key order kept), so the change is one reviewable diff in git and takes effect
at the next sync. Registered by `pipelines.cli`, which imports every command group.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from pipelines.cli.app import app, err, handle_errors, named_connection, out
from pipelines.engine.property_selection import (
    KnownProperty,
    known_properties,
    list_source_properties,
    record_seen,
)
from pipelines.ops.yaml_edit import set_property_status
from pipelines.workspace.connection import LoadedConnection
from protocol.errors import ConfigError


def _ids(values: list[str] | None, known: list[KnownProperty]) -> list[str]:
    """`--enable 3,4 --enable 9` → ids; the word `pending` stands for every pending property."""
    ids: list[str] = []
    for value in values or []:
        for part in (p.strip() for p in value.split(",")):
            if part == "pending":
                ids.extend(p.property_id for p in known if p.status == "pending")
            elif part:
                ids.append(part)
    return list(dict.fromkeys(ids))


def _load(conn: LoadedConnection, refresh: bool) -> list[KnownProperty]:
    if not refresh:
        with conn.make_destination() as destination:
            return known_properties(conn, destination)
    with conn.make_source() as source:
        catalog = source.discover()
        if catalog.properties is None:
            raise conn.error(f"the {conn.config.source.connector} source does not organise records by property",
                             ("source", "connector"))
        listed = list_source_properties(source, catalog)
    with conn.make_destination() as destination:
        record_seen(destination, conn.name, listed, None)
        return known_properties(conn, destination, listed)


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
    with handle_errors():
        conn = named_connection(name)
        known = _load(conn, refresh)
        to_enable, to_disable = _ids(enable, known), _ids(disable, known)
        both = sorted(set(to_enable) & set(to_disable))
        if both:
            raise ConfigError(f"propert{'y' if len(both) == 1 else 'ies'} {', '.join(both)} given to both "
                              "--enable and --disable")
        if to_enable or to_disable:
            path = conn.root / conn.file
            if to_enable:
                set_property_status(path, to_enable, "enabled")
            if to_disable:
                set_property_status(path, to_disable, "disabled")
            seen = {p.property_id for p in known}
            unseen = [i for i in (*to_enable, *to_disable) if i not in seen]
            err.print(f"{conn.file}: enabled {len(to_enable)}, disabled {len(to_disable)} "
                      "(takes effect at the next sync; commit the file to keep it)")
            if unseen:
                err.print(f"[yellow]note:[/] not seen at the source yet: {', '.join(unseen)}")
            conn = named_connection(name)
            with conn.make_destination() as destination:
                known = known_properties(conn, destination)
        if as_json:
            out.print_json(json.dumps([{"id": p.property_id, "name": p.name, "status": p.status,
                                        "first_seen_at": p.first_seen_at.isoformat() if p.first_seen_at else None}
                                       for p in known]))
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
