"""Responses are checked, not trusted: a page that is an error or not a record list fails its stream.

Before, `200 {"error": "internal", "data": null}` mid-pagination read as the last page (a full
refresh swapped a 3,000-row table down to 100 rows, exit 0) and `{"data": {"id": 1}}` became one
all-null record. Here every such body fails the stream naming stream, path and what was found;
opt-ins (`empty_records`, `single_record`, `error_indicator`) declare an API's real habits; and,
through the CLI with a real DuckDB warehouse, a failed sync leaves table and state exactly as they were
in every sync mode.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pydantic
import pytest
from typer.testing import CliRunner

from connectors.rest_api import RestApiConfig
from pipelines.cli import app
from protocol.errors import ConfigError, SourceUnavailable
from tests.conftest import WorkspaceFactory
from tests.support.http_api import CursorPages, Reply, TestApi
from tests.support.logs import fresh_rooftop_logger  # noqa: F401 - autouse fixture
from tests.test_rest_paginators import read_ids
from tests.warehouse_checks import rows

SCHEMA = {"id": "int64", "name": "string"}
PAGED = {"path": "/items", "records": "data", "schema": SCHEMA,
         "paginator": {"type": "cursor", "page_size": 5}}


def answering(body: Any) -> TestApi:
    """An API whose first page is `body`, then (next_cursor "p2") a good last page."""
    def route(request: Any) -> Reply:
        if request.query.get("cursor") == "p2":
            return Reply(body={"data": [{"id": 99, "name": "last"}], "next_cursor": None})
        return Reply(body=body)

    return TestApi(route)


@pytest.mark.parametrize(("body", "error", "fragment"), [
    ({"error": "internal", "data": None}, SourceUnavailable, 'error in the body: error = "internal"'),
    ({"errors": [{"code": 500}], "data": []}, SourceUnavailable, 'errors = [{"code":500}]'),
    ({"fault": {"faultstring": "backend"}, "data": []}, SourceUnavailable, 'fault = {"faultstring":"backend"}'),
    ({"data": None}, ConfigError, "the records at 'data' are null, not a list; if the API sends null when there "
                                  "are no records, set `empty_records: [null]`"),
    ({"other": 1}, ConfigError, "records path 'data' is not in the response (found: other); if the API leaves it "
                                "out when there are no records, set `empty_records: [missing]`"),
    ({"data": {"id": 1}}, ConfigError, 'the records at \'data\' are an object {"id":1}, not a list of objects; for '
                                       "an endpoint that returns one object, set `single_record: true`"),
    ({"data": "oops"}, ConfigError, "the records at 'data' are a string \"oops\", not a list of objects"),
    ({"data": [{"id": 1}, 2]}, ConfigError, "item 1 is a number 2"),
    ({"data": [{"id": 1}], "error": "x" * 500}, SourceUnavailable, "error = \"" + "x" * 119 + "…"),
])
def test_bad_bodies_fail_the_stream_naming_stream_path_and_what_was_found(
        tmp_path: Path, body: Any, error: type[Exception], fragment: str) -> None:
    with answering(body) as api, pytest.raises(error) as caught:
        read_ids(api.url, PAGED, tmp_path)
    message = str(caught.value)
    assert type(caught.value) is error
    assert message.startswith("stream 'items' (GET /items): ") and fragment in message, message
    assert "limit" not in message  # the query string is never shown


@pytest.mark.parametrize("body", [
    {"error": None, "data": [{"id": 1}]}, {"error": False, "data": [{"id": 1}]}, {"errors": [], "data": [{"id": 1}]},
    {"errors": 0, "data": [{"id": 1}]}, {"error": "", "fault": {}, "data": [{"id": 1}]},
])
def test_the_usual_no_error_markers_are_not_errors(tmp_path: Path, body: Any) -> None:
    with answering({**body, "next_cursor": "p2"}) as api:
        assert read_ids(api.url, PAGED, tmp_path) == [1, 99]


@pytest.mark.parametrize(("body", "where"), [({"other": 1}, "source"), ({"data": None}, "stream")])
def test_empty_records_opts_in_to_missing_or_null_as_no_records(tmp_path: Path, body: Any, where: str) -> None:
    with answering({**body, "next_cursor": "p2"}) as api:
        if where == "source":
            ids = read_ids(api.url, PAGED, tmp_path, empty_records=["missing"])
        else:  # a stream's setting replaces the source's: `missing` alone would not cover null
            ids = read_ids(api.url, {**PAGED, "empty_records": ["null"]}, tmp_path, empty_records=["missing"])
        assert ids == [99]
        with pytest.raises(ConfigError):  # and only the forms declared
            read_ids(api.url, {**PAGED, "empty_records": ["missing" if where == "stream" else "null"]}, tmp_path)


def test_a_single_object_endpoint_is_declared(tmp_path: Path) -> None:
    account = {"id": 7, "name": "Acme", "errors": ["a record field, not a failure"]}
    bodies = {"/wrapped": {"data": account}, "/list": {"data": [account]}, "/bare": account}
    with TestApi(lambda r: Reply(body=bodies[r.path])) as api:
        wrapped = {"path": "/wrapped", "records": "data", "schema": SCHEMA, "single_record": True}
        assert read_ids(api.url, wrapped, tmp_path) == [7]
        bare = {"path": "/bare", "schema": SCHEMA, "single_record": True}  # records defaults to $
        with pytest.raises(SourceUnavailable, match="errors = "):  # the body is the record: its `errors` looks bad
            read_ids(api.url, bare, tmp_path)
        assert read_ids(api.url, {**bare, "error_indicator": {"paths": []}}, tmp_path) == [7]
        with pytest.raises(ConfigError, match="single_record is set but the records at 'data' are a list"):
            read_ids(api.url, {**wrapped, "path": "/list"}, tmp_path)


@pytest.mark.parametrize(("indicator", "body", "fails"), [
    ({"paths": ["status"], "when": "not_equals", "value": "ok"}, {"status": "ok"}, False),
    ({"paths": ["status"], "when": "not_equals", "value": "ok"}, {"status": "failed"}, True),
    ({"paths": ["status"], "when": "not_equals", "value": "ok"}, {}, False),  # an absent path never signals
    ({"paths": ["meta.code"], "when": "equals", "value": 500}, {"meta": {"code": 500}}, True),
    ({"paths": ["meta.code"], "when": "equals", "value": 500}, {"meta": {"code": "500"}}, False),
    ({"paths": ["error"], "when": "not_null"}, {"error": False}, True),
    ({"paths": ["error"], "when": "not_null"}, {"error": None}, False),
    ({"paths": []}, {"error": "internal"}, False),
])
def test_error_indicator_is_configurable(tmp_path: Path, indicator: dict[str, Any], body: dict[str, Any],
                                         fails: bool) -> None:
    with answering({**body, "data": [{"id": 1}]}) as api:
        if fails:
            with pytest.raises(SourceUnavailable, match=f"error in the body: {indicator['paths'][0]} = "):
                read_ids(api.url, PAGED, tmp_path, error_indicator=indicator)
        else:
            assert read_ids(api.url, PAGED, tmp_path, error_indicator=indicator) == [1]


def test_equals_needs_a_value() -> None:
    with pytest.raises(pydantic.ValidationError, match="when: equals needs a `value`"):
        RestApiConfig.model_validate({"base_url": "http://127.0.0.1:9", "error_indicator": {"when": "equals"},
                                      "streams": [{"name": "s", "path": "/s"}]})


# --- a failed sync leaves table and state as they were, in every sync mode --------------------------

CONN = """\
name: ledger
source:
  connector: rest_api
  config:
    base_url: "{url}"
    records: data
    paginator: {{type: cursor}}
    retries: {{attempts: 1}}
    streams:
      - name: entries
        path: /ledger
        primary_key: id
        schema: {{id: int64, name: string, updated_at: timestamp}}
        incremental: {{cursor_field: updated_at}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
streams:
  - {{name: entries, sync_mode: {mode}}}
"""
T0 = datetime(2024, 1, 1, tzinfo=UTC)
MODES = ["full_refresh_overwrite", "full_refresh_append", "incremental_append", "incremental_deduped"]
BAD = {"error_body": (Reply(body={"error": "internal", "data": None, "next_cursor": None}), 3,
                      'error in the body: error = "internal"'),
       "object_not_list": (Reply(body={"data": {"id": 1}, "next_cursor": "30"}), 2,
                           "the records at 'data' are an object {\"id\":1}, not a list of objects")}


def entry(i: int, name: str, at: datetime) -> dict[str, Any]:
    return {"id": i, "name": name, "updated_at": at.isoformat().replace("+00:00", "Z")}


def snapshot(db: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every row and column of the table (meta columns too), and the saved state."""
    return (rows(db, "SELECT * FROM rest_api.entries ORDER BY ALL"),
            rows(db, "SELECT * FROM _rooftop.state ORDER BY ALL"))


def sync(root: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--workspace", str(root), "sync", "ledger"])
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize("bad", sorted(BAD))
@pytest.mark.parametrize("mode", MODES)
def test_a_bad_page_mid_pagination_changes_nothing(make_workspace: WorkspaceFactory, mode: str, bad: str) -> None:
    ledger = CursorPages([entry(i, f"entry {i}", T0 + timedelta(minutes=i)) for i in range(1, 61)], size=10)
    with TestApi(ledger) as api:
        root = make_workspace(CONN.format(url=api.url, mode=mode), name="ledger")
        db = root / "wh.duckdb"
        code, out = sync(root)
        assert code == 0, out
        assert rows(db, "SELECT count(*), count(DISTINCT id) FROM rest_api.entries") == [(60, 60)]
        before = snapshot(db)
        # Changes a second sync would land (updates on page 1, new records at the end), and a bad page 3:
        # a sync that took the bad page for the last one would change the table in every mode.
        later = T0 + timedelta(days=40)
        ledger.records = [entry(i, "changed" if i <= 5 else f"entry {i}", later if i <= 5 else
                                T0 + timedelta(minutes=i)) for i in range(1, 61)]
        ledger.records += [entry(i, f"entry {i}", later) for i in range(61, 71)]
        reply, exit_code, fragment = BAD[bad]
        ledger.bad[20] = reply
        code, out = sync(root)
        assert [r.query.get("cursor") for r in api.requests[-3:]] == [None, "10", "20"]  # it got to the bad page
    assert code == exit_code, out
    assert "entries" in out and "(GET /ledger)" in out and fragment in out, out
    assert "cursor=" not in out
    assert snapshot(db) == before


# --- records wrapped under their type (Rentvine: [{"lease": {...}, "unit": {...}}, ...]) -------------

WRAPPED = """\
name: wrapped
source:
  connector: rest_api
  config:
    base_url: "{url}"
    records: $
    retries: {{attempts: 1}}
    streams:
      - name: leases
        path: /leases/export
        unwrap: lease
        primary_key: leaseID
        paginator: {{type: page_number, page_param: page, page_size: 2, page_size_param: pageSize}}
        incremental: {{cursor_field: dateTimeModified, param: dateTimeModifiedMin}}
        schema: {{leaseID: int64, status: string, dateTimeModified: timestamp,
                  unit: "struct<unitID: int64, name: string>"}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
streams:
  - {{name: leases, sync_mode: incremental_deduped}}
"""


def test_records_wrapped_under_their_type_are_unwrapped_with_their_siblings(make_workspace: WorkspaceFactory) -> None:
    items = [{"lease": {"leaseID": i, "status": "Active", "dateTimeModified": f"2024-01-0{i}T00:00:00Z"},
              "unit": {"unitID": 10 + i, "name": f"Unit {i}"}} for i in range(1, 6)]

    def route(request: Any) -> Reply:
        since = request.query.get("dateTimeModifiedMin")
        found = [i for i in items if since is None or i.get("lease", {}).get("dateTimeModified", "~") >= since]
        page, size = int(request.query["page"]), int(request.query["pageSize"])
        return Reply(body=found[(page - 1) * size:page * size])  # a bare list, as Rentvine answers

    with TestApi(route) as api:
        root = make_workspace(WRAPPED.format(url=api.url), name="wrapped")
        result = CliRunner().invoke(app, ["--workspace", str(root), "sync", "wrapped"])
        assert result.exit_code == 0, result.output
        got = rows(root / "wh.duckdb", "SELECT leaseID, status, unit.unitID FROM rest_api.leases ORDER BY 1")
        assert got == [(i, "Active", 10 + i) for i in range(1, 6)]
        items.append({"unit": {"unitID": 99}})  # an item without its record: the API broke the contract
        result = CliRunner().invoke(app, ["--workspace", str(root), "sync", "wrapped"])
    assert result.exit_code == 2, result.output
    assert "item 1 has no object at `unwrap: lease` (found keys: unit)" in " ".join(result.output.split())
    assert rows(root / "wh.duckdb", "SELECT count(*) FROM rest_api.leases") == [(5,)]
