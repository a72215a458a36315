"""TestState's mock validation (localstack_plugin/sfn_mock_validation.py) against botocore's models.

Every expected answer is AWS's, recorded in LocalStack's AWS-validated snapshots
``tests/aws/services/stepfunctions/v2/test_state/test_field_validation_mode.snapshot.json`` (STRICT),
``test_field_validation_mode_present.snapshot.json`` (PRESENT), ``test_field_validation_mode_none``
(NONE) and ``test_test_state_mock_scenarios.snapshot.json`` (a lambda:invoke mock that passes).
"""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest

from localstack_plugin import sfn_mock_validation as validation

_session = botocore.session.get_session()


def output_shape(service: str, operation: str) -> Any:
    return _session.get_service_model(service).operation_model(operation).output_shape


LAMBDA = output_shape("lambda", "Invoke")
START_EXECUTION = output_shape("stepfunctions", "StartExecution")
PUT_EVENTS = output_shape("events", "PutEvents")


def refusal(result: Any, shape: Any, mode: str = "STRICT") -> str:
    with pytest.raises(validation.MockValidationError) as refused:
        validation.validate_result(result, shape, mode)
    return str(refused.value)


@pytest.mark.parametrize("mode", ["STRICT", "PRESENT"])
@pytest.mark.parametrize(
    "result, shape, message",
    [
        ({"StatusCode": "200"}, LAMBDA, "Field 'StatusCode' must be a number"),
        ({"Entries": "a string"}, PUT_EVENTS, "Field 'Entries' must be an array"),
        ({"Entries": [{"EventId": ["a list"]}]}, PUT_EVENTS, "Field 'EventId' must be a string"),
        (
            {"Entries": [{"EventId": "ok"}, {"EventId": ["no"]}]},
            PUT_EVENTS,
            "Field 'EventId' must be a string",
        ),
        ({"ExecutionArn": "arn", "StartDate": True}, START_EXECUTION, "Field 'StartDate' must be a string"),
        (
            {"ConsumedCapacity": {"CapacityUnits": "123.45"}},
            output_shape("dynamodb", "PutItem"),
            "Field 'CapacityUnits' must be a number",
        ),
        ({"ContentLength": "12"}, output_shape("s3", "GetObject"), "Field 'ContentLength' must be a number"),
        (
            {"StorageClass": "NOPE"},
            output_shape("s3", "GetObject"),
            "Field 'StorageClass' is not an expected value",
        ),
        ({"CiphertextBlob": 1}, output_shape("kms", "Encrypt"), "Field 'CiphertextBlob' must be a string"),
        (
            {"CiphertextBlob": ""},
            output_shape("kms", "Encrypt"),
            "Field 'CiphertextBlob' is smaller than the minimum length",
        ),
        (
            {"Configuration": {"MemorySize": 1}},
            output_shape("lambda", "GetFunction"),
            "Field 'MemorySize' is less than the minimum value",
        ),
        (
            {"Configuration": {"MemorySize": 99999}},
            output_shape("lambda", "GetFunction"),
            "Field 'MemorySize' exceeds the maximum value",
        ),
    ],
)
def test_a_field_that_does_not_fit_the_model_is_refused(
    result: Any, shape: Any, message: str, mode: str
) -> None:
    assert refusal(result, shape, mode) == f"Mock result schema validation error: {message}"


def test_strict_requires_the_required_fields_and_present_does_not() -> None:
    for result in ({}, {"executionArn": "arn", "startDate": "today"}):
        assert refusal(result, START_EXECUTION) == (
            "Mock result schema validation error: Required field 'ExecutionArn' is missing"
        )
        validation.validate_result(result, START_EXECUTION, "PRESENT")


@pytest.mark.parametrize("mode", validation.MODES)
@pytest.mark.parametrize(
    "result, shape",
    [
        ({"random": "json"}, PUT_EVENTS),  # a field the model does not have is not checked
        ({}, PUT_EVENTS),
        # The lambda:invoke mock AWS accepts with STRICT: Payload a string, SdkHttpMetadata unknown.
        ({"Payload": "function output", "SdkHttpMetadata": {"HttpStatusCode": 200}}, LAMBDA),
        ({"StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": "{}"}, LAMBDA),
    ],
)
def test_what_aws_accepts_passes(result: Any, shape: Any, mode: str) -> None:
    validation.validate_result(result, shape, mode)


def test_none_checks_nothing() -> None:
    validation.validate_result({"ExecutionArn": "arn", "StartDate": True}, START_EXECUTION, "NONE")
    validation.validate_result({"StatusCode": "200", "Payload": {"a": 1}}, LAMBDA, "NONE")


def test_every_test_state_member_of_botocore_is_honoured_or_refused() -> None:
    members = set(
        _session.get_service_model("stepfunctions").operation_model("TestState").input_shape.members
    )
    handled = set(validation.TEST_STATE_HONOURED) | set(validation.TEST_STATE_REFUSED)
    assert members == handled, f"not handled: {members - handled}; gone from the model: {handled - members}"
    assert not set(validation.TEST_STATE_HONOURED) & set(validation.TEST_STATE_REFUSED)
