"""The `rent_manager` source: a customer's Rent Manager 12 Web API, read through `rest_api` with a fixed manifest.

Rent Manager is one API per customer (`https://<company>.api.rentmanager.com`), behind a session
login: `POST /Authentication/AuthorizeUser` with the user name, password and location answers a
token (a JSON string) that every request carries in `X-RM12Api-ApiToken`; an expired token (401)
logs in again once. Collections are top-level JSON arrays paged with `pagesize`/`pagenumber`, the
total in `X-Total-Results` (so no empty last request), an empty result is `204 No Content`, and
`filters=UpdateDate,gt,<naive local time>` returns what changed. Units, tenants, leases and issues are
also listed per property (`/Properties/{id}/Units`), which is how a property selection costs no
request for unselected properties. No HTTP code of its own: everything is `manifest()`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, SecretStr

from connectors.rent_manager.config import RentManagerConfig
from connectors.rent_manager.schema import CURSOR_FIELD, PROPERTY_FIELD, STREAMS, RmStream
from connectors.rent_manager.unified import UNIFIED_MAPPING
from connectors.rent_manager.writes import WRITE_DECLARATION, send_write
from connectors.rest_api.config import RestApiConfig
from connectors.rest_api.source import RestApiSource
from protocol.types import SourceContext
from protocol.unified import UnifiedMapping
from protocol.writes import ValidatedWrite, WriteDeclaration, WriteResponse

LOGIN_PATH = "/Authentication/AuthorizeUser"
TOKEN_HEADER = "X-RM12Api-ApiToken"
TOTAL_HEADER = "X-Total-Results"
TOKEN_LIFETIME = "23 hours"
"""Tokens live 24 hours at most (15 minutes idle): log in again before the hard limit, on a 401 otherwise."""
EMPTY_STATUSES = [204]
"""A collection with nothing to list (e.g. no change since the cursor) answers 204 with no body."""
FILTER_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
"""How a date-time is written in `filters`: the database's own naive local form, as the API returns
`UpdateDate` (`2024-03-05T10:00:00`). Never an offset or `Z`: the times have no zone in Rent Manager."""


def manifest(config: RentManagerConfig) -> RestApiConfig:
    """The rest_api configuration of a Rent Manager 12 Web API: what a hand-written YAML would say."""
    return RestApiConfig.model_validate({
        "base_url": config.api_root, "namespace": "rent_manager", "check_path": "/Properties?pagesize=1",
        "timezone": config.timezone, "timeout_seconds": config.timeout_seconds, "retries": config.retries,
        "auth": {
            "type": "session",
            "login": {"path": LOGIN_PATH, "body": {"Username": SecretStr(config.username),
                                                    "Password": config.password, "LocationID": config.location_id}},
            "token": {"from": "body", "path": "$"},  # the body is the token as a JSON string
            "send": {"header": TOKEN_HEADER},
            "expires_after": TOKEN_LIFETIME,
        },
        "paginator": {"type": "page_number", "page_param": "pagenumber", "start": 1, "page_size": config.page_size,
                      "page_size_param": "pagesize", "total_header": TOTAL_HEADER},
        "records": "$",
        "properties": {"stream": "properties", "id_field": PROPERTY_FIELD, "name_field": "Name"},
        "streams": [_stream(stream, config) for stream in STREAMS],
    })


def _stream(stream: RmStream, config: RentManagerConfig) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": stream.name, "path": f"/{stream.resource}", "description": stream.description,
        "primary_key": [stream.key], "schema": stream.fields, "ignore_statuses": EMPTY_STATUSES,
        # `{cursor}` is left out with its parameter until there is a saved cursor: the first sync reads all.
        "params": {"filters": f"{CURSOR_FIELD},gt,{{cursor}}"},
        # The format applies with or without `timezone` (UTC when unset): a saved cursor is ISO text
        # that may carry an offset, which the filter must not.
        "incremental": {"cursor_field": CURSOR_FIELD, "lookback": config.lookback, "format": FILTER_TIME_FORMAT},
    }
    if stream.per_property:
        spec["property"] = {"field": PROPERTY_FIELD,
                            "path": f"/Properties/{{property.{PROPERTY_FIELD}}}/{stream.resource}",
                            "ignore_statuses": [*EMPTY_STATUSES, 404]}  # 404: a property deleted mid-sync
    return spec


class RentManagerSource(RestApiSource):
    """A Rent Manager 12 Web API: rest_api with a fixed manifest (session login, filters on UpdateDate)."""

    name: ClassVar[str] = "rent_manager"
    config_model: ClassVar[type[BaseModel]] = RentManagerConfig
    unified_mapping: ClassVar[UnifiedMapping] = UNIFIED_MAPPING
    """Its streams as the unified tables, for `model: unified` (connectors/rent_manager/unified.py)."""

    def __init__(self, config: RentManagerConfig, *, root: Path, context: SourceContext | None = None) -> None:
        self.rent_manager_config = config
        self.write_resources: WriteDeclaration = WRITE_DECLARATION
        """What Rent Manager accepts on its save endpoints (connectors/rent_manager/writes.py)."""
        super().__init__(manifest(config), root=root, context=context, credential_field="password")

    def send_write(self, write: ValidatedWrite, record_id: str | None) -> WriteResponse:
        """The write as Rent Manager's save, through the connection's HTTP client (session token, rate limit)."""
        return send_write(self.http, write, record_id)
