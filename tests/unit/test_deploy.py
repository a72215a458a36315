"""harness deploy against moto: least-privilege documents, create-or-update, nothing changes twice."""

from __future__ import annotations

import io
import json
import zipfile

import boto3
import pytest

from harness import deploy, iam, ownership, policies, teardown
from harness.config import Settings
from harness.targets.registry import target_for


def test_zip_is_deterministic_and_holds_only_the_handler() -> None:
    a, b = deploy.zip_function("filter"), deploy.zip_function("filter")
    assert a == b
    names = zipfile.ZipFile(io.BytesIO(a)).namelist()
    assert names == ["lambda_function.py"]


def test_definition_substitutes_every_arn() -> None:
    arns = {n: f"arn:aws:lambda:us-east-1:1:function:{n}" for n in deploy.FUNCTIONS}
    definition = json.loads(deploy.render_definition(arns))
    tasks = [s for s in definition["States"].values() if s["Type"] == "Task"]
    assert {s["Parameters"]["FunctionName"] for s in tasks} == set(arns.values())
    assert all(s["Resource"] == "arn:aws:states:::lambda:invoke" for s in tasks)
    # The three workflow steps hand on the function's payload; the result writers keep the state.
    writers = [s for s in tasks if s["Parameters"]["FunctionName"] == arns["writeResult"]]
    assert len(writers) == 2 and all(s["ResultPath"] == "$.result" for s in writers)
    assert all(s["OutputPath"] == "$.Payload" for s in tasks if s not in writers)
    with pytest.raises(KeyError):
        deploy.render_definition({"filter": "x"})


def test_policies_are_scoped() -> None:
    doc = policies.lambda_policy(
        region="eu-west-1",
        account="123",
        bucket="bkt",
        data_prefix="data/",
        endpoint_name="Ep",
        function_names=["f"],
    )
    resources = [r for s in doc["Statement"] for r in s["Resource"]]
    assert "arn:aws:s3:::bkt/data/*" in resources
    assert "arn:aws:sagemaker:eu-west-1:123:endpoint/ep" in resources
    assert "arn:aws:logs:eu-west-1:123:log-group:/aws/lambda/f:*" in resources
    assert "*" not in resources
    states = policies.states_policy(["arn:fn"])
    assert states["Statement"][0]["Resource"] == ["arn:fn", "arn:fn:*"]


def test_deploy_creates_then_changes_nothing_then_updates(aws) -> None:
    settings = Settings(target="aws", bucket="bkt", threshold=0.9)
    target = target_for(settings)
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="bkt")  # staging creates it
    messages: list[str] = []
    first = deploy.deploy(settings, target, log=messages.append)
    assert set(first.function_arns) == set(deploy.FUNCTIONS)
    assert "state machine scones-image-classification" in first.changes
    lam = boto3.client("lambda", region_name="us-east-1")
    config = lam.get_function_configuration(FunctionName="filter")
    assert config["Environment"]["Variables"]["THRESHOLD"] == "0.9"
    assert config["Runtime"] == "python3.11" and config["Handler"] == "lambda_function.lambda_handler"
    assert "AWS_ENDPOINT_URL" not in config["Environment"]["Variables"], "no endpoints on the aws target"

    second = deploy.deploy(settings, target)
    # moto's GetBucketNotificationConfiguration leaves out EventBridgeConfiguration (AWS and LocalStack
    # return it; the e2e tests check that a second deploy changes nothing there), so it is set again here.
    assert second.changes in ([], ["bucket bkt: EventBridge notifications"])
    assert second.state_machine_arn == first.state_machine_arn

    third = deploy.deploy(settings.replace(threshold=0.5), target)
    assert [c for c in third.changes if not c.startswith("bucket")] == [
        f"function {n}: Environment" for n in deploy.FUNCTIONS
    ]
    assert (
        lam.get_function_configuration(FunctionName="filter")["Environment"]["Variables"]["THRESHOLD"]
        == "0.5"
    )

    iam = boto3.client("iam")
    doc = iam.get_role_policy(RoleName=deploy.STATES_ROLE, PolicyName=deploy.STATES_ROLE)["PolicyDocument"]
    arns = sorted(first.function_arns.values())
    assert sorted(doc["Statement"][0]["Resource"]) == sorted([*arns, *(f"{a}:*" for a in arns)])


