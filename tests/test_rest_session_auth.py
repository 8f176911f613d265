"""Session login and several secret headers, through the `rooftop` CLI into DuckDB, against real servers.

A Rent-Manager-style API: `POST /Authentication/AuthorizeUser` with a user name, password and
location answers a token (a bare JSON string) for header `X-RM12Api-ApiToken`; the server expires
a token after a few requests (401), and Rooftop must log in again once and go on. A wrong password
is exit 2 naming the field, and the password appears nowhere: not in the output, not in `rooftop
logs`, not in any `_rooftop` table. A Buildium-style API takes a client id and secret in two headers;
both are masked in the log and in the error of a refused sync, even when the server echoes them.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
from typer.testing import CliRunner

from connectors.http.auth import HeadersAuthConfig, make_authenticator
from connectors.http.client import HttpClient
from connectors.http.retry import RetryConfig
from connectors.http.session_auth import SessionAuthConfig
from pipelines.cli import app
from protocol.errors import AuthError
from tests.conftest import WorkspaceFactory
from tests.support.http_api import Reply, Request, TestApi
from tests.support.logs import fresh_rooftop_logger  # noqa: F401 - autouse fixture
from tests.support.mock_api import MockApi

PASSWORD = "rm-pass-Secr3t-9911"
CLIENT_ID = "bld-client-id-4471c"
CLIENT_SECRET = "bld-secret-0xf00d-2b"
PROPERTIES = [{"PropertyID": i, "Name": f"Property {i}", "IsActive": True} for i in range(1, 8)]


class RentManager:
    """Tokens live for `lifetime` requests; logins are counted."""

    def __init__(self, lifetime: int) -> None:
        self.lifetime = lifetime
        self.logins = 0
        self._uses: dict[str, int] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def __call__(self, request: Request) -> Reply:
        if request.path == "/Authentication/AuthorizeUser":
            body = orjson.loads(request.body)
            if request.method != "POST" or body != {"Username": "etl", "Password": PASSWORD, "LocationID": 1}:
                return Reply(401, {"Message": f"Invalid credentials for {body.get('Username')}"})
            with self._lock:
                self.logins += 1
                token = f"rm-token-{next(self._ids)}-a8c1f2"
                self._uses[token] = 0
            return Reply(body=token)
        token = request.headers.get("x-rm12api-apitoken", "")
        with self._lock:
            if token not in self._uses or self._uses[token] >= self.lifetime:
                return Reply(401, {"Message": "Token expired"})
            self._uses[token] += 1
        page = int(request.query.get("pageNumber", "1"))
        size = int(request.query["pageSize"])
        return Reply(body=PROPERTIES[(page - 1) * size:page * size])


RM_CONN = """\
name: rm
source:
  connector: rest_api
  config:
    base_url: "{url}"
    retries: {{attempts: 2, initial_delay: 0.01}}
    auth:
      type: session
      login:
        path: /Authentication/AuthorizeUser
        body: {{Username: etl, Password: "${{RM_PASSWORD}}", LocationID: 1}}
      token: {{from: body, path: "$"}}
      send: {{header: X-RM12Api-ApiToken}}
    streams:
      - name: properties
        path: /Properties
        records: $
        primary_key: PropertyID
        paginator: {{type: page_number, page_param: pageNumber, page_size: 2, page_size_param: pageSize}}
        schema: {{PropertyID: int64, Name: string, IsActive: boolean}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
streams:
  - {{name: properties, sync_mode: full_refresh_overwrite}}
"""


def cli(root: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["--workspace", str(root), *args])


def everything_stored(root: Path) -> str:
    """Every row of every table of the warehouse, as text."""
    with duckdb.connect(str(root / "wh.duckdb"), read_only=True) as db:
        tables = db.execute("select table_schema, table_name from information_schema.tables").fetchall()
        return json.dumps([db.execute(f'select * from "{s}"."{t}"').fetchall() for s, t in tables], default=str)


def last_log(root: Path, connection: str) -> str:
    history = json.loads(cli(root, "history", connection, "--json").stdout)
    return str(cli(root, "logs", history[0]["sync_id"]).output) + str(cli(root, "logs", history[0]["sync_id"],
                                                                          "--json").output)


def test_a_session_logs_in_once_and_again_when_the_server_expires_the_token(
        make_workspace: WorkspaceFactory) -> None:
    server = RentManager(lifetime=2)
    with TestApi(server) as api:
        root = make_workspace(RM_CONN.format(url=api.url), name="rm")
        (root / ".env").write_text(f"RM_PASSWORD={PASSWORD}\n")
        result = cli(root, "sync", "rm")
        assert result.exit_code == 0, result.output
        pages = [r for r in api.requests if r.path == "/Properties"]
    # 4 pages + 1 empty page = 5 data requests, each token good for 2: logins before requests 1, 3, 5.
    assert server.logins == 3 and len(pages) == 5 + 2  # two requests refused with 401, each sent once more
    with duckdb.connect(str(root / "wh.duckdb"), read_only=True) as db:
        assert db.execute("select count(*), sum(PropertyID) from rest_api.properties").fetchone() == (7, 28)
    stored, log = everything_stored(root), last_log(root, "rm")
    for secret in (PASSWORD, "rm-token-1-a8c1f2", "rm-token-3-a8c1f2"):
        assert secret not in stored and secret not in log and secret not in result.output


def test_a_refused_login_is_exit_2_naming_the_field_never_the_password(make_workspace: WorkspaceFactory) -> None:
    server = RentManager(lifetime=100)
    with TestApi(server) as api:
        root = make_workspace(RM_CONN.format(url=api.url), name="rm")
        (root / ".env").write_text("RM_PASSWORD=wrong-Pass-55aa77\n")
        checked = cli(root, "check", "rm")  # a configuration error: exit 2
        synced = cli(root, "sync", "rm")  # its only stream failed on the refused login: a configuration error
        logins = [r for r in api.requests if r.path == "/Authentication/AuthorizeUser"]
    assert (checked.exit_code, synced.exit_code) == (2, 2), checked.output + synced.output
    for result in (checked, synced):
        assert "source.config.auth.login.body.Password" in result.output
        assert "wrong-Pass-55aa77" not in result.output
    assert len(logins) == 2  # one per command: a refused login is not retried
    assert "wrong-Pass-55aa77" not in everything_stored(root) + last_log(root, "rm")


BUILDIUM_CONN = """\
name: bld
source:
  connector: rest_api
  config:
    base_url: "{url}/v1"
    retries: {{attempts: 2, initial_delay: 0.01}}
    auth:
      type: headers
      headers: {{x-buildium-client-id: "${{BLD_ID}}", x-buildium-client-secret: "${{BLD_SECRET}}"}}
    streams:
      - name: rentals
        path: /rentals
        records: $
        primary_key: Id
        paginator: {{type: offset, limit: 5}}
        schema: {{Id: int64, Name: string}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
streams:
  - {{name: rentals, sync_mode: full_refresh_overwrite}}
"""


def buildium(request: Request) -> Reply:
    sent = (request.headers.get("x-buildium-client-id"), request.headers.get("x-buildium-client-secret"))
    if sent != (CLIENT_ID, CLIENT_SECRET):
        # Echoes what it got, as some error pages do: the log must mask it anyway.
        return Reply(401, {"UserMessage": f"Invalid client {sent[0]} / {sent[1]}"})
    offset, limit = int(request.query["offset"]), int(request.query["limit"])
    rentals = [{"Id": i, "Name": f"Rental {i}"} for i in range(12)]
    return Reply(body=rentals[offset:offset + limit])


def test_two_secret_headers_are_sent_and_both_masked_in_logs_and_errors(make_workspace: WorkspaceFactory) -> None:
    with TestApi(buildium) as api:
        root = make_workspace(BUILDIUM_CONN.format(url=api.url), name="bld")
        (root / ".env").write_text(f"BLD_ID={CLIENT_ID}\nBLD_SECRET={CLIENT_SECRET}\n")
        ok = cli(root, "sync", "bld")
        assert ok.exit_code == 0, ok.output
        good_log = last_log(root, "bld")
        wrong = "bld-secret-WRONG-77"
        (root / ".env").write_text(f"BLD_ID={CLIENT_ID}\nBLD_SECRET={wrong}\n")
        refused = cli(root, "sync", "bld")
        bad_log = last_log(root, "bld")
    with duckdb.connect(str(root / "wh.duckdb"), read_only=True) as db:
        assert db.execute("select count(*) from rest_api.rentals").fetchone() == (12,)
    assert refused.exit_code != 0 and "source.config.auth.headers" in refused.output
    assert "http_error" in bad_log and "401" in bad_log and "***" in bad_log
    everything = ok.output + refused.output + good_log + bad_log + everything_stored(root)
    for secret in (CLIENT_ID, CLIENT_SECRET, wrong):
        assert secret not in everything


def test_the_http_log_itself_masks_every_secret_header_without_the_pipelines_redactor(
        caplog: pytest.LogCaptureFixture) -> None:
    # The `rooftop.http` records may be shipped where the connection's redactor does not run.
    auth = make_authenticator(HeadersAuthConfig.model_validate({"type": "headers", "headers": {
        "x-buildium-client-id": CLIENT_ID, "x-buildium-client-secret": "bld-secret-WRONG-77"}}), lambda r: r)
    with MockApi(buildium) as api, HttpClient(api.url, auth=auth, transport=api.transport) as http, \
            caplog.at_level(logging.DEBUG, logger="rooftop.http"), pytest.raises(AuthError) as caught:
        http.get("/v1/rentals", {"offset": 0, "limit": 5})
    (error,) = [r for r in caplog.records if getattr(r, "event", None) == "http_error"]
    logged = json.dumps({**vars(error), "msg": error.getMessage()}, default=str) + str(caught.value)
    assert error.request["headers"]["x-buildium-client-id"] == "***"  # type: ignore[attr-defined]
    assert CLIENT_ID not in logged and "bld-secret-WRONG-77" not in logged and "Invalid client ***" in logged


def session(server_url: str, **extra: Any) -> HttpClient:
    config = SessionAuthConfig.model_validate({
        "type": "session", "login": {"path": "/Authentication/AuthorizeUser",
                                     "body": {"Username": "etl", "Password": PASSWORD, "LocationID": 1}},
        "token": {"from": "body", "path": "$"}, "send": {"header": "X-RM12Api-ApiToken"}, **extra})
    http = HttpClient(server_url, retry=RetryConfig(attempts=2, initial_delay=0, max_delay=0))
    http.auth = make_authenticator(config, lambda request: http.send(lambda: request, "login"), base_url=server_url)
    return http


def test_streams_reading_at_once_share_one_login() -> None:
    server = RentManager(lifetime=1000)
    with TestApi(server) as api, session(api.url) as http, ThreadPoolExecutor(8) as pool:
        pages = list(pool.map(lambda _: http.get("/Properties", {"pageSize": 2}).json(), range(16)))
    assert server.logins == 1 and all(page == PROPERTIES[:2] for page in pages)


def test_expires_after_logs_in_again_before_the_server_refuses() -> None:
    server = RentManager(lifetime=1000)
    with TestApi(server) as api, session(api.url, expires_after=1e-9) as http:
        for _ in range(3):
            http.get("/Properties", {"pageSize": 2})
        refused = [r for r in api.requests if r.path == "/Properties" and r.headers.get("x-rm12api-apitoken") is None]
    assert server.logins == 3 and refused == []
