"""Refuse the Lambda API requests AWS refuses and LocalStack 4.9.2 serves: oversized Invoke payloads and
runtimes AWS no longer accepts.

Not a bug fix of LocalStack's code so much as checks it lacks (LocalStack does not limit Invoke request
payloads at all, and its deprecated-runtime check covers CreateFunction only, only with
``LAMBDA_RUNTIME_VALIDATION=1``, and without python3.8: ``LambdaProvider._validate_runtime`` and
``update_function_configuration`` in ``localstack/services/lambda_/provider.py``). Like
:mod:`.iam_enforcement`, it appends a handler to ``serve_custom_service_request_handlers``, the point
right after a request is parsed and before it is served, and raises AWS's error there:

- Invoke with a payload over 6 MiB (RequestResponse, DryRun) or 1 MB (Event):
  ``RequestEntityTooLargeException``, HTTP 413, with AWS's message
  (:func:`localstack_plugin.lambda_rules.request_too_large`);
- CreateFunction or UpdateFunctionConfiguration with a runtime past its block date in AWS's deprecation
  table: ``InvalidParameterValueException`` with AWS's message. An update used to be accepted and left
  the function ``Failed``.

Every request through the gateway is checked, Step Functions' and functions' own calls included.
Registered as a ``localstack.hooks.on_infra_start`` hook in this package's pyproject.
"""

from __future__ import annotations

import datetime
from typing import Any

from localstack.runtime import hooks

from localstack_plugin import lambda_rules
from localstack_plugin.patches import Replaces, applied, require_localstack_version

REPLACES = (
    Replaces(
        "localstack.aws.handlers",
        "serve_custom_service_request_handlers.append",
        "(handler: 'Handler') -> 'None'",
    ),
    Replaces(
        "localstack.aws.api.lambda_",
        "InvalidParameterValueException",
        "(*args: Any, **kwargs: Any)",
    ),
    Replaces(
        "localstack.services.lambda_.invocation.lambda_models",
        "RequestEntityTooLargeException",
        "(message: str)",
    ),
)

_RUNTIME_OPERATIONS = {"CreateFunction": True, "UpdateFunctionConfiguration": False}  # name -> creating


def refusal(
    operation: str, params: Any, body_size: int | None, today: datetime.date
) -> tuple[str, str] | None:
    """(error code, AWS's message) for a Lambda request AWS refuses here, else ``None``.

    ``body_size`` is the request's Content-Length: Invoke's payload is the whole body, and LocalStack hands
    it over as a stream that must not be read here. A chunked request without one is not checked.
    """
    if operation == "Invoke":
        if body_size is None:
            return None
        message = lambda_rules.request_too_large(params.get("InvocationType"), body_size)
        return (lambda_rules.REQUEST_TOO_LARGE_CODE, message) if message else None
    if operation in _RUNTIME_OPERATIONS and params.get("Runtime"):
        message = lambda_rules.deprecated_runtime_refusal(
            params["Runtime"], creating=_RUNTIME_OPERATIONS[operation], today=today
        )
        return ("InvalidParameterValueException", message) if message else None
    return None


@hooks.on_infra_start()
def check_lambda_requests() -> None:
    require_localstack_version("lambda_api_checks")
    from localstack.aws import handlers
    from localstack.aws.api.lambda_ import InvalidParameterValueException
    from localstack.services.lambda_.invocation.lambda_models import RequestEntityTooLargeException

    def lambda_request_handler(chain: Any, context: Any, response: Any) -> None:
        if getattr(getattr(context, "service", None), "service_name", None) != "lambda":
            return
        operation = getattr(getattr(context, "operation", None), "name", None)
        params = context.service_request or {}
        found = refusal(operation or "", params, context.request.content_length, datetime.date.today())
        if found is None:
            return
        code, message = found
        if code == lambda_rules.REQUEST_TOO_LARGE_CODE:
            raise RequestEntityTooLargeException(message)
        raise InvalidParameterValueException(message, Type="User")

    handlers.serve_custom_service_request_handlers.append(lambda_request_handler)
    applied("lambda_api_checks")
