"""`example_tickets`: maintenance tickets from a small JSON API, as a Python Rooftop source.

The worked example of docs/adding-a-connector.md, installed and run by tests/test_example_connector.py.
It imports only Rooftop's public SDK, `connectors.sdk`: the seam types, the errors, the connection's
HTTP client and the JSON-to-Arrow helper. Everything else (field selection, type casts, state, the
warehouse) is Rooftop's. Its config model is in `config.py`, registered on its own.

The API it reads, with a bearer token:

    GET /v1/tickets?page=1&per_page=100[&updated_since=2024-05-01T10:00:00Z]
    -> {"tickets": [{"id": 1, "property_id": 7, "status": "open", ...}], "has_more": true}

Tickets are listed in (updated_at, id) order, so after each page every ticket updated before the
page's last `updated_at` has been read: a safe place for a checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

import pyarrow as pa
from pydantic import BaseModel

from connectors.sdk import (
    Catalog,
    CatalogStream,
    ConfigError,
    HttpClient,
    ReadRequest,
    SourceContext,
    SourceItem,
    StateCheckpoint,
    bearer_auth,
    client_for,
    records_to_batch,
)
from rooftop_example_connector.config import TicketsConfig

TICKETS = CatalogStream(
    name="tickets",
    schema=pa.schema([
        pa.field("id", pa.int64()),
        pa.field("property_id", pa.int64()),
        pa.field("status", pa.string()),
        pa.field("summary", pa.string()),
        pa.field("updated_at", pa.timestamp("us", tz="UTC")),
    ]),
    primary_key=("id",),
    default_cursor="updated_at",
    description="Maintenance tickets, one row per ticket.",
)


class TicketsSource:
    """Maintenance tickets from the example tickets API."""

    name: ClassVar[str] = "example_tickets"
    config_model: ClassVar[type[BaseModel]] = TicketsConfig

    def __init__(self, config: TicketsConfig, *, root: Path, context: SourceContext | None = None) -> None:
        self.config = config
        self.context = context or SourceContext()
        self._http: HttpClient | None = None

    def __enter__(self) -> Self:
        # The connection's `rate_limit` and `max_concurrency` (shared by every stream read at once) and
        # its name on every log event come from the context; `api_token` names the field a refusal reports.
        self._http = client_for(self.context, self.config.base_url, retry=self.config.retries,
                                auth=bearer_auth(self.config.api_token, "api_token"))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        http, self._http = self._http, None
        if http is not None:
            http.close()

    @property
    def http(self) -> HttpClient:
        if self._http is None:
            raise RuntimeError("use the example_tickets source inside `with source:`")
        return self._http

    def check(self) -> None:
        # A 401/403 raises AuthError, an unreachable API SourceUnavailable: what `rooftop check` reports.
        self.http.get("/v1/tickets", {"page": 1, "per_page": 1})

    def discover(self) -> Catalog:
        return Catalog(namespace="tickets", streams=(TICKETS,))

    def read(self, request: ReadRequest) -> Iterator[SourceItem]:
        if request.stream.name != TICKETS.name:
            raise ConfigError(f"the example_tickets source has no stream {request.stream.name!r}")
        params: dict[str, Any] = {"per_page": self.config.per_page}
        cursor = (request.state or {}).get("cursor") if request.incremental else None
        if cursor is not None:
            # `>=` on the API's side: the boundary ticket comes again, and the engine stores it once.
            params["updated_since"] = cursor
        page = 1
        while True:
            body = self.http.get("/v1/tickets", {**params, "page": page}, stream=TICKETS.name).json()
            tickets = body.get("tickets") if isinstance(body, dict) else None
            if not isinstance(tickets, list):
                # Never read a malformed answer as an empty last page: that would end the sync "successfully".
                raise ConfigError(f"GET /v1/tickets page {page}: no `tickets` list in the response")
            if tickets:
                # Raw JSON types; the engine casts to the catalog's types and records what does not fit.
                yield records_to_batch(tickets, TICKETS.schema)
                cursor = tickets[-1].get("updated_at", cursor)
                yield StateCheckpoint({"cursor": cursor})
            if not body.get("has_more") or not tickets:
                return
            page += 1
