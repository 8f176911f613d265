"""The shared HTTP client: retries, Retry-After, the status -> action table, throttle, the total deadline
of a request, and header values that can never be sent.

Each failure mode gets a purpose-built API that fails in exactly that way, so the assertions can
count the requests the API really received. Statuses, retries and auth run in-process
(tests/support/mock_api.py, through `httpx.MockTransport`); what needs a socket (dropped
connections, a trickling body against the total deadline) runs against real servers on 127.0.0.1
(tests/support/http_api.py).
"""

from __future__ import annotations

import importlib.util
import logging
import random
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import orjson
import pytest

from connectors.http import status_actions
from connectors.http.auth import HeaderAuth
from connectors.http.client import HttpClient
from connectors.http.retry import RetryConfig, backoff, parse_retry_after
from connectors.http.throttle import Throttle
from protocol.errors import AuthError, ConfigError, SourceUnavailable
from tests.support.http_api import Reply, TestApi
from tests.support.logs import fresh_rooftop_logger  # noqa: F401 - autouse fixture
from tests.support.mock_api import MockApi, in_order

FAST = RetryConfig(attempts=4, initial_delay=0, max_delay=0)


def test_transport_errors_and_5xx_are_retried_until_success() -> None:
    with TestApi(in_order(Reply(drop=True), Reply(503), Reply(500))) as api, \
            HttpClient(api.url, connection="c", retry=FAST) as http:
        assert http.get("/x").json() == {"ok": True}
        assert http.retries == 3 and http.requests == 4 and len(api.requests) == 4


def test_retries_run_out_as_source_unavailable() -> None:
    with MockApi(lambda r: Reply(503, {"message": "down for maintenance"})) as api, \
            HttpClient(api.url, connection="conn_a", retry=FAST, transport=api.transport) as http:
        with pytest.raises(SourceUnavailable, match=r"conn_a.*GET /x failed 4 times; last: HTTP 503"):
            http.get("/x", {"api_key": "query-secret"})
        assert len(api.requests) == 4 and http.retries == 3


def test_other_4xx_fail_at_once_with_the_servers_message() -> None:
    with MockApi(lambda r: Reply(404, {"message": "no such listing"})) as api, \
            HttpClient(api.url, retry=FAST, transport=api.transport) as http:
        with pytest.raises(ConfigError, match="GET /missing was refused: HTTP 404: no such listing") as caught:
            http.get("/missing")
        assert not isinstance(caught.value, AuthError) and len(api.requests) == 1
        assert http.get("/missing", ignore_statuses=[404]).status_code == 404


def test_401_names_the_field_never_the_value_and_stops_further_requests() -> None:
    secret = "tok-very-secret-123"
    with MockApi(lambda r: Reply(401, {"error": "invalid_token"})) as api, \
            HttpClient(api.url, connection="pms", retry=FAST, transport=api.transport) as http:
        http.auth = HeaderAuth("Authorization", f"Bearer {secret}", "auth.token")
        for _ in range(3):
            with pytest.raises(AuthError) as caught:
                http.get("/units")
            assert caught.value.field == "auth.token" and secret not in str(caught.value)
            assert "connection 'pms'" in str(caught.value) and "source.config.auth.token" in str(caught.value)
        assert len(api.requests) == 1  # no retry, and the later calls were not even sent


# --- the status -> action table (connectors/http/status_actions.py) ------------------------------

IGNORED = (404, 410)
OUTCOMES = {
    200: ("returned", 1), 204: ("returned", 1), 299: ("returned", 1),
    404: ("returned", 1), 410: ("returned", 1),  # ignored by this request
    401: ("AuthError", 2), 403: ("AuthError", 2),  # one more try with a renewed credential
    408: ("SourceUnavailable", 3), 425: ("SourceUnavailable", 3), 429: ("SourceUnavailable", 3),
    500: ("SourceUnavailable", 3), 502: ("SourceUnavailable", 3), 503: ("SourceUnavailable", 3),
    504: ("SourceUnavailable", 3), 507: ("SourceUnavailable", 3), 599: ("SourceUnavailable", 3),
    300: ("ConfigError", 1), 304: ("ConfigError", 1), 400: ("ConfigError", 1), 409: ("ConfigError", 1),
    418: ("ConfigError", 1), 422: ("ConfigError", 1), 501: ("ConfigError", 1), 505: ("ConfigError", 1),
}
"""Status -> (what `get` does with it, requests the API receives), with 3 attempts and a renewable credential."""


