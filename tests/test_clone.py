"""`rooftop clone`: new connections from a template, settings pushed onto existing ones, and every refusal.

Files are real, commands run through the real CLI, and the clone is synced against the sandbox
API to show it is a connection of its own: its own tables, its own state, its own credentials.
"""

from __future__ import annotations

import difflib
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.sandbox.server import SandboxServer
from pipelines.cli import app
from tests.conftest import API_KEY, WorkspaceFactory, connection
from tests.warehouse_checks import rows

TEMPLATE = """\
# Leasing from the sandbox PMS: the template every customer starts from.
name: template
description: Leases and units
environment: sandbox
source:
  connector: sandbox
  config:
    api_key: "${SANDBOX_TEST_KEY}"   # secret: never printed
    page_size: 50
destination: { connector: duckdb, config: { path: wh.duckdb } }
namespace: source            # schema "sandbox"
# Three tries, a second apart at first.
retries: { attempts: 3, delay: 1s }
max_concurrency: 2
properties:
  include: [1, 2]   # the template's own pick
  exclude:
    - 3   # a pilot
  new_properties: pending
# The streams every customer gets.
streams:
  - name: leases
    sync_mode: incremental_deduped   # latest version of each lease
  - name: units
    sync_mode: full_refresh_overwrite
# end of template
"""

CUSTOMER = """\
# Beta Homes: onboarded 2024-03, contact ops@beta.example
name: beta
description: Beta's leases
environment: sandbox
source:
  connector: sandbox
  config: { api_key: "${BETA_API_KEY}" }   # from the customer's portal
destination: { connector: duckdb, config: { path: wh.duckdb } }
namespace: beta              # one schema per customer
# Beta's API is slow at night.
schedule: { cron: "0 6 * * *", timezone: America/Chicago }
# Beta asked us to go easy on their API.
rate_limit: { requests: 2, per: second }
properties:
  include: [7, 8]   # signed off by Beta
  new_properties: enabled
streams:
  - name: leases
# end of beta
"""


