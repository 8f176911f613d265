"""`rooftop clone SRC NEW` and `rooftop clone SRC --into DST`: one connection's settings for another customer.

The work (placeholders, guards, comment-preserving edits) is in `pipelines.ops.clone`; this module
parses the two forms and tells the user what was written and which credentials are theirs to fill.
Registered by `pipelines.cli`, which imports every command group.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from pipelines.cli.app import app, current_workspace, handle_errors, out
from protocol.errors import ConfigError

if TYPE_CHECKING:
    from pipelines.ops.clone import CloneResult


@app.command()
def clone(
    src: Annotated[str, typer.Argument(metavar="SRC", help="The connection to copy settings from.")],
    new: Annotated[str | None, typer.Argument(metavar="NEW", help="Name of the new connection.")] = None,
    into: Annotated[str | None, typer.Option("--into", metavar="DST",
                                             help="Copy SRC's settings onto this existing connection instead "
                                                  "(its name, credentials, tables and properties stay).")] = None,
    namespace: Annotated[str | None, typer.Option(help="Namespace (schema) of the new connection's tables.")] = None,
    prefix: Annotated[str | None, typer.Option(help="Table name prefix of the new connection.")] = None,
    environment: Annotated[str | None, typer.Option(
        help="Expected environment of the new connection (sandbox | production); must be SRC's.")] = None,
) -> None:
    """Create NEW from SRC (credentials become ${…} placeholders), or copy SRC's settings --into DST."""
    from pipelines.ops.clone import clone_connection, clone_into
    with handle_errors():
        if (new is None) == (into is None):
            raise ConfigError("give a NEW name (`rooftop clone SRC NEW`) or an existing connection "
                              "(`rooftop clone SRC --into DST`), not both")
        ws = current_workspace()
        if into is not None:
            for flag, value in (("--namespace", namespace), ("--prefix", prefix), ("--environment", environment)):
                if value is not None:
                    raise ConfigError(f"{flag} does not combine with --into: {into!r} keeps its own namespace, "
                                      "prefix and environment")
            _print_into(clone_into(ws, src, into), src)
            return
        assert new is not None
        _print_new(clone_connection(ws, src, new, namespace=namespace, prefix=prefix,
                                    environment_name=environment), src, new)


def _print_new(result: CloneResult, source: str, new: str) -> None:
    out.print(f"[green]✓[/] wrote {escape(result.file)} (from {source})", soft_wrap=True)
    if result.copied:
        out.print(f"  settings from {source}: {', '.join(result.copied)}", soft_wrap=True)
    if result.emptied:
        out.print(f"  emptied (customer-specific): {', '.join(result.emptied)}", soft_wrap=True)
    for where, reference in result.shared:
        out.print(f"  {where} keeps {reference} (same warehouse credentials as {source})", soft_wrap=True,
                  markup=False)
    todo = [p for p in result.placeholders if not p.is_set]
    if todo:
        out.print(f"Fill these credentials in the environment or in .env before `rooftop sync {new}` "
                  "(never in the file):", soft_wrap=True)
        for p in todo:
            out.print(f"  {p.variable}    ({p.field})", soft_wrap=True)
    for p in (p for p in result.placeholders if p.is_set):
        out.print(f"  {p.variable} is already set ({p.field})", soft_wrap=True)


def _print_into(result: CloneResult, source: str) -> None:
    from pipelines.ops.clone import KEPT_KEYS
    out.print(f"[green]✓[/] updated {escape(result.file)} with the settings of {source}", soft_wrap=True)
    unchanged = [k for k in result.copied if k not in result.changed]
    if result.changed:
        out.print(f"  changed: {', '.join(result.changed)}", soft_wrap=True)
    if result.removed:
        out.print(f"  removed (not set in {source}): {', '.join(result.removed)}", soft_wrap=True)
    if unchanged:
        out.print(f"  already the same: {', '.join(unchanged)}", soft_wrap=True)
    if not result.changed and not result.removed:
        out.print("  nothing to change", soft_wrap=True)
    out.print(f"  kept: {', '.join(KEPT_KEYS)}; review with `git diff`", soft_wrap=True)
