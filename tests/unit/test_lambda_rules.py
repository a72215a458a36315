"""AWS Lambda's limits and refusals that the harness enforces and LocalStack 4.9.2 does not.

The embedded-cloud side of each is in tests/e2e/test_lambda_api_edges.py; these pin the numbers and
wordings to their AWS sources without starting anything.
"""

from __future__ import annotations

import datetime
import http.client
import json
import threading

from localstack_plugin import lambda_rules
from localstack_plugin.runtime_api import API_PREFIX, Invocation, RuntimeApi

TODAY = datetime.date(2026, 12, 7)


def test_response_limit_and_wording_are_aws_recorded_ones() -> None:
    # AWS's recorded answer to a 7 MB response (LocalStack's AWS-validated snapshot
    # tests/aws/services/lambda_/test_lambda.snapshot.json, TestLambdaBaseFeatures::
    # test_lambda_too_large_response, validated 2025-11-24): FunctionError Unhandled with
    # {"errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
    #  "errorType": "Function.ResponseSizeTooLarge"}; a 6 MiB response passes (test_lambda_large_response).
    assert lambda_rules.MAX_RESPONSE_BYTES == 6291556
    assert lambda_rules.RESPONSE_TOO_LARGE_TYPE == "Function.ResponseSizeTooLarge"
    assert lambda_rules.RESPONSE_TOO_LARGE_MESSAGE == (
        "Response payload size exceeded maximum allowed payload size (6291556 bytes)."
    )


def test_request_limits_follow_the_invocation_type() -> None:
    # AWS: "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    # (RequestEntityTooLargeException, as AWS answered a 7 MB synchronous Invoke, quoted in
    # https://zaccharles.medium.com/deep-dive-lambdas-request-payload-size-limit-2-2-6350c1ae5577);
    # the Invoke API reference: 6 MB synchronous, 1 MB asynchronous.
    sync = lambda_rules.MAX_SYNC_REQUEST_BYTES
    assert sync == 6291456
    assert lambda_rules.request_too_large("RequestResponse", sync) is None
    assert lambda_rules.request_too_large(None, sync + 1) == (
        "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    )
    assert lambda_rules.request_too_large("DryRun", sync + 1) is not None
    assert lambda_rules.request_too_large("Event", 1024 * 1024) is None
    assert "1048576 bytes" in (lambda_rules.request_too_large("Event", 1024 * 1024 + 1) or "")


def test_python38_and_older_are_refused_on_create_and_update() -> None:
    # AWS's recorded refusal (LocalStack's AWS-validated snapshot tests/aws/services/lambda_/
    # test_lambda_api.snapshot.json, TestRuntimeValidation::test_create_deprecated_function_runtime_
    # with_validation_enabled[python3.7], recorded 2026-01-12); python3.8's block dates from AWS's
    # deprecation notice (create 2025-02-28, update 2025-03-31).
    expected = (
        "The runtime parameter of python3.8 is no longer supported for creating or updating AWS Lambda "
        "functions. We recommend you use a supported runtime while creating or updating functions."
    )
    assert lambda_rules.deprecated_runtime_refusal("python3.8", creating=True, today=TODAY) == expected
    assert lambda_rules.deprecated_runtime_refusal("python3.8", creating=False, today=TODAY) == expected
    for old in ("python3.7", "python3.6", "python2.7"):
        assert lambda_rules.deprecated_runtime_refusal(old, creating=False, today=TODAY) is not None
    # Between the two dates AWS still accepts updates of existing functions, not new ones.
    between = datetime.date(2025, 3, 15)
    assert lambda_rules.deprecated_runtime_refusal("python3.8", creating=True, today=between) is not None
    assert lambda_rules.deprecated_runtime_refusal("python3.8", creating=False, today=between) is None
    for current in ("python3.9", "python3.12", "python3.13", None):
        assert lambda_rules.deprecated_runtime_refusal(current, creating=True, today=TODAY) is None


def test_step_functions_names_unmodeled_lambda_errors_awslambdaexception() -> None:
    # https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html: errors are
    # Lambda.<SDK exception>; recorded on AWS: Lambda.ResourceNotFoundException (LocalStack's snapshot
    # tests/aws/services/stepfunctions/v2/error_handling/test_task_service_lambda.snapshot.json).
    modeled = {"ResourceNotFoundException", "TooManyRequestsException", "ServiceException"}
    assert (
        lambda_rules.sfn_error_name("ResourceNotFoundException", modeled)
        == "Lambda.ResourceNotFoundException"
    )
    assert (
        lambda_rules.sfn_error_name("TooManyRequestsException", modeled) == "Lambda.TooManyRequestsException"
    )
    assert lambda_rules.sfn_error_name("AccessDeniedException", modeled) == "Lambda.AWSLambdaException"


def test_runtime_api_turns_an_oversized_response_into_aws_error() -> None:
    api = RuntimeApi()
    try:
        small = api.submit(Invocation("small", b"{}", "arn:aws:lambda:us-east-1:0:function:f", 0))
        big = api.submit(Invocation("big", b"{}", "arn:aws:lambda:us-east-1:0:function:f", 0))
        host, port = api.address.split(":")
        statuses = {}

        def runtime() -> None:  # what awslambdaric does: take the next event, post its result
            for request_id, size in (("small", lambda_rules.MAX_RESPONSE_BYTES), ("big", 7 * 1024 * 1024)):
                conn = http.client.HTTPConnection(host, int(port), timeout=10)
                conn.request("GET", f"{API_PREFIX}/invocation/next")
                conn.getresponse().read()
                conn.request("POST", f"{API_PREFIX}/invocation/{request_id}/response", body=b"a" * size)
                reply = conn.getresponse()
                statuses[request_id] = (reply.status, json.loads(reply.read()))
                conn.close()

        thread = threading.Thread(target=runtime)
        thread.start()
        ok, refused = small.result(timeout=10), big.result(timeout=10)
        thread.join(10)
    finally:
        api.close()
    assert (ok.is_error, len(ok.payload)) == (False, lambda_rules.MAX_RESPONSE_BYTES)  # at the limit: passes
    assert refused.is_error
    assert json.loads(refused.payload) == {
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    }
    # The runtime is told its post was taken, so it carries on (see runtime_api.py on AWS's 413).
    assert statuses["small"][0] == statuses["big"][0] == 202
