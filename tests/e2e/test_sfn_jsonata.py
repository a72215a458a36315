"""JSONata state machines on the embedded cloud, offline (jsonata-python via localstack_plugin).

A Lambda task with ``Arguments``/``Output``, Step Functions' own functions in ``Assign`` and
``Output``, a ``Choice`` with a JSONata ``Condition``, and the error a throwing expression raises
(``States.QueryEvaluationError``, caught by ``Catch`` like any other error).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any

import pytest

from harness.config import Settings
from harness.targets.registry import target_for
from tests.support.lambda_zip import ROLE_ARN, deploy

pytestmark = pytest.mark.e2e

DOUBLE = """
def handler(event, context):
    return {**event, "value": event["value"] * 2}
"""


CAUGHT = "{% {'caught': $states.errorOutput.Error, 'cause': $states.errorOutput.Cause} %}"


def _definition(double_arn: str) -> dict[str, Any]:
    return {
        "QueryLanguage": "JSONata",
        "StartAt": "Double",
        "States": {
            "Double": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Arguments": {"FunctionName": double_arn, "Payload": "{% $states.input %}"},
                "Output": "{% $states.result.Payload %}",
                "Assign": {"doubled": "{% $states.result.Payload.value %}"},
                "Next": "Big?",
            },
            "Big?": {
                "Type": "Choice",
                "Choices": [{"Condition": "{% $states.input.value > 100 %}", "Next": "Divide"}],
                "Default": "Functions",
            },
            "Divide": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                # Throws T2002 for a string: the error is a States.QueryEvaluationError.
                "Arguments": {
                    "FunctionName": double_arn,
                    "Payload": "{% {'value': $states.input.value / $states.input.divisor} %}",
                },
                "Catch": [
                    {
                        "ErrorEquals": ["States.QueryEvaluationError"],
                        "Output": CAUGHT,
                        "Next": "CaughtEvaluation",
                    }
                ],
                "End": True,
            },
            "CaughtEvaluation": {"Type": "Pass", "End": True},
            "Functions": {
                "Type": "Pass",
                "Output": {
                    "doubled": "{% $doubled %}",
                    "chunks": "{% $partition($states.input.tags, 2) %}",
                    "evens": "{% $range(0, $doubled, 4) %}",
                    "sha": "{% $hash('scones', 'SHA-256') %}",
                    "seeded": "{% $random(7) = $random(7) %}",
                    "id": "{% $length($uuid()) %}",
                    "parsed": "{% $parse('{\\\"a\\\": [1, 2]}').a[1] %}",
                    "sum": "{% $sum($map($states.input.tags, $length)) %}",
                },
                "End": True,
            },
        },
    }


@pytest.fixture(scope="module")
def machine(embedded_cloud: Settings) -> tuple[Any, str]:
    target = target_for(embedded_cloud)
    lam, sfn = target.client("lambda"), target.client("stepfunctions")
    name = deploy(lam, DOUBLE, prefix="jsonata-double")
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    created = sfn.create_state_machine(
        name=f"jsonata-{uuid.uuid4().hex[:8]}", definition=json.dumps(_definition(arn)), roleArn=ROLE_ARN
    )
    return sfn, created["stateMachineArn"]


def _run(sfn: Any, machine: str, payload: dict[str, Any]) -> dict[str, Any]:
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps(payload))["executionArn"]
    deadline = time.monotonic() + 60
    while (execution := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"{arn} still RUNNING after 60 s"
        time.sleep(0.05)
    return execution


def test_lambda_task_and_step_functions_functions(machine: tuple[Any, str]) -> None:
    sfn, arn = machine
    execution = _run(sfn, arn, {"value": 6, "tags": ["ab", "c", "def"]})

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert json.loads(execution["output"]) == {
        "doubled": 12,
        "chunks": [["ab", "c"], ["def"]],
        "evens": [0, 4, 8, 12],
        "sha": hashlib.sha256(b"scones").hexdigest(),
        "seeded": True,
        "id": 36,
        "parsed": 2,
        "sum": 6,
    }


def test_a_throwing_expression_is_a_query_evaluation_error(machine: tuple[Any, str]) -> None:
    sfn, arn = machine
    execution = _run(sfn, arn, {"value": 60, "divisor": "two"})

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    output = json.loads(execution["output"])
    assert output["caught"] == "States.QueryEvaluationError"
    assert (
        "The JSONata expression '{'value': $states.input.value / $states.input.divisor}' specified for the "
        "field 'Arguments/Payload' threw an error during evaluation. T2002: " in output["cause"]
    ), output["cause"]
    events = sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
    failed = [e["evaluationFailedEventDetails"] for e in events if e["type"] == "EvaluationFailed"]
    assert failed and failed[0]["error"] == "States.QueryEvaluationError" and failed[0]["state"] == "Divide"
    assert failed[0]["cause"].startswith("An error occurred while executing the state 'Divide' (entered at")
