"""The `rentvine` source's `source.config`: the account (or API root), the Basic-auth key pair and paging.

A module of its own, registered under `rooftop.source_configs`, so that loading a workspace validates
the connection without importing `connector.py` and the rest_api runtime (see connectors/sandbox/config.py).
"""

from __future__ import annotations

import re
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from connectors.http.models import BaseUrl
from connectors.http.retry import RetryConfig
from protocol.durations import Duration

BASE_URL = "https://{account}.rentvine.com/api/manager"
"""The spec's server: one API root per account subdomain."""
DEFAULT_PAGE = 100
"""Rentvine's default is 25; larger pages cost fewer requests (the spec states no maximum)."""
_ACCOUNT = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


class RentvineConfig(BaseModel):
    """`source.config` of a connection using the `rentvine` connector."""

    model_config = ConfigDict(extra="forbid")

    account: str | None = Field(None, description=(
        "Your Rentvine account subdomain (`acme` for acme.rentvine.com); sets the API root. One of `account` "
        "and `base_url` is required."))
    base_url: BaseUrl | None = Field(None, description=(
        "API root instead of `account`, e.g. https://acme.rentvine.com/api/manager or a test/replay server."))
    access_key: SecretStr = Field(min_length=1, description=(
        "The API key's access key (Settings > Users, Roles and API > API), the Basic-auth username."))
    secret: SecretStr = Field(min_length=1, description=(
        "The API key's secret, the Basic-auth password; shown once when the key is created."))
    page_size: int = Field(DEFAULT_PAGE, ge=1, le=1000, description="Records per request (`pageSize`).")
    timeout_seconds: Duration = Field(30, gt=0, description="Timeout of each HTTP request.")
    retries: RetryConfig = Field(default_factory=RetryConfig, description="Request-level retries (429, 5xx).")

    @field_validator("account")
    @classmethod
    def _check_account(cls, value: str | None) -> str | None:
        if value is not None and not _ACCOUNT.fullmatch(value):
            raise ValueError(f"must be the account's subdomain (letters, digits, hyphens), got {value!r}")
        return value

    @model_validator(mode="after")
    def _one_root(self) -> Self:
        if (self.account is None) == (self.base_url is None):
            raise ValueError("set exactly one of `account` (your subdomain) and `base_url`")
        return self

    @property
    def api_root(self) -> str:
        return self.base_url or BASE_URL.format(account=self.account)
