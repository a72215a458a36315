"""Training and deployment as a state machine: ``statemachine/pipeline.asl.json``.

The Python path (:mod:`harness.model`) calls SageMaker from the harness; this one hands the same requests
to Step Functions' optimized SageMaker integrations (``createTrainingJob.sync``, ``createModel``,
``createEndpointConfig``, ``createEndpoint`` / ``updateEndpoint``), so retraining can run in the cloud on
its own (from a schedule or an event). The execution input is built from the very request builders the
Python path uses, so both paths send SageMaker the same requests; the ASL has no placeholders and
deploys to AWS unchanged.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness import assets, model, policies
from harness.config import Settings
from harness.deploy import ensure_state_machine
from harness.iam import ensure_role
from harness.names import (
    PIPELINE_JOB_PREFIX,
    PIPELINE_ROLE,
    PIPELINE_STATE_MACHINE,
    endpoint_config_name,
    model_name,
)
from harness.targets.base import Target

PIPELINE_FILE = assets.statemachine_dir() / "pipeline.asl.json"
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")

Log = Callable[[str], None]


class PipelineFailed(RuntimeError):
    """The pipeline execution did not succeed; carries Step Functions' error and cause."""

    def __init__(self, status: str, error: str, cause: str) -> None:
        super().__init__(f"pipeline execution {status}: {error}: {cause}")
        self.status, self.error, self.cause = status, error, cause


@dataclass
class PipelineRun:
    execution_arn: str
    output: dict[str, Any]
    duration_s: float


def pipeline_job_name() -> str:
    """A fresh job name per pipeline run: the pipeline always retrains (names are unique in SageMaker)."""
    return f"{PIPELINE_JOB_PREFIX}{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"


def pipeline_input(
    settings: Settings, role_arn: str, num_training_samples: int, job_name: str, poll_seconds: int = 1
) -> dict[str, Any]:
    """The execution input: CreateTrainingJob as the Python path sends it, model and config names."""
    request = model.training_job_request(settings, job_name, role_arn, num_training_samples)
    config = model.endpoint_config_request(settings, endpoint_config_name(job_name), model_name(job_name))
    return {
        "TrainingJob": request,
        "Model": {
            "ModelName": model_name(job_name),
            "Image": model.image_uri(settings),
            "ExecutionRoleArn": role_arn,
        },
        "EndpointConfig": {
            "EndpointConfigName": config["EndpointConfigName"],
            "InstanceType": settings.inference_instance_type,
            "DataCaptureConfig": config["DataCaptureConfig"],
        },
        "EndpointName": settings.endpoint_name,
        "PollSeconds": poll_seconds,
    }


def definition() -> str:
    text = PIPELINE_FILE.read_text()
    json.loads(text)  # a JSON error here rather than in CreateStateMachine
    return text


def deploy_pipeline(
    settings: Settings, target: Target, sagemaker_role_arn: str, log: Log, adopt: bool = False
) -> tuple[str, bool]:
    """The pipeline's role and state machine, create-or-update; returns (arn, changed)."""
    iam, sfn = target.client("iam"), target.client("stepfunctions")
    role_arn, role_changed = ensure_role(
        iam,
        PIPELINE_ROLE,
        policies.trust_policy("states.amazonaws.com"),
        policies.pipeline_states_policy(
            region=settings.region, account=target.account_id(), sagemaker_role_arn=sagemaker_role_arn
        ),
        log,
        adopt,
    )
    arn, changed = ensure_state_machine(sfn, PIPELINE_STATE_MACHINE, definition(), role_arn, log, adopt)
    return arn, changed or role_changed


def run_pipeline(
    sfn: Any,
    arn: str,
    execution_input: dict[str, Any],
    log: Log,
    timeout_s: float = 7200,
    name: str | None = None,
) -> PipelineRun:
    """Start one execution (named after its job unless ``name``) and wait for it.

    Raises :class:`PipelineFailed` with the execution's error and cause.
    """
    start = time.perf_counter()
    name = name or execution_input["TrainingJob"]["TrainingJobName"]
    execution = sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(execution_input))[
        "executionArn"
    ]
    log(f"pipeline execution {name} started")
    seen: set[str] = set()
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            desc = sfn.describe_execution(executionArn=execution)
            for event in _entered_states(sfn, execution):
                if event not in seen:
                    seen.add(event)
                    log(f"  pipeline: {event}")
            if desc["status"] in TERMINAL:
                break
            if time.monotonic() > deadline:
                raise PipelineFailed(
                    "RUNNING", "Timeout", f"still running after {timeout_s:.0f} s: {execution}"
                )
            time.sleep(1.0)
    except BaseException as exc:  # a signal (RunInterrupted), a deadline, a lost connection
        # Left running, the execution would go on to create an endpoint after the run's teardown.
        _stop(sfn, execution, f"the harness run waiting for it ended: {exc}", log)
        raise
    if desc["status"] != "SUCCEEDED":
        raise PipelineFailed(desc["status"], desc.get("error", ""), desc.get("cause", ""))
    return PipelineRun(execution, json.loads(desc.get("output") or "{}"), time.perf_counter() - start)


def _stop(sfn: Any, execution: str, cause: str, log: Log) -> None:
    try:
        sfn.stop_execution(executionArn=execution, error="Harness.RunEnded", cause=cause[:32768])
        log(f"stopped pipeline execution {execution.rsplit(':', 1)[-1]}")
    except Exception as exc:  # already ended, or the cloud is gone: nothing left to stop
        log(f"could not stop pipeline execution {execution}: {exc}")


def _entered_states(sfn: Any, execution_arn: str) -> list[str]:
    events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
