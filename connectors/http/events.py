"""The HTTP client's structured log events, with every credential masked.

`rooftop logs SYNC_ID` replays what a sync did from these records, so they carry fields, not only
prose: each attempt (`http_request`, DEBUG, with the source's `rate_limit_remaining` / `_reset` /
`_reset_at` when its response reported them), each retry and why (`http_retry`), each long wait
for the rate limit or a server's `Retry-After` (`rate_limit_wait`), and the request and response
of a request that finally failed (`http_error`, ERROR). All of them go to the `rooftop.http`
logger with `extra={"event": ..., "connection": ..., ...}`.

A logged request must never leak a credential, even when the log is stored or shipped where the
connection's own redactor does not run. This module masks by name (the headers and query
parameters the authenticator sets, and those that carry credentials by convention) and by value
(whatever the authenticator's `secret_values()` returns, also inside URLs and echoed error bodies).
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import quote, unquote

import httpx

from connectors.http.auth import Authenticator
from connectors.http.throttle import Waited, reported_budget

log = logging.getLogger("rooftop.http")

MASK = "***"
LONG_WAIT_SECONDS = 0.05
"""Shorter waits for the rate limiter are the ordinary spacing of requests, not worth a record."""
BODY_EXCERPT = 2000
SECRET_PARAMS = frozenset({"api_key", "apikey", "api-key", "key", "token", "access_token", "auth", "auth_token",
                           "client_secret", "secret", "password", "passwd", "sig", "signature", "x-api-key"})
"""Query parameters masked whatever the auth config says: vendors put keys in these."""
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "set-cookie"})
_SECRET_HEADER = re.compile(r"auth|token|secret|passw|api[-_]?key|cookie|session|signature|credential", re.I)
RESPONSE_HEADERS = ("content-type", "retry-after", "x-request-id", "request-id", "x-correlation-id",
                    "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")
"""The response headers an `http_error` keeps: enough to tell a vendor which request failed."""


class Masker:
    """Masks one connection's credentials in what is logged about its requests.

    Built per event (cheap), because an OAuth2 token changes during a sync. Given the request, it
    also masks, wherever they appear, the values of that request's credential headers and
    parameters: a key set in the source's plain `headers:` and echoed back by an error page.
    """

    def __init__(self, auth: Authenticator | None, request: httpx.Request | None = None) -> None:
        self._headers = SECRET_HEADERS | (auth.header_names if auth is not None else frozenset())
        self._params = SECRET_PARAMS | (auth.param_names if auth is not None else frozenset())
        values = list(auth.secret_values()) if auth is not None else []
        if request is not None:
            for name, value in request.headers.items():
                if self._secret_header(name.lower()):
                    # `Bearer <token>`: the token alone may be echoed too.
                    values.extend((value, value.partition(" ")[2]))
            values.extend(v for k, v in request.url.params.multi_items() if k.lower() in self._params)
        # Longest first, so a value containing another is masked whole; URL-encoded forms too,
        # since a key with `+` or `/` reaches the query string encoded.
        forms = {form for v in values if len(v) >= 4 for form in (v, quote(v, safe=""), quote(v))}
        self._values = sorted(forms, key=len, reverse=True)

    def _secret_header(self, name: str) -> bool:
        return name in self._headers or _SECRET_HEADER.search(name) is not None

    def text(self, text: str) -> str:
        for value in self._values:
            text = text.replace(value, MASK)
        return text

    def query(self, url: httpx.URL) -> str:
        """The query string as sent, with credential parameters' values masked."""
        raw = url.query.decode("ascii", "replace")
        if not raw:
            return ""
        parts = []
        for part in raw.split("&"):
            name, eq, _ = part.partition("=")
            parts.append(f"{name}={MASK}" if eq and unquote(name).lower() in self._params else part)
        return self.text("&".join(parts))

    def url(self, url: httpx.URL) -> str:
        """scheme://host[:port]/path?query without user info and with credentials masked."""
        origin = url.copy_with(username=None, password=None, query=None, fragment=None)
        query = self.query(url)
        return self.text(str(origin)) + (f"?{query}" if query else "")

    def target(self, url: httpx.URL) -> str:
        """Path and masked query: what a request asked for, short enough for a log line."""
        query = self.query(url)
        return self.text(url.path) + (f"?{query}" if query else "")

    def headers(self, headers: httpx.Headers) -> dict[str, str]:
        return {name: MASK if self._secret_header(name) else self.text(value)
                for name, value in ((k.lower(), v) for k, v in headers.items())}


