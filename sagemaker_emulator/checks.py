"""What SageMaker refuses at create time, beyond the request's shape (protocol.py checks that).

* ``CreateModel`` looks for each container's model data in S3 and answers ``ValidationException:
  Could not find model data at s3://....`` when there is none (recorded AWS responses, e.g. Terraform's
  "api error ValidationException: Could not find model data at s3://.../model.tar.gz."), so a model
  with a mistyped ``ModelDataUrl`` never gets as far as an endpoint that fails.
* ``CreateEndpointConfig`` with ``ServerlessConfig`` or ``AsyncInferenceConfig``: AWS accepts both, but
  the emulator cannot honour them (it would serve them synchronously on an instance, which passes tests
  that AWS would fail), so it refuses them, naming what it does not emulate.
* ``CreateTrainingJob``: what the emulator needs to run the job, and metric regexes that can be read.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sagemaker_emulator import aws, metrics
from sagemaker_emulator.errors import AwsError, ValidationException


def _has_model_data(uri: str, compressed: bool) -> bool:
    """Whether ``uri`` names an object (``compressed``) or a non-empty prefix.

    S3's answers "no such key / bucket" (or access denied, as AWS's check with the role would) count as
    no; S3 not answering at all is the emulator's own failure (InternalFailure naming S3), not the user's.
    """
    try:
        bucket, key = aws.split_s3_uri(uri)
    except ValueError:
        return False
    s3 = aws.client("s3")
    try:
        if compressed:
            s3.head_object(Bucket=bucket, Key=key)
            return True
        return bool(s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("KeyCount"))
    except ClientError:
        return False
    except BotoCoreError as exc:
        raise AwsError(f"The emulator could not reach S3 to check the model data at {uri}: {exc}") from exc


def check_model_data(request: dict[str, Any]) -> None:
    """``ValidationException: Could not find model data at <uri>.`` for the first container without any."""
    containers = [request["PrimaryContainer"]] if request.get("PrimaryContainer") else []
    for container in containers + list(request.get("Containers") or []):
        source = (container.get("ModelDataSource") or {}).get("S3DataSource")
        if container.get("ModelDataUrl"):
            uri, compressed = container["ModelDataUrl"], True  # always one object (model.tar.gz)
        elif source:
            uri, compressed = source["S3Uri"], source.get("CompressionType") == "Gzip"
        else:
            continue  # a model without data (the image carries it) is valid
        if not _has_model_data(uri, compressed):
            raise ValidationException(f"Could not find model data at {uri}.")


def check_endpoint_config(request: dict[str, Any]) -> None:
    """Refuse the inference kinds the emulator does not emulate (see the module docstring)."""
    if request.get("AsyncInferenceConfig"):
        raise ValidationException(
            "AsyncInferenceConfig: the SageMaker emulator does not emulate asynchronous inference "
            "(it would answer synchronously); use a real-time endpoint config."
        )
    for variant in request["ProductionVariants"]:
        if variant.get("ServerlessConfig"):
            raise ValidationException(
                f"ProductionVariant {variant['VariantName']}: the SageMaker emulator does not emulate "
                "serverless inference (memory size, concurrency, cold starts); use InstanceType and "
                "InitialInstanceCount."
            )


def check_training_job(p: dict[str, Any]) -> dict[str, Any]:
    """CreateTrainingJob's checks beyond the shape; returns its AlgorithmSpecification.

    The image and the resources must be named; channels must be S3 data sources (the emulator's own
    limit) and each MetricDefinitions regex must compile with a group for the value (metrics.py).
    """
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
    metrics.check(algo)
    return algo
