"""Every auth scheme of the rest_api source against an API that checks it.

Also: OAuth2 client credentials renew their token when it expires and when the API revokes it, and
a refused credential is reported by its config field, never by its value. The APIs answer
in-process (`httpx.MockTransport`, tests/support/mock_api.py), token endpoint included: what is
tested is what goes into each request and what the client makes of the answer. The sandbox tests
check an API key over real sockets.
"""

from __future__ import annotations

import base64
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pyarrow as pa
import pytest

from connectors.rest_api import RestApiConfig, RestApiSource
from protocol.errors import AuthError
from protocol.types import ReadRequest
from tests.support.http_api import Reply, Request
from tests.support.logs import fresh_rooftop_logger  # noqa: F401 - autouse fixture
from tests.support.mock_api import MockApi

ROWS = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]


def guarded(check: Any) -> MockApi:
    """An API serving ROWS at /rows when `check(request)` is true, else 401."""
    return MockApi(lambda r: Reply(body=ROWS) if check(r) else Reply(401, {"message": "bad credentials"}))


def read_rows(api: MockApi, auth: dict[str, Any], tmp_path: Path, reads: int = 1) -> list[dict[str, Any]]:
    config = RestApiConfig.model_validate({"base_url": api.url, "auth": auth, "streams": [
        {"name": "rows", "path": "/rows", "schema": {"id": "int64", "name": "string"}}]})
    out: list[dict[str, Any]] = []
    with RestApiSource(config, root=tmp_path, transport=api.transport) as src:
        stream = src.discover().get("rows")
        assert stream is not None
        for _ in range(reads):
            request = ReadRequest(stream=stream, incremental=False, cursor_field=None, state=None)
            out.extend(r for b in src.read(request) if isinstance(b, pa.RecordBatch) for r in b.to_pylist())
    return out


def test_bearer(tmp_path: Path) -> None:
    with guarded(lambda r: r.headers.get("authorization") == "Bearer s3cret-token") as api:
        assert read_rows(api, {"type": "bearer", "token": "s3cret-token"}, tmp_path) == ROWS
        with pytest.raises(AuthError) as caught:
            read_rows(api, {"type": "bearer", "token": "wrong-token-77"}, tmp_path)
        assert caught.value.field == "auth.token" and "wrong-token-77" not in str(caught.value)


def test_basic(tmp_path: Path) -> None:
    expected = "Basic " + base64.b64encode(b"svc-user:pa55:word").decode()
    with guarded(lambda r: r.headers.get("authorization") == expected) as api:
        assert read_rows(api, {"type": "basic", "username": "svc-user", "password": "pa55:word"}, tmp_path) == ROWS
        with pytest.raises(AuthError, match="source.config.auth.password"):
            read_rows(api, {"type": "basic", "username": "svc-user", "password": "nope"}, tmp_path)


def test_api_key_in_a_header_with_a_prefix(tmp_path: Path) -> None:
    with guarded(lambda r: r.headers.get("x-token") == "Token k-123") as api:
        auth = {"type": "api_key", "name": "X-Token", "key": "k-123", "prefix": "Token "}
        assert read_rows(api, auth, tmp_path) == ROWS


def test_api_key_in_the_query_never_shows_in_errors(tmp_path: Path) -> None:
    with guarded(lambda r: r.query.get("api_key") == "q-key-456") as api:
        assert read_rows(api, {"type": "api_key", "location": "query", "name": "api_key", "key": "q-key-456"},
                         tmp_path) == ROWS
        with pytest.raises(AuthError) as caught:
            read_rows(api, {"type": "api_key", "location": "query", "name": "api_key", "key": "q-wrong-789"},
                      tmp_path)
        assert "q-wrong-789" not in str(caught.value) and caught.value.field == "auth.key"


