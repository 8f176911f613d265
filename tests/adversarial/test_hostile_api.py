"""The API against callers who get it wrong or mean harm: no token, a wrong one, too low a role,
huge bodies, broken JSON, unknown names. Every answer is a JSON error naming the problem, and no
token or credential ever appears in one."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from connectors.sandbox.server import SandboxServer
from pipelines.api.auth import parse_tokens
from protocol.errors import ConfigError
from tests.conftest import API_KEY, WorkspaceFactory
from tests.support.api_server import running_api
from tests.test_api import CONNECTION, TOKENS, auth, wait_for, write_tokens


@pytest.fixture
def client(make_workspace: WorkspaceFactory, sandbox: SandboxServer) -> Iterator[httpx.Client]:
    root = make_workspace(CONNECTION.format(url=sandbox.url), name="acme")
    write_tokens(root)
    with running_api(root) as url, httpx.Client(base_url=url, timeout=30) as http:
        yield http


def _no_secret(reply: httpx.Response) -> None:
    assert not any(token in reply.text for token in TOKENS.values()) and API_KEY not in reply.text


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic eDp5"},
                                     {"Authorization": f"Bearer {TOKENS['read']}x"}])
def test_without_a_valid_token_every_endpoint_is_401(client: httpx.Client, headers: dict[str, str]) -> None:
    for method, path in [("GET", "/v1/connections"), ("GET", "/v1/connections/acme"),
                         ("PUT", "/v1/connections/acme"), ("POST", "/v1/connections/acme/sync")]:
        reply = client.request(method, path, headers=headers, json={"active": False} if method == "PUT" else None)
        assert reply.status_code == 401, (method, path, reply.text)
        assert reply.json()["error"] and reply.headers["www-authenticate"] == "Bearer"
        _no_secret(reply)


def test_a_role_too_low_is_403_and_changes_nothing(client: httpx.Client) -> None:
    for role, method, path in [("read", "PUT", "/v1/connections/acme"), ("read", "POST", "/v1/connections/acme/sync"),
                               ("write", "DELETE", "/v1/connections/acme"),
                               ("write", "POST", "/v1/connections")]:
        reply = client.request(method, path, headers=auth(role), json={"active": False})
        assert reply.status_code == 403, (role, method, path, reply.text)
        assert "needs the" in reply.json()["error"]
        _no_secret(reply)
    assert client.get("/v1/connections/acme", headers=auth("read")).json()["active"] is True


def test_a_body_over_1_mib_is_413(client: httpx.Client) -> None:
    huge = b'{"active": false, "pad": "' + b"x" * (1024 * 1024) + b'"}'
    reply = client.put("/v1/connections/acme", headers={**auth("write"), "Content-Type": "application/json"},
                       content=huge)
    assert reply.status_code == 413 and "1 MiB" in reply.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams in
        yield b'{"pad": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}'

    reply = client.put("/v1/connections/acme", headers={**auth("write"), "Content-Type": "application/json"},
                       content=chunks())
    assert reply.status_code == 413


def test_invalid_json_is_400(client: httpx.Client) -> None:
    reply = client.put("/v1/connections/acme", headers={**auth("write"), "Content-Type": "application/json"},
                       content=b'{"active": fal')
    assert reply.status_code == 400 and "not valid JSON" in reply.json()["error"]
    reply = client.put("/v1/connections/acme", headers=auth("write"), json={"active": False, "api_key": "x"})
    assert reply.status_code == 400 and "api_key" in reply.json()["error"]


def test_unknown_connections_and_routes_are_404(client: httpx.Client) -> None:
    for method, path in [("GET", "/v1/connections/nope"), ("POST", "/v1/connections/nope/sync"),
                         ("GET", "/v1/syncs/20240101T000000Z-abcdef"), ("GET", "/v1/nothing/here/at-all")]:
        reply = client.request(method, path, headers=auth("admin"))
        assert reply.status_code == 404, (method, path, reply.text)
        assert reply.json()["error"]
    assert "'nope'" in client.get("/v1/connections/nope", headers=auth("read")).json()["error"]
    reply = client.post("/v1/connections", headers=auth("admin"), json={"name": "x", "based_on": "nope"})
    assert reply.status_code == 404
    # `/v1/{resource}` takes writes (POST) only: another method there is a 405 naming it, not a silent 200.
    reply = client.get("/v1/residents", headers=auth("admin"))
    assert reply.status_code == 405 and "GET" in reply.json()["error"]


def test_malformed_token_settings_never_echo_a_token() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_tokens("read=ok-token,superuser=s3cret-value")
    assert "entry 2" in str(caught.value) and "s3cret" not in str(caught.value)
    with pytest.raises(ConfigError, match="ROOFTOP_API_TOKENS is not set"):
        parse_tokens("")


def test_a_second_sync_of_the_same_connection_waits_its_turn(client: httpx.Client, sandbox: SandboxServer) -> None:
    sandbox.set_faults(slow_ms=300)  # every answer takes 0.3 s: the first sync is surely still running
    first = client.post("/v1/connections/acme/sync", headers=auth("write"))
    second = client.post("/v1/connections/acme/sync", headers=auth("write"))
    assert first.status_code == 202
    assert second.status_code == 409 and first.json()["id"] in second.json()["error"]
    sandbox.set_faults()
    assert wait_for(client, first.json()["id"])["status"] == "succeeded"
    third = client.post("/v1/connections/acme/sync", headers=auth("write"))  # its turn now
    assert third.status_code == 202 and wait_for(client, third.json()["id"])["status"] == "succeeded"
