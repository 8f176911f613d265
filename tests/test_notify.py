"""Webhooks at the end of a sync, delivered to a real receiver on 127.0.0.1.

The receiver records each POST (tests/support/http_api.py). The payload is checked exactly, since
it is a contract other systems parse; the failure modes (5xx, refused connection, a receiver slower
than the timeout, 4xx) must each end in an outcome and a warning, never in an exception, and the
webhook URL, which is a secret, must not appear in that warning beyond its scheme and host.
"""

from __future__ import annotations

import logging
import socket
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from pipelines.config.models import ConnectionConfig, ConnectorRef, Notify
from pipelines.config.redact import Redactor
from pipelines.engine.notify import NotifyOutcome, build_event, notify
from pipelines.engine.runner import StreamResult
from protocol.errors import SourceUnavailable, SyncFailed
from tests.support.http_api import Reply, Request, TestApi

SECRET = "sbx-live-key-93f1a2"
TOKEN_PATH = "/hooks/T0123/B0456/xoxbSECRETpath"
STARTED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
FINISHED = STARTED + timedelta(seconds=190, milliseconds=500)
REDACTOR = Redactor([SECRET])


def config(*hooks: Notify) -> ConnectionConfig:
    return ConnectionConfig(name="leasing", environment="sandbox", source=ConnectorRef(connector="sandbox"),
                            notify=list(hooks))


def hook(url: str, when: str = "always", **kwargs: Any) -> Notify:
    return Notify(url=SecretStr(url), when=when, **kwargs)  # type: ignore[arg-type]


def stream(name: str, rows: int, error: BaseException | None = None) -> StreamResult:
    result = StreamResult(stream=name, table=f"sandbox.{name}", sync_mode="incremental_deduped", rows_written=rows)
    result.status = "failed" if error else "succeeded"
    result.error = error
    return result


def receiver(status: int = 204) -> TestApi:
    return TestApi(lambda request: Reply(status))


def bodies(api: TestApi) -> list[Any]:
    return [orjson.loads(r.body) for r in api.requests]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_succeeded_sync_posts_the_documented_payload() -> None:
    with receiver() as api:
        webhook = hook(api.url + TOKEN_PATH, "success", headers={"Authorization": SecretStr("Bearer hook-token")})
        event = build_event(config(webhook), "20240501T120000Z-a1b2c3", [stream("leases", 1200), stream("units", 30)],
                            STARTED, FINISHED, None, dagster_run_url="http://dagster:3000/runs/abc", attempt=2)
        outcomes = notify([webhook], event, REDACTOR)
    assert outcomes == [NotifyOutcome(api.url, True, 204, 1, None)]
    (request,) = api.requests
    assert (request.method, request.path) == ("POST", TOKEN_PATH)
    assert request.headers["content-type"] == "application/json" and request.headers["user-agent"] == "rooftop"
    assert request.headers["authorization"] == "Bearer hook-token"
    assert orjson.loads(request.body) == {
        "event": "sync.succeeded", "connection": "leasing", "sync_id": "20240501T120000Z-a1b2c3",
        "environment": "sandbox", "status": "succeeded",
        "started_at": "2024-05-01T12:00:00.000+00:00", "finished_at": "2024-05-01T12:03:10.500+00:00",
        "duration_seconds": 190.5,
        "streams": [{"stream": "leases", "status": "succeeded", "rows_written": 1200, "error": None},
                    {"stream": "units", "status": "succeeded", "rows_written": 30, "error": None}],
        "rows_written": 1230, "error_summary": None, "dagster_run_url": "http://dagster:3000/runs/abc",
        "attempt": 2, "final": True,
    }


def test_a_failed_sync_posts_redacted_errors_cut_to_length() -> None:
    units_error = SourceUnavailable(f"GET /v1/units?api_key={SECRET} failed 6 times; " + "x" * 2000)
    failed = SyncFailed("leasing", {"units": units_error})
    with receiver(200) as api:
        webhook = hook(api.url + TOKEN_PATH, "failure")
        event = build_event(config(webhook), "s1", [stream("leases", 5), stream("units", 0, units_error)],
                            STARTED, FINISHED, failed, final=False)
        assert notify([webhook], event, REDACTOR)[0].delivered
    (body,) = bodies(api)
    assert SECRET not in orjson.dumps(body).decode()
    summary, units = body["error_summary"], body["streams"][1]
    assert summary.startswith("sync of 'leasing' failed for 1 stream:\n  units: SourceUnavailable: GET "
                              "/v1/units?api_key=*** failed 6 times; xxx")
    assert len(summary) == 1000 and summary.endswith("…")
    assert units == {"stream": "units", "status": "failed", "rows_written": 0, "error": units["error"]}
    assert units["error"].startswith("SourceUnavailable: GET /v1/units?api_key=*** failed")
    assert len(units["error"]) == 1000
    assert {k: body[k] for k in ("event", "status", "rows_written", "attempt", "final", "dagster_run_url")} == {
        "event": "sync.failed", "status": "failed", "rows_written": 5, "attempt": 1, "final": False,
        "dagster_run_url": None}


