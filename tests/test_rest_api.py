"""The rest_api source end to end: YAML errors, child streams, incremental reads with lookback,
schema inference and widening, record paths; against the sandbox and purpose-built APIs on 127.0.0.1."""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from connectors.rest_api import RestApiConfig, RestApiSource
from connectors.rest_api.config import IncrementalConfig
from connectors.rest_api.cursor import with_lookback
from connectors.sandbox.server import SandboxServer
from pipelines.engine.runner import run_sync
from protocol.errors import ConfigError, ConnectionFileError
from protocol.types import ReadRequest, SourceContext, StateCheckpoint
from tests.conftest import API_KEY, WorkspaceFactory, connection
from tests.support.http_api import Reply, Request, TestApi
from tests.support.logs import fresh_rooftop_logger  # noqa: F401 - autouse fixture
from tests.warehouse_checks import rows

PMS = """\
name: pms
source:
  connector: rest_api
  config:
    base_url: "{url}/v1"
    auth: {{type: api_key, name: X-API-Key, key: "${{SANDBOX_TEST_KEY}}"}}
    paginator: {{type: cursor, cursor_path: next_cursor, page_size: 5}}
    records: data
    streams:
      - name: properties
        path: /properties
        primary_key: id
      - name: units
        path: /properties/{{property.id}}/units
        primary_key: id
        parent: {{stream: properties, alias: property, fields: {{property_name: name}}}}
        schema: {{id: int64, property_id: int64, unit_number: string, market_rent: "decimal(12, 2)",
                  updated_at: timestamp, deleted_at: timestamp, property_name: string}}
        incremental: {{cursor_field: updated_at, param: updated_since, resume_params: {{include_deleted: true}}}}
        deleted_field: deleted_at
      - name: leases
        path: /properties/{{parent.id}}/leases
        params: {{limit: 3}}
        primary_key: [id]
        parent: {{stream: properties, fields: {{property_id: id}}}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
max_concurrency: 3
streams:
  - {{name: properties, sync_mode: full_refresh_overwrite}}
  - {{name: units, sync_mode: incremental_deduped}}
  - {{name: leases, sync_mode: full_refresh_overwrite}}
"""


def load_error(make_workspace: WorkspaceFactory, text: str) -> ConnectionFileError:
    root = make_workspace(text, name="pms")
    from pipelines.workspace.loading import load_workspace

    with pytest.raises(ConnectionFileError) as caught:
        load_workspace(root).get("pms")
    return caught.value


@pytest.mark.parametrize(("old", "new", "field", "fragment"), [
    ("        primary_key: [id]", "        primary_keys: [id]", "source.config.streams[2].primary_keys",
     "did you mean 'primary_key'"),
    ("type: cursor,", "type: cursr,", "source.config.paginator", "paginator needs a `type`: one of none, cursor, "
                                                                 "offset, page_number, link_header, next_url"),
    ('key: "${SANDBOX_TEST_KEY}"', 'kee: "${SANDBOX_TEST_KEY}"', "source.config.auth.key", "did you mean 'key'"),
    ("type: api_key,", "type: oauth2_client_credentials,", "source.config.auth.token_url", "required key is missing"),
    ("        parent: {stream: properties, fields: {property_id: id}}\n", "",
     "source.config.streams[2]", "placeholder {parent.id} in stream 'leases' needs a `parent`"),
    ("{property.id}", "{prop.id}", "source.config.streams[1]", "must name a field of the parent record"),
    ('"decimal(12, 2)"', '"decimal(12)"', "source.config.streams[1].schema.market_rent", "decimal needs (precision"),
    ("stream: properties, alias", "stream: property, alias", "source.config.streams",
     "parent stream 'property' does not exist"),
    ("updated_at: timestamp, deleted_at", "modified_at: timestamp, deleted_at", "source.config.streams[1]",
     "incremental.cursor_field 'updated_at' is not in the declared schema"),
    ("param: updated_since,", "param: updated_since, lookback: 2 weeks,",
     "source.config.streams[1].incremental.lookback", "not a duration"),
    ('"http://127.0.0.1:9/v1"', '"localhost/v1"', "source.config.base_url", "must start with http://"),
])
def test_config_mistakes_are_located_errors(make_workspace: WorkspaceFactory, old: str, new: str, field: str,
                                            fragment: str) -> None:
    text = PMS.format(url="http://127.0.0.1:9")
    assert old in text
    error = load_error(make_workspace, text.replace(old, new, 1))
    message = " ".join(str(error).split())
    assert error.file == "connections/pms.yaml" and error.line is not None and error.field == field, message
    assert fragment in message, message
    assert API_KEY not in message


