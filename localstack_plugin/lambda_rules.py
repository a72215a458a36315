"""AWS Lambda's own rules that LocalStack 4.9.2 does not enforce, as plain data and pure functions.

Kept apart from the patches that apply them (``patches/lambda_api_checks.py``, ``runtime_api.py``,
``patches/sfn_lambda_errors.py``) so they can be unit-tested without LocalStack, and so the numbers are
AWS's, whatever LocalStack's own settings say (``LAMBDA_LIMITS_MAX_FUNCTION_PAYLOAD_SIZE_BYTES`` is a
LocalStack setting a user may change; these are not).

Sources: https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html and the Invoke API
reference (6 MB synchronous request and response, 1 MB asynchronous request); the exact byte counts and
wordings are AWS's recorded answers, cited where each is used.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

# A synchronous response: 6 MiB + 100 bytes. AWS's recorded answer names the number: "Response payload
# size exceeded maximum allowed payload size (6291556 bytes)." (LocalStack's AWS-validated snapshot
# tests/aws/services/lambda_/test_lambda.snapshot.json, test_lambda_too_large_response, re-validated
# 2025-11-24).
MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100
RESPONSE_TOO_LARGE_TYPE = "Function.ResponseSizeTooLarge"
RESPONSE_TOO_LARGE_MESSAGE = (
    f"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
)

# A request: 6 MiB for RequestResponse (AWS answers "Request must be smaller than 6291456 bytes for the
# InvokeFunction operation", RequestEntityTooLargeException, HTTP 413), 1 MB for Event (the Invoke API
# reference: "For asynchronous invocations, the maximum payload size is 1 MB", raised from 256 KB in
# 2025). The Event wording is the project's, built like the synchronous one (no recorded AWS answer).
MAX_SYNC_REQUEST_BYTES = 6 * 1024 * 1024
MAX_ASYNC_REQUEST_BYTES = 1024 * 1024
REQUEST_TOO_LARGE_CODE = "RequestEntityTooLargeException"


def request_too_large(invocation_type: str | None, size: int) -> str | None:
    """AWS's message when an Invoke payload of ``size`` bytes is over the limit, else ``None``."""
    if invocation_type == "Event":
        if size > MAX_ASYNC_REQUEST_BYTES:
            return (
                f"Request must be smaller than {MAX_ASYNC_REQUEST_BYTES} bytes for the InvokeAsync operation"
            )
        return None
    if size > MAX_SYNC_REQUEST_BYTES:
        return f"Request must be smaller than {MAX_SYNC_REQUEST_BYTES} bytes for the InvokeFunction operation"
    return None


@dataclass(frozen=True)
class Deprecation:
    """One row of AWS's deprecated-runtimes table: from when creating, then updating, is refused."""

    runtime: str
    block_create: datetime.date
    block_update: datetime.date


# AWS's "Deprecated runtimes" table (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html),
# the rows whose block dates have passed or are announced. Python 3.8: AWS's deprecation notice
# (quoted in aws-solutions/aws-control-tower-customizations#193) blocks create on 2025-02-28 and
# update on 2025-03-31. The older rows' dates are the ones LocalStack records from the same table
# (localstack/services/lambda_/runtimes.py, DEPRECATED_RUNTIMES_UPGRADES). Runtimes older than these
# (python2.7, python3.6, nodejs10.x, ...) were blocked long before and are refused from any date.
_LONG_AGO = datetime.date(2023, 1, 1)
DEPRECATIONS = {
    row.runtime: row
    for row in (
        Deprecation("python3.8", datetime.date(2025, 2, 28), datetime.date(2025, 3, 31)),
        Deprecation("python3.7", datetime.date(2024, 1, 9), datetime.date(2024, 2, 8)),
        Deprecation("nodejs14.x", datetime.date(2024, 1, 9), datetime.date(2024, 2, 8)),
        Deprecation("ruby2.7", datetime.date(2024, 1, 9), datetime.date(2024, 2, 8)),
        Deprecation("java8", datetime.date(2024, 2, 8), datetime.date(2024, 3, 12)),
        Deprecation("go1.x", datetime.date(2024, 2, 8), datetime.date(2024, 3, 12)),
        Deprecation("provided", datetime.date(2024, 2, 8), datetime.date(2024, 3, 12)),
        Deprecation("dotnetcore3.1", datetime.date(2023, 4, 3), datetime.date(2023, 5, 3)),
        Deprecation("nodejs12.x", datetime.date(2023, 3, 31), datetime.date(2023, 4, 30)),
        *(
            Deprecation(name, _LONG_AGO, _LONG_AGO)
            for name in (
                "python2.7",
                "python3.6",
                "nodejs",
                "nodejs4.3",
                "nodejs4.3-edge",
                "nodejs6.10",
                "nodejs8.10",
                "nodejs10.x",
                "dotnetcore1.0",
                "dotnetcore2.0",
                "dotnetcore2.1",
                "ruby2.5",
            )
        ),
    )
}


def deprecated_runtime_refusal(runtime: str | None, creating: bool, today: datetime.date) -> str | None:
    """AWS's InvalidParameterValueException message for a runtime it no longer accepts, else ``None``.

    The wording is AWS's recorded answer to CreateFunction with a blocked runtime (LocalStack's
    AWS-validated snapshot tests/aws/services/lambda_/test_lambda_api.snapshot.json,
    TestRuntimeValidation::test_create_deprecated_function_runtime_with_validation_enabled, recorded
    2026-01-12); AWS words its refusal of UpdateFunctionConfiguration the same ("for creating or updating").
    """
    row = DEPRECATIONS.get(runtime or "")
    if row is None or today < (row.block_create if creating else row.block_update):
        return None
    return (
        f"The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda "
        "functions. We recommend you use a supported runtime while creating or updating functions."
    )


def sfn_error_name(error_code: str, modeled: frozenset[str] | set[str]) -> str:
    """The error name Step Functions gives a Lambda API error of a Task, for both task forms.

    AWS: "Lambda errors are reported as Lambda.<exception name>" with the names of the SDK Step
    Functions uses (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html):
    an error of Lambda's service model keeps its name (recorded: ``Lambda.ResourceNotFoundException``,
    LocalStack's AWS-validated snapshot tests/aws/services/stepfunctions/v2/error_handling/
    test_task_service_lambda.snapshot.json); any other (``AccessDeniedException``, throttling by the
    gateway, a 5xx) is the SDK's generic ``AWSLambdaException``, which console-exported Retry blocks match.
    """
    return f"Lambda.{error_code}" if error_code in modeled else "Lambda.AWSLambdaException"
