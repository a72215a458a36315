"""Run the state machine with mocked service integrations: AWS's MockConfigFile, served by LocalStack.

LocalStack 4.9.2 reads ``SFN_MOCK_CONFIG`` (a path) once, at start, and re-reads the file itself
whenever its modification time changes. So the embedded cloud is always started with
``SFN_MOCK_CONFIG`` pointing at one file the harness owns (:func:`active_path`), and running a test
case is: validate the user's MockConfigFile, copy it there (temp file, then rename, with a newer
mtime: LocalStack compares whole seconds), deploy, and start an execution on
``<state machine ARN>#<test case>``. One running cloud serves any number of mock files, which is
what keeps the tests on one session-scoped cloud.

States a test case does not name run for real, so mocking the serializer and the classifier leaves
the real filter function deciding, with no model and no endpoint.

The file format is AWS's (Step Functions Local): ``StateMachines.<name>.TestCases.<case>.<state>`` =
a name in ``MockedResponses``, whose keys are attempt numbers (``"0"``, ``"1-3"``, consecutive from 0)
and whose values hold exactly one of ``Return`` (the integration's result) or ``Throw``
(``Error`` and ``Cause``).
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import assets
from harness.config import Settings

# The mock cases of this project's workflow (the six paths of docs/testing.md).
DEFAULT_MOCK_CONFIG = assets.statemachine_dir() / "MockConfigFile.json"
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


class MockConfigError(ValueError):
    """The MockConfigFile is not usable; the message names the file and the offending key."""


@dataclass
class MockedRun:
    """How one mocked execution ended, and the types of its history's events in order."""

    case: str
    execution_arn: str
    status: str
    error: str | None
    cause: str | None
    output: Any
    events: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)


def active_path(settings: Settings) -> Path:
    """The file LocalStack's ``SFN_MOCK_CONFIG`` names for this harness home."""
    return settings.home.expanduser().resolve() / "localstack" / "sfn-mock-config.json"


