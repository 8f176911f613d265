"""Run the `rooftop` CLI in-process on a workspace, as the tests that drive it do."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from pipelines.cli import app


def rooftop(root: Path, *args: str) -> tuple[int, str]:
    """Exit code and output of `rooftop --workspace ROOT ARGS…`."""
    result = CliRunner().invoke(app, ["--workspace", str(root), *args])
    return result.exit_code, result.output
