"""The `propertyware` source's `source.config`: the organization id and key pair (three secret headers) and paging.

A module of its own, registered under `rooftop.source_configs`, so that loading a workspace validates
the connection without importing `connector.py` and the rest_api runtime (see connectors/sandbox/config.py).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from connectors.http.models import BaseUrl
from connectors.http.retry import RetryConfig
from protocol.durations import Duration

BASE_URL = "https://api.propertyware.com/pw/api/rest/v1"
"""The production API root (the spec's `servers`)."""
MAX_PAGE = 500
"""The API caps `limit` at 500 (a larger value is silently lowered)."""


class PropertywareConfig(BaseModel):
    """`source.config` of a connection using the `propertyware` connector."""

    model_config = ConfigDict(extra="forbid")

    organization_id: SecretStr = Field(min_length=1, description=(
        "Your Propertyware organization id, sent in x-propertyware-system-id; a key works only with its own "
        "organization."))
    client_id: SecretStr = Field(min_length=1, description="The API key's client id (x-propertyware-client-id).")
    client_secret: SecretStr = Field(min_length=1, description=(
        "The API key's secret (x-propertyware-client-secret), shown once when the key is created."))
    base_url: BaseUrl = Field(BASE_URL, description="API root; change it only for a test or replay server.")
    page_size: int = Field(MAX_PAGE, ge=1, le=MAX_PAGE, description="Records per request (`limit`, at most 500).")
    timeout_seconds: Duration = Field(30, gt=0, description="Timeout of each HTTP request.")
    retries: RetryConfig = Field(default_factory=RetryConfig, description="Request-level retries (429, 5xx).")
