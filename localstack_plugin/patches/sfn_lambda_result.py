"""The ``arn:aws:states:::lambda:invoke`` task result with every field AWS's has.

AWS's result of the optimized Lambda integration is Lambda's Invoke response as the AWS SDK for Java
sees it: ``ExecutedVersion``, ``Payload``, ``SdkHttpMetadata`` (``AllHttpHeaders``: each header a
list of values; ``HttpHeaders``; ``HttpStatusCode``), ``SdkResponseMetadata`` (``RequestId``) and
``StatusCode`` (recorded in LocalStack's AWS-validated snapshot
``tests/aws/services/stepfunctions/v2/services/test_lambda_task_service.snapshot.json``,
``test_invoke``). LocalStack 4.9.2 keeps only the members of botocore's ``InvocationResponse``
(``select_from_typed_dict`` in ``lambda_eval_utils``), so an ASL that reads
``$.SdkResponseMetadata.RequestId`` or ``$states.result.SdkHttpMetadata`` failed here and not on AWS.

This hook wraps that module's ``select_from_typed_dict``: for a real invocation (a response with
botocore's ``ResponseMetadata``; a MockConfigFile ``Return`` has none and stays as written, as in
Step Functions Local) it adds the two members, built from the invocation's own response: its request
id, status, date, executed version and content length. The headers AWS's front end adds and
LocalStack's does not (``Connection``, ``x-amzn-Remapped-Content-Length``, ``X-Amzn-Trace-Id``) get
plausible values (``keep-alive``, ``0``, a fresh X-Ray trace id); docs/parity.md says so.
Registered as a ``localstack.hooks.on_infra_start`` hook in this package's pyproject.
"""

from __future__ import annotations

import email.utils
import json
import os
import time
from typing import Any

from localstack.runtime import hooks

from localstack_plugin.patches import Replaces, applied, require_localstack_version

REPLACES = (
    Replaces(
        "localstack.services.stepfunctions.asl.component.state.state_execution.state_task.lambda_eval_utils",
        "select_from_typed_dict",
        "(typed_dict: type[typing.TypedDict], obj: dict, filter: bool = False) -> dict",
    ),
)


def _trace_id() -> str:
    return f"root=1-{int(time.time()):08x}-{os.urandom(12).hex()};parent={os.urandom(8).hex()};sampled=0"


def sdk_metadata(response: dict[str, Any]) -> dict[str, Any]:
    """``SdkHttpMetadata`` and ``SdkResponseMetadata`` for one Lambda Invoke response (boto3's dict)."""
    meta = response.get("ResponseMetadata") or {}
    received = {str(k).lower(): str(v) for k, v in (meta.get("HTTPHeaders") or {}).items()}
    request_id = meta.get("RequestId") or received.get("x-amzn-requestid", "")
    payload = response.get("Payload")
    length = received.get("content-length") or str(
        len(json.dumps(payload, separators=(",", ":")).encode()) if payload is not None else 0
    )
    # In the order AWS's recorded AllHttpHeaders has them.
    headers = {
        "X-Amz-Executed-Version": response.get("ExecutedVersion", "$LATEST"),
        "x-amzn-Remapped-Content-Length": "0",
        "Connection": "keep-alive",
        "x-amzn-RequestId": request_id,
        "Content-Length": length,
        "Date": received.get("date") or email.utils.formatdate(usegmt=True),
        "X-Amzn-Trace-Id": received.get("x-amzn-trace-id") or _trace_id(),
        "Content-Type": "application/json",
    }
    return {
        "SdkHttpMetadata": {
            "AllHttpHeaders": {name: [value] for name, value in headers.items()},
            "HttpHeaders": dict(sorted(headers.items(), key=lambda item: item[0].lower())),
            "HttpStatusCode": meta.get("HTTPStatusCode", response.get("StatusCode", 200)),
        },
        "SdkResponseMetadata": {"RequestId": request_id},
    }


def _with_sdk_metadata(original: Any) -> Any:
    def select_from_typed_dict(typed_dict: Any, obj: dict, filter: bool = False) -> Any:
        selected = original(typed_dict, obj, filter)
        if getattr(typed_dict, "__name__", "") == "InvocationResponse" and "ResponseMetadata" in obj:
            selected = {**selected, **sdk_metadata(obj)}
        return selected

    select_from_typed_dict.__wrapped__ = original  # type: ignore[attr-defined]
    return select_from_typed_dict


@hooks.on_infra_start()
def lambda_task_results_as_aws() -> None:
    require_localstack_version("sfn_lambda_result")
    from localstack.services.stepfunctions.asl.component.state.state_execution.state_task import (
        lambda_eval_utils,
    )

    lambda_eval_utils.select_from_typed_dict = _with_sdk_metadata(lambda_eval_utils.select_from_typed_dict)
    applied("sfn_lambda_result")
