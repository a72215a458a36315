"""The event-driven application on the embedded target: the pipeline state machine, photos via EventBridge.

Real everything: LocalStack's Step Functions running ``statemachine/pipeline.asl.json`` with the
project's SageMaker integration (localstack_plugin/patches/sfn_sagemaker.py) against the emulator, which
trains the project's model on a tiny separable dataset (seconds); then S3 -> EventBridge -> the rule ->
the classification state machine -> writeResult, for a PNG uploaded under ``incoming/``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from harness import deploy, events, names, pipeline, policies, workflow
from harness import iam as iam_roles
from harness.config import Settings
from harness.targets.registry import target_for
from tests.support.cifar import separable_batch, write_tarball

pytestmark = pytest.mark.e2e


def _wait(check: Any, timeout_s: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def _executions(sfn: Any, arn: str) -> list[dict[str, Any]]:
    return sfn.list_executions(stateMachineArn=arn, maxResults=1000)["executions"]


@pytest.fixture(scope="module")
def pipelined(embedded_cloud: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One `harness run --pipeline stepfunctions` (trains, deploys the endpoint, deploys the event path)."""
    tmp = tmp_path_factory.mktemp("events")
    tarball = write_tarball(
        tmp / "tiny.tar.gz",
        train=separable_batch(32, "train", seed=1),
        test=separable_batch(5, "test", seed=2),
    )
    settings = embedded_cloud.replace(
        bucket="events-e2e", endpoint_name="events-e2e", epochs=10, mini_batch_size=16, threshold=0.6
    )
    recorder = _sagemaker_event_recorder(settings)  # before any job runs, so it sees every event
    options = workflow.RunOptions(dataset=str(tarball), executions=2, pipeline="stepfunctions")
    result = workflow.run(target_for(settings), options)
    return {"settings": settings, "result": result, "tarball": tarball, "recorder": recorder}


RECORDER = "sagemaker-events-recorder"
# The recorder's Pass state calls nothing; IAM wants at least one statement.
_NOTHING = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["logs:CreateLogDelivery"], "Resource": "*"}],
}
TERMINAL_RULE = "training-job-terminal"
ENDPOINT_RULE = "endpoint-in-service"


def _sagemaker_event_recorder(settings: Settings) -> str:
    """A Pass state machine started by two rules (a terminal training job, an endpoint InService)."""
    target = target_for(settings)
    iam, sfn, ev = (target.client(s) for s in ("iam", "stepfunctions", "events"))
    states_role, _ = iam_roles.ensure_role(
        iam,
        "recorder-states-role",
        policies.trust_policy("states.amazonaws.com"),
        _NOTHING,
        print,
    )
    definition = {"StartAt": "Record", "States": {"Record": {"Type": "Pass", "End": True}}}
    arn, _ = deploy.ensure_state_machine(sfn, RECORDER, json.dumps(definition), states_role, print)
    events_role, _ = iam_roles.ensure_role(
        iam,
        "recorder-events-role",
        policies.trust_policy("events.amazonaws.com"),
        policies.events_policy(arn),
        print,
    )
    patterns = {
        TERMINAL_RULE: {
            "source": ["aws.sagemaker"],
            "detail-type": ["SageMaker Training Job State Change"],
            "detail": {"TrainingJobStatus": ["Completed", "Failed", "Stopped"]},
        },
        ENDPOINT_RULE: {
            "source": ["aws.sagemaker"],
            "detail-type": ["SageMaker Endpoint State Change"],
            "detail": {"EndpointName": [settings.endpoint_name], "EndpointStatus": ["IN_SERVICE"]},
        },
    }
    for rule, pattern in patterns.items():
        ev.put_rule(Name=rule, EventPattern=json.dumps(pattern), State="ENABLED")
        ev.put_targets(Rule=rule, Targets=[{"Id": "record", "Arn": arn, "RoleArn": events_role}])
    return arn


