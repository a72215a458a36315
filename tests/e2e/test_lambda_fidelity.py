"""Functions written the way public solutions of this workflow write them fail here as they fail on AWS.

Each test deploys a handler through the real Lambda API of the embedded cloud and invokes it with
boto3: the declared runtime's Python, only the runtime's packages, a private /tmp, MemorySize,
AWS's environment variables, and IAM evaluation of the calls the handler makes.
"""

from __future__ import annotations

import io
import json
import os
import time
import uuid
import zipfile
from typing import Any

import pytest

from harness.config import Settings
from harness.targets.registry import target_for
from localstack_plugin import runtimes, sandbox
from tests.support.lambda_zip import BROAD_POLICY, ROLE_ARN, ROLE_NAME, deploy, ensure_role, iam_for

pytestmark = pytest.mark.e2e

# A public solution's serializer: imports the SageMaker SDK, which AWS's runtime does not have.
SAGEMAKER_SDK_HANDLER = """
import json
import sagemaker
from sagemaker.serializers import IdentitySerializer

def lambda_handler(event, context):
    return {"statusCode": 200, "body": json.dumps(event)}
"""

VERSION = """
import sys

def handler(event, context):
    return {"version": "%d.%d" % sys.version_info[:2]}
"""

TMP_WRITER = """
import os

def handler(event, context):
    path = event["path"]
    seen_before = os.path.exists(path)
    with open(path, "w") as f:
        f.write(event["content"])
    with open(path) as f:
        return {"seen_before": seen_before, "read": f.read()}
"""

MEMORY_HOG = """
def handler(event, context):
    blocks = [bytearray(1024 * 1024) for _ in range(event["mb"])]
    return {"allocated_mb": len(blocks)}
"""

ENVIRONMENT = """
import os, sys

def handler(event, context):
    names = ["AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
             "LAMBDA_TASK_ROOT", "AWS_EXECUTION_ENV", "AWS_REGION", "_HANDLER", "LOCALSTACK_HOSTNAME"]
    try:
        open(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "scratch"), "w").close()
        task_root_writable = True
    except OSError:
        task_root_writable = False
    importable = {}
    for module in ("boto3", "awslambdaric", "numpy", "requests", "pandas", "harness", "localstack"):
        try:
            __import__(module)
            importable[module] = True
        except ImportError:
            importable[module] = False
    return {"env": {n: os.environ.get(n) for n in names}, "cwd": os.getcwd(),
            "task_root_writable": task_root_writable, "importable": importable}
"""

S3_READER = """
import boto3
from botocore.exceptions import ClientError

s3 = boto3.client("s3")

def lambda_handler(event, context):
    try:
        body = s3.get_object(Bucket=event["bucket"], Key=event["key"])["Body"].read()
        return {"ok": True, "body": body.decode()}
    except ClientError as exc:
        error = exc.response["Error"]
        return {"ok": False, "code": error["Code"], "message": error["Message"]}
"""


@pytest.fixture(scope="module")
def lam(embedded_cloud: Settings) -> Any:
    return target_for(embedded_cloud).client("lambda")


def _invoke(lam: Any, name: str, event: dict[str, Any] | None = None) -> tuple[dict[str, Any], str | None]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode())
    return json.loads(response["Payload"].read()), response.get("FunctionError")


def test_import_sagemaker_fails_with_aws_import_module_error(lam: Any) -> None:
    name = deploy(lam, SAGEMAKER_SDK_HANDLER, prefix="sdk", module="lambda_function")
    body, error = _invoke(lam, name, {"hello": 1})
    assert error == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert body["errorMessage"] == "Unable to import module 'lambda_function': No module named 'sagemaker'"


