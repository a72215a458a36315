"""Lambda API edges where the embedded cloud used to pass what AWS refuses (issue 22 items 2 and 5).

Each test names the recorded AWS answer (or AWS documentation) it holds the embedded cloud to.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness import ownership
from harness.config import Settings
from harness.targets.registry import target_for
from tests.support.lambda_zip import ROLE_ARN, deploy, ensure_role, iam_for, zip_source

pytestmark = pytest.mark.e2e

SIZED = """
def handler(event, context):
    print("generating bytes")
    return "a" * event["bytenum"]
"""

ECHO = """
def handler(event, context):
    return event
"""

DEPRECATED = (
    "The runtime parameter of python3.8 is no longer supported for creating or updating AWS Lambda "
    "functions. We recommend you use a supported runtime while creating or updating functions."
)


@pytest.fixture(scope="module")
def lam(embedded_cloud: Settings) -> Any:
    return target_for(embedded_cloud).client("lambda")


def test_response_over_6_mb_is_function_response_size_too_large(lam: Any) -> None:
    # AWS (LocalStack's AWS-validated snapshot tests/aws/services/lambda_/test_lambda.snapshot.json,
    # TestLambdaBaseFeatures::test_lambda_too_large_response, validated 2025-11-24): a 7 MB response
    # is FunctionError "Unhandled" with this payload, twice in a row (the environment survives).
    name = deploy(lam, SIZED, prefix="big", timeout=30, memory=512)
    for _ in range(2):
        result = lam.invoke(FunctionName=name, Payload=json.dumps({"bytenum": 7 * 1024 * 1024}).encode())
        assert result.get("FunctionError") == "Unhandled"
        assert json.loads(result["Payload"].read()) == {
            "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
            "errorType": "Function.ResponseSizeTooLarge",
        }
    # A 6 MiB response passes (the same snapshot file, test_lambda_large_response).
    result = lam.invoke(FunctionName=name, Payload=json.dumps({"bytenum": 6 * 1024 * 1024}).encode())
    body = result["Payload"].read()
    assert "FunctionError" not in result, body[:500]
    assert len(json.loads(body)) == 6 * 1024 * 1024


def test_request_payload_limits_per_invocation_type(lam: Any) -> None:
    # AWS answers a 7 MB synchronous Invoke with RequestEntityTooLargeException (413), "Request must be
    # smaller than 6291456 bytes for the InvokeFunction operation" (quoted from AWS in
    # https://zaccharles.medium.com/deep-dive-lambdas-request-payload-size-limit-2-2-6350c1ae5577);
    # the Invoke API reference: 6 MB synchronous, 1 MB asynchronous.
    name = deploy(lam, ECHO, prefix="req", timeout=30, memory=512)
    with pytest.raises(ClientError) as sync:
        lam.invoke(FunctionName=name, Payload=json.dumps("a" * (7 * 1024 * 1024)).encode())
    error = sync.value.response["Error"]
    assert sync.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert (error["Code"], error["Message"]) == (
        "RequestEntityTooLargeException",
        "Request must be smaller than 6291456 bytes for the InvokeFunction operation",
    )
    with pytest.raises(ClientError) as event:
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps("a" * 1_100_000).encode())
    assert event.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert "1048576 bytes" in event.value.response["Error"]["Message"]
    # Under each limit the call goes through.
    accepted = lam.invoke(
        FunctionName=name, InvocationType="Event", Payload=json.dumps("a" * 900_000).encode()
    )
    assert accepted["StatusCode"] == 202
    five_mb = json.dumps("a" * (5 * 1024 * 1024)).encode()
    assert lam.invoke(FunctionName=name, Payload=five_mb)["Payload"].read() == five_mb


def test_python38_is_refused_on_create_and_on_update(lam: Any) -> None:
    # AWS's recorded refusal of a blocked runtime (LocalStack's AWS-validated snapshot
    # tests/aws/services/lambda_/test_lambda_api.snapshot.json, TestRuntimeValidation::
    # test_create_deprecated_function_runtime_with_validation_enabled, recorded 2026-01-12); python3.8 is
    # past both block dates in AWS's deprecation table (create 2025-02-28, update 2025-03-31).
    name = f"old-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ClientError) as create:
        lam.create_function(
            FunctionName=name,
            Runtime="python3.8",
            Role=ROLE_ARN,
            Handler="app.handler",
            Code={"ZipFile": zip_source(ECHO)},
        )
    assert create.value.response["Error"] == {"Code": "InvalidParameterValueException", "Message": DEPRECATED}
    assert create.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=name)

    current = deploy(lam, ECHO, prefix="upd38")
    with pytest.raises(ClientError) as update:
        lam.update_function_configuration(FunctionName=current, Runtime="python3.8")
    assert update.value.response["Error"] == {"Code": "InvalidParameterValueException", "Message": DEPRECATED}
    config = lam.get_function_configuration(FunctionName=current)
    assert (config["Runtime"], config["State"], config["LastUpdateStatus"]) == (
        "python3.11",
        "Active",
        "Successful",
    )


def test_a_deleted_functions_tags_do_not_pass_to_a_new_one(lam: Any) -> None:
    # AWS: tags belong to the function (TagResource/ListTags take its ARN); a function created again under
    # the same name has only the tags of its CreateFunction (LocalStack fixed this after 4.9.2,
    # localstack/localstack#13770). Here that means a user's function never looks harness-owned.
    name = f"tags-{uuid.uuid4().hex[:8]}"
    kwargs = {
        "FunctionName": name,
        "Runtime": "python3.11",
        "Role": ROLE_ARN,
        "Handler": "app.handler",
        "Code": {"ZipFile": zip_source(ECHO)},
    }
    active = lam.get_waiter("function_active_v2")
    arn = lam.create_function(**kwargs, Tags=ownership.lambda_tags())["FunctionArn"]
    active.wait(FunctionName=name)
    assert ownership.function_owned(lam.get_function(FunctionName=name))
    lam.delete_function(FunctionName=name)
    lam.create_function(**kwargs)  # someone else's function, same name, no tags
    active.wait(FunctionName=name)
    assert lam.list_tags(Resource=arn)["Tags"] == {}
    assert not ownership.function_owned(lam.get_function(FunctionName=name))
    lam.delete_function(FunctionName=name)


# A role Step Functions may assume that allows nothing on Lambda.
NO_LAMBDA = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}],
}


@pytest.mark.parametrize("form", ["lambda:invoke", "function ARN"])
def test_refused_lambda_task_is_lambda_awslambdaexception(
    embedded_cloud: Settings, lam: Any, form: str
) -> None:
    # https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html: Lambda errors
    # are reported as Lambda.<exception> with the SDK's names; an AccessDeniedException is not in
    # Lambda's model, so it is the SDK's Lambda.AWSLambdaException (as a public AWS execution shows),
    # which the console's exported Retry blocks match. For both task forms.
    sfn = target_for(embedded_cloud).client("stepfunctions")
    function_arn = lam.get_function(FunctionName=deploy(lam, ECHO, prefix="sfnacl"))["Configuration"][
        "FunctionArn"
    ]
    role = ensure_role(iam_for(lam), f"e2e-sfn-nolambda-{uuid.uuid4().hex[:6]}", NO_LAMBDA)
    if form == "lambda:invoke":
        task = {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": function_arn, "Payload.$": "$"},
        }
    else:
        task = {"Type": "Task", "Resource": function_arn}
    task["Catch"] = [{"ErrorEquals": ["Lambda.AWSLambdaException"], "Next": "Refused"}]
    definition = {
        "StartAt": "Invoke",
        "States": {"Invoke": {**task, "End": True}, "Refused": {"Type": "Fail", "Error": "WasRefused"}},
    }
    machine = sfn.create_state_machine(
        name=f"e2e-acl-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=role
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    deadline = time.monotonic() + 60
    while sfn.describe_execution(executionArn=execution)["status"] == "RUNNING":
        assert time.monotonic() < deadline, "execution still RUNNING after 60 s"
        time.sleep(0.1)
    described = sfn.describe_execution(executionArn=execution)
    assert (described["status"], described.get("error")) == ("FAILED", "WasRefused")
    events = sfn.get_execution_history(executionArn=execution)["events"]
    failed = [
        e.get("taskFailedEventDetails") or e.get("lambdaFunctionFailedEventDetails")
        for e in events
        if e["type"] in ("TaskFailed", "LambdaFunctionFailed")
    ]
    assert len(failed) == 1 and failed[0]["error"] == "Lambda.AWSLambdaException"
    assert "is not authorized to perform: lambda:InvokeFunction" in failed[0]["cause"]
    assert "(Service: AWSLambda; Status Code: 403; Error Code: AccessDeniedException;" in failed[0]["cause"]
