"""Validate a TestState ``mock.result`` against the integration's output shape, as AWS does.

AWS's TestState (2025) checks a mocked result against the API model of the integration it stands for
(``fieldValidationMode``: ``STRICT``, the default, "all required fields must be present, and all
present fields must conform to the API's schema"; ``PRESENT``, present fields only; ``NONE``: no
check; API reference, ``MockInput``). The wording and the rules below are AWS's recorded answers
(LocalStack's AWS-validated snapshots ``tests/aws/services/stepfunctions/v2/test_state/
test_field_validation_mode{,_present,_none}.snapshot.json``):

* ``Mock result schema validation error: Field 'StatusCode' must be a number`` (integer, long,
  float, double), ``... must be a string`` (string, timestamp, blob), ``... must be a boolean``,
  ``... must be an array``, ``... must be an object`` (map);
* ``... Field 'StorageClass' is not an expected value`` (enum), ``... is smaller than the minimum
  length`` (a blob or string under its ``min``), ``... is less than the minimum value`` / ``...
  exceeds the maximum value`` (numbers out of ``min``/``max``);
* ``... Required field 'ExecutionArn' is missing`` (STRICT only);
* a field the model does not have is accepted (``{"random": "json"}`` passes), and so is ``{}``
  where nothing is required.

Member names are compared as Step Functions writes them (``ExecutionArn``, not ``executionArn``:
Step Functions capitalises the SDK's members). Works on any botocore ``Shape``, so it runs in
LocalStack's venv (the patch) and in the project's (the unit tests).
"""

from __future__ import annotations

from typing import Any

MODES = ("STRICT", "PRESENT", "NONE")
# Every member of botocore's TestStateInput today, as the harness treats it: honoured, or refused
# with a ValidationException that names it (tests/unit/test_sfn_mock_validation.py compares them
# with botocore's model, so a member AWS adds cannot be silently ignored).
TEST_STATE_HONOURED = frozenset(
    {"definition", "roleArn", "input", "inspectionLevel", "revealSecrets", "variables", "stateName", "mock"}
)
TEST_STATE_REFUSED = {
    "context": "a context object",
    "stateConfiguration": "a state configuration (retrier count, Map failure count, item reader data)",
}
PREFIX = "Mock result schema validation error: "


class MockValidationError(ValueError):
    """The mocked result does not fit the output shape; the message is AWS's."""


def sfn_cased(member: str) -> str:
    """A member name as Step Functions writes it in task results (first letter upper-case)."""
    return member[:1].upper() + member[1:]


def _fail(message: str) -> None:
    raise MockValidationError(PREFIX + message)


def _check_number(value: Any, shape: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(f"Field '{name}' must be a number")
    if shape.type_name in ("integer", "long") and value != int(value):
        _fail(f"Field '{name}' must be a number")
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and value < low:
        _fail(f"Field '{name}' is less than the minimum value")
    if high is not None and value > high:
        _fail(f"Field '{name}' exceeds the maximum value")


def _check_string(value: Any, shape: Any, name: str) -> None:
    if not isinstance(value, str):
        _fail(f"Field '{name}' must be a string")
    if shape.type_name == "timestamp":
        return
    enum = getattr(shape, "enum", None) or []
    if enum and value not in enum:
        _fail(f"Field '{name}' is not an expected value")
    low = shape.metadata.get("min")
    if low is not None and len(value) < low:
        _fail(f"Field '{name}' is smaller than the minimum length")


def _check(value: Any, shape: Any, name: str | None, strict: bool) -> None:
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            _fail(f"Field '{name}' must be an object")
        members = {sfn_cased(member): member_shape for member, member_shape in shape.members.items()}
        if strict:
            for required in shape.required_members:
                if sfn_cased(required) not in value:
                    _fail(f"Required field '{sfn_cased(required)}' is missing")
        for key, item in value.items():
            if key in members:
                _check(item, members[key], key, strict)
    elif kind == "list":
        if not isinstance(value, list):
            _fail(f"Field '{name}' must be an array")
        for item in value:
            _check(item, shape.member, name, strict)
    elif kind == "map":
        if not isinstance(value, dict):
            _fail(f"Field '{name}' must be an object")
        for item in value.values():
            _check(item, shape.value, name, strict)
    elif kind in ("integer", "long", "float", "double"):
        _check_number(value, shape, name or "")
    elif kind in ("string", "timestamp", "blob"):
        _check_string(value, shape, name or "")
    elif kind == "boolean" and not isinstance(value, bool):
        _fail(f"Field '{name}' must be a boolean")
    # "document" holds any JSON value.


def validate_result(result: Any, output_shape: Any, mode: str) -> None:
    """Raise :class:`MockValidationError` where AWS refuses ``result`` for ``output_shape`` in ``mode``."""
    if mode == "NONE" or output_shape is None:
        return
    if not isinstance(result, dict):
        _fail("Mock result must be a JSON object")
    _check(result, output_shape, None, strict=mode == "STRICT")
