"""`check_source`: what every source must do for the engine, checked in a plugin author's own tests.

The engine trusts a source on a handful of points it cannot verify cheaply at sync time: a catalog
with Arrow schemas, batches whose columns belong to that catalog in types it can cast, JSON state
whose saved form makes the next read smaller, errors from `protocol.errors`, and no secret in any
message or log line. A source that breaks one of them syncs wrong data or leaks a key, usually
much later and far from the cause. `check_source` runs a source the way the engine does (construct,
`with`, check, discover, read every stream, read incremental streams again from the saved state)
and reports every broken rule at once, as one `SourceConformanceError` (an AssertionError, so
pytest shows it as a failed test).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, SecretStr

from connectors.arrow import raw_type
from connectors.sdk.replay import ReplayServer
from protocol.errors import ConfigError, RooftopError
from protocol.types import Catalog, CatalogStream, ReadRequest, Source, SourceContext, StateCheckpoint, SyncMode

WRONG_SECRET = "conformance-wrong-secret-7f3a9c"
"""Put in place of every secret config value to see that a refusal is reported without the value."""


class SourceConformanceError(AssertionError):
    """Every rule a source broke, one per line."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(f"source {source!r} breaks {len(problems)} rule(s) of the Source protocol:\n"
                         + "\n".join(f"  - {p}" for p in problems))


@dataclass
class StreamReport:
    """What one stream's reads produced, for assertions beyond the protocol's."""

    name: str
    rows: int = 0
    """Rows of the full (non-incremental) read."""
    checkpoints: int = 0
    state: Mapping[str, Any] | None = None
    """The last checkpoint of the first incremental read (None: not incremental, or no checkpoint)."""
    incremental_rows: tuple[int, int] | None = None
    """Rows of the first incremental read and of the read from its saved state."""
    incremental_requests: tuple[int, int] | None = None
    """Requests the server received for those two reads (when `check_source` was given the server)."""


@dataclass
class SourceReport:
    catalog: Catalog
    streams: dict[str, StreamReport] = field(default_factory=dict)


def check_source(source_class: type[Source], config: Mapping[str, Any] | BaseModel, *,
                 streams: Sequence[str] | None = None, root: Path | None = None,
                 context: SourceContext | None = None, server: ReplayServer | None = None,
                 wrong_secrets: bool = True) -> SourceReport:
    """Run `source_class` with `config` as the engine would and raise SourceConformanceError on any broken rule.

    `streams`: which to read (default: every stream of the catalog). `server`: the replay server the
    source reads, to check that construction sends nothing and that an incremental read from saved
    state sends no more requests than the first. `wrong_secrets`: also run `check()` with every
    secret config value replaced, which must fail with AuthError/ConfigError without the value in
    the message (set False for a source without credentials a server can refuse).
    """
    problems: list[str] = []
    _class_rules(source_class, problems)
    validated = source_class.config_model.model_validate(config)
    secrets = [s for s in _secrets(validated) if s]
    context = context or SourceContext(connection="conformance")
    with _captured_logs() as logged:
        report = _run(source_class, validated, root or Path.cwd(), context, server, streams, secrets, problems)
        if wrong_secrets and secrets:
            _refuses_wrong_secrets(source_class, validated, root or Path.cwd(), context, secrets, problems)
    leaked = [line for line in logged if any(s in line for s in [*secrets, WRONG_SECRET])]
    if leaked:
        problems.append(f"a secret config value appears in {len(leaked)} log record(s), e.g. "
                        f"{_masked(leaked[0], [*secrets, WRONG_SECRET])}")
    if problems:
        # A rule broken at every checkpoint or batch is one finding, not hundreds.
        raise SourceConformanceError(source_class.__name__, list(dict.fromkeys(problems)))
    assert report is not None  # no problems means the run got to the end
    return report


