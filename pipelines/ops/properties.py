"""Listing a connection's properties and enabling or disabling them: `rooftop properties` and the API.

What the source has shown lives in the warehouse (`_rooftop.properties`, with first-seen times);
the decision lives in the YAML's `properties.include` / `exclude`, edited in place (comments kept)
by `set_property_status`. Both front-ends list, validate and edit through here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.engine.property_selection import (
    KnownProperty,
    known_properties,
    list_source_properties,
    record_seen,
)
from pipelines.ops.yaml_edit import set_property_status
from pipelines.workspace.connection import LoadedConnection
from pipelines.workspace.loading import load_workspace
from protocol.errors import ConfigError


@dataclass(frozen=True)
class PropertyChange:
    connection: LoadedConnection
    """The connection reloaded after the edit (its new `properties:` block)."""
    enabled: list[str]
    disabled: list[str]
    unseen: list[str]
    """Ids edited that the source has not shown yet (allowed: they take effect once seen)."""
    known: list[KnownProperty]


def expand_ids(values: Sequence[str] | None, known: list[KnownProperty]) -> list[str]:
    """`["3,4", "9"]` → ids; the word `pending` stands for every pending property."""
    ids: list[str] = []
    for value in values or []:
        for part in (p.strip() for p in str(value).split(",")):
            if part == "pending":
                ids.extend(p.property_id for p in known if p.status == "pending")
            elif part:
                ids.append(part)
    return list(dict.fromkeys(ids))


def load_properties(conn: LoadedConnection, refresh: bool = False) -> list[KnownProperty]:
    """What the warehouse knows; with `refresh`, ask the source first and record new properties (no sync)."""
    if not refresh:
        with conn.make_destination() as destination:
            return known_properties(conn, destination)
    with conn.make_source() as source:
        catalog = source.discover()
        if catalog.properties is None:
            raise conn.error(f"the {conn.config.source.connector} source does not organise records by property",
                             ("source", "connector"))
        listed = list_source_properties(source, catalog)
    with conn.make_destination() as destination:
        record_seen(destination, conn.name, listed, None)
        return known_properties(conn, destination, listed)


def change_properties(conn: LoadedConnection, known: list[KnownProperty], enable: Sequence[str] | None,
                      disable: Sequence[str] | None) -> PropertyChange | None:
    """Enable / disable ids in the connection file; None when neither names an id."""
    to_enable, to_disable = expand_ids(enable, known), expand_ids(disable, known)
    both = sorted(set(to_enable) & set(to_disable))
    if both:
        raise ConfigError(f"propert{'y' if len(both) == 1 else 'ies'} {', '.join(both)} given to both "
                          "enable and disable")
    if not to_enable and not to_disable:
        return None
    path = conn.root / conn.file
    if to_enable:
        set_property_status(path, to_enable, "enabled")
    if to_disable:
        set_property_status(path, to_disable, "disabled")
    seen = {p.property_id for p in known}
    reloaded = load_workspace(conn.root).get(conn.name)
    with reloaded.make_destination() as destination:
        now_known = known_properties(reloaded, destination)
    return PropertyChange(reloaded, to_enable, to_disable,
                          [i for i in (*to_enable, *to_disable) if i not in seen], now_known)


def property_json(p: KnownProperty) -> dict[str, Any]:
    return {"id": p.property_id, "name": p.name, "status": p.status,
            "first_seen_at": p.first_seen_at.isoformat() if p.first_seen_at else None}
