"""Start Step Functions executions over the staged test images and summarise how they ended.

Executions are started and polled from a small thread pool (``concurrency``
at a time) because each one is a few hundred milliseconds of waiting on the
service; the summary is a pandas DataFrame with one row per execution, so the
figures (success rate, failures by error name, accuracy, latency percentiles)
are one expression each.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ReadTimeoutError

from harness.aws_errors import error_code, is_not_found
from harness.cifar import CLASS_NAMES

Steps = Callable[[int, int], None]
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
STOP_GRACE_S = 5.0  # how long an interrupted run waits for its running executions to be stopped
DEAD_CHECK_S = 1.0  # how often a run asks whether a service it needs died


def list_test_images(s3: Any, bucket: str, data_prefix: str) -> list[str]:
    """Keys of the staged test images: prefix ``test/`` (never ``test``, which also matches test.lst)."""
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{data_prefix}test/"):
        keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".png")]
    return sorted(keys)


def true_labels(s3: Any, bucket: str, data_prefix: str) -> dict[str, int]:
    """Test image key -> class, from the staged ``test.lst`` (paths there are relative to ``test/``)."""
    try:
        text = s3.get_object(Bucket=bucket, Key=f"{data_prefix}test.lst")["Body"].read().decode()
    except ClientError as exc:
        if not is_not_found(exc):
            raise
        return {}
    labels = {}
    for line in text.splitlines():
        _, label, path = line.split("\t")
        labels[f"{data_prefix}test/{path}"] = int(float(label))
    return labels


@dataclass
class ExecutionResult:
    key: str
    status: str
    error: str | None
    cause: str | None
    inferences: list[float] | None
    latency_ms: float
    arn: str | None = None  # None when it never started


# StartExecution's ``name``: 1-80 characters, none of white space, ``<>{}[]?*"#%\^|~`$&,;:/``, or control
# characters (API reference, StartExecution, "name"); CloudWatch Logs wants only ``0-9A-Za-z-_``. A photo
# may be called anything (``a b.png``, ``vélo.png``, ``自行车.png``): keep its safe characters for the
# reader, and a random suffix for uniqueness (two photos can share a stem).
_UNSAFE_NAME_CHARS = re.compile(r"[^0-9A-Za-z_-]+")
_NAME_STEM_CHARS = 40
_RETRIED_POLL_ERRORS = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
}


def execution_name(key: str) -> str:
    """A valid, unique execution name for the photo at ``key``: ``<safe stem>-<12 hex>`` (<= 53 chars)."""
    stem = _UNSAFE_NAME_CHARS.sub("-", key.rsplit("/", 1)[-1]).strip("-")[:_NAME_STEM_CHARS] or "photo"
    return f"{stem}-{uuid.uuid4().hex[:12]}"


def _poll_error_is_final(exc: Exception) -> bool:
    """A status check that failed: only a slow answer or throttling means "ask again"; anything else (an
    answer that says no, nothing listening) ends this execution's wait at once with the cause."""
    if isinstance(exc, ReadTimeoutError):
        return False
    if isinstance(exc, ClientError):
        return error_code(exc) not in _RETRIED_POLL_ERRORS
    return True


DEADLINE_ERROR = "ExecutionDeadlineExceeded"
STOPPED_ERROR = "RunInterrupted"
DEFAULT_DEADLINE_S = 300.0


def run_one(
    sfn: Any,
    state_machine_arn: str,
    bucket: str,
    key: str,
    poll_s: float = 0.05,
    deadline_s: float = DEFAULT_DEADLINE_S,
    stop: threading.Event | None = None,
) -> ExecutionResult:
    """Start one execution for ``s3://bucket/key`` and wait for it to end, at most ``deadline_s``.

    An execution still running at its deadline, or when ``stop`` is set (a signal ended the run), is
    stopped with StopExecution so nothing keeps running (and billing state transitions) after the run.
    """
    stop = stop or threading.Event()
    if stop.is_set():
        return ExecutionResult(key, "NOT_STARTED", STOPPED_ERROR, "the run was interrupted", None, 0.0)
    payload = {"image_data": "", "s3_bucket": bucket, "s3_key": key}
    name = execution_name(key)
    started = time.monotonic()
    try:
        arn = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload))[
            "executionArn"
        ]
    except (BotoCoreError, ClientError) as exc:  # one refused start is this execution's result, not the run's
        return ExecutionResult(key, "NOT_STARTED", type(exc).__name__, str(exc), None, 0.0)
    while True:
        try:
            desc = sfn.describe_execution(executionArn=arn)
        except (BotoCoreError, ClientError) as exc:
            if _poll_error_is_final(exc):
                waited_ms = (time.monotonic() - started) * 1000
                cause = f"checking the execution's status failed: {exc} ({arn})"
                return ExecutionResult(key, "UNKNOWN", type(exc).__name__, cause, None, waited_ms, arn)
            desc = {"status": "RUNNING"}  # slow or throttled: poll again, until the deadline
        if desc["status"] in TERMINAL:
            break
        waited = time.monotonic() - started
        if waited >= deadline_s or stop.is_set():
            error, cause = (
                (STOPPED_ERROR, "the run was interrupted; stopped the execution")
                if stop.is_set()
                else (DEADLINE_ERROR, f"the execution did not end within {deadline_s:g} s; stopped it")
            )
            _stop_execution(sfn, arn, error, cause)
            return ExecutionResult(key, "ABORTED", error, f"{cause} ({arn})", None, waited * 1000, arn)
        stop.wait(min(poll_s, max(0.0, deadline_s - waited)))
        poll_s = min(poll_s * 1.5, 1.0)
    latency = (desc["stopDate"] - desc["startDate"]).total_seconds() * 1000
    inferences = None
    if desc["status"] == "SUCCEEDED":
        output = json.loads(desc.get("output") or "{}")
        inferences = output.get("body", {}).get("inferences")
    return ExecutionResult(
        key, desc["status"], desc.get("error"), desc.get("cause"), inferences, latency, arn
    )