def test_only_the_runtime_packages_aws_variables_and_a_read_only_task_root(lam: Any) -> None:
    name = deploy(lam, ENVIRONMENT, prefix="env", memory=192)
    body, error = _invoke(lam, name)
    assert error is None, body
    env = body["env"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "192"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert env["_HANDLER"] == "app.handler"
    assert env["LOCALSTACK_HOSTNAME"] is None  # LocalStack's, not AWS's
    assert body["cwd"] == env["LAMBDA_TASK_ROOT"]
    assert body["task_root_writable"] is False
    assert body["importable"] == {
        "boto3": True,
        "awslambdaric": True,
        "numpy": False,
        "requests": False,
        "pandas": False,
        "harness": False,
        "localstack": False,
    }


@pytest.mark.parametrize("runtime", ["python3.12", "python3.9"])
def test_declared_runtime_runs_on_its_own_python(lam: Any, runtime: str) -> None:
    try:
        runtimes.find_interpreter(runtime)
    except runtimes.RuntimeNotAvailable as exc:
        pytest.skip(f"no interpreter for {runtime} on this machine: {exc}")
    name = deploy(lam, VERSION, prefix="ver", runtime=runtime)
    body, error = _invoke(lam, name)
    assert error is None, body
    assert body["version"] == runtimes.runtime_version(runtime)


def _runtime_it_cannot_run() -> str:
    """A runtime AWS accepts that cannot run here: a Python with no interpreter on this machine, else a
    Node.js one (the local executor runs Python only). python3.8 and older are refused by the API itself
    (tests/e2e/test_lambda_api_edges.py)."""
    for runtime in runtimes.SUPPORTED:
        try:
            runtimes.find_interpreter(runtime)
        except runtimes.RuntimeNotAvailable:
            return runtime
    return "nodejs22.x"


def test_runtime_it_cannot_run_leaves_the_function_failed_with_a_reason(lam: Any) -> None:
    runtime = _runtime_it_cannot_run()
    name = deploy(lam, VERSION, prefix="noint", runtime=runtime, wait=False)
    for _ in range(120):
        config = lam.get_function_configuration(FunctionName=name)
        if config["State"] != "Pending":
            break
        time.sleep(0.25)
    assert config["State"] == "Failed"
    assert runtime in config["StateReason"]


def test_two_functions_writing_tmp_do_not_see_each_other(lam: Any) -> None:
    path = f"/tmp/scones-{uuid.uuid4().hex}.png"
    first = deploy(lam, TMP_WRITER, prefix="tmpa")
    second = deploy(lam, TMP_WRITER, prefix="tmpb")
    a, error_a = _invoke(lam, first, {"path": path, "content": "a"})
    b, error_b = _invoke(lam, second, {"path": path, "content": "b"})
    assert (error_a, error_b) == (None, None)
    assert a == {"seen_before": False, "read": "a"}
    assert b == {"seen_before": False, "read": "b"}
    again, _ = _invoke(lam, first, {"path": path, "content": "a2"})
    assert again["seen_before"] is True  # the same (warm) environment keeps its /tmp, as on AWS
    assert not os.path.exists(path), "the host's /tmp must not see a function's file"


def test_function_over_its_memory_size_fails_with_out_of_memory(lam: Any) -> None:
    name = deploy(lam, MEMORY_HOG, prefix="oom", memory=128)
    ok, error = _invoke(lam, name, {"mb": 8})
    assert error is None and ok == {"allocated_mb": 8}
    body, error = _invoke(lam, name, {"mb": 300})
    assert error == "Unhandled"
    assert body["errorType"] == "Runtime.OutOfMemory"
    assert body["errorMessage"].endswith("Error: Runtime exited with error: signal: killed")


def test_role_without_get_object_gets_access_denied(embedded_cloud: Settings, lam: Any) -> None:
    target = target_for(embedded_cloud)
    s3 = target.client("s3")
    bucket = f"e2e-iam-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="images/bike.png", Body=b"png")
    iam = iam_for(lam)
    list_only = ensure_role(
        iam,
        f"e2e-list-only-{uuid.uuid4().hex[:6]}",
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"}
            ],
        },
    )
    readers = ensure_role(
        iam,
        f"e2e-reader-{uuid.uuid4().hex[:6]}",
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/images/*"}
            ],
        },
    )
    denied = deploy(lam, S3_READER, prefix="deny", module="lambda_function", role_arn=list_only)
    allowed = deploy(lam, S3_READER, prefix="allow", module="lambda_function", role_arn=readers)
    event = {"bucket": bucket, "key": "images/bike.png"}
    body, error = _invoke(lam, denied, event)
    assert error is None
    assert body["ok"] is False and body["code"] == "AccessDenied"
    assert "is not authorized to perform: s3:GetObject" in body["message"]
    assert f"arn:aws:s3:::{bucket}/images/bike.png" in body["message"]
    body, error = _invoke(lam, allowed, event)
    assert body == {"ok": True, "body": "png"}


# A public solution's classifier: the default client, no endpoint URL, only the default environment.
OTHER_SERVICES = """
import json
import boto3
from botocore.exceptions import ClientError

def lambda_handler(event, context):
    outcomes = {}
    calls = {
        "sagemaker": lambda: boto3.client("runtime.sagemaker").invoke_endpoint(
            EndpointName=event["endpoint"], ContentType="image/png", Body=b"png"),
        "states": lambda: boto3.client("stepfunctions").start_execution(
            stateMachineArn=event["state_machine"], input="{}"),
    }
    for name, call in calls.items():
        try:
            call()
            outcomes[name] = {"ok": True}
        except ClientError as exc:
            error = exc.response["Error"]
            outcomes[name] = {"code": error["Code"], "message": error["Message"]}
    return outcomes
"""


def test_role_without_invoke_endpoint_or_start_execution_is_refused(lam: Any) -> None:
    iam = iam_for(lam)
    only_s3 = ensure_role(
        iam,
        f"e2e-s3-only-{uuid.uuid4().hex[:6]}",
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::*/*"}],
        },
    )
    name = deploy(lam, OTHER_SERVICES, prefix="noperm", module="lambda_function", role_arn=only_s3)
    machine = "arn:aws:states:us-east-1:000000000000:stateMachine:someone-elses"
    body, error = _invoke(lam, name, {"endpoint": "Scones-Endpoint", "state_machine": machine})
    assert error is None, body
    sagemaker, states = body["sagemaker"], body["states"]
    assert sagemaker["code"] == "AccessDeniedException"
    assert sagemaker["message"].endswith(
        "is not authorized to perform: sagemaker:InvokeEndpoint on resource: "
        "arn:aws:sagemaker:us-east-1:000000000000:endpoint/scones-endpoint "
        "because no identity-based policy allows the sagemaker:InvokeEndpoint action"
    )
    assert states["code"] == "AccessDeniedException"
    assert f"states:StartExecution on resource: {machine}" in states["message"]


