"""One reading of botocore's ``ClientError``: its code, its message, and whether it means "not found".

AWS services say "not found" in many ways: S3 with ``NoSuchBucket``/``NoSuchKey`` (or a bare ``404`` on
HEAD requests, which have no body), IAM with ``NoSuchEntity``, Lambda with ``ResourceNotFoundException``,
Step Functions with ``StateMachineDoesNotExist``, and SageMaker with a ``ValidationException`` whose
message says it could not find the resource. Before this module each caller kept its own subset, and
some treated every ``ValidationException`` as "not found", which hid real validation errors.
"""

from __future__ import annotations

import re

from botocore.exceptions import ClientError

NOT_FOUND_CODES = frozenset(
    {
        "404",
        "NotFound",
        "NoSuchBucket",
        "NoSuchKey",
        "NoSuchEntity",
        "ResourceNotFound",
        "ResourceNotFoundException",
        "StateMachineDoesNotExist",
        "ExecutionDoesNotExist",
    }
)
# SageMaker's wording for a missing resource ("Could not find endpoint ...", "Requested resource not
# found.", "... does not exist"); any other ValidationException is a real validation error.
_SAGEMAKER_NOT_FOUND = re.compile(r"could not find|not found|does not exist", re.IGNORECASE)
ACCESS_DENIED_CODES = frozenset({"403", "AccessDenied", "AccessDeniedException", "Forbidden"})


def error_code(exc: ClientError) -> str:
    """The error's code (``""`` when the response has none)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", ""))


def is_not_found(exc: ClientError) -> bool:
    """Whether the call failed because the resource does not exist, on any service."""
    code = error_code(exc)
    if code in NOT_FOUND_CODES:
        return True
    return code == "ValidationException" and bool(_SAGEMAKER_NOT_FOUND.search(error_message(exc)))


def is_access_denied(exc: ClientError) -> bool:
    return error_code(exc) in ACCESS_DENIED_CODES
