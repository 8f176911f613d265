"""A workspace: a directory with `connections/*.yaml` and an optional `.env`.

The CLI and the Dagster code location both start here, so both see the same connections, the same
environment and the same errors. Loading never stops at the first broken file: callers get every
good connection plus a list of errors, and decide whether that is fatal.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from protocol.errors import ConfigError, ConnectionFileError
from pipelines.connection import LoadedConnection, load_connection

CONNECTIONS_DIR = "connections"


@dataclass
class Workspace:
    root: Path
    connections: dict[str, LoadedConnection] = field(default_factory=dict)
    errors: list[ConnectionFileError] = field(default_factory=list)

    def get(self, name: str) -> LoadedConnection:
        if name in self.connections:
            return self.connections[name]
        broken = [e for e in self.errors if Path(e.file or "").stem == name]
        if broken:
            raise broken[0]
        known = ", ".join(sorted(self.connections)) or "none"
        raise ConfigError(f"no connection named {name!r} in {self.root / CONNECTIONS_DIR} (known: {known})")


def environment(root: Path) -> dict[str, str]:
    """`.env` values overlaid by the real environment (an exported variable wins)."""
    values = {k: v for k, v in dotenv_values(root / ".env").items() if v is not None}
    values.update(os.environ)
    return values


def connection_files(root: Path) -> list[Path]:
    folder = root / CONNECTIONS_DIR
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def load_workspace(root: Path) -> Workspace:
    root = root.resolve()
    if not (root / CONNECTIONS_DIR).is_dir():
        raise ConfigError(f"{root} is not a Rooftop workspace: it has no {CONNECTIONS_DIR}/ directory "
                          "(run from the workspace or pass --workspace DIR)")
    env = environment(root)
    workspace = Workspace(root=root)
    first_file: dict[str, str] = {}
    for path in connection_files(root):
        try:
            loaded = load_connection(path, root, env)
        except ConnectionFileError as exc:
            workspace.errors.append(exc)
            continue
        if loaded.name in first_file:
            workspace.errors.append(loaded.error(
                f"connection name {loaded.name!r} is already used by {first_file[loaded.name]}", ("name",)))
            continue
        first_file[loaded.name] = loaded.file
        workspace.connections[loaded.name] = loaded
    return workspace
