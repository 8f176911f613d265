"""A connection's request budget: a rate limiter and a cap on requests in flight, shared by every
stream the engine reads concurrently from one source instance.

The rate limiter is a token bucket holding a single token that refills every `per / requests`
seconds (the GCRA form of a token bucket): requests leave evenly spaced, so no window of `per`
seconds sees more than `requests` of them (one more when a window's edges fall exactly on two
requests). A larger bucket would let a burst through at the start of every window and double the
worst case, which is exactly what a vendor's limiter punishes with 429s. The spacing is HEADROOM
wider than the limit, so thread wake-up and network jitter cannot bunch requests over it as the
server counts them.

Servers also say how much budget is left (`observe`, fed every response by the client):
`X-RateLimit-Remaining: 0` (or `RateLimit-Remaining`) pauses the whole connection until the
`X-RateLimit-Reset` / `RateLimit-Reset` time (delay-seconds, or a Unix time when the number is
that large), or for a `Retry-After` sent with it. So the next request waits for the new budget
instead of spending one attempt, and a backoff, on a 429.

`reported_budget` reads the same headers for the record: the HTTP client's `http_request` event
carries what the source last said (remaining, reset), which `GET .../rate-limits` shows.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Literal, NamedTuple

from connectors.http.retry import parse_retry_after

log = logging.getLogger("rooftop.http")

HEADROOM = 1.03
REMAINING_HEADERS = ("x-ratelimit-remaining", "ratelimit-remaining", "x-rate-limit-remaining")
RESET_HEADERS = ("x-ratelimit-reset", "ratelimit-reset", "x-rate-limit-reset")
EPOCH_AFTER = 1_000_000_000.0
"""A reset value this large is a Unix time (GitHub-style), not a number of seconds."""
MAX_HEADER_PAUSE = 900.0
"""Longest pause a rate-limit header may impose (a wrong clock must not stall a sync for hours)."""
DEFAULT_RESET = 1.0
"""Pause when the budget is spent and the server says nothing about when it comes back."""


class Waited(NamedTuple):
    """What `slot()` made the caller wait, so the client can report long waits and why."""

    seconds: float
    reason: Literal["limiter", "retry_after"]
    """`limiter`: the connection's own request budget; `retry_after`: a server's 429 paused it."""


NO_WAIT = Waited(0.0, "limiter")


class ReportedBudget(NamedTuple):
    """What a response's rate-limit headers said: requests left and when the budget resets."""

    remaining: float
    reset: float | None
    """As sent: seconds until the reset, or a Unix time when the number is that large."""
    reset_at: str | None
    """The reset as an ISO-8601 UTC time, computed when the response arrived."""


def reported_budget(headers: Mapping[str, str]) -> ReportedBudget | None:
    """The source's `X-RateLimit-Remaining` / `Reset` (or `RateLimit-*`), None when it sent no remaining count."""
    remaining = _number(_first(headers, REMAINING_HEADERS))
    if remaining is None:
        return None
    reset = _number(_first(headers, RESET_HEADERS))
    reset_at = None
    if reset is not None:
        at = reset if reset >= EPOCH_AFTER else time.time() + reset
        reset_at = datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
    return ReportedBudget(remaining, reset, reset_at)


class Throttle:
    """`slot()` around every HTTP request of a connection (retries and token requests included)."""

    def __init__(self, requests: int | None = None, per_seconds: float = 1.0, max_concurrency: int = 1) -> None:
        if requests is not None and requests < 1:
            raise ValueError(f"requests must be at least 1, got {requests}")
        if per_seconds <= 0:
            raise ValueError(f"per_seconds must be positive, got {per_seconds}")
        self.interval = per_seconds / requests * HEADROOM if requests else 0.0
        self.max_concurrency = max(1, max_concurrency)
        self._in_flight = threading.BoundedSemaphore(self.max_concurrency)
        self._lock = threading.Lock()
        self._next_free = 0.0
        self._paused_until = 0.0
        self.waited_seconds = 0.0
        """Total time requests spent waiting for the rate limiter (for reporting)."""

    def _reserve(self) -> Waited:
        """Reserve the next send time (monotonic clock); the caller waits until then."""
        with self._lock:
            now = time.monotonic()
            at = max(now, self._next_free, self._paused_until)
            self._next_free = at + self.interval
            self.waited_seconds += at - now
            paused = self._paused_until > now and self._paused_until >= at
            return Waited(at - now, "retry_after" if paused else "limiter")

    def pause(self, seconds: float) -> None:
        """Hold every request for `seconds` (the server said so, e.g. a 429's Retry-After)."""
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def observe(self, headers: Mapping[str, str], status: int = 200) -> float:
        """Read a response's rate-limit headers; pause the connection when its budget is spent.

        Returns the pause imposed (0.0 when none). A 429's own `Retry-After` is the client's business
        (it retries that request); never raises, whatever the headers hold.
        """
        remaining = _number(_first(headers, REMAINING_HEADERS))
        seconds = 0.0
        if remaining is not None and remaining <= 0:
            reset = _number(_first(headers, RESET_HEADERS))
            after = parse_retry_after(_first(headers, ("retry-after",)))
            if reset is not None:
                seconds = reset - time.time() if reset >= EPOCH_AFTER else reset
            elif after is not None:
                seconds = after
            else:
                seconds = DEFAULT_RESET
        elif status != 429 and 200 <= status < 300:
            seconds = parse_retry_after(_first(headers, ("retry-after",))) or 0.0
        seconds = min(max(0.0, seconds), MAX_HEADER_PAUSE)
        if seconds > 0:
            self.pause(seconds)
            log.info("rate limit: the server's budget is spent; pausing requests for %.1f s", seconds,
                     extra={"event": "rate_limit_budget_spent", "seconds": round(seconds, 3)})
        return seconds

    @contextmanager
    def slot(self) -> Iterator[Waited]:
        """Hold one of the connection's in-flight places, after waiting for the rate limiter; yields that wait."""
        with self._in_flight:
            waited = NO_WAIT
            if self.interval or self._paused_until:
                waited = self._reserve()
                if waited.seconds > 0:
                    time.sleep(waited.seconds)  # pacing the connection is this object's whole job
            yield waited


def _first(headers: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = headers.get(name)
        if value is not None:
            return value
    return None


def _number(text: str | None) -> float | None:
    try:
        return float(text.split(",")[0].strip()) if text is not None else None
    except ValueError:
        return None
