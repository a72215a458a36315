"""Evaluate Step Functions' JSONata in Python (jsonata-python) instead of LocalStack's JVM bridge.

LocalStack 4.9.2 evaluates every ``{% ... %}`` expression through JPype in a Java 21 JVM running the
Maven jars of ``com.dashjoin:jsonata``, all downloaded on first use: no JSONata state machine can run
offline. ``jsonata-python`` (Apache-2.0, pure Python, no dependencies) is a port of the same
reference implementation, so the one function LocalStack funnels every evaluation through,
``localstack.services.stepfunctions.asl.jsonata.jsonata.eval_jsonata_expression(expression)``, is
replaced by :func:`evaluate` (LocalStack has already inlined ``$states`` and the workflow variables
into the expression text as ``$x := <json>;`` declarations, so the expression is all there is).

More things make it behave like AWS rather than like LocalStack's bridge:

* Step Functions' own functions (``$partition``, ``$range``, ``$hash``, ``$random`` with an optional
  seed, ``$uuid``, ``$parse``) are native functions with JSONata signatures
  (``localstack_plugin/sfn_jsonata_functions.py``: ``$range`` gives a sequence, so ``$range(1, 9, 9)``
  is ``1`` as on AWS). LocalStack declared them as JSONata lambdas, with ``$hash``/``$uuid`` returning
  "not supported" strings and a ``$randomSeeded`` AWS does not have; its declarations are no longer
  prepended.
* A failing expression fails the state with ``States.QueryEvaluationError`` and AWS's cause, recorded
  as exactly one ``EvaluationFailed`` event with its ``location`` (AWS's recorded histories, LocalStack's
  AWS-validated snapshots ``test_assign_reference_variables`` and ``test_math_operations_jsonata``):
  "The JSONata expression '...' specified for the field 'Output/result' threw an error during
  evaluation. T2002: ...", "... returned nothing (undefined).", "... returned an unsupported result
  type." (a function). The bridge raised a bare exception that ended as ``States.Runtime``; LocalStack
  evaluated an undefined result a second time (``$exists(...)``), worded the last two causes without
  the field, and recorded the event twice for a Task's ``Arguments`` (once where it failed, once in the
  Task's error handling: ``ExecutionState._from_error`` now marks the second one to be skipped).
* The field is a path, as AWS writes it: ``Output``, ``Arguments/FunctionName``, ``Assign/result``.
  LocalStack names a field after the class evaluating it, so the template and assign classes name
  none, ``Arguments``, ``Assign`` and ``Items`` say so, and each object key appends
  ``/<key>`` while its value is evaluated.
* Integral results are ints (JSONata numbers are doubles; AWS serialises 2.0 as ``2``).

Registered as a ``localstack.hooks.on_infra_start`` hook in this package's pyproject.
"""

from __future__ import annotations

import threading
from typing import Any

from localstack.runtime import hooks

from localstack_plugin import sfn_jsonata_functions as functions
from localstack_plugin.patches import Replaces, applied, require_localstack_version

QUERY_EVALUATION_ERROR = "States.QueryEvaluationError"
_SFN = "localstack.services.stepfunctions.asl"
_STRING = f"{_SFN}.component.common.string.string_expression"
_EVAL = "(jsonata_expression: 'JSONataExpression') -> 'Any'"
_ENV = f"{_SFN}.eval.environment.Environment"
_BODY = f"(self, env: {_ENV}) -> None"

_QUOTED_BODY = "(self, env: 'Environment') -> 'None'"
_FIELD = "(self) -> str | None"
_COMMON = f"{_SFN}.component.common"
_FAILURE_EVENT = f"{_COMMON}.error_name.failure_event.FailureEvent"