class Renewable(HeaderAuth):
    """A key the client may renew once after a refusal (as OAuth2 fetches a new token)."""

    def refresh(self, refused: httpx.Request) -> bool:
        return True


@pytest.mark.parametrize("status", list(OUTCOMES))
def test_every_status_gets_the_action_of_the_table(status: int) -> None:
    retry = RetryConfig(attempts=3, initial_delay=0, max_delay=0)
    with MockApi(lambda r: Reply(status, {"message": "m"})) as api, \
            HttpClient(api.url, retry=retry, auth=Renewable("X-Key", "k", "api_key"), transport=api.transport) as http:
        try:
            outcome = "returned" if http.get("/x", ignore_statuses=IGNORED).status_code == status else "?"
        except (AuthError, ConfigError, SourceUnavailable) as exc:
            outcome = type(exc).__name__
        assert (outcome, len(api.requests)) == OUTCOMES[status]


def test_a_retryable_status_is_retried_even_where_it_is_ignored() -> None:
    with MockApi(in_order(Reply(503))) as api, HttpClient(api.url, retry=FAST, transport=api.transport) as http:
        assert http.get("/x", ignore_statuses=[503]).status_code == 200 and len(api.requests) == 2


def test_the_module_doc_prints_the_table_the_client_consults() -> None:
    assert status_actions.__doc__ is not None
    assert textwrap.indent(status_actions.table(), "    ") in status_actions.__doc__
    for rule in status_actions.STATUS_RULES:  # a row's name lists the codes it holds
        assert all(str(code) in rule.statuses for code in rule.codes | rule.but), rule
    assert status_actions.status_rule(12345).action is status_actions.Action.RETRY  # "5xx and up"
    assert [r.action for r in status_actions.STATUS_RULES][-1] is status_actions.Action.FAIL


def test_retry_after_is_honoured_and_pauses_the_whole_connection() -> None:
    retried = threading.Event()

    class OnRetry(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if getattr(record, "event", None) == "http_retry":
                retried.set()

    handler = OnRetry()
    logger = logging.getLogger("rooftop.http")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        throttle = Throttle(max_concurrency=2)
        with MockApi(in_order(Reply(429, headers={"Retry-After": "1"}))) as api, \
                HttpClient(api.url, retry=FAST, throttle=throttle, transport=api.transport) as http, \
                ThreadPoolExecutor(2) as pool:
            first = pool.submit(http.get, "/a")
            assert retried.wait(10)  # the 429 was handled: the connection is paused now
            other = pool.submit(http.get, "/b")
            first.result(), other.result()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    limited, *later = api.requests
    assert sorted(r.path for r in later) == ["/a", "/b"]
    assert all(r.at - limited.at >= 0.95 for r in later) and http.retries == 1


def test_a_retry_after_beyond_the_limit_fails_at_once() -> None:
    retry = RetryConfig(attempts=5, initial_delay=0, max_retry_after=10)
    with MockApi(lambda r: Reply(503, headers={"Retry-After": "3600"})) as api, \
            HttpClient(api.url, retry=retry, transport=api.transport) as http:
        with pytest.raises(SourceUnavailable, match="retry after 3600 s"):
            http.get("/x")
        assert len(api.requests) == 1


def test_parse_retry_after_seconds_and_http_dates() -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("7", now) == 7.0 and parse_retry_after(" 0 ", now) == 0.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0.0
    assert parse_retry_after("soon", now) is None and parse_retry_after(None, now) is None


def test_backoff_grows_exponentially_with_jitter_and_a_ceiling() -> None:
    config = RetryConfig(initial_delay=1, max_delay=8)
    rng = random.Random(1)
    for retry, full in [(1, 1), (2, 2), (3, 4), (4, 8), (9, 8)]:
        waits = [backoff(config, retry, rng) for _ in range(50)]
        assert all(full / 2 <= w <= full for w in waits) and len(set(waits)) > 1


def test_bad_url_scheme_is_a_config_error() -> None:
    with HttpClient("http://127.0.0.1:1", retry=FAST) as http, pytest.raises(ConfigError):
        http.get("ftp://example.com/x")


def test_throttle_spaces_requests_and_bounds_concurrency() -> None:
    throttle = Throttle(requests=50, per_seconds=1.0, max_concurrency=3)
    in_flight = peak = 0
    lock = threading.Lock()

    def one(_: int) -> None:
        nonlocal in_flight, peak
        with throttle.slot():
            with lock:
                in_flight += 1
                peak = max(peak, in_flight)
            time.sleep(0.005)  # the "request" itself
            with lock:
                in_flight -= 1

    started = time.monotonic()
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(one, range(60)))
    # Evenly spaced from the first request on, no burst: 60 requests at 50/s take at least 59 intervals.
    # (Only lower bounds on time: a loaded machine can delay threads, never speed the throttle up.)
    assert time.monotonic() - started >= 59 / 50
    assert peak <= 3 and throttle.waited_seconds > 0


