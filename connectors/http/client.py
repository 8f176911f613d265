"""One HTTP client per connection: keep-alive, throttling, retries, and errors the engine can act on.

Every request of a connection goes through `HttpClient.send`, which waits for the connection's
`Throttle`, retries connect/read errors and the retryable statuses with exponential backoff and
jitter (or exactly the server's `Retry-After`; a 429 pauses the whole connection, not only the
stream that got it), and turns the outcome into the error classes of `protocol.errors`. Which
status gets which action (success, retry, ignore, auth error, fail) is one table:
`connectors.http.status_actions`. Besides it:

    a header value that      ConfigError naming the config field (never the value): a NUL or
    cannot be sent           newline in a credential is a typo, retrying cannot help

Every attempt has a total deadline (`deadline`, default 4 × `timeout`): connect, TLS, sending,
waiting and the whole body together. httpx's timeouts restart at every socket operation, so a
server trickling a byte every few seconds would never time out; here every socket operation of
the attempt gets at most what is left of the deadline (`connectors.http.deadline`), and an attempt
that runs out fails with a ReadTimeout that names the deadline, retried like any other timeout.

Requests are built and answered by httpx; plain HTTP/1.1 travels on the standard library's
http.client (`connectors.http.stdlib_transport`, ~6x cheaper per page than httpx's own transport),
which applies the total deadline itself. httpx's own transport, with the deadline installed into its
pool, serves `http2: true` and any proxy named in the environment. `transport` replaces both (an
`httpx.MockTransport` runs the client in-process, for unit tests); the total deadline then applies
only to an `httpx.HTTPTransport`, the one kind that opens sockets we know how to bound.

The httpx client (its connection pool) is built at the first request, not in the
constructor: loading a fleet's code location enters every source to read its catalog, and most
never send anything there. Every client that verifies certificates the default way shares one SSL
context per process (loading the CA bundle costs ~20 ms of CPU each time).

Messages show the request's path but never its query string, which may carry an API key. The
structured log events of each request (`connectors.http.events`) mask credentials themselves.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import random
import re
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable, Collection, Mapping
from types import TracebackType
from typing import Any, Self

import httpx
import orjson

from connectors.http import events
from connectors.http.auth import Authenticator
from connectors.http.cookie_store import CookieClient
from connectors.http.deadline import attempt_deadline, install_deadline
from connectors.http.retry import RetryConfig, backoff, parse_retry_after
from connectors.http.status_actions import Action, status_action
from connectors.http.stdlib_transport import StdlibTransport
from connectors.http.throttle import Throttle, Waited
from protocol.errors import AuthError, ConfigError, SourceUnavailable

log = events.log

DEADLINE_FACTOR = 4
"""Default total deadline of one attempt, in multiples of the per-operation timeout (30 s → 120 s)."""
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
"""Characters a header value must not hold (RFC 9110 field-value: tab allowed, other controls not)."""
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
"""A valid header name (RFC 9110 token)."""


def unsendable(name: str, value: str) -> str | None:
    """Why a header cannot go on the wire, never quoting the value (it may be a credential); None if it can."""
    if not _TOKEN.fullmatch(name):
        return "is not a valid header name"
    if _CONTROL.search(value):
        return "holds a control character or line break (e.g. NUL), which no HTTP header may carry"
    if not value.isascii():
        return "holds a character that is not ASCII"
    return None


class HttpClient:
    """Thread-safe: the engine reads several streams of one source at once through one client."""

    def __init__(self, base_url: str, *, connection: str = "", headers: Mapping[str, str] | None = None,
                 timeout: float = 30.0, retry: RetryConfig | None = None, throttle: Throttle | None = None,
                 auth: Authenticator | None = None, http2: bool = False, seed: int | None = None,
                 deadline: float | None = None, transport: httpx.BaseTransport | None = None) -> None:
        """`deadline`: seconds one attempt may take in all (default DEADLINE_FACTOR × `timeout`).

        `transport`: sends the requests instead of httpx's own pool (see the module doc); `http2`
        and the pool size are then the transport's business.
        """
        self.connection = connection
        self.retry = retry or RetryConfig()
        self.throttle = throttle or Throttle()
        self.auth = auth
        self.deadline = deadline if deadline is not None else DEADLINE_FACTOR * timeout
        for name, value in (headers or {}).items():
            problem = unsendable(name, value)
            if problem is not None:  # httpx would fail on it below, or h11 at every request
                who = f"connection {connection!r}" if connection else f"the API at {base_url}"
                raise ConfigError(f"{who}: header {name!r} {problem}")
        if http2 and transport is None and importlib.util.find_spec("h2") is None:
            raise ConfigError("http2: true needs the h2 package (pip install 'httpx[http2]')")
        self._base_url = httpx.URL(base_url)
        self._build_client: Callable[[], httpx.Client] = functools.partial(
            _httpx_client, base_url, {"Accept": "application/json", **(headers or {})},
            httpx.Timeout(timeout, connect=min(timeout, 10.0)), http2=http2,
            pool=max(4, self.throttle.max_concurrency * 2), transport=transport)
        self._built: httpx.Client | None = None
        self._closed = False
        self._build_lock = threading.Lock()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._refused: AuthError | None = None
        self.requests = 0
        self.retries = 0
        """Requests sent again after a failure, over the client's life (reported per sync)."""

    @property
    def who(self) -> str:
        return f"connection {self.connection!r}" if self.connection else f"the API at {self.base_url}"

    @property
    def base_url(self) -> str:
        return str(self._base_url).rstrip("/")

    @property
    def _client(self) -> httpx.Client:
        """httpx's client, built at the first request (see the module doc)."""
        client = self._built
        if client is None:
            with self._build_lock:
                if self._closed:  # as httpx itself refuses: a closed client must not quietly reopen a pool
                    raise RuntimeError(f"{self.who}: the HTTP client is closed")
                if self._built is None:
                    self._built = self._build_client()
                client = self._built
        return client

    def close(self) -> None:
        with self._build_lock:
            client, self._built, self._closed = self._built, None, True
        if client is not None:
            client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def stats(self) -> dict[str, Any]:
        return {"requests": self.requests, "retries": self.retries,
                "rate_limit_wait_seconds": round(self.throttle.waited_seconds, 3)}

    # --- sending ---------------------------------------------------------------------------------

    def send(self, build: Callable[[], httpx.Request], what: str, *, stream: str | None = None) -> httpx.Response:
        """Send the request `build` makes (again for each attempt) until it gets a non-retryable answer.

        Returns that response whatever its status; raises SourceUnavailable when retries run out.
        `stream`, if known, labels the log events of the request.
        """
        failure, cause = "", None
        attempts = self.retry.attempts
        request: httpx.Request | None = None
        response: httpx.Response | None = None
        for attempt in range(1, attempts + 1):
            wait: float | None = None
            response = None
            try:
                # Built outside the throttle slot: signing may itself send a (throttled) token request.
                request = build()
                self.check_headers(request, what)
                with self.throttle.slot() as waited:
                    events.rate_limit_waited(self.connection, stream, self.who, waited)
                    with self._lock:
                        self.requests += 1
                    started = time.perf_counter()
                    try:
                        # The deadline starts after the rate-limit wait: it bounds the server, not us.
                        with attempt_deadline(self.deadline):
                            response = self._client.send(request)
                    except httpx.HTTPError as exc:
                        self._sent(stream, request, attempt, None, exc, started)
                        raise
                    self._sent(stream, request, attempt, response, None, started)
                    response.extensions["rooftop_attempt"] = attempt
                # A spent rate-limit budget (X-RateLimit-Remaining: 0) pauses every stream until its
                # reset, so the next request waits instead of spending an attempt on a 429.
                self.throttle.observe(response.headers, response.status_code)
                # The body is read; the spent stream still points back at the response, a cycle
                # that keeps each page's bytes alive until a rare full GC (RSS grew ~100 MB per
                # million rows). Dropping it lets the page be freed as soon as it is processed.
                response.stream = httpx.ByteStream(b"")
            except (httpx.UnsupportedProtocol, httpx.InvalidURL, httpx.TooManyRedirects) as exc:
                if request is not None:
                    events.failed(self.connection, stream, self.auth, self.who, request, None, exc,
                                  type(exc).__name__, attempt)
                raise ConfigError(f"{self.who}: cannot request {what}: {exc}") from exc
            except httpx.LocalProtocolError as exc:
                # h11 refused to write the request, so it can never be sent. Its message may quote
                # the offending value (a credential): never passed on.
                raise ConfigError(f"{self.who}: cannot send {what}: the request is not valid HTTP (a header "
                                  "name or value?)") from exc
            except UnicodeEncodeError as exc:  # httpx encodes header values as ASCII while building
                field = f"source.config.{self.auth.field} or " if self.auth is not None else ""
                raise ConfigError(f"{self.who}: cannot send {what}: a header value holds a character that is not "
                                  f"ASCII (check {field}the headers)") from exc
            except (httpx.TransportError, httpx.DecodingError) as exc:  # connect/read errors, timeouts, drops
                failure, cause = events.failure_of(exc), exc
            else:
                if status_action(response.status_code) is not Action.RETRY:
                    return response
                failure, cause = f"HTTP {response.status_code}", None
                wait = parse_retry_after(response.headers.get("Retry-After"))
                if wait is not None and wait > self.retry.max_retry_after:
                    events.failed(self.connection, stream, self.auth, self.who, request, response, None,
                                  f"{failure}, Retry-After {wait:.0f} s", attempt)
                    raise SourceUnavailable(f"{self.who}: {what} answered HTTP {response.status_code} asking to "
                                            f"retry after {wait:.0f} s, longer than retries.max_retry_after "
                                            f"({self.retry.max_retry_after:.0f} s)")
                if wait is not None and response.status_code == 429:
                    self.throttle.pause(wait)  # every stream of the connection backs off, not only this one
            if attempt == attempts:
                break
            rate_limited = wait is not None and response is not None and response.status_code == 429
            if wait is None:
                wait = backoff(self.retry, attempt, self._rng)
            with self._lock:
                self.retries += 1
            events.retrying(self.connection, stream, self.auth, self.who, what, request,
                            response.status_code if response is not None else None, cause, attempt, attempts, wait)
            if rate_limited:
                events.rate_limit_waited(self.connection, stream, self.who, Waited(wait, "retry_after"))
            time.sleep(wait)  # backoff between attempts: the point of a retry policy
        if request is not None:
            events.failed(self.connection, stream, self.auth, self.who, request, response, cause,
                          f"retries exhausted ({attempts} attempts); last: {failure}", attempts)
        raise SourceUnavailable(f"{self.who}: {what} failed {attempts} times; last: {failure}") from cause

    def check_headers(self, request: httpx.Request, what: str) -> None:
        """Refuse, as a config error, a request whose header values h11 would refuse to write.

        Checked before sending so the verdict does not depend on the server being reachable (a
        refused connection would otherwise be retried first), and never quoting the value.
        """
        for name, value in request.headers.items():
            problem = unsendable(name, value)
            if problem is None:
                continue
            lower = name.lower()
            # OAuth2 sets Authorization without declaring it up front.
            if self.auth is not None and (lower in self.auth.header_names or lower == "authorization"):
                raise ConfigError(f"{self.who}: cannot send {what}: source.config.{self.auth.field} {problem}")
            raise ConfigError(f"{self.who}: cannot send {what}: header {name!r} {problem}")

    def _sent(self, stream: str | None, request: httpx.Request, attempt: int, response: httpx.Response | None,
              error: BaseException | None, started: float) -> None:
        if log.isEnabledFor(logging.DEBUG):  # the hot path: build the event's fields only if wanted
            events.request_sent(self.connection, stream, self.auth, request, attempt, response, error,
                                time.perf_counter() - started)

    def get(self, url: str, params: Mapping[str, Any] | None = None, *, headers: Mapping[str, str] | None = None,
            ignore_statuses: Collection[int] = (), stream: str | None = None) -> httpx.Response:
        """GET `url`: `request("GET", ...)`."""
        return self.request("GET", url, params=params, headers=headers, ignore_statuses=ignore_statuses,
                            stream=stream)

    def request(self, method: str, url: str, *, params: Mapping[str, Any] | None = None, json: Any = None,
                data: Mapping[str, Any] | None = None, content: str | bytes | None = None,
                headers: Mapping[str, str] | None = None, ignore_statuses: Collection[int] = (),
                stream: str | None = None) -> httpx.Response:
        """Send `method` to `url` (a path under the base URL, or an absolute URL) signed by the connection's auth.

        At most one body: `json` (any JSON value, sent as application/json), `data` (a form, sent
        urlencoded) or `content` (raw text or bytes: give its Content-Type in `headers`). Every
        method gets the same throttle, retries, deadline, events and status table: a 2xx response,
        or one whose status is in `ignore_statuses`, is returned; anything else raises (after an
        `http_error` record), as `connectors.http.status_actions` says. A 401/403 renews the
        auth once (a fresh token or session) and sends again. `stream`, if known, labels the log
        events of the request.
        """
        if sum(body is not None for body in (json, data, content)) > 1:
            raise ValueError("request(): give at most one of json, data and content")
        if self._refused is not None:
            raise AuthError(str(self._refused), field=self._refused.field)

        method = method.upper()
        target = _parsed_url(url)
        if params:
            # Merged by hand: httpx would replace a query the URL already has (a next-page link's).
            target = target.copy_merge_params(dict(params))

        def build() -> httpx.Request:
            request = self._client.build_request(method, target, headers=headers, json=json, data=data,
                                                 content=content)
            if self.auth is not None:
                self.auth.apply(request)
            return request

        what = f"{method} {target.path or url}"
        renewed = False
        while True:
            try:
                response = self.send(build, what, stream=stream)
            except AuthError as exc:  # e.g. the token endpoint refused the client: the same for everyone
                with self._lock:
                    self._refused = self._refused or exc
                raise
            status = response.status_code
            action = status_action(status, ignore_statuses)  # never RETRY: `send` retried those
            if action in (Action.SUCCESS, Action.IGNORE):
                return response
            refused = action is Action.AUTH_ERROR
            if refused and self.auth is not None and not renewed and self.auth.refresh(response.request):
                renewed = True
                continue
            events.failed(self.connection, stream, self.auth, self.who, response.request, response, None,
                          f"HTTP {status}", response.extensions.get("rooftop_attempt", 1))
            if refused:
                raise self._refuse(status, what, response)
            raise ConfigError(f"{self.who}: {what} was refused: HTTP {status}: {self._said(response)}")

    def _refuse(self, status: int, what: str, response: httpx.Response) -> AuthError:
        field = self.auth.field if self.auth is not None else None
        credential = f"the credential in source.config.{field}" if field else "the request: no auth is configured"
        error = AuthError(f"{self.who}: {self.base_url} refused {credential} (HTTP {status} on {what}: "
                          f"{self._said(response)}); check that value", field=field)
        with self._lock:
            self._refused = self._refused or error
        return error


    def _said(self, response: httpx.Response) -> str:
        """The server's error message with the credentials masked: error pages echo what they were sent."""
        return events.Masker(self.auth, response.request).text(error_message(response))


