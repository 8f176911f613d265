"""Property selection inside the rest_api source: a disabled property's endpoints are never called.

Driven at the source level (discover + read with `ReadRequest.properties`) against a real sandbox
on 127.0.0.1, whose request log is the proof: per-property endpoints of unselected properties never
appear in it, per-property cursors bring a newly enabled property's whole history, the connection's
`lookback_seconds` moves the `updated_since` sent, and without a selection nothing changes at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pytest
from pydantic import ValidationError

from connectors.rest_api import RestApiConfig, RestApiSource
from connectors.rest_api.cursor import shift_back
from connectors.sandbox.connector import SandboxConfig, SandboxSource, manifest
from connectors.sandbox.dataset import SandboxDataset
from connectors.sandbox.server import SandboxServer
from protocol.types import PropertyScope, ReadRequest, StateCheckpoint
from tests.conftest import API_KEY
from tests.support.logs import fresh_rooftop_logger  # noqa: F401 - autouse fixture

ALL = set(range(1, 11))
DISABLED = {2, 5, 9}
ENABLED = ALL - DISABLED
CHILD_PATH = re.compile(r"^/v1/properties/(\d+)/")
SCOPED = ("units", "leases", "work_orders")


@pytest.fixture
def ten() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxDataset(seed=3, scale=10), api_key=API_KEY) as server:
        yield server


def ids(selected: set[int]) -> frozenset[str]:
    return frozenset(str(i) for i in selected)


def sandbox_source(server: SandboxServer, root: Path, page_size: int = 10) -> SandboxSource:
    return SandboxSource(SandboxConfig(base_url=server.url, api_key=API_KEY, page_size=page_size), root=root)


def read(src: RestApiSource, stream: str, properties: frozenset[str] | None, *, incremental: bool = False,
         state: dict[str, Any] | None = None, lookback_seconds: float | None = None
         ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(records, checkpoint states) of one read."""
    catalog_stream = src.discover().get(stream)
    assert catalog_stream is not None
    request = ReadRequest(stream=catalog_stream, incremental=incremental,
                          cursor_field="updated_at" if incremental else None, state=state,
                          lookback_seconds=lookback_seconds, properties=properties)
    items = list(src.read(request))
    records = [r for item in items if isinstance(item, pa.RecordBatch) for r in item.to_pylist()]
    return records, [dict(item.state) for item in items if isinstance(item, StateCheckpoint)]


def owner(dataset: SandboxDataset, stream: str, record: dict[str, Any]) -> int:
    """The property a record belongs to (leases: through their unit)."""
    if stream == "leases":
        unit = dataset.get("units", record["unit_id"])
        assert unit is not None
        return int(unit["property_id"])
    return int(record["property_id"])


def expected(dataset: SandboxDataset, stream: str, selected: set[int]) -> set[int]:
    return {r["id"] for r in dataset.current_records(stream) if owner(dataset, stream, r) in selected}


def requested(server: SandboxServer, since: int = 0) -> list[str]:
    return [path for _, _, path, _ in server.request_log[since:]]


def child_requests(server: SandboxServer, since: int = 0) -> list[str]:
    """Requests of per-property endpoints (not the property listing itself)."""
    return [p for p in requested(server, since) if CHILD_PATH.match(p)]


def requested_properties(server: SandboxServer, since: int = 0) -> set[int]:
    return {int(m.group(1)) for path in requested(server, since) if (m := CHILD_PATH.match(path))}


def query(path: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}


# --- the sandbox manifest ------------------------------------------------------------------------

def test_disabled_properties_are_never_requested(ten: SandboxServer, tmp_path: Path) -> None:
    dataset = ten.dataset
    with sandbox_source(ten, tmp_path) as src:
        assert src.discover().properties == PropertyScope(
            stream="properties", id_field="id", name_field="name",
            members={"properties": "id", "units": "property_id", "leases": None, "work_orders": "property_id"})
        mark = len(ten.request_log)
        props, _ = read(src, "properties", ids(ENABLED))
        assert {p["id"] for p in props} == ENABLED
        for stream in SCOPED:
            records, _ = read(src, stream, ids(ENABLED))
            assert {r["id"] for r in records} == expected(dataset, stream, ENABLED), stream
            assert len(records) == len({r["id"] for r in records})
            assert all(owner(dataset, stream, r) in ENABLED for r in records)
        residents, _ = read(src, "residents", ids(ENABLED))  # not property-scoped: read in full
        assert len(residents) == dataset.record_count("residents")
    paths = requested(ten, mark)
    assert requested_properties(ten, mark) == ENABLED
    assert not any(re.match(rf"^/v1/properties/({'|'.join(map(str, DISABLED))})/", p) for p in paths)
    # Scoped streams never touched their top-level listings; pages of 10 were followed per property.
    assert not any(urlsplit(p).path in ("/v1/units", "/v1/leases", "/v1/work_orders") for p in paths)
    assert sum(p.startswith("/v1/properties/1/units?") for p in paths) == 3  # 24 units, pages of 10


