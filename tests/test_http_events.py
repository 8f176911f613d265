"""The HTTP client's structured log events.

`rooftop logs SYNC_ID` is built from these records, so each test checks the fields a reader relies
on (attempt, status or error class, retry reason, wait, the failing request and response) and that
no credential appears anywhere in a record, whether it was sent in a header, in the query string
or echoed back by the server. Dropped connections and an unreachable server use real sockets on
127.0.0.1 (tests/support/http_api.py); the rest is answered in-process (tests/support/mock_api.py).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.http.auth import (
    ApiKeyAuthConfig,
    HeaderAuth,
    QueryAuth,
    make_authenticator,
)
from connectors.http.client import HttpClient
from connectors.http.events import BODY_EXCERPT, MASK
from connectors.http.retry import RetryConfig
from connectors.http.throttle import Throttle
from protocol.errors import ConfigError, SourceUnavailable
from tests.support.http_api import Reply, Request, TestApi
from tests.support.logs import fresh_rooftop_logger  # noqa: F401 - autouse fixture
from tests.support.mock_api import MockApi, in_order

FAST = RetryConfig(attempts=3, initial_delay=0, max_delay=0)
HEADER_KEY = "hdr-key-5f0c9e1d7a"
QUERY_KEY = "qry-key-8b2a44c610"


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._lock_ = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock_:
            self.records.append(record)

    def events(self, name: str) -> list[Any]:
        with self._lock_:
            return [r for r in self.records if getattr(r, "event", None) == name]


@pytest.fixture
def records() -> Iterator[Records]:
    logger = logging.getLogger("rooftop.http")
    handler, level = Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def assert_never_leaked(records: Records, *secrets: str) -> None:
    assert records.records
    for record in records.records:
        everything = record.getMessage() + repr(vars(record))
        for secret in secrets:
            assert secret not in everything, (record.getMessage(), vars(record))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_one_request_event_per_attempt_with_status_timing_and_masked_query(records: Records) -> None:
    with TestApi(in_order(Reply(503), Reply(drop=True))) as api, \
            HttpClient(api.url, connection="conn_a", retry=FAST) as http:
        http.auth = QueryAuth("access", QUERY_KEY, "auth.key")
        http.get("/v1/leases", {"page": 2}, stream="leases")
    requests = records.events("http_request")
    assert [(r.attempt, r.status, r.error) for r in requests] == [
        (1, 503, None), (2, None, "RemoteProtocolError"), (3, 200, None)]
    for r in requests:
        assert (r.levelno, r.connection, r.stream, r.method, r.path) == (logging.DEBUG, "conn_a", "leases",
                                                                         "GET", "/v1/leases")
        assert r.query == f"page=2&access={MASK}" and r.elapsed_ms >= 0
    assert "GET /v1/leases?page=2&access=*** -> 503" in requests[0].getMessage()
    assert {r.query.get("access") for r in api.requests} == {QUERY_KEY}  # the server did get the key
    assert_never_leaked(records, QUERY_KEY)


def test_retries_say_why_how_long_and_which_attempt(records: Records) -> None:
    with TestApi(in_order(Reply(502), Reply(drop=True))) as api, \
            HttpClient(api.url, connection="c", retry=FAST) as http:
        http.get("/x")
    first, second = records.events("http_retry")
    assert (first.levelno, first.status, first.error, first.failure) == (logging.INFO, 502, None, "HTTP 502")
    assert (second.status, second.error) == (None, "RemoteProtocolError")
    assert [(r.attempt, r.attempts, r.wait_seconds) for r in (first, second)] == [(1, 3, 0.0), (2, 3, 0.0)]
    assert (first.method, first.path) == ("GET", "/x")


def test_no_request_events_are_built_when_debug_is_off(records: Records) -> None:
    logging.getLogger("rooftop.http").setLevel(logging.INFO)
    with MockApi(in_order(Reply(500))) as api, HttpClient(api.url, retry=FAST, transport=api.transport) as http:
        http.get("/x")
    assert records.events("http_request") == [] and len(records.events("http_retry")) == 1


def test_the_rate_limiter_and_a_retry_after_are_reported_as_waits(records: Records) -> None:
    # 5 requests/s: each request after the first waits ~0.2 s for the connection's budget.
    with MockApi(in_order()) as api, \
            HttpClient(api.url, connection="paced", throttle=Throttle(5, 1.0), transport=api.transport) as http:
        for _ in range(3):
            http.get("/x", stream="units")
    waits = records.events("rate_limit_wait")
    assert len(waits) == 2 and all(w.reason == "limiter" and 0.05 <= w.wait_seconds <= 0.3 for w in waits)
    assert all((w.levelno, w.connection, w.stream) == (logging.INFO, "paced", "units") for w in waits)

    with MockApi(in_order(Reply(429, headers={"Retry-After": "0.3"}))) as api, \
            HttpClient(api.url, connection="limited", retry=FAST, transport=api.transport) as http:
        http.get("/x")
    (wait,) = [w for w in records.events("rate_limit_wait") if w.connection == "limited"]
    assert (wait.reason, wait.wait_seconds) == ("retry_after", 0.3)
    (retry,) = [r for r in records.events("http_retry") if r.connection == "limited"]
    assert (retry.status, retry.wait_seconds) == (429, 0.3)


def test_a_refused_request_is_logged_whole_with_every_secret_masked(records: Records) -> None:
    def route(request: Request) -> Reply:
        # A server that echoes the credentials it got, as some error pages do.
        echoed = f"unknown key {request.headers.get('x-api-key')} / {request.query.get('access')}"
        return Reply(404, {"message": echoed, "padding": "x" * 5000}, headers={"X-Request-Id": "req-77"})

    with MockApi(route) as api, HttpClient(api.url, connection="vendor", headers={"X-API-Key": HEADER_KEY},
                                           retry=FAST, transport=api.transport) as http:
        http.auth = QueryAuth("access", QUERY_KEY, "auth.key")
        with pytest.raises(ConfigError):
            http.get("/v1/units", {"page": 1}, stream="units")
    (error,) = records.events("http_error")
    assert (error.levelno, error.connection, error.stream, error.reason, error.attempts) == (
        logging.ERROR, "vendor", "units", "HTTP 404", 1)
    assert error.request["method"] == "GET"
    assert error.request["url"] == f"{api.url}/v1/units?page=1&access={MASK}"
    assert error.request["headers"]["x-api-key"] == MASK and error.request["headers"]["accept"] == "application/json"
    response = error.response
    assert response["status"] == 404
    assert response["headers"] == {"content-type": "application/json", "x-request-id": "req-77"}
    assert len(response["body"]) == BODY_EXCERPT and f"unknown key {MASK} / {MASK}" in response["body"]
    assert_never_leaked(records, HEADER_KEY, QUERY_KEY)


def test_the_authenticators_own_header_and_value_are_masked(records: Records) -> None:
    config = ApiKeyAuthConfig(key=HEADER_KEY, name="X-Vendor", prefix="Key ")  # type: ignore[arg-type]
    auth = make_authenticator(config, fetch=None)  # type: ignore[arg-type]  # api keys never fetch
    with MockApi(lambda r: Reply(400, {"error": f"bad {r.headers.get('x-vendor')}"})) as api, \
            HttpClient(api.url, retry=FAST, auth=auth, transport=api.transport) as http, pytest.raises(ConfigError):
        http.get("/x")
    (error,) = records.events("http_error")
    assert error.request["headers"]["x-vendor"] == MASK and f"bad {MASK}" in error.response["body"]
    assert_never_leaked(records, HEADER_KEY)


def test_exhausted_retries_log_the_last_response_before_raising(records: Records) -> None:
    seen_before_raise: list[int] = []
    with MockApi(lambda r: Reply(503, {"message": "maintenance"})) as api, \
            HttpClient(api.url, connection="c", retry=FAST, transport=api.transport) as http:
        http.auth = HeaderAuth("Authorization", f"Bearer {HEADER_KEY}", "auth.token", secret=HEADER_KEY)
        with pytest.raises(SourceUnavailable):
            try:
                http.get("/x", {"api_key": QUERY_KEY})
            finally:
                seen_before_raise.append(len(records.events("http_error")))
    assert seen_before_raise == [1]
    (error,) = records.events("http_error")
    assert error.attempts == 3 and error.reason == "retries exhausted (3 attempts); last: HTTP 503"
    assert error.response["status"] == 503 and "maintenance" in error.response["body"]
    assert error.request["headers"]["authorization"] == MASK and error.request["url"].endswith(f"api_key={MASK}")
    assert len(records.events("http_request")) == 3 and len(records.events("http_retry")) == 2
    assert_never_leaked(records, HEADER_KEY, QUERY_KEY)


def test_an_unreachable_server_is_logged_with_the_error_class_and_no_response(records: Records) -> None:
    with HttpClient(f"http://127.0.0.1:{closed_port()}", connection="c", retry=FAST) as http:
        http.auth = QueryAuth("access", QUERY_KEY, "auth.key")
        with pytest.raises(SourceUnavailable):
            http.get("/x")
    assert [r.error for r in records.events("http_request")] == ["ConnectError"] * 3
    (error,) = records.events("http_error")
    assert error.response is None and error.error.startswith("ConnectError")
    assert error.request["url"].endswith(f"/x?access={MASK}")
    assert_never_leaked(records, QUERY_KEY)


def test_a_retry_after_too_long_is_logged_as_the_final_failure(records: Records) -> None:
    retry = RetryConfig(attempts=3, initial_delay=0, max_retry_after=5)
    with MockApi(lambda r: Reply(429, headers={"Retry-After": "600"})) as api, \
            HttpClient(api.url, retry=retry, transport=api.transport) as http, pytest.raises(SourceUnavailable):
        http.get("/x")
    (error,) = records.events("http_error")
    assert error.reason == "HTTP 429, Retry-After 600 s" and error.response["headers"]["retry-after"] == "600"
