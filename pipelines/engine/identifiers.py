"""Names the destination cannot store intact are config errors found while planning, not mid-sync.

PostgreSQL truncates identifiers past 63 bytes (two long names could land in one table) and a file
system refuses a path component past 255 bytes: a long `prefix` or `namespace` used to surface only
when the destination created the table, after other streams of the sync had been written. Each
destination says what it cannot store through an optional `identifier_problem(kind, name)` (see
`protocol.types.Destination`); this module asks it about every namespace, table and column the plan
will create and points the error at the YAML line a user would change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pipelines.config.yaml_reader import Path_
from pipelines.workspace.connection import LoadedConnection
from protocol.types import META_COLUMNS, IdentifierKind

if TYPE_CHECKING:
    from pipelines.engine.plan import StreamPlan

Problem = Callable[[IdentifierKind, str], "str | None"]


def _no_problem(kind: IdentifierKind, name: str) -> str | None:
    return None


def check_identifiers(conn: LoadedConnection, plans: Sequence[StreamPlan]) -> None:
    """Raise a ConnectionFileError for the first name of `plans` the destination cannot store."""
    problem: Problem = getattr(conn.destination_class, "identifier_problem", None) or _no_problem
    listed = conn.config.streams is not None
    connector = conn.config.destination.connector
    for index, plan in enumerate(plans):
        # `plans` is in the YAML's stream order (plan_streams filters `--stream` only afterwards).
        at: Path_ = ("streams", index) if listed else ()
        spec = plan.table
        why = problem("namespace", spec.namespace)
        if why:
            raise conn.error(f"namespace {spec.namespace!r} (stream {plan.name!r}) {why} in the {connector} "
                             "destination; choose a shorter namespace", ("namespace",))
        why = problem("table", spec.table)
        if why:
            prefix = conn.config.prefix
            own = problem("table", prefix) if prefix else None
            where: Path_ = ("prefix",) if own or not listed else (*at, "name")
            made = f" (prefix {prefix!r} + stream {plan.name!r})" if prefix else ""
            raise conn.error(f"table name {spec.table!r}{made} {why} in the {connector} destination; shorten the "
                             "prefix or select the stream under a shorter name", where)
        for column in spec.schema.names:
            why = problem("column", column) if column not in META_COLUMNS else None
            if why:
                raise conn.error(f"column {column!r} of stream {plan.name!r} {why} in the {connector} destination; "
                                 "leave it out with `fields:` (or name the enum map's column shorter)",
                                 _column_path(plan, at, column))


def _column_path(plan: StreamPlan, at: Path_, column: str) -> Path_:
    for name, enum_map in plan.enum_maps.items():
        if enum_map.to == column:
            return (*at, "enum_maps", name, "to")
    return (*at, "fields") if plan.config.fields is not None else (*at, "name") if at else ("streams",)
