"""State and behaviour of the emulated SageMaker resources (moto's ``models.py`` split).

Small classes with explicit states -- :class:`TrainingJob`, :class:`Model`,
:class:`EndpointConfig`, :class:`Endpoint` -- and a :class:`SageMakerBackend` that holds them,
implements the control-plane operations (one method per operation, taking and returning the
botocore-shaped dicts), runs the long work on background threads, and keeps every resource in
a JSON file under the state folder so a restarted emulator finds its jobs and brings its
endpoints back up.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any

from sagemaker_emulator import _proc, aws
from sagemaker_emulator.capture import CaptureConfig, CaptureWriter
from sagemaker_emulator.errors import (
    ResourceInUse,
    ResourceLimitExceeded,
    ValidationError,
    ValidationException,
)
from sagemaker_emulator.executors import Executor, ExecutorError
from sagemaker_emulator.hosting import (
    DRAIN_TIMEOUT_S,
    PING_TIMEOUT_S,
    DeployError,
    EndpointRuntime,
    ModelServer,
    Variant,
    prepare_model_dir,
)
from sagemaker_emulator.store import ResourceStore
from sagemaker_emulator.training import TrainingRunner

log = logging.getLogger(__name__)

DEFAULT_ACCOUNT = "000000000000"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class TrainingJob:
    """InProgress (Starting, Downloading, Training, Uploading) -> Completed | Failed | Stopping -> Stopped."""

    KIND = "training-jobs"
    TERMINAL = frozenset({"Completed", "Failed", "Stopped"})

    def __init__(self, request: dict[str, Any], arn: str, created: dt.datetime | None = None):
        self.request = request
        self.name: str = request["TrainingJobName"]
        self.arn = arn
        self.status = "InProgress"
        self.secondary = "Starting"
        self.transitions: list[dict[str, Any]] = []
        self.failure_reason: str | None = None
        self.created = created or utcnow()
        self.last_modified = self.created
        self.start_time: dt.datetime | None = None
        self.end_time: dt.datetime | None = None
        self.model_artifacts: str | None = None
        self.metrics: dict[str, dict[str, Any]] = {}
        self.pid: dict[str, Any] | None = None
        self.max_runtime_hit = False
        self.tags: list[dict[str, str]] = list(request.get("Tags") or [])
        self._lock = threading.Lock()

    @property
    def image(self) -> str:
        return self.request["AlgorithmSpecification"].get("TrainingImage", "")

    @property
    def done(self) -> bool:
        return self.status in self.TERMINAL

    def advance(self, secondary: str, message: str) -> None:
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

    def finish(self, status: str, message: str, reason: str | None = None) -> None:
        secondary = "MaxRuntimeExceeded" if status == "Stopped" and self.max_runtime_hit else status
        self.advance(secondary, message)
        with self._lock:
            self.transitions[-1]["EndTime"] = self.transitions[-1]["StartTime"]
            self.status = status
            self.failure_reason = reason
            self.end_time = self.last_modified
            self.start_time = self.start_time or self.end_time

    def record_metric(self, name: str, raw: str) -> None:
        try:
            value = float(raw)
        except ValueError:
            return
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
            "AlgorithmSpecification": {"TrainingInputMode": "File", **r["AlgorithmSpecification"]},
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
            return {
                "request": self.request,
                "arn": self.arn,
                "status": self.status,
                "secondary": self.secondary,
                "transitions": [dict(t) for t in self.transitions],
                "failure_reason": self.failure_reason,
                "created": self.created,
                "last_modified": self.last_modified,
                "start_time": self.start_time,
                "end_time": self.end_time,
                "model_artifacts": self.model_artifacts,
                "metrics": self.metrics,
                "pid": self.pid,
                "tags": self.tags,
            }

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> TrainingJob:
        job = cls(rec["request"], rec["arn"], rec["created"])
        for key in ("status", "secondary", "transitions", "failure_reason", "last_modified", "start_time"):
            setattr(job, key, rec[key])
        job.end_time, job.model_artifacts = rec["end_time"], rec["model_artifacts"]
        job.metrics, job.pid, job.tags = rec["metrics"], rec["pid"], rec["tags"]
        return job


class Model:
    KIND = "models"

    def __init__(self, request: dict[str, Any], arn: str, created: dt.datetime | None = None):
        self.request, self.arn = request, arn
        self.name: str = request["ModelName"]
        self.created = created or utcnow()
        self.tags: list[dict[str, str]] = list(request.get("Tags") or [])

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

    def to_record(self) -> dict[str, Any]:
        return {"request": self.request, "arn": self.arn, "created": self.created, "tags": self.tags}

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Model:
        obj = cls(rec["request"], rec["arn"], rec["created"])
        obj.tags = rec["tags"]
        return obj


class EndpointConfig(Model):
    KIND = "endpoint-configs"

    def __init__(self, request: dict[str, Any], arn: str, created: dt.datetime | None = None):
        self.request, self.arn = request, arn
        self.name = request["EndpointConfigName"]
        self.created = created or utcnow()
        self.tags = list(request.get("Tags") or [])

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


class Endpoint:
    """Creating -> InService | Failed; InService -> Updating -> InService; any -> Deleting -> gone."""

    KIND = "endpoints"

    def __init__(self, name: str, arn: str, config_name: str, created: dt.datetime | None = None):
        self.name, self.arn, self.config_name = name, arn, config_name
        self.status = "Creating"
        self.failure_reason: str | None = None
        self.created = created or utcnow()
        self.last_modified = self.created
        self.variants: list[dict[str, Any]] = []
        self.capture: dict[str, Any] | None = None
        self.servers: list[dict[str, Any]] = []
        self.tags: list[dict[str, str]] = []
        self.runtime: EndpointRuntime | None = None
        self.worker: threading.Thread | None = None

    def set_status(self, status: str, reason: str | None = None) -> None:
        self.status, self.failure_reason, self.last_modified = status, reason, utcnow()

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

    def to_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "arn": self.arn,
            "config_name": self.config_name,
            "status": self.status,
            "failure_reason": self.failure_reason,
            "created": self.created,
            "last_modified": self.last_modified,
            "variants": self.variants,
            "capture": self.capture,
            "servers": self.servers,
            "tags": self.tags,
        }

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Endpoint:
        ep = cls(rec["name"], rec["arn"], rec["config_name"], rec["created"])
        ep.status, ep.failure_reason, ep.last_modified = (
            rec["status"],
            rec["failure_reason"],
            rec["last_modified"],
        )
        ep.variants, ep.capture, ep.servers, ep.tags = (
            rec["variants"],
            rec["capture"],
            rec["servers"],
            rec["tags"],
        )
        return ep


def _page(items: list[Any], params: dict[str, Any], default_max: int = 10) -> tuple[list[Any], str | None]:
    """Slice a sorted list by NextToken/MaxResults; tokens are opaque offsets."""
    start = 0
    if params.get("NextToken"):
        try:
            start = int(base64.urlsafe_b64decode(params["NextToken"].encode()).decode())
        except ValueError as exc:
            raise ValidationException("Invalid pagination token") from exc
    size = int(params.get("MaxResults") or default_max)
    chunk = items[start : start + size]
    nxt = start + size
    token = base64.urlsafe_b64encode(str(nxt).encode()).decode() if nxt < len(items) else None
    return chunk, token


def _filter_sort(
    items: list[Any], params: dict[str, Any], name_of: Any, status_of: Any, created_of: Any, modified_of: Any
) -> list[Any]:
    if params.get("NameContains"):
        items = [i for i in items if params["NameContains"] in name_of(i)]
    if params.get("StatusEquals"):
        items = [i for i in items if status_of(i) == params["StatusEquals"]]
    for key, getter, op in (
        ("CreationTimeAfter", created_of, "gt"),
        ("CreationTimeBefore", created_of, "lt"),
        ("LastModifiedTimeAfter", modified_of, "gt"),
        ("LastModifiedTimeBefore", modified_of, "lt"),
    ):
        if params.get(key) is not None:
            bound = params[key]
            items = [i for i in items if (getter(i) > bound if op == "gt" else getter(i) < bound)]
    sort_by = params.get("SortBy") or "CreationTime"
    keys = {"Name": name_of, "CreationTime": created_of, "Status": status_of}
    key = keys.get(sort_by, created_of)
    return sorted(items, key=key, reverse=(params.get("SortOrder") or "Descending") == "Descending")


class SageMakerBackend:
    """All resources of one emulator instance, with their on-disk state under ``state_dir``."""

    def __init__(
        self,
        state_dir: Path,
        executor: Executor,
        region: str = "us-east-1",
        account_id: str = DEFAULT_ACCOUNT,
        capture_flush_interval: float = 2.0,
        max_training_jobs: int = 4,
        max_endpoints: int = 10,
        ping_timeout: float = PING_TIMEOUT_S,
        stop_grace: float = 10.0,
    ):
        self.state_dir = Path(state_dir)
        self.executor = executor
        self.region, self.account_id = region, account_id
        self.max_training_jobs, self.max_endpoints = max_training_jobs, max_endpoints
        self.ping_timeout, self.stop_grace = ping_timeout, stop_grace
        self.store = ResourceStore(self.state_dir / "resources")
        self.capture = CaptureWriter(self.state_dir / "capture-pending", capture_flush_interval)
        self.lock = threading.RLock()
        self.jobs: dict[str, TrainingJob] = {}
        self.models: dict[str, Model] = {}
        self.configs: dict[str, EndpointConfig] = {}
        self.endpoints: dict[str, Endpoint] = {}
        self.runners: dict[str, TrainingRunner] = {}
        self._closing = False

    # ----------------------------------------------------------------- lifecycle
    def arn(self, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:{kind}/{name.lower()}"

    def start(self) -> None:
        """Load the state folder; fail interrupted jobs; bring endpoints back up."""
        for rec in self.store.load_all(Model.KIND):
            m = Model.from_record(rec)
            self.models[m.name] = m
        for rec in self.store.load_all(EndpointConfig.KIND):
            c = EndpointConfig.from_record(rec)
            self.configs[c.name] = c
        for rec in self.store.load_all(TrainingJob.KIND):
            job = TrainingJob.from_record(rec)
            if not job.done:
                if job.pid:
                    _proc.stop_stale(job.pid["pid"], job.pid.get("started"))
                job.pid = None
                job.finish(
                    "Failed",
                    "Training job failed",
                    reason="InternalServerError: the emulator stopped while this job ran; run it again",
                )
                self._save(job)
            self.jobs[job.name] = job
        for rec in self.store.load_all(Endpoint.KIND):
            ep = Endpoint.from_record(rec)
            for server in ep.servers:
                _proc.stop_stale(server["pid"], server.get("started"))
            ep.servers = []
            self.endpoints[ep.name] = ep
            if ep.status == "Deleting":
                self._spawn(ep, self._delete_worker, ep)
            elif ep.status in ("InService", "Updating", "Creating", "SystemUpdating"):
                if ep.status != "Creating":
                    ep.set_status("InService", ep.failure_reason)
                config = self.configs.get(ep.config_name)
                if config is None:
                    ep.set_status("Failed", f'Could not find endpoint configuration "{ep.config_name}".')
                    self._save(ep)
                else:
                    self._spawn(ep, self._deploy_worker, ep, config, False)

    def shutdown(self) -> None:
        """Stop training processes and model servers; upload pending captures. State stays on disk."""
        self._closing = True
        with self.lock:
            runners = list(self.runners.values())
            endpoints = list(self.endpoints.values())
        for runner in runners:
            runner.request_stop()
        for runner in runners:
            runner.thread.join(timeout=self.stop_grace + 15)
        for ep in endpoints:
            if ep.runtime is not None:
                ep.runtime.stop(drain_timeout=2.0)
        self.capture.close()

    def _save(self, obj: Any) -> None:
        if obj.KIND == Endpoint.KIND and obj.runtime is not None:
            obj.servers = obj.runtime.pid_records()
        self.store.save(obj.KIND, obj.name, obj.to_record())

    def _spawn(self, ep: Endpoint, target: Any, *args: Any) -> None:
        ep.worker = threading.Thread(target=target, args=args, name=f"endpoint:{ep.name}", daemon=True)
        ep.worker.start()

    # ----------------------------------------------------------------- training jobs
    def create_training_job(self, p: dict[str, Any]) -> dict[str, Any]:
        name = p["TrainingJobName"]
        algo = p.get("AlgorithmSpecification") or {}
        if not algo.get("TrainingImage"):
            raise ValidationException("AlgorithmSpecification.TrainingImage is required by the emulator")
        if "ResourceConfig" not in p:
            raise ValidationException("ResourceConfig is required")
        for channel in p.get("InputDataConfig") or []:
            if "S3DataSource" not in channel.get("DataSource", {}):
                raise ValidationException(
                    f"Channel {channel['ChannelName']}: the emulator supports S3DataSource data sources only"
                )
        try:
            self.executor.check(algo["TrainingImage"], "train")
        except ExecutorError as exc:
            raise ValidationException(str(exc)) from exc
        with self.lock:
            if name in self.jobs:
                raise ResourceInUse(
                    "Training job names must be unique within an AWS account and region, and a training job "
                    f"with this name already exists ({self.jobs[name].arn})"
                )
            running = sum(1 for j in self.jobs.values() if not j.done)
            if running >= self.max_training_jobs:
                itype = p["ResourceConfig"].get("InstanceType", "ml.m5.large")
                raise ResourceLimitExceeded(
                    f"The account-level service limit '{itype} for training job usage' is "
                    f"{self.max_training_jobs} Instances, with current utilization of {running} Instances "
                    "and a request delta of 1 Instances. Please use AWS Service Quotas to request an "
                    "increase for this quota."
                )
            job = TrainingJob(p, self.arn("training-job", name))
            self.jobs[name] = job
            self._save(job)
            runner = TrainingRunner(
                job, self.state_dir / "jobs" / name, self.executor, self._on_job_change, self.stop_grace
            )
            self.runners[name] = runner
        runner.start()
        return {"TrainingJobArn": job.arn}

    def _on_job_change(self, job: TrainingJob) -> None:
        with self.lock:
            self._save(job)
            if job.done:
                self.runners.pop(job.name, None)

    def _job(self, name: str) -> TrainingJob:
        job = self.jobs.get(name)
        if job is None:
            raise ValidationException("Requested resource not found.")
        return job

    def describe_training_job(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._job(p["TrainingJobName"]).describe()

    def stop_training_job(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            job = self._job(p["TrainingJobName"])
            if job.status != "InProgress":
                raise ValidationException(
                    f"The request was rejected because the training job is in status {job.status}."
                )
            job.advance("Stopping", "Stopping the training job")
            self._save(job)
            runner = self.runners.get(job.name)
        if runner is not None:
            runner.request_stop()
        return {}

    def list_training_jobs(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            items = list(self.jobs.values())
        items = _filter_sort(
            items, p, lambda j: j.name, lambda j: j.status, lambda j: j.created, lambda j: j.last_modified
        )
        chunk, token = _page(items, p)
        return {"TrainingJobSummaries": [j.summary() for j in chunk], "NextToken": token}

    # ----------------------------------------------------------------- models
    def create_model(self, p: dict[str, Any]) -> dict[str, Any]:
        name = p["ModelName"]
        if not p.get("PrimaryContainer") and not p.get("Containers"):
            raise ValidationException("Either PrimaryContainer or Containers must be specified")
        with self.lock:
            if name in self.models:
                raise ValidationException(f'Cannot create already existing model "{self.models[name].arn}".')
            model = Model(p, self.arn("model", name))
            self.models[name] = model
            self._save(model)
        return {"ModelArn": model.arn}

    def _model(self, name: str) -> Model:
        model = self.models.get(name)
        if model is None:
            raise ValidationException(f'Could not find model "{self.arn("model", name)}".')
        return model

    def describe_model(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._model(p["ModelName"]).describe()

    def delete_model(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            model = self._model(p["ModelName"])
            del self.models[model.name]
            self.store.delete(Model.KIND, model.name)
        return {}

    def list_models(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            items = list(self.models.values())
        items = _filter_sort(
            items, p, lambda m: m.name, lambda m: "", lambda m: m.created, lambda m: m.created
        )
        chunk, token = _page(items, p)
        return {
            "Models": [{"ModelName": m.name, "ModelArn": m.arn, "CreationTime": m.created} for m in chunk],
            "NextToken": token,
        }

    # ----------------------------------------------------------------- endpoint configs
    def create_endpoint_config(self, p: dict[str, Any]) -> dict[str, Any]:
        name = p["EndpointConfigName"]
        with self.lock:
            if name in self.configs:
                raise ValidationException(
                    f'Cannot create already existing endpoint configuration "{self.configs[name].arn}".'
                )
            variant_names = [v["VariantName"] for v in p["ProductionVariants"]]
            if len(set(variant_names)) != len(variant_names):
                raise ValidationException("ProductionVariants must have unique VariantName values")
            for variant in p["ProductionVariants"]:
                if "ModelName" not in variant:
                    raise ValidationException(f"Variant {variant['VariantName']}: ModelName is required")
                self._model(variant["ModelName"])
            config = EndpointConfig(p, self.arn("endpoint-config", name))
            self.configs[name] = config
            self._save(config)
        return {"EndpointConfigArn": config.arn}

    def _config(self, name: str) -> EndpointConfig:
        config = self.configs.get(name)
        if config is None:
            raise ValidationException(
                f'Could not find endpoint configuration "{self.arn("endpoint-config", name)}".'
            )
        return config

    def describe_endpoint_config(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._config(p["EndpointConfigName"]).describe()

    def delete_endpoint_config(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            config = self._config(p["EndpointConfigName"])
            del self.configs[config.name]
            self.store.delete(EndpointConfig.KIND, config.name)
        return {}

    # ----------------------------------------------------------------- endpoints
    def create_endpoint(self, p: dict[str, Any]) -> dict[str, Any]:
        name = p["EndpointName"]
        with self.lock:
            if name in self.endpoints:
                raise ValidationException(
                    f'Cannot create already existing endpoint "{self.endpoints[name].arn}".'
                )
            config = self._config(p["EndpointConfigName"])
            if len(self.endpoints) >= self.max_endpoints:
                raise ResourceLimitExceeded(
                    f"The account-level service limit 'number of endpoints' is {self.max_endpoints} "
                    f"Endpoints, with current utilization of {len(self.endpoints)} Endpoints and a "
                    "request delta of 1 Endpoints. Please use AWS Service Quotas to request an increase "
                    "for this quota."
                )
            ep = Endpoint(name, self.arn("endpoint", name), config.name)
            ep.tags = list(p.get("Tags") or [])
            self.endpoints[name] = ep
            self._save(ep)
            self._spawn(ep, self._deploy_worker, ep, config, False)
        return {"EndpointArn": ep.arn}

    def _endpoint(self, name: str) -> Endpoint:
        ep = self.endpoints.get(name)
        if ep is None:
            raise ValidationException(f'Could not find endpoint "{self.arn("endpoint", name)}".')
        return ep

    def describe_endpoint(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._endpoint(p["EndpointName"]).describe()

    def update_endpoint(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            ep = self._endpoint(p["EndpointName"])
            if ep.status != "InService":
                raise ValidationException(f'Cannot update in-progress endpoint "{ep.arn}".')
            config = self._config(p["EndpointConfigName"])
            ep.set_status("Updating")
            self._save(ep)
            self._spawn(ep, self._deploy_worker, ep, config, True)
        return {"EndpointArn": ep.arn}

    def delete_endpoint(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            ep = self._endpoint(p["EndpointName"])
            if ep.status == "Deleting":
                return {}
            previous = ep.worker
            ep.set_status("Deleting")
            self._save(ep)
        threading.Thread(target=self._delete_worker, args=(ep, previous), daemon=True).start()
        return {}

    def list_endpoints(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            items = list(self.endpoints.values())
        items = _filter_sort(
            items, p, lambda e: e.name, lambda e: e.status, lambda e: e.created, lambda e: e.last_modified
        )
        chunk, token = _page(items, p)
        return {"Endpoints": [e.summary() for e in chunk], "NextToken": token}

    def _deploy(self, ep: Endpoint, config: EndpointConfig) -> EndpointRuntime:
        """Start every variant's server and wait for all pings; DeployError names what failed."""
        started: list[Variant] = []
        generation = uuid.uuid4().hex[:8]
        try:
            for pv in config.request["ProductionVariants"]:
                model = self.models.get(pv["ModelName"])
                if model is None:
                    raise DeployError(f'Could not find model "{self.arn("model", pv["ModelName"])}".')
                container = model.container
                image = container.get("Image", "")
                try:
                    self.executor.check(image, "serve")
                except ExecutorError as exc:
                    raise DeployError(str(exc)) from exc
                workdir = self.state_dir / "endpoints" / ep.name / f"{pv['VariantName']}-{generation}"
                try:
                    prepare_model_dir(container, workdir)
                except aws.S3Error as exc:
                    raise DeployError(str(exc)) from exc
                server = ModelServer(ep.name, pv["VariantName"], image, workdir)
                try:
                    server.start(self.executor, dict(container.get("Environment") or {}), self._log_group(ep))
                except ExecutorError as exc:
                    raise DeployError(str(exc)) from exc
                started.append(Variant(pv["VariantName"], float(pv.get("InitialVariantWeight", 1.0)), server))
            for variant in started:
                variant.server.wait_ready(self.ping_timeout)
        except BaseException:
            EndpointRuntime(config.name, started, None).stop()
            raise
        capture = CaptureConfig.from_api(config.request.get("DataCaptureConfig"))
        return EndpointRuntime(config.name, started, capture)

    def _log_group(self, ep: Endpoint) -> str:
        return f"/aws/sagemaker/Endpoints/{ep.name}"

    def _describe_variants(self, config: EndpointConfig) -> list[dict[str, Any]]:
        now = utcnow()
        out = []
        for pv in config.request["ProductionVariants"]:
            model = self.models.get(pv["ModelName"])
            image = model.container.get("Image", "") if model else ""
            count = int(pv.get("InitialInstanceCount", 1))
            weight = float(pv.get("InitialVariantWeight", 1.0))
            out.append(
                {
                    "VariantName": pv["VariantName"],
                    "DeployedImages": [
                        {"SpecifiedImage": image, "ResolvedImage": image, "ResolutionTime": now}
                    ],
                    "CurrentWeight": weight,
                    "DesiredWeight": weight,
                    "CurrentInstanceCount": count,
                    "DesiredInstanceCount": count,
                }
            )
        return out

    @staticmethod
    def _describe_capture(config: EndpointConfig) -> dict[str, Any] | None:
        raw = config.request.get("DataCaptureConfig")
        if not raw:
            return None
        enabled = raw.get("EnableCapture", True)
        return {
            "EnableCapture": enabled,
            "CaptureStatus": "Started" if enabled else "Stopped",
            "CurrentSamplingPercentage": raw["InitialSamplingPercentage"],
            "DestinationS3Uri": raw["DestinationS3Uri"],
            "KmsKeyId": raw.get("KmsKeyId"),
        }

    def _deploy_worker(self, ep: Endpoint, config: EndpointConfig, update: bool) -> None:
        try:
            runtime = self._deploy(ep, config)
        except Exception as exc:
            reason = str(exc) if isinstance(exc, DeployError) else f"{type(exc).__name__}: {exc}"
            with self.lock:
                if ep.status == "Deleting":
                    return
                if update:  # the old deployment keeps serving, as on AWS
                    ep.set_status("InService", f"Update to endpoint config {config.name} failed: {reason}")
                else:
                    ep.set_status("Failed", reason)
                self._save(ep)
            return
        with self.lock:
            if ep.status == "Deleting" or self._closing:
                old = runtime
            else:
                old, ep.runtime = ep.runtime, runtime
                ep.config_name = config.name
                ep.variants = self._describe_variants(config)
                ep.capture = self._describe_capture(config)
                ep.set_status("InService")
                self._save(ep)
        if old is not None:
            old.stop(drain_timeout=DRAIN_TIMEOUT_S)

    def _delete_worker(self, ep: Endpoint, previous: threading.Thread | None = None) -> None:
        if previous is not None and previous is not threading.current_thread():
            previous.join(timeout=self.ping_timeout + 30)
        runtime, ep.runtime = ep.runtime, None
        if runtime is not None:
            runtime.stop(drain_timeout=5.0)
        with self.lock:
            if self.endpoints.get(ep.name) is ep:
                del self.endpoints[ep.name]
            self.store.delete(Endpoint.KIND, ep.name)
        shutil.rmtree(self.state_dir / "endpoints" / ep.name, ignore_errors=True)

    def runtime_for(self, name: str) -> tuple[Endpoint, EndpointRuntime | None]:
        """The endpoint to invoke, or the runtime service's own errors for missing / not-ready ones."""
        ep = self.endpoints.get(name)
        if ep is None or ep.status == "Deleting":
            raise ValidationError(f"Endpoint {name} of account {self.account_id} not found.")
        if ep.status not in ("InService", "Updating", "SystemUpdating"):
            raise ValidationError(
                f"Endpoint {name} of account {self.account_id} is not in service (status {ep.status})."
            )
        return ep, ep.runtime

    # ----------------------------------------------------------------- tags
    def _taggable(self, arn: str) -> Any:
        with self.lock:
            for group in (self.jobs, self.models, self.configs, self.endpoints):
                for obj in group.values():
                    if obj.arn == arn:
                        return obj
        raise ValidationException(f"Resource {arn} not found.")

    def add_tags(self, p: dict[str, Any]) -> dict[str, Any]:
        obj = self._taggable(p["ResourceArn"])
        tags = {t["Key"]: t.get("Value", "") for t in obj.tags}
        tags.update({t["Key"]: t.get("Value", "") for t in p["Tags"]})
        obj.tags = [{"Key": k, "Value": v} for k, v in tags.items()]
        self._save(obj)
        return {"Tags": obj.tags}

    def delete_tags(self, p: dict[str, Any]) -> dict[str, Any]:
        obj = self._taggable(p["ResourceArn"])
        obj.tags = [t for t in obj.tags if t["Key"] not in set(p["TagKeys"])]
        self._save(obj)
        return {}

    def list_tags(self, p: dict[str, Any]) -> dict[str, Any]:
        obj = self._taggable(p["ResourceArn"])
        chunk, token = _page(obj.tags, p, default_max=50)
        return {"Tags": chunk, "NextToken": token}
