"""``states:TestState`` on the workflow's own states: the 2023 API (one state, run for real) and what
AWS added in 2025 (localstack_plugin/patches/sfn_test_state.py): ``stateName`` in a whole state machine,
``mock`` with its field validation, ``variables``; ``context`` and ``stateConfiguration`` are refused
(docs/parity.md). The filter state runs the real filter function; the classifier, mocked, runs nothing
(the cloud here has no endpoint, so a real invocation fails: the unmocked call proves it).

AWS's answers are from LocalStack's AWS-validated snapshots in
tests/aws/services/stepfunctions/v2/test_state/ (named per test).
"""

from __future__ import annotations

import json
from typing import Any

import botocore.config
import botocore.exceptions
import pytest

from harness import deploy
from harness.config import Settings
from harness.staging import ensure_bucket
from harness.targets.registry import target_for

pytestmark = pytest.mark.e2e

THRESHOLD = 0.93
FILTER_STATE = "Filter low-confidence inferences"


def single_state(definition: str, name: str) -> str:
    """State ``name`` of a state machine definition as TestState's standalone definition."""
    state = dict(json.loads(definition)["States"][name])
    # Alone, it has no next state for Next or a Catch to go to (LocalStack 4.9.2 then never ends it).
    state.pop("Next", None)
    state.pop("Catch", None)
    state["End"] = True
    return json.dumps(state)


@pytest.fixture(scope="module")
def deployed(embedded_cloud: Settings) -> tuple[Any, str, str]:
    """TestState's client, the deployed state machine's whole definition, and its role."""
    settings = embedded_cloud.replace(threshold=THRESHOLD)
    target = target_for(settings)
    ensure_bucket(target.client("s3"), settings.bucket, settings.region)  # deploy wires its events
    result = deploy.deploy(settings, target)
    # botocore sends TestState to the host "sync-<endpoint host>" (AWS's sync-states.<region>...):
    # against a local endpoint the prefix must be off, or the name does not resolve.
    sfn = target.client("stepfunctions", config=botocore.config.Config(inject_host_prefix=False))
    definition = sfn.describe_state_machine(stateMachineArn=result.state_machine_arn)["definition"]
    return sfn, definition, result.states_role_arn


@pytest.fixture(scope="module")
def tested(deployed: tuple[Any, str, str]) -> tuple[Any, str, str]:
    sfn, definition, role = deployed
    return sfn, single_state(definition, FILTER_STATE), role


@pytest.fixture(scope="module")
def machine(deployed: tuple[Any, str, str]) -> str:
    return deployed[1]


def _body(inferences: list[float]) -> str:
    return json.dumps({"statusCode": 200, "body": {"s3_key": "test/x.png", "inferences": inferences}})


def test_filter_state_passes_a_confident_inference(tested: tuple[Any, str, str]) -> None:
    sfn, state, role = tested
    result = sfn.test_state(
        definition=state, roleArn=role, input=_body([0.96, 0.04]), inspectionLevel="DEBUG"
    )

    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"]) == {
        "statusCode": 200,
        "body": {"s3_key": "test/x.png", "inferences": [0.96, 0.04]},
    }
    inspection = result["inspectionData"]
    assert json.loads(inspection["afterParameters"])["Payload"]["body"]["inferences"] == [0.96, 0.04]
    assert json.loads(inspection["result"])["StatusCode"] == 200


def test_filter_state_fails_below_the_threshold(tested: tuple[Any, str, str]) -> None:
    sfn, state, role = tested
    result = sfn.test_state(definition=state, roleArn=role, input=_body([0.51, 0.49]))

    assert result["status"] == "FAILED", result
    assert result["error"] == "ThresholdConfidenceNotMet"
    cause = json.loads(result["cause"])
    assert cause["errorMessage"] == f"top confidence 0.5100 (class 0) is below the threshold {THRESHOLD}"
    assert cause["stackTrace"][0].startswith('  File "/var/task/lambda_function.py"')


