"""Change how a connection runs, or retire it, by editing its file: what the HTTP API's PUT and DELETE do.

Every edit goes through `yaml_edit`, so comments and key order stay, and the new text is validated as
a connection before it replaces the file: the CLI, Dagster and the API always read the same YAML, and a
bad value never leaves a broken file behind. The paused/manual-sync guard lives here too, so every
front-end refuses a manual sync with the same message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from pipelines.config.models import PropertySelection
from pipelines.ops.clone import connection_path
from pipelines.ops.yaml_edit import KEY_ORDER, insert_key, load_document, remove_key, save_document
from pipelines.workspace.connection import LoadedConnection
from pipelines.workspace.loading import CONNECTIONS_DIR

SETTINGS = ("active", "schedule", "rate_limit", "max_concurrency")
"""Top-level keys an update may set (None removes the key: back to its default)."""
ARCHIVE_DIR = ".archived"
"""Under connections/: archived files are out of the workspace (only connections/*.yaml load)."""


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
