"""Evaluate Step Functions' JSONata in Python (jsonata-python) instead of LocalStack's JVM bridge.

LocalStack 4.9.2 evaluates every ``{% ... %}`` expression through JPype in a Java 21 JVM running the
Maven jars of ``com.dashjoin:jsonata``, all downloaded on first use: no JSONata state machine can run
offline. ``jsonata-python`` (Apache-2.0, pure Python, no dependencies) is a port of the same
reference implementation, so the one function LocalStack funnels every evaluation through,
``localstack.services.stepfunctions.asl.jsonata.jsonata.eval_jsonata_expression(expression)``, is
replaced by :func:`evaluate` (LocalStack has already inlined ``$states`` and the workflow variables
into the expression text as ``$x := <json>;`` declarations, so the expression is all there is).

Three more things make it behave like AWS rather than like LocalStack's bridge:

* Step Functions' own functions (``$partition``, ``$range``, ``$hash``, ``$random`` with an optional
  seed, ``$uuid``, ``$parse``) are native functions with JSONata signatures, so a wrong argument
  fails with JSONata's ``T0410`` as on AWS. LocalStack declared them as JSONata lambdas, with
  ``$hash``/``$uuid`` returning "not supported" strings and a ``$randomSeeded`` AWS does not have;
  its declarations are no longer prepended.
* An expression that throws fails the state with ``States.QueryEvaluationError`` and AWS's cause
  ("The JSONata expression '...' specified for the field '...' threw an error during evaluation.
  T2002: ..."), recorded as an ``EvaluationFailed`` event, the way LocalStack already words its
  "returned nothing (undefined)" case. The bridge raised a bare exception that ended as
  ``States.Runtime``.
  The field is the one the user wrote (``Output``, ``Arguments``, or the key inside them, such as
  ``Payload``): LocalStack names a field after the class evaluating it, so its JSONata template
  classes name none and its ``Arguments`` classes say ``Arguments``.
* Integral results are ints (JSONata numbers are doubles; AWS serialises 2.0 as ``2``).

Registered as a ``localstack.hooks.on_infra_start`` hook in this package's pyproject.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import uuid
from typing import Any

from localstack.runtime import hooks

from localstack_plugin.patches import Replaces, applied, require_localstack_version

HASH_ALGORITHMS = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}
# AWS caps States.ArrayRange (and $range) at 1000 items.
RANGE_LIMIT = 1000
QUERY_EVALUATION_ERROR = "States.QueryEvaluationError"


REPLACES = (
    Replaces(
        "localstack.services.stepfunctions.asl.jsonata.jsonata",
        "eval_jsonata_expression",
        "(jsonata_expression: 'JSONataExpression') -> 'Any'",
    ),
    Replaces(
        "localstack.services.stepfunctions.asl.component.common.string.string_expression",
        "eval_jsonata_expression",
        "(jsonata_expression: 'JSONataExpression') -> 'Any'",
    ),
    Replaces(
        "localstack.services.stepfunctions.asl.jsonata.validations",
        "eval_jsonata_expression",
        "(jsonata_expression: 'JSONataExpression') -> 'Any'",
    ),
    Replaces(
        "localstack.services.stepfunctions.asl.component.common.string.string_expression",
        "get_intrinsic_functions_declarations",
        "(variable_references: set[str]) -> str",
    ),
    Replaces(
        "localstack.services.stepfunctions.asl.component.common.string.string_expression",
        "StringJSONata._eval_body",
        "(self, env: localstack.services.stepfunctions.asl.eval.environment.Environment) -> None",
    ),
    Replaces(
        "localstack.services.stepfunctions.asl.component.common.jsonata.jsonata_template_value",
        "JSONataTemplateValue._field_name",
        "(self) -> str | None",
    ),
    Replaces(
        "localstack.services.stepfunctions.asl.component.common.parargs",
        "Arguments._field_name",
        "(self) -> str | None",
    ),
)


class JSONataEvaluationError(Exception):
    """An expression threw: ``code`` is JSONata's error code (T2002, T0410, D3030, S0203, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _sfn_error(message: str) -> Exception:
    from jsonata.jexception import JException

    return JException("D3137", -1, message)  # the code of $error(): an error a function raised


def _partition(array: Any, size: Any) -> list[Any]:
    if not isinstance(array, list):
        array = [array]
    if not isinstance(size, (int, float)) or size != int(size) or size <= 0:
        raise _sfn_error(f"The chunk size of $partition must be a positive integer, got {size!r}")
    size = int(size)
    return [list(array[i : i + size]) for i in range(0, len(array), size)]


def _range(first: Any, last: Any, step: Any) -> list[Any]:
    if step == 0:
        raise _sfn_error("The step of $range cannot be 0")
    count = math.floor((last - first) / step) + 1
    if count <= 0:
        return []
    if count > RANGE_LIMIT:
        raise _sfn_error(f"$range would return {count} items; at most {RANGE_LIMIT} are allowed")
    return [_number(first + i * step) for i in range(count)]


