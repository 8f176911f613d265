"""`rooftop api`: serve the HTTP API over the workspace (pipelines/api/, docs/api.md).

The API and its web framework are imported only when the command runs, so the rest of the CLI
starts without them. Registered by `pipelines.cli`, which imports every command group.
"""

from __future__ import annotations

from typing import Annotated

import typer

from pipelines.cli.app import app, err, handle_errors, settings


@app.command()
def api(host: Annotated[str, typer.Option(help="Address to bind (0.0.0.0 exposes it to the network).")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on.")] = 8800) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json, interactive docs at /docs); tokens in ROOFTOP_API_TOKENS."""
    with handle_errors():
        from pipelines.api.server import serve

        serve(settings.workspace, host, port, announce=err.print)
