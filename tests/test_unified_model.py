"""`model: unified` end to end: the sandbox's streams land as the unified tables, through the CLI into DuckDB.

What a user relies on: the five tables with exactly the unified columns; `id` = `sandbox:<connection>:<id>`
and foreign keys that join; values equal to what the API served (checked against the dataset with plain
Python, not the engine's code); default status normalization and a connection's `enum_maps` over it;
unmapped vendor fields kept in `vendor_fields`; incremental syncs and deletes working as on native
streams; property selection; and `model: unified` on a connector without a mapping refused at its line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from connectors.buildium.unified import UNIFIED_MAPPING as BUILDIUM_MAPPING
from connectors.rent_manager.unified import UNIFIED_MAPPING as RENT_MANAGER_MAPPING
from connectors.sandbox.dataset import SandboxDataset
from connectors.sandbox.server import SandboxServer
from connectors.sdk.replay import ReplayServer
from protocol.unified import NORMALIZED, UNIFIED_TABLES, normalized_column
from tests.conftest import API_KEY, WorkspaceFactory
from tests.support.cli import rooftop
from tests.support.http_api import TestApi
from tests.support.vendors.buildium import CLIENT_ID as BLD_ID
from tests.support.vendors.buildium import CLIENT_SECRET as BLD_SECRET
from tests.support.vendors.customer import customer, serve_buildium, serve_rent_manager

CONN = """\
name: acme
model: unified
source: {{connector: sandbox, config: {{base_url: "{url}", api_key: "${{SANDBOX_TEST_KEY}}", page_size: 25}}}}
destination: {{connector: duckdb, config: {{path: warehouse.duckdb}}}}
namespace: unified
{extra}"""
LEASE_DEFAULTS = {"Current": "ACTIVE", "Notice": "ACTIVE", "Past": "INACTIVE", "Future": "PENDING",
                  "Evicted": "EVICTED"}


@pytest.fixture
def api() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxDataset(seed=5, scale=3), api_key=API_KEY) as server:
        yield server



def _query(root: Path, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def _columns(root: Path, table: str) -> list[str]:
    return [r[0] for r in _query(root, "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                                       f"'unified' AND table_name = '{table}' ORDER BY ordinal_position")]


def test_the_sandbox_lands_the_unified_tables(api: SandboxServer, make_workspace: WorkspaceFactory) -> None:
    root = make_workspace(CONN.format(url=api.url, extra=""), name="acme")
    code, out = rooftop(root, "sync", "acme")
    assert code == 0, out
    data = api.dataset
    for table, schema in UNIFIED_TABLES.items():
        assert [c for c in _columns(root, table) if not c.startswith("_rooftop")] == schema.names
        assert _query(root, f"SELECT count(*) FROM unified.{table}")[0][0] == data.record_count(table)

    leases = {r["id"]: r for r in data.current_records("leases")}
    landed = _query(root, "SELECT id, source_system, source_id, unit_id, resident_id, status, status_normalized, "
                          "rent, start_date::VARCHAR, vendor_fields FROM unified.leases")
    for id_, system, source_id, unit_id, resident_id, status, normalized, rent, start, vendor in landed:
        lease = leases[int(str(source_id))]
        assert (id_, system) == (f"sandbox:acme:{lease['id']}", "sandbox")
        assert (unit_id, resident_id) == (f"sandbox:acme:{lease['unit_id']}", f"sandbox:acme:{lease['resident_id']}")
        assert (status, normalized) == (lease["status"], LEASE_DEFAULTS[lease["status"]])
        assert rent == Decimal(str(lease["rent"])).quantize(Decimal("0.01"))
        assert start == lease["start_date"]
        assert vendor is None  # every lease field has a unified column
    # Foreign keys join: every lease's unit is a landed unit, every unit's property a landed property.
    assert _query(root, "SELECT count(*) FROM unified.leases l ANTI JOIN unified.units u ON l.unit_id = u.id") == [(0,)]
    assert _query(root, "SELECT count(*) FROM unified.units u ANTI JOIN unified.properties p "
                        "ON u.property_id = p.id") == [(0,)]
    # Fields without a unified column are kept, by their vendor name, in vendor_fields.
    units = {r["id"]: r for r in data.current_records("units")}
    for source_id, vendor in _query(root, "SELECT source_id, vendor_fields FROM unified.units"):
        assert json.loads(str(vendor)) == {"amenities": units[int(str(source_id))]["amenities"]}
    streets = {str(r["id"]): r["address"]["street"] for r in data.current_records("properties")}
    assert dict(_query(root, "SELECT source_id, address_line1 FROM unified.properties")) == streets


def test_enum_maps_override_the_default_normalization(api: SandboxServer, make_workspace: WorkspaceFactory) -> None:
    extra = """\
