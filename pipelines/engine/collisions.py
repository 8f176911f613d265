"""Two connections must not land the same table: one check for `rooftop validate`, `sync` and Dagster.

Connections in different files can resolve to the same `namespace.table` (the same prefix, or
`namespace: source` for two customers of one vendor). In one warehouse they would overwrite, or
append into, each other's table and state; in Dagster, where a table's asset key is
`[namespace, table]`, only one of them can be shown even when they write different warehouses.

What is compared: each stream's resolved namespace and table (after `prefix` and `namespace`,
exactly as `plan_streams` resolves them) and the warehouse it goes to, identified by destination
connector plus location, read from the destination's config: the file of DuckDB or the root
directory of Parquet (a config's `path`, resolved against the workspace as the destinations do),
`host:port/database` of Postgres (any config with `sqlalchemy_url()`; host names are compared as
written, not resolved). A destination with neither (or `:memory:`) shares no warehouse with
anything. Names are compared as written (DuckDB's case-insensitive names are not folded).

Who loses: the first file (in file-name order, the order the workspace loads) that lands a table
owns it; every later connection landing the same table gets a ConnectionFileError naming both
files and lines. Same warehouse: `rooftop validate` and `rooftop sync` refuse it (exit 2) and
Dagster shows it as a broken connection. Different warehouses: only the Dagster asset keys clash;
validate and Dagster report it the same way, and `rooftop sync` still runs it (no data is at risk).

Landings come from the plan when the caller has one (Dagster, the sync itself); otherwise from
the YAML alone when it decides them (streams listed, a namespace that does not depend on the
source), else from the source's catalog (`discover`, as validate and Dagster already do). A
connection that cannot be planned claims nothing: it is reported broken for its own reason.

`rooftop validate --offline` decides everything from the YAML and the configs: it imports neither
the planner (pyarrow) nor a destination's class (its driver), except to learn the default schema
of a connection that writes `namespace: destination`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.config.models import SOURCE_NAMESPACE_VAR
from pipelines.config.yaml_reader import Path_
from pipelines.engine.namespaces import resolve_namespace
from pipelines.workspace.connection import LoadedConnection
from protocol.errors import ConnectionFileError

if TYPE_CHECKING:
    from pipelines.engine.plan import StreamPlan
    from protocol.types import Catalog

MEMORY = ":memory:"


@dataclass(frozen=True)
class Landing:
    """One table a connection writes, and where in its file that is decided."""

    conn: LoadedConnection
    warehouse: str | None
    namespace: str
    table: str
    at: Path_

    @property
    def where(self) -> str:
        line = self.conn.doc.positions.line_of(self.at)
        return f"{self.conn.file}:{line}" if line is not None else self.conn.file


@dataclass(frozen=True)
class Collision:
    error: ConnectionFileError
    same_warehouse: bool


def warehouse_of(conn: LoadedConnection) -> str | None:
    """`connector:location` of the connection's warehouse, without credentials; None if private."""
    connector = conn.config.destination.connector
    path = getattr(conn.destination_config, "path", None)
    if isinstance(path, str | Path):
        return None if str(path) == MEMORY else f"{connector}:{(conn.root / path).resolve()}"
    url = getattr(conn.destination_config, "sqlalchemy_url", None)
    if callable(url):
        parsed = url()
        return f"{connector}://{parsed.host or ''}:{parsed.port or ''}/{parsed.database or ''}"
    return None


def _at(conn: LoadedConnection, index: int) -> Path_:
    return ("streams", index, "name") if conn.config.streams is not None else ("namespace",)


def landings(conn: LoadedConnection, plans: Sequence[StreamPlan]) -> list[Landing]:
    """What `plans` (every stream of `conn`, in YAML order) land."""
    warehouse = warehouse_of(conn)
    return [Landing(conn, warehouse, p.table.namespace, p.table.table, _at(conn, i)) for i, p in enumerate(plans)]


