"""``harness compose up|down|status``: the `localstack` target's docker compose stack.

Thin wrappers over :mod:`harness.containers.stack`: one command that works with a registry (official
images, normal builds) and without one (``--offline``: a debootstrapped base and
docker-compose.offline.yml), with compose v1 or v2, and that waits on the health checks itself.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from harness.cli import HarnessError, app, settings_of
from harness.containers import stack
from harness.containers.engine import EngineError

console = Console(stderr=True)
RUN_HINT = "harness --target localstack run --algorithm image --training-image scones-training:latest"
compose_app = typer.Typer(help="The docker compose stack of the `localstack` target.", no_args_is_help=True)
app.add_typer(compose_app, name="compose")


def _log(message: str) -> None:
    console.print(message, highlight=False)


@compose_app.command("up")
def compose_up(
    ctx: typer.Context,
    offline: Annotated[
        bool | None,
        typer.Option(
            "--offline/--online",
            help="Build from a local Debian base instead of the official images "
            "(default: offline when python:3.11-slim cannot be pulled).",
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the health checks.")] = 300.0,
    build: Annotated[bool, typer.Option("--build/--no-build", help="Build the images first.")] = True,
) -> None:
    """Build the images, start the stack, and wait until every service is healthy."""
    settings = settings_of(ctx)
    try:
        report = stack.up(settings, _log, offline_mode=offline, timeout=timeout, build=build)
    except (EngineError, stack.StackError) as exc:
        raise HarnessError(str(exc)) from exc
    for service, state in sorted(report.services.items()):
        _log(f"[green]✓[/] {service}: {state}")
    base = "reused" if report.base_s is None else f"{report.base_s:.1f} s"
    _log(
        f"stack {stack.project_name(settings)} ({'offline' if report.offline else 'official images'}, "
        f"{report.compose}): base {base}, build {report.build_s:.1f} s, up {report.up_s:.1f} s, "
        f"healthy after {report.healthy_s:.1f} s more"
    )
    # AWS's built-in image cannot run here: the run needs the project's image, which compose just built.
    _log(f"use it with: {RUN_HINT}   (stop with: harness compose down)")


@compose_app.command("down")
def compose_down(ctx: typer.Context) -> None:
    """Remove the stack, the containers it started (jobs, endpoints, functions), its volumes and network."""
    try:
        stack.down(settings_of(ctx), _log)
    except (EngineError, stack.StackError) as exc:
        raise HarnessError(str(exc)) from exc


@compose_app.command("status")
def compose_status(ctx: typer.Context) -> None:
    """Print what of this stack exists (containers, networks, volumes) as JSON; empty after `down`."""
    settings = settings_of(ctx)
    try:
        found = stack.leftovers(stack.project_name(settings))
    except EngineError as exc:
        raise HarnessError(str(exc)) from exc
    print(json.dumps({"project": stack.project_name(settings), "resources": found}, indent=2))