def test_pipeline_trains_and_deploys_an_endpoint_that_classifies(pipelined: dict[str, Any]) -> None:
    result: workflow.RunResult = pipelined["result"]
    settings: Settings = pipelined["settings"]
    assert "pipeline" in result.phases_s and "train" not in result.phases_s
    assert result.training_job.startswith(names.PIPELINE_JOB_PREFIX)
    sm = target_for(settings).client("sagemaker")
    job = sm.describe_training_job(TrainingJobName=result.training_job)
    assert job["TrainingJobStatus"] == "Completed"
    endpoint = sm.describe_endpoint(EndpointName=settings.endpoint_name)
    assert endpoint["EndpointStatus"] == "InService"
    assert endpoint["EndpointConfigName"] == f"{result.training_job}-config"
    # The workflow's executions went through that endpoint and were classified correctly.
    assert result.summary["executions"] == 2 and result.summary["succeeded"] == 2, result.summary
    assert result.summary["accuracy_of_passed"] == 1.0


def test_uploaded_photo_starts_one_execution_and_gets_one_result(pipelined: dict[str, Any]) -> None:
    settings: Settings = pipelined["settings"]
    target = target_for(settings)
    s3, sfn = target.client("s3"), target.client("stepfunctions")
    deployed = deploy.deploy(settings, target)
    assert deployed.changes == [], deployed.changes  # the pipeline run deployed it all: nothing to change
    arn = deployed.state_machine_arn
    before = {e["executionArn"] for e in _executions(sfn, arn)}
    photo = s3.get_object(Bucket=settings.bucket, Key="test/test_000000.png")["Body"].read()  # a bicycle
    key = f"{events.incoming_key_prefix(settings)}delivery-1.png"
    s3.put_object(Bucket=settings.bucket, Key=f"{events.incoming_key_prefix(settings)}notes.txt", Body=b"x")
    s3.put_object(Bucket=settings.bucket, Key="elsewhere/delivery-1.png", Body=photo)
    s3.put_object(Bucket=settings.bucket, Key=key, Body=photo)
    etag = s3.head_object(Bucket=settings.bucket, Key=key)["ETag"].strip('"')
    result_key = f"{events.results_key_prefix(settings)}{key}.json"

    def result() -> dict[str, Any] | None:
        try:
            return json.loads(s3.get_object(Bucket=settings.bucket, Key=result_key)["Body"].read())
        except s3.exceptions.NoSuchKey:
            return None

    stored = _wait(result, what=f"s3://{settings.bucket}/{result_key}")
    assert stored["s3_key"] == key and stored["etag"] == etag
    assert stored["status"] == "classified" and stored["label"] == "bicycle"
    time.sleep(2)  # give the .txt and the photo outside incoming/ time to (wrongly) start executions
    new = [e for e in _executions(sfn, arn) if e["executionArn"] not in before]
    assert len(new) == 1, [e["name"] for e in new]
    desc = sfn.describe_execution(executionArn=new[0]["executionArn"])
    assert desc["status"] == "SUCCEEDED", (desc.get("error"), desc.get("cause"))
    assert json.loads(desc["input"]) == {"s3_bucket": settings.bucket, "s3_key": key}
    assert stored["execution"] == new[0]["executionArn"]

    # A second delivery of the same event (EventBridge is at-least-once) keeps the first result.
    again = sfn.start_execution(stateMachineArn=arn, input=desc["input"])["executionArn"]
    done = _wait(
        lambda: (d := sfn.describe_execution(executionArn=again))["status"] != "RUNNING" and d,
        what="the duplicate execution",
    )
    assert done["status"] == "SUCCEEDED", (done.get("error"), done.get("cause"))
    assert json.loads(done["output"])["result"]["duplicate"] is True
    assert result() == stored


