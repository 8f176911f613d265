"""Every shared fixture, registered once for the whole suite (no test module imports a fixture by name).

Here: a real sandbox API on 127.0.0.1 and throwaway workspaces. Through `pytest_plugins`: the
session's PostgreSQL server and a fresh database per test (`postgres_server`, `postgres_url`), a
webhook receiver (`receiver`), and `fresh_rooftop_logger`, autouse for every test so that a CLI
run's handler on a closed stderr never leaks into the next test. The suite's cleanup hooks
(tests/support/cleanup.py) are imported so that they run as this conftest's own hooks.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

from connectors.sandbox.dataset import SandboxDataset
from connectors.sandbox.server import SandboxServer
from pipelines.workspace.connection import LoadedConnection
from pipelines.workspace.loading import load_workspace
from tests.support.cleanup import (  # noqa: F401 - hooks
    pytest_configure,
    pytest_sessionfinish,
    pytest_unconfigure,
)

pytest_plugins = ["tests.postgres_server", "tests.support.webhook", "tests.support.logs"]

API_KEY = "sbx-test-key-7f3a9c"


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """A small sandbox (2 properties) served over real HTTP for one test."""
    with SandboxServer(SandboxDataset(seed=7, scale=2), api_key=API_KEY) as server:
        yield server


class WorkspaceFactory(Protocol):
    def __call__(self, yaml_text: str, name: str = "conn") -> Path: ...


@pytest.fixture
def make_workspace(tmp_path: Path) -> WorkspaceFactory:
    """Write a workspace with one connection file (dedented) and a .env holding the API key."""

    def make(yaml_text: str, name: str = "conn") -> Path:
        (tmp_path / "connections").mkdir(exist_ok=True)
        (tmp_path / "connections" / f"{name}.yaml").write_text(textwrap.dedent(yaml_text))
        (tmp_path / ".env").write_text(f"SANDBOX_TEST_KEY={API_KEY}\n")
        return tmp_path

    return make


def connection(root: Path, name: str) -> LoadedConnection:
    return load_workspace(root).get(name)
