"""Hostile connection files: one file in `connections/` must never hang or take down the others.

Each case puts one good sandbox connection (a real HTTP server on 127.0.0.1, a real DuckDB file) next
to one hostile file, and drives the `rooftop` CLI as an operator would: `validate` names the bad file
and still ticks the good one, `sync good` lands rows, `status` shows the good connection and lists
the broken file. No value of a hostile file is ever echoed.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from connectors.sandbox.server import SandboxServer
from pipelines.cli import app
from tests.conftest import WorkspaceFactory

GOOD = """\
name: good
source:
  connector: sandbox
  config: {{base_url: "{url}", api_key: "${{SANDBOX_TEST_KEY}}"}}
destination: {{connector: duckdb, config: {{path: wh.duckdb}}}}
streams:
  - {{name: properties, sync_mode: full_refresh_overwrite}}
"""

BAD_HEAD = b"name: bad\nsource:\n  connector: sandbox\n"

# 9 levels of 9 aliases: 9^9 (387 million) strings once expanded, from a few hundred bytes.
ALIAS_BOMB = b'a: &a ["x","x","x","x","x","x","x","x","x"]\n' + b"".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n".encode()
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True))

# (case id, file bytes, expected "file:line" fragment, fragment of the message)
CASES = [
    ("alias-bomb", ALIAS_BOMB, "connections/bad.yaml:1:", "anchors and aliases"),
    ("merge-key", BAD_HEAD + b"  config: &c {api_key: k-123456}\ndestination: {<<: *c}\n",
     "connections/bad.yaml:4:", "anchors and aliases"),
    ("python-tag", b'name: bad\nsource: !!python/object/apply:os.system ["touch pwned"]\n',
     "connections/bad.yaml:2:", "YAML tag !!python/object/apply:os.system is not supported"),
    ("custom-tag", BAD_HEAD + b"  config: !vault {api_key: k-123456}\n", "connections/bad.yaml:4:",
     "YAML tag !vault is not supported"),
    ("nul-byte", BAD_HEAD + b'  config: {api_key: "k-12\x003456"}\n', "connections/bad.yaml:4:",
     "control character U+0000 at column 26"),
    ("escape-byte", BAD_HEAD + b'  config: {api_key: "k-12\x1b3456"}\n', "connections/bad.yaml:4:",
     "control character U+001B"),
    ("invalid-utf8", BAD_HEAD + b'  config: {api_key: "k-12\xff\xfe3456"}\n', "connections/bad.yaml:4:",
     "not UTF-8 text: byte 0xff at column 26"),
    ("deep-nesting", b"name: bad\nsource: " + b"[" * 200 + b"]" * 200 + b"\n", "connections/bad.yaml:2:",
     "nested more than 64 levels"),
    ("source-without-config", BAD_HEAD, "connections/bad.yaml:2: source.config.api_key:",
     "this required key is missing"),
    ("api-key-with-nul", BAD_HEAD + b'  config: {api_key: "k-12\\0secret"}\n',
     "connections/bad.yaml:4: source.config.api_key:", "contains a NUL character"),
    ("api-key-with-newline", BAD_HEAD + b'  config: {api_key: "k-12secret\\n"}\n',
     "connections/bad.yaml:4: source.config.api_key:", "may not contain control characters"),
]


def _cli(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--workspace", str(root), *args])
    return result.exit_code, " ".join(result.output.split())


def _workspace(make_workspace: WorkspaceFactory, sandbox: SandboxServer, bad: bytes) -> Path:
    root = make_workspace(GOOD.format(url=sandbox.url), name="good")
    (root / "connections" / "bad.yaml").write_bytes(bad)
    return root


@pytest.mark.parametrize(("bad", "where", "fragment"), [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_one_hostile_file_is_named_and_the_good_connection_still_works(
        make_workspace: WorkspaceFactory, sandbox: SandboxServer, bad: bytes, where: str, fragment: str) -> None:
    root = _workspace(make_workspace, sandbox, bad)

    code, out = _cli(root, "validate")
    assert code == 2, out
    assert "✓ good (connections/good.yaml)" in out, out
    assert f"✗ {where}" in out and fragment in out, out
    assert "secret" not in out and "Traceback" not in out and "unexpected error" not in out, out

    code, out = _cli(root, "sync", "good")
    assert code == 0, out
    with duckdb.connect(str(root / "wh.duckdb"), read_only=True) as db:
        rows = db.execute("select count(*) from sandbox.properties").fetchone()
    assert rows == (sandbox.dataset.record_count("properties"),)

    code, out = _cli(root, "status")
    assert code == 2, out  # a workspace with a broken file is not healthy: scripts must notice
    assert "good → duckdb" in out and "succeeded" in out and f"✗ {where}" in out, out
    code, out = _cli(root, "status", "good")
    assert code == 0 and "bad.yaml" not in out, out
    assert not (root / "pwned").exists()


@pytest.mark.timeout(30)  # before the fix this hung for ever: fail, don't hang the suite
def test_the_alias_bomb_is_refused_in_under_two_seconds(make_workspace: WorkspaceFactory,
                                                         sandbox: SandboxServer) -> None:
    root = _workspace(make_workspace, sandbox, ALIAS_BOMB)
    assert len(ALIAS_BOMB) < 600
    started = time.perf_counter()
    code, out = _cli(root, "validate", "--offline")
    elapsed = time.perf_counter() - started
    assert code == 2 and "connections/bad.yaml:1: anchors and aliases are not supported" in out, out
    assert elapsed < 2.0, f"validate took {elapsed:.2f}s"


def test_sync_all_syncs_every_good_connection_then_reports_every_broken_file(
        make_workspace: WorkspaceFactory, sandbox: SandboxServer) -> None:
    root = _workspace(make_workspace, sandbox, ALIAS_BOMB)
    (root / "connections" / "tagged.yaml").write_bytes(CASES[2][1])
    (root / "connections" / "binary.yaml").write_bytes(CASES[6][1])
    code, out = _cli(root, "sync", "--all")
    assert code == 2, out
    assert "sandbox.properties" in out and "succeeded" in out, out
    for file in ("bad.yaml:1:", "tagged.yaml:2:", "binary.yaml:4:"):
        assert f"✗ connections/{file}" in out, out
    assert "3 connection file(s) could not be loaded and were not synced" in out, out
    with duckdb.connect(str(root / "wh.duckdb"), read_only=True) as db:
        assert db.execute("select count(*) from sandbox.properties").fetchone()[0] > 0  # type: ignore[index]


def test_naming_a_broken_file_gives_its_error(make_workspace: WorkspaceFactory, sandbox: SandboxServer) -> None:
    root = _workspace(make_workspace, sandbox, CASES[2][1])
    code, out = _cli(root, "sync", "bad")
    assert code == 2 and "connections/bad.yaml:2: YAML tag" in out, out
    code, out = _cli(root, "sync", "nope")
    assert code == 2 and "no connection named 'nope'" in out and "connections/bad.yaml" in out, out


def test_header_values_and_secret_env_values_are_checked_at_load(make_workspace: WorkspaceFactory,
                                                                  sandbox: SandboxServer) -> None:
    root = _workspace(make_workspace, sandbox, b"""\
