"""A JSON API on 127.0.0.1 for connector tests: recorded or generated pages, counted requests, faults.

A connector is only tested when it talks to a real socket: keep-alive, a dropped connection, a slow
body against the client's deadline and a `Retry-After` only happen there. `ReplayServer(route)`
serves a Python function (`route(request) -> Reply`, which may generate pages from a list of
records) or a `Recording` (replies looked up by method, path and query, e.g. captured from the
vendor's API) on a free port, records every request (`requests`, `count(path)`), and injects
faults on demand (`inject(path, unauthorized(), rate_limited(1), server_error(), dropped())`) ahead
of the route's own answers. Stdlib only (plus orjson), real sockets, one thread per connection.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

import orjson


@dataclass(frozen=True)
class Request:
    """One request as the server received it (`query` holds the last value of each parameter)."""

    at: float
    """When it arrived (time.monotonic())."""
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    """Lower-case names."""
    body: bytes


@dataclass
class Reply:
    """What the server answers: a status, a JSON body (or raw bytes), headers, or a fault."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    """Close the connection without answering."""
    trickle: float | None = None
    """Send the body one byte every this many seconds (the whole Content-Length is announced first)."""
    raw: bytes | None = None
    """Send these bytes as the body instead of `body` as JSON (set a Content-Type in `headers`)."""


Route = Callable[[Request], Reply]
"""A function answering every request the server receives."""


def unauthorized(message: str = "invalid credentials") -> Reply:
    """401 with a JSON message: the connector must fail at once with an AuthError, without retrying."""
    return Reply(401, {"message": message})


def rate_limited(retry_after: float = 0) -> Reply:
    """429 with `Retry-After`: the client waits that long (every stream of the connection), then retries."""
    return Reply(429, {"message": "too many requests"}, headers={"Retry-After": f"{retry_after:g}"})


def server_error(status: int = 503) -> Reply:
    """A 5xx: retried with backoff up to the connection's `retries.attempts`."""
    return Reply(status, {"message": "temporarily unavailable"})


def dropped() -> Reply:
    """The connection closed without an answer: retried like a network error."""
    return Reply(drop=True)


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: Mapping[str, str]
    reply: Reply


class Recording:
    """A route answering recorded replies: the first entry whose method and path equal the request's
    and whose `query` is contained in the request's query. Anything else is a 404 naming the request,
    so a connector asking for a page nobody recorded fails loudly instead of reading an empty page.
    """

    def __init__(self) -> None:
        self.entries: list[Recorded] = []

    def add(self, path: str, body: Any, *, query: Mapping[str, Any] | None = None, method: str = "GET",
            status: int = 200, headers: Mapping[str, str] | None = None) -> Self:
        """Record one reply; query values are compared as text (`{"page": 2}` matches `?page=2`)."""
        wanted = {k: str(v) for k, v in (query or {}).items()}
        self.entries.append(Recorded(method.upper(), path, wanted, Reply(status, body, dict(headers or {}))))
        return self

    @classmethod
    def load(cls, file: Path) -> Recording:
        """Entries from a JSON file: `[{"path", "body", "query"?, "method"?, "status"?, "headers"?}, ...]`."""
        recording = cls()
        for entry in orjson.loads(file.read_bytes()):
            recording.add(entry["path"], entry.get("body"), query=entry.get("query"),
                          method=entry.get("method", "GET"), status=entry.get("status", 200),
                          headers=entry.get("headers"))
        return recording

    def __call__(self, request: Request) -> Reply:
        for entry in self.entries:
            if (entry.method == request.method and entry.path == request.path
                    and all(request.query.get(k) == v for k, v in entry.query.items())):
                return entry.reply
        return Reply(404, {"message": f"nothing recorded for {request.method} {request.path} {request.query}"})


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
            queued = self.server.faults.get(request.path)
            injected = queued.popleft() if queued else None
        reply = injected if injected is not None else self.server.route(request)
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
    faults: dict[str, deque[Reply]]
    lock: threading.Lock
    stopping: threading.Event


class ReplayServer:
    """`with ReplayServer(route) as api:` serves `route` at `api.url` (http://127.0.0.1:<port>) until the block ends."""

    __test__ = False  # not a pytest test class

    def __init__(self, route: Route) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.route = route
        self._server.requests = []
        self._server.faults = {}
        self._server.lock = threading.Lock()
        self._server.stopping = threading.Event()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def requests(self) -> list[Request]:
        """Every request received so far, in arrival order (a copy)."""
        with self._server.lock:
            return list(self._server.requests)

    def count(self, path: str | None = None) -> int:
        """How many requests arrived for `path` (all paths when None), faults and retries included."""
        with self._server.lock:
            return sum(1 for r in self._server.requests if path is None or r.path == path)

    def inject(self, path: str, *replies: Reply) -> None:
        """Answer the next requests for `path` with `replies`, in order, before the route answers again."""
        with self._server.lock:
            self._server.faults.setdefault(path, deque()).extend(replies)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
