"""The wire protocols, driven by botocore's own service models (never hand-written schemas).

Control plane: AWS JSON 1.1 (``POST /`` with ``X-Amz-Target: SageMaker.<Operation>``).
Runtime: rest-json (``POST /endpoints/{name}/invocations``); only its errors are shaped here.

Requests are decoded from the wire into the Python values botocore's
``ParamValidator`` expects (timestamps, blobs), validated by it, and then checked
against the constraints it leaves out (enums, patterns, maximums) from the same
shapes, so a request AWS would reject is rejected here with a ValidationException.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import re
import uuid
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape
from botocore.utils import parse_timestamp
from botocore.validate import ParamValidator

from sagemaker_emulator.errors import (
    AwsError,
    SerializationException,
    UnknownOperationException,
    ValidationError,
    ValidationException,
)

JSON_11 = "application/x-amz-json-1.1"
TARGET_PREFIX = "SageMaker."


@functools.cache
def service_model(name: str = "sagemaker") -> ServiceModel:
    """botocore's model of ``sagemaker`` or ``sagemaker-runtime`` (loaded once)."""
    return botocore.session.get_session().get_service_model(name)


def request_id() -> str:
    return str(uuid.uuid4())


def operation_for_target(target: str | None) -> OperationModel:
    """The operation an ``X-Amz-Target`` header names, or UnknownOperationException."""
    if not target or not target.startswith(TARGET_PREFIX):
        raise UnknownOperationException(f"Missing or unknown X-Amz-Target header: {target!r}")
    name = target[len(TARGET_PREFIX) :]
    model = service_model()
    if name not in model.operation_names:
        raise UnknownOperationException(f"Unknown operation {name}")
    return model.operation_model(name)


