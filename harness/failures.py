"""Why executions failed, in words a user can act on: the error, its cause and the function's last log lines.

A run whose 200 executions all failed once printed only the report's complaint that there was no capture
yet. The first cause is in the executions themselves: Step Functions records the error and cause of the
task that failed (for a Lambda task, the function's ``errorType``/``errorMessage``), its history names the
function, and the function's CloudWatch log holds what the runtime printed (an import error, a traceback).
This module gathers that for the first execution of each unexpected error name, so the CLI can print it
before anything a later phase says.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:  # harness.executions imports pandas; the CLI imports this module at start
    from harness.executions import ExecutionResult

# Executions that end with this error are the workflow working as designed (low confidence), not a fault.
EXPECTED_ERRORS = frozenset({"ThresholdConfidenceNotMet"})
LOG_TAIL_LINES = 8
_CAUSE_CHARS = 600


@dataclass
class FailureCause:
    """The first execution that failed with ``error``, and what explains it."""

    error: str
    count: int
    key: str
    cause: str
    execution_arn: str | None = None
    function: str | None = None
    log_tail: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The failure as the CLI prints it: one headline, the cause, the log tail indented."""
        where = f" in function {self.function}" if self.function else ""
        out = [f"{self.error} ({self.count} execution(s)), first on {self.key}{where}:", f"  {self.cause}"]
        if self.log_tail:
            out.append(f"  last lines of /aws/lambda/{self.function}:")
            out += [f"    {line}" for line in self.log_tail]
        return out


def first_failures(
    results: Iterable[ExecutionResult],
    expected: frozenset[str] = EXPECTED_ERRORS,
    sfn: Any | None = None,
    logs: Any | None = None,
) -> list[FailureCause]:
    """One :class:`FailureCause` per unexpected error name, most frequent first.

    ``sfn`` and ``logs`` are optional: without them (or when the cloud no longer answers) the cause is
    the execution's own error and cause, which is still the first cause.
    """
    firsts: dict[str, ExecutionResult] = {}
    counts: dict[str, int] = {}
    for result in results:
        if result.status == "SUCCEEDED" or (result.error or "?") in expected:
            continue
        error = result.error or "?"
        counts[error] = counts.get(error, 0) + 1
        firsts.setdefault(error, result)
    causes = []
    for error, result in sorted(firsts.items(), key=lambda item: -counts[item[0]]):
        cause = FailureCause(error, counts[error], result.key, _readable_cause(result.cause), result.arn)
        if sfn is not None and result.arn:
            cause.function = _failed_function(sfn, result.arn)
        if logs is not None and cause.function:
            cause.log_tail = _log_tail(logs, cause.function)
        causes.append(cause)
    return causes


def _readable_cause(cause: str | None) -> str:
    """A Lambda task's cause is the function's error JSON: show ``errorType: errorMessage``."""
    if not cause:
        return "(no cause recorded)"
    try:
        parsed = json.loads(cause)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and ("errorMessage" in parsed or "errorType" in parsed):
        text = f"{parsed.get('errorType', '?')}: {parsed.get('errorMessage', '')}"
    else:
        text = cause
    return text if len(text) <= _CAUSE_CHARS else text[:_CAUSE_CHARS] + " ..."


def _failed_function(sfn: Any, execution_arn: str) -> str | None:
    """The function of the task that failed, from the execution's history (newest events first)."""
    try:
        events = sfn.get_execution_history(executionArn=execution_arn, reverseOrder=True, maxResults=100)[
            "events"
        ]
    except (BotoCoreError, ClientError):
        return None
    failed_seen = False
    for event in events:
        kind = event.get("type", "")
        if kind in ("TaskFailed", "LambdaFunctionFailed", "TaskTimedOut", "LambdaFunctionTimedOut"):
            failed_seen = True
        elif failed_seen and kind == "TaskScheduled":
            details = event.get("taskScheduledEventDetails", {})
            try:
                name = json.loads(details.get("parameters") or "{}").get("FunctionName")
            except ValueError:
                name = None
            return _function_name(name) if name else None
        elif failed_seen and kind == "LambdaFunctionScheduled":
            resource = event.get("lambdaFunctionScheduledEventDetails", {}).get("resource")
            return _function_name(resource) if resource else None
    return None


def _function_name(name_or_arn: str) -> str:
    """``arn:aws:lambda:r:a:function:name[:qualifier]`` or ``name[:qualifier]`` -> ``name``."""
    if name_or_arn.startswith("arn:"):
        parts = name_or_arn.split(":")
        return parts[6] if len(parts) > 6 else name_or_arn
    return name_or_arn.split(":", 1)[0]


def _log_tail(logs: Any, function: str, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last ``lines`` lines of the function's newest log stream (empty when there is none)."""
    group = f"/aws/lambda/{function}"
    try:
        streams = logs.describe_log_streams(
            logGroupName=group, orderBy="LastEventTime", descending=True, limit=1
        )["logStreams"]
        if not streams:
            return []
        events = logs.get_log_events(
            logGroupName=group, logStreamName=streams[0]["logStreamName"], startFromHead=False, limit=50
        )["events"]
    except (BotoCoreError, ClientError):
        return []
    text = [line for event in events for line in event.get("message", "").splitlines() if line.strip()]
    return text[-lines:]