def offline_landings(conn: LoadedConnection) -> list[Landing] | None:
    """The landings when the YAML alone decides them, else None (the catalog is needed)."""
    cfg = conn.config
    if cfg.streams is None or cfg.namespace == "source" or SOURCE_NAMESPACE_VAR in cfg.namespace:
        return None
    # The destination's default schema only matters (and its class is only imported) for `destination`.
    default = conn.make_destination().default_namespace if cfg.namespace == "destination" else ""
    namespace = resolve_namespace(cfg.namespace, "", default)
    warehouse = warehouse_of(conn)
    return [Landing(conn, warehouse, namespace, cfg.prefix + s.name, _at(conn, i)) for i, s in enumerate(cfg.streams)]


def resolved_landings(conn: LoadedConnection, *, offline: bool = False,
                      catalog: Catalog | None = None) -> list[Landing] | None:
    """Offline if possible, else from `catalog` or a `discover`; None when it cannot be planned."""
    found = offline_landings(conn)
    if found is not None or (offline and catalog is None):
        return found
    from pipelines.engine.plan import plan_streams  # pyarrow: only when the catalog decides the landings

    try:
        if catalog is None:
            with conn.make_source() as source:
                catalog = source.discover()
        return landings(conn, plan_streams(conn, catalog, conn.make_destination().default_namespace))
    except Exception:  # noqa: BLE001 - a connection that cannot be planned is reported for that reason
        return None


def find_collisions(entries: Iterable[Sequence[Landing]]) -> dict[str, Collision]:
    """Connection name → its collision, for every connection (in the order given) that loses one."""
    owners: dict[tuple[str, str], Landing] = {}
    found: dict[str, Collision] = {}
    for group in entries:
        clashes = [(mine, owners[(mine.namespace, mine.table)]) for mine in group
                   if (mine.namespace, mine.table) in owners
                   and owners[(mine.namespace, mine.table)].conn.name != mine.conn.name]
        if clashes:
            # The worst first: a shared warehouse means shared data, a key clash only Dagster's view.
            mine, owner = max(clashes, key=lambda c: c[0].warehouse is not None and c[0].warehouse == c[1].warehouse)
            found[mine.conn.name] = _collision(mine, owner)
        for mine in group:
            owners.setdefault((mine.namespace, mine.table), mine)
    return found


def _collision(mine: Landing, owner: Landing) -> Collision:
    table = f"{mine.namespace}.{mine.table}"
    same = mine.warehouse is not None and mine.warehouse == owner.warehouse
    head = f"table {table} is already synced by connection {owner.conn.name!r} ({owner.where})"
    if same:
        text = (f"{head} into the same warehouse ({mine.warehouse}): two connections cannot own one table; change "
                "this one's namespace or prefix")
    else:
        text = (f"{head}, into another warehouse: Dagster names a table's asset [namespace, table] and can show "
                "only one of them; change this one's namespace or prefix")
    return Collision(mine.conn.error(text, mine.at), same)


def workspace_problems(connections: Sequence[LoadedConnection], *, offline: bool = False,
                       names: Sequence[str] | None = None) -> list[ConnectionFileError]:
    """`rooftop validate`: every collision of the named connections (default: all)."""
    entries = [found for conn in connections if (found := resolved_landings(conn, offline=offline))]
    return [c.error for name, c in find_collisions(entries).items() if not names or name in names]


def sync_preflight(connections: Sequence[LoadedConnection], conn: LoadedConnection) -> Callable[[Catalog], None]:
    """For `run_sync(preflight=...)`: refuse `conn` before it writes if an earlier file lands one of its
    tables in the same warehouse. Only connections before it that share its warehouse are planned."""

    def check(catalog: Catalog) -> None:
        mine = resolved_landings(conn, catalog=catalog)
        warehouse = warehouse_of(conn)
        if not mine or warehouse is None:
            return
        order = [c.name for c in connections]
        before = connections[:order.index(conn.name)] if conn.name in order else []
        entries = [found for c in before if warehouse_of(c) == warehouse and (found := resolved_landings(c))]
        collision = find_collisions([*entries, mine]).get(conn.name)
        if collision is not None and collision.same_warehouse:
            raise collision.error

    return check
