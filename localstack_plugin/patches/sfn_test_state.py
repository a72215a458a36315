"""Step Functions' TestState as AWS serves it since 2025, or a ValidationException where the harness can't.

LocalStack 4.9.2 serves the 2023 TestState (one state, run for real) and parses requests with its own
botocore 1.40 model, which lacks the 2025 members: ``mock``, ``stateName``, ``context`` and
``stateConfiguration`` sent to it were dropped without a word and the real integration ran, and
``variables`` was accepted and never used. This hook replaces ``StepFunctionsProvider.test_state``;
it reads the members from the request body itself (the members of botocore's current ``TestStateInput``,
``sfn_mock_validation.TEST_STATE_HONOURED`` and ``TEST_STATE_REFUSED``) and:

* ``stateName``: ``definition`` is a whole state machine and the state of that name is tested
  (its ``QueryLanguage`` inherited); a name the machine lacks is AWS's ``ValidationException`` "State
  not found in definition".
* AWS's statuses (``SUCCEEDED`` with ``nextState``, ``RETRIABLE``, ``CAUGHT_ERROR``): see
  ``sfn_test_state_statuses.py``.
* ``mock``: a Task state's integration is not called; ``result`` (a JSON string: else AWS's
  "Mocked result must be valid JSON") is its result, checked first against the integration's output
  shape in LocalStack's botocore model with ``fieldValidationMode`` STRICT (default), PRESENT or NONE
  (``localstack_plugin/sfn_mock_validation.py``); ``errorOutput`` (``error``, ``cause``) is its
  failure. Both at once, ``revealSecrets`` with a mock, and a mock on a Pass, Wait, Choice, Succeed
  or Fail state are refused with AWS's messages.
* ``variables``: a JSON object whose members are the workflow variables the state sees.
* ``input`` over 256 KiB is refused as StartExecution refuses it (``sfn_input_limit.py``).
* A Task without ``mock`` needs ``roleArn`` (AWS: "RoleArn must be specified when testing a Task
  state").

Refused with a ``ValidationException`` that names the member, because this TestState cannot honour
them: ``context``, ``stateConfiguration``, and Map and Parallel states (AWS runs them with a mock).
AWS's wording and statuses come from LocalStack's AWS-validated snapshots in
``tests/aws/services/stepfunctions/v2/test_state/``.
Registered as a ``localstack.hooks.on_infra_start`` hook in this package's pyproject.
"""

from __future__ import annotations

import datetime
import functools
import json
from typing import Any

from localstack.runtime import hooks

from localstack_plugin import sfn_mock_validation
from localstack_plugin.patches import Replaces, applied, require_localstack_version
from localstack_plugin.patches.sfn_input_limit import MESSAGE as INPUT_TOO_LARGE
from localstack_plugin.patches.sfn_input_limit import input_too_large

_API = "localstack.aws.api"
_SFN = "localstack.services.stepfunctions.asl"
_ENV = f"{_SFN}.eval.environment.Environment"
REPLACES = (
    Replaces(
        "localstack.services.stepfunctions.provider",
        "StepFunctionsProvider.test_state",
        f"(self, context: {_API}.core.RequestContext, definition: str, role_arn: str = None, "
        "input: str = None, "
        f"inspection_level: {_API}.stepfunctions.InspectionLevel = None, reveal_secrets: bool = None, "
        f"variables: str = None, **kwargs) -> {_API}.stepfunctions.TestStateOutput",
    ),
    Replaces(
        "localstack.services.stepfunctions.backend.test_state.execution",
        "TestStateExecution._get_start_execution_worker",
        "(self) -> 'TestStateExecutionWorker'",
    ),
    Replaces(
        "localstack.services.stepfunctions.backend.test_state.execution_worker",
        "TestStateExecutionWorker._get_evaluation_environment",
        f"(self) -> {_ENV}",
    ),
)

MOCKED_STATE = "TestState"  # the name LocalStack's TestState preprocessor gives the tested state
MOCK_ATTEMPTS = 100  # a Retry may ask for the mocked answer again
SERVICE_NAMES = {"sfn": "stepfunctions", "states": "stepfunctions"}


def _refuse(message: str) -> Exception:
    from localstack.aws.api.stepfunctions import ValidationException

    return ValidationException(message)


