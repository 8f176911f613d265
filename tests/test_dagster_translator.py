"""A `RooftopTranslator` subclass decides what Dagster shows: keys, groups, and which files clash.

The default translator's keys, groups, kinds and tags are asserted by tests/test_dagster_definitions.py
(unchanged); here a subclass changes them, and a real in-process run lands its rows under the new keys.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import duckdb
from dagster import AssetCheckKey, AssetKey, AssetSpec, DagsterInstance, Definitions

from connectors.sandbox.dataset import SandboxDataset
from pipelines.dagster import RooftopTranslator, StreamTranslatorData, build_definitions, connection_job
from tests.conftest import API_KEY


def _connection(name: str, warehouse: str, namespace: str = "raw", tags: str = "{}") -> str:
    return textwrap.dedent(f"""\
        name: {name}
        tags: {tags}
        source: {{connector: sandbox, config: {{api_key: "${{SANDBOX_TEST_KEY}}", scale: 2}}}}
        destination: {{connector: duckdb, config: {{path: {warehouse}}}}}
        namespace: {namespace}
        streams:
          - {{name: properties, sync_mode: full_refresh_overwrite}}
          - {{name: leases, sync_mode: incremental_deduped}}
        """)


def _workspace(root: Path, files: dict[str, str]) -> Path:
    (root / "connections").mkdir(parents=True)
    for name, text in files.items():
        (root / "connections" / f"{name}.yaml").write_text(text)
    (root / ".env").write_text(f"SANDBOX_TEST_KEY={API_KEY}\n")
    return root


class CustomerTranslator(RooftopTranslator):
    """One Dagster folder per customer (the `customer` tag), grouped by warehouse schema."""

    def get_asset_spec(self, data: StreamTranslatorData) -> AssetSpec:
        default = super().get_asset_spec(data)
        customer = data.config.tags.get("customer", data.connection.name)
        return default.replace_attributes(key=AssetKey([customer, data.namespace, data.table]),
                                          group_name=f"{customer}_{data.namespace}")


class TableOnlyTranslator(RooftopTranslator):
    """Keys by table name alone: two connections landing one table name collide in Dagster."""

    def get_asset_spec(self, data: StreamTranslatorData) -> AssetSpec:
        return super().get_asset_spec(data).replace_attributes(key=AssetKey([data.table]))


class OneKeyTranslator(RooftopTranslator):
    """A broken translator: every stream of a connection gets the same key."""

    def get_asset_spec(self, data: StreamTranslatorData) -> AssetSpec:
        return super().get_asset_spec(data).replace_attributes(key=AssetKey([data.connection.name]))


def _specs(defs: Definitions) -> dict[AssetKey, AssetSpec]:
    return {spec.key: spec for spec in defs.resolve_all_asset_specs()}


def test_a_subclass_changes_keys_and_groups_and_keeps_the_other_defaults(tmp_path: Path) -> None:
    root = _workspace(tmp_path / "ws", {"leasing": _connection("leasing", "wh.duckdb", tags="{customer: acme}")})
    defs = build_definitions(root, translator=CustomerTranslator())
    specs = _specs(defs)
    leases = specs[AssetKey(["acme", "raw", "leases"])]
    assert leases.group_name == "acme_raw"
    assert specs[AssetKey(["acme", "raw", "properties"])].group_name == "acme_raw"
    assert AssetKey(["raw", "leases"]) not in specs
    # What the subclass did not override keeps Rooftop's defaults.
    assert leases.kinds == {"sandbox", "duckdb"} and leases.tags["customer"] == "acme"
    assert leases.metadata["dagster/table_name"] == "raw.leases"
    assert [dep.asset_key for dep in leases.deps] == [AssetKey(["source", "sandbox", "leases"])]
    assert AssetCheckKey(AssetKey(["acme", "raw", "leases"]), "primary_key_unique") in \
        defs.resolve_asset_graph().asset_check_keys
    assert set(defs.resolve_job_def("leasing").asset_layer.selected_asset_keys) == {
        AssetKey(["acme", "raw", "leases"]), AssetKey(["acme", "raw", "properties"])}


def test_a_run_lands_rows_in_duckdb_under_the_custom_keys(tmp_path: Path) -> None:
    root = _workspace(tmp_path / "ws", {"leasing": _connection("leasing", "wh.duckdb", tags="{customer: acme}")})
    defs = build_definitions(root, translator=CustomerTranslator())
    result = defs.resolve_job_def("leasing").execute_in_process(instance=DagsterInstance.ephemeral())
    assert result.success
    landed = {e.materialization.asset_key: e.materialization.metadata
              for e in result.get_asset_materialization_events()}
    assert set(landed) == {AssetKey(["acme", "raw", "leases"]), AssetKey(["acme", "raw", "properties"])}
    with duckdb.connect(str(root / "wh.duckdb"), read_only=True) as con:
        ids = sorted(i for (i,) in con.execute("SELECT id FROM raw.leases").fetchall())
    expected = sorted(r["id"] for r in SandboxDataset(seed=42, scale=2).current_records("leases"))
    assert ids == expected
    assert landed[AssetKey(["acme", "raw", "leases"])]["rows_synced"].value == len(expected)
    [check] = result.get_asset_check_evaluations()
    assert check.asset_key == AssetKey(["acme", "raw", "leases"]) and check.passed


def test_duplicate_keys_are_judged_on_the_translators_keys(tmp_path: Path) -> None:
    # Same `raw.leases` in two warehouses: with the default keys only one can be shown ...
    root = _workspace(tmp_path / "ws", {
        "a_first": _connection("a_first", "a.duckdb", tags="{customer: acme}"),
        "b_second": _connection("b_second", "b.duckdb", tags="{customer: brix}"),
    })
    specs = _specs(build_definitions(root))
    assert "another warehouse" in (specs[AssetKey(["rooftop_broken", "b_second"])].description or "")
    # ... the customer prefix tells them apart, so both load.
    specs = _specs(build_definitions(root, translator=CustomerTranslator()))
    assert {AssetKey(["acme", "raw", "leases"]), AssetKey(["brix", "raw", "leases"])} <= set(specs)
    assert not [key for key in specs if key.path[0] == "rooftop_broken"]


def test_a_translator_that_merges_keys_breaks_the_later_file_not_the_code_location(tmp_path: Path) -> None:
    # Different schemas and warehouses: the engine sees no collision, the translator's keys do.
    root = _workspace(tmp_path / "ws", {
        "a_first": _connection("a_first", "a.duckdb", namespace="one"),
        "b_second": _connection("b_second", "b.duckdb", namespace="two"),
    })
    specs = _specs(build_definitions(root, translator=TableOnlyTranslator()))
    assert specs[AssetKey(["leases"])].group_name == "a_first"
    broken = specs[AssetKey(["rooftop_broken", "b_second"])].description or ""
    assert "connections/b_second.yaml:7" in broken
    assert "asset key properties is already the table of connection 'a_first'" in broken

    specs = _specs(build_definitions(root, translator=OneKeyTranslator()))
    broken = specs[AssetKey(["rooftop_broken", "a_first"])].description or ""
    assert "connections/a_first.yaml:8" in broken
    assert "streams 'properties' and 'leases' both get the asset key a_first from OneKeyTranslator" in broken


def test_a_reconstructed_job_uses_the_translator_named_by_import_path(tmp_path: Path) -> None:
    root = _workspace(tmp_path / "ws", {"leasing": _connection("leasing", "wh.duckdb", tags="{customer: acme}")})
    job = connection_job(str(root), "leasing", f"{__name__}:CustomerTranslator")
    assert AssetKey(["acme", "raw", "leases"]) in job.asset_layer.selected_asset_keys
