"""The sandbox on a bad day, synced through the engine: faults, rate limits and a refused key.

These are the acceptance tests of the shared HTTP behaviour: with injected 5xx, dropped connections
and 429s every table still ends with exactly the source's rows; a connection's rate limit holds on
the server's own request log; a wrong key ends the sync fast, named, and without a retry storm.
"""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from connectors.sandbox.dataset import SandboxDataset
from connectors.sandbox.schema import SCHEMAS, STREAM_NAMES
from connectors.sandbox.server import SandboxServer
from pipelines.engine.runner import run_sync
from protocol.errors import SyncFailed
from tests.conftest import API_KEY, WorkspaceFactory, connection
from tests.support.logs import fresh_rooftop_logger  # noqa: F401 - autouse fixture

CONN = """\
name: {name}
source:
  connector: sandbox
  config:
    base_url: "{url}"
    api_key: "{key}"
    page_size: {page_size}
    retries: {{initial_delay: 0.05, max_delay: 0.5}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
max_concurrency: 4
{extra}
"""


def canon(value: Any) -> Any:
    """One text form for a value from the API (JSON) or from DuckDB, so the two can be hashed."""
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float | Decimal):
        return f"{float(value):.6f}"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: canon(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [canon(v) for v in value]
    raise TypeError(type(value).__name__)


def checksum(records: list[tuple[Any, ...]] | list[list[Any]]) -> str:
    return hashlib.sha256(b"\n".join(sorted(orjson.dumps(canon(list(r))) for r in records))).hexdigest()


def source_checksum(dataset: SandboxDataset, stream: str) -> tuple[int, str]:
    names = SCHEMAS[stream].names
    records = [[r.get(n) for n in names] for r in dataset.current_records(stream)]
    return len(records), checksum(records)


def table_checksum(db: Path, stream: str) -> tuple[int, str]:
    names = ", ".join(SCHEMAS[stream].names)
    with duckdb.connect(str(db), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        found = con.execute(f"SELECT {names} FROM sandbox.{stream} WHERE _rooftop_deleted_at IS NULL").fetchall()
    return len(found), checksum(found)


class EventCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.events: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "event", None):
            self.events.append(record)

    def count(self, event: str) -> int:
        return sum(1 for r in self.events if r.event == event)  # type: ignore[attr-defined]


@pytest.fixture
def http_events() -> Any:
    logger = logging.getLogger("rooftop.http")
    handler, level = EventCounter(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.mark.slow
def test_full_sync_through_5xx_drops_and_429s_is_exact(make_workspace: WorkspaceFactory, http_events: Any) -> None:
    dataset = SandboxDataset(seed=21, scale=4, counts={"work_orders": 500})
    with SandboxServer(dataset, API_KEY) as server:
        # 10% 5xx and 5% dropped connections; the first two requests get 429 + Retry-After (so some
        # surely do), then a real per-key limit of 50/s with a bucket of 15 answers bursts with 429s.
        server.set_faults(fail_first=2, status=429, error_rate=0.10, drop_rate=0.05, seed=7,
                          rate_limit_per_minute=3000, rate_limit_burst=15)
        root = make_workspace(CONN.format(name="faulty", url=server.url, key=API_KEY, page_size=10, extra=""),
                              name="faulty")
        run_sync(connection(root, "faulty"))
        dataset.mutate("leases", update=0.2, insert=0.1, delete=0.1, seed=3)
        run_sync(connection(root, "faulty"))  # incremental: updates, inserts and tombstones, through faults
        statuses = [status for _, _, path, status in server.request_log if not path.startswith("/v1/_admin")]
    for stream in STREAM_NAMES:
        assert table_checksum(root / "wh.duckdb", stream) == source_checksum(dataset, stream), stream
    failures = {s: statuses.count(s) for s in (0, 429, 500, 502, 503)}
    retries = http_events.count("http_retry")
    print(f"\nfault test: {len(statuses)} requests, failures seen by the server {failures}, "
          f"{retries} retries by the client")
    assert failures[0] and failures[429] and failures[500] + failures[502] + failures[503]
    assert retries == sum(failures.values())  # every failure was retried, and nothing else was


def test_rate_limit_holds_on_the_servers_log(make_workspace: WorkspaceFactory) -> None:
    dataset = SandboxDataset(seed=5, scale=2)
    with SandboxServer(dataset, API_KEY) as server:
        # The server allows 20/s with a bucket of 3: a client that bursts gets 429s at once.
        server.set_faults(rate_limit_per_minute=1200, rate_limit_burst=3)
        extra = "rate_limit: {requests: 20, per: second}"
        root = make_workspace(CONN.format(name="paced", url=server.url, key=API_KEY, page_size=6, extra=extra),
                              name="paced")
        run_sync(connection(root, "paced"))
        log = [(at, status) for at, _, path, status in server.request_log]
    arrivals = sorted(at for at, _ in log)
    assert len(arrivals) > 45  # long enough to span a couple of seconds
    busiest = max(sum(1 for t in arrivals if start <= t < start + 1.0) for start in arrivals)
    assert busiest <= 21, busiest
    assert [s for _, s in log if s == 429] == []


def test_a_refused_key_ends_the_sync_fast_naming_connection_and_field(make_workspace: WorkspaceFactory) -> None:
    dataset = SandboxDataset(seed=5, scale=2)
    with SandboxServer(dataset, API_KEY) as server:
        wrong = "sbx-wrong-key-2718"
        root = make_workspace(CONN.format(name="locked_out", url=server.url, key=wrong, page_size=10, extra=""),
                              name="locked_out")
        started = time.monotonic()
        with pytest.raises(SyncFailed) as caught:
            run_sync(connection(root, "locked_out"))
        elapsed = time.monotonic() - started
        requests = list(server.request_log)
    message = str(caught.value)
    assert elapsed < 5, elapsed
    assert "'locked_out'" in message and "source.config.api_key" in message and wrong not in message
    assert not caught.value.retryable
    # One request per stream in flight (max_concurrency 4), all 401; none retried, none after the first refusal.
    assert 1 <= len(requests) <= 4 and {status for *_, status in requests} == {401}
