"""The seam between the HTTP client and the auth schemes: what signs a request and what it lets the logs mask.

Its own module so that every scheme (`connectors.http.auth`, `connectors.http.session_auth`) and
the client import it without importing each other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # httpx only where requests are sent: loading a connection file reads auth models only
    import httpx

TokenFetch = Callable[["httpx.Request"], "httpx.Response"]
"""Sends a request with retries and rate limiting but without authentication (the HttpClient's)."""


class Authenticator:
    """Signs requests; `field` names the config field whose value the server may refuse.

    `header_names`, `param_names` and `secret_values()` tell the client's logging what this scheme
    puts on a request, so a logged request shows `***` there however the vendor names its key.
    """

    field: str = "auth"
    header_names: frozenset[str] = frozenset()
    """Lower-case names of the headers `apply` sets."""
    param_names: frozenset[str] = frozenset()
    """Lower-case names of the query parameters `apply` sets."""

    def secret_values(self) -> tuple[str, ...]:
        """The credential values as they may appear on the wire or be echoed back by a server."""
        return ()

    def apply(self, request: httpx.Request) -> None:
        raise NotImplementedError

    def refresh(self, refused: httpx.Request) -> bool:
        """After a 401/403 to `refused`: True if the credential was renewed and one more try may pass."""
        return False
