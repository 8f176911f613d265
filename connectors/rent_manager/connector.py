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
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from connectors.http.retry import RetryConfig
from connectors.rent_manager.schema import CURSOR_FIELD, PROPERTY_FIELD, STREAMS, RmStream
from connectors.rent_manager.unified import UNIFIED_MAPPING
from connectors.rent_manager.writes import WRITE_DECLARATION, send_write
from connectors.rest_api.config import RestApiConfig
from connectors.rest_api.source import RestApiSource
from protocol.durations import Duration
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


class RentManagerConfig(BaseModel):
    """`source.config` of a connection using the `rent_manager` connector."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = Field(None, description="The customer's API root, https://<company>.api.rentmanager.com "
                                                   "(or give company_code).")
    company_code: str | None = Field(None, pattern=r"^[A-Za-z0-9-]+$", description=(
        "The customer's Rent Manager company code: base_url becomes https://<company_code>.api.rentmanager.com."))
    username: str = Field(min_length=1, description="Rent Manager user with the API Access flag.")
    password: SecretStr = Field(min_length=1, description="That user's password (posted to the login only).")
    location_id: int = Field(1, ge=1, description="LocationID sent with the login (the Rent Manager location).")
    timezone: str | None = Field(None, description="IANA zone of the database's naive timestamps, e.g. "
                                                   "America/New_York; omit to read them as UTC.")
    page_size: int = Field(1000, ge=1, le=5000, description="Records per request (pagesize).")
    lookback: Duration = Field(60, ge=0, description="Ask for changes this long before the saved UpdateDate "
                                                     "(the filter is strictly greater-than).")
    timeout_seconds: Duration = Field(30, gt=0, description="Timeout of each HTTP request.")
    retries: RetryConfig = Field(default_factory=RetryConfig, description="Request-level retries.")

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with https:// (e.g. https://acme.api.rentmanager.com), got {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _one_root(self) -> Self:
        if (self.base_url is None) == (self.company_code is None):
            raise ValueError("give base_url (https://<company>.api.rentmanager.com) or company_code, one of them")
        return self

    @property
    def api_root(self) -> str:
        return self.base_url or f"https://{self.company_code}.api.rentmanager.com"


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
