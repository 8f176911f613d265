"""Resolve a connection's stream settings against the source catalog, before anything is written.

The YAML can name streams, fields, cursors and keys that only the catalog can confirm. This module
does every such check and produces one `StreamPlan` per stream: the exact columns, types, table and
mode the engine will use. Every problem is a ConnectionFileError pointing at the YAML line.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import pyarrow as pa

from pipelines.config.models import (
    EnumMap,
    StreamConfig,
)
from pipelines.engine.identifiers import check_identifiers
from pipelines.engine.namespaces import resolve_namespace
from pipelines.engine.privacy import PrivacyRules, plan_privacy
from pipelines.engine.unified import enum_overrides
from pipelines.workspace.connection import LoadedConnection
from protocol.types import (
    META_DELETED_AT,
    META_EXTRACTED_AT,
    META_META,
    META_SYNC_ID,
    Catalog,
    CatalogStream,
    SyncMode,
    TableSpec,
)

META_FIELDS = [
    pa.field(META_EXTRACTED_AT, pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field(META_SYNC_ID, pa.string(), nullable=False),
    pa.field(META_META, pa.string()),
]
DELETED_FIELD = pa.field(META_DELETED_AT, pa.timestamp("us", tz="UTC"))


@dataclass(frozen=True)
class StreamPlan:
    stream: CatalogStream
    config: StreamConfig
    sync_mode: SyncMode
    cursor_field: str | None
    primary_key: tuple[str, ...]
    source_schema: pa.Schema
    """Selected source columns with their catalog types (what coercion targets)."""
    enum_maps: dict[str, EnumMap]
    table: TableSpec
    privacy: PrivacyRules | None = None
    """hash / mask / drop per field (`streams[].privacy`); dropped fields are not in `source_schema`."""

    @property
    def name(self) -> str:
        return self.stream.name

    @property
    def tracks_deletes(self) -> bool:
        return self.sync_mode.incremental and self.stream.deleted_field is not None


def plan_streams(conn: LoadedConnection, catalog: Catalog, destination_default_namespace: str,
                 only: list[str] | None = None) -> list[StreamPlan]:
    """One plan per configured stream, or per stream of `only` (the others are not planned: a
    `--stream` sync discovers only what it reads, so the others' schemas may be placeholders)."""
    cfg = conn.config
    configured = cfg.streams if cfg.streams is not None else [StreamConfig(name=n) for n in catalog.names]
    if only:
        names = [s.name for s in configured]
        for wanted in only:
            if wanted not in names:
                raise conn.error(f"--stream {wanted!r} is not one of this connection's streams "
                                 f"({', '.join(names)})", ("streams",))
    namespace = resolve_namespace(cfg.namespace, catalog.namespace, destination_default_namespace)
    plans = [_plan_one(conn, catalog, index, stream, namespace) for index, stream in enumerate(configured)
             if not only or stream.name in only]
    check_identifiers(conn, plans)
    return plans


def _plan_one(conn: LoadedConnection, catalog: Catalog, index: int, sc: StreamConfig,
              namespace: str) -> StreamPlan:
    at = ("streams", index) if conn.config.streams is not None else ()
    stream = catalog.get(sc.name)
    if stream is None:
        hint = difflib.get_close_matches(sc.name, catalog.names, n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        raise conn.error(f"unknown stream {sc.name!r}{suggestion} (the {conn.config.source.connector} source "
                         f"has: {', '.join(catalog.names)})", (*at, "name"))
    columns = stream.schema.names
    mode = sc.sync_mode or stream.default_sync_mode
    if mode not in stream.supported_sync_modes:
        raise conn.error(f"stream {sc.name!r} does not support {mode.value} (supported: "
                         f"{', '.join(m.value for m in stream.supported_sync_modes)})", (*at, "sync_mode"))
    cursor = sc.cursor_field or (stream.default_cursor if mode.incremental else None)
    if sc.cursor_field and sc.cursor_field not in columns:
        raise conn.error(f"cursor field {sc.cursor_field!r} is not a field of stream {sc.name!r} "
                         f"(fields: {', '.join(columns)})", (*at, "cursor_field"))
    if mode.incremental and cursor and cursor not in columns:
        # The catalog's own default cursor can be missing from its schema too (a declared schema
        # without it): every sync would save no cursor and re-read, or re-append, everything.
        where = (*at, "sync_mode") if sc.sync_mode is not None else (*at, "name") if at else ("streams",)
        raise conn.error(f"stream {sc.name!r} uses {mode.value} with the source's default cursor field "
                         f"{cursor!r}, which is not a field of the stream (fields: {', '.join(columns)}): set "
                         "cursor_field to a field the records carry, or use a full_refresh sync mode", where)
    if mode.incremental and not cursor:
        raise conn.error(f"stream {sc.name!r} uses {mode.value} but has no cursor field: set cursor_field "
                         "(the catalog has no default)", (*at, "sync_mode"))
    pk = tuple(sc.primary_key) if sc.primary_key is not None else stream.primary_key
    for key in pk:
        if key not in columns:
            raise conn.error(f"primary key field {key!r} is not a field of stream {sc.name!r} "
                             f"(fields: {', '.join(columns)})", (*at, "primary_key"))
    if (sc.start_date or sc.end_date) and not (cursor or stream.default_cursor):
        raise conn.error(f"stream {sc.name!r} has a date filter but no cursor field to apply it to: set "
                         "cursor_field", (*at, "start_date" if sc.start_date else "end_date"))
    if mode is SyncMode.INCREMENTAL_DEDUPED and not pk:
        raise conn.error(f"stream {sc.name!r} uses incremental_deduped but has no primary key: set "
                         "primary_key", (*at, "sync_mode"))
    selected = _select_fields(conn, sc, stream, at, keep=[*pk, *([cursor] if cursor else [])])
    privacy = plan_privacy(conn, sc, stream, at, pk, cursor, catalog.properties)
    if privacy is not None:
        selected = [name for name in selected if name not in privacy.dropped]
    source_schema = pa.schema([stream.schema.field(name) for name in selected])
    overrides = enum_overrides(conn, sc, stream)  # model: unified rewrites status_normalized itself
    enum_fields = _check_enum_maps(conn, sc, selected, at, overrides)
    in_place = {name for name, m in sc.enum_maps.items() if m.to is None and name not in overrides}
    mapped = [pa.field(f.name, pa.string()) if f.name in in_place else f for f in source_schema]
    if privacy is not None:
        mapped = [privacy.table_field(f) for f in mapped]
    table_fields = mapped + enum_fields + META_FIELDS
    if mode.incremental and stream.deleted_field is not None:
        table_fields.append(DELETED_FIELD)
    spec = TableSpec(connection=conn.name, stream=sc.name, namespace=namespace,
                     table=conn.config.prefix + sc.name, schema=pa.schema(table_fields), sync_mode=mode,
                     primary_key=pk, cursor_field=cursor,
                     record_diffs=mode is SyncMode.INCREMENTAL_DEDUPED
                     and conn.config.retention.diffs > 0)
    return StreamPlan(stream=stream, config=sc, sync_mode=mode, cursor_field=cursor, primary_key=pk,
                      source_schema=source_schema, enum_maps={**sc.enum_maps, **overrides}, table=spec, privacy=privacy)


def _select_fields(conn: LoadedConnection, sc: StreamConfig, stream: CatalogStream,
                   at: tuple[str | int, ...], keep: list[str]) -> list[str]:
    columns = stream.schema.names
    if sc.fields is None:
        return list(columns)
    for i, name in enumerate(sc.fields):
        if name not in columns:
            hint = difflib.get_close_matches(name, columns, n=1)
            suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
            raise conn.error(f"field {name!r} is not in stream {sc.name!r}{suggestion} "
                             f"(fields: {', '.join(columns)})", (*at, "fields", i))
    wanted = set(sc.fields) | set(keep)
    return [c for c in columns if c in wanted]  # catalog order, so tables are stable


def _check_enum_maps(conn: LoadedConnection, sc: StreamConfig, selected: list[str],
                     at: tuple[str | int, ...], overrides: dict[str, EnumMap]) -> list[pa.Field]:
    added: list[pa.Field] = []
    for name, enum_map in sc.enum_maps.items():
        where = (*at, "enum_maps", name)
        if name not in selected:
            raise conn.error(f"enum map for {name!r}, which is not a selected field of stream {sc.name!r} "
                             f"(selected: {', '.join(selected)})", where)
        target = enum_map.to
        if target is not None and name not in overrides:
            taken = {*selected, *(f.name for f in added)}
            if target in taken or target.startswith("_rooftop"):
                raise conn.error(f"enum map target {target!r} collides with an existing column", (*where, "to"))
            added.append(pa.field(target, pa.string()))
    return added
