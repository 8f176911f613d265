"""The example source's own tests: what a plugin author writes with Rooftop's test kit.

`check_source` runs the source as Rooftop's engine would (check, discover, read, read again from
the saved state, a wrong token) against a `ReplayServer` on 127.0.0.1; the other tests cover what
is particular to this API: its paging, its error answers, a 429 in the middle of a listing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rooftop_example_connector.config import TicketsConfig
from rooftop_example_connector.source import TICKETS, TicketsSource
from tickets_api import TOKEN, TicketsApi, ticket

from connectors.sdk import AuthError, ConfigError, ReadRequest, SourceContext, StateCheckpoint
from connectors.sdk.testing import ReplayServer, Reply, check_source, rate_limited, server_error


def _config(url: str, **overrides: object) -> dict[str, object]:
    return {"base_url": url, "api_token": TOKEN, "per_page": 2,
            "retries": {"attempts": 3, "initial_delay": 0}, **overrides}


def test_the_source_keeps_the_protocol() -> None:
    with ReplayServer(TicketsApi([ticket(n, minute=n) for n in range(1, 6)])) as api:
        report = check_source(TicketsSource, _config(api.url), server=api)
    tickets = report.streams["tickets"]
    assert tickets.rows == 5
    assert tickets.state == {"cursor": "2024-05-01T10:05:00Z"}
    # From the saved cursor only the boundary ticket comes again: one page instead of three.
    assert tickets.incremental_rows == (5, 1)
    assert tickets.incremental_requests == (3, 1)


def _read(source: TicketsSource) -> list[int]:
    ids: list[int] = []
    for item in source.read(ReadRequest(TICKETS, incremental=False, cursor_field=None, state=None)):
        if not isinstance(item, StateCheckpoint):
            ids += item.column("id").to_pylist()
    return ids


def test_a_429_and_a_503_mid_listing_are_retried_under_the_connection_s_limit(tmp_path: Path) -> None:
    with ReplayServer(TicketsApi([ticket(n, minute=n) for n in range(1, 6)])) as api:
        config = TicketsConfig.model_validate(_config(api.url))
        context = SourceContext(connection="example", rate_limit_requests=50, rate_limit_per_seconds=1)
        with TicketsSource(config, root=tmp_path, context=context) as source:
            api.inject("/v1/tickets", Reply(body={"tickets": [ticket(1, minute=1)], "has_more": True}),
                       rate_limited(retry_after=0), server_error(503))
            ids = _read(source)
    assert ids == [1, 3, 4, 5]  # the injected first page, then pages 2 and 3 after the retried failures
    assert api.count("/v1/tickets") == 5


def test_a_malformed_page_is_an_error_not_the_end(tmp_path: Path) -> None:
    with ReplayServer(lambda request: Reply(body={"tickets": None})) as api, \
            TicketsSource(TicketsConfig.model_validate(_config(api.url)), root=tmp_path) as source, \
            pytest.raises(ConfigError, match="no `tickets` list"):
        _read(source)


def test_a_wrong_token_names_the_field_never_the_value(tmp_path: Path) -> None:
    with ReplayServer(TicketsApi([])) as api:
        config = TicketsConfig.model_validate(_config(api.url, api_token="not-the-token"))
        with TicketsSource(config, root=tmp_path) as source, pytest.raises(AuthError) as refused:
            source.check()
    assert "api_token" in str(refused.value)
    assert "not-the-token" not in str(refused.value)
