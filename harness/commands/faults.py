"""``harness faults``: make the emulator's endpoints fail or slow down, or a training job fail, on demand."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated

import typer

from harness import faults as client
from harness.cli import HarnessError, app, settings_of
from harness.targets.registry import target_for

faults_app = typer.Typer(
    cls=app.info.cls,
    help="Faults on demand in the SageMaker emulator: endpoint errors or latency, failed training jobs.",
    no_args_is_help=True,
)
app.add_typer(faults_app, name="faults")


def _show(call: Callable[[], dict]) -> None:
    """Print what the emulator answered; its refusal becomes the CLI's one-line error."""
    try:
        result = call()
    except client.FaultError as exc:
        raise HarnessError(str(exc)) from exc
    print(json.dumps(result, indent=2))


@faults_app.command("endpoint")
def endpoint(
    ctx: typer.Context,
    error: Annotated[
        str | None,
        typer.Option(help="ModelError | ThrottlingException | ServiceUnavailable (omit: latency only)."),
    ] = None,
    endpoint_name: Annotated[
        str | None,
        typer.Option("--endpoint", help="Endpoint name (default: the configured endpoint_name; '*': all)."),
    ] = None,
    latency_ms: Annotated[float | None, typer.Option(help="Added latency per request, in ms.")] = None,
    count: Annotated[int | None, typer.Option(min=1, help="Only the next N requests.")] = None,
    rate: Annotated[
        float | None, typer.Option(help="Fraction of requests, until cleared (default 1).")
    ] = None,
    message: Annotated[str | None, typer.Option(help="The error message.")] = None,
    status: Annotated[
        int | None, typer.Option(help="ModelError: the container's status code (default 500).")
    ] = None,
) -> None:
    """Make InvokeEndpoint answer with an error and/or added latency, for the next N requests or at a rate."""
    settings = settings_of(ctx)
    _show(
        lambda: client.add_endpoint_fault(
            target_for(settings),
            endpoint=endpoint_name or settings.endpoint_name,
            error=error,
            latency_ms=latency_ms,
            count=count,
            rate=rate,
            message=message,
            status=status,
        )
    )


@faults_app.command("training")
def training(
    ctx: typer.Context,
    failure_reason: Annotated[str, typer.Option(help="The FailureReason the job ends with.")],
    job: Annotated[str | None, typer.Option(help="The job's name (default: the next job created).")] = None,
) -> None:
    """Make the next training job (or the named one) end as Failed with the given FailureReason."""
    _show(lambda: client.add_training_fault(target_for(settings_of(ctx)), failure_reason, job))


@faults_app.command("list")
def list_(ctx: typer.Context) -> None:
    """The faults in force."""
    _show(lambda: client.list_faults(target_for(settings_of(ctx))))


@faults_app.command("clear")
def clear(ctx: typer.Context) -> None:
    """Remove every fault."""
    _show(lambda: client.clear_faults(target_for(settings_of(ctx))))
