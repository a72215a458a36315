"""Step Functions driving Lambda tasks on the embedded cloud: Retry, Catch, Choice, Fail, error names."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from harness.config import Settings
from harness.targets.registry import target_for
from tests.support.lambda_zip import ROLE_ARN, deploy

pytestmark = pytest.mark.e2e

DOUBLE = """
import os

class FlakyError(Exception):
    pass

def handler(event, context):
    marker = event.get("flaky_marker")
    if marker and not os.path.exists(marker):
        open(marker, "w").close()
        raise FlakyError("first attempt fails")
    return {"value": event["value"] * 2}
"""

FILTER = """
class ThresholdNotMet(Exception):
    pass

def handler(event, context):
    value = event["value"]
    if value < 0:
        raise ValueError(f"negative value {value}")
    if value < 10:
        raise ThresholdNotMet(f"value {value} is below 10")
    return {"value": value, "passed": True}
"""


def _definition(double_arn: str, filter_arn: str) -> str:
    def task(arn: str, nxt: str, **extra: Any) -> dict[str, Any]:
        return {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": arn, "Payload.$": "$"},
            "OutputPath": "$.Payload",
            "Next": nxt,
            **extra,
        }

    return json.dumps(
        {
            "StartAt": "Double",
            "States": {
                "Double": task(
                    double_arn,
                    "Check",
                    Retry=[{"ErrorEquals": ["FlakyError"], "IntervalSeconds": 1, "MaxAttempts": 2}],
                ),
                "Check": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.value", "NumericGreaterThan": 100, "Next": "TooBig"}],
                    "Default": "Filter",
                },
                "TooBig": {"Type": "Fail", "Error": "ValueTooBig", "Cause": "the doubled value exceeds 100"},
                "Filter": task(
                    filter_arn,
                    "Done",
                    Catch=[{"ErrorEquals": ["ThresholdNotMet"], "ResultPath": "$.error", "Next": "Rejected"}],
                ),
                "Rejected": {"Type": "Fail", "Error": "Rejected", "Cause": "below the threshold"},
                "Done": {"Type": "Succeed"},
            },
        }
    )


@pytest.fixture(scope="module")
def state_machine(embedded_cloud: Settings) -> tuple[Any, str]:
    target = target_for(embedded_cloud)
    lam, sfn = target.client("lambda"), target.client("stepfunctions")
    arns = []
    for source, prefix in ((DOUBLE, "double"), (FILTER, "filter")):
        name = deploy(lam, source, prefix=prefix)
        arns.append(lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"])
    created = sfn.create_state_machine(
        name=f"e2e-{uuid.uuid4().hex[:8]}", definition=_definition(*arns), roleArn=ROLE_ARN
    )
    return sfn, created["stateMachineArn"]


def _run(sfn: Any, machine: str, payload: dict[str, Any]) -> dict[str, Any]:
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps(payload))["executionArn"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        execution = sfn.describe_execution(executionArn=arn)
        if execution["status"] != "RUNNING":
            return execution
        time.sleep(0.1)
    pytest.fail(f"execution {arn} still RUNNING after 60 s")


def test_retry_then_success(state_machine: tuple[Any, str]) -> None:
    sfn, machine = state_machine
    # In the function's own /tmp: the retry runs in the same (warm) execution environment, which keeps
    # its /tmp, as on AWS; the host's /tmp never sees the file.
    marker = Path("/tmp") / f"flaky-{uuid.uuid4().hex}"

    execution = _run(sfn, machine, {"value": 10, "flaky_marker": str(marker)})

    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["output"]) == {"value": 20, "passed": True}
    assert not marker.exists(), "the function's /tmp is its own"
    history = sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
    assert [e["type"] for e in history].count("TaskFailed") == 1


def test_caught_error_goes_to_fail_state(state_machine: tuple[Any, str]) -> None:
    sfn, machine = state_machine

    execution = _run(sfn, machine, {"value": 3})

    assert execution["status"] == "FAILED"
    assert (execution["error"], execution["cause"]) == ("Rejected", "below the threshold")


def test_choice_to_fail_state(state_machine: tuple[Any, str]) -> None:
    sfn, machine = state_machine

    execution = _run(sfn, machine, {"value": 60})

    assert execution["status"] == "FAILED"
    assert (execution["error"], execution["cause"]) == ("ValueTooBig", "the doubled value exceeds 100")


def test_uncaught_lambda_error_names_the_exception_class(state_machine: tuple[Any, str]) -> None:
    sfn, machine = state_machine

    execution = _run(sfn, machine, {"value": -1})

    assert execution["status"] == "FAILED"
    assert execution["error"] == "ValueError"
    cause = json.loads(execution["cause"])
    assert cause["errorType"] == "ValueError"
    assert cause["errorMessage"] == "negative value -2"
