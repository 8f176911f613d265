"""A connection file that cannot be loaded still shows up in Dagster, as a failing asset.

Raising while building definitions would take the whole code location down (every good
connection with it); skipping the file silently would hide the problem. Instead each broken file
gets an asset `rooftop_broken/<file stem>` in the group `broken_connections` whose description is
the error (file, line, field), and whose materialization fails with that same message.
"""

from __future__ import annotations

import re
from pathlib import Path

from dagster import AssetKey, AssetsDefinition, Failure, MetadataValue, asset

BROKEN_PREFIX = "rooftop_broken"
BROKEN_GROUP = "broken_connections"


def broken_asset(file: str, message: str, used: set[str]) -> AssetsDefinition:
    """The failing stand-in for `file`; `used` keeps names unique (a.yaml and a.yml)."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", Path(file).stem) or "connection"
    name, n = base, 2
    while name in used:
        name, n = f"{base}_{n}", n + 1
    used.add(name)

    @asset(key=AssetKey([BROKEN_PREFIX, name]), group_name=BROKEN_GROUP, kinds={"rooftop"},
           description=f"BROKEN connection file, not loaded: {message}\n\nFix the file (`rooftop validate` "
                       "shows every problem), then reload the code location.",
           metadata={"error": MetadataValue.text(message), "connection_file": MetadataValue.path(file)})
    def _broken() -> None:
        raise Failure(description=f"connection file {file} is broken: {message}", allow_retries=False)

    return _broken
