"""`example_tickets`' config model, in a module of its own so that reading it costs no runtime.

Loading a workspace (`rooftop validate --offline`, `rooftop status`, every Dagster code-location
load) validates each connection's `source.config` and needs nothing else of the connector. This
package registers the model under the `rooftop.source_configs` entry point (pyproject.toml), so
Rooftop reads it from here without importing `source.py`, which brings the HTTP client and pyarrow.
Keep this module's imports to pydantic and config types.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from connectors.sdk import RetryConfig


class TicketsConfig(BaseModel):
    """`source.config` of a connection using `example_tickets` (`rooftop connectors example_tickets`)."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(description="Root URL of the tickets API, e.g. https://tickets.example.com.")
    api_token: SecretStr = Field(min_length=1, description="Bearer token; never printed or logged.")
    per_page: int = Field(100, ge=1, le=1000, description="Tickets per request.")
    retries: RetryConfig = Field(default_factory=RetryConfig, description="Request-level retries.")