def test_secrets_are_secret_types(make_workspace: WorkspaceFactory) -> None:
    root = make_workspace(PMS.format(url="http://127.0.0.1:9"), name="pms")
    loaded = connection(root, "pms")
    assert API_KEY not in repr(loaded.source_config) and loaded.redactor(f"key={API_KEY}") != f"key={API_KEY}"


def test_child_streams_through_the_engine(make_workspace: WorkspaceFactory, sandbox: SandboxServer) -> None:
    dataset = sandbox.dataset
    root = make_workspace(PMS.format(url=sandbox.url), name="pms")
    run_sync(connection(root, "pms"))
    db = root / "wh.duckdb"
    names = {p["id"]: p["name"] for p in dataset.current_records("properties")}
    units = list(dataset.current_records("units"))
    landed = rows(db, "SELECT id, property_id, property_name FROM rest_api.units ORDER BY id")
    assert landed == [(u["id"], u["property_id"], names[u["property_id"]]) for u in units]
    unit_property = {u["id"]: u["property_id"] for u in units}
    leases = rows(db, "SELECT id, unit_id, property_id FROM rest_api.leases ORDER BY id")
    assert [lease[0] for lease in leases] == [lease["id"] for lease in dataset.current_records("leases")]
    assert all(unit_property[unit_id] == prop for _, unit_id, prop in leases)
    # One request series per parent record, paged with each stream's own page size.
    paths = [path for _, _, path, _ in sandbox.request_log]
    for prop in names:
        unit_pages = [p for p in paths if p.startswith(f"/v1/properties/{prop}/units?")]
        lease_pages = [p for p in paths if p.startswith(f"/v1/properties/{prop}/leases?")]
        assert len(unit_pages) == sum(u["property_id"] == prop for u in units) // 5 + 1
        assert lease_pages and all("limit=3" in p for p in lease_pages)
    # Incremental child stream: the cursor goes to every parent's series; deletions arrive as tombstones.
    changed = dataset.mutate("units", update=0.1, insert=0, delete=0.1, seed=4)
    run_sync(connection(root, "pms"), streams=["units"])
    deleted = rows(db, "SELECT id FROM rest_api.units WHERE _rooftop_deleted_at IS NOT NULL ORDER BY id")
    assert [d[0] for d in deleted] == changed["deleted"]
    resumed = [p for _, _, p, _ in sandbox.request_log if "/units?" in p and "include_deleted=true" in p]
    assert len({re.sub(r"\?.*", "", p) for p in resumed}) == len(names)


def test_incremental_with_lookback_asks_for_earlier_records(sandbox: SandboxServer, tmp_path: Path) -> None:
    config = RestApiConfig.model_validate({
        "base_url": sandbox.url, "auth": {"type": "bearer", "token": API_KEY}, "records": "data",
        "paginator": {"type": "cursor", "page_size": 10},
        "streams": [{"name": "leases", "path": "/v1/leases", "primary_key": "id",
                     "incremental": {"cursor_field": "updated_at", "param": "updated_since", "lookback": "2m",
                                     "ordered": True}}]})
    with RestApiSource(config, root=tmp_path) as src:
        stream = src.discover().get("leases")
        assert stream is not None

        def read(state: dict[str, Any] | None) -> list[Any]:
            return list(src.read(ReadRequest(stream=stream, incremental=True, cursor_field="updated_at", state=state)))

        first = read(None)
        saved = first[-1].state["cursor"]
        assert isinstance(first[-1], StateCheckpoint) and saved == max(
            r["updated_at"] for r in sandbox.dataset.current_records("leases"))
        again = [r for b in read({"cursor": saved}) if isinstance(b, pa.RecordBatch) for r in b.to_pylist()]
    since = (datetime.fromisoformat(saved) - timedelta(minutes=2)).isoformat().replace("+00:00", "Z")
    assert f"updated_since={since.replace(':', '%3A')}" in sandbox.request_log[-1][2]
    expected = [r["id"] for r in sandbox.dataset.current_records("leases") if r["updated_at"] >= since]
    assert [r["id"] for r in again] == expected and len(expected) > 1