def test_http2_is_offered_only_with_h2_installed() -> None:
    if importlib.util.find_spec("h2") is None:
        with pytest.raises(ConfigError, match="h2 package"):
            HttpClient("https://127.0.0.1:1", http2=True)
    else:
        HttpClient("https://127.0.0.1:1", http2=True).close()


# --- the total deadline of a request ------------------------------------------------------------

BODY = {"data": [{"id": i, "name": f"record {i}"} for i in range(10)]}  # ~200 bytes


def test_a_trickling_body_ends_at_the_total_deadline_and_is_retried() -> None:
    # A byte every 50 ms: the per-read timeout (5 s) never fires; the body would take ~10 s.
    retry = RetryConfig(attempts=2, initial_delay=0, max_delay=0)
    with TestApi(lambda r: Reply(body=BODY, trickle=0.05)) as api, \
            HttpClient(api.url, connection="c", timeout=5, deadline=0.5, retry=retry) as http:
        started = time.monotonic()
        with pytest.raises(SourceUnavailable) as caught:
            http.get("/slow")
        elapsed = time.monotonic() - started
        assert len(api.requests) == 2 and http.retries == 1
    assert str(caught.value) == ("connection 'c': GET /slow failed 2 times; last: ReadTimeout: the request's total "
                                 "deadline of 0.5 s ran out (connect, send, wait and body together)")
    assert 2 * 0.5 <= elapsed < 2 * 0.5 + 2.0, elapsed  # each attempt ran to its deadline (the body: ~10 s)


def test_a_slow_body_within_the_deadline_arrives_whole() -> None:
    with TestApi(lambda r: Reply(body=BODY, trickle=0.001)) as api, \
            HttpClient(api.url, timeout=5, deadline=10, retry=FAST) as http:
        assert http.get("/slow").json() == BODY and http.retries == 0


def test_a_transport_of_our_own_keeps_the_total_deadline() -> None:
    # An httpx.HTTPTransport passed in (e.g. with its own TLS or local address) is bounded as httpx's own.
    retry = RetryConfig(attempts=1, initial_delay=0, max_delay=0)
    with TestApi(lambda r: Reply(body=BODY, trickle=0.05)) as api, \
            HttpClient(api.url, timeout=5, deadline=0.3, retry=retry, transport=httpx.HTTPTransport()) as http:
        started = time.monotonic()
        with pytest.raises(SourceUnavailable, match="total deadline of 0.3 s ran out"):
            http.get("/slow")
        assert time.monotonic() - started < 0.3 + 2.0  # not the ~10 s the body would take


def test_the_default_deadline_is_four_timeouts_and_excludes_the_rate_limit_wait() -> None:
    assert HttpClient("http://127.0.0.1:1", timeout=30).deadline == 120
    throttle = Throttle(requests=4, per_seconds=1.0)  # a request every 250 ms
    with TestApi(in_order()) as api, HttpClient(api.url, retry=FAST, throttle=throttle, deadline=0.2) as http:
        started = time.monotonic()
        for _ in range(3):
            http.get("/x")
        # Two waits of ~250 ms, each longer than the deadline: had they counted, requests would fail.
        assert time.monotonic() - started >= 0.45 and http.retries == 0 and len(api.requests) == 3


# --- header values that can never be sent ---------------------------------------------------------

