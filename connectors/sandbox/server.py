"""The sandbox PMS as a real HTTP API on 127.0.0.1, so tests, demos and benchmarks exercise the
same network path (keep-alive, auth headers, paging, JSON) as a vendor's API, with no account.

Standard library only (`ThreadingHTTPServer`): one daemon thread per connection, HTTP/1.1
keep-alive. Endpoints (all need `X-API-Key: <key>` or `Authorization: Bearer <key>`):

    GET  /v1/health                      {"status": "ok"}
    GET  /v1/{stream}?limit=&cursor=&updated_since=&include_deleted=
                                         {"data": [...], "next_cursor": "<token>" | null}
    GET  /v1/properties/{id}/{units|leases|work_orders}?...   the same listing, one property's records
    PUT  /v1/{stream}/{id}               update a record with the JSON body's fields -> {"data": record}
    POST /v1/{stream}                    create a record -> 201 {"data": record}
    POST /v1/_admin/mutate               {"stream", "update", "insert", "delete", "seed"} -> ids touched
    POST /v1/_admin/faults               a `FaultConfig` (see `faults`) -> the settings now in force

Errors are JSON `{"error": <code>, "message": ..., ["param": ...]}` with status 400/401/404/405/413,
429 (rate limit, with Retry-After) and 500/502/503 (injected faults). Writes accept what the
server's `variant` accepts (`connectors.sandbox.writes`: `limited` refuses `notes` on residents and
creating units, with a 400 naming the field). Listings answer with records
ordered by (updated_at, id); a record deleted at the source leaves them, and comes back as a
tombstone (`deleted_at` set) when `include_deleted=true`.
"""

from __future__ import annotations

import hmac
import logging
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import orjson

from connectors.sandbox.api import ApiError, MutateRequest, bad_param, parse_body, parse_list_query
from connectors.sandbox.dataset import InvalidCursorError, SandboxDataset, UnknownStreamError
from connectors.sandbox.faults import DEFAULT_RATE_LIMIT_PER_MINUTE, FaultConfig, FaultInjector
from connectors.sandbox.schema import PROPERTY_CHILDREN, STREAM_NAMES
from connectors.sandbox.writes import Variant, write_declaration
from protocol.errors import ConfigError
from protocol.writes import WriteOperation, validate_write

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20
REQUEST_LOG_SIZE = 10_000

RequestLogEntry = tuple[float, str, str, int]
"""(time.monotonic() when the request arrived, method, path with query, status); status 0 = dropped."""
_FAULT_CODES = {500: "internal_error", 502: "bad_gateway", 503: "service_unavailable", 429: "rate_limited"}


class _Dropped(Exception):
    """An injected fault: close the connection without answering."""


