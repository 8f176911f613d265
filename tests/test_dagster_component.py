"""Rooftop connections load through Dagster's `dg` CLI as a component, next to the workspace.yaml route.

Each test builds a minimal `dg` project in a temp dir (pyproject with `[tool.dg]`, the root module's
`definitions.py` that loads the defs folder, and `defs/rooftop/defs.yaml` naming
`RooftopConnectionsComponent`) beside a Rooftop workspace, and runs the real `dg` CLI on it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dagster import AssetKey, AssetSpec
from dagster.components.testing.utils import component_defs

from connectors.sandbox.dataset import SandboxDataset
from pipelines.dagster import StreamTranslatorData, build_definitions
from pipelines.dagster.component import RooftopConnectionsComponent
from tests.conftest import API_KEY

DG = Path(sys.executable).parent / "dg"
COMPONENT = "pipelines.dagster.component.RooftopConnectionsComponent"
DEFS_YAML = f"""\
type: {COMPONENT}
attributes:
  workspace: ../../../../rooftop_ws  # from project/rooftop_dg/defs/rooftop/
  connections: [acme, brix]
  translation:
    key: "rooftop/{{{{ connection }}}}/{{{{ stream }}}}"
    group_name: "rooftop_{{{{ namespace }}}}"
    tags: {{customer: "{{{{ connection }}}}", stream: "{{{{ stream }}}}"}}