def _stop_execution(sfn: Any, arn: str, error: str, cause: str) -> None:
    """StopExecution; an execution that ended meanwhile is fine (AWS answers it is not running), and a
    cloud that stopped answering cannot be asked (the run reports that, not this clean-up's error)."""
    with contextlib.suppress(ClientError, BotoCoreError):
        sfn.stop_execution(executionArn=arn, error=error, cause=cause)


class DependencyDied(RuntimeError):
    """A service the executions need stopped answering because it died (the message says which)."""


# Errors that mean nothing answered: the run then asks the target whether a service it started died.
NOT_ANSWERED = frozenset({"EndpointConnectionError", "ConnectionClosedError", "ConnectTimeoutError"})


def run_executions(
    sfn: Any,
    state_machine_arn: str,
    bucket: str,
    keys: list[str],
    concurrency: int = 8,
    progress: Steps | None = None,
    deadline_s: float = DEFAULT_DEADLINE_S,
    stop: threading.Event | None = None,
    dead: Callable[[], str | None] | None = None,
) -> list[ExecutionResult]:
    """Run one execution per key, ``concurrency`` at a time, each bounded by ``deadline_s``.

    Not ``with ThreadPoolExecutor``: leaving that block waits for every queued execution, which is what
    made Ctrl-C wait for the whole batch. An execution that ended because nothing answered asks ``dead``
    (the target's :meth:`~harness.targets.base.Target.dead_dependency`): when a service died, the queue is
    cancelled and :class:`DependencyDied` says which, within seconds instead of the executions' deadlines.
    When the main thread is interrupted (``RunInterrupted``,
    KeyboardInterrupt) the queue is cancelled, the running ones are stopped, and the exception goes on.
    """
    stop = stop or threading.Event()
    results: list[ExecutionResult] = []
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency))
    futures: list[Future[ExecutionResult]] = []
    try:
        for key in keys:
            futures.append(
                pool.submit(run_one, sfn, state_machine_arn, bucket, key, deadline_s=deadline_s, stop=stop)
            )
        pending: set[Future[ExecutionResult]] = set(futures)
        checked = time.monotonic()
        while pending:
            done, pending = wait(pending, timeout=DEAD_CHECK_S, return_when=FIRST_COMPLETED)
            unanswered = False
            for future in done:
                results.append(future.result())
                unanswered |= results[-1].error in NOT_ANSWERED
                if progress:
                    progress(len(results), len(keys))
            # Asked when nothing answered, and every DEAD_CHECK_S anyway: a poll stuck in retries against
            # a dead service would otherwise hide the death until its deadline.
            if dead is not None and (unanswered or time.monotonic() - checked >= DEAD_CHECK_S):
                checked = time.monotonic()
                if problem := dead():
                    raise DependencyDied(problem)
    except DependencyDied:
        stop.set()  # nothing to stop on a dead service: no grace wait
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    except BaseException:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        # The running ones see ``stop`` within one poll and send StopExecution; give them a moment.
        wait(futures, timeout=STOP_GRACE_S)
        raise
    pool.shutdown(wait=True)
    return results


def summarise(results: list[ExecutionResult], labels: dict[str, int]) -> dict[str, Any]:
    """Counts by outcome and error name, accuracy of the passed predictions, latency percentiles."""
    import pandas as pd

    df = pd.DataFrame([r.__dict__ for r in results])
    if df.empty:
        return {"executions": 0}
    df["label"] = df["key"].map(labels)
    df["predicted"] = df["inferences"].map(
        lambda p: int(max(range(len(p)), key=p.__getitem__)) if p else None
    )
    passed = df[df["status"] == "SUCCEEDED"]
    known = passed.dropna(subset=["label"])
    failed = df[df["status"] != "SUCCEEDED"]
    return {
        "executions": len(df),
        "succeeded": len(passed),
        "failed": len(failed),
        "failed_by_error": {str(k): int(v) for k, v in failed["error"].fillna("?").value_counts().items()},
        "accuracy_of_passed": float((known["predicted"] == known["label"]).mean()) if len(known) else None,
        "predicted": {CLASS_NAMES[int(k)]: int(v) for k, v in passed["predicted"].value_counts().items()},
        "latency_ms_p50": float(df["latency_ms"].quantile(0.5)),
        "latency_ms_p95": float(df["latency_ms"].quantile(0.95)),
    }
