"""The container tier (marker ``containers``): real containers on a real Docker engine.

Every test here is marked ``containers``; without an engine they skip with the reason, except where
``HARNESS_REQUIRE_CONTAINERS=1`` (CI's container tier) makes a missing engine a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.config import Settings
from harness.containers import stack

LAMBDA_IMAGE = "scones-lambda-python3.11:latest"
TRAINING_IMAGE = "scones-training:latest"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.containers)


def _unavailable(reason: str) -> None:
    if os.environ.get("HARNESS_REQUIRE_CONTAINERS") == "1":
        pytest.fail(f"HARNESS_REQUIRE_CONTAINERS=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[object]:
    try:
        import docker

        client = docker.from_env()
        client.ping()
    except Exception as exc:
        _unavailable(f"no Docker engine answers at DOCKER_HOST={os.environ.get('DOCKER_HOST', '')!r}: {exc}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def compose_stack(docker_client, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """The `localstack` target's stack, built and started by `harness compose up` (offline where no registry
    answers) on ports of its own, and removed at the end; afterwards nothing of it may remain."""
    from harness.embedded.process import free_ports

    home = tmp_path_factory.mktemp("compose-home")
    ls_port, sm_port = free_ports(2)
    settings = Settings(target="localstack", home=home, localstack_port=ls_port, sagemaker_port=sm_port)
    project = stack.project_name(settings)
    try:
        report = stack.up(settings, log=print, timeout=600)
        print(f"compose stack {project} up: {report}")
        yield settings
    finally:
        stack.down(settings, log=print)
        left = stack.leftovers(project)
        assert left == [], f"`harness compose down` left these behind: {left}"


def require_image(client: object, tag: str) -> None:
    """Images are built by `harness compose up` (CI's tier runs it first); a test never builds one."""
    import docker.errors

    try:
        client.images.get(tag)  # type: ignore[attr-defined]
    except docker.errors.ImageNotFound:
        _unavailable(f"image {tag} is not built (run `harness compose up` first)")
