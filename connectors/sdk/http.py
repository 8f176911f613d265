"""The two HTTP helpers the SDK adds: a connection's client in one call, and a bearer token as auth.

Everything else a plugin needs from HTTP is re-exported as it is (`connectors.sdk`); these exist
because building an `HttpClient` by hand means knowing which `SourceContext` fields feed which
`Throttle` argument, and a forgotten `throttle=` silently ignores the connection's `rate_limit`.
"""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from connectors.http.auth import HeaderAuth
from connectors.http.authenticator import Authenticator
from connectors.http.client import HttpClient
from connectors.http.retry import RetryConfig
from connectors.http.throttle import Throttle
from protocol.types import SourceContext


def client_for(context: SourceContext, base_url: str, *, auth: Authenticator | None = None,
               retry: RetryConfig | None = None, headers: dict[str, str] | None = None, timeout: float = 30.0,
               transport: httpx.BaseTransport | None = None) -> HttpClient:
    """The `HttpClient` of one connection: its `rate_limit` and `max_concurrency`, its name on every event.

    Build it once in `Source.__enter__` and share it between streams (it is thread-safe: the limit
    holds across every stream the engine reads at once); close it in `__exit__`. `auth` signs every
    request and names the config field a refusal reports; `retry` defaults to `RetryConfig()`;
    `transport` replaces the connection pool (an `httpx.MockTransport` for in-process unit tests).
    """
    throttle = Throttle(context.rate_limit_requests, context.rate_limit_per_seconds, context.max_concurrency)
    return HttpClient(base_url, connection=context.connection, headers=headers, timeout=timeout, retry=retry,
                      throttle=throttle, auth=auth, transport=transport)


def bearer_auth(token: SecretStr, field: str) -> HeaderAuth:
    """`Authorization: Bearer <token>`; `field` is the token's path in `source.config` (e.g. "api_token").

    A 401/403 then fails the sync at once as an AuthError saying "check source.config.<field>", and
    the token is masked in every logged request and echoed error body.
    """
    value = token.get_secret_value()
    return HeaderAuth("Authorization", f"Bearer {value}", field, secret=value)
