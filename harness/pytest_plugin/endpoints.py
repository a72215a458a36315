"""Host a ``model.tar.gz`` on a SageMaker endpoint with data capture, and read what it captured.

The same requests ``harness run`` sends (:func:`harness.jobs.deploy_endpoint`): a model, an endpoint
config capturing every request and response to ``s3://<bucket>/<capture_prefix>``, an endpoint; so a
user's test of their own model exercises the workflow's exact hosting contract.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from harness import jobs, teardown
from harness.account import sagemaker_role
from harness.config import Settings
from harness.report.capture import CaptureRecord, scan_captures
from harness.targets.base import Target

MODELS_PREFIX = "pytest-models"


def ensure_bucket(s3: Any, bucket: str, region: str) -> None:
    """Create ``bucket`` unless it exists (us-east-1 takes no location constraint)."""
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket in existing:
        return
    extra = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket, **extra)


def host_model(
    settings: Settings, target: Target, model_tar: Path | str, *, name: str | None = None
) -> tuple[str, Settings]:
    """Upload ``model_tar`` (a local file or an ``s3://`` URI), host it, wait for InService.

    Returns the endpoint's name and the settings it was created with (its bucket and capture prefix).
    """
    name = name or f"pytest-ep-{uuid.uuid4().hex[:8]}"
    settings = settings.replace(endpoint_name=name)
    s3, sm = target.client("s3"), target.client("sagemaker")
    ensure_bucket(s3, settings.bucket, settings.region)
    source = str(model_tar)
    if source.startswith("s3://"):
        uri = source
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"model artifact {path} does not exist (expected a model.tar.gz)")
        key = f"{MODELS_PREFIX}/{name}/model.tar.gz"
        s3.upload_file(str(path), settings.bucket, key)
        uri = f"s3://{settings.bucket}/{key}"
    trained = jobs.TrainedModel(job_name=name, model_data_url=uri, reused=True)
    jobs.deploy_endpoint(sm, settings, trained, sagemaker_role(target))
    return name, settings


def delete_hosted(target: Target, endpoint: str) -> None:
    """Delete the endpoint and the model and config named after it; a missing one is fine."""
    sm = target.client("sagemaker")
    teardown.delete_endpoint(sm, endpoint)
    for call in (
        lambda: sm.delete_endpoint_config(EndpointConfigName=f"{endpoint}-config"[:63]),
        lambda: sm.delete_model(ModelName=f"{endpoint}-model"[:63]),
    ):
        teardown.gone(call)


def captured(
    settings: Settings, target: Target, endpoint: str, *, wait_for: int = 0, timeout: float = 30.0
) -> list[CaptureRecord]:
    """The endpoint's capture records; with ``wait_for``, poll until that many arrived (or timeout).

    Capture reaches S3 in batches some time after each invocation (on AWS minutes, on the emulator
    about a second), so a test that just invoked the endpoint N times asks for ``wait_for=N``.
    """
    s3 = target.client("s3")
    deadline = time.monotonic() + timeout
    while True:
        scan = scan_captures(s3, settings.bucket, settings.capture_prefix, endpoint)
        if len(scan.records) >= wait_for or time.monotonic() >= deadline:
            return scan.records
        time.sleep(0.5)
