"""CreateTransformJob, DescribeTransformJob, ListTransformJobs, StopTransformJob (batch transform).

A mixin of :class:`~sagemaker_emulator.backend.SageMakerBackend`, kept apart so the backend stays
one screenful per resource: it uses the backend's lock, store, executor and model lookup, and the
work itself runs in a :class:`~sagemaker_emulator.transform.TransformRunner` per job.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sagemaker_emulator import _proc
from sagemaker_emulator.errors import ResourceInUse, ResourceLimitExceeded, ValidationException
from sagemaker_emulator.executors import Executor, ExecutorError
from sagemaker_emulator.listing import listing
from sagemaker_emulator.resources import Model, Resource
from sagemaker_emulator.transform import TransformJob, TransformRunner

MAX_TRANSFORM_JOBS = 4  # instances running transform jobs at once (AWS: a per-instance-type quota)


class TransformOperations:
    """The batch-transform operations; the backend calls ``init_transforms``/``restore``/``stop``."""

    lock: threading.RLock
    state_dir: Path
    executor: Executor
    store: Any
    ping_timeout: float
    transforms: dict[str, TransformJob]
    transform_runners: dict[str, TransformRunner]

    if TYPE_CHECKING:  # SageMakerBackend's

        def arn(self, kind: str, name: str) -> str: ...
        def save(self, obj: Resource) -> None: ...
        def _model(self, name: str) -> Model: ...

    def init_transforms(self) -> None:
        self.transforms, self.transform_runners = {}, {}

    def restore_transforms(self) -> None:
        """Load the jobs; one that was running when the emulator stopped is Failed (never resumed)."""
        for rec in self.store.load_all(TransformJob.KIND):
            job = TransformJob.from_record(rec)
            if not job.done:
                if job.pid:  # the server a killed emulator left running
                    _proc.stop_stale(job.pid["pid"], job.pid.get("started"))
                job.pid = None
                job.set_status(
                    "Failed", "InternalServerError: the emulator stopped while this job ran; run it again"
                )
                self.save(job)
            self.transforms[job.name] = job

    def stop_transforms(self, grace: float) -> None:
        with self.lock:
            runners = list(self.transform_runners.values())
        for runner in runners:
            runner.request_stop()
        for runner in runners:
            runner.thread.join(timeout=grace + 15)

    def create_transform_job(self, p: dict[str, Any]) -> dict[str, Any]:
        name = p["TransformJobName"]
        source = p["TransformInput"]["DataSource"].get("S3DataSource")
        if source is None or source.get("S3DataType", "S3Prefix") != "S3Prefix":
            raise ValidationException(
                "TransformInput.DataSource: the emulator supports S3DataSource with S3DataType S3Prefix only"
            )
        with self.lock:
            if name in self.transforms:
                raise ResourceInUse(
                    "Job names must be unique within an AWS account and region, and a transform job with "
                    f"this name already exists ({self.transforms[name].arn})"
                )
            model = self._model(p["ModelName"])
            container = model.container
            try:
                self.executor.check(container.get("Image", ""), "serve")
            except ExecutorError as exc:
                raise ValidationException(str(exc)) from exc
            resources = p["TransformResources"]
            running = sum(1 for j in self.transforms.values() if not j.done)
            if running + int(resources.get("InstanceCount", 1)) > MAX_TRANSFORM_JOBS:
                raise ResourceLimitExceeded(
                    f"The account-level service limit '{resources['InstanceType']} for transform job usage' "
                    f"is {MAX_TRANSFORM_JOBS} Instances, with current utilization of {running} Instances and "
                    f"a request delta of {resources.get('InstanceCount', 1)} Instances. Please use AWS "
                    "Service Quotas to request an increase for this quota."
                )
            job = TransformJob(p, self.arn("transform-job", name))
            self.transforms[name] = job
            self.save(job)
            runner = TransformRunner(
                job,
                dict(container),
                self.state_dir / "transforms" / name,
                self.executor,
                self._on_transform_change,
                self.ping_timeout,
            )
            self.transform_runners[name] = runner
        runner.start()
        return {"TransformJobArn": job.arn}

    def _on_transform_change(self, job: TransformJob) -> None:
        with self.lock:
            self.save(job)
            if job.done:
                self.transform_runners.pop(job.name, None)

    def _transform(self, name: str) -> TransformJob:
        job = self.transforms.get(name)
        if job is None:
            raise ValidationException(f'Could not find job to describe "{name}".')
        return job

    def describe_transform_job(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._transform(p["TransformJobName"]).describe()

    def stop_transform_job(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            job = self._transform(p["TransformJobName"])
            if job.status != "InProgress":
                raise ValidationException(
                    f"The request was rejected because the transform job is in status {job.status}."
                )
            job.set_status("Stopping")
            self.save(job)
            runner = self.transform_runners.get(job.name)
        if runner is not None:
            runner.request_stop()
        return {}

    list_transform_jobs = listing("transforms", "TransformJobSummaries")
