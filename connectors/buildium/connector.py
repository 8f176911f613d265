"""The `buildium` source: Buildium's Open API (https://api.buildium.com) through `rest_api`, as a fixed manifest.

Buildium is the first PMS a proptech data team asks for, and everything it needs is declarative, so
this connector has no HTTP code of its own, only `manifest()`. Facts from Buildium's OpenAPI 3.0
("Open API, powered by Buildium", v1): every request carries two headers, `x-buildium-client-id`
and `x-buildium-client-secret` (both masked here, though Buildium calls the id safe to share);
listings are top-level JSON arrays paged by `offset`/`limit` (1-1000, default 50) with the total in
`X-Total-Count`, so the last page needs no extra empty request; `lastupdatedfrom` filters on an
update time that only leases return (`LastUpdatedDateTime`). Rentals, units, tenants and work
orders use `watermark: sync_start`: the next sync asks for what changed since this one started.
Work orders take that filter as a date (`YYYY-MM-DD`), the others as `YYYY-MM-DDTHH:MM:SSZ` (UTC).
Property selection reads units, leases and tenants with `propertyids=<id>` and work orders with
`entitytype=Rental&entityid=<id>`, one series per selected property.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from connectors.buildium.config import BuildiumConfig
from connectors.buildium.schema import DESCRIPTIONS, LEASE_CURSOR, SCHEMAS, WATERMARK_FIELD
from connectors.buildium.unified import UNIFIED_MAPPING
from connectors.buildium.writes import WRITE_DECLARATION, send_write
from connectors.rest_api.config import RestApiConfig
from connectors.rest_api.source import RestApiSource
from protocol.types import SourceContext
from protocol.unified import UnifiedMapping
from protocol.writes import ValidatedWrite, WriteDeclaration, WriteResponse

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
"""What `lastupdatedfrom` takes on rentals, units, leases and tenants ("must be in UTC")."""
DATE_FORMAT = "%Y-%m-%d"
"""What `lastupdatedfrom` takes on work orders (a date)."""
CREDENTIAL_FIELD = "client_id/client_secret"
"""Buildium answers 401 for a wrong id or a wrong secret alike: a refusal names both."""

# name -> (path, the property filter of a per-property series, the record field holding the property id)
ENDPOINTS: dict[str, tuple[str, str | None, str | None]] = {
    "rentals": ("/v1/rentals", None, "Id"),
    "units": ("/v1/rentals/units", "propertyids={property.Id}", "PropertyId"),
    "leases": ("/v1/leases", "propertyids={property.Id}", "PropertyId"),
    "tenants": ("/v1/leases/tenants", "propertyids={property.Id}", None),  # a tenant's property is in its Leases
    "work_orders": ("/v1/workorders", "entitytype=Rental&entityid={property.Id}", None),  # only Task.UnitId
}


def manifest(config: BuildiumConfig) -> RestApiConfig:
    """The rest_api configuration of Buildium's API: what a connection's YAML would otherwise have to say."""
    return RestApiConfig.model_validate({
        "base_url": config.base_url, "namespace": "buildium",
        "auth": {"type": "headers", "headers": {"x-buildium-client-id": config.client_id,
                                                "x-buildium-client-secret": config.client_secret}},
        "headers": {"Accept": "application/json"},
        "paginator": {"type": "offset", "limit": config.page_size, "limit_param": "limit",
                      "offset_param": "offset", "start": 0, "total_header": "X-Total-Count"},
        "records": "$", "timeout_seconds": config.timeout_seconds, "retries": config.retries,
        "properties": {"stream": "rentals", "id_field": "Id", "name_field": "Name"},
        # `check` reads one rental: proves both headers and the Rentals permission for one request.
        "check_path": "/v1/rentals?limit=1",
        "streams": [_stream(name, config) for name in ENDPOINTS],
    })


def _stream(name: str, config: BuildiumConfig) -> dict[str, Any]:
    path, per_property, field = ENDPOINTS[name]
    stream: dict[str, Any] = {"name": name, "path": path, "primary_key": ["Id"], "description": DESCRIPTIONS[name],
                              "schema": SCHEMAS[name], "incremental": _incremental(name, config)}
    if per_property is not None:
        scope: dict[str, Any] = {"path": f"{path}?{per_property}", "ignore_statuses": [404]}
        if field is not None:
            scope["field"] = field
        stream["property"] = scope
    return stream


def _incremental(name: str, config: BuildiumConfig) -> dict[str, Any]:
    if name == "leases":
        return {"cursor_field": LEASE_CURSOR, "param": "lastupdatedfrom", "format": TIMESTAMP_FORMAT,
                "lookback": config.lookback}
    return {"cursor_field": WATERMARK_FIELD, "param": "lastupdatedfrom", "watermark": "sync_start",
            "format": DATE_FORMAT if name == "work_orders" else TIMESTAMP_FORMAT, "lookback": config.lookback}


class BuildiumSource(RestApiSource):
    """Buildium's Open API: rest_api with a fixed manifest (rentals, units, leases, tenants, work orders)."""

    name: ClassVar[str] = "buildium"
    config_model: ClassVar[type[BaseModel]] = BuildiumConfig
    unified_mapping: ClassVar[UnifiedMapping] = UNIFIED_MAPPING

    def __init__(self, config: BuildiumConfig, *, root: Path, context: SourceContext | None = None) -> None:
        self.buildium_config = config
        self.write_resources: WriteDeclaration = WRITE_DECLARATION
        """What Buildium accepts on its write endpoints (connectors/buildium/writes.py)."""
        super().__init__(manifest(config), root=root, context=context, credential_field=CREDENTIAL_FIELD)

    def send_write(self, write: ValidatedWrite, record_id: str | None) -> WriteResponse:
        """The write as Buildium's request, through the connection's HTTP client (rate limit, retries)."""
        return send_write(self.http, write, record_id)