class _Handler(BaseHTTPRequestHandler):
    """One connection; `server` is the `_HTTPServer` that holds the sandbox."""

    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse one connection for every page
    # Headers and body go out in separate writes; with Nagle on, the body waits ~40 ms for an ACK.
    disable_nagle_algorithm = True
    server: _HTTPServer
    timeout = 120  # an idle keep-alive connection gives its thread back after this many seconds

    def setup(self) -> None:
        super().setup()
        self.server.sandbox.track_connection(self.connection, open_=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.sandbox.track_connection(self.connection, open_=False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        # The stdlib writes every request to stderr; the request log and DEBUG logging replace that.
        log.debug("sandbox %s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        arrived = time.monotonic()
        status, headers = 500, dict[str, str]()
        try:
            status, body, headers = self._handle(method)
        except _Dropped:
            self.close_connection = True  # the client sees the connection close with no response
            self.server.sandbox.log_request(arrived, method, self.path, 0)
            return
        except ApiError as exc:
            status, body, headers = exc.status, exc.body(), exc.headers
        except Exception:
            # A bug in the sandbox: answer 500 (clients treat it as transient) and log the traceback.
            log.exception("sandbox: unhandled error serving %s %s", method, urlsplit(self.path).path)
            body = {"error": "internal_error", "message": "the sandbox failed to serve this request"}
        # Logged before answering: once a client has its response, the log already shows the request.
        self.server.sandbox.log_request(arrived, method, self.path, status)
        self._send(status, body, headers)

    def _handle(self, method: str) -> tuple[int, Any, dict[str, str]]:
        """Faults, authentication and the rate limit, then the endpoint itself."""
        url = urlsplit(self.path)
        path = url.path.rstrip("/")
        body = self._read_body()  # always drain it, so the keep-alive connection stays in sync
        faults = self.server.sandbox.faults
        admin = path.startswith("/v1/_admin/")  # never faulted: tests must always reach it
        if not admin:
            fault = faults.fault()
            if fault is not None and fault.drop:
                raise _Dropped
            if fault is not None:
                extra = {"Retry-After": "1"} if fault.status == 429 else None
                raise ApiError(fault.status, _FAULT_CODES.get(fault.status, "injected_fault"),
                               f"injected fault: HTTP {fault.status}", headers=extra)
        key = self._authenticate()
        headers: dict[str, str] = {}
        if not admin:
            verdict = faults.admit(key)
            if verdict is not None:
                headers = verdict.headers
                if not verdict.allowed:
                    raise ApiError(429, "rate_limited",
                                   f"rate limit of {faults.config.rate_limit_per_minute} requests per minute "
                                   f"exceeded; retry after {verdict.retry_after} s", headers=headers)
            if faults.slow_seconds():
                time.sleep(faults.slow_seconds())  # a slow upstream, not synchronisation
        status, payload = self._route(method, path, url.query, body)
        return status, payload, headers

    def _route(self, method: str, path: str, query: str, body: bytes) -> tuple[int, Any]:
        if path == "/v1/health":
            self._allow(method, "GET")
            return 200, {"status": "ok"}
        if path == "/v1/_admin/mutate":
            self._allow(method, "POST")
            return 200, self._mutate(body)
        if path == "/v1/_admin/faults":
            self._allow(method, "POST")
            return 200, self._set_faults(body)
        parts = path.split("/")
        if len(parts) == 3 and parts[1] == "v1" and parts[2]:
            if method == "POST":
                return 201, self._write(parts[2], None, body)
            self._allow(method, "GET")
            return 200, self._list(parts[2], query)
        if len(parts) == 4 and parts[1] == "v1" and parts[2] in STREAM_NAMES:
            self._allow(method, "PUT")
            return 200, self._write(parts[2], parts[3], body)
        if len(parts) == 5 and parts[1:3] == ["v1", "properties"] and parts[4] in PROPERTY_CHILDREN:
            self._allow(method, "GET")
            return 200, self._list(parts[4], query, property_id=parts[3])
        raise ApiError(404, "not_found", f"no such endpoint: {path or '/'}")

    def _read_body(self) -> bytes:
        length_header = self.headers.get("Content-Length") or "0"
        if not length_header.isdigit():
            raise ApiError(400, "bad_request", "invalid Content-Length")
        length = int(length_header)
        if length > MAX_BODY:
            self.close_connection = True  # the unread body would corrupt the next request
            raise ApiError(413, "body_too_large", f"request body over {MAX_BODY} bytes")
        return self.rfile.read(length) if length else b""

    def _authenticate(self) -> str:
        sent = self.headers.get("X-API-Key")
        if sent is None:
            scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
            sent = token.strip() if scheme.lower() == "bearer" else None
        expected = self.server.sandbox.api_key
        # Constant-time comparison; the message never repeats what was sent.
        if sent is None or not hmac.compare_digest(sent.encode(), expected.encode()):
            raise ApiError(401, "invalid_api_key", "missing or invalid API key: send it in the X-API-Key header "
                                                   "(or Authorization: Bearer)")
        return sent

    @staticmethod
    def _allow(method: str, allowed: str) -> None:
        if method != allowed:
            raise ApiError(405, "method_not_allowed", f"use {allowed} on this endpoint")

    def _list(self, stream: str, query: str, property_id: str | None = None) -> dict[str, Any]:
        dataset = self.server.sandbox.dataset
        if stream not in dataset.streams:
            raise ApiError(404, "unknown_stream", f"unknown stream {stream!r} (streams: {', '.join(dataset.streams)})")
        kwargs = parse_list_query(query)
        if property_id is not None:
            found = dataset.get("properties", int(property_id)) if property_id.isdigit() else None
            if found is None or found["deleted_at"] is not None:
                raise ApiError(404, "not_found", f"no property with id {property_id[:40]!r}")
            kwargs["property_id"] = int(property_id)
        try:
            data, next_cursor = dataset.page(stream, **kwargs)
        except InvalidCursorError as exc:
            raise bad_param("cursor", str(exc)) from None
        return {"data": data, "next_cursor": next_cursor}

    def _mutate(self, body: bytes) -> dict[str, list[int]]:
        request = parse_body(MutateRequest, body)
        try:
            return self.server.sandbox.dataset.mutate(request.stream, update=request.update, insert=request.insert,
                                                      delete=request.delete, seed=request.seed)
        except UnknownStreamError as exc:
            raise ApiError(404, "unknown_stream", str(exc)) from None
        except ValueError as exc:
            raise ApiError(400, "invalid_parameter", str(exc)) from None

    def _write(self, stream: str, record_id: str | None, body: bytes) -> dict[str, Any]:
        """A client's create (record_id None) or update, checked as this sandbox's variant accepts it."""
        if stream not in STREAM_NAMES:
            raise ApiError(404, "unknown_stream", f"unknown stream {stream!r}")
        if record_id is not None and not record_id.isdigit():
            raise ApiError(404, "not_found", f"no {stream} record with id {record_id[:40]!r}")
        try:
            fields = orjson.loads(body or b"null")
            operation = WriteOperation.CREATE if record_id is None else WriteOperation.UPDATE
            write = validate_write(write_declaration(self.server.sandbox.variant), stream, operation, fields)
        except orjson.JSONDecodeError:
            raise ApiError(400, "invalid_json", "the request body is not JSON") from None
        except ConfigError as exc:
            raise ApiError(400, "invalid_parameter", str(exc)) from None
        record = self.server.sandbox.dataset.write(stream, None if record_id is None else int(record_id),
                                                   write.payload)
        if record is None:
            raise ApiError(404, "not_found", f"no {stream} record with id {record_id}")
        return {"data": record}

    def _set_faults(self, body: bytes) -> dict[str, Any]:
        config = parse_body(FaultConfig, body)
        self.server.sandbox.faults.configure(config)
        return config.model_dump()

    def _send(self, status: int, body: Any, headers: dict[str, str]) -> None:
        payload = orjson.dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
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

    def __init__(self, dataset: SandboxDataset, api_key: str, host: str = "127.0.0.1", port: int = 0, *,
                 faults: FaultConfig | None = None, variant: Variant = "full") -> None:
        if not api_key:
            raise ValueError("the sandbox needs a non-empty api_key")
        self.dataset = dataset
        self.api_key = api_key
        self.variant: Variant = variant
        """Which writes it accepts (`connectors.sandbox.writes`)."""
        self.host = host
        self.port = port
        self.faults = FaultInjector()
        if faults is not None:
            self.faults.configure(faults)
        self.request_log: list[RequestLogEntry] = []
        """One `RequestLogEntry` per request (admin ones included); the newest REQUEST_LOG_SIZE."""
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

    def track_connection(self, conn: socket.socket, *, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def set_faults(self, fail_first: int = 0, status: int = 503, error_rate: float = 0, drop_rate: float = 0,
                   slow_ms: int = 0, seed: int = 0, rate_limit_per_minute: int | None = None,
                   rate_limit_burst: int | None = None) -> FaultConfig:
        """Replace the fault settings (all off by default; see `connectors.sandbox.faults`).

        Same as POST /v1/_admin/faults. Raises pydantic's ValidationError for impossible settings.
        """
        config = FaultConfig(fail_first=fail_first, status=status, error_rate=error_rate, drop_rate=drop_rate,
                             slow_ms=slow_ms, seed=seed, rate_limit_per_minute=rate_limit_per_minute,
                             rate_limit_burst=rate_limit_burst)
        self.faults.configure(config)
        return config

    def log_request(self, arrived: float, method: str, path: str, status: int) -> None:
        with self._lock:
            self.request_log.append((arrived, method, path, status))
            if len(self.request_log) > REQUEST_LOG_SIZE:
                # Trim a tenth at a time, so appends stay O(1) amortised.
                del self.request_log[: len(self.request_log) - REQUEST_LOG_SIZE + REQUEST_LOG_SIZE // 10]


def serve(host: str = "127.0.0.1", port: int = 8765, seed: int = 42, scale: int = 10,
          counts: dict[str, int] | None = None, api_key: str = "rooftop-sandbox", *,
          rate_limit_per_minute: int | None = None, error_rate: float = 0, drop_rate: float = 0,
          slow_ms: int = 0, variant: Variant = "full") -> None:
    """Serve the sandbox until Ctrl-C (the `rooftop sandbox` command).

    The keyword options switch on the real-PMS behaviour (`rate_limit_per_minute=0` means the
    default model, DEFAULT_RATE_LIMIT_PER_MINUTE); they can also be changed while it runs through
    POST /v1/_admin/faults.
    """
    dataset = SandboxDataset(seed=seed, scale=scale, counts=counts)
    limit = DEFAULT_RATE_LIMIT_PER_MINUTE if rate_limit_per_minute == 0 else rate_limit_per_minute
    faults = FaultConfig(rate_limit_per_minute=limit, error_rate=error_rate, drop_rate=drop_rate, slow_ms=slow_ms)
    with SandboxServer(dataset, api_key=api_key, host=host, port=port, faults=faults, variant=variant) as server:
        sizes = ", ".join(f"{name} {n:,}" for name, n in dataset.counts.items())
        print(f"Sandbox PMS API on {server.url} (seed {seed}: {sizes})", flush=True)
        print("Send the API key in the X-API-Key header; Ctrl-C to stop.", flush=True)
        if faults != FaultConfig():
            print(f"Faults: {faults.model_dump(exclude_defaults=True)}", flush=True)
        stopped = threading.Event()
        try:
            while not stopped.wait(3600):
                pass
        except KeyboardInterrupt:
            print("Sandbox stopped.", flush=True)