REPLACES = (
    Replaces(f"{_SFN}.jsonata.jsonata", "eval_jsonata_expression", _EVAL),
    Replaces(_STRING, "eval_jsonata_expression", _EVAL),
    Replaces(f"{_SFN}.jsonata.validations", "eval_jsonata_expression", _EVAL),
    Replaces(_STRING, "get_intrinsic_functions_declarations", "(variable_references: set[str]) -> str"),
    Replaces(_STRING, "StringJSONata._eval_body", _BODY),
    Replaces(
        _STRING,
        "validate_jsonata_expression_output",
        f"(env: {_ENV}, expression: str, rich_jsonata_expression: str, jsonata_result: str) -> None",
    ),
    Replaces(f"{_COMMON}.jsonata.jsonata_template_value", "JSONataTemplateValue._field_name", _FIELD),
    Replaces(
        f"{_COMMON}.jsonata.jsonata_template_binding",
        "JSONataTemplateBinding._field_name",
        "(self) -> 'str | None'",
    ),
    Replaces(
        f"{_COMMON}.jsonata.jsonata_template_binding", "JSONataTemplateBinding._eval_body", _QUOTED_BODY
    ),
    Replaces(f"{_COMMON}.parargs", "Arguments._field_name", _FIELD),
    Replaces(f"{_COMMON}.assign.assign_decl", "AssignDecl._field_name", _FIELD),
    Replaces(f"{_SFN}.component.state.state_execution.state_map.items.items", "Items._field_name", _FIELD),
    Replaces(f"{_COMMON}.assign.assign_decl_binding", "AssignDeclBinding._field_name", _FIELD),
    Replaces(f"{_COMMON}.assign.assign_template_value", "AssignTemplateValue._field_name", _FIELD),
    Replaces(f"{_COMMON}.assign.assign_template_binding", "AssignTemplateBinding._field_name", _FIELD),
    Replaces(f"{_COMMON}.assign.assign_template_binding", "AssignTemplateBinding._eval_body", _QUOTED_BODY),
    Replaces(
        f"{_SFN}.component.state.state_execution.execute_state",
        "ExecutionState._from_error",
        f"(self, env: {_ENV}, ex: Exception) -> {_FAILURE_EVENT}",
    ),
    Replaces(
        f"{_SFN}.eval.event.event_manager",
        "EventManager.add_event",
        "(self, context: 'EventHistoryContext', event_type: 'HistoryEventType', "
        "event_details: 'EventDetails | None' = None, timestamp: 'Timestamp' = None, "
        "update_source_event_id: 'bool' = True) -> 'int'",
    ),
)

# What the last evaluation on this thread gave ("undefined", "unsupported" or None for a JSON
# value), and whether the next EvaluationFailed event on this thread is already recorded.
_local = threading.local()


class JSONataEvaluationError(Exception):
    """An expression threw: ``code`` is JSONata's error code (T2002, T0410, D3030, S0203, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _plain(value: Any) -> tuple[Any, bool]:
    """jsonata-python's raw result as a plain JSON value, and whether all of it is JSON."""
    from jsonata.utils import Utils

    if value is Utils.NULL_VALUE or value is None:
        return None, True
    if isinstance(value, list):
        items = [_plain(item) for item in value]
        return [item for item, _ in items], all(ok for _, ok in items)
    if isinstance(value, dict):
        entries = {key: _plain(item) for key, item in value.items()}
        return {key: item for key, (item, _) in entries.items()}, all(ok for _, ok in entries.values())
    if isinstance(value, (bool, str)):
        return value, True
    if isinstance(value, (int, float)):
        return functions.number(value), True
    # A function or a regex: not a JSON value.
    return value, False


def evaluate(jsonata_expression: str) -> Any:
    """Evaluate one composed expression; ``None`` for JSON null and for undefined, as the bridge did.

    Which of the two it was (and whether the result holds a function) is kept for
    :func:`validate_output` on this thread.
    """
    from jsonata.jexception import JException
    from jsonata.jsonata import Jsonata

    _local.outcome = None
    try:
        expression = Jsonata(jsonata_expression)
        expression.set_output_convert_nulls(False)
        result = expression.evaluate(None, functions.bindings())
    except JException as exc:
        raise JSONataEvaluationError(str(exc.error), str(exc)) from exc
    except RecursionError as exc:
        raise JSONataEvaluationError("U1001", "Stack overflow: the expression nests too deeply") from exc
    if result is None:
        _local.outcome = "undefined"
        return None
    plain, is_json = _plain(result)
    if not is_json:
        _local.outcome = "unsupported"
    return plain


def no_function_declarations(variable_references: set[str]) -> str:
    """Step Functions' functions are native bindings now: prepend no JSONata declarations."""
    return ""


def _field_path(env: Any) -> str | None:
    return env.next_field_name


def query_evaluation_failure(env: Any, cause: str, location: str | None = None) -> Exception:
    """A ``States.QueryEvaluationError`` failure of the current state, its EvaluationFailed event recorded.

    ``cause`` is AWS's cause without the "An error occurred while executing the state ..." prefix,
    which LocalStack adds to both the EvaluationFailed and the ExecutionFailed event.
    """
    from localstack.aws.api.stepfunctions import EvaluationFailedEventDetails, HistoryEventType
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
    from localstack.services.stepfunctions.asl.eval.event.event_detail import EventDetails

    error_name = StatesErrorName(typ=StatesErrorNameType.StatesQueryEvaluationError)
    details = EvaluationFailedEventDetails(cause=cause, error=error_name.error_name)
    if location:
        details["location"] = location
    failure = FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=error_name,
            event_type=HistoryEventType.EvaluationFailed,
            event_details=EventDetails(evaluationFailedEventDetails=details),
        )
    )
    env.event_manager.add_event(
        context=env.event_history_context,
        event_type=HistoryEventType.EvaluationFailed,
        event_details=EventDetails(
            evaluationFailedEventDetails=failure.get_evaluation_failed_event_details()
        ),
    )
    failure.scones_recorded = True  # type: ignore[attr-defined]
    return failure


