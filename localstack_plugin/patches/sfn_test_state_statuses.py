"""TestState answers with AWS's statuses: ``nextState``, ``RETRIABLE``, ``CAUGHT_ERROR``.

AWS's TestState (2025) tests one state and says where the workflow would go: a state that goes on
answers ``SUCCEEDED`` with its ``nextState``; a failure a Retrier matches answers ``RETRIABLE`` (with
the error and cause; TestState itself never retries); a failure a Catcher catches answers
``CAUGHT_ERROR`` with the error, the cause, the catcher's ``Next`` as ``nextState`` and the catcher's
output (LocalStack's AWS-validated snapshots ``tests/aws/services/stepfunctions/v2/test_state/
test_test_state_scenarios.snapshot.json``, ``test_state_task_catch_error``, and
``test_state_configuration.snapshot.json``, ``test_state_configuration_retrier_retry_count``).
LocalStack 4.9.2 never ended a lone state that has a ``Next`` (or a catcher's ``Next``) and retried
for real. It also failed with a 500 (``KeyError: 'cause'``) on a failure without a cause, such as a
task's ``States.Timeout``: that answers without ``cause`` now.

Only TestState environments are affected. Registered as a ``localstack.hooks.on_infra_start`` hook
in this package's pyproject.
"""

from __future__ import annotations

from typing import Any

from localstack.runtime import hooks

from localstack_plugin.patches import Replaces, applied, require_localstack_version

_SFN = "localstack.services.stepfunctions.asl"
_ENV = f"{_SFN}.eval.environment.Environment"
_EXECUTE_STATE = f"{_SFN}.component.state.state_execution.execute_state"
_FAILURE = (
    f"(self, env: {_ENV}, failure_event: {_SFN}.component.common.error_name.failure_event.FailureEvent)"
)
REPLACES = (
    Replaces(
        _EXECUTE_STATE,
        "ExecutionState._handle_retry",
        f"{_FAILURE} -> {_SFN}.component.common.retry.retry_outcome.RetryOutcome",
    ),
    Replaces(_EXECUTE_STATE, "ExecutionState._handle_catch", f"{_FAILURE} -> None"),
    Replaces(
        f"{_SFN}.component.test_state.program.test_state_program",
        "TestStateProgram._eval_body",
        f"(self, env: {_SFN}.eval.test_state.environment.TestStateEnvironment) -> None",
    ),
    Replaces(
        "localstack.services.stepfunctions.backend.test_state.execution",
        "TestStateExecution.to_test_state_output",
        "(self, inspection_level: 'InspectionLevel') -> 'TestStateOutput'",
    ),
)


class Retriable(Exception):
    """A Retrier matched: AWS's TestState stops there and answers RETRIABLE (it never retries)."""


def _is_test_state(env: Any) -> bool:
    from localstack.services.stepfunctions.asl.eval.test_state.environment import TestStateEnvironment

    return isinstance(env, TestStateEnvironment)


def _error_of(failure_event: Any) -> dict[str, str]:
    details = next(iter((failure_event.event_details or {}).values()), {}) or {}
    return {"error": details.get("error", ""), "cause": details.get("cause", "")}


def _retry_once(original: Any) -> Any:
    from localstack.services.stepfunctions.asl.component.common.retry.retry_outcome import RetryOutcome

    def _handle_retry(self: Any, env: Any, failure_event: Any) -> Any:
        outcome = original(self, env, failure_event)
        if outcome == RetryOutcome.CanRetry and _is_test_state(env):
            env.inspection_data["scones_retriable"] = _error_of(failure_event)
            raise Retriable()
        return outcome

    _handle_retry.__wrapped__ = original  # type: ignore[attr-defined]
    return _handle_retry


def _catch_noted(original: Any) -> Any:
    def _handle_catch(self: Any, env: Any, failure_event: Any) -> None:
        original(self, env, failure_event)
        if _is_test_state(env):
            env.inspection_data["scones_caught"] = _error_of(failure_event)

    _handle_catch.__wrapped__ = original  # type: ignore[attr-defined]
    return _handle_catch


def _next_state_noted(original: Any) -> Any:
    """A state that goes on (``Next``, a catcher's ``Next``) ends the test with that ``nextState``."""
    from localstack.services.stepfunctions.asl.eval.program_state import ProgramRunning

    def _eval_body(self: Any, env: Any) -> None:
        original(self, env)
        if isinstance(env.program_state(), ProgramRunning) and env.next_state_name != self.test_state.name:
            env.set_choice_selected(env.next_state_name)

    _eval_body.__wrapped__ = original  # type: ignore[attr-defined]
    return _eval_body


def _aws_status(original: Any) -> Any:
    """FAILED at a matching Retrier is RETRIABLE; SUCCEEDED after a Catch is CAUGHT_ERROR (AWS's statuses).

    A failure without a cause (a task's ``States.Timeout``) made LocalStack's own code raise KeyError:
    it answers without ``cause`` instead.
    """

    def to_test_state_output(self: Any, inspection_level: Any) -> Any:
        error = getattr(self.exec_worker.env._program_state, "error", None)  # program_state() is a copy
        if isinstance(error, dict):
            error.setdefault("cause", None)
        output = original(self, inspection_level)
        if "cause" in output and output["cause"] is None:
            del output["cause"]
        inspection = self.exec_worker.env.inspection_data
        retriable, caught = inspection.pop("scones_retriable", None), inspection.pop("scones_caught", None)
        if retriable:
            output = {k: v for k, v in output.items() if k in ("inspectionData",)}
            output.update(status="RETRIABLE", **retriable)
        elif caught and output.get("status") == "SUCCEEDED":
            output.update(status="CAUGHT_ERROR", **caught)
        return output

    to_test_state_output.__wrapped__ = original  # type: ignore[attr-defined]
    return to_test_state_output


@hooks.on_infra_start()
def test_state_statuses() -> None:
    require_localstack_version("sfn_test_state_statuses")
    from localstack.services.stepfunctions.asl.component.state.state_execution import execute_state
    from localstack.services.stepfunctions.asl.component.test_state.program import test_state_program
    from localstack.services.stepfunctions.backend.test_state import execution

    state = execute_state.ExecutionState
    state._handle_retry = _retry_once(state._handle_retry)
    state._handle_catch = _catch_noted(state._handle_catch)
    program = test_state_program.TestStateProgram
    program._eval_body = _next_state_noted(program._eval_body)
    run = execution.TestStateExecution
    run.to_test_state_output = _aws_status(run.to_test_state_output)
    applied("sfn_test_state_statuses")
