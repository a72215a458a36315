"""The SageMaker emulator's docker executor on a real engine: labels, removal, sweeping, no name clashes."""

from __future__ import annotations

import contextlib
from pathlib import Path

from sagemaker_emulator.executors import LABEL_KIND, LABEL_NAME, LABEL_STACK, DockerExecutor, RunSpec
from tests.containers.conftest import LAMBDA_IMAGE, TRAINING_IMAGE, require_image


def _labelled(client, stack: str) -> list:
    return client.containers.list(all=True, filters={"label": f"{LABEL_STACK}={stack}"})


def test_a_job_container_is_labelled_removed_when_it_ends_and_its_name_can_be_reused(
    docker_client, tmp_path: Path
) -> None:
    require_image(docker_client, TRAINING_IMAGE)
    executor = DockerExecutor(client=docker_client, stack="pytest-emulator")
    codes = []
    for attempt in range(2):  # the same job name twice: no 409 Conflict
        opt_ml = tmp_path / f"run{attempt}"
        (opt_ml / "input" / "config").mkdir(parents=True)
        run = executor.start(RunSpec(TRAINING_IMAGE, "train", opt_ml, "sm-train-pytest-job"))
        (container,) = _labelled(docker_client, "pytest-emulator")
        assert container.labels[LABEL_KIND] == "training-job"
        assert container.labels[LABEL_NAME] == "sm-train-pytest-job"
        lines = list(run.lines())  # no channels, no hyperparameters: the trainer fails at once
        codes.append(run.wait(10))
        assert lines, "the job's output must come back"
        assert _labelled(docker_client, "pytest-emulator") == [], "an ended job's container must be removed"
    assert all(code not in (None, 0) for code in codes), codes


def test_sweep_removes_only_its_own_stacks_leftovers(docker_client) -> None:
    require_image(docker_client, LAMBDA_IMAGE)
    mine = docker_client.containers.run(
        LAMBDA_IMAGE,
        ["sleep", "300"],
        detach=True,
        labels={LABEL_STACK: "pytest-sweep-a"},
        network_mode="none",
    )
    other = docker_client.containers.run(
        LAMBDA_IMAGE,
        ["sleep", "300"],
        detach=True,
        labels={LABEL_STACK: "pytest-sweep-b"},
        network_mode="none",
    )
    try:
        assert DockerExecutor(client=docker_client, stack="pytest-sweep-a").sweep() == 1
        assert _labelled(docker_client, "pytest-sweep-a") == []
        assert [c.id for c in _labelled(docker_client, "pytest-sweep-b")] == [other.id]
    finally:
        for container in (mine, other):
            with contextlib.suppress(Exception):  # already swept
                container.remove(force=True)
