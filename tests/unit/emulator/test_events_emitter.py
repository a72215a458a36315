"""The emulator's EventBridge events: AWS's detail-types, source and detail, sent off the state change."""

from __future__ import annotations

import datetime as dt
import json

from sagemaker_emulator import events

ARN = "arn:aws:sagemaker:us-east-1:000000000000:training-job/job-1"
CREATED = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def test_training_entry_carries_the_description_with_epoch_milliseconds() -> None:
    description = {
        "TrainingJobName": "job-1",
        "TrainingJobArn": ARN,
        "TrainingJobStatus": "Failed",
        "SecondaryStatus": "Failed",
        "FailureReason": "AlgorithmError: learning_rate",
        "HyperParameters": {"epochs": "2"},
        "CreationTime": CREATED,
        "ModelArtifacts": None,
        "ResponseMetadata": {"ignored": True},
    }
    item = events.training_entry(description)
    assert item["Source"] == "aws.sagemaker" and item["DetailType"] == "SageMaker Training Job State Change"
    assert item["Resources"] == [ARN]
    detail = json.loads(item["Detail"])
    assert detail["CreationTime"] == int(CREATED.timestamp() * 1000)
    assert detail["FailureReason"].startswith("AlgorithmError") and detail["Tags"] == {}
    assert "ModelArtifacts" not in detail and "ResponseMetadata" not in detail


def test_endpoint_entry_spells_the_status_as_the_event_does() -> None:
    arn = "arn:aws:sagemaker:us-east-1:000000000000:endpoint/ep"
    item = events.endpoint_entry(
        {"EndpointName": "ep", "EndpointArn": arn, "EndpointConfigName": "c", "EndpointStatus": "InService"}
    )
    detail = json.loads(item["Detail"])
    assert item["DetailType"] == "SageMaker Endpoint State Change"
    assert detail["EndpointStatus"] == "IN_SERVICE" and detail["EndpointConfigName"] == "c"
    assert [events.endpoint_status(s) for s in ("Creating", "SystemUpdating", "RollingBack")] == [
        "CREATING",
        "SYSTEM_UPDATING",
        "ROLLING_BACK",
    ]


def test_switched_off_nothing_is_queued(monkeypatch) -> None:
    monkeypatch.setenv("SAGEMAKER_EMULATOR_EVENTS", "0")
    emitter = events.Emitter()
    emitter.publish({"DetailType": "x", "Resources": [ARN]})
    assert emitter._thread is None and emitter._queue.empty()
