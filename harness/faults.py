"""Client of the SageMaker emulator's fault API (``/_emulator/faults``): used by ``harness faults`` and tests.

Faults exist only in the emulator (see sagemaker_emulator/faults.py): on AWS an endpoint fails on its
own schedule, so these calls refuse any target whose SageMaker is not the emulator.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from harness.targets.base import Target, TargetError


class FaultError(RuntimeError):
    """The emulator refused the fault or could not be reached; the message says which and why."""


def _url(target: Target, path: str) -> str:
    base = target.endpoint_url("sagemaker")
    if not target.capabilities.fault_api or not base:
        raise TargetError(f"faults are injected into the SageMaker emulator; target {target.name} has none")
    return f"{base.rstrip('/')}/_emulator/faults{path}"


def _call(target: Target, method: str, path: str = "", body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        _url(target, path), data=data, method=method, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("message", "")
        except ValueError:
            detail = str(exc)
        raise FaultError(f"the emulator refused the fault: {detail}") from exc
    except OSError as exc:
        raise FaultError(f"the SageMaker emulator at {_url(target, '')} is not reachable: {exc}") from exc


def add_endpoint_fault(target: Target, **spec: Any) -> dict[str, Any]:
    """``error`` (ModelError, ThrottlingException, ServiceUnavailable) and/or latency_ms; count or rate."""
    return _call(target, "POST", "/endpoint", {k: v for k, v in spec.items() if v is not None})


def add_training_fault(target: Target, failure_reason: str, job: str | None = None) -> dict[str, Any]:
    """The next training job created (or ``job``) fails with ``failure_reason``."""
    return _call(
        target, "POST", "/training", {"failure_reason": failure_reason, **({"job": job} if job else {})}
    )


def list_faults(target: Target) -> dict[str, Any]:
    return _call(target, "GET")


def clear_faults(target: Target) -> dict[str, Any]:
    return _call(target, "DELETE")
