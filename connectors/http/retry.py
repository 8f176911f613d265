"""When and how long to wait before trying an HTTP request again.

Kept apart from the client so the policy (which failures are worth another attempt, exponential
backoff with jitter, honouring `Retry-After`) is small enough to read in one go and to test alone.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from pydantic import BaseModel, ConfigDict, Field

from connectors.http.status_actions import Action, status_action
from protocol.durations import Duration


class RetryConfig(BaseModel):
    """`retries:` of a REST source: request-level retries, before the sync itself is retried."""

    model_config = ConfigDict(extra="forbid")
    attempts: int = Field(6, ge=1, le=50, description="Tries per request, the first included.")
    initial_delay: Duration = Field(0.5, ge=0, le=600, description="Wait before the first retry; doubled each "
                                                                   "time (a duration; seconds if a number).")
    max_delay: Duration = Field(30, ge=0, le=3600, description="Upper bound of one backoff wait.")
    max_retry_after: Duration = Field(300, ge=0, description="Longest `Retry-After` honoured; a longer one fails "
                                                             "the request at once (SourceUnavailable).")


def retryable_status(status: int) -> bool:
    """Whether `status` may succeed later: the `retry` rows of the table in `status_actions`."""
    return status_action(status) is Action.RETRY


def backoff(config: RetryConfig, retry: int, rng: random.Random) -> float:
    """Seconds to wait before retry number `retry` (1-based): exponential, with "equal jitter".

    Half the delay is fixed and half random, so waits still grow exponentially while concurrent
    clients that failed together spread out instead of retrying in lockstep.
    """
    delay = min(config.max_delay, config.initial_delay * 2.0 ** (retry - 1))
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
