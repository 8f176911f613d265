"""The sandbox: deterministic lazy data, its mutation overlay, the HTTP API and the `sandbox` source.

Everything goes over real HTTP on 127.0.0.1 (no mocks). The sandbox is also the data every other
integration test and the benchmark stand on, so its promises are pinned here: determinism, valid
foreign keys, (updated_at, id) ordering, inclusive `updated_since`, tombstones, and flat paging.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pydantic import ValidationError

from connectors import arrow
from connectors.http.retry import RetryConfig
from connectors.sandbox.connector import SandboxConfig, SandboxSource
from connectors.sandbox.dataset import (
    InvalidCursorError,
    SandboxDataset,
    UnknownStreamError,
)
from connectors.sandbox.schema import (
    LEASE_STATUSES,
    PROPERTY_TYPES,
    SCHEMAS,
    STREAM_NAMES,
    UNIT_STATUSES,
    WORK_ORDER_CATEGORIES,
    WORK_ORDER_PRIORITIES,
    WORK_ORDER_STATUSES,
)
from connectors.sandbox.server import SandboxServer, serve
from protocol.errors import AuthError, ConfigError, SourceUnavailable
from protocol.types import ReadRequest, Source, StateCheckpoint, SyncMode
from tests.conftest import API_KEY

TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
DAY = re.compile(r"\d{4}-\d\d-\d\d")


def client(server: SandboxServer, key: str = API_KEY) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"X-API-Key": key})


def list_all(http: httpx.Client, stream: str, limit: int = 1000, **params: Any) -> list[dict[str, Any]]:
    """Every record of a listing, following next_cursor."""
    out: list[dict[str, Any]] = []
    query: dict[str, Any] = {"limit": limit, **params}
    while True:
        response = http.get(f"/v1/{stream}", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        out.extend(body["data"])
        if body["next_cursor"] is None:
            return out
        query["cursor"] = body["next_cursor"]


def source(server: SandboxServer, **config: Any) -> SandboxSource:
    return SandboxSource(SandboxConfig(base_url=server.url, api_key=API_KEY, **config), root=Path("."))


def read_all(src: SandboxSource, stream: str, *, incremental: bool, state: dict[str, Any] | None = None,
             start_date: date | None = None, end_date: date | None = None) -> list[Any]:
    catalog_stream = src.discover().get(stream)
    assert catalog_stream is not None
    request = ReadRequest(stream=catalog_stream, incremental=incremental, cursor_field="updated_at",
                          state=state, start_date=start_date, end_date=end_date)
    return list(src.read(request))


def rows(items: list[Any]) -> list[dict[str, Any]]:
    """The records read, timestamps written as the API writes them (the Arrow page reader types them)."""
    def as_api(value: Any) -> Any:
        return value.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(value, datetime) else value
    return [{k: as_api(v) for k, v in row.items()}
            for item in items if isinstance(item, pa.RecordBatch) for row in item.to_pylist()]


# --- data ------------------------------------------------------------------------------------------

def test_same_seed_same_pages_over_http() -> None:
    with SandboxServer(SandboxDataset(seed=11, scale=2), API_KEY) as a, \
            SandboxServer(SandboxDataset(seed=11, scale=2), API_KEY) as b, client(a) as ca, client(b) as cb:
        for stream in STREAM_NAMES:
            assert ca.get(f"/v1/{stream}?limit=50").content == cb.get(f"/v1/{stream}?limit=50").content
    other = SandboxDataset(seed=12, scale=2).page("leases", 50)[0]
    assert other != SandboxDataset(seed=11, scale=2).page("leases", 50)[0]


def test_default_counts_and_overrides() -> None:
    dataset = SandboxDataset(scale=3, counts={"work_orders": 5})
    assert dataset.counts == {"properties": 3, "units": 72, "residents": 90, "leases": 108, "work_orders": 5}
    assert [dataset.record_count(s) for s in STREAM_NAMES] == [3, 72, 90, 108, 5]
    with pytest.raises(UnknownStreamError):
        SandboxDataset(counts={"tenants": 3})
    with pytest.raises(ValueError, match="at least 1"):
        SandboxDataset(counts={"units": 0})


def test_foreign_keys_and_field_formats() -> None:
    dataset = SandboxDataset(seed=3, scale=3)
    data = {s: list(dataset.current_records(s)) for s in STREAM_NAMES}
    ids = {s: {r["id"] for r in records} for s, records in data.items()}
    units = {u["id"]: u for u in data["units"]}
    assert all(u["property_id"] in ids["properties"] for u in data["units"])
    for prop in data["properties"]:
        assert prop["unit_count"] == sum(u["property_id"] == prop["id"] for u in data["units"])
        assert set(prop["address"]) == {"street", "city", "state", "zip"} and prop["property_type"] in PROPERTY_TYPES
    for lease in data["leases"]:
        assert lease["unit_id"] in ids["units"] and lease["resident_id"] in ids["residents"]
        assert lease["status"] in LEASE_STATUSES and DAY.fullmatch(lease["start_date"])
        assert lease["end_date"] is None or lease["end_date"] > lease["start_date"]
    for wo in data["work_orders"]:
        assert wo["property_id"] == units[wo["unit_id"]]["property_id"]
        assert wo["category"] in WORK_ORDER_CATEGORIES and wo["priority"] in WORK_ORDER_PRIORITIES
        assert wo["status"] in WORK_ORDER_STATUSES
        assert (wo["completed_at"] is not None) == (wo["status"] == "Completed")
        assert wo["created_at"] < wo["updated_at"]
    assert {u["status"] for u in data["units"]} <= set(UNIT_STATUSES)
    assert any(not u["amenities"] for u in data["units"]) and any(u["amenities"] for u in data["units"])
    assert any(r["email"] is None for r in data["residents"]) and any(r["phone"] is None for r in data["residents"])
    money = [u["market_rent"] for u in data["units"]] + [x for lease in data["leases"]
                                                         for x in (lease["rent"], lease["deposit"])]
    assert all(Decimal(repr(m)).as_tuple().exponent >= -2 for m in money)
    for stream, records in data.items():
        assert [r["id"] for r in records] == list(range(1, len(records) + 1))
        stamps = [r["updated_at"] for r in records]
        assert all(TS.fullmatch(s) for s in stamps) and stamps == sorted(set(stamps)), stream
        assert stamps[-1] < "2025-01-01" and all(r["deleted_at"] is None for r in records)


def test_catalog_types_accept_the_raw_batches() -> None:
    """What the engine will do: cast every raw column to its catalog type, without a single failure."""
    dataset = SandboxDataset(seed=5, scale=2)
    for stream in STREAM_NAMES:
        records, _ = dataset.page(stream, 5000)
        batch = arrow.records_to_batch(records, SCHEMAS[stream])
        assert batch.schema.names == SCHEMAS[stream].names
        for field, column in zip(SCHEMAS[stream], batch.columns, strict=True):
            cast = pc.cast(column, field.type, safe=True)
            assert cast.null_count == column.null_count, (stream, field.name)


# --- HTTP API --------------------------------------------------------------------------------------

def test_pagination_covers_every_record_once_in_order(sandbox: SandboxServer) -> None:
    with client(sandbox) as http:
        for stream in STREAM_NAMES:
            records = list_all(http, stream, limit=7)
            assert [r["id"] for r in records] == list(range(1, sandbox.dataset.counts[stream] + 1))
        sandbox.dataset.mutate("units", update=0.2, insert=0.1, delete=0.1, seed=1)
        records = list_all(http, "units", limit=9)
        keys = [(r["updated_at"], r["id"]) for r in records]
        assert keys == sorted(set(keys)) and len(records) == sandbox.dataset.record_count("units")
        assert records == list(sandbox.dataset.current_records("units"))


def test_updated_since_is_inclusive(sandbox: SandboxServer) -> None:
    with client(sandbox) as http:
        target = http.get("/v1/leases?limit=30").json()["data"][-1]
        page = http.get("/v1/leases", params={"updated_since": target["updated_at"], "limit": 5}).json()
        assert page["data"][0] == target
        later = (datetime.fromisoformat(target["updated_at"]) + timedelta(seconds=1)).isoformat()
        assert http.get("/v1/leases", params={"updated_since": later}).json()["data"][0]["id"] == target["id"] + 1
        everything = list_all(http, "leases", updated_since="2000-01-01T00:00:00Z")
        assert len(everything) == sandbox.dataset.counts["leases"]


def test_mutations_are_visible(sandbox: SandboxServer) -> None:
    dataset = sandbox.dataset
    n = dataset.counts["work_orders"]
    with client(sandbox) as http:
        before = {r["id"]: r for r in list_all(http, "work_orders")}
        result = http.post("/v1/_admin/mutate", json={"stream": "work_orders", "update": 0.1, "insert": 0.05,
                                                      "delete": 0.05, "seed": 9}).json()
        updated, inserted, deleted = result["updated"], result["inserted"], result["deleted"]
        assert len(updated) == 12 and inserted == list(range(n + 1, n + 7)) and len(deleted) == 6
        assert not set(updated) & set(deleted)
        after = {r["id"]: r for r in list_all(http, "work_orders", limit=13)}
        assert set(after) == (set(before) - set(deleted)) | set(inserted)
        assert len(after) == dataset.record_count("work_orders") == n + 6 - 6
        mutated_at = after[updated[0]]["updated_at"]
        assert mutated_at > max(r["updated_at"] for r in before.values())
        for i in updated:
            assert after[i]["updated_at"] == mutated_at and after[i] != before[i]
            assert after[i]["created_at"] == before[i]["created_at"]
        since = list_all(http, "work_orders", updated_since=mutated_at, include_deleted="true")
        assert [r["id"] for r in since] == sorted([*updated, *inserted, *deleted])
        tombstones = [r for r in since if r["deleted_at"] is not None]
        assert sorted(r["id"] for r in tombstones) == deleted
        assert all(r["deleted_at"] == r["updated_at"] == mutated_at for r in tombstones)
        # A second mutation is strictly later, even within the same wall-clock second.
        again = dataset.mutate("work_orders", update=0.05, insert=0, delete=0, seed=10)["updated"]
        assert dataset.get("work_orders", again[0])["updated_at"] > mutated_at  # type: ignore[index]


def test_mutation_is_deterministic_for_a_seed() -> None:
    a, b = SandboxDataset(seed=1, scale=2), SandboxDataset(seed=1, scale=2)
    assert a.mutate("leases", seed=5) == b.mutate("leases", seed=5)
    strip = [{k: v for k, v in r.items() if not k.endswith("_at") and "date" not in k}
             for r in a.current_records("leases")]
    assert strip == [{k: v for k, v in r.items() if not k.endswith("_at") and "date" not in k}
                     for r in b.current_records("leases")]


def test_bad_requests_name_the_problem(sandbox: SandboxServer) -> None:
    with client(sandbox) as http:
        assert http.get("/v1/tenants").status_code == 404
        assert http.get("/v1/tenants").json()["error"] == "unknown_stream"
        for query, param in [("limit=0", "limit"), ("limit=5001", "limit"), ("limit=x", "limit"),
                             ("cursor=garbage", "cursor"), ("updated_since=yesterday", "updated_since"),
                             ("include_deleted=maybe", "include_deleted"), ("colour=red", "colour")]:
            response = http.get(f"/v1/units?{query}")
            assert response.status_code == 400 and response.json()["param"] == param, query
        response = http.post("/v1/_admin/mutate", json={"stream": "units", "update": 2})
        assert response.status_code == 400 and response.json()["param"] == "update"
        assert http.post("/v1/_admin/mutate", json={"stream": "tenants"}).status_code == 404
    with pytest.raises(InvalidCursorError):
        sandbox.dataset.page("units", 10, after="bm9wZQ")


def test_auth_is_required_and_never_echoed(sandbox: SandboxServer) -> None:
    wrong = "not-the-key-0451"
    for path in ("/v1/health", "/v1/units", "/v1/_admin/mutate"):
        response = httpx.post(sandbox.url + path, headers={"X-API-Key": wrong}, json={"stream": "units"})
        assert response.status_code == 401 and response.json()["error"] == "invalid_api_key"
        assert wrong not in response.text
    assert httpx.get(sandbox.url + "/v1/health").status_code == 401
    bearer = httpx.get(sandbox.url + "/v1/health", headers={"Authorization": f"Bearer {API_KEY}"})
    assert bearer.json() == {"status": "ok"}
    statuses = [(method, path, status) for _, method, path, status in sandbox.request_log]
    assert ("GET", "/v1/health", 401) in statuses and ("GET", "/v1/health", 200) in statuses


def test_concurrent_clients_see_consistent_listings(sandbox: SandboxServer) -> None:
    def read(stream: str) -> list[int]:
        with client(sandbox) as http:
            return [r["id"] for r in list_all(http, stream, limit=11)]

    streams = [*STREAM_NAMES, *STREAM_NAMES]
    with ThreadPoolExecutor(max_workers=5) as pool:
        results = list(pool.map(read, streams))
    for stream, ids in zip(streams, results, strict=True):
        assert ids == list(range(1, sandbox.dataset.counts[stream] + 1))


def test_stop_closes_keep_alive_connections_and_frees_the_port() -> None:
    server = SandboxServer(SandboxDataset(scale=1), API_KEY).start()
    http = client(server)
    assert http.get("/v1/health").status_code == 200  # leaves an idle keep-alive connection open
    server.stop()
    with pytest.raises(httpx.TransportError):
        http.get("/v1/health")
    http.close()
    with pytest.raises(ConfigError, match="cannot serve the sandbox"), \
            SandboxServer(SandboxDataset(scale=1), API_KEY) as busy:
        serve(port=busy.port, scale=1, api_key=API_KEY)


def test_lazy_paging_of_a_large_stream() -> None:
    """2M work orders: nothing materialised, pages come from any point via binary search."""
    dataset = SandboxDataset(seed=42, counts={"work_orders": 2_000_000})
    tail = dataset.get("work_orders", 1_999_990)
    assert tail is not None and tail["updated_at"] < "2025-01-01"
    records, cursor = dataset.page("work_orders", 100, updated_since=datetime.fromisoformat(tail["updated_at"]))
    assert [r["id"] for r in records] == list(range(1_999_990, 2_000_001)) and cursor is None
    seen, after = 0, None
    while seen < 200_000:
        page, after = dataset.page("work_orders", 5000, after=after)
        assert page[0]["id"] == seen + 1 and page[-1]["id"] == seen + 5000
        seen += len(page)
    dataset.mutate("work_orders", update=0.001, insert=0.0005, delete=0.0005, seed=1)
    assert dataset.record_count("work_orders") == 2_000_000
    page, _ = dataset.page("work_orders", 5000, updated_since=datetime(2030, 1, 1, tzinfo=UTC))
    assert page == []


# --- records_to_batch ------------------------------------------------------------------------------

def test_records_to_batch_raw_types_order_and_missing_keys() -> None:
    schema = pa.schema([("id", pa.int64()), ("at", pa.timestamp("us", tz="UTC")), ("rent", pa.decimal128(12, 2)),
                        ("tags", pa.list_(pa.string())), ("addr", pa.struct([("zip", pa.string()), ("n", pa.int32())])),
                        ("ok", pa.bool_())])
    batch = arrow.records_to_batch([{"rent": 1.5, "id": 1, "extra": "ignored", "addr": {"zip": "78701", "n": 2}},
                                    {"id": 2, "at": "2024-01-01T00:00:00Z", "tags": ["a"], "ok": True}], schema)
    assert batch.schema == pa.schema([("id", pa.int64()), ("at", pa.string()), ("rent", pa.float64()),
                                      ("tags", pa.list_(pa.string())),
                                      ("addr", pa.struct([("zip", pa.string()), ("n", pa.int64())])),
                                      ("ok", pa.bool_())])
    assert batch.to_pylist()[0] == {"id": 1, "at": None, "rent": 1.5, "tags": None, "addr": {"zip": "78701", "n": 2},
                                    "ok": None}
    assert arrow.records_to_batch([], schema).num_rows == 0


def test_records_to_batch_falls_back_per_column() -> None:
    schema = pa.schema([("id", pa.int64()), ("units", pa.int64()), ("start", pa.date32()), ("name", pa.string()),
                        ("beds", pa.int64())])
    batch = arrow.records_to_batch([{"id": 1, "units": "N/A", "start": 5, "name": "a", "beds": 1.5},
                                    {"id": 2, "units": 12, "start": "2024-01-02", "name": {"x": 1}, "beds": 2}], schema)
    assert batch.column("id").type == pa.int64()  # clean columns keep their raw type
    assert batch.column("units").to_pylist() == ["N/A", "12"]
    assert batch.column("start").to_pylist() == ["5", "2024-01-02"]
    assert batch.column("name").to_pylist() == ["a", '{"x":1}']
    assert batch.column("beds").to_pylist() == ["1.5", "2"]  # never silently truncated to 1


# --- the connector ---------------------------------------------------------------------------------

def test_connector_is_a_source_and_describes_its_catalog(sandbox: SandboxServer) -> None:
    with source(sandbox) as src:
        assert isinstance(src, Source) and src.name == "sandbox"
        src.check()
        catalog = src.discover()
    assert catalog.namespace == "sandbox" and catalog.names == list(STREAM_NAMES)
    for stream in catalog.streams:
        assert stream.schema == SCHEMAS[stream.name]  # the manifest declares exactly the sandbox's schemas
        assert stream.primary_key == ("id",) and stream.default_cursor == "updated_at"
        assert stream.deleted_field == "deleted_at" and stream.description
        assert set(stream.supported_sync_modes) == set(SyncMode)
        assert stream.default_sync_mode is SyncMode.INCREMENTAL_DEDUPED


def test_check_with_a_wrong_key_is_an_auth_error_without_the_key(sandbox: SandboxServer) -> None:
    wrong = "sbx-wrong-key-93817"
    src = SandboxSource(SandboxConfig(base_url=sandbox.url, api_key=wrong), root=Path("."))
    with src, pytest.raises(AuthError) as caught:
        src.check()
    assert caught.value.field == "api_key" and wrong not in str(caught.value)
    assert wrong not in repr(src.config) and API_KEY not in str(caught.value)


def test_unreachable_or_failing_api_is_source_unavailable() -> None:
    calls: list[str] = []

    class Failing(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            calls.append(self.path)
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return None

    failing = ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    thread = threading.Thread(target=failing.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        with source_at(f"http://127.0.0.1:{failing.server_address[1]}") as src, pytest.raises(SourceUnavailable):
            src.check()
        assert len(calls) == 3
    finally:
        failing.shutdown()
        failing.server_close()
    with source_at(f"http://127.0.0.1:{failing.server_address[1]}") as src, pytest.raises(SourceUnavailable):
        src.check()


def source_at(url: str) -> SandboxSource:
    # No waiting between the real attempts.
    retries = RetryConfig(attempts=3, initial_delay=0)
    return SandboxSource(SandboxConfig(base_url=url, api_key=API_KEY, timeout_seconds=2, retries=retries),
                         root=Path("."))


def test_incremental_read_checkpoints_after_every_batch_and_resumes(sandbox: SandboxServer) -> None:
    dataset = sandbox.dataset
    with source(sandbox, page_size=25) as src:
        items = read_all(src, "leases", incremental=True)
        assert all(isinstance(a, pa.RecordBatch) and isinstance(b, StateCheckpoint)
                   for a, b in zip(items[::2], items[1::2], strict=True))
        cursors = [item.state["cursor"] for item in items if isinstance(item, StateCheckpoint)]
        assert cursors == sorted(cursors) and len(cursors) == -(-dataset.counts["leases"] // 25)
        first = rows(items)
        assert [r["id"] for r in first] == list(range(1, dataset.counts["leases"] + 1))
        assert cursors[-1] == first[-1]["updated_at"]

        # Nothing changed: the boundary record is read again (inclusive), nothing else.
        again = rows(read_all(src, "leases", incremental=True, state={"cursor": cursors[-1]}))
        assert [r["id"] for r in again] == [first[-1]["id"]]

        changed = dataset.mutate("leases", update=0.1, insert=0.05, delete=0.05, seed=3)
        delta = read_all(src, "leases", incremental=True, state={"cursor": cursors[-1]})
        ids = [r["id"] for r in rows(delta)]
        assert ids == [first[-1]["id"], *sorted([*changed["updated"], *changed["inserted"], *changed["deleted"]])]
        assert {r["id"] for r in rows(delta) if r["deleted_at"] is not None} == set(changed["deleted"])
        assert delta[-1].state["cursor"] > cursors[-1]


def test_full_refresh_and_date_window(sandbox: SandboxServer) -> None:
    dataset = sandbox.dataset
    with source(sandbox, page_size=100) as src:
        items = read_all(src, "work_orders", incremental=False)
        assert not any(isinstance(i, StateCheckpoint) for i in items)
        assert len(rows(items)) == dataset.counts["work_orders"]
        changed = dataset.mutate("work_orders", update=0.1, insert=0.1, delete=0.1, seed=4)
        mutated = dataset.get("work_orders", changed["inserted"][0])
        assert mutated is not None
        mutated_day = date.fromisoformat(mutated["updated_at"][:10])
        window = rows(read_all(src, "work_orders", incremental=False, start_date=mutated_day))
        assert len(window) == len({*[r["id"] for r in window]}) > 0
        assert all(r["updated_at"] >= mutated_day.isoformat() and r["deleted_at"] is None for r in window)
        base_only = rows(read_all(src, "work_orders", incremental=True, end_date=date(2024, 12, 31)))
        assert base_only and all(r["updated_at"] < "2025-01-01" for r in base_only)
        assert len(base_only) + len(window) == dataset.record_count("work_orders")


def test_in_process_sandbox_lives_for_the_with_block() -> None:
    config = SandboxConfig(api_key=API_KEY, seed=7, scale=1, counts={"work_orders": 30})
    with SandboxSource(config, root=Path(".")) as src:
        src.check()
        url = src.base_url
        assert url.startswith("http://127.0.0.1:")
        got = rows(read_all(src, "work_orders", incremental=False))
        assert got == list(SandboxDataset(seed=7, scale=1, counts={"work_orders": 30}).current_records("work_orders"))
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/v1/health", headers={"X-API-Key": API_KEY})


@pytest.mark.parametrize("bad", [{"counts": {"tenants": 3}}, {"counts": {"units": 0}}, {"page_size": 0},
                                 {"page_size": 5001}, {"scale": 0}, {"base_url": "ftp://x"}, {"colour": "red"},
                                 {"api_key": ""}, {}])
def test_config_validation(bad: dict[str, Any]) -> None:
    fields = {"api_key": API_KEY, **bad} if bad else {}
    with pytest.raises(ValidationError):
        SandboxConfig.model_validate(fields)


# --- a real PMS on a bad day: faults, rate limit, per-property listings ------------------------------

def test_fail_first_answers_the_next_requests_and_spares_admin(sandbox: SandboxServer) -> None:
    sandbox.set_faults(fail_first=2, status=503)
    with client(sandbox) as http:
        assert http.post("/v1/_admin/mutate", json={"stream": "units", "update": 0}).status_code == 200
        assert [http.get("/v1/health").status_code for _ in range(3)] == [503, 503, 200]
        assert http.get("/v1/health").status_code == 200
        response = http.post("/v1/_admin/faults", json={"fail_first": 1, "status": 502})
        assert response.status_code == 200 and response.json()["fail_first"] == 1
        failed = http.get("/v1/units")
        assert failed.status_code == 502 and failed.json()["error"] == "bad_gateway"
        assert http.post("/v1/_admin/faults", json={"error_rate": 0.7, "drop_rate": 0.7}).status_code == 400
        assert http.post("/v1/_admin/faults", json={"colour": 1}).json()["param"] == "colour"
    statuses = [status for _, method, path, status in sandbox.request_log if path == "/v1/health"]
    assert statuses == [503, 503, 200, 200]


def test_error_and_drop_rates_are_seeded(sandbox: SandboxServer) -> None:
    def run() -> list[int]:
        sandbox.set_faults(error_rate=0.3, drop_rate=0.2, seed=5)
        out = []
        with client(sandbox) as http:
            for _ in range(40):
                try:
                    out.append(http.get("/v1/health").status_code)
                except httpx.RemoteProtocolError:  # the dropped connection; the pool opens a new one
                    out.append(0)
        return out

    first = run()
    assert first == run()
    assert {0, 200} <= set(first) and set(first) - {0, 200} <= {500, 502, 503} and len(set(first)) > 2
    assert [s for _, _, p, s in sandbox.request_log if p == "/v1/health"][-40:] == first
    sandbox.set_faults()
    assert httpx.get(sandbox.url + "/v1/health", headers={"X-API-Key": API_KEY}).status_code == 200


def test_per_key_rate_limit_answers_429_with_headers(sandbox: SandboxServer) -> None:
    sandbox.set_faults(rate_limit_per_minute=60, rate_limit_burst=3)
    with client(sandbox) as http:
        responses = [http.get("/v1/health") for _ in range(4)]
        assert [r.status_code for r in responses] == [200, 200, 200, 429]
        assert responses[0].headers["x-ratelimit-limit"] == "60"
        assert [r.headers["x-ratelimit-remaining"] for r in responses[:3]] == ["2", "1", "0"]
        limited = responses[3]
        assert limited.headers["retry-after"] == "1" and limited.json()["error"] == "rate_limited"
        assert int(limited.headers["x-ratelimit-reset"]) >= 1
        # Admin calls are neither limited nor counted; an unknown key is refused before the limit.
        assert http.post("/v1/_admin/mutate", json={"stream": "units", "update": 0}).status_code == 200
        assert httpx.get(sandbox.url + "/v1/health", headers={"X-API-Key": "nope"}).status_code == 401


def test_slow_responses(sandbox: SandboxServer) -> None:
    sandbox.set_faults(slow_ms=150)
    with client(sandbox) as http:
        assert http.get("/v1/health").elapsed.total_seconds() >= 0.15


def test_units_and_leases_per_property(sandbox: SandboxServer) -> None:
    dataset = sandbox.dataset
    deleted = dataset.mutate("leases", update=0.2, insert=0.1, delete=0.1, seed=2)["deleted"]
    units = {u["id"]: u for u in dataset.current_records("units")}
    with client(sandbox) as http:
        for stream in ("units", "leases", "work_orders"):
            seen: list[dict[str, Any]] = []
            for prop in range(1, dataset.counts["properties"] + 1):
                got = list_all(http, f"properties/{prop}/{stream}", limit=7)
                owner = [r["property_id"] if stream != "leases" else units[r["unit_id"]]["property_id"] for r in got]
                assert set(owner) <= {prop}
                seen.extend(got)
            assert sorted(r["id"] for r in seen) == sorted(r["id"] for r in dataset.current_records(stream))
        assert http.get("/v1/properties/999/units").status_code == 404
        assert http.get("/v1/properties/1/residents").status_code == 404
        for prop in range(1, dataset.counts["properties"] + 1):
            listed = list_all(http, f"properties/{prop}/leases", include_deleted="true")
            tombstones = [r["id"] for r in listed if r["deleted_at"] is not None]
            expected = [i for i in deleted if units[dataset.get("leases", i)["unit_id"]]["property_id"] == prop]  # type: ignore[index]
            assert sorted(tombstones) == sorted(expected)