def _class_rules(source_class: type[Source], problems: list[str]) -> None:
    if not isinstance(getattr(source_class, "name", None), str) or not source_class.name:
        problems.append("the class needs a `name: ClassVar[str]` (the name connection files use)")
    model = getattr(source_class, "config_model", None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise SourceConformanceError(source_class.__name__, ["`config_model` must be a pydantic BaseModel class"])
    if model.model_config.get("extra") != "forbid":
        problems.append(f"{model.__name__} must forbid unknown keys (model_config = ConfigDict(extra='forbid')): "
                        "a typo in the YAML would otherwise be ignored")


def _run(source_class: type[Source], config: BaseModel, root: Path, context: SourceContext,
         server: ReplayServer | None, streams: Sequence[str] | None, secrets: list[str],
         problems: list[str]) -> SourceReport | None:
    before = server.count() if server is not None else 0
    try:
        source = source_class(config, root=root, context=context)
        if server is not None and server.count() != before:
            problems.append(f"the constructor sent {server.count() - before} request(s): open connections in "
                            "__enter__, so building a source (e.g. to list the workspace) costs nothing")
        with source:
            source.check()
            catalog = source.discover()
            if not _catalog_rules(catalog, problems):
                return None
            report = SourceReport(catalog)
            for stream in _selected(catalog, streams, problems):
                report.streams[stream.name] = _read_stream(source, stream, server, problems)
            return report
    except Exception as exc:  # noqa: BLE001 - any exception is a finding here, reported with the others
        problems.append(_error_problem(exc, secrets, expected=False))
        return None


def _catalog_rules(catalog: object, problems: list[str]) -> bool:
    if not isinstance(catalog, Catalog):
        problems.append(f"discover() returned {type(catalog).__name__}, not a Catalog")
        return False
    if not catalog.streams:
        problems.append("discover() returned a catalog without streams")
    names = [s.name for s in catalog.streams]
    if len(set(names)) != len(names):
        problems.append(f"stream names repeat in the catalog: {names}")
    for stream in catalog.streams:
        if not isinstance(stream.schema, pa.Schema) or len(stream.schema) == 0:
            problems.append(f"stream {stream.name!r}: `schema` must be a non-empty pyarrow.Schema")
            continue
        columns = set(stream.schema.names)
        for key in stream.primary_key:
            if key not in columns:
                problems.append(f"stream {stream.name!r}: primary key {key!r} is not a field of its schema")
        if stream.default_cursor is not None and stream.default_cursor not in columns:
            problems.append(f"stream {stream.name!r}: default cursor {stream.default_cursor!r} is not a field")
    return not problems


def _selected(catalog: Catalog, names: Sequence[str] | None, problems: list[str]) -> list[CatalogStream]:
    if names is None:
        return list(catalog.streams)
    missing = [n for n in names if catalog.get(n) is None]
    if missing:
        problems.append(f"streams {missing} are not in the catalog ({catalog.names})")
    return [s for s in catalog.streams if s.name in names]


def _read_stream(source: Source, stream: CatalogStream, server: ReplayServer | None,
                 problems: list[str]) -> StreamReport:
    report = StreamReport(stream.name)
    report.rows, report.checkpoints, _ = _read(source, ReadRequest(stream, False, None, None), problems)
    incremental = SyncMode.INCREMENTAL_APPEND in stream.supported_sync_modes or \
        SyncMode.INCREMENTAL_DEDUPED in stream.supported_sync_modes
    if stream.default_cursor is None or not incremental:
        return report
    sent = server.count() if server is not None else 0
    first_rows, first_checkpoints, state = _read(source, ReadRequest(stream, True, stream.default_cursor, None),
                                                 problems)
    first_sent = server.count() - sent if server is not None else 0
    if state is None:  # when there were checkpoints, why their state is unusable is reported already
        if first_rows and not first_checkpoints:
            problems.append(f"stream {stream.name!r} has a default cursor but its incremental read yielded no "
                            "StateCheckpoint: every sync would read everything again")
        return report
    report.state = state
    sent = server.count() if server is not None else 0
    again_rows, _, _ = _read(source, ReadRequest(stream, True, stream.default_cursor, state), problems)
    again_sent = server.count() - sent if server is not None else 0
    report.incremental_rows = (first_rows, again_rows)
    if again_rows > first_rows:
        problems.append(f"stream {stream.name!r}: reading from the saved state {dict(state)} gave {again_rows} "
                        f"rows, more than the {first_rows} of a read without state")
    if server is not None:
        report.incremental_requests = (first_sent, again_sent)
        if again_sent > first_sent:
            problems.append(f"stream {stream.name!r}: reading from the saved state sent {again_sent} requests, "
                            f"more than the {first_sent} of a read without state")
    return report


def _read(source: Source, request: ReadRequest, problems: list[str]) -> tuple[int, int, Mapping[str, Any] | None]:
    """Rows and checkpoints of one read, and its last state as the warehouse would hand it back (JSON)."""
    name, rows, checkpoints, state = request.stream.name, 0, 0, None
    allowed = {f.name: _acceptable_types(f.type) for f in request.stream.schema}
    for item in source.read(request):
        if isinstance(item, StateCheckpoint):
            checkpoints += 1
            state = _stored_state(name, item, problems)
        elif isinstance(item, pa.RecordBatch):
            rows += item.num_rows
            _batch_rules(name, item, allowed, problems)
        else:
            problems.append(f"stream {name!r}: read() yielded a {type(item).__name__}; only pyarrow.RecordBatch "
                            "and StateCheckpoint are allowed")
    return rows, checkpoints, state


def _acceptable_types(target: pa.DataType) -> tuple[pa.DataType, ...]:
    # The catalog's type, or the raw JSON type the engine casts from (records_to_batch), or text:
    # records_to_batch keeps a column whose values do not fit as strings for the engine to sort out.
    return target, raw_type(target), pa.string(), pa.large_string(), pa.null()


def _batch_rules(name: str, batch: pa.RecordBatch, allowed: Mapping[str, tuple[pa.DataType, ...]],
                 problems: list[str]) -> None:
    for column in batch.schema:
        if column.name not in allowed:
            problems.append(f"stream {name!r}: a batch has column {column.name!r}, which the catalog's schema "
                            f"does not have ({sorted(allowed)})")
        elif column.type not in allowed[column.name]:
            problems.append(f"stream {name!r}: column {column.name!r} arrives as {column.type}; the catalog says "
                            f"{allowed[column.name][0]} (yield that, or its raw JSON type: use records_to_batch)")
    if len(set(batch.schema.names)) != len(batch.schema.names):
        problems.append(f"stream {name!r}: a batch repeats a column name: {batch.schema.names}")


def _stored_state(name: str, item: StateCheckpoint, problems: list[str]) -> Mapping[str, Any] | None:
    state: object = item.state  # typed as a Mapping, but a plugin is not type-checked by us
    if not isinstance(state, Mapping):
        problems.append(f"stream {name!r}: a StateCheckpoint's state is a {type(state).__name__}, not a dict")
        return None
    private = [k for k in state if isinstance(k, str) and k.startswith("_")]
    if private:
        problems.append(f"stream {name!r}: state keys starting with '_' are Rooftop's: {private}")
    try:
        # Exactly how the destinations store it (destinations/*/state.py).
        stored: dict[str, Any] = json.loads(json.dumps(dict(state), sort_keys=True))
    except (TypeError, ValueError) as exc:
        problems.append(f"stream {name!r}: state {state!r} is not JSON-serialisable ({exc})")
        return None
    return stored


def _refuses_wrong_secrets(source_class: type[Source], config: BaseModel, root: Path, context: SourceContext,
                           secrets: list[str], problems: list[str]) -> None:
    wrong = type(config).model_validate(_replace_secrets(config.model_dump()))
    try:
        with source_class(wrong, root=root, context=context) as source:
            source.check()
    except Exception as exc:  # noqa: BLE001 - any exception is a finding here, reported with the others
        problem = _error_problem(exc, [*secrets, WRONG_SECRET], expected=True)
        if problem:
            problems.append(f"with a wrong secret in the config, check(): {problem}")
        return
    problems.append("check() passed with every secret config value replaced by a wrong one: it must make an "
                    "authenticated request (or the test server does not check credentials: wrong_secrets=False)")


def _error_problem(exc: BaseException, secrets: list[str], *, expected: bool) -> str:
    chain: list[str] = []  # the message and every cause: a CLI with --debug prints them all
    current: BaseException | None = exc
    while current is not None and len(chain) < 10:
        chain.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
    text = "\n".join(chain)
    if any(s in text for s in secrets):
        return f"{type(exc).__name__} carries a secret config value in its message or cause: {_masked(text, secrets)}"
    if expected:
        return "" if isinstance(exc, ConfigError) else \
            f"raised {type(exc).__name__} ({exc}); a refused credential must be an AuthError/ConfigError"
    kind = "" if isinstance(exc, RooftopError) else " (not a protocol.errors class: the engine treats it as a bug)"
    return f"raised {type(exc).__name__}{kind}: {exc}"


def _secrets(value: Any) -> Iterator[str]:
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secrets(getattr(value, name))
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _secrets(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _secrets(item)


def _replace_secrets(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return SecretStr(WRONG_SECRET)
    if isinstance(value, Mapping):
        return {k: _replace_secrets(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_replace_secrets(v) for v in value]
    return value


def _masked(text: str, secrets: Sequence[str], limit: int = 300) -> str:
    """`text` shortened, with the secrets it leaks shown as *** (this message is printed too)."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text[:limit] + ("…" if len(text) > limit else "")


_STANDARD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # The message and every structured field (`extra=`): a secret in either is a leak.
        extra = {k: v for k, v in record.__dict__.items() if k not in _STANDARD_FIELDS}
        self.lines.append(f"{record.name}: {record.getMessage()}" + (f" {extra}" if extra else ""))


@contextmanager
def _captured_logs() -> Iterator[list[str]]:
    root, handler = logging.getLogger(), _Collect()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)  # the per-request events are DEBUG: they must be clean too
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