def test_lookback_for_each_cursor_type() -> None:
    def inc(cursor_type: str, lookback: Any) -> IncrementalConfig:
        return IncrementalConfig(cursor_field="c", cursor_type=cursor_type, lookback=lookback)  # type: ignore[arg-type]

    assert with_lookback("2024-03-01T00:30:00Z", inc("timestamp", "1h")) == "2024-02-29T23:30:00Z"
    assert with_lookback("2024-03-01T00:30:00+02:00", inc("timestamp", 90)) == "2024-03-01T00:28:30+02:00"
    assert with_lookback("2024-03-01", inc("date", "1 day")) == "2024-02-29"
    assert with_lookback("2024-03-01", inc("date", "2h")) == "2024-02-29"  # whole days, rounded up
    assert with_lookback(1000, inc("number", 50)) == 950
    with pytest.raises(ValueError, match="lookback needs a cursor_type"):
        inc("string", "1h")


ITEMS = [{"id": i, "at": f"2024-01-{i:02d}T12:00:00Z"} for i in range(1, 11)]


def test_client_side_incremental_and_end_date(tmp_path: Path) -> None:
    """No `param`: everything is read, only records at or after the saved cursor are kept."""
    with TestApi(lambda r: Reply(body=ITEMS)) as api:
        config = RestApiConfig.model_validate({"base_url": api.url, "streams": [
            {"name": "items", "path": "/items", "incremental": {"cursor_field": "at"}}]})
        with RestApiSource(config, root=tmp_path) as src:
            stream = src.discover().get("items")
            assert stream is not None
            request = ReadRequest(stream=stream, incremental=True, cursor_field="at",
                                  state={"cursor": "2024-01-04T12:00:00Z"}, end_date=date(2024, 1, 8))
            out = list(src.read(request))
    assert [r["id"] for b in out if isinstance(b, pa.RecordBatch) for r in b.to_pylist()] == [4, 5, 6, 7, 8]
    assert out[-1] == StateCheckpoint({"cursor": "2024-01-08T12:00:00Z"})
    assert "at" not in api.requests[-1].query


def pages_api(pages: list[list[dict[str, Any]]]) -> TestApi:
    def route(r: Request) -> Reply:
        page = int(r.query.get("page", 1))
        return Reply(body=pages[page - 1] if page <= len(pages) else [])

    return TestApi(route)


WIDENING = [
    [{"id": 1, "amount": 5, "at": "2024-01-01T00:00:00Z", "day": "2024-01-01", "note": None,
      "meta": {"a": 1}, "tags": ["x"]}],
    [{"id": 2, "amount": 5.5, "at": "2024-01-02T00:00:00Z", "day": "2024-01-02", "note": None,
      "meta": {"b": "y"}, "tags": []}],
    [{"id": 3, "amount": 7, "at": "2024-01-03T00:00:00Z", "day": "someday", "note": "hi", "meta": None,
      "tags": None, "extra": True}],
]
WIDE_CONN = """\
name: wide
source:
  connector: rest_api
  config:
    base_url: "{url}"
    infer_pages: 2
    paginator: {{type: page_number}}
    records: $
    streams: [{{name: things, path: /things, primary_key: id}}]
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
streams: [{{name: things, sync_mode: full_refresh_overwrite}}]
"""


