"""Every error the API returns is JSON naming the problem: `{"error": "..."}` with a fitting status.

Rooftop's own errors keep their meaning (a ConfigError is the caller's to fix: 400; a transient one
503), FastAPI's request validation becomes a 400 naming the field, and bodies over `MAX_BODY_BYTES`
are cut off by `BodyLimit` before anything parses them.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from protocol.errors import ConfigError, RooftopError, TransientError

MAX_BODY_BYTES = 1024 * 1024


class ApiError(Exception):
    """An error answered as `{"error": message}` with `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI, redact: Callable[[str], str]) -> None:
    async def api_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_response(exc.status, redact(exc.message), headers)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return error_response(404, f"no such resource: {request.method} {request.url.path}")
        if exc.status_code == 405:
            return error_response(405, f"{request.method} is not allowed on {request.url.path}")
        return error_response(exc.status_code, str(exc.detail))

    async def invalid_request(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = list(exc.errors())
        if any(p.get("type") == "json_invalid" for p in problems):
            return error_response(400, "the request body is not valid JSON")
        described = "; ".join(f"{'.'.join(str(x) for x in p.get('loc', ()) if x != 'body') or 'body'}: "
                              f"{p.get('msg', 'invalid')}" for p in problems)
        return error_response(400, f"invalid request: {described}")

    async def rooftop_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RooftopError)
        status = 400 if isinstance(exc, ConfigError) else 503 if isinstance(exc, TransientError) else 500
        return error_response(status, redact(str(exc)))

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(RooftopError, rooftop_error)


class BodyLimit:
    """ASGI middleware: a body over `limit` bytes gets 413, by its Content-Length or while it streams in."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._too_large(scope, receive, send)
            return
        if declared is not None:  # the server stops reading at Content-Length: the body cannot grow past it
            await self.app(scope, receive, send)
            return
        # No usable length (a chunked body): read it here, up to the limit, then hand it on. Raising
        # from inside `receive` would not do: FastAPI turns any error while reading a body into a 400.
        chunks: list[bytes] = []
        received = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.limit:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: wait for the disconnect
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, f"the request body is over {self.limit} bytes (1 MiB)")
        await response(scope, receive, send)
