"""Totals and rate-limit headers: paging stops at the announced total; a spent budget pauses before a 429.

Real servers on 127.0.0.1 whose request logs are the proof: an API that announces its total in
`X-Total-Count` / `X-Total-Results` is read in exactly ceil(total / size) requests (no trailing
empty page), and an API that says `X-RateLimit-Remaining: 0, X-RateLimit-Reset: 1` gets its next
request only after the reset, so the 429 it would otherwise answer never happens.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from connectors.rest_api import RestApiConfig, RestApiSource
from protocol.types import ReadRequest
from tests.support.http_api import Reply, Request, TestApi
from tests.support.logs import fresh_rooftop_logger  # noqa: F401 - autouse fixture

RECORDS = [{"id": i, "name": f"unit {i}"} for i in range(25)]


def read_all(url: str, root: Path, stream: dict[str, Any]) -> list[dict[str, Any]]:
    config = RestApiConfig.model_validate({"base_url": url, "records": "items", "streams": [stream],
                                           "retries": {"attempts": 2, "initial_delay": 0.01}})
    with RestApiSource(config, root=root) as source:
        catalog = source.discover().get(stream["name"])
        assert catalog is not None
        items = source.read(ReadRequest(stream=catalog, incremental=False, cursor_field=None, state=None))
        return [r for item in items if isinstance(item, pa.RecordBatch) for r in item.to_pylist()]


def offset_route(request: Request) -> Reply:
    offset, limit = int(request.query["offset"]), int(request.query["limit"])
    return Reply(body={"items": RECORDS[offset:offset + limit]}, headers={"X-Total-Count": str(len(RECORDS))})


def page_route(request: Request) -> Reply:
    page, size = int(request.query["page"]), int(request.query["per_page"])
    start = (page - 1) * size
    return Reply(body={"items": RECORDS[start:start + size]}, headers={"X-Total-Results": str(len(RECORDS))})


@pytest.mark.parametrize(("route", "paginator"), [
    (offset_route, {"type": "offset", "limit": 10, "total_header": "X-Total-Count"}),
    (page_route, {"type": "page_number", "page_size": 10, "total_header": "X-Total-Results"}),
])
def test_a_total_in_a_header_stops_paging_without_the_empty_request(tmp_path: Path, route: Any,
                                                                  paginator: dict[str, Any]) -> None:
    stream = {"name": "units", "path": "/units", "paginator": paginator,
              "schema": {"id": "int64", "name": "string"}, "primary_key": "id"}
    with TestApi(route) as api:
        records = read_all(api.url, tmp_path, stream)
        assert sorted(r["id"] for r in records) == list(range(25))
        assert api.count("/units") == math.ceil(len(RECORDS) / 10)  # 3, not 4: no empty page asked for


def test_a_page_count_in_a_header_stops_paging(tmp_path: Path) -> None:
    def route(request: Request) -> Reply:
        reply = page_route(request)
        return Reply(body=reply.body, headers={"X-Total-Pages": "3"})

    stream = {"name": "units", "path": "/units", "schema": {"id": "int64", "name": "string"},
              "paginator": {"type": "page_number", "page_size": 10, "total_pages_header": "X-Total-Pages"}}
    with TestApi(route) as api:
        assert len(read_all(api.url, tmp_path, stream)) == 25
        assert api.count("/units") == 3


def test_a_spent_rate_limit_budget_delays_the_next_request_instead_of_a_429(tmp_path: Path) -> None:
    """Budget of 1 request per second window: the first answer says none is left and resets in 1 s."""
    served: list[float] = []
    served_429: list[float] = []

    def route(request: Request) -> Reply:
        if served and request.at - served[-1] < 1.0:  # the budget is back one second after the last answer
            served_429.append(request.at)
            return Reply(status=429, body={"error": "slow down"}, headers={"Retry-After": "1"})
        served.append(request.at)
        offset = int(request.query["offset"])
        return Reply(body={"items": RECORDS[offset:min(offset + 10, 15)]},
                     headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1", "X-Total-Count": "15"})

    stream = {"name": "units", "path": "/units", "schema": {"id": "int64", "name": "string"},
              "paginator": {"type": "offset", "limit": 10, "total_header": "X-Total-Count"}}
    with TestApi(route) as api:
        records = read_all(api.url, tmp_path, stream)
        arrivals = [r.at for r in api.requests]
    assert len(records) == 15
    assert served_429 == [], "the client spent a request on a 429 instead of waiting for the reset"
    assert len(arrivals) == 2 and arrivals[1] - arrivals[0] >= 0.95
