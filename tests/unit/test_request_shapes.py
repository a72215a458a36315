"""Parity by construction: the aws target sends exactly what the local target sends.

The same driver (execution role, CreateTrainingJob, the endpoint, ``harness deploy``) runs once
against the local target, whose clients talk HTTP to a real moto server on 127.0.0.1 (as they talk
to LocalStack and the emulator), and once against the aws target, whose clients talk to AWS's own
endpoints, intercepted in-process by moto. Every API call's parameters are recorded as botocore
builds them (``provide-client-params``), and the two recordings must be identical once account IDs
are masked and the local functions' endpoint variables are set aside. Nothing is stubbed on the
harness side: the requests come from the functions ``harness run`` uses.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

from harness import deploy, jobs, model, policies, workflow
from harness.config import Settings
from harness.targets.base import Target
from harness.targets.registry import target_for

Call = tuple[str, str, dict[str, Any]]
JOB = "scones-ic-0123456789abcdef"
ACCOUNT = re.compile(r"(?<!\d)\d{12}(?!\d)")


def _credentials(mp: pytest.MonkeyPatch) -> None:
    """Dummy keys so the aws target's credential check passes; moto answers every call."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER"):
        mp.delenv(name, raising=False)
    mp.setenv("AWS_ACCESS_KEY_ID", "testing")
    mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")


def _record_clients(mp: pytest.MonkeyPatch, calls: list[Call]) -> None:
    """Every client a Target builds records (service, operation, params) of each call it makes."""
    original = Target.client

    def recording_client(self: Target, service: str, session: Any = None, **kwargs: Any) -> Any:
        client = original(self, service, session=session, **kwargs)

        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            calls.append((service, model.name, copy.deepcopy(params)))

        client.meta.events.register("provide-client-params.*.*", record)
        return client

    mp.setattr(Target, "client", recording_client)


@pytest.fixture(scope="module")
def recorder() -> Iterator[list[Call]]:
    calls: list[Call] = []
    with pytest.MonkeyPatch.context() as mp:
        _credentials(mp)
        _record_clients(mp, calls)
        yield calls


def drive(settings: Settings) -> None:
    """What ``harness run`` does between staging and the executions, on ``settings.target``."""
    target = target_for(settings)
    role = workflow.sagemaker_role(target)
    sm, logs = target.client("sagemaker"), target.client("logs")
    request = model.training_job_request(settings, JOB, role, num_training_samples=1000)
    trained = jobs.train(sm, logs, request, poll_s=0)
    jobs.deploy_endpoint(sm, settings, trained, role)
    target.client("s3").create_bucket(Bucket=settings.bucket)  # `harness stage` creates it
    deploy.deploy(settings, target)


def record_local(settings: Settings, calls: list[Call]) -> list[Call]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        _, port = server.get_host_and_port()
        calls.clear()
        drive(settings.replace(target="local", localstack_port=port, sagemaker_port=port))
        return list(calls)
    finally:
        server.stop()


def record_aws(settings: Settings, calls: list[Call]) -> list[Call]:
    with mock_aws():
        calls.clear()
        drive(settings.replace(target="aws"))
        return list(calls)


def normalise(value: Any) -> Any:
    """Mask account IDs (the only ARN part that differs) and fingerprint zip bytes."""
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalise(v) for v in value]
    if isinstance(value, bytes):
        return "sha256:" + hashlib.sha256(value).hexdigest()
    if isinstance(value, str):
        return ACCOUNT.sub("<account>", value)
    return value


def endpoint_variables(call: Call) -> dict[str, str]:
    env = call[2].get("Environment", {}).get("Variables", {})
    return {k: v for k, v in env.items() if k.startswith("AWS_ENDPOINT_URL")}


def without_endpoint_variables(call: Call) -> Call:
    service, op, params = call
    if "Environment" in params:
        params = copy.deepcopy(params)
        variables = params["Environment"]["Variables"]
        for key in list(variables):
            if key.startswith("AWS_ENDPOINT_URL"):
                del variables[key]
    return service, op, params


def only(calls: list[Call], operation: str) -> list[dict[str, Any]]:
    return [params for _, op, params in calls if op == operation]


@pytest.fixture(scope="module")
def recordings(recorder: list[Call]) -> tuple[list[Call], list[Call]]:
    settings = Settings(bucket="scones-parity", data_prefix="data", epochs=30)
    return record_local(settings, recorder), record_aws(settings, recorder)


def comparable(calls: list[Call]) -> list[Call]:
    """Without the account lookup (the aws target asks STS for the account its ARNs need; locally the
    account is LocalStack's fixed one) and without the local functions' endpoint variables."""
    return [without_endpoint_variables(c) for c in calls if c[1] != "GetCallerIdentity"]


def test_aws_sends_exactly_what_local_sends_apart_from_endpoints_and_accounts(recordings) -> None:
    local, aws = recordings
    assert only(local, "GetCallerIdentity") == [] and only(aws, "GetCallerIdentity") != []
    assert [op for _, op, _ in comparable(local)] == [op for _, op, _ in comparable(aws)]
    assert len(comparable(local)) > 20  # roles, training, model/config/endpoint, functions, state machine
    assert normalise(comparable(local)) == normalise(comparable(aws))


