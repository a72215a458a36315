"""Name a Lambda task's API errors as AWS Step Functions does, for both task forms (a LocalStack bug fix).

When the Lambda API refuses a task's Invoke (the state machine's role may not invoke the function, the
function does not exist, throttling), AWS reports ``Lambda.<exception>`` with the exception names of
the SDK Step Functions uses: the errors of Lambda's service model keep their names
(``Lambda.ResourceNotFoundException``, ``Lambda.TooManyRequestsException``), any other, such as an
``AccessDeniedException``, is ``Lambda.AWSLambdaException``
(https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html; a public AWS
execution shows ``Lambda.AWSLambdaException`` for a refused invoke). LocalStack 4.9.2 instead

- names it ``Lambda.<error code>`` for ``arn:aws:states:::lambda:invoke``
  (``StateTaskServiceLambda._error_cause_from_client_error``), so an IAM refusal became
  ``Lambda.AccessDeniedException``, which console-exported Retry blocks do not match;
- names it ``Exception`` with the bare message for a task whose ``Resource`` is the function's ARN
  (``StateTaskLambda._from_error``), which no ``Lambda.*`` Retry or Catch matches.

This replaces the first to use :func:`localstack_plugin.lambda_rules.sfn_error_name`, and wraps the
second so a ``ClientError`` gets the same name and cause (``<message> (Service: AWSLambda; Status Code:
...; Error Code: ...; Request ID: ...; Proxy: null)``, AWS's recorded cause of the first form) in its
``LambdaFunctionFailed`` event. Function errors (``FunctionError`` payloads) are untouched.

Registered as a ``localstack.hooks.on_infra_start`` hook in this package's pyproject.
"""

from __future__ import annotations

from typing import Any

from localstack.runtime import hooks

from localstack_plugin import lambda_rules
from localstack_plugin.patches import Replaces, applied, require_localstack_version

_TASK = "localstack.services.stepfunctions.asl.component.state.state_execution.state_task"
REPLACES = (
    Replaces(
        f"{_TASK}.service.state_task_service_lambda",
        "StateTaskServiceLambda._error_cause_from_client_error",
        "(client_error: botocore.exceptions.ClientError) -> tuple[str, str]",
    ),
    Replaces(
        f"{_TASK}.state_task_lambda",
        "StateTaskLambda._from_error",
        "(self, env: localstack.services.stepfunctions.asl.eval.environment.Environment, ex: Exception) -> localstack.services.stepfunctions.asl.component.common.error_name.failure_event.FailureEvent",  # noqa: E501 (a signature, as inspect prints it)
    ),
    Replaces(
        "localstack.aws.spec",
        "load_service",
        "(service: str, version: str | None = None, protocol: Optional[Literal['query', 'json', 'rest-json', 'rest-xml', 'ec2', 'smithy-rpc-v2-cbor']] = None) -> botocore.model.ServiceModel",  # noqa: E501
    ),
)

_modeled: frozenset[str] | None = None


def modeled_errors() -> frozenset[str]:
    """The error codes of Lambda's service model (botocore's, as LocalStack loads it)."""
    global _modeled
    if _modeled is None:
        from localstack.aws.spec import load_service

        _modeled = frozenset(shape.name for shape in load_service("lambda").error_shapes)
    return _modeled


def error_and_cause(client_error: Any) -> tuple[str, str]:
    response = client_error.response
    code = response["Error"]["Code"]
    meta = response.get("ResponseMetadata", {})
    details = "; ".join(
        [
            "Service: AWSLambda",
            f"Status Code: {meta.get('HTTPStatusCode')}",
            f"Error Code: {code}",
            f"Request ID: {meta.get('RequestId')}",
            "Proxy: null",
        ]
    )
    return lambda_rules.sfn_error_name(code, modeled_errors()), f"{response['Error']['Message']} ({details})"


@hooks.on_infra_start()
def name_lambda_task_errors() -> None:
    require_localstack_version("sfn_lambda_errors")
    from botocore.exceptions import ClientError
    from localstack.aws.api.stepfunctions import HistoryEventType, LambdaFunctionFailedEventDetails
    from localstack.services.stepfunctions.asl.component.common.error_name.custom_error_name import (
        CustomErrorName,
    )
    from localstack.services.stepfunctions.asl.component.common.error_name.failure_event import FailureEvent
    from localstack.services.stepfunctions.asl.component.state.state_execution.state_task import (
        state_task_lambda,
    )
    from localstack.services.stepfunctions.asl.component.state.state_execution.state_task.service import (
        state_task_service_lambda,
    )
    from localstack.services.stepfunctions.asl.eval.event.event_detail import EventDetails

    state_task_service_lambda.StateTaskServiceLambda._error_cause_from_client_error = staticmethod(
        error_and_cause
    )
    original = state_task_lambda.StateTaskLambda._from_error

    def _from_error(self: Any, env: Any, ex: Exception) -> Any:
        if not isinstance(ex, ClientError):
            return original(self, env, ex)
        error, cause = error_and_cause(ex)
        return FailureEvent(
            env=env,
            error_name=CustomErrorName(error),
            event_type=HistoryEventType.LambdaFunctionFailed,
            event_details=EventDetails(
                lambdaFunctionFailedEventDetails=LambdaFunctionFailedEventDetails(error=error, cause=cause)
            ),
        )

    state_task_lambda.StateTaskLambda._from_error = _from_error
    applied("sfn_lambda_errors")
