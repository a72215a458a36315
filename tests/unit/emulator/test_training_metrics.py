"""Training metrics: the built-in image-classification algorithm's and any image's MetricDefinitions,
read from the job's log into DescribeTrainingJob's FinalMetricDataList and CloudWatch metrics.

AWS sources: "Tune an Image Classification Model" (the algorithm's metrics ``train:accuracy`` and
``validation:accuracy``), "Define metrics and environment variables" / AlgorithmSpecification.
MetricDefinitions (Name + Regex, the first group is the value), and the SageMaker Python SDK v2's
``TrainingJobAnalytics``, which reads CloudWatch namespace ``/aws/sagemaker/TrainingJobs`` with the
dimension ``TrainingJobName``.
"""

from __future__ import annotations

import contextlib
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, WaiterError

from sagemaker_emulator import metrics
from tests.unit.emulator.support import REGION, training_request, unique

BUILTIN = "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1"
FAST = {"Delay": 0.2, "MaxAttempts": 300}


@pytest.fixture
def data(s3: Any, bucket: str) -> str:
    for key in ("data/train/bicycle_1.png", "data/train/sub/motorcycle_2.png"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"\x89PNG fake")
    s3.put_object(Bucket=bucket, Key="data/train.lst", Body=b"0\t0\ttrain/bicycle_1.png\n")
    return bucket


def run_job(sm: Any, request: dict[str, Any]) -> dict[str, Any]:
    sm.create_training_job(**request)
    with contextlib.suppress(WaiterError):
        sm.get_waiter("training_job_completed_or_stopped").wait(
            TrainingJobName=request["TrainingJobName"], WaiterConfig=FAST
        )
    return sm.describe_training_job(TrainingJobName=request["TrainingJobName"])


def test_builtin_image_classification_metrics(sm, data):
    name = unique("metrics-builtin")
    request = training_request(name, data)
    request["AlgorithmSpecification"]["TrainingImage"] = BUILTIN
    job = run_job(sm, request)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    final = {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]}
    # The last value of each metric the built-in prints per epoch.
    assert final == {"train:accuracy": pytest.approx(0.75), "validation:accuracy": pytest.approx(0.8)}
    names = [d["Name"] for d in job["AlgorithmSpecification"]["MetricDefinitions"]]
    assert names == ["train:accuracy", "validation:accuracy"]  # the algorithm's own, shown as AWS does


def test_the_requests_definitions_are_echoed_and_used(sm, data):
    name = unique("metrics-own")
    defs = [{"Name": "my:acc", "Regex": r"Validation-accuracy=([0-9.]+)"}]
    request = training_request(name, data)
    request["AlgorithmSpecification"]["MetricDefinitions"] = defs
    job = run_job(sm, request)
    assert job["AlgorithmSpecification"]["MetricDefinitions"] == defs
    assert [(m["MetricName"], m["Value"]) for m in job["FinalMetricDataList"]] == [
        ("my:acc", pytest.approx(0.8))
    ]


def test_a_regex_without_a_value_group_is_refused(sm, data):
    request = training_request(unique("metrics-bad"), data)
    request["AlgorithmSpecification"]["MetricDefinitions"] = [{"Name": "acc", "Regex": "accuracy=[0-9.]+"}]
    with pytest.raises(ClientError) as err:
        sm.create_training_job(**request)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert "no capturing group" in err.value.response["Error"]["Message"]


def test_a_definition_replaces_the_builtins_of_the_same_name():
    algo = {"TrainingImage": BUILTIN, "MetricDefinitions": [{"Name": "train:accuracy", "Regex": "acc=(.*)"}]}
    assert [d["Name"] for d in metrics.definitions(algo)] == ["validation:accuracy", "train:accuracy"]
    assert metrics.definitions({"TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/other"}) == []


sagemaker = pytest.importorskip("sagemaker", reason="the SageMaker Python SDK v2 is a dev dependency")


def test_sdk_training_job_analytics_reads_the_metrics(monkeypatch, moto_url, sm, smr, data):
    from sagemaker.analytics import TrainingJobAnalytics

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)  # CloudWatch: moto's, as the emulator's own
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    name = unique("metrics-sdk")
    request = training_request(name, data)
    request["AlgorithmSpecification"]["TrainingImage"] = BUILTIN
    assert run_job(sm, request)["TrainingJobStatus"] == "Completed"
    boto_session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION)
    config = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}
    session = sagemaker.Session(
        boto_session=boto_session, sagemaker_client=sm, sagemaker_runtime_client=smr, sagemaker_config=config
    )
    frame = TrainingJobAnalytics(
        name, metric_names=["validation:accuracy"], sagemaker_session=session
    ).dataframe()
    assert list(frame["metric_name"].unique()) == ["validation:accuracy"]
    assert len(frame) >= 1 and frame["value"].between(0.6, 0.8).all()  # per-minute averages of 0.6, 0.8
