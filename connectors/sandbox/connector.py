"""The `sandbox` source: reads the built-in sandbox PMS API, so a new user can sync without an account.

With no `base_url` the connector serves the sandbox in-process on a free 127.0.0.1 port for the
lifetime of the `with source:` block; either way every read goes over real HTTP, the same path a
vendor connector takes. Incremental reads filter on `updated_at` server-side (inclusive, so a
boundary record is read again rather than lost) and ask for tombstones so deletes reach the
warehouse. HTTP handling is deliberately minimal here (a few retries on transient failures); the
shared HTTP framework replaces it later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from connectors.arrow import records_to_batch
from connectors.sandbox.dataset import SandboxDataset
from connectors.sandbox.schema import (
    CURSOR_FIELD, DELETED_FIELD, DESCRIPTIONS, PRIMARY_KEY, SCHEMAS, STREAM_NAMES,
)
from connectors.sandbox.server import MAX_LIMIT, SandboxServer
from protocol.errors import AuthError, ConfigError, SourceUnavailable
from protocol.types import (Catalog, CatalogStream, ReadRequest, SourceContext, SourceItem, StateCheckpoint,
                            SyncMode)

log = logging.getLogger(__name__)

ATTEMPTS = 3
BACKOFF_SECONDS = 0.25
"""Wait before the 2nd attempt; doubled before each later one."""


class SandboxConfig(BaseModel):
    """`source.config` of a connection using the `sandbox` connector."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = Field(None, description="URL of a running sandbox API (`rooftop sandbox`); "
                                                   "omit to serve one in-process for each sync.")
    api_key: SecretStr = Field(min_length=1, description="Key sent in the X-API-Key header.")
    seed: int = Field(42, description="Data seed of the in-process sandbox (same seed, same data).")
    scale: int = Field(10, ge=1, description="Number of properties of the in-process sandbox; "
                                             "other streams scale with it.")
    counts: dict[str, int] = Field(default_factory=dict,
                                   description="Override the size of in-process streams, e.g. {work_orders: 2000000}.")
    page_size: int = Field(1000, ge=1, le=MAX_LIMIT, description="Records per API request.")
    timeout_seconds: float = Field(30, gt=0, description="Timeout of each HTTP request.")

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https://, got {value!r}")
        return value.rstrip("/")

    @field_validator("counts")
    @classmethod
    def _check_counts(cls, value: dict[str, int]) -> dict[str, int]:
        for name, n in value.items():
            if name not in STREAM_NAMES:
                raise ValueError(f"unknown stream {name!r} (streams: {', '.join(STREAM_NAMES)})")
            if n < 1:
                raise ValueError(f"{name}: must be at least 1, got {n}")
        return value


def _catalog_stream(name: str) -> CatalogStream:
    return CatalogStream(name=name, schema=SCHEMAS[name], primary_key=PRIMARY_KEY, default_cursor=CURSOR_FIELD,
                         supported_sync_modes=tuple(SyncMode), description=DESCRIPTIONS[name],
                         deleted_field=DELETED_FIELD)


CATALOG = Catalog(namespace="sandbox", streams=tuple(_catalog_stream(name) for name in STREAM_NAMES))


