"""Property selection for the `rest_api` source: which streams belong to properties, and reading
them one property at a time.

A PMS customer's connection syncs only the properties it selected, and every request for a
property that is not selected costs API quota for nothing. So when `ReadRequest.properties` is
set, a stream with a per-property endpoint (`property.path`) is read as one request series per
selected property, taken from the property stream and skipped *before* any request; child streams
of the property stream skip unselected parents the same way (in `source`); streams that only carry
a property field are read as usual and filtered here, client-side.

A stream read per property keeps one cursor per property in its state,
`{"cursor": <highest of all>, "properties": {"<id>": <cursor>}}`, so a property enabled later is
read from its start (its full history) while the others resume from their own cursor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, tzinfo
from typing import Any

import pyarrow as pa

from connectors.arrow import records_to_batch
from connectors.http.client import HttpClient
from connectors.rest_api.config import PropertiesConfig, RestApiConfig, StreamSpec
from connectors.rest_api.cursor import Key, plan_cursor
from connectors.rest_api.pages import Record, series
from protocol.types import PropertyScope, ReadRequest, SourceItem, StateCheckpoint

BATCH_ROWS = 2000
"""Per-property pages are small: records are gathered into batches of about this many (full refresh)."""


def property_key(value: Any) -> str | None:
    """A property id as the engine's selection spells it (text; 3.0 and 3 are both "3")."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def scope_members(config: RestApiConfig) -> dict[str, str | None]:
    """Every property-scoped stream -> the field of its records holding the property id (or None).

    Scoped are: the property stream (its id field), every stream with `property`, and every child
    of a scoped stream (its parent records belong to properties). A child without `property.field`
    that copies its parent's property field (`parent.fields`) holds the id in that copy.
    """
    scope = config.properties
    if scope is None:
        return {}
    members: dict[str, str | None] = {scope.stream: scope.id_field}
    changed = True
    while changed:  # children may be listed before their parents: repeat until nothing is added
        changed = False
        for spec in config.streams:
            if spec.name in members:
                continue
            parent = spec.parent.stream if spec.parent is not None else None
            if spec.property_scope is None and parent not in members:
                continue
            field = spec.property_scope.field if spec.property_scope is not None else None
            if field is None and spec.parent is not None and parent in members and members[parent] is not None:
                field = next((child for child, path in spec.parent.fields.items() if path == members[parent]), None)
            members[spec.name] = field
            changed = True
    return members


def property_scope(config: RestApiConfig) -> PropertyScope | None:
    """The catalog's `PropertyScope` (None when the source declares no property stream)."""
    scope = config.properties
    if scope is None:
        return None
    return PropertyScope(stream=scope.stream, id_field=scope.id_field, name_field=scope.name_field,
                         members=scope_members(config))


def keep_selected(records: list[Record], field: str, selected: frozenset[str]) -> list[Record]:
    """The records whose `field` holds a selected property id."""
    return [r for r in records if property_key(r.get(field)) in selected]


def selected_properties(records: Iterable[Record], id_field: str,
                        selected: frozenset[str]) -> Iterator[tuple[str, Record]]:
    """(id, record) of each selected property, once each, in the listing's order."""
    seen: set[str] = set()
    for record in records:
        pid = property_key(record.get(id_field))
        if pid is not None and pid in selected and pid not in seen:
            seen.add(pid)
            yield pid, record


def property_pages(http: HttpClient, config: RestApiConfig, spec: StreamSpec, prop: Record,
                   params: Mapping[str, Any], run: Mapping[str, Any] | None = None) -> Iterator[list[Record]]:
    """Pages of one property's request series at `property.path`, with `property.field` filled in.

    `run`: the read's own placeholder values (`cursor`, `window.start`, `window.end`)."""
    scope = spec.property_scope
    assert scope is not None and scope.path is not None and config.properties is not None
    ignore = scope.ignore_statuses if scope.ignore_statuses is not None else spec.ignore_statuses
    per_property = spec.model_copy(update={"path": scope.path, "ignore_statuses": ignore})
    field, prop_id = scope.field, prop.get(config.properties.id_field)
    for records in series(http, config, per_property, {**(run or {}), "property": prop}, params):
        if field is not None:
            for record in records:
                if record.get(field) is None:
                    record[field] = prop_id
        yield records


