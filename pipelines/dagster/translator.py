"""How a stream looks in Dagster, decided in one overridable place: `RooftopTranslator`.

Every table asset (key, group, kinds, tags, owners, description, metadata, upstream dependency)
and every upstream source-stream asset is the `AssetSpec` this object returns; nothing else in
`pipelines.dagster` computes a key, a group or a kind. The defaults are what Rooftop has always
shown: key `[namespace, table]`, group = connection name, kinds = source and destination
connector, owners and tags from the YAML.

The shape is Dagster's own integration pattern (dagster-dlt's `DagsterDltTranslator`,
dagster-sling's `DagsterSlingTranslator` in their current form): one method per kind of asset that
takes a data object and returns a whole `AssetSpec`; a subclass calls `super()` and changes what it
needs with `AssetSpec.replace_attributes` / `merge_attributes`. A subclass is passed to
`build_definitions(root, translator=...)` in the code location module (docs/dagster.md).

Whatever a translator returns, the asset body, the primary-key checks, the jobs and the
duplicate-key check in `build.py` use the key it chose.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa
from dagster import AssetKey, AssetSpec, TableColumn, TableSchema

from pipelines.config.models import ConnectionConfig
from pipelines.engine.plan import StreamPlan
from pipelines.workspace.connection import LoadedConnection
from protocol.types import Catalog

SOURCE_PREFIX = "source"
"""Upstream asset keys are `["source", <source namespace>, <stream>]`: three parts, so they never
collide with a table's two-part `[namespace, table]` key, even when the namespace is the source's."""
SOURCE_GROUP = "external_sources"


@dataclass(frozen=True)
class StreamTranslatorData:
    """One stream of one connection, as planned before any sync: what a translator decides from."""

    connection: LoadedConnection
    """The loaded connection file (`connection.config` is the validated YAML, `connection.file` its path)."""
    plan: StreamPlan
    """The engine's plan of the stream: resolved table (namespace, name, columns), sync mode, keys."""
    catalog: Catalog
    """The source's catalog (`discover`), e.g. `catalog.namespace` for the source system's name."""

    @property
    def config(self) -> ConnectionConfig:
        return self.connection.config

    @property
    def stream(self) -> str:
        return self.plan.name

    @property
    def namespace(self) -> str:
        """The warehouse schema the table lands in (after `namespace:`)."""
        return self.plan.table.namespace

    @property
    def table(self) -> str:
        """The table name (after `prefix:`)."""
        return self.plan.table.table

    @property
    def source_connector(self) -> str:
        return self.config.source.connector

    @property
    def destination_connector(self) -> str:
        return self.config.destination.connector


class RooftopTranslator:
    """The default mapping of connections to Dagster assets; subclass it to change any part."""

    def get_asset_spec(self, data: StreamTranslatorData) -> AssetSpec:
        """The table the stream lands in, materialized by the connection's sync.

        Its `deps` default to the key `get_source_spec` returns, so overriding that key keeps the
        lineage intact.
        """
        cfg, plan = data.config, data.plan
        what = plan.stream.description or f"The {plan.name} stream."
        description = (f"{what}\n\nSynced by connection `{data.connection.name}` ({data.connection.file}) from "
                       f"the `{data.source_connector}` source into `{data.destination_connector}` as "
                       f"{plan.sync_mode.value}.")
        metadata: dict[str, object] = {
            "dagster/table_name": f"{data.namespace}.{data.table}",
            "dagster/column_schema": column_schema(plan.table.schema),
            "sync_mode": plan.sync_mode.value,
            "connection_file": data.connection.file,
        }
        if plan.primary_key:
            metadata["primary_key"] = ", ".join(plan.primary_key)
        if plan.cursor_field:
            metadata["cursor_field"] = plan.cursor_field
        return AssetSpec(AssetKey([data.namespace, data.table]), deps=[self.get_source_spec(data).key],
                         description=description, group_name=data.connection.name,
                         kinds={data.source_connector, data.destination_connector},
                         owners=cfg.owners or None, tags=cfg.tags or None, metadata=metadata)

    def get_source_spec(self, data: StreamTranslatorData) -> AssetSpec:
        """The stream in the source system, an external asset upstream of its table.

        Connections reading the same source stream share this asset: the first spec with a given
        key is the one shown.
        """
        connector = data.source_connector
        text = data.plan.stream.description or f"The {data.stream} stream of the {connector} source."
        return AssetSpec(AssetKey([SOURCE_PREFIX, data.catalog.namespace, data.stream]), group_name=SOURCE_GROUP,
                         kinds={connector},
                         description=f"{text}\n\nRead by Rooftop from the `{connector}` source; not materialized "
                                     "by Dagster.",
                         metadata={"dagster/column_schema": column_schema(data.plan.stream.schema)})


def column_schema(columns: pa.Schema | Iterable[tuple[str, str]]) -> TableSchema:
    """Dagster's column schema from an Arrow schema or the engine's (name, type) pairs."""
    pairs = [(f.name, str(f.type)) for f in columns] if isinstance(columns, pa.Schema) else list(columns)
    return TableSchema(columns=[TableColumn(name, kind) for name, kind in pairs])
