"""Versioned state: what lets a stored checkpoint outlive a change of its shape.

A stream's state is saved in the warehouse (`_rooftop.state`, or the parquet manifest) and read
back at the start of the next sync, possibly by a newer Rooftop or a newer connector that keeps
its state differently. Without a version, the first such change could only guess what an old state
means, or silently start over from the beginning. So every state the engine saves carries, inside
its JSON (the destinations' tables do not change):

- `"_version": N`: the version of Rooftop's own state format, i.e. what the engine reads in a
  state (the `cursor` convention) and the reserved `_` keys. Version 1 is the format of every
  state saved before versions existed, so a row without `_version` reads as version 1 and existing
  warehouses keep working without a data migration.
- `"_source_version": M`, only for a source that declares `state_version: ClassVar[int]` (its own
  shape; absent means 1). Such a source also defines `migrate_state(state, from_version)`, which
  returns the state in version `from_version + 1`. Both are optional: a source without them is
  never asked anything (see `protocol.types.Source`).

Reading (`StateMigrations.upgrade`) strips those keys, runs Rooftop's chain from the stored
version to the current one, then the source's own steps, and hands the source only its own keys.
Writing (`StateMigrations.stamp`) adds the current versions. A stored version newer than this
Rooftop (or connector) knows is a ConfigError naming the connection, the stream and both versions:
a state is never reset or misread because a downgrade happened. The model is dlt's
`_state_engine_version` with its `migrate_pipeline_state` chain (dlt/pipeline/state_sync.py),
kept per stream and split in two because Rooftop's connectors change their shapes on their own
schedule. docs/state.md is the guide for connector authors.

Changing Rooftop's format: add a step to `STATE_MIGRATIONS` (each step takes a state of version n,
without the reserved keys, and returns it in version n + 1); the current version is one more than
the number of steps, so the chain and the version cannot disagree. A test, or a tool, can build
its own `StateMigrations` and pass it to `run_sync(state_migrations=...)`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, ClassVar, Protocol

from protocol.errors import ConfigError
from protocol.types import Source

STATE_VERSION_KEY = "_version"
SOURCE_STATE_VERSION_KEY = "_source_version"
RESERVED_KEYS = frozenset({STATE_VERSION_KEY, SOURCE_STATE_VERSION_KEY})
"""Keys of a stored state that belong to Rooftop: a source never sees them and must not emit them."""

State = dict[str, Any]
Migration = Callable[[State], State]
"""One step of a chain: a state of version n (reserved keys removed) → the same state in version n + 1."""


class MigratesState(Protocol):
    """What a source that versions its own state adds to `protocol.types.Source` (both optional there).

    The engine looks both up with getattr, so a source without them keeps working unchanged.
    """

    state_version: ClassVar[int]
    """The version of the state this source checkpoints now (1 for the shape it had before it declared one)."""

    def migrate_state(self, state: State, from_version: int) -> State:
        """Return `state`, saved by this connector in `from_version`, in version `from_version + 1`."""
        ...


class StateMigrations:
    """Rooftop's chain of state migrations: `steps[0]` upgrades version 1 to 2, `steps[1]` 2 to 3, …"""

    def __init__(self, *steps: Migration) -> None:
        self.steps = steps

    @property
    def current(self) -> int:
        """The version every state is written in."""
        return len(self.steps) + 1

    def stamp(self, state: Mapping[str, Any] | None, source: Source) -> State | None:
        """`state` as it is stored: with the current version of Rooftop's format and of `source`'s."""
        if state is None:
            return None
        clash = RESERVED_KEYS.intersection(state)
        if clash:
            # Overwriting them would lose the source's value; keeping them would corrupt the version.
            raise ValueError(f"source {_name(source)} checkpointed a state with the reserved key(s) "
                             f"{', '.join(sorted(clash))}: keys {', '.join(sorted(RESERVED_KEYS))} are Rooftop's")
        stamped = {**state, STATE_VERSION_KEY: self.current}
        declared = source_state_version(source)
        if declared is not None:
            stamped[SOURCE_STATE_VERSION_KEY] = declared
        return stamped

    def check(self, stored: Mapping[str, Any], *, connection: str, stream: str, source: Source) -> None:
        """Raise ConfigError if `stored` was written by a newer Rooftop or a newer version of `source`."""
        where = f"connection {connection}, stream {stream}"
        version = _stored_version(stored, STATE_VERSION_KEY, where)
        if version > self.current:
            raise ConfigError(
                f"{where}: the saved state is in version {version} of Rooftop's state format, written by a "
                f"newer Rooftop; this one reads up to version {self.current}. Upgrade Rooftop to sync it "
                "(the saved state is left as it is)")
        own = _stored_version(stored, SOURCE_STATE_VERSION_KEY, where)
        known = source_state_version(source) or 1
        if own > known:
            raise ConfigError(
                f"{where}: the saved state is in version {own} of the {_name(source)} connector's state, "
                f"written by a newer version of that connector; this one reads up to version {known}. "
                "Upgrade the connector to sync it (the saved state is left as it is)")

    def upgrade(self, stored: Mapping[str, Any], *, connection: str, stream: str, source: Source) -> State:
        """The state `source` resumes from: `stored` migrated to the current versions, reserved keys removed."""
        self.check(stored, connection=connection, stream=stream, source=source)
        where = f"connection {connection}, stream {stream}"
        version = _stored_version(stored, STATE_VERSION_KEY, where)
        state = {k: v for k, v in stored.items() if k not in RESERVED_KEYS}
        for number, step in enumerate(self.steps[version - 1:], start=version):
            state = _run_step(step, state, f"{where}: Rooftop's state migration from version {number}")
        own = _stored_version(stored, SOURCE_STATE_VERSION_KEY, where)
        known = source_state_version(source) or 1
        if own < known:
            migrate: Callable[[State, int], State] | None = getattr(source, "migrate_state", None)
            if migrate is None:
                raise ConfigError(f"{where}: connector {_name(source)} declares state_version {known} but has no "
                                  f"migrate_state to upgrade a saved state of version {own}")
            for number in range(own, known):
                state = _run_step(migrate, state, f"{where}: {_name(source)}'s state migration from version {number}",
                                  number)
        return state

    def upgrade_all(self, stored: Mapping[str, Mapping[str, Any]], *, connection: str, source: Source,
                    streams: Collection[str]) -> dict[str, State]:
        """`upgrade` for `streams`, after checking every stored stream of the connection.

        Every stream is checked (one newer state means a newer Rooftop wrote to this warehouse); only
        the streams about to sync are migrated (a source cannot be asked about streams it dropped).
        """
        for stream, state in stored.items():
            self.check(state, connection=connection, stream=stream, source=source)
        return {stream: self.upgrade(state, connection=connection, stream=stream, source=source)
                for stream, state in stored.items() if stream in streams}


STATE_MIGRATIONS = StateMigrations()
"""Rooftop's own chain. Empty: the current format is version 1."""


def source_state_version(source: object) -> int | None:
    """The `state_version` a source class declares, or None when it declares none (its states are version 1)."""
    declared = getattr(source, "state_version", None)
    if declared is None:
        return None
    if isinstance(declared, bool) or not isinstance(declared, int) or declared < 1:
        raise TypeError(f"connector {_name(source)}: state_version must be a whole number >= 1, not {declared!r}")
    return declared


def _stored_version(stored: Mapping[str, Any], key: str, where: str) -> int:
    value = stored.get(key, 1)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}: the saved state's {key} is {value!r}, not a version number; "
                          "it was not written by Rooftop")
    return value


def _run_step(step: Callable[..., State], state: State, what: str, *args: int) -> State:
    try:
        upgraded = step(dict(state), *args)
    except Exception as exc:  # a broken migration must name the stream, not surface as a bare KeyError
        raise ConfigError(f"{what} failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(upgraded, dict):
        raise ConfigError(f"{what} returned {type(upgraded).__name__}, not a dict")
    return upgraded


def _name(source: object) -> str:
    return str(getattr(source, "name", type(source).__name__))
