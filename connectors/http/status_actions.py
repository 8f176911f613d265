"""What the HTTP client does with each HTTP status: one table, read top to bottom, first match wins.

Kept as data apart from the client (as airbyte-cdk keeps its `DEFAULT_ERROR_MAPPING`) so that
"what happens on a 409?" has one place to look, and so the client cannot drift from this page:
`HttpClient.send` retries exactly the `retry` rows, `HttpClient.get` acts on the others.

    status                  action      what the client does
    2xx                     success     returns the response (a page)
    408, 425, 429           retry       waits (backoff, or exactly Retry-After) and sends again
    5xx and up, not 501/505 retry       waits (backoff, or exactly Retry-After) and sends again
    the ignore_statuses     ignore      returns the response; the stream reads it as an empty page
    401, 403                auth_error  renews the credential once (OAuth2), then raises AuthError
    any other               fail        raises ConfigError quoting the server's message

- retry: `retries.attempts` tries in all, waiting `initial_delay × 2^(n-1)` (capped at `max_delay`,
  half of it random); a `Retry-After` is obeyed exactly instead, and on a 429 it pauses every
  stream of the connection. A `Retry-After` beyond `retries.max_retry_after` fails at once, and
  retries that run out fail, both with SourceUnavailable (transient: the sync may be retried).
  The retry rows come before `ignore_statuses`: a status that may succeed later is retried even
  where a stream ignores it.
- ignore: a stream's `ignore_statuses` (e.g. 404/410 for a parent deleted mid-sync), per request.
- auth_error: AuthError names the credential's config field, never its value; after the first
  refusal every later request of the connection fails at once without being sent, so a bad key
  costs one request per stream in flight, not a retry storm.
- fail: other 4xx (the request is wrong and stays wrong), 501/505 (the server will never do it),
  1xx and a 3xx without a Location to follow.

Failures without a status are decided by the `except` clauses of `HttpClient.send`: connect and
read errors, timeouts (the total deadline too) and dropped connections are retried like the retry
rows; an unsupported scheme, an invalid URL or too many redirects, and a header value no request
can carry, fail at once with a ConfigError.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    SUCCESS = "success"
    RETRY = "retry"
    IGNORE = "ignore"
    AUTH_ERROR = "auth_error"
    FAIL = "fail"


@dataclass(frozen=True)
class StatusRule:
    """One row: the statuses it covers (`codes`, and/or the inclusive `span`, minus `but`) and the action."""

    statuses: str
    """The statuses as the table above names them."""
    action: Action
    does: str
    """What the client does, as the table above says it."""
    codes: frozenset[int] = frozenset()
    span: tuple[int | None, int | None] | None = None
    """(lowest, highest) inclusive; None at either end is unbounded."""
    but: frozenset[int] = frozenset()
    ignored: bool = False
    """Matches the statuses the request asked to ignore (`ignore_statuses`) instead of fixed ones."""

    def matches(self, status: int, ignore: Collection[int]) -> bool:
        if status in self.but:
            return False
        if self.ignored:
            return status in ignore
        if status in self.codes:
            return True
        if self.span is None:
            return False
        lowest, highest = self.span
        return (lowest is None or status >= lowest) and (highest is None or status <= highest)


_AGAIN = "waits (backoff, or exactly Retry-After) and sends again"

STATUS_RULES: tuple[StatusRule, ...] = (
    StatusRule("2xx", Action.SUCCESS, "returns the response (a page)", span=(200, 299)),
    StatusRule("408, 425, 429", Action.RETRY, _AGAIN, codes=frozenset({408, 425, 429})),
    StatusRule("5xx and up, not 501/505", Action.RETRY, _AGAIN, span=(500, None), but=frozenset({501, 505})),
    StatusRule("the ignore_statuses", Action.IGNORE, "returns the response; the stream reads it as an empty page",
               ignored=True),
    StatusRule("401, 403", Action.AUTH_ERROR, "renews the credential once (OAuth2), then raises AuthError",
               codes=frozenset({401, 403})),
    StatusRule("any other", Action.FAIL, "raises ConfigError quoting the server's message", span=(None, None)),
)
"""The table of the module doc, as the client consults it."""


def status_rule(status: int, ignore: Collection[int] = ()) -> StatusRule:
    """The first row of STATUS_RULES covering `status`; `ignore`: the request's `ignore_statuses`."""
    for rule in STATUS_RULES:
        if rule.matches(status, ignore):
            return rule
    raise AssertionError(f"STATUS_RULES ends with a row for any status, yet none covers {status}")


def status_action(status: int, ignore: Collection[int] = ()) -> Action:
    return status_rule(status, ignore).action


def table() -> str:
    """The rows as the module doc prints them (a test keeps the two the same)."""
    lines = [f"{'status':<24}{'action':<12}what the client does"]
    lines += [f"{rule.statuses:<24}{rule.action.value:<12}{rule.does}" for rule in STATUS_RULES]
    return "\n".join(lines)
