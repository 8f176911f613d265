"""httpx's client with its cookie store, minus the store's cost on responses that set no cookie.

An httpx `Client` keeps the cookies of every response it receives (`Cookies.extract_cookies`),
and to do so it first wraps the response and its request in urllib objects, whether or not the
response carries a `Set-Cookie` header: ~50 µs per request, ~4 % of a sync's CPU at pages of 1,000
records (py-spy on bench/sandbox_to_duckdb.py). A response without `Set-Cookie` or `Set-Cookie2`
adds nothing to a cookie jar, so `CookieClient` skips those; one that sets cookies is stored
exactly as httpx stores it, and the cookies go out with the next requests as before (load
balancers' affinity cookies and cookie sessions keep working).
"""

from __future__ import annotations

from typing import Any

import httpx
from httpx._types import CookieTypes  # httpx's own alias; not re-exported


class SetCookieStore(httpx.Cookies):
    """httpx's cookie store that looks at a response only if it sets a cookie."""

    def extract_cookies(self, response: httpx.Response) -> None:
        headers = response.headers
        if "set-cookie" in headers or "set-cookie2" in headers:
            super().extract_cookies(response)


class CookieClient(httpx.Client):
    """`httpx.Client` whose `cookies` is a `SetCookieStore` (whatever it is given, as httpx copies)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._store = SetCookieStore(super().cookies)

    @property
    def cookies(self) -> httpx.Cookies:
        return self._store

    @cookies.setter
    def cookies(self, cookies: CookieTypes) -> None:  # what httpx.Cookies() takes
        self._store = SetCookieStore(cookies)