def _request_body(context: Any) -> dict[str, Any]:
    try:
        body = json.loads(context.request.get_data() or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def pick_state(definition: str, state_name: str | None) -> dict[str, Any] | None:
    """The state to test: the definition, or its state ``state_name``; ``None`` if not JSON."""
    try:
        document = json.loads(definition)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    if state_name is None:
        return document
    states = document.get("States")
    if not isinstance(states, dict) or not isinstance(states.get(state_name), dict):
        raise _refuse("State not found in definition")
    state = dict(states[state_name])
    if "QueryLanguage" in document and "QueryLanguage" not in state:
        state["QueryLanguage"] = document["QueryLanguage"]
    return state


def _check_mock(mock: Any, state: dict[str, Any], reveal_secrets: Any) -> Any:
    """The mocked result (parsed) or ``errorOutput``; raises AWS's refusals."""
    if not isinstance(mock, dict):
        raise _refuse("mock must be an object with 'result' or 'errorOutput'")
    if "result" in mock and "errorOutput" in mock:
        raise _refuse("A test mock should have only one of the following fields: [result, errorOutput].")
    if reveal_secrets:
        raise _refuse("TestState does not support RevealSecrets when a mock is specified.")
    kind = state.get("Type")
    if kind in ("Map", "Parallel"):
        raise _refuse(
            f"The harness's TestState does not run {kind} states (AWS's does, with a mock): "
            "test the states inside it, or run the state machine (see docs/testing.md)"
        )
    if kind != "Task":
        raise _refuse(f"State type '{kind}' is not supported when a mock is specified")
    mode = mock.get("fieldValidationMode", "STRICT")
    if mode not in sfn_mock_validation.MODES:
        raise _refuse(
            f"1 validation error detected: Value '{mode}' at 'mock.fieldValidationMode' failed to "
            "satisfy constraint: Member must satisfy enum value set: [STRICT, PRESENT, NONE]"
        )
    if "errorOutput" in mock:
        error = mock["errorOutput"]
        if not isinstance(error, dict):
            raise _refuse("mock.errorOutput must be an object with 'error' and 'cause'")
        return error
    if "result" not in mock:
        raise _refuse("A test mock should have one of the following fields: [result, errorOutput].")
    try:
        result = json.loads(mock["result"])
    except (TypeError, ValueError) as exc:
        raise _refuse("Mocked result must be valid JSON") from exc
    shape = _output_shape(state.get("Resource", ""))
    try:
        sfn_mock_validation.validate_result(result, shape, mode)
    except sfn_mock_validation.MockValidationError as exc:
        raise _refuse(str(exc)) from exc
    return result


def _output_shape(resource: str) -> Any:
    """The output shape of the API a ``arn:aws:states:::<service>:<action>`` resource calls, if known."""
    from localstack.aws.spec import load_service

    parts = resource.split(":")
    if len(parts) < 7 or parts[2] != "states":
        return None
    service, action = (parts[6], parts[7]) if parts[5] == "aws-sdk" and len(parts) > 7 else parts[5:7]
    action = action.split(".")[0]
    try:
        model = load_service(SERVICE_NAMES.get(service, service))
    except Exception:  # an unknown service: nothing to validate against
        return None
    names = {name.lower(): name for name in model.operation_names}
    operation = names.get(action.lower())
    return model.operation_model(operation).output_shape if operation else None


def _mock_case(machine: str, mocked: Any, is_error: bool) -> Any:
    from localstack.services.stepfunctions.mocking import mock_config

    last = MOCK_ATTEMPTS - 1
    if is_error:
        response = mock_config.MockedResponseThrow(
            0, last, str(mocked.get("error", "")), str(mocked.get("cause", ""))
        )
    else:
        response = mock_config.MockedResponseReturn(0, last, mocked)
    responses = mock_config.StateMockedResponses(MOCKED_STATE, "mock", [response])
    return mock_config.MockTestCase(machine, "TestState", [responses])


def _parse_variables(variables: Any) -> dict[str, Any]:
    if variables is None:
        return {}
    try:
        parsed = json.loads(variables)
    except (TypeError, ValueError) as exc:
        raise _refuse("variables must be a JSON object of variable names and values") from exc
    if not isinstance(parsed, dict):
        raise _refuse("variables must be a JSON object of variable names and values")
    return parsed


def _with_request_extras(original: Any) -> Any:
    """The worker's environment with the request's mock and variables (set on the execution)."""

    def _get_evaluation_environment(self: Any) -> Any:
        env = original(self)
        extras = getattr(self, "scones_extras", None)
        if extras:
            env.mock_test_case = extras["mock_case"]
            for name, value in extras["variables"].items():
                env.variable_store.set(name, value)
        return env

    _get_evaluation_environment.__wrapped__ = original  # type: ignore[attr-defined]
    return _get_evaluation_environment


def _passing_extras(original: Any) -> Any:
    def _get_start_execution_worker(self: Any) -> Any:
        worker = original(self)
        worker.scones_extras = getattr(self, "scones_extras", None)
        return worker

    _get_start_execution_worker.__wrapped__ = original  # type: ignore[attr-defined]
    return _get_start_execution_worker


def _test_state(original: Any) -> Any:
    @functools.wraps(original)
    def test_state(
        self: Any,
        context: Any,
        definition: str,
        role_arn: str | None = None,
        input: str | None = None,
        inspection_level: str | None = None,
        reveal_secrets: bool | None = None,
        variables: str | None = None,
        **kwargs: Any,
    ) -> Any:
        from localstack.services.stepfunctions.asl.static_analyser.test_state.test_state_analyser import (
            TestStateStaticAnalyser,
        )
        from localstack.services.stepfunctions.backend.state_machine import TestStateMachine
        from localstack.services.stepfunctions.backend.test_state.execution import TestStateExecution
        from localstack.utils.aws.arns import (
            stepfunctions_standard_execution_arn,
            stepfunctions_state_machine_arn,
        )
        from localstack.utils.strings import short_uid

        body = _request_body(context)
        if input_too_large(input):
            raise _refuse(INPUT_TOO_LARGE)
        for member, what in sfn_mock_validation.TEST_STATE_REFUSED.items():
            if member in body:
                raise _refuse(
                    f"The harness's TestState does not support '{member}' ({what}); AWS's does. "
                    "Leave it out, or test on AWS (see docs/parity.md)"
                )
        state = pick_state(definition, body.get("stateName"))
        mock = body.get("mock")
        mocked = None
        if state is not None:
            if mock is not None:
                mocked = _check_mock(mock, state, body.get("revealSecrets", reveal_secrets))
            elif state.get("Type") == "Task" and not body.get("roleArn", role_arn):
                raise _refuse("RoleArn must be specified when testing a Task state")
            definition = json.dumps(state)
        state_variables = _parse_variables(body.get("variables", variables))
        self._validate_definition(definition=definition, static_analysers=[TestStateStaticAnalyser()])

        name = f"TestState-{short_uid()}"
        arn = stepfunctions_state_machine_arn(
            name=name, account_id=context.account_id, region_name=context.region
        )
        machine = TestStateMachine(name=name, arn=arn, role_arn=role_arn, definition=definition)
        execution = TestStateExecution(
            name=name,
            role_arn=role_arn,
            exec_arn=stepfunctions_standard_execution_arn(machine.arn, name),
            account_id=context.account_id,
            region_name=context.region,
            state_machine=machine,
            start_date=datetime.datetime.now(tz=datetime.UTC),
            input_data=json.loads(input) if input else {},
            activity_store=self.get_store(context).activities,
        )
        execution.scones_extras = {
            "mock_case": _mock_case(name, mocked, "errorOutput" in (mock or {}))
            if mock is not None
            else None,
            "variables": state_variables,
        }
        execution.start()
        return execution.to_test_state_output(inspection_level=inspection_level or "INFO")

    return test_state


@hooks.on_infra_start()
def test_state_2025() -> None:
    require_localstack_version("sfn_test_state")
    from localstack.services.stepfunctions import provider
    from localstack.services.stepfunctions.backend.test_state import execution, execution_worker

    provider.StepFunctionsProvider.test_state = _test_state(provider.StepFunctionsProvider.test_state)
    execution.TestStateExecution._get_start_execution_worker = _passing_extras(
        execution.TestStateExecution._get_start_execution_worker
    )
    worker = execution_worker.TestStateExecutionWorker
    worker._get_evaluation_environment = _with_request_extras(worker._get_evaluation_environment)
    applied("sfn_test_state")
