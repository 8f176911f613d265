"""A tiny programmable JSON API on 127.0.0.1 for HTTP tests (real sockets).

The sandbox speaks one API style; tests of other paginators, auth schemes and failure modes need
servers that behave in exactly one other way each. A test passes a `route(request) -> Reply`
function; every request is recorded (arrival time, method, path, query, headers) in `requests`.
A reply may also trickle its body (one byte per interval: the slow server a total deadline is for)
or send its body as raw bytes (bodies that are not JSON).

The server is the plugin SDK's test kit (`connectors.sdk.testing.ReplayServer`), so Rooftop's own
tests use exactly what a connector author gets; `TestApi` is its name here.
"""

from __future__ import annotations

from typing import Any

from connectors.sdk.replay import ReplayServer, Reply, Request, Route

__all__ = ["CursorPages", "Reply", "Request", "Route", "TestApi"]

TestApi = ReplayServer


class CursorPages:
    """A route serving `records` `size` at a time: `{"data": [...], "next_cursor": "20"}` (null at the end).

    `bad[start]`, if set, answers the page that starts at record `start` instead: the way to make
    a later page of a series fail. `records` and `bad` may be changed between syncs.
    """

    def __init__(self, records: list[dict[str, Any]], size: int) -> None:
        self.records = records
        self.size = size
        self.bad: dict[int, Reply] = {}

    def __call__(self, request: Request) -> Reply:
        start = int(request.query.get("cursor") or 0)
        if start in self.bad:
            return self.bad[start]
        end = start + self.size
        return Reply(body={"data": self.records[start:end],
                           "next_cursor": str(end) if end < len(self.records) else None})
