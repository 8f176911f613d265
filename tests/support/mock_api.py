"""The programmable JSON API of `http_api.TestApi`, answered in-process through `httpx.MockTransport`.

Unit tests of the HTTP client's retries and error mapping, of paginators and of auth schemes need
an API that behaves in one exact way, not a socket: the same `route(request) -> Reply` functions
run here without a server thread or a port. `MockApi.transport` goes to `HttpClient(transport=...)`
or `RestApiSource(transport=...)`. What only a real connection can show (a dropped connection, a
trickling body against the total deadline, keep-alive) stays with `TestApi`; such a reply here
fails the test instead of being imitated.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Self
from urllib.parse import parse_qsl

import httpx
import orjson

from tests.support.http_api import Reply, Request, Route


def in_order(*replies: Reply) -> Route:
    """A route answering the given replies in order, then 200 {"ok": true} forever."""
    queue = list(replies)
    lock = threading.Lock()

    def route(request: Request) -> Reply:
        with lock:
            return queue.pop(0) if queue else Reply(body={"ok": True})

    return route


class MockApi:
    """`with MockApi(route) as api:` answers `route` at `api.url` through `api.transport`; records `requests`."""

    __test__ = False  # not a pytest test class
    url = "http://api.test"

    def __init__(self, route: Route) -> None:
        self._route = route
        self._requests: list[Request] = []
        self._lock = threading.Lock()
        self.transport = httpx.MockTransport(self._answer)

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def _answer(self, sent: httpx.Request) -> httpx.Response:
        arrived = time.monotonic()
        # The request target as a server reads it: the raw path, the query parsed as TestApi does.
        path, _, query = sent.url.raw_path.decode("ascii").partition("?")
        request = Request(arrived, sent.method, path, dict(parse_qsl(query, keep_blank_values=True)),
                          {k.lower(): v for k, v in sent.headers.items()}, sent.content)
        with self._lock:
            self._requests.append(request)
        reply = self._route(request)
        if reply.drop or reply.trickle is not None:
            raise ValueError("a dropped connection or a trickling body needs a socket: use TestApi")
        payload = reply.raw if reply.raw is not None else b"" if reply.body is None else orjson.dumps(reply.body)
        return httpx.Response(reply.status, content=payload,
                              headers={"Content-Type": "application/json", **reply.headers})

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None
