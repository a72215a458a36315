"""AWS's limits and result shapes on the embedded cloud: Step Functions input and output size, S3 key
length, and the ``lambda:invoke`` task's result (localstack_plugin/patches/sfn_input_limit.py,
s3_key_length.py, sfn_lambda_result.py)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness.config import Settings
from harness.targets.registry import target_for
from tests.e2e.test_sfn_jsonata_aws import run
from tests.support.lambda_zip import ROLE_ARN, deploy

pytestmark = pytest.mark.e2e

ECHO = """
def handler(event, context):
    return {"echo": event}
"""
PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


@pytest.fixture(scope="module")
def clients(embedded_cloud: Settings) -> tuple[Any, Any, Any]:
    target = target_for(embedded_cloud)
    return target.client("stepfunctions"), target.client("lambda"), target.client("s3")


# Step Functions quotas: 256 KiB for an execution's input. AWS's answer to a bigger one, as an AWS SDK
# user recorded it: ValidationException "1 validation error detected: Value at 'input' failed to satisfy
# constraint: Member must have size less than or equal to 262144 bytes in UTF-8 encoding".
def test_an_execution_input_over_256_kib_is_refused(clients: tuple[Any, Any, Any]) -> None:
    sfn = clients[0]
    machine = sfn.create_state_machine(
        name=f"limit-{uuid.uuid4().hex[:8]}", definition=json.dumps(PASS), roleArn=ROLE_ARN
    )
    payload = json.dumps({"data": "x" * (300 * 1024)})
    with pytest.raises(ClientError) as refused:
        sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input=payload)
    error = refused.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert error["Message"] == (
        "1 validation error detected: Value at 'input' failed to satisfy constraint: Member must have size "
        "less than or equal to 262144 bytes in UTF-8 encoding"
    )
    # Just under the quota, in two-byte characters (the limit counts UTF-8 bytes): accepted.
    fits = json.dumps({"d": "é" * ((262144 - 16) // 2)}, ensure_ascii=False)
    assert len(fits.encode()) <= 262144
    assert sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input=fits)["executionArn"]


# error_handling/test_states_errors.snapshot.json, test_start_large_input: a Pass whose result is over
# the quota fails the execution with States.DataLimitExceeded (LocalStack's own check; proven here).
def test_a_state_output_over_256_kib_is_a_data_limit_error(clients: tuple[Any, Any, Any]) -> None:
    big = {
        "StartAt": "State_1",
        "States": {"State_1": {"Type": "Pass", "Result": {"Arg1": "a" * (257 * 1024)}, "End": True}},
    }
    execution, events = run(clients[0], big)
    assert execution["status"] == "FAILED"
    assert events[-1]["executionFailedEventDetails"] == {
        "error": "States.DataLimitExceeded",
        "cause": "The state/task 'State_1' returned a result with a size exceeding the maximum number of "
        "bytes service limit.",
    }


# services/test_lambda_task_service.snapshot.json, test_invoke: AWS's lambda:invoke result.
def test_a_lambda_invoke_result_has_every_field_aws_gives(clients: tuple[Any, Any, Any]) -> None:
    sfn, lam, _ = clients
    function = deploy(lam, ECHO, prefix="sdk-meta")
    task = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": function, "Payload": {"a": 1}},
        "End": True,
    }
    execution, _ = run(sfn, {"StartAt": "Invoke", "States": {"Invoke": task}})
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    result = json.loads(execution["output"])
    assert sorted(result) == [
        "ExecutedVersion",
        "Payload",
        "SdkHttpMetadata",
        "SdkResponseMetadata",
        "StatusCode",
    ]
    assert (result["ExecutedVersion"], result["Payload"], result["StatusCode"]) == (
        "$LATEST",
        {"echo": {"a": 1}},
        200,
    )
    http = result["SdkHttpMetadata"]
    names = [
        "Connection",
        "Content-Length",
        "Content-Type",
        "Date",
        "X-Amz-Executed-Version",
        "x-amzn-Remapped-Content-Length",
        "x-amzn-RequestId",
        "X-Amzn-Trace-Id",
    ]
    assert sorted(http) == ["AllHttpHeaders", "HttpHeaders", "HttpStatusCode"]
    assert list(http["HttpHeaders"]) == names and sorted(http["AllHttpHeaders"]) == sorted(names)
    assert all(http["AllHttpHeaders"][name] == [http["HttpHeaders"][name]] for name in names)
    assert http["HttpStatusCode"] == 200
    assert http["HttpHeaders"]["X-Amz-Executed-Version"] == "$LATEST"
    assert http["HttpHeaders"]["Content-Type"] == "application/json"
    request_id = result["SdkResponseMetadata"]["RequestId"]
    assert len(request_id) == 36 and http["HttpHeaders"]["x-amzn-RequestId"] == request_id


# S3 user guide, "Naming Amazon S3 objects": a key is at most 1,024 bytes of UTF-8; AWS answers
# KeyTooLongError "Your key is too long" (S3 API reference, error codes), multipart uploads included.
def test_an_s3_key_over_1024_bytes_is_refused_however_written(
    clients: tuple[Any, Any, Any], embedded_cloud: Settings
) -> None:
    s3 = clients[2]
    bucket = f"key-length-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    key = "k" * 1025
    for write in (
        lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"x"),
        lambda: s3.create_multipart_upload(Bucket=bucket, Key=key),
    ):
        with pytest.raises(ClientError) as refused:
            write()
        assert refused.value.response["Error"]["Code"] == "KeyTooLongError"
        assert refused.value.response["Error"]["Message"] == "Your key is too long"
    upload = s3.create_multipart_upload(Bucket=bucket, Key="k" * 1024)
    s3.abort_multipart_upload(Bucket=bucket, Key="k" * 1024, UploadId=upload["UploadId"])