streams:
  - name: leases
    enum_maps: {status: {values: {Notice: INACTIVE}}}
  - name: work_orders
    enum_maps: {status: {to: status_normalized, values: {Assigned: IN_PROGRESS}, default: UNKNOWN}}
"""
    root = make_workspace(CONN.format(url=api.url, extra=extra), name="acme")
    code, out = rooftop(root, "sync", "acme")
    assert code == 0, out
    expected = {**LEASE_DEFAULTS, "Notice": "INACTIVE"}
    pairs = _query(root, "SELECT DISTINCT status, status_normalized FROM unified.leases")
    assert {"Notice", "Current"} <= {s for s, _ in pairs}
    assert all(normalized == expected[status] for status, normalized in pairs)
    orders = dict(_query(root, "SELECT DISTINCT status, status_normalized FROM unified.work_orders"))
    assert orders["Assigned"] == "IN_PROGRESS"  # the override
    assert orders["Completed"] == "COMPLETED"  # a default the connection did not touch


def test_incremental_syncs_merge_and_soft_delete(api: SandboxServer, make_workspace: WorkspaceFactory) -> None:
    extra = "streams:\n  - name: leases\n    sync_mode: incremental_deduped\n"
    root = make_workspace(CONN.format(url=api.url, extra=extra), name="acme")
    assert rooftop(root, "sync", "acme")[0] == 0
    api.dataset.mutate("leases", update=0.2, insert=0.1, delete=0.05, seed=3)
    code, out = rooftop(root, "sync", "acme")
    assert code == 0, out
    live = {f"sandbox:acme:{r['id']}": r["status"] for r in api.dataset.current_records("leases")}
    landed = dict(_query(root, "SELECT id, status FROM unified.leases WHERE _rooftop_deleted_at IS NULL"))
    assert landed == live
    assert _query(root, "SELECT count(*) - count(DISTINCT id) FROM unified.leases") == [(0,)]
    assert _query(root, "SELECT count(*) FROM unified.leases WHERE _rooftop_deleted_at IS NOT NULL")[0][0] > 0


def test_property_selection_keeps_unified_tables_to_the_chosen_properties(
        api: SandboxServer, make_workspace: WorkspaceFactory) -> None:
    chosen = next(iter(api.dataset.current_records("properties")))["id"]
    extra = f"properties: {{include: ['{chosen}']}}\nstreams: [{{name: properties}}, {{name: units}}]\n"
    root = make_workspace(CONN.format(url=api.url, extra=extra), name="acme")
    code, out = rooftop(root, "sync", "acme")
    assert code == 0, out
    assert _query(root, "SELECT DISTINCT property_id FROM unified.units") == [(f"sandbox:acme:{chosen}",)]
    assert _query(root, "SELECT source_id FROM unified.properties") == [(str(chosen),)]


def test_unified_on_a_connector_without_a_mapping_is_refused_at_its_line(make_workspace: WorkspaceFactory,
                                                                        tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("id,name\n1,a\n")
    root = make_workspace("""\
        name: files_only
        source: {connector: files, config: {streams: [{name: data, path: data.csv}]}}
        model: unified
        """, name="files_only")
    code, out = rooftop(root, "validate")
    assert code == 2
    assert "files_only.yaml:3" in out and "model" in out and "unified mapping" in out


# --- the same customer, as Buildium and as Rent Manager ------------------------------------------------------

RM_PASSWORD = "rm-unified-pass-77"
VENDOR_CONN = """\
name: acme
model: unified
source: {{connector: {connector}, config: {config}}}
destination: {{connector: duckdb, config: {{path: warehouse.duckdb}}}}
namespace: unified
"""
TIMESTAMPS = {"created_at", "updated_at", "completed_at"}
"""Not compared: Buildium returns no update or creation time on most records (its cursor is a watermark)."""


def compared_columns(table: str) -> list[str]:
    """The columns both vendors' mappings fill (normalized twins included), ids excepted: what "identical" means."""
    filled = []
    for mapping in (BUILDIUM_MAPPING, RENT_MANAGER_MAPPING):
        spec = mapping.tables[table]
        filled.append({*spec.columns, *(normalized_column(f) for f in spec.enums)})
    # A normalized field's raw value is the vendor's own vocabulary (IsVacant "true" = IsUnitOccupied "false"):
    # its normalized twin is what must agree.
    raw = set(NORMALIZED.get(table, {}))
    return [c for c in UNIFIED_TABLES[table].names if c in filled[0] & filled[1] and c not in TIMESTAMPS | raw]