CLASSIFIER_STATE = "Classify image"
CLASSIFIED = {"statusCode": 200, "body": {"s3_key": "test/x.png", "inferences": [0.97, 0.03]}}


def _refusal(call: Any) -> dict[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        call()
    return refused.value.response["Error"]


# test_state/test_test_state_machine_scenarios.snapshot.json (stateName picks the state, its Next is
# nextState) and test_test_state_mock_scenarios.snapshot.json (the mock is the result; with NONE the
# Payload may be JSON). No roleArn: AWS's TestState needs none with a mock.
def test_a_mocked_classifier_returns_the_mock_and_invokes_nothing(
    tested: tuple[Any, str, str], machine: str
) -> None:
    sfn = tested[0]
    mocked = {"StatusCode": 200, "Payload": CLASSIFIED}
    result = sfn.test_state(
        definition=machine,
        stateName=CLASSIFIER_STATE,
        input=json.dumps({"statusCode": 200, "body": {"s3_key": "test/x.png", "image_data": "AA=="}}),
        mock={"result": json.dumps(mocked), "fieldValidationMode": "NONE"},
    )
    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"]) == CLASSIFIED  # the state's OutputPath $.Payload applied to the mock
    assert result["nextState"] == FILTER_STATE
    # The same state for real: the classifier has no endpoint here, so invoking it fails.
    real = sfn.test_state(
        definition=single_state(machine, CLASSIFIER_STATE), roleArn=tested[2], input=json.dumps({"body": {}})
    )
    assert real["status"] == "FAILED", real


# test_field_validation_mode.snapshot.json, test_strict_mode_lambda_task[wrong_integer_type_string];
# test_test_state_mock_scenarios.snapshot.json, test_base_lambda_service_task_mock_success (STRICT passes
# a string Payload and a field the model does not have).
def test_strict_validation_refuses_a_result_that_does_not_fit_lambda_invoke(
    tested: tuple[Any, str, str], machine: str
) -> None:
    sfn = tested[0]
    error = _refusal(
        lambda: sfn.test_state(
            definition=machine,
            stateName=CLASSIFIER_STATE,
            input="{}",
            mock={"result": json.dumps({"StatusCode": "200"})},
        )
    )
    assert error == {
        "Code": "ValidationException",
        "Message": "Mock result schema validation error: Field 'StatusCode' must be a number",
    }
    accepted = {"Payload": "function output", "SdkHttpMetadata": {"HttpStatusCode": 200}}
    result = sfn.test_state(
        definition=machine,
        stateName=CLASSIFIER_STATE,
        input="{}",
        mock={"result": json.dumps(accepted), "fieldValidationMode": "STRICT"},
    )
    assert result["status"] == "SUCCEEDED" and json.loads(result["output"]) == "function output"


# test_state_mock_validation.snapshot.json and test_test_state_machine_scenarios.snapshot.json.
@pytest.mark.parametrize(
    "extra, message",
    [
        ({"stateName": "No such state"}, "State not found in definition"),
        (
            {
                "stateName": CLASSIFIER_STATE,
                "mock": {"result": "{}", "errorOutput": {"error": "E", "cause": "c"}},
            },
            "A test mock should have only one of the following fields: [result, errorOutput].",
        ),
        ({"stateName": CLASSIFIER_STATE, "mock": {"result": "not JSON"}}, "Mocked result must be valid JSON"),
        (
            {"stateName": CLASSIFIER_STATE, "mock": {"result": "{}"}, "revealSecrets": True},
            "TestState does not support RevealSecrets when a mock is specified.",
        ),
        (
            {"stateName": "Low confidence", "mock": {"result": "{}"}},
            "State type 'Fail' is not supported when a mock is specified",
        ),
    ],
)
def test_aws_refusals(
    tested: tuple[Any, str, str], machine: str, extra: dict[str, Any], message: str
) -> None:
    error = _refusal(lambda: tested[0].test_state(definition=machine, input="{}", **extra))
    assert error == {"Code": "ValidationException", "Message": message}


# What the harness cannot honour is an error that names it, never ignored (docs/parity.md).
@pytest.mark.parametrize(
    "extra, named",
    [
        ({"context": json.dumps({"Execution": {"Id": "x"}})}, "'context'"),
        ({"stateConfiguration": {"retrierRetryCount": 1}}, "'stateConfiguration'"),
    ],
)
def test_members_the_harness_cannot_honour_are_refused(
    tested: tuple[Any, str, str], machine: str, extra: dict[str, Any], named: str
) -> None:
    sfn = tested[0]
    mock = {"result": json.dumps({"Payload": "p"})}
    error = _refusal(
        lambda: sfn.test_state(definition=machine, stateName=CLASSIFIER_STATE, input="{}", mock=mock, **extra)
    )
    assert error["Code"] == "ValidationException" and named in error["Message"], error


def test_a_mocked_error_fails_the_state(tested: tuple[Any, str, str], machine: str) -> None:
    sfn = tested[0]
    state = dict(json.loads(single_state(machine, CLASSIFIER_STATE)))
    state.pop("Retry")
    result = sfn.test_state(
        definition=json.dumps(state),
        input="{}",
        mock={"errorOutput": {"error": "Lambda.Unknown", "cause": "boom"}},
    )
    assert (result["status"], result["error"], result["cause"]) == ("FAILED", "Lambda.Unknown", "boom")


def test_variables_are_the_states_variables(tested: tuple[Any, str, str]) -> None:
    state = {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% $x * 2 %}", "End": True}
    result = tested[0].test_state(definition=json.dumps(state), input="{}", variables=json.dumps({"x": 21}))
    assert result["status"] == "SUCCEEDED" and json.loads(result["output"]) == 42


# test_state/test_test_state_scenarios.snapshot.json, test_state_task_catch_error: a caught failure is
# CAUGHT_ERROR with its error, cause, the catcher's Next as nextState and the catcher's output.
def test_a_caught_failure_is_caught_error(tested: tuple[Any, str, str], machine: str) -> None:
    sfn, _, role = tested
    result = sfn.test_state(
        definition=machine, stateName=FILTER_STATE, roleArn=role, input=_body([0.51, 0.49])
    )
    assert result["status"] == "CAUGHT_ERROR", result
    assert result["error"] == "ThresholdConfidenceNotMet"
    assert result["nextState"] == "Write low-confidence result"
    output = json.loads(result["output"])  # the catcher's ResultPath $.error on the state's input
    assert (
        output["body"]["inferences"] == [0.51, 0.49]
        and output["error"]["Error"] == "ThresholdConfidenceNotMet"
    )


# test_state/test_state_configuration.snapshot.json, test_state_configuration_retrier_retry_count: a
# failure a Retrier matches is RETRIABLE, with its error and cause; TestState does not retry.
def test_a_retriable_failure_is_retriable(tested: tuple[Any, str, str], machine: str) -> None:
    error = {"error": "Lambda.ServiceException", "cause": "mocked"}
    result = tested[0].test_state(
        definition=machine, stateName=CLASSIFIER_STATE, input="{}", mock={"errorOutput": error}
    )
    assert (result["status"], result["error"], result["cause"]) == (
        "RETRIABLE",
        "Lambda.ServiceException",
        "mocked",
    )


# The API reference gives TestState's input the same 262144 maximum as StartExecution's.
def test_an_input_over_256_kib_is_refused(tested: tuple[Any, str, str]) -> None:
    state = {"Type": "Pass", "End": True}
    big = json.dumps({"data": "x" * (300 * 1024)})
    error = _refusal(lambda: tested[0].test_state(definition=json.dumps(state), input=big))
    assert error["Code"] == "ValidationException" and "262144 bytes in UTF-8 encoding" in error["Message"]
