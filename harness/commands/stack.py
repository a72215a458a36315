"""``harness up`` / ``harness down`` / ``harness status``: the embedded cloud's lifecycle.

Thin wrappers over :mod:`harness.embedded.stack`; they only turn its results into rich output or JSON
and its expected failures into :class:`~harness.cli.HarnessError` (one red line, exit 1).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from harness.cli import HarnessError, app, settings_of
from harness.embedded import stack
from harness.embedded.localstack import LocalStackSetupError
from harness.embedded.process import ServiceError
from harness.targets.registry import target_for

console = Console(stderr=True)


@app.command()
def up(
    ctx: typer.Context,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for each service to become healthy.")
    ] = 60.0,
) -> None:
    """Start the embedded cloud (LocalStack + SageMaker emulator) on 127.0.0.1, or reuse a running one."""
    settings = settings_of(ctx)
    try:
        statuses = stack.up(settings, console=console, timeout=timeout)
    except (ServiceError, LocalStackSetupError) as exc:
        raise HarnessError(str(exc)) from exc
    for st in statuses:
        if st.running:
            console.print(
                f"[green]✓[/] {st.name} {st.note} at {st.url} (pid {st.pid}, ready in {st.ready_s:.1f} s)",
                highlight=False,
            )
        else:
            console.print(f"[yellow]-[/] {st.name} {st.note}", highlight=False)
    console.print(f"state and logs: {stack.service_dir(settings, 'localstack').parent}", highlight=False)


@app.command()
def down(
    ctx: typer.Context,
    delete_data: Annotated[
        bool,
        typer.Option(
            "--delete-data", help="aws/localstack: also delete the staged data, models and captures."
        ),
    ] = False,
    reset: Annotated[
        bool,
        typer.Option("--reset", help="local: also remove the services' logs and temp folders from the home."),
    ] = False,
) -> None:
    """local: stop the embedded cloud this harness home started (by PID: SIGTERM, bounded wait, then
    SIGKILL) and drop its state: LocalStack keeps none across a restart, so the emulator's goes too.
    aws/localstack: delete the endpoint, endpoint configs, models, state machine and functions."""
    settings = settings_of(ctx)
    try:
        target_for(settings).tear_down(
            delete_data, log=lambda m: console.print(m, highlight=False), reset=reset
        )
    except ServiceError as exc:
        raise HarnessError(str(exc)) from exc


@app.command()
def status(
    ctx: typer.Context,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON: each service with URL, PID, health.")
    ] = False,
) -> None:
    """Show which embedded-cloud services run, where, and whether they answer their health check."""
    statuses = stack.status(settings_of(ctx))
    if as_json:
        rows = [{k: v for k, v in asdict(st).items() if k != "ready_s"} for st in statuses]
        print(json.dumps({"services": rows}, indent=2))
        return
    table = Table("service", "url", "pid", "state", "note")
    for st in statuses:
        state = "healthy" if st.healthy else "running" if st.running else "stopped"
        table.add_row(st.name, st.url, str(st.pid or ""), state, st.note)
    Console().print(table)
