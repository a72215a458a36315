"""Let a MockConfigFile ``Throw`` Step Functions' own errors (``States.Timeout``, ``States.TaskFailed``, ...).

AWS's mocked-integration format (Step Functions Local) uses ``"Throw": {"Error": "States.Timeout", ...}``
to test a task that times out. LocalStack 4.9.2 wraps every mocked error in a ``CustomErrorName``,
which refuses names starting with ``States.``, so such a case ended as ``States.Runtime`` ("Custom
Error Names MUST NOT begin with the prefix 'States.'") instead of exercising the Retry/Catch path it
was written for. This hook replaces ``mock_eval_utils._eval_mocked_response_throw``:

* ``States.Timeout`` raises ``TimeoutError`` where the task would have run, so the state records what
  AWS records for a task past its ``TimeoutSeconds``: a ``TaskTimedOut`` event with error
  ``States.Timeout`` (and Retry/Catch on ``States.Timeout`` apply).
* any other ``States.*`` name LocalStack knows becomes that Step Functions error on a ``TaskFailed``
  event; unknown ``States.*`` names and custom names behave as before.

Registered as a ``localstack.hooks.on_infra_start`` hook in this package's pyproject.
"""

from __future__ import annotations

from typing import Any

from localstack.runtime import hooks

from localstack_plugin.patches import Replaces, applied, require_localstack_version

REPLACES = (
    Replaces(
        "localstack.services.stepfunctions.asl.component.state.state_execution.state_task.mock_eval_utils",
        "_eval_mocked_response_throw",
        "(env: localstack.services.stepfunctions.asl.eval.environment.Environment, mocked_response: localstack.services.stepfunctions.mocking.mock_config.MockedResponseThrow) -> None",  # noqa: E501 (a signature, as inspect prints it)
    ),
)


@hooks.on_infra_start()
def mock_states_errors() -> None:
    require_localstack_version("sfn_mock_errors")
    from localstack.aws.api.stepfunctions import HistoryEventType, TaskFailedEventDetails
    from localstack.services.stepfunctions.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from localstack.services.stepfunctions.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from localstack.services.stepfunctions.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from localstack.services.stepfunctions.asl.component.state.state_execution.state_task import (
        mock_eval_utils,
    )
    from localstack.services.stepfunctions.asl.eval.event.event_detail import EventDetails

    original = mock_eval_utils._eval_mocked_response_throw

    def _eval_mocked_response_throw(env: Any, mocked_response: Any) -> None:
        error = mocked_response.error
        if error == StatesErrorNameType.StatesTimeout.to_name():
            raise TimeoutError(mocked_response.cause)
        if not error.startswith("States."):
            return original(env, mocked_response)
        try:
            typ = StatesErrorNameType.from_name(error)
        except Exception:
            return original(env, mocked_response)  # not a Step Functions error: LocalStack's own message
        details = TaskFailedEventDetails(error=error, cause=mocked_response.cause)
        raise FailureEventException(
            failure_event=FailureEvent(
                env=env,
                error_name=StatesErrorName(typ=typ),
                event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(taskFailedEventDetails=details),
            )
        )

    _eval_mocked_response_throw.__wrapped__ = original  # type: ignore[attr-defined]
    # eval_mocked_response looks the function up in its module's globals at call time.
    mock_eval_utils._eval_mocked_response_throw = _eval_mocked_response_throw
    applied("sfn_mock_errors")