class PropertyCursors:
    """The per-property incremental state of one read (see the module docstring)."""

    def __init__(self, state: Mapping[str, Any] | None, key: Key) -> None:
        state = state or {}
        saved = state.get("properties")
        self.mapped = isinstance(saved, Mapping)
        self.by_property: dict[str, Any] = dict(saved) if isinstance(saved, Mapping) else {}
        # Saved by a read without selection: every property was read up to this cursor.
        self.shared = None if self.mapped else state.get("cursor")
        self.key = key
        self.top: Any = None
        for value in self.by_property.values():
            self._raise_top(value)

    def begin(self, pid: str) -> Any:
        """The cursor `pid` resumes from (None: from the start), recorded in the map."""
        saved = self.by_property.get(pid) if self.mapped else self.shared
        if saved is not None:
            self.by_property[pid] = saved
            self._raise_top(saved)
        return saved

    def advance(self, pid: str, highest: Any) -> None:
        """`pid` has been read up to `highest` (never moves a property's cursor backwards)."""
        if highest is None:
            return
        current = self.by_property.get(pid)
        if current is None or _after(self.key, highest, current):
            self.by_property[pid] = highest
            self._raise_top(highest)

    def _raise_top(self, value: Any) -> None:
        if self.top is None or _after(self.key, value, self.top):
            self.top = value

    def checkpoint(self) -> StateCheckpoint | None:
        if not self.by_property:
            return None
        return StateCheckpoint({"cursor": self.top, "properties": dict(self.by_property)})


def _after(key: Key, value: Any, reference: Any) -> bool:
    a, b = key(value), key(reference)
    if a is None or b is None:
        return a is not None  # a comparable value beats one that is not
    return bool(a > b)


def read_by_property(http: HttpClient, config: RestApiConfig, spec: StreamSpec, request: ReadRequest,
                     properties: Iterable[Record], prepare: Callable[[list[Record]], None], *,
                     tz: tzinfo = UTC, now: datetime | None = None) -> Iterator[SourceItem]:
    """Read `spec` for the selected properties, one series each, checkpointing the per-property map.

    `properties` are the property stream's records; `prepare` sees every page as it arrives, before
    the cursor filter (time zones, schema widening); `tz` and `now` as for `plan_cursor`. Checkpoints
    follow every page when the API lists in cursor order (a property's series is then in cursor
    order), else every property's series.
    """
    scope: PropertiesConfig | None = config.properties
    selected = request.properties
    assert scope is not None and selected is not None
    schema: pa.Schema = request.stream.schema
    cursors = PropertyCursors(request.state if request.incremental else None,
                              plan_cursor(spec, request, tz=tz, now=now).key)
    buffer: list[Record] = []
    for pid, prop in selected_properties(properties, scope.id_field, selected):
        saved = cursors.begin(pid)
        plan = plan_cursor(spec, replace(request, state=None if saved is None else {"cursor": saved}), tz=tz, now=now)
        for records in property_pages(http, config, spec, prop, plan.params, plan.placeholders):
            prepare(records)
            records, past_end = plan.keep(records)
            if records:
                plan.observe(records)
                buffer.extend(records)
                if plan.track and plan.ordered:
                    yield records_to_batch(buffer, schema)
                    buffer = []
                    cursors.advance(pid, plan.highest)
                    if (checkpoint := cursors.checkpoint()) is not None:
                        yield checkpoint
                elif len(buffer) >= BATCH_ROWS:
                    yield records_to_batch(buffer, schema)
                    buffer = []
            if past_end and plan.ordered:
                break  # this property's later pages are past the end too
        if plan.track or plan.watermark is not None:
            if buffer:
                yield records_to_batch(buffer, schema)
                buffer = []
            cursors.advance(pid, plan.highest if plan.watermark is None else plan.watermark)
            if (checkpoint := cursors.checkpoint()) is not None:
                yield checkpoint
    if buffer:
        yield records_to_batch(buffer, schema)
