"""The `sandbox` source: the built-in sandbox PMS API read through `rest_api` with a fixed manifest.

It lets a new user sync without a vendor account, and it is the reference vendor connector: no HTTP
code of its own, only `manifest()`, the rest_api configuration of the sandbox API (API key header,
cursor pages, `updated_since` filtering, tombstones asked for when resuming, declared schemas from
`schema`, and the property scope: units, leases and work orders are read per selected property at
`/v1/properties/{id}/...` when a connection selects properties). With no `base_url` it serves the
sandbox in-process on a free 127.0.0.1 port for the lifetime of the `with source:` block, with the
`faults` asked for; either way every read goes over real HTTP, the same path a vendor connector takes.
Opened offline (`SourceContext.offline`: a Dagster code-location load) it starts no server: the
manifest declares every schema, so the catalog needs no request.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, ClassVar, Self

from pydantic import BaseModel

from connectors.rest_api.arrow_types import arrow_type_name
from connectors.rest_api.config import RestApiConfig
from connectors.rest_api.source import RestApiSource
from connectors.sandbox.config import SandboxConfig as SandboxConfig
from connectors.sandbox.schema import (
    CURSOR_FIELD,
    DELETED_FIELD,
    DESCRIPTIONS,
    PRIMARY_KEY,
    PROPERTY_CHILDREN,
    SCHEMAS,
    STREAM_NAMES,
)
from connectors.sandbox.unified import UNIFIED_MAPPING
from protocol.errors import ConfigError
from protocol.types import SourceContext
from protocol.unified import UnifiedMapping

if TYPE_CHECKING:
    # The data generator and the HTTP server (http.server, ~55-78 ms of imports) are imported only when
    # an in-process sandbox starts: a connection with `base_url`, or opened offline, needs neither.
    from connectors.sandbox.server import SandboxServer
    from protocol.writes import ValidatedWrite, WriteDeclaration, WriteResponse

NOT_STARTED = "http://127.0.0.1:0"
"""Placeholder base URL of an in-process sandbox before it has a port."""
PROPERTY_FIELDS: dict[str, str | None] = {"units": "property_id", "work_orders": "property_id", "leases": None}
"""The field holding the property id in each per-property stream (lease records carry only unit_id)."""


def manifest(config: SandboxConfig, base_url: str) -> RestApiConfig:
    """The rest_api configuration of the sandbox API: what a vendor connector's YAML would say."""
    stream = {
        "primary_key": list(PRIMARY_KEY), "deleted_field": DELETED_FIELD,
        "incremental": {"cursor_field": CURSOR_FIELD, "param": "updated_since", "cursor_type": "timestamp",
                        # Listings are ordered by (updated_at, id): a checkpoint after every page is safe.
                        "ordered": True,
                        # Tombstones only when resuming: on a first sync deleted records are simply absent.
                        "resume_params": {"include_deleted": "true"}},
    }
    return RestApiConfig.model_validate({
        "base_url": base_url, "namespace": "sandbox", "check_path": "/v1/health",
        "auth": {"type": "api_key", "name": "X-API-Key", "key": config.api_key},
        "paginator": {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor",
                      "page_size": config.page_size, "page_size_param": "limit"},
        "records": "data", "timeout_seconds": config.timeout_seconds, "retries": config.retries,
        "properties": {"stream": "properties", "id_field": "id", "name_field": "name"},
        "streams": [{"name": name, "path": f"/v1/{name}", "description": DESCRIPTIONS[name], **stream,
                     **({"property": _property_scope(name)} if name in PROPERTY_CHILDREN else {}),
                     "schema": {f.name: arrow_type_name(f.type) for f in SCHEMAS[name]}}
                    for name in STREAM_NAMES],
    })


def _property_scope(name: str) -> dict[str, object]:
    """`property:` of a per-property stream; a property deleted mid-sync answers 404: an empty series."""
    scope: dict[str, object] = {"path": f"/v1/properties/{{property.id}}/{name}", "ignore_statuses": [404]}
    if PROPERTY_FIELDS[name] is not None:
        scope["field"] = PROPERTY_FIELDS[name]
    return scope


class SandboxSource(RestApiSource):
    """The built-in sandbox PMS API: rest_api with a fixed manifest; served in-process without base_url."""

    name: ClassVar[str] = "sandbox"
    config_model: ClassVar[type[BaseModel]] = SandboxConfig
    unified_mapping: ClassVar[UnifiedMapping] = UNIFIED_MAPPING
    """Its streams as the unified tables, for `model: unified` (connectors/sandbox/unified.py)."""

    def __init__(self, config: SandboxConfig, *, root: Path, context: SourceContext | None = None) -> None:
        self.sandbox_config = config
        self._server: SandboxServer | None = None
        super().__init__(manifest(config, config.base_url or NOT_STARTED), root=root, context=context,
                         credential_field="api_key")

    @cached_property
    def write_resources(self) -> WriteDeclaration:
        """What this sandbox accepts on its write endpoints (protocol.writes.WritableSource); built when
        first asked for, so a sync, which never writes back, imports none of protocol.writes."""
        from connectors.sandbox.writes import write_declaration

        return write_declaration(self.sandbox_config.variant)

    def __enter__(self) -> Self:
        cfg = self.sandbox_config
        if cfg.base_url is None and not self.context.offline:
            from connectors.sandbox.dataset import SandboxDataset
            from connectors.sandbox.server import SandboxServer

            try:
                dataset = SandboxDataset(seed=cfg.seed, scale=cfg.scale, counts=cfg.counts)
            except ValueError as exc:
                raise ConfigError(f"sandbox: {exc}") from exc
            self._server = SandboxServer(dataset, api_key=cfg.api_key.get_secret_value(), faults=cfg.faults,
                                         variant=cfg.variant).start()
            self.config = manifest(cfg, self._server.url)
        try:
            return super().__enter__()
        except BaseException:
            self._stop_server()
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            super().__exit__(exc_type, exc, tb)
        finally:
            self._stop_server()

    def _stop_server(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def send_write(self, write: ValidatedWrite, record_id: str | None) -> WriteResponse:
        """PUT /v1/{resource}/{id} or POST /v1/{resource}, through the connection's HTTP client."""
        from protocol.writes import WriteOperation, WriteResponse

        if write.operation is WriteOperation.UPDATE:
            if record_id is None:
                raise ConfigError(f"sandbox: an update of {write.resource} needs a record id")
            response = self.http.request("PUT", f"/v1/{write.resource}/{record_id}", json=write.payload,
                                         stream=write.resource)
        else:
            response = self.http.request("POST", f"/v1/{write.resource}", json=write.payload, stream=write.resource)
        body = response.json()
        return WriteResponse(status=response.status_code, record_id=str(body["data"]["id"]), body=body)

    @property
    def base_url(self) -> str:
        return self.http.base_url

    @property
    def server(self) -> SandboxServer | None:
        """The in-process sandbox while the source is open (None when `base_url` is set)."""
        return self._server
