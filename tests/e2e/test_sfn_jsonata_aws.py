"""JSONata as AWS evaluates it, on the embedded cloud.

The patches are localstack_plugin/patches/sfn_jsonata.py and sfn_wait_timestamp.py.

Each case replays a history AWS recorded, from LocalStack's AWS-validated snapshots (repository
localstack/localstack, tests/aws/services/stepfunctions/v2/...); the snapshot is named per test.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness.config import Settings
from harness.targets.registry import target_for
from tests.support.lambda_zip import ROLE_ARN

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sfn(embedded_cloud: Settings) -> Any:
    return target_for(embedded_cloud).client("stepfunctions")


def run(
    sfn: Any, definition: dict[str, Any], payload: Any = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Create a state machine, run it once to the end; its description and its history."""
    machine = sfn.create_state_machine(
        name=f"aws-edges-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=ROLE_ARN
    )["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps(payload or {}))["executionArn"]
    deadline = time.monotonic() + 60
    while (execution := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"{arn} still RUNNING after 60 s"
        time.sleep(0.05)
    return execution, sfn.get_execution_history(executionArn=arn)["events"]


def output_of(expression: str) -> dict[str, Any]:
    return {
        "QueryLanguage": "JSONata",
        "StartAt": "State_0",
        "States": {"State_0": {"Type": "Pass", "Output": "{% " + expression + " %}", "End": True}},
    }


# intrinsic_functions/test_array_jsonata.snapshot.json: test_array_range gives "1" for
# $range(1, 9, 9) and "[0,3,6,9]" for (0, 9, 3); test_array_partition gives "[[0]]" for ([0], 1).
@pytest.mark.parametrize(
    "expression, expected",
    [
        ("$range(1, 9, 9)", 1),
        ("$range(0, 9, 3)", [0, 3, 6, 9]),
        ("$range(1, 9, 2)", [1, 3, 5, 7, 9]),
        ("[$range(1, 9, 9)]", [1]),  # an array constructor keeps the one-item sequence an array
        ("$partition([0], 1)", [[0]]),
        ("$partition([0, 1, 2], 2)", [[0, 1], [2]]),
    ],
)
def test_step_functions_functions_give_what_aws_gives(sfn: Any, expression: str, expected: Any) -> None:
    execution, _ = run(sfn, output_of(expression))
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert json.loads(execution["output"]) == expected


def lambda_task(arguments: Any) -> dict[str, Any]:
    return {
        "QueryLanguage": "JSONata",
        "StartAt": "State0",
        "States": {
            "State0": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Arguments": arguments,
                "End": True,
            }
        },
    }


def failed_at(events: list[dict[str, Any]]) -> tuple[list[str], dict[str, Any], dict[str, Any]]:
    evaluation = [e["evaluationFailedEventDetails"] for e in events if e["type"] == "EvaluationFailed"]
    assert len(evaluation) == 1, [e["type"] for e in events]
    return [e["type"] for e in events], evaluation[0], events[-1]


# assign/test_assign_reference_variables.snapshot.json, test_undefined_reference[BASE_UNDEFINED_ARGUMENTS]
# and [BASE_UNDEFINED_ARGUMENTS_FIELD]: one EvaluationFailed (event 3), then ExecutionFailed (event 4).
@pytest.mark.parametrize(
    "arguments, field",
    [
        ("{% $doesNotExist %}", "Arguments"),
        ({"FunctionName": "{% $doesNotExist %}"}, "Arguments/FunctionName"),
    ],
)
def test_an_undefined_reference_in_arguments_is_one_evaluation_failure(
    sfn: Any, arguments: Any, field: str
) -> None:
    execution, events = run(sfn, lambda_task(arguments))
    types, evaluation, last = failed_at(events)
    cause = (
        "An error occurred while executing the state 'State0' (entered at the event id #2). The JSONata "
        f"expression '$doesNotExist' specified for the field '{field}' returned nothing (undefined)."
    )
    assert types == ["ExecutionStarted", "TaskStateEntered", "EvaluationFailed", "ExecutionFailed"]
    assert evaluation == {
        "cause": cause,
        "error": "States.QueryEvaluationError",
        "location": field,
        "state": "State0",
    }
    assert last["id"] == 4 and last["executionFailedEventDetails"] == {
        "cause": cause,
        "error": "States.QueryEvaluationError",
    }
    assert execution["status"] == "FAILED"


# The same snapshot, [BASE_UNDEFINED_OUTPUT_FIELD] and [BASE_UNDEFINED_ASSIGN]: the field is a path.
@pytest.mark.parametrize("field", ["Output", "Assign"])
def test_the_field_of_a_cause_is_its_path(sfn: Any, field: str) -> None:
    state = {"Type": "Pass", field: {"result": "{% $doesNotExist %}"}, "End": True}
    _, events = run(sfn, {"QueryLanguage": "JSONata", "StartAt": "State0", "States": {"State0": state}})
    types, evaluation, _ = failed_at(events)
    assert types == ["ExecutionStarted", "PassStateEntered", "EvaluationFailed", "ExecutionFailed"]
    assert evaluation["location"] == f"{field}/result"
    assert evaluation["cause"].endswith(
        f"The JSONata expression '$doesNotExist' specified for the field '{field}/result' returned "
        "nothing (undefined)."
    )


# intrinsic_functions/test_math_operations_jsonata.snapshot.json, test_math_random_seeded: a throwing
# expression in Output/FunctionResult, T1006, one EvaluationFailed.
def test_a_throwing_expression_names_its_field_path(sfn: Any) -> None:
    definition = output_of("0")
    definition["States"]["State_0"]["Output"] = {"FunctionResult": "{% $randomSeeded($states.input.fst) %}"}
    _, events = run(sfn, definition, {"fst": 1})
    types, evaluation, _ = failed_at(events)
    assert types == ["ExecutionStarted", "PassStateEntered", "EvaluationFailed", "ExecutionFailed"]
    assert evaluation["location"] == "Output/FunctionResult"
    assert (
        "The JSONata expression '$randomSeeded($states.input.fst)' specified for the field "
        "'Output/FunctionResult' threw an error during evaluation. T1006: " in evaluation["cause"]
    )


# scenarios/test_base_scenarios.snapshot.json, test_map_state_items_eval_jsonata_fail[function].
def test_a_function_result_is_an_unsupported_result_type(sfn: Any) -> None:
    processor = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    state = {"Type": "Map", "Items": "{% $fn := function($x){$x} %}", "ItemProcessor": processor, "End": True}
    _, events = run(
        sfn, {"QueryLanguage": "JSONata", "StartAt": "MapIterateState", "States": {"MapIterateState": state}}
    )
    types, _, last = failed_at(events)
    assert types[-3:] == ["EvaluationFailed", "MapStateFailed", "ExecutionFailed"]
    assert last["executionFailedEventDetails"]["cause"] == (
        "An error occurred while executing the state 'MapIterateState' (entered at the event id #2). The "
        "JSONata expression '$fn := function($x){$x}' specified for the field 'Items' returned an "
        "unsupported result type."
    )


def wait_until(timestamp: Any) -> dict[str, Any]:
    state = {"Type": "Wait", "Timestamp": "{% $states.input.TimestampValue %}", "End": True}
    return {"QueryLanguage": "JSONata", "StartAt": "WaitState", "States": {"WaitState": state}}


# scenarios/test_base_scenarios.snapshot.json, test_wait_timestamp_jsonata[NO_T|NO_Z|INVALID_DATE|
# INVALID_TIME|INVALID_ISO]: EvaluationFailed (location Timestamp), then ExecutionFailed as event 4.
@pytest.mark.parametrize(
    "value",
    [
        "2016-12-05 21:29:29Z",
        "2016-12-05T21:29:29",
        "2016-13-05T21:29:29Z",
        "2016-12-05T25:29:29Z",
        "05-12-2016T21:29:29Z",
    ],
)
def test_an_invalid_jsonata_timestamp_fails_as_on_aws(sfn: Any, value: str) -> None:
    _, events = run(sfn, wait_until(value), {"TimestampValue": value})
    types, evaluation, last = failed_at(events)
    cause = (
        "An error occurred while executing the state 'WaitState' (entered at the event id #2). The Timestamp "
        f"field cannot be parsed as an ISO-8601 extended offset date-time format string: {value}"
    )
    assert types == ["ExecutionStarted", "WaitStateEntered", "EvaluationFailed", "ExecutionFailed"]
    assert evaluation == {
        "cause": cause,
        "error": "States.QueryEvaluationError",
        "location": "Timestamp",
        "state": "WaitState",
    }
    assert last["id"] == 4 and last["executionFailedEventDetails"]["cause"] == cause


# The same test's [SECONDS] and [NANOSECONDS] succeed on AWS; an offset is an offset date-time too.
@pytest.mark.parametrize(
    "value", ["2016-12-05T21:29:29Z", "2016-12-05T21:29:29.123456789Z", "2016-12-05T21:29:29+09:00"]
)
def test_a_past_jsonata_timestamp_does_not_wait(sfn: Any, value: str) -> None:
    execution, _ = run(sfn, wait_until(value), {"TimestampValue": value})
    assert execution["status"] == "SUCCEEDED", execution.get("cause")


# AWS accepts ItemBatcher in a distributed Map (LocalStack's AWS-validated test_base_scenarios.snapshot.json,
# test_map_item_batching_*); LocalStack Community cannot batch, so the harness refuses it, saying why
# (docs/parity.md), where LocalStack alone answered an ANTLR parser error.
def test_an_item_batcher_is_refused_with_the_reason(sfn: Any) -> None:
    processor = {
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "End": True}},
    }
    state = {
        "Type": "Map",
        "Items": "{% [1, 2, 3] %}",
        "ItemBatcher": {"MaxItemsPerBatch": 2},
        "ItemProcessor": processor,
        "End": True,
    }
    definition = {"QueryLanguage": "JSONata", "StartAt": "Batches", "States": {"Batches": state}}
    with pytest.raises(ClientError) as refused:
        sfn.create_state_machine(
            name=f"batcher-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=ROLE_ARN
        )
    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidDefinition"
    assert "the Map state 'Batches' has an ItemBatcher, which the harness cannot run" in error["Message"]
