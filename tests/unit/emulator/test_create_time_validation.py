"""What the emulator refuses at create time, and how it words requests botocore would not have sent."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.unit.emulator.support import ROLE, TEST_IMAGE, deploy, put_model, unique


def raw_call(emulator: Any, operation: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """A JSON 1.1 call without botocore's client-side validation (what another SDK or curl sends)."""
    req = urllib.request.Request(
        emulator.url + "/",
        data=body,
        method="POST",
        headers={"X-Amz-Target": f"SageMaker.{operation}", "Content-Type": "application/x-amz-json-1.1"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_a_missing_member_is_worded_as_aws_words_it(emulator):
    # AWS's JSON protocol services answer a missing required member with this sentence (e.g. a recorded
    # CreateModel without ModelName: "1 validation error detected: Value null at 'modelName' failed to
    # satisfy constraint: Member must not be null").
    status, body = raw_call(
        emulator, "CreateModel", b'{"ExecutionRoleArn": "arn:aws:iam::123456789012:role/x"}'
    )
    assert status == 400 and body["__type"] == "ValidationException"
    assert body["message"] == (
        "1 validation error detected: Value null at 'modelName' failed to satisfy constraint: "
        "Member must not be null"
    )


def test_minimums_are_worded_as_aws_words_them(emulator):
    # AWS's constraint wording (botocore's model: TrainingJobName min 1, ListModels MaxResults min 1).
    status, body = raw_call(emulator, "DescribeTrainingJob", b'{"TrainingJobName": ""}')
    assert status == 400
    assert (
        "Value '' at 'trainingJobName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1" in body["message"]
    )
    status, body = raw_call(emulator, "ListModels", b'{"MaxResults": 0}')
    assert status == 400 and body["message"] == (
        "1 validation error detected: Value '0' at 'maxResults' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1"
    )


@pytest.mark.parametrize(
    ("operation", "body", "message"),
    [
        ("DescribeModel", b'{"ModelName": 5}', "NUMBER_VALUE can not be converted to a String"),
        ("CreateModel", b'{"ModelName": "m", "PrimaryContainer": "x"}', "STRING_VALUE can not be converted"),
        ("ListModels", b'{"MaxResults": "ten"}', "STRING_VALUE can not be converted to an Integer"),
        ("ListModels", b'{"NameContains": {"a": 1}}', "Start of structure or map found where not expected."),
        ("ListModels", b'{"CreationTimeAfter": "soon"}', "STRING_VALUE can not be converted to a Date"),
        ("ListModels", b"[1]", "Request body must be a JSON object"),
        ("ListModels", b"null", "Request body must be a JSON object"),
    ],
    ids=[
        "number-for-string",
        "string-for-structure",
        "string-for-integer",
        "object-for-string",
        "not-a-time",
        "top-level-list",
        "top-level-null",
    ],
)
def test_a_wrong_type_is_a_serialization_exception_not_a_500(emulator, operation, body, message):
    # AWS JSON 1.1 (Coral) answers a value of the wrong JSON type with SerializationException (400).
    status, answer = raw_call(emulator, operation, body)
    assert status == 400 and answer["__type"] == "SerializationException"
    assert message in answer["message"]


def test_create_model_refuses_model_data_that_is_not_there(sm, bucket):
    # AWS: "api error ValidationException: Could not find model data at s3://.../model.tar.gz." at
    # CreateModel (recorded responses, e.g. Terraform's aws_sagemaker_model against an empty bucket).
    url = f"s3://{bucket}/{unique('nothing')}/model.tar.gz"
    with pytest.raises(ClientError) as err:
        sm.create_model(
            ModelName=unique("m"),
            PrimaryContainer={"Image": TEST_IMAGE, "ModelDataUrl": url},
            ExecutionRoleArn=ROLE,
        )
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert err.value.response["Error"]["Message"] == f"Could not find model data at {url}."


def test_create_model_refuses_an_empty_uncompressed_model_prefix(sm, bucket):
    prefix = f"s3://{bucket}/{unique('empty')}/"
    source = {"S3DataSource": {"S3Uri": prefix, "S3DataType": "S3Prefix", "CompressionType": "None"}}
    with pytest.raises(ClientError, match=f"Could not find model data at {prefix}"):
        sm.create_model(
            ModelName=unique("m"),
            PrimaryContainer={"Image": TEST_IMAGE, "ModelDataSource": source},
            ExecutionRoleArn=ROLE,
        )


def _model(sm: Any, s3: Any, bucket: str) -> str:
    name = unique("m")
    sm.create_model(
        ModelName=name,
        PrimaryContainer={"Image": TEST_IMAGE, "ModelDataUrl": put_model(s3, bucket, "v1")},
        ExecutionRoleArn=ROLE,
    )
    return name


def test_serverless_and_async_endpoint_configs_are_refused_not_served_on_an_instance(sm, s3, bucket):
    model = _model(sm, s3, bucket)
    serverless = {
        "VariantName": "AllTraffic",
        "ModelName": model,
        "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 1},
    }
    with pytest.raises(ClientError, match="does not emulate serverless inference"):
        sm.create_endpoint_config(EndpointConfigName=unique("cfg"), ProductionVariants=[serverless])
    instance = {
        "VariantName": "AllTraffic",
        "ModelName": model,
        "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large",
    }
    with pytest.raises(ClientError, match="does not emulate asynchronous inference"):
        sm.create_endpoint_config(
            EndpointConfigName=unique("cfg"),
            ProductionVariants=[instance],
            AsyncInferenceConfig={"OutputConfig": {"S3OutputPath": f"s3://{bucket}/async"}},
        )


def test_async_and_streaming_invocations_of_a_real_time_endpoint_are_validation_errors(sm, smr, s3, bucket):
    name = unique("ep-rt")
    deploy(sm, name, put_model(s3, bucket, "v1"))
    with pytest.raises(ClientError) as err:
        smr.invoke_endpoint_async(EndpointName=name, InputLocation=f"s3://{bucket}/in.json")
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "is not an async inference endpoint" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        smr.invoke_endpoint_with_response_stream(
            EndpointName=name, Body=b"{}", ContentType="application/json"
        )
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "does not support streaming" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        smr.invoke_endpoint_async(EndpointName=unique("nope"), InputLocation=f"s3://{bucket}/in.json")
    assert "not found" in err.value.response["Error"]["Message"]
    sm.delete_endpoint(EndpointName=name)
