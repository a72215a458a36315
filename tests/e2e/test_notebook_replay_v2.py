"""Issue 12's checks on the embedded cloud, configured only by `harness env`.

* The Scones Unlimited notebook on SageMaker SDK v2, as public solutions write it (built-in image URI,
  Estimator with the four channels of ``application/x-image``, fit, deploy with DataCaptureConfig,
  Predictor with IdentitySerializer, the capture read back with S3Downloader and jsonlines), every
  SageMaker response checked against botocore's output shape.
* Plain boto3 and the AWS CLI reach SageMaker and its runtime through LocalStack's main port alone.
* A function created with plain ``create_function`` (no environment at all) calls InvokeEndpoint.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import sys
import uuid
import zipfile
from importlib import metadata

import boto3
import pytest

from harness.config import Settings
from tests.e2e.notebook_support import stage_and_replay

pytestmark = pytest.mark.e2e

sagemaker = pytest.importorskip("sagemaker", reason="the SageMaker Python SDK is a dev dependency")
if int(metadata.version("sagemaker").split(".")[0]) != 2:
    pytest.skip(
        f"SDK v2 replay; this environment has sagemaker {metadata.version('sagemaker')}",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def notebook(embedded_cloud: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Stage a tiny separable set with the harness, print `harness env`, replay the notebook once."""
    tmp = tmp_path_factory.mktemp("notebook-v2")
    settings = embedded_cloud.replace(bucket=f"notebook-v2-{uuid.uuid4().hex[:6]}")
    return stage_and_replay(settings, tmp, "scones_v2.py")


def test_the_v2_notebook_trains_deploys_predicts_and_reads_its_capture(notebook: dict) -> None:
    out = notebook["notebook"]
    assert out["image"].endswith("/image-classification:1")
    assert out["model_data"].startswith(f"s3://{notebook['settings'].bucket}/models/image_model/")
    probs = out["inference"]
    assert len(probs) == 2 and sum(probs) == pytest.approx(1.0, abs=1e-4)
    assert probs[0] > probs[1], "test_000000 is a (reddish) bicycle"
    assert out["records"], "the capture should be readable with S3Downloader + jsonlines"
    captured, inference_time, content_type = out["records"][0]
    assert captured == pytest.approx(probs) and content_type == "image/png" and inference_time.endswith("Z")
    assert "telemetry" not in notebook["stderr"].lower(), "harness env's SDK config opts out of telemetry"


def test_every_sagemaker_response_matches_botocores_output_shape(notebook: dict) -> None:
    checked = notebook["responses"]["checked"]
    for operation in (
        "sagemaker.CreateTrainingJob",
        "sagemaker.DescribeTrainingJob",
        "sagemaker.CreateModel",
        "sagemaker.CreateEndpointConfig",
        "sagemaker.CreateEndpoint",
        "sagemaker.DescribeEndpoint",
        "sagemaker-runtime.InvokeEndpoint",
    ):
        assert checked.get(operation), (operation, checked)
    assert notebook["responses"]["problems"] == []


def test_boto3_and_the_cli_reach_sagemaker_through_the_main_port_alone(notebook: dict) -> None:
    printed, settings = notebook["printed"], notebook["settings"]
    assert printed["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{settings.localstack_port}"
    assert not [k for k in printed if k.startswith("AWS_ENDPOINT_URL_")], "one endpoint, no per-service ones"
    endpoint, key = notebook["notebook"]["endpoint"], notebook["notebook"]["test_key"]
    script = f"""
import boto3, json
names = [e["EndpointName"] for e in boto3.client("sagemaker").list_endpoints()["Endpoints"]]
body = boto3.client("s3").get_object(Bucket={settings.bucket!r}, Key={key!r})["Body"].read()
runtime = boto3.client("runtime.sagemaker")
out = runtime.invoke_endpoint(EndpointName={endpoint!r}, ContentType="image/png", Body=body)
print(json.dumps({{"names": names, "probs": json.loads(out["Body"].read())}}))
"""
    ran = subprocess.run(
        [sys.executable, "-c", script], env=notebook["env"], capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    got = json.loads(ran.stdout)
    assert endpoint in got["names"]
    assert got["probs"] == pytest.approx(notebook["notebook"]["inference"], abs=1e-5)
    aws = shutil.which("aws", path=notebook["env"]["PATH"])
    if aws is None:
        pytest.skip("the AWS CLI is not installed here; boto3 above went through the main port")
    cli = subprocess.run(
        [aws, "sagemaker", "describe-endpoint", "--endpoint-name", endpoint, "--output", "json"],
        env=notebook["env"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert json.loads(cli.stdout)["EndpointStatus"] == "InService"


HANDLER = """
import base64
import json

import boto3

runtime = boto3.client("runtime.sagemaker")


def lambda_handler(event, context):
    response = runtime.invoke_endpoint(
        EndpointName=event["endpoint"], ContentType="image/png", Body=base64.b64decode(event["image_data"])
    )
    return {"statusCode": 200, "inferences": json.loads(response["Body"].read())}
"""


def test_a_function_created_with_plain_create_function_calls_invoke_endpoint(notebook: dict) -> None:
    """No Environment at all: the function only has what the Lambda service gives every function."""
    env, settings = notebook["printed"], notebook["settings"]
    session = boto3.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_REGION"],
    )
    url = env["AWS_ENDPOINT_URL"]
    iam, lam, s3 = (session.client(s, endpoint_url=url) for s in ("iam", "lambda", "s3"))
    endpoint, key = notebook["notebook"]["endpoint"], notebook["notebook"]["test_key"]
    name = f"someone-elses-classifier-{uuid.uuid4().hex[:6]}"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    allow = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sagemaker:InvokeEndpoint",
                "Resource": f"arn:aws:sagemaker:{env['AWS_REGION']}:000000000000:endpoint/{endpoint}",
            },
            {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "*"},
        ],
    }
    iam.put_role_policy(RoleName=name, PolicyName="invoke", PolicyDocument=json.dumps(allow))
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        info = zipfile.ZipInfo("lambda_function.py")
        info.external_attr = (
            0o644 << 16
        )  # readable by all, as AWS requires (the sandbox user is not the owner)
        archive.writestr(info, HANDLER)
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler="lambda_function.lambda_handler",
        Code={"ZipFile": code.getvalue()},
        Timeout=30,
    )
    try:
        lam.get_waiter("function_active_v2").wait(
            FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150}
        )
        image = s3.get_object(Bucket=settings.bucket, Key=key)["Body"].read()
        event = {"endpoint": endpoint, "image_data": base64.b64encode(image).decode()}
        response = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
        payload = json.loads(response["Payload"].read())
        assert "FunctionError" not in response, payload
        assert payload["inferences"] == pytest.approx(notebook["notebook"]["inference"], abs=1e-5)
    finally:
        lam.delete_function(FunctionName=name)
        iam.delete_role_policy(RoleName=name, PolicyName="invoke")
        iam.delete_role(RoleName=name)