def _expression_failure(env: Any, expression: str, what: str) -> Exception:
    field = _field_path(env)
    cause = f"The JSONata expression '{expression}' specified for the field '{field}' {what}"
    return query_evaluation_failure(env, cause, location=field)


def validate_output(env: Any, expression: str, rich_jsonata_expression: str, jsonata_result: Any) -> None:
    """Fail on an undefined result or one holding a function, from what :func:`evaluate` saw."""
    outcome = getattr(_local, "outcome", None)
    if outcome == "undefined":
        raise _expression_failure(env, expression, "returned nothing (undefined).")
    if outcome == "unsupported":
        raise _expression_failure(env, expression, "returned an unsupported result type.")


def _evaluate_string_jsonata(original: Any) -> Any:
    def _eval_body(self: Any, env: Any) -> None:
        try:
            original(self, env)
        except JSONataEvaluationError as error:
            raise _expression_failure(
                env, self.expression, f"threw an error during evaluation. {error}"
            ) from error

    _eval_body.__wrapped__ = original  # type: ignore[attr-defined]
    return _eval_body


def _keyed(original: Any) -> Any:
    """Evaluate an object key's value with the field ``<parent>/<key>``, as AWS names it."""

    def _eval_body(self: Any, env: Any) -> None:
        parent = env.next_field_name
        env.next_field_name = f"{parent}/{self.identifier}" if parent else self.identifier
        original(self, env)
        env.next_field_name = parent

    _eval_body.__wrapped__ = original  # type: ignore[attr-defined]
    return _eval_body


def _from_error_once(original: Any) -> Any:
    """An EvaluationFailed already recorded where it happened is not recorded again by the Task."""

    def _from_error(self: Any, env: Any, ex: Exception) -> Any:
        failure_event = original(self, env, ex)
        if getattr(ex, "scones_recorded", False):
            _local.skip_evaluation_failed = True
        return failure_event

    _from_error.__wrapped__ = original  # type: ignore[attr-defined]
    return _from_error


def _add_event_once(original: Any) -> Any:
    from localstack.aws.api.stepfunctions import HistoryEventType

    def add_event(self: Any, context: Any, event_type: Any, *args: Any, **kwargs: Any) -> Any:
        if event_type == HistoryEventType.EvaluationFailed and getattr(
            _local, "skip_evaluation_failed", False
        ):
            _local.skip_evaluation_failed = False
            return None
        return original(self, context, event_type, *args, **kwargs)

    add_event.__wrapped__ = original  # type: ignore[attr-defined]
    return add_event


def _named(name: str | None) -> Any:
    def _field_name(self: Any) -> str | None:
        return name

    return _field_name


@hooks.on_infra_start()
def evaluate_jsonata_in_python() -> None:
    require_localstack_version("sfn_jsonata")
    from localstack.services.stepfunctions.asl.component.common import parargs
    from localstack.services.stepfunctions.asl.component.common.assign import (
        assign_decl,
        assign_decl_binding,
        assign_template_binding,
        assign_template_value,
    )
    from localstack.services.stepfunctions.asl.component.common.jsonata import (
        jsonata_template_binding,
        jsonata_template_value,
    )
    from localstack.services.stepfunctions.asl.component.common.string import string_expression
    from localstack.services.stepfunctions.asl.component.state.state_execution import execute_state
    from localstack.services.stepfunctions.asl.component.state.state_execution.state_map.items import items
    from localstack.services.stepfunctions.asl.eval.event import event_manager
    from localstack.services.stepfunctions.asl.jsonata import jsonata as jsonata_module
    from localstack.services.stepfunctions.asl.jsonata import validations

    # The defining module, and the two that imported the function by name.
    for module in (jsonata_module, string_expression, validations):
        module.eval_jsonata_expression = evaluate
    string_expression.get_intrinsic_functions_declarations = no_function_declarations
    string_expression.validate_jsonata_expression_output = validate_output
    string_jsonata = string_expression.StringJSONata
    string_jsonata._eval_body = _evaluate_string_jsonata(string_jsonata._eval_body)

    # Field paths in causes and locations: the user's field, not LocalStack's class.
    jsonata_template_value.JSONataTemplateValue._field_name = _named(None)
    assign_template_value.AssignTemplateValue._field_name = _named(None)
    assign_decl_binding.AssignDeclBinding._field_name = _named(None)
    parargs.Arguments._field_name = _named("Arguments")
    assign_decl.AssignDecl._field_name = _named("Assign")
    items.Items._field_name = _named("Items")
    for binding in (
        jsonata_template_binding.JSONataTemplateBinding,
        assign_template_binding.AssignTemplateBinding,
    ):
        binding._field_name = _named(None)
        binding._eval_body = _keyed(binding._eval_body)

    state = execute_state.ExecutionState
    state._from_error = _from_error_once(state._from_error)
    manager = event_manager.EventManager
    manager.add_event = _add_event_once(manager.add_event)
    applied("sfn_jsonata")