def test_training_failure_ends_the_pipeline_with_the_jobs_reason(pipelined: dict[str, Any]) -> None:
    settings: Settings = pipelined["settings"]
    target = target_for(settings)
    sfn, sm = target.client("stepfunctions"), target.client("sagemaker")
    role = workflow.sagemaker_role(target)
    arn, _ = pipeline.deploy_pipeline(settings, target, role, log=lambda _m: None)
    execution_input = pipeline.pipeline_input(settings, role, 64, pipeline.pipeline_job_name())
    execution_input["TrainingJob"]["HyperParameters"]["learning_rate"] = "0"  # the algorithm refuses it
    with pytest.raises(pipeline.PipelineFailed) as failed:
        pipeline.run_pipeline(sfn, arn, execution_input, log=lambda _m: None, timeout_s=300)
    job = sm.describe_training_job(TrainingJobName=execution_input["TrainingJob"]["TrainingJobName"])
    assert job["TrainingJobStatus"] == "Failed" and "learning_rate" in job["FailureReason"]
    assert failed.value.status == "FAILED"
    assert failed.value.error == "States.TaskFailed"
    cause = json.loads(failed.value.cause)
    assert cause["TrainingJobStatus"] == "Failed"
    assert cause["FailureReason"] == job["FailureReason"]
    # The endpoint still serves the model the successful pipeline deployed.
    endpoint = sm.describe_endpoint(EndpointName=settings.endpoint_name)
    assert endpoint["EndpointConfigName"] == f"{pipelined['result'].training_job}-config"


def test_sagemaker_api_errors_are_named_as_step_functions_names_them(pipelined: dict[str, Any]) -> None:
    settings: Settings = pipelined["settings"]
    target = target_for(settings)
    sfn = target.client("stepfunctions")
    role = workflow.sagemaker_role(target)
    arn, _ = pipeline.deploy_pipeline(settings, target, role, log=lambda _m: None)
    # The job name of the successful pipeline is taken: SageMaker refuses it with ResourceInUse.
    execution_input = pipeline.pipeline_input(settings, role, 64, pipelined["result"].training_job)
    with pytest.raises(pipeline.PipelineFailed) as failed:
        pipeline.run_pipeline(
            sfn, arn, execution_input, log=lambda _m: None, timeout_s=120, name="taken-job-name"
        )
    assert failed.value.error == "SageMaker.ResourceInUseException", failed.value
    assert "(Service: AmazonSageMaker; Status Code: 400; Error Code: ResourceInUse;" in failed.value.cause


def test_unknown_parameter_is_refused_as_aws_refuses_it(pipelined: dict[str, Any], tmp_path: Path) -> None:
    settings: Settings = pipelined["settings"]
    target = target_for(settings)
    sfn = target.client("stepfunctions")
    role = workflow.sagemaker_role(target)
    states_role = deploy.deploy(settings, target).states_role_arn
    definition = {
        "StartAt": "Model",
        "States": {
            "Model": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createModel",
                "Parameters": {
                    "ModelName": "x",
                    "ExecutionRoleArn": role,
                    "S3Operations": {"S3Upload": [{"Path": "train.py"}]},
                },
                "End": True,
            }
        },
    }
    arn, _ = deploy.ensure_state_machine(
        sfn, "sagemaker-unknown-field", json.dumps(definition), states_role, print
    )
    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    done = _wait(lambda: (d := sfn.describe_execution(executionArn=execution))["status"] != "RUNNING" and d)
    assert done["error"] == "States.Runtime"
    assert 'The field "S3Operations" is not supported by Step Functions' in done["cause"]
    # .waitForTaskToken is not an integration pattern SageMaker supports: refused at creation, as on AWS.
    definition["States"]["Model"]["Resource"] = "arn:aws:states:::sagemaker:createModel.waitForTaskToken"
    with pytest.raises(sfn.exceptions.InvalidDefinition):
        sfn.create_state_machine(
            name="sagemaker-callback", definition=json.dumps(definition), roleArn=states_role
        )


