"""`model: unified`: native vendor streams shown and read as the unified tables of `protocol.unified`."""

from connectors.unified.source import UnifiedSource, declared_mapping

__all__ = ["UnifiedSource", "declared_mapping"]