def load(path: Path) -> dict[str, Any]:
    """Read and check a MockConfigFile as LocalStack (and Step Functions Local) will read it."""
    try:
        config = json.loads(Path(path).read_text())
    except OSError as exc:
        raise MockConfigError(f"cannot read mock config {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise MockConfigError(f"mock config {path} is not JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise MockConfigError(f"mock config {path}: the top level must be an object")
    machines, responses = config.get("StateMachines"), config.get("MockedResponses")
    if not isinstance(machines, dict) or not isinstance(responses, dict):
        raise MockConfigError(f"mock config {path}: needs the objects 'StateMachines' and 'MockedResponses'")
    for name, steps in responses.items():
        _check_response(path, name, steps)
    for machine, spec in machines.items():
        cases = spec.get("TestCases") if isinstance(spec, dict) else None
        if not isinstance(cases, dict):
            raise MockConfigError(f"mock config {path}: StateMachines.{machine} needs a 'TestCases' object")
        for case, states in cases.items():
            if not isinstance(states, dict):
                raise MockConfigError(
                    f"mock config {path}: test case {machine}.{case} must map states to names"
                )
            for state, response in states.items():
                if response not in responses:
                    raise MockConfigError(
                        f"mock config {path}: test case {machine}.{case} mocks state {state!r} with "
                        f"{response!r}, which is not in MockedResponses"
                    )
    return config


def _check_response(path: Path, name: str, steps: Any) -> None:
    where = f"mock config {path}: MockedResponses.{name}"
    if not isinstance(steps, dict) or not steps:
        raise MockConfigError(f"{where} must be an object of attempt numbers ('0', '1-3', ...)")
    ranges = []
    for key, step in steps.items():
        match = _RANGE.match(key.strip())
        if not match:
            raise MockConfigError(f"{where}: {key!r} is not an attempt number or range such as '0' or '1-3'")
        first, last = int(match[1]), int(match[2] or match[1])
        if last < first:
            raise MockConfigError(f"{where}: range {key!r} ends before it starts")
        ranges.append((first, last))
        if not isinstance(step, dict) or ("Return" in step) == ("Throw" in step):
            raise MockConfigError(f"{where}.{key} must hold exactly one of 'Return' or 'Throw'")
        throw = step.get("Throw")
        if throw is not None and not (
            isinstance(throw, dict)
            and isinstance(throw.get("Error"), str)
            and isinstance(throw.get("Cause"), str)
        ):
            raise MockConfigError(f"{where}.{key}.Throw needs the strings 'Error' and 'Cause'")
    expected = 0
    for first, last in sorted(ranges):
        if first != expected:
            raise MockConfigError(
                f"{where}: attempts must be numbered consecutively from 0; {expected} is missing"
            )
        expected = last + 1


def cases(config: dict[str, Any], state_machine: str) -> list[str]:
    """The test case names defined for ``state_machine``."""
    spec = config["StateMachines"].get(state_machine)
    if spec is None:
        known = ", ".join(config["StateMachines"]) or "none"
        raise MockConfigError(f"the mock config has no state machine {state_machine!r} (it has: {known})")
    return list(spec["TestCases"])


def install(settings: Settings, source: Path) -> dict[str, Any]:
    """Check ``source`` and make it the mock config the running LocalStack reads; returns it parsed."""
    config = load(source)
    target = active_path(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        previous = int(target.stat().st_mtime)
    except OSError:
        previous = 0
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(config, indent=2) + "\n")
    # LocalStack caches the parsed file by its mtime in whole seconds: make the new one differ.
    stamp = max(int(time.time()), previous + 1)
    os.utime(tmp, (stamp, stamp))
    os.replace(tmp, target)
    return config


def run_case(
    sfn: Any, state_machine_arn: str, case: str, payload: dict[str, Any], timeout_s: float = 120.0
) -> MockedRun:
    """Start ``<arn>#<case>`` and wait for it to end; its outcome and full history."""
    name = f"mock-{re.sub(r'[^A-Za-z0-9-]', '-', case)[:40]}-{uuid.uuid4().hex[:8]}"
    arn = sfn.start_execution(
        stateMachineArn=f"{state_machine_arn}#{case}", name=name, input=json.dumps(payload)
    )["executionArn"]
    deadline = time.monotonic() + timeout_s
    poll = 0.05
    while (desc := sfn.describe_execution(executionArn=arn))["status"] not in TERMINAL:
        if time.monotonic() > deadline:
            raise TimeoutError(f"mocked execution {arn} still {desc['status']} after {timeout_s:.0f} s")
        time.sleep(poll)
        poll = min(poll * 1.5, 0.5)
    history = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
        history += page["events"]
    return MockedRun(
        case=case,
        execution_arn=arn,
        status=desc["status"],
        error=desc.get("error"),
        cause=desc.get("cause"),
        output=json.loads(desc["output"]) if desc.get("output") else None,
        events=[event["type"] for event in history],
        history=history,
    )


def response_for(config: dict[str, Any], name: str, attempt: int) -> dict[str, Any] | None:
    """The ``Return`` or ``Throw`` of mocked response ``name`` for ``attempt`` (None past its last)."""
    for key, step in config["MockedResponses"][name].items():
        match = _RANGE.match(key.strip())
        if match and int(match[1]) <= attempt <= int(match[2] or match[1]):
            return step
    return None


def test_state_mock(step: dict[str, Any], field_validation: str) -> dict[str, Any]:
    """A MockConfigFile step as TestState's ``mock``."""
    if "Throw" in step:
        return {"errorOutput": {"error": step["Throw"]["Error"], "cause": step["Throw"]["Cause"]}}
    return {"result": json.dumps(step["Return"]), "fieldValidationMode": field_validation}


def run_case_with_test_state(
    sfn: Any,
    definition: str,
    role_arn: str,
    config: dict[str, Any],
    state_machine: str,
    case: str,
    payload: Any,
    field_validation: str = "NONE",
    max_steps: int = 100,
) -> MockedRun:
    """Walk ``case`` through the state machine one TestState call per state (AWS's 2025 TestState).

    Each state is tested in the whole definition (``stateName``) with the previous state's output as
    its input: a state the case mocks gets its attempt's ``Return`` or ``Throw`` as ``mock``, any
    other runs for real. ``SUCCEEDED`` and ``CAUGHT_ERROR`` go on to ``nextState``; ``RETRIABLE``
    tries the same state again with the next attempt's response, and fails the run where the file has
    none (write as many attempts as the state's ``Retry`` allows; a real state is not retried);
    ``FAILED`` ends the run. The same calls work against AWS itself. ``events`` lists
    ``<state>: <status>`` in order; ``execution_arn`` is empty (nothing is executed).
    """
    mocked = config["StateMachines"][state_machine]["TestCases"][case]
    state: str | None = json.loads(definition)["StartAt"]
    data, attempts, events = payload, 0, []
    status, error, cause, output = "FAILED", None, None, None
    for _ in range(max_steps):
        kwargs: dict[str, Any] = {"definition": definition, "stateName": state, "input": json.dumps(data)}
        step = response_for(config, mocked[state], attempts) if state in mocked else None
        if step is not None:
            kwargs["mock"] = test_state_mock(step, field_validation)
        else:
            kwargs["roleArn"] = role_arn
        answer = sfn.test_state(**kwargs)
        status, error, cause = answer["status"], answer.get("error"), answer.get("cause")
        events.append(f"{state}: {status}")
        if status == "RETRIABLE" and step is not None and response_for(config, mocked[state], attempts + 1):
            attempts += 1
            continue
        if status in ("SUCCEEDED", "CAUGHT_ERROR"):
            data = output = json.loads(answer["output"]) if answer.get("output") else None
            state, attempts = answer.get("nextState"), 0
            if state:
                continue
            status, error, cause = "SUCCEEDED", None, None
        elif status == "RETRIABLE":
            status = "FAILED"
        break
    else:
        error, cause = "States.Runtime", f"no end after {max_steps} states"
    return MockedRun(
        case=case, execution_arn="", status=status, error=error, cause=cause, output=output, events=events
    )
