"""The run of a sync: `runner.run_sync` and everything it calls, for the CLI and Dagster alike.

`plan` resolves the YAML against the source's catalog before anything is written, `transform` casts
and stamps each Arrow batch, `read_windows` decides what an incremental read asks for, and
`schema_changes`, `property_selection`, `cursor_check`, `identifiers` and `collisions` (what two
connections must not share) are the checks on the way.
`observer` is the progress seam the front-ends implement; `sync_log` and `log_handlers` capture and
print the structured log; `notify` calls the webhooks when a sync ends.
"""