def test_per_property_cursors_bring_a_newly_enabled_propertys_history(ten: SandboxServer, tmp_path: Path) -> None:
    dataset = ten.dataset
    seven, added = {1, 3, 4, 6, 7, 8, 10}, 2
    with sandbox_source(ten, tmp_path) as src:
        first: dict[str, dict[str, Any]] = {}
        for stream in SCOPED:
            records, states = read(src, stream, ids(seven), incremental=True)
            assert {r["id"] for r in records} == expected(dataset, stream, seven)
            state = states[-1]
            assert set(state["properties"]) == {str(i) for i in seven}
            assert state["cursor"] == max(state["properties"].values()) == max(r["updated_at"] for r in records)
            for prop, cursor in state["properties"].items():  # each property's own highest cursor
                assert cursor == max(r["updated_at"] for r in records if owner(dataset, stream, r) == int(prop))
            # Ordered API: a checkpoint after every page, so at least one per property.
            assert len(states) >= len(seven)
            first[stream] = state

        changed = {s: dataset.mutate(s, update=0.1, insert=0.05, delete=0.02, seed=8) for s in SCOPED}
        mark = len(ten.request_log)
        eight = seven | {added}
        for stream in SCOPED:
            records, states = read(src, stream, ids(eight), incremental=True, state=first[stream])
            saved = first[stream]["properties"]
            history = {r["id"] for r in records if owner(dataset, stream, r) == added}
            assert history == expected(dataset, stream, {added}) and history  # everything, not only changes
            assert all(owner(dataset, stream, r) in eight for r in records)
            touched = {i for ids_ in changed[stream].values() for i in ids_}
            for r in records:
                prop = owner(dataset, stream, r)
                if prop != added:  # only changes, and the boundary record read again (inclusive cursor)
                    assert r["id"] in touched or r["updated_at"] == saved[str(prop)], (stream, r)
            mine = {i for i in touched if (rec := dataset.get(stream, i)) and owner(dataset, stream, rec) in seven}
            assert mine <= {r["id"] for r in records}
            deleted = {r["id"] for r in records if r["deleted_at"] is not None}
            assert deleted == {i for i in changed[stream]["deleted"] if i in mine}  # tombstones when resuming
            final = states[-1]
            assert set(final["properties"]) == {str(i) for i in eight}
            assert final["cursor"] == max(final["properties"].values())
        for path in requested(ten, mark):
            m = CHILD_PATH.match(path)
            if urlsplit(path).path == "/v1/properties":
                continue  # the listing that tells which properties exist
            assert m is not None and int(m.group(1)) in eight
            stream = urlsplit(path).path.split("/")[-1]
            params = query(path)
            if int(m.group(1)) == added:
                assert "updated_since" not in params and "include_deleted" not in params
            elif "cursor" not in params:  # a first page asks from the property's own cursor
                assert params["updated_since"] == first[stream]["properties"][m.group(1)]
                assert params["include_deleted"] == "true"


def test_saved_state_without_a_map_and_unselected_entries(ten: SandboxServer, tmp_path: Path) -> None:
    with sandbox_source(ten, tmp_path) as src:
        # The previous sync read without selection: its one cursor applies to every property.
        everything, states = read(src, "units", None, incremental=True)
        assert set(states[-1]) == {"cursor"}
        cursor = states[-1]["cursor"]
        mark = len(ten.request_log)
        _, states = read(src, "units", ids({1, 3}), incremental=True, state={"cursor": cursor})
        firsts = [query(p) for p in child_requests(ten, mark) if "cursor=" not in p]
        assert len(firsts) == 2 and all(q["updated_since"] == cursor for q in firsts)
        assert states[-1] == {"cursor": cursor, "properties": {"1": cursor, "3": cursor}}
        # Entries of properties not selected this time are kept for when they come back.
        state = {"cursor": cursor, "properties": {"1": cursor, "4": "2020-01-01T00:00:00Z"}}
        records, states = read(src, "units", ids({1, 3}), incremental=True, state=state)
        assert states[-1]["properties"]["4"] == "2020-01-01T00:00:00Z"
        # Property 3 is missing from the map: read from the start.
        assert {r["id"] for r in records if r["property_id"] == 3} == {
            u["id"] for u in everything if u["property_id"] == 3}


