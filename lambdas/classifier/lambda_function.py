"""classifier: send the image to the SageMaker endpoint and add its class probabilities.

Input: the serializer's output (``{"body": {"image_data": ...}}``) or the same
keys at the top level. Output: the body with ``inferences = [p_bicycle, p_motorcycle]``.

The endpoint is called with plain boto3 (``sagemaker-runtime``), so the same code
reaches Amazon SageMaker or an emulator depending only on the endpoint variables
boto3 reads (``AWS_ENDPOINT_URL`` on the local targets). Bytes that are not an image are refused
before the endpoint is called: a bad payload should not cost an inference (or
land in the data capture).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

_runtime = None

# Magic numbers of the formats the endpoint accepts, with the content type to send.
_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))


class MissingEventKey(Exception):
    """The event lacks a key the function needs."""


class NotAnImage(Exception):
    """``image_data`` is not base64 of a PNG or JPEG image."""


class EndpointInvocationFailed(Exception):
    """The endpoint refused or failed the request; the message carries the endpoint's own."""


class MalformedInferences(Exception):
    """The endpoint answered with something other than a list of probabilities."""


def _client() -> Any:
    global _runtime
    if _runtime is None:
        _runtime = boto3.client("sagemaker-runtime")
    return _runtime


def _payload(event: Any) -> dict[str, Any]:
    body = event.get("body", event) if isinstance(event, dict) else None
    if not isinstance(body, dict) or "image_data" not in body:
        raise MissingEventKey("event has no 'image_data' (expected it under 'body' or at the top level)")
    return body


def _decode(image_data: Any) -> tuple[bytes, str]:
    try:
        image = base64.b64decode(image_data, validate=True)
    except (binascii.Error, TypeError, ValueError) as exc:
        raise NotAnImage(f"image_data is not valid base64: {exc}") from None
    for magic, content_type in _SIGNATURES:
        if image.startswith(magic):
            return image, content_type
    raise NotAnImage(f"image_data is not a PNG or JPEG image (first bytes {image[:8]!r})")


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    body = dict(_payload(event))
    image, content_type = _decode(body["image_data"])
    endpoint = os.environ["ENDPOINT_NAME"]
    try:
        response = _client().invoke_endpoint(
            EndpointName=endpoint, ContentType=content_type, Accept="application/json", Body=image
        )
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise EndpointInvocationFailed(
            f"endpoint {endpoint!r}: {error.get('Code', 'Error')}: {error.get('Message', exc)}"
        ) from None
    except BotoCoreError as exc:
        # No answer at all (EndpointConnectionError, ReadTimeoutError, ...): under the same named error,
        # so the state machine and its callers see one error for "the endpoint call failed".
        raise EndpointInvocationFailed(
            f"endpoint {endpoint!r} could not be reached: {type(exc).__name__}: {exc}"
        ) from None
    raw = response["Body"].read()
    try:
        inferences = [float(p) for p in json.loads(raw)]
    except (ValueError, TypeError) as exc:
        raise MalformedInferences(f"endpoint {endpoint!r} returned {raw[:200]!r}: {exc}") from None
    print(f"classified {body.get('s3_key', '<image>')}: {inferences}")
    body["inferences"] = inferences
    return {"statusCode": 200, "body": body}
