"""Faults on demand: make InvokeEndpoint fail or slow down, make a training job fail, on request.

A workflow's Retry and Catch paths only run when the cloud misbehaves, which a healthy emulator never
does. A fault rule says what an endpoint's invocations answer: ``ModelError`` (the container failed;
worded as runtime.py words a real container error), ``ThrottlingException`` (HTTP 400, which botocore's
retry modes retry, as against AWS), ``ServiceUnavailable`` (503), or only added latency; either for the
next ``count`` requests or at a ``rate`` (0-1) until cleared. A failed invocation never reaches the
model, so it is not captured, as on AWS. A training fault makes the next job created (or the named
one) end as ``Failed`` with the given ``FailureReason`` once it reaches its Training phase.

Set through ``/_emulator/faults`` (responses.py) or ``harness faults``; state lives in memory only.
"""

from __future__ import annotations

import random
import threading
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from sagemaker_emulator.errors import AwsError, ServiceUnavailable, ValidationException

ENDPOINT_ERRORS = ("ModelError", "ThrottlingException", "ServiceUnavailable")
ANY = "*"


class ThrottlingException(AwsError):
    code = "ThrottlingException"
    status = 400


@dataclass
class EndpointFault:
    """One rule for ``endpoint`` (``*``: every endpoint). ``error`` None: latency only."""

    endpoint: str = ANY
    error: str | None = None
    latency_ms: float = 0.0
    count: int | None = None  # the next N requests; None: until cleared, at ``rate``
    rate: float = 1.0
    message: str | None = None
    status: int = 500  # ModelError: the container's status code
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    hits: int = 0


@dataclass
class TrainingFault:
    failure_reason: str
    job: str | None = None  # None: the next job created
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])


def endpoint_fault(spec: dict[str, Any]) -> EndpointFault:
    """Build a rule from the control API's JSON, refusing what cannot be meant."""
    allowed = {"endpoint", "error", "latency_ms", "count", "rate", "message", "status"}
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ValidationException(
            f"unknown fault field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )
    fault = EndpointFault(**spec)
    if fault.error is not None and fault.error not in ENDPOINT_ERRORS:
        raise ValidationException(f"error must be one of {', '.join(ENDPOINT_ERRORS)}, got {fault.error!r}")
    if fault.error is None and not fault.latency_ms:
        raise ValidationException("a fault needs an error, a latency_ms, or both")
    if not 0.0 < fault.rate <= 1.0:
        raise ValidationException(f"rate must be in (0, 1], got {fault.rate}")
    if fault.count is not None and fault.count < 1:
        raise ValidationException(f"count must be at least 1, got {fault.count}")
    if not 0 <= fault.latency_ms <= 600_000:
        raise ValidationException(f"latency_ms must be between 0 and 600000, got {fault.latency_ms}")
    return fault


class Faults:
    """The active rules; thread-safe (the runtime picks from the event loop, the API from threads)."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self.endpoint_rules: list[EndpointFault] = []
        self.training_rules: list[TrainingFault] = []

    def add_endpoint(self, spec: dict[str, Any]) -> EndpointFault:
        fault = endpoint_fault(spec)
        with self._lock:
            self.endpoint_rules.append(fault)
        return fault

    def add_training(self, spec: dict[str, Any]) -> TrainingFault:
        reason = spec.get("failure_reason")
        if not isinstance(reason, str) or not reason:
            raise ValidationException("a training fault needs a non-empty failure_reason")
        if set(spec) - {"failure_reason", "job"}:
            raise ValidationException("a training fault takes failure_reason and, optionally, job")
        fault = TrainingFault(failure_reason=reason, job=spec.get("job"))
        with self._lock:
            self.training_rules.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.endpoint_rules.clear()
            self.training_rules.clear()

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "endpoints": [asdict(f) for f in self.endpoint_rules],
                "training": [asdict(f) for f in self.training_rules],
            }

    def for_invocation(self, endpoint: str) -> EndpointFault | None:
        """The rule this request meets, if any; a ``count`` rule is used up as it is met."""
        with self._lock:
            for fault in self.endpoint_rules:
                if fault.endpoint not in (ANY, endpoint):
                    continue
                if fault.count is None and self._random.random() >= fault.rate:
                    continue
                fault.hits += 1
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count == 0:
                        self.endpoint_rules.remove(fault)
                return fault
        return None

    def for_training_job(self, name: str) -> str | None:
        """The FailureReason job ``name`` must end with, if a rule names it (or waits for the next job)."""
        with self._lock:
            for fault in self.training_rules:
                if fault.job in (None, name):
                    self.training_rules.remove(fault)
                    return fault.failure_reason
        return None


def error_for(fault: EndpointFault, endpoint: str, model_error: Any) -> AwsError:
    """The AwsError a rule answers with; ``model_error`` words ModelError as the runtime does."""
    if fault.error == "ThrottlingException":
        return ThrottlingException(fault.message or "Rate exceeded")
    if fault.error == "ServiceUnavailable":
        return ServiceUnavailable(fault.message or "Service is temporarily unavailable. Try again later.")
    return model_error(endpoint, fault.status, fault.message or "Internal server error (injected fault)")