@pytest.mark.parametrize("value", ["a\0b", "a\nb", "key\x7f", "k\u00e9y"])
def test_an_unsendable_credential_is_a_config_error_naming_the_field(value: str) -> None:
    # Port 1: nothing listens. The verdict must not wait for (or be retried like) a connection failure.
    with HttpClient("http://127.0.0.1:1", connection="c", retry=FAST,
                    auth=HeaderAuth("X-API-Key", value, "api_key")) as http:
        with pytest.raises(ConfigError, match=r"^connection 'c': cannot send GET /x: source.config.api_key holds a "):
            http.get("/x")
        assert http.requests == 0 and http.retries == 0


def test_unsendable_header_values_name_the_header_never_the_value() -> None:
    with pytest.raises(ConfigError, match="header 'X-Tenant' holds a control character") as caught:
        HttpClient("http://127.0.0.1:1", headers={"X-Tenant": "acme\r\nX-Evil: 1"})
    assert "acme" not in str(caught.value)
    with MockApi(in_order()) as api, HttpClient(api.url, retry=FAST, transport=api.transport) as http:
        with pytest.raises(ConfigError, match="header 'bad name' is not a valid header name"):
            http.get("/x", headers={"Bad Name": "v"})
        with pytest.raises(ConfigError, match="header 'x-secret' holds a control character") as caught:
            http.get("/x", headers={"X-Secret": "s3cr3t\0"})
        assert "s3cr3t" not in str(caught.value) and api.requests == []


# --- any method, with a body -----------------------------------------------------------------------

def test_request_sends_any_method_with_a_json_form_or_raw_body_and_the_same_retries_and_auth() -> None:
    with TestApi(in_order(Reply(503), Reply(drop=True))) as api, \
            HttpClient(api.url, connection="c", retry=FAST, auth=HeaderAuth("X-Key", "k1", "api_key")) as http:
        # A POST is retried like a GET (an RPC read is safe to send again) and signed on every attempt.
        assert http.request("POST", "/rpc", params={"v": "1"}, json={"method": {"name": "getLeases"}}).json() == {
            "ok": True}
        http.request("put", "/units/7", data={"name": "A 1", "floor": "2"})
        http.request("POST", "/soap", content="<Envelope/>", headers={"Content-Type": "text/xml"})
        assert http.retries == 2
    sent = api.requests
    assert [(r.method, r.path) for r in sent] == [("POST", "/rpc")] * 3 + [("PUT", "/units/7"), ("POST", "/soap")]
    assert all(r.headers["x-key"] == "k1" for r in sent)
    assert sent[2].query == {"v": "1"} and sent[2].headers["content-type"] == "application/json"
    assert orjson.loads(sent[2].body) == {"method": {"name": "getLeases"}}
    assert sent[3].headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent[3].body == b"name=A+1&floor=2"
    assert sent[4].body == b"<Envelope/>" and sent[4].headers["content-type"] == "text/xml"


def test_request_maps_statuses_like_get_and_names_the_method() -> None:
    with MockApi(lambda r: Reply(422, {"message": "bad params"})) as api, \
            HttpClient(api.url, retry=FAST, transport=api.transport) as http:
        with pytest.raises(ConfigError, match="POST /rpc was refused: HTTP 422: bad params"):
            http.request("POST", "/rpc", json={})
        with pytest.raises(ValueError, match="at most one of json, data and content"):
            http.request("POST", "/rpc", json={}, content="x")
        assert len(api.requests) == 1


def test_a_cookie_a_response_sets_goes_out_with_the_next_requests_until_replaced() -> None:
    """Load balancers' affinity cookies and cookie sessions: set once, sent on every later request,
    also after responses that set none (the store skips those: connectors.http.cookie_store)."""
    replies = in_order(Reply(headers={"Set-Cookie": "AWSALB=node-7; Path=/"}), Reply(), Reply(),
                       Reply(headers={"set-cookie": "AWSALB=node-2; Path=/"}), Reply())
    with TestApi(replies) as api, HttpClient(api.url, connection="c", retry=FAST) as http:
        for _ in range(5):
            http.get("/x")
    sent = [r.headers.get("cookie") for r in api.requests]
    assert sent == [None, "AWSALB=node-7", "AWSALB=node-7", "AWSALB=node-7", "AWSALB=node-2"]
