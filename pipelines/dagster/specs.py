"""What Dagster should show for one connection, computed from its YAML and its source's catalog.

The table assets need the catalog (namespace, table names, columns, descriptions), so building
them calls the source's `discover()` and `plan_streams`, the same planning the engine does before
a sync; nothing is written. Every problem becomes a `ConfigError` naming the file and field, which
`build.py` turns into a visibly broken definition instead of taking the code location down.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa
from dagster import AssetCheckSpec, AssetKey, AssetSpec, TableColumn, TableSchema
from dagster._core.errors import DagsterInvalidDefinitionError

from pipelines.engine.plan import StreamPlan, plan_streams
from pipelines.workspace.connection import LoadedConnection
from protocol.types import Catalog, SyncMode

SOURCE_PREFIX = "source"
"""Upstream asset keys are `["source", <source namespace>, <stream>]`: three parts, so they never
collide with a table's two-part `[namespace, table]` key, even when the namespace is the source's."""
SOURCE_GROUP = "external_sources"
PK_CHECK = "primary_key_unique"
TAG_CONNECTION = "rooftop/connection"
TAG_WAREHOUSE = "rooftop/warehouse"
"""Run tags that dagster.yaml limits to one in-progress run per value (see docs/dagster.md)."""
MEMORY = ":memory:"


@dataclass
class ConnectionSpecs:
    """Everything Dagster needs to know about one connection, before any sync runs."""

    conn: LoadedConnection
    plans: list[StreamPlan]
    assets: list[AssetSpec]
    checks: list[AssetCheckSpec]
    sources: list[AssetSpec]
    stream_of: dict[AssetKey, str] = field(default_factory=dict)
    plan_of: dict[AssetKey, StreamPlan] = field(default_factory=dict)
    warehouse: str | None = None
    """A file-backed destination's resolved path (runs take turns); None for servers and `:memory:`."""

    @property
    def name(self) -> str:
        return self.conn.name

    @property
    def pool(self) -> str:
        return f"rooftop/{self.conn.name}"

    @property
    def run_tags(self) -> dict[str, str]:
        # User tags first, so they can never override the tags the run queue relies on.
        tags = {**self.conn.config.tags, TAG_CONNECTION: self.conn.name}
        if self.warehouse is not None:
            tags[TAG_WAREHOUSE] = self.warehouse
        return tags


def connection_specs(conn: LoadedConnection) -> ConnectionSpecs:
    """Discover the catalog and plan every stream of `conn`; raise ConfigError/TransientError."""
    with conn.make_source() as source:
        catalog = source.discover()
    destination = conn.make_destination()  # constructing opens nothing: only names and paths
    plans = plan_streams(conn, catalog, destination.default_namespace)
    # File-backed destinations expose the resolved file (DuckDB) or directory (Parquet) they write
    # as `path`: runs writing the same one take turns. Servers (Postgres) handle their own writers.
    path = getattr(destination, "path", None)
    warehouse = str(path) if isinstance(path, str | os.PathLike) and str(path) != MEMORY else None
    specs = ConnectionSpecs(conn=conn, plans=plans, assets=[], checks=[], sources=[], warehouse=warehouse)
    _check_dagster_fields(conn)
    # A destination that cannot count duplicate keys yet gets no primary-key check (not a failing one).
    checkable = callable(getattr(conn.destination_class, "count_duplicate_keys", None))
    for plan in plans:
        key = table_key(plan)
        specs.stream_of[key] = plan.name
        specs.plan_of[key] = plan
        specs.assets.append(_asset_spec(conn, catalog, plan, key))
        specs.sources.append(source_spec(conn, catalog, plan))
        if plan.sync_mode is SyncMode.INCREMENTAL_DEDUPED and checkable:
            specs.checks.append(AssetCheckSpec(
                PK_CHECK, asset=key, description=f"Every {'/'.join(plan.primary_key)} value occurs in one row only "
                                                 "(the table is deduplicated on its primary key)."))
    return specs


def table_key(plan: StreamPlan) -> AssetKey:
    return AssetKey([plan.table.namespace, plan.table.table])


def source_key(catalog: Catalog, stream: str) -> AssetKey:
    return AssetKey([SOURCE_PREFIX, catalog.namespace, stream])


def column_schema(columns: pa.Schema | Iterable[tuple[str, str]]) -> TableSchema:
    """Dagster's column schema from an Arrow schema or the engine's (name, type) pairs."""
    pairs = [(f.name, str(f.type)) for f in columns] if isinstance(columns, pa.Schema) else list(columns)
    return TableSchema(columns=[TableColumn(name, kind) for name, kind in pairs])


def source_spec(conn: LoadedConnection, catalog: Catalog, plan: StreamPlan) -> AssetSpec:
    """The source system's stream as an external asset: lineage starts outside the warehouse."""
    connector = conn.config.source.connector
    text = plan.stream.description or f"The {plan.name} stream of the {connector} source."
    return AssetSpec(source_key(catalog, plan.name), group_name=SOURCE_GROUP, kinds={connector},
                     description=f"{text}\n\nRead by Rooftop from the `{connector}` source; not materialized "
                                 "by Dagster.",
                     metadata={"dagster/column_schema": column_schema(plan.stream.schema)})


def _asset_spec(conn: LoadedConnection, catalog: Catalog, plan: StreamPlan, key: AssetKey) -> AssetSpec:
    cfg = conn.config
    what = plan.stream.description or f"The {plan.name} stream."
    description = (f"{what}\n\nSynced by connection `{conn.name}` ({conn.file}) from the "
                   f"`{cfg.source.connector}` source into `{cfg.destination.connector}` as "
                   f"{plan.sync_mode.value}.")
    metadata: dict[str, object] = {
        "dagster/table_name": f"{plan.table.namespace}.{plan.table.table}",
        "dagster/column_schema": column_schema(plan.table.schema),
        "sync_mode": plan.sync_mode.value,
        "connection_file": conn.file,
    }
    if plan.primary_key:
        metadata["primary_key"] = ", ".join(plan.primary_key)
    if plan.cursor_field:
        metadata["cursor_field"] = plan.cursor_field
    return AssetSpec(key, deps=[source_key(catalog, plan.name)], description=description,
                     group_name=conn.name, kinds={cfg.source.connector, cfg.destination.connector},
                     owners=cfg.owners or None, tags=cfg.tags or None, metadata=metadata)


def _check_dagster_fields(conn: LoadedConnection) -> None:
    """Owners and tags must satisfy Dagster's rules; say so against the YAML line, not a traceback."""
    for name, kwargs in (("owners", {"owners": conn.config.owners}), ("tags", {"tags": conn.config.tags})):
        try:
            AssetSpec("probe", **kwargs)  # type: ignore[arg-type]
        except DagsterInvalidDefinitionError as exc:
            raise conn.error(f"not accepted by Dagster: {exc}", (name,)) from None
