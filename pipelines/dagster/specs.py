"""What Dagster should show for one connection, computed from its YAML and its source's catalog.

The table assets need the catalog (namespace, table names, columns, descriptions), so building
them calls the source's `discover()` and `plan_streams`, the same planning the engine does before
a sync; nothing is written. Every Dagster process (webserver, daemon, each run) repeats this, so
the source is opened offline (`SourceContext.offline`): it sends no request and starts nothing,
and describes each stream from its configuration and cached schemas. A stream whose schema is
not known so (a `rest_api` stream neither declared nor inferred yet) is planned with the fields
the YAML names; its columns show up in the asset's metadata after its first run.

What each asset looks like (key, group, kinds, tags...) is the translator's (`translator.py`);
this module adds the checks, pool and run tags. Every problem
becomes a `ConfigError` naming the file and field, which `build.py` turns into a visibly broken
definition instead of taking the code location down.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

import pyarrow as pa
from dagster import AssetCheckSpec, AssetKey, AssetSpec
from dagster._core.errors import DagsterInvalidDefinitionError

from pipelines.config.yaml_reader import Path_
from pipelines.dagster.translator import RooftopTranslator, StreamTranslatorData
from pipelines.engine.plan import StreamPlan, plan_streams
from pipelines.workspace.connection import LoadedConnection
from protocol.types import Catalog, SyncMode

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


def connection_specs(conn: LoadedConnection, translator: RooftopTranslator) -> ConnectionSpecs:
    """Discover the catalog and plan every stream of `conn`; raise ConfigError/TransientError.

    Keys, groups, kinds, tags and the rest of each spec are `translator`'s (see translator.py).
    """
    catalog = offline_catalog(conn)
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
    for index, plan in enumerate(plans):
        data = StreamTranslatorData(connection=conn, plan=plan, catalog=catalog)
        spec = translator.get_asset_spec(data)
        key = spec.key
        if key in specs.stream_of:
            # Two streams as one asset: Dagster would refuse the whole code location.
            raise conn.error(f"streams {specs.stream_of[key]!r} and {plan.name!r} both get the asset key "
                             f"{key.to_user_string()} from {type(translator).__name__}: each table needs its own key",
                             stream_path(conn, index))
        specs.stream_of[key] = plan.name
        specs.plan_of[key] = plan
        specs.assets.append(spec)
        specs.sources.append(translator.get_source_spec(data))
        if plan.sync_mode is SyncMode.INCREMENTAL_DEDUPED and checkable:
            specs.checks.append(AssetCheckSpec(
                PK_CHECK, asset=key, description=f"Every {'/'.join(plan.primary_key)} value occurs in one row only "
                                                 "(the table is deduplicated on its primary key)."))
    return specs


def offline_catalog(conn: LoadedConnection) -> Catalog:
    """The source's catalog without a request; streams it could not describe get the fields the YAML
    names (typed as text here: the run's own discovery has their real types), so they can be planned."""
    with conn.make_source(offline=True) as source:
        catalog = source.discover()
    named = {sc.name: [*(sc.primary_key or []), *([sc.cursor_field] if sc.cursor_field else []),
                       *(sc.fields or []), *sc.enum_maps, *sc.privacy] for sc in conn.config.streams or []}
    streams = []
    for stream in catalog.streams:
        missing = [name for name in dict.fromkeys(named.get(stream.name, ())) if name not in stream.schema.names]
        if not stream.schema_known and missing:
            stream = dataclasses.replace(stream, schema=pa.schema([*stream.schema, *(pa.field(name, pa.string())
                                                                                     for name in missing)]))
        streams.append(stream)
    return dataclasses.replace(catalog, streams=tuple(streams))


def stream_path(conn: LoadedConnection, index: int) -> Path_:
    """Where the YAML decides the `index`-th planned stream: its entry, else the namespace line."""
    return ("streams", index, "name") if conn.config.streams is not None else ("namespace",)


def _check_dagster_fields(conn: LoadedConnection) -> None:
    """Owners and tags must satisfy Dagster's rules; say so against the YAML line, not a traceback."""
    for name, kwargs in (("owners", {"owners": conn.config.owners}), ("tags", {"tags": conn.config.tags})):
        try:
            AssetSpec("probe", **kwargs)
        except DagsterInvalidDefinitionError as exc:
            raise conn.error(f"not accepted by Dagster: {exc}", (name,)) from None
