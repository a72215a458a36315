"""The workflow's state machine with mocked Lambda results: six paths, no model, no endpoint.

The cases are statemachine/MockConfigFile.json (AWS's MockConfigFile format), served by LocalStack's
SFN_MOCK_CONFIG on the session's one cloud. The serializer and classifier are mocked; the filter is
the real function, so the threshold decision is real. Each case asserts the execution's status,
error, cause and its exact event sequence, which is what AWS records for this state machine
(tests/e2e/aws_histories.py). The six executions run at once: the retry back-offs overlap.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import botocore.config
import pytest

from harness import deploy, names, sfn_mocks
from harness.config import Settings
from harness.staging import ensure_bucket
from harness.targets.registry import target_for
from tests.e2e.aws_histories import FAILED_IN_FILTER, LOW_CONFIDENCE, SUCCEEDED, failed_task, succeeded_task

pytestmark = pytest.mark.e2e

THRESHOLD = 0.93
PAYLOAD = {"s3_bucket": "scones-unlimited", "s3_key": "test/bicycle_s_000017.png"}


@pytest.fixture(scope="module")
def mocked(embedded_cloud: Settings) -> dict[str, sfn_mocks.MockedRun]:
    settings = embedded_cloud.replace(threshold=THRESHOLD)
    config = sfn_mocks.install(settings, sfn_mocks.DEFAULT_MOCK_CONFIG)
    target = target_for(settings)
    ensure_bucket(target.client("s3"), settings.bucket, settings.region)  # deploy wires its events
    arn = deploy.deploy(settings, target).state_machine_arn
    sfn = target.client("stepfunctions")
    cases = sfn_mocks.cases(config, names.STATE_MACHINE)
    with ThreadPoolExecutor(len(cases)) as pool:
        runs = pool.map(lambda case: sfn_mocks.run_case(sfn, arn, case, PAYLOAD), cases)
        return {run.case: run for run in runs}


def _lambda_cause(run: sfn_mocks.MockedRun) -> dict:
    cause = json.loads(run.cause or "{}")
    assert set(cause) == {"errorMessage", "errorType", "requestId", "stackTrace"}, cause
    assert all(
        line.startswith('  File "/var/task/lambda_function.py", line ') for line in cause["stackTrace"]
    )
    return cause


def _event(run: sfn_mocks.MockedRun, kind: str) -> list[dict]:
    key = kind[0].lower() + kind[1:] + "EventDetails"
    return [e[key] for e in run.history if e["type"] == kind]


def test_success(mocked: dict[str, sfn_mocks.MockedRun]) -> None:
    run = mocked["Success"]
    assert (run.status, run.error, run.cause) == ("SUCCEEDED", None, None)
    assert run.output["body"]["inferences"] == [0.97, 0.03]
    assert run.output["result"]["status"] == "classified"
    assert run.events == SUCCEEDED


def test_low_confidence_fails_in_the_real_filter(mocked: dict[str, sfn_mocks.MockedRun]) -> None:
    run = mocked["LowConfidence"]
    assert (run.status, run.error) == ("FAILED", "ThresholdConfidenceNotMet")
    cause = _lambda_cause(run)
    assert cause["errorType"] == "ThresholdConfidenceNotMet"
    assert cause["errorMessage"] == f"top confidence 0.5500 (class 0) is below the threshold {THRESHOLD}"
    assert run.events == LOW_CONFIDENCE


def test_service_exception_is_retried_then_succeeds(mocked: dict[str, sfn_mocks.MockedRun]) -> None:
    run = mocked["ServiceExceptionThenSuccess"]
    assert (run.status, run.error, run.cause) == ("SUCCEEDED", None, None)
    assert run.events == [
        "ExecutionStarted",
        *succeeded_task(),
        *succeeded_task(1),
        *succeeded_task() * 2,
        "ExecutionSucceeded",
    ]
    (failure,) = _event(run, "TaskFailed")
    assert failure["error"] == "Lambda.ServiceException"
    assert failure["cause"] == "Lambda encountered an internal error (Service: Lambda, Status Code: 500)"


def test_too_many_requests_until_the_retries_run_out(mocked: dict[str, sfn_mocks.MockedRun]) -> None:
    run = mocked["TooManyRequests"]
    assert (run.status, run.error) == ("FAILED", "Lambda.TooManyRequestsException")
    assert run.cause == "Rate Exceeded. (Service: Lambda, Status Code: 429)"
    # MaxAttempts 3: the first attempt and three retries.
    assert run.events == ["ExecutionStarted", *succeeded_task(), *failed_task(4), "ExecutionFailed"]


def test_task_timeout(mocked: dict[str, sfn_mocks.MockedRun]) -> None:
    run = mocked["TaskTimeout"]
    assert (run.status, run.error) == ("FAILED", "States.Timeout")
    assert run.cause in (None, "")
    assert run.events == [
        "ExecutionStarted",
        *succeeded_task(),
        *failed_task(1, "TaskTimedOut"),
        "ExecutionFailed",
    ]
    (timed_out,) = _event(run, "TaskTimedOut")
    assert (timed_out["error"], timed_out["resourceType"], timed_out["resource"]) == (
        "States.Timeout",
        "lambda",
        "invoke",
    )


def test_malformed_classifier_output_fails_in_the_filter(mocked: dict[str, sfn_mocks.MockedRun]) -> None:
    run = mocked["MalformedClassifierOutput"]
    assert (run.status, run.error) == ("FAILED", "MalformedInferences")
    cause = _lambda_cause(run)
    assert cause["errorMessage"] == "inferences must be a non-empty list of probabilities, got '[0.97, 0.03]'"
    assert run.events == FAILED_IN_FILTER


def test_cli_runs_a_case_with_a_mock_config_of_its_own(embedded_cloud: Settings, tmp_path: Path) -> None:
    """`harness sfn-test --mock-config F --case C` swaps the mock file on the running cloud."""
    if os.environ.get("AWS_ENDPOINT_URL"):
        pytest.skip(
            "harness sfn-test serves mocks on the embedded cloud it starts; AWS_ENDPOINT_URL points elsewhere"
        )
    config = json.loads(sfn_mocks.DEFAULT_MOCK_CONFIG.read_text())
    config["MockedResponses"]["ConfidentBicycle"]["0"]["Return"]["Payload"]["body"]["inferences"] = [
        0.01,
        0.99,
    ]
    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps(config))
    env = {
        **os.environ,
        "HARNESS_HOME": str(embedded_cloud.home),
        "HARNESS_LOCALSTACK_PORT": str(embedded_cloud.localstack_port),
        "HARNESS_SAGEMAKER_PORT": str(embedded_cloud.sagemaker_port),
        "HARNESS_THRESHOLD": str(THRESHOLD),
        "HARNESS_TARGET": "local",
    }
    exe = Path(sys.executable).with_name("harness")
    done = subprocess.run(
        [str(exe), "sfn-test", "--mock-config", str(mine), "--case", "Success", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads(done.stdout.strip().splitlines()[-1])
    assert (record["case"], record["status"]) == ("Success", "SUCCEEDED")
    assert record["output"]["body"]["inferences"] == [0.01, 0.99]
    assert record["events"] == SUCCEEDED
    sfn_mocks.install(embedded_cloud, sfn_mocks.DEFAULT_MOCK_CONFIG)  # leave the shipped cases active


def test_cli_names_an_unknown_case(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("harness")
    done = subprocess.run(
        [str(exe), "--home", str(tmp_path), "sfn-test", "--case", "Nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "no test case Nope (it has: Success, LowConfidence," in " ".join(done.stderr.split())


def test_the_cases_through_test_state_end_as_the_executions_do(
    embedded_cloud: Settings, mocked: dict[str, sfn_mocks.MockedRun]
) -> None:
    """The same six cases walked state by state through TestState with ``mock`` (AWS's 2025 API, the
    calls AWS answers too): each ends with the execution's status, error and output."""
    settings = embedded_cloud.replace(threshold=THRESHOLD)
    target = target_for(settings)
    deployed = deploy.deploy(settings, target)
    tester = target.client("stepfunctions", config=botocore.config.Config(inject_host_prefix=False))
    definition = tester.describe_state_machine(stateMachineArn=deployed.state_machine_arn)["definition"]
    config = sfn_mocks.load(sfn_mocks.DEFAULT_MOCK_CONFIG)
    for case, execution in mocked.items():
        run = sfn_mocks.run_case_with_test_state(
            tester, definition, deployed.states_role_arn, config, names.STATE_MACHINE, case, PAYLOAD
        )
        assert (run.status, run.error) == (execution.status, execution.error), (case, run.events)
        if execution.status == "SUCCEEDED":
            assert run.output == execution.output, case
    retried = sfn_mocks.run_case_with_test_state(
        tester,
        definition,
        deployed.states_role_arn,
        config,
        names.STATE_MACHINE,
        "ServiceExceptionThenSuccess",
        PAYLOAD,
    )
    assert retried.events[:3] == [
        "Serialize image data: SUCCEEDED",
        "Classify image: RETRIABLE",
        "Classify image: SUCCEEDED",
    ]


def test_cli_runs_a_case_through_test_state(embedded_cloud: Settings) -> None:
    """`harness sfn-test --test-state --case C`: the case walked through TestState with mocks."""
    if os.environ.get("AWS_ENDPOINT_URL"):
        pytest.skip("harness sfn-test uses the embedded cloud it starts; AWS_ENDPOINT_URL points elsewhere")
    env = {
        **os.environ,
        "HARNESS_HOME": str(embedded_cloud.home),
        "HARNESS_LOCALSTACK_PORT": str(embedded_cloud.localstack_port),
        "HARNESS_SAGEMAKER_PORT": str(embedded_cloud.sagemaker_port),
        "HARNESS_THRESHOLD": str(THRESHOLD),
        "HARNESS_TARGET": "local",
    }
    exe = Path(sys.executable).with_name("harness")
    done = subprocess.run(
        [str(exe), "sfn-test", "--test-state", "--case", "LowConfidence", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads(done.stdout.strip().splitlines()[-1])
    assert (record["case"], record["status"], record["error"]) == (
        "LowConfidence",
        "FAILED",
        "ThresholdConfidenceNotMet",
    )
    assert record["events"][2] == "Filter low-confidence inferences: CAUGHT_ERROR"