def error_message(response: httpx.Response, limit: int = 200) -> str:
    """A JSON error body's `message`/`error`/`detail`, else the start of the body."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.text[:limit].strip() or "(empty body)"
    if isinstance(body, dict):
        for key in ("message", "error_description", "detail", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])[:limit]
    return response.text[:limit]


def _httpx_client(base_url: str, headers: Mapping[str, str], timeout: httpx.Timeout, *, http2: bool, pool: int,
                  transport: httpx.BaseTransport | None) -> httpx.Client:
    """httpx's client with the total deadline installed wherever it can be (see the module doc)."""
    if transport is not None:
        client = CookieClient(base_url=base_url, headers=headers, timeout=timeout, follow_redirects=True,
                              transport=transport)
        if isinstance(transport, httpx.HTTPTransport):
            install_deadline(transport)
        return client
    if not http2 and not _environment_proxies():
        # Plain HTTP/1.1 on the standard library's http.client (see stdlib_transport: ~6x cheaper
        # per page); it applies the total deadline itself.
        return CookieClient(base_url=base_url, headers=headers, timeout=timeout, follow_redirects=True,
                            transport=StdlibTransport(shared_ssl_context, max_idle=pool))
    try:
        client = CookieClient(base_url=base_url, headers=headers, timeout=timeout, http2=http2,
                              follow_redirects=True, verify=shared_ssl_context(),
                              limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool))
    except ImportError as exc:  # http2=True without the h2 package
        raise ConfigError(f"http2: true needs the h2 package (pip install 'httpx[http2]'): {exc}") from exc
    # httpx built the transport, and one per proxy named in the environment (HTTPS_PROXY, …).
    for built in [client._transport, *client._mounts.values()]:  # noqa: SLF001 - see deadline.install_deadline
        if built is not None:
            install_deadline(built)
    return client


def _environment_proxies() -> bool:
    """Whether the environment names a proxy (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY…): httpx routes
    through it, so httpx's own transport is kept."""
    return any(scheme in ("http", "https", "all") for scheme in urllib.request.getproxies())


@functools.lru_cache(maxsize=256)
def _parsed_url(url: str) -> httpx.URL:
    """`url` parsed once: a stream asks for the same path page after page (an httpx.URL is immutable)."""
    return httpx.URL(url)


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """httpx's default context (certifi's CA bundle, or SSL_CERT_FILE/SSL_CERT_DIR), made once per process.

    An SSLContext is safe to share between clients and threads; building one per client loaded the
    CA bundle again for every connection.
    """
    return httpx.create_ssl_context()
