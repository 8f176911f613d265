"""Load one connection file into validated, ready-to-run objects.

Loading is the gate for bad input: after `load_connection` returns, the YAML is known to be well
formed, both connectors exist and their configs validate. Anything that needs the source's catalog
(stream names, cursor fields) is checked by `pipelines.engine.plan` before any write happens.

Loading reads only the connectors' config models (registry.config_model); the connector classes,
which bring their runtimes (httpx, pyarrow, database drivers), are imported the first time
something asks for `source_class` or `destination_class`, so `rooftop validate --offline` and
`status` never import what they do not run.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, SecretStr, ValidationError

from pipelines.config.error_messages import raise_validation_error
from pipelines.config.models import ConnectionConfig
from pipelines.config.redact import Redactor
from pipelines.config.yaml_reader import Path_, YamlDocument, format_path, read_yaml
from pipelines.workspace import registry
from protocol.errors import ConfigError, ConnectionFileError
from protocol.types import SourceContext

if TYPE_CHECKING:
    from protocol.schema_store import SchemaEntry, SchemaStore
    from protocol.types import Destination, Source


@dataclass
class LoadedConnection:
    config: ConnectionConfig
    file: str
    doc: YamlDocument
    root: Path
    source_config: BaseModel
    destination_config: BaseModel
    redactor: Redactor

    @property
    def name(self) -> str:
        return self.config.name

    @cached_property
    def source_class(self) -> type[Source]:
        """Imported on first use (see the module docstring); loading found the connector already."""
        return registry.load_source(self.config.source.connector)

    @cached_property
    def destination_class(self) -> type[Destination]:
        return registry.load_destination(self.config.destination.connector)

    def error(self, message: str, path: Path_) -> ConnectionFileError:
        """A ConnectionFileError located at `path` in this connection's file."""
        return ConnectionFileError(message, file=self.file, line=self.doc.positions.line_of(path),
                                   field=format_path(path) or None)

    def make_source(self, schema_store: SchemaStore | None = None, *, offline: bool = False) -> Source:
        """`schema_store`: where the source keeps schemas it learns (protocol.schema_store). A sync passes
        the destination's and writes what it held when done; by default the source reads the same
        warehouse entries (`rooftop discover`), and what it learns then is not kept.
        `offline`: the catalog is wanted without reading the source (SourceContext.offline: Dagster's
        load), nor the warehouse (a Postgres warehouse is a network connection, and every Dagster
        process loads every connection): by default the source is given no learnt schema at all."""
        # Imported here, not at the top: they bring pyarrow, which loading and validating files never need.
        from connectors.unified import UnifiedSource, declared_mapping
        from protocol.schema_store import destination_schema_store

        if schema_store is None:
            schema_store = NOTHING_LEARNT if offline else destination_schema_store(self.make_destination())
        limit = self.config.rate_limit
        per = {"second": 1.0, "minute": 60.0, "hour": 3600.0}
        context = SourceContext(connection=self.name,
                                rate_limit_requests=limit.requests if limit else None,
                                rate_limit_per_seconds=per[limit.per] if limit else 1.0,
                                max_concurrency=self.config.max_concurrency, schema_store=schema_store,
                                offline=offline, named_streams=None if self.config.streams is None else
                                tuple(s.name for s in self.config.streams))
        source = self.source_class(self.source_config, root=self.root, context=context)
        mapping = declared_mapping(self.source_class) if self.config.model == "unified" else None
        return source if mapping is None else UnifiedSource(source, mapping, connection=self.name)

    def make_destination(self) -> Destination:
        return self.destination_class(self.destination_config, root=self.root)


class _NothingLearnt:
    """The schema store of an offline source: nothing stored is read and nothing learnt is kept, so
    a stream without a declared schema is described by its config (`schema_known=False`) and its
    columns are learnt by the run, which reads the warehouse's entries (docs/many-customers.md)."""

    def load(self, connection: str) -> dict[str, SchemaEntry]:
        return {}

    def save(self, connection: str, entries: Sequence[SchemaEntry]) -> None:
        return None


