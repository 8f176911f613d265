"""A tiny programmable JSON API on 127.0.0.1 for HTTP tests (stdlib only, real sockets).

The sandbox speaks one API style; tests of other paginators, auth schemes and failure modes need
servers that behave in exactly one other way each. A test passes a `route(request) -> Reply`
function; every request is recorded (arrival time, method, path, query, headers) in `requests`.
A reply may also trickle its body (one byte per interval: the slow server a total deadline is for)
or send its body as raw bytes (bodies that are not JSON).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

import orjson


@dataclass(frozen=True)
class Request:
    at: float
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    """Close the connection without answering."""
    trickle: float | None = None
    """Send the body one byte every this many seconds (the whole Content-Length is announced first)."""
    raw: bytes | None = None
    """Send these bytes as the body instead of `body` as JSON."""


Route = Callable[[Request], Reply]


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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        return None

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        arrived = time.monotonic()
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(arrived, method, url.path, dict(parse_qsl(url.query, keep_blank_values=True)),
                          {k.lower(): v for k, v in self.headers.items()}, body)
        with self.server.lock:
            self.server.requests.append(request)
        reply = self.server.route(request)
        if reply.drop:
            self.close_connection = True
            return
        payload = reply.raw if reply.raw is not None else b"" if reply.body is None else orjson.dumps(reply.body)
        self.send_response(reply.status)
        if not any(name.lower() == "content-type" for name in reply.headers):  # e.g. an XML reply's own
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if reply.trickle is None:
            self.wfile.write(payload)
            return
        self.wfile.flush()
        for i in range(len(payload)):
            # Waiting on the stop event: the server's shutdown ends a trickle at once.
            if self.server.stopping.wait(reply.trickle):
                break
            try:
                self.wfile.write(payload[i:i + 1])
                self.wfile.flush()
            except OSError:  # the client gave up (its deadline): that is the point
                break
        self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    route: Route
    requests: list[Request]
    lock: threading.Lock
    stopping: threading.Event


class TestApi:
    """`with TestApi(route) as api:` serves `route` at `api.url` until the block ends."""

    __test__ = False  # not a pytest test class

    def __init__(self, route: Route) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.route = route
        self._server.requests = []
        self._server.lock = threading.Lock()
        self._server.stopping = threading.Event()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def requests(self) -> list[Request]:
        with self._server.lock:
            return list(self._server.requests)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