def test_schema_inference_and_widening(make_workspace: WorkspaceFactory, caplog: pytest.LogCaptureFixture) -> None:
    with pages_api(WIDENING) as api:
        root = make_workspace(WIDE_CONN.format(url=api.url), name="wide")
        db = root / "wh.duckdb"
        with caplog.at_level(logging.WARNING, logger="rooftop.rest_api"):
            run_sync(connection(root, "wide"))
        widened = [r for r in caplog.records if getattr(r, "event", None) == "schema_widened"]
        assert len(widened) == 1 and widened[0].fields == ["extra"]  # type: ignore[attr-defined]
        columns = dict(rows(db, "SELECT column_name, data_type FROM information_schema.columns "
                                "WHERE table_name = 'things' AND column_name NOT LIKE '_rooftop%'"))
        # Two pages sampled: int + float widened to double, structs unioned; `extra` came too late.
        assert columns == {"id": "BIGINT", "amount": "DOUBLE", "at": "TIMESTAMP WITH TIME ZONE", "day": "DATE",
                           "note": "VARCHAR", "meta": "STRUCT(a BIGINT, b VARCHAR)", "tags": "VARCHAR[]"}
        # The third page's "someday" does not fit the catalog's date: nulled and recorded, not a failure.
        assert rows(db, "SELECT day, _rooftop_meta IS NOT NULL FROM rest_api.things WHERE id = 3") == [(None, True)]
        # The widened schema was saved: a new process's discover has the column, the next sync adds it.
        config = connection(root, "wide")
        with config.make_source() as src:
            assert src.discover().get("things").schema.names[-1] == "extra"
        run_sync(connection(root, "wide"))
        assert rows(db, "SELECT id, extra FROM rest_api.things ORDER BY id") == [(1, None), (2, None), (3, True)]
    # Saved in the warehouse (docs/rest_api.md#schemas), not on this machine's disk.
    assert rows(db, "SELECT count(*) FROM _rooftop.schemas WHERE connection = 'wide' AND stream = 'things'")[0][0] >= 1
    assert not (root / ".rooftop" / "schemas" / "wide.json").exists()


def test_records_path_errors_name_what_the_body_has(tmp_path: Path) -> None:
    with TestApi(lambda r: Reply(body={"rows": ITEMS, "other": [1], "next_cursor": None})) as api:
        for records, fragment in [("dta", "records path 'dta' is not in the response (found: rows, other, "
                                          "next_cursor)"),
                                  (None, "cannot tell where the records are"),
                                  ("other", "are not a list of objects")]:
            config = RestApiConfig.model_validate({"base_url": api.url, "streams": [
                {"name": "items", "path": "/items", "records": records, "schema": {"id": "int64"}}]})
            with RestApiSource(config, root=tmp_path) as src, pytest.raises(ConfigError, match=re.escape(fragment)):
                src.check()


def test_ignored_statuses_read_as_empty_pages(tmp_path: Path) -> None:
    def route(r: Request) -> Reply:
        if r.path == "/parents":
            return Reply(body=[{"id": 1}, {"id": 2}, {"id": 3}])
        if r.path == "/parents/2/kids":
            return Reply(404, {"message": "parent 2 was deleted"})
        return Reply(body=[{"id": int(r.path.split("/")[2]) * 10}])

    with TestApi(route) as api:
        for ignore, expect in [([404], [10, 30]), ([], None)]:
            config = RestApiConfig.model_validate({"base_url": api.url, "streams": [
                {"name": "parents", "path": "/parents", "schema": {"id": "int64"}},
                {"name": "kids", "path": "/parents/{parent.id}/kids", "parent": {"stream": "parents"},
                 "ignore_statuses": ignore, "schema": {"id": "int64"}}]})
            with RestApiSource(config, root=tmp_path, context=SourceContext(connection="c")) as src:
                stream = src.discover().get("kids")
                assert stream is not None
                request = ReadRequest(stream=stream, incremental=False, cursor_field=None, state=None)
                if expect is None:
                    with pytest.raises(ConfigError, match="HTTP 404: parent 2 was deleted"):
                        list(src.read(request))
                else:
                    got = [r["id"] for b in src.read(request) if isinstance(b, pa.RecordBatch) for r in b.to_pylist()]
                    assert got == expect


