"""``harness run``: the whole Scones Unlimited workflow, phase by phase, on any target.

Each phase is timed (the benchmark and the summary print the same figures) and
reuses what already exists, so a second run skips straight to the executions.
Nothing here branches on the target: the target object brings itself up
(:meth:`~harness.targets.Target.bring_up`) and says whether it bills.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.config
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError

from harness import deploy as deploy_mod
from harness import executions, failures, jobs, model, pipeline, teardown
from harness.account import sagemaker_role
from harness.config import Settings
from harness.executions import DEFAULT_DEADLINE_S
from harness.interrupts import LockTimeout, RunLock, signals_end_the_run
from harness.progress import Bars
from harness.report import build_report
from harness.staging import stage_dataset
from harness.targets.base import Target

_FEW_RETRIES = botocore.config.Config(retries={"mode": "standard", "max_attempts": 2})
# How training and deployment run: the harness calls SageMaker (python), or the pipeline state machine does.
PIPELINES = ("python", "stepfunctions")
RUN_LOCK = "run.lock"
Log = Callable[[str], None]


class WorkflowError(RuntimeError):
    """A phase failed in a way the user must act on; the message names the phase."""


@dataclass
class RunOptions:
    dataset: str | None = None
    executions: int | None = None  # None = every test image
    concurrency: int = 8
    report_dir: Path | None = None
    keep_endpoint: bool | None = None  # None: keep it on local targets, delete it at the end on aws
    billable_ok: bool = False  # aws: the caller confirmed (--yes or a prompt) that the run may cost money
    pipeline: str = "python"  # one of PIPELINES
    execution_timeout_s: float = DEFAULT_DEADLINE_S  # each execution, then StopExecution
    lock_timeout_s: float = 1800.0  # how long to wait for another run on the same home

    def __post_init__(self) -> None:
        if self.pipeline not in PIPELINES:
            raise WorkflowError(f"pipeline must be one of {', '.join(PIPELINES)}, got {self.pipeline!r}")


@dataclass
class RunResult:
    phases_s: dict[str, float] = field(default_factory=dict)
    training_job: str = ""
    training_reused: bool = False
    training_started: str = ""  # a job this run created (stopped if the run ends while it trains)
    endpoint: str = ""
    state_machine_arn: str = ""
    summary: dict[str, Any] = field(default_factory=dict)
    failures: list[failures.FailureCause] = field(default_factory=list)  # first cause per error name
    report_path: Path | None = None
    report_problem: str | None = None  # why there is no report: skipped for an earlier failure, or failed

    @property
    def total_s(self) -> float:
        return sum(self.phases_s.values())


@contextmanager
def _phase(result: RunResult, name: str, log: Callable[[str], None]) -> Iterator[None]:
    start = time.perf_counter()
    log(f"[bold]▶ {name}[/]")
    try:
        yield
    except Exception as exc:
        if isinstance(exc, WorkflowError):
            raise
        raise WorkflowError(f"{name} failed: {exc}") from exc
    finally:
        result.phases_s[name] = round(time.perf_counter() - start, 3)


def _manifests_etag(s3: Any, settings: Settings) -> str:
    return ",".join(
        s3.head_object(Bucket=settings.bucket, Key=settings.data_key(name))["ETag"]
        for name in ("train.lst", "test.lst")
    )


def run(
    target: Target,
    options: RunOptions,
    bars: Bars | None = None,
    log: Callable[[str], None] = lambda _m: None,
) -> RunResult:
    """Run every phase; raises :class:`WorkflowError` naming the phase that failed.

    On aws nothing billable is created unless ``options.billable_ok``, and unless the endpoint is to be
    kept it is deleted at the end, also when a later phase failed or a signal (SIGINT, SIGTERM, SIGHUP)
    ended the run: then :class:`~harness.interrupts.RunInterrupted` propagates after the teardown, no
    new execution starts, running ones are stopped, and a training job this run started is stopped.
    One run at a time per harness home (``<home>/run.lock``).
    """
    settings = target.settings
    if target.bills and not options.billable_ok:
        raise WorkflowError(
            f"target {target.name} creates billable resources (a training job, an endpoint): "
            "confirm with --yes (see `harness doctor` for the estimate)"
        )
    keep = target.keeps_endpoint if options.keep_endpoint is None else options.keep_endpoint
    result = RunResult()
    stop = threading.Event()
    lock = RunLock(settings.home.expanduser().resolve() / RUN_LOCK)
    with signals_end_the_run(stop, log) as shield:
        failed = False
        try:
            try:
                lock.acquire(options.lock_timeout_s, stop, log)
            except LockTimeout as exc:
                raise WorkflowError(str(exc)) from None
            _run_phases(settings, options, target, result, bars, log, stop)
        except WorkflowError as exc:
            failed = True
            dead = target.dead_dependency() if _could_not_connect(exc) else None
            # The first cause is the service that died, not the phase that noticed it.
            if dead and dead not in str(exc):
                raise WorkflowError(f"{dead} ({exc})") from exc
            raise
        except BaseException:
            failed = True
            raise
        finally:
            shield()  # a second signal must not cut the teardown short
            try:
                _clean_up(target, settings, result, keep, log, after_failure=failed)
            finally:
                lock.release()
    return result


def _could_not_connect(exc: BaseException) -> bool:
    """Whether ``exc`` or a cause of it is a connection that nothing answered (a service may be dead)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, executions.DependencyDied | EndpointConnectionError | ConnectionClosedError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _clean_up(
    target: Target, settings: Settings, result: RunResult, keep: bool, log: Log, after_failure: bool = False
) -> None:
    """What the run leaves behind when it ends, normally or not: no job it started still training,
    and no endpoint unless it is to be kept. After a failure, a clean-up step that fails is logged, not
    raised: its error must not replace the first cause (a dead emulator is not "stop training failed")."""
    steps = []
    if result.training_started and not result.training_job:  # the run ended while its job trained
        steps.append(("stop training", lambda: _stop_training(target, result, log)))
    if not keep and ("endpoint" in result.phases_s or "pipeline" in result.phases_s):
        steps.append(("teardown", lambda: _delete_endpoint(target, settings, log)))
    for name, step in steps:
        try:
            with _phase(result, name, log):
                step()
        except WorkflowError as exc:
            if not after_failure:
                raise
            log(f"[yellow]clean-up after the failure: {exc}[/]")


