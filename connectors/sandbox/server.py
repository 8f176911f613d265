"""The sandbox PMS as a real HTTP API on 127.0.0.1, so tests, demos and benchmarks exercise the
same network path (keep-alive, auth headers, paging, JSON) as a vendor's API, with no account.

Standard library only (`ThreadingHTTPServer`): one daemon thread per connection, HTTP/1.1
keep-alive. Endpoints (all need `X-API-Key: <key>` or `Authorization: Bearer <key>`):

    GET  /v1/health                      {"status": "ok"}
    GET  /v1/{stream}?limit=&cursor=&updated_since=&include_deleted=
                                         {"data": [...], "next_cursor": "<token>" | null}
    POST /v1/_admin/mutate               {"stream", "update", "insert", "delete", "seed"} -> ids touched

Errors are JSON `{"error": <code>, "message": ..., ["param": ...]}` with status 400/401/404/405/413.
"""

from __future__ import annotations

import hmac
import logging
import socket
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.sandbox.dataset import InvalidCursorError, SandboxDataset, UnknownStreamError
from protocol.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 1000
MAX_LIMIT = 5000
MAX_BODY = 1 << 20
REQUEST_LOG_SIZE = 10_000
_LIST_PARAMS = frozenset({"limit", "cursor", "updated_since", "include_deleted"})
_BOOLS = {"true": True, "1": True, "false": False, "0": False}

RequestLogEntry = tuple[float, str, str, int]


class MutateRequest(BaseModel):
    """The body of POST /v1/_admin/mutate."""

    model_config = ConfigDict(extra="forbid")
    stream: str
    update: float = Field(0.1, ge=0, le=1)
    insert: float = Field(0.05, ge=0, le=10)
    delete: float = Field(0.02, ge=0, le=1)
    seed: int | None = None


class ApiError(Exception):
    """An HTTP error response; the handler turns it into the JSON error body."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.param is not None:
            body["param"] = self.param
        return body


def _bad_param(param: str, message: str) -> ApiError:
    return ApiError(400, "invalid_parameter", f"{param}: {message}", param)


def parse_list_query(query: str) -> dict[str, Any]:
    """Validate a listing's query string into `SandboxDataset.page` keyword arguments."""
    params = parse_qs(query, keep_blank_values=True)
    for name, values in params.items():
        if name not in _LIST_PARAMS:
            raise _bad_param(name, f"unknown parameter (allowed: {', '.join(sorted(_LIST_PARAMS))})")
        if len(values) > 1:
            raise _bad_param(name, "given more than once")
    raw = {name: values[0] for name, values in params.items()}
    out: dict[str, Any] = {"limit": DEFAULT_LIMIT, "after": raw.get("cursor") or None,
                           "updated_since": None, "include_deleted": False}
    if "limit" in raw:
        if not raw["limit"].isdigit() or not 1 <= int(raw["limit"]) <= MAX_LIMIT:
            raise _bad_param("limit", f"must be an integer from 1 to {MAX_LIMIT}, got {raw['limit'][:40]!r}")
        out["limit"] = int(raw["limit"])
    if raw.get("updated_since"):
        try:
            since = datetime.fromisoformat(raw["updated_since"])
        except ValueError:
            raise _bad_param("updated_since", "must be an ISO-8601 timestamp such as 2024-03-01T12:00:00Z, "
                                              f"got {raw['updated_since'][:40]!r}") from None
        out["updated_since"] = since if since.tzinfo else since.replace(tzinfo=UTC)
    if "include_deleted" in raw:
        flag = _BOOLS.get(raw["include_deleted"].lower())
        if flag is None:
            raise _bad_param("include_deleted", f"must be true or false, got {raw['include_deleted'][:40]!r}")
        out["include_deleted"] = flag
    return out


