"""The worked example of docs/adding-a-connector.md is real: pip-installed as a plugin, it lists and syncs.

`examples/rooftop_example_connector` is a separate package on Rooftop's public SDK (`connectors.sdk`)
that registers `example_tickets` under the `rooftop.sources` entry point. The test installs it the
way a user would, `pip install` (offline: no index, no build isolation, into a temporary folder so
the shared venv is untouched), and runs `rooftop` in subprocesses with that folder on PYTHONPATH:
Rooftop's registry finds it through `importlib.metadata` as it would in any environment. The source
reads the example's own stand-in API on 127.0.0.1, and the rows are checked in the DuckDB file. The
package's own tests, written with the SDK's test kit, run against the installed copy too.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import duckdb
import pytest

import connectors.sdk as sdk
import connectors.sdk.testing as sdk_testing
from tests.support.http_api import TestApi

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "rooftop_example_connector"
GUIDE = ROOT / "docs" / "adding-a-connector.md"


def _example_module(name: str) -> ModuleType:
    """A module of the example's tests folder (its stand-in API), shared rather than copied here."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLE / "tests" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tickets_api = _example_module("tickets_api")
TicketsApi, TOKEN, _ticket = tickets_api.TicketsApi, tickets_api.TOKEN, tickets_api.ticket


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example package pip-installed into `<folder>/site` from its copy in `<folder>/src`; returns the folder."""
    base = tmp_path_factory.mktemp("plugin")
    # Built from a copy: a setuptools build writes build/ and *.egg-info next to the sources.
    source = base / "src"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                           "--quiet", "--target", str(base / "site"), str(source)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (
        "pip could not install the example offline; setuptools older than 70.1 needs the `wheel` package "
        f"in the venv:\n{done.stdout}{done.stderr}")
    return base


def _plugin_env(installed: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(installed / "site"), "COLUMNS": "200", **extra}


def _rooftop(workspace: Path, installed: Path, api_url: str, *args: str,
             token: str = TOKEN) -> subprocess.CompletedProcess[str]:
    env = _plugin_env(installed, TICKETS_API_URL=api_url, TICKETS_API_TOKEN=token)
    return subprocess.run([sys.executable, "-m", "pipelines.cli", "--workspace", str(workspace), *args],
                          cwd=workspace, env=env, capture_output=True, text=True, timeout=120)


def _workspace(tmp_path: Path) -> Path:
    workspace = tmp_path / "ws"
    (workspace / "connections").mkdir(parents=True)
    (workspace / "connections" / "example_tickets.yaml").write_text((EXAMPLE / "connection.yaml").read_text())
    return workspace


def _landed(workspace: Path) -> dict[int, tuple[str, str]]:
    with duckdb.connect(str(workspace / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT id, status, summary FROM tickets.tickets").fetchall()
    return {row[0]: (row[1], row[2]) for row in rows}


def test_the_example_plugin_is_listed_and_syncs_incrementally(tmp_path: Path, installed: Path) -> None:
    api = TicketsApi([_ticket(n, minute=n) for n in range(1, 8)])
    workspace = _workspace(tmp_path)
    with TestApi(api) as server:
        listed = _rooftop(workspace, installed, server.url, "connectors")
        assert listed.returncode == 0, listed.stderr
        assert re.search(r"example_tickets\s*│\s*source\s*│\s*rooftop_example_connector\.source:TicketsSource\s*│"
                         r"\s*rooftop-example-connector", listed.stdout), listed.stdout

        first = _rooftop(workspace, installed, server.url, "sync", "example_tickets")
        assert first.returncode == 0, first.stdout + first.stderr
        assert _landed(workspace) == {n: ("open", f"Leak under sink {n}") for n in range(1, 8)}

        # Between syncs: ticket 3 closes, ticket 8 opens. The next sync asks only from the saved cursor.
        api.tickets[2] = _ticket(3, minute=30, status="closed")
        api.tickets.append(_ticket(8, minute=31))
        asked_before = len(server.requests)
        second = _rooftop(workspace, installed, server.url, "sync", "example_tickets")
        assert second.returncode == 0, second.stdout + second.stderr
        resumed = [r.query.get("updated_since") for r in server.requests[asked_before:] if r.path == "/v1/tickets"]
        assert resumed and set(resumed) == {"2024-05-01T10:07:00Z"}

    landed = _landed(workspace)
    assert sorted(landed) == list(range(1, 9))
    assert landed[3] == ("closed", "Leak under sink 3")
    assert TOKEN not in first.stdout + first.stderr + second.stdout + second.stderr


def test_a_refused_token_is_a_config_error_naming_the_field(tmp_path: Path, installed: Path) -> None:
    workspace = _workspace(tmp_path)
    with TestApi(TicketsApi([])) as server:
        accepted = _rooftop(workspace, installed, server.url, "check", "example_tickets")
        assert accepted.returncode == 0, accepted.stdout + accepted.stderr
        refused = _rooftop(workspace, installed, server.url, "check", "example_tickets", token="wrong-token")
    assert refused.returncode == 2
    assert "source.config.api_token" in refused.stderr
    assert "wrong-token" not in refused.stdout + refused.stderr


def test_the_spec_of_the_installed_connector_is_printed(installed: Path) -> None:
    shown = subprocess.run([sys.executable, "-m", "pipelines.cli", "connectors", "example_tickets"],
                           env=_plugin_env(installed), capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    for field in ("base_url", "api_token", "per_page", "retries", "Bearer token; never printed or logged."):
        assert field in shown.stdout


def test_the_example_s_own_tests_pass_against_the_installed_package(installed: Path) -> None:
    """What a plugin author runs: its tests, on the SDK's test kit, importing the installed package."""
    # -P: the package's source folder (the cwd) must not shadow the installed copy.
    ran = subprocess.run([sys.executable, "-P", "-m", "pytest", "-p", "no:cacheprovider", "-q"], cwd=installed / "src",
                         env=_plugin_env(installed), capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert re.search(r"\b4 passed\b", ran.stdout), ran.stdout


def test_the_example_imports_only_the_public_sdk() -> None:
    """The SDK is the surface Rooftop keeps stable; a plugin reaching past it breaks on a refactor."""
    public = {"connectors.sdk": set(sdk.__all__), "connectors.sdk.testing": set(sdk_testing.__all__)}
    own = {"protocol", "connectors", "destinations", "pipelines", "tests"}
    reached: list[str] = []
    for path in EXAMPLE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            modules = [(a.name, None) for a in node.names] if isinstance(node, ast.Import) else \
                [(node.module or "", [a.name for a in node.names])] if isinstance(node, ast.ImportFrom) else []
            for module, names in modules:
                if module.split(".")[0] not in own:
                    continue
                if module not in public or names is None or not set(names) <= public[module]:
                    reached.append(f"{path.relative_to(EXAMPLE)}: {module} {names or ''}")
    assert reached == []


def test_the_guide_shows_the_example_s_real_code() -> None:
    """Every python/toml/yaml block of the guide is cut from a file of the example, so neither drifts."""
    files = [p.read_text() for p in EXAMPLE.rglob("*") if p.suffix in (".py", ".toml", ".yaml")]
    blocks = re.findall(r"^```(?:python|toml|yaml)\n(.*?)^```", GUIDE.read_text(), flags=re.S | re.M)
    assert len(blocks) >= 6
    stale = [block for block in blocks if not any(block in text for text in files)]
    assert stale == []
