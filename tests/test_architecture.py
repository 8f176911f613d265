"""The import rules of DESIGN.md, checked on the source: they rot silently otherwise."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "protocol": {"connectors", "destinations", "pipelines", "dagster"},
    "connectors": {"destinations", "pipelines", "dagster"},
    "destinations": {"connectors", "pipelines", "dagster"},
}
DAGSTER_WIRING = {"definitions.py", "dagster_assets.py", "dagster"}
"""Only these parts of `pipelines` may import dagster: the engine runs without it."""


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_flow_one_way(package: str) -> None:
    offenders = {str(p.relative_to(ROOT)): sorted(_imports(p) & FORBIDDEN[package])
                 for p in (ROOT / package).rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_dagster_wiring_imports_dagster() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "pipelines").rglob("*.py")
                 if "dagster" in _imports(p) and not (set(p.relative_to(ROOT / "pipelines").parts) & DAGSTER_WIRING)]
    assert offenders == []


def test_modules_stay_small() -> None:
    big = {str(p.relative_to(ROOT)): n for pkg in ("protocol", "connectors", "destinations", "pipelines")
           for p in (ROOT / pkg).rglob("*.py") if (n := len(p.read_text().splitlines())) > 450}
    assert big == {}
