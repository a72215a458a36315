"""Every wait of a run ends: executions and training jobs have deadlines, the run lock a timeout, and a
reused training job is checked before it is trusted. moto's in-process AWS (its executions never end,
its training jobs complete at once without writing a model)."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError

from harness import executions, jobs, model
from harness.config import Settings
from harness.interrupts import LockTimeout, RunLock
from harness.targets.registry import target_for

SETTINGS = Settings(target="aws", bucket="deadline-bkt")
ROLE = "arn:aws:iam::123456789012:role/scones-sagemaker-role"


def _state_machine(sfn: Any) -> str:
    definition = {"StartAt": "x", "States": {"x": {"Type": "Pass", "End": True}}}
    return sfn.create_state_machine(name="never-ends", definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]


def test_an_execution_that_never_ends_is_stopped_at_its_deadline(aws) -> None:
    sfn = target_for(SETTINGS).client("stepfunctions")
    arn = _state_machine(sfn)
    results: list[executions.ExecutionResult] = []
    worker = threading.Thread(
        target=lambda: results.extend(
            executions.run_executions(sfn, arn, "b", ["test/a.png", "test/b.png"], deadline_s=0.5)
        ),
        daemon=True,
    )
    started = time.monotonic()
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "run_executions hung on executions that never end"
    assert time.monotonic() - started < 10
    assert [r.error for r in results] == [executions.DEADLINE_ERROR] * 2
    assert all("did not end within 0.5 s" in (r.cause or "") for r in results)
    statuses = [e["status"] for e in sfn.list_executions(stateMachineArn=arn)["executions"]]
    assert statuses == ["ABORTED", "ABORTED"], "nothing is left running after the deadline"
    summary = executions.summarise(results, {})
    assert summary["failed_by_error"] == {executions.DEADLINE_ERROR: 2}


def test_a_set_stop_event_starts_nothing(aws) -> None:
    sfn = target_for(SETTINGS).client("stepfunctions")
    arn = _state_machine(sfn)
    stop = threading.Event()
    stop.set()
    results = executions.run_executions(sfn, arn, "b", ["test/a.png"] * 5, stop=stop)
    assert {r.status for r in results} == {"NOT_STARTED"}
    assert sfn.list_executions(stateMachineArn=arn)["executions"] == []


def test_a_training_job_past_its_deadline_is_stopped(aws, monkeypatch) -> None:
    target = target_for(SETTINGS)
    sm = target.client("sagemaker")
    request = model.training_job_request(SETTINGS, "scones-ic-00000000000000dd", ROLE, 10)
    real_describe = sm.describe_training_job

    def in_progress(**kwargs: Any) -> dict[str, Any]:  # moto completes jobs at once; this one never does
        job = real_describe(**kwargs)
        return {**job, "TrainingJobStatus": "InProgress", "SecondaryStatus": "Training"}

    monkeypatch.setattr(sm, "describe_training_job", in_progress)
    stopped: list[str] = []
    monkeypatch.setattr(sm, "stop_training_job", lambda **kw: stopped.append(kw["TrainingJobName"]))
    with pytest.raises(jobs.TrainingFailed, match=r"did not end within 0.3 s .*stopped it"):
        jobs.train(sm, target.client("logs"), request, poll_s=0.05, deadline_s=0.3)
    assert stopped == ["scones-ic-00000000000000dd"]


def test_a_completed_job_whose_model_is_gone_is_not_reused(aws) -> None:
    target = target_for(SETTINGS)
    sm, logs, s3 = (target.client(s) for s in ("sagemaker", "logs", "s3"))
    s3.create_bucket(Bucket=SETTINGS.bucket)
    request = model.training_job_request(SETTINGS, "scones-ic-00000000000000ee", ROLE, 10)
    first = jobs.train(sm, logs, request, poll_s=0, s3=s3)
    assert not first.reused
    said: list[str] = []
    # moto's job is Completed but wrote no model.tar.gz: what a restarted embedded cloud used to serve.
    second = jobs.train(sm, logs, request, poll_s=0, s3=s3, log=said.append)
    assert not second.reused and second.job_name.startswith(f"{first.job_name}-")
    assert any("is gone; not reusing it" in line for line in said)
    bucket, _, key = second.model_data_url.removeprefix("s3://").partition("/")
    s3.put_object(Bucket=bucket, Key=key, Body=b"model")
    third = jobs.train(sm, logs, request, poll_s=0, s3=s3)
    assert third.reused and third.job_name == second.job_name, "the retrained job, whose model exists"


def test_the_run_lock_serializes_and_times_out_naming_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "run.lock"
    holder = RunLock(path)
    holder.acquire(timeout_s=1)
    waited: list[str] = []
    with pytest.raises(LockTimeout, match=r"another harness run \(pid \d+, started .*within 0.3 s"):
        RunLock(path).acquire(timeout_s=0.3, log=waited.append)
    assert waited and "waiting up to 0.3 s" in waited[0]
    order: list[str] = []
    second = RunLock(path)
    waiting = threading.Event()  # the readiness signal: the second run found the lock held and waits

    def acquire_after_the_first() -> None:
        second.acquire(timeout_s=10, log=lambda _m: waiting.set())
        order.append("second")

    thread = threading.Thread(target=acquire_after_the_first)
    thread.start()
    assert waiting.wait(10), "the second run never started waiting for the lock"
    order.append("first released")
    holder.release()
    thread.join(timeout=10)
    second.release()
    assert order == ["first released", "second"]


class _FlakySfn:
    """A Step Functions client whose first poll times out and whose start can be refused."""

    def __init__(self, refuse_start: bool = False) -> None:
        self.refuse_start, self.polls = refuse_start, 0

    def start_execution(self, **_kw: Any) -> dict[str, Any]:
        if self.refuse_start:
            raise ReadTimeoutError(endpoint_url="http://127.0.0.1:1/")
        return {"executionArn": "arn:aws:states:us-east-1:1:execution:m:e"}

    def describe_execution(self, **_kw: Any) -> dict[str, Any]:
        self.polls += 1
        if self.polls == 1:
            raise ReadTimeoutError(endpoint_url="http://127.0.0.1:1/")
        now = datetime.now(UTC)
        return {"status": "SUCCEEDED", "startDate": now, "stopDate": now, "output": "{}"}


def test_a_slow_poll_or_a_refused_start_is_one_execution_result_not_the_runs() -> None:
    flaky = _FlakySfn()
    result = executions.run_one(flaky, "arn", "b", "test/a.png", poll_s=0)
    assert result.status == "SUCCEEDED" and flaky.polls == 2
    refused = executions.run_one(_FlakySfn(refuse_start=True), "arn", "b", "test/a.png")
    assert (refused.status, refused.error) == ("NOT_STARTED", "ReadTimeoutError")
