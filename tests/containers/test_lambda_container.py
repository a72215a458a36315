"""A Lambda execution environment in a container of the runtime image, with a real engine.

Drives :class:`localstack_plugin.container_environment.ExecutionContainer` directly (LocalStack is not
needed for the environment itself): the handler runs under the image's awslambdaric, sees only its code,
can write only its own /tmp, is limited to its memory size, and is killed at its timeout.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from localstack_plugin.container_environment import LABEL_PREFIX, ExecutionContainer
from localstack_plugin.environment import FunctionSpec
from localstack_plugin.runtime_api import Invocation
from tests.containers.conftest import LAMBDA_IMAGE, require_image

HANDLER = textwrap.dedent(
    """
    import os, sys, time, boto3

    def handler(event, context):
        action = event.get("action")
        if action == "tmp":
            with open("/tmp/image.png", "wb") as fh:
                fh.write(b"x" * 1024)
            return {"size": os.path.getsize("/tmp/image.png")}
        if action == "write-code":
            open("/var/task/new.txt", "w").write("no")
        if action == "sleep":
            time.sleep(30)
        if action == "memory":
            blob = bytearray(300 * 2**20)
            return {"allocated": len(blob)}
        if action == "introspect":
            import resource
            return {"env": sorted(os.environ), "nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE))}
        print("hello from", sys.executable)
        return {"python": sys.version.split()[0], "boto3": boto3.__version__, "uid": os.getuid(),
                "files": sorted(os.listdir("/var/task")), "remaining": context.get_remaining_time_in_millis()}
    """
)


@pytest.fixture
def environment(docker_client, tmp_path: Path):
    require_image(docker_client, LAMBDA_IMAGE)
    code = tmp_path / "code"
    code.mkdir()
    (code / "lambda_function.py").write_text(HANDLER)
    # The Runtime API is served by this test process, on the host: a network of the test's own, whose
    # gateway is the host's address on it.
    network = docker_client.networks.create("pytest-lambda-net", labels={f"{LABEL_PREFIX}.stack": "pytest"})
    network.reload()
    gateway = network.attrs["IPAM"]["Config"][0]["Gateway"]
    spec = FunctionSpec(
        python="python",
        handler="lambda_function.handler",
        task_root=code,
        env={"AWS_LAMBDA_FUNCTION_NAME": "probe", "AWS_REGION": "us-east-1"},
        timeout_s=3.0,
        memory_mb=128,
    )
    env = ExecutionContainer(
        spec,
        client=docker_client,
        image=LAMBDA_IMAGE,
        network=network.name,
        runtime_host=gateway,
        labels={f"{LABEL_PREFIX}.stack": "pytest-lambda"},
        name_prefix="pytest-lambda",
    )
    try:
        env.start()
        yield env
    finally:
        env.stop()
        network.remove()
    left = docker_client.containers.list(all=True, filters={"label": f"{LABEL_PREFIX}.stack=pytest-lambda"})
    assert left == [], "stop() must remove every container of the environment"


def _invoke(env: ExecutionContainer, event: dict, request_id: str = "req-1"):
    return env.invoke(
        Invocation(
            request_id=request_id,
            payload=json.dumps(event).encode(),
            function_arn="arn:aws:lambda:us-east-1:000000000000:function:probe",
            deadline_ms=int(__import__("time").time() * 1000) + 3000,
        )
    )


def test_runs_under_the_images_runtime_with_only_its_code(environment: ExecutionContainer) -> None:
    outcome = _invoke(environment, {})
    assert not outcome.is_error, outcome.payload
    body = json.loads(outcome.payload)
    assert body["python"].startswith("3.11.")
    assert body["uid"] == 993
    assert body["files"] == ["lambda_function.py"]
    assert 0 < body["remaining"] <= 3000
    assert "hello from" in outcome.logs
    assert outcome.logs.startswith("START RequestId: req-1")
    assert "REPORT RequestId: req-1" in outcome.logs


def test_awss_variables_and_ulimits(environment: ExecutionContainer) -> None:
    # AWS: RLIMIT_NOFILE (1024, 1024) (recorded on AWS: LocalStack's test_lambda.snapshot.json,
    # TestLambdaBehavior::test_runtime_ulimits); PWD, SHLVL, LAMBDA_* and nothing of the host's or
    # LocalStack's (test_lambda_common.snapshot.json, test_introspection_invoke).
    body = json.loads(_invoke(environment, {"action": "introspect"}).payload)
    assert body["nofile"] == [1024, 1024]
    assert {"PWD", "SHLVL", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "LANG", "TZ"} <= set(body["env"])
    # (docker always sets HOME, to "/" for a user without a passwd entry: listed in docs/parity.md)
    assert not {"PYTHONDONTWRITEBYTECODE", "PYTHONNOUSERSITE", "LOCALSTACK_HOSTNAME"} & set(body["env"])


def test_tmp_is_writable_and_the_code_is_not(environment: ExecutionContainer) -> None:
    assert json.loads(_invoke(environment, {"action": "tmp"}).payload) == {"size": 1024}
    outcome = _invoke(environment, {"action": "write-code"}, "req-2")
    assert outcome.is_error
    error = json.loads(outcome.payload)
    assert error["errorType"] in ("PermissionError", "OSError"), error


def test_timeout_kills_the_container_and_the_next_call_gets_a_fresh_one(
    environment: ExecutionContainer,
) -> None:
    first = environment.container_id
    outcome = _invoke(environment, {"action": "sleep"})
    assert outcome.is_error
    assert json.loads(outcome.payload)["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 3.00 seconds" in outcome.logs
    again = _invoke(environment, {}, "req-3")
    assert not again.is_error
    assert environment.container_id != first


def test_memory_size_is_the_containers_limit(environment: ExecutionContainer) -> None:
    outcome = _invoke(environment, {"action": "memory"})
    assert outcome.is_error, "a 300 MiB allocation must not fit in a 128 MB function"
    assert json.loads(outcome.payload)["errorType"] == "Runtime.OutOfMemory", outcome.payload
    assert "Runtime.OutOfMemory" in outcome.logs, outcome.logs