def _stop_training(target: Target, result: RunResult, log: Log) -> None:
    if jobs.stop_training_job(target.client("sagemaker"), result.training_started):
        log(f"stopped training job {result.training_started}")


def _delete_endpoint(target: Target, settings: Settings, log: Log) -> None:
    if teardown.delete_endpoint(target.client("sagemaker"), settings.endpoint_name):
        log(f"deleted endpoint {settings.endpoint_name}")


def _run_phases(
    settings: Settings,
    options: RunOptions,
    target: Target,
    result: RunResult,
    bars: Bars | None,
    log: Log,
    stop: threading.Event,
) -> None:
    with _phase(result, "up", log):
        target.bring_up(console=bars.console if bars else None)
    session = target.session()
    s3, sm, logs = (target.client(s, session=session) for s in ("s3", "sagemaker", "logs"))
    # Two attempts, not five: the executions ask again themselves (throttling included), and a dead
    # service must be told from a slow one in seconds, not after botocore's back-off (up to 15 s a call).
    sfn = target.client("stepfunctions", session=session, config=_FEW_RETRIES)

    with _phase(result, "stage", log):
        staged = stage_dataset(settings, options.dataset, bars=bars, target=target)
        if staged.reused:
            log(staged.reuse_note())
        else:
            log(f"staged {staged.total} files ({len(staged.written)} uploaded) to {staged.destination}")
        num_train = sum(staged.counts["train"].values())

    if options.pipeline == "stepfunctions":
        with _phase(result, "pipeline", log):
            role = sagemaker_role(target)
            result.training_job, result.endpoint = _run_pipeline(
                settings, target, sfn, role, num_train, result, log
            )
    else:
        _train_and_host(settings, target, result, s3, sm, logs, num_train, bars, log)

    with _phase(result, "deploy", log):
        deployed = deploy_mod.deploy(settings, target, log=log)
        result.state_machine_arn = deployed.state_machine_arn

    with _phase(result, "executions", log):
        keys = executions.list_test_images(s3, settings.bucket, settings.data_prefix)
        if not keys:
            raise WorkflowError(f"no test images under s3://{settings.bucket}/{settings.data_prefix}test/")
        if options.executions is not None:
            keys = keys[: options.executions]
        runs = executions.run_executions(
            sfn,
            deployed.state_machine_arn,
            settings.bucket,
            keys,
            concurrency=options.concurrency,
            progress=bars.steps("executions") if bars else None,
            deadline_s=options.execution_timeout_s,
            stop=stop,
            dead=target.dead_dependency,
        )
        labels = executions.true_labels(s3, settings.bucket, settings.data_prefix)
        result.summary = executions.summarise(runs, labels)
        result.failures = failures.first_failures(runs, failures.EXPECTED_ERRORS, sfn, logs)

    if options.report_dir is not None:
        _report(settings, target, options.report_dir, result, log)