name: bad
source:
  connector: rest_api
  config:
    base_url: http://127.0.0.1:9
    headers: {X-Tenant: "acme\\r\\nX-Injected: 1"}
    auth: {type: bearer, token: tok-123456}
    streams: [{name: things, path: /things}]
""")
    (root / "connections" / "env.yaml").write_bytes(b"""\
name: env
source:
  connector: rest_api
  config:
    base_url: http://127.0.0.1:9
    auth: {type: bearer, token: "${BAD_TOKEN}"}
    streams: [{name: things, path: /things}]
""")
    with (root / ".env").open("a") as env:
        env.write('BAD_TOKEN="tok-secret\\n"\n')  # the classic: a key pasted with its newline
    code, out = _cli(root, "validate", "--offline")
    assert code == 2, out
    assert "connections/bad.yaml:6: source.config.headers.X-Tenant: an HTTP header value may not contain" in out
    assert "connections/env.yaml:6: source.config.auth.token: a credential may not contain control " in out
    assert "U+000A (from ${BAD_TOKEN})" in out and "tok-secret" not in out, out


def test_dagster_shows_the_hostile_files_as_broken_assets_next_to_the_good_one(
        make_workspace: WorkspaceFactory, sandbox: SandboxServer) -> None:
    from dagster import AssetKey

    from pipelines.dagster import build_definitions

    root = _workspace(make_workspace, sandbox, ALIAS_BOMB)
    (root / "connections" / "tagged.yaml").write_bytes(CASES[2][1])
    specs = {spec.key: spec for spec in build_definitions(root).resolve_all_asset_specs()}
    assert AssetKey(["sandbox", "properties"]) in specs
    assert "anchors and aliases" in (specs[AssetKey(["rooftop_broken", "bad"])].description or "")
    assert "!!python/object/apply" in (specs[AssetKey(["rooftop_broken", "tagged"])].description or "")


def test_a_dotenv_that_is_not_utf8_is_a_config_error_naming_it(make_workspace: WorkspaceFactory,
                                                                sandbox: SandboxServer) -> None:
    root = make_workspace(GOOD.format(url=sandbox.url), name="good")
    (root / ".env").write_bytes(b"SANDBOX_TEST_KEY=k\xff\n")
    code, out = _cli(root, "validate", "--offline")
    assert code == 2 and ".env:1: the file is not UTF-8 text" in out, out
