"""The engine's side of `model: unified`: a connection's `enum_maps` over the vendor's default ones.

Reading and transforming unified tables is a Source like any other (`connectors.unified`, wrapped in
by `LoadedConnection.make_source`), so the engine plans and lands them unchanged. What only the
engine can do is apply the connection's own words: an enum map on a field the model normalizes
(`status`), written without `to` or with `to: status_normalized`, replaces that column's default
normalization. Its values are merged over the vendor's defaults (the connection wins for a value
both name) and its `default` replaces the vendor's, so a connection lists only what it changes.
"""

from __future__ import annotations

from connectors.unified import declared_mapping
from pipelines.config.models import EnumMap, StreamConfig
from pipelines.workspace.connection import LoadedConnection
from protocol.types import CatalogStream
from protocol.unified import normalized_column


def enum_overrides(conn: LoadedConnection, sc: StreamConfig, stream: CatalogStream) -> dict[str, EnumMap]:
    """Field → the merged map that rewrites its normalized column; empty unless `model: unified`."""
    if conn.config.model != "unified":
        return {}
    mapping = declared_mapping(conn.source_class)
    table = mapping.tables.get(sc.name) if mapping is not None else None
    merged: dict[str, EnumMap] = {}
    for name, own in sc.enum_maps.items():
        target = normalized_column(name)
        if target not in stream.schema.names or own.to not in (None, target):
            continue  # not a normalized field, or a column of its own: the usual enum map
        vendor = table.enums.get(name) if table is not None else None
        values = {**(vendor.values if vendor is not None else {}), **own.values}
        default = own.default if own.default is not None else vendor.default if vendor is not None else None
        merged[name] = EnumMap(to=target, values=values, default=default)
    return merged
