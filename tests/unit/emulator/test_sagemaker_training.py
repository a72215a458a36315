"""Training jobs through the emulator with plain boto3: they run for real, succeed, fail and stop."""

from __future__ import annotations

import contextlib
import io
import json
import tarfile
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError, WaiterError

from tests.unit.emulator.support import training_request, unique

FAST = {"Delay": 0.1, "MaxAttempts": 600}


@pytest.fixture(scope="module")
def data(s3: Any, bucket: str) -> str:
    for key in ("data/train/bicycle_1.png", "data/train/sub/motorcycle_2.png"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"\x89PNG fake")
    s3.put_object(Bucket=bucket, Key="data/train.lst", Body=b"0\t0\ttrain/bicycle_1.png\n")
    return bucket


def wait_done(sm: Any, name: str) -> dict[str, Any]:
    with contextlib.suppress(
        WaiterError
    ):  # Failed is a waiter failure; the caller asserts on the description
        sm.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=name, WaiterConfig=FAST)
    return sm.describe_training_job(TrainingJobName=name)


def read_tar(s3: Any, uri: str) -> dict[str, bytes]:
    bucket, key = uri[len("s3://") :].split("/", 1)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_job_runs_in_the_container_layout_and_uploads_the_model(sm, s3, logs, data):
    name = unique("job-ok")
    request = training_request(name, data, hps={"epochs": "2", "mode": "ok"})
    request["AlgorithmSpecification"]["MetricDefinitions"] = [
        {"Name": "validation:accuracy", "Regex": r"validation:accuracy=([0-9.]+)"}
    ]
    arn = sm.create_training_job(**request)["TrainingJobArn"]
    assert arn == f"arn:aws:sagemaker:us-east-1:000000000000:training-job/{name}"

    sm.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=name, WaiterConfig=FAST)
    job = sm.describe_training_job(TrainingJobName=name)
    assert job["TrainingJobStatus"] == "Completed"
    assert job["SecondaryStatus"] == "Completed"
    statuses = [t["Status"] for t in job["SecondaryStatusTransitions"]]
    assert statuses == ["Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == f"s3://{data}/output/{name}/output/model.tar.gz"
    assert job["TrainingStartTime"] <= job["TrainingEndTime"]
    assert job["HyperParameters"] == {"epochs": "2", "mode": "ok"}
    assert job["FinalMetricDataList"][0]["MetricName"] == "validation:accuracy"
    assert job["FinalMetricDataList"][0]["Value"] == pytest.approx(0.875)

    manifest = json.loads(read_tar(s3, job["ModelArtifacts"]["S3ModelArtifacts"])["manifest.json"])
    assert manifest["hyperparameters"] == {"epochs": "2", "mode": "ok"}
    assert manifest["files"] == {
        "train": ["bicycle_1.png", "sub/motorcycle_2.png"],
        "train_lst": ["train.lst"],
    }
    assert manifest["channels"]["train"]["ContentType"] == "application/x-image"
    assert manifest["channels"]["train"]["TrainingInputMode"] == "File"
    assert manifest["env_job"] == name
    assert "metrics.txt" in read_tar(s3, f"s3://{data}/output/{name}/output/output.tar.gz")

    streams = logs.describe_log_streams(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=f"{name}/"
    )
    (stream,) = streams["logStreams"]
    assert stream["logStreamName"].startswith(f"{name}/algo-1-")
    events = logs.get_log_events(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=stream["logStreamName"]
    )
    messages = [e["message"] for e in events["events"]]
    assert "trainer starting mode=ok host=algo-1" in messages
    assert messages[-1] == "trainer done"


def test_failure_reason_comes_from_the_failure_file(sm, data):
    name = unique("job-fail")
    sm.create_training_job(**training_request(name, data, hps={"mode": "fail"}))
    with pytest.raises(WaiterError) as info:
        sm.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=name, WaiterConfig=FAST)
    assert "Failed" in str(info.value)
    job = sm.describe_training_job(TrainingJobName=name)
    assert job["TrainingJobStatus"] == "Failed"
    assert job["SecondaryStatus"] == "Failed"
    assert job["FailureReason"] == "AlgorithmError: bad hyperparameter: learning_rate must be positive"
    assert "ModelArtifacts" not in job or not job["ModelArtifacts"].get("S3ModelArtifacts")


def test_a_crashing_script_fails_with_its_last_log_lines(sm, data):
    name = unique("job-crash")
    sm.create_training_job(**training_request(name, data, hps={"mode": "crash"}))
    job = wait_done(sm, name)
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("AlgorithmError: ExitCode 1")
    assert "RuntimeError: kaboom in the trainer" in job["FailureReason"]


def test_a_missing_channel_fails_the_job_in_downloading(sm, data):
    name = unique("job-nodata")
    request = training_request(name, data)
    request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = f"s3://{data}/does-not-exist/"
    sm.create_training_job(**request)
    job = wait_done(sm, name)
    assert job["TrainingJobStatus"] == "Failed"
    assert "No S3 objects found under S3 URL" in job["FailureReason"]
    assert f"s3://{data}/does-not-exist/" in job["FailureReason"]
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]][-2:] == ["Downloading", "Failed"]


