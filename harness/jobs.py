"""Run the requests of :mod:`harness.model` and wait: train the classifier, then host it.

Re-running reuses: a Completed job of the same name (see :func:`harness.model.job_name_for`) whose model
is still in S3 is used instead of training again; the endpoint is updated only when it serves a
different model. Waits follow the job (its status and its log stream's epochs) or use botocore's waiters,
each with a deadline that ends in a clear error.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from harness.aws_errors import error_code, is_not_found
from harness.config import Settings
from harness.iam import retry_role_propagation
from harness.model import endpoint_config_request, image_uri, model_request
from harness.names import TRAINING_LOG_GROUP, endpoint_config_name, model_name

EPOCH_LINE = re.compile(r"Epoch\[(\d+)\].*Validation-accuracy=([0-9.]+)")

Log = Callable[[str], None]
Steps = Callable[[int, int], None]


class TrainingFailed(RuntimeError):
    """The training job ended Failed or Stopped; the message carries SageMaker's FailureReason."""


class EndpointFailed(RuntimeError):
    """The endpoint ended Failed; the message carries SageMaker's FailureReason."""


@dataclass
class TrainedModel:
    job_name: str
    model_data_url: str
    reused: bool
    best_validation_accuracy: float | None = None


def _describe_job(sm: Any, name: str) -> dict[str, Any] | None:
    try:
        return sm.describe_training_job(TrainingJobName=name)
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise


class EpochLog:
    """Follows a training job's log stream, reading only lines it has not seen yet.

    GetLogEvents' forward token marks where the last poll stopped, so a poll every second reads
    the new lines instead of the whole log again.
    """

    GROUP = TRAINING_LOG_GROUP

    def __init__(self, logs: Any, job_name: str) -> None:
        self._logs = logs
        self._job = job_name
        self._stream: str | None = None
        self._token: str | None = None
        self.epochs: list[tuple[int, float]] = []  # (epoch, validation accuracy) in log order

    def poll(self) -> list[tuple[int, float]]:
        try:
            if self._stream is None:
                streams = self._logs.describe_log_streams(
                    logGroupName=self.GROUP, logStreamNamePrefix=self._job
                ).get("logStreams", [])
                if not streams:
                    return self.epochs  # the job has not logged yet
                self._stream = streams[0]["logStreamName"]
            while True:
                position = {"nextToken": self._token} if self._token else {"startFromHead": True}
                page = self._logs.get_log_events(
                    logGroupName=self.GROUP, logStreamName=self._stream, **position
                )
                self.epochs += [
                    (int(m[1]), float(m[2])) for e in page["events"] if (m := EPOCH_LINE.search(e["message"]))
                ]
                if page["nextForwardToken"] == self._token:
                    break  # no newer events
                self._token = page["nextForwardToken"]
        except ClientError:
            pass  # progress is best effort: a missing group or stream just shows no epochs yet
        return self.epochs


# How long past the job's own MaxRuntimeInSeconds the harness waits (start-up, download, upload).
TRAINING_WAIT_MARGIN_S = 900.0


def artifact_exists(s3: Any, url: str) -> bool:
    """Whether ``s3://bucket/key`` exists (HeadObject); a reused job or model is checked before it is
    trusted, because its artifact may be gone (an embedded cloud restarted, a bucket cleaned up)."""
    bucket, _, key = url.removeprefix("s3://").partition("/")
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as exc:
        if is_not_found(exc):
            return False
        raise


def _reusable_job(sm: Any, s3: Any | None, name: str, log: Log) -> dict[str, Any] | None:
    """The newest Completed job named ``name`` or ``name-<suffix>`` whose model artifact still exists."""
    candidates = [_describe_job(sm, name)]
    pages = sm.get_paginator("list_training_jobs").paginate(
        NameContains=name, StatusEquals="Completed", SortBy="CreationTime", SortOrder="Descending"
    )
    candidates += [
        _describe_job(sm, j["TrainingJobName"])
        for page in pages
        for j in page.get("TrainingJobSummaries", [])
        if j["TrainingJobName"].startswith(f"{name}-")
    ]
    for job in candidates:
        if not job or job["TrainingJobStatus"] != "Completed":
            continue
        url = job["ModelArtifacts"]["S3ModelArtifacts"]
        if s3 is None or artifact_exists(s3, url):
            return job
        log(f"training job {job['TrainingJobName']} is Completed but its model {url} is gone; not reusing it")
    return None