def test_a_crash_before_any_stream_is_a_failure_with_its_error() -> None:
    event = build_event(config(), "s1", [], STARTED, FINISHED, RuntimeError(f"cannot open {SECRET}"))
    with receiver() as api:
        notify([hook(api.url)], event, REDACTOR)
    (body,) = bodies(api)
    assert (body["status"], body["streams"], body["error_summary"]) == ("failed", [], "RuntimeError: cannot open ***")


def test_each_webhook_hears_only_the_outcomes_it_asked_for() -> None:
    with receiver() as api:
        hooks = [hook(f"{api.url}/{when}", when) for when in ("failure", "success", "always")]
        ok = build_event(config(*hooks), "ok", [stream("leases", 1)], STARTED, FINISHED, None)
        bad = build_event(config(*hooks), "bad", [stream("leases", 0, SourceUnavailable("down"))], STARTED, FINISHED,
                          None)
        assert len(notify(hooks, ok, REDACTOR)) == 2
        assert len(notify(hooks, bad, REDACTOR)) == 2
        assert notify([], bad, REDACTOR) == []
    heard = sorted((r.path, orjson.loads(r.body)["sync_id"]) for r in api.requests)
    assert heard == [("/always", "bad"), ("/always", "ok"), ("/failure", "bad"), ("/success", "ok")]


def failure_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == "notify_failed"]


def assert_url_hidden(records: list[logging.LogRecord]) -> None:
    for record in records:
        everything = record.getMessage() + repr(vars(record))
        assert "xoxbSECRETpath" not in everything and "T0123" not in everything and SECRET not in everything


def test_a_receiver_answering_500_is_retried_once_then_reported(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="rooftop.notify")
    event = build_event(config(), "s1", [], STARTED, FINISHED, RuntimeError("boom"))
    with receiver(500) as api:
        outcomes = notify([hook(api.url + TOKEN_PATH)], event, REDACTOR, retry_delay=0)
    assert outcomes == [NotifyOutcome(api.url, False, 500, 2, "HTTP 500")]
    assert len(api.requests) == 2
    (warning,) = failure_warnings(caplog)
    assert warning.levelno == logging.WARNING and warning.target == api.url and warning.status == 500
    assert (warning.connection, warning.sync_id) == ("leasing", "s1")
    assert_url_hidden([warning])


def test_a_4xx_is_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    event = build_event(config(), "s1", [], STARTED, FINISHED, RuntimeError("boom"))
    with receiver(404) as api:
        (outcome,) = notify([hook(api.url + TOKEN_PATH)], event, REDACTOR, retry_delay=0)
    assert (outcome.delivered, outcome.status, outcome.attempts, len(api.requests)) == (False, 404, 1, 1)


def test_a_closed_port_is_retried_once_then_reported(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="rooftop.notify")
    port = closed_port()
    event = build_event(config(), "s1", [], STARTED, FINISHED, RuntimeError("boom"))
    (outcome,) = notify([hook(f"http://127.0.0.1:{port}{TOKEN_PATH}?token={SECRET}")], event, REDACTOR,
                        retry_delay=0)
    assert (outcome.target, outcome.delivered, outcome.status, outcome.attempts) == (
        f"http://127.0.0.1:{port}", False, None, 2)
    assert outcome.error is not None and outcome.error.startswith("ConnectError")
    assert_url_hidden(failure_warnings(caplog))
    assert len(failure_warnings(caplog)) == 1


def test_a_receiver_slower_than_the_timeout_is_given_up_without_a_retry(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="rooftop.notify")
    answer = threading.Event()

    def slow(request: Request) -> Reply:
        answer.wait(10)  # held until the client has given up
        return Reply(drop=True)  # nobody is listening any more

    event = build_event(config(), "s1", [], STARTED, FINISHED, RuntimeError("boom"))
    with TestApi(slow) as api:
        try:
            (outcome,) = notify([hook(api.url + TOKEN_PATH, timeout_seconds=0.2)], event, REDACTOR, retry_delay=0)
        finally:
            answer.set()
    assert (outcome.delivered, outcome.status, outcome.attempts) == (False, None, 1)
    assert outcome.error is not None and outcome.error.startswith("ReadTimeout")
    assert len(api.requests) == 1
    assert_url_hidden(failure_warnings(caplog))