def test_stop_training_job_stops_the_process_and_keeps_its_model(sm, s3, data):
    name = unique("job-stop")
    sm.create_training_job(**training_request(name, data, hps={"mode": "sleep", "seconds": "60"}))
    deadline = time.monotonic() + 30
    while sm.describe_training_job(TrainingJobName=name)["SecondaryStatus"] != "Training":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(1.0)  # let the script install its SIGTERM handler
    sm.stop_training_job(TrainingJobName=name)
    assert sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] in ("Stopping", "Stopped")
    sm.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=name, WaiterConfig=FAST)
    job = sm.describe_training_job(TrainingJobName=name)
    assert job["TrainingJobStatus"] == "Stopped"
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]][-2:] == ["Stopping", "Stopped"]
    files = read_tar(s3, job["ModelArtifacts"]["S3ModelArtifacts"])
    assert files == {"partial.txt": b"saved on SIGTERM"}

    with pytest.raises(ClientError) as info:
        sm.stop_training_job(TrainingJobName=name)
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert "status Stopped" in info.value.response["Error"]["Message"]


def test_max_runtime_stops_the_job(sm, data):
    name = unique("job-maxrt")
    request = training_request(name, data, hps={"mode": "sleep", "seconds": "60"})
    request["StoppingCondition"] = {"MaxRuntimeInSeconds": 1}
    sm.create_training_job(**request)
    job = wait_done(sm, name)
    assert job["TrainingJobStatus"] == "Stopped"
    assert job["SecondaryStatus"] == "MaxRuntimeExceeded"


def test_control_plane_errors(sm, data):
    name = unique("job-dup")
    sm.create_training_job(**training_request(name, data))
    with pytest.raises(ClientError) as info:
        sm.create_training_job(**training_request(name, data))
    assert info.value.response["Error"]["Code"] == "ResourceInUse"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    with pytest.raises(ClientError) as info:
        sm.describe_training_job(TrainingJobName="no-such-job")
    assert info.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "Requested resource not found.",
    }

    with pytest.raises(WaiterError) as waiter_info:
        sm.get_waiter("training_job_completed_or_stopped").wait(
            TrainingJobName="no-such-job", WaiterConfig=FAST
        )
    assert "ValidationException" in str(waiter_info.value)

    request = training_request(unique("job-img"), data)
    request["AlgorithmSpecification"]["TrainingImage"] = (
        "999999999999.dkr.ecr.us-east-1.amazonaws.com/unknown:1"
    )
    with pytest.raises(ClientError) as info:
        sm.create_training_job(**request)
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert "unknown:1" in info.value.response["Error"]["Message"]

    request = training_request("bad_name_with_underscores", data)
    with pytest.raises(ClientError) as info:
        sm.create_training_job(**request)
    message = info.value.response["Error"]["Message"]
    assert "'trainingJobName' failed to satisfy constraint: Member must satisfy regular expression" in message

    request = training_request(unique("job-enum"), data)
    request["ResourceConfig"]["InstanceType"] = "ml.not-a-type"
    with pytest.raises(ClientError) as info:
        sm.create_training_job(**request)
    assert "Member must satisfy enum value set" in info.value.response["Error"]["Message"]
    wait_done(sm, name)


def test_list_training_jobs_filters_sorts_and_pages(sm, data):
    tag = unique("listjob")
    names = [f"{tag}-{i}" for i in range(3)]
    for n in names:
        sm.create_training_job(**training_request(n, data))
        time.sleep(0.01)
    for n in names:
        wait_done(sm, n)
    found = sm.list_training_jobs(NameContains=tag, SortBy="CreationTime", SortOrder="Ascending")
    assert [j["TrainingJobName"] for j in found["TrainingJobSummaries"]] == names
    assert all(j["TrainingJobStatus"] == "Completed" for j in found["TrainingJobSummaries"])
    pages = sm.get_paginator("list_training_jobs").paginate(
        NameContains=tag, PaginationConfig={"PageSize": 2}
    )
    assert [len(p["TrainingJobSummaries"]) for p in pages] == [2, 1]
    assert sm.list_training_jobs(NameContains=tag, StatusEquals="Failed")["TrainingJobSummaries"] == []


def test_concurrent_job_limit_is_resource_limit_exceeded(emulator_factory, s3, data):
    emu = emulator_factory("--max-training-jobs", "1", "--stop-grace", "1")
    client = emu.client("sagemaker")
    first = unique("limit-a")
    client.create_training_job(**training_request(first, data, hps={"mode": "sleep", "seconds": "60"}))
    with pytest.raises(ClientError) as info:
        client.create_training_job(**training_request(unique("limit-b"), data))
    assert info.value.response["Error"]["Code"] == "ResourceLimitExceeded"
    client.stop_training_job(TrainingJobName=first)
    client.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=first, WaiterConfig=FAST)