def _hash(value: Any, algorithm: Any) -> str:
    name = HASH_ALGORITHMS.get(algorithm)
    if name is None:
        raise _sfn_error(
            f"Unsupported hashing algorithm {algorithm!r}; use one of {', '.join(HASH_ALGORITHMS)}"
        )
    return hashlib.new(name, str(value).encode()).hexdigest()


def _random(seed: Any = None) -> float:
    if seed is None:
        return random.random()
    return random.Random(seed).random()


def _uuid() -> str:
    return str(uuid.uuid4())


def _parse(text: Any) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError) as exc:
        raise _sfn_error(f"$parse could not parse its argument as JSON: {exc}") from exc


# name -> (implementation, JSONata signature)
SFN_FUNCTIONS: dict[str, tuple[Any, str]] = {
    "partition": (_partition, "<a-n:a>"),
    "range": (_range, "<nnn:a<n>>"),
    "hash": (_hash, "<s-s:s>"),
    "random": (_random, "<n?:n>"),
    "uuid": (_uuid, "<:s>"),
    "parse": (_parse, "<s-:x>"),
}


def _number(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    return value


def _plain(value: Any) -> Any:
    """jsonata-python's results (JList, floats for integers) as plain JSON values."""
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return _number(value)
    # A function or regex result cannot be a JSON value; LocalStack's $type() check reports it.
    return value


_bindings: dict[str, Any] | None = None


def _sfn_bindings() -> dict[str, Any]:
    global _bindings
    if _bindings is None:
        from jsonata import signature
        from jsonata.jsonata import Jsonata

        bindings = {}
        for name, (implementation, sig) in SFN_FUNCTIONS.items():
            function = Jsonata.JFunction(Jsonata.JLambda(implementation), None)
            function.signature = signature.Signature(sig, name)
            function.function_name = name
            bindings[name] = function
        _bindings = bindings
    return _bindings


def evaluate(jsonata_expression: str) -> Any:
    """Evaluate one composed expression; ``None`` for JSON null and for undefined, as the bridge did."""
    from jsonata.jexception import JException
    from jsonata.jsonata import Jsonata

    try:
        result = Jsonata(jsonata_expression).evaluate(None, _sfn_bindings())
    except JException as exc:
        raise JSONataEvaluationError(str(exc.error), str(exc)) from exc
    except RecursionError as exc:
        raise JSONataEvaluationError("U1001", "Stack overflow: the expression nests too deeply") from exc
    return _plain(result)


def no_function_declarations(variable_references: set[str]) -> str:
    """Step Functions' functions are native bindings now: prepend no JSONata declarations."""
    return ""


def _query_evaluation_failure(env: Any, expression: str, error: JSONataEvaluationError) -> Exception:
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
    cause = (
        f"The JSONata expression '{expression}' specified for the field '{env.next_field_name}' "
        f"threw an error during evaluation. {error}"
    )
    failure = FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=error_name,
            event_type=HistoryEventType.EvaluationFailed,
            event_details=EventDetails(
                evaluationFailedEventDetails=EvaluationFailedEventDetails(
                    cause=cause, error=error_name.error_name
                )
            ),
        )
    )
    # As LocalStack's own validate_jsonata_expression_output does for an undefined result.
    env.event_manager.add_event(
        context=env.event_history_context,
        event_type=HistoryEventType.EvaluationFailed,
        event_details=EventDetails(
            evaluationFailedEventDetails=failure.get_evaluation_failed_event_details()
        ),
    )
    return failure


@hooks.on_infra_start()
def evaluate_jsonata_in_python() -> None:
    require_localstack_version("sfn_jsonata")
    from localstack.services.stepfunctions.asl.component.common.string import string_expression
    from localstack.services.stepfunctions.asl.jsonata import jsonata as jsonata_module
    from localstack.services.stepfunctions.asl.jsonata import validations

    # The defining module, and the two that imported the function by name.
    for module in (jsonata_module, string_expression, validations):
        module.eval_jsonata_expression = evaluate
    string_expression.get_intrinsic_functions_declarations = no_function_declarations

    original_eval_body = string_expression.StringJSONata._eval_body

    def _eval_body(self: Any, env: Any) -> None:
        try:
            original_eval_body(self, env)
        except JSONataEvaluationError as error:
            raise _query_evaluation_failure(env, self.expression, error) from error

    _eval_body.__wrapped__ = original_eval_body  # type: ignore[attr-defined]
    string_expression.StringJSONata._eval_body = _eval_body

    # Field names in causes: the user's field, not LocalStack's class (see the module docstring).
    from localstack.services.stepfunctions.asl.component.common import parargs
    from localstack.services.stepfunctions.asl.component.common.jsonata import jsonata_template_value

    jsonata_template_value.JSONataTemplateValue._field_name = _no_field_name
    parargs.Arguments._field_name = _arguments_field_name
    applied("sfn_jsonata")


def _no_field_name(self: Any) -> None:
    return None


def _arguments_field_name(self: Any) -> str:
    return "Arguments"
