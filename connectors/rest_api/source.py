"""The `rest_api` source: any JSON REST API described in connection YAML (see docs/rest_api.md).

One instance serves one connection for one `with` block: one HttpClient (keep-alive pool, the
connection's rate limit and max_concurrency from its SourceContext, retries, auth), shared by the
streams the engine reads at once from several threads. A stream's pages become record batches as
they arrive (memory stays flat); incremental streams checkpoint after every page when the API lists
in cursor order, else once at the end. A child stream reads its parent's records first and then one
request series per parent record, copying the asked-for parent fields into each child record.
With a property selection (`ReadRequest.properties`), `partitions` keeps unselected properties from
costing requests: per-property endpoints are read per selected property, and parents outside the
selection are skipped.

What a sync costs beyond its own streams: discovery samples no stream whose schema is declared or
cached with a matching fingerprint (`infer`), and `discover(streams=...)` samples only those
streams; a parent's records are listed once per sync (`with` block) and shared by every child
stream that needs them. Windows (`windows`), cursor formats and watermarks (`cursor`) are planned
per read against `sync_started`, the moment the `with` block was entered.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

import httpx
import pyarrow as pa
from pydantic import BaseModel

from connectors.arrow import records_to_batch
from connectors.http.auth import HeaderAuth, make_authenticator
from connectors.http.client import HttpClient
from connectors.http.paginators import dig
from connectors.http.throttle import Throttle
from connectors.rest_api.arrow_types import parse_arrow_type
from connectors.rest_api.config import RestApiConfig, StreamSpec
from connectors.rest_api.cursor import CursorPlan, plan_cursor
from connectors.rest_api.cursor_format import localize_records, zone
from connectors.rest_api.infer import TIMESTAMP_UTC, InferredSchema, SchemaCache, StoredSchema, fingerprint
from connectors.rest_api.page_arrow import ArrowPageReader, arrow_page, arrow_reader
from connectors.rest_api.pages import Record, series, walk
from connectors.rest_api.partitions import (
    keep_selected,
    property_pages,
    property_scope,
    read_by_property,
    scope_members,
    selected_properties,
)
from connectors.rest_api.prefetch import prefetched
from connectors.rest_api.windows import read_windows, sample_window
from protocol.errors import ConfigError
from protocol.types import Catalog, CatalogStream, ReadRequest, SourceContext, SourceItem, StateCheckpoint, SyncMode

log = logging.getLogger("rooftop.rest_api")

CHILD_BATCH_ROWS = 2000
"""Child streams gather the small per-parent pages into batches of about this many records."""
SAMPLE_PARENTS = 20
"""Parent records tried when sampling a child stream whose first parents have no children."""


class RestApiSource:
    """Any JSON REST API described in YAML: auth, pagination, incremental reads, child streams (docs/rest_api.md)."""

    name: ClassVar[str] = "rest_api"
    config_model: ClassVar[type[BaseModel]] = RestApiConfig

    def __init__(self, config: RestApiConfig, *, root: Path, context: SourceContext | None = None,
                 credential_field: str | None = None, transport: httpx.BaseTransport | None = None) -> None:
        """`transport`: sends the requests in place of httpx's pool, e.g. an `httpx.MockTransport` in a test."""
        self.config = config
        self.root = root
        self.context = context or SourceContext()
        self.credential_field = credential_field
        """Overrides the name under which a refused credential is reported (a fixed manifest's own key)."""
        self.transport = transport
        self._http: HttpClient | None = None
        self._lock = threading.Lock()
        self._catalog: Catalog | None = None
        self._inferred: dict[str, InferredSchema] = {}
        self._store = SchemaCache(root, self.context.connection, self.context.schema_store)
        self._tz = zone(config.timezone)
        self.sync_started = datetime.now(UTC)
        """The moment this `with` block began: windows end there, a watermark saves it."""
        self._listings: dict[tuple[str, frozenset[str] | None], _Listing] = {}
        self._listings_lock = threading.Lock()
        self._page_paths: dict[str, ArrowPageReader] = {}
        """The Arrow page reader of each stream being read, for its page counts."""

    # --- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        ctx, cfg = self.context, self.config
        self.sync_started = datetime.now(UTC)
        self._listings = {}
        throttle = Throttle(ctx.rate_limit_requests, ctx.rate_limit_per_seconds, ctx.max_concurrency)
        http = HttpClient(cfg.base_url, connection=ctx.connection, headers=cfg.headers, timeout=cfg.timeout_seconds,
                          retry=cfg.retries, throttle=throttle, http2=cfg.http2, deadline=cfg.request_deadline_seconds,
                          transport=self.transport)

        def fetch_token(request: httpx.Request) -> httpx.Response:
            return http.send(lambda: request, f"{request.method} {request.url.path} (token)")

        http.auth = make_authenticator(cfg.auth, fetch_token, base_url=cfg.base_url)
        if http.auth is not None and self.credential_field:
            http.auth.field = self.credential_field
        if isinstance(http.auth, HeaderAuth):
            # A credential no request can carry fails the sync before any stream starts (a config
            # error, exit 2), not once per stream; an OAuth2 token is checked as it is sent.
            probe = httpx.Request("GET", cfg.base_url)
            http.auth.apply(probe)
            try:
                http.check_headers(probe, "any request")
            except ConfigError:
                http.close()
                raise
        self._http = http
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        http, self._http = self._http, None
        if http is not None:
            http.close()

    @property
    def http(self) -> HttpClient:
        if self._http is None:
            raise RuntimeError(f"use the {self.name} source inside `with source:`")
        return self._http

    @property
    def http_stats(self) -> dict[str, Any]:
        """Requests, retries and rate-limit waits so far (also logged per stream as `http_stats`)."""
        return self.http.stats()

    def _spec(self, name: str) -> StreamSpec:
        spec = next((s for s in self.config.streams if s.name == name), None)
        if spec is None:
            raise ConfigError(f"the {self.name} source has no stream {name!r} "
                              f"(streams: {', '.join(s.name for s in self.config.streams)})")
        return spec

    # --- check / discover ------------------------------------------------------------------------

    def check(self) -> None:
        if self.config.check_path is not None:
            self.http.get(self.config.check_path)
            return
        spec = next((s for s in self.config.streams if s.parent is None), self.config.streams[0])
        next(self._pages(spec, {}), None)

    def discover(self, streams: Collection[str] | None = None) -> Catalog:
        """The catalog. `streams`: the only streams about to be read; no other stream is sampled (its
        cached schema is used, else just the fields its config names), and such a catalog is not kept.
        With `SourceContext.offline` no stream is sampled: no request is sent."""
        with self._lock:
            if self._catalog is not None:
                return self._catalog
            stored = {} if all(s.declared_schema is not None for s in self.config.streams) else self._store.load()
            partial = False
            built = []
            # The property list is read whenever properties are selected: its schema names them.
            wanted = None if streams is None else {*streams, *([self.config.properties.stream]
                                                               if self.config.properties else [])}
            for spec in self.config.streams:
                # Offline (a Dagster code-location load): nothing is sampled; the run discovers.
                sample = not self.context.offline and (wanted is None or spec.name in wanted)
                stream, skipped = self._catalog_stream(spec, stored.get(spec.name), sample)
                partial = partial or skipped
                built.append(stream)
            catalog = Catalog(namespace=self.config.namespace, streams=tuple(built),
                              properties=property_scope(self.config))
            if not partial:
                self._catalog = catalog
            return catalog

    def fingerprint(self, spec: StreamSpec) -> str:
        """Of the settings `spec`'s inferred schema depends on: a cached schema with another is stale."""
        cfg = self.config
        return fingerprint({"stream": spec.model_dump(mode="json", exclude={"description"}), "base_url": cfg.base_url,
                            "params": cfg.params, "records": cfg.records, "timezone": cfg.timezone})

    def _catalog_stream(self, spec: StreamSpec, stored: StoredSchema | None,
                        sample: bool) -> tuple[CatalogStream, bool]:
        """The stream's catalog entry, and whether its schema is a stand-in (not sampled, nothing cached)."""
        skipped = False
        if spec.declared_schema is not None:
            schema = pa.schema([(name, parse_arrow_type(t)) for name, t in spec.declared_schema.items()])
        elif stored is not None and stored.fingerprint == self.fingerprint(spec):
            schema = stored.schema  # the cache is current: no request
        else:
            skipped = not sample
            schema = self._infer(spec, stored.schema if stored else None, sample)
        return CatalogStream(name=spec.name, schema=schema, primary_key=tuple(spec.primary_key),
                             default_cursor=spec.incremental.cursor_field if spec.incremental else None,
                             supported_sync_modes=tuple(SyncMode), description=spec.description,
                             deleted_field=spec.deleted_field, schema_known=not skipped), skipped

    def _infer(self, spec: StreamSpec, stored: pa.Schema | None, sample: bool = True) -> pa.Schema:
        """Sample `spec`'s first pages (unless not `sample`: the stored or configured fields only)."""
        inferred = InferredSchema(stored)
        pages = 0
        params, run = sample_window(spec, self._tz, self.sync_started)
        for records in self._pages(spec, params, sample=True, run=run) if sample else ():
            inferred.observe(records)
            pages += bool(records)
            if pages >= self.config.infer_pages:
                break
        # Key, cursor and tombstone fields must exist even when the sample was empty.
        cursor_type = spec.incremental.cursor_type if spec.incremental else "string"
        cursor_arrow = {"timestamp": TIMESTAMP_UTC, "date": pa.date32(), "number": pa.float64()}
        for name in spec.primary_key:
            inferred.ensure(name, pa.string())
        if spec.incremental:
            inferred.ensure(spec.incremental.cursor_field, cursor_arrow.get(cursor_type, pa.string()))
        if spec.deleted_field:
            inferred.ensure(spec.deleted_field, TIMESTAMP_UTC)
        schema = inferred.freeze()
        if not sample:
            return schema  # a stand-in for a stream this sync does not read: neither kept nor cached
        self._inferred[spec.name] = inferred
        self._store.save(spec.name, schema, self.fingerprint(spec))
        return schema

    # --- read ------------------------------------------------------------------------------------

    def _pages(self, spec: StreamSpec, extra_params: dict[str, Any], sample: bool = False,
               properties: frozenset[str] | None = None, run: dict[str, Any] | None = None) -> Iterator[list[Record]]:
        """Pages of `spec`'s records; for a child stream, every parent's series in turn.

        `properties`: the selection, for a property-scoped `spec` (None: every property). `run`: the
        values of `{cursor}`, `{window.start}`, `{window.end}` (a parameter or body member whose value
        is missing is left out). Naive timestamps are read in the source's timezone and become UTC.
        """
        inc = spec.incremental
        localize = self.config.timezone is not None or (inc is not None and inc.format is not None)
        for records in self._series_pages(spec, extra_params, sample, properties, run or {}):
            if localize and records:
                self._localize(spec, records)
            yield records

    def _localize(self, spec: StreamSpec, records: list[Record]) -> None:
        inc = spec.incremental
        if inc is not None and inc.format is not None:
            localize_records(records, self._tz, (inc.cursor_field,), inc.format)
        if self.config.timezone is not None:
            localize_records(records, self._tz)

    def _series_pages(self, spec: StreamSpec, extra_params: dict[str, Any], sample: bool,
                      properties: frozenset[str] | None, run: dict[str, Any]) -> Iterator[list[Record]]:
        members = scope_members(self.config) if properties is not None else {}
        field = members.get(spec.name)
        scope = spec.property_scope
        if properties is not None and spec.name in members and scope is not None and scope.path is not None:
            # Used as a parent: every selected property's series, without a cursor.
            assert self.config.properties is not None
            listing = self._records(self._spec(self.config.properties.stream))
            for _, prop in selected_properties(listing, self.config.properties.id_field, properties):
                yield from property_pages(self.http, self.config, spec, prop, extra_params, run)
            return
        if spec.parent is None:
            pages = series(self.http, self.config, spec, run, extra_params)
        else:
            parent_spec = self._spec(spec.parent.stream)
            pages = self._child_pages(spec, parent_spec, extra_params, sample,
                                      properties if parent_spec.name in members else None, run)
        if properties is None or field is None:
            yield from pages
            return
        for records in pages:
            yield keep_selected(records, field, properties)

    def _child_pages(self, spec: StreamSpec, parent_spec: StreamSpec, extra_params: dict[str, Any], sample: bool,
                     parent_properties: frozenset[str] | None, run: dict[str, Any]) -> Iterator[list[Record]]:
        assert spec.parent is not None
        copy = spec.parent.fields
        # Parents outside the selection are never listed, so their children are never requested.
        for n, parent in enumerate(self._records(parent_spec, parent_properties)):
            if sample and n >= SAMPLE_PARENTS:
                return
            values = {**run, "parent": parent, spec.parent.alias: parent}
            for records in series(self.http, self.config, spec, values, extra_params):
                if copy:
                    for record in records:
                        for child_field, parent_path in copy.items():
                            record[child_field] = dig(parent, parent_path)
                yield records

    def _records(self, spec: StreamSpec, properties: frozenset[str] | None = None) -> Iterator[Record]:
        """`spec`'s records as a parent list: read once per sync, shared by every stream that needs them."""
        with self._listings_lock:
            listing = self._listings.setdefault((spec.name, properties), _Listing())
        with listing.lock:  # a second child stream waits for the first one's read instead of repeating it
            if listing.records is None:
                listing.records = [r for page in self._pages(spec, {}, properties=properties) for r in page]
        yield from listing.records

    def read(self, request: ReadRequest) -> Iterator[SourceItem]:
        """Yield one batch per page (child streams: per ~CHILD_BATCH_ROWS) and checkpoints (see module doc)."""
        spec = self._spec(request.stream.name)
        inferred = None
        if spec.declared_schema is None:
            with self._lock:
                inferred = self._inferred.setdefault(spec.name, InferredSchema(request.stream.schema))
        scoped = request.properties is not None and spec.name in scope_members(self.config)
        selected = request.properties if scoped else None
        if selected is not None and spec.property_scope is not None and spec.property_scope.path is not None:
            assert self.config.properties is not None

            def prepare(records: list[Record]) -> None:
                self._localize(spec, records)
                if inferred is not None:
                    self._widen(spec, inferred, records)

            listing = self._records(self._spec(self.config.properties.stream))
            items = read_by_property(self.http, self.config, spec, request, listing, prepare, tz=self._tz,
                                     now=self.sync_started)
        elif spec.windows is not None:

            def widen(records: list[Record]) -> None:
                if inferred is not None:
                    self._widen(spec, inferred, records)

            items = read_windows(spec, request, lambda p, run: self._pages(spec, p, properties=selected, run=run),
                                 widen, tz=self._tz, now=self.sync_started)
        else:
            items = self._read(spec, request, inferred, selected)
        rows = 0
        # The next page is fetched and parsed while the engine loads this one (`prefetch`).
        for item in prefetched(items, name=f"rooftop-{self.context.connection}-{spec.name}"):
            if isinstance(item, pa.RecordBatch):
                rows += item.num_rows
            yield item
        stats = self.http.stats()
        paths = self._page_paths.pop(spec.name, None)
        pages = {"pages_arrow": paths.fast, "pages_python": paths.slow} if paths is not None else {}
        log.info("stream %s: %d records; connection so far: %d requests, %d retries", spec.name, rows,
                 stats["requests"], stats["retries"],
                 extra={"event": "http_stats", "stream": spec.name, "connection": self.context.connection,
                        "records": rows, **pages, **stats})

    def _read(self, spec: StreamSpec, request: ReadRequest, inferred: InferredSchema | None,
              selected: frozenset[str] | None) -> Iterator[SourceItem]:
        """One request series (a child stream: one per parent), with a single cursor."""
        schema = request.stream.schema
        plan = plan_cursor(spec, request, tz=self._tz, now=self.sync_started)
        per_page = plan.ordered and spec.parent is None
        buffer: list[Record] = []
        reader: ArrowPageReader | None = None
        pages: Iterator[list[Record] | pa.RecordBatch]
        listing = self.config.properties is not None and spec.name == self.config.properties.stream
        if listing and not request.incremental and selected is None and not plan.params and spec.parent is None:
            # The property list asked for whole (the engine's property listing, or the stream's own full
            # read): the sync's one read of it, shared with every per-property stream.
            pages = iter([list(self._records(spec))])
        else:
            reader = self._arrow_reader(spec, request, plan, inferred, selected)
            if reader is not None:
                pages = walk(self.http, self.config, spec, plan.placeholders, plan.params, arrow_page(reader))
            else:
                pages = self._pages(spec, plan.params, properties=selected, run=plan.placeholders)
        for records in pages:
            if isinstance(records, pa.RecordBatch):
                if records.num_rows:
                    if plan.track and plan.cursor_field is not None:
                        plan.observe_column(records.column(plan.cursor_field))
                    yield records  # raw types, as the Python path's: the engine casts whole batches
                    if per_page and plan.highest is not None:
                        yield StateCheckpoint({"cursor": plan.highest})
                continue
            if reader is not None and inferred is not None and records:
                reader.known({*(reader.known_fields or ()), *set().union(*records)})
            records, past_end = plan.keep(records)
            if records:
                if inferred is not None:
                    self._widen(spec, inferred, records)
                plan.observe(records)
                if spec.parent is None:
                    # The whole page is converted before anything is yielded: no state for half a page.
                    yield records_to_batch(records, schema)
                else:
                    buffer.extend(records)
                    if len(buffer) >= CHILD_BATCH_ROWS:
                        yield records_to_batch(buffer, schema)
                        buffer = []
                if per_page and plan.highest is not None:
                    yield StateCheckpoint({"cursor": plan.highest})
            if past_end and per_page:
                break  # listed in cursor order: every later page is past the end too (not so across parents)
        if buffer:
            yield records_to_batch(buffer, schema)
        if plan.watermark is not None:
            yield StateCheckpoint({"cursor": plan.watermark})  # read completely: next time, from this sync's start
        elif plan.track and not per_page and plan.highest is not None:
            yield StateCheckpoint({"cursor": plan.highest})

    def _arrow_reader(self, spec: StreamSpec, request: ReadRequest, plan: CursorPlan,
                      inferred: InferredSchema | None, selected: frozenset[str] | None) -> ArrowPageReader | None:
        exact = spec.parent is None and selected is None and self.config.timezone is None
        reader = arrow_reader(self.config, spec, request.stream.schema, plan, inferred is not None) if exact else None
        if reader is not None:
            with self._lock:
                self._page_paths[spec.name] = reader
        return reader

    def _widen(self, spec: StreamSpec, inferred: InferredSchema, records: list[Record]) -> None:
        added = inferred.new_fields(records)
        if not added:
            return
        schema = inferred.freeze()
        with self._lock:
            self._catalog = None  # the next discover publishes the wider schema
        self._store.save(spec.name, schema, self.fingerprint(spec))
        log.warning("stream %s: new field(s) %s appeared after discovery; they join the table from the next "
                    "sync (saved in %s)", spec.name, ", ".join(added), self._store.where,
                    extra={"event": "schema_widened", "stream": spec.name, "fields": added})


class _Listing:
    """A parent stream's records, read once (see `RestApiSource._records`)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.records: list[Record] | None = None