def _report(settings: Settings, target: Target, report_dir: Path, result: RunResult, log: Log) -> None:
    """The monitoring report; its problem is recorded, not raised, so the summary and the executions'
    own failures are still shown first. It is skipped, saying why, when no execution reached the
    endpoint: waiting for capture then only hides the first cause."""
    # Captures reach S3 in batches (as on AWS, only sooner): wait for one record per endpoint call.
    invoked = result.summary.get("succeeded", 0) + sum(
        n for e, n in result.summary.get("failed_by_error", {}).items() if e in failures.EXPECTED_ERRORS
    )
    if invoked == 0:
        result.report_problem = (
            f"report skipped: none of the {result.summary.get('executions', 0)} executions reached the "
            "endpoint, so there is no capture to report on (their failures are listed above)"
        )
        return
    try:
        with _phase(result, "report", log):
            report = build_report(settings, target, report_dir, wait_for=invoked, timeout_s=60)
    except WorkflowError as exc:
        result.report_problem = str(exc)
        return
    result.report_path = report.files.get("html")
    result.summary["capture_records"] = report.figures.get("records")
    result.summary["capture_accuracy"] = report.figures.get("accuracy")


def _run_pipeline(
    settings: Settings,
    target: Target,
    sfn: Any,
    role: str,
    num_train: int,
    result: RunResult,
    log: Callable[[str], None],
) -> tuple[str, str]:
    """Train and deploy through the pipeline state machine; returns (training job, endpoint).

    The job is recorded as started, so a run that ends early stops it (the execution itself is stopped
    by :func:`harness.pipeline.run_pipeline`) and deletes whatever endpoint the pipeline got to create."""
    arn, _ = pipeline.deploy_pipeline(settings, target, role, log)
    execution_input = pipeline.pipeline_input(settings, role, num_train, pipeline.pipeline_job_name())
    result.training_started = execution_input["TrainingJob"]["TrainingJobName"]
    try:
        run = pipeline.run_pipeline(sfn, arn, execution_input, log)
    except pipeline.PipelineFailed as exc:
        raise WorkflowError(f"pipeline failed: {exc.error}: {exc.cause[:2000]}") from exc
    log(f"pipeline trained {run.output['TrainingJobName']} and deployed {run.output['EndpointName']}")
    return run.output["TrainingJobName"], run.output["EndpointName"]


def _train_and_host(
    settings: Settings,
    target: Target,
    result: RunResult,
    s3: Any,
    sm: Any,
    logs: Any,
    num_train: int,
    bars: Bars | None,
    log: Callable[[str], None],
) -> None:
    """The Python path: the harness calls SageMaker itself, reusing a Completed job of the same inputs."""
    with _phase(result, "train", log):
        role = sagemaker_role(target)
        request = model.training_job_request(settings, "pending", role, num_train)
        request["TrainingJobName"] = model.job_name_for(request, _manifests_etag(s3, settings))
        trained = jobs.train(
            sm,
            logs,
            request,
            log=log,
            epochs_progress=bars.steps("training epochs") if bars else None,
            s3=s3,
            on_started=lambda name: setattr(result, "training_started", name),
        )
        result.training_job, result.training_reused = trained.job_name, trained.reused

    with _phase(result, "endpoint", log):
        result.endpoint = jobs.deploy_endpoint(sm, settings, trained, role, log=log, s3=s3)
