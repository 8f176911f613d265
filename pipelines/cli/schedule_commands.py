"""Commands about running over time: `rooftop schedule CONN` (next fire times), `rooftop ui` (the
Dagster UI) and `rooftop sandbox` (serve the sandbox API to sync from).

None imports dagster: `schedule` uses the pure `pipelines.config.schedules`, and `ui` starts
`dagster dev` as its own process.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from pipelines.cli.app import app, err, handle_errors, named_connection, out, settings
from protocol.errors import ConfigError

DAGSTER_HOME_DIR = ".dagster_home"
INSTANCE_FILE = "dagster.yaml"


@app.command()
def schedule(name: str,
             count: Annotated[int, typer.Option("--count", "-n", min=1, max=1000,
                                                help="How many fire times to show.")] = 10,
             after: Annotated[str | None, typer.Option(
                 help="Start from this ISO date/time instead of now (no offset = the schedule's timezone), "
                      "e.g. 2025-11-01T20:00 to see a DST change.")] = None) -> None:
    """Show when CONN's schedule(s) fire next, each in its own timezone (as Dagster will run them)."""
    from pipelines.config.schedules import next_fire_times, run_schedules, schedule_names
    with handle_errors():
        conn = named_connection(name)
        compiled = run_schedules(conn.config.schedule)
        if not compiled:
            out.print(f"{conn.name}: manual — no schedule; sync with `rooftop sync {conn.name}` or from the "
                      "Dagster UI")
            return
        start = _parse_after(after, compiled[0].timezone) if after else None
        if not conn.config.active:
            out.print(f"[yellow]{conn.name} is paused (active: false): its schedules are off and syncs are "
                      "refused; set active: true to resume. They would fire at:[/]")
        for dagster_name, each in zip(schedule_names(conn.name, compiled), compiled, strict=True):
            label = f" ({dagster_name})" if len(compiled) > 1 else ""
            out.print(f"{conn.name}: {each.source} in {each.timezone}{label}")
            out.print(f"cron: {' | '.join(each.crons)}", soft_wrap=True)
        if not conn.config.allow_manual_syncs:
            out.print("only the schedule may start a sync (allow_manual_syncs: false)")
        from rich.table import Table  # ~15 ms of imports: only commands that print tables
        table = Table(title_justify="left")
        for column in ("#", "fires at", "UTC"):
            table.add_column(column)
        for i, when in enumerate(next_fire_times(compiled, count, after=start), start=1):
            table.add_row(str(i), f"{when:%a %Y-%m-%d %H:%M %Z}", f"{when.astimezone(UTC):%Y-%m-%d %H:%M}")
        out.print(table)


def _parse_after(text: str, timezone: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--after {text!r} is not an ISO date/time (e.g. 2025-11-01T20:00)") from None
    return when if when.tzinfo else when.replace(tzinfo=ZoneInfo(timezone))


@app.command()
def ui(port: Annotated[int, typer.Option(help="Port of the UI on the host.")] = 3000,
       host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1") -> None:
    """Open the Dagster UI (webserver + daemon: schedules, queued runs) for this workspace."""
    from pipelines.workspace.loading import load_workspace
    with handle_errors():
        root = settings.workspace.resolve()
        load_workspace(root)  # a clear "not a Rooftop workspace" error instead of an empty UI
        env = dict(os.environ)
        env["ROOFTOP_WORKSPACE"] = str(root)
        home = _dagster_home(root, env)
        env["DAGSTER_HOME"] = str(home)
        workspace_file = root / "workspace.yaml"
        target = ["-w", str(workspace_file)] if workspace_file.is_file() else ["-m", "pipelines.definitions",
                                                                                "-d", str(root)]
        command = [sys.executable, "-m", "dagster", "dev", *target, "--host", host, "--port", str(port)]
        err.print(f"Dagster UI on http://{host}:{port} (workspace {root}, DAGSTER_HOME {home}); Ctrl-C stops it.")
        # Run from DAGSTER_HOME: `dagster dev` warns about a dagster.yaml in its working directory
        # that is not DAGSTER_HOME's, and the workspace's is (the copy is in DAGSTER_HOME).
        os.chdir(home)
        # A shell starts background jobs with SIGINT ignored, and `dagster dev` maps SIGTERM to
        # whatever SIGINT does: restore the default so both signals stop it cleanly.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        # Replace this process: signals reach `dagster dev` directly, which stops its webserver,
        # daemon and code servers in order.
        os.execve(sys.executable, command, env)


def _dagster_home(root: Path, env: dict[str, str]) -> Path:
    """`$DAGSTER_HOME` if set (left as is), else `<workspace>/.dagster_home` with the workspace's dagster.yaml.

    The checked-in dagster.yaml (run queue limits, pools) is copied on every start so edits to it
    take effect; Dagster only reads the instance config from DAGSTER_HOME.
    """
    if env.get("DAGSTER_HOME"):
        home = Path(env["DAGSTER_HOME"]).resolve()
        if not (home / INSTANCE_FILE).is_file() and (root / INSTANCE_FILE).is_file():
            err.print(f"[yellow]note:[/] DAGSTER_HOME={home} has no {INSTANCE_FILE}; copy {root / INSTANCE_FILE} "
                      "there to get Rooftop's run queue limits")
        return home
    home = root / DAGSTER_HOME_DIR
    home.mkdir(exist_ok=True)
    if (root / INSTANCE_FILE).is_file():
        shutil.copyfile(root / INSTANCE_FILE, home / INSTANCE_FILE)
    else:
        err.print(f"[yellow]note:[/] no {INSTANCE_FILE} in {root}: Dagster's defaults apply (runs of one "
                  "connection are not queued behind each other)")
    return home


@app.command()
def sandbox(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0 = any free port).")] = 8765,
    seed: int = 42,
    scale: Annotated[int, typer.Option(help="Number of properties; other streams scale with it.")] = 10,
    count: Annotated[list[str] | None, typer.Option(help="Override a stream's size: stream=N.")] = None,
    api_key: Annotated[str, typer.Option(envvar="SANDBOX_API_KEY", help="Key clients must send.")] = "rooftop-sandbox",
    rate_limit: Annotated[int | None, typer.Option(
        help="Answer 429 + Retry-After above N requests/minute per key (0 = the 150/min PMS model).")] = None,
    error_rate: Annotated[float, typer.Option(help="Share of requests answered 500/502/503.")] = 0.0,
    drop_rate: Annotated[float, typer.Option(help="Share of connections dropped without an answer.")] = 0.0,
    slow_ms: Annotated[int, typer.Option(help="Delay every response by this many milliseconds.")] = 0,
) -> None:
    """Serve the built-in property-management sandbox API on 127.0.0.1."""
    from connectors.sandbox.server import serve

    with handle_errors():
        counts: dict[str, int] = {}
        for item in count or []:
            stream_name, _, value = item.partition("=")
            if not value.isdigit():
                raise ConfigError(f"--count {item!r}: expected stream=N, e.g. work_orders=2000000")
            counts[stream_name] = int(value)
        serve(host="127.0.0.1", port=port, seed=seed, scale=scale, counts=counts, api_key=api_key,
              rate_limit_per_minute=rate_limit, error_rate=error_rate, drop_rate=drop_rate, slow_ms=slow_ms)
