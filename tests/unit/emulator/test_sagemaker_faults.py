"""Faults on demand (/_emulator/faults): endpoint errors, latency, counts and rates, failed training jobs.

Driven like users drive the emulator: boto3 for SageMaker, the harness's fault client for the rules.
A faulted invocation never reaches the model, so it is not captured, as on AWS.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError, WaiterError

from harness import faults
from harness.config import Settings
from harness.targets.base import Target
from harness.targets.local import LocalTarget
from tests.unit.emulator.support import CREDS, deploy, put_model, training_request, unique
from tests.unit.emulator.test_sagemaker_capture import capture_config, capture_records
from tests.unit.emulator.test_sagemaker_training import FAST, data  # noqa: F401 - the data fixture

NO_RETRIES = botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"})


@pytest.fixture
def target(emulator: Any) -> Target:
    return LocalTarget(settings=Settings(), main_url="http://127.0.0.1:1", sagemaker_url=emulator.url)


@pytest.fixture
def runtime(emulator: Any) -> Any:
    return boto3.client("sagemaker-runtime", endpoint_url=emulator.url, config=NO_RETRIES, **CREDS)


@pytest.fixture(autouse=True)
def _no_faults_left(target: Target):
    yield
    faults.clear_faults(target)


def _invoke(smr: Any, name: str) -> bytes:
    return smr.invoke_endpoint(EndpointName=name, Body=b'{"x": 1}', ContentType="application/json")[
        "Body"
    ].read()


def test_errors_for_the_next_n_requests_then_normal_and_not_captured(
    sm: Any, runtime: Any, s3: Any, bucket: str, target: Target, emulator: Any
) -> None:
    name, prefix = unique("faulty"), unique("capture")
    deploy(sm, name, put_model(s3, bucket, "v1"), capture=capture_config(bucket, prefix))
    faults.add_endpoint_fault(target, endpoint=name, error="ModelError", count=1, status=500, message="boom")
    faults.add_endpoint_fault(target, endpoint=name, error="ThrottlingException", count=1)
    faults.add_endpoint_fault(target, endpoint=name, error="ServiceUnavailable", count=1)

    codes = []
    for _ in range(3):
        with pytest.raises(ClientError) as info:
            _invoke(runtime, name)
        codes.append(
            (info.value.response["Error"]["Code"], info.value.response["ResponseMetadata"]["HTTPStatusCode"])
        )
        if codes[-1][0] == "ModelError":
            error = info.value.response
            assert error["OriginalStatusCode"] == 500 and error["OriginalMessage"] == "boom"
            assert 'Received server error (500) from primary with message "boom"' in error["Error"]["Message"]
    assert codes == [("ModelError", 424), ("ThrottlingException", 400), ("ServiceUnavailable", 503)]
    assert _invoke(runtime, name)  # the counts are used up
    assert faults.list_faults(target)["endpoints"] == []

    urllib.request.urlopen(urllib.request.Request(f"{emulator.url}/_emulator/capture/flush", method="POST"))
    records = capture_records(s3, bucket, prefix)
    assert len(records) == 1, "only the successful invocation is captured"


def test_latency_and_rate(sm: Any, runtime: Any, s3: Any, bucket: str, target: Target) -> None:
    name = unique("slow")
    deploy(sm, name, put_model(s3, bucket, "v1"))
    faults.add_endpoint_fault(target, endpoint=name, latency_ms=300, count=1)
    started = time.perf_counter()
    _invoke(runtime, name)
    assert time.perf_counter() - started >= 0.3

    rule = faults.add_endpoint_fault(target, endpoint=name, error="ThrottlingException", rate=0.5)["added"]
    outcomes = []
    for _ in range(40):
        try:
            _invoke(runtime, name)
            outcomes.append("ok")
        except ClientError as exc:
            outcomes.append(exc.response["Error"]["Code"])
    assert set(outcomes) == {"ok", "ThrottlingException"}, outcomes  # 40 draws at 0.5: both (p > 1 - 1e-11)
    listed = faults.list_faults(target)["endpoints"]
    assert [r["id"] for r in listed] == [rule["id"]] and listed[0]["hits"] == outcomes.count(
        "ThrottlingException"
    )


def test_botocore_retries_a_throttled_invocation(
    sm: Any, s3: Any, bucket: str, target: Target, emulator: Any
) -> None:
    """As against AWS: boto3's default retry mode retries ThrottlingException, so one throttle is absorbed."""
    name = unique("throttled")
    deploy(sm, name, put_model(s3, bucket, "v1"))
    faults.add_endpoint_fault(target, endpoint=name, error="ThrottlingException", count=1)
    smr = boto3.client("sagemaker-runtime", endpoint_url=emulator.url, **CREDS)
    assert _invoke(smr, name)
    assert faults.list_faults(target)["endpoints"] == []


def test_a_training_job_fails_with_the_given_reason(sm: Any, target: Target, data: str) -> None:  # noqa: F811
    name = unique("job-faulted")
    faults.add_training_fault(target, "ClientError: Please use an instance type with more memory", job=name)
    sm.create_training_job(**training_request(name, data))
    with pytest.raises(WaiterError):
        sm.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=name, WaiterConfig=FAST)
    job = sm.describe_training_job(TrainingJobName=name)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Failed", "Failed")
    assert job["FailureReason"] == "ClientError: Please use an instance type with more memory"
    assert faults.list_faults(target)["training"] == []


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (
            "/endpoint",
            {"error": "Boom"},
            "error must be one of ModelError, ThrottlingException, ServiceUnavailable",
        ),
        ("/endpoint", {"endpoint": "x"}, "needs an error, a latency_ms, or both"),
        ("/endpoint", {"error": "ModelError", "rate": 2}, "rate must be in (0, 1]"),
        ("/endpoint", {"error": "ModelError", "colour": "red"}, "unknown fault field(s) colour"),
        ("/training", {}, "needs a non-empty failure_reason"),
    ],
)
def test_bad_faults_are_refused_naming_the_field(emulator: Any, path: str, body: dict, message: str) -> None:
    request = urllib.request.Request(
        f"{emulator.url}/_emulator/faults{path}", data=json.dumps(body).encode(), method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request)
    assert info.value.code == 400
    assert message in json.loads(info.value.read())["message"]
