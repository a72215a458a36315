"""StartExecution and StartSyncExecution refuse an input over 256 KiB, as AWS does.

Step Functions' quota on "input or output size for a task, state, or execution" is 256 KiB of UTF-8
(Developer Guide, "Step Functions service quotas"; the API reference gives ``input`` a maximum length
of 262144). AWS checks the input against its model before anything else and answers
``ValidationException`` "1 validation error detected: Value at 'input' failed to satisfy constraint:
Member must have size less than or equal to 262144 bytes in UTF-8 encoding" (the value itself is not
shown: the member is sensitive). LocalStack 4.9.2 accepted any size, so a workflow started with too
big a payload passed here and failed on AWS. A state's *output* over the quota already fails with
``States.DataLimitExceeded`` in LocalStack (tests/e2e/test_sfn_limits.py proves it).

Registered as a ``localstack.hooks.on_infra_start`` hook in this package's pyproject.
"""

from __future__ import annotations

import functools
from typing import Any

from localstack.runtime import hooks

from localstack_plugin.patches import Replaces, applied, require_localstack_version

MAX_INPUT_BYTES = 262144
MESSAGE = (
    "1 validation error detected: Value at 'input' failed to satisfy constraint: Member must have size "
    f"less than or equal to {MAX_INPUT_BYTES} bytes in UTF-8 encoding"
)
_PROVIDER = "localstack.services.stepfunctions.provider"
_START = (
    "(self, context: localstack.aws.api.core.RequestContext, state_machine_arn: str, name: str = None, "
    "input: str = None, trace_header: str = None, {}**kwargs) -> localstack.aws.api.stepfunctions.{}"
)
REPLACES = (
    Replaces(_PROVIDER, "StepFunctionsProvider.start_execution", _START.format("", "StartExecutionOutput")),
    Replaces(
        _PROVIDER,
        "StepFunctionsProvider.start_sync_execution",
        _START.format(
            "included_data: localstack.aws.api.stepfunctions.IncludedData = None, ",
            "StartSyncExecutionOutput",
        ),
    ),
)


def input_too_large(value: Any) -> bool:
    return isinstance(value, str) and len(value.encode("utf-8")) > MAX_INPUT_BYTES


def _size_checked(original: Any) -> Any:
    @functools.wraps(original)  # keeps LocalStack's handler attributes
    def start(self: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
        from localstack.aws.api.stepfunctions import ValidationException

        request = getattr(context, "service_request", None) or {}
        if input_too_large(kwargs.get("input", request.get("input"))):
            raise ValidationException(MESSAGE)
        return original(self, context, *args, **kwargs)

    return start


@hooks.on_infra_start()
def execution_input_limit() -> None:
    require_localstack_version("sfn_input_limit")
    from localstack.services.stepfunctions import provider

    cls = provider.StepFunctionsProvider
    cls.start_execution = _size_checked(cls.start_execution)
    cls.start_sync_execution = _size_checked(cls.start_sync_execution)
    applied("sfn_input_limit")
