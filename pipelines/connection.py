"""Load one connection file into validated, ready-to-run objects.

Loading is the gate for bad input: after `load_connection` returns, the YAML is known to be well
formed, both connectors exist and their configs validate. Anything that needs the source's catalog
(stream names, cursor fields) is checked by `pipelines.plan` before any write happens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from protocol.errors import ConfigError, ConnectionFileError
from protocol.types import SourceContext
from pipelines import registry
from pipelines.config import ConnectionConfig
from pipelines.config_errors import raise_validation_error
from pipelines.redact import Redactor
from pipelines.yaml_source import Path_, YamlDocument, format_path, read_yaml


@dataclass
class LoadedConnection:
    config: ConnectionConfig
    file: str
    doc: YamlDocument
    root: Path
    source_class: type
    source_config: BaseModel
    destination_class: type
    destination_config: BaseModel
    redactor: Redactor

    @property
    def name(self) -> str:
        return self.config.name

    def error(self, message: str, path: Path_) -> ConnectionFileError:
        """A ConnectionFileError located at `path` in this connection's file."""
        return ConnectionFileError(message, file=self.file, line=self.doc.positions.line_of(path),
                                   field=format_path(path) or None)

    def make_source(self) -> Any:
        limit = self.config.rate_limit
        per = {"second": 1.0, "minute": 60.0, "hour": 3600.0}
        context = SourceContext(connection=self.name,
                                rate_limit_requests=limit.requests if limit else None,
                                rate_limit_per_seconds=per[limit.per] if limit else 1.0,
                                max_concurrency=self.config.max_concurrency)
        return self.source_class(self.source_config, root=self.root, context=context)

    def make_destination(self) -> Any:
        return self.destination_class(self.destination_config, root=self.root)


def load_connection(path: Path, root: Path, env: Mapping[str, str]) -> LoadedConnection:
    display = _display_name(path, root)
    doc = read_yaml(path, env, display)
    try:
        config = ConnectionConfig.model_validate(doc.data)
    except ValidationError as exc:
        raise_validation_error(exc, ConnectionConfig, doc)
    source_class, source_config = _connector(doc, "source", config.source.connector, config.source.config)
    dest_class, dest_config = _connector(doc, "destination", config.destination.connector,
                                         config.destination.config)
    secrets = [*_secret_values(source_config), *_secret_values(dest_config), *_secret_values(config)]
    return LoadedConnection(config=config, file=display, doc=doc, root=root,
                            source_class=source_class, source_config=source_config,
                            destination_class=dest_class, destination_config=dest_config,
                            redactor=Redactor(secrets))


def _connector(doc: YamlDocument, kind: registry.Kind, name: str,
               raw: dict[str, Any]) -> tuple[type, BaseModel]:
    try:
        cls = registry.load(kind, name)
    except ConfigError:
        raise ConnectionFileError(registry.unknown_connector_message(kind, name), file=doc.file,
                                  line=doc.positions.line_of((kind, "connector")),
                                  field=f"{kind}.connector") from None
    model: type[BaseModel] = cls.config_model
    try:
        return cls, model.model_validate(raw)
    except ValidationError as exc:
        # Connector configs hold credentials: never echo an input value back.
        raise_validation_error(exc, model, doc, prefix=(kind, "config"), echo_input=False)


def _secret_values(config: BaseModel) -> list[str]:
    found: list[str] = []
    for value in config.__dict__.values():
        found.extend(_secrets_in(value))
    return found


def _secrets_in(value: Any) -> list[str]:
    if isinstance(value, SecretStr):
        return [value.get_secret_value()]
    if isinstance(value, BaseModel):
        return _secret_values(value)
    if isinstance(value, list | tuple):
        return [s for item in value for s in _secrets_in(item)]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _secrets_in(item)]
    return []


def _display_name(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