def train(
    sm: Any,
    logs: Any,
    request: dict[str, Any],
    log: Log = lambda _m: None,
    epochs_progress: Steps | None = None,
    poll_s: float = 1.0,
    s3: Any | None = None,
    on_started: Callable[[str], None] = lambda _name: None,
    deadline_s: float | None = None,
) -> TrainedModel:
    """Run the job (or reuse a Completed one of the same name whose model is still in S3) and wait.

    ``on_started`` gets the name of a job this call created (the caller stops it if the run ends
    early). The wait ends at ``deadline_s`` (default: the job's MaxRuntimeInSeconds plus
    :data:`TRAINING_WAIT_MARGIN_S`) with the job stopped and a :class:`TrainingFailed` saying so.
    """
    name = request["TrainingJobName"]
    total_epochs = int(request["HyperParameters"].get("epochs", "0") or 0)
    reusable = _reusable_job(sm, s3, name, log)
    if reusable:
        log(f"reusing training job {reusable['TrainingJobName']} (same image, hyperparameters and data)")
        return TrainedModel(
            reusable["TrainingJobName"], reusable["ModelArtifacts"]["S3ModelArtifacts"], reused=True
        )
    job = _describe_job(sm, name)
    if job and job["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
        name = f"{name}-{int(time.time())}"
        request = {**request, "TrainingJobName": name}
    if not job or job["TrainingJobName"] != name:
        # A role created moments ago (first run on a fresh account) may not be assumable yet.
        retry_role_propagation(lambda: sm.create_training_job(**request))
        on_started(name)
        log(f"started training job {name}")
    if deadline_s is None:
        max_runtime = request.get("StoppingCondition", {}).get("MaxRuntimeInSeconds", 86400)
        deadline_s = float(max_runtime) + TRAINING_WAIT_MARGIN_S
    waiting_since = time.monotonic()
    last_status = ""
    epoch_log = EpochLog(logs, name)
    while True:
        job = sm.describe_training_job(TrainingJobName=name)
        status = f"{job['TrainingJobStatus']}/{job.get('SecondaryStatus', '')}"
        if status != last_status:
            log(f"training job {name}: {status}")
            last_status = status
        if epochs_progress and total_epochs:
            epochs_progress(len(epoch_log.poll()), total_epochs)
        if job["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
            break
        if time.monotonic() - waiting_since >= deadline_s:
            stop_training_job(sm, name)
            raise TrainingFailed(
                f"training job {name} did not end within {deadline_s:g} s of waiting "
                f"(last status {status}); stopped it (StopTrainingJob)"
            )
        time.sleep(poll_s)
    if job["TrainingJobStatus"] != "Completed":
        raise TrainingFailed(
            f"training job {name} {job['TrainingJobStatus']}: {job.get('FailureReason', 'no reason given')}"
        )
    best = max((acc for _, acc in epoch_log.epochs), default=None) if epochs_progress else None
    return TrainedModel(
        name, job["ModelArtifacts"]["S3ModelArtifacts"], reused=False, best_validation_accuracy=best
    )


def stop_training_job(sm: Any, name: str) -> bool:
    """StopTrainingJob when the job is still InProgress; ``False`` when it had already ended."""
    job = _describe_job(sm, name)
    if not job or job["TrainingJobStatus"] != "InProgress":
        return False
    try:
        sm.stop_training_job(TrainingJobName=name)
    except ClientError as exc:  # it ended between the two calls
        if error_code(exc) != "ValidationException":
            raise
        return False
    return True


def _exists(call: Callable[[], Any]) -> dict[str, Any] | None:
    try:
        return call()
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise


ENDPOINT_WAIT = {"Delay": 1, "MaxAttempts": 600}  # InService within 10 minutes, or a clear error


def _config_differences(existing: dict[str, Any], wanted: dict[str, Any]) -> str:
    """What of ``wanted`` an existing endpoint config does not do, in words ("" when it does it all)."""
    have, want = existing.get("DataCaptureConfig") or {}, wanted["DataCaptureConfig"]
    differences = []
    if have.get("DestinationS3Uri", "").rstrip("/") != want["DestinationS3Uri"].rstrip("/"):
        differences.append(f"captures to {have.get('DestinationS3Uri')}, not {want['DestinationS3Uri']}")
    elif not have.get("EnableCapture"):
        differences.append("does not capture")
    old_variant, new_variant = (
        (existing.get("ProductionVariants") or [{}])[0],
        wanted["ProductionVariants"][0],
    )
    for key in ("ModelName", "InstanceType"):
        if old_variant.get(key) != new_variant[key]:
            differences.append(f"{key} {old_variant.get(key)}, not {new_variant[key]}")
    return "; ".join(differences)


def _digest(request: dict[str, Any]) -> str:
    """Eight hex digits that change with everything in ``request`` but its name."""
    body = {k: v for k, v in request.items() if k != "EndpointConfigName"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:8]


def deploy_endpoint(
    sm: Any,
    settings: Settings,
    trained: TrainedModel,
    role_arn: str,
    log: Log = lambda _m: None,
    s3: Any | None = None,
) -> str:
    """Model + EndpointConfig named after the job, then create or update the endpoint; wait for InService.

    With ``s3``, a model that already exists is checked before it is reused: its data must be in S3,
    or an endpoint (re)started on it would only fail minutes later with "Failed to download model data".
    """
    model = model_name(trained.job_name)
    config_name = endpoint_config_name(trained.job_name)
    existing = _exists(lambda: sm.describe_model(ModelName=model))
    if existing is None:
        sm.create_model(**model_request(model, image_uri(settings), trained.model_data_url, role_arn))
        log(f"created model {model}")
    elif s3 is not None:
        url = existing.get("PrimaryContainer", {}).get("ModelDataUrl", trained.model_data_url)
        if not artifact_exists(s3, url):
            raise EndpointFailed(
                f"model {model} serves {url}, which does not exist; "
                f"delete model {model} so that the next run creates it again"
            )
    wanted = endpoint_config_request(settings, config_name, model)
    existing_config = _exists(lambda: sm.describe_endpoint_config(EndpointConfigName=config_name))
    if existing_config is not None and (differs := _config_differences(existing_config, wanted)):
        # Reusing it would capture elsewhere than this run reads (or serve on another instance type).
        config_name = endpoint_config_name(trained.job_name, _digest(wanted))
        wanted["EndpointConfigName"] = config_name
        reused = existing_config["EndpointConfigName"]
        log(f"endpoint config {reused} differs ({differs}): using {config_name}")
        existing_config = _exists(lambda: sm.describe_endpoint_config(EndpointConfigName=config_name))
    if existing_config is None:
        sm.create_endpoint_config(**wanted)
        log(f"created endpoint config {config_name}")
    endpoint = settings.endpoint_name
    current = _exists(lambda: sm.describe_endpoint(EndpointName=endpoint))
    if current is not None and current["EndpointStatus"] in ("Creating", "Updating", "SystemUpdating"):
        # UpdateEndpoint now would be refused ("Cannot update in-progress endpoint"): let it settle first.
        log(f"endpoint {endpoint} is {current['EndpointStatus']}; waiting for it to settle")
        with contextlib.suppress(WaiterError):  # Failed is handled below
            sm.get_waiter("endpoint_in_service").wait(EndpointName=endpoint, WaiterConfig=ENDPOINT_WAIT)
        current = _exists(lambda: sm.describe_endpoint(EndpointName=endpoint))
    elif current is not None and current["EndpointStatus"] == "Deleting":
        sm.get_waiter("endpoint_deleted").wait(EndpointName=endpoint, WaiterConfig=ENDPOINT_WAIT)
        current = None
    if current is None:
        sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config_name)
        log(f"creating endpoint {endpoint}")
    elif current["EndpointStatus"] == "Failed":
        sm.delete_endpoint(EndpointName=endpoint)
        sm.get_waiter("endpoint_deleted").wait(EndpointName=endpoint, WaiterConfig=ENDPOINT_WAIT)
        sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config_name)
        log(f"re-creating failed endpoint {endpoint}")
    elif current["EndpointConfigName"] != config_name:
        sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=config_name)
        log(f"updating endpoint {endpoint} to {config_name}")
    else:
        log(f"reusing endpoint {endpoint}")
    try:
        sm.get_waiter("endpoint_in_service").wait(EndpointName=endpoint, WaiterConfig=ENDPOINT_WAIT)
    except WaiterError as exc:  # Failed, or still not InService at the deadline: say which
        reason = _exists(lambda: sm.describe_endpoint(EndpointName=endpoint)) or {}
        limit = ENDPOINT_WAIT["Delay"] * ENDPOINT_WAIT["MaxAttempts"]
        why = reason.get("FailureReason") or (
            f"still {reason.get('EndpointStatus', 'unknown')} after {limit} s of waiting"
        )
        raise EndpointFailed(f"endpoint {endpoint} did not come InService: {why}") from exc
    return endpoint