def test_retraining_updates_the_endpoint_without_a_failed_request(pipelined: dict[str, Any]) -> None:
    """The loop's redeploy: a second pipeline run updates the endpoint while requests keep coming."""
    import threading

    settings: Settings = pipelined["settings"].replace(epochs=2)
    target = target_for(settings)
    runtime, sfn = target.client("sagemaker-runtime"), target.client("stepfunctions")
    photo = target.client("s3").get_object(Bucket=settings.bucket, Key="test/test_000000.png")["Body"].read()
    outcomes: list[str] = []
    stop = threading.Event()

    def invoke_forever() -> None:
        while not stop.is_set():
            try:
                runtime.invoke_endpoint(
                    EndpointName=settings.endpoint_name, ContentType="image/png", Body=photo
                )
                outcomes.append("ok")
            except Exception as exc:
                outcomes.append(f"{type(exc).__name__}: {exc}")
            time.sleep(0.05)

    role = workflow.sagemaker_role(target)
    arn, _ = pipeline.deploy_pipeline(settings, target, role, log=lambda _m: None)
    data = pipeline.pipeline_input(settings, role, 64, pipeline.pipeline_job_name())
    caller = threading.Thread(target=invoke_forever, daemon=True)
    caller.start()
    try:
        run = pipeline.run_pipeline(sfn, arn, data, log=lambda _m: None, timeout_s=300)
    finally:
        stop.set()
        caller.join(10)
    assert run.output["EndpointConfigName"] == data["EndpointConfig"]["EndpointConfigName"]
    endpoint = target.client("sagemaker").describe_endpoint(EndpointName=settings.endpoint_name)
    assert endpoint["EndpointConfigName"] == run.output["EndpointConfigName"]
    failures = [o for o in outcomes if o != "ok"]
    assert len(outcomes) > 20 and not failures, (len(outcomes), failures[:3])
    pipelined["jobs_completed"] = [run.output["TrainingJobName"]]


def test_a_rule_on_training_job_state_change_fires_once_per_terminal_state(pipelined: dict[str, Any]) -> None:
    """Runs after the successful and the failed pipeline above: one event each, in AWS's format."""
    settings: Settings = pipelined["settings"]
    sfn = target_for(settings).client("stepfunctions")
    jobs = {
        name: "Completed" for name in [pipelined["result"].training_job, *pipelined.get("jobs_completed", [])]
    }

    def recorded() -> list[dict[str, Any]]:
        runs = _executions(sfn, pipelined["recorder"])
        return [json.loads(sfn.describe_execution(executionArn=r["executionArn"])["input"]) for r in runs]

    def training_events() -> list[dict[str, Any]]:
        return [e for e in recorded() if e["detail-type"] == "SageMaker Training Job State Change"]

    failed_jobs = _wait(
        lambda: [e for e in training_events() if e["detail"]["TrainingJobStatus"] == "Failed"] or None,
        what="the failed job's event",
    )
    jobs.update({e["detail"]["TrainingJobName"]: "Failed" for e in failed_jobs})
    time.sleep(2)  # a duplicate would have arrived by now
    seen = training_events()
    for name, status in jobs.items():
        mine = [e for e in seen if e["detail"]["TrainingJobName"] == name]
        assert [e["detail"]["TrainingJobStatus"] for e in mine] == [status], (name, mine)
        event = mine[0]
        assert event["source"] == "aws.sagemaker" and event["resources"] == [
            event["detail"]["TrainingJobArn"]
        ]
        assert isinstance(event["detail"]["CreationTime"], int)  # epoch milliseconds
        assert (status == "Failed") == ("FailureReason" in event["detail"])
    endpoint = [e for e in recorded() if e["detail-type"] == "SageMaker Endpoint State Change"]
    assert endpoint and endpoint[0]["detail"]["EndpointName"] == settings.endpoint_name