def test_lookback_seconds_rereads_the_window_before_the_saved_cursor(ten: SandboxServer, tmp_path: Path) -> None:
    with sandbox_source(ten, tmp_path) as src:
        _, states = read(src, "work_orders", ids({4}), incremental=True)
        saved = states[-1]["properties"]["4"]
        before = (datetime.fromisoformat(saved) - timedelta(hours=2)).isoformat().replace("+00:00", "Z")
        mark = len(ten.request_log)
        records, _ = read(src, "work_orders", ids({4}), incremental=True, state=states[-1], lookback_seconds=7200)
        assert query(child_requests(ten, mark)[0])["updated_since"] == before
        assert {r["id"] for r in records} == {w["id"] for w in ten.dataset.current_records("work_orders")
                                              if w["property_id"] == 4 and w["updated_at"] >= before}
        assert len(records) > 1
        # Without a selection: the same window on the top-level listing.
        _, states = read(src, "work_orders", None, incremental=True)
        top = states[-1]["cursor"]
        mark = len(ten.request_log)
        read(src, "work_orders", None, incremental=True, state={"cursor": top}, lookback_seconds=90)
        shifted = (datetime.fromisoformat(top) - timedelta(seconds=90)).isoformat().replace("+00:00", "Z")
        assert query(requested(ten, mark)[0])["updated_since"] == shifted


def test_stream_lookback_and_connection_lookback_the_larger_wins(ten: SandboxServer, tmp_path: Path) -> None:
    config = RestApiConfig.model_validate({
        "base_url": ten.url, "auth": {"type": "api_key", "key": API_KEY}, "records": "data",
        "streams": [{"name": "units", "path": "/v1/units", "schema": {"id": "int64", "updated_at": "timestamp"},
                     "incremental": {"cursor_field": "updated_at", "param": "updated_since", "lookback": "1h"}}]})
    state = {"cursor": "2024-06-01T12:00:00Z"}
    with RestApiSource(config, root=tmp_path) as src:
        for seconds, sent in [(None, "2024-06-01T11:00:00Z"), (60, "2024-06-01T11:00:00Z"),
                              (3 * 3600, "2024-06-01T09:00:00Z")]:
            read(src, "units", None, incremental=True, state=state, lookback_seconds=seconds)
            assert query(requested(ten)[-1])["updated_since"] == sent
    assert shift_back("2024-03-01", "date", 3600) == "2024-02-29"
    assert shift_back(1000, "number", 60) == 940
    assert shift_back("v7", "string", 60) == "v7"


def test_without_selection_requests_and_records_are_unchanged(ten: SandboxServer, tmp_path: Path) -> None:
    """properties=None reads exactly what a manifest without any property scope reads."""
    scoped = manifest(SandboxConfig(api_key=API_KEY, page_size=10), ten.url)
    plain = scoped.model_copy(update={"properties": None, "streams": [
        s.model_copy(update={"property_scope": None}) for s in scoped.streams]})
    results = []
    for config in (plain, scoped):
        mark = len(ten.request_log)
        with RestApiSource(config, root=tmp_path) as src:
            got = {s: read(src, s, None, incremental=True) for s in ("properties", *SCOPED)}
        results.append((got, requested(ten, mark)))
    assert results[0] == results[1]
    got, paths = results[1]
    assert {urlsplit(p).path for p in paths} == {"/v1/properties", "/v1/units", "/v1/leases", "/v1/work_orders"}
    assert all(set(states[-1]) == {"cursor"} for _, states in got.values())
    assert {r["id"] for r in got["units"][0]} == {u["id"] for u in ten.dataset.current_records("units")}


def test_a_property_deleted_mid_sync_is_an_empty_series(ten: SandboxServer, tmp_path: Path) -> None:
    dataset = ten.dataset
    with sandbox_source(ten, tmp_path, page_size=100) as src:
        stream = src.discover().get("units")
        assert stream is not None
        items = src.read(ReadRequest(stream=stream, incremental=True, cursor_field="updated_at", state=None,
                                     properties=ids(ENABLED)))
        got = [r for r in next(items).to_pylist()]  # property 1's page: the listing has been read
        gone = set(dataset.mutate("properties", update=0, insert=0, delete=0.3, seed=1)["deleted"])
        assert gone & (ENABLED - {1})
        got += [r for item in items if isinstance(item, pa.RecordBatch) for r in item.to_pylist()]
    assert {r["id"] for r in got} == expected(dataset, "units", (ENABLED - gone) | {1})
    statuses = {int(m.group(1)): status for _, _, p, status in ten.request_log if (m := CHILD_PATH.match(p))}
    assert {p for p, status in statuses.items() if status == 404} == gone & (ENABLED - {1})


# --- generic rest_api configurations ---------------------------------------------------------------

