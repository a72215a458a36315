"""Train the classifier and host it: CreateTrainingJob, then Model, EndpointConfig and Endpoint.

The request bodies are built by pure functions (``*_request``) so the aws
target's requests can be compared with the local target's, field by field.

Re-running reuses: the training job's name is a digest of everything that
determines its result (image, hyperparameters, the staged manifests, instance
type), so a second run with the same inputs finds the Completed job and uses its
model instead of training again; the endpoint is updated only when it serves a
different model.
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

from harness.aws_errors import is_not_found
from harness.config import Settings
from harness.deploy import retry_role_propagation
from harness.layout import CHANNELS
from harness.names import JOB_PREFIX, TRAINING_LOG_GROUP

# The built-in image-classification algorithm's registry per region (the SageMaker Python SDK's
# image_uri_config/image-classification.json, version 1); tests compare it with the SDK.
BUILTIN_REGISTRIES = {
    "ap-east-1": "286214385809",
    "ap-northeast-1": "501404015308",
    "ap-northeast-2": "306986355934",
    "ap-south-1": "991648021394",
    "ap-southeast-1": "475088953585",
    "ap-southeast-2": "544295431143",
    "ca-central-1": "469771592824",
    "cn-north-1": "390948362332",
    "cn-northwest-1": "387376663083",
    "eu-central-1": "813361260812",
    "eu-north-1": "669576153137",
    "eu-west-1": "685385470294",
    "eu-west-2": "644912444149",
    "eu-west-3": "749696950732",
    "me-south-1": "249704162688",
    "sa-east-1": "855470959533",
    "us-east-1": "811284229777",
    "us-east-2": "825641698319",
    "us-gov-west-1": "226302683700",
    "us-west-1": "632365934929",
    "us-west-2": "433757028032",
}
EPOCH_LINE = re.compile(r"Epoch\[(\d+)\].*Validation-accuracy=([0-9.]+)")

Log = Callable[[str], None]
Steps = Callable[[int, int], None]


class TrainingFailed(RuntimeError):
    """The training job ended Failed or Stopped; the message carries SageMaker's FailureReason."""


class EndpointFailed(RuntimeError):
    """The endpoint ended Failed; the message carries SageMaker's FailureReason."""


def builtin_image_uri(region: str) -> str:
    """The built-in image-classification algorithm's image for ``region``."""
    if region not in BUILTIN_REGISTRIES:
        raise ValueError(f"the built-in image-classification algorithm is not listed for region {region!r}")
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{BUILTIN_REGISTRIES[region]}.dkr.ecr.{region}.{domain}/image-classification:1"


def image_uri(settings: Settings) -> str:
    """The training/serving image: the built-in one, or the project's own (``algorithm`` image)."""
    if settings.algorithm == "builtin":
        return builtin_image_uri(settings.region)
    return settings.training_image or builtin_image_uri(settings.region)


def hyperparameters(settings: Settings, num_training_samples: int) -> dict[str, str]:
    """The built-in algorithm's hyperparameters (all strings, as the API requires)."""
    values: dict[str, Any] = {
        "num_classes": 2,
        "num_training_samples": num_training_samples,
        "image_shape": "3,32,32",
        "epochs": settings.epochs,
        "mini_batch_size": settings.mini_batch_size,
        "learning_rate": settings.learning_rate,
        "num_layers": settings.num_layers,
    }
    return {k: str(v) for k, v in values.items() if v is not None}


def _channel(name: str, uri: str) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": uri,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
        "ContentType": "application/x-image",
        "CompressionType": "None",
        "InputMode": "File",
    }


def training_job_request(
    settings: Settings, job_name: str, role_arn: str, num_training_samples: int
) -> dict[str, Any]:
    """CreateTrainingJob with the built-in contract: four channels, AWS hyperparameter names."""
    data = f"s3://{settings.bucket}/{settings.data_prefix}"
    return {
        "TrainingJobName": job_name,
        "AlgorithmSpecification": {"TrainingImage": image_uri(settings), "TrainingInputMode": "File"},
        "RoleArn": role_arn,
        "HyperParameters": hyperparameters(settings, num_training_samples),
        "InputDataConfig": [_channel(name, data + rel) for name, rel in CHANNELS.items()],
        "OutputDataConfig": {"S3OutputPath": f"s3://{settings.bucket}/{settings.model_prefix}"},
        "ResourceConfig": {
            "InstanceType": settings.training_instance_type,
            "InstanceCount": 1,
            "VolumeSizeInGB": 5,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }


def job_name_for(request: dict[str, Any], manifests_etag: str) -> str:
    """A name that is the same exactly when the job would compute the same model."""
    fingerprint = json.dumps(
        {
            "image": request["AlgorithmSpecification"]["TrainingImage"],
            "hp": request["HyperParameters"],
            "data": manifests_etag,
            "instance": request["ResourceConfig"]["InstanceType"],
        },
        sort_keys=True,
    )
    return JOB_PREFIX + hashlib.sha256(fingerprint.encode()).hexdigest()[:16]


def model_request(model_name: str, image: str, model_data_url: str, role_arn: str) -> dict[str, Any]:
    return {
        "ModelName": model_name,
        "PrimaryContainer": {"Image": image, "ModelDataUrl": model_data_url},
        "ExecutionRoleArn": role_arn,
    }


def endpoint_config_request(settings: Settings, config_name: str, model_name: str) -> dict[str, Any]:
    """One variant, and Model Monitor data capture of every request and response."""
    return {
        "EndpointConfigName": config_name,
        "ProductionVariants": [
            {
                "VariantName": "AllTraffic",
                "ModelName": model_name,
                "InitialInstanceCount": 1,
                "InstanceType": settings.inference_instance_type,
                "InitialVariantWeight": 1.0,
            }
        ],
        "DataCaptureConfig": {
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": settings.capture_uri,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
        },
    }


# ---------------------------------------------------------------------------------------------------------
# Running them


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
        if exc.response.get("Error", {}).get("Code") != "ValidationException":
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
    model_name = f"{trained.job_name}-model"[:63]
    config_name = f"{trained.job_name}-config"[:63]
    existing = _exists(lambda: sm.describe_model(ModelName=model_name))
    if existing is None:
        sm.create_model(**model_request(model_name, image_uri(settings), trained.model_data_url, role_arn))
        log(f"created model {model_name}")
    elif s3 is not None:
        url = existing.get("PrimaryContainer", {}).get("ModelDataUrl", trained.model_data_url)
        if not artifact_exists(s3, url):
            raise EndpointFailed(
                f"model {model_name} serves {url}, which does not exist; "
                f"delete model {model_name} so that the next run creates it again"
            )
    if not _exists(lambda: sm.describe_endpoint_config(EndpointConfigName=config_name)):
        sm.create_endpoint_config(**endpoint_config_request(settings, config_name, model_name))
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
