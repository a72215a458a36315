"""MockConfigFile checks and installation (harness/sfn_mocks.py); the mocked runs are in tests/e2e."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness import sfn_mocks
from harness.config import Settings
from harness.names import STATE_MACHINE


def _write(path: Path, config: object) -> Path:
    path.write_text(json.dumps(config))
    return path


def _config(**responses: object) -> dict:
    return {
        "StateMachines": {"sm": {"TestCases": {"Case": {"A": "R"}}}},
        "MockedResponses": responses or {"R": {"0": {"Return": {"Payload": 1}}}},
    }


def test_the_shipped_config_covers_the_workflows_six_paths() -> None:
    config = sfn_mocks.load(sfn_mocks.DEFAULT_MOCK_CONFIG)
    assert sfn_mocks.cases(config, STATE_MACHINE) == [
        "Success",
        "LowConfidence",
        "ServiceExceptionThenSuccess",
        "TooManyRequests",
        "TaskTimeout",
        "MalformedClassifierOutput",
    ]


@pytest.mark.parametrize(
    ("responses", "message"),
    [
        (
            {"R": {"0": {"Return": 1, "Throw": {"Error": "E", "Cause": "C"}}}},
            "exactly one of 'Return' or 'Throw'",
        ),
        ({"R": {"0": {"Throw": {"Error": "E"}}}}, "needs the strings 'Error' and 'Cause'"),
        ({"R": {"1": {"Return": 1}}}, "consecutively from 0; 0 is missing"),
        ({"R": {"0": {"Return": 1}, "2-3": {"Return": 1}}}, "1 is missing"),
        ({"R": {"first": {"Return": 1}}}, "'first' is not an attempt number"),
        ({"Other": {"0": {"Return": 1}}}, "mocks state 'A' with 'R', which is not in MockedResponses"),
    ],
)
def test_bad_configs_are_refused_naming_the_key(tmp_path: Path, responses: dict, message: str) -> None:
    path = _write(tmp_path / "mock.json", _config(**responses))
    with pytest.raises(sfn_mocks.MockConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        sfn_mocks.load(path)


def test_not_json_and_unknown_state_machine(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(sfn_mocks.MockConfigError, match="is not JSON"):
        sfn_mocks.load(bad)
    with pytest.raises(sfn_mocks.MockConfigError, match="no state machine 'nope' \\(it has: sm\\)"):
        sfn_mocks.cases(_config(), "nope")


def test_install_replaces_the_active_file_with_a_newer_mtime(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    first = sfn_mocks.install(settings, _write(tmp_path / "a.json", _config()))
    active = sfn_mocks.active_path(settings)
    mtime = int(active.stat().st_mtime)

    second = _config(R={"0": {"Return": {"Payload": 2}}})
    sfn_mocks.install(settings, _write(tmp_path / "b.json", second))

    assert first == _config() and json.loads(active.read_text()) == second
    # LocalStack caches by whole-second mtime: two installs in one second must still differ.
    assert int(active.stat().st_mtime) > mtime
    assert [p.name for p in active.parent.iterdir()] == [active.name], "no temp file left behind"
    assert not os.access(tmp_path / "home" / "localstack" / f".{active.name}.tmp", os.F_OK)


def test_a_mock_config_step_becomes_a_test_state_mock() -> None:
    config = sfn_mocks.load(sfn_mocks.DEFAULT_MOCK_CONFIG)
    throttled = sfn_mocks.response_for(config, "AlwaysThrottled", 3)
    assert throttled is not None and sfn_mocks.response_for(config, "AlwaysThrottled", 4) is None
    assert sfn_mocks.test_state_mock(throttled, "NONE") == {
        "errorOutput": {"error": throttled["Throw"]["Error"], "cause": throttled["Throw"]["Cause"]}
    }
    confident = sfn_mocks.response_for(config, "ConfidentBicycle", 0)
    assert confident is not None
    assert sfn_mocks.test_state_mock(confident, "STRICT") == {
        "result": json.dumps(confident["Return"]),
        "fieldValidationMode": "STRICT",
    }