def test_update_to_a_runtime_it_cannot_run_says_why(lam: Any) -> None:
    runtime = _runtime_it_cannot_run()
    name = deploy(lam, VERSION, prefix="upd")
    lam.update_function_configuration(FunctionName=name, Runtime=runtime)
    for _ in range(120):
        config = lam.get_function_configuration(FunctionName=name)
        if config["LastUpdateStatus"] != "InProgress":
            break
        time.sleep(0.25)
    assert config["LastUpdateStatus"] == "Failed"
    assert runtime in config["LastUpdateStatusReason"]


SANDBOX_VIEW = """
import os, resource

def handler(event, context):
    nofile = list(resource.getrlimit(resource.RLIMIT_NOFILE))
    return {"task": sorted(os.listdir("/var/task")), "nofile": nofile,
            "env": sorted(os.environ), "task_root": os.environ["LAMBDA_TASK_ROOT"], "cwd": os.getcwd(),
            "uid": os.getuid(), "wrapped": os.environ.get("WRAPPED")}
"""


@pytest.mark.skipif(not sandbox.namespaces_available(), reason=sandbox.isolation().reason)
def test_awss_paths_limits_and_variables(lam: Any) -> None:
    # AWS: LAMBDA_TASK_ROOT=/var/task, PWD, SHLVL, PYTHONPATH=/var/runtime and nothing else of the host's
    # (recorded on AWS: LocalStack's test_lambda_common.snapshot.json, test_introspection_invoke[python3.12]);
    # RLIMIT_NOFILE (1024, 1024) (test_lambda.snapshot.json, TestLambdaBehavior::test_runtime_ulimits).
    name = deploy(lam, SANDBOX_VIEW, prefix="view")
    body, error = _invoke(lam, name)
    assert error is None, body
    assert body["task"] == ["app.py"] and body["task_root"] == body["cwd"] == "/var/task"
    assert body["nofile"] == [1024, 1024] and body["uid"] == 993
    leaked = {"LOCALSTACK_MAX_PAYLOAD_SIZE", "PYTHONDONTWRITEBYTECODE", "PYTHONNOUSERSITE"}
    leaked |= {"REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "LOCALSTACK_HOSTNAME", "HOME", "TMPDIR"}
    assert not leaked & set(body["env"])
    assert {"PWD", "SHLVL", "PYTHONPATH", "LAMBDA_RUNTIME_DIR", "LANG", "TZ"} <= set(body["env"])


def _create_with_wrapper(lam: Any, wrapper: str, mode: int) -> str:
    """A function whose zip holds an executable (or not) ``wrapper`` script, run through
    ``AWS_LAMBDA_EXEC_WRAPPER`` (recorded on AWS: test_lambda_common.snapshot.json,
    test_runtime_wrapper_invoke: ``"AWS_LAMBDA_EXEC_WRAPPER": "/var/task/environment_wrapper"``)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        code = zipfile.ZipInfo("app.py")
        code.external_attr = 0o644 << 16  # readable by all, as AWS requires
        archive.writestr(code, SANDBOX_VIEW)
        info = zipfile.ZipInfo("wrapper")
        info.external_attr = (0o100000 | mode) << 16
        archive.writestr(info, '#!/bin/sh\nexport WRAPPED=yes\nexec "$@"\n')
    ensure_role(iam_for(lam), ROLE_NAME, BROAD_POLICY)
    name = f"wrapped-{uuid.uuid4().hex[:8]}"
    lam.create_function(
        FunctionName=name, Runtime="python3.11", Role=ROLE_ARN, Handler="app.handler",
        Code={"ZipFile": buffer.getvalue()}, Environment={"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": wrapper}},
    )  # fmt: skip
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def test_exec_wrapper_runs_and_a_missing_one_is_exit_status_127(lam: Any) -> None:
    # AWS: a missing wrapper is Runtime.ExitError "... exit status 127" (recorded on AWS:
    # test_lambda.snapshot.json, TestLambdaErrors::test_lambda_runtime_wrapper_not_found).
    wrapper = "/var/task/wrapper" if sandbox.namespaces_available() else "./wrapper"
    name = _create_with_wrapper(lam, wrapper, 0o755)
    body, error = _invoke(lam, name)
    assert error is None and body["wrapped"] == "yes", body
    missing = _create_with_wrapper(lam, "/var/task/no-such-wrapper", 0o755)
    body, error = _invoke(lam, missing)
    assert error == "Unhandled" and body["errorType"] == "Runtime.ExitError"
    assert body["errorMessage"].endswith("Error: Runtime exited with error: exit status 127")
