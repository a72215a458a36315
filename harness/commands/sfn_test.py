"""``harness sfn-test``: run the workflow's state machine against a MockConfigFile's test cases.

No model, no endpoint, no training: the states a test case mocks return or throw what the file
says (LocalStack's ``SFN_MOCK_CONFIG``, AWS's format); the others run the real functions. See
harness/sfn_mocks.py for how one running cloud serves any mock file, and docs/testing.md.
``--test-state`` walks each case through AWS's 2025 TestState instead, one state per call with
``mock`` (the calls AWS itself answers): see docs/testing.md for which to use when.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import botocore.config
import typer
from rich.table import Table

from harness import sfn_mocks
from harness.account import ensure_bucket
from harness.cli import HarnessError, app, console, settings_of
from harness.deploy import deploy
from harness.names import STATE_MACHINE
from harness.targets.registry import target_for

SAMPLE_KEY = "test/bicycle_s_000017.png"


@app.command("sfn-test")
def sfn_test(
    ctx: typer.Context,
    mock_config: Annotated[
        Path | None,
        typer.Option(help="MockConfigFile (AWS's format). Default: the six cases shipped in statemachine/."),
    ] = None,
    case: Annotated[
        list[str] | None, typer.Option(help="Test case to run (repeatable). Default: every case of the file.")
    ] = None,
    input_json: Annotated[
        str | None,
        typer.Option("--input", help="Execution input as JSON (default: the bucket and a sample image key)."),
    ] = None,
    history: Annotated[bool, typer.Option(help="Print each execution's event types.")] = False,
    test_state: Annotated[
        bool,
        typer.Option(
            "--test-state",
            help="Run each case state by state through TestState with mock (AWS's 2025 API) instead of "
            "executing the state machine with SFN_MOCK_CONFIG.",
        ),
    ] = False,
    field_validation: Annotated[
        str,
        typer.Option(
            help="TestState's fieldValidationMode for mocked results with --test-state (STRICT, PRESENT, "
            "NONE). NONE by default: Step Functions Local does not validate a MockConfigFile's Return."
        ),
    ] = "NONE",
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the results as JSON lines on stdout.")
    ] = False,
) -> None:
    """Run the state machine with mocked Lambda results (MockConfigFile test cases): no model, no endpoint."""
    settings = settings_of(ctx)
    target = target_for(settings)
    if not target.capabilities.sfn_mocks:
        raise HarnessError(
            "sfn-test runs on the embedded target (--target local): LocalStack there is started with "
            "SFN_MOCK_CONFIG; AWS itself has no mock mode for state machines (see docs/parity.md)"
        )
    if field_validation not in ("STRICT", "PRESENT", "NONE"):
        raise HarnessError(f"--field-validation must be STRICT, PRESENT or NONE, not {field_validation!r}")
    source = mock_config or sfn_mocks.DEFAULT_MOCK_CONFIG
    try:
        config = sfn_mocks.load(source)
        known = sfn_mocks.cases(config, STATE_MACHINE)
    except sfn_mocks.MockConfigError as exc:
        raise HarnessError(str(exc)) from exc
    unknown = [c for c in case or () if c not in known]
    if unknown:
        raise HarnessError(f"{source}: no test case {', '.join(unknown)} (it has: {', '.join(known)})")
    try:
        payload = (
            json.loads(input_json) if input_json else {"s3_bucket": settings.bucket, "s3_key": SAMPLE_KEY}
        )
    except ValueError as exc:
        raise HarnessError(f"--input is not JSON: {exc}") from exc

    target.bring_up(console=console)
    sfn_mocks.install(settings, source)
    # deploy wires the bucket's photo events (harness/events.py): it must exist, staged or not.
    ensure_bucket(target.client("s3"), settings.bucket, settings.region)
    deployed = deploy(settings, target)
    arn = deployed.state_machine_arn
    sfn = target.client("stepfunctions")
    # TestState goes to AWS's sync-states host: a local endpoint takes no host prefix.
    tester = target.client("stepfunctions", config=botocore.config.Config(inject_host_prefix=False))
    definition = sfn.describe_state_machine(stateMachineArn=arn)["definition"]

    how = "TestState" if test_state else "SFN_MOCK_CONFIG"
    table = Table(title=f"{STATE_MACHINE} with {source.name} ({how})", title_justify="left")
    for column in ("case", "status", "error", "events"):
        table.add_column(column)
    for name in case or known:
        if test_state:
            run = sfn_mocks.run_case_with_test_state(
                tester,
                definition,
                deployed.states_role_arn,
                config,
                STATE_MACHINE,
                name,
                payload,
                field_validation,
            )
        else:
            run = sfn_mocks.run_case(sfn, arn, name, payload)
        if json_out:
            record = {k: v for k, v in asdict(run).items() if k != "history"}
            print(json.dumps(record, default=str))
        table.add_row(name, run.status, run.error or "", str(len(run.events)))
        if history:
            console.print(f"[bold]{name}[/]: {' > '.join(run.events)}", highlight=False)
    console.print(table)
