"""Nothing billable without consent, and nothing left running: the run's guard, its final teardown,
and `harness down --target aws`, against moto's in-process AWS."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from harness import deploy, jobs, model, pipeline, teardown, workflow
from harness.config import Settings
from harness.main import app
from harness.targets.registry import target_for
from harness.workflow import RunOptions, WorkflowError

runner = CliRunner()
SETTINGS = Settings(target="aws", bucket="teardown-bkt")


def _everything_deployed(settings: Settings = SETTINGS) -> None:
    """What a finished `harness run --keep-endpoint` leaves: endpoint, config, model, functions, data."""
    target = target_for(settings)
    s3 = target.client("s3")
    s3.create_bucket(Bucket=settings.bucket)
    for key in (
        "train/a.png",
        "test/b.png",
        "train.lst",
        "test.lst",
        "data_capture/x.jsonl",
        "other/keep.txt",
    ):
        s3.put_object(Bucket=settings.bucket, Key=key, Body=b"x")
    role = workflow.sagemaker_role(target)
    sm = target.client("sagemaker")
    request = model.training_job_request(settings, "scones-ic-00000000000000aa", role, 10)
    trained = jobs.train(sm, target.client("logs"), request, poll_s=0)
    jobs.deploy_endpoint(sm, settings, trained, role)
    deploy.deploy(settings, target)


def _left(settings: Settings = SETTINGS) -> dict[str, list[str]]:
    target = target_for(settings)
    sm, lam, sfn, s3 = (target.client(s) for s in ("sagemaker", "lambda", "stepfunctions", "s3"))
    return {
        "endpoints": [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]],
        "configs": [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]],
        "models": [m["ModelName"] for m in sm.list_models()["Models"]],
        "functions": sorted(f["FunctionName"] for f in lam.list_functions()["Functions"]),
        "machines": [m["name"] for m in sfn.list_state_machines()["stateMachines"]],
        "objects": sorted(o["Key"] for o in s3.list_objects_v2(Bucket=settings.bucket).get("Contents", [])),
    }


def test_teardown_deletes_the_run_and_keeps_data_unless_asked(aws) -> None:
    _everything_deployed()
    before = _left()
    assert before["endpoints"] == ["scones-image-classifier"] and len(before["functions"]) == len(
        deploy.FUNCTIONS
    )
    result = teardown.teardown(target_for(SETTINGS))
    after = _left()
    assert after["endpoints"] == after["configs"] == after["models"] == after["functions"] == []
    assert after["machines"] == []
    assert after["objects"] == before["objects"]  # data stays without --delete-data
    assert "endpoint scones-image-classifier" in result.deleted
    again = teardown.teardown(target_for(SETTINGS))  # idempotent: all already gone
    assert again.deleted == [] and "endpoint scones-image-classifier" in again.missing


def test_down_on_aws_with_delete_data_leaves_only_foreign_objects(aws) -> None:
    _everything_deployed()
    result = runner.invoke(app, ["--target", "aws", "--bucket", SETTINGS.bucket, "down", "--delete-data"])
    assert result.exit_code == 0, result.output
    assert "deleted: endpoint scones-image-classifier" in result.output
    left = _left()
    assert left["objects"] == ["other/keep.txt"] and left["endpoints"] == [] and left["functions"] == []


def test_run_on_aws_creates_nothing_without_consent(aws) -> None:
    with pytest.raises(WorkflowError, match="--yes"):
        workflow.run(target_for(SETTINGS), RunOptions())
    target = target_for(SETTINGS)
    assert target.client("s3").list_buckets()["Buckets"] == []
    assert target.client("iam").list_roles()["Roles"] == []
    cli = runner.invoke(app, ["--target", "aws", "run"], input="")  # no terminal to ask on
    assert cli.exit_code == 1 and "pass --yes" in cli.output


@pytest.mark.parametrize(("keep", "endpoints_left"), [(None, []), (True, ["scones-image-classifier"])])
def test_run_on_aws_deletes_the_endpoint_even_when_a_later_phase_fails(
    aws, monkeypatch, keep, endpoints_left
) -> None:
    _everything_deployed()

    def failing_phases(settings, options, target, result, bars, log, stop) -> None:
        result.phases_s["endpoint"] = 1.0  # the endpoint phase ran ...
        raise WorkflowError("executions failed: boom")  # ... and a later one failed

    monkeypatch.setattr(workflow, "_run_phases", failing_phases)
    with pytest.raises(WorkflowError, match="boom"):
        workflow.run(target_for(SETTINGS), RunOptions(billable_ok=True, keep_endpoint=keep))
    assert _left()["endpoints"] == endpoints_left


def test_algorithm_setting() -> None:
    assert model.image_uri(Settings(algorithm="builtin", training_image=None)).endswith(
        "/image-classification:1"
    )
    assert model.image_uri(Settings(training_image="x/y:1")) == "x/y:1"
    assert model.image_uri(Settings(algorithm="builtin", training_image="x/y:1")).endswith("classification:1")
    with pytest.raises(ValueError, match="algorithm 'image' needs training_image"):
        Settings(algorithm="image")
    with pytest.raises(ValueError, match="algorithm must be one of builtin, image"):
        Settings(algorithm="mxnet")


def _what_the_pipeline_creates(settings: Settings, runs: int) -> list[str]:
    """What `harness run --pipeline stepfunctions` leaves on AWS: its state machine and role, and per run
    the requests statemachine/pipeline.asl.json sends from its input (moto's Step Functions does not run
    SageMaker tasks, so they are sent here as its states send them: a training job, CreateModel,
    CreateEndpointConfig, CreateEndpoint). Returns the runs' job names."""
    target = target_for(settings)
    target.client("s3").create_bucket(Bucket=settings.bucket)  # staging created it
    role = workflow.sagemaker_role(target)
    pipeline.deploy_pipeline(settings, target, role, log=print)
    sm = target.client("sagemaker")
    jobs_run = []
    for i in range(runs):
        name = pipeline.pipeline_job_name() + f"{i}"
        job = pipeline.pipeline_input(settings, role, 10, name)
        sm.create_training_job(**job["TrainingJob"])
        trained = sm.describe_training_job(TrainingJobName=name)["ModelArtifacts"]["S3ModelArtifacts"]
        sm.create_model(
            ModelName=job["Model"]["ModelName"],
            ExecutionRoleArn=job["Model"]["ExecutionRoleArn"],
            PrimaryContainer={"Image": job["Model"]["Image"], "ModelDataUrl": trained},
        )
        config = job["EndpointConfig"]
        sm.create_endpoint_config(
            EndpointConfigName=config["EndpointConfigName"],
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": job["Model"]["ModelName"],
                    "InitialInstanceCount": 1,
                    "InstanceType": config["InstanceType"],
                    "InitialVariantWeight": 1,
                }
            ],
            DataCaptureConfig=config["DataCaptureConfig"],
        )
        if i == 0:  # a later run updates the endpoint: moto has no UpdateEndpoint, so its config stays
            # unused, as it does when a run ends before that state; `down` must find it all the same
            sm.create_endpoint(
                EndpointName=job["EndpointName"], EndpointConfigName=config["EndpointConfigName"]
            )
        jobs_run.append(name)
    return jobs_run


def test_down_on_aws_removes_what_the_stepfunctions_pipeline_created(aws) -> None:
    # Both pipelines name their jobs, models and configs from harness/names.py, so `down` finds them all.
    _what_the_pipeline_creates(SETTINGS, runs=2)
    before = _left()
    assert len(before["models"]) == len(before["configs"]) == 2 and before["endpoints"]
    assert pipeline.PIPELINE_STATE_MACHINE in before["machines"]
    result = runner.invoke(app, ["--target", "aws", "--bucket", SETTINGS.bucket, "down"])
    assert result.exit_code == 0, result.output
    left = _left()
    assert left["endpoints"] == left["configs"] == left["models"] == left["machines"] == [], left