class _Handler(BaseHTTPRequestHandler):
    """One connection; `server` is the `_HTTPServer` that holds the sandbox."""

    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse one connection for every page
    # Headers and body go out in separate writes; with Nagle on, the body waits ~40 ms for an ACK.
    disable_nagle_algorithm = True
    server: _HTTPServer
    timeout = 120  # an idle keep-alive connection gives its thread back after this many seconds

    def setup(self) -> None:
        super().setup()
        self.server.sandbox._track(self.connection, open_=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.sandbox._track(self.connection, open_=False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        # The stdlib writes every request to stderr; the request log and DEBUG logging replace that.
        log.debug("sandbox %s " + format, self.address_string(), *args)

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        status = 500
        try:
            status, body = self._route(method)
        except ApiError as exc:
            status, body = exc.status, exc.body()
        except Exception:
            # A bug in the sandbox: answer 500 (clients treat it as transient) and log the traceback.
            log.exception("sandbox: unhandled error serving %s %s", method, urlsplit(self.path).path)
            body = {"error": "internal_error", "message": "the sandbox failed to serve this request"}
        self._send(status, body)
        self.server.sandbox._log_request(method, self.path, status)

    def _route(self, method: str) -> tuple[int, Any]:
        url = urlsplit(self.path)
        path = url.path.rstrip("/")
        body = self._read_body()  # always drain it, so the keep-alive connection stays in sync
        self._authenticate()
        if path == "/v1/health":
            self._allow(method, "GET")
            return 200, {"status": "ok"}
        if path == "/v1/_admin/mutate":
            self._allow(method, "POST")
            return 200, self._mutate(body)
        parts = path.split("/")
        if len(parts) == 3 and parts[1] == "v1" and parts[2]:
            self._allow(method, "GET")
            return 200, self._list(parts[2], url.query)
        raise ApiError(404, "not_found", f"no such endpoint: {url.path}")

    def _read_body(self) -> bytes:
        length_header = self.headers.get("Content-Length") or "0"
        if not length_header.isdigit():
            raise ApiError(400, "bad_request", "invalid Content-Length")
        length = int(length_header)
        if length > MAX_BODY:
            self.close_connection = True  # the unread body would corrupt the next request
            raise ApiError(413, "body_too_large", f"request body over {MAX_BODY} bytes")
        return self.rfile.read(length) if length else b""

    def _authenticate(self) -> None:
        sent = self.headers.get("X-API-Key")
        if sent is None:
            scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
            sent = token.strip() if scheme.lower() == "bearer" else None
        expected = self.server.sandbox.api_key
        # Constant-time comparison; the message never repeats what was sent.
        if sent is None or not hmac.compare_digest(sent.encode(), expected.encode()):
            raise ApiError(401, "invalid_api_key", "missing or invalid API key: send it in the X-API-Key header "
                                                   "(or Authorization: Bearer)")

    @staticmethod
    def _allow(method: str, allowed: str) -> None:
        if method != allowed:
            raise ApiError(405, "method_not_allowed", f"use {allowed} on this endpoint")

    def _list(self, stream: str, query: str) -> dict[str, Any]:
        dataset = self.server.sandbox.dataset
        if stream not in dataset.streams:
            raise ApiError(404, "unknown_stream", f"unknown stream {stream!r} (streams: {', '.join(dataset.streams)})")
        kwargs = parse_list_query(query)
        try:
            data, next_cursor = dataset.page(stream, **kwargs)
        except InvalidCursorError as exc:
            raise _bad_param("cursor", str(exc)) from None
        return {"data": data, "next_cursor": next_cursor}

    def _mutate(self, body: bytes) -> dict[str, list[int]]:
        try:
            request = MutateRequest.model_validate_json(body or b"{}")
        except ValidationError as exc:
            first = exc.errors()[0]
            param = ".".join(str(p) for p in first["loc"]) or "body"
            raise ApiError(400, "invalid_parameter", f"{param}: {first['msg']}", param) from None
        try:
            return self.server.sandbox.dataset.mutate(request.stream, update=request.update, insert=request.insert,
                                                      delete=request.delete, seed=request.seed)
        except UnknownStreamError as exc:
            raise ApiError(404, "unknown_stream", str(exc)) from None
        except ValueError as exc:
            raise ApiError(400, "invalid_parameter", str(exc)) from None

    def _send(self, status: int, body: Any) -> None:
        payload = orjson.dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Bearer realm="sandbox"')
        self.end_headers()
        self.wfile.write(payload)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # Do not wait for handler threads on close: a client may keep an idle keep-alive connection open.
    block_on_close = False
    sandbox: SandboxServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The stdlib prints these to stderr; a client hanging up mid-response is routine, not a bug.
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError):
            log.debug("sandbox: client %s went away: %s", client_address, exc)
        else:
            log.error("sandbox: error on the connection from %s", client_address, exc_info=exc)


class SandboxServer:
    """Serves a `SandboxDataset` on `host:port` (port 0 = a free port) from a background thread."""

    def __init__(self, dataset: SandboxDataset, api_key: str, host: str = "127.0.0.1", port: int = 0) -> None:
        if not api_key:
            raise ValueError("the sandbox needs a non-empty api_key")
        self.dataset = dataset
        self.api_key = api_key
        self.host = host
        self.port = port
        self.request_log: list[RequestLogEntry] = []
        """(time.monotonic(), method, path with query, status) per request; the newest REQUEST_LOG_SIZE."""
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:  # never shows the key
        return f"SandboxServer(url={self.url if self._httpd else None!r})"

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the sandbox server is not started")
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        if self._httpd is not None:
            return self
        try:
            httpd = _HTTPServer((self.host, self.port), _Handler)
        except OSError as exc:
            raise ConfigError(f"cannot serve the sandbox on {self.host}:{self.port}: {exc.strerror or exc}") from exc
        httpd.sandbox = self
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"sandbox-http-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, close open keep-alive connections, release the port."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)  # wakes the handler thread blocked on reading
            except OSError:
                log.debug("sandbox: connection already closed at stop")
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _track(self, conn: socket.socket, *, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _log_request(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.request_log.append((time.monotonic(), method, path, status))
            if len(self.request_log) > REQUEST_LOG_SIZE:
                # Trim a tenth at a time, so appends stay O(1) amortised.
                del self.request_log[: len(self.request_log) - REQUEST_LOG_SIZE + REQUEST_LOG_SIZE // 10]


def serve(host: str = "127.0.0.1", port: int = 8765, seed: int = 42, scale: int = 10,
          counts: dict[str, int] | None = None, api_key: str = "rooftop-sandbox") -> None:
    """Serve the sandbox until Ctrl-C (the `rooftop sandbox` command)."""
    dataset = SandboxDataset(seed=seed, scale=scale, counts=counts)
    with SandboxServer(dataset, api_key=api_key, host=host, port=port) as server:
        sizes = ", ".join(f"{name} {n:,}" for name, n in dataset.counts.items())
        print(f"Sandbox PMS API on {server.url} (seed {seed}: {sizes})", flush=True)
        print("Send the API key in the X-API-Key header; Ctrl-C to stop.", flush=True)
        stopped = threading.Event()
        try:
            while not stopped.wait(3600):
                pass
        except KeyboardInterrupt:
            print("Sandbox stopped.", flush=True)
