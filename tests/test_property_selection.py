"""Property selection end to end: 10 properties, 3 disabled, new ones arriving as pending.

The warehouse must hold exactly the enabled properties' child records, the sandbox's request log
must show no request for a disabled or pending property, and enabling one with `rooftop
properties` (an in-place YAML edit that keeps comments) brings its whole history at the next sync.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.sandbox.dataset import SandboxDataset
from connectors.sandbox.server import SandboxServer
from pipelines.cli import app
from pipelines.engine.runner import run_sync
from tests.conftest import API_KEY, WorkspaceFactory, connection
from tests.warehouse_checks import rows

CONN = """\
name: acme
source:
  connector: sandbox
  config: {{base_url: "{url}", api_key: "${{SANDBOX_TEST_KEY}}", page_size: 50}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
# Acme manages ten communities; 2, 5 and 9 are sold and must not be synced.
properties:
  include: [1, 3, 4, 6, 7, 8, 10]   # signed-off by the customer
  exclude: [2, 5, 9]
  new_properties: pending
streams:
  - {{name: properties, sync_mode: incremental_deduped}}
  - {{name: units, sync_mode: incremental_deduped}}
  - {{name: leases, sync_mode: incremental_deduped}}
  - {{name: work_orders, sync_mode: incremental_deduped}}
  - {{name: residents, sync_mode: full_refresh_overwrite}}
"""
DISABLED = {2, 5, 9}
CHILD_PATH = re.compile(r"^/v1/properties/(\d+)/")


@pytest.fixture
def ten_properties() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxDataset(seed=3, scale=10), api_key=API_KEY) as server:
        yield server


def _expected(dataset: SandboxDataset, enabled: set[int]) -> dict[str, set[int]]:
    units = {u["id"]: u["property_id"] for u in dataset.current_records("units")}
    return {
        "properties": {p["id"] for p in dataset.current_records("properties") if p["id"] in enabled},
        "units": {i for i, prop in units.items() if prop in enabled},
        "work_orders": {w["id"] for w in dataset.current_records("work_orders") if w["property_id"] in enabled},
        # Lease records carry no property id: they belong to their unit's property.
        "leases": {lease["id"] for lease in dataset.current_records("leases")
                   if (dataset.get("units", lease["unit_id"]) or {}).get("property_id") in enabled},
    }


def _landed(root: Path) -> dict[str, set[int]]:
    db = root / "wh.duckdb"
    return {name: {r[0] for r in rows(db, f"SELECT id FROM sandbox.{name} WHERE _rooftop_deleted_at IS NULL")}
            for name in ("properties", "units", "work_orders", "leases")}


def _requested_properties(server: SandboxServer, since: int = 0) -> set[int]:
    return {int(m.group(1)) for _, _, path, _ in server.request_log[since:] if (m := CHILD_PATH.match(path))}


def test_only_enabled_properties_are_requested_and_landed(make_workspace: WorkspaceFactory,
                                                          ten_properties: SandboxServer) -> None:
    server, dataset = ten_properties, ten_properties.dataset
    root = make_workspace(CONN.format(url=server.url), name="acme")
    enabled = set(range(1, 11)) - DISABLED

    run_sync(connection(root, "acme"))
    assert _landed(root) == _expected(dataset, enabled)
    assert all(_expected(dataset, enabled).values())
    assert _requested_properties(server) == enabled  # child endpoints of 2, 5, 9 never called

    # Two new communities appear, and every stream changes.
    new_ids = dataset.mutate("properties", update=0.2, insert=0.2, delete=0, seed=5)["inserted"]
    assert len(new_ids) == 2
    for stream in ("units", "leases", "work_orders"):
        dataset.mutate(stream, update=0.1, insert=0.05, delete=0.02, seed=6)
    mark = len(server.request_log)
    run_sync(connection(root, "acme"))
    assert _landed(root) == _expected(dataset, enabled)
    assert _requested_properties(server, mark) == enabled  # pending ones are not requested either

    result = CliRunner().invoke(app, ["--workspace", str(root), "properties", "acme", "--json"])
    assert result.exit_code == 0, result.output
    listed = {int(p["id"]): p for p in json.loads(result.stdout)}
    assert {i: p["status"] for i, p in listed.items()} == {
        **{i: "enabled" for i in enabled}, **{i: "disabled" for i in DISABLED}, **{i: "pending" for i in new_ids}}
    assert all(p["first_seen_at"] for p in listed.values())

    # Enable one of the new properties: one command, a reviewable edit of the YAML.
    result = CliRunner().invoke(app, ["--workspace", str(root), "properties", "acme", "--enable", str(new_ids[0])])
    assert result.exit_code == 0, result.output
    text = (root / "connections" / "acme.yaml").read_text()
    assert "# Acme manages ten communities" in text and "# signed-off by the customer" in text
    assert connection(root, "acme").config.properties.status(str(new_ids[0])) == "enabled"  # type: ignore[union-attr]

    mark = len(server.request_log)
    run_sync(connection(root, "acme"))
    enabled.add(new_ids[0])
    assert _landed(root) == _expected(dataset, enabled)
    assert _requested_properties(server, mark) == enabled
    assert new_ids[1] not in _requested_properties(server)


def test_disable_in_bulk_and_enable_all_pending(make_workspace: WorkspaceFactory,
                                                ten_properties: SandboxServer) -> None:
    root = make_workspace(CONN.format(url=ten_properties.url).replace(
        "  include: [1, 3, 4, 6, 7, 8, 10]   # signed-off by the customer\n", ""), name="acme")
    runner = CliRunner()
    result = runner.invoke(app, ["--workspace", str(root), "properties", "acme", "--refresh", "--json"])
    assert result.exit_code == 0, result.output
    statuses = {int(p["id"]): p["status"] for p in json.loads(result.stdout)}
    assert statuses == {i: "disabled" if i in DISABLED else "pending" for i in range(1, 11)}
    assert _requested_properties(ten_properties) == set()  # --refresh lists properties, reads nothing else

    result = runner.invoke(app, ["--workspace", str(root), "properties", "acme", "--enable", "pending",
                                 "--disable", "1,3", "--json"])
    assert result.exit_code != 0  # 1 and 3 are pending too: enabling and disabling them at once is refused
    result = runner.invoke(app, ["--workspace", str(root), "properties", "acme", "--disable", "1,3"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["--workspace", str(root), "properties", "acme", "--enable", "pending", "--json"])
    assert result.exit_code == 0, result.output
    statuses = {int(p["id"]): p["status"] for p in json.loads(result.stdout)}
    assert {i for i, s in statuses.items() if s == "enabled"} == set(range(1, 11)) - DISABLED - {1, 3}
    run_sync(connection(root, "acme"))
    assert _landed(root) == _expected(ten_properties.dataset, set(range(1, 11)) - DISABLED - {1, 3})


INCLUDE_ONLY = """\
name: acme
source:
  connector: sandbox
  config: {{base_url: "{url}", api_key: "${{SANDBOX_TEST_KEY}}", page_size: 50}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
properties:
  include: [1, 3]{extra}
streams:
  - {{name: properties, sync_mode: incremental_deduped}}
  - {{name: units, sync_mode: incremental_deduped}}
  - {{name: leases, sync_mode: incremental_deduped}}
  - {{name: work_orders, sync_mode: incremental_deduped}}
"""


def test_include_alone_means_only_those_properties(make_workspace: WorkspaceFactory,
                                                    ten_properties: SandboxServer) -> None:
    server, dataset = ten_properties, ten_properties.dataset
    root = make_workspace(INCLUDE_ONLY.format(url=server.url, extra=""), name="acme")
    run_sync(connection(root, "acme"))
    assert _landed(root) == _expected(dataset, {1, 3})
    assert _requested_properties(server) == {1, 3}

    new_ids = dataset.mutate("properties", update=0, insert=0.2, delete=0, seed=5)["inserted"]
    assert new_ids
    for stream in ("units", "work_orders"):
        dataset.mutate(stream, update=0.1, insert=0.05, delete=0, seed=6)
    mark = len(server.request_log)
    run_sync(connection(root, "acme"))
    assert _landed(root) == _expected(dataset, {1, 3})  # new properties are recorded as pending, not synced
    assert _requested_properties(server, mark) == {1, 3}
    result = CliRunner().invoke(app, ["--workspace", str(root), "properties", "acme", "--json"])
    assert result.exit_code == 0, result.output
    assert {int(p["id"]) for p in json.loads(result.stdout) if p["status"] == "pending"} == {
        *range(1, 11), *new_ids} - {1, 3}


def test_include_with_new_properties_enabled_takes_new_ones(make_workspace: WorkspaceFactory,
                                                            ten_properties: SandboxServer) -> None:
    server, dataset = ten_properties, ten_properties.dataset
    root = make_workspace(INCLUDE_ONLY.format(url=server.url, extra="\n  exclude: [2, 4, 5, 6, 7, 8, 9, 10]"
                                                                   "\n  new_properties: enabled"), name="acme")
    run_sync(connection(root, "acme"))
    assert _requested_properties(server) == {1, 3}
    new_ids = dataset.mutate("properties", update=0, insert=0.2, delete=0, seed=5)["inserted"]
    mark = len(server.request_log)
    run_sync(connection(root, "acme"))
    assert _requested_properties(server, mark) == {1, 3, *new_ids}
    assert _landed(root) == _expected(dataset, {1, 3, *new_ids})


def test_enabling_one_property_keeps_the_others_enabled(make_workspace: WorkspaceFactory,
                                                        ten_properties: SandboxServer) -> None:
    # With no include list every property is synced; `--enable 3` adds one, and must not turn the
    # file into an allow-list of that one property.
    root = make_workspace(INCLUDE_ONLY.format(url=ten_properties.url, extra="").replace(
        "properties:\n  include: [1, 3]\n", "properties:\n  exclude: [3]\n"), name="acme")
    result = CliRunner().invoke(app, ["--workspace", str(root), "properties", "acme", "--enable", "3"])
    assert result.exit_code == 0, result.output
    selection = connection(root, "acme").config.properties
    assert selection is not None and selection.include == ["3"] and selection.new_properties == "enabled"
    run_sync(connection(root, "acme"))
    assert _requested_properties(ten_properties) == set(range(1, 11))
