"""The Dagster code location: `workspace.yaml` loads this module (`dagster dev`, `rooftop ui`).

It builds one `Definitions` from every file in the workspace's `connections/`: the workspace is
`$ROOFTOP_WORKSPACE`, else the working directory (workspace.yaml sets it to the repo root). The
wiring itself lives in `pipelines.dagster`; this module only picks the workspace.
"""

from __future__ import annotations

from pipelines.dagster.build import build_definitions, workspace_root

defs = build_definitions(workspace_root())
