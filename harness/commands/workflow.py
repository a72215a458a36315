"""``harness deploy`` and ``harness run``: the functions and state machine, and the whole workflow."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError
from rich.table import Table

from harness import watch as watch_mod
from harness import workflow as workflow_mod
from harness.account import sagemaker_role
from harness.cli import HarnessError, app, console, settings_of
from harness.commands.doctor import cost_table
from harness.config import Settings
from harness.cost import estimate_cost
from harness.deploy import deploy as deploy_functions
from harness.events import incoming_key_prefix
from harness.failures import EXPECTED_ERRORS, FailureCause
from harness.interrupts import RunInterrupted
from harness.names import STATE_MACHINE
from harness.ownership import OwnershipError
from harness.pipeline import deploy_pipeline
from harness.progress import progress_bar
from harness.targets.registry import target_for
from harness.workflow import RunOptions, WorkflowError


@app.command()
def deploy(
    ctx: typer.Context,
    adopt: Annotated[
        bool,
        typer.Option(
            "--adopt",
            help="Take over same-named roles, functions or a state machine the harness did not create "
            "(tags them; 'harness down' will then delete them). Without it such a resource is an error.",
        ),
    ] = False,
) -> None:
    """Create or update the roles, the functions, both state machines and the photo events (idempotent).

    Only what the harness created (tag scones-harness=managed) is changed."""
    settings = settings_of(ctx)
    target = target_for(settings)
    log = lambda m: console.print(m, highlight=False)  # noqa: E731
    try:
        result = deploy_functions(settings, target, log=log, adopt=adopt)
        role = sagemaker_role(target)
        pipeline_arn, pipeline_changed = deploy_pipeline(settings, target, role, log, adopt=adopt)
    except OwnershipError as exc:
        raise HarnessError(str(exc)) from exc
    if pipeline_changed:
        result.changes.append("pipeline state machine")
    console.print(f"pipeline: {pipeline_arn}", highlight=False)
    if result.changes:
        console.print(f"[green]deployed[/] ({len(result.changes)} change(s)): {result.state_machine_arn}")
    else:
        console.print(f"[green]up to date[/], nothing changed: {result.state_machine_arn}")


def _confirm_billable(settings: Settings, executions: int | None, keep_endpoint: bool | None) -> bool:
    """Show the estimate and ask; with no terminal to ask on, refuse (the run needs --yes)."""
    if not sys.stdin.isatty():
        raise HarnessError("target aws creates billable resources; no terminal to confirm on: pass --yes")
    estimate = estimate_cost(settings, executions or 200, keep_endpoint=bool(keep_endpoint))
    console.print(cost_table(estimate))
    for note in estimate.assumptions:
        console.print(f"  assumption: {note}", highlight=False)
    if not typer.confirm(f"Create a training job and an endpoint in {settings.region}?", default=False):
        raise HarnessError("cancelled: nothing was created")
    return True


def _summary_table(summary: dict[str, Any], phases: dict[str, float]) -> Table:
    table = Table(title="Scones Unlimited workflow", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("executions", str(summary.get("executions", 0)))
    table.add_row("succeeded", str(summary.get("succeeded", 0)))
    for error, count in summary.get("failed_by_error", {}).items():
        table.add_row(f"failed: {error}", str(count))
    accuracy = summary.get("accuracy_of_passed")
    if accuracy is not None:
        table.add_row("accuracy (passed)", f"{accuracy:.3f}")
    if summary.get("capture_accuracy") is not None:
        table.add_row("accuracy (all captured)", f"{summary['capture_accuracy']:.3f}")
    if "latency_ms_p50" in summary:
        table.add_row(
            "execution p50 / p95", f"{summary['latency_ms_p50']:.0f} / {summary['latency_ms_p95']:.0f} ms"
        )
    table.add_row("phases", ", ".join(f"{k} {v:.1f}s" for k, v in phases.items()))
    table.add_row("total", f"{sum(phases.values()):.1f} s")
    return table


@app.command("run")
def run_command(
    ctx: typer.Context,
    dataset: Annotated[
        str | None,
        typer.Option(
            help="CIFAR-100 tarball path or URL (default: the staged set in the bucket when it is "
            "complete, else the official URL)."
        ),
    ] = None,
    executions: Annotated[
        int | None, typer.Option(min=1, help="How many test images to classify (default: all).")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Executions in flight at once.")] = 8,
    report_dir: Annotated[
        Path | None, typer.Option(help="Where to write the monitoring report (default <home>/report).")
    ] = None,
    no_report: Annotated[bool, typer.Option("--no-report", help="Skip the monitoring report.")] = False,
    keep_endpoint: Annotated[
        bool | None,
        typer.Option(
            "--keep-endpoint/--no-keep-endpoint",
            help="Leave the endpoint running at the end (default: kept on local targets, deleted on aws).",
        ),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="aws: create billable resources without asking.")
    ] = False,
    algorithm: Annotated[
        str | None,
        typer.Option(help="builtin (SageMaker's image-classification image) | image (--training-image)."),
    ] = None,
    training_image: Annotated[
        str | None, typer.Option(help="The project's training/serving image URI (algorithm image).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
    pipeline: Annotated[
        str,
        typer.Option(
            help="python (the harness calls SageMaker) | stepfunctions (statemachine/pipeline.asl.json)."
        ),
    ] = "python",
    execution_timeout: Annotated[
        float,
        typer.Option(min=0.1, help="Seconds one execution may run before it is stopped (StopExecution)."),
    ] = 300.0,
    lock_timeout: Annotated[
        float,
        typer.Option(min=0, help="Seconds to wait for another `harness run` on the same --home to finish."),
    ] = 1800.0,
) -> None:
    """Run the whole workflow: up, stage, train, endpoint, deploy, executions, summary, report."""
    settings = settings_of(ctx).replace(algorithm=algorithm, training_image=training_image)
    target = target_for(settings)
    billable_ok = yes or not target.bills or _confirm_billable(settings, executions, keep_endpoint)
    if pipeline not in ("python", "stepfunctions"):
        raise HarnessError(f"--pipeline must be python or stepfunctions, got {pipeline!r}")
    options = RunOptions(
        dataset=dataset,
        executions=executions,
        concurrency=concurrency,
        report_dir=None if no_report else (report_dir or settings.home / "report"),
        keep_endpoint=keep_endpoint,
        billable_ok=billable_ok,
        pipeline=pipeline,
        execution_timeout_s=execution_timeout,
        lock_timeout_s=lock_timeout,
    )
    try:
        with progress_bar(console) as bars:
            result = workflow_mod.run(
                target, options, bars=bars, log=lambda m: bars.console.print(m, highlight=False)
            )
    except WorkflowError as exc:
        raise HarnessError(str(exc)) from exc
    except RunInterrupted as exc:  # torn down already (see harness.workflow.run); exit as the signal says
        console.print(
            f"[bold red]{exc}[/]: the run stopped (what it stopped or deleted is listed above)",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(code=exc.exit_code) from None
    console.print(_summary_table(result.summary, result.phases_s))
    _print_failures(result.failures)
    if result.report_path:
        console.print(f"report: {result.report_path}")
    if json_out:
        failures = [vars(f) for f in result.failures]
        print(
            json.dumps(
                {
                    "phases_s": result.phases_s,
                    "total_s": result.total_s,
                    **result.summary,
                    "failures": failures,
                }
            )
        )
    unexpected = {
        e: n for e, n in result.summary.get("failed_by_error", {}).items() if e not in EXPECTED_ERRORS
    }
    if result.report_problem:
        console.print(
            f"[bold red]{'report' if unexpected else 'error'}:[/] {result.report_problem}",
            highlight=False,
            soft_wrap=True,
        )
    if unexpected:
        raise HarnessError(f"unexpected execution failures: {unexpected} (first causes above)")
    if result.report_problem:
        raise typer.Exit(code=1)


def _print_failures(failures: list[FailureCause]) -> None:
    """The first cause of each unexpected failure, before anything a later phase has to say."""
    if not failures:
        return
    console.print("[bold red]executions that failed, first cause of each error:[/]")
    for failure in failures:
        for line in failure.lines():
            console.print(line, highlight=False, markup=False, soft_wrap=True)


@app.command()
def watch(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, help="How many of the newest executions to show.")] = 20,
    exit_after: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many executions ended (default: until Ctrl-C).")
    ] = None,
    timeout: Annotated[float | None, typer.Option(min=0, help="Stop after this many seconds.")] = None,
) -> None:
    """Show the classification state machine's executions as they happen (photos dropped under incoming/)."""
    from rich.live import Live

    settings = settings_of(ctx)
    target = target_for(settings)
    sfn = target.client("stepfunctions")
    arns = [
        sm["stateMachineArn"]
        for page in sfn.get_paginator("list_state_machines").paginate()
        for sm in page["stateMachines"]
        if sm["name"] == STATE_MACHINE
    ]
    if not arns:
        raise HarnessError(
            f"state machine {STATE_MACHINE} is not deployed on {settings.target}: run harness deploy"
        )
    title = f"{STATE_MACHINE} (photos: s3://{settings.bucket}/{incoming_key_prefix(settings)})"
    watcher = watch_mod.Watcher(sfn, arns[0], limit=limit)
    try:
        with Live(console=console, auto_refresh=False) as live:
            watch_mod.watch(
                watcher,
                lambda table: live.update(table, refresh=True),
                title,
                exit_after=exit_after,
                timeout_s=timeout,
            )
    except KeyboardInterrupt:
        pass
    except (EndpointConnectionError, ConnectionClosedError) as exc:  # nothing answers: say who died
        raise HarnessError(f"{target.dead_dependency() or target.unreachable_hint}: {exc}") from exc
