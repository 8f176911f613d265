"""rest_api pages read by Arrow's JSON reader land exactly what the Python path lands; read-ahead.

The Python path stays for pages the Arrow reader refuses, so each test here makes sure the page in
question really went the way it says (the `http_stats` page counts), and compares with a stream
that can only take the Python path (an `equals` error rule) fed the same records.
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import GeneratorType
from typing import Any

import orjson
import pyarrow as pa
import pytest

from connectors.rest_api import RestApiConfig
from connectors.rest_api.source import RestApiSource
from protocol.errors import ConfigError, SourceUnavailable
from protocol.types import ReadRequest
from tests.conftest import WorkspaceFactory
from tests.support.cli import rooftop
from tests.support.http_api import CursorPages, Reply, Request, TestApi
from tests.support.logs import fresh_rooftop_logger  # noqa: F401 - autouse fixture
from tests.test_rest_paginators import read_ids
from tests.warehouse_checks import rows

SCHEMA = ("{id: int64, amount: float64, price: 'decimal(10, 2)', at: timestamp, day: date, "
          "address: 'struct<street: string, zip: string>', tags: 'list<string>', open: bool}")
CONN = """\
name: shop
source:
  connector: rest_api
  config:
    base_url: "{url}"
    records: data
    retries: {{attempts: 1}}
    paginator: {{type: cursor, page_size: 10}}
    streams:
      - {{name: fast, path: /items, primary_key: id, schema: {schema}}}
      - {{name: python, path: /items, primary_key: id, schema: {schema},
          error_indicator: {{paths: [error], when: equals, value: failed}}}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
streams:
  - {{name: fast, sync_mode: full_refresh_overwrite}}
  - {{name: python, sync_mode: full_refresh_overwrite}}
"""


def item(i: int) -> dict[str, Any]:
    return {"id": i, "amount": i * 1.5, "price": round(i * 3.25, 2), "at": f"2024-03-{1 + i % 28:02d}T10:00:00Z",
            "day": f"2024-04-{1 + i % 28:02d}", "address": {"street": f"{i} Main St", "zip": "60601", "extra": 1},
            "tags": [f"t{i}", "x"], "open": i % 2 == 0, "unknown_field": {"any": [i]}}


def page_counts(db: Path) -> dict[str, tuple[int, int]]:
    found = rows(db, "SELECT stream, data FROM _rooftop.sync_logs WHERE event = 'http_stats'")
    return {stream: (data.get("pages_arrow", 0), data.get("pages_python", 0))
            for stream, text in found for data in [orjson.loads(text)]}


def table(db: Path, stream: str) -> list[tuple[Any, ...]]:
    return rows(db, f"SELECT * EXCLUDE (_rooftop_extracted_at, _rooftop_sync_id) FROM rest_api.{stream} ORDER BY id")


def test_arrow_pages_land_what_the_python_path_lands_bad_values_included(make_workspace: WorkspaceFactory) -> None:
    records = [item(i) for i in range(1, 51)]
    records[13]["amount"] = "lots"  # page 2: a string in a number column (Arrow refuses the page)
    records[25]["at"] = "not a time"  # page 3: text that is no timestamp (Arrow reads it; the cast fails)
    records[36]["address"] = {"street": None}  # page 4: nested field missing, one null
    records[47]["tags"] = []
    with TestApi(CursorPages(records, size=10)) as api:
        root = make_workspace(CONN.format(url=api.url, schema=SCHEMA), name="shop")
        code, output = rooftop(root, "sync", "shop")
    assert code == 0, output
    db = root / "wh.duckdb"
    fast, python = table(db, "fast"), table(db, "python")
    assert len(fast) == 50 and fast == python
    # The first page teaches the reader the cursor's type; the bad page goes the Python path; the rest Arrow.
    assert page_counts(db) == {"fast": (3, 2), "python": (0, 0)}
    assert rows(db, "SELECT amount, _rooftop_meta FROM rest_api.fast WHERE id = 14")[0][0] is None
    assert rows(db, "SELECT \"at\", _rooftop_meta IS NOT NULL FROM rest_api.fast WHERE id = 26") == [(None, True)]
    types = dict(rows(db, "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'fast'"))
    assert types["address"] == "STRUCT(street VARCHAR, zip VARCHAR)" and types["tags"] == "VARCHAR[]"
    assert types["at"] == "TIMESTAMP WITH TIME ZONE" and types["price"] == "DECIMAL(10,2)"


def read(url: str, stream: dict[str, Any], tmp_path: Path) -> list[pa.RecordBatch]:
    config = RestApiConfig.model_validate({"base_url": url, "records": "data", "streams": [
        {"name": "items", "path": "/items", "schema": {"id": "int64"}, **stream}]})
    with RestApiSource(config, root=tmp_path) as source:
        catalog = source.discover().get("items")
        assert catalog is not None
        request = ReadRequest(stream=catalog, incremental=False, cursor_field=None, state=None)
        return [b for b in source.read(request) if isinstance(b, pa.RecordBatch)]


def cursor_pages(last: Reply, **cursors: Any) -> TestApi:
    """Two good pages (cursor "a" after the first, then `cursors["b"]`), then `last`."""
    def route(request: Request) -> Reply:
        after = request.query.get("cursor")
        if after is None:
            return Reply(body={"data": [{"id": 1}, {"id": 2}], "next_cursor": "a"})
        if after == "a":
            return Reply(body={"data": [{"id": 3}], "next_cursor": cursors.get("b", "b")})
        return last

    return TestApi(route)


@pytest.mark.parametrize(("last", "error", "fragment"), [
    (Reply(body={"data": [{"id": 9}], "next_cursor": None, "error": "internal"}), SourceUnavailable,
     'error in the body: error = "internal"'),
    (Reply(body={"data": None, "next_cursor": None}), ConfigError, "the records at 'data' are null"),
    (Reply(body={"next_cursor": None}), ConfigError, "records path 'data' is not in the response"),
    (Reply(body={"data": [{"id": 9}, None], "next_cursor": None}), ConfigError, "item 1 is null"),
])
def test_a_later_page_that_breaks_the_contract_still_fails(tmp_path: Path, last: Reply, error: type[Exception],
                                                           fragment: str) -> None:
    with cursor_pages(last) as api, pytest.raises(error) as caught:
        read_ids(api.url, {"path": "/items", "records": "data", "schema": {"id": "int64"},
                           "paginator": {"type": "cursor"}}, tmp_path)
    assert fragment in str(caught.value)


@pytest.mark.parametrize("b", [7, "b"])
def test_a_cursor_that_changes_type_or_ends_is_followed_exactly(tmp_path: Path, b: Any) -> None:
    last = Reply(body={"data": [{"id": 4}], "next_cursor": None})
    with cursor_pages(last, b=b) as api:
        ids = read_ids(api.url, {"path": "/items", "records": "data", "schema": {"id": "int64"},
                                 "paginator": {"type": "cursor"}}, tmp_path)
        assert [r.query.get("cursor") for r in api.requests] == [None, "a", str(b)]
    assert ids == [1, 2, 3, 4]


def reading_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.endswith("-items")]


def test_the_next_page_is_fetched_while_the_current_one_is_loaded(tmp_path: Path) -> None:
    second_asked = threading.Event()

    def route(request: Request) -> Reply:
        if request.query.get("cursor") == "2":
            second_asked.set()
            return Reply(body={"data": [{"id": 2}], "next_cursor": None})
        return Reply(body={"data": [{"id": 1}], "next_cursor": "2"})

    config = RestApiConfig.model_validate({"base_url": "http://x", "records": "data", "streams": [
        {"name": "items", "path": "/items", "schema": {"id": "int64"}, "paginator": {"type": "cursor"}}]})
    with TestApi(route) as api:
        config = config.model_copy(update={"base_url": api.url})
        with RestApiSource(config, root=tmp_path) as source:
            catalog = source.discover().get("items")
            assert catalog is not None
            second_asked.clear()  # discovery read the first page
            items = source.read(ReadRequest(stream=catalog, incremental=False, cursor_field=None, state=None))
            assert isinstance(items, GeneratorType)
            first = next(items)
            assert isinstance(first, pa.RecordBatch) and first.column("id").to_pylist() == [1]
            # The consumer holds page 1 and has asked for nothing more: page 2 is requested anyway.
            assert second_asked.wait(timeout=30)
            items.close()  # a consumer that stops early: the reading thread ends with it
            assert not reading_threads()


def test_a_failure_mid_read_is_raised_and_leaves_no_reading_thread(tmp_path: Path) -> None:
    last = Reply(raw=b"{not json", headers={"Content-Type": "application/json"})
    with cursor_pages(last) as api, pytest.raises(SourceUnavailable, match="invalid JSON"):
        read(api.url, {"paginator": {"type": "cursor"}}, tmp_path)
    assert not reading_threads()
