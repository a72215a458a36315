"""The control-plane operations of one emulator instance (the SDK's local mode calls this the session).

:class:`SageMakerBackend` holds the resources (``resources.py``), answers each control-plane
operation with one method of the operation's snake_case name (botocore-shaped dicts in and out),
keeps every resource in a JSON file under the state folder so a restarted emulator finds its jobs
and brings its endpoints back up, and hands the long work to a ``TrainingRunner`` per job and the
``EndpointDeployer``. Methods run on worker threads (responses.py calls them off the event loop)
and take ``self.lock`` for anything they change.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sagemaker_emulator import _proc, events
from sagemaker_emulator.capture import CaptureWriter
from sagemaker_emulator.checks import check_endpoint_config, check_model_data, check_training_job
from sagemaker_emulator.errors import (
    ResourceInUse,
    ResourceLimitExceeded,
    ValidationError,
    ValidationException,
)
from sagemaker_emulator.executors import Executor, ExecutorError
from sagemaker_emulator.faults import Faults
from sagemaker_emulator.health import HEALTH_INTERVAL_S, HealthMonitor
from sagemaker_emulator.hosting import PING_TIMEOUT_S, EndpointDeployer, EndpointRuntime
from sagemaker_emulator.listing import listing, page
from sagemaker_emulator.resources import (
    DEFAULT_ACCOUNT,
    Endpoint,
    EndpointConfig,
    Model,
    Resource,
    TrainingJob,
)
from sagemaker_emulator.spool import DEFAULT_MAX_BYTES
from sagemaker_emulator.store import ResourceStore
from sagemaker_emulator.training import TrainingRunner
from sagemaker_emulator.transform_ops import TransformOperations

__all__ = ["DEFAULT_ACCOUNT", "SageMakerBackend"]

LIVE_ENDPOINT = ("InService", "Updating", "SystemUpdating")


class SageMakerBackend(TransformOperations):
    """All resources of one emulator instance, with their on-disk state under ``state_dir``."""

    def __init__(
        self,
        state_dir: Path,
        executor: Executor,
        region: str = "us-east-1",
        account_id: str = DEFAULT_ACCOUNT,
        capture_flush_interval: float = 2.0,
        capture_spool_max_bytes: int = DEFAULT_MAX_BYTES,
        max_training_jobs: int = 4,
        max_endpoints: int = 10,
        ping_timeout: float = PING_TIMEOUT_S,
        stop_grace: float = 10.0,
        health_interval: float = HEALTH_INTERVAL_S,
    ):
        self.state_dir = Path(state_dir)
        self.executor = executor
        self.region, self.account_id = region, account_id
        self.max_training_jobs, self.max_endpoints = max_training_jobs, max_endpoints
        self.ping_timeout, self.stop_grace = ping_timeout, stop_grace
        self.store = ResourceStore(self.state_dir / "resources")
        self.capture = CaptureWriter(
            self.state_dir / "capture-pending", capture_flush_interval, capture_spool_max_bytes
        )
        self.lock = threading.RLock()
        self.jobs: dict[str, TrainingJob] = {}
        self.models: dict[str, Model] = {}
        self.configs: dict[str, EndpointConfig] = {}
        self.endpoints: dict[str, Endpoint] = {}
        self.runners: dict[str, TrainingRunner] = {}
        self.init_transforms()  # transform_ops.py
        self.deployer = EndpointDeployer(self)
        self.health = HealthMonitor(self, health_interval)
        self.faults = Faults()  # injected on request (/_emulator/faults), never persisted
        self.closing = False

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
                self.save(job)
            self.jobs[job.name] = job
        self.restore_transforms()
        with self.lock:
            for rec in self.store.load_all(Endpoint.KIND):
                self._restore_endpoint(Endpoint.from_record(rec))
        self.health.start()

    def _restore_endpoint(self, ep: Endpoint) -> None:
        for server in ep.servers:
            _proc.stop_stale(server["pid"], server.get("started"))
        ep.servers = []
        self.endpoints[ep.name] = ep
        if ep.status == "Deleting":
            self.deployer.delete(ep)
        elif ep.status in (*LIVE_ENDPOINT, "Creating"):
            if ep.status != "Creating":
                ep.set_status("InService", ep.failure_reason)
            config = self.configs.get(ep.config_name)
            if config is None:
                ep.set_status("Failed", f'Could not find endpoint configuration "{ep.config_name}".')
                self.save(ep)
            else:
                self.deployer.deploy(ep, config, update=False)

    def shutdown(self) -> None:
        """Stop training processes and model servers; upload pending captures. State stays on disk."""
        self.closing = True
        self.health.stop()
        with self.lock:
            runners = list(self.runners.values())
            endpoints = list(self.endpoints.values())
        for runner in runners:
            runner.request_stop()
        for runner in runners:
            runner.thread.join(timeout=self.stop_grace + 15)
        self.stop_transforms(self.stop_grace)
        for ep in endpoints:
            if ep.runtime is not None:
                ep.runtime.stop(drain_timeout=2.0)
        self.capture.close()

    def save(self, obj: Resource) -> None:
        if isinstance(obj, Endpoint) and obj.runtime is not None:
            obj.servers = obj.runtime.pid_records()
        self.store.save(obj.KIND, obj.name, obj.to_record())

    def forget(self, obj: Resource) -> None:
        self.store.delete(obj.KIND, obj.name)

    # ----------------------------------------------------------------- training jobs
    def create_training_job(self, p: dict[str, Any]) -> dict[str, Any]:
        name = p["TrainingJobName"]
        algo = check_training_job(p)
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
            self.save(job)
            runner = TrainingRunner(
                job, self.state_dir / "jobs" / name, self.executor, self._on_job_change, self.stop_grace
            )
            runner.injected_failure = self.faults.for_training_job(name)
            self.runners[name] = runner
        runner.start()
        return {"TrainingJobArn": job.arn}

    def _on_job_change(self, job: TrainingJob) -> None:
        with self.lock:
            self.save(job)
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
            self.save(job)
            runner = self.runners.get(job.name)
        if runner is not None:
            runner.request_stop()
        return {}

    list_training_jobs = listing("jobs", "TrainingJobSummaries")

    # ----------------------------------------------------------------- models
    def create_model(self, p: dict[str, Any]) -> dict[str, Any]:
        name = p["ModelName"]
        if not p.get("PrimaryContainer") and not p.get("Containers"):
            raise ValidationException("Either PrimaryContainer or Containers must be specified")
        check_model_data(p)  # S3, outside the lock
        with self.lock:
            if name in self.models:
                raise ValidationException(f'Cannot create already existing model "{self.models[name].arn}".')
            model = Model(p, self.arn("model", name))
            self.models[name] = model
            self.save(model)
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
            self.forget(model)
        return {}

    list_models = listing("models", "Models")

    # ----------------------------------------------------------------- endpoint configs
    def create_endpoint_config(self, p: dict[str, Any]) -> dict[str, Any]:
        name = p["EndpointConfigName"]
        check_endpoint_config(p)
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
            self.save(config)
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
            self.forget(config)
        return {}

    list_endpoint_configs = listing("configs", "EndpointConfigs")

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
            ep = Endpoint(p, self.arn("endpoint", name))
            self.endpoints[name] = ep
            self.save(ep)
            events.endpoint_changed(ep)  # Creating
            self.deployer.deploy(ep, config, update=False)
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
            self.save(ep)
            self.deployer.deploy(ep, config, update=True)
        return {"EndpointArn": ep.arn}

    def delete_endpoint(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            ep = self._endpoint(p["EndpointName"])
            if ep.status == "Deleting":
                return {}
            ep.set_status("Deleting")
            self.save(ep)
            self.deployer.delete(ep)
        return {}

    list_endpoints = listing("endpoints", "Endpoints")

    def runtime_for(self, name: str) -> tuple[Endpoint, EndpointRuntime | None]:
        """The endpoint to invoke, or the runtime service's own errors for missing / not-ready ones."""
        with self.lock:
            ep = self.endpoints.get(name)
            if ep is None or ep.status == "Deleting":
                raise ValidationError(f"Endpoint {name} of account {self.account_id} not found.")
            if ep.status not in LIVE_ENDPOINT:
                raise ValidationError(
                    f"Endpoint {name} of account {self.account_id} is not in service (status {ep.status})."
                )
            return ep, ep.runtime

    # ----------------------------------------------------------------- tags
    def _taggable(self, arn: str) -> Resource:
        with self.lock:
            for group in (self.jobs, self.models, self.configs, self.endpoints, self.transforms):
                for obj in group.values():
                    if obj.arn == arn:
                        return obj
        raise ValidationException(f"Resource {arn} not found.")

    def add_tags(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            obj = self._taggable(p["ResourceArn"])
            tags = {t["Key"]: t.get("Value", "") for t in obj.tags}
            tags.update({t["Key"]: t.get("Value", "") for t in p["Tags"]})
            obj.tags = [{"Key": k, "Value": v} for k, v in tags.items()]
            self.save(obj)
        return {"Tags": obj.tags}

    def delete_tags(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            obj = self._taggable(p["ResourceArn"])
            obj.tags = [t for t in obj.tags if t["Key"] not in set(p["TagKeys"])]
            self.save(obj)
        return {}

    def list_tags(self, p: dict[str, Any]) -> dict[str, Any]:
        obj = self._taggable(p["ResourceArn"])
        chunk, token = page(obj.tags, p, default_max=50)
        return {"Tags": chunk, "NextToken": token}
