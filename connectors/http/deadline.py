"""The total deadline of one HTTP attempt: connect, TLS, sending, waiting and the whole body together.

httpx's timeouts restart at every socket operation, so a server trickling a byte every few seconds
would never time out. Here every socket operation of an attempt gets at most what is left of the
attempt's deadline: `install_deadline` wraps the network backend of an httpx transport's
connection pool, and `attempt_deadline(seconds)` around a send sets the deadline for the sending
thread (a context variable, so no thread per request and no timer). An attempt that runs out
fails with an httpcore timeout (httpx's ReadTimeout, ConnectTimeout, WriteTimeout) whose message
names the deadline, so the client retries it like any other timeout. The standard-library
transport (`connectors.http.stdlib_transport`) bounds its own socket operations the same way,
through `operation_timeout`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx

READ_BYTES = 256 * 1024
"""Bytes asked of the socket per read (httpcore asks 64 KiB). A 1.4 MB page then takes ~6 reads
instead of ~22, each with its own timeout syscall, h11 buffer append and Python round trip: ~4 % of
a sync's CPU at pages of 5,000 records (bench/sandbox_to_duckdb.py). h11 buffers whatever arrives,
so a larger read changes nothing but the number of reads; the deadline applies to each as before."""

_DEADLINE: ContextVar[tuple[float, float] | None] = ContextVar("rooftop_http_deadline", default=None)
"""(monotonic end, seconds) of the attempt this thread is sending; contextvars are per thread."""


@contextmanager
def attempt_deadline(seconds: float) -> Iterator[None]:
    token = _DEADLINE.set((time.monotonic() + seconds, seconds))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def operation_timeout(timeout: float | None, error: type[Exception]) -> tuple[float | None, bool]:
    """The timeout of one socket operation under the current deadline, and whether the deadline set it
    (raises `error` naming the deadline once it has run out). Any transport's socket operations use it."""
    current = _DEADLINE.get()
    if current is None:
        return timeout, False
    end, seconds = current
    left = end - time.monotonic()
    if left <= 0:
        raise error(_expired(seconds))
    if timeout is None or left < timeout:
        return left, True
    return timeout, False


def expired_message() -> str:
    """What a timeout the deadline capped says (call it inside `attempt_deadline`)."""
    current = _DEADLINE.get()
    return _expired(current[1]) if current is not None else "timed out"


def _expired(seconds: float) -> str:
    return f"the request's total deadline of {seconds:g} s ran out (connect, send, wait and body together)"


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write gets at most what is left of the current deadline."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        limit, capped = operation_timeout(timeout, httpcore.ReadTimeout)
        try:
            return self._stream.read(max(max_bytes, READ_BYTES), limit)
        except httpcore.ReadTimeout:
            if capped:
                raise httpcore.ReadTimeout(expired_message()) from None
            raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        limit, capped = operation_timeout(timeout, httpcore.WriteTimeout)
        try:
            self._stream.write(buffer, limit)
        except httpcore.WriteTimeout:
            if capped:
                raise httpcore.WriteTimeout(expired_message()) from None
            raise

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        limit, _ = operation_timeout(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, limit))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        limit, _ = operation_timeout(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_tcp(host, port, limit, local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        limit, _ = operation_timeout(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_unix_socket(path, limit, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def install_deadline(transport: httpx.BaseTransport) -> None:
    """Wrap the network backend of `transport`'s connection pool (an HTTPTransport's, or a proxy's).

    httpx has no public hook for the backend, so this reaches into `transport._pool`; an httpx
    whose layout differs fails here, loudly, rather than silently losing the deadline. Building
    the pool ourselves (`httpcore.ConnectionPool(network_backend=...)` behind our own transport)
    would avoid these two private names only by copying more of httpx's private code: its
    request/response conversion, its httpcore-to-httpx exception mapping and its environment proxy
    mounts, each a behaviour to keep in step by hand.
    """
    pool = getattr(transport, "_pool", None)
    if pool is None or not hasattr(pool, "_network_backend"):
        raise RuntimeError(f"cannot install request deadlines on {type(transport).__name__} (httpx "
                           f"{httpx.__version__}): connectors/http/client.py needs updating")
    if not isinstance(pool._network_backend, _DeadlineBackend):  # noqa: SLF001
        pool._network_backend = _DeadlineBackend(pool._network_backend)  # noqa: SLF001
