"""Every paginator of the rest_api source against a purpose-built API, loops and bounds.

Each server pages the same 23 items in its own style; every style must deliver each item exactly
once, in order, and stop by itself. Servers that go round in circles, or page through nothing
forever, must fail the stream clearly; `max_pages` caps a series and says so in the log.
The APIs answer in-process (`httpx.MockTransport`, tests/support/mock_api.py): paging is about
what the pages say, not the sockets they come over (tests/test_rest_api.py and the sandbox cover those).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from connectors.http.paginators import parse_link_header
from connectors.rest_api import RestApiConfig, RestApiSource
from protocol.errors import ConfigError
from protocol.types import ReadRequest
from tests.support.http_api import Reply, Request
from tests.support.logs import fresh_rooftop_logger  # noqa: F401 - autouse fixture
from tests.support.mock_api import MockApi

ITEMS = [{"id": i, "name": f"item {i}", "updated_at": f"2024-01-{i:02d}T00:00:00Z"} for i in range(1, 24)]


def read_ids(api: MockApi | str, stream: dict[str, Any], tmp_path: Path, **source: Any) -> list[int]:
    """The ids a full read of `stream` yields, from a MockApi or from the server at a URL."""
    url, transport = (api, None) if isinstance(api, str) else (api.url, api.transport)
    config = RestApiConfig.model_validate({"base_url": url, "streams": [{"name": "items", **stream}], **source})
    with RestApiSource(config, root=tmp_path, transport=transport) as src:
        catalog_stream = src.discover().get("items")
        assert catalog_stream is not None
        items = list(src.read(ReadRequest(stream=catalog_stream, incremental=False, cursor_field=None, state=None)))
    return [row["id"] for b in items if isinstance(b, pa.RecordBatch) for row in b.to_pylist()]


def window(start: int, size: int) -> list[dict[str, Any]]:
    return ITEMS[start:start + size]


def test_cursor_from_a_body_field(tmp_path: Path) -> None:
    def route(r: Request) -> Reply:
        start, size = int(r.query.get("after") or 0), int(r.query["size"])
        more = start + size < len(ITEMS)
        return Reply(body={"data": window(start, size), "meta": {"next": str(start + size) if more else None}})

    with MockApi(route) as api:
        ids = read_ids(api, {"path": "/items", "records": "data",
                                 "paginator": {"type": "cursor", "cursor_path": "meta.next", "cursor_param": "after",
                                               "page_size": 5, "page_size_param": "size"}}, tmp_path)
        assert ids == list(range(1, 24))
        # discover sampled one page; the read took 5.
        assert [r.query.get("after") for r in api.requests[1:]] == [None, "5", "10", "15", "20"]


@pytest.mark.parametrize("total_path", [None, "total"])
def test_offset_limit(tmp_path: Path, total_path: str | None) -> None:
    def route(r: Request) -> Reply:
        return Reply(body={"items": window(int(r.query["offset"]), int(r.query["limit"])), "total": len(ITEMS)})

    with MockApi(route) as api:
        paginator = {"type": "offset", "limit": 10, **({"total_path": total_path} if total_path else {})}
        assert read_ids(api, {"path": "/items", "paginator": paginator}, tmp_path) == list(range(1, 24))
        offsets = [r.query["offset"] for r in api.requests[1:]]
        # Without a total, an empty page ends the series (a short page may just be a server-side cap).
        assert offsets == (["0", "10", "20", "23"] if total_path is None else ["0", "10", "20"])


def test_page_number_with_a_top_level_list(tmp_path: Path) -> None:
    def route(r: Request) -> Reply:
        page, per_page = int(r.query["page"]), int(r.query["per_page"])
        return Reply(body=window((page - 1) * per_page, per_page))

    with MockApi(route) as api:
        stream = {"path": "/items", "records": "$", "paginator": {"type": "page_number", "page_size": 8}}
        assert read_ids(api, stream, tmp_path) == list(range(1, 24))
        assert [r.query["page"] for r in api.requests[1:]] == ["1", "2", "3", "4"]


def test_page_number_stops_at_total_pages(tmp_path: Path) -> None:
    def route(r: Request) -> Reply:
        page = int(r.query["p"])
        return Reply(body={"rows": window(page * 10, 10), "pages": 3})

    with MockApi(route) as api:
        stream = {"path": "/items", "records": "rows",
                  "paginator": {"type": "page_number", "page_param": "p", "start": 0, "total_pages_path": "pages"}}
        assert read_ids(api, stream, tmp_path) == list(range(1, 24))
        assert [r.query["p"] for r in api.requests[1:]] == ["0", "1", "2"]


def test_link_header_rel_next(tmp_path: Path) -> None:
    def route(r: Request) -> Reply:
        page, size = int(r.query.get("page", 1)), int(r.query["per_page"])
        links = [f'</items?page={page + 1}&per_page={size}>; rel="next"'] if page * size < len(ITEMS) else []
        links.append(f'<{api.url}/items?page=1&per_page={size}>; rel=first')
        return Reply(body=window((page - 1) * size, size), headers={"Link": ", ".join(links)})

    with MockApi(route) as api:
        stream = {"path": "/items", "paginator": {"type": "link_header", "page_size": 6}}
        assert read_ids(api, stream, tmp_path) == list(range(1, 24))
        assert [r.query.get("page") for r in api.requests[1:]] == [None, "2", "3", "4"]


def test_parse_link_header_rfc8288_forms() -> None:
    header = ('<https://api.example.com/x?page=2>; rel="next last"; title="Next, page", '
              '</x?page=1>;rel=prev ,<urn:x>; REL="Alternate"')
    assert parse_link_header(header) == [
        ("https://api.example.com/x?page=2", {"rel": "next last", "title": "Next, page"}),
        ("/x?page=1", {"rel": "prev"}), ("urn:x", {"rel": "Alternate"})]


@pytest.mark.parametrize("absolute", [True, False])
def test_next_url_from_a_body_field(tmp_path: Path, absolute: bool) -> None:
    def route(r: Request) -> Reply:
        page = int(r.query.get("page", 0))
        following = f"/items?page={page + 1}&limit=9" if (page + 1) * 9 < len(ITEMS) else None
        if following and absolute:
            following = api.url + following
        return Reply(body={"results": window(page * 9, 9), "links": {"next": following}})

    with MockApi(route) as api:
        stream = {"path": "/items", "records": "results",
                  "paginator": {"type": "next_url", "next_url_path": "links.next", "page_size": 9}}
        assert read_ids(api, stream, tmp_path) == list(range(1, 24))
        assert len(api.requests) == 1 + 3


def test_no_paginator_reads_one_page(tmp_path: Path) -> None:
    with MockApi(lambda r: Reply(body={"items": ITEMS, "count": 23})) as api:
        assert read_ids(api, {"path": "/items"}, tmp_path) == list(range(1, 24))  # records detected
        assert len(api.requests) == 2


def test_a_repeated_cursor_is_a_loop(tmp_path: Path) -> None:
    with MockApi(lambda r: Reply(body={"data": window(0, 5), "next_cursor": "same"})) as api:
        with pytest.raises(ConfigError, match=r"stream 'items': pagination loop: .* next cursor 'same' again"):
            read_ids(api, {"path": "/items", "records": "data", "paginator": {"type": "cursor"}}, tmp_path)
        assert len(api.requests) == 1 + 2


def test_a_server_ignoring_the_offset_is_a_loop(tmp_path: Path) -> None:
    with MockApi(lambda r: Reply(body=window(0, 5))) as api:
        with pytest.raises(ConfigError, match="identical to the one before it; check paginator.offset_param"):
            read_ids(api, {"path": "/items", "paginator": {"type": "offset", "limit": 5, "offset_param": "skip"}},
                     tmp_path)
        assert len(api.requests) == 1 + 2


def test_a_next_url_back_to_an_earlier_page_is_a_loop(tmp_path: Path) -> None:
    def route(r: Request) -> Reply:
        page = int(r.query.get("page", 1))
        return Reply(body={"results": window(page, 1), "next": f"/items?page={3 - page}"})

    with MockApi(route) as api, pytest.raises(ConfigError, match="same next page URL"):
        read_ids(api, {"path": "/items", "records": "results", "paginator": {"type": "next_url"}}, tmp_path)


def test_next_links_to_another_origin_are_refused(tmp_path: Path) -> None:
    evil = MockApi(lambda r: Reply(body=window(0, 2), headers={"Link": '<http://evil.example/x>; rel="next"'}))
    with evil as api, pytest.raises(ConfigError, match="another origin"):
        read_ids(api, {"path": "/items", "paginator": {"type": "link_header"}}, tmp_path,
                 auth={"type": "bearer", "token": "t0ken"})


def endless_empty_pages(r: Request) -> Reply:
    """Empty pages forever, each with a new cursor: no loop a seen-cursor check could find."""
    return Reply(body={"data": [], "next_cursor": str(int(r.query.get("cursor") or 0) + 1)})


@pytest.mark.parametrize(("limit", "setting"), [(10, {}), (3, {"max_empty_pages": 3})])
def test_endless_empty_pages_stop_after_max_empty_pages(tmp_path: Path, limit: int, setting: dict[str, Any]) -> None:
    with MockApi(endless_empty_pages) as api:
        started = time.monotonic()
        with pytest.raises(ConfigError, match=rf"stream 'items': {limit} empty pages in a row, each pointing to "
                                              r"another page .* raise `max_empty_pages`"):
            read_ids(api, {"path": "/items", "records": "data", "schema": {"id": "int64"},
                               "paginator": {"type": "cursor"}, **setting}, tmp_path)
        assert len(api.requests) == limit
    assert time.monotonic() - started < 3


def test_empty_pages_between_full_ones_are_fine(tmp_path: Path) -> None:
    def route(r: Request) -> Reply:
        n = int(r.query.get("cursor") or 0)  # pages 0..22: every third has a record, the rest are empty
        return Reply(body={"data": [ITEMS[n]] if n % 3 == 0 else [], "next_cursor": str(n + 1) if n < 22 else None})

    with MockApi(route) as api:
        ids = read_ids(api, {"path": "/items", "records": "data", "paginator": {"type": "cursor"},
                                 "schema": {"id": "int64"}}, tmp_path, max_empty_pages=3)
        assert ids == [i + 1 for i in range(0, 23, 3)] and len(api.requests) == 23


def test_max_pages_is_a_logged_cap(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    def route(r: Request) -> Reply:
        start, size = int(r.query.get("cursor") or 0), int(r.query["limit"])
        return Reply(body={"data": window(start, size), "next_cursor": str(start + size)})

    stream = {"path": "/items", "records": "data", "schema": {"id": "int64"},
              "paginator": {"type": "cursor", "page_size": 5}}
    with MockApi(route) as api, caplog.at_level(logging.WARNING, logger="rooftop.rest_api"):
        assert read_ids(api, stream, tmp_path, max_pages=2) == list(range(1, 11))
        assert len(api.requests) == 2
        assert read_ids(api, {**stream, "max_pages": 3}, tmp_path, max_pages=2) == list(range(1, 16))
    capped = [r for r in caplog.records if getattr(r, "event", None) == "max_pages_reached"]
    assert [r.getMessage() for r in capped] == [
        "stream 'items': stopped after max_pages (2); the API had more pages",
        "stream 'items': stopped after max_pages (3); the API had more pages"]
