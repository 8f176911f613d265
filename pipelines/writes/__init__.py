"""Write-back to the source systems: validate, send, record and refresh writes (see docs/write-back.md).

An engine-level layer (after `engine`: it runs a targeted sync to refresh the written record), used
by the CLI (`rooftop write`, `rooftop writes`) and the HTTP API (`pipelines.api.writes`).
`submit` does one write (`prepare_write` then `execute_write`); `worker` sends queued writes in the
background; `lifecycle` finds, retries and, after a crash, resolves recorded writes.
"""

from pipelines.writes.lifecycle import (
    STATUSES,
    WriteConflict,
    WriteNotFound,
    find_write,
    queued_writes,
    recover_interrupted,
    resolve_record,
    retry_write,
    writable_connection,
    writable_connections,
    write_log,
    write_state,
)
from pipelines.writes.lookup import RecordNotFound
from pipelines.writes.submit import (
    PendingWrite,
    WriteResult,
    execute_write,
    list_writes,
    prepare_write,
    resolve_target,
    submit_write,
)
from pipelines.writes.worker import WriteWorker

__all__ = ["STATUSES", "PendingWrite", "RecordNotFound", "WriteConflict", "WriteNotFound", "WriteResult",
           "WriteWorker", "execute_write", "find_write", "list_writes", "prepare_write", "queued_writes",
           "recover_interrupted", "resolve_record", "resolve_target", "retry_write", "submit_write",
           "writable_connection", "writable_connections", "write_log", "write_state"]
