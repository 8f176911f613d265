"""The Rooftop HTTP API (`rooftop api`): the operator's connection endpoints over the same engine.

A third front-end beside the CLI and Dagster: it edits the same connection files (through
`pipelines.ops`) and runs the same `run_sync`, so the three always agree. Only this package imports
the web framework (FastAPI, uvicorn). `app.create_app` builds the application; `server.serve` runs it.
"""
