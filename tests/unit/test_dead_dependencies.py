"""A dead dependency is noticed in seconds and named (issue 24): which service, its pid, its log; a dead
emulator's orphans are stopped by the PIDs it recorded; the clean-up's error never hides the first cause."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from harness import executions, workflow
from harness.config import Settings
from harness.embedded import stack
from harness.embedded.process import spawn
from harness.targets.local import LocalTarget
from sagemaker_emulator import _proc


class _StuckSfn:
    """StartExecution works; DescribeExecution hangs (a poll stuck in retries against a dead service)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def start_execution(self, **kw: Any) -> dict[str, Any]:
        return {"executionArn": f"arn:aws:states:us-east-1:1:execution:m:{kw['name']}"}

    def describe_execution(self, **_kw: Any) -> dict[str, Any]:
        self.release.wait(30)
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1/")

    def stop_execution(self, **_kw: Any) -> None:
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1/")


def test_a_dead_service_ends_the_executions_within_seconds_naming_it() -> None:
    sfn = _StuckSfn()
    died_at = time.monotonic() + 0.5
    dead = lambda: "LocalStack (pid 7) exited: see x.log" if time.monotonic() > died_at else None  # noqa: E731
    started = time.monotonic()
    try:
        with pytest.raises(executions.DependencyDied, match=r"LocalStack \(pid 7\) exited"):
            executions.run_executions(sfn, "arn:sm", "b", [f"test/{i}.png" for i in range(20)], dead=dead)
        assert time.monotonic() - started < 3.0
    finally:
        sfn.release.set()


def test_without_a_dead_service_unanswered_calls_are_execution_results() -> None:
    sfn = _StuckSfn()
    sfn.release.set()
    runs = executions.run_executions(sfn, "arn:sm", "b", ["test/a.png", "test/b.png"], dead=lambda: None)
    assert [r.error for r in runs] == ["EndpointConnectionError"] * 2


def _settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", cache_dir=tmp_path / "cache")


def _record_service(settings: Settings, name: str, code: str = "pass") -> int:
    """A service record (pid file) of a process running ``code``: ``pass`` is what a killed service
    leaves (a record whose process is gone)."""
    log = stack.service_dir(settings, name) / f"{name}.log"
    record = spawn(
        name,
        [sys.executable, "-c", code],
        env={},
        cwd=settings.home.parent,
        log_path=log,
        pid_path=stack.pid_path(settings, name),
        url="http://127.0.0.1:1",
        health_url="http://127.0.0.1:1/health",
    )
    deadline = time.monotonic() + 10
    while code == "pass" and _proc.alive(record.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return record.pid


def test_local_target_names_the_dead_service_its_pid_and_log(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    target = LocalTarget.from_settings(settings)
    assert target.dead_dependency() == (
        "LocalStack is not running (harness up); the SageMaker emulator is not running (harness up)"
    )
    alive = _record_service(settings, "sagemaker", "import time; time.sleep(60)")
    try:
        pid = _record_service(settings, "localstack")
        log = stack.service_dir(settings, "localstack") / "localstack.log"
        assert target.dead_dependency() == f"LocalStack (pid {pid}) exited: see {log}"
    finally:
        _proc.stop_stale(alive, _proc.start_time(alive))


def test_a_dead_emulators_orphans_are_stopped_by_their_recorded_pids(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    localstack = _record_service(settings, "localstack", "import time; time.sleep(60)")
    try:
        jobs = stack.emulator_state_dir(settings) / "training-jobs"
        jobs.mkdir(parents=True)
        started = _proc.start_time(orphan.pid)
        record = {"request": {"TrainingJobName": "j"}, "pid": {"pid": orphan.pid, "started": started}}
        (jobs / "j.json").write_text(json.dumps(record))
        pid = _record_service(settings, "sagemaker")
        problem = LocalTarget.from_settings(settings).dead_dependency()
        assert problem is not None and f"the SageMaker emulator (pid {pid}) exited" in problem
        assert problem.endswith("stopped the 1 job/model-server process(es) it left running")
        assert orphan.wait(timeout=10) is not None  # stopped by its recorded pid
    finally:
        if orphan.poll() is None:
            orphan.kill()
        _proc.stop_stale(localstack, _proc.start_time(localstack))


class _Target:
    """The run's view of a target whose emulator died during training."""

    def __init__(self, problem: str | None) -> None:
        self.problem = problem

    def dead_dependency(self) -> str | None:
        return self.problem

    def client(self, _service: str) -> Any:
        raise workflow.WorkflowError("stop training failed: Could not connect to the endpoint URL")


def test_the_clean_up_after_a_failure_never_replaces_its_first_cause(tmp_path: Path) -> None:
    result = workflow.RunResult(training_started="job-1")
    logged: list[str] = []
    workflow._clean_up(_Target(None), _settings(tmp_path), result, True, logged.append, after_failure=True)  # type: ignore[arg-type]
    assert any("clean-up after the failure: stop training failed" in m for m in logged)
    with pytest.raises(workflow.WorkflowError, match="stop training failed"):
        workflow._clean_up(_Target(None), _settings(tmp_path), result, True, logged.append)  # type: ignore[arg-type]


class _DyingTarget:
    """A target whose emulator died: every call fails to connect; it knows who died."""

    bills = False
    keeps_endpoint = True
    name = "local"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def bring_up(self, console: Any = None) -> None:
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:4577/")

    def dead_dependency(self) -> str | None:
        return "the SageMaker emulator (pid 5) exited: see sagemaker.log"


def test_a_phase_that_cannot_connect_is_reported_as_the_service_that_died(tmp_path: Path) -> None:
    with pytest.raises(workflow.WorkflowError) as raised:
        workflow.run(_DyingTarget(_settings(tmp_path)), workflow.RunOptions())  # type: ignore[arg-type]
    message = str(raised.value)
    assert message.startswith("the SageMaker emulator (pid 5) exited: see sagemaker.log (up failed: ")
    assert message.count("exited") == 1
