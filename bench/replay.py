"""The sandbox's work_orders pages, recorded once and served back byte for byte from memory.

The sandbox renders each page's JSON in Python as it is asked; on a small machine that server, not
the client under test, sets the pace: in a first run the baseline spent ~1.8 CPU s of ~6.7 wall s
waiting for 200k rows. Wall-clock ratios then compare the server with itself. So the http section
reads every page once from the live sandbox per page size (`record`) and serves those same bytes
(`serve`): the same records, envelopes and cursors, at the speed of a socket write. The server runs
on a thread of the benchmark's parent process, so its CPU never enters a child's RUSAGE_CHILDREN
delta. `run_all.py --live-server` reads from the sandbox directly instead.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
from sandbox_to_duckdb import API_KEY, STREAM

PATH = f"/v1/{STREAM}"
ALLOWED = frozenset({"limit", "cursor", "include_deleted"})
"""A full refresh sends no `updated_since`; a client that does is not reading what was recorded."""


def record(url: str, page_size: int) -> tuple[dict[str, bytes], int]:
    """Every page of the listing at `page_size`, keyed by the cursor that asks for it ("" = first); rows."""
    pages: dict[str, bytes] = {}
    cursor, rows = "", 0
    with httpx.Client(headers={"X-API-Key": API_KEY}, timeout=120) as client:
        while True:
            params = {"limit": page_size, **({"cursor": cursor} if cursor else {})}
            response = client.get(f"{url}{PATH}", params=params)
            response.raise_for_status()
            pages[cursor] = response.content
            body = orjson.loads(response.content)
            rows += len(body["data"])
            cursor = body.get("next_cursor") or ""
            if not cursor:
                return pages, rows


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the sandbox and vendor APIs
    server: _ReplayServer

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/v1/health":
            return self._send(200, b'{"status": "ok"}')
        if parts.path != PATH or not set(query) <= ALLOWED or query.get("limit") != str(self.server.page_size):
            return self._send(400, orjson.dumps({"error": "not_recorded", "message": self.path}))
        page = self.server.pages.get(query.get("cursor", ""))
        return self._send(200, page) if page is not None else self._send(400, b'{"error": "invalid_cursor"}')

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        """Silent: a line per request would cost more than the answer."""


class _ReplayServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, pages: dict[str, bytes], page_size: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.pages, self.page_size = pages, page_size


@contextlib.contextmanager
def serve(pages: dict[str, bytes], page_size: int) -> Iterator[str]:
    """The base URL of a replay of `pages` on 127.0.0.1, for the duration of the block."""
    server = _ReplayServer(pages, page_size)
    thread = threading.Thread(target=server.serve_forever, name="replay", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
