"""Capturing one sync's structured log: whose records, redacted how, bounded, and invisible on the console.

The capture decides by context, not by thread: records of a sync's worker threads are its own,
records of an unrelated thread in the same process (an in-process sandbox server) are not.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import orjson
import pytest

from pipelines.config.redact import Redactor
from pipelines.engine import log_handlers as logs
from pipelines.engine.sync_log import SyncLogCapture
from protocol.bookkeeping import SYNC_LOGS

SECRET = "sk-live-4c1d2e9f00aa"
engine = logging.getLogger("rooftop.engine")
http = logging.getLogger("rooftop.http")


class Collect(logging.Handler):
    def __init__(self, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def console() -> Iterator[Collect]:
    """A console-like setup: the `rooftop` logger at WARNING with one handler of its own."""
    logger = logging.getLogger("rooftop")
    handler = Collect()
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    yield handler


def capture(**kwargs: int) -> SyncLogCapture:
    return SyncLogCapture("conn_a", "sync-1", Redactor([SECRET]), **kwargs)


def test_worker_records_are_captured_and_an_unrelated_threads_are_not(console: Collect) -> None:
    with capture() as cap:
        engine.info("sync started", extra={"event": "sync_started"})

        def stream(name: str) -> str:
            http.debug("GET /%s -> 200", name, extra={"event": "http_request", "stream": name, "attempt": 1})
            return name

        with ThreadPoolExecutor(2) as pool:
            assert sorted(pool.map(cap.wrap(stream), ["leases", "units"])) == ["leases", "units"]
        outsider = threading.Thread(target=lambda: http.warning("sandbox server noise", extra={"event": "x"}))
        outsider.start()
        outsider.join()
        assert cap.run_in_context(stream, "tenants") == "tenants"
    http.warning("after the sync", extra={"event": "late"})
    table = cap.rows()
    assert table.schema == SYNC_LOGS.schema
    rows = table.to_pylist()
    assert [r["seq"] for r in rows] == [1, 2, 3, 4]
    assert rows[0] | {"at": None} == {"connection": "conn_a", "sync_id": "sync-1", "seq": 1, "at": None,
                                      "level": "INFO", "event": "sync_started", "stream": None,
                                      "message": "sync started", "data": None}
    requests = rows[1:]
    assert sorted(r["stream"] for r in requests) == ["leases", "tenants", "units"]
    assert {(r["level"], r["event"]) for r in requests} == {("DEBUG", "http_request")}
    assert {orjson.loads(r["data"])["attempt"] for r in requests} == {1}
    assert all(abs((r["at"] - datetime.now(UTC)).total_seconds()) < 60 for r in rows)
    assert cap.counts() == {"http_request": 3, "http_retry": 0, "rate_limit_wait": 0, "http_error": 0}
    # The console saw only the warnings, as before the capture.
    assert [r.getMessage() for r in console.records] == ["sandbox server noise", "after the sync"]


def test_secrets_are_masked_in_messages_fields_and_tracebacks(console: Collect) -> None:
    with capture() as cap:
        engine.info("connecting with %s", SECRET, extra={"event": "connect", "url": f"https://x/?key={SECRET}",
                                                         "nested": {"token": SECRET, 1: [SECRET]}})
        try:
            raise RuntimeError(f"refused {SECRET}")
        except RuntimeError:
            engine.error("stream failed", exc_info=True, extra={"event": "stream_failed", "stream": "leases"})
    rows = cap.rows().to_pylist()
    assert SECRET not in repr(rows)
    assert rows[0]["message"] == "connecting with ***"
    assert orjson.loads(rows[0]["data"]) == {"url": "https://x/?key=***", "nested": {"token": "***", "1": ["***"]}}
    failed = orjson.loads(rows[1]["data"])
    assert rows[1]["stream"] == "leases" and "RuntimeError: refused ***" in failed["exception"]


def test_the_console_level_is_unchanged_during_and_restored_after(console: Collect) -> None:
    logger = logging.getLogger("rooftop")
    before = [(h, h.level) for h in logger.handlers]
    with capture() as cap:
        assert logger.level == logging.DEBUG and console.level == logging.WARNING
        engine.debug("detail", extra={"event": "http_request"})
        engine.info("progress")
        engine.warning("careful")
    assert [r.getMessage() for r in console.records] == ["careful"]
    assert [r["message"] for r in cap.rows().to_pylist()] == ["detail", "progress", "careful"]
    assert (logger.level, logger.propagate) == (logging.WARNING, False)
    assert [(h, h.level) for h in logger.handlers] == before


def test_a_propagating_logger_still_hides_debug_from_the_applications_handlers() -> None:
    # The default setup (no `configure`): `rooftop` propagates to the root logger's handlers.
    root = logging.getLogger()
    app = Collect()
    root.addHandler(app)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        with capture() as cap:
            engine.debug("detail")
            engine.info("progress")
        engine.debug("after")
    finally:
        root.removeHandler(app)
        root.setLevel(level)
    assert [r.getMessage() for r in app.records] == ["progress"]
    assert len(cap.rows()) == 2 and logging.getLogger("rooftop").propagate


def test_configure_output_is_unchanged_by_a_capture(monkeypatch: pytest.MonkeyPatch) -> None:
    stderr = io.StringIO()
    monkeypatch.setattr("sys.stderr", stderr)
    logs.configure(logging.WARNING, "json", Redactor([SECRET]))
    with capture() as cap:
        http.debug("GET /x", extra={"event": "http_request"})
        engine.info("sync started")
        engine.warning("slow", extra={"event": "slow", "url": f"https://x/?key={SECRET}"})
    lines = [orjson.loads(line) for line in stderr.getvalue().splitlines()]
    assert [(line["message"], line["url"]) for line in lines] == [("slow", "https://x/?key=***")]
    assert len(cap.rows()) == 3
    assert logging.getLogger("rooftop").level == logging.WARNING


def test_nested_and_concurrent_captures_restore_the_setup_once_all_end(console: Collect) -> None:
    logger = logging.getLogger("rooftop")
    before = [(h, h.level) for h in logger.handlers]
    entered, release = threading.Barrier(2), threading.Event()

    def other_sync() -> int:
        with capture() as cap:
            entered.wait(10)
            release.wait(10)
            engine.info("from the other sync")
        return len(cap.rows())

    with ThreadPoolExecutor(1) as pool:
        other = pool.submit(other_sync)
        with capture() as outer:
            entered.wait(10)
            with capture() as inner:
                engine.info("inner")
            engine.info("outer")
            release.set()
            assert other.result() == 1
            assert logger.level == logging.DEBUG  # still held by this capture
            engine.debug("outer again")
    assert [r["message"] for r in inner.rows().to_pylist()] == ["inner"]
    assert [r["message"] for r in outer.rows().to_pylist()] == ["outer", "outer again"]
    assert logger.level == logging.WARNING and [(h, h.level) for h in logger.handlers] == before


def test_a_long_log_keeps_its_first_and_last_records_and_says_what_was_dropped(console: Collect) -> None:
    with capture(max_rows=10) as cap:
        for n in range(25):
            http.debug("request %d", n, extra={"event": "http_request"})
    rows = cap.rows().to_pylist()
    messages = [r["message"] for r in rows]
    assert messages[:5] == [f"request {n}" for n in range(5)]
    assert messages[6:] == [f"request {n}" for n in range(20, 25)]
    truncated = rows[5]
    assert (truncated["event"], truncated["level"]) == ("log_truncated", "WARNING")
    assert orjson.loads(truncated["data"]) == {"dropped": 15, "kept_first": 5, "kept_last": 5}
    seqs = [r["seq"] for r in rows]
    assert seqs == sorted(set(seqs)) and seqs[5] == 6
    assert cap.counts()["http_request"] == 25  # counted over everything, dropped records included


def test_exactly_max_rows_are_kept_whole(console: Collect) -> None:
    with capture(max_rows=10) as cap:
        for n in range(10):
            engine.info("line %d", n)
    assert [r["message"] for r in cap.rows().to_pylist()] == [f"line {n}" for n in range(10)]