class OAuthApi:
    """A token endpoint plus an API that accepts only the tokens it issued and has not revoked."""

    def __init__(self, expires_in: int = 3600, client_auth: str = "body") -> None:
        self.expires_in = expires_in
        self.client_auth = client_auth
        self.issued: list[str] = []
        self.revoked: set[str] = set()
        self.lock = threading.Lock()
        self.api = MockApi(self.route)

    def _client_ok(self, r: Request) -> bool:
        form = dict(parse_qsl(r.body.decode()))
        if form.get("grant_type") != "client_credentials" or form.get("scope") != "read:rows":
            return False
        if self.client_auth == "basic":
            return r.headers.get("authorization") == "Basic " + base64.b64encode(b"cid:csecret").decode()
        return form.get("client_id") == "cid" and form.get("client_secret") == "csecret"

    def route(self, r: Request) -> Reply:
        with self.lock:
            if r.path == "/oauth/token":
                if not self._client_ok(r):
                    return Reply(401, {"error": "invalid_client", "error_description": "bad client"})
                token = f"tok-{len(self.issued) + 1}"
                self.issued.append(token)
                return Reply(body={"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in})
            token = (r.headers.get("authorization") or "").removeprefix("Bearer ")
            if token in self.issued and token not in self.revoked:
                return Reply(body=ROWS)
            return Reply(401, {"error": "invalid_token"})

    def auth(self, secret: str = "csecret") -> dict[str, Any]:
        return {"type": "oauth2_client_credentials", "token_url": f"{self.api.url}/oauth/token", "client_id": "cid",
                "client_secret": secret, "scope": "read:rows", "client_auth": self.client_auth}


@pytest.mark.parametrize("client_auth", ["body", "basic"])
def test_oauth2_client_credentials_fetches_once_and_reuses_the_token(tmp_path: Path, client_auth: str) -> None:
    oauth = OAuthApi(client_auth=client_auth)
    with oauth.api:
        assert read_rows(oauth.api, oauth.auth(), tmp_path, reads=3) == ROWS * 3
    assert oauth.issued == ["tok-1"]


def test_oauth2_renews_an_expired_token_before_using_it(tmp_path: Path) -> None:
    oauth = OAuthApi(expires_in=30)  # within the default 60 s margin: stale as soon as it arrives
    with oauth.api:
        assert read_rows(oauth.api, oauth.auth(), tmp_path, reads=3) == ROWS * 3
        api_calls = [r for r in oauth.api.requests if r.path == "/rows"]
    assert len(oauth.issued) == len(api_calls) == 3


def test_oauth2_renews_a_revoked_token_once_and_retries(tmp_path: Path) -> None:
    oauth = OAuthApi()
    config = RestApiConfig.model_validate({"base_url": oauth.api.url, "auth": oauth.auth(), "streams": [
        {"name": "rows", "path": "/rows", "schema": {"id": "int64", "name": "string"}}]})
    with oauth.api, RestApiSource(config, root=tmp_path, transport=oauth.api.transport) as src:
        stream = src.discover().get("rows")
        assert stream is not None
        request = ReadRequest(stream=stream, incremental=False, cursor_field=None, state=None)
        assert sum(b.num_rows for b in src.read(request) if isinstance(b, pa.RecordBatch)) == 2
        with oauth.lock:
            oauth.revoked.add("tok-1")
        assert sum(b.num_rows for b in src.read(request) if isinstance(b, pa.RecordBatch)) == 2
        assert src.http_stats["retries"] == 0  # a renewal is not a retry of a failure
    assert oauth.issued == ["tok-1", "tok-2"]
    assert [r.headers.get("authorization") for r in oauth.api.requests if r.path == "/rows"] == \
        ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]


def test_oauth2_refused_client_secret_is_named_not_shown(tmp_path: Path) -> None:
    oauth = OAuthApi()
    with oauth.api, pytest.raises(AuthError) as caught:
        read_rows(oauth.api, oauth.auth(secret="wrong-secret-000"), tmp_path)
    message = str(caught.value)
    assert caught.value.field == "auth.client_secret" and "wrong-secret-000" not in message
    assert "auth.client_id/client_secret" in message and "invalid_client" in message
    assert len(oauth.api.requests) == 1  # no retry of a refused client
