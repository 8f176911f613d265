"""HTTP/1.1 under httpx's API on the standard library's `http.client`: the same requests, a cheaper wire.

httpx's own transport (httpcore + h11) spent ~0.8 ms of CPU per 290 KB JSON page on 127.0.0.1,
where `http.client` spends ~0.13 ms: it reads a Content-Length body with one buffered read in C,
where h11 takes it in 64 KiB pieces through Python. That was 10-15 % of a whole sync's CPU. So
`HttpClient` keeps httpx for everything a request is (URL, headers, auth, redirects, cookies,
content decoding, the Response) and sends plain HTTP/1.1 through `StdlibTransport`. httpx's own
transport still serves `http2: true`, proxies named in the environment (HTTPS_PROXY, …) and tests'
transports (`HttpClient(transport=…)`).

What it keeps of httpx's transport:
- **Keep-alive**, per (scheme, host, port), shared by threads; an idle connection that became
  readable (the server closed it, or sent what nobody asked for) is dropped, not reused.
- **TLS** with the client's SSL context (certificates and host name checked); made only when the
  first https connection is, so plain-http connections never load the CA bundle.
- **Timeouts**: httpx's connect, read and write timeouts per socket operation, each capped by the
  attempt's total deadline (`connectors.http.deadline`): a server trickling its body still runs out.
- **Errors**: httpx's classes (ConnectError, ConnectTimeout, ReadTimeout, WriteTimeout, ReadError,
  WriteError, RemoteProtocolError), so retries and messages are what they were.
- **Bodies**: bytes as sent (httpx decodes gzip and the like), delimited by Content-Length, chunked
  or the end of the connection; one read for a body of known length up to `WHOLE_BODY`, pieces
  of `READ_CHUNK` bytes otherwise (httpx joins them, as it joined h11's).
"""

from __future__ import annotations

import http.client
import io
import select
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from connectors.http.deadline import expired_message, operation_timeout

READ_CHUNK = 1 << 20
"""Largest piece of a body read at once; a body of known length up to WHOLE_BODY is read in one go."""
WHOLE_BODY = 16 << 20
_DEFAULT_PORTS = {"http": 80, "https": 443}
Key = tuple[str, str, int]
"""(scheme, host, port) of a pooled connection."""


class _Wire:
    """A connection's socket as `http.client` sees it: every operation bounded by the timeouts
    of the request being sent and the attempt's total deadline."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.read_timeout: float | None = None
        self.write_timeout: float | None = None
        self._timeout: float | None = -1.0  # what the socket has now (-1: unknown)

    def _bound(self, timeout: float | None, error: type[httpx.TimeoutException]) -> bool:
        limit, capped = operation_timeout(timeout, error)
        if limit != self._timeout:  # settimeout is a system call: only when it changes
            self.sock.settimeout(limit)
            self._timeout = limit
        return capped

    def sendall(self, data: bytes) -> None:
        capped = self._bound(self.write_timeout, httpx.WriteTimeout)
        try:
            self.sock.sendall(data)
        except TimeoutError as exc:
            raise httpx.WriteTimeout(expired_message() if capped else "timed out") from exc
        except OSError as exc:
            raise httpx.WriteError(str(exc) or type(exc).__name__) from exc

    def recv_into(self, buffer: memoryview) -> int:
        capped = self._bound(self.read_timeout, httpx.ReadTimeout)
        try:
            return self.sock.recv_into(buffer)
        except TimeoutError as exc:
            raise httpx.ReadTimeout(expired_message() if capped else "timed out") from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__) from exc

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_WireReader(self), buffer_size=1 << 16)

    def idle_but_readable(self) -> bool:
        """An idle keep-alive connection with something to read: closed by the server, or garbage.

        poll, not select: select refuses descriptors above 1023, which a busy process reaches."""
        try:
            if hasattr(select, "poll"):
                poller = select.poll()
                poller.register(self.sock, select.POLLIN)
                return bool(poller.poll(0))
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def close(self) -> None:
        self.sock.close()


class _WireReader(io.RawIOBase):
    def __init__(self, wire: _Wire) -> None:
        self._wire = wire

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._wire.recv_into(memoryview(buffer).cast("B"))


class _Connection(http.client.HTTPConnection):
    """`http.client`'s connection on a `_Wire` we connected ourselves (TLS included)."""

    def __init__(self, key: Key, wire: _Wire) -> None:
        super().__init__(key[1], key[2])
        self.key = key
        self.wire = wire
        self.sock = wire  # duck-typed: sendall, makefile, close are all http.client asks of it

    def connect(self) -> None:  # never reopened behind our back: a dropped connection is replaced
        raise http.client.NotConnected("connection already closed")


