"""AWS-shaped errors: an error code, an HTTP status and a message, as botocore expects them.

Raising one of these anywhere in the emulator ends the request with the wire shape the real
service uses, so callers see ``botocore.exceptions.ClientError`` with the same
``Error.Code`` they would get from AWS (and the waiters' ``error`` acceptors match).
"""

from __future__ import annotations

from typing import Any


class AwsError(Exception):
    """An error the client should see. ``extra`` fields go into the body (e.g. ModelError's)."""

    code = "InternalFailure"
    status = 500

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None, **extra: Any):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.extra = extra


# Control plane (JSON 1.1). SageMaker answers most "not found" cases with ValidationException.
class ValidationException(AwsError):
    code = "ValidationException"
    status = 400


class ResourceNotFound(AwsError):
    code = "ResourceNotFound"
    status = 400


class ResourceInUse(AwsError):
    code = "ResourceInUse"
    status = 400


class ResourceLimitExceeded(AwsError):
    code = "ResourceLimitExceeded"
    status = 400


class UnknownOperationException(AwsError):
    code = "UnknownOperationException"
    status = 400


class SerializationException(AwsError):
    code = "SerializationException"
    status = 400


# Runtime (rest-json): the runtime service calls its client errors ValidationError.
class ValidationError(AwsError):
    code = "ValidationError"
    status = 400


class ModelError(AwsError):
    """The model container answered with an error (or not at all); carries OriginalStatusCode etc."""

    code = "ModelError"
    status = 424


class ModelNotReadyException(AwsError):
    code = "ModelNotReadyException"
    status = 429


class ServiceUnavailable(AwsError):
    code = "ServiceUnavailable"
    status = 503
