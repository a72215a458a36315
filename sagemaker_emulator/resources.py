"""The emulated SageMaker resources: what each one is, its states, and how it is described and stored.

Entities only (the SageMaker SDK's local mode calls these ``entities``): no threads started here, no
I/O. :class:`Resource` holds what every resource has (request, name, ARN, creation time, tags) and
the generic record round trip; each subclass lists the extra attributes it persists in ``FIELDS``,
so a new attribute is stored by naming it once. The operations on them live in ``backend.py``; the
work they drive lives in ``training.py`` (TrainingRunner) and ``hosting.py`` (EndpointDeployer).
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import TYPE_CHECKING, Any, ClassVar, Self

from sagemaker_emulator import events, metrics

if TYPE_CHECKING:
    from sagemaker_emulator.hosting import EndpointRuntime

DEFAULT_ACCOUNT = "000000000000"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Resource:
    """One named resource, created from its Create* request.

    ``KIND`` names its folder in the store and ``NAME_KEY`` the request field holding its name.
    ``FIELDS`` are the attributes a subclass adds to the record beyond request, ARN, creation
    time and tags.
    """

    KIND: ClassVar[str]
    NAME_KEY: ClassVar[str]
    FIELDS: ClassVar[tuple[str, ...]] = ()

    def __init__(self, request: dict[str, Any], arn: str, created: dt.datetime | None = None):
        self.request = request
        self.name: str = request[self.NAME_KEY]
        self.arn = arn
        self.created = created or utcnow()
        self.last_modified = self.created
        self.tags: list[dict[str, str]] = list(request.get("Tags") or [])

    def describe(self) -> dict[str, Any]:
        raise NotImplementedError

    def to_record(self) -> dict[str, Any]:
        record = {"request": self.request, "arn": self.arn, "created": self.created, "tags": self.tags}
        record.update({key: getattr(self, key) for key in self.FIELDS})
        return record

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Self:
        obj = cls(rec["request"], rec["arn"], rec["created"])
        obj.tags = rec.get("tags") or []
        for key in cls.FIELDS:
            if key in rec:
                setattr(obj, key, rec[key])
        return obj


class TrainingJob(Resource):
    """InProgress (Starting, Downloading, Training, Uploading) -> Completed | Failed | Stopping -> Stopped."""

    KIND = "training-jobs"
    NAME_KEY = "TrainingJobName"
    FIELDS = (
        "status",
        "secondary",
        "transitions",
        "failure_reason",
        "last_modified",
        "start_time",
        "end_time",
        "model_artifacts",
        "metrics",
        "pid",
    )
    TERMINAL = frozenset({"Completed", "Failed", "Stopped"})

    def __init__(self, request: dict[str, Any], arn: str, created: dt.datetime | None = None):
        super().__init__(request, arn, created)
        self.status = "InProgress"
        self.secondary = "Starting"
        self.transitions: list[dict[str, Any]] = []
        self.failure_reason: str | None = None
        self.start_time: dt.datetime | None = None
        self.end_time: dt.datetime | None = None
        self.model_artifacts: str | None = None
        self.metrics: dict[str, dict[str, Any]] = {}
        self.pid: dict[str, Any] | None = None
        self.max_runtime_hit = False
        self._lock = threading.Lock()

    @property
    def image(self) -> str:
        return self.request["AlgorithmSpecification"].get("TrainingImage", "")

    @property
    def done(self) -> bool:
        return self.status in self.TERMINAL

    def advance(self, secondary: str, message: str, notify: bool = True) -> None:
        with self._lock:
            t = utcnow()
            if self.transitions and "EndTime" not in self.transitions[-1]:
                self.transitions[-1]["EndTime"] = t
            self.transitions.append({"Status": secondary, "StartTime": t, "StatusMessage": message})
            self.secondary = secondary
            self.last_modified = t
            if secondary == "Training" and self.start_time is None:
                self.start_time = t
            if secondary == "Stopping":
                self.status = "Stopping"
        if notify:
            events.training_changed(self)

    def finish(self, status: str, message: str, reason: str | None = None) -> None:
        secondary = "MaxRuntimeExceeded" if status == "Stopped" and self.max_runtime_hit else status
        self.advance(secondary, message, notify=False)
        with self._lock:
            self.transitions[-1]["EndTime"] = self.transitions[-1]["StartTime"]
            self.status = status
            self.failure_reason = reason
            self.end_time = self.last_modified
            self.start_time = self.start_time or self.end_time
        events.training_changed(self)  # one event per terminal state

    def record_metric(self, name: str, value: float) -> None:
        self.metrics[name] = {"MetricName": name, "Value": value, "Timestamp": utcnow()}

    def describe(self) -> dict[str, Any]:
        r = self.request
        seconds = None
        if self.start_time and self.end_time:
            seconds = max(1, int((self.end_time - self.start_time).total_seconds()))
        with self._lock:
            transitions = [dict(t) for t in self.transitions]
        return {
            "TrainingJobName": self.name,
            "TrainingJobArn": self.arn,
            "ModelArtifacts": {"S3ModelArtifacts": self.model_artifacts or ""},
            "TrainingJobStatus": self.status,
            "SecondaryStatus": self.secondary,
            "FailureReason": self.failure_reason,
            "HyperParameters": r.get("HyperParameters"),
            # AWS answers with its defaults filled in (the SDK's attach() relies on them).
            # with a built-in algorithm's own MetricDefinitions (metrics.py)
            "AlgorithmSpecification": {
                "TrainingInputMode": "File",
                **r["AlgorithmSpecification"],
                "MetricDefinitions": metrics.definitions(r["AlgorithmSpecification"]) or None,
            },
            "RoleArn": r["RoleArn"],
            "InputDataConfig": r.get("InputDataConfig"),
            "OutputDataConfig": {"KmsKeyId": "", **r["OutputDataConfig"]},
            "ResourceConfig": {"VolumeSizeInGB": 30, **r["ResourceConfig"]},
            "VpcConfig": r.get("VpcConfig"),
            "StoppingCondition": {"MaxRuntimeInSeconds": 86400, **(r.get("StoppingCondition") or {})},
            "CreationTime": self.created,
            "TrainingStartTime": self.start_time,
            "TrainingEndTime": self.end_time,
            "LastModifiedTime": self.last_modified,
            "SecondaryStatusTransitions": transitions,
            "FinalMetricDataList": list(self.metrics.values()) or None,
            "EnableNetworkIsolation": r.get("EnableNetworkIsolation", False),
            "EnableInterContainerTrafficEncryption": r.get("EnableInterContainerTrafficEncryption", False),
            "EnableManagedSpotTraining": r.get("EnableManagedSpotTraining", False),
            "CheckpointConfig": r.get("CheckpointConfig"),
            "TrainingTimeInSeconds": seconds,
            "BillableTimeInSeconds": seconds,
            "DebugHookConfig": r.get("DebugHookConfig"),
            "ExperimentConfig": r.get("ExperimentConfig"),
            "Environment": r.get("Environment"),
            "RetryStrategy": r.get("RetryStrategy"),
        }

    def summary(self) -> dict[str, Any]:
        return {
            "TrainingJobName": self.name,
            "TrainingJobArn": self.arn,
            "CreationTime": self.created,
            "TrainingEndTime": self.end_time,
            "LastModifiedTime": self.last_modified,
            "TrainingJobStatus": self.status,
            "SecondaryStatus": self.secondary,
        }

    def to_record(self) -> dict[str, Any]:
        with self._lock:
            record = super().to_record()
            record["transitions"] = [dict(t) for t in self.transitions]
            return record


class Model(Resource):
    KIND = "models"
    NAME_KEY = "ModelName"

    @property
    def container(self) -> dict[str, Any]:
        return self.request.get("PrimaryContainer") or (self.request.get("Containers") or [{}])[0]

    def describe(self) -> dict[str, Any]:
        r = self.request
        return {
            "ModelName": self.name,
            "PrimaryContainer": r.get("PrimaryContainer"),
            "Containers": r.get("Containers"),
            "InferenceExecutionConfig": r.get("InferenceExecutionConfig"),
            "ExecutionRoleArn": r.get("ExecutionRoleArn"),
            "VpcConfig": r.get("VpcConfig"),
            "CreationTime": self.created,
            "ModelArn": self.arn,
            "EnableNetworkIsolation": r.get("EnableNetworkIsolation", False),
        }

    def summary(self) -> dict[str, Any]:
        return {"ModelName": self.name, "ModelArn": self.arn, "CreationTime": self.created}


class EndpointConfig(Resource):
    KIND = "endpoint-configs"
    NAME_KEY = "EndpointConfigName"

    @property
    def variants(self) -> list[dict[str, Any]]:
        return self.request["ProductionVariants"]

    def describe(self) -> dict[str, Any]:
        r = self.request
        return {
            "EndpointConfigName": self.name,
            "EndpointConfigArn": self.arn,
            "ProductionVariants": r["ProductionVariants"],
            "DataCaptureConfig": r.get("DataCaptureConfig"),
            "KmsKeyId": r.get("KmsKeyId"),
            "CreationTime": self.created,
            "AsyncInferenceConfig": r.get("AsyncInferenceConfig"),
        }

    def summary(self) -> dict[str, Any]:
        return {
            "EndpointConfigName": self.name,
            "EndpointConfigArn": self.arn,
            "CreationTime": self.created,
        }


class Endpoint(Resource):
    """Creating -> InService | Failed; InService -> Updating -> InService; any -> Deleting -> gone.

    ``runtime`` (the live routing table) and ``worker`` (the thread deploying or deleting it) are
    not stored: a restarted emulator deploys the endpoint again.
    """

    KIND = "endpoints"
    NAME_KEY = "EndpointName"
    FIELDS = (
        "config_name",
        "status",
        "failure_reason",
        "last_modified",
        "variants",
        "capture",
        "servers",
        "events",
    )

    def __init__(self, request: dict[str, Any], arn: str, created: dt.datetime | None = None):
        super().__init__(request, arn, created)
        self.config_name: str = request["EndpointConfigName"]
        self.status = "Creating"
        self.failure_reason: str | None = None
        self.variants: list[dict[str, Any]] = []
        self.capture: dict[str, Any] | None = None
        self.servers: list[dict[str, Any]] = []
        # What happened to the endpoint's instances (a replaced model server), newest last.
        self.events: list[dict[str, Any]] = []
        self.runtime: EndpointRuntime | None = None
        self.worker: threading.Thread | None = None

    def set_status(self, status: str, reason: str | None = None) -> None:
        self.status, self.failure_reason, self.last_modified = status, reason, utcnow()
        events.endpoint_changed(self)

    def describe(self) -> dict[str, Any]:
        return {
            "EndpointName": self.name,
            "EndpointArn": self.arn,
            "EndpointConfigName": self.config_name,
            "ProductionVariants": self.variants or None,
            "DataCaptureConfig": self.capture,
            "EndpointStatus": self.status,
            "FailureReason": self.failure_reason,
            "CreationTime": self.created,
            "LastModifiedTime": self.last_modified,
        }

    def summary(self) -> dict[str, Any]:
        return {
            "EndpointName": self.name,
            "EndpointArn": self.arn,
            "CreationTime": self.created,
            "LastModifiedTime": self.last_modified,
            "EndpointStatus": self.status,
        }

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Self:
        if "request" not in rec:  # a record written before the Resource base class
            rec = {
                **rec,
                "request": {"EndpointName": rec["name"], "EndpointConfigName": rec["config_name"]},
            }
        return super().from_record(rec)
