"""Write-back to Rentvine (and, once declared, Entrata) through `rooftop write`: the vendor's replay and DuckDB.

Rentvine writes with POST of a record wrapped under its type; its replay checks the body (wrapper,
known fields, non-empty names) and changes its data, so the re-read after the write lands the new
value in the warehouse. A field Rentvine does not take on a tenant (`email`: it has its own endpoint)
is refused by Rooftop before any request.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from typer.testing import CliRunner

import pipelines.cli.write_commands  # noqa: F401 - registers `rooftop write`
from connectors.sdk.replay import ReplayServer
from pipelines.cli.app import app
from tests.conftest import WorkspaceFactory
from tests.support.vendors.rentvine import ACCESS_KEY, ROOT, SECRET, RentvineApi, RentvineData, serve

RENTVINE = """\
name: rv
source:
  connector: rentvine
  config: {{base_url: "{url}", access_key: "{key}", secret: "{secret}", retries: {{attempts: 3, initial_delay: 0.01}}}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
streams:
  - {{name: tenants, sync_mode: incremental_deduped}}
"""


def _rooftop(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--workspace", str(root), *args])
    return result.exit_code, result.output


def _query(root: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(root / "wh.duckdb"), read_only=True) as db:
        return db.execute(sql).fetchall()


@pytest.fixture
def rentvine() -> Iterator[tuple[ReplayServer, RentvineApi]]:
    with serve(RentvineData(seed=3, properties=2)) as running:
        yield running


@pytest.fixture
def rv_root(make_workspace: WorkspaceFactory, rentvine: tuple[ReplayServer, RentvineApi]) -> Path:
    server, _ = rentvine
    root = make_workspace(RENTVINE.format(url=server.url + ROOT, key=ACCESS_KEY, secret=SECRET), name="rv")
    code, output = _rooftop(root, "sync", "rv")
    assert code == 0, output
    return root


def test_rentvine_tenant_name_update_reaches_the_warehouse(
        rv_root: Path, rentvine: tuple[ReplayServer, RentvineApi]) -> None:
    server, api = rentvine
    tenant = api.data.records["tenants"][0]
    email = tenant["email"]
    code, output = _rooftop(rv_root, "write", "tenants", f"rentvine:rv:{tenant['contactID']}",
                            "--data", '{"lastName": "Okafor", "middleName": "J"}')
    assert code == 0, output
    post = next(r for r in server.requests if r.method == "POST")
    assert post.path == f"{ROOT}/tenants/{tenant['contactID']}"
    assert json.loads(post.body) == {"contact": {"lastName": "Okafor", "middleName": "J"}}
    rows = _query(rv_root, "SELECT lastName, middleName, name, email FROM rentvine.tenants "
                           f"WHERE contactID = {tenant['contactID']}")
    assert rows == [("Okafor", "J", f"{tenant['firstName']} Okafor", email)]


@pytest.mark.parametrize(("args", "named"), [
    (("tenants", "1", "--data", '{"email": "new@example.com"}'), "email"),  # its own endpoint at Rentvine
    (("tenants", "--data", '{"firstName": "Ana", "lastName": "Vine"}'), "create on tenants"),
    (("work_orders", "1", "--data", '{"description": "x"}'), "work_orders"),
])
def test_rentvine_refuses_what_it_does_not_accept_before_sending(
        rv_root: Path, rentvine: tuple[ReplayServer, RentvineApi], args: tuple[str, ...], named: str) -> None:
    server, _ = rentvine
    before = len(server.requests)
    code, output = _rooftop(rv_root, "write", *args, "--connection", "rv")
    assert code == 2, output
    assert named in output and "rentvine" in output
    assert len(server.requests) == before  # nothing was sent


def test_rentvine_replay_refuses_an_unwrapped_body_or_an_unknown_field(
        rentvine: tuple[ReplayServer, RentvineApi]) -> None:
    """The replay checks a body, so a connector sending it bare or with a stray field would fail."""
    server, api = rentvine
    url = f"{server.url}{ROOT}/tenants/{api.data.records['tenants'][0]['contactID']}"
    auth = "Basic " + base64.b64encode(f"{ACCESS_KEY}:{SECRET}".encode()).decode()
    bare = httpx.post(url, json={"lastName": "X"}, headers={"Authorization": auth})
    stray = httpx.post(url, json={"contact": {"email": "x@example.com"}}, headers={"Authorization": auth})
    assert bare.status_code == 400 and "contact" in bare.text
    assert stray.status_code == 400 and "email" in stray.text