def _vendor_table(root: Path, table: str) -> list[tuple[object, ...]]:
    """Rows with source_id for id and the vendor's id for each foreign key (the prefix names the system)."""
    refs = [c for c in compared_columns(table) if c.endswith("_id")]
    plain = [c for c in compared_columns(table) if c not in refs]
    select = ", ".join(["source_id", *(f"split_part({c}, ':', 3) AS {c}" for c in refs), *plain])
    return _query(root, f"SELECT {select} FROM unified.{table} ORDER BY source_id")


def test_one_customer_lands_identical_unified_tables_from_buildium_and_rent_manager(
        make_workspace: WorkspaceFactory, tmp_path: Path) -> None:
    data = customer()
    roots: dict[str, Path] = {}
    with ReplayServer(serve_buildium(data)) as bld, \
            TestApi(serve_rent_manager(data, username="etl", password=RM_PASSWORD)) as rm:
        for connector, config in (
                ("buildium",
                 f'{{client_id: "{BLD_ID}", client_secret: "${{BLD_SECRET}}", base_url: "{bld.url}"}}'),
                ("rent_manager",
                 f'{{base_url: "{rm.url}", username: etl, password: "${{RM_PASSWORD}}"}}')):
            root = tmp_path / connector.rsplit(".", 1)[-1].lower().replace(":", "_")
            root.mkdir()
            (root / "connections").mkdir()
            (root / "connections" / "acme.yaml").write_text(VENDOR_CONN.format(connector=connector, config=config))
            (root / ".env").write_text(f"BLD_SECRET={BLD_SECRET}\nRM_PASSWORD={RM_PASSWORD}\n")
            code, out = rooftop(root, "sync", "acme")
            assert code == 0, out
            roots[connector] = root
    buildium, rent_manager = roots.values()
    served = {"properties": data.properties, "units": data.units, "residents": data.residents,
              "leases": data.leases, "work_orders": data.work_orders}
    for table in UNIFIED_TABLES:
        # The core of each table is compared, not just whatever happens to overlap.
        assert {"properties": {"name"}, "units": {"property_id", "unit_number", "square_feet", "status_normalized"},
                "residents": {"first_name", "last_name"},
                "leases": {"property_id", "unit_id", "resident_id", "move_in_date", "move_out_date"},
                "work_orders": {"unit_id", "description", "status_normalized"}}[table] <= set(compared_columns(table))
        rows = _vendor_table(buildium, table)
        assert len(rows) == len(served[table])
        assert rows == _vendor_table(rent_manager, table), table
    systems = {row[0] for root in roots.values()
               for row in _query(root, "SELECT DISTINCT source_system FROM unified.leases")}
    assert systems == {"buildium", "rent_manager"}
    assert _query(buildium, "SELECT DISTINCT status_normalized FROM unified.units ORDER BY 1") == [("OCCUPIED",),
                                                                                                  ("VACANT",)]
