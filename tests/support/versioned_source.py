"""Sources that keep their state in a new shape, and the workspace they read, for the versioned-state tests.

`PositionSource` is `EvolvingSource` (tests/conformance/evolving_source.py) after a change of state
shape: it resumes from `state["position"]` and checkpoints `{"position": …}`, so a state saved in
the old shape (`{"cursor": …}`) only helps it if a migration renamed the key; without one it reads
everything again, which the tests see in `rows_read`. It appends every state it is handed to
`states_seen.jsonl` in the workspace, so a test can check what a source is shown (never Rooftop's
version keys).

`MigratingPositionSource` is the same connector declaring the change itself: `state_version = 2`
and a `migrate_state` from version 1, with no help from Rooftop's own chain;
`UnmigratedPositionSource` declares the version and forgets the migration.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from protocol.types import ReadRequest, SourceItem, StateCheckpoint
from tests.conformance.evolving_source import EvolvingConfig, EvolvingSource

SEEN = "states_seen.jsonl"
EVOLVING = "tests.conformance.evolving_source:EvolvingSource"
CONN = """\
name: sv
source: {{connector: "{source}", config: {{spec: spec.json, batch_rows: 2}}}}
destination: {dest}
streams: [{{name: items, sync_mode: incremental_append}}]
"""


def write_workspace(make_workspace: Callable[..., Path], destination: str, source: str = EVOLVING,
                    extra_state: dict[str, Any] | None = None) -> Path:
    """Connection `sv`: one incremental stream `evo.items` of rows 1..3 (`updated` = id), read by `source`."""
    root = make_workspace(CONN.format(source=source, dest=destination), name="sv")
    spec = {"name": "items", "columns": [["id", "int64"], ["updated", "int64"]], "primary_key": ["id"],
            "cursor": "updated", "rows": [{"id": i, "updated": i} for i in (1, 2, 3)],
            "extra_state": extra_state or {}}
    (root / "spec.json").write_text(json.dumps({"namespace": "evo", "streams": [spec]}))
    return root


def add_row(root: Path, n: int) -> None:
    spec = json.loads((root / "spec.json").read_text())
    spec["streams"][0]["rows"].append({"id": n, "updated": n})
    (root / "spec.json").write_text(json.dumps(spec))


class PositionSource(EvolvingSource):
    name: ClassVar[str] = "position"

    def __init__(self, config: EvolvingConfig, *, root: Path, context: object = None) -> None:
        super().__init__(config, root=root, context=context)
        self.seen = root / SEEN

    def read(self, request: ReadRequest) -> Iterator[SourceItem]:
        with self.seen.open("a") as f:
            f.write(json.dumps(None if request.state is None else dict(request.state)) + "\n")
        position = (request.state or {}).get("position")
        old_shape = replace(request, state=None if position is None else {"cursor": position})
        for item in super().read(old_shape):
            if isinstance(item, StateCheckpoint):
                item = StateCheckpoint({"position": item.state["cursor"]})
            yield item


class MigratingPositionSource(PositionSource):
    name: ClassVar[str] = "migrating_position"
    state_version: ClassVar[int] = 2

    def migrate_state(self, state: dict[str, Any], from_version: int) -> dict[str, Any]:
        if from_version == 1:  # version 1 kept the resume point under "cursor"
            return {"position": state.pop("cursor"), **state}
        raise ValueError(f"no migration from version {from_version}")


def states_seen(root: Path) -> list[dict[str, Any] | None]:
    """Every state a PositionSource was handed in this workspace, oldest first."""
    path = root / SEEN
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


class UnmigratedPositionSource(PositionSource):
    """A connector that declared a new `state_version` but forgot its `migrate_state`."""

    name: ClassVar[str] = "unmigrated_position"
    state_version: ClassVar[int] = 2
