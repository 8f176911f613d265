"""Property selection: which of a customer's properties a connection syncs.

The decision is in the connection YAML (`properties: {include, exclude, new_properties}`), so it is
reviewed in git like every other setting; `rooftop properties CONN --enable/--disable` edits those
lists. What the source has shown us is a fact, not a decision, and lives in the warehouse next to
the data: `_rooftop.properties` keeps every property a connection has seen with its first-seen
time, so `pending` properties are visible before anyone enables them. An `include` list alone is an
allow-list (`new_properties` then defaults to `pending`, see `PropertySelection`): a property the
customer never chose is not synced just because it appeared at the source.

At the start of a sync the engine lists the catalog's property stream (one cheap listing), records
properties it has not seen before, and hands the enabled ids to every property-scoped stream.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from pipelines.workspace.connection import LoadedConnection
from protocol.bookkeeping import PROPERTIES
from protocol.errors import ConfigError
from protocol.types import Catalog, ReadRequest

log = logging.getLogger("rooftop.properties")


@dataclass(frozen=True)
class KnownProperty:
    property_id: str
    name: str | None
    status: str
    """enabled | disabled | pending (from the YAML lists and `new_properties`)."""
    first_seen_at: datetime | None
    """None: listed in the YAML but never seen at the source."""
    listed: bool
    """Present in the source's latest listing (only known when the source was asked)."""


def check_supported(conn: LoadedConnection, catalog: Catalog) -> None:
    """A `properties:` block on a source that has no notion of properties is a config error."""
    if conn.config.properties is not None and catalog.properties is None:
        raise conn.error(f"the {conn.config.source.connector} source does not organise records by property; "
                         "remove the properties block", ("properties",))


def list_source_properties(source: Any, catalog: Catalog) -> list[tuple[str, str | None]]:
    """(id, name) of every property the source lists now, in its order."""
    scope = catalog.properties
    if scope is None:
        raise ConfigError("this source does not organise records by property")
    stream = catalog.get(scope.stream)
    if stream is None:
        raise ConfigError(f"the source's property stream {scope.stream!r} is not in its catalog")
    fields = (scope.id_field, *((scope.name_field,) if scope.name_field else ()))
    request = ReadRequest(stream=stream, incremental=False, cursor_field=None, state=None, fields=fields)
    found: dict[str, str | None] = {}
    for item in source.read(request):
        if not isinstance(item, pa.RecordBatch) or item.num_rows == 0:
            continue
        ids = item.column(scope.id_field).to_pylist()
        names = (item.column(scope.name_field).to_pylist() if scope.name_field and scope.name_field in
                 item.schema.names else [None] * len(ids))
        for pid, name in zip(ids, names, strict=True):
            if pid is not None:
                found[str(pid)] = None if name is None else str(name)
    return list(found.items())


def record_seen(destination: Any, connection: str, found: list[tuple[str, str | None]],
                sync_id: str | None) -> list[str]:
    """Add properties never seen before to `_rooftop.properties`; return their ids."""
    known = set(destination.read_bookkeeping(PROPERTIES, connection).column("property_id").to_pylist())
    new = [(pid, name) for pid, name in found if pid not in known]
    if new:
        now = datetime.now(UTC)
        destination.append_bookkeeping(PROPERTIES, pa.Table.from_pylist(
            [{"connection": connection, "property_id": pid, "name": name, "first_seen_at": now,
              "first_seen_sync_id": sync_id} for pid, name in new], schema=PROPERTIES.schema))
    return [pid for pid, _ in new]


def select_properties(conn: LoadedConnection, source: Any, catalog: Catalog, destination: Any,
                      sync_id: str) -> frozenset[str] | None:
    """The ids to sync (None: no selection, every property), after recording newly seen ones."""
    selection = conn.config.properties
    if selection is None or catalog.properties is None:
        return None
    found = list_source_properties(source, catalog)
    new = record_seen(destination, conn.name, found, sync_id)
    enabled = frozenset(pid for pid, _ in found if selection.status(pid) == "enabled")
    pending = [pid for pid, _ in found if selection.status(pid) == "pending"]
    if new:
        log.info("%d new propert%s seen: %s", len(new), "y" if len(new) == 1 else "ies", ", ".join(new[:20]),
                 extra={"event": "properties_new", "ids": new, "new_properties": selection.new_properties})
    if pending:
        log.warning("%d pending propert%s not synced until enabled (rooftop properties %s --enable ...): %s",
                    len(pending), "y" if len(pending) == 1 else "ies", conn.name, ", ".join(pending[:20]),
                    extra={"event": "properties_pending", "ids": pending})
    log.info("syncing %d of %d properties", len(enabled), len(found),
             extra={"event": "properties_selected", "enabled": len(enabled), "listed": len(found)})
    return enabled


def known_properties(conn: LoadedConnection, destination: Any,
                     listed: list[tuple[str, str | None]] | None = None) -> list[KnownProperty]:
    """Every property the connection has seen or names in its YAML, with its status."""
    selection = conn.config.properties
    seen = {r["property_id"]: r for r in destination.read_bookkeeping(PROPERTIES, conn.name).to_pylist()}
    listed_ids = {pid for pid, _ in listed} if listed is not None else set()
    names = {pid: name for pid, name in listed or []}
    ids = list(seen) + [pid for pid in names if pid not in seen]
    if selection is not None:
        ids += [pid for pid in (*selection.include, *selection.exclude) if pid not in seen and pid not in names]

    def status(pid: str) -> str:
        return selection.status(pid) if selection is not None else "enabled"

    rows = [KnownProperty(property_id=pid, name=names.get(pid) or (seen[pid]["name"] if pid in seen else None),
                          status=status(pid), first_seen_at=seen[pid]["first_seen_at"] if pid in seen else None,
                          listed=pid in listed_ids)
            for pid in dict.fromkeys(ids)]
    return sorted(rows, key=lambda p: (not p.property_id.isdigit(), int(p.property_id) if p.property_id.isdigit()
                                       else 0, p.property_id))