def test_local_target_functions_get_only_the_main_port() -> None:
    settings = Settings(localstack_port=4566, sagemaker_port=4577)
    env = deploy.function_environment(settings, target_for(settings))
    # SageMaker through LocalStack's gateway, where IAM is evaluated, as for a function anyone created.
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert not [k for k in env if k.startswith("AWS_ENDPOINT_URL_")]
    assert env["ENDPOINT_NAME"] == "scones-image-classifier" and env["THRESHOLD"] == "0.93"


def test_role_propagation_is_retried_only_for_assume_errors(monkeypatch) -> None:
    from botocore.exceptions import ClientError

    monkeypatch.setattr(iam.time, "sleep", lambda _s: None)
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ClientError(
                {
                    "Error": {
                        "Code": "ValidationException",
                        "Message": "Could not assume role arn:aws:iam::1:role/r",
                    }
                },
                "CreateTrainingJob",
            )
        return "ok"

    assert iam.retry_role_propagation(flaky) == "ok" and len(calls) == 3

    def broken() -> None:
        raise ClientError(
            {"Error": {"Code": "ValidationException", "Message": "bad channel"}}, "CreateTrainingJob"
        )

    with pytest.raises(ClientError, match="bad channel"):
        iam.retry_role_propagation(broken)


def test_a_role_created_by_another_run_between_get_and_create_is_used(aws) -> None:
    """IAM is global: two runs (two regions or homes) may both find no role, and one CreateRole then gets
    EntityAlreadyExists. The loser reads the role the winner created instead of failing its deploy."""
    client = boto3.client("iam")
    trust = policies.trust_policy("events.amazonaws.com")
    policy = policies.events_policy("arn:aws:states:us-east-1:123456789012:stateMachine:x")
    winner, _ = iam.ensure_role(client, "raced-role", trust, policy, print)
    real_get = client.get_role
    misses = []

    def stale_get_role(**kwargs):
        if not misses:  # the first look happened before the other run's CreateRole
            misses.append(kwargs)
            raise client.exceptions.NoSuchEntityException(
                {"Error": {"Code": "NoSuchEntity", "Message": "not yet"}}, "GetRole"
            )
        return real_get(**kwargs)

    client.get_role = stale_get_role
    arn, _ = iam.ensure_role(client, "raced-role", trust, policy, print)
    assert arn == winner and misses


def test_deploy_refuses_a_same_named_function_it_did_not_create_unless_adopting(aws) -> None:
    settings = Settings(target="aws", bucket="bkt")
    target = target_for(settings)
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="bkt")  # staging creates it
    iam = boto3.client("iam")
    role = iam.create_role(
        RoleName="someone-elses",
        AssumeRolePolicyDocument=json.dumps(policies.trust_policy("lambda.amazonaws.com")),
    )
    lam = boto3.client("lambda", region_name="us-east-1")
    lam.create_function(
        FunctionName="classifier",
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="x.handler",
        Code={"ZipFile": deploy.zip_function("classifier")},
    )
    with pytest.raises(
        ownership.OwnershipError, match="Lambda function 'classifier' already exists and was not created"
    ):
        deploy.deploy(settings, target)
    assert lam.get_function_configuration(FunctionName="classifier")["Runtime"] == "python3.12", (
        "left as it was"
    )

    # down leaves someone else's function alone, deletes what the harness made
    result = teardown.teardown(target)
    assert "function classifier" in result.not_ours
    assert lam.get_function(FunctionName="classifier")

    messages: list[str] = []
    deploy.deploy(settings, target, log=messages.append, adopt=True)
    assert "adopted Lambda function classifier (tagged scones-harness=managed)" in messages
    assert lam.get_function(FunctionName="classifier")["Tags"][ownership.TAG_KEY] == ownership.TAG_VALUE
    assert lam.get_function_configuration(FunctionName="classifier")["Runtime"] == deploy.RUNTIME
    for name in deploy.FUNCTIONS:
        assert lam.get_function(FunctionName=name)["Tags"] == {ownership.TAG_KEY: ownership.TAG_VALUE}
    assert ownership.role_owned(iam.get_role(RoleName=deploy.LAMBDA_ROLE)["Role"])

    result = teardown.teardown(target)
    assert result.not_ours == []
    assert {f"function {n}" for n in deploy.FUNCTIONS} <= set(result.deleted)
