"""The pipeline state machine: its ASL against SageMaker's API model, its input, its role, watching."""

from __future__ import annotations

import datetime
import json
from typing import Any

import botocore.session
import pytest

from harness import model, pipeline, policies, watch
from harness.config import Settings

ROLE = "arn:aws:iam::123456789012:role/scones-sagemaker-role"


def _tasks() -> dict[str, dict[str, Any]]:
    definition = json.loads(pipeline.definition())
    return {name: s for name, s in definition["States"].items() if s["Type"] == "Task"}


def test_asl_uses_only_the_optimized_integrations_and_deploys_unchanged() -> None:
    text = pipeline.definition()
    assert "${" not in text, "no placeholders: the same file deploys to AWS"
    resources = {s["Resource"] for s in _tasks().values()}
    assert resources == {
        "arn:aws:states:::sagemaker:createTrainingJob.sync",
        "arn:aws:states:::sagemaker:createModel",
        "arn:aws:states:::sagemaker:createEndpointConfig",
        "arn:aws:states:::sagemaker:createEndpoint",
        "arn:aws:states:::sagemaker:updateEndpoint",
        "arn:aws:states:::aws-sdk:sagemaker:describeEndpoint",
    }


def test_every_parameter_is_a_field_of_the_sagemaker_request() -> None:
    """Step Functions refuses unknown fields at run time; catch them here, against botocore's model."""
    sm = botocore.session.get_session().get_service_model("sagemaker")
    for name, state in _tasks().items():
        action = state["Resource"].split(":")[-1].split(".")[0]
        shape = sm.operation_model(action[0].upper() + action[1:]).input_shape
        keys = {k.removesuffix(".$") for k in state["Parameters"]}
        assert keys <= set(shape.members), (name, keys - set(shape.members))
        missing = set(shape.required_members) - keys
        assert not missing, (name, missing)


def test_input_carries_the_python_paths_requests() -> None:
    settings = Settings(bucket="bkt", epochs=3)
    name = pipeline.pipeline_job_name()
    data = pipeline.pipeline_input(settings, ROLE, 1000, name)
    assert data["TrainingJob"] == model.training_job_request(settings, name, ROLE, 1000)
    config = model.endpoint_config_request(settings, f"{name}-config", f"{name}-model")
    assert data["EndpointConfig"]["DataCaptureConfig"] == config["DataCaptureConfig"]
    assert data["Model"] == {
        "ModelName": f"{name}-model",
        "Image": model.image_uri(settings),
        "ExecutionRoleArn": ROLE,
    }
    # Every path the ASL reads from the input exists in it.
    text = pipeline.definition()
    for top in ("TrainingJob", "Model", "EndpointConfig", "EndpointName", "PollSeconds"):
        assert f"$.{top}" in text and top in data
    assert len(name) <= 63 and len(data["Model"]["ModelName"]) <= 63


def test_pipeline_role_is_scoped_and_passes_only_the_sagemaker_role() -> None:
    doc = policies.pipeline_states_policy(region="eu-west-1", account="123", sagemaker_role_arn=ROLE)
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    assert by_sid["PassExecutionRole"]["Resource"] == [ROLE]
    assert by_sid["PassExecutionRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
    }
    assert by_sid["TrainingJobs"]["Resource"] == ["arn:aws:sagemaker:eu-west-1:123:training-job/*"]
    assert by_sid["SyncRule"]["Resource"][0].endswith(
        ":rule/StepFunctionsGetEventsForSageMakerTrainingJobsRule"
    )


class FakeSfn:
    """ListExecutions/DescribeExecution over a dict the test changes between polls."""

    def __init__(self) -> None:
        self.execs: dict[str, dict[str, Any]] = {}

    def add(self, name: str, status: str, **extra: Any) -> None:
        start = datetime.datetime(2026, 12, 1, 12, 0, len(self.execs), tzinfo=datetime.UTC)
        self.execs[name] = {
            "executionArn": f"arn:{name}",
            "name": name,
            "status": status,
            "startDate": start,
            **extra,
        }

    def list_executions(self, **_: Any) -> dict[str, Any]:
        return {"executions": [dict(e) for e in self.execs.values()]}

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        return next(dict(e) for e in self.execs.values() if e["executionArn"] == executionArn)


