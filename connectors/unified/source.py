"""`model: unified`: a Source that shows a vendor source's native streams as the unified tables.

`LoadedConnection.make_source` wraps the configured source in a `UnifiedSource` when the connection
says `model: unified`, so every front-end (sync, discover, validate, Dagster) sees the same unified
catalog and the engine needs no second code path: sync modes, state, property selection, privacy,
diffs and enum maps work on unified tables as on any stream. Reading a unified table reads the
native stream its `TableMapping` names and transforms each batch (`connectors.unified.columns`);
checkpoints pass through untouched, so a table's state *is* its native stream's state, and a
connection switched between `native` and `unified` keeps neither's cursor for the other's table
unless the names coincide (docs/unified-model.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Any, ClassVar, Self

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel

from connectors.unified.columns import DELETED_COLUMN, TableTransform, root
from protocol.errors import ConfigError
from protocol.types import Catalog, CatalogStream, PropertyScope, ReadRequest, Source, SourceItem
from protocol.unified import UNIFIED_TABLES, TableMapping, UnifiedMapping, column_path


def declared_mapping(source_class: type[Any]) -> UnifiedMapping | None:
    """The `unified_mapping` a Source class declares, or None (it serves `model: native` only)."""
    mapping = getattr(source_class, "unified_mapping", None)
    return mapping if isinstance(mapping, UnifiedMapping) else None


class UnifiedSource:
    """Wraps an open-able native Source; anything else (state_version, server, ...) is the native source's."""

    name: ClassVar[str] = "unified"
    config_model: ClassVar[type[BaseModel]] = BaseModel

    def __init__(self, native: Source, mapping: UnifiedMapping, *, connection: str) -> None:
        problems = mapping.problems()
        if problems:
            raise ConfigError(f"connector {native.name}: its unified mapping is broken: {'; '.join(problems)}")
        self.native = native
        self.mapping = mapping
        self.connection = connection
        self._native_catalog: Catalog | None = None

    def __getattr__(self, name: str) -> Any:
        # Only reached for names this class lacks: state_version, migrate_state, base_url, server, ...
        return getattr(self.native, name)

    def __enter__(self) -> Self:
        self.native.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.native.__exit__(exc_type, exc, tb)

    def check(self) -> None:
        self.native.check()

    def discover(self) -> Catalog:
        native = self._native_catalog = self.native.discover()
        tables = [self._table(name, table, stream) for name, table in self.mapping.tables.items()
                  if (stream := native.get(table.stream)) is not None]
        # Not the native namespace: a connection switched to unified must not land into its native tables.
        return Catalog(namespace=f"{native.namespace}_unified", streams=tuple(tables),
                       properties=self._scope(native))

    def _table(self, name: str, table: TableMapping, stream: CatalogStream) -> CatalogStream:
        cursor = next((column for column, spec in table.columns.items()
                       if stream.default_cursor and column_path(spec) == stream.default_cursor), None)
        return CatalogStream(
            name=name, schema=UNIFIED_TABLES[name], primary_key=("id",), default_cursor=cursor,
            supported_sync_modes=stream.supported_sync_modes if cursor or not stream.default_cursor
            else tuple(m for m in stream.supported_sync_modes if not m.incremental),
            description=f"Unified {name}, from the {self.native.name} stream {stream.name!r}. {stream.description}",
            deleted_field=DELETED_COLUMN if stream.deleted_field else None)

    def _scope(self, native: Catalog) -> PropertyScope | None:
        scope = native.properties
        if scope is None:
            return None
        listing = next((n for n, t in self.mapping.tables.items() if t.stream == scope.stream), None)
        if listing is None:
            return None
        name_field = next((c for c, spec in self.mapping.tables[listing].columns.items()
                           if column_path(spec) == scope.name_field), None)
        # Foreign keys hold unified ids, not the vendor's property ids the selection is made of:
        # the adapter keeps member tables to the selection itself, on the native records (`read`).
        members: dict[str, str | None] = {n: None for n, t in self.mapping.tables.items()
                                          if t.stream in scope.members and n != listing}
        members[listing] = "source_id"
        return PropertyScope(stream=listing, id_field="source_id", name_field=name_field, members=members)

    def read(self, request: ReadRequest) -> Iterator[SourceItem]:
        native_catalog = self._native_catalog or self.native.discover()
        name = request.stream.name
        table = self.mapping.tables.get(name)
        stream = native_catalog.get(table.stream) if table is not None else None
        if table is None or stream is None:
            raise ConfigError(f"{name!r} is not a unified table of the {self.native.name} connector")
        native_request = ReadRequest(
            stream=stream, incremental=request.incremental, cursor_field=self._native_cursor(table, request),
            state=request.state, start_date=request.start_date, end_date=request.end_date,
            fields=self._native_fields(table, stream, request.fields), lookback_seconds=request.lookback_seconds,
            properties=request.properties)
        transform = TableTransform(name, table, self.native.name, self.connection, stream.deleted_field)
        scope = native_catalog.properties
        member = scope.members.get(stream.name) if scope is not None else None
        for item in self.native.read(native_request):
            if not isinstance(item, pa.RecordBatch):
                yield item
                continue
            if request.properties is not None and member and member in item.schema.names:
                ids = pc.cast(item.column(member), pa.string())
                item = item.filter(pc.is_in(ids, value_set=pa.array(sorted(request.properties), pa.string())))
            if item.num_rows:
                yield transform.apply(item)

    def _native_cursor(self, table: TableMapping, request: ReadRequest) -> str | None:
        if request.cursor_field is None:
            return None
        spec = table.columns.get(request.cursor_field)
        if spec is None or "." in column_path(spec):
            raise ConfigError(f"cursor field {request.cursor_field!r} of unified table {request.stream.name!r} "
                              f"is not a top-level field of the {self.native.name} stream {table.stream!r}")
        return column_path(spec)

    @staticmethod
    def _native_fields(table: TableMapping, stream: CatalogStream,
                       fields: tuple[str, ...] | None) -> tuple[str, ...] | None:
        """The native fields the requested unified columns read from (None: all, for vendor_fields)."""
        if fields is None or "vendor_fields" in fields:
            return None
        wanted = set(fields) | {f.removesuffix("_normalized") for f in fields if f.endswith("_normalized")}
        paths = [table.id, *(column_path(spec) for column, spec in table.columns.items() if column in wanted)]
        roots = {root(p) for p in paths} | ({stream.deleted_field} if stream.deleted_field else set())
        return tuple(n for n in stream.schema.names if n in roots)

