"""Run the API with uvicorn (`rooftop api`); 127.0.0.1 unless told otherwise."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import uvicorn

from pipelines.api.app import create_app


def serve(root: Path, host: str = "127.0.0.1", port: int = 8800, announce: Callable[[str], None] = print) -> None:
    """Build the app (a missing or malformed ROOFTOP_API_TOKENS stops here), say where it listens, serve."""
    app = create_app(root)
    announce(f"Rooftop API on http://{host}:{port} (docs: http://{host}:{port}/docs)")
    # The access log shows method, path and status only: tokens travel in a header, never in a URL.
    uvicorn.run(app, host=host, port=port, log_level="info")
