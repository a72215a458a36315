"""Run a notebook replay script with every SageMaker response checked against botocore's model.

``python -m tests.e2e.notebooks.run SCRIPT`` (from the repository root, in an environment set only by
``harness env``). Before the script imports the SDK, a handler is added to botocore's built-in
handlers, so every botocore session the SDK creates checks each ``sagemaker`` and
``sagemaker-runtime`` response: the raw JSON body against the operation's output shape (a member
the model does not define, or a required member that is missing, is a problem) and the status code.
botocore's own parser silently drops unknown members, hence the check on the raw body. The problems
and the number of checked responses are printed as the last line (JSON) after the script's output.
"""

from __future__ import annotations

import json
import runpy
import sys
from typing import Any

import botocore.handlers
from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape

CHECKED: dict[str, int] = {}
PROBLEMS: list[str] = []


def shape_problems(value: Any, shape: Shape, path: str) -> list[str]:
    """Members ``shape`` does not define or requires but lacks, recursively, in wire (JSON) names."""
    problems: list[str] = []
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            return [f"{path}: expected an object, got {type(value).__name__}"]
        wire = {m.serialization.get("name", name): (name, m) for name, m in shape.members.items()}
        for key, item in value.items():
            if key not in wire:
                problems.append(f"{path}.{key}: not a member of {shape.name}")
            else:
                problems += shape_problems(item, wire[key][1], f"{path}.{key}")
        for name in shape.required_members:
            member = shape.members[name]
            if member.serialization.get("location"):
                continue  # headers and status codes are not in the body
            if member.serialization.get("name", name) not in value:
                problems.append(f"{path}.{name}: required by {shape.name} but missing")
    elif isinstance(shape, ListShape):
        if not isinstance(value, list):
            return [f"{path}: expected a list, got {type(value).__name__}"]
        for i, item in enumerate(value):
            problems += shape_problems(item, shape.member, f"{path}[{i}]")
    elif isinstance(shape, MapShape):
        if not isinstance(value, dict):
            return [f"{path}: expected a map, got {type(value).__name__}"]
        for key, item in value.items():
            problems += shape_problems(item, shape.value, f"{path}[{key!r}]")
    return problems


def check_response(http_response: Any, parsed: Any, model: OperationModel, **_: Any) -> None:
    service = model.service_model.service_name
    name = f"{service}.{model.name}"
    CHECKED[name] = CHECKED.get(name, 0) + 1
    if http_response.status_code >= 300:
        return  # errors are parsed by botocore's error parser; the script sees them as ClientError
    output = model.output_shape
    if output is None:
        return
    payload = output.serialization.get("payload")
    if payload:  # rest-json with a blob payload (InvokeEndpoint): check the required headers only
        for member_name in output.required_members:
            if member_name not in parsed:
                PROBLEMS.append(f"{name}: required {member_name} missing from the response")
        return
    try:
        body = json.loads(http_response.content or b"{}")
    except ValueError:
        PROBLEMS.append(f"{name}: response body is not JSON")
        return
    PROBLEMS.extend(f"{name}: {p}" for p in shape_problems(body, output, "$"))


botocore.handlers.BUILTIN_HANDLERS.append(("after-call.sagemaker", check_response))
botocore.handlers.BUILTIN_HANDLERS.append(("after-call.sagemaker-runtime", check_response))


def main() -> int:
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    code = 0
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        code = int(exc.code or 0)
    print(json.dumps({"checked": CHECKED, "problems": PROBLEMS}), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