def generic(url: str) -> RestApiConfig:
    return RestApiConfig.model_validate({
        "base_url": url + "/v1", "auth": {"type": "api_key", "key": API_KEY}, "records": "data",
        "paginator": {"type": "cursor", "page_size": 10},
        "properties": {"stream": "properties"},
        "streams": [
            {"name": "properties", "path": "/properties", "primary_key": "id"},
            {"name": "units", "path": "/properties/{property.id}/units", "primary_key": "id",
             "parent": {"stream": "properties", "alias": "property", "fields": {"property_key": "id"}}},
            {"name": "work_orders", "path": "/work_orders", "property": {"field": "property_id"}},
            {"name": "leases", "path": "/leases", "primary_key": "id",
             "property": {"field": "property_id", "path": "/properties/{property.id}/leases"},
             "schema": {"id": "int64", "unit_id": "int64", "property_id": "int64", "updated_at": "timestamp"}},
            {"name": "residents", "path": "/residents"},
        ]})


def test_child_field_only_and_filled_streams(ten: SandboxServer, tmp_path: Path) -> None:
    dataset = ten.dataset
    with RestApiSource(generic(ten.url), root=tmp_path) as src:
        scope = src.discover().properties
        assert scope is not None and dict(scope.members) == {
            "properties": "id", "units": "property_key", "work_orders": "property_id", "leases": "property_id"}
        mark = len(ten.request_log)
        units, _ = read(src, "units", ids(ENABLED))  # a child of the property stream: unselected parents skipped
        assert {u["id"] for u in units} == expected(dataset, "units", ENABLED)
        assert all(str(u["property_key"]) == str(u["property_id"]) for u in units)
        work_orders, _ = read(src, "work_orders", ids(ENABLED))  # property field only: filtered client-side
        assert {w["id"] for w in work_orders} == expected(dataset, "work_orders", ENABLED)
        assert any(urlsplit(p).path == "/v1/work_orders" for p in requested(ten, mark))
        leases, _ = read(src, "leases", ids(ENABLED))  # per property: the missing property field is filled in
        assert {r["id"] for r in leases} == expected(dataset, "leases", ENABLED)
        assert all(r["property_id"] == owner(dataset, "leases", r) for r in leases)
        unselected, _ = read(src, "leases", None)  # top level: the API's records have no property_id
        assert {r["property_id"] for r in unselected} == {None}
    assert requested_properties(ten, mark) == ENABLED


BASE: dict[str, Any] = {"base_url": "http://127.0.0.1:9", "streams": [
    {"name": "properties", "path": "/properties"},
    {"name": "units", "path": "/units", "property": {"field": "property_id", "path": "/properties/{property.id}/u"}}]}


@pytest.mark.parametrize(("change", "fragment"), [
    ({"properties": None}, "set `property`: declare the stream that lists properties"),
    ({"properties": {"stream": "buildings"}}, "property stream 'buildings' does not exist"),
    ({"properties": {"stream": "units"}}, "lists the properties: it takes no `property`"),
    ({"properties": {"stream": "properties", "id_field": "code"},
      "schema": {"id": "int64"}}, "id_field 'code' is not in the declared schema"),
    ({"property": {"path": "/p/{parent.id}/u"}}, "must name a field of the property record"),
    ({"property": {}}, "set `field`"),
    ({"property": {"field": "property_id", "prop": 1}}, "prop"),
    ({"property": {"path": "/p/{property.id}/u"}, "parent": {"stream": "properties"}},
     "property.path is for top-level streams"),
    ({"property": {"field": "pid"}, "units_schema": {"id": "int64"}}, "property.field 'pid' is not in the declared"),
])
def test_config_mistakes(change: dict[str, Any], fragment: str) -> None:
    data: dict[str, Any] = {**BASE, "properties": {"stream": "properties"},
                            "streams": [dict(s) for s in BASE["streams"]]}
    props, units = data["streams"]
    if "properties" in change:
        data["properties"] = change["properties"]
    if "schema" in change:
        props["schema"] = change["schema"]
    if "property" in change:
        units["property"] = change["property"]
    if "parent" in change:
        units["parent"] = change["parent"]
    if "units_schema" in change:
        units["schema"] = change["units_schema"]
    with pytest.raises(ValidationError) as caught:
        RestApiConfig.model_validate({k: v for k, v in data.items() if v is not None})
    assert fragment in str(caught.value)


def test_new_keys_are_documented() -> None:
    from connectors.rest_api.config import PropertiesConfig, PropertyConfig

    doc = (Path(__file__).resolve().parents[1] / "docs" / "rest_api.md").read_text()
    for model in (PropertiesConfig, PropertyConfig):
        for name in model.model_fields:
            assert re.search(rf"`{name}`", doc), f"{model.__name__}.{name}"
    assert "lookback_seconds" in doc or "lookback:" in doc
