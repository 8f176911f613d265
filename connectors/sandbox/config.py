"""The `sandbox` source's configuration, apart from the source so reading it costs no runtime.

`rooftop validate --offline`, `status` and every workspace load validate each connection's
`source.config`; Rooftop finds this model through the `rooftop.source_configs` entry point
(pipelines.workspace.registry) without importing `connector.py`, which brings the rest_api
runtime (httpx, pyarrow) and the sandbox's dataset and server.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from connectors.http.models import BaseUrl
from connectors.http.retry import RetryConfig
from connectors.sandbox.api import MAX_LIMIT, STREAM_NAMES
from connectors.sandbox.faults import FaultConfig
from protocol.durations import Duration

Variant = Literal["full", "limited"]
"""Which writes a sandbox accepts (connectors.sandbox.writes); here so that validating a config, and a
sync, import none of the write-back contract."""


class SandboxConfig(BaseModel):
    """`source.config` of a connection using the `sandbox` connector."""

    model_config = ConfigDict(extra="forbid")

    base_url: BaseUrl | None = Field(None, description="URL of a running sandbox API (`rooftop sandbox`); "
                                                   "omit to serve one in-process for each sync.")
    api_key: SecretStr = Field(min_length=1, description="Key sent in the X-API-Key header.")
    seed: int = Field(42, description="Data seed of the in-process sandbox (same seed, same data).")
    scale: int = Field(10, ge=1, description="Number of properties of the in-process sandbox; "
                                             "other streams scale with it.")
    counts: dict[str, int] = Field(default_factory=dict,
                                   description="Override the size of in-process streams, e.g. {work_orders: 2000000}.")
    page_size: int = Field(1000, ge=1, le=MAX_LIMIT, description="Records per API request.")
    timeout_seconds: Duration = Field(30, gt=0, description="Timeout of each HTTP request.")
    retries: RetryConfig = Field(default_factory=RetryConfig, description="Request-level retries.")
    faults: FaultConfig | None = Field(None, description="Faults and rate limit of the in-process sandbox "
                                                         "(error_rate, drop_rate, slow_ms, rate_limit_per_minute…).")
    variant: Variant = Field("full", description="Which writes the sandbox accepts: `full`, or `limited` (like a "
                                                 "stricter PMS: no `notes` on residents, no creating units). "
                                                 "Set it to the variant of the sandbox at `base_url`.")

    @field_validator("counts")
    @classmethod
    def _check_counts(cls, value: dict[str, int]) -> dict[str, int]:
        for name, n in value.items():
            if name not in STREAM_NAMES:
                raise ValueError(f"unknown stream {name!r} (streams: {', '.join(STREAM_NAMES)})")
            if n < 1:
                raise ValueError(f"{name}: must be at least 1, got {n}")
        return value