def test_start_date_and_start_value_feed_the_cursor_param(sandbox: SandboxServer, tmp_path: Path) -> None:
    config = RestApiConfig.model_validate({
        "base_url": sandbox.url + "/v1", "auth": {"type": "api_key", "key": API_KEY}, "records": "data",
        "streams": [{"name": "units", "path": "/units", "schema": {"id": "int64", "updated_at": "timestamp"},
                     "incremental": {
            "cursor_field": "updated_at", "param": "updated_since", "start": "2023-01-01T00:03:00Z"}}]})
    with RestApiSource(config, root=tmp_path) as src:
        stream = src.discover().get("units")
        assert stream is not None
        list(src.read(ReadRequest(stream=stream, incremental=True, cursor_field="updated_at", state=None)))
        assert "updated_since=2023-01-01T00%3A03%3A00Z" in sandbox.request_log[-1][2]
        list(src.read(ReadRequest(stream=stream, incremental=False, cursor_field=None, state=None,
                                  start_date=date(2024, 2, 1))))
        assert "updated_since=2024-02-01T00%3A00%3A00Z" in sandbox.request_log[-1][2]
        list(src.read(ReadRequest(stream=stream, incremental=False, cursor_field=None, state=None)))
        assert "updated_since" not in sandbox.request_log[-1][2]
    assert datetime.now(UTC) > datetime(2024, 1, 1, tzinfo=UTC)


DOC = (Path(__file__).resolve().parents[1] / "docs" / "rest_api.md").read_text()


def test_every_yaml_example_in_the_reference_validates() -> None:
    from ruamel.yaml import YAML

    from connectors.sandbox.connector import SandboxConfig

    blocks = re.findall(r"```yaml\n(.*?)```", DOC, flags=re.S)
    paginators = set()
    for block in blocks:
        data = YAML(typ="safe").load(block)
        source = data["source"]
        model = RestApiConfig if source["connector"] == "rest_api" else SandboxConfig
        config = model.model_validate(source["config"])
        if isinstance(config, RestApiConfig):
            paginators.update(type(s.paginator or config.paginator).__name__ for s in config.streams)
    assert len(blocks) >= 12
    assert paginators == {"NoPaginatorConfig", "CursorPaginatorConfig", "OffsetPaginatorConfig",
                          "PageNumberPaginatorConfig", "LinkHeaderPaginatorConfig", "NextUrlPaginatorConfig"}


def test_every_key_is_documented() -> None:
    from pydantic import BaseModel

    from connectors.http import auth, paginators
    from connectors.http.retry import RetryConfig
    from connectors.rest_api.config import ParentConfig, StreamSpec
    from connectors.sandbox.faults import FaultConfig

    models: list[type[BaseModel]] = [RestApiConfig, StreamSpec, IncrementalConfig, ParentConfig, RetryConfig,
                                     FaultConfig]
    models += [m for module in (auth, paginators) for m in vars(module).values()
               if isinstance(m, type) and issubclass(m, BaseModel) and m.__name__.endswith("Config")
               and m.__module__ == module.__name__]
    missing = [f"{m.__name__}.{name}" for m in models for name, info in m.model_fields.items()
               if not re.search(rf"\b{re.escape(info.alias or name)}\b", DOC)]
    assert missing == []


def test_highest_cursor_compares_instants_not_text() -> None:
    from connectors.rest_api.cursor import KEYS, CursorPlan

    plan = CursorPlan(cursor_field="at", track=True, key=KEYS["timestamp"])
    plan.observe([{"at": "2024-01-02T00:00:00Z"}, {"at": None}, {"at": "2024-01-01T23:00:00Z"}])
    assert plan.highest == "2024-01-02T00:00:00Z"
    # Offsets: "…01:30:00+02:00" is 23:30 UTC the day before, earlier than the saved value.
    plan.observe([{"at": "2024-01-02T01:30:00+02:00"}, {"at": "2024-01-01T22:00:00-05:00"}])
    assert plan.highest == "2024-01-01T22:00:00-05:00"
    numbers = CursorPlan(cursor_field="n", track=True, key=KEYS["number"])
    numbers.observe([{"n": 9}, {"n": 10}, {"n": "x"}])
    assert numbers.highest == 10
