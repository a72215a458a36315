"""serializeImageData: read an image from S3 and hand it on base64-encoded.

Input event (the state machine's input): ``{"s3_bucket": ..., "s3_key": ..., ...}``.
Output: ``{"statusCode": 200, "body": {"image_data": <base64 str>, "s3_bucket", "s3_key",
"inferences": []}}``.

The function reads only inside ``DATA_BUCKET``/``DATA_PREFIX`` when those are set
(the deployment sets them), so a crafted event cannot make it read other data.
Each failure raises its own exception class: Step Functions reports the class
name as the execution's error, which is what callers branch and alert on.
"""

from __future__ import annotations

import base64
import os
from typing import Any

import boto3
from botocore.exceptions import ClientError

_s3 = None


class MissingEventKey(Exception):
    """The event lacks a key the function needs."""


class ImageNotFound(Exception):
    """The S3 object (or its bucket) does not exist."""


class AccessOutsideAllowedPrefix(Exception):
    """The event names a bucket or key outside what this function may read."""


class InvalidImageKey(Exception):
    """The key cannot be an S3 key: S3 keys are UTF-8 strings (a lone surrogate is not)."""


def _client() -> Any:
    global _s3
    if _s3 is None:  # created once per execution environment, reused by warm invocations
        _s3 = boto3.client("s3")
    return _s3


def _require(event: dict[str, Any], key: str) -> str:
    value = event.get(key) if isinstance(event, dict) else None
    if not isinstance(value, str) or not value:
        raise MissingEventKey(
            f"event has no {key!r} (got keys: {sorted(event) if isinstance(event, dict) else event!r})"
        )
    return value


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    bucket = _require(event, "s3_bucket")
    key = _require(event, "s3_key")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidImageKey(f"key {key!r} is not valid UTF-8, so it names no S3 object") from None
    allowed_bucket = os.environ.get("DATA_BUCKET")
    allowed_prefix = os.environ.get("DATA_PREFIX", "")
    if allowed_bucket and bucket != allowed_bucket:
        raise AccessOutsideAllowedPrefix(f"bucket {bucket!r} is not the configured bucket {allowed_bucket!r}")
    if not key.startswith(allowed_prefix) or ".." in key.split("/"):
        raise AccessOutsideAllowedPrefix(f"key {key!r} is outside the allowed prefix {allowed_prefix!r}")
    try:
        body = _client().get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "NoSuchBucket", "404", "NotFound"):
            raise ImageNotFound(f"s3://{bucket}/{key} does not exist ({code})") from None
        raise
    print(f"serialized s3://{bucket}/{key} ({len(body)} bytes)")
    return {
        "statusCode": 200,
        "body": {
            "image_data": base64.b64encode(body).decode("ascii"),
            "s3_bucket": bucket,
            "s3_key": key,
            "inferences": [],
        },
    }
