"""Rooftop connections as a Dagster Component, for projects laid out and loaded by `dg`.

`workspace.yaml` (`pipelines.definitions`) is one way to load a workspace; a `dg` project is the
other: a `defs/<folder>/defs.yaml` names this component type, the Rooftop workspace folder
(relative to the defs.yaml), optionally which connections to load, and a `translation:` block that
changes the asset specs the way Dagster's own integration components do (dagster-dlt's and
dagster-sling's `translation:`): Dagster's asset attributes (`key`, `key_prefix`, `group_name`,
`tags`, `kinds`, `owners`, `description`, `metadata`...), templated per stream with
`{{ connection }}`, `{{ stream }}`, `{{ namespace }}`, `{{ table }}`, `{{ source_connector }}`,
`{{ destination_connector }}`, `{{ data }}` (the `StreamTranslatorData`) and `{{ spec }}` (the
default spec). Tags and metadata are merged into the defaults, everything else replaces them.

The definitions are `build_definitions`'s, the same function `workspace.yaml` loads: the same
assets, checks, jobs, schedules, retry policies and broken-file assets. The component only picks
the workspace, the selection and the translator, so there is no second wiring to keep in step.

Registered for `dg list components` through the `dagster_dg_cli.registry_modules` entry point
(pyproject.toml). A subclass can override `get_asset_spec` / `get_source_spec` in Python, as with
dagster-dlt's component; `translation:` is applied on top of what they return.
"""

# No `from __future__ import annotations`: Dagster's Resolvable reads the dataclass field annotations.

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from dagster import AssetSpec, Component, ComponentLoadContext, Definitions, Resolvable
from dagster.components.resolved.model import Resolver
from dagster.components.utils.translation import TranslationFn, TranslationFnResolver

from pipelines.dagster.build import build_definitions
from pipelines.dagster.translator import RooftopTranslator, StreamTranslatorData
from pipelines.workspace.loading import CONNECTIONS_DIR
from protocol.errors import ConfigError


def template_vars(data: StreamTranslatorData) -> Mapping[str, Any]:
    """What `{{ ... }}` can name in a `translation:` block, per stream (Dagster adds `spec`)."""
    return {
        "connection": data.connection.name,
        "stream": data.stream,
        "namespace": data.namespace,
        "table": data.table,
        "source_connector": data.source_connector,
        "destination_connector": data.destination_connector,
        "data": data,
    }


@dataclass
class RooftopConnectionsComponent(Component, Resolvable):
    """Every connection of a Rooftop workspace as Dagster assets, checks, jobs and schedules.

    Each connection becomes what `workspace.yaml` shows for it (docs/dagster.md): one asset per
    stream, the primary-key checks, a job named like the connection, its schedule and retry policy.
    """

    workspace: Annotated[str, Resolver.default(
        description="The Rooftop workspace folder (the one holding connections/), relative to this defs.yaml.",
        examples=["../../../..", "/srv/rooftop"])]
    connections: Annotated[Sequence[str] | None, Resolver.default(
        description="Connection names to load; omit to load every file in connections/.",
        examples=[["leasing", "maintenance"]])] = None
    translation: Annotated[
        TranslationFn[StreamTranslatorData] | None,
        TranslationFnResolver[StreamTranslatorData](template_vars),
    ] = None

    def get_asset_spec(self, data: StreamTranslatorData) -> AssetSpec:
        """The table's spec before `translation:` is applied (override in a subclass).

        Rooftop's default, with its `deps` on the key `get_source_spec` returns (overridden or not).
        """
        return RooftopTranslator.get_asset_spec(self.translator(), data)

    def get_source_spec(self, data: StreamTranslatorData) -> AssetSpec:
        """The upstream source stream's spec (override in a subclass)."""
        return RooftopTranslator().get_source_spec(data)

    def translator(self) -> RooftopTranslator:
        return _ComponentTranslator(self)

    def workspace_root(self, context: ComponentLoadContext) -> Path:
        root = (context.path / self.workspace).resolve()
        if not (root / CONNECTIONS_DIR).is_dir():
            raise ConfigError(f"{context.path / 'defs.yaml'}: workspace: {self.workspace!r} is not a Rooftop "
                              f"workspace: {root} has no {CONNECTIONS_DIR}/ folder (a relative path starts at "
                              "the defs.yaml's folder)")
        return root

    def build_defs(self, context: ComponentLoadContext) -> Definitions:
        root = self.workspace_root(context)
        try:
            return build_definitions(root, translator=self.translator(), connections=self.connections)
        except ConfigError as exc:
            # Every problem of a connection file becomes a broken asset inside build_definitions; what
            # still raises is the selection: a name no file in connections/ has.
            raise ConfigError(f"{context.path / 'defs.yaml'}: connections: {exc}") from None


class _ComponentTranslator(RooftopTranslator):
    """Routes the translator's two questions to the component, then applies `translation:`."""

    def __init__(self, component: RooftopConnectionsComponent) -> None:
        self.component = component

    def get_asset_spec(self, data: StreamTranslatorData) -> AssetSpec:
        spec = self.component.get_asset_spec(data)
        translation = self.component.translation
        return spec if translation is None else translation(spec, data)

    def get_source_spec(self, data: StreamTranslatorData) -> AssetSpec:
        return self.component.get_source_spec(data)
