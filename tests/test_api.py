"""The HTTP API (`rooftop api`) driven by a real HTTP client against the real server, sandbox and DuckDB.

What a caller relies on: connections listed and read without their credentials, edits that land in
the YAML (comments kept) and are honoured by the CLI, syncs started over HTTP that really load rows,
and clones that show up as connections.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from dagster import DefaultScheduleStatus
from typer.testing import CliRunner

from connectors.sandbox.server import SandboxServer
from pipelines.cli import app
from pipelines.dagster.build import build_definitions
from pipelines.dagster.policies import schedule_name
from tests.conftest import API_KEY, WorkspaceFactory
from tests.support.api_server import running_api
from tests.warehouse_checks import rows

TOKENS = {"read": "read-token-5c1e", "write": "write-token-9a7b", "admin": "admin-token-3f2d"}
POLL_DEADLINE_SECONDS = 120.0

CONNECTION = """\
# Acme's leasing data: reviewed in git.
name: acme
environment: sandbox
source:
  connector: sandbox
  config: {{base_url: "{url}", api_key: "${{SANDBOX_TEST_KEY}}", page_size: 50}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
# Nightly, Chicago time.
schedule: {{cron: "0 6 * * *", timezone: America/Chicago}}
max_concurrency: 2   # Acme's API is small
streams:
  - {{name: leases, sync_mode: incremental_deduped}}
  - {{name: units, sync_mode: full_refresh_overwrite}}
"""


def write_tokens(root: Path) -> None:
    with (root / ".env").open("a") as env:
        env.write("ROOFTOP_API_TOKENS=" + ",".join(f"{role}={token}" for role, token in TOKENS.items()) + "\n")


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


@pytest.fixture
def workspace(make_workspace: WorkspaceFactory, sandbox: SandboxServer) -> Path:
    root = make_workspace(CONNECTION.format(url=sandbox.url), name="acme")
    write_tokens(root)
    return root


@pytest.fixture
def client(workspace: Path) -> Iterator[httpx.Client]:
    with running_api(workspace) as url, httpx.Client(base_url=url, timeout=30) as http:
        yield http


def wait_for(client: httpx.Client, sync_id: str) -> dict[str, Any]:
    """Poll the sync until it is no longer running (bounded by a deadline, not a fixed sleep)."""
    deadline = time.monotonic() + POLL_DEADLINE_SECONDS
    while True:
        body: dict[str, Any] = client.get(f"/v1/syncs/{sync_id}", headers=auth("read")).json()
        if body["status"] != "running":
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def test_list_and_get_show_settings_never_the_api_key(client: httpx.Client) -> None:
    listed = client.get("/v1/connections", headers=auth("read"))
    assert listed.status_code == 200
    assert [c["name"] for c in listed.json()["connections"]] == ["acme"]
    one = client.get("/v1/connections/acme", headers=auth("read"))
    assert one.status_code == 200
    body = one.json()
    assert body["active"] is True and body["max_concurrency"] == 2
    assert body["schedule"]["cron"] == "0 6 * * *"
    assert body["source_config"]["api_key"] == "**********"
    assert body["last_sync"] is None
    assert API_KEY not in listed.text and API_KEY not in one.text


def test_openapi_lists_the_endpoints(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/v1/connections", "/v1/connections/{name}", "/v1/connections/{name}/sync",
            "/v1/syncs/{sync_id}"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200


def test_pausing_over_http_edits_the_yaml_and_the_cli_refuses_a_manual_sync(client: httpx.Client,
                                                                            workspace: Path) -> None:
    reply = client.put("/v1/connections/acme", headers=auth("write"), json={"active": False})
    assert reply.status_code == 200, reply.text
    assert reply.json()["active"] is False
    text = (workspace / "connections" / "acme.yaml").read_text()
    assert "active: false" in text
    assert "# Nightly, Chicago time." in text and "max_concurrency: 2   # Acme's API is small" in text

    runner = CliRunner()
    synced = runner.invoke(app, ["--workspace", str(workspace), "sync", "acme"])
    assert synced.exit_code == 2 and "paused (active: false)" in synced.output
    assert runner.invoke(app, ["--workspace", str(workspace), "validate"]).exit_code == 0
    refused = client.post("/v1/connections/acme/sync", headers=auth("write"))
    assert refused.status_code == 400 and "paused" in refused.json()["error"]


def test_update_rate_limit_and_schedule(client: httpx.Client, workspace: Path) -> None:
    reply = client.put("/v1/connections/acme", headers=auth("write"),
                       json={"rate_limit": {"requests": 5, "per": "minute"}, "schedule": {"every": "15 minutes"},
                             "new_properties": "pending"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["rate_limit"] == {"requests": 5, "per": "minute"}
    schedule = client.get("/v1/connections/acme/schedule", headers=auth("read")).json()
    assert len(schedule["next"]) == 10
    assert "# Nightly, Chicago time." in (workspace / "connections" / "acme.yaml").read_text()


def test_dagsters_next_load_sees_the_apis_edits(client: httpx.Client, workspace: Path) -> None:
    """Dagster reads the same files: a pause and a new week schedule over HTTP are in its next load."""
    before = build_definitions(workspace).resolve_schedule_def(schedule_name("acme"))
    assert (before.cron_schedule, before.default_status) == ("0 6 * * *", DefaultScheduleStatus.RUNNING)
    week = {"week": {"timezone": "America/Chicago",
                     "MONDAY": [{"start": "09:00", "end": "12:00", "every": "90 minutes"}]}}
    reply = client.put("/v1/connections/acme", headers=auth("write"), json={"active": False, "schedule": week})
    assert reply.status_code == 200, reply.text
    after = build_definitions(workspace).resolve_schedule_def(schedule_name("acme"))
    assert after.cron_schedule == ["0 9 * * 1", "30 10 * * 1"]
    assert after.execution_timezone == "America/Chicago"
    assert after.default_status == DefaultScheduleStatus.STOPPED


def test_an_invalid_update_is_refused_and_the_file_is_unchanged(client: httpx.Client, workspace: Path) -> None:
    path = workspace / "connections" / "acme.yaml"
    before = path.read_text()
    reply = client.put("/v1/connections/acme", headers=auth("write"), json={"schedule": "every blue moon"})
    assert reply.status_code == 400 and "schedule" in reply.json()["error"]
    assert path.read_text() == before


def test_a_sync_over_http_loads_rows(client: httpx.Client, workspace: Path) -> None:
    started = client.post("/v1/connections/acme/sync", headers=auth("write"))
    assert started.status_code == 202, started.text
    finished = wait_for(client, started.json()["id"])
    assert finished["status"] == "succeeded", finished
    assert rows(workspace / "wh.duckdb", "SELECT count(*) FROM sandbox.leases")[0][0] > 0
    history = client.get("/v1/connections/acme/syncs", headers=auth("read")).json()
    assert history["syncs"][0]["sync_id"] == started.json()["id"]
    assert history["syncs"][0]["status"] == "succeeded"
    assert client.get("/v1/connections/acme", headers=auth("read")).json()["last_sync"]["status"] == "succeeded"


def test_a_clone_based_on_a_connection_is_listed(client: httpx.Client, workspace: Path) -> None:
    created = client.post("/v1/connections", headers=auth("admin"),
                          json={"name": "beta", "based_on": "acme", "namespace": "beta"})
    assert created.status_code == 201, created.text
    assert created.json()["placeholders"][0]["variable"] == "BETA_API_KEY"
    assert (workspace / "connections" / "beta.yaml").is_file()
    listed = client.get("/v1/connections", headers=auth("read")).json()
    # Its credential is a placeholder nobody has set: the file is listed as broken, naming the variable.
    assert any("BETA_API_KEY" in b["error"] for b in listed["broken"])
    with (workspace / ".env").open("a") as env:
        env.write(f"BETA_API_KEY={API_KEY}\n")
    beta = client.get("/v1/connections/beta", headers=auth("read"))
    assert beta.status_code == 200 and beta.json()["connector"] == "sandbox"


def _whole_connection(sandbox_url: str, name: str = "gamma", **changes: Any) -> dict[str, Any]:
    """A connection as JSON: the same keys as a connection file."""
    body: dict[str, Any] = {
        "name": name, "environment": "sandbox", "namespace": name,
        "source": {"connector": "sandbox",
                   "config": {"base_url": sandbox_url, "api_key": "${SANDBOX_TEST_KEY}", "page_size": 50}},
        "destination": {"connector": "duckdb", "config": {"path": f"{name}.duckdb"}},
        "schedule": {"week": {"timezone": "America/Chicago",
                              "MONDAY": [{"start": "09:00", "end": "17:00", "every": "45 minutes"}]}},
        "streams": [{"name": "units", "sync_mode": "full_refresh_overwrite"}],
    }
    return {**body, **changes}


def test_a_whole_connection_posted_becomes_a_file_the_cli_and_syncs_use(
        client: httpx.Client, workspace: Path, sandbox: SandboxServer) -> None:
    body = _whole_connection(sandbox.url)
    assert client.post("/v1/connections", headers=auth("write"), json=body).status_code == 403
    created = client.post("/v1/connections", headers=auth("admin"), json=body)
    assert created.status_code == 201, created.text
    assert created.json()["file"] == "connections/gamma.yaml"
    text = (workspace / "connections" / "gamma.yaml").read_text()
    assert text.startswith("name: gamma\n") and "${SANDBOX_TEST_KEY}" in text and API_KEY not in text
    got = client.get("/v1/connections/gamma", headers=auth("read")).json()
    assert got["schedule"]["week"]["MONDAY"] == [{"start": "09:00:00", "end": "17:00:00", "every": 2700.0}]
    fires = client.get("/v1/connections/gamma/schedule", headers=auth("read")).json()["next"]
    assert {f[11:16] for f in fires} <= {"09:00", "09:45", "10:30", "11:15", "12:00", "12:45", "13:30",
                                         "14:15", "15:00", "15:45", "16:30"}
    validated = CliRunner().invoke(app, ["--workspace", str(workspace), "validate"])
    assert validated.exit_code == 0, validated.output
    synced = client.post("/v1/connections/gamma/sync", headers=auth("write")).json()["id"]
    assert wait_for(client, synced)["status"] == "succeeded"
    assert rows(workspace / "gamma.duckdb", "SELECT count(*) FROM gamma.gamma.units")[0][0] > 0


def test_a_posted_connection_is_refused_for_a_taken_name_or_a_bad_field(client: httpx.Client, workspace: Path,
                                                                       sandbox: SandboxServer) -> None:
    folder = workspace / "connections"
    before = sorted(p.name for p in folder.iterdir())
    taken = client.post("/v1/connections", headers=auth("admin"), json=_whole_connection(sandbox.url, "acme"))
    assert taken.status_code == 409 and "'acme' already exists" in taken.json()["error"]
    for body, field in [
        (_whole_connection(sandbox.url, schedul="manual"), "schedul"),
        (_whole_connection(sandbox.url, streams=[{"name": "units", "sync_mode": "sometimes"}]), "sync_mode"),
        (_whole_connection(sandbox.url, schedule={"week": {"MONDAY": [{"start": "09:00", "end": "08:00"}]}}),
         "schedule"),
        (_whole_connection(sandbox.url, name="Not A Name"), "name"),
        (_whole_connection(sandbox.url, namespace="source"), "table sandbox.units is already synced by connection"),
        ({"source": {"connector": "sandbox"}}, "name"),
    ]:
        reply = client.post("/v1/connections", headers=auth("admin"), json=body)
        assert reply.status_code == 400 and field in reply.json()["error"], (field, reply.text)
    assert sorted(p.name for p in folder.iterdir()) == before  # no file, no temporary left behind
    assert (folder / "acme.yaml").read_text() == CONNECTION.format(url=sandbox.url)


def test_delete_archives_the_file(client: httpx.Client, workspace: Path) -> None:
    reply = client.delete("/v1/connections/acme", headers=auth("admin"))
    assert reply.status_code == 200, reply.text
    assert not (workspace / "connections" / "acme.yaml").exists()
    assert (workspace / reply.json()["archived_to"]).is_file()
    assert client.get("/v1/connections/acme", headers=auth("read")).status_code == 404


def test_logs_diffs_and_rate_limits_of_syncs_over_http(client: httpx.Client, workspace: Path,
                                                       sandbox: SandboxServer) -> None:
    limited = client.put("/v1/connections/acme", headers=auth("write"),
                         json={"rate_limit": {"requests": 200, "per": "second"}})
    assert limited.status_code == 200, limited.text
    first = client.post("/v1/connections/acme/sync", headers=auth("write")).json()["id"]
    assert wait_for(client, first)["status"] == "succeeded"
    changes = sandbox.dataset.mutate("leases", update=0.2, insert=0.1, delete=0.1, seed=21)
    second = client.post("/v1/connections/acme/sync", headers=auth("write")).json()["id"]
    assert wait_for(client, second)["status"] == "succeeded"

    log = client.get(f"/v1/syncs/{second}/logs", headers=auth("read"))
    assert log.status_code == 200, log.text
    assert log.json()["connection"] == "acme"
    events = [r["event"] for r in log.json()["records"]]
    assert "http_request" in events and "sync_finished" in events
    assert API_KEY not in log.text
    info = client.get(f"/v1/syncs/{second}/logs", headers=auth("read"), params={"level": "info"}).json()
    assert info["records"] and "http_request" not in {r["event"] for r in info["records"]}
    missing = client.get("/v1/syncs/20990101T000000Z-abcdef/logs", headers=auth("read"))
    assert missing.status_code == 404 and "20990101T000000Z-abcdef" in missing.json()["error"]

    diffs = client.get("/v1/connections/acme/diffs", headers=auth("read"), params={"sync": second}).json()
    assert {(d["key"]["id"], d["change"]) for d in diffs["diffs"]} == {
        *((i, "updated") for i in changes["updated"]), *((i, "inserted") for i in changes["inserted"]),
        *((i, "deleted") for i in changes["deleted"])}
    assert diffs["counts"] == [{"sync_id": second, "stream": "leases", "inserted": len(changes["inserted"]),
                                "updated": len(changes["updated"]), "deleted": len(changes["deleted"])}]
    assert client.get("/v1/connections/nobody/diffs", headers=auth("read")).status_code == 404

    limits = client.get("/v1/connections/acme/rate-limits", headers=auth("read")).json()
    assert limits["rate_limit"] == {"requests": 200, "per": "second"}
    assert limits["last_sync"]["sync_id"] == second and limits["last_sync"]["requests"] > 0


def test_properties_listed_and_disabled_over_http(client: httpx.Client, workspace: Path) -> None:
    listed = client.get("/v1/connections/acme/properties", headers=auth("read"), params={"refresh": "true"})
    assert listed.status_code == 200, listed.text
    props = listed.json()["properties"]
    assert props and all(p["status"] == "enabled" and p["first_seen_at"] for p in props)
    target = props[0]["id"]
    refused = client.put("/v1/connections/acme/properties", headers=auth("read"), json={"disable": [target]})
    assert refused.status_code == 403
    changed = client.put("/v1/connections/acme/properties", headers=auth("write"), json={"disable": [target]})
    assert changed.status_code == 200, changed.text
    assert changed.json()["disabled"] == [target]
    text = (workspace / "connections" / "acme.yaml").read_text()
    assert "exclude:" in text and "# Nightly, Chicago time." in text
    after = {p["id"]: p["status"] for p in
             client.get("/v1/connections/acme/properties", headers=auth("read")).json()["properties"]}
    assert after[target] == "disabled" and list(after.values()).count("disabled") == 1
    empty = client.put("/v1/connections/acme/properties", headers=auth("write"), json={})
    assert empty.status_code == 400
    assert client.get("/v1/connections/nobody/properties", headers=auth("read")).status_code == 404


def test_enum_maps_per_stream(client: httpx.Client, workspace: Path) -> None:
    path = workspace / "connections" / "acme.yaml"
    path.write_text(path.read_text().replace(
        "{name: leases, sync_mode: incremental_deduped}",
        "{name: leases, sync_mode: incremental_deduped, enum_maps: {status: {values: {active: current}}}}"))
    maps = client.get("/v1/connections/acme/enum-maps", headers=auth("read"))
    assert maps.status_code == 200, maps.text
    assert maps.json()["enum_maps"] == {"leases": {"status": {"to": None, "values": {"active": "current"},
                                                              "default": None}}}
    assert maps.json()["vendor_defaults"] is None  # model: native
    path.write_text(path.read_text().replace("environment: sandbox\n", "environment: sandbox\nmodel: unified\n"))
    unified = client.get("/v1/connections/acme/enum-maps", headers=auth("read")).json()
    assert unified["model"] == "unified"
    assert unified["vendor_defaults"]["leases"]["status"]["values"]["Past"] == "INACTIVE"
    assert client.get("/v1/connections/acme/enum-maps").status_code == 401


def test_rate_limits_show_what_the_source_last_reported_in_its_headers(client: httpx.Client,
                                                                       sandbox: SandboxServer) -> None:
    before = client.get("/v1/connections/acme/rate-limits", headers=auth("read")).json()
    assert before["last_sync"] is None
    # A budget large enough that the sync is never held back, small enough that it visibly shrinks.
    sandbox.set_faults(rate_limit_per_minute=600)
    synced = client.post("/v1/connections/acme/sync", headers=auth("write")).json()["id"]
    assert wait_for(client, synced)["status"] == "succeeded"
    limits = client.get("/v1/connections/acme/rate-limits", headers=auth("read")).json()
    reported = limits["last_sync"]["source_reported"]
    requests = limits["last_sync"]["requests"]
    assert reported is not None, limits
    # The sandbox's bucket starts full (600) and each request of this sync took one token.
    assert isinstance(reported["remaining"], int) and 600 - requests <= reported["remaining"] < 600, limits
    assert isinstance(reported["reset"], int) and reported["reset"] > 0
    seen, reset_at = datetime.fromisoformat(reported["at"]), datetime.fromisoformat(reported["reset_at"])
    assert seen < reset_at <= seen + timedelta(seconds=61)
    assert reported["stream"] in ("leases", "units", None)
