"""Which connection holds a vendor id: `PUT /v1/residents/3` without `?connection=`.

Vendor ids collide across customers and systems, so a bare one is looked up in the warehouse of
every connection whose system accepts writes to the resource: in the table that connection lands
the resource's stream, by its primary key (for a `model: unified` table: `source_id`, the vendor's
id). Each destination answers `record_exists` with a read of its own that takes no writer's lock
(DuckDB read-only, Postgres READ ONLY, Parquet from the manifest), so a running sync neither blocks
the lookup nor is blocked by it. One match is the target; none is `RecordNotFound` (404); two or
more are `WriteConflict` (409) naming them all. `record_exists` is an optional capability
(`protocol.types.RecordLookup`): a third-party destination without it cannot say whether it holds
the id, so a bare id that could be there is a ConfigError (400) asking for `?connection=`, rather
than a guess that might pick the wrong connection.

Where the table is comes from the plan a sync would make (`plan_streams`: namespace, prefix,
primary key), which needs the source's catalog; a connection that does not sync the resource's
stream, or whose stream has no single-column key, cannot hold it there as far as Rooftop can tell.
A record that lives inside another stream's rows is also searched where its declaration says
(`ResourceWrites.ids_in`: Entrata's customers at `customers.customer.id` of each lease).
"""

from __future__ import annotations

import inspect

from pipelines.engine.plan import plan_streams
from pipelines.workspace.connection import LoadedConnection
from pipelines.workspace.loading import Workspace
from pipelines.writes.targets import accepts, id_locations
from protocol.errors import ConfigError
from protocol.types import RecordLookup

UNIFIED_KEY = "source_id"


class RecordNotFound(LookupError):
    """No connection that accepts writes to the resource has a record with this vendor id."""


def holders(workspace: Workspace, resource: str, vendor_id: str) -> list[LoadedConnection]:
    """The connections whose warehouse holds a `resource` record with `vendor_id`, by name order.

    Raises ConfigError when no connection accepts writes to `resource` at all.
    """
    candidates = [conn for conn in workspace.connections.values() if accepts(conn, resource)]
    if not candidates:
        raise ConfigError(f"no connection accepts writes to {resource!r}")
    return sorted((conn for conn in candidates if _holds(conn, resource, vendor_id)), key=lambda c: c.name)


def _holds(conn: LoadedConnection, resource: str, vendor_id: str) -> bool:
    listed = conn.config.streams
    source = conn.make_source()  # one for the declarations and the discover below
    locations = {stream: path for stream, path in id_locations(conn, resource, source).items()
                 if listed is None or any(s.name == stream for s in listed)}
    if not locations:
        return False  # none of the streams that could hold it lands here
    destination = conn.make_destination()  # constructing opens nothing
    if not isinstance(destination, RecordLookup):
        raise ConfigError(f"connection {conn.name!r} could hold {resource} {vendor_id!r}, but its destination "
                          f"{conn.config.destination.connector!r} cannot look ids up (it has no record_exists): "
                          "pass ?connection=<name> (--connection), or use Rooftop's id <system>:<connection>:<id>")
    with source:
        # Only those streams, where the source can say so (rest_api samples schemas it does not declare).
        takes_streams = "streams" in inspect.signature(source.discover).parameters
        catalog = source.discover(streams=list(locations)) if takes_streams else source.discover()  # type: ignore[call-arg]
    for stream, path in locations.items():
        if catalog.get(stream) is None:
            continue
        plan = plan_streams(conn, catalog, destination.default_namespace, only=[stream])[0]
        if path is not None:
            column, *keys = path.split(".")
            found = destination.record_exists(plan.table.namespace, plan.table.table, column, vendor_id, tuple(keys))
        else:
            key = UNIFIED_KEY if conn.config.model == "unified" else (
                plan.primary_key[0] if len(plan.primary_key) == 1 else None)
            found = key is not None and destination.record_exists(plan.table.namespace, plan.table.table, key,
                                                                  vendor_id)
        if found:
            return True
    return False
