"""What one write is for the target connection: the fields checked, the request sent, the streams re-read.

A native connection writes its system's own resources and fields as declared
(`protocol.writes`). A `model: unified` connection also takes the unified names (`residents`,
`first_name`): `protocol.unified_writes` derives, from the vendor's declaration and its unified
mapping, which unified columns are writable, so validation and its errors use the names the caller
sent, and the write is renamed to the vendor's before it is sent. The streams to re-read after
success are the declaration's (`refresh_streams`, default the resource's own), as the connection
names its streams (for a unified connection: the unified tables read from them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipelines.workspace.connection import LoadedConnection
from protocol.errors import ConfigError
from protocol.types import Source
from protocol.unified import UnifiedMapping
from protocol.unified_writes import UnifiedWrites
from protocol.writes import ValidatedWrite, WritableSource, WriteDeclaration, WriteOperation, validate_write


@dataclass(frozen=True)
class WritePlan:
    write: ValidatedWrite
    """As the caller named it: what is recorded and shown (resource, payload, ignored fields)."""
    sent: ValidatedWrite
    """As the system names it: what `send_write` gets."""
    refresh: tuple[str, ...]
    """Streams of the connection that hold the record, re-read after success if the connection syncs them."""


def writable(source: Source, conn: LoadedConnection) -> WritableSource:
    native = getattr(source, "native", source)  # a unified connection writes through its native source
    if not isinstance(native, WritableSource):
        raise ConfigError(f"connection {conn.name!r}: the {conn.config.source.connector} connector "
                          "does not support writes")
    return native


def plan_write(conn: LoadedConnection, resource: str, operation: WriteOperation, payload: Any,
               ignore_unknown_fields: bool = False) -> WritePlan:
    """Validate `payload` for the connection's system; a ConfigError names the refused field and the system."""
    declared, unified = _declarations(conn)
    if unified is not None and (resource in unified.declaration.resources or resource not in declared.resources):
        write = validate_write(unified.declaration, resource, operation, payload, ignore_unknown_fields)
        return WritePlan(write, unified.to_native(write), unified.declaration.resources[resource].refreshes(resource))
    write = validate_write(declared, resource, operation, payload, ignore_unknown_fields)
    return WritePlan(write, write, _refresh(declared, unified, resource))


def refresh_of(conn: LoadedConnection, resource: str) -> tuple[str, ...]:
    """The streams to re-read after a write to `resource` (which must be writable)."""
    declared, unified = _declarations(conn)
    if unified is not None and resource in unified.declaration.resources:
        return unified.declaration.resources[resource].refreshes(resource)
    return _refresh(declared, unified, resource)


def accepts(conn: LoadedConnection, resource: str) -> bool:
    """Whether the connection's system declares writes to `resource` (by the names this connection uses)."""
    try:
        declared, unified = _declarations(conn)
    except Exception:  # noqa: BLE001 - a connection that cannot even be built accepts nothing
        return False
    return resource in declared.resources or (unified is not None and resource in unified.declaration.resources)


def id_locations(conn: LoadedConnection, resource: str, source: Source | None = None) -> dict[str, str | None]:
    """Where the connection's warehouse may hold a `resource` id: stream -> the declared dotted path of the
    id in its rows (column, then JSON keys), or None for the stream's own key (the resource's stream).

    Declared paths (`ResourceWrites.ids_in`) name native streams and columns, so a `model: unified`
    connection, whose tables are the unified ones, is searched in the resource's own table only.
    """
    declared, unified = _declarations(conn, source)
    writes = declared.resources.get(resource)
    elsewhere = dict(writes.ids_in) if writes is not None and unified is None else {}
    return {resource: None, **elsewhere}


def _declarations(conn: LoadedConnection,
                  source: Source | None = None) -> tuple[WriteDeclaration, UnifiedWrites | None]:
    source = conn.make_source() if source is None else source
    native = writable(source, conn)
    mapping = getattr(source, "mapping", None)  # set on connectors.unified.UnifiedSource only
    unified = UnifiedWrites(native.write_resources, mapping) if isinstance(mapping, UnifiedMapping) else None
    return native.write_resources, unified


def _refresh(declared: WriteDeclaration, unified: UnifiedWrites | None, resource: str) -> tuple[str, ...]:
    writes = declared.resources.get(resource)
    streams = writes.refreshes(resource) if writes is not None else (resource,)
    return streams if unified is None else unified.tables_reading(streams)
