"""The SageMaker request bodies the harness sends, and the reuse logic around them (moto for IAM/S3)."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from harness import executions, jobs, model
from harness.config import Settings
from harness.executions import ExecutionResult


def test_builtin_image_uris_match_the_sagemaker_sdk() -> None:
    image_uris = pytest.importorskip("sagemaker.image_uris", reason="SageMaker SDK (dev extra) not installed")
    for region in ("us-east-1", "eu-west-1", "ap-southeast-2", "cn-north-1"):
        assert model.builtin_image_uri(region) == image_uris.retrieve("image-classification", region)
    with pytest.raises(ValueError, match="not listed for region 'mars-1'"):
        model.builtin_image_uri("mars-1")


def test_training_request_has_the_builtin_contract() -> None:
    settings = Settings(bucket="bkt", data_prefix="data", epochs=5)
    req = model.training_job_request(settings, "job", "arn:aws:iam::1:role/r", num_training_samples=1000)
    channels = {c["ChannelName"]: c for c in req["InputDataConfig"]}
    assert {n: c["DataSource"]["S3DataSource"]["S3Uri"] for n, c in channels.items()} == {
        "train": "s3://bkt/data/train/",
        "validation": "s3://bkt/data/test/",
        "train_lst": "s3://bkt/data/train.lst",
        "validation_lst": "s3://bkt/data/test.lst",
    }
    assert {c["ContentType"] for c in channels.values()} == {"application/x-image"}
    assert req["HyperParameters"] == {
        "num_classes": "2",
        "num_training_samples": "1000",
        "image_shape": "3,32,32",
        "epochs": "5",
    }
    assert req["ResourceConfig"]["InstanceType"] == "ml.p2.xlarge"
    assert req["AlgorithmSpecification"]["TrainingImage"].endswith("/image-classification:1")
    assert req["OutputDataConfig"]["S3OutputPath"] == "s3://bkt/models"
    own = model.training_job_request(
        settings.replace(training_image="1.dkr.ecr/x:1", num_layers=20), "j", "r", 10
    )
    assert own["AlgorithmSpecification"]["TrainingImage"] == "1.dkr.ecr/x:1"
    assert own["HyperParameters"]["num_layers"] == "20"


def test_job_name_changes_exactly_with_what_determines_the_model() -> None:
    settings = Settings()
    base = model.training_job_request(settings, "x", "r", 1000)
    name = model.job_name_for(base, "etag1")
    assert name == model.job_name_for(model.training_job_request(settings, "y", "other-role", 1000), "etag1")
    assert name != model.job_name_for(base, "etag2")
    assert name != model.job_name_for(
        model.training_job_request(settings.replace(epochs=3), "x", "r", 1000), "etag1"
    )
    assert len(name) <= 63 and name.startswith("scones-ic-")


def test_endpoint_config_captures_everything() -> None:
    req = model.endpoint_config_request(Settings(bucket="bkt"), "cfg", "m")
    capture = req["DataCaptureConfig"]
    assert capture["EnableCapture"] and capture["InitialSamplingPercentage"] == 100
    assert capture["DestinationS3Uri"] == "s3://bkt/data_capture"
    assert capture["CaptureOptions"] == [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]
    assert req["ProductionVariants"][0]["VariantName"] == "AllTraffic"


def _result(key: str, status: str, inferences=None, error=None, ms: float = 100) -> ExecutionResult:
    return ExecutionResult(key, status, error, None, inferences, ms)


def test_summary_counts_errors_accuracy_and_latency() -> None:
    results = [
        _result("test/a.png", "SUCCEEDED", [0.95, 0.05], ms=100),
        _result("test/b.png", "SUCCEEDED", [0.02, 0.98], ms=200),
        _result("test/c.png", "SUCCEEDED", [0.97, 0.03], ms=300),
        _result("test/d.png", "FAILED", error="ThresholdConfidenceNotMet", ms=400),
        _result("test/e.png", "FAILED", error="ImageNotFound", ms=500),
    ]
    labels = {"test/a.png": 0, "test/b.png": 1, "test/c.png": 1, "test/d.png": 0}
    s = executions.summarise(results, labels)
    assert (s["executions"], s["succeeded"], s["failed"]) == (5, 3, 2)
    assert s["failed_by_error"] == {"ThresholdConfidenceNotMet": 1, "ImageNotFound": 1}
    assert s["accuracy_of_passed"] == pytest.approx(2 / 3)
    assert s["predicted"] == {"bicycle": 2, "motorcycle": 1}
    assert s["latency_ms_p50"] == 300 and s["latency_ms_p95"] == pytest.approx(480)


def test_run_one_reads_the_execution_outcome() -> None:
    class FakeSfn:
        """Two polls: RUNNING, then SUCCEEDED, like DescribeExecution."""

        def __init__(self) -> None:
            self.started: dict = {}
            self.polls = 0

        def start_execution(self, **kwargs):
            self.started = kwargs
            return {"executionArn": "arn:exec"}

        def describe_execution(self, executionArn):
            self.polls += 1
            t0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
            if self.polls == 1:
                return {"status": "RUNNING", "startDate": t0}
            return {
                "status": "SUCCEEDED",
                "startDate": t0,
                "stopDate": t0 + dt.timedelta(milliseconds=123),
                "output": '{"statusCode": 200, "body": {"inferences": [0.1, 0.9]}}',
            }

    sfn = FakeSfn()
    r = executions.run_one(sfn, "arn:sm", "bkt", "test/x_1.png", poll_s=0)
    assert r.status == "SUCCEEDED" and r.inferences == [0.1, 0.9] and r.latency_ms == pytest.approx(123)
    assert '"s3_key": "test/x_1.png"' in sfn.started["input"]
    assert sfn.started["name"].startswith("x_1-png-")


def test_epoch_log_reads_each_line_once(aws) -> None:
    import boto3

    logs = boto3.client("logs", region_name="us-east-1")
    tail = jobs.EpochLog(logs, "job-1")
    assert tail.poll() == []  # no log group yet: no epochs, no error
    logs.create_log_group(logGroupName=jobs.EpochLog.GROUP)
    logs.create_log_stream(logGroupName=jobs.EpochLog.GROUP, logStreamName="job-1/algo-1-1")

    def put(first: int, lines: list[str]) -> None:
        now_ms = int(time.time() * 1000)
        events = [{"timestamp": now_ms + first + i, "message": m} for i, m in enumerate(lines)]
        logs.put_log_events(
            logGroupName=jobs.EpochLog.GROUP, logStreamName="job-1/algo-1-1", logEvents=events
        )

    put(0, ["Epoch[0] Train-accuracy=0.5", "Epoch[0] Validation-accuracy=0.61", "noise"])
    assert tail.poll() == [(0, 0.61)]
    assert tail.poll() == [(0, 0.61)], "a poll with no new lines adds nothing"
    put(10, ["Epoch[1] Validation-accuracy=0.72"])
    assert tail.poll() == [(0, 0.61), (1, 0.72)]
