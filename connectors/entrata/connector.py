"""The `entrata` source: Entrata's API as a `rest_api` manifest, no HTTP code of its own.

Entrata is RPC over POST: every call posts one JSON envelope, `{"auth": {"type": "apikey"},
"requestId": …, "method": {"name": "getLeads", "version": "r1", "params": {…}}}`, to a service path
under the organisation's API root (`/properties`, `/propertyunits`, `/leases`, `/leads`), with the
key in the `X-Api-Key` header, and answers `{"response": {"requestId", "code", "result": {…}}}`;
failures may come inside a 200 as `response.error`, which `error_indicator` turns into a failed
stream instead of an empty page. Units, leases and leads need a `propertyId`, so they are child
streams of `properties` (one call per property, only selected properties when a connection selects
some). Leads are read in `fromDate`/`toDate` windows (`MM/DD/YYYY`, Mountain Time) and resume from
the last window read; leases and leads are paged with `page_no`/`per_page` in the query.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from connectors.entrata.config import EntrataConfig
from connectors.entrata.schema import LEAD_CURSOR, LEADS, METHODS, PROPERTY_ID, Method
from connectors.entrata.unified import UNIFIED_MAPPING
from connectors.entrata.writes import WRITE_DECLARATION, send_write
from connectors.rest_api.config import RestApiConfig
from connectors.rest_api.source import RestApiSource
from protocol.types import SourceContext
from protocol.unified import UnifiedMapping
from protocol.writes import ValidatedWrite, WriteDeclaration, WriteResponse

TIMEZONE = "America/Denver"
"""Entrata: "all dates and times used in the API are assumed to be in Mountain Time"."""
DATE_FORMAT = "%m/%d/%Y"
TIMESTAMP_FORMAT = "%m/%d/%Y %H:%M:%S"
"""How a lead's lastUpdatedDate is read when it is not ISO 8601 (either is accepted)."""
REQUEST_ID = "rooftop"
"""Entrata echoes `requestId` back; it only relates a response to its request, and we send one at a time."""


def envelope(method: Method, params: dict[str, Any]) -> dict[str, Any]:
    """The JSON body of one call of `method` (placeholders filled in per request by rest_api)."""
    return {"auth": {"type": "apikey"}, "requestId": REQUEST_ID,
            "method": {"name": method.name, "version": method.version, "params": params}}


def _stream(name: str, method: Method, config: EntrataConfig) -> dict[str, Any]:
    stream: dict[str, Any] = {
        "name": name, "path": method.path, "method": "POST", "records": method.records,
        "primary_key": method.primary_key, "description": method.description, "schema": method.schema,
    }
    if method.paged:
        stream["paginator"] = {"type": "page_number", "page_param": "page_no", "start": 1,
                               "page_size": config.page_size, "page_size_param": "per_page"}
    if name == "properties":
        stream["body"] = envelope(method, {})
        return stream
    # Every other method needs a property id: one request series per property (selected ones only),
    # the id copied into each record (units and leads do not carry it).
    stream["parent"] = {"stream": "properties", "alias": "property", "fields": {"propertyId": PROPERTY_ID}}
    params: dict[str, Any] = {"propertyIds" if name == "units" else "propertyId": f"{{property.{PROPERTY_ID}}}"}
    if method is LEADS:
        params |= {"fromDate": "{window.start}", "toDate": "{window.end}"}
        stream["incremental"] = {"cursor_field": LEAD_CURSOR, "format": TIMESTAMP_FORMAT,
                                 "start": config.start_date.isoformat()}
        stream["windows"] = {"size": f"{config.window_days} days", "format": DATE_FORMAT}
    stream["body"] = envelope(method, params)
    return stream


def manifest(config: EntrataConfig) -> RestApiConfig:
    """The rest_api configuration of Entrata's API: what a hand-written YAML for it would say."""
    return RestApiConfig.model_validate({
        "base_url": config.base_url, "namespace": "entrata", "timezone": TIMEZONE,
        "auth": {"type": "api_key", "name": "X-Api-Key", "key": config.api_key},
        "headers": {"Accept": "application/json"},
        "timeout_seconds": config.timeout_seconds, "retries": config.retries,
        # A 200 whose envelope holds `response.error` failed: never read it as an empty page.
        "error_indicator": {"paths": ["response.error"], "when": "not_null"},
        "properties": {"stream": "properties", "id_field": PROPERTY_ID, "name_field": "MarketingName"},
        "streams": [_stream(name, method, config) for name, method in METHODS.items()],
    })


class EntrataSource(RestApiSource):
    """Entrata's properties, units, leases and leads: rest_api with a fixed manifest."""

    name: ClassVar[str] = "entrata"
    config_model: ClassVar[type[BaseModel]] = EntrataConfig
    unified_mapping: ClassVar[UnifiedMapping] = UNIFIED_MAPPING
    """Its streams as the unified tables, for `model: unified` (connectors/entrata/unified.py)."""

    def __init__(self, config: EntrataConfig, *, root: Path, context: SourceContext | None = None) -> None:
        self.entrata_config = config
        self.write_resources: WriteDeclaration = WRITE_DECLARATION
        """What Entrata accepts on its write methods (connectors/entrata/writes.py)."""
        super().__init__(manifest(config), root=root, context=context, credential_field="api_key")

    def send_write(self, write: ValidatedWrite, record_id: str | None) -> WriteResponse:
        """The write as Entrata's RPC call, through the connection's HTTP client (API key, rate limit, retries)."""
        return send_write(self.http, write, record_id)
