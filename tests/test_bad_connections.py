"""Malformed connection files: each gets one clear message naming file, line and field, a non-zero
exit, and leaves an existing warehouse byte-for-byte untouched."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import app

GOOD = """\
name: good
source:
  connector: sandbox
  config: {api_key: "${SANDBOX_API_KEY:-k-123456}", scale: 1}
destination:
  connector: duckdb
  config: {path: warehouse.duckdb}
streams:
  - name: properties
    sync_mode: full_refresh_overwrite
"""

BASE = """\
name: bad
source:
  connector: sandbox
  config:
    api_key: "k-123456"
    scale: 1
destination:
  connector: duckdb
  config: {path: warehouse.duckdb}
namespace: source
schedule: {cron: "*/30 * * * *", timezone: America/Chicago}
streams:
  - name: leases
    sync_mode: incremental_deduped
    cursor_field: updated_at
    fields: [id, status, rent, updated_at]
    enum_maps:
      status: {to: status_normalized, values: {Current: ACTIVE}, default: OTHER}
"""

STATIC = """\
name: bad
source:
  connector: "tests.support.static_source:StaticSource"
destination: {connector: duckdb, config: {path: warehouse.duckdb}}
streams:
  - name: events
    sync_mode: {mode}
"""

# (case id, file text, expected line, expected field path, fragment of the message)
CASES = [
    ("unknown-top-key", BASE.replace("namespace: source", "namspace: source"), 10, "namspace",
     "did you mean 'namespace'"),
    ("wrong-type", BASE + "max_concurrency: four\n", 19, "max_concurrency", "valid integer"),
    ("unknown-connector", BASE.replace("connector: sandbox", "connector: sandbx"), 3, "source.connector",
     "did you mean 'sandbox'"),
    ("missing-source-config", BASE.replace('    api_key: "k-123456"\n', ""), 4, "source.config.api_key",
     "required key is missing"),
    ("unknown-source-config-key", BASE.replace("api_key:", "api_kye:"), 5, "source.config.api_kye",
     "did you mean 'api_key'"),
    ("bad-namespace-template", BASE.replace("namespace: source", 'namespace: "raw_${SOURCE_NS}"'), 10,
     "namespace", "may only use ${SOURCE_NAMESPACE}"),
    ("cursor-not-a-field", BASE.replace("cursor_field: updated_at", "cursor_field: modified_at"), 15,
     "streams[0].cursor_field", "'modified_at' is not a field of stream 'leases'"),
    ("incremental-without-cursor", STATIC.replace("{mode}", "incremental_append"), 7, "streams[0].sync_mode",
     "has no cursor field"),
    ("deduped-without-key", STATIC.replace("{mode}", "incremental_deduped") + "    cursor_field: at\n", 7,
     "streams[0].sync_mode", "has no primary key"),
    ("unknown-stream", BASE.replace("- name: leases", "- name: lease"), 13, "streams[0].name",
     "did you mean 'leases'"),
    ("unknown-field", BASE.replace("fields: [id, status", "fields: [id, statuss"), 16, "streams[0].fields[1]",
     "did you mean 'status'"),
    ("enum-map-unselected-field", BASE.replace("      status: {to", "      unit_id: {to"), 18,
     "streams[0].enum_maps.unit_id", "not a selected field"),
    ("enum-map-empty-values", BASE.replace("values: {Current: ACTIVE}", "values: {}"), 18,
     "streams[0].enum_maps.status.values", "at least 1 item"),
    ("enum-map-target-collides", BASE.replace("to: status_normalized", "to: rent"), 18,
     "streams[0].enum_maps.status.to", "collides"),
    ("unset-variable", BASE.replace('"k-123456"', '"${ROOFTOP_TEST_UNSET_KEY}"'), 5, "source.config.api_key",
     "${ROOFTOP_TEST_UNSET_KEY} is not set"),
    ("unknown-sync-mode", BASE.replace("sync_mode: incremental_deduped", "sync_mode: incremental"), 14,
     "streams[0].sync_mode", "full_refresh_overwrite"),
    ("unknown-stream-key", BASE.replace("cursor_field: updated_at", "cursor_fild: updated_at"), 15,
     "streams[0].cursor_fild", "did you mean 'cursor_field'"),
    ("bad-cron", BASE.replace('"*/30 * * * *"', '"61 * * * *"'), 11, "schedule.cron",
     "not a valid 5-field cron"),
    ("bad-timezone", BASE.replace("America/Chicago", "America/Chicag"), 11, "schedule.timezone",
     "not an IANA timezone"),
    ("uneven-interval", BASE.replace('{cron: "*/30 * * * *", timezone: America/Chicago}', "{every: 7 minutes}"),
     11, "schedule.every", "use a cron schedule instead"),
    ("bad-name", BASE.replace("name: bad", "name: Bad-Connection"), 1, "name", "should match pattern"),
    ("duplicate-stream", BASE + "  - name: leases\n", 12, "streams", "listed twice"),
    ("dates-reversed", BASE.replace("    fields:", "    start_date: 2024-05-01\n    end_date: 2024-01-01\n    fields:"),
     13, "streams[0]", "before start_date"),
    ("yaml-syntax", BASE.replace("  - name: leases", "  - name: leases\n   bad indent: [", 1), 14, None,
     "invalid YAML"),
    ("not-a-mapping", "- just\n- a list\n", 1, None, "must be a mapping"),
    ("bad-initial-window", BASE + "initial_window: a month\n", 19, "initial_window", "is not a duration"),
    ("bad-stream-lookback", BASE.replace("    fields:", "    lookback: soon\n    fields:"), 16,
     "streams[0].lookback", "is not a duration"),
    ("property-in-both-lists", BASE + "properties: {include: [1, 2], exclude: [2]}\n", 19, "properties",
     "property 2 listed in both include and exclude"),
    ("unknown-new-properties", BASE + "properties: {new_properties: paused}\n", 19, "properties.new_properties",
     "'enabled' or 'pending'"),
    ("properties-on-a-source-without", STATIC.replace("{mode}", "full_refresh_overwrite")
     + "properties: {exclude: [3]}\n", 8, "properties", "does not organise records by property"),
    ("webhook-not-http", BASE + "notify: {url: ftp://hooks.example.com/x}\n", 19, "notify.url",
     "must start with http"),
    ("unknown-notify-when", BASE + 'notify: [{url: "https://hooks.example.com/x", when: sometimes}]\n', 19,
     "notify[0].when", "'failure', 'success' or 'always'"),
    ("bad-retention", BASE + "retention: {diffs: forever}\n", 19, "retention.diffs", "is not a duration"),
    ("date-filter-without-cursor", STATIC.replace("{mode}", "full_refresh_overwrite")
     + "    start_date: 2024-01-01\n", 8, "streams[0].start_date", "no cursor field"),
    # Hostile YAML: refused before anything is built, located at the offending node.
    ("anchor", BASE.replace("  config: {path: warehouse.duckdb}", "  config: &wh {path: warehouse.duckdb}"), 9, None,
     "anchors and aliases are not supported in connection files"),
    ("python-tag", BASE.replace("scale: 1", "scale: !!python/object/apply:os.getpid []"), 6, None,
     "YAML tag !!python/object/apply:os.getpid is not supported"),
    ("nul-byte", BASE.replace("scale: 1", "scale: 1\0"), 6, None, "control character U+0000 at column 13"),
    ("source-without-config", BASE.replace('  config:\n    api_key: "k-123456"\n    scale: 1\n', ""), 2,
     "source.config.api_key", "this required key is missing"),
    ("api-key-with-nul", BASE.replace('"k-123456"', '"k-123\\0456"'), 5, "source.config.api_key",
     "contains a NUL character"),
    ("impossible-date", BASE.replace("    sync_mode: incremental_deduped\n", "    sync_mode: incremental_deduped\n"
                                     "    start_date: 2024-02-30\n", 1), 15, None,
     "'2024-02-30' is not a valid date or time (day is out of range for month); quote it"),
    ("impossible-time", BASE + "lookback: 2024-01-01T25:00:00Z\n", 19, None, "'2024-01-01T25:00:00Z' is not a valid"),
    ("api-key-with-newline", BASE.replace('"k-123456"', '"k-123456\\n"'), 5, "source.config.api_key",
     "a credential may not contain control characters"),
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ws")
    (root / "connections").mkdir()
    (root / "connections" / "good.yaml").write_text(GOOD)
    result = CliRunner().invoke(app, ["--workspace", str(root), "sync", "good"])
    assert result.exit_code == 0, result.output
    return root


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(("text", "line", "field", "fragment"),
                         [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_bad_connection_file(workspace: Path, text: str, line: int, field: str | None, fragment: str) -> None:
    bad = workspace / "connections" / "bad.yaml"
    bad.write_text(text)
    warehouse = workspace / "warehouse.duckdb"
    before = _digest(warehouse)
    try:
        result = CliRunner().invoke(app, ["--workspace", str(workspace), "sync", "bad"])
    finally:
        bad.unlink()
    message = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    location = f"connections/bad.yaml:{line}:" + (f" {field}:" if field else "")
    assert location in message, result.output
    assert " ".join(fragment.split()) in message, result.output
    assert "Traceback" not in result.output
    assert _digest(warehouse) == before, "a rejected connection must not touch the warehouse"


def test_validate_lists_every_broken_file_and_keeps_good_ones(workspace: Path) -> None:
    connections = workspace / "connections"
    bad_one = BASE.replace("name: bad", "name: bad_one").replace("namespace:", "namspace:")
    (connections / "bad_one.yaml").write_text(bad_one)
    (connections / "bad_two.yaml").write_text(textwrap.dedent("""\
        name: bad_two
        source: {connector: nope}
    """))
    try:
        result = CliRunner().invoke(app, ["--workspace", str(workspace), "validate"])
    finally:
        for name in ("bad_one.yaml", "bad_two.yaml"):
            (connections / name).unlink()
    assert result.exit_code == 2
    assert "✓ good" in result.output
    assert "connections/bad_one.yaml:10: namspace: unknown key" in result.output
    assert "connections/bad_two.yaml:2: source.connector: unknown source connector 'nope'" in result.output


def test_secret_typed_wrongly_is_not_echoed(workspace: Path) -> None:
    bad = workspace / "connections" / "bad.yaml"
    bad.write_text(BASE.replace('api_key: "k-123456"', "api_key: [hunter2-secret-value]"))
    try:
        result = CliRunner().invoke(app, ["--workspace", str(workspace), "sync", "bad"])
    finally:
        bad.unlink()
    assert result.exit_code == 2
    assert "source.config.api_key" in result.output
    assert "hunter2-secret-value" not in result.output


def test_a_bad_webhook_url_is_not_echoed(workspace: Path) -> None:
    """Webhook URLs often embed a token: like credentials, they are never repeated in an error."""
    bad = workspace / "connections" / "bad.yaml"
    bad.write_text(BASE + "notify:\n  - {url: ftp://hooks.example.com/T0K3N-s3cr3t}\n")
    try:
        result = CliRunner().invoke(app, ["--workspace", str(workspace), "sync", "bad"])
    finally:
        bad.unlink()
    assert result.exit_code == 2
    assert "connections/bad.yaml:20: notify[0].url: the webhook url must start with http" in result.output
    assert "T0K3N" not in result.output