def test_functions_get_endpoint_variables_only_on_local(recordings) -> None:
    local, aws = recordings
    local_fns = [c for c in local if c[1] == "CreateFunction"]
    aws_fns = [c for c in aws if c[1] == "CreateFunction"]
    assert [c[2]["FunctionName"] for c in aws_fns] == list(deploy.FUNCTIONS)
    for call in aws_fns:
        assert endpoint_variables(call) == {}, call[2]["FunctionName"]
        assert call[2]["Environment"]["Variables"]["ENDPOINT_NAME"] == "scones-image-classifier"
    for call in local_fns:
        # One endpoint: SageMaker through LocalStack's gateway, where IAM is evaluated.
        assert set(endpoint_variables(call)) == {"AWS_ENDPOINT_URL"}


def test_training_job_request_on_aws(recordings) -> None:
    _, aws = recordings
    (job,) = only(aws, "CreateTrainingJob")
    assert job["TrainingJobName"] == JOB
    assert job["AlgorithmSpecification"] == {
        "TrainingImage": "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1",
        "TrainingInputMode": "File",
    }
    assert job["ResourceConfig"] == {"InstanceType": "ml.p2.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5}
    channels = {c["ChannelName"]: c for c in job["InputDataConfig"]}
    assert {name: c["DataSource"]["S3DataSource"]["S3Uri"] for name, c in channels.items()} == {
        "train": "s3://scones-parity/data/train/",
        "validation": "s3://scones-parity/data/test/",
        "train_lst": "s3://scones-parity/data/train.lst",
        "validation_lst": "s3://scones-parity/data/test.lst",
    }
    assert {c["ContentType"] for c in channels.values()} == {"application/x-image"}
    assert job["HyperParameters"] == {
        "num_classes": "2",
        "num_training_samples": "1000",
        "image_shape": "3,32,32",
        "epochs": "30",
    }
    assert job["OutputDataConfig"] == {"S3OutputPath": "s3://scones-parity/models"}
    assert re.fullmatch(r"arn:aws:iam::\d{12}:role/scones-sagemaker-role", job["RoleArn"])


def test_endpoint_requests_on_aws(recordings) -> None:
    _, aws = recordings
    (config,) = only(aws, "CreateEndpointConfig")
    assert config["DataCaptureConfig"] == {
        "EnableCapture": True,
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": "s3://scones-parity/data_capture",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
    }
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.m5.xlarge"
    (created,) = only(aws, "CreateModel")
    assert created["PrimaryContainer"]["Image"].endswith("/image-classification:1")
    assert created["PrimaryContainer"]["ModelDataUrl"].startswith("s3://scones-parity/models/")
    (endpoint,) = only(aws, "CreateEndpoint")
    assert endpoint == {"EndpointName": "scones-image-classifier", "EndpointConfigName": f"{JOB}-config"}


def test_iam_policies_are_the_same_documents_on_both_targets(recordings) -> None:
    local, aws = recordings
    put_local, put_aws = only(local, "PutRolePolicy"), only(aws, "PutRolePolicy")
    assert [p["RoleName"] for p in put_aws] == [
        "scones-sagemaker-role",
        "scones-lambda-role",
        "scones-states-role",
        "scones-events-role",
    ]
    assert normalise(put_local) == normalise(put_aws)
    import json

    # EventBridge may start the classification state machine, and nothing else.
    (targets,) = only(aws, "PutTargets")
    events_doc = json.loads(put_aws[3]["PolicyDocument"])
    assert events_doc == policies.events_policy(targets["Targets"][0]["Arn"])

    sagemaker_doc = json.loads(put_aws[0]["PolicyDocument"])
    account = ACCOUNT.search(json.dumps(sagemaker_doc)).group(0)
    assert sagemaker_doc == policies.sagemaker_execution_policy(
        bucket="scones-parity", region="us-east-1", account=account
    )
    trusts = {r["RoleName"]: json.loads(r["AssumeRolePolicyDocument"]) for r in only(aws, "CreateRole")}
    assert trusts["scones-sagemaker-role"] == policies.trust_policy("sagemaker.amazonaws.com")
    assert trusts["scones-lambda-role"] == policies.trust_policy("lambda.amazonaws.com")


def test_the_project_image_is_sent_the_same_way(recorder: list[Call]) -> None:
    """algorithm 'image': the ECR image goes into CreateTrainingJob and CreateModel on both targets."""
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/scones-training:1"
    settings = Settings(bucket="scones-parity", algorithm="image", training_image=image)
    local, aws = record_local(settings, recorder), record_aws(settings, recorder)
    for calls in (local, aws):
        assert only(calls, "CreateTrainingJob")[0]["AlgorithmSpecification"]["TrainingImage"] == image
        assert only(calls, "CreateModel")[0]["PrimaryContainer"]["Image"] == image
    assert normalise(comparable(local)) == normalise(comparable(aws))
