"""Run the API with uvicorn (`rooftop api`); 127.0.0.1 unless told otherwise."""

from __future__ import annotations

from pathlib import Path

import uvicorn

from pipelines.api.app import create_app


def serve(root: Path, host: str = "127.0.0.1", port: int = 8800) -> None:
    # The access log shows method, path and status only: tokens travel in a header, never in a URL.
    uvicorn.run(create_app(root), host=host, port=port, log_level="info")
