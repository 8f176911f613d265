"""The FastAPI application: routers, auth tokens, error handlers and the body limit, for one workspace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from pipelines.api import connections, operations, syncs, writes
from pipelines.api.auth import TOKENS_VARIABLE, parse_tokens
from pipelines.api.errors import BodyLimit, install_error_handlers
from pipelines.api.jobs import JobRunner
from pipelines.config.redact import Redactor
from pipelines.workspace.loading import environment, load_workspace

SHUTDOWN_WAIT_SECONDS = 30.0
"""How long stopping the server waits for background syncs (each resumes from its checkpoint anyway)."""


def create_app(root: Path) -> FastAPI:
    """The API over the workspace at `root`; raises ConfigError when ROOFTOP_API_TOKENS is missing or malformed."""
    root = root.resolve()
    tokens = parse_tokens(environment(root).get(TOKENS_VARIABLE))
    redactor = Redactor([t.secret.decode() for t in tokens])
    for conn in load_workspace(root).connections.values():
        redactor = redactor.merged(conn.redactor)
    runner = JobRunner(root, redactor)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        runner.join(SHUTDOWN_WAIT_SECONDS)

    app = FastAPI(title="Rooftop API", version="1",
                  description="Manage Rooftop connections over HTTP. Auth: `Authorization: Bearer <token>`.",
                  lifespan=lifespan)
    app.state.root = root
    app.state.tokens = tokens
    app.state.jobs = runner
    install_error_handlers(app, redactor)
    app.include_router(connections.router)
    app.include_router(syncs.router)
    app.include_router(operations.router)
    app.include_router(writes.router)  # last: its /v1/{resource} paths would shadow fixed ones
    app.add_middleware(BodyLimit)
    return app
