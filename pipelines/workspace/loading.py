"""A workspace: a directory with `connections/*.yaml` and an optional `.env`.

The CLI and the Dagster code location both start here, so both see the same connections, the same
environment and the same errors. Loading never stops at the first broken file: callers get every
good connection plus a list of errors, and decide whether that is fatal. Each file is loaded on its
own and whatever goes wrong in one (even a bug of ours) becomes that file's error, so one hostile
file can never stop the others from loading.
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.config.yaml_reader import decode_text
from pipelines.workspace.connection import (
    LoadedConnection,
    display_name,
    load_connection,
)
from protocol.errors import ConfigError, ConnectionFileError

CONNECTIONS_DIR = "connections"
log = logging.getLogger("rooftop.workspace")


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
        unloaded = ""
        if self.errors:
            files = ", ".join(sorted({e.file or "?" for e in self.errors}))
            unloaded = f"; not loaded because broken: {files} (`rooftop validate` shows why)"
        raise ConfigError(f"no connection named {name!r} in {self.root / CONNECTIONS_DIR} (known: {known}){unloaded}")


def environment(root: Path) -> dict[str, str]:
    """`.env` values overlaid by the real environment (an exported variable wins)."""
    dotenv = root / ".env"
    values: dict[str, str] = {}
    if dotenv.is_file():  # python-dotenv (~10 ms of imports) only for a workspace that has a .env
        from dotenv import dotenv_values

        text = decode_text(dotenv.read_bytes(), ".env")
        values = {k: v for k, v in dotenv_values(stream=io.StringIO(text)).items() if v is not None}
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
        except Exception as exc:
            file = display_name(path, root)
            log.debug("loading %s failed", file, exc_info=True)  # `rooftop --debug` shows the traceback
            # The class only: the exception's text may quote the file's values, and its secrets are
            # unknown to every redactor until the file loads.
            workspace.errors.append(ConnectionFileError(
                f"could not be loaded: unexpected {type(exc).__name__} (`rooftop --debug validate` shows the "
                "traceback)", file=file))
            continue
        if loaded.name in first_file:
            workspace.errors.append(loaded.error(
                f"connection name {loaded.name!r} is already used by {first_file[loaded.name]}", ("name",)))
            continue
        first_file[loaded.name] = loaded.file
        workspace.connections[loaded.name] = loaded
    return workspace
