"""Change how a connection runs, or retire it, by editing its file: what the HTTP API's PUT and DELETE do.

Every edit goes through `yaml_edit`, so comments and key order stay, and the new text is validated as
a connection before it replaces the file: the CLI, Dagster and the API always read the same YAML, and a
bad value never leaves a broken file behind. A connection created from data (the API's POST without
`based_on`) is checked by the same loader as every file before it appears in connections/. The
paused/manual-sync guard lives here too, so every front-end refuses a manual sync with the same message.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from pipelines.config.models import NAME_PATTERN, PropertySelection
from pipelines.engine.collisions import workspace_problems
from pipelines.ops.clone import connection_path
from pipelines.ops.yaml_edit import (
    KEY_ORDER,
    insert_key,
    load_document,
    remove_key,
    render_document,
    save_document,
)
from pipelines.workspace.connection import LoadedConnection, load_connection
from pipelines.workspace.loading import CONNECTIONS_DIR, environment, load_workspace
from protocol.errors import ConfigError, ConnectionFileError

SETTINGS = ("active", "schedule", "rate_limit", "max_concurrency")
"""Top-level keys an update may set (None removes the key: back to its default)."""
ARCHIVE_DIR = ".archived"
"""Under connections/: archived files are out of the workspace (only connections/*.yaml load)."""


class NameTaken(ConfigError):
    """A new connection's name is already used by a connection or a file (the API answers 409)."""


def refuse_manual_sync(conn: LoadedConnection) -> None:
    """Raise the ConnectionFileError a manual sync of a paused or schedule-only connection gets."""
    if not conn.config.active:
        raise conn.error(f"connection {conn.name!r} is paused (active: false); set active: true to sync it",
                         ("active",))
    if not conn.config.allow_manual_syncs:
        raise conn.error(f"manual syncs of {conn.name!r} are disabled (allow_manual_syncs: false); "
                         "it runs on its schedule only", ("allow_manual_syncs",))


def update_settings(conn: LoadedConnection, changes: Mapping[str, Any]) -> LoadedConnection:
    """Set the keys of `changes` (SETTINGS, plus `new_properties`) in CONN's file; the reloaded connection."""
    path = connection_path(conn)
    doc = load_document(path)
    for key in SETTINGS:
        if key not in changes:
            continue
        if changes[key] is None:
            remove_key(doc, key)
        else:
            insert_key(doc, key, _node(changes[key]), KEY_ORDER)
    if "new_properties" in changes:
        block = doc.get("properties")
        if not isinstance(block, CommentedMap):
            block = CommentedMap()
            insert_key(doc, "properties", block, KEY_ORDER)
        insert_key(block, "new_properties", changes["new_properties"], tuple(PropertySelection.model_fields))
    return save_document(path, doc, root=conn.root)


def create_connection(root: Path, data: Mapping[str, Any]) -> LoadedConnection:
    """Write `data` (the keys of a connection file) as connections/{name}.yaml; the loaded connection.

    The text is loaded under a hidden temporary name (not *.yaml: a workspace load meanwhile never
    sees it) and hard-linked into place, which fails if a file of that name appeared meanwhile: a
    request never leaves a broken file behind nor replaces another connection's file.
    """
    name = data.get("name")
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        raise ConnectionFileError("a new connection needs a name of lower-case letters, digits and underscores, "
                                  "starting with a letter (e.g. acme_leasing)", file="<request body>", field="name")
    folder = root / CONNECTIONS_DIR
    path = folder / f"{name}.yaml"
    display = f"{CONNECTIONS_DIR}/{path.name}"
    workspace = load_workspace(root)
    in_use = [str(p.relative_to(root)) for p in (path, folder / f"{name}.yml") if p.exists()]
    in_use += [c.file for c in workspace.connections.values() if c.name == name]
    in_use += [e.file or "" for e in workspace.errors if Path(e.file or "").stem == name]
    if in_use:
        raise NameTaken(f"connection {name!r} already exists ({in_use[0]}); choose another name, "
                        f"or change it with PUT /v1/connections/{name}")
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(render_document(_block(data, KEY_ORDER)))
        try:
            loaded = load_connection(temp, root, environment(root))
        except ConnectionFileError as exc:
            # Its line is in text the caller never saw: the field path is what locates the problem.
            raise ConnectionFileError(f"{exc.detail} (nothing was written)", file=display,
                                      field=exc.field) from None
        # What `rooftop validate` checks across files: the newcomer (last) may not take a table of another.
        for problem in workspace_problems([*workspace.connections.values(), loaded], names=[name]):
            raise ConnectionFileError(f"{problem.detail} (nothing was written)", file=display, field=problem.field)
        os.chmod(temp, 0o644)  # mkstemp's 0600 would hide the connection from the rest of the team
        try:
            os.link(temp, path)
        except FileExistsError:
            raise NameTaken(f"connection {name!r} was created meanwhile ({display}); nothing was written") from None
    finally:
        temp.unlink(missing_ok=True)
    loaded.file = display
    return loaded


def archive_connection(conn: LoadedConnection) -> Path:
    """Move CONN's file to connections/.archived/ (timestamped); its warehouse tables are not touched."""
    path = connection_path(conn)
    folder = conn.root / CONNECTIONS_DIR / ARCHIVE_DIR
    folder.mkdir(exist_ok=True)
    target = folder / f"{path.stem}.{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}{path.suffix}"
    os.replace(path, target)
    return target


def _node(value: Any) -> Any:
    """JSON values as round-trip nodes (a mapping or list written in flow style: one line, like the docs)."""
    if isinstance(value, Mapping):
        node = CommentedMap((k, _node(v)) for k, v in value.items())
        node.fa.set_flow_style()
        return node
    if isinstance(value, list):
        seq = CommentedSeq(_node(v) for v in value)
        seq.fa.set_flow_style()
        return seq
    return value


def _block(value: Any, order: tuple[str, ...] = ()) -> Any:
    """JSON values as round-trip nodes in block style, top-level keys in `order` (like a hand-written file)."""
    if isinstance(value, Mapping):
        rank = {key: index for index, key in enumerate(order)}
        keys = sorted(value, key=lambda k: rank.get(k, len(rank)))
        return CommentedMap((k, _block(value[k])) for k in keys)
    if isinstance(value, list):
        return CommentedSeq(_block(v) for v in value)
    return value
