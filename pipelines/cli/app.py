"""The `rooftop` application object and what every command shares.

Every command runs inside `handle_errors()`, which turns a RooftopError into one clear (redacted)
message and an exit code: 1 = a sync ran and failed, 2 = configuration error (fix the YAML or
credentials; also a sync whose every failed stream failed on configuration), 3 = transient (try again;
also a sync whose every failure is transient). `--debug` re-raises so the traceback shows. The command
groups (`setup_commands`, `sync_commands`, …) import from here; `pipelines.cli` imports them all.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console
from rich.markup import escape

from pipelines.config.redact import Redactor
from pipelines.engine import log_handlers as logs
from protocol.errors import ConfigError, RooftopError, SyncFailed, TransientError

if TYPE_CHECKING:
    from pipelines.workspace.connection import LoadedConnection
    from pipelines.workspace.loading import Workspace

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Rooftop: ELT for property-technology data.")


out = Console(highlight=False)


err = Console(stderr=True, highlight=False)


for _console in (out, err):
    if not _console.is_terminal and "COLUMNS" not in os.environ:
        _console.width = 160  # pipes and CI logs: Rich's 80-column default truncates every table


class Settings:
    workspace: Path = Path(".")
    debug: bool = False
    redactor: Redactor = Redactor()


settings = Settings()


@app.callback()
def _global(
    workspace: Annotated[Path, typer.Option("--workspace", "-w", envvar="ROOFTOP_WORKSPACE",
                                            help="Workspace directory (has connections/).")] = Path("."),
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log engine events.")] = False,
    log_format: Annotated[str, typer.Option("--log-format", help="text | json (JSON lines on stderr).")] = "text",
) -> None:
    settings.workspace = workspace
    settings.debug = debug
    fmt: Literal["text", "json"] = "json" if log_format == "json" else "text"
    level = logging.DEBUG if debug else logging.INFO if (verbose or fmt == "json") else logging.WARNING
    logs.configure(level, fmt, settings.redactor)


@contextmanager
def handle_errors() -> Iterator[None]:
    try:
        yield
    except RooftopError as exc:
        if settings.debug:
            raise
        code = 1 if isinstance(exc, SyncFailed) else 3 if isinstance(exc, TransientError) else 2
        if isinstance(exc, SyncFailed) and exc.retryable:
            code = 3
        elif isinstance(exc, SyncFailed) and exc.needs_config_fix:
            code = 2  # every stream failed on configuration (a refused key): fix it, do not retry
        err.print(f"[red]error:[/] {escape(settings.redactor(str(exc)))}", markup=True, soft_wrap=True)
        raise typer.Exit(code) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:
        if settings.debug:
            raise
        err.print(f"[red]unexpected error:[/] {type(exc).__name__}: {escape(settings.redactor(str(exc)))}\n"
                  "(run with --debug for the traceback)", soft_wrap=True)
        raise typer.Exit(1) from None


def current_workspace() -> Workspace:
    from pipelines.workspace.loading import load_workspace
    ws = load_workspace(settings.workspace)
    secrets = Redactor()
    for conn in ws.connections.values():
        secrets = secrets.merged(conn.redactor)
    settings.redactor.__dict__.update(secrets.__dict__)  # loggers hold this same object
    return ws


def named_connection(name: str) -> LoadedConnection:
    return current_workspace().get(name)


def parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{option} {value!r} is not a date: write YYYY-MM-DD, e.g. 2024-01-31") from None


def print_problems(problems: list[tuple[str, RooftopError]]) -> None:
    """One `✗` line per (label, error): broken files, or connections that could not be checked."""
    for label, problem in problems:
        err.print(f"[red]✗[/] {escape(settings.redactor(label + str(problem)))}", soft_wrap=True)


def exit_code_of(problems: list[tuple[str, RooftopError]]) -> int:
    """2 if any problem is a configuration error, 3 if all are transient, else 1."""
    if any(isinstance(p, ConfigError) for _label, p in problems):
        return 2
    return 3 if all(isinstance(p, TransientError) for _label, p in problems) else 1
