"""writeResult: store a photo's classification next to the workflow, once per version of the photo.

Input: ``{"body": <the classifier's or filter's body>, "status": "classified" | "low_confidence",
"execution": <execution ARN>, "error": {"Error", "Cause"} (low confidence only)}``.
Output: the stored result plus ``result_key`` and ``duplicate`` (true when this version of the photo had
a result already).

The result goes to ``s3://<bucket>/<RESULTS_PREFIX><photo key>.json``. Why conditional writes:
EventBridge delivers at least once, so the same upload can start two executions, possibly around a
model update that would make their inferences differ. The result is keyed by the photo's key and ETag:
the first execution to write a result for an ETag wins (``If-None-Match: *`` on a new key, ``If-Match``
on the previous result when the photo was replaced), and a later one for the same ETag returns the
stored result instead of writing its own. Two different results for one photo version cannot both land.
"""

from __future__ import annotations

import datetime
import json
import os
from typing import Any

import boto3
from botocore.exceptions import ClientError

LABELS = ("bicycle", "motorcycle")
DEFAULT_RESULTS_PREFIX = "results/"
_s3 = None


class MissingEventKey(Exception):
    """The event lacks a key the function needs."""


class ResultConflict(Exception):
    """Another writer kept replacing the result while this one tried to write it."""


def _client() -> Any:
    global _s3
    if _s3 is None:
        _s3 = boto3.client("s3")
    return _s3


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _body(event: Any) -> dict[str, Any]:
    body = event.get("body") if isinstance(event, dict) else None
    if not isinstance(body, dict) or not body.get("s3_bucket") or not body.get("s3_key"):
        raise MissingEventKey("event has no 'body' with 's3_bucket' and 's3_key'")
    return body


def result_key(photo_key: str, prefix: str) -> str:
    """Where the result of ``photo_key`` is stored."""
    return f"{prefix}{photo_key}.json"


def build_result(event: dict[str, Any], etag: str, version_id: str | None) -> dict[str, Any]:
    """The stored document: what was classified (key, ETag, version), how, by which execution."""
    body = _body(event)
    inferences = [float(p) for p in body.get("inferences") or []]
    best = max(range(len(inferences)), key=inferences.__getitem__) if inferences else None
    result: dict[str, Any] = {
        "s3_bucket": body["s3_bucket"],
        "s3_key": body["s3_key"],
        "etag": etag,
        "version_id": version_id,
        "status": event.get("status", "classified"),
        "inferences": inferences,
        "label": LABELS[best] if best is not None and best < len(LABELS) else None,
        "confidence": inferences[best] if best is not None else None,
        "execution": event.get("execution"),
        "written_at": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    if isinstance(event.get("error"), dict):
        result["error"] = event["error"].get("Error")
        result["cause"] = event["error"].get("Cause")
    return result


def _stored(s3: Any, bucket: str, key: str) -> tuple[dict[str, Any], str] | None:
    try:
        obj = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if _code(exc) in ("NoSuchKey", "404", "NotFound"):
            return None
        raise
    return json.loads(obj["Body"].read()), obj["ETag"]


def write_once(
    s3: Any, bucket: str, key: str, result: dict[str, Any], attempts: int = 5
) -> tuple[dict, bool]:
    """Store ``result`` unless a result for the same photo ETag is there; returns (stored, duplicate)."""
    data = json.dumps(result, indent=2).encode()
    for _ in range(attempts):
        current = _stored(s3, bucket, key)
        if current is not None and current[0].get("etag") == result["etag"]:
            return current[0], True
        condition = {"IfNoneMatch": "*"} if current is None else {"IfMatch": current[1]}
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/json", **condition)
            return result, False
        except ClientError as exc:
            # 412: another writer got there first; 409: a concurrent conditional write is in progress.
            if _code(exc) not in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                raise
    raise ResultConflict(f"s3://{bucket}/{key} kept changing during {attempts} conditional writes")


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    body = _body(event)
    bucket, photo = body["s3_bucket"], body["s3_key"]
    s3 = _client()
    head = s3.head_object(Bucket=bucket, Key=photo)
    result = build_result(event, head["ETag"].strip('"'), head.get("VersionId"))
    key = result_key(photo, os.environ.get("RESULTS_PREFIX", DEFAULT_RESULTS_PREFIX))
    stored, duplicate = write_once(s3, bucket, key, result)
    print(f"{'kept' if duplicate else 'wrote'} s3://{bucket}/{key} ({stored['status']}, {stored['label']})")
    return {**stored, "result_key": key, "duplicate": duplicate}
