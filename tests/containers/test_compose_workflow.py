"""The whole workflow on the `localstack` target: `harness --target localstack run` against the compose
stack (LocalStack's container, each function in its own runtime container, the emulator running the
training job and the model server as containers of the training image), on the real mini dataset.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from harness.commands.compose import RUN_HINT
from harness.config import Settings

LABEL_JOB = "sagemaker-emulator.kind"


def _harness(settings: Settings, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HARNESS_LOCALSTACK_PORT": str(settings.localstack_port),
        "HARNESS_SAGEMAKER_PORT": str(settings.sagemaker_port),
    }
    argv = [sys.executable, "-m", "harness", "--target", "localstack", "--home", str(settings.home), *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def test_run_on_the_compose_target_then_down(
    compose_stack: Settings, mini_dataset: Path, docker_client
) -> None:
    # Exactly what `harness compose up` tells the user to run (issue 20: its hint once failed as printed).
    hint = shlex.split(RUN_HINT)
    assert hint[:3] == ["harness", "--target", "localstack"]
    done = _harness(
        compose_stack,
        *hint[3:],
        "--epochs",
        "1",
        "--dataset",
        str(mini_dataset),
        "--executions",
        "20",
        "--no-report",
        "--json",
    )
    assert done.returncode == 0, done.stderr[-4000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["executions"] == 20, summary
    assert set(summary["phases_s"]) >= {"stage", "train", "deploy"}, summary
    print(json.dumps(summary["phases_s"]))

    # Functions ran in containers of the runtime image, labelled with this stack's name.
    from harness.containers.stack import project_name

    project = project_name(compose_stack)
    functions = docker_client.containers.list(all=True, filters={"label": f"scones-lambda.stack={project}"})
    assert functions, "no function container was started: the functions did not run in containers"
    assert {c.image.tags[0] for c in functions} == {"scones-lambda-python3.11:latest"}
    # The training job's container is gone once the job ended; the endpoint's serves.
    labelled = docker_client.containers.list(
        all=True, filters={"label": f"sagemaker-emulator.stack={project}"}
    )
    kinds = sorted(c.labels.get(LABEL_JOB, "") for c in labelled)
    assert kinds == ["endpoint"], kinds

    # `harness --target localstack down` (ListEndpointConfigs, DeleteEndpoint, ...) removes the resources;
    # the endpoint is deleted asynchronously (Deleting, as on AWS), then its container is removed.
    teardown = _harness(compose_stack, "down")
    assert teardown.returncode == 0, teardown.stderr[-4000:]
    deadline = time.monotonic() + 60
    flt = {"label": f"sagemaker-emulator.stack={project}"}
    while docker_client.containers.list(all=True, filters=flt):
        assert time.monotonic() < deadline, "DeleteEndpoint must remove the model server's container"
        time.sleep(1)