def _invoke(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--workspace", str(root), "clone", *args])
    return result.exit_code, result.output


def _snapshot(root: Path) -> dict[str, str]:
    folder = root / "connections"
    return {p.name: p.read_text() for p in sorted(folder.iterdir())}


def _changed(before: str, after: str) -> tuple[list[str], list[str]]:
    gone, added = [], []
    for line in difflib.ndiff(before.splitlines(), after.splitlines()):
        if line.startswith("- "):
            gone.append(line[2:])
        elif line.startswith("+ "):
            added.append(line[2:])
    return gone, added


def connection_text(root: Path, name: str) -> str:
    return (root / "connections" / f"{name}.yaml").read_text()


def _add(root: Path, name: str, text: str) -> None:
    (root / "connections" / f"{name}.yaml").write_text(textwrap.dedent(text))


@pytest.fixture
def workspace(make_workspace: WorkspaceFactory) -> Path:
    root = make_workspace(TEMPLATE, name="template")
    with (root / ".env").open("a") as env:
        env.write("BETA_API_KEY=beta-key\n")
    return root


# -- clone SRC NEW -------------------------------------------------------------------------------

def test_new_file_differs_from_the_template_only_where_it_must(workspace: Path) -> None:
    code, out = _invoke(workspace, "template", "acme", "--namespace", "acme")
    assert code == 0, out
    assert "connections/acme.yaml" in out and "ACME_API_KEY" in out and ".env" in out
    assert "properties.include" in out and "properties.exclude" in out

    text = (workspace / "connections" / "acme.yaml").read_text()
    gone, added = _changed(TEMPLATE, text)
    assert gone == ["name: template", '    api_key: "${SANDBOX_TEST_KEY}"   # secret: never printed',
                    'namespace: source            # schema "sandbox"', "  include: [1, 2]   # the template's own pick",
                    "  exclude:", "    - 3   # a pilot"]
    assert added == ["name: acme", '    api_key: "${ACME_API_KEY}"       # secret: never printed',
                     'namespace: acme              # schema "sandbox"', "  include: []       # the template's own pick",
                     "  exclude: []"]

    (workspace / ".env").write_text(f"SANDBOX_TEST_KEY={API_KEY}\nACME_API_KEY=acme-key\n")
    acme = connection(workspace, "acme")
    assert acme.source_config.api_key.get_secret_value() == "acme-key"  # type: ignore[attr-defined]
    assert acme.config.properties is not None and acme.config.properties.new_properties == "pending"
    assert acme.config.properties.include == [] and acme.config.properties.exclude == []
    assert acme.config.environment == "sandbox" and acme.config.description == "Leases and units"


def test_credentials_become_placeholders_and_a_shared_warehouse_keeps_its_reference(
        make_workspace: WorkspaceFactory) -> None:
    src = """\
        name: vendor
        source:
          connector: rest_api
          config:
            base_url: "https://api.vendor.example/v1"
            auth: {type: api_key, name: X-API-Key, key: "literal-vendor-key"}
            streams: [{name: things, path: /things, primary_key: id}]
        destination:
          connector: postgres
          config: {host: db.internal, password: "${PG_PASSWORD}"}
        namespace: vendor_a
        """
    root = make_workspace(src, name="vendor")
    (root / ".env").write_text("PG_PASSWORD=pg-secret\n")
    code, out = _invoke(root, "vendor", "vendor_b", "--namespace", "vendor_b")
    assert code == 0, out
    text = (root / "connections" / "vendor_b.yaml").read_text()
    assert 'key: "${VENDOR_B_KEY}"' in text and "literal-vendor-key" not in text
    assert 'password: "${PG_PASSWORD}"' in text  # the same warehouse: its credentials are shared
    assert "VENDOR_B_KEY" in out and "source.config.auth.key" in out and "${PG_PASSWORD}" in out

    # A literal warehouse password is a credential to fill too; names that clash get the longer form.
    _add(root, "sqlsrc", """\
        name: sqlsrc
        source: {connector: sql, config: {url: "postgresql://reader@pms:5432/pms", password: "s3cret"}}
        destination: {connector: postgres, config: {host: db.internal, password: "wh-literal"}}
        namespace: pms_a
        """)
    code, out = _invoke(root, "sqlsrc", "sql_b", "--namespace", "pms_b")
    assert code == 0, out
    text = (root / "connections" / "sql_b.yaml").read_text()
    assert 'password: "${SQL_B_PASSWORD}"' in text and 'password: "${SQL_B_DESTINATION_PASSWORD}"' in text
    assert "s3cret" not in text and "wh-literal" not in text


@pytest.mark.parametrize(("args", "message"), [
    (["template", "acme"], "pass --namespace or --prefix"),
    (["template", "acme", "--namespace", "source"], "pass --namespace or --prefix"),
    (["template", "Acme-1", "--prefix", "a_"], "not a valid connection name"),
    (["template", "template", "--prefix", "a_"], "a name of its own"),
    (["template", "beta", "--prefix", "b_"], "already exists"),
    (["template", "old_beta", "--prefix", "b_"], "already exists"),
    (["template", "acme", "--prefix", "a_", "--environment", "production"], "across environments"),
    (["template", "acme", "--prefix", "a_", "--environment", "staging"], "expected sandbox or production"),
    (["nothing", "acme", "--prefix", "a_"], "no connection named 'nothing'"),
    (["template"], "give a NEW name"),
    (["template", "acme", "--into", "beta"], "not both"),
    (["template", "--into", "beta", "--namespace", "x"], "does not combine with --into"),
])
def test_refusals_write_nothing(workspace: Path, args: list[str], message: str) -> None:
    _add(workspace, "old_beta", CUSTOMER)  # file old_beta.yaml, connection `beta`
    _add(workspace, "gamma", CUSTOMER.replace("name: beta", "name: gamma").replace("namespace: beta", "namespace: g"))
    before = _snapshot(workspace)
    code, out = _invoke(workspace, *args)
    assert code == 2, out
    assert message in out and "Traceback" not in out
    assert _snapshot(workspace) == before


def test_two_clones_into_the_same_tables_are_refused(workspace: Path) -> None:
    assert _invoke(workspace, "template", "acme", "--namespace", "acme")[0] == 0
    (workspace / ".env").write_text(f"SANDBOX_TEST_KEY={API_KEY}\nACME_API_KEY=k\n")
    before = _snapshot(workspace)
    code, out = _invoke(workspace, "template", "acme2", "--namespace", "acme")
    assert code == 2 and "same tables as 'acme'" in out and "--namespace or --prefix" in out
    assert _snapshot(workspace) == before
    code, out = _invoke(workspace, "template", "acme2", "--namespace", "acme", "--prefix", "two_")
    assert code == 0, out


def test_the_environment_flag_may_confirm_the_source_environment(workspace: Path) -> None:
    code, out = _invoke(workspace, "template", "acme", "--prefix", "acme_", "--environment", "sandbox")
    assert code == 0, out
    assert connection_text(workspace, "acme").count("environment: sandbox") == 1


def test_a_broken_source_reports_its_own_error(workspace: Path) -> None:
    _add(workspace, "broken",
         "name: broken\nsource: {connector: sandbox, config: {api_key: x}}\nretries: {attempts: 0}\n")
    before = _snapshot(workspace)
    code, out = _invoke(workspace, "broken", "acme", "--prefix", "a_")
    assert code == 2 and "connections/broken.yaml:3" in out and "retries.attempts" in out
    code, out = _invoke(workspace, "template", "--into", "broken")
    assert code == 2 and "connections/broken.yaml:3" in out
    assert _snapshot(workspace) == before


# -- clone SRC --into DST ------------------------------------------------------------------------

def test_into_copies_settings_and_keeps_the_customer(workspace: Path) -> None:
    _add(workspace, "beta", CUSTOMER)
    code, out = _invoke(workspace, "template", "--into", "beta")
    assert code == 0, out
    assert "changed: retries, max_concurrency, streams, properties.new_properties" in out
    assert "removed (not set in template): schedule, rate_limit" in out
    assert connection_text(workspace, "beta") == textwrap.dedent("""\
        # Beta Homes: onboarded 2024-03, contact ops@beta.example
        name: beta
        description: Beta's leases
        environment: sandbox
        source:
          connector: sandbox
          config: { api_key: "${BETA_API_KEY}" }   # from the customer's portal
        destination: { connector: duckdb, config: { path: wh.duckdb } }
        namespace: beta              # one schema per customer
        # Three tries, a second apart at first.
        retries: { attempts: 3, delay: 1s }
        max_concurrency: 2
        properties:
          include: [7, 8]   # signed off by Beta
          new_properties: pending
        # The streams every customer gets.
        streams:
          - name: leases
            sync_mode: incremental_deduped   # latest version of each lease
          - name: units
            sync_mode: full_refresh_overwrite
        # end of beta
        """)
    beta = connection(workspace, "beta")
    assert beta.source_config.api_key.get_secret_value() == "beta-key"  # type: ignore[attr-defined]
    code, out = _invoke(workspace, "template", "--into", "beta")  # a second push changes nothing
    assert code == 0 and "nothing to change" in out


def test_into_a_connection_without_properties_brings_the_policy_and_back(workspace: Path) -> None:
    _add(workspace, "gamma", "name: gamma\nenvironment: sandbox\nsource: {connector: sandbox, config: {api_key: x}}\n"
                             "namespace: gamma\n")
    assert _invoke(workspace, "template", "--into", "gamma")[0] == 0
    gamma = connection(workspace, "gamma")
    assert gamma.config.properties is not None and gamma.config.properties.new_properties == "pending"
    assert gamma.config.retries.attempts == 3 and [s.name for s in gamma.config.streams or []] == ["leases", "units"]
    code, out = _invoke(workspace, "gamma", "--into", "template")  # gamma has exactly the template's settings now
    assert code == 0 and "nothing to change" in out, out


@pytest.mark.parametrize(("src_env", "dst_env"), [("sandbox", "production"), ("production", "sandbox")])
def test_into_never_crosses_environments(workspace: Path, src_env: str, dst_env: str) -> None:
    _add(workspace, "one", f"name: one\nenvironment: {src_env}\n"
                           "source: {connector: sandbox, config: {api_key: x}}\nnamespace: one\n")
    _add(workspace, "two", "name: two\nsource: {connector: sandbox, config: {api_key: x}}\nnamespace: two\n"
                           + ("environment: sandbox\n" if dst_env == "sandbox" else ""))  # absent = production
    before = _snapshot(workspace)
    code, out = _invoke(workspace, "one", "--into", "two")
    assert code == 2 and f"a {src_env} connection" in out and "across environments" in out
    assert _snapshot(workspace) == before


@pytest.mark.parametrize("other", [
    "name: other\nenvironment: sandbox\nsource: {connector: files, config: {streams: [{name: leases, path: l.csv}]}}\n",
    "name: other\nenvironment: sandbox\nsource: {connector: rest_api, config: {base_url: 'https://x.example', "
    "streams: [{name: leases, path: /leases}]}}\n",
])
def test_into_never_crosses_systems(workspace: Path, other: str) -> None:
    _add(workspace, "other", other)
    before = _snapshot(workspace)
    for args in (["template", "--into", "other"], ["other", "--into", "template"]):
        code, out = _invoke(workspace, *args)
        assert code == 2 and "only meaningful for the same system" in out, out
    assert _snapshot(workspace) == before


# -- the clone is a connection of its own --------------------------------------------------------

SYNCED = """\
name: template
environment: sandbox
source:
  connector: sandbox
  config: {{base_url: "{url}", api_key: "${{SANDBOX_TEST_KEY}}", page_size: 50}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
streams:
  - {{name: leases, sync_mode: incremental_deduped}}
  - {{name: units, sync_mode: full_refresh_overwrite}}
  - {{name: work_orders, sync_mode: incremental_append}}
"""
STREAMS = ("leases", "units", "work_orders")


def _tables(db: Path, schema: str, prefix: str = "") -> dict[str, list[tuple[object, ...]]]:
    return {s: sorted(rows(db, f"SELECT id, updated_at FROM {schema}.{prefix}{s}"), key=repr) for s in STREAMS}


def _state(db: Path, name: str) -> list[tuple[object, ...]]:
    return sorted(rows(db, f"SELECT stream, CAST(state AS VARCHAR), sync_id FROM _rooftop.state "
                           f"WHERE connection = '{name}'"), key=repr)


@pytest.mark.parametrize("placement", [["--namespace", "acme"], ["--prefix", "acme_"]])
def test_a_clone_syncs_into_its_own_tables(make_workspace: WorkspaceFactory, sandbox: SandboxServer,
                                           placement: list[str]) -> None:
    root = make_workspace(SYNCED.format(url=sandbox.url), name="template")
    runner = CliRunner()
    result = runner.invoke(app, ["--workspace", str(root), "sync", "template"])
    assert result.exit_code == 0, result.output
    db = root / "wh.duckdb"
    src_tables, src_state = _tables(db, "sandbox"), _state(db, "template")
    assert all(src_tables.values()) and src_state

    code, out = _invoke(root, "template", "acme", *placement)
    assert code == 0, out
    result = runner.invoke(app, ["--workspace", str(root), "sync", "acme"])
    assert result.exit_code == 2 and "${ACME_API_KEY} is not set" in result.output  # the user must fill it

    (root / ".env").write_text(f"SANDBOX_TEST_KEY={API_KEY}\nACME_API_KEY=wrong-key\n")
    result = runner.invoke(app, ["--workspace", str(root), "sync", "acme"])
    assert result.exit_code != 0  # the clone really uses its own credential

    (root / ".env").write_text(f"SANDBOX_TEST_KEY={API_KEY}\nACME_API_KEY={API_KEY}\n")
    result = runner.invoke(app, ["--workspace", str(root), "sync", "acme"])
    assert result.exit_code == 0, result.output
    schema, prefix = ("acme", "") if placement[0] == "--namespace" else ("sandbox", "acme_")
    acme_tables = _tables(db, schema, prefix)
    assert {s: len(r) for s, r in acme_tables.items()} == {s: len(r) for s, r in src_tables.items()}
    assert acme_tables == src_tables
    assert _tables(db, "sandbox") == src_tables and _state(db, "template") == src_state  # the template is untouched
    acme_state = _state(db, "acme")
    assert {r[0] for r in acme_state} == {r[0] for r in src_state}
    assert not {r[2] for r in acme_state} & {r[2] for r in src_state}  # separate syncs, separate state rows
