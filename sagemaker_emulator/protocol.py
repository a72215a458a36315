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
    params = _from_wire(raw, shape) if shape is not None else {}
    if shape is not None:
        validate(params, shape)
    return params


def validate(params: dict[str, Any], shape: StructureShape) -> None:
    """botocore's ParamValidator first (required, types, minimums), then the shapes' other constraints."""
    report = ParamValidator().validate(params, shape)
    if report.has_errors():
        raise ValidationException(report.generate_report())
    problems: list[str] = []
    _check_constraints(params, shape, "", problems)
    if problems:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        raise ValidationException(f"{count} validation {noun} detected: " + "; ".join(problems))


def validate_invoke(endpoint: str, headers: Any) -> None:
    """InvokeEndpoint's URI and header members against the runtime's model (lengths, patterns).

    botocore checks only minimums client-side, so an over-long ``CustomAttributes`` (1024) or
    ``InferenceId`` (64) reaches the service, which answers ValidationError: so does the emulator.
    """
    shape = service_model("sagemaker-runtime").operation_model("InvokeEndpoint").input_shape
    params: dict[str, Any] = {}
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
        for key, member in shape.members.items():
            if key in value and value[key] is not None:
                sub = f"{path}.{_camel(key)}" if path else _camel(key)
                _check_constraints(value[key], member, sub, problems)
        return
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
