"""Where a connection's tables land: its `namespace:` template resolved, without the planner.

Kept apart from `plan` (which imports pyarrow for the column types) so that `rooftop validate
--offline` can resolve namespaces from the YAML alone.
"""

from __future__ import annotations

from pipelines.config.models import SOURCE_NAMESPACE_VAR


def resolve_namespace(template: str, source_namespace: str, destination_default: str) -> str:
    """`source` / `destination` / a template with ${SOURCE_NAMESPACE} → the schema tables land in."""
    if template == "source":
        return source_namespace
    if template == "destination":
        return destination_default
    return template.replace(SOURCE_NAMESPACE_VAR, source_namespace)
