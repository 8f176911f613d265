"""When and how long to wait before trying an HTTP request again.

Kept apart from the client so the policy (which failures are worth another attempt, exponential
backoff with jitter, honouring `Retry-After`) is small enough to read in one go and to test alone.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from pydantic import BaseModel, ConfigDict, Field

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
"""Statuses that may succeed later. Other 5xx count too (see `retryable_status`), except 501/505."""


class RetryConfig(BaseModel):
    """`retries:` of a REST source: request-level retries, before the sync itself is retried."""

    model_config = ConfigDict(extra="forbid")
    attempts: int = Field(6, ge=1, le=50, description="Tries per request, the first included.")
    initial_delay: float = Field(0.5, ge=0, le=600, description="Seconds before the first retry; doubled each time.")
    max_delay: float = Field(30, ge=0, le=3600, description="Upper bound of one backoff wait.")
    max_retry_after: float = Field(300, ge=0, description="Longest `Retry-After` honoured; a longer one fails the "
                                                          "request at once (SourceUnavailable).")


def retryable_status(status: int) -> bool:
    return status in RETRY_STATUSES or (status >= 500 and status not in (501, 505))


def backoff(config: RetryConfig, retry: int, rng: random.Random) -> float:
    """Seconds to wait before retry number `retry` (1-based): exponential, with "equal jitter".

    Half the delay is fixed and half random, so waits still grow exponentially while concurrent
    clients that failed together spread out instead of retrying in lockstep.
    """
    delay = min(config.max_delay, config.initial_delay * 2 ** (retry - 1))
    return delay / 2 + rng.uniform(0, delay / 2)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` in seconds from now: delay-seconds or an HTTP-date (RFC 9110 §10.2.3); None if absent/bad."""
    if value is None:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass  # not a number: try the HTTP-date form
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
