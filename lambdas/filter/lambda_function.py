"""filter: pass confident inferences on, fail the execution on low confidence.

Input: the classifier's output. Below ``THRESHOLD`` (environment, default 0.93)
the function raises :class:`ThresholdConfidenceNotMet`; Step Functions reports
that class name as the execution's error and the message (which names the
confidence and the threshold) as its cause.
"""

from __future__ import annotations

import math
import os
from typing import Any

DEFAULT_THRESHOLD = 0.93


class MissingEventKey(Exception):
    """The event lacks a key the function needs."""


class MalformedInferences(Exception):
    """``inferences`` is not a non-empty list of probabilities in [0, 1]."""


class ThresholdConfidenceNotMet(Exception):
    """No class reached the confidence threshold."""


def _threshold() -> float:
    raw = os.environ.get("THRESHOLD", str(DEFAULT_THRESHOLD))
    value = float(raw)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"THRESHOLD must be between 0 and 1, got {raw!r}")
    return value


def _inferences(event: Any) -> list[float]:
    body = event.get("body", event) if isinstance(event, dict) else None
    if not isinstance(body, dict) or "inferences" not in body:
        raise MissingEventKey("event has no 'inferences' (expected it under 'body' or at the top level)")
    raw = body["inferences"]
    ok = (
        isinstance(raw, list)
        and raw
        and all(isinstance(p, int | float) and not isinstance(p, bool) for p in raw)
        and all(math.isfinite(p) and 0.0 <= p <= 1.0 for p in raw)
    )
    if not ok:
        raise MalformedInferences(f"inferences must be a non-empty list of probabilities, got {raw!r}")
    return [float(p) for p in raw]


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    inferences = _inferences(event)
    threshold = _threshold()
    confidence = max(inferences)
    if confidence < threshold:
        raise ThresholdConfidenceNotMet(
            f"top confidence {confidence:.4f} (class {inferences.index(confidence)}) "
            f"is below the threshold {threshold}"
        )
    body = event.get("body", event)
    return {"statusCode": 200, "body": body}
