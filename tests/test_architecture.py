"""The import rules of docs/architecture.md, checked on the source: they rot silently otherwise.

Imports are read with `ast` (absolute and relative alike, a relative one resolved against its
package), so a rule cannot be dodged by `from .. import x`. Imports under `if TYPE_CHECKING:`
count for the layer rules but not for cycles: they never run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("protocol", "connectors", "destinations", "pipelines")
FORBIDDEN = {
    "protocol": {"connectors", "destinations", "pipelines", "dagster", "typer", "rich"},
    "connectors": {"destinations", "pipelines", "dagster", "typer", "rich"},
    "destinations": {"connectors", "pipelines", "dagster", "typer", "rich"},
}
LAYERS = ("config", "workspace", "engine", "writes", "ops", "api", "cli", "dagster", "definitions")
"""`pipelines`' layers, lowest first: a layer imports only those before it. `api`, `cli` and `dagster`
are three front-ends over the same engine; `cli` may import `api` (`rooftop api` serves it), otherwise
the front-ends never import each other."""
FRONT_ENDS_APART = ({"cli", "dagster"}, {"api", "dagster"})
WEB_FRAMEWORK = {"fastapi", "starlette", "uvicorn"}
"""Only `pipelines/api/` imports these: the engine, the CLI and Dagster run without them."""
DAGSTER_WIRING = {"definitions", "dagster"}
"""Only these parts of `pipelines` may import dagster: the engine runs without it."""


@dataclass(frozen=True)
class Import:
    module: str
    runtime: bool
    """False under `if TYPE_CHECKING:`."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and _is_type_checking(node.test)
                   for stmt in node.body for n in ast.walk(stmt)}
    found: list[Import] = []
    for node in ast.walk(tree):
        runtime = id(node) not in typing_only
        if isinstance(node, ast.Import):
            found += [Import(alias.name, runtime) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from pkg import mod` imports the module pkg.mod when there is one
            found += [Import(f"{base}.{alias.name}" if _is_module(f"{base}.{alias.name}") else base, runtime)
                      for alias in node.names]
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _sources(package: str) -> Iterator[Path]:
    return (ROOT / package).rglob("*.py")


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "pipelines" and len(parts) > 1 else None


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_flow_one_way(package: str) -> None:
    offenders = {str(p.relative_to(ROOT)): sorted({i.module for i in _imports(p)
                                                   if i.module.split(".")[0] in FORBIDDEN[package]})
                 for p in _sources(package)}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_destinations_do_not_import_each_other() -> None:
    """A destination package imports its own modules and the shared ones (destinations/*.py) only."""
    offenders = []
    for path in _sources("destinations"):
        own = path.relative_to(ROOT / "destinations").parts
        for imported in _imports(path):
            parts = imported.module.split(".")
            if parts[0] == "destinations" and len(parts) > 1 and (ROOT / "destinations" / parts[1]).is_dir() \
                    and len(own) > 1 and parts[1] != own[0]:
                offenders.append(f"{path.relative_to(ROOT)} imports {imported.module}")
    assert offenders == []


def test_pipelines_layers_import_only_lower_layers() -> None:
    offenders = []
    for path in _sources("pipelines"):
        mine = _layer(_module_name(path))
        if mine is None:
            continue  # pipelines/__init__.py
        for imported in _imports(path):
            theirs = _layer(imported.module)
            if theirs is None or theirs == mine:
                continue
            upward = theirs not in LAYERS or LAYERS.index(theirs) > LAYERS.index(mine)
            if upward or {mine, theirs} in FRONT_ENDS_APART:
                offenders.append(f"{path.relative_to(ROOT)} ({mine}) imports {imported.module} ({theirs})")
    assert offenders == []


def test_every_pipelines_module_is_in_a_layer() -> None:
    strays = [p.name for p in (ROOT / "pipelines").glob("*.py") if p.stem not in ("__init__", *LAYERS)]
    assert strays == []


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in _sources(package):
            graph[_module_name(path)] = {i.module for i in _imports(path) if i.runtime and _is_module(i.module)}
    cycles = [sorted(c) for c in _strongly_connected(graph) if len(c) > 1]
    assert cycles == []


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative (the graph has hundreds of modules)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[set[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                found.append(component)
    return found


def test_only_dagster_wiring_imports_dagster() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in _sources("pipelines")
                 if any(i.module.split(".")[0] == "dagster" for i in _imports(p))
                 and _layer(_module_name(p)) not in DAGSTER_WIRING]
    assert offenders == []


def test_only_the_api_imports_the_web_framework() -> None:
    offenders = [str(p.relative_to(ROOT)) for pkg in PACKAGES for p in _sources(pkg)
                 if any(i.module.split(".")[0] in WEB_FRAMEWORK for i in _imports(p))
                 and _layer(_module_name(p)) != "api"]
    assert offenders == []


def test_modules_stay_small() -> None:
    big = {str(p.relative_to(ROOT)): n for pkg in PACKAGES
           for p in (ROOT / pkg).rglob("*.py") if (n := len(p.read_text().splitlines())) > 450}
    assert big == {}
