"""The `rooftop` command line: the same engine as Dagster, driven from a terminal.

`app` (the Typer application, shared options and error handling) lives in `pipelines.cli.app`; each
command group is a module of its own, imported here so that its commands are registered:

    setup_commands       connectors, validate, check, discover, schema
    sync_commands        sync, status
    schedule_commands    schedule, ui, sandbox
    history_commands     history, logs, diffs
    properties_commands  properties
    clone_commands       clone
    api_commands         api (the HTTP API)
    write_commands       write, writes (write-back to the sources)
"""

from __future__ import annotations

import os

# The order of these imports is the order of `rooftop --help`.
# isort: off
from pipelines.cli import setup_commands, sync_commands, schedule_commands
from pipelines.cli import history_commands, properties_commands, clone_commands, api_commands
from pipelines.cli import write_commands
# isort: on
from pipelines.cli.app import app

COMMAND_GROUPS = (setup_commands, sync_commands, schedule_commands, history_commands, properties_commands,
                  clone_commands, api_commands, write_commands)


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
