"""``harness doctor``: a table of checks for the chosen target, and on aws the run's cost estimate."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from harness import doctor as doctor_mod
from harness.checks import FAIL
from harness.cli import HarnessError, app, console, settings_of
from harness.cost import CostEstimate, estimate_cost
from harness.targets.registry import target_for

STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "info": "cyan"}


def cost_table(estimate: CostEstimate) -> Table:
    table = Table("item", "quantity", "USD", title="estimated cost of one run", title_justify="left")
    for line in estimate.lines:
        table.add_row(line.item, line.quantity, f"{line.usd:.3f}")
    table.add_row("[bold]total[/]", "", f"[bold]{estimate.total_usd:.2f}[/]")
    return table


@app.command()
def doctor(
    ctx: typer.Context,
    create_role: Annotated[
        bool, typer.Option("--create-role", help="aws: create the SageMaker execution role if missing.")
    ] = False,
    executions: Annotated[int, typer.Option(min=1, help="Executions the cost estimate assumes.")] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="Print checks and estimate as JSON.")] = False,
) -> None:
    """Check credentials, bucket, execution role, instance quotas and the run's cost (aws); or the
    embedded / compose cloud's health (local, localstack). Exit 1 when a check fails."""
    settings = settings_of(ctx)
    target = target_for(settings)
    checks = doctor_mod.run_checks(target, create_role=create_role)
    estimate = estimate_cost(settings, executions) if target.bills else None
    if as_json:
        out = {"target": settings.target, "checks": [asdict(c) for c in checks]}
        if estimate:
            out["cost"] = estimate.as_dict()
        print(json.dumps(out, indent=2))
    else:
        table = Table(
            "check", "status", "detail", "what to do", title=f"harness doctor: target {settings.target}"
        )
        for c in checks:
            table.add_row(c.name, f"[{STYLE[c.status]}]{c.status}[/]", c.detail, c.hint)
        out_console = Console()
        out_console.print(table)
        if estimate:
            out_console.print(cost_table(estimate))
            for note in estimate.assumptions:
                out_console.print(f"  assumption: {note}", highlight=False)
        else:
            out_console.print("nothing on this target is billable", highlight=False)
    failed = [c.name for c in checks if c.status == FAIL]
    if failed:
        raise HarnessError(f"doctor: {len(failed)} check(s) failed: {', '.join(failed)}")
    if not as_json:
        console.print("[green]ready[/]")
