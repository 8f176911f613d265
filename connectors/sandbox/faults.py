"""What makes the sandbox behave like a real vendor API on a bad day: injected faults and a rate limit.

Separate from the server module so the decisions (which request fails, how, and when a key is over
its limit) are plain, thread-safe objects that the HTTP handler only consults. Everything is off by
default, so tests and demos that do not ask for faults stay fast and deterministic; `seed` makes the
choice of failing requests repeatable for a given request order.

Faults apply to every endpoint except `/v1/_admin/*` (a test must always be able to reconfigure or
mutate the sandbox). In order, per request:

1. `fail_first`: the next N requests are answered with `status` (e.g. 503 for a failing deploy).
2. `drop_rate`: that share of requests gets no response at all: the connection is closed.
3. `error_rate`: that share is answered with 500, 502 or 503.
4. The per-key rate limit (after authentication, so it is keyed on a real key): a token bucket of
   `rate_limit_burst` tokens (default: a minute's worth) refilled at `rate_limit_per_minute / 60`
   per second. Over the limit: 429 with `Retry-After`; every limited response carries
   `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (seconds until full).
5. `slow_ms`: every remaining response is delayed by that many milliseconds.
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

ERROR_STATUSES = (500, 502, 503)
DEFAULT_RATE_LIMIT_PER_MINUTE = 150
"""What `--rate-limit` models when given no number: a common PMS vendor limit."""


class FaultConfig(BaseModel):
    """The body of POST /v1/_admin/faults, and the arguments of `SandboxServer.set_faults`."""

    model_config = ConfigDict(extra="forbid")
    fail_first: int = Field(0, ge=0, description="Answer the next N requests with `status`.")
    status: int = Field(503, ge=400, le=599, description="HTTP status of the `fail_first` responses.")
    error_rate: float = Field(0, ge=0, le=1, description="Share of requests answered with 500/502/503.")
    drop_rate: float = Field(0, ge=0, le=1, description="Share of requests whose connection is closed unanswered.")
    slow_ms: int = Field(0, ge=0, le=60_000, description="Delay added to every response.")
    seed: int = Field(0, description="Seed of the random choice of failing requests.")
    rate_limit_per_minute: int | None = Field(None, ge=1, description="Per-key limit; None = unlimited.")
    rate_limit_burst: int | None = Field(None, ge=1, description="Bucket size; default: rate_limit_per_minute.")

    @model_validator(mode="after")
    def _rates_fit(self) -> Self:
        if self.error_rate + self.drop_rate > 1:
            raise ValueError(f"error_rate + drop_rate must not exceed 1, got {self.error_rate + self.drop_rate}")
        return self


@dataclass(frozen=True)
class Fault:
    """What to do instead of serving a request: close the connection, or answer `status`."""

    drop: bool = False
    status: int = 0


@dataclass(frozen=True)
class RateVerdict:
    allowed: bool
    headers: dict[str, str]
    retry_after: int = 0


class _Bucket:
    __slots__ = ("tokens", "stamp")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens, self.stamp = tokens, stamp


class FaultInjector:
    """The sandbox's current fault settings and their counters; one per server, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._config = FaultConfig()
        self._rng = random.Random(0)
        self._fail_left = 0
        self._buckets: dict[str, _Bucket] = {}

    @property
    def config(self) -> FaultConfig:
        return self._config

    def configure(self, config: FaultConfig) -> None:
        """Replace every setting (and restart the random sequence and the rate-limit buckets)."""
        with self._lock:
            self._config = config
            self._rng = random.Random(config.seed)
            self._fail_left = config.fail_first
            self._buckets.clear()

    def fault(self) -> Fault | None:
        """The fault to inject into the next (non-admin) request, if any."""
        with self._lock:
            cfg = self._config
            if self._fail_left > 0:
                self._fail_left -= 1
                return Fault(status=cfg.status)
            if not (cfg.drop_rate or cfg.error_rate):
                return None
            draw = self._rng.random()
            if draw < cfg.drop_rate:
                return Fault(drop=True)
            if draw < cfg.drop_rate + cfg.error_rate:
                return Fault(status=self._rng.choice(ERROR_STATUSES))
            return None

    def slow_seconds(self) -> float:
        return self._config.slow_ms / 1000

    def admit(self, key: str) -> RateVerdict | None:
        """Take one token from `key`'s bucket; None when no rate limit is set."""
        with self._lock:
            per_minute = self._config.rate_limit_per_minute
            if per_minute is None:
                return None
            capacity = float(self._config.rate_limit_burst or per_minute)
            rate = per_minute / 60.0
            now = time.monotonic()
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(capacity, now)
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.stamp) * rate)
            bucket.stamp = now
            allowed = bucket.tokens >= 1
            if allowed:
                bucket.tokens -= 1
            headers = {"X-RateLimit-Limit": str(per_minute),
                       "X-RateLimit-Remaining": str(int(bucket.tokens)),
                       "X-RateLimit-Reset": str(math.ceil((capacity - bucket.tokens) / rate))}
            if allowed:
                return RateVerdict(True, headers)
            # Whole seconds (RFC 9110 delay-seconds), at least 1: the time until one token is back.
            retry_after = max(1, math.ceil((1 - bucket.tokens) / rate))
            return RateVerdict(False, {**headers, "Retry-After": str(retry_after)}, retry_after)
