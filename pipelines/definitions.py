"""The Dagster code location: `workspace.yaml` loads this module (`dagster dev`, `rooftop ui`).

It builds one `Definitions` from every file in the workspace's `connections/`: the workspace is
`$ROOFTOP_WORKSPACE`, else the working directory (workspace.yaml sets it to the repo root). The
wiring itself lives in `pipelines.dagster`; this module only picks the workspace. To change asset
keys, groups, kinds or tags, copy these lines into a module of your own with
`build_definitions(workspace_root(), translator=YourTranslator())` (a `RooftopTranslator`
subclass, docs/dagster.md) and point workspace.yaml at it.
"""

from __future__ import annotations

from pipelines.dagster.build import build_definitions, workspace_root

defs = build_definitions(workspace_root())
