"""The HTTP/1.1 transport under HttpClient (connectors/http/stdlib_transport.py), on real sockets.

Each server here speaks raw bytes on 127.0.0.1, one scripted answer per request, and counts the TCP
connections it accepted: keep-alive, a server that closes idle connections, chunked and gzip bodies,
truncated and malformed answers, TLS with a certificate trusted or not, and a proxy named in the
environment (httpx's own transport then carries the request).
"""

from __future__ import annotations

import gzip
import os
import resource
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest

from connectors.http.client import HttpClient, shared_ssl_context
from connectors.http.retry import RetryConfig
from protocol.errors import SourceUnavailable

TLS = Path(__file__).parent / "support" / "tls"
FAST = RetryConfig(attempts=2, initial_delay=0, max_delay=0)

Answer = Callable[[int, bytes], tuple[bytes, bool]]
"""(connection number, request head) -> (bytes to send, close the connection after them)."""


@pytest.fixture(autouse=True)
def no_proxy_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the http.client transport, which a proxy variable would replace by httpx's."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def ok(body: object, *headers: str) -> bytes:
    data = orjson.dumps(body)
    head = "".join(f"{h}\r\n" for h in headers)
    return (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n{head}\r\n"
            .encode() + data)


class RawServer:
    """A TCP server on 127.0.0.1 answering each request with `answer`; `connections` counts accepts."""

    def __init__(self, answer: Answer, tls: ssl.SSLContext | None = None, trickle: float | None = None) -> None:
        self.answer = answer
        self.tls = tls
        self.trickle = trickle
        """Send each answer a byte at a time, this many seconds apart (a slow server, not a wait for it)."""
        self.connections = 0
        self.heads: list[bytes] = []
        self.closed = threading.Semaphore(0)
        """Released once per connection the server has closed."""
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn, self.connections), daemon=True).start()

    def _talk(self, conn: socket.socket, number: int) -> None:
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            buffered = b""
            while True:
                while b"\r\n\r\n" not in buffered:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffered += data
                head, buffered = buffered.split(b"\r\n\r\n", 1)
                self.heads.append(head)
                reply, close = self.answer(number, head)
                if self.trickle is None:
                    conn.sendall(reply)
                else:
                    for byte in reply:
                        conn.sendall(bytes([byte]))
                        time.sleep(self.trickle)
                if close:
                    return
        except (OSError, ssl.SSLError):
            return
        finally:
            conn.close()
            self.closed.release()

    def close(self) -> None:
        self._listener.close()


@contextmanager
def raw_server(answer: Answer, tls: ssl.SSLContext | None = None,
               trickle: float | None = None) -> Iterator[RawServer]:
    server = RawServer(answer, tls, trickle)
    try:
        yield server
    finally:
        server.close()


def test_requests_to_one_host_share_one_kept_alive_connection() -> None:
    with raw_server(lambda n, head: (ok({"n": n}), False)) as server, \
            HttpClient(f"http://127.0.0.1:{server.port}", retry=FAST) as http:
        assert [http.get(f"/x/{i}").json() for i in range(5)] == [{"n": 1}] * 5
    assert server.connections == 1


def test_a_connection_the_server_closed_while_idle_is_replaced_without_a_retry() -> None:
    # The server closes every connection after answering, without saying so (no Connection: close).
    with raw_server(lambda n, head: (ok({"n": n}), True)) as server, \
            HttpClient(f"http://127.0.0.1:{server.port}", retry=FAST) as http:
        answers = []
        for i in range(3):
            answers.append(http.get(f"/x/{i}").json())
            assert server.closed.acquire(timeout=10)  # closed while the client's connection is idle
        assert http.retries == 0
    assert answers == [{"n": 1}, {"n": 2}, {"n": 3}] and server.connections == 3


def test_chunked_gzip_bodies_and_many_headers_of_one_name_arrive_whole() -> None:
    body = gzip.compress(orjson.dumps({"data": [{"id": i, "pad": "é" * 50} for i in range(2000)]}))
    pieces = [body[i:i + 7000] for i in range(0, len(body), 7000)]
    chunks = b"".join(b"%x\r\n%b\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"
    reply = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
             b"Transfer-Encoding: chunked\r\nLink: <a>; rel=next\r\nLink: <b>; rel=last\r\n\r\n" + chunks)
    with raw_server(lambda n, head: (reply, False)) as server, \
            HttpClient(f"http://127.0.0.1:{server.port}", retry=FAST) as http:
        first, second = http.get("/a"), http.get("/b")
    assert first.json()["data"][1999] == {"id": 1999, "pad": "é" * 50} and second.json() == first.json()
    assert first.headers.get_list("link") == ["<a>; rel=next", "<b>; rel=last"]
    assert server.connections == 1  # a chunked body read to its end leaves the connection reusable


def test_a_body_cut_short_fails_naming_what_arrived_and_is_retried() -> None:
    cut = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n" + b'{"data": ['
    with raw_server(lambda n, head: (cut, True)) as server, \
            HttpClient(f"http://127.0.0.1:{server.port}", connection="c", retry=FAST) as http, \
            pytest.raises(SourceUnavailable) as caught:
        http.get("/leases")
    assert str(caught.value) == ("connection 'c': GET /leases failed 2 times; last: RemoteProtocolError: peer "
                                 "closed connection without sending complete message body (10 of 5000 bytes "
                                 "received)")
    assert server.connections == 2