class SandboxSource:
    """Source protocol implementation for the sandbox API (see the module docstring)."""

    name: ClassVar[str] = "sandbox"
    config_model: ClassVar[type[BaseModel]] = SandboxConfig

    def __init__(self, config: SandboxConfig, *, root: Path, context: SourceContext | None = None) -> None:
        self.config = config
        self.root = root
        self._client: httpx.Client | None = None
        self._server: SandboxServer | None = None

    def __enter__(self) -> Self:
        key = self.config.api_key.get_secret_value()
        base_url = self.config.base_url
        if base_url is None:
            try:
                dataset = SandboxDataset(seed=self.config.seed, scale=self.config.scale, counts=self.config.counts)
            except ValueError as exc:
                raise ConfigError(f"sandbox: {exc}") from exc
            self._server = SandboxServer(dataset, api_key=key).start()
            base_url = self._server.url
        # One client for the whole block: keep-alive makes every page after the first cheap.
        self._client = httpx.Client(base_url=base_url, timeout=self.config.timeout_seconds,
                                    headers={"X-API-Key": key, "Accept": "application/json"})
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        client, self._client = self._client, None
        server, self._server = self._server, None
        try:
            if client is not None:
                client.close()
        finally:
            if server is not None:
                server.stop()

    @property
    def base_url(self) -> str:
        return str(self._http().base_url).rstrip("/")

    def _http(self) -> httpx.Client:
        if self._client is None:
            raise RuntimeError("use the sandbox source inside `with source:`")
        return self._client

    def check(self) -> None:
        self._get("/v1/health", {})

    def discover(self) -> Catalog:
        return CATALOG

    def read(self, request: ReadRequest) -> Iterator[SourceItem]:
        """Page through one stream; when incremental, a checkpoint follows every batch.

        The server-side cursor is always `updated_at` (the only filter the API has); the checkpoint's
        `cursor` is the highest `updated_at` read so far, exactly as the API sent it.
        """
        stream = request.stream
        if stream.name not in SCHEMAS:
            raise ConfigError(f"the sandbox has no stream {stream.name!r} (streams: {', '.join(STREAM_NAMES)})")
        params: dict[str, Any] = {"limit": self.config.page_size}
        saved = (request.state or {}).get("cursor") if request.incremental else None
        if saved:
            params["updated_since"] = str(saved)
            params["include_deleted"] = "true"
        elif request.start_date is not None:
            params["updated_since"] = f"{request.start_date.isoformat()}T00:00:00Z"
        end_day = request.end_date.isoformat() if request.end_date is not None else None
        highest: str | None = None
        while True:
            records, next_cursor = self._page(stream.name, params)
            past_end = False
            if end_day is not None:
                kept = [r for r in records if str(r.get(CURSOR_FIELD))[:10] <= end_day]
                # The listing is ordered by updated_at: once past end_date, every later page is too.
                past_end, records = len(kept) < len(records), kept
            if records:
                # Convert the whole page before yielding anything: no state for a half-read page.
                batch = records_to_batch(records, stream.schema)
                yield batch
                if request.incremental:
                    page_high = max((v for r in records if isinstance(v := r.get(CURSOR_FIELD), str)), default=None)
                    if page_high is not None and (highest is None or page_high > highest):
                        highest = page_high
                    if highest is not None:
                        yield StateCheckpoint({"cursor": highest})
            if next_cursor is None or past_end:
                return
            params["cursor"] = next_cursor

    def _page(self, stream: str, params: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
        body = self._get(f"/v1/{stream}", params)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise SourceUnavailable(f"sandbox returned an unexpected body for /v1/{stream} (no `data` list)")
        next_cursor = body.get("next_cursor")
        return data, (str(next_cursor) if next_cursor else None)

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        """GET and parse JSON; retry connect errors, timeouts, 429 and 5xx a few times."""
        client = self._http()
        failure = ""
        cause: BaseException | None = None
        for attempt in range(ATTEMPTS):
            if attempt:
                time.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
            try:
                response = client.get(path, params=params)
            except httpx.TransportError as exc:  # connect errors, timeouts, dropped connections
                failure, cause = f"{type(exc).__name__}: {exc}", exc
                log.debug("sandbox: GET %s attempt %d failed: %s", path, attempt + 1, failure)
                continue
            status = response.status_code
            if status in (401, 403):
                raise AuthError(f"sandbox rejected the api_key (HTTP {status} from {self.base_url}); "
                                "check source.config.api_key", field="api_key")
            if status == 429 or status >= 500:
                failure, cause = f"HTTP {status}: {_message(response)}", None
                log.debug("sandbox: GET %s attempt %d failed: %s", path, attempt + 1, failure)
                continue
            if status >= 400:
                raise ConfigError(f"sandbox refused GET {path}: HTTP {status}: {_message(response)}")
            try:
                return orjson.loads(response.content)
            except orjson.JSONDecodeError as exc:
                raise SourceUnavailable(f"sandbox returned invalid JSON for GET {path}: {exc}") from exc
        raise SourceUnavailable(f"sandbox at {self.base_url} unavailable: GET {path} failed "
                                f"{ATTEMPTS} times; last: {failure}") from cause


def _message(response: httpx.Response) -> str:
    """The `message` of a JSON error body, else the start of the body."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.text[:200]
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"][:500]
    return response.text[:200]
