"""The worked example of docs/adding-a-connector.md is real: installed as a plugin, it lists and syncs.

`examples/rooftop_example_connector` is a separate package that registers `example_tickets` under the
`rooftop.sources` entry point. Installing it with pip would need a build and would change the shared
venv, so the test does what an install leaves behind: a `*.dist-info` folder (METADATA and the
entry_points.txt that pip writes from the example's pyproject.toml) on the `sys.path` of a `rooftop`
subprocess, next to the package's source. Rooftop's registry then finds it through
`importlib.metadata`, exactly as it finds an installed package. The source reads a JSON API served on
127.0.0.1, and the rows are checked in the DuckDB file.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.support.http_api import Reply, Request, TestApi

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "rooftop_example_connector"
GUIDE = ROOT / "docs" / "adding-a-connector.md"
TOKEN = "t0ken-for-the-example"


def _ticket(n: int, minute: int, status: str = "open") -> dict[str, Any]:
    return {"id": n, "property_id": 100 + n % 3, "status": status, "summary": f"Leak under sink {n}",
            "updated_at": f"2024-05-01T10:{minute:02d}:00Z"}


class TicketsApi:
    """The API the example reads: bearer token, `updated_since` (>=), page/per_page, (updated_at, id) order."""

    def __init__(self, tickets: list[dict[str, Any]]) -> None:
        self.tickets = tickets

    def __call__(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return Reply(401, {"message": "invalid token"})
        since = request.query.get("updated_since", "")
        rows = sorted((t for t in self.tickets if t["updated_at"] >= since), key=lambda t: (t["updated_at"], t["id"]))
        page, per = int(request.query["page"]), int(request.query["per_page"])
        return Reply(body={"tickets": rows[(page - 1) * per:page * per], "has_more": page * per < len(rows)})


@pytest.fixture
def plugin_path(tmp_path: Path) -> str:
    """A sys.path on which the example package is installed the way pip would leave it (no network, no build)."""
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    site = tmp_path / "site"
    dist_info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    (dist_info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in points.items())
        for group, points in project["entry-points"].items()))
    return os.pathsep.join([str(site), str(EXAMPLE), str(ROOT)])


def _rooftop(workspace: Path, plugin_path: str, api_url: str, *args: str,
             token: str = TOKEN) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": plugin_path, "COLUMNS": "200",
           "TICKETS_API_URL": api_url, "TICKETS_API_TOKEN": token}
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


def test_the_example_plugin_is_listed_and_syncs_incrementally(tmp_path: Path, plugin_path: str) -> None:
    api = TicketsApi([_ticket(n, minute=n) for n in range(1, 8)])
    workspace = _workspace(tmp_path)
    with TestApi(api) as server:
        listed = _rooftop(workspace, plugin_path, server.url, "connectors")
        assert listed.returncode == 0, listed.stderr
        assert re.search(r"example_tickets\s*│\s*source\s*│\s*rooftop_example_connector\.source:TicketsSource\s*│"
                         r"\s*rooftop-example-connector", listed.stdout), listed.stdout

        first = _rooftop(workspace, plugin_path, server.url, "sync", "example_tickets")
        assert first.returncode == 0, first.stdout + first.stderr
        assert _landed(workspace) == {n: ("open", f"Leak under sink {n}") for n in range(1, 8)}

        # Between syncs: ticket 3 closes, ticket 8 opens. The next sync asks only from the saved cursor.
        api.tickets[2] = _ticket(3, minute=30, status="closed")
        api.tickets.append(_ticket(8, minute=31))
        asked_before = len(server.requests)
        second = _rooftop(workspace, plugin_path, server.url, "sync", "example_tickets")
        assert second.returncode == 0, second.stdout + second.stderr
        resumed = [r.query.get("updated_since") for r in server.requests[asked_before:] if r.path == "/v1/tickets"]
        assert resumed and set(resumed) == {"2024-05-01T10:07:00Z"}

    landed = _landed(workspace)
    assert sorted(landed) == list(range(1, 9))
    assert landed[3] == ("closed", "Leak under sink 3")
    assert TOKEN not in first.stdout + first.stderr + second.stdout + second.stderr


def test_a_refused_token_is_a_config_error_naming_the_field(tmp_path: Path, plugin_path: str) -> None:
    workspace = _workspace(tmp_path)
    with TestApi(TicketsApi([])) as server:
        accepted = _rooftop(workspace, plugin_path, server.url, "check", "example_tickets")
        assert accepted.returncode == 0, accepted.stdout + accepted.stderr
        refused = _rooftop(workspace, plugin_path, server.url, "check", "example_tickets", token="wrong-token")
    assert refused.returncode == 2
    assert "source.config.api_token" in refused.stderr
    assert "wrong-token" not in refused.stdout + refused.stderr


def test_the_guide_shows_the_example_s_real_code() -> None:
    """Every python/toml/yaml block of the guide is cut from a file of the example, so neither drifts."""
    files = [p.read_text() for p in EXAMPLE.rglob("*") if p.suffix in (".py", ".toml", ".yaml")]
    blocks = re.findall(r"^```(?:python|toml|yaml)\n(.*?)^```", GUIDE.read_text(), flags=re.S | re.M)
    assert len(blocks) >= 6
    stale = [block for block in blocks if not any(block in text for text in files)]
    assert stale == []