@pytest.mark.parametrize("reply", [b"HTTP/1.1 abc OK\r\n\r\n", b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
                                   b"HTTP/1.1 200 OK\r\n" + b"X-Pad: 1\r\n" * 200 + b"\r\n",
                                   b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 9\r\n\r\n{}",
                                   b"HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\n{}"],
                         ids=["bad status", "not http", "too many headers", "two lengths", "negative length"])
def test_an_answer_that_is_not_http_is_a_protocol_error_retried(reply: bytes) -> None:
    with raw_server(lambda n, head: (reply, True)) as server, \
            HttpClient(f"http://127.0.0.1:{server.port}", connection="c", retry=FAST) as http, \
            pytest.raises(SourceUnavailable, match="failed 2 times; last: RemoteProtocolError: malformed response") \
            as caught:
        http.get("/x")
    assert "SSH" not in str(caught.value) and server.connections == 2


def test_requests_carry_exactly_the_headers_and_body_httpx_built() -> None:
    with raw_server(lambda n, head: (ok({}), False)) as server, \
            HttpClient(f"http://127.0.0.1:{server.port}", headers={"X-Api-Key": "k1"}, retry=FAST) as http:
        http.request("POST", "/w?a=1%202", json={"name": "Unit 4"})
    head = server.heads[0].decode()
    lines = head.split("\r\n")
    assert lines[0] == "POST /w?a=1%202 HTTP/1.1"
    sent = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}
    assert sent["host"] == f"127.0.0.1:{server.port}" and sent["x-api-key"] == "k1"
    assert sent["content-type"] == "application/json" and sent["content-length"] == str(len(b'{"name":"Unit 4"}'))
    assert sum(line.lower().startswith("host:") for line in lines) == 1  # http.client added none of its own


def test_a_status_line_and_headers_trickled_a_byte_at_a_time_end_at_the_total_deadline() -> None:
    with raw_server(lambda n, head: (ok({"slow": True}, "X-Pad: " + "x" * 300), True), trickle=0.02) as server, \
            HttpClient(f"http://127.0.0.1:{server.port}", connection="c", timeout=5, deadline=0.5,
                       retry=FAST) as http, pytest.raises(SourceUnavailable) as caught:
        started = time.monotonic()
        http.get("/slow")
    elapsed = time.monotonic() - started
    assert str(caught.value) == ("connection 'c': GET /slow failed 2 times; last: ReadTimeout: the request's total "
                                 "deadline of 0.5 s ran out (connect, send, wait and body together)")
    assert 2 * 0.5 <= elapsed < 2 * 0.5 + 2.0, elapsed  # each attempt ran to its deadline (the head: ~8 s)


@pytest.fixture
def tls_server_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(TLS / "server.pem")
    return context


def test_tls_to_a_trusted_certificate_works_and_an_untrusted_one_is_refused(
        tls_server_context: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch) -> None:
    with raw_server(lambda n, head: (ok({"tls": True}), False), tls=tls_server_context) as server:
        shared_ssl_context.cache_clear()
        with HttpClient(f"https://127.0.0.1:{server.port}", connection="c", retry=FAST) as http, \
                pytest.raises(SourceUnavailable, match="ConnectError: .*CERTIFICATE_VERIFY_FAILED"):
            http.get("/x")
        monkeypatch.setenv("SSL_CERT_FILE", str(TLS / "ca.pem"))
        shared_ssl_context.cache_clear()
        try:
            with HttpClient(f"https://127.0.0.1:{server.port}", retry=FAST) as http:
                assert [http.get("/x").json() for _ in range(3)] == [{"tls": True}] * 3
        finally:
            shared_ssl_context.cache_clear()
    assert server.connections == 3  # two refused handshakes, then one kept-alive connection


def test_a_proxy_named_in_the_environment_carries_the_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    def proxy(n: int, head: bytes) -> tuple[bytes, bool]:
        return ok({"target": head.split(b" ")[1].decode()}), False

    with raw_server(proxy) as server:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.port}")
        with HttpClient("http://upstream.invalid/api", retry=FAST) as http:
            assert http.get("/units").json() == {"target": "http://upstream.invalid/api/units"}


def test_keep_alive_works_on_descriptors_above_1023() -> None:
    """select() refuses descriptors above 1023, which a busy process (a Dagster daemon) reaches."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert hard == resource.RLIM_INFINITY or hard >= 1200, "the machine allows too few open files for this test"
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    held = [os.open(os.devnull, os.O_RDONLY)]
    while held[-1] < 1100:  # the client's socket gets a descriptor above these
        held.append(os.open(os.devnull, os.O_RDONLY))
    try:
        with raw_server(lambda n, head: (ok({"n": n}), False)) as server, \
                HttpClient(f"http://127.0.0.1:{server.port}", retry=FAST) as http:
            assert [http.get(f"/x/{i}").json() for i in range(3)] == [{"n": 1}] * 3
        assert server.connections == 1
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
