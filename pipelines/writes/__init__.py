"""Write-back to the source systems: `submit_write` validates, sends, records and refreshes one write.

An engine-level layer (after `engine`: it runs a targeted sync to refresh the written record), used
by the CLI (`rooftop write`, `rooftop writes`) and the HTTP API. See docs/write-back.md.
"""

from pipelines.writes.submit import WriteResult, list_writes, resolve_target, submit_write

__all__ = ["WriteResult", "list_writes", "resolve_target", "submit_write"]
