"""A failed run says what failed: valid execution names, status-check errors, first causes, the CLI's output.

Issue 20: a run whose 200 executions all failed printed only the report's "no capture yet" and told the
user to run the workflow they had just run. Issue 24: a photo named ``a b.png`` stalled the run until its
300 s deadline because its execution name was refused and every status check failed.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from moto import mock_aws
from typer.testing import CliRunner

from harness import executions, failures, workflow
from harness.config import Settings
from harness.executions import ExecutionResult
from harness.main import app

# StartExecution, request parameter "name" (AWS Step Functions API reference): 1-80 characters; must not
# contain white space, brackets, wildcards, " # % \ ^ | ~ ` $ & , ; : / or control characters; names for
# CloudWatch logging use only 0-9, A-Z, a-z, - and _.
AWS_EXECUTION_NAME = re.compile(r"^[0-9A-Za-z_-]{1,80}$")


@pytest.mark.parametrize(
    "key", ["test/a b.png", "test/vélo.png", "test/x#y.png", "test/自行车.png", "test/" + "z" * 300 + ".png"]
)
def test_execution_names_are_valid_for_aws_and_unique(key: str) -> None:
    names = {executions.execution_name(key) for _ in range(50)}
    assert len(names) == 50
    for name in names:
        assert AWS_EXECUTION_NAME.match(name), name


class _Sfn:
    """DescribeExecution answers with ``answer`` (an exception to raise, or a status)."""

    def __init__(self, *answers: Any) -> None:
        self.answers, self.polls, self.names = list(answers), 0, []

    def start_execution(self, **kw: Any) -> dict[str, Any]:
        self.names.append(kw["name"])
        return {"executionArn": f"arn:aws:states:us-east-1:1:execution:m:{kw['name']}"}

    def describe_execution(self, **_kw: Any) -> dict[str, Any]:
        answer = self.answers[min(self.polls, len(self.answers) - 1)]
        self.polls += 1
        if isinstance(answer, Exception):
            raise answer
        now = datetime.now(UTC)
        return {"status": answer, "startDate": now, "stopDate": now, "output": "{}"}

    def stop_execution(self, **_kw: Any) -> None:
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1/")


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} said no"}}, "DescribeExecution")


def test_a_refused_status_check_ends_the_wait_at_once_with_its_cause() -> None:
    sfn = _Sfn(_client_error("InvalidArn"))
    result = executions.run_one(sfn, "arn:sm", "b", "test/a b.png", poll_s=0, deadline_s=300)
    assert (result.status, result.error, sfn.polls) == ("UNKNOWN", "ClientError", 1)
    assert "InvalidArn said no" in (result.cause or "")
    dead = executions.run_one(
        _Sfn(EndpointConnectionError(endpoint_url="http://127.0.0.1:1/")), "arn:sm", "b", "test/a.png"
    )
    assert dead.error == "EndpointConnectionError" and "Could not connect" in (dead.cause or "")


def test_throttling_is_asked_again_not_a_failure() -> None:
    sfn = _Sfn(_client_error("ThrottlingException"), "SUCCEEDED")
    result = executions.run_one(sfn, "arn:sm", "b", "test/a.png", poll_s=0)
    assert result.status == "SUCCEEDED" and sfn.polls == 2


# GetExecutionHistory (API reference, HistoryEvent): a lambda:invoke task that failed is TaskScheduled
# (parameters: the Lambda Invoke request, FunctionName included), TaskStarted, TaskFailed, ExecutionFailed.
_HISTORY = [
    {"type": "ExecutionFailed", "id": 7},
    {"type": "TaskFailed", "id": 6, "taskFailedEventDetails": {"error": "Runtime.ExitError"}},
    {"type": "TaskStarted", "id": 5},
    {
        "type": "TaskScheduled",
        "id": 4,
        "taskScheduledEventDetails": {
            "resource": "invoke",
            "resourceType": "lambda",
            "parameters": json.dumps(
                {"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:classifier:$LATEST"}
            ),
        },
    },
    {"type": "TaskStateEntered", "id": 3},
]


class _HistorySfn:
    def get_execution_history(self, **kw: Any) -> dict[str, Any]:
        assert kw["reverseOrder"] is True
        return {"events": _HISTORY}


def test_first_failures_name_the_function_and_its_last_log_lines() -> None:
    cause = json.dumps(
        {"errorType": "Runtime.ExitError", "errorMessage": "RequestId: 1 Error: exit status 1"}
    )
    results = [
        ExecutionResult("test/ok.png", "SUCCEEDED", None, None, [0.9, 0.1], 5, "arn:e0"),
        ExecutionResult("test/low.png", "FAILED", "ThresholdConfidenceNotMet", "low", None, 5, "arn:e1"),
        ExecutionResult("test/a.png", "FAILED", "Runtime.ExitError", cause, None, 5, "arn:e2"),
        ExecutionResult("test/b.png", "FAILED", "Runtime.ExitError", cause, None, 5, "arn:e3"),
        ExecutionResult("test/c.png", "NOT_STARTED", "ReadTimeoutError", "slow", None, 0, None),
    ]
    with mock_aws():
        logs = boto3.client("logs", region_name="us-east-1")
        group = "/aws/lambda/classifier"
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="2026/12/07/[$LATEST]abc")
        now_ms = int(datetime.now(UTC).timestamp() * 1000)  # AWS refuses events older than 14 days
        lines = ["START RequestId: 1", "Traceback (most recent call last):", "No module named awslambdaric"]
        logs.put_log_events(
            logGroupName=group,
            logStreamName="2026/12/07/[$LATEST]abc",
            logEvents=[{"timestamp": now_ms + i, "message": m} for i, m in enumerate(lines)],
        )
        found = failures.first_failures(results, failures.EXPECTED_ERRORS, _HistorySfn(), logs)
    assert [(f.error, f.count, f.key) for f in found] == [
        ("Runtime.ExitError", 2, "test/a.png"),
        ("ReadTimeoutError", 1, "test/c.png"),
    ]
    exit_error = found[0]
    assert exit_error.function == "classifier"
    assert exit_error.cause == "Runtime.ExitError: RequestId: 1 Error: exit status 1"
    assert exit_error.log_tail[-1] == "No module named awslambdaric"
    printed = "\n".join(exit_error.lines())
    assert "in function classifier" in printed and "No module named awslambdaric" in printed
    assert found[1].function is None and found[1].log_tail == []  # never started: nothing to look up


def _failed_run(tmp_path: Path) -> workflow.RunResult:
    """What `run` returns when every execution failed in a function: the real report decision included."""
    runs = [
        ExecutionResult(
            f"test/{i}.png",
            "FAILED",
            "Runtime.ExitError",
            '{"errorType": "Runtime.ExitError", "errorMessage": "exit status 1"}',
            None,
            5,
            f"arn:e{i}",
        )
        for i in range(3)
    ]
    result = workflow.RunResult(phases_s={"executions": 1.0})
    result.summary = executions.summarise(runs, {})
    result.failures = failures.first_failures(runs)
    workflow._report(Settings(home=tmp_path), None, tmp_path / "report", result, log=lambda _m: None)  # type: ignore[arg-type]
    return result


def test_a_run_whose_executions_all_failed_says_so_first_and_exits_non_zero(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    failed = _failed_run(tmp_path)
    assert failed.report_problem and "none of the 3 executions reached the endpoint" in failed.report_problem
    monkeypatch.setattr(workflow, "run", lambda *_a, **_kw: failed)
    result = CliRunner().invoke(app, ["run", "--executions", "3"], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    out = result.output
    assert "failed: Runtime.ExitError" in out  # the summary is printed
    assert "Runtime.ExitError (3 execution(s)), first on test/0.png" in out
    assert out.index("Runtime.ExitError: exit status 1") < out.index("report skipped")
    assert "no capture yet" not in out and "unexpected execution failures" in out