"""


def _connection(name: str, extra: str = "") -> str:
    return textwrap.dedent(f"""\
        name: {name}
        tags: {{tier: gold}}
        source: {{connector: sandbox, config: {{api_key: "${{SANDBOX_TEST_KEY}}", scale: 1}}}}
        destination: {{connector: duckdb, config: {{path: warehouse.duckdb}}}}
        namespace: {name}
        streams:
          - {{name: properties, sync_mode: full_refresh_overwrite}}
          - {{name: leases, sync_mode: incremental_deduped}}
        """) + extra


def _project(tmp_path: Path, defs_yaml: str = DEFS_YAML) -> Path:
    """A dg project at tmp_path/project and, beside it, a workspace with three sandbox connections."""
    ws = tmp_path / "rooftop_ws"
    (ws / "connections").mkdir(parents=True)
    (ws / "connections" / "acme.yaml").write_text(_connection("acme", "schedule: {cron: '0 6 * * *', timezone: UTC}\n"))
    (ws / "connections" / "brix.yaml").write_text(_connection("brix"))
    (ws / "connections" / "zeta.yaml").write_text(_connection("zeta"))  # not selected in defs.yaml
    (ws / ".env").write_text(f"SANDBOX_TEST_KEY={API_KEY}\n")
    project = tmp_path / "project"
    defs = project / "rooftop_dg" / "defs"
    (defs / "rooftop").mkdir(parents=True)
    (project / "pyproject.toml").write_text(textwrap.dedent("""\
        [project]
        name = "rooftop-dg"
        version = "0.0.1"

        [tool.dg]
        directory_type = "project"

        [tool.dg.project]
        root_module = "rooftop_dg"
        """))
    (project / "rooftop_dg" / "__init__.py").write_text("")
    (defs / "__init__.py").write_text("")
    (project / "rooftop_dg" / "definitions.py").write_text(textwrap.dedent("""\
        from pathlib import Path

        from dagster import definitions, load_from_defs_folder


        @definitions
        def defs():
            return load_from_defs_folder(path_within_project=Path(__file__).parent)
        """))
    (defs / "rooftop" / "defs.yaml").write_text(defs_yaml)
    return project


def _dg(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # No ROOFTOP_WORKSPACE and a working directory that is not the workspace: the defs.yaml decides.
    env = {k: v for k, v in os.environ.items() if k not in ("ROOFTOP_WORKSPACE", "SANDBOX_TEST_KEY")}
    home = project.parent / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry: {enabled: false}\n")
    env["DAGSTER_HOME"] = str(home)
    return subprocess.run([str(DG), *args], cwd=project, env=env, capture_output=True, text=True,
                          timeout=240, check=False)


def _list_defs(project: Path) -> dict[str, Any]:
    done = _dg(project, "list", "defs", "--json")
    assert done.returncode == 0, done.stderr
    listed: dict[str, Any] = json.loads(done.stdout)
    return listed


def test_dg_lists_the_component_type_from_the_entry_point(tmp_path: Path) -> None:
    done = _dg(_project(tmp_path), "list", "components", "--json")
    assert done.returncode == 0, done.stderr
    assert COMPONENT in {entry["key"] for entry in json.loads(done.stdout)["items"]}


def test_dg_loads_the_selected_connections_with_the_translation_applied(tmp_path: Path) -> None:
    listed = _list_defs(_project(tmp_path))
    assets = {a["asset_key"]: a for a in listed["assets"]}
    tables = {key for key, a in assets.items() if a["is_executable"]}
    assert tables == {f"rooftop/{c}/{s}" for c in ("acme", "brix") for s in ("properties", "leases")}
    leases = assets["rooftop/acme/leases"]
    assert leases["group_name"] == "rooftop_acme"
    # Templated tags merge into the YAML's; what translation does not set keeps Rooftop's defaults.
    assert {t["key"]: t["value"] for t in leases["tags"]} == {"customer": "acme", "stream": "leases", "tier": "gold"}
    assert set(leases["kinds"]) == {"sandbox", "duckdb"}
    assert leases["dependency_keys"] == ["source/sandbox/leases"]
    assert assets["source/sandbox/leases"]["group_name"] == "external_sources"
    assert not any("zeta" in key for key in assets)

    # The same jobs, schedules and checks as the workspace.yaml route builds for these connections.
    route = build_definitions(tmp_path / "rooftop_ws", connections=["acme", "brix"])
    assert sorted(j["name"] for j in listed["jobs"]) == sorted(j.name for j in route.jobs or [])
    assert [s["name"] for s in listed["schedules"]] == ["acme_schedule"]
    assert sorted(s.name for s in route.schedules or []) == ["acme_schedule"]
    checks = {c["key"] for c in listed["asset_checks"]}
    assert checks == {"rooftop/acme/leases:primary_key_unique", "rooftop/brix/leases:primary_key_unique"}
    assert len(route.resolve_asset_graph().asset_check_keys) == len(checks)
    assert AssetKey(["acme", "leases"]) in route.resolve_asset_graph().get_all_asset_keys()


def test_an_unknown_connection_in_defs_yaml_fails_dg_check_naming_it(tmp_path: Path) -> None:
    project = _project(tmp_path, DEFS_YAML.replace("[acme, brix]", "[acme, nope]"))
    done = _dg(project, "check", "defs")
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "no connection named 'nope'" in output and "known: acme, brix, zeta" in output


@pytest.mark.slow
def test_dg_launch_lands_rows_in_the_duckdb_warehouse(tmp_path: Path) -> None:
    project = _project(tmp_path)
    done = _dg(project, "launch", "--assets", "rooftop/acme/leases,rooftop/brix/properties")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    dataset = SandboxDataset(seed=42, scale=1)
    with duckdb.connect(str(tmp_path / "rooftop_ws" / "warehouse.duckdb"), read_only=True) as con:
        leases = sorted(i for (i,) in con.execute("SELECT id FROM acme.leases").fetchall())
        properties = sorted(i for (i,) in con.execute("SELECT id FROM brix.properties").fetchall())
        tables = {t for (t,) in con.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema IN ('acme', 'brix', 'zeta')").fetchall()}
    assert leases == sorted(r["id"] for r in dataset.current_records("leases"))
    assert properties == sorted(r["id"] for r in dataset.current_records("properties"))
    assert tables == {"acme.leases", "brix.properties"}  # only the selected assets synced


class PmsComponent(RooftopConnectionsComponent):
    """A Python subclass: source streams keyed `pms/<stream>`, tables owned by the data team."""

    def get_source_spec(self, data: StreamTranslatorData) -> AssetSpec:
        return super().get_source_spec(data).replace_attributes(key=AssetKey(["pms", data.stream]))

    def get_asset_spec(self, data: StreamTranslatorData) -> AssetSpec:
        return super().get_asset_spec(data).replace_attributes(owners=["team:data"])


def test_a_subclass_shapes_the_specs_and_translation_applies_on_top(tmp_path: Path) -> None:
    _project(tmp_path)
    # No translation: only the subclass speaks (keys stay Rooftop's [namespace, table]).
    component = PmsComponent(workspace=str(tmp_path / "rooftop_ws"), connections=["brix"])
    specs = {spec.key: spec for spec in component_defs(component=component).resolve_all_asset_specs()}
    leases = specs[AssetKey(["brix", "leases"])]
    assert leases.owners == ["team:data"]
    assert [dep.asset_key for dep in leases.deps] == [AssetKey(["pms", "leases"])]  # follows get_source_spec
    assert specs[AssetKey(["pms", "leases"])].group_name == "external_sources"
    assert not [key for key in specs if key.path[0] in ("acme", "zeta")]
    # With a translation: applied to what the subclass returns.
    component = PmsComponent.resolve_from_dict({
        "workspace": str(tmp_path / "rooftop_ws"), "connections": ["brix"],
        "translation": {"key_prefix": "{{ connection }}", "tags": {"source": "{{ source_connector }}"}}})
    specs = {spec.key: spec for spec in component_defs(component=component).resolve_all_asset_specs()}
    leases = specs[AssetKey(["brix", "brix", "leases"])]
    assert leases.owners == ["team:data"] and {"tier": "gold", "source": "sandbox"}.items() <= leases.tags.items()
    assert [dep.asset_key for dep in leases.deps] == [AssetKey(["pms", "leases"])]
