"""The `rentvine` source: Rentvine's Manager API read through `rest_api` with a fixed manifest.

Rentvine publishes an OpenAPI 3.1 spec (docs.rentvine.com); this manifest states what it says:
every account has its own API root, `https://{account}.rentvine.com/api/manager`; requests are
signed with HTTP Basic auth, the access key as username and the secret as password; listings are
bare JSON arrays paged with `page` (from 1) and `pageSize` (default 25) that announce no total, so
each listing ends with one empty page; and each item wraps its record under its type, which
`unwrap` takes apart. The export listings filter on `dateTimeModifiedMin`: those streams are
incremental server-side. Properties are the property scope: units are listed per selected property
at `/properties/{id}/units`; leases and work orders carry `propertyID` and are filtered by it.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel

from connectors.rentvine.config import RentvineConfig
from connectors.rentvine.schema import CURSOR_FIELD, CURSOR_PARAM, PROPERTY_FIELD, STREAMS, StreamDef
from connectors.rentvine.unified import UNIFIED_MAPPING
from connectors.rentvine.writes import WRITE_DECLARATION, send_write
from connectors.rest_api.config import RestApiConfig
from connectors.rest_api.source import RestApiSource
from protocol.types import SourceContext
from protocol.unified import UnifiedMapping
from protocol.writes import ValidatedWrite, WriteDeclaration, WriteResponse

CREDENTIAL_FIELDS = "access_key/secret"
"""A 401 does not say which half of the key pair was wrong: a refusal names both fields."""


def manifest(config: RentvineConfig) -> RestApiConfig:
    """The rest_api configuration of Rentvine's API: what a connection's YAML would say."""
    return RestApiConfig.model_validate({
        "base_url": config.api_root, "namespace": "rentvine",
        "check_path": "/properties/export?page=1&pageSize=1",
        "auth": {"type": "basic", "username": config.access_key.get_secret_value(), "password": config.secret},
        "headers": {"Accept": "application/json"},
        "paginator": {"type": "page_number", "page_param": "page", "start": 1, "page_size": config.page_size,
                      "page_size_param": "pageSize"},
        "records": "$", "timeout_seconds": config.timeout_seconds, "retries": config.retries,
        "properties": {"stream": "properties", "id_field": "propertyID", "name_field": "name"},
        "streams": [_stream(s) for s in STREAMS],
    })


def _stream(stream: StreamDef) -> dict[str, object]:
    spec: dict[str, object] = {
        "name": stream.name, "path": stream.path, "description": stream.description, "unwrap": stream.wrapper,
        "primary_key": [stream.key], "schema": stream.schema,
        # Without a server-side filter the cursor is applied client-side: the stream is still
        # incremental_deduped-capable, but every sync reads the whole listing.
        "incremental": {"cursor_field": CURSOR_FIELD, "cursor_type": "timestamp",
                        **({"param": CURSOR_PARAM, "format": "%Y-%m-%dT%H:%M:%SZ"} if stream.server_filter else {})},
    }
    if stream.per_property_path:
        spec["property"] = {"field": PROPERTY_FIELD, "path": stream.per_property_path, "ignore_statuses": [404]}
    elif stream.property_field and stream.name != "properties":
        spec["property"] = {"field": PROPERTY_FIELD}
    return spec


class RentvineSource(RestApiSource):
    """Rentvine's Manager API: rest_api with a fixed manifest (docs/connectors/rentvine.md)."""

    name: ClassVar[str] = "rentvine"
    config_model: ClassVar[type[BaseModel]] = RentvineConfig
    unified_mapping: ClassVar[UnifiedMapping] = UNIFIED_MAPPING

    def __init__(self, config: RentvineConfig, *, root: Path, context: SourceContext | None = None) -> None:
        self.rentvine_config = config
        self.write_resources: WriteDeclaration = WRITE_DECLARATION
        """What Rentvine accepts on its write endpoints (connectors/rentvine/writes.py)."""
        super().__init__(manifest(config), root=root, context=context, credential_field=CREDENTIAL_FIELDS)

    def send_write(self, write: ValidatedWrite, record_id: str | None) -> WriteResponse:
        """The write as Rentvine's request, through the connection's HTTP client (Basic auth, rate limit, retries)."""
        return send_write(self.http, write, record_id)
