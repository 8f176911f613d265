"""The `propertyware` source: Propertyware's REST API (v1) read through `rest_api` with a fixed manifest.

Propertyware (RealPage) publishes an OpenAPI 3.0 spec; this manifest states what it says:
every request carries three headers (`x-propertyware-client-id`, `x-propertyware-client-secret`
and the organization id in `x-propertyware-system-id`), listings are JSON arrays paged with
`offset`/`limit` (at most 500) and announce their size in `X-Total-Count` (so the last page costs
no extra empty request), and every listed resource filters on `lastModifiedDateTimeStart`
(inclusive, UTC) and sorts with `orderby`. A building is the property: units, leases and work
orders are listed per selected building with `buildingID=` when a connection selects properties.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel

from connectors.propertyware.config import PropertywareConfig
from connectors.propertyware.schema import CURSOR_FIELD, PROPERTY_FIELD, STREAMS, StreamDef
from connectors.propertyware.writes import WRITE_DECLARATION, send_write
from connectors.rest_api.config import RestApiConfig
from connectors.rest_api.source import RestApiSource
from protocol.types import SourceContext
from protocol.writes import ValidatedWrite, WriteDeclaration, WriteResponse

CREDENTIAL_FIELDS = "client_id/client_secret/organization_id"
"""A 401 does not say which of the three headers was wrong: a refusal names all three fields."""


def manifest(config: PropertywareConfig) -> RestApiConfig:
    """The rest_api configuration of Propertyware's API: what a connection's YAML would say."""
    return RestApiConfig.model_validate({
        "base_url": config.base_url, "namespace": "propertyware",
        # One cheap authenticated request: a health endpoint may answer without checking the keys.
        "check_path": "/portfolios?limit=1&offset=0",
        "auth": {"type": "headers", "headers": {
            "x-propertyware-client-id": config.client_id,
            "x-propertyware-client-secret": config.client_secret,
            "x-propertyware-system-id": config.organization_id}},
        "headers": {"Accept": "application/json"},
        "paginator": {"type": "offset", "limit": config.page_size, "limit_param": "limit",
                      "offset_param": "offset", "start": 0, "total_header": "X-Total-Count"},
        "records": "$", "timeout_seconds": config.timeout_seconds, "retries": config.retries,
        "properties": {"stream": "buildings", "id_field": "id", "name_field": "name"},
        "streams": [_stream(s) for s in STREAMS],
    })


def _stream(stream: StreamDef) -> dict[str, object]:
    spec: dict[str, object] = {
        "name": stream.name, "path": stream.path, "description": stream.description, "primary_key": ["id"],
        # Sorted by modification time (then id) so the listing is in cursor order: a checkpoint
        # after every page is safe, and offsets stay stable while records change.
        "params": {**stream.params, "orderby": "lastmodifieddatetime asc,id asc"},
        "incremental": {"cursor_field": CURSOR_FIELD, "param": "lastModifiedDateTimeStart",
                        "cursor_type": "timestamp", "ordered": True, "format": "%Y-%m-%dT%H:%M:%SZ"},
        "schema": stream.schema,
    }
    if stream.per_building:
        # `path` keeps the listing's own parameters; the building filter is merged into them.
        spec["property"] = {"field": PROPERTY_FIELD, "path": f"{stream.path}?buildingID={{property.id}}"}
    return spec


class PropertywareSource(RestApiSource):
    """Propertyware's REST API: rest_api with a fixed manifest (docs/connectors/propertyware.md)."""

    name: ClassVar[str] = "propertyware"
    config_model: ClassVar[type[BaseModel]] = PropertywareConfig

    def __init__(self, config: PropertywareConfig, *, root: Path, context: SourceContext | None = None) -> None:
        self.propertyware_config = config
        self.write_resources: WriteDeclaration = WRITE_DECLARATION
        """What Propertyware accepts on its write endpoints (connectors/propertyware/writes.py)."""
        super().__init__(manifest(config), root=root, context=context, credential_field=CREDENTIAL_FIELDS)

    def send_write(self, write: ValidatedWrite, record_id: str | None) -> WriteResponse:
        """The write as Propertyware's request(s), through the connection's HTTP client (rate limit, retries)."""
        return send_write(self.http, write, record_id)