def parse_request(operation: OperationModel, body: bytes) -> dict[str, Any]:
    """Decode and validate a JSON 1.1 request body for ``operation``."""
    try:
        raw = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise SerializationException(f"Request body is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise SerializationException("Request body must be a JSON object")
    shape = operation.input_shape
    if shape is not None and (problem := _type_problem(raw, shape)) is not None:
        raise SerializationException(problem)
    params = _from_wire(raw, shape) if shape is not None else {}
    if shape is not None:
        validate(params, shape)
    return params


def validate(params: dict[str, Any], shape: StructureShape) -> None:
    """The shapes' constraints in AWS's words (required, lengths, enums, patterns), then botocore's
    ParamValidator as a last guard for anything those leave out."""
    problems: list[str] = []
    _check_constraints(params, shape, "", problems)
    if problems:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        raise ValidationException(f"{count} validation {noun} detected: " + "; ".join(problems))
    report = ParamValidator().validate(params, shape)
    if report.has_errors():
        raise ValidationException(report.generate_report())


# What a JSON value of the wrong type is called in AWS's SerializationException ("NUMBER_VALUE can not be
# converted to a String"), and what each scalar shape is called there.
_JAVA_TYPES = {
    "string": "a String",
    "boolean": "a Boolean",
    "integer": "an Integer",
    "long": "a Long",
    "float": "a Float",
    "double": "a Double",
    "timestamp": "a Date",
    "blob": "a ByteBuffer",
}


def _token(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE_VALUE" if value else "FALSE_VALUE"
    return "NUMBER_VALUE" if isinstance(value, int | float) else "STRING_VALUE"


def _scalar_fits(value: Any, kind: str) -> bool:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind in ("string", "blob"):
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind in ("integer", "long"):
        return number and float(value).is_integer()
    if kind in ("float", "double"):
        return number
    if kind == "timestamp":
        return number or (isinstance(value, str) and _parse_time(value) is not None)
    return True


def _parse_time(text: str) -> dt.datetime | None:
    try:
        return parse_timestamp(text)
    except (ValueError, TypeError, OverflowError):
        return None


def _type_problem(value: Any, shape: Shape) -> str | None:
    """The first JSON value whose type its shape cannot take (AWS: SerializationException, never a 500)."""
    if value is None:
        return None
    kind = shape.type_name
    if kind in ("structure", "map"):
        if not isinstance(value, dict):
            return (
                "Start of list found where not expected."
                if isinstance(value, list)
                else (f"{_token(value)} can not be converted to a Structure")
            )
        for key, item in value.items():
            member = shape.members.get(key) if isinstance(shape, StructureShape) else shape.value
            if member is not None and (problem := _type_problem(item, member)) is not None:
                return problem
        return None
    if kind == "list":
        if not isinstance(value, list):
            return (
                "Start of structure or map found where not expected."
                if isinstance(value, dict)
                else (f"{_token(value)} can not be converted to a List")
            )
        return next((p for item in value if (p := _type_problem(item, shape.member)) is not None), None)
    if isinstance(value, dict):
        return "Start of structure or map found where not expected."
    if isinstance(value, list):
        return "Start of list found where not expected."
    if not _scalar_fits(value, kind):
        return f"{_token(value)} can not be converted to {_JAVA_TYPES.get(kind, kind)}"
    return None


def validate_invoke(endpoint: str, headers: Any) -> None:
    """InvokeEndpoint's URI and header members against the runtime's model (lengths, patterns).

    botocore checks only minimums client-side, so an over-long ``CustomAttributes`` (1024) or
    ``InferenceId`` (64) reaches the service, which answers ValidationError: so does the emulator.
    """
    shape = service_model("sagemaker-runtime").operation_model("InvokeEndpoint").input_shape
    params: dict[str, Any] = {}
    if payload := shape.serialization.get("payload"):
        params[payload] = b""  # the body is checked by size elsewhere (413), not here
    for key, member in shape.members.items():
        where = member.serialization.get("location")
        if where == "uri":
            params[key] = endpoint
        elif where == "header" and (value := headers.get(member.serialization["name"].lower())) is not None:
            params[key] = value
    problems: list[str] = []
    _check_constraints(params, shape, "", problems)
    if problems:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        raise ValidationError(f"{count} validation {noun} detected: " + "; ".join(problems))


def _from_wire(value: Any, shape: Shape) -> Any:
    """JSON 1.1 values -> the Python types boto3 users pass (epoch numbers -> datetime, base64 -> bytes)."""
    if value is None:
        return None
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        members = shape.members
        return {k: (_from_wire(v, members[k]) if k in members else v) for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [_from_wire(v, shape.member) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _from_wire(v, shape.value) for k, v in value.items()}
    if kind == "timestamp" and isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, tz=dt.UTC)
    if kind == "timestamp" and isinstance(value, str):
        return _parse_time(value) or value  # an ISO 8601 string, as the handlers compare datetimes
    if kind == "blob" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            return value  # ParamValidator accepts str for blobs; leave it
    return value


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return None  # Java-only syntax (\p{...}); AWS checks it, we cannot


def _check_constraints(value: Any, shape: Shape, path: str, problems: list[str]) -> None:
    meta = shape.metadata
    kind = shape.type_name
    where = path or "input"
    if kind == "structure" and isinstance(shape, StructureShape) and isinstance(value, dict):
        required = set(shape.required_members)
        for key, member in shape.members.items():
            sub = f"{path}.{_camel(key)}" if path else _camel(key)
            if key in value and value[key] is not None:
                _check_constraints(value[key], member, sub, problems)
            elif key in required:
                problems.append(
                    f"Value null at '{sub}' failed to satisfy constraint: Member must not be null"
                )
        return
    if kind in ("string", "list", "map") and hasattr(value, "__len__") and len(value) < meta.get("min", 0):
        shown = f"'{value[:64]}' " if isinstance(value, str) else ""
        problems.append(
            f"Value {shown}at '{where}' failed to satisfy constraint: "
            f"Member must have length greater than or equal to {meta['min']}"
        )
    if kind == "list" and isinstance(shape, ListShape) and isinstance(value, list):
        if "max" in meta and len(value) > meta["max"]:
            problems.append(
                f"Value at '{where}' failed to satisfy constraint: "
                f"Member must have length less than or equal to {meta['max']}"
            )
        for i, item in enumerate(value, start=1):
            _check_constraints(item, shape.member, f"{where}.{i}.member", problems)
        return
    if kind == "map" and isinstance(shape, MapShape) and isinstance(value, dict):
        if "max" in meta and len(value) > meta["max"]:
            problems.append(
                f"Value at '{where}' failed to satisfy constraint: "
                f"Map must have length less than or equal to {meta['max']}"
            )
        for k, v in value.items():
            _check_constraints(k, shape.key, f"{where}.key", problems)
            _check_constraints(v, shape.value, f"{where}.{k}", problems)
        return
    if kind == "string" and isinstance(value, str):
        if shape.enum and value not in shape.enum:
            problems.append(
                f"Value '{value}' at '{where}' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(shape.enum)}]"
            )
        if "max" in meta and len(value) > meta["max"]:
            problems.append(
                f"Value '{value[:64]}' at '{where}' failed to satisfy constraint: "
                f"Member must have length less than or equal to {meta['max']}"
            )
        pattern = meta.get("pattern")
        compiled = _compiled(pattern) if pattern else None
        if compiled is not None and compiled.fullmatch(value) is None:
            problems.append(
                f"Value '{value[:64]}' at '{where}' failed to satisfy constraint: "
                f"Member must satisfy regular expression pattern: {pattern}"
            )
        return
    numeric = kind in ("integer", "long", "float", "double") and isinstance(value, int | float)
    if numeric and "min" in meta and value < meta["min"]:
        problems.append(
            f"Value '{value}' at '{where}' failed to satisfy constraint: "
            f"Member must have value greater than or equal to {meta['min']}"
        )
    if numeric and "max" in meta and value > meta["max"]:
        problems.append(
            f"Value '{value}' at '{where}' failed to satisfy constraint: "
            f"Member must have value less than or equal to {meta['max']}"
        )


def _to_wire(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"cannot serialise {type(value).__name__}")


def serialize_response(result: dict[str, Any] | None) -> bytes:
    """A JSON 1.1 response body; ``None`` values are dropped, as AWS omits unset members."""
    return json.dumps(_drop_none(result or {}), default=_to_wire, separators=(",", ":")).encode()


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def json_error(err: AwsError, rid: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of a JSON 1.1 error (botocore reads ``__type`` and ``message``)."""
    body = {"__type": err.code, "message": err.message, **err.extra}
    headers = {"content-type": JSON_11, "x-amzn-requestid": rid}
    return err.status, headers, json.dumps(body).encode()


def rest_json_error(err: AwsError, rid: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of a rest-json error (botocore reads ``x-amzn-ErrorType``)."""
    body = {"message": err.message, **err.extra}
    headers = {
        "content-type": "application/json",
        "x-amzn-requestid": rid,
        "x-amzn-errortype": f"{err.code}:http://internal.amazon.com/coral/com.amazon.sagemaker/",
    }
    return err.status, headers, json.dumps(body).encode()
