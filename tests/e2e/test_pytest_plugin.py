"""The pytest plugin as a user meets it: a project in a temporary folder, one test file, only the fixtures.

The inner session runs in a subprocess (``pytester.runpytest_subprocess``) with the plugin loaded from
its ``pytest11`` entry point, nothing else: no conftest, no import of the harness in the test file. It
reuses this session's running cloud through ``AWS_ENDPOINT_URL``, which is the plugin's reuse path.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
import torch

from harness.config import Settings
from harness.targets.registry import target_for
from training import contract
from training.export import Deployable, save_model
from training.models import build_model

pytestmark = pytest.mark.e2e
pytest_plugins = ["pytester"]

USER_TESTS = '''
import io
import json
import os
import time

from PIL import Image

HANDLER = """
def handler(event, context):
    return {"doubled": event["n"] * 2}
"""


def _png(rgb):
    out = io.BytesIO()
    Image.new("RGB", (32, 32), rgb).save(out, format="PNG")
    return out.getvalue()


def test_my_function(deploy_function, aws_client):
    name = deploy_function(HANDLER)
    out = aws_client("lambda").invoke(FunctionName=name, Payload=json.dumps({"n": 21}))
    assert json.loads(out["Payload"].read()) == {"doubled": 42}


def test_my_state_machine(deploy_function, aws_client):
    lam, sfn = aws_client("lambda"), aws_client("stepfunctions")
    arn = lam.get_function(FunctionName=deploy_function(HANDLER))["Configuration"]["FunctionArn"]
    definition = {
        "StartAt": "Double",
        "States": {
            "Double": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": arn, "Payload.$": "$"},
                "OutputPath": "$.Payload",
                "End": True,
            }
        },
    }
    # IAM is enforced, as on AWS: the state machine's role must exist and allow the call.
    iam = aws_client("iam")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"Service": "states.amazonaws.com"}}]}
    name = f"my-states-role-{os.getpid()}"
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction",
             "Resource": arn}]}
    iam.put_role_policy(RoleName=name, PolicyName="invoke", PolicyDocument=json.dumps(allow))
    machine = sfn.create_state_machine(
        name=f"mine-{os.getpid()}", definition=json.dumps(definition), roleArn=role["Role"]["Arn"]
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"n": 4}))["executionArn"]
    for _ in range(300):
        done = sfn.describe_execution(executionArn=execution)
        if done["status"] != "RUNNING":
            break
        time.sleep(0.1)
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"doubled": 8}


def test_the_workflow_is_deployed(deployed_workflow, aws_client):
    sfn = aws_client("stepfunctions")
    machine = sfn.describe_state_machine(stateMachineArn=deployed_workflow.state_machine_arn)
    assert machine["status"] == "ACTIVE"
    assert set(deployed_workflow.function_arns) >= {"serializeImageData", "classifier", "filter"}


def test_my_model_on_an_endpoint(model_endpoint, endpoint_captures, aws_client):
    endpoint = model_endpoint(os.environ["MY_MODEL_TAR"])
    runtime = aws_client("sagemaker-runtime")
    for colour in ((200, 20, 20), (20, 20, 200)):
        answer = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="image/png", Body=_png(colour))
        probabilities = json.loads(answer["Body"].read())
        assert len(probabilities) == 2 and abs(sum(probabilities) - 1) < 1e-4
    records = endpoint_captures(endpoint, wait_for=2)
    assert len(records) == 2 and all(r.endpoint == endpoint for r in records)
    assert all(len(r.probabilities) == 2 for r in records)
'''


@pytest.fixture(scope="module")
def model_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (untrained, seeded) model exported as the trainer exports it, packed as SageMaker packs it."""
    opt_ml = tmp_path_factory.mktemp("opt_ml")
    torch.manual_seed(0)
    net = build_model(None, 2, (3, 32, 32))
    model = Deployable(net, mean=torch.full((3,), 127.0), std=torch.full((3,), 64.0))
    old = os.environ.get("OPT_ML")
    os.environ["OPT_ML"] = str(opt_ml)
    try:
        save_model(model, {"num_classes": 2, "classes": [0, 1], "image_shape": [3, 32, 32], "resize": None})
        model_dir = contract.model_dir()
    finally:
        if old is None:
            del os.environ["OPT_ML"]
        else:
            os.environ["OPT_ML"] = old
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(model_dir.iterdir()):
            archive.add(path, arcname=path.name)
    tar = opt_ml / "model.tar.gz"
    tar.write_bytes(buffer.getvalue())
    return tar


def test_a_project_using_only_the_plugins_fixtures_passes(
    pytester: pytest.Pytester, embedded_cloud: Settings, model_tar: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = target_for(embedded_cloud)
    if not target.owns_cloud and not os.environ.get("AWS_ENDPOINT_URL"):
        pytest.skip(f"the user project reuses an emulated cloud by AWS_ENDPOINT_URL; target is {target.name}")
    monkeypatch.setenv("AWS_ENDPOINT_URL", str(target.main_url))
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", str(target.sagemaker_url))
    monkeypatch.setenv("MY_MODEL_TAR", str(model_tar))
    monkeypatch.delenv("HARNESS_TARGET", raising=False)
    pytester.makepyfile(test_mine=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", "--harness-target", "local")
    result.assert_outcomes(passed=4)
