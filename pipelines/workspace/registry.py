"""Find connectors by name through Python entry points.

Built-in connectors are registered in Rooftop's own pyproject.toml exactly like a third-party
package would register its own (`[project.entry-points."rooftop.sources"]`), so there is one lookup
path and no privileged list in code.

Loading a workspace needs only each connector's config model, and a connector class usually brings
its whole runtime (httpx, pyarrow, a database driver): about a second of imports that `rooftop
validate --offline` and `status` never use. So a package may also register the model on its own
under `rooftop.source_configs` / `rooftop.destination_configs` (same name, `module:Model`, in a
module that imports no runtime); `config_model` reads that first and falls back to the class's
`config_model`, so a package that registers only its class keeps working, at the class's cost.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, EntryPoints, SelectableGroups, entry_points
from typing import TYPE_CHECKING, Literal, cast

from pydantic import BaseModel

from protocol.errors import ConfigError

if TYPE_CHECKING:
    from protocol.types import Destination, Source

Kind = Literal["source", "destination"]
GROUPS: dict[Kind, str] = {"source": "rooftop.sources", "destination": "rooftop.destinations"}
CONFIG_GROUPS: dict[Kind, str] = {"source": "rooftop.source_configs", "destination": "rooftop.destination_configs"}


@dataclass(frozen=True)
class ConnectorInfo:
    name: str
    kind: Kind
    target: str
    """`module:Class`, as registered."""
    distribution: str | None


@cache
def _installed() -> EntryPoints | SelectableGroups:
    """Every installed entry point, read once: each `entry_points(group=...)` call reads and parses
    the metadata of every installed distribution again (~4 ms apiece in a venv with Dagster), and a
    sync asks for four groups."""
    return entry_points()


@cache
def _entry_points(kind: Kind) -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in _installed().select(group=GROUPS[kind])}


@cache
def _config_entry_points(kind: Kind) -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in _installed().select(group=CONFIG_GROUPS[kind])}


def available(kind: Kind) -> list[ConnectorInfo]:
    return [ConnectorInfo(name, kind, ep.value, ep.dist.name if ep.dist else None)
            for name, ep in sorted(_entry_points(kind).items())]


def unknown_connector_message(kind: Kind, name: str) -> str:
    names = sorted(_entry_points(kind))
    hint = difflib.get_close_matches(name, names, n=1)
    suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
    return f"unknown {kind} connector {name!r}{suggestion} (available: {', '.join(names) or 'none'})"


def load_source(name: str) -> type[Source]:
    """The source class registered under `name` (see `load`)."""
    return cast("type[Source]", load("source", name))


def load_destination(name: str) -> type[Destination]:
    """The destination class registered under `name` (see `load`)."""
    return cast("type[Destination]", load("destination", name))


def load(kind: Kind, name: str) -> type:
    """The connector class registered under `name`, or a ConfigError listing the choices.

    A `module:Class` reference loads a connector that is not installed as a package (one being
    developed in the workspace, or a test's), the same way an entry point's value would. Whatever
    it names must at least be a class with a `config_model`: a typo pointing at a module-level
    function is a ConfigError here, not an AttributeError at sync time.
    """
    if ":" in name and name not in _entry_points(kind):
        target: object = _load_reference(kind, name)
    else:
        ep = _entry_points(kind).get(name)
        if ep is None:
            raise ConfigError(unknown_connector_message(kind, name))
        target = ep.load()
    if not isinstance(target, type) or not hasattr(target, "config_model"):
        raise ConfigError(f"{kind} connector {name!r} is not a connector class (it has no `config_model`): "
                          f"see docs/adding-a-connector.md")
    return target


def config_model(kind: Kind, name: str) -> type[BaseModel]:
    """The config model of the connector registered under `name`, without importing the connector
    when its package registers the model apart (see the module docstring); a ConfigError like
    `load`'s for an unknown name."""
    ep = _config_entry_points(kind).get(name) if name in _entry_points(kind) else None
    model = ep.load() if ep is not None else getattr(load(kind, name), "config_model", None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise ConfigError(f"{kind} connector {name!r}: its `config_model` is not a pydantic model: "
                          f"see docs/adding-a-connector.md")
    return model


def _load_reference(kind: Kind, reference: str) -> object:
    module_name, _, attr = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
        return cast(object, getattr(module, attr))
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load {kind} connector {reference!r}: {exc}") from None