NOTHING_LEARNT = _NothingLearnt()


def load_connection(path: Path, root: Path, env: Mapping[str, str]) -> LoadedConnection:
    display = display_name(path, root)
    doc = read_yaml(path, env, display)
    try:
        config = ConnectionConfig.model_validate(doc.data)
    except ValidationError as exc:
        raise_validation_error(exc, ConnectionConfig, doc)
    source_config = _connector_config(doc, "source", config.source.connector, config.source.config)
    dest_config = _connector_config(doc, "destination", config.destination.connector, config.destination.config)
    secrets = [*_secret_values(source_config), *_secret_values(dest_config), *_secret_values(config)]
    loaded = LoadedConnection(config=config, file=display, doc=doc, root=root, source_config=source_config,
                              destination_config=dest_config, redactor=Redactor(secrets))
    if config.model == "unified" and _unified_mapping(loaded.source_class) is None:
        raise ConnectionFileError(f"model: unified needs a connector that declares a unified mapping; "
                                  f"{config.source.connector} does not (use model: native)", file=display,
                                  line=doc.positions.line_of(("model",)), field="model")
    return loaded


def _unified_mapping(source_class: type[Source]) -> object:
    from connectors.unified import declared_mapping  # pyarrow: only for connections that use the unified model

    return declared_mapping(source_class)


def _connector_config(doc: YamlDocument, kind: registry.Kind, name: str, raw: dict[str, Any]) -> BaseModel:
    try:
        model = registry.config_model(kind, name)
    except ConfigError:
        raise ConnectionFileError(registry.unknown_connector_message(kind, name), file=doc.file,
                                  line=doc.positions.line_of((kind, "connector")),
                                  field=f"{kind}.connector") from None
    try:
        config = model.model_validate(raw)
    except ValidationError as exc:
        # Connector configs hold credentials: never echo an input value back.
        raise_validation_error(exc, model, doc, prefix=(kind, "config"), echo_input=False)
    _check_wire_values(doc, (kind, "config"), config)
    return config


def _secret_values(config: BaseModel) -> list[str]:
    return [value.get_secret_value() for _path, value in _walk(config, ()) if isinstance(value, SecretStr)]


def _walk(value: Any, path: Path_) -> Iterator[tuple[Path_, Any]]:
    """Every value inside a validated config, with its path as written in YAML (aliases, not attribute names)."""
    yield path, value
    if isinstance(value, BaseModel):
        for name, info in type(value).model_fields.items():
            yield from _walk(getattr(value, name), (*path, info.alias or name))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _walk(item, (*path, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, (*path, str(key)))


def _check_wire_values(doc: YamlDocument, prefix: Path_, config: BaseModel) -> None:
    """Credentials and HTTP header names/values must be free of control characters.

    One check for every connector, at load time: a NUL or a pasted newline in an API key otherwise
    surfaces mid-sync as a transport error that looks transient (exit 3, retried by Dagster).
    Other strings may hold control characters on purpose (a CSV delimiter of "\\x01").
    """
    for path, value in _walk(config, ()):
        if isinstance(value, SecretStr):
            _refuse_control(doc, (*prefix, *path), value.get_secret_value(), "a credential")
        elif path and path[-1] == "headers" and isinstance(value, dict):
            for key, item in value.items():
                _refuse_control(doc, (*prefix, *path, str(key)), str(key), "an HTTP header name")
                _refuse_control(doc, (*prefix, *path, str(key)), str(item), "an HTTP header value")


def _refuse_control(doc: YamlDocument, path: Path_, value: str, what: str) -> None:
    bad = next((ch for ch in value if unicodedata.category(ch) == "Cc"), None)
    if bad is None:
        return
    raise ConnectionFileError(f"{what} may not contain control characters (NUL, line breaks, tabs…); this one "
                              f"contains U+{ord(bad):04X}{doc.from_variables(path)}",
                              file=doc.file, line=doc.positions.line_of(path), field=format_path(path))


def display_name(path: Path, root: Path) -> str:
    """How errors name the file: relative to the workspace root when it is inside it."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