def test_watch_follows_executions_until_they_end() -> None:
    sfn = FakeSfn()
    sfn.add("old", "SUCCEEDED", input="{}", output="{}", stopDate=datetime.datetime.now(datetime.UTC))
    watcher = watch.Watcher(sfn, "arn")
    watcher.poll()
    assert watcher.finished == 0, "executions already over when watching starts are not counted"
    sfn.add("new", "RUNNING", input=json.dumps({"s3_bucket": "b", "s3_key": "incoming/a.png"}))
    rows = watcher.poll()
    assert rows[0].name == "new" and rows[0].status == "RUNNING" and rows[0].photo == "incoming/a.png"
    output = {"body": {"inferences": [0.98, 0.02]}, "result": {"label": "bicycle", "duplicate": False}}
    sfn.execs["new"].update(
        status="SUCCEEDED",
        output=json.dumps(output),
        stopDate=sfn.execs["new"]["startDate"] + datetime.timedelta(seconds=1),
    )
    rows = watcher.poll()
    assert watcher.finished == 1 and rows[0].outcome == "bicycle 0.980"
    table = watch.render(rows, "t")
    assert table.row_count == 2
    shown: list[Any] = []
    assert watch.watch(watcher, shown.append, "t", interval_s=0, exit_after=1) == 1 and len(shown) == 1


@pytest.mark.parametrize(
    ("desc", "outcome"),
    [
        ({"status": "FAILED", "error": "ThresholdConfidenceNotMet"}, "ThresholdConfidenceNotMet"),
        ({"status": "TIMED_OUT"}, "TIMED_OUT"),
    ],
)
def test_failed_outcomes_show_the_error(desc: dict[str, Any], outcome: str) -> None:
    assert watch.outcome_of(desc) == outcome


class _RunningPipeline:
    """A Step Functions client whose one execution runs until it is stopped."""

    def __init__(self) -> None:
        self.stopped: list[dict[str, Any]] = []

    def start_execution(self, **kwargs: Any) -> dict[str, Any]:
        return {"executionArn": f"arn:aws:states:us-east-1:123456789012:execution:pipe:{kwargs['name']}"}

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        return {"status": "ABORTED" if self.stopped else "RUNNING"}

    def get_execution_history(self, **_kwargs: Any) -> dict[str, Any]:
        return {"events": [{"stateEnteredEventDetails": {"name": "Train"}}]}

    def stop_execution(self, **kwargs: Any) -> dict[str, Any]:
        self.stopped.append(kwargs)
        return {}


def test_a_run_that_ends_while_waiting_stops_the_pipeline_execution(monkeypatch: pytest.MonkeyPatch) -> None:
    """Left running, the execution would create an endpoint after the run's teardown deleted it."""
    import signal

    from harness.interrupts import RunInterrupted

    def interrupted(_seconds: float) -> None:
        raise RunInterrupted(signal.SIGTERM)

    monkeypatch.setattr(pipeline.time, "sleep", interrupted)
    sfn, lines = _RunningPipeline(), []
    execution_input = {"TrainingJob": {"TrainingJobName": "scones-ic-pipe-1"}}
    with pytest.raises(RunInterrupted):
        pipeline.run_pipeline(
            sfn, "arn:aws:states:us-east-1:123456789012:stateMachine:pipe", execution_input, lines.append
        )
    assert [s["executionArn"].rsplit(":", 1)[-1] for s in sfn.stopped] == ["scones-ic-pipe-1"]
    assert sfn.stopped[0]["error"] == "Harness.RunEnded" and "SIGTERM" in sfn.stopped[0]["cause"]
    assert "stopped pipeline execution scones-ic-pipe-1" in lines