class _Body(httpx.SyncByteStream):
    """A response's body, read on demand; its connection goes back to the pool once it is all read."""

    def __init__(self, transport: StdlibTransport, connection: _Connection, response: http.client.HTTPResponse,
                 request: httpx.Request) -> None:
        self._transport = transport
        self._connection: _Connection | None = connection
        self._response = response
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        response = self._response
        try:
            length = response.length
            if length is not None and length <= WHOLE_BODY:
                yield response.read()
            else:
                while chunk := response.read(READ_CHUNK):
                    yield chunk
        except http.client.IncompleteRead as exc:
            self._drop()
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body "
                                            f"({_incomplete(exc)})", request=self._request) from exc
        except (http.client.HTTPException, ValueError) as exc:
            self._drop()
            raise httpx.RemoteProtocolError(f"malformed response body: {type(exc).__name__}",
                                            request=self._request) from exc
        except BaseException as exc:
            self._drop()
            if isinstance(exc, httpx.TransportError):
                exc.request = self._request
            raise

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if self._response.isclosed() and not self._response.will_close:
            self._transport.release(connection)
        else:  # not read to the end, or the server closes it: not reusable
            self._response.close()
            connection.close()

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


def _incomplete(exc: http.client.IncompleteRead) -> str:
    expected = f" of {exc.expected + len(exc.partial)}" if exc.expected is not None else ""
    return f"{len(exc.partial)}{expected} bytes received"


class StdlibTransport(httpx.BaseTransport):
    """HTTP/1.1 keep-alive transport on `http.client` (see the module docstring). Thread-safe."""

    def __init__(self, ssl_context: Callable[[], ssl.SSLContext], *, max_idle: int = 8) -> None:
        """`ssl_context`: called at the first https connection. `max_idle`: idle connections kept per host."""
        self._ssl_context = ssl_context
        self._max_idle = max_idle
        self._idle: dict[Key, list[_Connection]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in _DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"Request URL has an unsupported protocol '{scheme}://'.",
                                            request=request)
        if not url.host:
            raise httpx.UnsupportedProtocol("Request URL is missing a host.", request=request)
        key = (scheme, url.host, url.port or _DEFAULT_PORTS[scheme])
        timeouts = request.extensions.get("timeout", {})
        body = request.read()
        connection = self._idle_connection(key) or self._connect(key, timeouts.get("connect"), request)
        connection.wire.read_timeout = timeouts.get("read")
        connection.wire.write_timeout = timeouts.get("write")
        try:
            response = self._exchange(connection, request, body)
        except BaseException:
            connection.close()
            raise
        headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.msg.items()]
        version = b"HTTP/1.0" if response.version == 10 else b"HTTP/1.1"
        return httpx.Response(response.status, headers=headers, stream=_Body(self, connection, response, request),
                              extensions={"http_version": version,
                                          "reason_phrase": response.reason.encode("latin-1")})

    def _exchange(self, connection: _Connection, request: httpx.Request, body: bytes) -> http.client.HTTPResponse:
        chunked = request.headers.get("transfer-encoding", "").lower() == "chunked"
        try:
            connection.putrequest(request.method, request.url.raw_path.decode("ascii"), skip_host=True,
                                  skip_accept_encoding=True)
            for name, value in request.headers.raw:
                connection.putheader(name, value)
            if chunked:  # httpx announced a streamed body, now read whole: sent as one chunk
                connection.endheaders()
                connection.send((b"%x\r\n%b\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n")
            else:
                connection.endheaders(body or None)
            response = connection.getresponse()
        except (http.client.InvalidURL, ValueError) as exc:  # a header or path http.client will not write
            raise httpx.LocalProtocolError(f"cannot write the request: {type(exc).__name__}",
                                           request=request) from exc
        except http.client.RemoteDisconnected as exc:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.",
                                            request=request) from exc
        except http.client.HTTPException as exc:  # a status line or headers that are not HTTP
            raise httpx.RemoteProtocolError(f"malformed response: {type(exc).__name__}", request=request) from exc
        except httpx.TransportError as exc:
            exc.request = request
            raise
        lengths = {value.strip() for value in response.msg.get_all("content-length") or ()}
        if len(lengths) > 1 or any(not value.isdigit() for value in lengths):
            # http.client would read such a body to the end of the connection, or take the first
            # of two lengths and then read the rest as the next response: refused, as h11 did.
            raise httpx.RemoteProtocolError("malformed response: Content-Length is not one number",
                                            request=request)
        return response

    def _idle_connection(self, key: Key) -> _Connection | None:
        while True:
            with self._lock:
                idle = self._idle.get(key)
                connection = idle.pop() if idle else None
            if connection is None or not connection.wire.idle_but_readable():
                return connection
            connection.close()

    def _connect(self, key: Key, timeout: float | None, request: httpx.Request) -> _Connection:
        scheme, host, port = key
        context = self._ssl_context() if scheme == "https" else None
        limit, capped = operation_timeout(timeout, httpx.ConnectTimeout)
        sock: socket.socket | None = None
        try:
            sock = socket.create_connection((host, port), timeout=limit)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if context is not None:
                sock = context.wrap_socket(sock, server_hostname=host)
        except TimeoutError as exc:
            _close(sock)
            raise httpx.ConnectTimeout(expired_message() if capped else "timed out", request=request) from exc
        except OSError as exc:  # refused, unreachable, unknown host, TLS refused or not trusted
            _close(sock)
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        return _Connection(key, _Wire(sock))

    def release(self, connection: _Connection) -> None:
        """A connection whose response was read to the end: kept for the next request to its host."""
        with self._lock:
            idle = self._idle.setdefault(connection.key, [])
            if not self._closed and len(idle) < self._max_idle:
                idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()


def _close(sock: socket.socket | None) -> None:
    if sock is not None:
        sock.close()