def failure_of(exc: BaseException) -> str:
    """`ConnectError: [Errno 111] Connection refused`, or the class alone when the message is empty."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _base(connection: str, stream: str | None, event: str) -> dict[str, Any]:
    fields: dict[str, Any] = {"event": event, "connection": connection}
    if stream is not None:
        fields["stream"] = stream
    return fields


def request_sent(connection: str, stream: str | None, auth: Authenticator | None, request: httpx.Request,
                 attempt: int, response: httpx.Response | None, error: BaseException | None,
                 elapsed_seconds: float) -> None:
    """`http_request` (DEBUG): one attempt. Callers check `log.isEnabledFor(DEBUG)` first: hot path."""
    mask = Masker(auth)
    target = mask.target(request.url)
    query = mask.query(request.url)
    outcome = str(response.status_code) if response is not None else type(error).__name__
    elapsed_ms = round(elapsed_seconds * 1000, 1)
    budget = reported_budget(response.headers) if response is not None else None
    reported = {} if budget is None else {"rate_limit_remaining": _plain_number(budget.remaining),
                                          "rate_limit_reset": _plain_number(budget.reset),
                                          "rate_limit_reset_at": budget.reset_at}
    log.debug("%s %s -> %s in %.0f ms (attempt %d)", request.method, target, outcome, elapsed_ms, attempt,
              extra={**_base(connection, stream, "http_request"), "method": request.method,
                     "path": mask.text(request.url.path), "query": query or None,
                     "status": response.status_code if response is not None else None,
                     "error": type(error).__name__ if error is not None else None,
                     "elapsed_ms": elapsed_ms, "attempt": attempt, **reported})


def _plain_number(value: float | None) -> float | int | None:
    """5.0 → 5: header counts are whole numbers, and read better without the `.0`."""
    return int(value) if value is not None and value.is_integer() else value


def retrying(connection: str, stream: str | None, auth: Authenticator | None, who: str, what: str,
             request: httpx.Request | None, status: int | None, error: BaseException | None, attempt: int,
             attempts: int, wait: float) -> None:
    """`http_retry` (INFO): attempt `attempt` of `attempts` failed; the next one follows in `wait` s."""
    mask = Masker(auth, request)
    failure = f"HTTP {status}" if status is not None else mask.text(failure_of(error)) if error else "?"
    log.info("%s: %s failed (%s); retry %d of %d in %.2f s", who, what, failure, attempt, attempts - 1, wait,
             extra={**_base(connection, stream, "http_retry"), "failure": failure, "status": status,
                    "error": type(error).__name__ if error is not None else None,
                    "method": request.method if request is not None else None,
                    "path": mask.text(request.url.path) if request is not None else None,
                    "attempt": attempt, "attempts": attempts, "wait_seconds": round(wait, 3)})


def rate_limit_waited(connection: str, stream: str | None, who: str, waited: Waited) -> None:
    """`rate_limit_wait` (INFO) when the rate limit or a server's Retry-After held a request noticeably."""
    if waited.seconds < LONG_WAIT_SECONDS:
        return
    why = "the connection's rate limit" if waited.reason == "limiter" else "the server's Retry-After"
    log.info("%s: waited %.2f s for %s", who, waited.seconds, why,
             extra={**_base(connection, stream, "rate_limit_wait"), "wait_seconds": round(waited.seconds, 3),
                    "reason": waited.reason})


def failed(connection: str, stream: str | None, auth: Authenticator | None, who: str, request: httpx.Request,
           response: httpx.Response | None, error: BaseException | None, reason: str, attempts: int) -> None:
    """`http_error` (ERROR): the request, and the response if any, that made a request fail for good.

    Logged before the exception propagates, so the log holds what the vendor needs to investigate.
    """
    mask = Masker(auth, request)
    url = mask.url(request.url)
    fields: dict[str, Any] = {
        **_base(connection, stream, "http_error"), "reason": mask.text(reason), "attempts": attempts,
        "request": {"method": request.method, "url": url, "headers": mask.headers(request.headers)},
        "response": None, "error": mask.text(failure_of(error)) if error is not None else None,
    }
    if response is not None:
        fields["response"] = {
            "status": response.status_code,
            "headers": {name: mask.text(response.headers[name]) for name in RESPONSE_HEADERS
                        if name in response.headers},
            "body": mask.text(_body(response))[:BODY_EXCERPT],
        }
    log.error("%s: %s %s failed: %s", who, request.method, url, fields["reason"], extra=fields)


def _body(response: httpx.Response) -> str:
    try:
        content = response.content
    except httpx.ResponseNotRead:
        return ""  # a streamed response nobody read: there is no body to show
    # Decoded a little long, so that a secret straddling the cut is still masked whole before it.
    return content[:BODY_EXCERPT * 4].decode(response.encoding or "utf-8", "replace")
